/* test_validate.c - unit tests for `ovatool validate` (validate*.c): the
 * manifest line parser, the VMDK structure walk and the deep pass on
 * streams built in memory with the project's own writer pieces, and whole
 * OVAs built here with ova_tar_header. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "ovatool/buf.h"
#include "ovatool/manifest.h"
#include "format/tar.h"
#include "ovatool/validate.h"
#include "format/vmdk_stream.h"

#define MIB ((uint64_t)1 << 20)

/* ---- building streamOptimized disks in memory ---- */

/* Content of grain gi: text naming it, then zeros; len bytes are compressed
 * (65536 normally; less to make a short grain). */
static size_t grain_record(uint64_t gi, size_t len, unsigned char *rec)
{
    unsigned char *raw = calloc(1, OVA_GRAIN_SIZE);
    assert_non_null(raw);
    for (size_t at = 0; at + 64 < OVA_GRAIN_SIZE / 2; at += 64)
        snprintf((char *)raw + at, 64, "grain %llu at %zu ", (unsigned long long)gi, at);
    uLongf clen = (uLongf)(ova_grain_record_max() - OVA_GRAIN_MARKER_SIZE);
    assert_int_equal(compress2(rec + OVA_GRAIN_MARKER_SIZE, &clen, raw, len, 6), Z_OK);
    free(raw);
    return ova_grain_record_finish(rec, gi * OVA_GRAIN_SECTORS, (uint32_t)clen);
}

/* A stream of the given capacity holding grains[0..n) (ascending grain
 * indexes), in VMware's layout; grain short_gi (if any) is compressed from
 * fewer than 65536 bytes. */
static void build_stream(uint64_t capacity, const uint64_t *grains, size_t n, uint64_t short_gi, ova_buf *out)
{
    ova_stream_info info = { capacity, 0x12345678u, "t-disk1.vmdk", "lsilogic", NULL, NULL };
    unsigned char *head = malloc((size_t)OVA_STREAM_OVERHEAD * OVA_SECTOR);
    unsigned char *rec = malloc(ova_grain_record_max());
    assert_non_null(head);
    assert_non_null(rec);
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_stream_head(&info, head, &err), OVA_OK);
    ova_buf_reset(out);
    ova_buf_append(out, head, (size_t)OVA_STREAM_OVERHEAD * OVA_SECTOR);
    uint64_t sector = OVA_STREAM_OVERHEAD, n_gts = ova_stream_gts(capacity);
    uint32_t *gd = calloc((size_t)n_gts, sizeof *gd);
    uint32_t gt[OVA_GT_ENTRIES];
    unsigned char block[OVA_GT_BLOCK_SIZE];
    assert_non_null(gd);
    memset(gt, 0, sizeof gt);
    int64_t cur = -1;
    for (size_t i = 0; i <= n; i++) {
        int64_t g = i < n ? (int64_t)(grains[i] / OVA_GT_ENTRIES) : -2;
        if (cur >= 0 && g != cur) {
            gd[cur] = (uint32_t)(sector + 1);
            ova_stream_gt_block(block, gt);
            ova_buf_append(out, block, sizeof block);
            sector += 5;
            memset(gt, 0, sizeof gt);
        }
        if (i == n)
            break;
        cur = g;
        gt[grains[i] % OVA_GT_ENTRIES] = (uint32_t)sector;
        size_t len = grain_record(grains[i], grains[i] == short_gi ? 1000 : OVA_GRAIN_SIZE, rec);
        ova_buf_append(out, rec, len);
        sector += len / OVA_SECTOR;
    }
    size_t tl = ova_stream_tail_size(n_gts);
    unsigned char *tail = malloc(tl);
    assert_non_null(tail);
    ova_stream_tail(tail, capacity, gd, n_gts, sector + 1);
    ova_buf_append(out, tail, tl);
    assert_false(ova_buf_failed(out));
    free(tail);
    free(gd);
    free(rec);
    free(head);
}

/* The standard test disk: 33 MiB + 512 bytes (2 grain tables, a partial
 * last grain), grains in both groups. */
static const uint64_t STD_GRAINS[] = { 0, 1, 5, 511, 512, 513, 528 };
#define STD_CAP (33 * MIB + 512)
#define STD_N (sizeof STD_GRAINS / sizeof STD_GRAINS[0])

static void std_stream(ova_buf *out) { build_stream(STD_CAP, STD_GRAINS, STD_N, UINT64_MAX, out); }

/* Walk data in chunks of `chunk` bytes; return the problem list. */
static void walk(const unsigned char *data, size_t len, size_t chunk, ova_vlist *probs, ova_vmdk_facts *f)
{
    ova_vmdk_walk *w = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_vmdk_walk_new("t-disk1.vmdk", len, probs, &w, &err), OVA_OK);
    for (size_t at = 0; at < len; at += chunk)
        ova_vmdk_walk_feed(w, data + at, len - at < chunk ? len - at : chunk);
    assert_int_equal(ova_vmdk_walk_finish(w, f, &err), OVA_OK);
    ova_vmdk_walk_free(&w);
    assert_null(w);
}

static bool has_problem(const ova_vlist *l, const char *needle)
{
    size_t pos = 0, len;
    const char *line;
    while ((line = ova_vlist_next(l, &pos, &len)) != NULL) {
        char *s = strndup(line, len);
        bool hit = strstr(s, needle) != NULL;
        free(s);
        if (hit)
            return true;
    }
    return false;
}

static void dump(const ova_vlist *l)
{
    if (l->count == 0)
        return;
    size_t pos = 0, len;
    const char *line;
    while ((line = ova_vlist_next(l, &pos, &len)) != NULL)
        print_message("  problem: %.*s\n", (int)len, line);
}

/* ---- manifest lines ---- */

