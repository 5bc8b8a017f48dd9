/* test_tar.c - unit tests for ustar headers (tar.c), including GNU tar interop. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/tar.h"

#define GIB (UINT64_C(1) << 30)

/* A header for name/size that must succeed. */
static void make_header(unsigned char hdr[OVA_TAR_BLOCK], const char *name, uint64_t size)
{
    ova_err err = {0};
    ova_status st = ova_tar_header(hdr, name, size, 1700000000, &err);
    if (st != OVA_OK)
        fail_msg("ova_tar_header(%s, %llu) failed: %s", name, (unsigned long long)size, err.msg);
}

static void expect_roundtrip(uint64_t size)
{
    unsigned char hdr[OVA_TAR_BLOCK];
    make_header(hdr, "disk1.vmdk", size);
    uint64_t got = 0;
    assert_true(ova_tar_parse_size(hdr, &got));
    assert_true(got == size);
    assert_true(ova_tar_checksum_ok(hdr));
}

/* The size field as octal: 11 digits and a NUL. */
static void expect_octal_field(uint64_t size, const char *digits)
{
    unsigned char hdr[OVA_TAR_BLOCK];
    make_header(hdr, "x", size);
    assert_memory_equal(hdr + 124, digits, 11);
    assert_int_equal(hdr[135], 0);
}

/* The size field in base-256: 0x80, then 11 big-endian bytes. */
static void expect_base256_field(uint64_t size)
{
    unsigned char hdr[OVA_TAR_BLOCK];
    make_header(hdr, "x", size);
    unsigned char want[12] = {0x80};
    for (int i = 0; i < 8; i++)
        want[4 + i] = (unsigned char)(size >> (8 * (7 - i)));
    assert_memory_equal(hdr + 124, want, 12);
}

static void test_small_member_fields(void **state)
{
    (void)state;
    unsigned char hdr[OVA_TAR_BLOCK];
    memset(hdr, 0xAA, sizeof hdr); /* every byte must be written */
    make_header(hdr, "vm.ovf", 1234);

    assert_string_equal((const char *)hdr, "vm.ovf");
    for (int i = 6; i < 100; i++)
        assert_int_equal(hdr[i], 0);
    assert_memory_equal(hdr + 100, "0000644", 8);
    assert_memory_equal(hdr + 108, "0000000", 8);
    assert_memory_equal(hdr + 116, "0000000", 8);
    assert_memory_equal(hdr + 124, "00000002322", 12); /* 1234 = 02322 */
    assert_memory_equal(hdr + 136, "14524770400", 12); /* 1700000000 */
    assert_int_equal(hdr[156], '0');
    assert_memory_equal(hdr + 257, "ustar", 6);
    assert_memory_equal(hdr + 263, "00", 2);
    assert_string_equal((const char *)hdr + 265, "root");
    assert_string_equal((const char *)hdr + 297, "root");
    for (int i = 345; i < 512; i++)
        assert_int_equal(hdr[i], 0);

    /* checksum: 6 octal digits, NUL, blank; equal to the byte sum with the
     * field counted as blanks */
    unsigned long sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : hdr[i];
    char want[8];
    snprintf(want, sizeof want, "%06lo", sum);
    assert_memory_equal(hdr + 148, want, 6);
    assert_int_equal(hdr[154], 0);
    assert_int_equal(hdr[155], ' ');

    uint64_t size = 0;
    assert_true(ova_tar_parse_size(hdr, &size));
    assert_true(size == 1234);
    assert_true(ova_tar_checksum_ok(hdr));

    /* any change to the header breaks the checksum */
    hdr[0] = 'V';
    assert_false(ova_tar_checksum_ok(hdr));
}

static void test_size_octal(void **state)
{
    (void)state;
    expect_octal_field(0, "00000000000");
    expect_octal_field(1, "00000000001");
    expect_octal_field(8 * GIB - 1, "77777777777");
    assert_true(8 * GIB - 1 == OVA_TAR_OCTAL_MAX);
    expect_roundtrip(0);
    expect_roundtrip(1);
    expect_roundtrip(511);
    expect_roundtrip(8 * GIB - 1);
}

