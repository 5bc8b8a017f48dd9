/* test_ova_writer.c - the OVA writer end to end, without MPI: a two-disk VM
 * made with qemu-img/qemu-io, its units compressed with ova_unit_compress
 * and written through ova_writer_open/unit/finish, then read back with
 * independent tools (tar, qemu-img, sha*sum); and the paths that must
 * leave nothing behind: abort, a refused target, a failed finish. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"
#include "unit_shell.h"

#include <dirent.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovatool/disk.h"
#include "ovatool/prepare.h"
#include "ovatool/vm.h"
#include "engine/journal.h"
#include "engine/disk_order.h"
#include "engine/ova_writer.h"
#include "engine/resume.h"
#include "engine/plan.h"
#include "engine/unit.h"
#include "format/digest_state.h"

#define MIB ((uint64_t)1 << 20)
#define MTIME 1700000000 /* 2023-11-14 22:13:20 UTC */

static char g_dir[PATH_MAX];
static int g_have_tools;

/* ---- helpers ---- */

#define run(...) unit_run(g_dir, 0, __VA_ARGS__)

#define SH(...)                                                                                                   \
    do {                                                                                                          \
        if (run(__VA_ARGS__) != 0)                                                                                \
            fail_msg("command failed: " __VA_ARGS__);                                                             \
    } while (0)

#define P(name) unit_path(g_dir, (name))

static int exists(const char *name)
{
    struct stat sb;
    return lstat(P(name), &sb) == 0;
}

