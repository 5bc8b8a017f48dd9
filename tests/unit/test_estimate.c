/* test_estimate.c - the size estimate an export checks the free space
 * against (prepare.h, precheck.c): exact figures for empty and full disks,
 * best <= likely <= worst, the measured ratios per codec and level, the
 * front and trailer of the whole OVA; and ova_prepare_check's refusals of
 * the output (a missing folder, a file that exists without overwrite) on
 * a prepared export without disks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovatool/prepare.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

/* A disk's member without data: tar header, the 64 KiB stream head, and
 * the tail (GD marker, GD sectors, footer marker, footer, EOS). */
static uint64_t fixed(uint64_t capacity)
{
    uint64_t groups = (capacity + 32 * MIB - 1) / (32 * MIB);
    uint64_t gd_sectors = (groups * 4 + 511) / 512;
    return 512 + 65536 + (4 + gd_sectors) * 512;
}

static ova_size_estimate disk(uint64_t capacity, uint64_t allocated, ova_codec_kind codec, int level)
{
    ova_size_estimate e = { 0, 0, 0 };
    ova_estimate_disk(capacity, allocated, codec, level, &e);
    return e;
}

static void t_ratios(void **state)
{
    (void)state;
    /* README "Performance": balanced 0.570, max 0.568, zlib 6 0.573 -> 0.58;
     * libdeflate 1 0.586, ISA-L 1 0.592 -> 0.60 */
    assert_int_equal(ova_estimate_ratio_permille(OVA_CODEC_LIBDEFLATE, 6), 580);
    assert_int_equal(ova_estimate_ratio_permille(OVA_CODEC_LIBDEFLATE, 9), 580);
    assert_int_equal(ova_estimate_ratio_permille(OVA_CODEC_ZLIB, 6), 580);
    assert_int_equal(ova_estimate_ratio_permille(OVA_CODEC_LIBDEFLATE, 1), 600);
    assert_int_equal(ova_estimate_ratio_permille(OVA_CODEC_ISAL, 1), 600);
    assert_int_equal(ova_estimate_ratio_permille(OVA_CODEC_ISAL, 3), 600);
}

static void t_empty_disk(void **state)
{
    (void)state;
    /* nothing allocated: only the member's fixed parts, in every case */
    ova_size_estimate e = disk(1 * GIB, 0, OVA_CODEC_LIBDEFLATE, 6);
    assert_int_equal(e.best, fixed(1 * GIB));
    assert_int_equal(e.best, 512 + 65536 + 5 * 512); /* 32 groups: one GD sector */
    assert_int_equal(e.likely, e.best);
    assert_int_equal(e.worst, e.best);
    /* 64 TiB: 2 Mi groups, 16384 GD sectors */
    e = disk(64ull << 40, 0, OVA_CODEC_ZLIB, 9);
    assert_int_equal(e.best, 512 + 65536 + (4 + 16384) * 512);
}

static void t_full_disk(void **state)
{
    (void)state;
    /* 64 MiB, all allocated: 1024 grains in 2 groups */
    ova_size_estimate e = disk(64 * MIB, 64 * MIB, OVA_CODEC_LIBDEFLATE, 6);
    uint64_t f = fixed(64 * MIB), gts = 2 * 2560;
    assert_int_equal(e.best, f + 1024 * 512 + gts);        /* one sector per grain */
    assert_int_equal(e.worst, f + 1024 * 129 * 512 + gts); /* stored: 129 sectors per grain */
    assert_int_equal(e.likely, f + 64 * MIB / 1000 * 580 + 64 * MIB % 1000 * 580 / 1000 + gts);
    /* fast: the larger ratio */
    ova_size_estimate fast = disk(64 * MIB, 64 * MIB, OVA_CODEC_ISAL, 1);
    assert_true(fast.likely > e.likely);
    assert_int_equal(fast.best, e.best);
    assert_int_equal(fast.worst, e.worst);
}

