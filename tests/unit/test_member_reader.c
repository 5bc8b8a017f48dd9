/* test_member_reader.c - unit tests for ova_member_reader (validate.h,
 * src/validate/validate_reader.c): one OVF file's bytes out of an OVA
 * whether it is one member, chunks (ovf:chunkSize) or a gzip stream
 * (ovf:compression), and the errors that name the member. The members sit
 * in a scratch file at offsets of the test's choosing (the reader needs
 * only the member table, not the tar headers); gzip streams come from zlib. */
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

#include <zlib.h>

#include "ovatool/validate.h"

#define FILE_BYTES 300000u

typedef struct fixture {
    int fd;
    char path[64];
    uint64_t end;              /* bytes written so far */
    ova_vmember m[16];
    size_t n;
    unsigned char *content;    /* the file's own bytes */
} fixture;

static unsigned char *make_content(void)
{
    unsigned char *c = malloc(FILE_BYTES);
    assert_non_null(c);
    /* text with a counter: compressible, and every offset distinct */
    for (size_t at = 0; at < FILE_BYTES; at += 16) {
        char line[17];
        snprintf(line, sizeof line, "byte %010zu\n", at);
        memcpy(c + at, line, FILE_BYTES - at < 16 ? FILE_BYTES - at : 16);
    }
    return c;
}

/* Add a member named name holding data; a gap of junk before it, so a
 * reader that ignores the offsets reads the wrong bytes. */
