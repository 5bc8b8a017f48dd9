/* test_sparse_header.c - the one sparse-header codec (src/format/sparse_header.c):
 * decode(encode(f)) == f, the stream header ovatool writes decodes to its
 * fields, and the reader's check fails on the first bad field with the
 * message the disk reader has always given. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <string.h>

#include "format/sparse_header.h"
#include "format/vmdk_stream.h"

static void t_roundtrip(void **state)
{
    (void)state;
    const ova_sparse_fields f = {
        .version = 1, .flags = OVA_SPARSE_FLAG_NL_TEST | OVA_SPARSE_FLAG_RGD, .capacity = 81920, .grain = 128,
        .desc_offset = 1, .desc_size = 20, .gtes = 512, .rgd_offset = 21, .gd_offset = 37, .overhead = 128,
        .unclean = 1, .nl_ok = true, .compress = 0,
    };
    unsigned char b[OVA_SPARSE_HEADER_SIZE];
    ova_sparse_header_encode(b, &f);
    assert_memory_equal(b, "KDMV", 4);
    assert_int_equal(ova_get_le64(b + 48), 21);
    for (unsigned i = 79; i < sizeof b; i++)
        assert_int_equal(b[i], 0);
    ova_sparse_fields g;
    assert_true(ova_sparse_header_decode(b, &g));
    assert_int_equal(g.version, f.version);
    assert_int_equal(g.flags, f.flags);
    assert_int_equal(g.capacity, f.capacity);
    assert_int_equal(g.grain, f.grain);
    assert_int_equal(g.desc_offset, f.desc_offset);
    assert_int_equal(g.desc_size, f.desc_size);
    assert_int_equal(g.gtes, f.gtes);
    assert_int_equal(g.rgd_offset, f.rgd_offset);
    assert_int_equal(g.gd_offset, f.gd_offset);
    assert_int_equal(g.overhead, f.overhead);
    assert_int_equal(g.unclean, f.unclean);
    assert_true(g.nl_ok);
    assert_int_equal(g.compress, f.compress);
    b[74] = '\n'; /* what a text-mode transfer does */
    assert_true(ova_sparse_header_decode(b, &g));
    assert_false(g.nl_ok);
}

static void t_stream_header(void **state)
{
    (void)state;
    unsigned char b[OVA_SECTOR];
    ova_stream_header(b, 1048576, 4242);
    ova_sparse_fields f;
    assert_true(ova_sparse_header_decode(b, &f));
    assert_int_equal(f.version, 3);
    assert_int_equal(f.flags, 0x30001);
    assert_int_equal(f.capacity, 2048);
    assert_int_equal(f.grain, 128);
    assert_int_equal(f.gtes, 512);
    assert_int_equal(f.gd_offset, 4242);
    assert_int_equal(f.compress, 1);
    assert_true(f.nl_ok);
}

static void t_decode_refuses_other_magic(void **state)
{
    (void)state;
    unsigned char b[OVA_SPARSE_HEADER_SIZE] = "COWD";
    ova_sparse_fields f;
    memset(&f, 0xff, sizeof f);
    assert_false(ova_sparse_header_decode(b, &f));
    assert_int_equal(f.capacity, 0);
}

/* A damaged copy of a good header must fail the reader's check with msg. */
static void check_fails(void (*damage)(unsigned char *), uint64_t file_size, ova_status want, const char *msg)
{
    unsigned char b[OVA_SECTOR];
    ova_stream_header(b, 40 << 20, 200);
    damage(b);
    ova_sparse_header h;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_sparse_header_check(b, "d.vmdk", "header", file_size, &h, &err), want);
    assert_string_equal(err.msg, msg);
}

static void no_damage(unsigned char *b) { (void)b; }
static void bad_magic(unsigned char *b) { b[0] = 'X'; }
static void bad_version(unsigned char *b) { ova_put_le32(b + 4, 4); }
static void bad_grain(unsigned char *b) { ova_put_le64(b + 20, 3); }
static void bad_gtes(unsigned char *b) { ova_put_le32(b + 44, 256); }
static void bad_nl(unsigned char *b) { b[75] = '\n'; }

static void t_reader_check(void **state)
{
    (void)state;
    unsigned char b[OVA_SECTOR];
    ova_stream_header(b, 40 << 20, 200);
    ova_sparse_header h;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_sparse_header_check(b, "d.vmdk", "footer", 1 << 20, &h, &err), OVA_OK);
    assert_int_equal(h.capacity, 81920);
    assert_int_equal(h.gd_entries, 2); /* 40 MiB in 32 MiB grain tables */
    assert_int_equal(h.gd_offset, 200);
    check_fails(no_damage, 512 * 150, OVA_E_FORMAT,
                 "d.vmdk: sparse header: grain directory (gdOffset 200, 2 entries) lies past the end of the file "
                 "(76800 bytes; truncated?)");
    check_fails(bad_magic, 1 << 20, OVA_E_FORMAT, "d.vmdk: sparse header: bad magic number (not \"KDMV\")");
    check_fails(bad_version, 1 << 20, OVA_E_FORMAT, "d.vmdk: sparse header: version 4 (expected 1, 2 or 3)");
    check_fails(bad_grain, 1 << 20, OVA_E_FORMAT,
                 "d.vmdk: sparse header: grainSize 3 sectors (expected a power of two up to 128)");
    check_fails(bad_gtes, 1 << 20, OVA_E_FORMAT, "d.vmdk: sparse header: numGTEsPerGT 256 (expected 512)");
    check_fails(bad_nl, 1 << 20, OVA_E_FORMAT,
                 "d.vmdk: sparse header: end-of-line check bytes are wrong (file corrupted by a text-mode "
                 "transfer?)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_roundtrip),
        cmocka_unit_test(t_stream_header),
        cmocka_unit_test(t_decode_refuses_other_magic),
        cmocka_unit_test(t_reader_check),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
