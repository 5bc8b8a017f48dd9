/* test_disk.c - the disk readers on real disks made by qemu-img/qemu-io:
 * every hosted subformat, snapshot chains of depth 1 to 3, and broken
 * chains and files. Reference content is `qemu-img convert -O raw`. Broken
 * files are made by small in-place edits of qemu-made files, never by
 * writing VMDK bytes by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"
#include "unit_shell.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovatool/buf.h"
#include "ovatool/disk.h"
#include "ovatool/limits.h"
#include "engine/plan.h"

#define MIB ((uint64_t)1 << 20)
#define CHUNK ((size_t)2 << 20)

static char g_dir[PATH_MAX];

/* ---- helpers ---- */

/* a shell command in the test folder that must succeed (stdout dropped) */
#define sh(...)                                                                                                   \
    do {                                                                                                          \
        if (unit_run(g_dir, 1, __VA_ARGS__) != 0)                                                                 \
            fail_msg("command failed: " __VA_ARGS__);                                                             \
    } while (0)

#define P(name) unit_path(g_dir, (name))

static ova_disk_info *describe_ok(const char *name)
{
    ova_disk_info *d = NULL;
    ova_err err = {0};
    if (ova_disk_describe(P(name), &d, &err) != OVA_OK)
        fail_msg("describe %s: %s", name, err.msg);
    return d;
}