/* Temporary files of exports to fname in the test folder (".FNAME.*.part"). */
static int count_parts(const char *fname)
{
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    size_t fl = strlen(fname);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl > fl + 6 && de->d_name[0] == '.' && strncmp(de->d_name + 1, fname, fl) == 0 &&
            strcmp(de->d_name + nl - 5, ".part") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Warnings the writer passes to opts.warn, joined by newlines. */
static char g_warnings[8192];

static void collect_warning(void *ctx, const char *msg)
{
    (void)ctx;
    size_t l = strlen(g_warnings);
    snprintf(g_warnings + l, sizeof g_warnings - l, "%s\n", msg);
}

/* ---- the VM: two disks of different kinds ---- */

/* Disk 1: monolithicSparse, a capacity that is not a grain multiple (a
 * partial last grain) and two grain tables, with patterns, a zeroed range
 * and 256 KiB of random bytes (stored, not deflated, when storing is on).
 * Disk 2: monolithicFlat with data in its first and last grain only, so
 * most of its grain tables have no data (no GT is written for them). */
#define DISK1_SIZE (40 * MIB + 3 * 512)
#define DISK2_SIZE (70 * MIB)

static void make_vm(void)
{
    SH("head -c 262144 /dev/urandom > rnd.bin");
    SH("qemu-img create -q -f vmdk -o subformat=monolithicSparse d1.vmdk %llu", (unsigned long long)DISK1_SIZE);
    SH("qemu-io -f vmdk -c 'write -P 0x11 0 64k' -c 'write -P 0x22 100k 300k' -c 'write -s rnd.bin 3M 256k' "
       "-c 'write -P 0x33 5M 1M' -c 'write -z 5M 64k' -c 'write -P 0x44 33M 4k' -c 'write -P 0x55 41941504 1536' "
       "d1.vmdk >/dev/null");
    SH("qemu-img create -q -f vmdk -o subformat=monolithicFlat d2.vmdk %llu", (unsigned long long)DISK2_SIZE);
    SH("qemu-io -f vmdk -c 'write -P 0x66 0 512' -c 'write -P 0x77 %llu 65536' d2.vmdk >/dev/null",
       (unsigned long long)(DISK2_SIZE - 65536));
    FILE *f = fopen(P("vm.vmx"), "w");
    assert_non_null(f);
    fputs(".encoding = \"UTF-8\"\nconfig.version = \"8\"\nvirtualHW.version = \"19\"\n"
          "displayName = \"writer test\"\nguestOS = \"ubuntu-64\"\nnumvcpus = \"2\"\nmemsize = \"1024\"\n"
          "scsi0.present = \"TRUE\"\nscsi0.virtualDev = \"lsilogic\"\n"
          "scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"d1.vmdk\"\n"
          "sata0.present = \"TRUE\"\nsata0:0.present = \"TRUE\"\nsata0:0.fileName = \"d2.vmdk\"\n"
          "ethernet0.present = \"TRUE\"\nethernet0.virtualDev = \"e1000\"\nethernet0.connectionType = \"nat\"\n",
          f);
    assert_int_equal(fclose(f), 0);
}

typedef struct export {
    ova_prepared *prep;   /* the VM, its disks paired with devices, the member names */
    ova_plan *plan;
    ova_disk_reader **readers;
    ova_unit_worker *uw;
} export;

static void export_load(export *x, uint32_t unit_grains)
{
    memset(x, 0, sizeof *x);
    ova_err err;
    ova_err_clear(&err);
    ova_prepare_opts po;
    ova_prepare_opts_init(&po);
    po.vmx_path = P("vm.vmx");
    po.mtime = MTIME;
    if (ova_prepare(&po, &x->prep, &err) != OVA_OK)
        fail_msg("prepare vm.vmx: %s", err.msg);
    size_t nd = x->prep->n_disks;
    assert_int_equal(nd, 2);
    if (ova_plan_from_prepared(x->prep, unit_grains, &x->plan, &err) != OVA_OK)
        fail_msg("plan: %s", err.msg);
    x->readers = calloc(nd, sizeof *x->readers);
    assert_non_null(x->readers);
    for (size_t i = 0; i < nd; i++)
        if (ova_disk_reader_open(x->plan->disks[i], &x->readers[i], &err) != OVA_OK)
            fail_msg("reader: %s", err.msg);
    assert_int_equal(ova_unit_worker_new(OVA_CODEC_ZLIB, 6, 1 << 20, &x->uw, &err), OVA_OK);
    ova_unit_worker_store_incompressible(x->uw, true);
}

/* Open the writer on target name (in the test folder), as ova_prepare
 * would have set it up from -o name. */
static ova_status open_at(export *x, const char *name, const ova_writer_opts *o, ova_writer **w, ova_err *err)
{
    if (ova_prepared_set_output(x->prep, P(name), err) != OVA_OK)
        fail_msg("output %s: %s", name, err->msg);
    return ova_writer_open(x->prep, x->plan, o, w, err);
}

static void export_free(export *x)
{
    for (size_t i = 0; x->plan != NULL && i < x->plan->n_disks; i++)
        ova_disk_reader_close(&x->readers[i]);
    free(x->readers);
    ova_unit_worker_free(&x->uw);
    ova_plan_free(&x->plan);
    ova_prepared_free(&x->prep);
}

/* Every unit blob handed to the writer is released exactly once; atomic,
 * as with parallel disks the OVA's and a spool's write threads both
 * release (ThreadSanitizer saw the increments race). */
static atomic_int g_released;

static void release_blob(void *p)
{
    g_released++;
    free(p);
}

/* 1: write_unit places every odd unit as one another rank holds
 * (distributed writing, ova_writer_unit_held): the records are written
 * into the temporary file and hashed here, as a holder does. */
static int g_held;
static int g_held_calls;

typedef struct held_ctx {
    int fd;
    const unsigned char *records;
} held_ctx;

static ova_status held_place(void *p, uint64_t off, uint64_t len, ova_digest_state *s, ova_err *err)
{
    held_ctx *c = p;
    g_held_calls++;
    if (ova_digest_state_update(s, c->records, (size_t)len, err) != OVA_OK)
        return err->status;
    if (pwrite(c->fd, c->records, (size_t)len, (off_t)off) != (ssize_t)len)
        return ova_err_set(err, OVA_E_IO, "pwrite of a held unit failed");
    return OVA_OK;
}

/* Compress unit u and hand it to the writer (which then owns the blob). */
static ova_status write_unit(export *x, ova_writer *w, uint64_t u, ova_err *err)
{
    unsigned char *blob = malloc(ova_unit_max_size(x->plan->unit_grains));
    assert_non_null(blob);
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(x->plan, u, &d, &first, &n);
    ova_err cerr;
    ova_err_clear(&cerr);
    if (ova_unit_compress(x->uw, x->plan, x->readers[d], u, blob, &cerr) != OVA_OK)
        fail_msg("compress unit %llu: %s", (unsigned long long)u, cerr.msg);
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
    if (g_held && u % 2 == 1) {
        held_ctx c = { open(ova_writer_partial_path(w), O_RDWR | O_CLOEXEC), blob + sizeof *h };
        assert_true(c.fd >= 0);
        ova_writer_held held = { held_place, &c };
        ova_status st = ova_writer_unit_held(w, h, &held, err);
        close(c.fd);
        release_blob(blob);
        return st;
    }
    return ova_writer_unit(w, h, blob + sizeof *h, release_blob, blob, err);
}

/* 1: the writers write_ova opens take units in disk_order.h's order and
 * spool the later disk (--parallel-disks). */
static int g_parallel;

static ova_writer_opts writer_opts(ova_sha sha, int buffered)
{
    ova_writer_opts o = { sha, 0, MTIME, g_held ? 1 : buffered, P("vm.vmx"), collect_warning, NULL, 0, 0, NULL, NULL,
                          NULL, 0, 0, g_parallel, g_held };
    return o;
}

/* ---- fixtures ---- */


static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_ova_writer.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    g_have_tools = unit_have("qemu-img") && unit_have("qemu-io") && unit_have("tar") && unit_have("sha1sum") && unit_have("sha256sum") &&
                   unit_have("sha512sum");
    if (g_have_tools)
        make_vm();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define NEED_TOOLS()                                                                                              \
    do {                                                                                                          \
        if (!g_have_tools)                                                                                        \
            OVA_SKIP("qemu-img, qemu-io, tar or sha*sum not installed\n");                                        \
    } while (0)

/* ---- the whole export, read back ---- */

/* Write out.ova (or the given name) from the two-disk VM; its size. */
static uint64_t write_ova(const char *name, ova_sha sha, int buffered, uint32_t unit_grains)
{
    export x;
    export_load(&x, unit_grains);
    ova_writer_opts o = writer_opts(sha, buffered);
    ova_writer *w = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (open_at(&x, name, &o, &w, &err) != OVA_OK)
        fail_msg("open %s: %s", name, err.msg);
    uint64_t units = ova_plan_units(x.plan);
    g_released = 0;
    ova_disk_order order;
    assert_int_equal(ova_disk_order_init(&order, x.plan, &err), OVA_OK);
    for (uint64_t i = 0; i < units; i++) {
        uint64_t u = g_parallel ? (uint64_t)ova_disk_order_next(&order) : i;
        if (write_unit(&x, w, u, &err) != OVA_OK)
            fail_msg("unit %llu: %s", (unsigned long long)u, err.msg);
    }
    ova_disk_order_free(&order);
    uint64_t before = ova_writer_bytes(w);
    if (ova_writer_finish(&w, &err) != OVA_OK)
        fail_msg("finish %s: %s", name, err.msg);
    assert_null(w);
    assert_true((uint64_t)g_released == units);
    export_free(&x);
    struct stat sb;
    assert_int_equal(stat(P(name), &sb), 0);
    /* the bytes counted, then the two zero blocks that end the archive */
    assert_true((uint64_t)sb.st_size == before + 1024);
    assert_int_equal(sb.st_size % 512, 0);
    return (uint64_t)sb.st_size;
}

/* The archive as tar lists it: .ovf, .mf, the disks in plan order, all with
 * the given mtime; extracted, each disk is its source for qemu-img and every
 * manifest digest is right. */
static void check_ova(const char *name, const char *base, const char *sumtool)
{
    char cmd[PATH_MAX + 512];
    snprintf(cmd, sizeof cmd, "cd '%s' && TZ=UTC tar --full-time -tvf '%s'", g_dir, name);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    const char *want[4] = { ".ovf", ".mf", "-disk1.vmdk", "-disk2.vmdk" };
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char mode[32], owner[64], day[32], time[32], member[256];
        unsigned long long size;
        if (sscanf(line, "%31s %63s %llu %31s %31s %255s", mode, owner, &size, day, time, member) != 6)
            fail_msg("tar -tv line: %s", line);
        if (n >= 4)
            fail_msg("more than 4 members: %s", line);
        char expect[256];
        snprintf(expect, sizeof expect, "%s%s", base, want[n]);
        if (strcmp(member, expect) != 0)
            fail_msg("member %d is %s, want %s", n + 1, member, expect);
        assert_int_equal(mode[0], '-');
        assert_string_equal(day, "2023-11-14");
        assert_string_equal(time, "22:13:20");
        n++;
    }
    assert_int_equal(pclose(f), 0);
    assert_int_equal(n, 4);

    SH("rm -rf x && mkdir x && tar -C x -xf '%s'", name);
    for (int d = 1; d <= 2; d++) {
        SH("qemu-img check -q -f vmdk 'x/%s-disk%d.vmdk'", base, d);
        SH("qemu-img compare -q -f vmdk -F vmdk d%d.vmdk 'x/%s-disk%d.vmdk'", d, base, d);
    }
    /* "SHA256(name)= hex" lines, in member order, rewritten for sha*sum -c */
    SH("cd x && sed -n 1p '%s.mf' | grep -qx 'SHA[0-9]*(%s.ovf)= [0-9a-f]*' && "
       "sed -n 3p '%s.mf' | grep -q '(%s-disk2.vmdk)' && [ $(wc -l < '%s.mf') = 3 ]",
       base, base, base, base, base);
    SH("cd x && sed -E 's/^SHA[0-9]+\\((.*)\\)= ([0-9a-f]+)$/\\2  \\1/' '%s.mf' | %s --strict --quiet -c -",
       base, sumtool);
}

