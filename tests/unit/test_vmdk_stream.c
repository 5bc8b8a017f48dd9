/* test_vmdk_stream.c - the streamOptimized writer pieces: header fields,
 * embedded descriptor, grain records, grain tables, tail; and a file built
 * from them read back by qemu-img (an independent reader). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"
#include "unit_shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ovatool/codec.h"
#include "ovatool/descriptor.h"
#include "format/vmdk_stream.h"

static void t_header_fields(void **state)
{
    (void)state;
    unsigned char h[OVA_SECTOR];
    ova_stream_header(h, 33 * 1048576 + 512, OVA_GD_AT_END);
    assert_memory_equal(h, "KDMV", 4);
    assert_int_equal(ova_get_le32(h + 4), 3);
    assert_int_equal(ova_get_le32(h + 8), 0x30001);
    assert_int_equal(ova_get_le64(h + 12), 33 * 2048 + 1);
    assert_int_equal(ova_get_le64(h + 20), 128);
    assert_int_equal(ova_get_le64(h + 28), 1);
    assert_int_equal(ova_get_le64(h + 36), 20);
    assert_int_equal(ova_get_le32(h + 44), 512);
    assert_int_equal(ova_get_le64(h + 48), 0);
    assert_true(ova_get_le64(h + 56) == UINT64_MAX);
    assert_int_equal(ova_get_le64(h + 64), 128);
    assert_int_equal(h[73], '\n');
    assert_int_equal(h[74], ' ');
    assert_int_equal(h[75], '\r');
    assert_int_equal(h[76], '\n');
    assert_int_equal(h[77], 1);
    for (int i = 79; i < 512; i++)
        assert_int_equal(h[i], 0);
}

static void t_counts(void **state)
{
    (void)state;
    assert_int_equal(ova_stream_sectors(1), 1);
    assert_int_equal(ova_stream_grains(65536), 1);
    assert_int_equal(ova_stream_grains(65537), 2);
    assert_int_equal(ova_stream_gts(32ull << 20), 1);
    assert_int_equal(ova_stream_gts((32ull << 20) + 1), 2);
    /* 64-bit: a 500 GiB disk */
    assert_true(ova_stream_gts(500ull << 30) == 16000);
    assert_true(ova_stream_grains(500ull << 30) == 8192000);
}

static void t_head_descriptor(void **state)
{
    (void)state;
    unsigned char *head = malloc(OVA_STREAM_OVERHEAD * OVA_SECTOR);
    ova_stream_info si = { 6ull << 30, 0x1234abcd, "vm-disk1.vmdk", "lsilogic", NULL, "4" };
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_stream_head(&si, head, &err), OVA_OK);
    const char *text = (const char *)head + OVA_SECTOR;
    assert_memory_equal(text, "# Disk DescriptorFile\nversion=1\n", 32);
    ova_descriptor *d = NULL;
    assert_int_equal(ova_descriptor_parse(text, 20 * OVA_SECTOR, "head", &d, &err), OVA_OK);
    assert_string_equal(d->create_type, "streamOptimized");
    assert_int_equal(d->cid, 0x1234abcd);
    assert_int_equal(d->n_extents, 1);
    assert_true(d->extents[0].sectors == (6ull << 30) / 512);
    assert_string_equal(d->extents[0].file_name, "vm-disk1.vmdk");
    assert_int_equal(d->extents[0].access, OVA_ACCESS_RW);
    assert_string_equal(ova_descriptor_ddb(d, "ddb.adapterType"), "lsilogic");
    assert_string_equal(ova_descriptor_ddb(d, "ddb.toolsVersion"), "2147483647");
    assert_string_equal(ova_descriptor_ddb(d, "ddb.toolsInstallType"), "4");
    ova_descriptor_free(&d);
    /* the rest of the overhead is zero */
    size_t tl = strlen(text);
    for (size_t i = OVA_SECTOR + tl; i < OVA_STREAM_OVERHEAD * OVA_SECTOR; i++)
        assert_int_equal(head[i], 0);

    /* a quote in a name cannot be written into the descriptor */
    si.extent_name = "bad\"name.vmdk";
    assert_int_equal(ova_stream_head(&si, head, &err), OVA_E_USAGE);
    free(head);
}