/* describe must fail with st and a message holding every given string */
static void describe_fails(const char *name, ova_status want, const char *m1, const char *m2, const char *m3)
{
    ova_disk_info *d = NULL;
    ova_err err = {0};
    ova_status st = ova_disk_describe(P(name), &d, &err);
    if (st == OVA_OK) {
        ova_disk_info_free(&d);
        fail_msg("describe %s succeeded; wanted a message with \"%s\"", name, m1);
    }
    assert_null(d);
    if (want != OVA_OK && st != want)
        fail_msg("describe %s: status %d, wanted %d (%s)", name, st, want, err.msg);
    const char *m[3] = { m1, m2, m3 };
    for (int i = 0; i < 3; i++)
        if (m[i] != NULL && strstr(err.msg, m[i]) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", err.msg, m[i]);
}

static bool raw_is_hole(int fd, uint64_t off, uint64_t len)
{
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    return d < 0 || (uint64_t)d >= off + len;
}

/* Read the whole disk through a reader in chunks of `chunk` bytes and
 * compare with the raw file. Zero chunks must leave buf untouched. */
static void compare_reader(const ova_disk_info *d, ova_disk_reader *r, const char *raw, size_t chunk,
                           uint64_t *nread_out)
{
    int fd = open(P(raw), O_RDONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    if ((uint64_t)sb.st_size != d->capacity)
        fail_msg("%s: capacity %llu, raw %s has %llu bytes", d->path, (unsigned long long)d->capacity, raw,
                 (unsigned long long)sb.st_size);
    unsigned char *buf = malloc(chunk), *ref = malloc(chunk);
    assert_non_null(buf);
    assert_non_null(ref);
    uint64_t nread = 0;
    for (uint64_t off = 0; off < d->capacity; off += chunk) {
        size_t n = d->capacity - off < chunk ? (size_t)(d->capacity - off) : chunk;
        memset(buf, 0xa5, n);
        bool zero = false;
        ova_err err = {0};
        if (ova_disk_read(r, off, n, buf, &zero, &nread, &err) != OVA_OK)
            fail_msg("read %s at %llu: %s", d->path, (unsigned long long)off, err.msg);
        if (zero) {
            for (size_t i = 0; i < n; i += 4096)
                if (buf[i] != 0xa5)
                    fail_msg("%s: zero range at %llu was written to", d->path, (unsigned long long)off);
            if (raw_is_hole(fd, off, n))
                continue;
            memset(buf, 0, n);
        }
        assert_int_equal(pread(fd, ref, n, (off_t)off), (ssize_t)n);
        if (memcmp(buf, ref, n) != 0) {
            size_t i = 0;
            while (buf[i] == ref[i])
                i++;
            fail_msg("%s differs from %s at byte %llu (%02x, want %02x)", d->path, raw,
                     (unsigned long long)(off + i), buf[i], ref[i]);
        }
    }
    free(buf);
    free(ref);
    close(fd);
    if (nread_out)
        *nread_out = nread;
}

static void compare(const char *vmdk, const char *raw, size_t chunk)
{
    ova_disk_info *d = describe_ok(vmdk);
    ova_disk_reader *r = NULL;
    ova_err err = {0};
    assert_int_equal(ova_disk_reader_open(d, &r, &err), OVA_OK);
    compare_reader(d, r, raw, chunk, NULL);
    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);
}

/* reference image of a qemu-readable disk, then compare with two chunk sizes */
static void check_disk(const char *vmdk)
{
    sh("qemu-img convert -f vmdk -O raw '%s' ref.raw", vmdk);
    compare(vmdk, "ref.raw", CHUNK);
    compare(vmdk, "ref.raw", 37 * 512 * 3); /* not grain aligned: partial grains everywhere */
}

static void patch(const char *name, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(P(name), O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void patch32(const char *name, uint64_t off, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    patch(name, off, b, 4);
}

static void patch64(const char *name, uint64_t off, uint64_t v)
{
    patch32(name, off, (uint32_t)v);
    patch32(name, off + 4, (uint32_t)(v >> 32));
}

static uint64_t get64_at(const char *name, uint64_t off)
{
    unsigned char b[8];
    int fd = open(P(name), O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, b, 8, (off_t)off), 8);
    close(fd);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* Whole small text file. */
static char *slurp(const char *name)
{
    FILE *f = fopen(P(name), "rb");
    assert_non_null(f);
    char *t = calloc(1, 1 << 20);
    assert_non_null(t);
    size_t n = fread(t, 1, (1 << 20) - 1, f);
    (void)n;
    fclose(f);
    return t;
}

/* Replace the first `old` in a small text descriptor with `new_text`. */
static void replace_text(const char *name, const char *old, const char *new_text)
{
    char *t = slurp(name);
    char *p = strstr(t, old);
    if (p == NULL)
        fail_msg("%s does not contain \"%s\"", name, old);
    FILE *f = fopen(P(name), "wb");
    assert_non_null(f);
    fwrite(t, 1, (size_t)(p - t), f);
    fputs(new_text, f);
    fputs(p + strlen(old), f);
    fclose(f);
    free(t);
}

/* Offset of `key` in the first MiB of a file (embedded descriptors too). */
static uint64_t find_in_file(const char *name, const char *key)
{
    int fd = open(P(name), O_RDONLY);
    assert_true(fd >= 0);
    char *b = calloc(1, 1 << 20);
    ssize_t n = pread(fd, b, 1 << 20, 0);
    close(fd);
    assert_true(n > 0);
    char *p = memmem(b, (size_t)n, key, strlen(key));
    if (p == NULL)
        fail_msg("%s does not contain \"%s\"", name, key);
    uint64_t off = (uint64_t)(p - b);
    free(b);
    return off;
}

/* Flip the hex digits after `key` in place (same length, so embedded
 * descriptors stay valid); returns the new value. */
static uint32_t flip_hex(const char *name, const char *key)
{
    uint64_t off = find_in_file(name, key) + strlen(key);
    int fd = open(P(name), O_RDWR);
    assert_true(fd >= 0);
    char hex[9] = {0};
    assert_int_equal(pread(fd, hex, 8, (off_t)off), 8);
    size_t n = strspn(hex, "0123456789abcdefABCDEF");
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        hex[i] = hex[i] == '5' ? '6' : '5';
    assert_int_equal(pwrite(fd, hex, n, (off_t)off), (ssize_t)n);
    close(fd);
    hex[n] = '\0';
    return (uint32_t)strtoul(hex, NULL, 16);
}

static uint32_t cid_of(const char *name, const char *key)
{
    uint64_t off = find_in_file(name, key);
    int fd = open(P(name), O_RDONLY);
    char hex[9] = {0};
    assert_int_equal(pread(fd, hex, 8, (off_t)(off + strlen(key))), 8);
    close(fd);
    return (uint32_t)strtoul(hex, NULL, 16);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_disk.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The same content in every subformat: patterns at grain edges, partial
 * grains, the partial last grain of a capacity that is not a grain
 * multiple, and a second grain table. */
#define ODD_SIZE (40 * MIB + 3 * 512)
#define PATTERNS \
    "-c 'write -P 0x11 0 64k' -c 'write -P 0x22 100k 300k' -c 'write -P 0x33 5M 1M' " \
    "-c 'write -P 0x44 33M 4k' -c 'write -P 0x55 41941504 1536'"

static void make_patterned(const char *fmt, const char *name)
{
    sh("qemu-img create -q -f vmdk -o subformat=%s %s %llu", fmt, name, (unsigned long long)ODD_SIZE);
    sh("qemu-io -f vmdk " PATTERNS " %s", name);
}

static void t_subformats(void **state)
{
    (void)state;
    const char *fmts[] = { "monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat" };
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.vmdk", fmts[i]);
        make_patterned(fmts[i], name);
        check_disk(name);
        ova_disk_info *d = describe_ok(name);
        assert_string_equal(d->create_type, fmts[i]);
        assert_int_equal(d->chain_depth, 0);
        assert_true(d->capacity == ODD_SIZE);
        /* the written bytes are allocated; a sparse disk allocates whole grains */
        assert_true(d->allocated >= 64 * 1024 + 300 * 1024 + MIB + 4096 + 1536);
        if (strstr(fmts[i], "Sparse"))
            assert_true(d->allocated <= 64 * 1024 * 25);
        ova_disk_info_free(&d);
    }
    /* streamOptimized as input (qemu's layout: real gdOffset, markers, short last grain) */
    sh("qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized monolithicSparse.vmdk stream.vmdk");
    check_disk("stream.vmdk");
    ova_disk_info *d = describe_ok("stream.vmdk");
    assert_string_equal(d->create_type, "streamOptimized");
    assert_true(d->allocated >= MIB);
    ova_disk_info_free(&d);

    /* vmfs / vmfsThin: VMFS extents without an offset */
    sh("cp monolithicFlat-flat.vmdk v-flat.vmdk && sed -e 's/createType=\"monolithicFlat\"/createType=\"vmfs\"/; "
       "s/FLAT \"monolithicFlat-flat.vmdk\" 0/VMFS \"v-flat.vmdk\"/' monolithicFlat.vmdk > v.vmdk");
    ova_disk_info *v = describe_ok("v.vmdk");
    assert_string_equal(v->create_type, "vmfs");
    assert_int_equal(v->extents[0].type, OVA_EXTENT_VMFS);
    ova_disk_info_free(&v);
    compare("v.vmdk", "ref.raw", CHUNK);
}

/* A split sparse disk over 4 GiB: extents of different sizes, writes that
 * cross extent boundaries and 64-bit offsets. Sparse files cost nothing. */
static void t_split_big(void **state)
{
    (void)state;
    const char *fmts[] = { "twoGbMaxExtentSparse", "twoGbMaxExtentFlat", "monolithicSparse" };
    uint64_t size = 5 * 1024 * MIB + 3 * 512;
    for (size_t i = 0; i < 3; i++) {
        sh("rm -f big*.vmdk");
        sh("qemu-img create -q -f vmdk -o subformat=%s big.vmdk %llu", fmts[i], (unsigned long long)size);
        sh("qemu-io -f vmdk -c 'write -P 0x61 2147479552 8192' -c 'write -P 0x62 4294967396 70000' "
           "-c 'write -P 0x63 %llu 1536' -c 'write -P 0x64 0 4096' big.vmdk",
           (unsigned long long)(size - 1536));
        ova_disk_info *d = describe_ok("big.vmdk");
        if (i < 2) {
            assert_int_equal(d->n_extents, 3);
            assert_true(d->extents[2].size != d->extents[0].size);
        }
        ova_disk_info_free(&d);
        check_disk("big.vmdk");
    }
}

/* Chains of depth 1..3, mixing layouts, zeroed grains and partial writes. */
static void t_chains(void **state)
{
    (void)state;
    make_patterned("monolithicSparse", "base.vmdk");
    /* depth 1: a child write covering part of a parent grain, `write -z`
     * without the zeroed-grain feature (allocates a grain of zeros) */
    sh("qemu-img create -q -f vmdk -b base.vmdk -F vmdk c1.vmdk");
    sh("qemu-io -f vmdk -c 'write -P 0x71 4096 512' -c 'write -z 5M 64k' -c 'write -P 0x72 20M 100k' c1.vmdk");
    check_disk("c1.vmdk");
    /* depth 2: a split sparse child with zeroed grains over parent data */
    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse,zeroed_grain=on -b c1.vmdk -F vmdk c2.vmdk");
    sh("qemu-io -f vmdk -c 'write -z 0 64k' -c 'write -z 128k 256k' -c 'write -P 0x73 33M 70000' "
       "-c 'write -z 20M 64k' c2.vmdk");
    check_disk("c2.vmdk");
    /* depth 3 */
    sh("qemu-img create -q -f vmdk -o zeroed_grain=on -b c2.vmdk -F vmdk c3.vmdk");
    sh("qemu-io -f vmdk -c 'write -P 0x74 41941504 1536' -c 'write -z 5M 2M' -c 'write -P 0x75 1M 1' c3.vmdk");
    check_disk("c3.vmdk");

    ova_disk_info *d = describe_ok("c3.vmdk");
    assert_int_equal(d->chain_depth, 3);
    assert_non_null(strstr(d->parents[0].path, "c2.vmdk"));
    assert_non_null(strstr(d->parents[1].path, "c1.vmdk"));
    assert_non_null(strstr(d->parents[2].path, "base.vmdk"));
    assert_string_equal(d->parents[0].create_type, "twoGbMaxExtentSparse");
    ova_disk_info *b = describe_ok("base.vmdk");
    /* c3 zeroes 5M..7M (hiding base's 1 MiB there) and c1's zero grain; adds a little */
    assert_true(d->allocated > 0 && d->allocated < b->allocated + MIB);
    ova_disk_info_free(&b);

    /* the plan carries the whole chain: a reader on the unpacked copy reads the same */
    ova_disk_info **v = calloc(1, sizeof *v);
    v[0] = d;
    ova_plan *p = NULL, *q = NULL;
    assert_int_equal(ova_plan_new(v, 1, 512, &p, NULL), OVA_OK);
    ova_buf buf = OVA_BUF_INIT;
    ova_plan_pack(p, &buf);
    ova_err err = {0};
    if (ova_plan_unpack(buf.data, buf.len, &q, &err) != OVA_OK)
        fail_msg("unpack: %s", err.msg);
    ova_disk_info *u = q->disks[0];
    assert_int_equal(u->chain_depth, 3);
    assert_true(u->allocated == p->disks[0]->allocated);
    assert_string_equal(u->parents[2].path, p->disks[0]->parents[2].path);
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(u, &r, &err), OVA_OK);
    sh("qemu-img convert -f vmdk -O raw c3.vmdk ref.raw");
    compare_reader(u, r, "ref.raw", CHUNK, NULL);
    ova_disk_reader_close(&r);
    /* a truncated plan is refused, not crashed on */
    for (size_t cut = 8; cut < buf.len; cut += buf.len / 7) {
        ova_plan *bad = NULL;
        assert_int_not_equal(ova_plan_unpack(buf.data, cut, &bad, NULL), OVA_OK);
        assert_null(bad);
    }
    ova_buf_free(&buf);
    ova_plan_free(&q);
    ova_plan_free(&p);

    /* a flat base under sparse deltas, and a child larger than its parent */
    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat fb.vmdk 8M");
    sh("qemu-io -f vmdk -c 'write -P 0x81 0 3M' -c 'write -P 0x82 7M 1M' fb.vmdk");
    sh("qemu-img create -q -f vmdk -b fb.vmdk -F vmdk fc.vmdk 12M");
    sh("qemu-io -f vmdk -c 'write -P 0x83 1M 64k' -c 'write -P 0x84 11M 512' fc.vmdk");
    check_disk("fc.vmdk");
    /* a streamOptimized parent */
    sh("qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized c1.vmdk st.vmdk");
    sh("qemu-img create -q -f vmdk -b st.vmdk -F vmdk sc.vmdk");
    sh("qemu-io -f vmdk -c 'write -P 0x85 4M 4096' sc.vmdk");
    check_disk("sc.vmdk");
}

/* Only allocated data is read; zero ranges cost metadata only. */
static void t_read_only_allocated(void **state)
{
    (void)state;
    sh("qemu-img create -q -f vmdk one.vmdk 64M");
    sh("qemu-io -f vmdk -c 'write -P 0x5a 40M 64k' one.vmdk");
    ova_disk_info *d = describe_ok("one.vmdk");
    assert_true(d->allocated == 65536);
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
    unsigned char *buf = malloc(CHUNK);
    memset(buf, 0xa5, CHUNK);
    bool zero = false;
    uint64_t nread = 0;
    assert_int_equal(ova_disk_read(r, 0, CHUNK, buf, &zero, &nread, NULL), OVA_OK);
    assert_true(zero);
    assert_true(nread > 0 && nread <= 4096); /* one GD block and one grain table */
    for (size_t i = 0; i < CHUNK; i++)
        if (buf[i] != 0xa5)
            fail_msg("zero read wrote to the buffer at %zu", i);
    nread = 0;
    assert_int_equal(ova_disk_read(r, 0, CHUNK, buf, &zero, &nread, NULL), OVA_OK);
    assert_true(zero);
    assert_true(nread == 0); /* the grain table is cached now */
    nread = 0;
    assert_int_equal(ova_disk_read(r, 40 * MIB, CHUNK, buf, &zero, &nread, NULL), OVA_OK);
    assert_false(zero);
    assert_true(nread >= 65536 && nread <= 65536 + 2048);
    assert_true(buf[0] == 0x5a && buf[65535] == 0x5a && buf[65536] == 0 && buf[CHUNK - 1] == 0);
    free(buf);
    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);

    /* through a chain: unallocated everywhere is still zero without data reads */
    sh("qemu-img create -q -f vmdk -b one.vmdk -F vmdk two.vmdk");
    sh("qemu-io -f vmdk -c 'write -P 0x5b 8M 64k' two.vmdk");
    d = describe_ok("two.vmdk");
    assert_true(d->allocated == 2 * 65536);
    assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
    buf = malloc(CHUNK);
    nread = 0;
    assert_int_equal(ova_disk_read(r, 20 * MIB, CHUNK, buf, &zero, &nread, NULL), OVA_OK);
    assert_true(zero);
    assert_true(nread <= 8192);
    free(buf);
    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);
}

