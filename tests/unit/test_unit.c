/* test_unit.c - ova_unit_compress on a qemu-made disk: every record is
 * inflated back and compared with `qemu-img convert -O raw` of the disk,
 * and the header's grain count, positions (rel) and LBAs are checked;
 * all-zero grains (unallocated, written as zeros, zero data) have no
 * record, and incompressible grains are stored only when storing is on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"
#include "unit_shell.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ovatool/disk.h"
#include "engine/plan.h"
#include "engine/unit.h"

#define GRAIN 65536u
/* 33 grains, the last one partial (1536 bytes) */
#define CAP (2u * 1048576u + 1536u)
#define GRAINS ((CAP + GRAIN - 1) / GRAIN)

static char g_dir[PATH_MAX];
static unsigned char *g_raw; /* the disk's content, padded with zeros to whole grains */

#define run(...) unit_run(g_dir, 1, __VA_ARGS__)


/* Grain 0 text-like (compresses), 1 unallocated, 2 random (will not
 * compress), 3 written as zeros (allocated, all zero), 4 random in its
 * first half only, 9 a single byte, 32 the partial last grain. */
static int make_disk(void)
{
    if (run("head -c 65536 /dev/urandom > rnd.bin") != 0 ||
        run("qemu-img create -q -f vmdk -o subformat=monolithicSparse d.vmdk %u", CAP) != 0 ||
        run("qemu-io -f vmdk -c 'write -P 0x41 0 64k' -c 'write -s rnd.bin 128k 64k' "
            "-c 'write -P 0 192k 64k' -c 'write -s rnd.bin 256k 32k' -c 'write -P 0x7f 589829 1' "
            "-c 'write -P 0x55 2097152 1536' d.vmdk") != 0 ||
        run("qemu-img convert -f vmdk -O raw d.vmdk d.raw") != 0)
        return -1;
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/d.raw", g_dir);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    g_raw = calloc(GRAINS, GRAIN);
    size_t n = g_raw ? fread(g_raw, 1, CAP + 1, f) : 0;
    fclose(f);
    return n == CAP ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_unit.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    if (unit_have("qemu-img") && unit_have("qemu-io") && make_disk() != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_raw);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int raw_zero(uint64_t g)
{
    for (size_t i = 0; i < GRAIN; i++)
        if (g_raw[g * GRAIN + i] != 0)
            return 0;
    return 1;
}

/* Which grains a run compressed into records, and how (for comparing runs). */
typedef struct grain_rec {
    uint32_t len;            /* zlib stream bytes, 0 for no record */
    unsigned char *stream;
} grain_rec;

/* Compress every unit of the disk with units of unit_grains and reads of
 * chunk bytes, check every header and record against the raw image, and
 * return the records per grain in recs and the stored count. */
static uint32_t compress_all(uint32_t unit_grains, size_t chunk, bool store, grain_rec recs[GRAINS])
{
    ova_err err;
    ova_err_clear(&err);
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/d.vmdk", g_dir);
    ova_disk_info **disks = calloc(1, sizeof *disks);
    assert_non_null(disks);
    if (ova_disk_describe(path, &disks[0], &err) != OVA_OK)
        fail_msg("describe: %s", err.msg);
    ova_plan *plan = NULL;
    assert_int_equal(ova_plan_new(disks, 1, unit_grains, &plan, &err), OVA_OK);
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(plan->disks[0], &r, &err), OVA_OK);
    ova_unit_worker *w = NULL;
    assert_int_equal(ova_unit_worker_new(OVA_CODEC_ZLIB, 6, chunk, &w, &err), OVA_OK);
    ova_unit_worker_store_incompressible(w, store);
    unsigned char *out = malloc(ova_unit_max_size(unit_grains));
    unsigned char *back = malloc(GRAIN);
    assert_non_null(out);
    assert_non_null(back);

    uint32_t stored = 0;
    uint64_t units = ova_plan_units(plan), covered = 0;
    assert_true(units <= (GRAINS + unit_grains - 1) / unit_grains);
    /* grains of units the plan left out (plan.h) get no record */
    bool planned[GRAINS] = { false };
    for (uint64_t g = 0; g < GRAINS; g++)
        recs[g] = (grain_rec){ 0, NULL };
    for (uint64_t u = 0; u < units; u++) {
        size_t d;
        uint64_t first;
        uint32_t n;
        ova_plan_unit(plan, u, &d, &first, &n);
        if (ova_unit_compress(w, plan, r, u, out, &err) != OVA_OK)
            fail_msg("unit %llu: %s", (unsigned long long)u, err.msg);
        const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)out;
        const unsigned char *rec = out + sizeof *h;
        assert_true(h->unit == u);
        assert_int_equal(h->status, OVA_UNIT_OK);
        assert_int_equal(h->n_grains, n);
        assert_int_equal(h->records_len % 512, 0);
        assert_true(sizeof *h + h->records_len <= ova_unit_max_size(n));
        covered += n;
        /* records follow each other in LBA order, each a whole number of sectors */
        uint64_t next_sector = 0;
        uint32_t n_data = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t g = first + i;
            assert_false(planned[g]);
            planned[g] = true;
            recs[g].len = 0;
            recs[g].stream = NULL;
            if (raw_zero(g)) {
                if (h->rel[i] != 0)
                    fail_msg("grain %llu is all zero but has a record", (unsigned long long)g);
                continue;
            }
            if (h->rel[i] == 0)
                fail_msg("grain %llu has data but no record", (unsigned long long)g);
            uint64_t sector = h->rel[i] - 1;
            assert_true(sector == next_sector);
            const unsigned char *p = rec + sector * 512;
            assert_true(le64(p) == g * 128); /* the grain's LBA in sectors */
            uint32_t len = le32(p + 8);
            uint64_t padded = (12 + (uint64_t)len + 511) / 512 * 512;
            assert_true(sector * 512 + padded <= h->records_len);
            for (uint64_t k = 12 + len; k < padded; k++)
                assert_int_equal(p[k], 0);
            uLongf bl = GRAIN;
            if (uncompress(back, &bl, p + 12, len) != Z_OK || bl != GRAIN)
                fail_msg("grain %llu does not inflate to 64 KiB", (unsigned long long)g);
            /* a partial last grain comes back padded with zeros, as g_raw is */
            if (memcmp(back, g_raw + g * GRAIN, GRAIN) != 0)
                fail_msg("grain %llu inflates to other bytes than the disk's", (unsigned long long)g);
            recs[g].len = len;
            recs[g].stream = malloc(len);
            assert_non_null(recs[g].stream);
            memcpy(recs[g].stream, p + 12, len);
            next_sector += padded / 512;
            n_data++;
        }
        assert_true(next_sector * 512 == h->records_len);
        assert_int_equal(h->n_data, n_data);
        assert_true(h->n_stored <= h->n_data);
        stored += h->n_stored;
    }
    /* only grains with no data anywhere are left out: grains 16..31 (a
     * whole 1 MiB of the data map) with units of up to 16 grains */
    for (uint64_t g = 0; g < GRAINS; g++)
        if (!planned[g] && !raw_zero(g))
            fail_msg("grain %llu has data but no unit planned", (unsigned long long)g);
    if (unit_grains <= 16)
        assert_true(covered == GRAINS - 16);
    else
        assert_true(covered == GRAINS);
    free(back);
    free(out);
    ova_unit_worker_free(&w);
    ova_disk_reader_close(&r);
    ova_plan_free(&plan);
    return stored;
}