static void test_manifest_lines(void **state)
{
    (void)state;
    ova_sha alg;
    char name[101];
    unsigned char d[64];
    const char *why = NULL;
    char line[300];

    snprintf(line, sizeof line, "SHA256(vm-disk1.vmdk)= %s", "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF");
    assert_true(ova_manifest_parse_line(line, strlen(line), &alg, name, sizeof name, d, &why));
    assert_int_equal(alg, OVA_SHA256);
    assert_string_equal(name, "vm-disk1.vmdk");
    assert_int_equal(d[1], 0x11);
    assert_int_equal(d[31], 0xff);

    snprintf(line, sizeof line, "SHA1(a.ovf)= %040d", 0);
    assert_true(ova_manifest_parse_line(line, strlen(line), &alg, name, sizeof name, d, &why));
    assert_int_equal(alg, OVA_SHA1);
    snprintf(line, sizeof line, "SHA512(we(ir)d)= %0128d", 0);
    assert_true(ova_manifest_parse_line(line, strlen(line), &alg, name, sizeof name, d, &why));
    assert_int_equal(alg, OVA_SHA512);
    assert_string_equal(name, "we(ir)d");

    /* lines from ova_manifest_line always parse back */
    unsigned char dg[64];
    for (int i = 0; i < 64; i++)
        dg[i] = (unsigned char)(i * 7);
    ova_sha algs[] = { OVA_SHA1, OVA_SHA256, OVA_SHA512 };
    for (size_t i = 0; i < 3; i++) {
        ova_buf b = OVA_BUF_INIT;
        ova_manifest_line(&b, algs[i], "x.vmdk", dg);
        assert_true(ova_manifest_parse_line(b.data, b.len - 1, &alg, name, sizeof name, d, &why));
        assert_int_equal(alg, algs[i]);
        assert_memory_equal(d, dg, ova_sha_len(algs[i]));
        ova_buf_free(&b);
    }

    static const struct {
        const char *line;
        const char *why;
    } bad[] = {
        { "SHA256 (a)= 00", "blank between the algorithm" },
        { "SHA256(a) = 0000000000000000000000000000000000000000000000000000000000000000", "blank between ')'" },
        { "SHA256(a)=  0000000000000000000000000000000000000000000000000000000000000000", "more than one blank" },
        { "SHA256(a)= 0000000000000000000000000000000000000000000000000000000000000000\r", "carriage return" },
        { "SHA256(a)= 000000000000000000000000000000000000000000000000000000000000000", "length" },
        { "SHA256(a)= 000000000000000000000000000000000000000000000000000000000000000g", "not hexadecimal" },
        { "SHA2-256(a)= 0000000000000000000000000000000000000000000000000000000000000000", "unknown digest" },
        { "sha256(a)= 0000000000000000000000000000000000000000000000000000000000000000", "unknown digest" },
        { "MD5(a)= 00000000000000000000000000000000", "unknown digest" },
        { "SHA256()= 0000000000000000000000000000000000000000000000000000000000000000", "empty file name" },
        { "SHA256(a)=0000000000000000000000000000000000000000000000000000000000000000", "missing" },
        { "just text", "not of the form" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (ova_manifest_parse_line(bad[i].line, strlen(bad[i].line), &alg, name, sizeof name, d, &why))
            fail_msg("accepted: %s", bad[i].line);
        assert_non_null(why);
        if (strstr(why, bad[i].why) == NULL)
            fail_msg("%s: reason \"%s\" lacks \"%s\"", bad[i].line, why, bad[i].why);
    }
    /* names longer than the buffer, NUL bytes */
    char longl[400];
    snprintf(longl, sizeof longl, "SHA1(%0150d)= %040d", 0, 0);
    assert_false(ova_manifest_parse_line(longl, strlen(longl), &alg, name, sizeof name, d, &why));
    const char nul[] = "SHA1(a\0b)= 0000000000000000000000000000000000000000";
    assert_false(ova_manifest_parse_line(nul, sizeof nul - 1, &alg, name, sizeof name, d, &why));
}

/* ---- the structure walk ---- */

static void test_walk_valid(void **state)
{
    (void)state;
    ova_buf s = OVA_BUF_INIT;
    std_stream(&s);
    size_t chunks[] = { 1, 7, 511, 512, 4096, 1 << 20 };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
        ova_vmdk_facts f;
        walk((unsigned char *)s.data, s.len, chunks[i], &probs, &f);
        if (probs.count != 0) {
            dump(&probs);
            fail_msg("chunk %zu: %llu problems in a valid stream", chunks[i], (unsigned long long)probs.count);
        }
        assert_true(f.sound);
        assert_true(f.header_ok);
        assert_int_equal(f.capacity, ova_stream_sectors(STD_CAP));
        assert_int_equal(f.grains, STD_N);
        assert_int_equal(f.n_gds, 2);
        assert_int_equal(f.gd_sector, ova_get_le64((unsigned char *)s.data + s.len - 1024 + 56));
        ova_vlist_free(&probs);
    }
    ova_buf_free(&s);
}

static void test_walk_sparse_groups(void **state)
{
    (void)state;
    /* 200 MiB, data only in group 3 and the last grain: empty groups get no GT and a zero GDE */
    uint64_t g[] = { 3 * 512 + 7, 3 * 512 + 8, 3199 };
    ova_buf s = OVA_BUF_INIT;
    build_stream(200 * MIB, g, 3, UINT64_MAX, &s);
    ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
    ova_vmdk_facts f;
    walk((unsigned char *)s.data, s.len, 4096, &probs, &f);
    dump(&probs);
    assert_int_equal(probs.count, 0);
    assert_true(f.sound);
    assert_int_equal(f.grains, 3);
    assert_int_equal(f.n_gds, 7);
    ova_vlist_free(&probs);

    /* an empty disk: no grains, no GTs */
    build_stream(4 * MIB, NULL, 0, UINT64_MAX, &s);
    walk((unsigned char *)s.data, s.len, 4096, &probs, &f);
    dump(&probs);
    assert_int_equal(probs.count, 0);
    assert_true(f.sound);
    assert_int_equal(f.grains, 0);
    ova_vlist_free(&probs);
    ova_buf_free(&s);
}

/* Sector of the k-th grain marker (k-th record after overHead) in std_stream. */
static size_t marker_at(const ova_buf *s, unsigned k)
{
    size_t at = (size_t)OVA_STREAM_OVERHEAD * OVA_SECTOR;
    for (unsigned i = 0;; ) {
        const unsigned char *m = (const unsigned char *)s->data + at;
        uint32_t csize = ova_get_le32(m + 8);
        if (csize != 0) {
            if (i++ == k)
                return at;
            at += (OVA_GRAIN_MARKER_SIZE + csize + OVA_SECTOR - 1) / OVA_SECTOR * OVA_SECTOR;
        } else {
            at += (1 + ova_get_le64(m)) * OVA_SECTOR;
        }
    }
}

typedef void (*mutate_fn)(ova_buf *s);

static void m_drop_eos(ova_buf *s) { s->len -= OVA_SECTOR; }
static void m_extra_sector(ova_buf *s) { ova_buf_fill(s, 0, OVA_SECTOR); }
static void m_odd_size(ova_buf *s) { ova_buf_fill(s, 0, 100); }
static void m_lba_odd(ova_buf *s) { ova_put_le64((unsigned char *)s->data + marker_at(s, 0), 5); }
static void m_lba_big(ova_buf *s) { ova_put_le64((unsigned char *)s->data + marker_at(s, 6), 1000 * 128); }
static void m_lba_swap(ova_buf *s)
{
    ova_put_le64((unsigned char *)s->data + marker_at(s, 1), 5 * 128);
    ova_put_le64((unsigned char *)s->data + marker_at(s, 2), 1 * 128);
}
static void m_csize_big(ova_buf *s) { ova_put_le32((unsigned char *)s->data + marker_at(s, 0) + 8, 131072); }
static void m_truncated(ova_buf *s) { s->len = marker_at(s, 2) + 600; }
static void m_gt_entry(ova_buf *s)
{
    /* the first GT block follows the grains of group 0: after marker 3's record */
    size_t at = marker_at(s, 3);
    at += (OVA_GRAIN_MARKER_SIZE + ova_get_le32((unsigned char *)s->data + at + 8) + OVA_SECTOR - 1) / OVA_SECTOR *
          OVA_SECTOR;
    assert_int_equal(ova_get_le32((unsigned char *)s->data + at + 12), OVA_MARKER_GT);
    ova_put_le32((unsigned char *)s->data + at + OVA_SECTOR + 4 * 2, 12345);
}
/* tail layout: GD marker, GD (1 sector for 2 entries), footer marker, footer, EOS */
static unsigned char *tail_sector(ova_buf *s, unsigned from_end) { return (unsigned char *)s->data + s->len - from_end * OVA_SECTOR; }
static void m_gd_entry(ova_buf *s) { ova_put_le32(tail_sector(s, 4) + 4, 999); }
static void m_footer_gd(ova_buf *s) { ova_put_le64(tail_sector(s, 2) + 56, 7); }
static void m_footer_copy(ova_buf *s) { tail_sector(s, 2)[20] ^= 1; }
static void m_footer_marker(ova_buf *s) { ova_put_le32(tail_sector(s, 3) + 12, 9); }
static void m_no_gd(ova_buf *s)
{
    /* drop GD marker + GD: the footer then follows the last GT */
    memmove(tail_sector(s, 5), tail_sector(s, 3), 3 * OVA_SECTOR);
    s->len -= 2 * OVA_SECTOR;
}
static void m_version(ova_buf *s) { ova_put_le32((unsigned char *)s->data + 4, 1); }
static void m_flags(ova_buf *s) { ova_put_le32((unsigned char *)s->data + 8, 0x00010001u); }
static void m_eol(ova_buf *s) { s->data[75] = '\n'; }
static void m_compress(ova_buf *s) { s->data[77] = 0; }
static void m_grainsize(ova_buf *s) { ova_put_le64((unsigned char *)s->data + 20, 64); }
static void m_magic(ova_buf *s) { s->data[0] = 'X'; }
static void m_gdoffset(ova_buf *s) { ova_put_le64((unsigned char *)s->data + 56, 21); }
static void m_overhead(ova_buf *s) { ova_put_le64((unsigned char *)s->data + 64, 1u << 30); }
static void m_capacity(ova_buf *s) { ova_put_le64((unsigned char *)s->data + 12, (uint64_t)1 << 50); }
static void m_desc_extent(ova_buf *s)
{
    char *p = strstr(s->data + OVA_SECTOR, "RW ");
    assert_non_null(p);
    p[3] = p[3] == '9' ? '8' : '9';
}
static void m_desc_garbage(ova_buf *s)
{
    char *p = strstr(s->data + OVA_SECTOR, "createType");
    assert_non_null(p);
    memcpy(p, "\x01\x02\x03", 3);
}
/* a delta's parentCID (same length as the base's ffffffff) */
static void m_desc_parent(ova_buf *s)
{
    char *p = strstr(s->data + OVA_SECTOR, "parentCID=ffffffff");
    assert_non_null(p);
    memcpy(p + 10, "0000002a", 8);
}
static void m_short(ova_buf *s) { s->len = 100; }

