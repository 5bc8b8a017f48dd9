/* cli_fleet.h - `ovatool export` with several VMs (cli_fleet.c). */
#ifndef OVATOOL_CLI_FLEET_H
#define OVATOOL_CLI_FLEET_H

#include <mpi.h>
#include <stddef.h>

#include "cli.h"
#include "ovatool/export_mpi.h"

typedef struct cli_fleet_list {
    char **paths;
    size_t n;
} cli_fleet_list;

/* Append one VMX path (an operand). 0: out of memory. */
int cli_fleet_add(cli_fleet_list *l, const char *vmx);
/* Append the VMX paths of a --list file (rules: cli_fleet.c). NULL, or
 * the usage error. */
const char *cli_fleet_read_list(const char *file, cli_fleet_list *l);
void cli_fleet_list_free(cli_fleet_list *l);

/* Export the fleet (collective); rank 0 prints one line per VM and per
 * rank, and with json the summary object. Returns the exit status. */
int cli_fleet_run(const ova_export_opts *o, const cli_fleet_list *l, const ova_export_hooks *hooks,
                  cli_progress *prog, int json, MPI_Comm comm);

#endif
