/* ovatool.c - the ovatool command: picks a subcommand; the work is in the
 * library (include/ovatool/) and in cli_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ovatool/version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "ovatool %s - turn a VMware Workstation VM into an OVA, in parallel with MPI\n"
            "\n"
            "Usage:\n"
            "  ovatool export VMX -o OUT.ova [options]   export a VM (run under mpirun/srun for many ranks)\n"
            "  ovatool info VMX [--json]                 show what an export would contain\n"
            "  ovatool validate OVA [--deep] [--json] [--schema DIR]\n"
            "                                            check an OVA: tar, manifest, OVF, disks (exit 3: problems)\n"
            "  ovatool import OVA -o DIR/ [options]      turn an OVA (or an OVF) into a Workstation VM in DIR\n"
            "  ovatool demo DIR [--size MIB]             create a small demo VM in DIR\n"
            "  ovatool --help | --version\n"
            "\n"
            "'ovatool COMMAND --help' lists a command's options; 'man ovatool' has them all.\n",
            OVATOOL_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("ovatool %s\n", OVATOOL_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "export") == 0)
        return cli_export(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cli_info_cmd(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return cli_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "import") == 0)
        return cli_import(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0)
        return cli_demo(argc - 1, argv + 1);
    fprintf(stderr, "ovatool: unknown command '%s'; try 'ovatool --help'\n", cmd);
    return EXIT_USAGE;
}
