/* cli_opts.c - option tables: one table per subcommand drives both
 * getopt_long and the --help text, so the two cannot drift apart. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
/* the one internal header the CLI includes: arming the tests' fault hook */
#include "../util/fault.h"

size_t cli_getopt_table(const cli_opt *opts, size_t n, struct option *lo, char *short_opts, size_t short_len)
{
    size_t k = 0;
    if (short_len > 0)
        short_opts[k++] = ':'; /* report a missing value as ':' */
    for (size_t i = 0; i < n; i++) {
        lo[i] = (struct option){ opts[i].name, opts[i].has_arg ? required_argument : no_argument, NULL, opts[i].val };
        if (opts[i].val < 256 && k + 2 < short_len) {
            short_opts[k++] = (char)opts[i].val;
            if (opts[i].has_arg)
                short_opts[k++] = ':';
        }
    }
    memset(&lo[n], 0, sizeof lo[n]);
    if (short_len > 0)
        short_opts[k] = '\0';
    /* every subcommand parses from the start, and words its own errors */
    optind = 1;
    opterr = 0;
    return n;
}

void cli_print_options(FILE *f, const cli_opt *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *arg = opts[i].arg ? opts[i].arg : "";
        const char *sp = opts[i].arg ? " " : "";
        char left[48];
        if (opts[i].val < 256)
            snprintf(left, sizeof left, "-%c, --%s%s%s", opts[i].val, opts[i].name, sp, arg);
        else
            snprintf(left, sizeof left, "    --%s%s%s", opts[i].name, sp, arg);
        fprintf(f, "  %-26s %s\n", left, opts[i].help);
    }
}

const char *cli_getopt_error(int c, char **argv)
{
    static char reason[256];
    snprintf(reason, sizeof reason, c == ':' ? "option %s needs a value" : "unknown option %s", argv[optind - 1]);
    return reason;
}

const char *cli_one_operand(int argc, char **argv, const char *missing, const char **out)
{
    static char reason[256];
    if (optind >= argc)
        return missing;
    if (optind + 1 < argc) {
        snprintf(reason, sizeof reason, "unexpected argument '%s'", argv[optind + 1]);
        return reason;
    }
    *out = argv[optind];
    return NULL;
}

int cli_usage_outcome(const char *cmd, int help, const char *why, void (*usage)(FILE *), int print)
{
    if (!help && why == NULL)
        return -1;
    if (print) {
        if (help)
            usage(stdout);
        else
            fprintf(stderr, "ovatool %s: %s; try 'ovatool %s --help'\n", cmd, why, cmd);
    }
    return help ? EXIT_OK : EXIT_USAGE;
}

void cli_arm_test_fault(const char *default_point)
{
    const char *fr = getenv("OVATOOL_TEST_FAIL_RANK");
    if (fr != NULL && *fr) {
        char *end;
        long r = strtol(fr, &end, 10);
        if (end != fr && r >= 0 && r <= INT_MAX && (*end == '\0' || *end == ':'))
            ova_fault_arm(*end == ':' ? end + 1 : default_point, (int)r);
    }
}