static void t_two_disks(void **state)
{
    (void)state;
    NEED_TOOLS();
    /* a leftover of an earlier export to this target is reported, not deleted */
    SH("touch .out.ova.Ab12Cd.part");
    g_warnings[0] = '\0';
    write_ova("out.ova", OVA_SHA256, 0, 64);
    if (strstr(g_warnings, ".out.ova.Ab12Cd.part: left behind by an interrupted export to out.ova") == NULL)
        fail_msg("no warning about the leftover; got: %s", g_warnings);
    assert_true(exists(".out.ova.Ab12Cd.part"));
    SH("rm .out.ova.Ab12Cd.part");
    assert_int_equal(count_parts("out.ova"), 0);
    check_ova("out.ova", "out", "sha256sum");
}

/* The other digests (the manifest's reserved length depends on them), with
 * the page cache and with units of a whole grain table. */
static void t_sha_variants(void **state)
{
    (void)state;
    NEED_TOOLS();
    write_ova("v1.ova", OVA_SHA1, 1, 512);
    check_ova("v1.ova", "v1", "sha1sum");
    write_ova("v512.ova", OVA_SHA512, 0, 512);
    check_ova("v512.ova", "v512", "sha512sum");
    /* the same disks with any unit size, direct or buffered: the same bytes */
    uint64_t a = write_ova("same.ova", OVA_SHA256, 1, 512);
    SH("mv same.ova same-512.ova");
    uint64_t b = write_ova("same.ova", OVA_SHA256, 0, 64);
    assert_true(a == b);
    SH("cmp same.ova same-512.ova");
}

