/* cli_export.c - `ovatool export`: options, MPI start-up, the summary. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_fleet.h"
#include "cli_json.h"
#include "ovatool/export_mpi.h"

enum { O_NO_PIN = 256, O_MEM, O_CODEC, O_LEVEL, O_SHA, O_TARGET_HW, O_PROGRESS, O_JSON, O_FORCE, O_BUFFERED, O_COMPRESS_ALL };

enum { O_CONFINE = 512, O_OVERWRITE, O_DRY_RUN, O_RESUME, O_LIST, O_PARALLEL_DISKS, O_DWRITE };

/* One table defines every option: getopt reads it, --help prints it. */
static const cli_opt OPTS[] = {
    { "output", 1, 'o', "FILE|DIR",
      "the OVA to write (required), or a folder for DIR/<VM name>.ova; written under a temporary name first; "
      "never one of the VM's own files, a symbolic link or a device; an existing file only with --overwrite. "
      "With several VMs, an existing folder" },
    { "list", 1, O_LIST, "FILE",
      "export every VMX named in FILE (one path a line; blank lines and # comments skipped; relative paths "
      "from FILE's folder), besides any VMX operands, each to DIR/<VM name>.ova in one job (a fleet)" },
    { "overwrite", 0, O_OVERWRITE, NULL,
      "replace an existing OVA at the output (once the new one is complete); without it, an existing file is "
      "refused" },
    { "resume", 0, O_RESUME, NULL,
      "journal the export (OUT.partial + OUT.journal beside the output) so that one stopped by a signal, a time "
      "limit, a kill or a lost node continues where it stopped when run again with --resume, with any number of "
      "ranks; continues a matching journal found there, refuses one whose sources or options differ" },
    { "dry-run", 0, O_DRY_RUN, NULL,
      "run every check and make the plan, then print what would be written (the OVA, its members, each disk's "
      "capacity and allocated bytes, the estimated size) and stop: no disk data is read, nothing is written" },
    { "compression", 1, 'c', "PRESET",
      "fast (isal 1) | balanced (libdeflate 6, the default) | max (libdeflate 9)" },
    { "codec", 1, O_CODEC, "NAME", "zlib | libdeflate | isal (default: the preset's); all write the zlib format" },
    { "level", 1, O_LEVEL, "N", "compression level (zlib 1-9, libdeflate 1-12, isal 1-3; default: the preset's)" },
    { "compress-all", 0, O_COMPRESS_ALL, NULL,
      "deflate every grain, also those a quick test says will not compress (default: store those as they are)" },
    { "threads", 1, 't', "N", "compression threads per rank (default: one per core the rank may use)" },
    { "no-pin", 0, O_NO_PIN, NULL, "do not bind compression threads to cores" },
    { "mem-limit", 1, O_MEM, "SIZE", "memory for units in flight per rank, e.g. 512M (default 512M)" },
    { "sha", 1, O_SHA, "ALG", "manifest digest: sha1 | sha256 | sha512 (default sha256)" },
    { "target-hw", 1, O_TARGET_HW, "N", "write virtual hardware version vmx-N instead of the VM's own" },
    { "progress", 1, O_PROGRESS, "SECS",
      "seconds between progress lines, 0 for none (default 10; a live bar instead on a terminal)" },
    { "json", 0, O_JSON, NULL, "print the closing summary as one JSON object on stdout" },
    { "force", 0, O_FORCE, NULL, "export even if .lck folders say the VM is running (the OVA may be inconsistent)" },
    { "confine", 0, O_CONFINE, NULL,
      "refuse disk, extent and parent files that resolve outside the VMX's folder (default: warn about each)" },
    { "parallel-disks", 1, O_PARALLEL_DISKS, "MODE",
      "auto | on | off: compress and hash a VM's disks side by side, later disks spooled beside the output and "
      "copied in (the same OVA); auto (the default): when the job's threads make compressed data faster than one digest stream "
      "takes it (more than 28 threads with sha256, 15 with sha512); never with --resume nor for a fleet" },
    { "distributed-write", 1, O_DWRITE, "MODE",
      "auto | on | off: each rank writes the units it compressed into the OVA itself and rank 0 only the headers, "
      "grain tables and digests (the same OVA; needs a file system every rank shares); auto (the default): when "
      "the job spans more than one host and every rank sees the output rank 0 created; on: with any two ranks, "
      "an error if one cannot see it; never with --resume, --parallel-disks on or a fleet" },
    { "buffered-io", 0, O_BUFFERED, NULL,
      "write the OVA through the page cache (default: O_DIRECT where the file system allows it)" },
    { "quiet", 0, 'q', NULL, "no progress or summary lines; errors and warnings only" },
    { "help", 0, 'h', NULL, "show this help" },
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

static void export_usage(FILE *f)
{
    fprintf(f, "Usage: ovatool export VMX -o OUT.ova [options]\n"
               "       ovatool export VMX VMX... -o DIR/ [options]\n"
               "       ovatool export --list FILE -o DIR/ [options]\n"
               "       mpirun -n N ovatool export VMX... -o OUT.ova|DIR/ [options]\n\nOptions:\n");
    cli_print_options(f, OPTS, N_OPTS);
    fprintf(f, "\nExit status: 0 success (with --dry-run: every check passed; with several VMs: every VM), "
               "1 failure (no output of a failed VM left behind, except a journaled export's resumable files), "
               "2 usage error, 75 stopped by SIGTERM, SIGINT or SIGUSR1 with --resume at a durable point (run "
               "again with --resume to continue).\n");
}

/* Set before the handlers are installed: rank 0 reports a signal, and
 * starts a new line first when a progress bar may be on screen; with
 * --resume a signal asks the export to stop at a durable point instead. */
static volatile sig_atomic_t g_sig_report, g_sig_newline, g_sig_resume;

/* Only async-signal-safe calls from here to on_signal's end: write(2) of
 * fixed strings and integers formatted by hand (no stdio, no malloc,
 * no strsignal), and the writer's lock-free cleanup and counters. */
static void sig_put(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void sig_put_u64(uint64_t v)
{
    char d[24];
    int i = (int)sizeof d;
    d[--i] = '\0';
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    sig_put(d + i);
}

static void sig_put_gib(uint64_t bytes) /* "1.23 GiB", rounded like %.2f */
{
    uint64_t c = (bytes >> 30) * 100 + (((bytes & ((1u << 30) - 1)) * 100 + (1u << 29)) >> 30);
    sig_put_u64(c / 100);
    sig_put(c % 100 < 10 ? ".0" : ".");
    sig_put_u64(c % 100);
    sig_put(" GiB");
}

static const char *sig_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : sig == SIGUSR1 ? "SIGUSR1" : "SIGTERM";
}

/* ovatool: stopped by SIGTERM after 1.23 GiB of 4.00 GiB (31%); removed partial output DIR/.x.ova.XXXXXX.part
 * With --resume (not SIGHUP: a closed terminal is no request to pause) the
 * export is asked to stop at its next durable point instead (exit 75). */
static void on_signal(int sig)
{
    int saved = errno, removed = 0;
    if (g_sig_resume && sig != SIGHUP) {
        /* ovatool: SIGTERM: stopping at the next durable point (--resume);
         * said once (a job script passes a stop on until the export ends) */
        static volatile sig_atomic_t said;
        ova_export_request_stop();
        if (g_sig_report && !said) {
            said = 1;
            if (g_sig_newline)
                sig_put("\n");
            sig_put("ovatool: ");
            sig_put(sig_name(sig));
            sig_put(": stopping at the next durable point (--resume)\n");
        }
        errno = saved;
        return;
    }
    const char *part = ova_writer_signal_cleanup(&removed);
    if (g_sig_report) {
        uint64_t done = 0, total = 0;
        ova_writer_signal_progress(&done, &total);
        if (g_sig_newline)
            sig_put("\n");
        sig_put("ovatool: stopped by ");
        sig_put(sig_name(sig));
        if (total > 0) {
            sig_put(" after ");
            sig_put_gib(done);
            sig_put(" of ");
            sig_put_gib(total);
            sig_put(" (");
            sig_put_u64(total > UINT64_MAX / 100 ? done / (total / 100) : done * 100 / total);
            sig_put("%)");
        }
        if (part != NULL) {
            sig_put(removed ? "; removed partial output " : "; could not remove partial output ");
            sig_put(part);
        }
        sig_put("\n");
    }
    errno = saved;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* "812 bytes", "37.5 MiB", "3.00 GiB" */
static const char *human(uint64_t v, char buf[32])
{
    if (v >= (1ull << 30))
        snprintf(buf, 32, "%.2f GiB", (double)v / 1073741824.0);
    else if (v >= (1ull << 20))
        snprintf(buf, 32, "%.1f MiB", (double)v / 1048576.0);
    else if (v >= 1024)
        snprintf(buf, 32, "%.1f KiB", (double)v / 1024.0);
    else
        snprintf(buf, 32, "%llu bytes", (unsigned long long)v);
    return buf;
}

/* --dry-run: what would be written, on stdout (text from input through
 * cli_buf_text, as every human line), or as JSON with --json. */
typedef struct preview_ctx {
    cli_progress *prog;
    const ova_export_opts *opts;
    int json;
} preview_ctx;

static void log_preview(void *ctx, int level, const char *msg)
{
    preview_ctx *pc = ctx;
    cli_progress_break(pc->prog);
    if (level > 0)
        cli_warn("%s", msg);
    else
        cli_info("%s", msg);
}

static void progress_preview(void *ctx, const ova_progress *p)
{
    cli_progress_cb(((preview_ctx *)ctx)->prog, p);
}

static void print_preview(void *ctx, const ova_export_preview *pv)
{
    const preview_ctx *pc = ctx;
    const ova_prepared *p = pv->prep;
    const ova_check_result *c = pv->check;
    ova_buf b = OVA_BUF_INIT;
    char h1[32], h2[32], h3[32];
    if (pc->json) {
        cli_json j;
        cli_json_init(&j, &b);
        cli_json_object(&j, NULL);
        cli_json_bool(&j, "dry_run", true);
        cli_json_str(&j, "output", p->output);
        cli_json_uint(&j, "replaces_bytes", c->existing);
        cli_json_array(&j, "members");
        char name[128];
        snprintf(name, sizeof name, "%s.ovf", p->member_base);
        cli_json_object(&j, NULL);
        cli_json_str(&j, "name", name);
        cli_json_end(&j);
        snprintf(name, sizeof name, "%s.mf", p->member_base);
        cli_json_object(&j, NULL);
        cli_json_str(&j, "name", name);
        cli_json_end(&j);
        for (size_t i = 0; i < p->n_disks; i++) {
            const ova_disk_info *d = p->disks[i].info;
            cli_json_object(&j, NULL);
            cli_json_str(&j, "name", p->disks[i].member);
            cli_json_str(&j, "disk", d->path);
            cli_json_uint(&j, "capacity", d->capacity);
            cli_json_uint(&j, "allocated", d->allocated);
            cli_json_int(&j, "snapshot_levels", d->chain_depth);
            cli_json_end(&j);
        }
        cli_json_end(&j);
        cli_json_uint(&j, "estimate_best", c->size.best);
        cli_json_uint(&j, "estimate_likely", c->size.likely);
        cli_json_uint(&j, "estimate_worst", c->size.worst);
        cli_json_str(&j, "folder", c->folder);
        if (c->have_free)
            cli_json_uint(&j, "free_bytes", c->free_bytes);
        cli_json_uint(&j, "units", pv->units);
        cli_json_uint(&j, "unit_grains", pv->unit_grains);
        cli_json_int(&j, "ranks", pv->ranks);
        cli_json_int(&j, "threads", pv->threads_total);
        cli_json_str(&j, "codec", ova_codec_name(pc->opts->codec));
        cli_json_int(&j, "level", pc->opts->level);
        cli_json_end(&j);
        ova_buf_putc(&b, '\n');
    } else {
        ova_buf_puts(&b, "Dry run: every check passed; nothing was read but metadata, nothing written.\nOutput:    ");
        cli_buf_text(&b, p->output);
        if (c->existing > 0)
            ova_buf_printf(&b, " (replaces the existing file of %s)", human(c->existing, h1));
        ova_buf_printf(&b, "\nMembers:   %s.ovf\n           %s.mf\n", p->member_base, p->member_base);
        for (size_t i = 0; i < p->n_disks; i++) {
            const ova_disk_info *d = p->disks[i].info;
            ova_buf_printf(&b, "           %s: ", p->disks[i].member);
            cli_buf_text(&b, p->disks[i].device->key_prefix);
            ova_buf_printf(&b, ", capacity %s, %s allocated", human(d->capacity, h1), human(d->allocated, h2));
            if (d->chain_depth > 0)
                ova_buf_printf(&b, ", %d snapshot level(s) flattened", d->chain_depth);
            ova_buf_puts(&b, "\n             from ");
            cli_buf_text(&b, d->path);
            ova_buf_putc(&b, '\n');
        }
        ova_buf_printf(&b, "Size:      about %s to %s, likely %s (%s level %d)\n", human(c->size.best, h1),
                       human(c->size.worst, h2), human(c->size.likely, h3), ova_codec_name(pc->opts->codec),
                       pc->opts->level);
        ova_buf_puts(&b, "Space:     ");
        if (c->have_free)
            ova_buf_printf(&b, "%s free at ", human(c->free_bytes, h1));
        else
            ova_buf_puts(&b, "unknown free space at ");
        cli_buf_text(&b, c->folder);
        ova_buf_printf(&b, "\nPlan:      %llu unit(s) of %u grains; %d rank(s), %d compression thread(s)\n",
                       (unsigned long long)pv->units, pv->unit_grains, pv->ranks, pv->threads_total);
    }
    if (!ova_buf_failed(&b))
        fputs(b.data, stdout);
    fflush(stdout);
    ova_buf_free(&b);
}

static void print_json(const ova_export_opts *o, const ova_export_stats *s)
{
    ova_buf b = OVA_BUF_INIT;
    cli_json j;
    cli_json_init(&j, &b);
    double secs = s->seconds > 0 ? s->seconds : 1e-9;
    cli_json_object(&j, NULL);
    cli_json_str(&j, "output", s->output);
    cli_json_uint(&j, "bytes_in", s->bytes_in);
    cli_json_uint(&j, "bytes_read", s->bytes_read);
    cli_json_uint(&j, "bytes_out", s->bytes_out);
    cli_json_double(&j, "ratio", s->bytes_in ? (double)s->bytes_out / (double)s->bytes_in : 0.0, 4);
    cli_json_double(&j, "seconds", s->seconds, 3);
    cli_json_double(&j, "rate_bytes_per_s", (double)s->bytes_in / secs, 0);
    cli_json_int(&j, "ranks", s->ranks);
    cli_json_int(&j, "threads", s->threads_total);
    cli_json_str(&j, "codec", ova_codec_name(o->codec));
    cli_json_int(&j, "level", o->level);
    cli_json_uint(&j, "units", s->units);
    cli_json_uint(&j, "unit_grains", s->unit_grains);
    cli_json_uint(&j, "window", s->window);
    cli_json_uint(&j, "grains_written", s->grains_data);
    cli_json_bool(&j, "store_incompressible", o->store_incompressible);
    cli_json_uint(&j, "grains_stored", s->grains_stored);
    cli_json_uint(&j, "bytes_stored", s->bytes_stored);
    cli_json_uint(&j, "mem_limit", o->mem_limit);
    cli_json_uint(&j, "rss_max_kb", s->rss_max_kb);
    cli_json_uint(&j, "rss_rank0_kb", s->rss_rank0_kb);
    cli_json_bool(&j, "parallel_disks", s->parallel_disks);
    cli_json_bool(&j, "distributed_write", s->distributed_write);
    if (s->rank_written != NULL) {
        cli_json_array(&j, "rank_bytes_written");
        for (int r = 0; r < s->ranks; r++)
            cli_json_uint(&j, NULL, s->rank_written[r]);
        cli_json_end(&j);
    }
    cli_json_end(&j);
    ova_buf_putc(&b, '\n');
    if (!ova_buf_failed(&b))
        fputs(b.data, stdout);
    fflush(stdout);
    ova_buf_free(&b);
}

/* The value of an auto | on | off option (any case), or -1. */
static int auto_on_off(const char *arg, int a, int on, int off)
{
    if (strcasecmp(arg, "auto") == 0)
        return a;
    if (strcasecmp(arg, "on") == 0)
        return on;
    return strcasecmp(arg, "off") == 0 ? off : -1;
}

/* Parse argv into o; returns NULL on success or a reason for a usage error. */
static const char *parse(int argc, char **argv, ova_export_opts *o, int *help, int *json, cli_fleet_list *fleet,
                         int *is_fleet)
{
    const char *list = NULL;
    static char reason[256];
    struct option lo[N_OPTS + 1];
    char short_opts[64];
    cli_getopt_table(OPTS, N_OPTS, lo, short_opts, sizeof short_opts);

    int codec_set = 0, level_set = 0;
    *json = 0;
    long v;
    int c;
    while ((c = getopt_long(argc, argv, short_opts, lo, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case 'q': cli_quiet = true; o->progress_secs = 0; break;
        case 'h': *help = 1; return NULL;
        case 't':
            if (!cli_parse_int(optarg, 1, 1024, &v))
                return "--threads takes a number from 1 to 1024";
            o->threads = (int)v;
            break;
        case O_NO_PIN: o->pin = false; break;
        case O_JSON: *json = 1; break;
        case O_FORCE: o->force = true; break;
        case O_CONFINE: o->confine = true; break;
        case O_OVERWRITE: o->overwrite = true; break;
        case O_DRY_RUN: o->dry_run = true; break;
        case O_RESUME: o->resume = true; break;
        case O_LIST: list = optarg; break;
        case O_BUFFERED: o->buffered_io = true; break;
        case O_PARALLEL_DISKS: {
            int mode = auto_on_off(optarg, OVA_PARALLEL_DISKS_AUTO, OVA_PARALLEL_DISKS_ON, OVA_PARALLEL_DISKS_OFF);
            if (mode < 0)
                return "--parallel-disks takes auto, on or off";
            o->parallel_disks = (ova_parallel_disks)mode;
            break;
        }
        case O_DWRITE: {
            int mode = auto_on_off(optarg, OVA_DWRITE_AUTO, OVA_DWRITE_ON, OVA_DWRITE_OFF);
            if (mode < 0)
                return "--distributed-write takes auto, on or off";
            o->distributed_write = (ova_distributed_write)mode;
            break;
        }
        case O_COMPRESS_ALL: o->store_incompressible = false; break;
        case O_MEM:
            if (!cli_parse_size(optarg, &o->mem_limit))
                return "--mem-limit takes a size such as 512M or 2G";
            break;
        case 'c':
            if (strcasecmp(optarg, "fast") == 0) {
                /* ISA-L when built in: ~3x libdeflate level 1 (README.md, "Performance") */
                if (!codec_set)
                    o->codec = ova_codec_available(OVA_CODEC_ISAL) ? OVA_CODEC_ISAL : OVA_CODEC_LIBDEFLATE;
                if (!level_set) o->level = 1;
            } else if (strcasecmp(optarg, "balanced") == 0) {
                if (!codec_set) o->codec = OVA_CODEC_LIBDEFLATE;
                if (!level_set) o->level = 6;
            } else if (strcasecmp(optarg, "max") == 0) {
                if (!codec_set) o->codec = OVA_CODEC_LIBDEFLATE;
                if (!level_set) o->level = 9;
            } else {
                return "--compression takes fast, balanced or max";
            }
            break;
        case O_CODEC:
            if (!ova_codec_parse(optarg, &o->codec))
                return "--codec takes zlib, libdeflate or isal";
            if (!ova_codec_available(o->codec))
                return "--codec isal: this ovatool was built without ISA-L (install libisal-dev and rebuild)";
            codec_set = 1;
            break;
        case O_LEVEL:
            if (!cli_parse_int(optarg, 1, 12, &v))
                return "--level takes a number from 1 to 12";
            o->level = (int)v;
            level_set = 1;
            break;
        case O_SHA:
            if (!ova_sha_parse(optarg, &o->sha))
                return "--sha takes sha1, sha256 or sha512";
            break;
        case O_TARGET_HW:
            if (!cli_parse_int(optarg, 3, 99, &v))
                return "--target-hw takes a hardware version from 3 to 99";
            o->target_hw = (int)v;
            break;
        case O_PROGRESS:
            if (!cli_parse_int(optarg, 0, 86400, &v))
                return "--progress takes seconds from 0 to 86400";
            o->progress_secs = (double)v;
            break;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    /* a preset's level may not exist for an explicitly chosen codec */
    if (!level_set && !ova_codec_level_ok(o->codec, o->level))
        o->level = o->codec == OVA_CODEC_ISAL ? (o->level > 3 ? 3 : 1) : (o->level > 9 ? 9 : o->level);
    if (!ova_codec_level_ok(o->codec, o->level)) {
        snprintf(reason, sizeof reason, "level %d is not valid for %s", o->level, ova_codec_name(o->codec));
        return reason;
    }
    /* distributed writing hands one VM's digest along its units; a journal's
     * durable points and parallel disks' spools are rank 0's own writes */
    if (o->distributed_write == OVA_DWRITE_ON && o->resume)
        return "--distributed-write on cannot be used with --resume (the journal's durable points are rank 0's "
               "writes)";
    if (o->distributed_write == OVA_DWRITE_ON && o->parallel_disks == OVA_PARALLEL_DISKS_ON)
        return "--distributed-write on cannot be used with --parallel-disks on (rank 0 spools the later disks "
               "itself)";
    /* one VMX: the single export; several, or a list: a fleet */
    *is_fleet = list != NULL || argc - optind > 1;
    if (*is_fleet && o->distributed_write == OVA_DWRITE_ON)
        return "--distributed-write on is for one VM: a fleet spreads its VMs over writer ranks instead";
    if (!*is_fleet) {
        const char *why = cli_one_operand(argc, argv, "missing the VMX file", &o->vmx_path);
        if (why != NULL)
            return why;
        if (o->output == NULL)
            return "missing -o OUT.ova";
        return NULL;
    }
    for (int i = optind; i < argc; i++)
        if (!cli_fleet_add(fleet, argv[i]))
            return "out of memory";
    if (list != NULL) {
        const char *why = cli_fleet_read_list(list, fleet);
        if (why != NULL)
            return why;
    }
    /* a fleet's VMs are written by many writer ranks at once; the journal
     * is one export's (README: --resume) */
    if (o->resume)
        return "--resume continues one VM's export; export the VMs of a fleet one by one to resume them";
    struct stat sb;
    if (o->output == NULL)
        return "missing -o DIR (with several VMs, the folder for DIR/<VM name>.ova)";
    if (stat(o->output, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(reason, sizeof reason, "-o %.200s: with several VMs, -o must be an existing folder", o->output);
        return reason;
    }
    return NULL;
}

/* The library reads no environment; the command line does, here.
 * SOURCE_DATE_EPOCH gives the tar mtime unless an option already did
 * (none does today), for reproducible OVAs; malformed, it is ignored and
 * the VMX's mtime is used (prepare.h). */
static void export_env(ova_export_opts *o)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (o->mtime < 0 && sde != NULL && *sde) {
        char *end;
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (errno == 0 && *end == '\0' && v >= 0)
            o->mtime = v;
    }
    /* Test hook: OVATOOL_TEST_FAIL_RANK=R makes rank R fail its first unit,
     * R:POINT fail at another fault point (util/fault.h lists them), so the
     * tests can prove that a failure on any rank, in any phase, stops the
     * whole job cleanly (a no-op in builds without the tests). */
    cli_arm_test_fault("export.unit");
    /* Test hook: OVATOOL_TEST_JOURNAL_SECS=S takes a durable point inside a
     * disk at most every S seconds (0: at every grain-table group) instead
     * of every 5, so that tests stop at points they choose. */
    const char *js = getenv("OVATOOL_TEST_JOURNAL_SECS");
    if (js != NULL && *js) {
        char *end;
        double v = strtod(js, &end);
        if (end != js && *end == '\0' && v >= 0)
            o->journal_secs = v;
    }
}

int cli_export(int argc, char **argv)
{
    int provided = cli_mpi_init(&argc, &argv, MPI_THREAD_MULTIPLE);
    if (provided < 0)
        return EXIT_FAIL;
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    ova_export_opts o;
    ova_export_opts_init(&o);
    int help = 0, json = 0, is_fleet = 0;
    cli_fleet_list fleet = { NULL, 0 };
    const char *why = parse(argc, argv, &o, &help, &json, &fleet, &is_fleet);
    int outcome = cli_usage_outcome("export", help, why, export_usage, rank == 0);
    if (outcome >= 0) {
        cli_fleet_list_free(&fleet);
        MPI_Finalize();
        return outcome;
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
    export_env(&o);

    /* a live bar on a terminal, timestamped lines in logs */
    cli_progress prog;
    cli_progress_init(&prog, o.progress_secs);
    if (prog.tty)
        o.progress_secs = 0.5;
    preview_ctx pctx = { &prog, &o, json };
    ova_export_hooks hooks = { log_preview, progress_preview, &pctx, print_preview };

    g_sig_report = rank == 0;
    g_sig_newline = prog.tty;
    g_sig_resume = o.resume;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGUSR1, on_signal); /* Slurm's warning before the time limit (--signal=B:USR1@120) */

    if (is_fleet) {
        int rc = cli_fleet_run(&o, &fleet, &hooks, &prog, json, MPI_COMM_WORLD);
        cli_fleet_list_free(&fleet);
        MPI_Finalize();
        return rc;
    }

    ova_export_stats stats;
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_export(&o, MPI_COMM_WORLD, &hooks, &stats, &err);
    cli_progress_break(&prog);
    if (st == OVA_E_STOPPED) {
        if (rank == 0)
            cli_warn("%s", err.msg);
    } else if (st != OVA_OK) {
        /* rank 0 tells the story, including other ranks' failures */
        if (rank == 0)
            cli_error("%s", err.msg[0] ? err.msg : ova_strstatus(st));
    } else if (rank == 0 && !o.dry_run) {
        double secs = stats.seconds > 0 ? stats.seconds : 1e-9;
        cli_info("wrote %s: %.1f MiB from %.2f GiB of disk (%.2f GiB read), ratio %.3f, %.1f s, %.1f MiB/s; "
                 "%llu of %llu grains (%.1f MiB) stored, not compressed; "
                 "peak memory %.0f MiB (largest rank), %.0f MiB (rank 0)",
                 stats.output, (double)stats.bytes_out / 1048576.0, (double)stats.bytes_in / 1073741824.0,
                 (double)stats.bytes_read / 1073741824.0,
                 stats.bytes_in ? (double)stats.bytes_out / (double)stats.bytes_in : 0.0, secs,
                 (double)stats.bytes_in / secs / 1048576.0, (unsigned long long)stats.grains_stored,
                 (unsigned long long)stats.grains_data, (double)stats.bytes_stored / 1048576.0,
                 (double)stats.rss_max_kb / 1024.0, (double)stats.rss_rank0_kb / 1024.0);
        if (json)
            print_json(&o, &stats);
    }
    ova_export_stats_free(&stats);
    MPI_Finalize();
    return st == OVA_OK ? EXIT_OK : st == OVA_E_STOPPED ? EXIT_STOPPED : EXIT_FAIL;
}