/* Several threads share one reader on a chain (bounded GT cache under
 * contention: a disk with more grain tables than the cache holds). */
typedef struct thr {
    ova_disk_reader *r;
    const ova_disk_info *d;
    int fd_raw;
    int k, n;
    int bad;
} thr;

static void *thr_main(void *arg)
{
    thr *t = arg;
    size_t chunk = 512 * 1024;
    unsigned char *buf = malloc(chunk), *ref = malloc(chunk);
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t off = (uint64_t)t->k * chunk; off < t->d->capacity; off += (uint64_t)t->n * chunk) {
            size_t n = t->d->capacity - off < chunk ? (size_t)(t->d->capacity - off) : chunk;
            bool zero = false;
            uint64_t nr = 0;
            if (ova_disk_read(t->r, off, n, buf, &zero, &nr, NULL) != OVA_OK) {
                t->bad = 1;
                break;
            }
            if (zero)
                memset(buf, 0, n);
            if (pread(t->fd_raw, ref, n, (off_t)off) != (ssize_t)n || memcmp(buf, ref, n) != 0) {
                t->bad = 1;
                break;
            }
        }
    }
    free(buf);
    free(ref);
    return NULL;
}

static void t_threads(void **state)
{
    (void)state;
    sh("qemu-img create -q -f vmdk tb.vmdk 3G");
    char cmd[8192] = "";
    size_t used = 0;
    for (int i = 0; i < 90; i++) /* one write in each of 90 grain tables */
        used += (size_t)snprintf(cmd + used, sizeof cmd - used, "-c 'write -P %d %llu 70000' ", i + 1,
                                 (unsigned long long)i * 33 * MIB + 1000);
    sh("qemu-io -f vmdk %s tb.vmdk", cmd);
    sh("qemu-img create -q -f vmdk -o zeroed_grain=on -b tb.vmdk -F vmdk tc.vmdk");
    sh("qemu-io -f vmdk -c 'write -z 0 64k' -c 'write -P 0xee 99M 3M' tc.vmdk");
    sh("qemu-img convert -f vmdk -O raw tc.vmdk ref.raw");
    ova_disk_info *d = describe_ok("tc.vmdk");
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
    int fd = open(P("ref.raw"), O_RDONLY);
    thr t[4];
    pthread_t tid[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (thr){ r, d, fd, i, 4, 0 };
        assert_int_equal(pthread_create(&tid[i], NULL, thr_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(t[i].bad, 0);
    }
    close(fd);
    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);
}

/* ---- broken chains ---- */

static void t_cid_mismatch(void **state)
{
    (void)state;
    /* a text descriptor */
    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse cb.vmdk 4M");
    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b cb.vmdk -F vmdk cc.vmdk");
    uint32_t base_cid = cid_of("cb.vmdk", "\nCID=");
    uint32_t bad = flip_hex("cc.vmdk", "parentCID=");
    char cids[2][32];
    snprintf(cids[0], sizeof cids[0], "parentCID=%08x", bad);
    snprintf(cids[1], sizeof cids[1], "CID=%08x", base_cid);
    describe_fails("cc.vmdk", OVA_E_FORMAT, "cc.vmdk", cids[0], cids[1]);
    describe_fails("cc.vmdk", OVA_E_FORMAT, "cb.vmdk", NULL, NULL);

    /* an embedded descriptor, edited in place with the same length */
    sh("qemu-img create -q -f vmdk mb.vmdk 4M && qemu-img create -q -f vmdk -b mb.vmdk -F vmdk mc.vmdk");
    bad = flip_hex("mc.vmdk", "parentCID=");
    snprintf(cids[0], sizeof cids[0], "parentCID=%08x", bad);
    describe_fails("mc.vmdk", OVA_E_FORMAT, "mc.vmdk", "mb.vmdk", cids[0]);
}

static void t_missing_parent(void **state)
{
    (void)state;
    sh("qemu-img create -q -f vmdk gone.vmdk 4M && qemu-img create -q -f vmdk -b gone.vmdk -F vmdk orphan.vmdk");
    sh("rm gone.vmdk");
    describe_fails("orphan.vmdk", OVA_E_IO, "orphan.vmdk", "\"gone.vmdk\"", "looked for");
}

static void t_loop(void **state)
{
    (void)state;
    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse la.vmdk 4M");
    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b la.vmdk -F vmdk lb.vmdk");
    char repl[128];
    snprintf(repl, sizeof repl, "parentCID=%08x\nparentFileNameHint=\"lb.vmdk\"", cid_of("lb.vmdk", "\nCID="));
    replace_text("la.vmdk", "parentCID=ffffffff", repl);
    describe_fails("lb.vmdk", OVA_E_FORMAT, "loops", "lb.vmdk", NULL);
    /* a disk naming itself */
    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse self.vmdk 4M");
    snprintf(repl, sizeof repl, "parentCID=%08x\nparentFileNameHint=\"./self.vmdk\"", cid_of("self.vmdk", "\nCID="));
    replace_text("self.vmdk", "parentCID=ffffffff", repl);
    describe_fails("self.vmdk", OVA_E_FORMAT, "loops", NULL, NULL);
}

static void t_hints(void **state)
{
    (void)state;
    sh("qemu-img create -q -f vmdk hb.vmdk 4M && qemu-io -f vmdk -c 'write -P 0x91 0 1M' hb.vmdk");
    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b hb.vmdk -F vmdk hc.vmdk");
    sh("qemu-io -f vmdk -c 'write -P 0x92 512k 4k' hc.vmdk");
    sh("qemu-img convert -f vmdk -O raw hc.vmdk hint.raw");
    /* a stale absolute path from another machine: found by its file name */
    replace_text("hc.vmdk", "parentFileNameHint=\"hb.vmdk\"", "parentFileNameHint=\"/old/host/vms/hb.vmdk\"");
    compare("hc.vmdk", "hint.raw", CHUNK);
    /* a Windows path */
    replace_text("hc.vmdk", "\"/old/host/vms/hb.vmdk\"", "\"C:\\Users\\me\\VMs\\x\\hb.vmdk\"");
    compare("hc.vmdk", "hint.raw", CHUNK);
    /* a valid absolute path */
    char abs[PATH_MAX + 64];
    snprintf(abs, sizeof abs, "\"%s\"", P("hb.vmdk"));
    replace_text("hc.vmdk", "\"C:\\Users\\me\\VMs\\x\\hb.vmdk\"", abs);
    compare("hc.vmdk", "hint.raw", CHUNK);
    /* relative through a sub folder, with Windows separators */
    sh("mkdir -p sub && cp hc.vmdk hc-s001.vmdk sub/");
    char rel[PATH_MAX + 64];
    snprintf(rel, sizeof rel, "sub/hc.vmdk");
    replace_text(rel, abs, "\"..\\hb.vmdk\"");
    compare(rel, "hint.raw", CHUNK);
    /* an absolute hint that exists nowhere */
    replace_text(rel, "\"..\\hb.vmdk\"", "\"/nowhere/else.vmdk\"");
    describe_fails(rel, OVA_E_IO, "/nowhere/else.vmdk", "looked for", "sub/else.vmdk");
}

/* ---- broken files ---- */

static void t_truncated(void **state)
{
    (void)state;
    sh("qemu-img create -q -f vmdk tr.vmdk 10M && qemu-io -f vmdk -c 'write -P 0x31 8M 1M' tr.vmdk");
    struct stat sb;
    assert_int_equal(stat(P("tr.vmdk"), &sb), 0);
    assert_int_equal(truncate(P("tr.vmdk"), sb.st_size - 32768), 0);
    describe_fails("tr.vmdk", OVA_E_FORMAT, "tr.vmdk", "past the end of the file", NULL);
    /* cut into the metadata */
    assert_int_equal(truncate(P("tr.vmdk"), 20 * 512), 0);
    describe_fails("tr.vmdk", OVA_E_FORMAT, "tr.vmdk", NULL, NULL);

    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse ts.vmdk 3G");
    assert_int_equal(truncate(P("ts-s002.vmdk"), 1000), 0);
    describe_fails("ts.vmdk", OVA_E_FORMAT, "ts-s002.vmdk", NULL, NULL);

    /* a streamOptimized file cut in the middle of its grains */
    sh("qemu-img create -q -f vmdk so.vmdk 4M && qemu-io -f vmdk -c 'write -P 0x32 0 4M' so.vmdk");
    sh("qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized so.vmdk so2.vmdk");
    assert_int_equal(stat(P("so2.vmdk"), &sb), 0);
    assert_int_equal(truncate(P("so2.vmdk"), sb.st_size / 2), 0);
    ova_disk_info *d = NULL;
    ova_err err = {0};
    ova_status st = ova_disk_describe(P("so2.vmdk"), &d, &err);
    if (st == OVA_OK) { /* the GTs survived: reading must fail */
        ova_disk_reader *r = NULL;
        assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
        unsigned char *buf = malloc(4 * MIB);
        bool zero;
        uint64_t nr = 0;
        st = ova_disk_read(r, 0, 4 * MIB, buf, &zero, &nr, &err);
        free(buf);
        ova_disk_reader_close(&r);
        ova_disk_info_free(&d);
    }
    assert_int_equal(st, OVA_E_FORMAT);
    assert_non_null(strstr(err.msg, "so2.vmdk"));
    /* the split piece itself is not a disk */
    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse piece.vmdk 4M");
    describe_fails("piece-s001.vmdk", OVA_E_UNSUPPORTED, "piece-s001.vmdk", "descriptor", NULL);
}

/* Read [off, off + len) of d through a fresh reader that was opened (and
 * had read its first MiB) before `change` ran: must fail naming `file` and
 * saying `what`. */
static void read_after_change(const char *vmdk, const char *change, uint64_t off, const char *file,
                              const char *what)
{
    ova_disk_info *d = describe_ok(vmdk);
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
    unsigned char *buf = malloc(MIB);
    assert_non_null(buf);
    bool zero;
    uint64_t nr = 0;
    ova_err err = {0};
    if (ova_disk_read(r, 0, MIB, buf, &zero, &nr, &err) != OVA_OK)
        fail_msg("read before the change: %s", err.msg);
    sh("%s", change);
    ova_status st = ova_disk_read(r, off, MIB, buf, &zero, &nr, &err);
    if (st == OVA_OK)
        fail_msg("%s: read at %llu after \"%s\" succeeded (zero=%d); wanted \"%s\"", vmdk,
                 (unsigned long long)off, change, zero, what);
    if (strstr(err.msg, file) == NULL || strstr(err.msg, what) == NULL)
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err.msg, file, what);
    free(buf);
    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);
}

