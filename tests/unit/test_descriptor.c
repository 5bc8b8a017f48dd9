/* test_descriptor.c - unit tests for the VMDK descriptor parser, on text
 * written by qemu-img and on hand-written edge and error cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovatool/buf.h"
#include "ovatool/descriptor.h"
#include "ovatool/limits.h"

#define MIB ((size_t)1 << 20)

/* A valid header: 4 lines, so the first extent line below it is line 5. */
#define HDR "version=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n"

/* Limits the parser promises (descriptor.c, limits.h). */
#define MAX_SECTORS (UINT64_MAX / 512u)
#define CAP_SECTORS (OVA_MAX_CAPACITY / 512u)

/* ---- helpers ---- */

static ova_descriptor *parse_ok_len(const char *text, size_t len, const char *name)
{
    ova_descriptor *d = NULL;
    ova_err err = {0};
    ova_status st = ova_descriptor_parse(text, len, name, &d, &err);
    if (st != OVA_OK)
        fail_msg("parse of %s failed: %s", name, err.msg);
    assert_non_null(d);
    return d;
}

static ova_descriptor *parse_ok(const char *text)
{
    return parse_ok_len(text, strlen(text), "t.vmdk");
}

/* Parse len bytes that must fail with OVA_E_FORMAT and a message holding want. */
static void expect_err_len(const char *text, size_t len, const char *want)
{
    ova_descriptor *d = (ova_descriptor *)&d; /* must be reset to NULL */
    ova_err err = {0};
    ova_status st = ova_descriptor_parse(text, len, "t.vmdk", &d, &err);
    if (st == OVA_OK) {
        ova_descriptor_free(&d);
        fail_msg("accepted, wanted \"%s\"", want);
    }
    assert_int_equal(st, OVA_E_FORMAT);
    assert_int_equal(err.status, OVA_E_FORMAT);
    assert_null(d);
    if (strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
}

static void expect_err(const char *text, const char *want)
{
    expect_err_len(text, strlen(text), want);
}

static void expect_extent(const ova_extent_desc *e, ova_extent_access access, uint64_t sectors,
                          ova_extent_type type, const char *type_name, const char *file,
                          uint64_t offset)
{
    assert_int_equal(e->access, access);
    assert_true(e->sectors == sectors);
    assert_int_equal(e->type, type);
    assert_string_equal(e->type_name, type_name);
    if (file == NULL)
        assert_null(e->file_name);
    else
        assert_string_equal(e->file_name, file);
    assert_true(e->offset == offset);
}

/* ---- descriptors written by qemu-img ---- */

typedef struct qemu_state {
    char dir[64];
    char *text;         /* freed by teardown so failed asserts do not leak */
    char *text2;
    ova_descriptor *d;
    ova_descriptor *d2;
} qemu_state;

static int qemu_setup(void **state)
{
    qemu_state *q = calloc(1, sizeof *q);
    if (q == NULL)
        return -1;
    snprintf(q->dir, sizeof q->dir, "/tmp/ovatool-test-desc-XXXXXX");
    if (mkdtemp(q->dir) == NULL) {
        free(q);
        return -1;
    }
    *state = q;
    return 0;
}

static int qemu_teardown(void **state)
{
    qemu_state *q = *state;
    DIR *dir = opendir(q->dir);
    if (dir != NULL) {
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", q->dir, de->d_name);
            unlink(p);
        }
        closedir(dir);
    }
    rmdir(q->dir);
    free(q->text);
    free(q->text2);
    ova_descriptor_free(&q->d);
    ova_descriptor_free(&q->d2);
    free(q);
    return 0;
}

static void need_qemu_img(void)
{
    if (system("command -v qemu-img >/dev/null 2>&1") != 0) {
        OVA_SKIP("qemu-img not found: no tests on real descriptors\n");
    }
}

/* qemu-img create -f vmdk ARGS in the test folder. */
static void qemu_create(const qemu_state *q, const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd '%s' && qemu-img create -q -f vmdk %s", q->dir, args);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("'%s' failed with status %d", cmd, rc);
}

static void path_of(const qemu_state *q, const char *file, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", q->dir, file);
}