static void test_walk_defects(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        mutate_fn fn;
        const char *want;
    } cases[] = {
        { "drop EOS", m_drop_eos, "no end-of-stream marker" },
        { "extra sector", m_extra_sector, "is not the last sector" },
        { "odd size", m_odd_size, "not a multiple of 512" },
        { "LBA not aligned", m_lba_odd, "LBA 5 is not a multiple of the grain size" },
        { "LBA past capacity", m_lba_big, "is not below the capacity" },
        { "LBA order", m_lba_swap, "LBA 128 is not above the previous grain's LBA 640" },
        { "compressed size", m_csize_big, "is not below 128 KiB" },
        { "truncated grain", m_truncated, "runs past the end of the disk" },
        { "GT entry", m_gt_entry, "entry 2 is 12345" },
        { "GD entry", m_gd_entry, "grain directory: 1 entries disagree" },
        { "footer gdOffset", m_footer_gd, "footer gdOffset is 7" },
        { "footer copy", m_footer_copy, "footer is not a copy of the header" },
        { "footer marker", m_footer_marker, "unknown marker type 9" },
        { "no GD", m_no_gd, "footer marker at sector" },
        { "version", m_version, "header version 1" },
        { "flags", m_flags, "lack bit 16" },
        { "EOL bytes", m_eol, "newline-detection" },
        { "compressAlgorithm", m_compress, "compressAlgorithm 0" },
        { "grainSize", m_grainsize, "grainSize 64" },
        { "magic", m_magic, "no KDMV magic" },
        { "gdOffset", m_gdoffset, "but the header already names the grain directory (gdOffset 21)" },
        { "overHead", m_overhead, "overHead" },
        { "capacity", m_capacity, "above 64 TiB" },
        { "descriptor extent", m_desc_extent, "extents hold" },
        { "descriptor garbage", m_desc_garbage, "embedded descriptor: line" },
        { "descriptor parent", m_desc_parent, "names a parent disk (parentCID=0000002a)" },
        { "too short", m_short, "too short for a VMDK header" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ova_buf s = OVA_BUF_INIT;
        std_stream(&s);
        cases[i].fn(&s);
        ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
        ova_vmdk_facts f;
        walk((unsigned char *)s.data, s.len, 1000, &probs, &f);
        if (getenv("VALIDATE_TEST_DUMP")) {
            print_message("%s:\n", cases[i].what);
            dump(&probs);
        }
        if (!has_problem(&probs, cases[i].want)) {
            dump(&probs);
            fail_msg("%s: no problem containing \"%s\"", cases[i].what, cases[i].want);
        }
        assert_false(f.sound);
        /* every line names the member */
        size_t pos = 0, len;
        const char *line;
        while ((line = ova_vlist_next(&probs, &pos, &len)) != NULL)
            assert_int_equal(strncmp(line, "t-disk1.vmdk: ", 14), 0);
        ova_vlist_free(&probs);
        ova_buf_free(&s);
    }
}

static void test_walk_problem_cap(void **state)
{
    (void)state;
    /* 40 grains, each marker's LBA made unaligned: the walk stops after its cap */
    uint64_t g[40];
    for (unsigned i = 0; i < 40; i++)
        g[i] = i;
    ova_buf s = OVA_BUF_INIT;
    build_stream(4 * MIB, g, 40, UINT64_MAX, &s);
    for (unsigned k = 0; k < 40; k++) {
        unsigned char *m = (unsigned char *)s.data + marker_at(&s, k);
        ova_put_le64(m, ova_get_le64(m) + 1);
    }
    ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
    ova_vmdk_facts f;
    walk((unsigned char *)s.data, s.len, 4096, &probs, &f);
    assert_int_equal(probs.kept, OVA_VALIDATE_MAX_DISK_PROBLEMS + 1);
    assert_true(has_problem(&probs, "too many problems"));
    assert_false(f.sound);
    ova_vlist_free(&probs);
    ova_buf_free(&s);

    /* a list keeps at most OVA_VALIDATE_MAX_PROBLEMS lines but counts all; control characters are masked */
    ova_vlist l = { OVA_BUF_INIT, 0, 0 };
    for (unsigned i = 0; i < OVA_VALIDATE_MAX_PROBLEMS + 5; i++)
        ova_vlist_add(&l, "bad\nname", "problem %u", i);
    assert_int_equal(l.kept, OVA_VALIDATE_MAX_PROBLEMS);
    assert_int_equal(l.count, OVA_VALIDATE_MAX_PROBLEMS + 5);
    size_t pos = 0, len;
    const char *line = ova_vlist_next(&l, &pos, &len);
    assert_non_null(line);
    assert_int_equal(len, strlen("bad?name: problem 0"));
    assert_memory_equal(line, "bad?name: problem 0", len);
    ova_vlist_free(&l);
}

/* ---- the deep pass ---- */

static int temp_file(const void *data, size_t len, char *path)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 4096, "%s/ovatool-test-validate.XXXXXX", dir && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    return fd;
}

static ova_vdisk vdisk_of(const ova_buf *s, const ova_vmdk_facts *f)
{
    ova_vdisk d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "t-disk1.vmdk");
    d.offset = 0;
    d.size = s->len;
    d.capacity = f->capacity;
    d.gd_sector = f->gd_sector;
    d.n_gds = f->n_gds;
    d.grains = f->grains;
    d.sound = f->sound;
    return d;
}