/* A source file that shrinks or is replaced while the export reads it is an
 * error naming the file, never zeros in the OVA: past the new end of a
 * truncated flat file SEEK_DATA says ENXIO, exactly as in a trailing hole. */
static void t_shrink(void **state)
{
    (void)state;
    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat sh.vmdk 8M");
    sh("head -c 8M /dev/urandom | dd of=sh-flat.vmdk conv=notrunc status=none");
    read_after_change("sh.vmdk", "truncate -s 2M sh-flat.vmdk", 4 * MIB, "sh-flat.vmdk",
                      "shrank from 8388608 to 2097152 bytes during the export");
    /* the new end inside the range read */
    sh("head -c 8M /dev/urandom | dd of=sh-flat.vmdk conv=notrunc status=none");
    read_after_change("sh.vmdk", "truncate -s 4500000 sh-flat.vmdk", 4 * MIB, "sh-flat.vmdk",
                      "shrank from 8388608 to 4500000 bytes");
    /* truncated before the reader first opened the file */
    sh("head -c 8M /dev/urandom | dd of=sh-flat.vmdk conv=notrunc status=none");
    ova_disk_info *d = describe_ok("sh.vmdk");
    sh("truncate -s 1M sh-flat.vmdk");
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
    unsigned char *buf = malloc(MIB);
    bool zero;
    uint64_t nr = 0;
    ova_err err = {0};
    assert_int_equal(ova_disk_read(r, 6 * MIB, MIB, buf, &zero, &nr, &err), OVA_E_IO);
    assert_non_null(strstr(err.msg, "sh-flat.vmdk shrank from 8388608 to 1048576 bytes"));
    ova_disk_reader_close(&r);
    /* replaced by another file of the same size after describe */
    sh("head -c 8M /dev/urandom > other && mv other sh-flat.vmdk");
    ova_err_clear(&err);
    assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
    assert_int_equal(ova_disk_read(r, 0, MIB, buf, &zero, &nr, &err), OVA_E_IO);
    if (strstr(err.msg, "sh-flat.vmdk was replaced during the export") == NULL)
        fail_msg("message \"%s\" does not say the file was replaced", err.msg);
    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);
    free(buf);
    /* a trailing hole of a thin flat file is still zeros, not an error */
    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat thin.vmdk 8M");
    sh("qemu-io -f vmdk -c 'write -P 0x71 0 1M' thin.vmdk && qemu-img convert -f vmdk -O raw thin.vmdk thin.raw");
    compare("thin.vmdk", "thin.raw", MIB);

    /* sparse and stream files: grain tables and grains past the new end */
    sh("qemu-img create -q -f vmdk sp.vmdk 16M && qemu-io -f vmdk -c 'write -P 0x72 0 1M' "
       "-c 'write -P 0x73 12M 4M' sp.vmdk");
    struct stat sb;
    assert_int_equal(stat(P("sp.vmdk"), &sb), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "truncate -s %lld sp.vmdk", (long long)sb.st_size - 2 * (long long)MIB);
    read_after_change("sp.vmdk", cmd, 14 * MIB, "sp.vmdk", "shrank from");
    sh("qemu-img create -q -f vmdk st.vmdk 16M && qemu-io -f vmdk -c 'write -P 0x72 0 1M' "
       "-c 'write -P 0x73 12M 4M' st.vmdk");
    sh("qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized st.vmdk st2.vmdk");
    assert_int_equal(stat(P("st2.vmdk"), &sb), 0);
    snprintf(cmd, sizeof cmd, "truncate -s %lld st2.vmdk", (long long)sb.st_size / 2);
    read_after_change("st2.vmdk", cmd, 14 * MIB, "st2.vmdk", "shrank from");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* describe must take less than `secs` (SIGALRM ends a run that hangs) */
