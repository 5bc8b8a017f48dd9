/* cli_validate.c - `ovatool validate`: options, MPI start-up, the report
 * (a PROBLEM, RISK or NOTE line each and a summary, or JSON). */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"
#include "ovatool/validate.h"
#include "ovatool/validate_mpi.h"

/* Beyond cli.h's codes: the OVA was read and has problems. */
enum { EXIT_INVALID = 3 };

enum { O_DEEP = 256, O_JSON, O_SCHEMA, O_TARGET, O_STRICT };

static const cli_opt OPTS[] = {
    { "deep", 0, O_DEEP, NULL, "also inflate every grain (split over the ranks under mpirun)" },
    { "json", 0, O_JSON, NULL, "print the result as one JSON object instead of text" },
    { "schema", 1, O_SCHEMA, "DIR", "DMTF OVF schema folder (dsp8023_1.1.1.xsd; default: OVATOOL_SCHEMA_DIR, else the one installed "
      "with ovatool)" },
    { "target", 1, O_TARGET, "IMPORTER", "esxi, workstation, virtualbox or any (default): RISK lines that name the "
      "importer also make the OVA invalid" },
    { "strict", 0, O_STRICT, NULL, "every RISK line makes the OVA invalid" },
    { "quiet", 0, 'q', NULL, "print problems and risks only: no notes, progress or summary" },
    { "help", 0, 'h', NULL, "show this help" },
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

static void validate_usage(FILE *f)
{
    fprintf(f, "Usage: ovatool validate OVA [--deep] [--json] [--schema DIR] [--target IMPORTER] [--strict] [-q]\n"
               "       mpirun -n N ovatool validate OVA --deep\n\n"
               "Checks the tar structure, member order, manifest digests, the OVF (DMTF schema and\n"
               "References/Disk facts) and every streamOptimized disk's header, markers, tables,\n"
               "footer and end-of-stream marker. PROBLEM: data wrong or unreadable. RISK: sound data\n"
               "in a form a named importer is reported to refuse, with the report. NOTE: a layout\n"
               "other than ovftool's that VMware's tools also write and importers read.\n\n"
               "Options:\n");
    cli_print_options(f, OPTS, N_OPTS);
    fprintf(f, "\nExit status: 0 valid (RISK and NOTE lines aside), 3 problems found (one PROBLEM line each)\n"
               "or risks for the --target importer or under --strict, 1 the check could not run (e.g. the\n"
               "file cannot be read), 2 usage error.\n");
}

typedef struct vargs {
    const char *path;
    ova_validate_opts o;
    bool json;
    const char *target;        /* the --target word, "any" by default */
    unsigned target_mask;
    bool strict;
    int help;
} vargs;

static const char *parse(int argc, char **argv, vargs *a)
{
    static char reason[256];
    struct option lo[N_OPTS + 1];
    char short_opts[16];
    cli_getopt_table(OPTS, N_OPTS, lo, short_opts, sizeof short_opts);
    int c;
    while ((c = getopt_long(argc, argv, short_opts, lo, NULL)) != -1) {
        switch (c) {
        case O_DEEP: a->o.deep = true; break;
        case O_JSON: a->json = true; break;
        case O_SCHEMA: a->o.schema_dir = optarg; break;
        case O_TARGET:
            if (!ova_importer_parse(optarg, &a->target_mask)) {
                snprintf(reason, sizeof reason, "--target '%.100s': must be esxi, workstation, virtualbox or any",
                         optarg);
                return reason;
            }
            a->target = optarg;
            break;
        case O_STRICT: a->strict = true; break;
        case 'q': cli_quiet = true; break;
        case 'h': a->help = 1; return NULL;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    return cli_one_operand(argc, argv, "missing the OVA file", &a->path);
}

static void log_cb(void *ctx, const char *msg)
{
    (void)ctx;
    cli_info("%s", msg);
}

/* Lines of a '\n'-separated buffer as a JSON array. */
static void json_lines(cli_json *j, const char *key, const char *text, size_t len)
{
    cli_json_array(j, key);
    for (size_t at = 0; text != NULL && at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        cli_json_strn(j, NULL, text + at, n);
        at += n + 1;
    }
    cli_json_end(j);
}

static bool passes(const ova_validation *v, const vargs *a)
{
    return ova_validation_passes(v, a->target_mask, a->strict);
}

static void report_json(const char *path, const ova_validation *v, const vargs *a, const char *error)
{
    ova_buf b = OVA_BUF_INIT;
    cli_json j;
    cli_json_init(&j, &b);
    cli_json_object(&j, NULL);
    cli_json_str(&j, "file", path);
    if (error != NULL) {
        cli_json_bool(&j, "valid", false);
        cli_json_str(&j, "error", error);
    } else {
        cli_json_bool(&j, "valid", passes(v, a));
        cli_json_uint(&j, "problem_count", v->problems.count);
        json_lines(&j, "problems", v->problems.text.data, v->problems.text.len);
        /* notes: the layout notes, then the informational lines */
        cli_json_array(&j, "notes");
        const ova_buf *nb[2] = { &v->layout_notes.text, &v->notes };
        for (int k = 0; k < 2; k++)
            for (size_t at = 0; nb[k]->data != NULL && at < nb[k]->len;) {
                const char *s = nb[k]->data + at;
                const char *nl = memchr(s, '\n', nb[k]->len - at);
                size_t n = nl ? (size_t)(nl - s) : nb[k]->len - at;
                cli_json_strn(&j, NULL, s, n);
                at += n + 1;
            }
        cli_json_end(&j);
        cli_json_uint(&j, "risk_count", v->risks.count);
        json_lines(&j, "risks", v->risks.text.data, v->risks.text.len);
        cli_json_str(&j, "target", a->target);
        cli_json_bool(&j, "strict", a->strict);
        cli_json_uint(&j, "members", v->n_members);
        cli_json_uint(&j, "disks", v->n_disks);
        cli_json_uint(&j, "grains", v->grains);
        cli_json_bool(&j, "schema_checked", v->schema_checked);
        cli_json_bool(&j, "deep", v->deep);
        cli_json_uint(&j, "grains_inflated", v->grains_inflated);
    }
    cli_json_end(&j);
    ova_buf_putc(&b, '\n');
    if (ova_buf_failed(&b))
        fputs("{\"valid\":false,\"error\":\"out of memory\"}\n", stdout);
    else
        fputs(b.data, stdout);
    fflush(stdout);
    ova_buf_free(&b);
}

/* One "TAG: line" per kept line of l. The lines quote member names and
 * OVF text: controls are '?' already (ova_vlist_add), C1 controls and bad
 * UTF-8 are escaped here. */
static void print_lines(const char *tag, const ova_vlist *l)
{
    size_t pos = 0, len = 0;
    const char *line;
    ova_buf safe = OVA_BUF_INIT;
    while ((line = ova_vlist_next(l, &pos, &len)) != NULL) {
        char *t = strndup(line, len);
        ova_buf_reset(&safe);
        cli_buf_text(&safe, t ? t : "(out of memory)");
        if (ova_buf_failed(&safe))
            printf("%s: (out of memory)\n", tag);
        else
            printf("%s: %.*s\n", tag, (int)safe.len, safe.data ? safe.data : "");
        free(t);
    }
    ova_buf_free(&safe);
}

static void report_text(const char *path, const ova_validation *v, const vargs *a)
{
    print_lines("PROBLEM", &v->problems);
    print_lines("RISK", &v->risks);
    if (!cli_quiet)
        print_lines("NOTE", &v->layout_notes);
    if (!cli_quiet) {
        for (size_t at = 0; v->notes.data != NULL && at < v->notes.len;) {
            const char *s = v->notes.data + at;
            const char *nl = memchr(s, '\n', v->notes.len - at);
            size_t n = nl ? (size_t)(nl - s) : v->notes.len - at;
            cli_info("note: %.*s", (int)n, s);
            at += n + 1;
        }
        char extra[160] = "";
        if (v->risks.count > 0 || v->layout_notes.count > 0)
            snprintf(extra, sizeof extra, "; %llu risk(s), %llu note(s)", (unsigned long long)v->risks.count,
                     (unsigned long long)v->layout_notes.count);
        if (ova_validation_ok(v) && passes(v, a)) {
            printf("VALID: %s: %zu members, %zu disk(s), %llu grains", path, v->n_members, v->n_disks,
                   (unsigned long long)v->grains);
            if (v->deep)
                printf(", %llu inflated", (unsigned long long)v->grains_inflated);
            printf("; OVF schema %s%s\n", v->schema_checked ? "checked" : "not checked", extra);
        } else if (ova_validation_ok(v)) {
            if (a->strict)
                printf("INVALID: %s: no problem, but %llu risk(s) (--strict)\n", path,
                       (unsigned long long)v->risks.count);
            else
                printf("INVALID: %s: no problem, but a risk for %s (--target %s)\n", path,
                       ova_importer_names(a->target_mask, extra, sizeof extra), a->target);
        } else if (v->problems.count > v->problems.kept) {
            printf("INVALID: %s: %llu problem(s), the first %zu listed\n", path,
                   (unsigned long long)v->problems.count, v->problems.kept);
        } else {
            printf("INVALID: %s: %llu problem(s)\n", path, (unsigned long long)v->problems.count);
        }
    }
    fflush(stdout);
}

int cli_validate(int argc, char **argv)
{
    int provided = cli_mpi_init(&argc, &argv, MPI_THREAD_FUNNELED);
    if (provided < 0)
        return EXIT_FAIL;
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);

    vargs a;
    memset(&a, 0, sizeof a);
    a.target = "any";
    const char *why = parse(argc, argv, &a);
    int outcome = cli_usage_outcome("validate", a.help, why, validate_usage, rank == 0);
    if (outcome >= 0) {
        MPI_Finalize();
        return outcome;
    }
    /* a schema that ships with ovatool and is missing is a broken install,
     * not a reason to call an OVA valid unchecked */
    char schema_buf[4096], schema_why[8192];
    a.o.schema_dir = cli_schema_dir(a.o.schema_dir, schema_buf, sizeof schema_buf, schema_why, sizeof schema_why);
    if (a.o.schema_dir == NULL) {
        if (rank == 0)
            cli_error("%s", schema_why);
        MPI_Finalize();
        return EXIT_FAIL;
    }
    if (rank != 0)
        cli_quiet = true;
    if (!cli_quiet && !a.json)
        a.o.log = log_cb;

    ova_validation v;
    ova_validation_init(&v);
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_validate_mpi(a.path, &a.o, MPI_COMM_WORLD, &v, &err);
    int rc;
    if (st != OVA_OK) {
        const char *msg = err.msg[0] ? err.msg : ova_strstatus(st);
        if (rank == 0) {
            cli_error("%s", msg);
            if (a.json)
                report_json(a.path, &v, &a, msg);
        }
        rc = EXIT_FAIL;
    } else {
        if (rank == 0) {
            if (a.json)
                report_json(a.path, &v, &a, NULL);
            else
                report_text(a.path, &v, &a);
        }
        rc = passes(&v, &a) ? EXIT_OK : EXIT_INVALID;
    }
    ova_validation_free(&v);
    ova_validate_global_cleanup();
    MPI_Finalize();
    return rc;
}