static void test_deep(void **state)
{
    (void)state;
    ova_buf s = OVA_BUF_INIT;
    build_stream(STD_CAP, STD_GRAINS, STD_N, 513, &s);
    /* flip a byte in the middle of grain 5's compressed data */
    size_t at = marker_at(&s, 2);
    s.data[at + OVA_GRAIN_MARKER_SIZE + ova_get_le32((unsigned char *)s.data + at + 8) / 2] ^= 0x20;

    ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
    ova_vmdk_facts f;
    walk((unsigned char *)s.data, s.len, 65536, &probs, &f);
    assert_int_equal(probs.count, 0); /* structure is fine */
    ova_vlist_free(&probs);
    ova_vdisk d = vdisk_of(&s, &f);
    char path[4096];
    int fd = temp_file(s.data, s.len, path);
    ova_err err;
    ova_err_clear(&err);

    /* one rank */
    ova_deep_result r1 = { 0 };
    assert_int_equal(ova_validate_deep_disk(fd, &d, 0, 0, 1, &r1, &err), OVA_OK);
    assert_int_equal(r1.inflated, STD_N);
    assert_int_equal(r1.count, 2);
    assert_int_equal(r1.n, 2);
    assert_int_equal(r1.probs[0].lba, 5 * 128);
    assert_non_null(strstr(r1.probs[1].text, "t-disk1.vmdk: grain at LBA 65664"));
    assert_non_null(strstr(r1.probs[1].text, "inflates to 1000 bytes, not 65536"));

    /* three ranks (disk index 4, to see it kept): the same problems once merged */
    ova_deep_problem all[3 * OVA_VALIDATE_MAX_DEEP];
    size_t n_all = 0;
    uint64_t count = 0, inflated = 0;
    for (unsigned rank = 3; rank-- > 0;) {
        ova_deep_result r = { 0 };
        assert_int_equal(ova_validate_deep_disk(fd, &d, 4, rank, 3, &r, &err), OVA_OK);
        memcpy(all + n_all, r.probs, r.n * sizeof *r.probs);
        n_all += r.n;
        count += r.count;
        inflated += r.inflated;
        ova_deep_result_free(&r);
    }
    assert_int_equal(inflated, STD_N);
    ova_validation v;
    ova_validation_init(&v);
    ova_validate_merge_deep(&v, all, n_all, count, inflated);
    assert_int_equal(v.problems.count, 2);
    assert_true(v.deep);
    size_t pos = 0, len;
    const char *line = ova_vlist_next(&v.problems, &pos, &len);
    assert_non_null(line);
    assert_memory_equal(line, r1.probs[0].text, len);
    line = ova_vlist_next(&v.problems, &pos, &len);
    assert_memory_equal(line, r1.probs[1].text, len);
    ova_validation_free(&v);
    ova_deep_result_free(&r1);

    /* an unsound disk is skipped */
    d.sound = 0;
    ova_deep_result r0 = { 0 };
    assert_int_equal(ova_validate_deep_disk(fd, &d, 0, 0, 1, &r0, &err), OVA_OK);
    assert_int_equal(r0.inflated, 0);
    ova_deep_result_free(&r0);
    close(fd);
    unlink(path);
    ova_buf_free(&s);
}

/* ---- the header-GD layout (open-vmdk, qemu-img; docs/formats.md 3.12) ---- */

/* A stream as open-vmdk writes it: header gdOffset 21, GD, every GT, grains
 * from overHead (the end of the GTs), EOS; no footer. tail_zero sectors of
 * zeros follow the EOS (qemu-img's padding). */
#define MF_GD 21u
static void build_meta_stream(uint64_t capacity, const uint64_t *grains, size_t n, unsigned tail_zero, ova_buf *out)
{
    ova_buf v = OVA_BUF_INIT;
    build_stream(capacity, grains, n, UINT64_MAX, &v); /* for its header and descriptor */
    uint64_t n_gts = ova_stream_gts(capacity), gd_sectors = (n_gts * 4 + OVA_SECTOR - 1) / OVA_SECTOR;
    uint64_t gt0 = MF_GD + gd_sectors, overhead = gt0 + 4 * n_gts;
    ova_buf_reset(out);
    ova_buf_fill(out, 0, (size_t)overhead * OVA_SECTOR);
    assert_false(ova_buf_failed(out));
    memcpy(out->data, v.data, 21 * OVA_SECTOR);
    unsigned char *h = (unsigned char *)out->data;
    ova_put_le64(h + 56, MF_GD);
    ova_put_le64(h + 64, overhead);
    unsigned char *rec = malloc(ova_grain_record_max());
    assert_non_null(rec);
    for (uint64_t t = 0; t < n_gts; t++)
        ova_put_le32((unsigned char *)out->data + MF_GD * OVA_SECTOR + 4 * t, (uint32_t)(gt0 + 4 * t));
    for (size_t i = 0; i < n; i++) {
        uint64_t sector = out->len / OVA_SECTOR;
        ova_put_le32((unsigned char *)out->data + gt0 * OVA_SECTOR + 4 * grains[i], (uint32_t)sector);
        size_t len = grain_record(grains[i], OVA_GRAIN_SIZE, rec);
        ova_buf_append(out, rec, len);
    }
    ova_buf_fill(out, 0, OVA_SECTOR * (1 + (size_t)tail_zero)); /* EOS, then the padding */
    assert_false(ova_buf_failed(out));
    free(rec);
    ova_buf_free(&v);
}

static void meta_std(ova_buf *s) { build_meta_stream(STD_CAP, STD_GRAINS, STD_N, 0, s); }
/* sector of GT t and of the first grain in meta_std */
#define MF_GT(t) ((size_t)(MF_GD + 1 + 4 * (t)) * OVA_SECTOR)
#define MF_OVERHEAD ((size_t)(MF_GD + 1 + 8) * OVA_SECTOR)

static void test_walk_meta_first(void **state)
{
    (void)state;
    ova_buf s = OVA_BUF_INIT;
    meta_std(&s);
    size_t chunks[] = { 1, 7, 511, 512, 4096, 1 << 20 };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
        ova_vmdk_facts f;
        walk((unsigned char *)s.data, s.len, chunks[i], &probs, &f);
        if (probs.count != 0) {
            dump(&probs);
            fail_msg("chunk %zu: %llu problems in open-vmdk's layout", chunks[i], (unsigned long long)probs.count);
        }
        assert_true(f.sound);
        assert_true(f.gd_in_header);
        assert_int_equal(f.gd_sector, MF_GD);
        assert_int_equal(f.grains, STD_N);
        assert_int_equal(f.zero_tail, 0);
        assert_int_equal(f.eos_sector, s.len / OVA_SECTOR - 1);
        ova_vlist_free(&probs);
    }

    /* the deep pass reads its tables through the header's gdOffset */
    ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
    ova_vmdk_facts f;
    walk((unsigned char *)s.data, s.len, 65536, &probs, &f);
    ova_vdisk d = vdisk_of(&s, &f);
    char path[4096];
    int fd = temp_file(s.data, s.len, path);
    ova_err err;
    ova_err_clear(&err);
    ova_deep_result r = { 0 };
    assert_int_equal(ova_validate_deep_disk(fd, &d, 0, 0, 1, &r, &err), OVA_OK);
    assert_int_equal(r.inflated, STD_N);
    assert_int_equal(r.count, 0);
    ova_deep_result_free(&r);
    close(fd);
    unlink(path);
    ova_vlist_free(&probs);

    /* qemu-img's padding after the EOS: sound, the zeros counted for the driver's risk */
    build_meta_stream(STD_CAP, STD_GRAINS, STD_N, 126, &s);
    walk((unsigned char *)s.data, s.len, 4096, &probs, &f);
    dump(&probs);
    assert_int_equal(probs.count, 0);
    assert_true(f.sound);
    assert_int_equal(f.zero_tail, 126 * OVA_SECTOR);
    assert_int_equal(f.eos_sector, s.len / OVA_SECTOR - 127);
    ova_vlist_free(&probs);

    /* an empty disk with its EOS is sound; without it (qemu-img's) it is not */
    build_meta_stream(4 * MIB, NULL, 0, 0, &s);
    walk((unsigned char *)s.data, s.len, 4096, &probs, &f);
    dump(&probs);
    assert_int_equal(probs.count, 0);
    assert_true(f.sound);
    ova_vlist_free(&probs);
    s.len -= OVA_SECTOR;
    walk((unsigned char *)s.data, s.len, 4096, &probs, &f);
    assert_true(has_problem(&probs, "no end-of-stream marker after the last grain: ESXi"));
    assert_false(f.sound);
    ova_vlist_free(&probs);
    ova_buf_free(&s);
}

