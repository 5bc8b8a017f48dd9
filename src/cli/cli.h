/* cli.h - pieces of the ovatool command line shared by the subcommands. */
#ifndef OVATOOL_CLI_H
#define OVATOOL_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ovatool/buf.h"
#include "ovatool/export.h"

/* Exit codes, the same on every rank (README "Exit status"). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_STOPPED = 75 /* export --resume stopped by a signal, resumable (EX_TEMPFAIL: try again) */ };

/* Logging to stderr: one line per message, ISO-8601 UTC timestamp first,
 * flushed at once, no carriage returns or colours (batch-log friendly). */
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool cli_quiet;  /* -q: no info lines (warnings and errors still shown) */

/* Human output quotes text from input files (VMX values, descriptor
 * fields, file and member names); a terminal must get it as text. Append s
 * to b with every C0 control character, DEL, C1 control (U+0080-U+009F) and
 * byte that is not valid UTF-8 written as \xNN, so no escape sequence or
 * line break from input reaches the screen. Log lines (cli_info, cli_warn,
 * cli_error) pass through it whole. NULL appends "(null)". */
void cli_buf_text(ova_buf *b, const char *s);

/* One option of a subcommand; values >= 256 have no short form. */
typedef struct cli_opt {
    const char *name;
    int has_arg;
    int val;
    const char *arg;   /* placeholder in --help, NULL if no value */
    const char *help;
} cli_opt;

/* Fill lo (n + 1 entries) and short_opts (":" + short options) from a
 * table, and reset getopt (optind 1, opterr 0) for a fresh parse. */
size_t cli_getopt_table(const cli_opt *opts, size_t n, struct option *lo, char *short_opts, size_t short_len);
/* The --help lines for a table. */
void cli_print_options(FILE *f, const cli_opt *opts, size_t n);
/* The message for getopt_long's ':' (missing value) or '?' (unknown option). */
const char *cli_getopt_error(int c, char **argv);
/* What a parse ends in: -1 to go on; else the exit status for --help
 * (EXIT_OK, usage printed on stdout) or a usage error (EXIT_USAGE, why
 * and a pointer to --help on stderr). print 0: decide only (ranks other
 * than 0 stay quiet). */
int cli_usage_outcome(const char *cmd, int help, const char *why, void (*usage)(FILE *), int print);
/* After the options: exactly one operand, stored in *out. Returns NULL, or
 * the usage error: missing when there is none, "unexpected argument 'X'"
 * when there are more. */
const char *cli_one_operand(int argc, char **argv, const char *missing, const char **out);

/* "512M", "2G", "1048576", "64k": bytes. false if malformed or zero. */
bool cli_parse_size(const char *s, uint64_t *out);
/* A whole number in [lo, hi]. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);

/* Progress display: a live bar when stderr is a terminal, else one
 * timestamped line per report. */
typedef struct cli_progress {
    int tty;          /* draw a bar */
    int bar_shown;    /* a bar is on screen and needs a newline before other output */
    int enabled;
    const char *out_what; /* what out_bytes counts in the lines: "OVA" (cli_progress_init), "disks" for import */
} cli_progress;
void cli_progress_init(cli_progress *p, double secs);
void cli_progress_cb(void *ctx, const ova_progress *prog);
/* End a bar line so the next message starts on a fresh line. */
void cli_progress_break(void *ctx);

/* MPI_Init_thread, with fast singleton defaults when no launcher started
 * this process (cli_mpi.c). Returns the thread level provided, -1 on failure. */
int cli_mpi_init(int *argc, char ***argv, int required);

/* The DMTF OVF schema folder for `validate`: given (--schema), else
 * OVATOOL_SCHEMA_DIR, else the one installed with this executable (or the
 * build tree's copy). NULL if none holds the schema, with the reason in why.
 * The result is given, the variable's value or buf. */
const char *cli_schema_dir(const char *given, char *buf, size_t len, char *why, size_t why_len);

/* Test hook: OVATOOL_TEST_FAIL_RANK=R arms default_point on rank R,
 * R:POINT another fault point (util/fault.h lists them); a no-op in builds
 * without the tests. */
void cli_arm_test_fault(const char *default_point);

int cli_export(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_info_cmd(int argc, char **argv);

#endif