static ova_disk_info *describe_fast(const char *name, double secs)
{
    alarm(60);
    double t0 = now_s();
    ova_disk_info *d = describe_ok(name);
    double t = now_s() - t0;
    alarm(0);
    if (t > secs)
        fail_msg("describe %s took %.1f s (at most %.0f s allowed)", name, t, secs);
    return d;
}

/* One capacity limit for every kind of disk, checked when the descriptor
 * or the sparse header is read, and an allocation scan that costs what is
 * allocated, not the capacity: descriptors made by qemu-img, extent lines
 * edited with sed. */
static void t_capacity(void **state)
{
    (void)state;
    /* 2^54 - 1 sectors of ZERO: `info` and `export` ran for days */
    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat cz.vmdk 1M");
    sh("sed -i 's/^RW 2048 FLAT \"cz-flat.vmdk\" 0$/RW 18014398509481983 ZERO/' cz.vmdk && grep -q '^RW 18014398509481983 ZERO$' cz.vmdk");
    alarm(60);
    describe_fails("cz.vmdk", OVA_E_UNSUPPORTED, "cz.vmdk: line", "above ovatool's limit of 64 TiB", NULL);
    alarm(0);
    /* just above the limit, as a flat extent and as a sum of extents */
    sh("sed -i 's/^RW 18014398509481983 ZERO$/RW 137438953473 FLAT \"cz-flat.vmdk\" 0/' cz.vmdk");
    describe_fails("cz.vmdk", OVA_E_UNSUPPORTED, "cz.vmdk: line", "limit of 64 TiB", NULL);
    sh("sed -i 's/^RW 137438953473 FLAT \"cz-flat.vmdk\" 0$/RW 2048 FLAT \"cz-flat.vmdk\" 0\\nRW 137438951425 ZERO/' "
       "cz.vmdk && grep -q '^RW 137438951425 ZERO$' cz.vmdk");
    describe_fails("cz.vmdk", OVA_E_UNSUPPORTED, "cz.vmdk: line", "limit of 64 TiB", NULL);
    /* exactly 64 TiB of ZERO (after 1 MiB of flat data): accepted, and the
     * scan does not walk 2 Mi windows of nothing */
    sh("sed -i 's/^RW 137438951425 ZERO$/RW 137438951424 ZERO/' cz.vmdk");
    sh("head -c 1M /dev/urandom | dd of=cz-flat.vmdk conv=notrunc status=none");
    ova_disk_info *d = describe_fast("cz.vmdk", 5);
    assert_true(d->capacity == (uint64_t)64 << 40);
    assert_true(d->allocated == MIB);
    ova_disk_info_free(&d);

    /* a sparse disk at the limit: qemu preallocates its 2 Mi grain tables
     * as holes; `info` took a minute */
    sh("qemu-img create -q -f vmdk big.vmdk 64T && qemu-io -f vmdk -c 'write -P 0x5a 40T 64k' big.vmdk");
    d = describe_fast("big.vmdk", 5);
    assert_true(d->capacity == (uint64_t)64 << 40);
    assert_true(d->allocated == 65536);
    ova_disk_info_free(&d);
    /* a sparse header above it (the descriptor's extent line left as is) */
    sh("qemu-img create -q -f vmdk sh1.vmdk 1M");
    patch64("sh1.vmdk", 12, ((uint64_t)64 << 40) / 512 + 128);
    describe_fails("sh1.vmdk", OVA_E_UNSUPPORTED, "sh1.vmdk: sparse header: capacity of 137438953600 sectors",
                   "above ovatool's limit of 64 TiB", NULL);

    /* a chain at the limit: an empty delta over a base with data */
    sh("qemu-img create -q -f vmdk cb.vmdk 64T && qemu-io -f vmdk -c 'write -P 0x5b 63T 1M' cb.vmdk");
    sh("qemu-img create -q -f vmdk -b cb.vmdk -F vmdk cc.vmdk && qemu-io -f vmdk -c 'write -P 0x5c 1T 64k' cc.vmdk");
    d = describe_fast("cc.vmdk", 10);
    assert_int_equal(d->chain_depth, 1);
    assert_true(d->allocated == MIB + 65536);
    ova_disk_info_free(&d);
}