static void mf_drop_eos(ova_buf *s) { s->len -= OVA_SECTOR; }
static void mf_tail_junk(ova_buf *s)
{
    ova_buf_fill(s, 0, 2 * OVA_SECTOR);
    s->data[s->len - 100] = 1;
}
static void mf_gte_out(ova_buf *s) { ova_put_le32((unsigned char *)s->data + MF_GT(0), 99999999); }
static void mf_gte_meta(ova_buf *s) { ova_put_le32((unsigned char *)s->data + MF_GT(0) + 4, 3); }
static void mf_gte_wrong(ova_buf *s) { ova_put_le32((unsigned char *)s->data + MF_GT(1), 0); }
static void mf_gte_extra(ova_buf *s) { ova_put_le32((unsigned char *)s->data + MF_GT(0) + 8, (uint32_t)(MF_OVERHEAD / OVA_SECTOR)); }
static void mf_gde_zero(ova_buf *s) { ova_put_le32((unsigned char *)s->data + MF_GD * OVA_SECTOR + 4, 0); }
static void mf_gde_out(ova_buf *s) { ova_put_le32((unsigned char *)s->data + MF_GD * OVA_SECTOR, 5000000); }
static void mf_gde_grains(ova_buf *s) { ova_put_le32((unsigned char *)s->data + MF_GD * OVA_SECTOR, (uint32_t)(MF_OVERHEAD / OVA_SECTOR)); }
static void mf_gde_desc(ova_buf *s) { ova_put_le32((unsigned char *)s->data + MF_GD * OVA_SECTOR, 2); }
static void mf_gd_late(ova_buf *s) { ova_put_le64((unsigned char *)s->data + 56, MF_OVERHEAD / OVA_SECTOR); }
static void mf_marker(ova_buf *s)
{
    /* a GT marker and table between the last grain and the EOS */
    s->len -= OVA_SECTOR;
    unsigned char m[OVA_SECTOR] = { 0 };
    ova_put_le64(m, 4);
    ova_put_le32(m + 12, 1);
    ova_buf_append(s, m, sizeof m);
    ova_buf_fill(s, 0, 5 * OVA_SECTOR);
}

static void test_walk_meta_first_defects(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        mutate_fn fn;
        const char *want;
    } cases[] = {
        { "drop EOS", mf_drop_eos, "no end-of-stream marker after the last grain" },
        { "data after EOS", mf_tail_junk, "is not the last sector: non-zero data" },
        { "GT entry past the end", mf_gte_out, "grain table of group 0 (sector 22): 1 entries point outside the grains" },
        { "GT entry into the metadata", mf_gte_meta, "entries point outside the grains" },
        { "GT entry missing", mf_gte_wrong, "grain table of group 1 (sector 26) disagrees with the grain markers" },
        { "GT entry without a grain", mf_gte_extra, "disagrees with the grain markers" },
        { "GD entry 0", mf_gde_zero, "grains of grain-table group 1 have no grain table" },
        { "GD entry past the end", mf_gde_out, "entry 0 is 5000000, past the end of the disk" },
        { "GD entry among the grains", mf_gde_grains, "among the grains" },
        { "GD entry onto the descriptor", mf_gde_desc, "onto the header, the embedded descriptor" },
        { "GD after overHead", mf_gd_late, "does not end before the first grain" },
        { "metadata marker", mf_marker, "grain-table marker at sector" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ova_buf s = OVA_BUF_INIT;
        meta_std(&s);
        cases[i].fn(&s);
        for (size_t chunk = 7; chunk <= 4096; chunk *= 585) {
            ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
            ova_vmdk_facts f;
            walk((unsigned char *)s.data, s.len, chunk, &probs, &f);
            if (getenv("VALIDATE_TEST_DUMP")) {
                print_message("%s:\n", cases[i].what);
                dump(&probs);
            }
            if (!has_problem(&probs, cases[i].want)) {
                dump(&probs);
                fail_msg("%s: no problem containing \"%s\"", cases[i].what, cases[i].want);
            }
            assert_false(f.sound);
            ova_vlist_free(&probs);
        }
        ova_buf_free(&s);
    }
}

/* Risks and notes reach the result, and the verdict follows the target. */
static void test_levels(void **state)
{
    (void)state;
    unsigned m = 99;
    assert_true(ova_importer_parse("esxi", &m));
    assert_int_equal(m, OVA_IMPORTER_ESXI);
    assert_true(ova_importer_parse("any", &m));
    assert_int_equal(m, 0);
    assert_false(ova_importer_parse("ESX", &m));
    ova_validation v;
    ova_validation_init(&v);
    assert_true(ova_validation_passes(&v, OVA_IMPORTER_ESXI, true));
    ova_validation_risk(&v, OVA_IMPORTER_WORKSTATION, "d.vmdk", "trailing %s", "zeros");
    assert_true(ova_validation_ok(&v));
    assert_true(ova_validation_passes(&v, 0, false));
    assert_true(ova_validation_passes(&v, OVA_IMPORTER_ESXI, false));
    assert_false(ova_validation_passes(&v, OVA_IMPORTER_WORKSTATION, false));
    assert_false(ova_validation_passes(&v, 0, true));
    assert_true(has_problem(&v.risks, "d.vmdk: [Workstation/Fusion] trailing zeros"));
    ova_vlist_add(&v.problems, "x", "bad");
    assert_false(ova_validation_passes(&v, 0, false));
    ova_validation_free(&v);
}

static void test_merge_cap(void **state)
{
    (void)state;
    /* problems from "ranks" in any order come out sorted by disk and LBA, capped */
    size_t n = OVA_VALIDATE_MAX_DEEP + 50;
    ova_deep_problem *p = calloc(n, sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        p[i].disk = i % 2;
        p[i].lba = (uint64_t)(n - i) * 128;
        snprintf(p[i].text, sizeof p[i].text, "d%llu: lba %llu", (unsigned long long)p[i].disk,
                 (unsigned long long)p[i].lba);
    }
    ova_validation v;
    ova_validation_init(&v);
    ova_validate_merge_deep(&v, p, n, n + 7, 99);
    assert_int_equal(v.problems.kept, OVA_VALIDATE_MAX_DEEP);
    assert_int_equal(v.problems.count, n + 7);
    assert_int_equal(v.grains_inflated, 99);
    size_t pos = 0, len;
    const char *line = ova_vlist_next(&v.problems, &pos, &len);
    assert_memory_equal(line, "d0: lba 256\n", len + 1);
    ova_validation_free(&v);
    free(p);
}

/* ---- whole OVAs ---- */

typedef struct part {
    const char *name;
    const char *data;
    size_t len;
} part;

static void rechecksum(unsigned char *h)
{
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

/* Tar the parts; hook may edit each header (index, header). */
static void tar_parts(const part *p, size_t n, bool end, void (*hook)(size_t, unsigned char *), ova_buf *out)
{
    ova_buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        unsigned char h[512];
        ova_err err;
        ova_err_clear(&err);
        assert_int_equal(ova_tar_header(h, p[i].name, p[i].len, 0, &err), OVA_OK);
        if (hook)
            hook(i, h);
        ova_buf_append(out, h, sizeof h);
        ova_buf_append(out, p[i].data, p[i].len);
        ova_buf_fill(out, 0, (size_t)ova_tar_padding(p[i].len));
    }
    if (end)
        ova_buf_fill(out, 0, 1024);
}