/* Distributed writing: every other unit's records written and hashed
 * outside the writer, the digest state handed over and back; the same
 * bytes as the writer alone, with every manifest algorithm. */
static void t_held_units(void **state)
{
    (void)state;
    NEED_TOOLS();
    const ova_sha algs[] = { OVA_SHA1, OVA_SHA256, OVA_SHA512 };
    for (size_t i = 0; i < 3; i++) {
        g_held = 0;
        write_ova("held.ova", algs[i], 1, 8);
        SH("mv held.ova held-ref.ova");
        g_held = 1;
        g_held_calls = 0;
        write_ova("held.ova", algs[i], 1, 8);
        g_held = 0;
        assert_true(g_held_calls > 2);
        SH("cmp held-ref.ova held.ova");
    }
    check_ova("held.ova", "held", "sha512sum");
}

/* --parallel-disks: units interleaved, the second disk spooled and copied
 * in; the same bytes as in plan order, and no spool left behind. */
static void t_parallel_disks(void **state)
{
    (void)state;
    NEED_TOOLS();
    for (int k = 0; k < 2; k++) {
        uint32_t ug = k == 0 ? 64 : 8;
        g_parallel = 0;
        write_ova("pd.ova", OVA_SHA256, k, ug);
        SH("mv pd.ova pd-seq.ova");
        g_parallel = 1;
        write_ova("pd.ova", OVA_SHA256, k, ug);
        g_parallel = 0;
        SH("cmp pd-seq.ova pd.ova");
        assert_int_equal(count_parts("pd.ova"), 0);
    }
    check_ova("pd.ova", "pd", "sha256sum");

    /* stopped halfway: neither the output nor a spool stays */
    export x;
    export_load(&x, 8);
    g_parallel = 1;
    ova_writer_opts o = writer_opts(OVA_SHA512, 0);
    g_parallel = 0;
    ova_writer *w = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (open_at(&x, "cut.ova", &o, &w, &err) != OVA_OK)
        fail_msg("open cut.ova: %s", err.msg);
    ova_disk_order order;
    assert_int_equal(ova_disk_order_init(&order, x.plan, &err), OVA_OK);
    for (uint64_t i = 0; i < ova_plan_units(x.plan) / 2; i++)
        if (write_unit(&x, w, (uint64_t)ova_disk_order_next(&order), &err) != OVA_OK)
            fail_msg("unit: %s", err.msg);
    assert_true(count_parts("cut.ova") >= 2); /* the output and the second disk's spool */
    ova_writer_abort(&w);
    ova_disk_order_free(&order);
    export_free(&x);
    assert_int_equal(count_parts("cut.ova"), 0);
    assert_false(exists("cut.ova"));
}