/* A chain of text descriptors l0.vmdk (the base) .. l<n-1>.vmdk, each made
 * from a qemu-made descriptor by sed: `lines` ZERO extents of one sector,
 * CID i+1, parentCID i and parentFileNameHint l<i-1>.vmdk. */
static void make_zero_chain(const char *prefix, int n, int lines)
{
    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat %sq.vmdk 1M && rm %sq-flat.vmdk && "
       "yes 'RW 1 ZERO' | head -n %d > %sz.txt",
       prefix, prefix, lines, prefix);
    sh("for i in $(seq 0 %d); do "
       "  if [ $i = 0 ]; then pc=ffffffff; hint=; else pc=$(printf %%08x $i); "
       "    hint=\"parentFileNameHint=\\\"%sl$((i - 1)).vmdk\\\"\"; fi; "
       "  sed -e \"s/^CID=.*/CID=$(printf %%08x $((i + 1)))/\" -e \"s/^parentCID=.*/parentCID=$pc\\n$hint/\" "
       "      -e '/^RW 2048 FLAT /{r %sz.txt' -e 'd}' %sq.vmdk > %sl$i.vmdk; "
       "done",
       n - 1, prefix, prefix, prefix, prefix);
}

/* The bounds on a disk's structure, each with a clear error (limits.h):
 * snapshot links (OVA_CHAIN_MAX), extents of a whole chain
 * (OVA_DISK_MAX_EXTENTS) and grain tables of a sparse extent
 * (OVA_SPARSE_MAX_GTS). */
static void t_limits(void **state)
{
    (void)state;
    /* 255 links below the disk the VMX names are fine, 256 are not */
    make_zero_chain("c", OVA_CHAIN_MAX + 2, 1);
    char name[32];
    snprintf(name, sizeof name, "cl%d.vmdk", OVA_CHAIN_MAX);
    ova_disk_info *d = describe_ok(name);
    assert_int_equal(d->chain_depth, OVA_CHAIN_MAX);
    ova_disk_info_free(&d);
    snprintf(name, sizeof name, "cl%d.vmdk", OVA_CHAIN_MAX + 1);
    describe_fails(name, OVA_E_UNSUPPORTED, name, "snapshot chain longer than 255 links", NULL);

    /* 16 links of 65536 extents are the most, 17 too many */
    make_zero_chain("x", 17, (int)OVA_DESC_MAX_EXTENTS);
    d = describe_ok("xl15.vmdk");
    assert_int_equal(d->chain_depth, 15);
    assert_true(d->n_extents == OVA_DESC_MAX_EXTENTS);
    ova_disk_info_free(&d);
    describe_fails("xl16.vmdk", OVA_E_UNSUPPORTED, "xl16.vmdk: the disk and its snapshot chain down to",
                   "1114112 extents, more than the limit of 1048576", NULL);

    /* grain tables: 2^31 + 512 sectors in grains of one sector need one table too many */
    sh("qemu-img create -q -f vmdk gt.vmdk 1M");
    patch64("gt.vmdk", 20, 1);
    patch64("gt.vmdk", 12, (1ull << 31) + 512);
    describe_fails("gt.vmdk", OVA_E_UNSUPPORTED, "gt.vmdk: sparse header",
                   "needs 4194305 grain tables, more than the limit of 4194304", NULL);
    patch64("gt.vmdk", 12, 1ull << 31); /* at the limit: on to the next check */
    describe_fails("gt.vmdk", OVA_E_FORMAT, "gt.vmdk: sparse header: grain directory", NULL, NULL);
}

/* Warnings the library sends through the log hook, kept for checking. */
static char g_log[8192];

static void log_keep(void *ctx, int level, const char *msg)
{
    (void)ctx;
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%d:%s\n", level, msg);
}

/* describe with the VM's folder `root` (inside the test folder) */
static ova_status describe_in(const char *name, const char *root, bool confine, ova_disk_info **d, ova_err *err)
{
    char r[PATH_MAX];
    snprintf(r, sizeof r, "%s", P(root));
    ova_describe_opts o = { r, confine, log_keep, NULL };
    g_log[0] = '\0';
    *d = NULL;
    return ova_disk_describe_ex(P(name), &o, d, err);
}

/* Every path a disk is made of (the disk itself, extents, parents) resolves
 * inside the VM's folder, or is refused with --confine and named in a
 * warning without it: an extent "../../etc/passwd" exported /etc/passwd. */