/* A small text file, whole. */
static char *read_text(const qemu_state *q, const char *file, size_t *len)
{
    char p[256];
    path_of(q, file, p, sizeof p);
    FILE *f = fopen(p, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", p);
    char *buf = malloc(65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The embedded descriptor of a hosted sparse file, with its NUL padding:
 * descriptorOffset at byte 28 and descriptorSize at 36 (sectors, LE). */
static char *read_embedded(const qemu_state *q, const char *file, size_t *len)
{
    char p[256];
    path_of(q, file, p, sizeof p);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        fail_msg("cannot open %s", p);
    unsigned char h[512];
    ssize_t r = pread(fd, h, sizeof h, 0);
    if (r != 512 || memcmp(h, "KDMV", 4) != 0) {
        close(fd);
        fail_msg("%s is not a hosted sparse extent", p);
    }
    uint64_t off = le64(h + 28), size = le64(h + 36);
    if (off == 0 || size == 0 || size > 20480) {
        close(fd);
        fail_msg("%s: no usable embedded descriptor (offset %llu, size %llu)", p,
                 (unsigned long long)off, (unsigned long long)size);
    }
    char *buf = malloc(size * 512);
    if (buf == NULL) {
        close(fd);
        fail_msg("out of memory");
    }
    r = pread(fd, buf, size * 512, (off_t)(off * 512));
    close(fd);
    if (r != (ssize_t)(size * 512)) {
        free(buf);
        fail_msg("%s: short read of the embedded descriptor", p);
    }
    *len = size * 512;
    return buf;
}

/* The value of `KEY=hex` in the text, read independently of the parser. */
static uint32_t hex_key_in_text(const char *text, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\n%s=", key);
    const char *p = strstr(text, pat);
    if (p == NULL)
        fail_msg("no %s= in the text", key);
    return (uint32_t)strtoul(p + strlen(pat), NULL, 16);
}

static uint64_t file_size(const qemu_state *q, const char *file)
{
    char p[256];
    struct stat st;
    path_of(q, file, p, sizeof p);
    if (stat(p, &st) != 0)
        fail_msg("cannot stat %s", p);
    return (uint64_t)st.st_size;
}

/* Checks every qemu-made base descriptor passes. */
static void expect_base(const ova_descriptor *d, const char *text, const char *create_type,
                        uint64_t sectors, const char *adapter)
{
    assert_int_equal(d->version, 1);
    assert_string_equal(d->create_type, create_type);
    assert_true(d->cid == hex_key_in_text(text, "CID"));
    assert_true(d->parent_cid == 0xffffffffu);
    assert_null(d->parent_hint);
    assert_true(ova_descriptor_sectors(d) == sectors);
    assert_string_equal(ova_descriptor_ddb(d, "ddb.adapterType"), adapter);
    assert_non_null(ova_descriptor_ddb(d, "ddb.geometry.cylinders"));
    assert_string_equal(ova_descriptor_ddb(d, "ddb.virtualHWVersion"), "4");
}

static void test_qemu_monolithic_flat(void **state)
{
    qemu_state *q = *state;
    need_qemu_img();
    qemu_create(q, "-o subformat=monolithicFlat,adapter_type=lsilogic disk.vmdk 1G");
    size_t len;
    q->text = read_text(q, "disk.vmdk", &len);
    q->d = parse_ok_len(q->text, len, "disk.vmdk");
    expect_base(q->d, q->text, "monolithicFlat", 2097152, "lsilogic");
    assert_int_equal(q->d->n_extents, 1);
    expect_extent(&q->d->extents[0], OVA_ACCESS_RW, 2097152, OVA_EXTENT_FLAT, "FLAT",
                  "disk-flat.vmdk", 0);
    assert_true(file_size(q, "disk-flat.vmdk") == 2097152 * UINT64_C(512));
}

static void test_qemu_two_gb_flat(void **state)
{
    qemu_state *q = *state;
    need_qemu_img();
    qemu_create(q, "-o subformat=twoGbMaxExtentFlat disk.vmdk 5G");
    size_t len;
    q->text = read_text(q, "disk.vmdk", &len);
    q->d = parse_ok_len(q->text, len, "disk.vmdk");
    expect_base(q->d, q->text, "twoGbMaxExtentFlat", 10485760, "ide");
    assert_int_equal(q->d->n_extents, 3);
    const char *names[] = {"disk-f001.vmdk", "disk-f002.vmdk", "disk-f003.vmdk"};
    uint64_t sum = 0;
    for (size_t i = 0; i < 3; i++) {
        const ova_extent_desc *e = &q->d->extents[i];
        expect_extent(e, OVA_ACCESS_RW, e->sectors, OVA_EXTENT_FLAT, "FLAT", names[i], 0);
        /* each piece is at most 2 GiB and its file is exactly that big */
        assert_true(e->sectors > 0 && e->sectors <= 4194304);
        assert_true(file_size(q, names[i]) == e->sectors * 512);
        sum += e->sectors;
    }
    assert_true(sum == 10485760);
}

static void test_qemu_monolithic_sparse(void **state)
{
    qemu_state *q = *state;
    need_qemu_img();
    qemu_create(q, "-o subformat=monolithicSparse,adapter_type=lsilogic disk.vmdk 1G");
    size_t len;
    q->text = read_embedded(q, "disk.vmdk", &len);
    assert_true(len > strlen(q->text)); /* NUL padding is part of the input */
    q->d = parse_ok_len(q->text, len, "disk.vmdk");
    expect_base(q->d, q->text, "monolithicSparse", 2097152, "lsilogic");
    assert_int_equal(q->d->n_extents, 1);
    expect_extent(&q->d->extents[0], OVA_ACCESS_RW, 2097152, OVA_EXTENT_SPARSE, "SPARSE",
                  "disk.vmdk", 0);
}

static void test_qemu_two_gb_sparse(void **state)
{
    qemu_state *q = *state;
    need_qemu_img();
    qemu_create(q, "-o subformat=twoGbMaxExtentSparse,adapter_type=buslogic disk.vmdk 5G");
    size_t len;
    q->text = read_text(q, "disk.vmdk", &len);
    q->d = parse_ok_len(q->text, len, "disk.vmdk");
    expect_base(q->d, q->text, "twoGbMaxExtentSparse", 10485760, "buslogic");
    assert_int_equal(q->d->n_extents, 3);
    const char *names[] = {"disk-s001.vmdk", "disk-s002.vmdk", "disk-s003.vmdk"};
    for (size_t i = 0; i < 3; i++) {
        const ova_extent_desc *e = &q->d->extents[i];
        expect_extent(e, OVA_ACCESS_RW, e->sectors, OVA_EXTENT_SPARSE, "SPARSE", names[i], 0);
        /* the extent's own header agrees on its capacity (byte 12, LE) */
        char p[256];
        path_of(q, names[i], p, sizeof p);
        int fd = open(p, O_RDONLY);
        assert_true(fd >= 0);
        unsigned char h[512];
        ssize_t r = pread(fd, h, sizeof h, 0);
        close(fd);
        assert_int_equal(r, 512);
        assert_memory_equal(h, "KDMV", 4);
        assert_true(le64(h + 12) == e->sectors);
    }
}

static void test_qemu_stream_optimized(void **state)
{
    qemu_state *q = *state;
    need_qemu_img();
    qemu_create(q, "-o subformat=streamOptimized disk.vmdk 5G");
    size_t len;
    q->text = read_embedded(q, "disk.vmdk", &len);
    q->d = parse_ok_len(q->text, len, "disk.vmdk");
    expect_base(q->d, q->text, "streamOptimized", 10485760, "ide");
    assert_int_equal(q->d->n_extents, 1);
    expect_extent(&q->d->extents[0], OVA_ACCESS_RW, 10485760, OVA_EXTENT_SPARSE, "SPARSE",
                  "disk.vmdk", 0);
}

static void test_qemu_delta(void **state)
{
    qemu_state *q = *state;
    need_qemu_img();
    qemu_create(q, "-o subformat=monolithicSparse base.vmdk 1G");
    qemu_create(q, "-b base.vmdk -F vmdk child.vmdk");
    size_t len;
    q->text = read_embedded(q, "base.vmdk", &len);
    q->d = parse_ok_len(q->text, len, "base.vmdk");
    q->text2 = read_embedded(q, "child.vmdk", &len);
    q->d2 = parse_ok_len(q->text2, len, "child.vmdk");
    assert_string_equal(q->d2->create_type, "monolithicSparse");
    assert_true(q->d2->cid == hex_key_in_text(q->text2, "CID"));
    assert_true(q->d2->parent_cid == q->d->cid);
    assert_non_null(q->d2->parent_hint);
    assert_string_equal(q->d2->parent_hint, "base.vmdk");
    assert_int_equal(q->d2->n_extents, 1);
    expect_extent(&q->d2->extents[0], OVA_ACCESS_RW, 2097152, OVA_EXTENT_SPARSE, "SPARSE",
                  "child.vmdk", 0);
}

/* ---- hand-written descriptors ---- */

static void test_crlf(void **state)
{
    (void)state;
    const char *t = "# Disk DescriptorFile\r\n"
                    "version=1\r\n"
                    "encoding=\"UTF-8\"\r\n"
                    "CID=1a2b3c4d\r\n"
                    "parentCID=ffffffff\r\n"
                    "createType=\"monolithicSparse\"\r\n"
                    "\r\n"
                    "# Extent description\r\n"
                    "RW 41943040 SPARSE \"win disk.vmdk\"\r\n"
                    "\r\n"
                    "#DDB\r\n"
                    "\r\n"
                    "ddb.adapterType = \"lsilogic\"\r\n"
                    "ddb.uuid = \"60 00 c2 9a 01 02 03 04-05 06 07 08 09 0a 0b 0c\"\r\n";
    ova_descriptor *d = parse_ok(t);
    assert_int_equal(d->version, 1);
    assert_true(d->cid == 0x1a2b3c4d);
    assert_true(d->parent_cid == 0xffffffffu);
    assert_string_equal(d->encoding, "UTF-8");
    assert_string_equal(d->create_type, "monolithicSparse");
    assert_int_equal(d->n_extents, 1);
    expect_extent(&d->extents[0], OVA_ACCESS_RW, 41943040, OVA_EXTENT_SPARSE, "SPARSE",
                  "win disk.vmdk", 0);
    assert_int_equal(d->n_ddb, 2);
    assert_string_equal(ova_descriptor_ddb(d, "ddb.adapterType"), "lsilogic");
    assert_string_equal(ova_descriptor_ddb(d, "ddb.uuid"),
                        "60 00 c2 9a 01 02 03 04-05 06 07 08 09 0a 0b 0c");
    ova_descriptor_free(&d);
    assert_null(d);

    /* CRLF line counting in messages */
    expect_err("# c\r\n\r\nversion=1\r\nCID=zz\r\n", "t.vmdk: line 4: bad number for CID");
}

static void test_comments_blanks_and_case(void **state)
{
    (void)state;
    const char *t = "\n"
                    "   # indented comment with key=value\n"
                    "# RW 100 FLAT \"not-an-extent.vmdk\" 0\n"
                    "VERSION = 1\n"
                    "\tcid\t=\t0000abcd  \n"
                    "isNativeSnapshot=\"no\"\n"
                    "changeTrackPath=\"disk-ctk.vmdk\"\n"
                    "someFutureKey=whatever\n"
                    "createtype = monolithicFlat\n"
                    "\n"
                    "  rw   2048\tflat  \"disk-flat.vmdk\"   0   \n"
                    "rdonly 8 Flat \"ro.vmdk\"\n"
                    "#DDB\n"
                    "ddb.adapterType=ide\n"
                    "DDB.ToolsVersion   =   \"2147483647\"\n"
                    "ddb.adapterType = \"lsilogic\"\n"
                    "ddb.comment = \"a=b # not a comment\"\n"
                    "ddb.empty = \"\"\n";
    ova_descriptor *d = parse_ok(t);
    assert_int_equal(d->version, 1);
    assert_true(d->cid == 0xabcd);
    assert_true(d->parent_cid == 0xffffffffu); /* absent: a base disk */
    assert_string_equal(d->create_type, "monolithicFlat");
    assert_null(d->encoding);
    assert_null(d->parent_hint);
    assert_int_equal(d->n_extents, 2);
    expect_extent(&d->extents[0], OVA_ACCESS_RW, 2048, OVA_EXTENT_FLAT, "flat", "disk-flat.vmdk",
                  0);
    expect_extent(&d->extents[1], OVA_ACCESS_RDONLY, 8, OVA_EXTENT_FLAT, "Flat", "ro.vmdk", 0);
    /* repeated key: the later line wins; lookups ignore case */
    assert_string_equal(ova_descriptor_ddb(d, "ddb.adapterType"), "lsilogic");
    assert_string_equal(ova_descriptor_ddb(d, "DDB.ADAPTERTYPE"), "lsilogic");
    assert_string_equal(ova_descriptor_ddb(d, "ddb.toolsVersion"), "2147483647");
    assert_string_equal(ova_descriptor_ddb(d, "ddb.comment"), "a=b # not a comment");
    assert_string_equal(ova_descriptor_ddb(d, "ddb.empty"), "");
    assert_null(ova_descriptor_ddb(d, "ddb.uuid"));
    assert_null(ova_descriptor_ddb(d, "adapterType"));
    assert_null(ova_descriptor_ddb(d, NULL));
    assert_null(ova_descriptor_ddb(NULL, "ddb.adapterType"));
    /* keys keep the case they were written in */
    int seen = 0;
    for (size_t i = 0; i < d->n_ddb; i++)
        if (strcmp(d->ddb[i].key, "DDB.ToolsVersion") == 0)
            seen = 1;
    assert_true(seen);
    ova_descriptor_free(&d);
}

static void test_quoted_names(void **state)
{
    (void)state;
    const char *t = HDR
        "RW 2048 FLAT \"My VM/disk one=1 #2-flat.vmdk\" 0\n"
        "RW\t4096\tFLAT\t\"/vmfs/volumes/ds 1/vm/disk-flat.vmdk\"\t128\n"
        "RW 1 FLAT \"C:\\Users\\me\\Virtual Machines\\disk-flat.vmdk\" 0\n"
        "RW 3 SPARSE \"caf\xc3\xa9.vmdk\"\n"
        "RW 1 FLAT \"x\"0\n";
    ova_descriptor *d = parse_ok(t);
    assert_int_equal(d->n_extents, 5);
    expect_extent(&d->extents[0], OVA_ACCESS_RW, 2048, OVA_EXTENT_FLAT, "FLAT",
                  "My VM/disk one=1 #2-flat.vmdk", 0);
    expect_extent(&d->extents[1], OVA_ACCESS_RW, 4096, OVA_EXTENT_FLAT, "FLAT",
                  "/vmfs/volumes/ds 1/vm/disk-flat.vmdk", 128);
    expect_extent(&d->extents[2], OVA_ACCESS_RW, 1, OVA_EXTENT_FLAT, "FLAT",
                  "C:\\Users\\me\\Virtual Machines\\disk-flat.vmdk", 0);
    expect_extent(&d->extents[3], OVA_ACCESS_RW, 3, OVA_EXTENT_SPARSE, "SPARSE",
                  "caf\xc3\xa9.vmdk", 0);
    expect_extent(&d->extents[4], OVA_ACCESS_RW, 1, OVA_EXTENT_FLAT, "FLAT", "x", 0);
    assert_true(ova_descriptor_sectors(d) == 2048 + 4096 + 1 + 3 + 1);
    ova_descriptor_free(&d);
}

static void test_delta(void **state)
{
    (void)state;
    const char *t = "# Disk DescriptorFile\n"
                    "version=1\n"
                    "encoding=\"windows-1252\"\n"
                    "CID=5e1f0a2b\n"
                    "parentCID=1a2b3c4d\n"
                    "isNativeSnapshot=\"no\"\n"
                    "createType=\"monolithicSparse\"\n"
                    "parentFileNameHint=\"C:\\VMs\\Base Disk.vmdk\"\n"
                    "# Extent description\n"
                    "RW 41943040 SPARSE \"Base Disk-000001.vmdk\"\n";
    ova_descriptor *d = parse_ok(t);
    assert_true(d->cid == 0x5e1f0a2b);
    assert_true(d->parent_cid == 0x1a2b3c4d);
    assert_string_equal(d->parent_hint, "C:\\VMs\\Base Disk.vmdk");
    assert_string_equal(d->encoding, "windows-1252");
    assert_int_equal(d->n_ddb, 0);
    assert_null(ova_descriptor_ddb(d, "ddb.adapterType"));
    expect_extent(&d->extents[0], OVA_ACCESS_RW, 41943040, OVA_EXTENT_SPARSE, "SPARSE",
                  "Base Disk-000001.vmdk", 0);
    ova_descriptor_free(&d);

    /* fewer than 8 hex digits (qemu drops leading zeros), upper case */
    d = parse_ok("version=1\nCID=c3376b4\nparentCID=ABCDEF\ncreateType=\"x\"\nRW 1 ZERO\n");
    assert_true(d->cid == 0xc3376b4);
    assert_true(d->parent_cid == 0xabcdef);
    ova_descriptor_free(&d);
}

static void test_extent_types(void **state)
{
    (void)state;
    const char *t = HDR
        "RW 1024 ZERO\n"
        "RW 2048 FLAT \"a.vmdk\" 10\n"
        "RDONLY 100 ZERO \"ignored.vmdk\"\n"
        "NOACCESS 5 VMFSRDM \"rdm.vmdk\"\n"
        "RW 7 VMFS \"v-flat.vmdk\"\n"
        "RW 9 VMFSSPARSE \"d-delta.vmdk\"\n"
        "RW 3 SESPARSE \"s-sesparse.vmdk\"\n"
        "RW 4 VMFSRAW \"raw.vmdk\" 77\n"
        "RW 0 FLAT \"empty.vmdk\" 0\n";
    ova_descriptor *d = parse_ok(t);
    assert_int_equal(d->n_extents, 9);
    expect_extent(&d->extents[0], OVA_ACCESS_RW, 1024, OVA_EXTENT_ZERO, "ZERO", NULL, 0);
    expect_extent(&d->extents[1], OVA_ACCESS_RW, 2048, OVA_EXTENT_FLAT, "FLAT", "a.vmdk", 10);
    expect_extent(&d->extents[2], OVA_ACCESS_RDONLY, 100, OVA_EXTENT_ZERO, "ZERO", NULL, 0);
    expect_extent(&d->extents[3], OVA_ACCESS_NOACCESS, 5, OVA_EXTENT_OTHER, "VMFSRDM",
                  "rdm.vmdk", 0);
    expect_extent(&d->extents[4], OVA_ACCESS_RW, 7, OVA_EXTENT_VMFS, "VMFS", "v-flat.vmdk", 0);
    expect_extent(&d->extents[5], OVA_ACCESS_RW, 9, OVA_EXTENT_VMFSSPARSE, "VMFSSPARSE",
                  "d-delta.vmdk", 0);
    expect_extent(&d->extents[6], OVA_ACCESS_RW, 3, OVA_EXTENT_OTHER, "SESPARSE",
                  "s-sesparse.vmdk", 0);
    expect_extent(&d->extents[7], OVA_ACCESS_RW, 4, OVA_EXTENT_OTHER, "VMFSRAW", "raw.vmdk", 0);
    expect_extent(&d->extents[8], OVA_ACCESS_RW, 0, OVA_EXTENT_FLAT, "FLAT", "empty.vmdk", 0);
    assert_true(ova_descriptor_sectors(d) == 1024 + 2048 + 100 + 5 + 7 + 9 + 3 + 4);
    ova_descriptor_free(&d);
}

static void test_nul_ends_text(void **state)
{
    (void)state;
    static const char t[] = HDR "RW 8 ZERO\n\0RW garbage that is never read\n\0\0\0";
    ova_descriptor *d = parse_ok_len(t, sizeof t, "t.vmdk");
    assert_int_equal(d->n_extents, 1);
    ova_descriptor_free(&d);

    /* a text that is all padding is empty */
    static const char zeros[512];
    expect_err_len(zeros, sizeof zeros, "t.vmdk: empty descriptor");
    /* and no trailing newline is needed */
    d = parse_ok(HDR "RW 8 ZERO");
    assert_int_equal(d->n_extents, 1);
    ova_descriptor_free(&d);
}

static void test_huge_numbers(void **state)
{
    (void)state;
    char t[512];

    /* the largest disk ovatool exports (limits.h) */
    snprintf(t, sizeof t, HDR "RW %llu ZERO\n", (unsigned long long)CAP_SECTORS);
    ova_descriptor *d = parse_ok(t);
    assert_true(ova_descriptor_sectors(d) == CAP_SECTORS);
    ova_descriptor_free(&d);

    /* the largest offset whose byte value fits in 64 bits */
    snprintf(t, sizeof t, HDR "RW 1 FLAT \"a\" %llu\n", (unsigned long long)(MAX_SECTORS - 1));
    d = parse_ok(t);
    assert_true(d->extents[0].offset == MAX_SECTORS - 1);
    ova_descriptor_free(&d);

    /* 2 TB in 2 GB pieces, as a 64-bit sum well above 32 bits */
    ova_buf b = OVA_BUF_INIT;
    ova_buf_puts(&b, HDR);
    for (int i = 0; i < 1000; i++)
        ova_buf_printf(&b, "RW 4192256 SPARSE \"big-s%03d.vmdk\"\n", i + 1);
    assert_false(ova_buf_failed(&b));
    d = parse_ok(b.data);
    assert_int_equal(d->n_extents, 1000);
    assert_true(ova_descriptor_sectors(d) == UINT64_C(4192256) * 1000);
    assert_string_equal(d->extents[999].file_name, "big-s1000.vmdk");
    ova_descriptor_free(&d);
    ova_buf_free(&b);

    snprintf(t, sizeof t, HDR "RW %llu ZERO\n", (unsigned long long)MAX_SECTORS + 1);
    expect_err(t, "t.vmdk: line 5: sectors overflow");
    expect_err(HDR "RW 18446744073709551615 ZERO\n", "t.vmdk: line 5: sectors overflow");
    expect_err(HDR "RW 18446744073709551616 ZERO\n",
               "t.vmdk: line 5: bad number: extent size 18446744073709551616 does not fit");
    expect_err(HDR "RW 99999999999999999999999999999999 FLAT \"a\" 0\n",
               "t.vmdk: line 5: bad number");
    snprintf(t, sizeof t, HDR "RW 1 ZERO\nRW 2 FLAT \"a\" %llu\n",
             (unsigned long long)MAX_SECTORS - 1);
    expect_err(t, "t.vmdk: line 6: sectors overflow");
    expect_err(HDR "RW 1 FLAT \"a\" 18446744073709551616\n", "t.vmdk: line 5: bad number: offset");
}

/* Parse text that must fail with OVA_E_UNSUPPORTED and a message holding want. */
static void expect_unsupported(const char *text, const char *want)
{
    ova_descriptor *d = NULL;
    ova_err err = {0};
    ova_status st = ova_descriptor_parse(text, strlen(text), "t.vmdk", &d, &err);
    if (st == OVA_OK) {
        ova_descriptor_free(&d);
        fail_msg("accepted, wanted \"%s\"", want);
    }
    assert_int_equal(st, OVA_E_UNSUPPORTED);
    assert_null(d);
    if (strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
}

/* One capacity limit for every kind of disk, the one validate applies:
 * ZERO, FLAT, VMFS and SPARSE extents alike, one extent or a sum. */
static void test_capacity_limit(void **state)
{
    (void)state;
    char t[512];
    snprintf(t, sizeof t, HDR "RW %llu ZERO\n", (unsigned long long)CAP_SECTORS + 1);
    expect_unsupported(t, "t.vmdk: line 5: the extents add up to 70368744178176 bytes, above ovatool's "
                          "limit of 64 TiB (70368744177664 bytes)");
    /* the disk that ran for days: 2^54 - 1 sectors of nothing */
    expect_unsupported(HDR "RW 18014398509481983 ZERO\n", "above ovatool's limit of 64 TiB");
    snprintf(t, sizeof t, HDR "RW %llu FLAT \"a\" 0\n", (unsigned long long)CAP_SECTORS * 2);
    expect_unsupported(t, "t.vmdk: line 5: the extents add up to");
    snprintf(t, sizeof t, HDR "RW %llu VMFS \"a\"\n", (unsigned long long)CAP_SECTORS + 8);
    expect_unsupported(t, "limit of 64 TiB");
    snprintf(t, sizeof t, HDR "RW %llu SPARSE \"a\"\n", (unsigned long long)CAP_SECTORS + 128);
    expect_unsupported(t, "limit of 64 TiB");
    /* two halves that only exceed it together */
    snprintf(t, sizeof t, HDR "RW %llu ZERO\nRW %llu FLAT \"a\" 0\n", (unsigned long long)CAP_SECTORS / 2,
             (unsigned long long)CAP_SECTORS / 2);
    ova_descriptor *d = parse_ok(t);
    assert_true(ova_descriptor_sectors(d) == CAP_SECTORS);
    ova_descriptor_free(&d);
    snprintf(t, sizeof t, HDR "RW %llu ZERO\nRW %llu FLAT \"a\" 0\n", (unsigned long long)CAP_SECTORS / 2,
             (unsigned long long)CAP_SECTORS / 2 + 1);
    expect_unsupported(t, "t.vmdk: line 6: the extents add up to");
    /* the halves that used to overflow 64 bits only together: the first is too big already */
    expect_unsupported(HDR "RW 18014398509481984 ZERO\nRW 18014398509481984 ZERO\n",
                       "t.vmdk: line 5: the extents add up to");
}

static void test_extent_limit(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    ova_buf_puts(&b, HDR);
    for (int i = 0; i < 65536; i++)
        ova_buf_puts(&b, "RW 1 ZERO\n");
    assert_false(ova_buf_failed(&b));
    ova_descriptor *d = parse_ok(b.data);
    assert_int_equal(d->n_extents, 65536);
    assert_true(ova_descriptor_sectors(d) == 65536);
    ova_descriptor_free(&d);

    ova_buf_puts(&b, "RW 1 ZERO\n");
    expect_err(b.data, "t.vmdk: line 65541: too many extents");
    ova_buf_free(&b);
}

static void test_size_limit(void **state)
{
    (void)state;
    /* exactly 1 MiB of text (a valid head and one long comment) is fine */
    char *t = malloc(2 * MIB);
    assert_non_null(t);
    const char head[] = HDR "RW 1 ZERO\n";
    memcpy(t, head, sizeof head - 1);
    memset(t + sizeof head - 1, '#', 2 * MIB - (sizeof head - 1));
    ova_descriptor *d = NULL;
    ova_err err = {0};
    assert_int_equal(ova_descriptor_parse(t, MIB, "t.vmdk", &d, &err), OVA_OK);
    ova_descriptor_free(&d);

    expect_err_len(t, MIB + 1, "t.vmdk: descriptor text is larger than 1 MiB");

    /* a big NUL-padded buffer counts only up to the first NUL */
    memset(t + sizeof head - 1, '\0', 2 * MIB - (sizeof head - 1));
    err = (ova_err){0};
    assert_int_equal(ova_descriptor_parse(t, 2 * MIB, "t.vmdk", &d, &err), OVA_OK);
    ova_descriptor_free(&d);
    free(t);
}

static void test_extent_errors(void **state)
{
    (void)state;
    expect_err(HDR "RW\n", "t.vmdk: line 5: bad extent line: sector count missing");
    expect_err(HDR "RW abc FLAT \"a\" 0\n", "t.vmdk: line 5: bad extent line: sector count");
    expect_err(HDR "RW -1 FLAT \"a\" 0\n", "t.vmdk: line 5: bad extent line: sector count");
    expect_err(HDR "RW +1 FLAT \"a\" 0\n", "t.vmdk: line 5: bad extent line: sector count");
    expect_err(HDR "RW 12x FLAT \"a\" 0\n", "t.vmdk: line 5: bad extent line: sector count");
    expect_err(HDR "RW 0x10 FLAT \"a\" 0\n", "t.vmdk: line 5: bad extent line: sector count");
    expect_err(HDR "RW 100\n", "t.vmdk: line 5: bad extent line: missing extent type");
    expect_err(HDR "RW 100 \"a\" 0\n", "t.vmdk: line 5: bad extent line: missing extent type");
    expect_err(HDR "RW 100 FLAT a.vmdk 0\n",
               "t.vmdk: line 5: bad extent line: file name must be double-quoted");
    expect_err(HDR "RW 100 ZERO 0\n",
               "t.vmdk: line 5: bad extent line: file name must be double-quoted");
    expect_err(HDR "RW 100 FLAT \"a.vmdk 0\n",
               "t.vmdk: line 5: bad extent line: unterminated file name");
    expect_err(HDR "RW 100 FLAT \"\" 0\n", "t.vmdk: line 5: bad extent line: empty file name");
    expect_err(HDR "RW 100 SPARSE\n",
               "t.vmdk: line 5: bad extent line: missing file name for a SPARSE extent");
    expect_err(HDR "RW 100 FLAT\n",
               "t.vmdk: line 5: bad extent line: missing file name for a FLAT extent");
    expect_err(HDR "RW 100 SPARSE \"a\" 0\n",
               "t.vmdk: line 5: bad extent line: an offset is only allowed for FLAT extents");
    expect_err(HDR "RW 100 VMFS \"a\" 0\n",
               "t.vmdk: line 5: bad extent line: an offset is only allowed for FLAT extents");
    expect_err(HDR "RW 100 FLAT \"a\" x\n", "t.vmdk: line 5: bad number: offset");
    expect_err(HDR "RW 100 FLAT \"a\" -1\n", "t.vmdk: line 5: bad number: offset");
    expect_err(HDR "RW 100 FLAT \"a\" 0 1\n",
               "t.vmdk: line 5: bad extent line: unexpected text after the offset");
    expect_err(HDR "RW 100 FLAT \"a\" 0x10\n",
               "t.vmdk: line 5: bad extent line: unexpected text after the offset");
    expect_err(HDR "RW 100 FLAT \"a\" \"b\"\n", "t.vmdk: line 5: bad number: offset");
    /* a word that is not an access mode makes the line unknown */
    expect_err(HDR "RWX 100 FLAT \"a\" 0\n",
               "t.vmdk: line 5: not a key=value, extent or ddb line");
    expect_err(HDR "READ 100 FLAT \"a\" 0\n",
               "t.vmdk: line 5: not a key=value, extent or ddb line");
}

/* Text quoted in a message never carries bytes a terminal acts on: C0
 * controls are refused before anything is quoted, and C1 controls or bytes
 * that are not UTF-8 are written as \xNN; valid UTF-8 stays as it is. */
static void test_quoting_escaped(void **state)
{
    (void)state;
    expect_err(HDR "bad\x9b" "1;31m line\n", "t.vmdk: line 5: not a key=value, extent or ddb line: \"bad\\x9b1;31m line\"");
    expect_err(HDR "bad\xc2\x9b line\n", "line 5: not a key=value, extent or ddb line: \"bad\\xc2\\x9b line\"");
    expect_err(HDR "caf\xc3\xa9 line\n", "line 5: not a key=value, extent or ddb line: \"caf\xc3\xa9 line\"");
    expect_err(HDR "bad\x1b[2J line\n", "t.vmdk: line 5: control character 0x1b in the line");
    expect_err("version=1\nCID=\xff\xfe\n", "t.vmdk: line 2: bad number for CID: \"\\xff\\xfe\"");
}

static void test_header_errors(void **state)
{
    (void)state;
    expect_err("version=abc\n", "t.vmdk: line 1: bad number for version");
    expect_err("version=\n", "t.vmdk: line 1: bad number for version");
    expect_err("version=1.0\n", "t.vmdk: line 1: bad number for version");
    expect_err("version=-1\n", "t.vmdk: line 1: bad number for version");
    expect_err("version=2147483648\n", "t.vmdk: line 1: bad number for version");
    expect_err("version=99999999999999999999999\n", "t.vmdk: line 1: bad number for version");
    expect_err("version=1\nCID=xyz\n", "t.vmdk: line 2: bad number for CID");
    expect_err("version=1\nCID=123456789\n", "t.vmdk: line 2: bad number for CID");
    expect_err("version=1\nCID=\n", "t.vmdk: line 2: bad number for CID");
    expect_err("version=1\nCID=0x1234\n", "t.vmdk: line 2: bad number for CID");
    expect_err("version=1\nCID=12 34\n", "t.vmdk: line 2: bad number for CID");
    expect_err("version=1\nparentCID=-1\n", "t.vmdk: line 2: bad number for parentCID");
    expect_err("version=1\ncreateType=\"\"\n", "t.vmdk: line 2: empty createType");
    expect_err("version=1\ncreateType=\n", "t.vmdk: line 2: empty createType");
    expect_err("version=1\ncreateType=\"monolithicFlat\n",
               "t.vmdk: line 2: unterminated quoted value for createType");
    expect_err("version=1\ncreateType=\"\n",
               "t.vmdk: line 2: unterminated quoted value for createType");
    expect_err("version=1\nmy key=1\n", "t.vmdk: line 2: bad key");
    expect_err("version=1\n=1\n", "t.vmdk: line 2: empty key before '='");
    expect_err("version=1\n  = \"x\"\n", "t.vmdk: line 2: empty key before '='");
    expect_err("version=1\nhello world\n", "t.vmdk: line 2: not a key=value, extent or ddb line");
    expect_err("version=1\x01\n", "t.vmdk: line 1: control character 0x01");
    expect_err("version=1\ncreateType=\"a\rb\"\n", "t.vmdk: line 2: control character 0x0d");
    expect_err(HDR "RW 1 FLAT \"a\x1b.vmdk\" 0\n", "t.vmdk: line 5: control character 0x1b");
    expect_err(HDR "RW 1 ZERO\nddb.adapterType = \"ide\n",
               "t.vmdk: line 6: unterminated quoted value for ddb.adapterType");
    expect_err(HDR "RW 1 ZERO\nddb.a b = \"x\"\n", "t.vmdk: line 6: bad key");
    /* binary data handed over as text */
    expect_err("KDMV\x01\x02\x03\x04", "t.vmdk: line 1: control character 0x01");
}

static void test_missing_parts(void **state)
{
    (void)state;
    expect_err("", "t.vmdk: empty descriptor");
    expect_err("# only\n# comments\n\n", "t.vmdk: missing version=");
    expect_err("CID=fffffffe\ncreateType=\"monolithicFlat\"\nRW 1 ZERO\n",
               "t.vmdk: missing version=");
    expect_err("version=1\nCID=fffffffe\nRW 1 ZERO\n", "t.vmdk: missing createType=");
    expect_err(HDR, "t.vmdk: no extents");
    expect_err(HDR "# RW 1 ZERO\n", "t.vmdk: no extents");

    /* a NULL name still gives a readable message */
    ova_descriptor *d = NULL;
    ova_err err = {0};
    assert_int_equal(ova_descriptor_parse("x=1\n", 4, NULL, &d, &err), OVA_E_FORMAT);
    assert_null(d);
    assert_string_equal(err.msg, "descriptor: missing version= (not a VMDK descriptor?)");
}

static void test_api_misuse(void **state)
{
    (void)state;
    ova_descriptor *d = NULL;
    ova_err err = {0};
    assert_int_equal(ova_descriptor_parse(HDR "RW 1 ZERO\n", 10, "t.vmdk", NULL, &err),
                     OVA_E_USAGE);
    err = (ova_err){0};
    assert_int_equal(ova_descriptor_parse(NULL, 10, "t.vmdk", &d, &err), OVA_E_USAGE);
    assert_null(d);
    err = (ova_err){0};
    assert_int_equal(ova_descriptor_parse(NULL, 0, "t.vmdk", &d, &err), OVA_E_FORMAT);
    assert_string_equal(err.msg, "t.vmdk: empty descriptor");
    /* err is optional */
    assert_int_equal(ova_descriptor_parse("junk\n", 5, "t.vmdk", &d, NULL), OVA_E_FORMAT);
    assert_null(d);
    /* free accepts NULL both ways */
    ova_descriptor_free(NULL);
    ova_descriptor_free(&d);
    assert_int_equal(ova_descriptor_sectors(NULL), 0);
}

/* Keys that mark an encrypted disk are recorded (the parser also serves
 * validate; describing the disk refuses it), and a descriptor whose
 * extents are inside the encrypted data is "encrypted", not "incomplete". */
static void test_encryption_keys(void **state)
{
    (void)state;
    ova_descriptor *d = parse_ok(HDR "RW 8 FLAT \"f.vmdk\" 0\n");
    assert_null(d->encryption_key);
    ova_descriptor_free(&d);
    d = parse_ok(HDR "Encryption.KeySafe = \"vmware:key/list/(pair/(phrase/x))\"\nencryption.data = \"AAAA\"\n"
                     "RW 8 FLAT \"f.vmdk\" 0\n");
    assert_string_equal(d->encryption_key, "Encryption.KeySafe");
    ova_descriptor_free(&d);
    d = parse_ok(HDR "RW 8 FLAT \"f.vmdk\" 0\nddb.keySafe = \"k\"\n");
    assert_string_equal(d->encryption_key, "ddb.keySafe");
    assert_string_equal(ova_descriptor_ddb(d, "ddb.keySafe"), "k");
    ova_descriptor_free(&d);
    d = parse_ok(HDR "RW 8 FLAT \"f.vmdk\" 0\nddb.encryption.cipher = \"x\"\n");
    assert_string_equal(d->encryption_key, "ddb.encryption.cipher");
    ova_descriptor_free(&d);
    /* "encoding" is not an encryption key */
    d = parse_ok(HDR "encoding=\"UTF-8\"\nRW 8 FLAT \"f.vmdk\" 0\n");
    assert_null(d->encryption_key);
    ova_descriptor_free(&d);
    const char *enc = "# Disk DescriptorFile\nversion=1\nencryption.keySafe = \"k\"\nencryption.data = \"d\"\n";
    ova_err err = {0};
    d = NULL;
    assert_int_equal(ova_descriptor_parse(enc, strlen(enc), "e.vmdk", &d, &err), OVA_E_UNSUPPORTED);
    assert_null(d);
    assert_non_null(strstr(err.msg, "e.vmdk: the disk is encrypted (encryption.keySafe is set)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_qemu_monolithic_flat, qemu_setup, qemu_teardown),
        cmocka_unit_test_setup_teardown(test_qemu_two_gb_flat, qemu_setup, qemu_teardown),
        cmocka_unit_test_setup_teardown(test_qemu_monolithic_sparse, qemu_setup, qemu_teardown),
        cmocka_unit_test_setup_teardown(test_qemu_two_gb_sparse, qemu_setup, qemu_teardown),
        cmocka_unit_test_setup_teardown(test_qemu_stream_optimized, qemu_setup, qemu_teardown),
        cmocka_unit_test_setup_teardown(test_qemu_delta, qemu_setup, qemu_teardown),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_comments_blanks_and_case),
        cmocka_unit_test(test_quoted_names),
        cmocka_unit_test(test_delta),
        cmocka_unit_test(test_extent_types),
        cmocka_unit_test(test_nul_ends_text),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_extent_limit),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_capacity_limit),
        cmocka_unit_test(test_quoting_escaped),
        cmocka_unit_test(test_extent_errors),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_missing_parts),
        cmocka_unit_test(test_api_misuse),
        cmocka_unit_test(test_encryption_keys),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