/* ---- paths that must leave nothing ---- */

static void t_abort(void **state)
{
    (void)state;
    NEED_TOOLS();
    export x;
    export_load(&x, 64);
    ova_writer_opts o = writer_opts(OVA_SHA256, 0);
    ova_writer *w = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(open_at(&x, "ab.ova", &o, &w, &err), OVA_OK);
    assert_int_equal(count_parts("ab.ova"), 1);
    g_released = 0;
    for (uint64_t u = 0; u < 5; u++)
        assert_int_equal(write_unit(&x, w, u, &err), OVA_OK);
    ova_writer_abort(&w);
    assert_null(w);
    assert_int_equal(g_released, 5);
    assert_false(exists("ab.ova"));
    assert_int_equal(count_parts("ab.ova"), 0);
    ova_writer_abort(&w); /* NULL is fine */

    /* a unit out of order is refused (and still released); finishing early too */
    assert_int_equal(open_at(&x, "ab.ova", &o, &w, &err), OVA_OK);
    g_released = 0;
    assert_int_equal(write_unit(&x, w, 1, &err), OVA_E_INTERNAL);
    assert_int_equal(g_released, 1);
    assert_non_null(strstr(err.msg, "unit 1 written out of order (expected 0)"));
    ova_err_clear(&err);
    assert_int_equal(ova_writer_finish(&w, &err), OVA_E_INTERNAL);
    assert_null(w);
    assert_non_null(strstr(err.msg, "finishing after 0 of"));
    assert_false(exists("ab.ova"));
    assert_int_equal(count_parts("ab.ova"), 0);
    export_free(&x);
}

/* open must refuse st with a message holding m, creating nothing */
static void open_refused(export *x, const char *target, ova_status st, const char *m)
{
    ova_writer_opts o = writer_opts(OVA_SHA256, 0);
    ova_writer *w = NULL;
    ova_err err;
    ova_err_clear(&err);
    const char *slash = strrchr(target, '/');
    const char *fname = slash ? slash + 1 : target;
    int parts = count_parts(fname);
    /* the writer's own checks, on the path exactly as given (ova_prepare
     * would turn an existing folder into FOLDER/<VM name>.ova first) */
    if (ova_prepared_set_output(x->prep, P("refused.ova"), &err) != OVA_OK)
        fail_msg("output: %s", err.msg);
    snprintf(x->prep->output, sizeof x->prep->output, "%s", P(target));
    ova_status got = ova_writer_open(x->prep, x->plan, &o, &w, &err);
    if (got != st)
        fail_msg("open %s: status %d, want %d (%s)", target, got, st, err.msg);
    assert_null(w);
    if (strstr(err.msg, m) == NULL)
        fail_msg("open %s: message \"%s\" lacks \"%s\"", target, err.msg, m);
    assert_int_equal(count_parts(fname), parts);
}