static void free_recs(grain_rec recs[GRAINS])
{
    for (size_t g = 0; g < GRAINS; g++)
        free(recs[g].stream);
}

static void t_compress_store_off_on(void **state)
{
    (void)state;
    if (g_raw == NULL)
        OVA_SKIP("qemu-img or qemu-io not installed\n");
    /* the content the rest relies on: zero grains of every kind, data grains */
    assert_false(raw_zero(0));
    assert_true(raw_zero(1));
    assert_false(raw_zero(2));
    assert_true(raw_zero(3));
    assert_false(raw_zero(4));
    assert_false(raw_zero(9));
    assert_false(raw_zero(GRAINS - 1));
    assert_true(ova_grain_incompressible(g_raw + 2 * GRAIN, GRAIN));
    assert_false(ova_grain_incompressible(g_raw, GRAIN));

    static grain_rec off[GRAINS], on[GRAINS];
    assert_int_equal(compress_all(64, 1 << 20, false, off), 0);
    uint32_t stored = compress_all(64, 1 << 20, true, on);
    /* stored: exactly the non-zero grains the detector calls incompressible */
    uint32_t want = 0;
    for (uint64_t g = 0; g < GRAINS; g++) {
        if (raw_zero(g))
            continue;
        if (ova_grain_incompressible(g_raw + g * GRAIN, GRAIN)) {
            want++;
            assert_int_equal(on[g].len, ova_zlib_store_size(GRAIN));
        } else {
            /* compressible grains go through the codec as before: the same bytes */
            assert_int_equal(on[g].len, off[g].len);
            assert_memory_equal(on[g].stream, off[g].stream, on[g].len);
        }
    }
    assert_true(want >= 1);
    assert_int_equal(stored, want);
    free_recs(off);
    free_recs(on);
}