static void add_member(fixture *f, const char *name, const void *data, size_t len)
{
    static const char junk[] = "JUNKJUNKJUNK";
    assert_int_equal(pwrite(f->fd, junk, sizeof junk, (off_t)f->end), (ssize_t)sizeof junk);
    f->end += sizeof junk;
    assert_true(f->n < 16);
    ova_vmember *m = &f->m[f->n++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->offset = f->end;
    m->size = len;
    assert_int_equal(pwrite(f->fd, data, len, (off_t)f->end), (ssize_t)len);
    f->end += len;
}

static void setup(fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/test_member_reader.XXXXXX");
    f->fd = mkstemp(f->path);
    assert_true(f->fd >= 0);
    unlink(f->path);
    f->content = make_content();
}

static void teardown(fixture *f)
{
    close(f->fd);
    free(f->content);
}

/* gzip of data (RFC 1952, as gzip(1) writes it); *len its size. */
static unsigned char *gzip_of(const unsigned char *data, size_t n, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, n) + 64;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* What the tap saw: the members in order and their bytes. */
typedef struct seen {
    size_t order[16];
    size_t n_order;
    uint64_t bytes[16];
    int fail_at;               /* member index whose bytes make the tap fail; -1: never */
} seen;

static ova_status tap(void *ctx, size_t member, const void *data, size_t n, ova_err *err)
{
    (void)data;
    seen *s = ctx;
    if ((int)member == s->fail_at)
        return ova_err_set(err, OVA_E_IO, "tap refuses member %zu", member);
    if (s->n_order == 0 || s->order[s->n_order - 1] != member)
        s->order[s->n_order++] = member;
    s->bytes[member] += n;
    return OVA_OK;
}

/* Read the whole file in pieces of cap bytes; returns the status, the
 * bytes in *out (malloc'd) and their count in *len. */
static ova_status read_all(fixture *f, const ova_ovf_file *spec, size_t cap, seen *s, unsigned char **out,
                           size_t *len, ova_err *err)
{
    ova_member_reader *r;
    ova_status st = ova_member_reader_open(f->fd, f->m, f->n, spec, s ? tap : NULL, s, &r, err);
    *out = NULL;
    *len = 0;
    if (st != OVA_OK)
        return st;
    size_t room = FILE_BYTES * 2 + 1;
    unsigned char *buf = malloc(room);
    assert_non_null(buf);
    for (size_t got = 1; got > 0 && st == OVA_OK;) {
        size_t want = cap < room - *len ? cap : room - *len;
        assert_true(want > 0);
        st = ova_member_reader_read(r, buf + *len, want, &got, err);
        if (st == OVA_OK)
            *len += got;
    }
    ova_member_reader_close(&r);
    assert_null(r);
    *out = buf;
    return st;
}

static void expect_content(fixture *f, const ova_ovf_file *spec, size_t cap, seen *s)
{
    unsigned char *got;
    size_t len;
    ova_err err = { 0 };
    assert_int_equal(read_all(f, spec, cap, s, &got, &len, &err), OVA_OK);
    assert_int_equal(len, FILE_BYTES);
    assert_memory_equal(got, f->content, FILE_BYTES);
    free(got);
}

static void expect_error(fixture *f, const ova_ovf_file *spec, ova_status want, const char *msg)
{
    unsigned char *got;
    size_t len;
    ova_err err = { 0 };
    assert_int_equal(read_all(f, spec, 65536, NULL, &got, &len, &err), want);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("error \"%s\" does not hold \"%s\"", err.msg, msg);
    free(got);
}

static void test_plain(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    add_member(&f, "vm.ovf", "<x/>", 4);
    add_member(&f, "vm-disk1.vmdk", f.content, FILE_BYTES);
    ova_ovf_file spec = { "vm-disk1.vmdk", 0, false };
    seen s = { .fail_at = -1 };
    expect_content(&f, &spec, 4096, &s);
    assert_int_equal(s.n_order, 1);
    assert_int_equal(s.order[0], 1);
    assert_int_equal(s.bytes[1], FILE_BYTES);
    uint64_t size = 0;
    ova_err err = { 0 };
    assert_int_equal(ova_member_file_size(f.fd, f.m, f.n, &spec, &size, &err), OVA_OK);
    assert_int_equal(size, FILE_BYTES);
    ova_ovf_file absent = { "vm-disk2.vmdk", 0, false };
    expect_error(&f, &absent, OVA_E_FORMAT, "vm-disk2.vmdk: not in the archive");
    teardown(&f);
}

/* Chunks stored out of order in the archive are read in chunk order, each
 * member shown to the tap whole; any piece size gives the same bytes. */
static void test_chunks(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    const uint64_t cs = 131072;
    add_member(&f, "d.vmdk.000000002", f.content + 2 * cs, FILE_BYTES - 2 * cs);
    add_member(&f, "d.vmdk.000000000", f.content, cs);
    add_member(&f, "d.vmdk.000000001", f.content + cs, cs);
    add_member(&f, "d.vmdk.00000003", "x", 1); /* eight digits: not a chunk */
    ova_ovf_file spec = { "d.vmdk", cs, false };
    seen s = { .fail_at = -1 };
    expect_content(&f, &spec, 1000, &s);
    assert_int_equal(s.n_order, 3);
    assert_int_equal(s.order[0], 1);
    assert_int_equal(s.order[1], 2);
    assert_int_equal(s.order[2], 0);
    assert_int_equal(s.bytes[1], cs);
    assert_int_equal(s.bytes[0], FILE_BYTES - 2 * cs);
    expect_content(&f, &spec, 1, NULL);
    expect_content(&f, &spec, 1 << 20, NULL);

    ova_member_reader *r;
    ova_err err = { 0 };
    assert_int_equal(ova_member_reader_open(f.fd, f.m, f.n, &spec, NULL, NULL, &r, &err), OVA_OK);
    const size_t *parts;
    assert_int_equal(ova_member_reader_parts(r, &parts), 3);
    assert_int_equal(parts[0], 1);
    assert_int_equal(parts[2], 0);
    assert_int_equal(ova_member_reader_stored(r), FILE_BYTES);
    ova_member_reader_close(&r);
    teardown(&f);
}

static void test_chunk_errors(void **state)
{
    (void)state;
    fixture f;
    const uint64_t cs = 131072;
    ova_ovf_file spec = { "d.vmdk", cs, false };

    setup(&f); /* chunk 1 missing */
    add_member(&f, "d.vmdk.000000000", f.content, cs);
    add_member(&f, "d.vmdk.000000002", f.content + 2 * cs, FILE_BYTES - 2 * cs);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.vmdk.000000001: chunk missing from the archive");
    teardown(&f);

    setup(&f); /* a hostile last number allocates nothing more */
    add_member(&f, "d.vmdk.000000000", f.content, cs);
    add_member(&f, "d.vmdk.999999999", f.content, 1);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.vmdk.000000001: chunk missing from the archive (chunks of d.vmdk run "
                 "to .999999999)");
    teardown(&f);

    setup(&f); /* no first chunk at all */
    add_member(&f, "d.vmdk", f.content, cs);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.vmdk.000000000: not in the archive");
    teardown(&f);

    setup(&f); /* a middle chunk short of ovf:chunkSize */
    add_member(&f, "d.vmdk.000000000", f.content, cs - 1);
    add_member(&f, "d.vmdk.000000001", f.content + cs, cs);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.vmdk.000000000: chunk of 131071 bytes, must hold exactly 131072");
    teardown(&f);

    setup(&f); /* the last chunk longer than ovf:chunkSize */
    add_member(&f, "d.vmdk.000000000", f.content, cs);
    add_member(&f, "d.vmdk.000000001", f.content + cs, cs + 1);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.vmdk.000000001: chunk of 131073 bytes, the last must hold 1 to 131072");
    teardown(&f);

    setup(&f); /* a chunk the archive cuts short */
    add_member(&f, "d.vmdk.000000000", f.content, cs);
    f.m[0].truncated = true;
    expect_error(&f, &spec, OVA_E_FORMAT, "d.vmdk.000000000: chunk cut short by the end of the archive");
    teardown(&f);
}

static void test_gzip(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    size_t glen;
    unsigned char *gz = gzip_of(f.content, FILE_BYTES, &glen);
    add_member(&f, "d.vmdk.gz", gz, glen);
    ova_ovf_file spec = { "d.vmdk.gz", 0, true };
    seen s = { .fail_at = -1 };
    expect_content(&f, &spec, 777, &s);
    assert_int_equal(s.bytes[0], glen);
    expect_content(&f, &spec, 1, NULL);
    uint64_t size = 0;
    ova_err err = { 0 };
    assert_int_equal(ova_member_file_size(f.fd, f.m, f.n, &spec, &size, &err), OVA_OK);
    assert_int_equal(size, FILE_BYTES);
    ova_member_reader *r;
    assert_int_equal(ova_member_reader_open(f.fd, f.m, f.n, &spec, NULL, NULL, &r, &err), OVA_OK);
    assert_int_equal(ova_member_reader_stored(r), glen);
    ova_member_reader_close(&r);
    free(gz);
    teardown(&f);
}

/* gzip, then chunked (DSP0243's order); and two gzip members in a row
 * (RFC 1952 allows it; `cat a.gz b.gz`). */
static void test_gzip_chunks_and_members(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    size_t l1, l2;
    unsigned char *g1 = gzip_of(f.content, 100000, &l1);
    unsigned char *g2 = gzip_of(f.content + 100000, FILE_BYTES - 100000, &l2);
    unsigned char *both = malloc(l1 + l2);
    assert_non_null(both);
    memcpy(both, g1, l1);
    memcpy(both + l1, g2, l2);
    size_t cs = (l1 + l2) / 3 + 1;
    add_member(&f, "d.vmdk.gz.000000000", both, cs);
    add_member(&f, "d.vmdk.gz.000000001", both + cs, cs);
    add_member(&f, "d.vmdk.gz.000000002", both + 2 * cs, l1 + l2 - 2 * cs);
    ova_ovf_file spec = { "d.vmdk.gz", cs, true };
    seen s = { .fail_at = -1 };
    expect_content(&f, &spec, 5000, &s);
    assert_int_equal(s.n_order, 3);
    assert_int_equal(s.bytes[0] + s.bytes[1] + s.bytes[2], l1 + l2);
    free(g1);
    free(g2);
    free(both);
    teardown(&f);
}

static void test_gzip_errors(void **state)
{
    (void)state;
    fixture f;
    size_t glen;
    ova_ovf_file spec = { "d.gz", 0, true };

    setup(&f); /* cut short */
    unsigned char *gz = gzip_of(f.content, FILE_BYTES, &glen);
    add_member(&f, "d.gz", gz, glen - 100);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.gz: gzip stream cut short");
    uint64_t size;
    ova_err err = { 0 };
    assert_int_equal(ova_member_file_size(f.fd, f.m, f.n, &spec, &size, &err), OVA_E_FORMAT);
    assert_non_null(strstr(err.msg, "d.gz: gzip stream cut short"));
    teardown(&f);

    setup(&f); /* a byte changed in the middle: the CRC or the code catches it */
    gz[glen / 2] ^= 0x55;
    add_member(&f, "d.gz", gz, glen);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.gz: gzip stream does not inflate");
    gz[glen / 2] ^= 0x55;
    teardown(&f);

    setup(&f); /* bytes after the stream that are no gzip member */
    unsigned char *tail = malloc(glen + 4);
    assert_non_null(tail);
    memcpy(tail, gz, glen);
    memcpy(tail + glen, "JUNK", 4);
    add_member(&f, "d.gz", tail, glen + 4);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.gz: gzip stream does not inflate");
    free(tail);
    teardown(&f);

    setup(&f); /* not gzip at all */
    add_member(&f, "d.gz", f.content, 1000);
    expect_error(&f, &spec, OVA_E_FORMAT, "d.gz: gzip stream does not inflate");
    teardown(&f);

    /* after a failed read, drain gives the tap every stored byte */
    setup(&f);
    gz[glen / 2] ^= 0x55;
    add_member(&f, "d.gz", gz, glen);
    seen s = { .fail_at = -1 };
    ova_member_reader *r;
    assert_int_equal(ova_member_reader_open(f.fd, f.m, f.n, &spec, tap, &s, &r, &err), OVA_OK);
    unsigned char buf[4096];
    size_t got = 1;
    ova_status st = OVA_OK;
    while (st == OVA_OK && got > 0)
        st = ova_member_reader_read(r, buf, sizeof buf, &got, &err);
    assert_int_equal(st, OVA_E_FORMAT);
    for (got = 1; got > 0;)
        assert_int_equal(ova_member_reader_drain(r, &got, &err), OVA_OK);
    assert_int_equal(s.bytes[0], glen);
    ova_member_reader_close(&r);
    free(gz);
    teardown(&f);
}

/* The tap's failure stops the read with its status and message. */
static void test_tap_failure(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    add_member(&f, "d.vmdk.000000000", f.content, 1000);
    add_member(&f, "d.vmdk.000000001", f.content + 1000, 500);
    ova_ovf_file spec = { "d.vmdk", 1000, false };
    seen s = { .fail_at = 1 };
    unsigned char *got;
    size_t len;
    ova_err err = { 0 };
    assert_int_equal(read_all(&f, &spec, 4096, &s, &got, &len, &err), OVA_E_IO);
    assert_non_null(strstr(err.msg, "tap refuses member 1"));
    assert_int_equal(len, 1000);
    free(got);
    ova_ovf_file bad = { "", 0, false };
    expect_error(&f, &bad, OVA_E_FORMAT, "is empty or longer than a member name");
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_chunk_errors),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_gzip_chunks_and_members),
        cmocka_unit_test(test_gzip_errors),
        cmocka_unit_test(test_tap_failure),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