static void t_refused_targets(void **state)
{
    (void)state;
    NEED_TOOLS();
    export x;
    export_load(&x, 64);
    SH("cp vm.vmx vm.vmx.orig && ln d2-flat.vmdk hard.ova && ln -s d1.vmdk link.ova && mkdir dir.ova && "
       "mkfifo fifo.ova");
    /* the inputs themselves, and the same file under another name */
    open_refused(&x, "vm.vmx", OVA_E_USAGE, "is the same file as");
    open_refused(&x, "d1.vmdk", OVA_E_USAGE, "which this export reads");
    open_refused(&x, "d2-flat.vmdk", OVA_E_USAGE, "is the same file as");
    open_refused(&x, "hard.ova", OVA_E_USAGE, "d2-flat.vmdk, which this export reads");
    /* what the rename would replace instead of the file */
    open_refused(&x, "link.ova", OVA_E_USAGE, "is a symbolic link");
    open_refused(&x, "dir.ova", OVA_E_USAGE, "is a folder");
    open_refused(&x, "fifo.ova", OVA_E_USAGE, "is a FIFO, not a regular file");
    open_refused(&x, "dir.ova/", OVA_E_USAGE, "output must be a file name, not a folder");
    SH("cmp vm.vmx vm.vmx.orig && qemu-img check -q d1.vmdk && [ -L link.ova ]");

    /* the checks run again before the rename: a link put there meanwhile stays */
    ova_writer_opts o = writer_opts(OVA_SHA256, 0);
    ova_writer *w = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(open_at(&x, "late.ova", &o, &w, &err), OVA_OK);
    g_released = 0;
    for (uint64_t u = 0; u < ova_plan_units(x.plan); u++)
        assert_int_equal(write_unit(&x, w, u, &err), OVA_OK);
    SH("ln -s d1.vmdk late.ova");
    assert_int_equal(ova_writer_finish(&w, &err), OVA_E_USAGE);
    assert_null(w);
    assert_non_null(strstr(err.msg, "late.ova: is a symbolic link"));
    assert_true((uint64_t)g_released == ova_plan_units(x.plan));
    assert_int_equal(count_parts("late.ova"), 0);
    SH("[ -L late.ova ] && qemu-img check -q d1.vmdk");

    /* no_replace (no --overwrite): a file that appears at the target during
     * the export (another export's OVA) is left as it is, and this export
     * fails at the rename, leaving nothing of its own */
    o.no_replace = 1;
    ova_err_clear(&err);
    assert_int_equal(open_at(&x, "race.ova", &o, &w, &err), OVA_OK);
    g_released = 0;
    for (uint64_t u = 0; u < ova_plan_units(x.plan); u++)
        assert_int_equal(write_unit(&x, w, u, &err), OVA_OK);
    SH("echo other > race.ova");
    assert_int_equal(ova_writer_finish(&w, &err), OVA_E_USAGE);
    assert_null(w);
    if (strstr(err.msg, "race.ova exists (it appeared during the export); use --overwrite to replace it") == NULL)
        fail_msg("no_replace: %s", err.msg);
    assert_int_equal(count_parts("race.ova"), 0);
    SH("[ \"$(cat race.ova)\" = other ]");
    /* and with nothing there, it is written as usual */
    SH("rm race.ova");
    ova_err_clear(&err);
    assert_int_equal(open_at(&x, "race.ova", &o, &w, &err), OVA_OK);
    for (uint64_t u = 0; u < ova_plan_units(x.plan); u++)
        assert_int_equal(write_unit(&x, w, u, &err), OVA_OK);
    if (ova_writer_finish(&w, &err) != OVA_OK)
        fail_msg("no_replace, nothing there: %s", err.msg);
    assert_true(exists("race.ova"));
    assert_int_equal(count_parts("race.ova"), 0);
    export_free(&x);
}

static void t_member_base(void **state)
{
    (void)state;
    char b[81];
    ova_member_base("/a/b/My VM.OVA", b);
    assert_string_equal(b, "My_VM");
    ova_member_base("..x..y.", b);
    assert_string_equal(b, "_.x._y_");
    ova_member_base(".ova", b);
    assert_string_equal(b, "vm");
}

/* ---- a journaled export stopped and resumed (journal.h, resume.h) ---- */