/* Units smaller than a read, and reads smaller than a unit: the same records. */
static void t_unit_and_read_sizes(void **state)
{
    (void)state;
    if (g_raw == NULL)
        OVA_SKIP("qemu-img or qemu-io not installed\n");
    static grain_rec a[GRAINS], b[GRAINS], c[GRAINS];
    uint32_t sa = compress_all(64, 1 << 20, true, a);
    uint32_t sb = compress_all(8, 1 << 20, true, b);
    uint32_t sc = compress_all(16, 4 * GRAIN, true, c);
    assert_int_equal(sa, sb);
    assert_int_equal(sa, sc);
    for (uint64_t g = 0; g < GRAINS; g++) {
        assert_int_equal(a[g].len, b[g].len);
        assert_int_equal(a[g].len, c[g].len);
        if (a[g].len) {
            assert_memory_equal(a[g].stream, b[g].stream, a[g].len);
            assert_memory_equal(a[g].stream, c[g].stream, a[g].len);
        }
    }
    free_recs(a);
    free_recs(b);
    free_recs(c);

    /* a read size that is not whole grains is refused */
    ova_unit_worker *w = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_unit_worker_new(OVA_CODEC_ZLIB, 6, GRAIN + 512, &w, &err), OVA_E_USAGE);
    assert_null(w);
}

/* A result from another rank is checked before anyone trusts it: a sound
 * one passes; a wrong length, a unit the plan lacks, a wrong grain count
 * or a grain outside the records is named. */
static void t_result_check(void **state)
{
    (void)state;
    if (g_raw == NULL)
        OVA_SKIP("qemu-img or qemu-io not installed\n");
    ova_err err;
    ova_err_clear(&err);
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/d.vmdk", g_dir);
    ova_disk_info **disks = calloc(1, sizeof *disks);
    assert_non_null(disks);
    assert_int_equal(ova_disk_describe(path, &disks[0], &err), OVA_OK);
    ova_plan *plan = NULL;
    assert_int_equal(ova_plan_new(disks, 1, 16, &plan, &err), OVA_OK);
    ova_disk_reader *r = NULL;
    assert_int_equal(ova_disk_reader_open(plan->disks[0], &r, &err), OVA_OK);
    ova_unit_worker *w = NULL;
    assert_int_equal(ova_unit_worker_new(OVA_CODEC_ZLIB, 6, 1 << 20, &w, &err), OVA_OK);
    size_t max = ova_unit_max_size(16);
    unsigned char *out = malloc(max), *bad = malloc(max);
    assert_non_null(out);
    assert_non_null(bad);
    assert_int_equal(ova_unit_compress(w, plan, r, 0, out, &err), OVA_OK);
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)out;
    size_t len = sizeof *h + h->records_len;
    assert_true(h->n_data > 0);
    assert_null(ova_unit_result_check(plan, h, len));
    ova_unit_hdr *b = (ova_unit_hdr *)(void *)bad;

    memcpy(bad, out, len);
    assert_string_equal(ova_unit_result_check(plan, b, len + 512), "its length does not match its header");
    assert_string_equal(ova_unit_result_check(plan, b, sizeof *b - 1), "its length does not match its header");
    b->unit = ova_plan_units(plan);
    assert_string_equal(ova_unit_result_check(plan, b, len), "it names a unit that was not granted or is already in");
    memcpy(bad, out, len);
    b->n_grains++;
    assert_string_equal(ova_unit_result_check(plan, b, len), "its grain counts do not match the plan");
    memcpy(bad, out, len);
    for (uint32_t i = 0; i < b->n_grains; i++)
        if (b->rel[i] != 0) {
            b->rel[i] = (uint32_t)(b->records_len / 512) + 1;
            break;
        }
    assert_string_equal(ova_unit_result_check(plan, b, len), "a grain lies outside its records");

    free(out);
    free(bad);
    ova_unit_worker_free(&w);
    ova_disk_reader_close(&r);
    ova_plan_free(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_compress_store_off_on),
        cmocka_unit_test(t_unit_and_read_sizes),
        cmocka_unit_test(t_result_check),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