static void t_records_and_tail(void **state)
{
    (void)state;
    unsigned char rec[2048];
    memset(rec, 0xee, sizeof rec);
    assert_int_equal(ova_grain_record_finish(rec, 128 * 7, 500), 512);
    assert_int_equal(ova_get_le64(rec), 896);
    assert_int_equal(ova_get_le32(rec + 8), 500);
    assert_int_equal(ova_grain_record_finish(rec, 0, 501), 1024);
    for (int i = 12 + 501; i < 1024; i++)
        assert_int_equal(rec[i], 0);

    uint32_t gt[OVA_GT_ENTRIES] = { 0 };
    gt[3] = 200;
    unsigned char blk[OVA_GT_BLOCK_SIZE];
    ova_stream_gt_block(blk, gt);
    assert_int_equal(ova_get_le64(blk), 4);
    assert_int_equal(ova_get_le32(blk + 8), 0);
    assert_int_equal(ova_get_le32(blk + 12), OVA_MARKER_GT);
    assert_int_equal(ova_get_le32(blk + 512 + 12), 200);

    /* 200 grain tables need a 2-sector GD */
    uint32_t gd[200] = { 0 };
    gd[199] = 77;
    size_t n = ova_stream_tail_size(200);
    assert_int_equal(n, (1 + 2 + 1 + 1 + 1) * 512);
    unsigned char *t = malloc(n);
    ova_stream_tail(t, 200ull * 32 << 20, gd, 200, 1000);
    assert_int_equal(ova_get_le64(t), 2);
    assert_int_equal(ova_get_le32(t + 12), OVA_MARKER_GD);
    assert_int_equal(ova_get_le32(t + 512 + 199 * 4), 77);
    unsigned char *f = t + 3 * 512;
    assert_int_equal(ova_get_le64(f), 1);
    assert_int_equal(ova_get_le32(f + 12), OVA_MARKER_FOOTER);
    assert_memory_equal(f + 512, "KDMV", 4);
    assert_int_equal(ova_get_le64(f + 512 + 56), 1000);
    for (size_t i = n - 512; i < n; i++)
        assert_int_equal(t[i], 0); /* EOS: an all-zero sector */
    free(t);
}


/* Build a 3-grain-table disk with a partial last grain and read it back
 * with qemu-img: the bytes must equal what we compressed. */