static unsigned char *slurp(const char *name, size_t *len)
{
    FILE *f = fopen(P(name), "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Write units [from, to) of a journaled export to j/out.ova with unit_grains
 * per unit, from the journal there when from > 0 (else afresh); then finish
 * when to is every unit, else drop the writer as a kill would (its queued
 * writes lost, the partial output and journal kept). */
static void journaled_run(uint32_t unit_grains, uint64_t stop_at, uint64_t *next)
{
    export x;
    export_load(&x, unit_grains);
    ova_err err;
    ova_err_clear(&err);
    ova_journal *j = NULL;
    uint64_t first = 0;
    if (exists("j/out.ova.journal")) {
        if (ova_journal_load(P("j/out.ova.journal"), &j, &err) != OVA_OK)
            fail_msg("load: %s", err.msg);
        first = ova_resume_unit_at(x.plan, j->pt.disk, j->pt.grain);
    } else {
        j = calloc(1, sizeof *j);
        assert_non_null(j);
        const char *src[] = { P("vm.vmx") };
        assert_int_equal(ova_journal_stat_sources(&j->deps, src, 1, &err), OVA_OK);
        j->deps.n_disks = x.plan->n_disks;
        j->deps.capacity = calloc(x.plan->n_disks, sizeof *j->deps.capacity);
        assert_non_null(j->deps.capacity);
        for (size_t i = 0; i < x.plan->n_disks; i++)
            j->deps.capacity[i] = x.plan->disks[i]->capacity;
    }
    char jp[PATH_MAX], pp[PATH_MAX];
    snprintf(jp, sizeof jp, "%s", P("j/out.ova.journal"));
    snprintf(pp, sizeof pp, "%s", P("j/out.ova.partial"));
    ova_writer_opts o = writer_opts(OVA_SHA256, 0);
    o.journal = j;
    o.journal_path = jp;
    o.partial_path = pp;
    o.journal_secs = 0; /* a durable point at every grain-table group */
    o.first_unit = first;
    ova_writer *w = NULL;
    if (open_at(&x, "j/out.ova", &o, &w, &err) != OVA_OK)
        fail_msg("open j/out.ova (resuming at unit %llu): %s", (unsigned long long)first, err.msg);
    uint64_t units = ova_plan_units(x.plan), end = stop_at < units ? stop_at : units;
    for (uint64_t u = first; u < end; u++)
        if (write_unit(&x, w, u, &err) != OVA_OK)
            fail_msg("unit %llu: %s", (unsigned long long)u, err.msg);
    if (end == units && stop_at > units) {
        if (ova_writer_finish(&w, &err) != OVA_OK)
            fail_msg("finish: %s", err.msg);
    } else {
        ova_writer_abort(&w);
        assert_true(exists("j/out.ova.partial"));
    }
    *next = first;
    export_free(&x);
}

/* Stopped inside the first disk, at the disk boundary, inside the last
 * disk, after the last unit (before the OVF): resumed with another unit
 * size (another rank count), the OVA is the uninterrupted one, byte for
 * byte, and nothing is left beside it. */
static void t_resume(void **state)
{
    (void)state;
    NEED_TOOLS();
    SH("mkdir -p ref j");
    write_ova("ref/out.ova", OVA_SHA256, 0, 64);
    size_t rl = 0;
    unsigned char *ref = slurp("ref/out.ova", &rl);
    export x;
    export_load(&x, 64);
    uint64_t units = ova_plan_units(x.plan), b = x.plan->first_unit[1];
    export_free(&x);
    /* units of 64 grains, only those holding data (plan.h): disk 1 has
     * units in its first group and two past it, disk 2 one at each end; a
     * durable point follows each unit after which the plan skips to a later
     * group, and each disk's end */
    uint64_t stops[] = { 2, b, b + 1, units };
    assert_true(b >= 3 && units >= b + 2);
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        SH("rm -f j/*");
        uint64_t first = 0;
        journaled_run(64, stops[i], &first);
        if (!exists("j/out.ova.journal"))
            fail_msg("stopped at unit %llu of %llu: no journal", (unsigned long long)stops[i], (unsigned long long)units);
        journaled_run(i % 2 ? 512 : 16, UINT64_MAX, &first);
        assert_true(first > 0);
        size_t gl = 0;
        unsigned char *got = slurp("j/out.ova", &gl);
        assert_int_equal(gl, rl);
        if (memcmp(got, ref, rl) != 0)
            fail_msg("stopped at unit %llu of %llu: the resumed OVA differs", (unsigned long long)stops[i],
                     (unsigned long long)units);
        free(got);
        assert_false(exists("j/out.ova.partial"));
        assert_false(exists("j/out.ova.journal"));
    }
    free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_two_disks),       cmocka_unit_test(t_sha_variants), cmocka_unit_test(t_abort),
        cmocka_unit_test(t_parallel_disks), cmocka_unit_test(t_held_units),
        cmocka_unit_test(t_refused_targets), cmocka_unit_test(t_member_base), cmocka_unit_test(t_resume),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