static void t_confine(void **state)
{
    (void)state;
    sh("mkdir vm && head -c 4096 /dev/urandom > secret.raw");
    sh("cd vm && qemu-img create -q -f vmdk -o subformat=monolithicFlat d.vmdk 4096");
    /* an extent that climbs out of the folder */
    sh("sed -i 's|^RW 8 FLAT \"d-flat.vmdk\" 0$|RW 8 FLAT \"../../%s/secret.raw\" 0|' vm/d.vmdk && grep -q secret vm/d.vmdk",
       strrchr(g_dir, '/') + 1);
    ova_disk_info *d;
    ova_err err = {0};
    assert_int_equal(describe_in("vm/d.vmdk", "vm", true, &d, &err), OVA_E_UNSUPPORTED);
    assert_null(d);
    if (strstr(err.msg, "vm/d.vmdk: extent ") == NULL || strstr(err.msg, "secret.raw") == NULL ||
        strstr(err.msg, "outside the VM's folder") == NULL || strstr(err.msg, "--confine") == NULL)
        fail_msg("message \"%s\" does not name the extent outside the folder", err.msg);
    /* without --confine: allowed, and named in a warning */
    ova_err_clear(&err);
    assert_int_equal(describe_in("vm/d.vmdk", "vm", false, &d, &err), OVA_OK);
    ova_disk_info_free(&d);
    if (strstr(g_log, "1:") != g_log || strstr(g_log, "secret.raw") == NULL ||
        strstr(g_log, "outside the VM's folder") == NULL)
        fail_msg("no warning naming secret.raw: \"%s\"", g_log);
    /* the same extent inside the folder: no warning */
    sh("cp secret.raw vm/ && sed -i 's|\"../../[^\"]*/secret.raw\"|\"secret.raw\"|' vm/d.vmdk");
    assert_int_equal(describe_in("vm/d.vmdk", "vm", true, &d, &err), OVA_OK);
    ova_disk_info_free(&d);
    assert_string_equal(g_log, "");
    /* a symbolic link in the folder that points out of it */
    sh("rm vm/secret.raw && ln -s ../secret.raw vm/secret.raw");
    assert_int_equal(describe_in("vm/d.vmdk", "vm", true, &d, &err), OVA_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "outside the VM's folder"));
    /* the disk itself outside (an absolute VMX fileName) */
    sh("rm vm/secret.raw && cp secret.raw vm/ && mv vm/d.vmdk d.vmdk && cp secret.raw vm/secret.raw");
    sh("sed -i 's|\"secret.raw\"|\"vm/secret.raw\"|' d.vmdk");
    ova_err_clear(&err);
    assert_int_equal(describe_in("d.vmdk", "vm", true, &d, &err), OVA_E_UNSUPPORTED);
    if (strstr(err.msg, "disk ") != err.msg || strstr(err.msg, "d.vmdk resolves to") == NULL)
        fail_msg("message \"%s\" does not name the disk outside the folder", err.msg);

    /* a snapshot parent outside (a linked clone): refused, or a warning */
    sh("qemu-img create -q -f vmdk base.vmdk 1M && qemu-io -f vmdk -c 'write -P 0x44 0 64k' base.vmdk");
    sh("cd vm && qemu-img create -q -f vmdk -b ../base.vmdk -F vmdk clone.vmdk");
    ova_err_clear(&err);
    assert_int_equal(describe_in("vm/clone.vmdk", "vm", true, &d, &err), OVA_E_UNSUPPORTED);
    if (strstr(err.msg, "clone.vmdk: parent ") == NULL || strstr(err.msg, "base.vmdk") == NULL)
        fail_msg("message \"%s\" does not name the parent outside the folder", err.msg);
    assert_int_equal(describe_in("vm/clone.vmdk", "vm", false, &d, &err), OVA_OK);
    assert_int_equal(d->chain_depth, 1);
    ova_disk_info_free(&d);
    assert_non_null(strstr(g_log, "parent "));
    assert_non_null(strstr(g_log, "base.vmdk resolves to"));
    /* no root: no check, no warning (ova_disk_describe) */
    d = describe_ok("vm/clone.vmdk");
    ova_disk_info_free(&d);
}

/* A file named as a disk that is neither a sparse extent nor a text
 * descriptor is refused without quoting a byte of it: a VMX naming
 * /etc/passwd printed root's line. */
static void t_not_a_disk(void **state)
{
    (void)state;
    sh("printf 'root:x:0:0:root:/root:/bin/bash\\nuser:x:1000:1000::/home/user:/bin/sh\\n' > passwd");
    describe_fails("passwd", OVA_E_FORMAT, "passwd: not a VMDK disk", "neither a sparse extent", "nor a text descriptor");
    ova_disk_info *d = NULL;
    ova_err err = {0};
    assert_int_not_equal(ova_disk_describe(P("passwd"), &d, &err), OVA_OK);
    if (strstr(err.msg, "root:") != NULL || strstr(err.msg, "/bin/bash") != NULL)
        fail_msg("message quotes the file: %s", err.msg);
    /* a flat extent named as the disk */
    sh("head -c 1M /dev/urandom > rnd.vmdk");
    describe_fails("rnd.vmdk", OVA_E_FORMAT, "rnd.vmdk: not a VMDK disk", NULL, NULL);
    /* a file that looks like a descriptor still gets its bad line quoted */
    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat q.vmdk 1M && printf 'bad line here\\n' >> q.vmdk");
    describe_fails("q.vmdk", OVA_E_FORMAT, "not a key=value, extent or ddb line: \"bad line here\"", NULL, NULL);
}

/* A FIFO named as a disk or an extent is refused at once, never opened in
 * blocking mode (open(2) of a FIFO waits for a writer): SIGALRM ends a
 * run that hangs. Also when the FIFO replaces an extent after describe. */
static void t_fifo(void **state)
{
    (void)state;
    alarm(30);
    assert_int_equal(mkfifo(P("fifo.vmdk"), 0600), 0);
    describe_fails("fifo.vmdk", OVA_E_UNSUPPORTED, "fifo.vmdk", "is a FIFO, not a regular file", NULL);

    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat ff.vmdk 1M");
    sh("mv ff-flat.vmdk ff-flat.keep && mkfifo ff-flat.vmdk");
    describe_fails("ff.vmdk", OVA_E_UNSUPPORTED, "ff-flat.vmdk", "extent of", "is a FIFO");

    sh("qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse fs.vmdk 1M");
    sh("rm fs-s001.vmdk && mkfifo fs-s001.vmdk");
    describe_fails("fs.vmdk", OVA_E_UNSUPPORTED, "fs-s001.vmdk", "is a FIFO", NULL);

    /* described while a regular file, a FIFO by the time it is read */
    sh("rm ff-flat.vmdk && mv ff-flat.keep ff-flat.vmdk && qemu-io -f vmdk -c 'write -P 0x61 0 64k' ff.vmdk");
    ova_disk_info *d = describe_ok("ff.vmdk");
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
    sh("rm ff-flat.vmdk && mkfifo ff-flat.vmdk");
    unsigned char *buf = malloc(MIB);
    bool zero;
    uint64_t nr = 0;
    ova_err err = {0};
    assert_int_not_equal(ova_disk_read(r, 0, MIB, buf, &zero, &nr, &err), OVA_OK);
    if (strstr(err.msg, "ff-flat.vmdk") == NULL || strstr(err.msg, "FIFO") == NULL)
        fail_msg("message \"%s\" does not say that ff-flat.vmdk is a FIFO", err.msg);
    free(buf);
    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);
    alarm(0);
}