static void t_qemu_reads_our_stream(void **state)
{
    (void)state;
    if (!unit_have("qemu-img")) {
        OVA_SKIP("qemu-img not installed\n");
    }
    char dir[] = "/tmp/ovatool-stream.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char vmdk[300], raw[300], cmd[1024];
    snprintf(vmdk, sizeof vmdk, "%s/s.vmdk", dir);
    snprintf(raw, sizeof raw, "%s/s.raw", dir);

    const uint64_t cap = 2 * (32ull << 20) + 3 * 65536 + 1024; /* groups 0, 1, 2 (partial) */
    unsigned char *expect = calloc(1, cap);
    /* data in group 0 (grains 0 and 5), none in group 1, group 2's partial last grain */
    for (int i = 0; i < 65536; i++)
        expect[i] = (unsigned char)(i * 7);
    memset(expect + 5 * 65536, 'x', 65536);
    memset(expect + cap - 1024, 'T', 1024);

    FILE *f = fopen(vmdk, "wb");
    assert_non_null(f);
    unsigned char *head = malloc(OVA_STREAM_OVERHEAD * OVA_SECTOR);
    ova_stream_info si = { cap, 0xabcdef01, "s.vmdk", "lsilogic", NULL, NULL };
    assert_int_equal(ova_stream_head(&si, head, NULL), OVA_OK);
    fwrite(head, 1, OVA_STREAM_OVERHEAD * OVA_SECTOR, f);
    uint64_t sector = OVA_STREAM_OVERHEAD;
    uint64_t ngd = ova_stream_gts(cap);
    uint32_t *gd = calloc(ngd, 4);
    ova_codec *c = ova_codec_new(OVA_CODEC_ZLIB, 6);
    unsigned char *rec = malloc(ova_grain_record_max());
    unsigned char grain[65536];
    uint64_t grains = ova_stream_grains(cap);
    uint32_t gt[OVA_GT_ENTRIES];
    memset(gt, 0, sizeof gt);
    int gt_data = 0;
    for (uint64_t g = 0; g < grains; g++) {
        memset(grain, 0, sizeof grain);
        uint64_t off = g * 65536, n = cap - off < 65536 ? cap - off : 65536;
        memcpy(grain, expect + off, n);
        int zero = 1;
        for (int i = 0; i < 65536; i++)
            zero &= grain[i] == 0;
        if (!zero) {
            size_t clen;
            assert_int_equal(ova_codec_compress(c, grain, 65536, rec + 12, ova_grain_record_max() - 12, &clen),
                             OVA_OK);
            size_t padded = ova_grain_record_finish(rec, g * 128, (uint32_t)clen);
            fwrite(rec, 1, padded, f);
            gt[g % 512] = (uint32_t)sector;
            sector += padded / 512;
            gt_data = 1;
        }
        if ((g + 1) % 512 == 0 || g + 1 == grains) {
            if (gt_data) {
                unsigned char blk[OVA_GT_BLOCK_SIZE];
                ova_stream_gt_block(blk, gt);
                fwrite(blk, 1, sizeof blk, f);
                gd[g / 512] = (uint32_t)(sector + 1);
                sector += 5;
            }
            memset(gt, 0, sizeof gt);
            gt_data = 0;
        }
    }
    size_t tl = ova_stream_tail_size(ngd);
    unsigned char *tail = malloc(tl);
    ova_stream_tail(tail, cap, gd, ngd, sector + 1);
    fwrite(tail, 1, tl, f);
    assert_int_equal(fclose(f), 0);

    snprintf(cmd, sizeof cmd, "qemu-img check -q -f vmdk %s && qemu-img convert -f vmdk -O raw %s %s", vmdk, vmdk,
             raw);
    assert_int_equal(system(cmd), 0);
    FILE *r = fopen(raw, "rb");
    assert_non_null(r);
    unsigned char *got = malloc(cap + 1);
    size_t n = fread(got, 1, cap + 1, r);
    fclose(r);
    assert_true(n == cap);
    assert_memory_equal(got, expect, cap);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(got);
    free(tail);
    free(rec);
    free(gd);
    free(head);
    free(expect);
    ova_codec_free(&c);
}

/* libdeflate and zlib both produce zlib streams that zlib inflates back. */
static void t_codecs_roundtrip(void **state)
{
    (void)state;
    unsigned char in[65536], out[70000], back[65536];
    for (int i = 0; i < 65536; i++)
        in[i] = (unsigned char)((i * 31) ^ (i >> 5));
    for (int k = 0; k < 3; k++) {
        ova_codec_kind kind = k == 2 ? OVA_CODEC_ISAL : k ? OVA_CODEC_LIBDEFLATE : OVA_CODEC_ZLIB;
        if (!ova_codec_available(kind)) {
            OVA_SKIP_PART("%s not built in\n", ova_codec_name(kind));
            continue;
        }
        ova_codec *c = ova_codec_new(kind, kind == OVA_CODEC_ISAL ? 1 : 6);
        assert_non_null(c);
        size_t clen = 0;
        assert_int_equal(ova_codec_compress(c, in, sizeof in, out, sizeof out, &clen), OVA_OK);
        assert_int_equal(out[0] & 0x0f, 8); /* CM = deflate: the RFC 1950 header */
        uLongf bl = sizeof back;
        assert_int_equal(uncompress(back, &bl, out, clen), Z_OK);
        assert_int_equal(bl, sizeof back);
        assert_memory_equal(back, in, sizeof in);
        ova_codec_free(&c);
        assert_null(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_header_fields),  cmocka_unit_test(t_counts),
        cmocka_unit_test(t_head_descriptor), cmocka_unit_test(t_records_and_tail),
        cmocka_unit_test(t_qemu_reads_our_stream), cmocka_unit_test(t_codecs_roundtrip),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