static void t_bounds(void **state)
{
    (void)state;
    /* for any allocation: best <= likely <= worst, all growing with it */
    ova_size_estimate prev = { 0, 0, 0 };
    for (uint64_t a = 0; a <= 256 * MIB; a += 7 * MIB + 12345) {
        ova_size_estimate e = disk(256 * MIB, a, OVA_CODEC_LIBDEFLATE, 6);
        assert_true(e.best <= e.likely);
        assert_true(e.likely <= e.worst);
        assert_true(e.best >= prev.best);
        assert_true(e.likely >= prev.likely);
        assert_true(e.worst >= prev.worst);
        prev = e;
    }
    /* one byte of data is one grain; more than the capacity counts as the capacity */
    ova_size_estimate one = disk(1 * GIB, 1, OVA_CODEC_LIBDEFLATE, 6);
    assert_int_equal(one.best, fixed(1 * GIB) + 512 + 2560);
    ova_size_estimate over = disk(64 * MIB, 1 * GIB, OVA_CODEC_LIBDEFLATE, 6);
    ova_size_estimate full = disk(64 * MIB, 64 * MIB, OVA_CODEC_LIBDEFLATE, 6);
    assert_memory_equal(&over, &full, sizeof over);
    /* scattered: worst has a grain table for every group that can hold data */
    ova_size_estimate sparse = disk(64 * GIB, 2048 * 64 * KIB, OVA_CODEC_LIBDEFLATE, 6);
    assert_int_equal(sparse.best, fixed(64 * GIB) + 2048 * 512 + 4 * 2560);
    assert_int_equal(sparse.worst, fixed(64 * GIB) + 2048 * 129 * 512 + 2048 * 2560);
    /* no overflow at the largest disk ovatool takes */
    ova_size_estimate huge = disk(64ull << 40, 64ull << 40, OVA_CODEC_LIBDEFLATE, 6);
    assert_true(huge.best < huge.likely && huge.likely < huge.worst);
    assert_true(huge.worst > (64ull << 40));
}

static void t_output(void **state)
{
    (void)state;
    ova_disk_info d[2];
    memset(d, 0, sizeof d);
    d[0].capacity = 1 * GIB;
    d[0].allocated = 100 * MIB;
    d[1].capacity = 8 * GIB;
    d[1].allocated = 0;
    ova_prepared_disk pd[2];
    memset(pd, 0, sizeof pd);
    pd[0].info = &d[0];
    pd[1].info = &d[1];
    ova_prepared p;
    memset(&p, 0, sizeof p);
    p.disks = pd;
    p.n_disks = 2;
    ova_size_estimate sum = disk(1 * GIB, 100 * MIB, OVA_CODEC_ZLIB, 6);
    ova_estimate_disk(8 * GIB, 0, OVA_CODEC_ZLIB, 6, &sum);
    ova_size_estimate e;
    ova_estimate_output(&p, OVA_CODEC_ZLIB, 6, &e);
    /* the front: .ovf and .mf headers and a block each at least, 64 KiB allowed; the trailer */
    assert_int_equal(e.best, sum.best + 4 * 512 + 1024);
    assert_int_equal(e.likely, sum.likely + 64 * KIB + 1024);
    assert_int_equal(e.worst, sum.worst + 64 * KIB + 1024);
}

static void t_check_output(void **state)
{
    (void)state;
    char dir[] = "/tmp/ovatool-estimate.XXXXXX";
    assert_non_null(mkdtemp(dir));
    ova_prepared p;
    memset(&p, 0, sizeof p);
    ova_check_opts o = { NULL, false, OVA_CODEC_LIBDEFLATE, 6, NULL, NULL };
    ova_check_result r;
    ova_err err;

    /* a folder that does not exist is named as such, not a temporary file in it */
    snprintf(p.output, sizeof p.output, "%s/no/vm.ova", dir);
    ova_err_clear(&err);
    assert_int_not_equal(ova_prepare_check(&p, &o, &r, &err), OVA_OK);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/no: no such folder (the folder of -o %s/no/vm.ova)", dir, dir);
    assert_string_equal(err.msg, want);

    /* a new file in an existing folder: fine, with the space known */
    snprintf(p.output, sizeof p.output, "%s/vm.ova", dir);
    ova_err_clear(&err);
    assert_int_equal(ova_prepare_check(&p, &o, &r, &err), OVA_OK);
    assert_string_equal(r.folder, dir);
    assert_true(r.have_free);
    assert_int_equal(r.existing, 0);
    assert_true(r.size.best > 0);

    /* an existing file: refused without overwrite, its size noted with it */
    FILE *f = fopen(p.output, "w");
    assert_non_null(f);
    fputs("old ova", f);
    fclose(f);
    ova_err_clear(&err);
    assert_int_not_equal(ova_prepare_check(&p, &o, &r, &err), OVA_OK);
    snprintf(want, sizeof want, "%s/vm.ova exists; use --overwrite to replace it", dir);
    assert_string_equal(err.msg, want);
    o.overwrite = true;
    ova_err_clear(&err);
    assert_int_equal(ova_prepare_check(&p, &o, &r, &err), OVA_OK);
    assert_int_equal(r.existing, 7);

    /* the current folder is "." */
    snprintf(p.output, sizeof p.output, "vm-estimate-test-%d.ova", (int)getpid());
    ova_err_clear(&err);
    assert_int_equal(ova_prepare_check(&p, &o, &r, &err), OVA_OK);
    assert_string_equal(r.folder, ".");

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/vm.ova", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_ratios), cmocka_unit_test(t_empty_disk), cmocka_unit_test(t_full_disk),
        cmocka_unit_test(t_bounds), cmocka_unit_test(t_output),     cmocka_unit_test(t_check_output),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
