/* cli_import.c - `ovatool import`: options, the summary (lines or JSON). */
#include <errno.h>
#include <getopt.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_json.h"
#include "ovatool/import_mpi.h"

enum { O_OVERWRITE = 256, O_DRY_RUN, O_DISK_FORMAT, O_MEM, O_TARGET_HW, O_PROGRESS, O_JSON, O_BUFFERED };

/* One table defines every option: getopt reads it, --help prints it. */
static const cli_opt OPTS[] = {
    { "output", 1, 'o', "DIR",
      "the folder to write NAME.vmx and its disks into (required; it must exist); NAME is the OVF's file name "
      "without .ovf; every file is written under a temporary name and renamed once all are complete" },
    { "overwrite", 0, O_OVERWRITE, NULL, "replace existing files of the same names (default: refuse them)" },
    { "dry-run", 0, O_DRY_RUN, NULL,
      "read the OVF and the manifest, check the folder, print what would be written and stop: no disk data is "
      "read, nothing is written" },
    { "disk-format", 1, O_DISK_FORMAT, "FORMAT",
      "monolithicSparse (default: one growable file, as Workstation creates a disk) | twoGbMaxExtentSparse "
      "(a descriptor and 2047 MiB sparse extents) | monolithicFlat (a descriptor and a flat file, sparse where "
      "the disk reads zeros)" },
    { "threads", 1, 't', "N", "inflate threads (default: one per core)" },
    { "mem-limit", 1, O_MEM, "SIZE", "memory for the inflate threads' buffers, e.g. 512M (default 512M)" },
    { "target-hw", 1, O_TARGET_HW, "N", "write virtual hardware version N instead of the OVF's (e.g. 14)" },
    { "progress", 1, O_PROGRESS, "SECS",
      "seconds between progress lines, 0 for none (default 10; a live bar instead on a terminal)" },
    { "json", 0, O_JSON, NULL, "print the closing summary as one JSON object on stdout" },
    { "buffered-io", 0, O_BUFFERED, NULL,
      "write the disks' grains through the page cache (default: O_DIRECT where the file system allows it)" },
    { "quiet", 0, 'q', NULL, "no progress or summary lines; errors and warnings only" },
    { "help", 0, 'h', NULL, "show this help" },
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

static void import_usage(FILE *f)
{
    fprintf(f, "Usage: ovatool import VM.ova -o DIR/ [options]\n"
               "       ovatool import VM.ovf -o DIR/ [options]   (the OVF's files beside it)\n\n"
               "Writes DIR/NAME.vmx and DIR/NAME-diskN.vmdk: a VMware Workstation VM. Every manifest digest\n"
               "is verified while the input is read, once.\n\nOptions:\n");
    cli_print_options(f, OPTS, N_OPTS);
    fprintf(f, "\nExit status: 0 success (with --dry-run: the OVF can be imported into DIR), 1 failure (nothing is "
               "left in DIR), 2 usage error.\n");
}

typedef struct iargs {
    const char *input;
    ova_import_opts o;
    bool json;
    double progress_secs;
    int help;
} iargs;

static const char *parse(int argc, char **argv, iargs *a)
{
    static char reason[256];
    struct option lo[N_OPTS + 1];
    char short_opts[32];
    cli_getopt_table(OPTS, N_OPTS, lo, short_opts, sizeof short_opts);
    int c;
    long v;
    while ((c = getopt_long(argc, argv, short_opts, lo, NULL)) != -1) {
        switch (c) {
        case 'o': a->o.out_dir = optarg; break;
        case O_OVERWRITE: a->o.overwrite = true; break;
        case O_DRY_RUN: a->o.dry_run = true; break;
        case O_DISK_FORMAT:
            if (!ova_disk_format_parse(optarg, &a->o.disk_format)) {
                snprintf(reason, sizeof reason, "--disk-format '%.100s': must be monolithicSparse, "
                         "twoGbMaxExtentSparse or monolithicFlat", optarg);
                return reason;
            }
            break;
        case 't':
            if (!cli_parse_int(optarg, 1, 4096, &v))
                return "--threads: a whole number from 1 to 4096";
            a->o.threads = (unsigned)v;
            break;
        case O_MEM:
            if (!cli_parse_size(optarg, &a->o.mem_limit))
                return "--mem-limit: a size such as 512M or 2G";
            break;
        case O_TARGET_HW:
            if (!cli_parse_int(optarg, 3, 99, &v))
                return "--target-hw: a hardware version from 3 to 99";
            a->o.target_hw = (int)v;
            break;
        case O_PROGRESS:
            if (!cli_parse_int(optarg, 0, 86400, &v))
                return "--progress: seconds from 0 to 86400";
            a->progress_secs = (double)v;
            break;
        case O_JSON: a->json = true; break;
        case O_BUFFERED: a->o.buffered_io = true; break;
        case 'q': cli_quiet = true; break;
        case 'h': a->help = 1; return NULL;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    const char *why = cli_one_operand(argc, argv, "missing the OVA or OVF file", &a->input);
    if (why == NULL && a->o.out_dir == NULL)
        return "missing -o DIR (the folder to import into)";
    return why;
}

static void log_cb(void *ctx, int warning, const char *msg)
{
    cli_progress_break(ctx);
    if (warning)
        cli_warn("%s", msg);
    else
        cli_info("%s", msg);
}

static void json_summary(const iargs *a, const ova_import_result *r)
{
    ova_buf b = { 0 };
    cli_json j;
    cli_json_init(&j, &b);
    cli_json_object(&j, NULL);
    cli_json_str(&j, "input", a->input);
    cli_json_str(&j, "name", r->vm_name);
    cli_json_str(&j, "vmx", r->vmx_path);
    cli_json_int(&j, "hw_version", r->hw_version);
    cli_json_str(&j, "disk_format", ova_disk_format_name(a->o.disk_format));
    cli_json_bool(&j, "dry_run", r->dry_run);
    cli_json_array(&j, "disks");
    for (size_t i = 0; i < r->n_disks; i++) {
        const ova_import_disk_result *d = &r->disks[i];
        cli_json_object(&j, NULL);
        cli_json_str(&j, "member", d->member);
        cli_json_array(&j, "files");
        for (size_t f = 0; f < d->n_files; f++)
            cli_json_str(&j, NULL, d->files[f]);
        cli_json_end(&j);
        cli_json_uint(&j, "capacity", d->capacity);
        if (!r->dry_run) {
            cli_json_uint(&j, "allocated", d->allocated);
            cli_json_uint(&j, "grains", d->grains);
        }
        cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_uint(&j, "bytes_in", r->input_bytes);
    if (!r->dry_run) {
        cli_json_uint(&j, "digests_checked", r->digests_checked);
        cli_json_uint(&j, "bytes_read", r->bytes_read);
        cli_json_uint(&j, "bytes_written", r->bytes_written);
        cli_json_int(&j, "ranks", r->ranks);
        if (r->rank_bytes_written != NULL) {
            cli_json_array(&j, "rank_bytes_written");
            for (int k = 0; k < r->ranks; k++)
                cli_json_uint(&j, NULL, r->rank_bytes_written[k]);
            cli_json_end(&j);
        }
        cli_json_uint(&j, "threads", r->threads);
        cli_json_double(&j, "seconds", r->seconds, 3);
        cli_json_double(&j, "rate_mib_s", r->seconds > 0 ? (double)r->bytes_read / 1048576.0 / r->seconds : 0, 1);
    }
    cli_json_end(&j);
    ova_buf_putc(&b, '\n');
    fwrite(b.data, 1, b.len, stdout);
    ova_buf_free(&b);
}

static void text_summary(const iargs *a, const ova_import_result *r)
{
    if (r->dry_run) {
        printf("would write %s (virtualHW.version %d)\n", r->vmx_path, r->hw_version);
        for (size_t i = 0; i < r->n_disks; i++) {
            const ova_import_disk_result *d = &r->disks[i];
            printf("  disk %zu from %s: %.1f MiB capacity, %s:", i + 1, d->member ? d->member : "(blank disk)",
                   (double)d->capacity / 1048576.0, ova_disk_format_name(a->o.disk_format));
            for (size_t f = 0; f < d->n_files; f++)
                printf(" %s", d->files[f]);
            printf("\n");
        }
        return;
    }
    if (cli_quiet)
        return;
    for (size_t i = 0; i < r->n_disks; i++) {
        const ova_import_disk_result *d = &r->disks[i];
        cli_info("%s: %.1f MiB capacity, %.1f MiB allocated, %llu grain records", d->files[0],
                 (double)d->capacity / 1048576.0, (double)d->allocated / 1048576.0, (unsigned long long)d->grains);
    }
    cli_info("wrote %s: %zu disk(s), %zu digest(s) verified, %.1f MiB read in %.2f s (%.1f MiB/s), %d rank(s), "
             "%u thread(s)",
             r->vmx_path, r->n_disks, r->digests_checked, (double)r->bytes_read / 1048576.0, r->seconds,
             r->seconds > 0 ? (double)r->bytes_read / 1048576.0 / r->seconds : 0.0, r->ranks, r->threads);
    for (int k = 0; r->rank_bytes_written != NULL && k < r->ranks; k++)
        cli_info("  rank %d wrote %.1f MiB of grains", k, (double)r->rank_bytes_written[k] / 1048576.0);
}

/* A signal asks the import to stop: it removes its temporary files and
 * fails (nothing is left in the folder). Here a flag is set, and the
 * temporary files are removed at once (system calls only), for when the
 * graceful stop never comes: rank 0 waiting for a rank that died, and
 * mpirun's SIGKILL a second later. */
static volatile sig_atomic_t g_import_signal;

static void on_signal(int sig)
{
    int saved = errno;
    g_import_signal = sig;
    ova_import_request_stop();
    ova_import_signal_cleanup();
    errno = saved;
}

int cli_import(int argc, char **argv)
{
    int provided = cli_mpi_init(&argc, &argv, MPI_THREAD_MULTIPLE);
    if (provided < 0)
        return EXIT_FAIL;
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    iargs a = { 0 };
    a.progress_secs = 10;
    const char *why = parse(argc, argv, &a);
    int rc = cli_usage_outcome("import", a.help, why, import_usage, rank == 0);
    if (rc >= 0) {
        MPI_Finalize();
        return rc;
    }
    if (size > 1 && provided < MPI_THREAD_MULTIPLE) {
        if (rank == 0)
            cli_error("this MPI library does not provide MPI_THREAD_MULTIPLE, which ovatool needs with "
                      "more than one rank");
        MPI_Finalize();
        return EXIT_FAIL;
    }
    if (rank != 0)
        cli_quiet = true;
    cli_arm_test_fault("import.batch");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    cli_progress prog;
    cli_progress_init(&prog, a.o.dry_run ? 0 : a.progress_secs);
    prog.out_what = "disks";
    a.o.input = a.input;
    a.o.log = log_cb;
    a.o.log_ctx = &prog;
    if (prog.enabled) {
        a.o.progress = cli_progress_cb;
        a.o.progress_ctx = &prog;
        a.o.progress_secs = prog.tty ? 0.5 : a.progress_secs;
    }
    ova_import_result r;
    ova_err err = { 0 };
    ova_status st = ova_import_mpi(&a.o, MPI_COMM_WORLD, &r, &err);
    cli_progress_break(&prog);
    if (st != OVA_OK) {
        /* rank 0 tells the story (other ranks' failures included) before
         * MPI_Finalize: a rank that returned first makes mpirun end the job,
         * and rank 0 would be killed before it had printed */
        if (rank == 0 && st == OVA_E_STOPPED)
            cli_error("stopped by %s; removed the partial import from %s",
                      g_import_signal == SIGINT ? "SIGINT" : g_import_signal == SIGHUP ? "SIGHUP" : "SIGTERM",
                      a.o.out_dir);
        else if (rank == 0)
            cli_error("%s", err.msg);
        MPI_Finalize();
        return EXIT_FAIL;
    }
    MPI_Finalize();
    if (rank != 0)
        return EXIT_OK;
    if (a.json)
        json_summary(&a, &r);
    else
        text_summary(&a, &r);
    ova_import_result_free(&r);
    return EXIT_OK;
}