static void test_size_base256(void **state)
{
    (void)state;
    expect_base256_field(8 * GIB);
    expect_base256_field(500 * GIB);
    expect_base256_field(UINT64_C(1) << 63);
    expect_base256_field(UINT64_MAX);
    expect_roundtrip(8 * GIB);
    expect_roundtrip(8 * GIB + 1);
    expect_roundtrip(500 * GIB);
    expect_roundtrip(UINT64_C(1) << 63);
    expect_roundtrip(UINT64_MAX);

    /* spot check 8 GiB = 2^33: 0x80, zeros, 0x02 in the fifth byte from the end */
    unsigned char hdr[OVA_TAR_BLOCK];
    make_header(hdr, "x", 8 * GIB);
    const unsigned char want[12] = {0x80, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0};
    assert_memory_equal(hdr + 124, want, 12);
}

/* Put a hand-made size field into a valid header and parse it. */
static int parse_field(const void *field, uint64_t *size)
{
    unsigned char hdr[OVA_TAR_BLOCK];
    make_header(hdr, "x", 0);
    memcpy(hdr + 124, field, 12);
    return ova_tar_parse_size(hdr, size);
}

static void test_parse_size_variants(void **state)
{
    (void)state;
    uint64_t v = 0;

    /* what other writers produce */
    assert_true(parse_field("   17 \0\0\0\0\0\0", &v));
    assert_true(v == 017);
    assert_true(parse_field("00000000017 ", &v)); /* blank terminator */
    assert_true(v == 017);
    assert_true(parse_field("17\0\0\0\0\0\0\0\0\0\0", &v));
    assert_true(v == 017);
    assert_true(parse_field("777777777777", &v)); /* 12 digits, no terminator */
    assert_true(v == UINT64_C(0777777777777));
    const unsigned char b256_top[12] = {0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_false(parse_field(b256_top, &v)); /* 2^88: beyond 64 bits */
    const unsigned char b256_small[12] = {0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    assert_true(parse_field(b256_small, &v));
    assert_true(v == 256);

    /* malformed */
    assert_false(parse_field("\0\0\0\0\0\0\0\0\0\0\0\0", &v));
    assert_false(parse_field("            ", &v));
    assert_false(parse_field("0000000008\0\0", &v)); /* 8 is not octal */
    assert_false(parse_field("00000000x17\0", &v));
    assert_false(parse_field("12\0x\0\0\0\0\0\0\0\0", &v)); /* text after the NUL */
    assert_false(parse_field("-0000000001\0", &v));
    assert_false(parse_field("1 2\0\0\0\0\0\0\0\0\0", &v));
    const unsigned char neg[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_false(parse_field(neg, &v)); /* base-256 -1 */
    const unsigned char neg2[12] = {0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_false(parse_field(neg2, &v));

    assert_false(ova_tar_parse_size(NULL, &v));
}

static void test_checksum(void **state)
{
    (void)state;
    unsigned char hdr[OVA_TAR_BLOCK];

    /* a name with bytes >= 0x80 makes signed and unsigned sums differ;
     * accept both, as GNU tar does, since old writers used signed chars */
    make_header(hdr, "disk\xc3\xa9.vmdk", 42);
    assert_true(ova_tar_checksum_ok(hdr));
    long ssum = 0;
    for (int i = 0; i < 512; i++)
        ssum += (i >= 148 && i < 156) ? ' ' : (signed char)hdr[i];
    char field[8];
    snprintf(field, sizeof field, "%06lo", (unsigned long)ssum);
    memcpy(hdr + 148, field, 6);
    assert_true(ova_tar_checksum_ok(hdr));

    /* leading-blank form some writers use */
    make_header(hdr, "a", 1);
    char digits[7];
    memcpy(digits, hdr + 148, 6);
    digits[6] = '\0';
    char blanked[9];
    snprintf(blanked, sizeof blanked, " %s ", digits + 1); /* drop one leading 0 */
    if (digits[0] == '0') {
        memcpy(hdr + 148, blanked, 8);
        assert_true(ova_tar_checksum_ok(hdr));
    }

    /* a garbled field or a wrong value */
    make_header(hdr, "a", 1);
    memcpy(hdr + 148, "abcdef\0 ", 8);
    assert_false(ova_tar_checksum_ok(hdr));
    make_header(hdr, "a", 1);
    memcpy(hdr + 148, "000000\0 ", 8);
    assert_false(ova_tar_checksum_ok(hdr));
    make_header(hdr, "a", 1);
    memset(hdr + 148, 0, 8);
    assert_false(ova_tar_checksum_ok(hdr));
    assert_false(ova_tar_checksum_ok(NULL));
}

static void test_mtime(void **state)
{
    (void)state;
    unsigned char hdr[OVA_TAR_BLOCK];
    ova_err err = {0};
    assert_int_equal(ova_tar_header(hdr, "a", 0, -5, &err), OVA_OK);
    assert_memory_equal(hdr + 136, "00000000000", 12);
    assert_true(ova_tar_checksum_ok(hdr));
    assert_int_equal(ova_tar_header(hdr, "a", 0, INT64_MAX, &err), OVA_OK);
    assert_memory_equal(hdr + 136, "77777777777", 12);
    assert_int_equal(ova_tar_header(hdr, "a", 0, 0, &err), OVA_OK);
    assert_memory_equal(hdr + 136, "00000000000", 12);
}

static void expect_bad_name(const char *name)
{
    unsigned char hdr[OVA_TAR_BLOCK];
    ova_err err = {0};
    assert_int_equal(ova_tar_header(hdr, name, 1, 0, &err), OVA_E_USAGE);
    assert_int_equal(err.status, OVA_E_USAGE);
    if (strstr(err.msg, "tar member") == NULL)
        fail_msg("unexpected message for bad name: %s", err.msg);
}

static void test_names(void **state)
{
    (void)state;
    char name[128];
    memset(name, 'a', sizeof name);

    /* 99 bytes is the longest that fits with its NUL */
    name[99] = '\0';
    unsigned char hdr[OVA_TAR_BLOCK];
    make_header(hdr, name, 1);
    assert_memory_equal(hdr, name, 99);
    assert_int_equal(hdr[99], 0);

    name[99] = 'a';
    name[100] = '\0';
    expect_bad_name(name);
    name[127] = '\0';
    expect_bad_name(name);
    expect_bad_name("");
    expect_bad_name("dir/disk.vmdk");
    expect_bad_name("/disk.vmdk");
    expect_bad_name("disk\n.vmdk");
    expect_bad_name("disk\t.vmdk");
    expect_bad_name("disk\x7f.vmdk");
    expect_bad_name(".");
    expect_bad_name("..");
    expect_bad_name(NULL);

    /* blanks and dots are fine */
    make_header(hdr, "my vm-disk1.vmdk", 1);
    make_header(hdr, "...vmdk", 1);
}

static void test_padding(void **state)
{
    (void)state;
    assert_true(ova_tar_padding(0) == 0);
    assert_true(ova_tar_padding(1) == 511);
    assert_true(ova_tar_padding(511) == 1);
    assert_true(ova_tar_padding(512) == 0);
    assert_true(ova_tar_padding(513) == 511);
    assert_true(ova_tar_padding(8 * GIB) == 0);
    assert_true(ova_tar_padding(8 * GIB + 1) == 511);
    assert_true(ova_tar_padding(UINT64_MAX) == 1);
}

/* ---- interop with GNU tar ---- */

typedef struct tmpfile_state {
    char path[64];
    int fd;
    char *listing; /* freed here so a failed assertion does not leak it */
} tmpfile_state;

static int tmp_setup(void **state)
{
    tmpfile_state *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    snprintf(t->path, sizeof t->path, "/tmp/ovatool-test-tar-XXXXXX");
    t->fd = mkstemp(t->path);
    if (t->fd < 0) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    tmpfile_state *t = *state;
    if (t->fd >= 0)
        close(t->fd);
    unlink(t->path);
    free(t->listing);
    free(t);
    return 0;
}

static int have_tar(void)
{
    return system("command -v tar >/dev/null 2>&1") == 0;
}

static void write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            fail_msg("write to the temp archive failed");
        c += w;
        n -= (size_t)w;
    }
}

/* Append one member: header, n bytes of data, zero padding. */
static void write_member(int fd, const char *name, const char *data, size_t n)
{
    unsigned char hdr[OVA_TAR_BLOCK];
    make_header(hdr, name, n);
    write_all(fd, hdr, sizeof hdr);
    write_all(fd, data, n);
    static const unsigned char zeros[OVA_TAR_BLOCK];
    write_all(fd, zeros, (size_t)ova_tar_padding(n));
}

/* Run `tar tvf path` and return its listing (caller frees), or fail. */
static char *tar_list(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "LC_ALL=C tar tvf '%s' 2>&1", path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t r;
    while ((r = fread(out + len, 1, cap - 1 - len, f)) > 0) {
        len += r;
        if (len == cap - 1) {
            char *t = realloc(out, cap * 2);
            assert_non_null(t);
            out = t;
            cap *= 2;
        }
    }
    out[len] = '\0';
    int rc = pclose(f);
    if (rc != 0) {
        print_error("tar output:\n%s\n", out);
        free(out);
        fail_msg("tar tvf exited with status %d", rc);
    }
    return out;
}

/* Check that line number idx of a `tar tv` listing names name with size. */
static void expect_listed(const char *listing, int idx, const char *name, const char *size)
{
    const char *line = listing;
    for (int i = 0; i < idx && line != NULL; i++) {
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    assert_non_null(line);
    char mode[32], owner[64], sz[32], date[32], tm[32], nm[128];
    /* -rw-r--r-- root/root 6 2023-11-14 22:13 hello.txt */
    if (sscanf(line, "%31s %63s %31s %31s %31s %127s", mode, owner, sz, date, tm, nm) != 6)
        fail_msg("cannot read tar listing line: %s", line);
    assert_string_equal(mode, "-rw-r--r--");
    assert_string_equal(owner, "root/root");
    assert_string_equal(sz, size);
    assert_string_equal(nm, name);
}

static void test_interop_small(void **state)
{
    tmpfile_state *t = *state;
    if (!have_tar()) {
        OVA_SKIP("tar not found: no interop test\n");
    }
    const char hello[] = "hello\n";
    char big[513];
    memset(big, 'x', sizeof big);
    write_member(t->fd, "hello.txt", hello, 6);
    write_member(t->fd, "vm-disk1.vmdk", big, sizeof big);
    write_member(t->fd, "empty.mf", "", 0);
    static const unsigned char eoa[2 * OVA_TAR_BLOCK];
    write_all(t->fd, eoa, sizeof eoa);
    assert_int_equal(lseek(t->fd, 0, SEEK_CUR), 512 + 512 + 512 + 1024 + 512 + 1024);

    t->listing = tar_list(t->path);
    expect_listed(t->listing, 0, "hello.txt", "6");
    expect_listed(t->listing, 1, "vm-disk1.vmdk", "513");
    expect_listed(t->listing, 2, "empty.mf", "0");
}

static void test_interop_base256(void **state)
{
    tmpfile_state *t = *state;
    if (!have_tar()) {
        OVA_SKIP("tar not found: no interop test\n");
    }
    /* a member of 8 GiB + 1 byte, then a small one: the data is a hole made
     * by ftruncate, so the file costs no disk space, and tar lists it by
     * seeking past the data */
    const uint64_t n = 8 * GIB + 1;
    unsigned char hdr[OVA_TAR_BLOCK];
    make_header(hdr, "huge.vmdk", n);
    assert_int_equal(hdr[124], 0x80);
    write_all(t->fd, hdr, sizeof hdr);
    off_t next = (off_t)(OVA_TAR_BLOCK + n + ova_tar_padding(n));
    assert_int_equal(ftruncate(t->fd, next), 0);
    assert_int_equal(lseek(t->fd, next, SEEK_SET), next);
    write_member(t->fd, "after.txt", "ok\n", 3);
    /* the two zero blocks at the end, also as a hole */
    off_t end = lseek(t->fd, 0, SEEK_CUR) + 2 * OVA_TAR_BLOCK;
    assert_int_equal(ftruncate(t->fd, end), 0);

    t->listing = tar_list(t->path);
    expect_listed(t->listing, 0, "huge.vmdk", "8589934593");
    expect_listed(t->listing, 1, "after.txt", "3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_member_fields),
        cmocka_unit_test(test_size_octal),
        cmocka_unit_test(test_size_base256),
        cmocka_unit_test(test_parse_size_variants),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_mtime),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_padding),
        cmocka_unit_test_setup_teardown(test_interop_small, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_interop_base256, tmp_setup, tmp_teardown),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