static void sha256_hex(const void *d, size_t n, char *hex)
{
    unsigned char md[32];
    unsigned int l = 0;
    assert_int_equal(EVP_Digest(d, n, md, &l, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
}

typedef struct ova_case {
    const char *ovf_tpl;        /* %llu file size, %llu capacity */
    uint64_t ovf_capacity;
    bool mf_skip_disk;
    bool end;
    void (*hook)(size_t, unsigned char *);
    const char *extra;          /* bytes appended after the archive */
} ova_case;

static const char OVF_OK[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\">\n"
    "  <References>\n"
    "    <File ovf:href=\"t-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"%llu\"/>\n"
    "  </References>\n"
    "  <DiskSection>\n"
    "    <Info>Virtual disk information</Info>\n"
    "    <Disk ovf:capacity=\"%llu\" ovf:capacityAllocationUnits=\"byte\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" "
    "ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>\n"
    "  </DiskSection>\n"
    "  <VirtualSystem ovf:id=\"vm\">\n"
    "    <Info>A virtual machine</Info>\n"
    "  </VirtualSystem>\n"
    "</Envelope>\n";

/* The template with its two "%llu" replaced by size and capacity (by hand:
 * -Wformat-nonliteral forbids a variable format). */
static void fill_template(const char *tpl, uint64_t size, uint64_t cap, ova_buf *out)
{
    uint64_t vals[2] = { size, cap };
    unsigned k = 0;
    for (const char *p = tpl; *p; p++) {
        if (strncmp(p, "%llu", 4) == 0 && k < 2) {
            ova_buf_printf(out, "%llu", (unsigned long long)vals[k++]);
            p += 3;
        } else {
            ova_buf_putc(out, *p);
        }
    }
}

/* Build the OVA of c around the standard disk, validate it, return v. */
static ova_status run_case(const ova_case *c, bool deep, ova_validation *v)
{
    ova_buf disk = OVA_BUF_INIT, ovf = OVA_BUF_INIT, mf = OVA_BUF_INIT, ova = OVA_BUF_INIT;
    std_stream(&disk);
    fill_template(c->ovf_tpl, disk.len, c->ovf_capacity, &ovf);
    char hex[65];
    sha256_hex(ovf.data, ovf.len, hex);
    ova_buf_printf(&mf, "SHA256(t.ovf)= %s\n", hex);
    if (!c->mf_skip_disk) {
        sha256_hex(disk.data, disk.len, hex);
        ova_buf_printf(&mf, "SHA256(t-disk1.vmdk)= %s\n", hex);
    }
    part parts[] = { { "t.ovf", ovf.data, ovf.len }, { "t.mf", mf.data, mf.len }, { "t-disk1.vmdk", disk.data, disk.len } };
    tar_parts(parts, 3, c->end, c->hook, &ova);
    if (c->extra)
        ova_buf_puts(&ova, c->extra);
    char path[4096];
    int fd = temp_file(ova.data, ova.len, path);
    close(fd);
    ova_validate_opts o;
    memset(&o, 0, sizeof o);
    o.schema_dir = OVATOOL_SCHEMA_DIR;
    o.deep = deep;
    ova_validation_init(v);
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_validate_file(path, &o, v, &err);
    unlink(path);
    ova_buf_free(&disk);
    ova_buf_free(&ovf);
    ova_buf_free(&mf);
    ova_buf_free(&ova);
    return st;
}

static void test_ova_valid(void **state)
{
    (void)state;
    ova_case c = { OVF_OK, STD_CAP, false, true, NULL, NULL };
    ova_validation v;
    assert_int_equal(run_case(&c, true, &v), OVA_OK);
    dump(&v.problems);
    assert_true(ova_validation_ok(&v));
    assert_int_equal(v.n_members, 3);
    assert_int_equal(v.n_disks, 1);
    assert_int_equal(v.grains, STD_N);
    assert_int_equal(v.grains_inflated, STD_N);
    assert_true(v.schema_checked);
    ova_validation_free(&v);
}

static void h_pax(size_t i, unsigned char *h)
{
    if (i == 2) {
        h[156] = 'x';
        rechecksum(h);
    }
}
static void h_sparse(size_t i, unsigned char *h)
{
    if (i == 2) {
        h[156] = 'S';
        rechecksum(h);
    }
}
static void h_slash(size_t i, unsigned char *h)
{
    if (i == 2) {
        memcpy(h, "d/t-disk1.vmdk", 15);
        rechecksum(h);
    }
}
static void h_badsum(size_t i, unsigned char *h)
{
    if (i == 1)
        h[0] ^= 1;
}
static void h_base256(size_t i, unsigned char *h)
{
    if (i == 2) {
        uint64_t size;
        assert_true(ova_tar_parse_size(h, &size));
        memset(h + 124, 0, 12);
        h[124] = 0x80;
        for (int k = 11; k >= 1; k--, size >>= 8)
            h[124 + k] = (unsigned char)size;
        rechecksum(h);
    }
}

static void test_ova_defects(void **state)
{
    (void)state;
    static const char OVF_NO_INFO[] =
        "<?xml version=\"1.0\"?>\n"
        "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\">\n"
        "<References><File ovf:href=\"t-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"%llu\"/></References>\n"
        "<DiskSection><Disk ovf:capacity=\"%llu\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" ovf:format=\"x\"/>"
        "</DiskSection>\n<VirtualSystem ovf:id=\"vm\"><Info>x</Info></VirtualSystem></Envelope>\n";
    static const char OVF_BAD_REF[] =
        "<?xml version=\"1.0\"?>\n"
        "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\">\n"
        "<References><File ovf:href=\"t-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"%llu\"/></References>\n"
        "<DiskSection><Info>d</Info><Disk ovf:capacity=\"%llu\" ovf:capacityAllocationUnits=\"byte * 2^20\" "
        "ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file9\" ovf:format=\"x\"/>"
        "</DiskSection>\n<VirtualSystem ovf:id=\"vm\"><Info>x</Info></VirtualSystem></Envelope>\n";
    static const char OVF_UNITS[] =
        "<?xml version=\"1.0\"?>\n"
        "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\">\n"
        "<References><File ovf:href=\"t-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"%llu\"/></References>\n"
        "<DiskSection><Info>d</Info><Disk ovf:capacity=\"%llu\" ovf:capacityAllocationUnits=\"byte * 2^20\" "
        "ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" ovf:format=\"x\"/>"
        "</DiskSection>\n<VirtualSystem ovf:id=\"vm\"><Info>x</Info></VirtualSystem></Envelope>\n";
    static const char OVF_BROKEN[] = "<?xml version=\"1.0\"?>\n<Envelope><References>%llu %llu</Envelope>\n";
    static const char OVF_WRONG_ROOT[] = "<?xml version=\"1.0\"?>\n<Envelope a=\"%llu\" b=\"%llu\"/>\n";

    const struct {
        const char *what;
        ova_case c;
        const char *want;
    } cases[] = {
        { "capacity too small", { OVF_OK, 32 * MIB, false, true, NULL, NULL }, "less than the 34603520 bytes" },
        { "capacity in MiB too small", { OVF_UNITS, 33, false, true, NULL, NULL }, "ovf:capacity is 34603008 bytes" },
        { "fileRef", { OVF_BAD_REF, 34, false, true, NULL, NULL }, "ovf:fileRef file9 names no References/File" },
        { "schema", { OVF_NO_INFO, STD_CAP, false, true, NULL, NULL },
          "schema: Element '{http://schemas.dmtf.org/ovf/envelope/1}Disk'" },
        { "not well-formed", { OVF_BROKEN, 0, false, true, NULL, NULL }, "not well-formed XML" },
        { "wrong root", { OVF_WRONG_ROOT, 0, false, true, NULL, NULL }, "not an OVF 1.x Envelope" },
        { "manifest line missing", { OVF_OK, STD_CAP, true, true, NULL, NULL },
          "t-disk1.vmdk: not listed in the manifest t.mf" },
        { "PAX", { OVF_OK, STD_CAP, false, true, h_pax, NULL }, "PAX extended header" },
        { "slash", { OVF_OK, STD_CAP, false, true, h_slash, NULL }, "contains '/'" },
        { "GNU sparse", { OVF_OK, STD_CAP, false, true, h_sparse, NULL }, "GNU sparse member (tar type 'S'" },
        { "bad checksum", { OVF_OK, STD_CAP, false, true, h_badsum, NULL }, "bad checksum" },
        { "no end blocks", { OVF_OK, STD_CAP, false, false, NULL, NULL }, "no end-of-archive blocks" },
        { "trailing data", { OVF_OK, STD_CAP, false, true, NULL, "junk" }, "non-zero data after the end-of-archive" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ova_validation v;
        assert_int_equal(run_case(&cases[i].c, false, &v), OVA_OK);
        if (getenv("VALIDATE_TEST_DUMP")) {
            print_message("%s:\n", cases[i].what);
            dump(&v.problems);
        }
        if (ova_validation_ok(&v) || !has_problem(&v.problems, cases[i].want)) {
            dump(&v.problems);
            fail_msg("%s: no problem containing \"%s\"", cases[i].what, cases[i].want);
        }
        ova_validation_free(&v);
    }

    /* base-256 sizes are fine, and a MiB capacity that covers the disk too */
    ova_case ok256 = { OVF_OK, STD_CAP, false, true, h_base256, NULL };
    ova_validation v;
    assert_int_equal(run_case(&ok256, false, &v), OVA_OK);
    dump(&v.problems);
    assert_true(ova_validation_ok(&v));
    ova_validation_free(&v);
    ova_case units = { OVF_UNITS, 34, false, true, NULL, NULL };
    assert_int_equal(run_case(&units, false, &v), OVA_OK);
    dump(&v.problems);
    assert_true(ova_validation_ok(&v));
    ova_validation_free(&v);
}

/* An OVF with n extra References/File entries (none of them a member) and
 * as many Disks pointing at them, plus one repeated href, one repeated id
 * and one dangling fileRef. Every entry is looked up by href and by id:
 * once a scan per entry (quadratic: 80k entries took 32 s), now an index.
 * The result must be exact; the time is printed, and bounded only far above
 * what the indexed lookups take. VALIDATE_TEST_REFS=N changes the size. */
static void build_many_refs(size_t n, uint64_t disk_size, ova_buf *ovf)
{
    ova_buf_puts(ovf, "<?xml version=\"1.0\"?>\n<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "
                      "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\">\n<References>\n");
    ova_buf_printf(ovf, "<File ovf:href=\"t-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"%llu\"/>\n",
                   (unsigned long long)disk_size);
    for (size_t i = 1; i <= n; i++) {
        ova_buf_printf(ovf, "<File ovf:href=\"x%06zu.vmdk\" ovf:id=\"f%zu\" ovf:size=\"1\"/>\n", i, i);
        if (i == 8) /* the same href as entry 5 and the same id as entry 7 */
            ova_buf_puts(ovf, "<File ovf:href=\"x000005.vmdk\" ovf:id=\"f7\" ovf:size=\"1\"/>\n");
    }
    ova_buf_puts(ovf, "</References>\n<DiskSection><Info>d</Info>\n");
    ova_buf_printf(ovf, "<Disk ovf:capacity=\"%llu\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" ovf:format=\"x\"/>\n",
                   (unsigned long long)STD_CAP);
    for (size_t i = 1; i <= n; i++)
        ova_buf_printf(ovf, "<Disk ovf:capacity=\"1\" ovf:diskId=\"d%zu\" ovf:fileRef=\"f%zu\" ovf:format=\"x\"/>\n", i,
                       i);
    ova_buf_puts(ovf, "<Disk ovf:capacity=\"1\" ovf:diskId=\"dz\" ovf:fileRef=\"nope\" ovf:format=\"x\"/>\n");
    ova_buf_puts(ovf, "</DiskSection>\n<VirtualSystem ovf:id=\"vm\"><Info>x</Info></VirtualSystem></Envelope>\n");
}

/* Validate the OVA of these parts (no deep pass). */
static ova_status run_parts(const part *parts, size_t n, ova_validation *v)
{
    ova_buf ova = OVA_BUF_INIT;
    tar_parts(parts, n, true, NULL, &ova);
    assert_false(ova_buf_failed(&ova));
    char path[4096];
    int fd = temp_file(ova.data, ova.len, path);
    close(fd);
    ova_validate_opts o;
    memset(&o, 0, sizeof o);
    o.schema_dir = OVATOOL_SCHEMA_DIR;
    ova_validation_init(v);
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_validate_file(path, &o, v, &err);
    if (st != OVA_OK)
        print_message("validate: %s\n", err.msg);
    unlink(path);
    ova_buf_free(&ova);
    return st;
}

/* Validate an OVA of t.ovf (ovf), t.mf and the standard disk. */
static ova_status run_ovf(const ova_buf *ovf, ova_validation *v)
{
    ova_buf disk = OVA_BUF_INIT, mf = OVA_BUF_INIT;
    std_stream(&disk);
    char hex[65];
    sha256_hex(ovf->data, ovf->len, hex);
    ova_buf_printf(&mf, "SHA256(t.ovf)= %s\n", hex);
    sha256_hex(disk.data, disk.len, hex);
    ova_buf_printf(&mf, "SHA256(t-disk1.vmdk)= %s\n", hex);
    part parts[] = { { "t.ovf", ovf->data, ovf->len }, { "t.mf", mf.data, mf.len }, { "t-disk1.vmdk", disk.data, disk.len } };
    ova_status st = run_parts(parts, 3, v);
    ova_buf_free(&disk);
    ova_buf_free(&mf);
    return st;
}

static double mono_secs(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Validate the OVA of build_many_refs(n); returns the seconds it took. */
static double many_refs(size_t n, ova_validation *v)
{
    ova_buf disk = OVA_BUF_INIT, ovf = OVA_BUF_INIT;
    std_stream(&disk);
    build_many_refs(n, disk.len, &ovf);
    ova_buf_free(&disk);
    assert_false(ova_buf_failed(&ovf));
    double t0 = mono_secs();
    assert_int_equal(run_ovf(&ovf, v), OVA_OK);
    double secs = mono_secs() - t0;
    print_message("validate: %zu References/File and %zu Disk entries (%.1f MiB of OVF) in %.2f s\n", n + 2, n + 2,
                  (double)ovf.len / 1048576.0, secs);
    if (getenv("VALIDATE_TEST_DUMP"))
        dump(&v->problems);
    ova_buf_free(&ovf);
    return secs;
}

static void test_ova_many_references(void **state)
{
    (void)state;
    /* n + 1 hrefs that are no member, the repeated href, the repeated id,
     * the dangling fileRef: each exactly once */
    ova_validation v;
    many_refs(10, &v);
    assert_int_equal(v.problems.count, 10 + 4);
    assert_true(has_problem(&v.problems, "t.ovf: References/File x000001.vmdk is not a member of the archive"));
    assert_true(has_problem(&v.problems, "t.ovf: References name x000005.vmdk twice"));
    assert_true(has_problem(&v.problems, "t.ovf: References use ovf:id f7 twice"));
    assert_true(has_problem(&v.problems, "t.ovf: Disk dz: ovf:fileRef nope names no References/File"));
    assert_true(v.schema_checked);
    ova_validation_free(&v);

    const char *env = getenv("VALIDATE_TEST_REFS");
    size_t n = env && *env ? (size_t)strtoull(env, NULL, 10) : 100000;
    double secs = many_refs(n, &v);
    /* with the index 3 s here (11 s with ASan), with the scans it replaced
     * 87 s: the bound fails only on the quadratic */
    if (n <= 100000 && secs > 60.0)
        fail_msg("%zu References took %.1f s: lookups are not indexed", n, secs);
    assert_int_equal(v.problems.count, n + 4);
    assert_int_equal(v.problems.kept, OVA_VALIDATE_MAX_PROBLEMS);
    assert_true(has_problem(&v.problems, "t.ovf: References name x000005.vmdk twice"));
    assert_true(has_problem(&v.problems, "t.ovf: References use ovf:id f7 twice"));
    assert_true(v.schema_checked);
    ova_validation_free(&v);
}

/* The resource bounds of validate.h: each exceeded is one clear problem. */
static void test_ova_limits(void **state)
{
    (void)state;
    ova_buf disk = OVA_BUF_INIT, ovf = OVA_BUF_INIT, mf = OVA_BUF_INIT, big = OVA_BUF_INIT;
    std_stream(&disk);
    fill_template(OVF_OK, disk.len, STD_CAP, &ovf);
    char hex_ovf[65], hex_disk[65];
    sha256_hex(ovf.data, ovf.len, hex_ovf);
    sha256_hex(disk.data, disk.len, hex_disk);
    ova_validation v;

    /* a manifest line longer than OVA_VALIDATE_MAX_MF_LINE */
    ova_buf_printf(&mf, "SHA256(t.ovf)= %s\nSHA256(", hex_ovf);
    ova_buf_fill(&mf, 'a', OVA_VALIDATE_MAX_MF_LINE);
    ova_buf_printf(&mf, ")= %s\n", hex_disk);
    part p1[] = { { "t.ovf", ovf.data, ovf.len }, { "t.mf", mf.data, mf.len }, { "t-disk1.vmdk", disk.data, disk.len } };
    assert_int_equal(run_parts(p1, 3, &v), OVA_OK);
    dump(&v.problems);
    char want[128];
    snprintf(want, sizeof want, "t.mf: line 2 is %u bytes long, over the limit of %u; not parsed",
             OVA_VALIDATE_MAX_MF_LINE + 3 + 7 + 64, OVA_VALIDATE_MAX_MF_LINE);
    assert_true(has_problem(&v.problems, want));
    ova_validation_free(&v);

    /* more manifest lines than OVA_VALIDATE_MAX_MF_LINES: the first
     * MAX - 2 empty ones are problems, then one line says the rest is not read */
    ova_buf_reset(&mf);
    ova_buf_printf(&mf, "SHA256(t.ovf)= %s\nSHA256(t-disk1.vmdk)= %s\n", hex_ovf, hex_disk);
    ova_buf_fill(&mf, '\n', OVA_VALIDATE_MAX_MF_LINES + 100);
    part p2[] = { { "t.ovf", ovf.data, ovf.len }, { "t.mf", mf.data, mf.len }, { "t-disk1.vmdk", disk.data, disk.len } };
    assert_int_equal(run_parts(p2, 3, &v), OVA_OK);
    assert_int_equal(v.problems.count, OVA_VALIDATE_MAX_MF_LINES - 2 + 1);
    assert_true(has_problem(&v.problems, "t.mf: line 3 is empty"));
    ova_validation_free(&v);

    /* a manifest over OVA_VALIDATE_MAX_MF_BYTES */
    ova_buf_reset(&mf);
    ova_buf_printf(&mf, "SHA256(t.ovf)= %s\nSHA256(t-disk1.vmdk)= %s\n", hex_ovf, hex_disk);
    ova_buf_fill(&mf, '\n', (size_t)OVA_VALIDATE_MAX_MF_BYTES + 1 - mf.len);
    part p3[] = { { "t.ovf", ovf.data, ovf.len }, { "t.mf", mf.data, mf.len }, { "t-disk1.vmdk", disk.data, disk.len } };
    assert_int_equal(run_parts(p3, 3, &v), OVA_OK);
    snprintf(want, sizeof want, "t.mf: manifest of %llu bytes is larger than the limit of %llu bytes; not checked",
             (unsigned long long)OVA_VALIDATE_MAX_MF_BYTES + 1, (unsigned long long)OVA_VALIDATE_MAX_MF_BYTES);
    assert_true(has_problem(&v.problems, want));
    ova_validation_free(&v);

    /* an OVF over OVA_VALIDATE_MAX_OVF_BYTES (blanks after the document) */
    ova_buf_append(&big, ovf.data, ovf.len);
    ova_buf_fill(&big, ' ', (size_t)OVA_VALIDATE_MAX_OVF_BYTES + 1 - ovf.len);
    assert_false(ova_buf_failed(&big));
    ova_buf_reset(&mf);
    sha256_hex(big.data, big.len, hex_ovf);
    ova_buf_printf(&mf, "SHA256(t.ovf)= %s\nSHA256(t-disk1.vmdk)= %s\n", hex_ovf, hex_disk);
    part p4[] = { { "t.ovf", big.data, big.len }, { "t.mf", mf.data, mf.len }, { "t-disk1.vmdk", disk.data, disk.len } };
    assert_int_equal(run_parts(p4, 3, &v), OVA_OK);
    dump(&v.problems);
    snprintf(want, sizeof want, "t.ovf: descriptor of %llu bytes is larger than the limit of %llu bytes; not parsed",
             (unsigned long long)OVA_VALIDATE_MAX_OVF_BYTES + 1, (unsigned long long)OVA_VALIDATE_MAX_OVF_BYTES);
    assert_true(has_problem(&v.problems, want));
    assert_int_equal(v.problems.count, 1);
    ova_validation_free(&v);
    ova_buf_free(&big);

    /* more members than OVA_VALIDATE_MAX_MEMBERS */
    size_t nm = OVA_VALIDATE_MAX_MEMBERS + 1;
    part *pm = calloc(nm, sizeof *pm);
    char (*names)[16] = calloc(nm, sizeof *names);
    assert_non_null(pm);
    assert_non_null(names);
    pm[0] = (part){ "t.ovf", ovf.data, ovf.len };
    pm[1] = (part){ "t.mf", mf.data, mf.len };
    for (size_t i = 2; i < nm; i++) {
        snprintf(names[i], sizeof names[i], "f%05zu", i);
        pm[i] = (part){ names[i], "x", 1 };
    }
    assert_int_equal(run_parts(pm, nm, &v), OVA_OK);
    assert_int_equal(v.n_members, OVA_VALIDATE_MAX_MEMBERS);
    snprintf(want, sizeof want, "more than %u members (the limit); the rest is not checked", OVA_VALIDATE_MAX_MEMBERS);
    assert_true(has_problem(&v.problems, want));
    ova_validation_free(&v);
    free(pm);
    free(names);

    ova_buf_free(&disk);
    ova_buf_free(&ovf);
    ova_buf_free(&mf);
}

static void test_ova_missing(void **state)
{
    (void)state;
    ova_validate_opts o;
    memset(&o, 0, sizeof o);
    ova_validation v;
    ova_validation_init(&v);
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_validate_file("/nonexistent/x.ova", &o, &v, &err), OVA_E_IO);
    assert_non_null(strstr(err.msg, "cannot open"));
    ova_validation_free(&v);
}

static int teardown(void **state)
{
    (void)state;
    ova_validate_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_lines),
        cmocka_unit_test(test_walk_valid),
        cmocka_unit_test(test_walk_sparse_groups),
        cmocka_unit_test(test_walk_defects),
        cmocka_unit_test(test_walk_problem_cap),
        cmocka_unit_test(test_walk_meta_first),
        cmocka_unit_test(test_walk_meta_first_defects),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_deep),
        cmocka_unit_test(test_merge_cap),
        cmocka_unit_test(test_ova_valid),
        cmocka_unit_test(test_ova_defects),
        cmocka_unit_test(test_ova_missing),
        cmocka_unit_test(test_ova_many_references),
        cmocka_unit_test(test_ova_limits),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, teardown));
}