static void t_corrupt_header(void **state)
{
    (void)state;
    struct {
        uint64_t off;
        int width;
        uint64_t val;
        const char *msg;
    } cases[] = {
        { 4, 4, 9, "version 9" },
        { 4, 4, 0, "version 0" },
        { 20, 8, 3, "grainSize 3" },
        { 20, 8, 256, "grainSize 256" },
        { 44, 4, 1024, "numGTEsPerGT 1024" },
        { 56, 8, 1ull << 40, "grain directory" },
        { 28, 8, 1ull << 30, "descriptorOffset" },
        { 12, 8, 1ull << 50, "capacity" },
        { 8, 4, 0x00040003, "incompatible flags" },
        { 8, 4, 0x00020003, "markers without compression" },
        { 73, 1, '\r', "end-of-line" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sh("rm -f hd.vmdk && qemu-img create -q -f vmdk hd.vmdk 4M");
        if (cases[i].width == 8)
            patch64("hd.vmdk", cases[i].off, cases[i].val);
        else if (cases[i].width == 4)
            patch32("hd.vmdk", cases[i].off, (uint32_t)cases[i].val);
        else
            patch("hd.vmdk", cases[i].off, &(unsigned char){ (unsigned char)cases[i].val }, 1);
        describe_fails("hd.vmdk", OVA_OK, "hd.vmdk", cases[i].msg, NULL);
    }
    /* an extent line longer than the header's capacity */
    sh("rm -f hd.vmdk && qemu-img create -q -f vmdk hd.vmdk 4M");
    patch64("hd.vmdk", 12, 4096);
    describe_fails("hd.vmdk", OVA_E_FORMAT, "hd.vmdk", "capacity is 4096 sectors", NULL);

    /* a stream grain marker naming the wrong LBA */
    sh("qemu-img create -q -f vmdk sm.vmdk 1M && qemu-io -f vmdk -c 'write -P 0x41 0 64k' sm.vmdk");
    sh("qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized sm.vmdk sm2.vmdk");
    uint64_t overhead = get64_at("sm2.vmdk", 64);
    assert_true(get64_at("sm2.vmdk", overhead * 512) == 0); /* grain 0's marker */
    patch64("sm2.vmdk", overhead * 512, 128);
    ova_disk_info *d = describe_ok("sm2.vmdk");
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(d, &r, NULL), OVA_OK);
    unsigned char *buf = malloc(MIB);
    bool zero;
    uint64_t nr = 0;
    ova_err err = {0};
    assert_int_equal(ova_disk_read(r, 0, MIB, buf, &zero, &nr, &err), OVA_E_FORMAT);
    assert_non_null(strstr(err.msg, "sm2.vmdk"));
    assert_non_null(strstr(err.msg, "LBA 128"));
    /* corrupt compressed bytes */
    patch64("sm2.vmdk", overhead * 512, 0);
    patch("sm2.vmdk", overhead * 512 + 20, "garbage!", 8);
    ova_err_clear(&err);
    assert_int_equal(ova_disk_read(r, 0, MIB, buf, &zero, &nr, &err), OVA_E_FORMAT);
    assert_non_null(strstr(err.msg, "inflate"));
    free(buf);
    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);
}

/* Rewrite the quoted extent name `old` in a sparse file's embedded
 * descriptor to `new_name`, the text shifted and NUL-padded so the
 * descriptor area keeps its length (an edit of a qemu-made file). */
static void rename_embedded_extent(const char *name, const char *old, const char *new_name)
{
    uint64_t off = get64_at(name, 28) * 512, size = get64_at(name, 36) * 512;
    assert_true(off > 0 && size > 0 && size <= MIB);
    char *area = calloc(1, size + 1), *out = calloc(1, size + 1);
    assert_non_null(area);
    assert_non_null(out);
    int fd = open(P(name), O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, area, size, (off_t)off), (ssize_t)size);
    char *p = strstr(area, old);
    if (p == NULL)
        fail_msg("%s: no %s in the embedded descriptor", name, old);
    size_t head = (size_t)(p - area);
    assert_true(strlen(new_name) <= strlen(old));
    memcpy(out, area, head);
    memcpy(out + head, new_name, strlen(new_name));
    strcpy(out + head + strlen(new_name), p + strlen(old));
    assert_int_equal(pwrite(fd, out, size, (off_t)off), (ssize_t)size);
    close(fd);
    free(area);
    free(out);
}

/* A single-file sparse disk's one SPARSE extent is the file itself,
 * whatever its embedded descriptor calls it: open-vmdk's vmdk-convert
 * names it "disk", and there is no file of that name. */
static void t_self_extent(void **state)
{
    (void)state;
    make_patterned("monolithicSparse", "ms.vmdk");
    sh("qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized ms.vmdk so.vmdk");
    const char *names[] = { "ms.vmdk", "so.vmdk" };
    for (size_t i = 0; i < 2; i++) {
        char old[32];
        snprintf(old, sizeof old, "\"%s\"", names[i]);
        rename_embedded_extent(names[i], old, "\"disk\"");
        assert_true(find_in_file(names[i], "SPARSE \"disk\"") > 0);
        ova_disk_info *d = describe_ok(names[i]);
        assert_int_equal(d->n_extents, 1);
        assert_string_equal(d->extents[0].path, P(names[i]));
        ova_disk_info_free(&d);
        check_disk(names[i]); /* qemu reads the edited file as itself, and so do we */
    }
    /* a text descriptor's SPARSE extent is still the file it names */
    make_patterned("twoGbMaxExtentSparse", "split.vmdk");
    replace_text("split.vmdk", "\"split-s001.vmdk\"", "\"disk\"");
    char want[PATH_MAX + 8];
    snprintf(want, sizeof want, "%s/disk", g_dir);
    describe_fails("split.vmdk", OVA_OK, want, NULL, NULL);
}

/* Raw disks (a host's physical disk) and encrypted disks stay refused. */
static void t_raw_and_encrypted(void **state)
{
    (void)state;
    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat r.vmdk 1M");
    replace_text("r.vmdk", "createType=\"monolithicFlat\"", "createType=\"fullDevice\"");
    describe_fails("r.vmdk", OVA_E_UNSUPPORTED, "r.vmdk: raw disk (createType \"fullDevice\") cannot be exported",
                   NULL, NULL);
    replace_text("r.vmdk", "createType=\"fullDevice\"", "createType=\"partitionedDevice\"");
    describe_fails("r.vmdk", OVA_E_UNSUPPORTED, "raw disk (createType \"partitionedDevice\")", NULL, NULL);
    /* a complete descriptor with a key safe */
    sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat e.vmdk 1M");
    replace_text("e.vmdk", "createType=\"monolithicFlat\"",
                 "createType=\"monolithicFlat\"\nencryption.keySafe = \"vmware:key/list/(pair/(phrase/x))\"");
    describe_fails("e.vmdk", OVA_E_UNSUPPORTED, "e.vmdk: the disk is encrypted (encryption.keySafe is set)", NULL,
                   NULL);
    /* the extents inside the encrypted data: encrypted, not "missing createType" */
    sh("printf '# Disk DescriptorFile\\nversion=1\\nencryption.keySafe = \"vmware:key/list/(pair/(phrase/x))\"\\n"
       "encryption.data = \"U2FsdGVkX1+vupppZksvRf5pq5g5XjFR\"\\n' > enc.vmdk");
    describe_fails("enc.vmdk", OVA_E_UNSUPPORTED, "enc.vmdk: the disk is encrypted (encryption.keySafe is set)", NULL,
                   NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_subformats, setup, teardown),
        cmocka_unit_test_setup_teardown(t_split_big, setup, teardown),
        cmocka_unit_test_setup_teardown(t_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(t_read_only_allocated, setup, teardown),
        cmocka_unit_test_setup_teardown(t_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(t_cid_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(t_missing_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(t_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(t_hints, setup, teardown),
        cmocka_unit_test_setup_teardown(t_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(t_corrupt_header, setup, teardown),
        cmocka_unit_test_setup_teardown(t_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(t_shrink, setup, teardown),
        cmocka_unit_test_setup_teardown(t_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(t_confine, setup, teardown),
        cmocka_unit_test_setup_teardown(t_not_a_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(t_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(t_self_extent, setup, teardown),
        cmocka_unit_test_setup_teardown(t_raw_and_encrypted, setup, teardown),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
