/* test_import_disk.c - import's disk side on its own: qemu-img's
 * streamOptimized disks walked (stream_scan), placed (disk_out) and
 * inflated in batches (grain_batch), in each output format; the result
 * judged by qemu-img (compare against the source, check). Also a bad grain
 * and a truncated stream. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/vmdk_stream.h"
#include "ovatool/codec.h"
#include "import/disk_out.h"
#include "import/grain_batch.h"
#include "import/stream_scan.h"
#include "unit_shell.h"
#include "unit_skip.h"

typedef struct walk {
    ova_disk_out *out;
    ova_sscan *scan;
    const char *dir;
    ova_disk_format fmt;
    uint64_t capacity;
    int in_fd;
    ova_grain_batch b;
    ova_batch_scratch *s;
    uint64_t zeros;
    uint64_t written;      /* grain bytes the batches say they wrote */
} walk;

/* The batches carry their bytes (a chunked or gzip file's) and run
 * without the input (in_fd -1): the same output. */
static bool carried_mode;
/* The grains go out through the page cache (--buffered-io) instead of
 * O_DIRECT where the file system takes it: the same output. */
static bool buffered_mode;

static ova_status run_batch(walk *w, ova_err *err)
{
    if (w->b.n == 0)
        return OVA_OK;
    size_t ne = ova_disk_out_extents(w->out);
    ova_batch_out outs[8];
    assert_true(ne <= 8);
    for (size_t i = 0; i < ne; i++) {
        outs[i] = (ova_batch_out){ ova_disk_out_extent_fd(w->out, i), ova_disk_out_extent_dfd(w->out, i),
                                   ova_disk_out_extent_path(w->out, i) };
        if (buffered_mode)
            assert_int_equal(outs[i].dfd, -1);
    }
    uint64_t z[OVA_BATCH_GRAINS];
    uint32_t nz = 0;
    uint64_t written = 0;
    if (carried_mode) {
        w->b.data = malloc((size_t)w->b.span);
        assert_non_null(w->b.data);
        assert_int_equal(pread(w->in_fd, w->b.data, (size_t)w->b.span, (off_t)w->b.in_off), (ssize_t)w->b.span);
    }
    ova_status st = ova_grain_batch_run(&w->b, carried_mode ? -1 : w->in_fd, "s.vmdk", outs, w->s, z, &nz, &written, err);
    w->written += written;
    free(w->b.data);
    w->b.data = NULL;
    for (uint32_t i = 0; st == OVA_OK && i < nz; i++, w->zeros++)
        st = ova_disk_out_unplace(w->out, z[i], err);
    w->b.n = 0;
    return st;
}

static ova_status on_grain(void *ctx, const ova_sscan_grain *g, ova_err *err)
{
    walk *w = ctx;
    ova_status st;
    if (w->out == NULL) {
        ova_descriptor *d = NULL;
        const char *text = ova_sscan_descriptor(w->scan);
        assert_int_equal(ova_descriptor_parse(text, strlen(text), "s.vmdk", &d, err), OVA_OK);
        st = ova_disk_out_create(w->fmt, w->dir, "out", w->capacity, d, !buffered_mode, &w->out, err);
        ova_descriptor_free(&d);
        if (st != OVA_OK)
            return st;
    }
    size_t ext;
    uint64_t off;
    if ((st = ova_disk_out_place(w->out, g->lba, "s.vmdk", &ext, &off, err)) != OVA_OK)
        return st;
    uint64_t end = g->off + OVA_GRAIN_MARKER_SIZE + g->csize;
    if (w->b.n == OVA_BATCH_GRAINS || (w->b.n > 0 && end - w->b.in_off > OVA_BATCH_SPAN_MAX))
        if ((st = run_batch(w, err)) != OVA_OK)
            return st;
    if (w->b.n == 0) {
        w->b.in_off = g->off;
        w->b.capacity = w->capacity;
    }
    w->b.g[w->b.n++] = (ova_batch_grain){ g->lba, g->off - w->b.in_off, g->csize, (uint32_t)ext, off };
    w->b.span = end - w->b.in_off;
    return OVA_OK;
}

/* Import dir/s.vmdk into dir/out*.vmdk; returns the status and leaves
 * the message in err. */
static ova_status import_stream_w(const char *dir, ova_disk_format fmt, uint64_t capacity, uint64_t *allocated,
                                  uint64_t *zeros, ova_err *err);

static ova_status import_stream(const char *dir, ova_disk_format fmt, uint64_t capacity, ova_err *err)
{
    uint64_t a, z;
    return import_stream_w(dir, fmt, capacity, &a, &z, err);
}

static ova_status import_stream_w(const char *dir, ova_disk_format fmt, uint64_t capacity, uint64_t *allocated,
                                  uint64_t *zeros, ova_err *err)
{
    walk w = { 0 };
    w.dir = dir;
    w.fmt = fmt;
    w.capacity = capacity;
    w.in_fd = open(unit_path(dir, "s.vmdk"), O_RDONLY);
    assert_true(w.in_fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(w.in_fd, &sb), 0);
    assert_int_equal(ova_batch_scratch_new(&w.s, err), OVA_OK);
    ova_status st = ova_sscan_new("s.vmdk", (uint64_t)sb.st_size, on_grain, &w, &w.scan, err);
    unsigned char *buf = malloc(1 << 20);
    for (uint64_t done = 0; st == OVA_OK && done < (uint64_t)sb.st_size;) {
        /* odd chunk sizes: records straddle the feeds */
        size_t n = (uint64_t)sb.st_size - done < 300000 ? (size_t)((uint64_t)sb.st_size - done) : 300000;
        assert_int_equal(pread(w.in_fd, buf, n, (off_t)done), (ssize_t)n);
        st = ova_sscan_feed(w.scan, buf, n, err);
        done += n;
    }
    const char *desc;
    uint64_t grains;
    if (st == OVA_OK)
        st = ova_sscan_finish(w.scan, &desc, &grains, err);
    if (st == OVA_OK)
        st = run_batch(&w, err);
    if (st == OVA_OK && w.out == NULL)
        st = ova_disk_out_create(fmt, dir, "out", capacity, NULL, !buffered_mode, &w.out, err);
    if (st == OVA_OK)
        st = ova_disk_out_finish(w.out, err);
    if (st == OVA_OK)
        st = ova_disk_out_commit(w.out, err);
    *allocated = w.out != NULL ? ova_disk_out_allocated(w.out) : 0;
    if (st == OVA_OK) /* the bytes written are the bytes the tables allocate */
        assert_int_equal(w.written, *allocated);
    *zeros = w.zeros;
    ova_disk_out_free(&w.out);
    ova_sscan_free(&w.scan);
    ova_batch_scratch_free(&w.s);
    free(buf);
    close(w.in_fd);
    return st;
}

static void check_format(ova_disk_format fmt, const char *size)
{
    if (!unit_have("qemu-img") || !unit_have("qemu-io")) {
        OVA_SKIP("qemu-img/qemu-io not installed\n");
        return;
    }
    char dir[] = "/tmp/ovatool-impdisk.XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* data in the first grain, a partial run, a grain of zeros written as
     * data (qemu drops it from the stream), the far end of the disk */
    assert_int_equal(unit_run(dir, 1, "qemu-img create -q -f raw src.raw %s && "
                              "qemu-io -f raw -c 'write -P 0x11 0 64k' -c 'write -P 0x22 100k 300k' "
                              "-c 'write -P 0 1M 64k' -c 'write -P 0x33 40M 5M' "
                              "-c \"write -P 0x44 $(( $(stat -c %%s src.raw) - 4096 )) 4k\" src.raw && "
                              "qemu-img convert -f raw -O vmdk -o subformat=streamOptimized src.raw s.vmdk",
                              size),
                     0);
    struct stat sb;
    assert_int_equal(stat(unit_path(dir, "src.raw"), &sb), 0);
    ova_err err = { 0 };
    ova_status st = import_stream(dir, fmt, (uint64_t)sb.st_size, &err);
    if (st != OVA_OK)
        fail_msg("import failed: %s", err.msg);
    assert_int_equal(unit_run(dir, 0, "qemu-img check -q -f vmdk out.vmdk && qemu-img compare -q -f raw -F vmdk "
                                      "src.raw out.vmdk"),
                     0);
    assert_int_equal(unit_run(dir, 1, "rm -rf '%s'", dir), 0);
}

static void t_sparse(void **state)
{
    (void)state;
    check_format(OVA_DISK_MONOLITHIC_SPARSE, "70M");
}

static void t_sparse_carried(void **state)
{
    (void)state;
    carried_mode = true;
    check_format(OVA_DISK_MONOLITHIC_SPARSE, "70M");
    carried_mode = false;
}

static void t_flat(void **state)
{
    (void)state;
    check_format(OVA_DISK_MONOLITHIC_FLAT, "70M");
}

static void t_sparse_buffered(void **state)
{
    (void)state;
    buffered_mode = true;
    check_format(OVA_DISK_MONOLITHIC_SPARSE, "70M");
    buffered_mode = false;
}

/* 70 MiB and 3 sectors: the last grain is 1536 bytes, too short for
 * O_DIRECT's alignment, and goes through the page cache beside the
 * direct writes of the others. */
static void t_flat_short_tail(void **state)
{
    (void)state;
    check_format(OVA_DISK_MONOLITHIC_FLAT, "73401856");
}

static void t_sparse_short_tail(void **state)
{
    (void)state;
    check_format(OVA_DISK_MONOLITHIC_SPARSE, "73401856");
}

static void t_twogb(void **state)
{
    (void)state;
    check_format(OVA_DISK_TWOGB_SPARSE, "4200M"); /* three extents */
}

/* A 1 MiB stream made by qemu-img, damaged by the shell command damage:
 * the import fails with OVA_E_FORMAT naming it as expect says, and
 * freeing the unfinished output leaves no file beside the inputs. */
static void expect_broken(const char *damage, const char *expect)
{
    if (!unit_have("qemu-img") || !unit_have("qemu-io")) {
        OVA_SKIP("qemu-img/qemu-io not installed\n");
        return;
    }
    char dir[] = "/tmp/ovatool-impdisk.XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(unit_run(dir, 1, "qemu-img create -q -f raw src.raw 8M && "
                              "qemu-io -f raw -c 'write -P 0x5a 0 1M' src.raw && "
                              "qemu-img convert -f raw -O vmdk -o subformat=streamOptimized src.raw s.vmdk && %s",
                              damage),
                     0);
    ova_err err = { 0 };
    assert_int_equal(import_stream(dir, OVA_DISK_MONOLITHIC_SPARSE, 8 << 20, &err), OVA_E_FORMAT);
    assert_non_null(strstr(err.msg, expect));
    assert_int_equal(unit_run(dir, 1, "test -z \"$(ls -A | grep -v -e '^src.raw$' -e '^s.vmdk$')\""), 0);
    assert_int_equal(unit_run(dir, 1, "rm -rf '%s'", dir), 0);
}

/* One byte of a grain's zlib data changed: the batch names the grain. */
static void t_bad_grain(void **state)
{
    (void)state;
    expect_broken("o=$(od -A n -t u8 -j 64 -N 8 s.vmdk | tr -d ' ') && "
                  "printf '\\377\\377\\377\\377' | dd of=s.vmdk bs=1 seek=$((o * 512 + 20)) conv=notrunc "
                  "status=none",
                  "s.vmdk: bad grain at LBA 0");
}

/* A stream cut short: no end-of-stream marker. */
static void t_truncated(void **state)
{
    (void)state;
    expect_broken("truncate -s 70000 s.vmdk", "s.vmdk: truncated");
}

/* A stream holding a grain of zeros (no known writer makes one; a foreign
 * one might): the grain is inflated, found empty and left unallocated, and
 * the disk still reads as the source. Built from the stream pieces. */
static void t_zero_grain(void **state)
{
    (void)state;
    if (!unit_have("qemu-img")) {
        OVA_SKIP("qemu-img not installed\n");
        return;
    }
    char dir[] = "/tmp/ovatool-impdisk.XXXXXX";
    assert_non_null(mkdtemp(dir));
    const uint64_t cap = 3 * 65536;
    unsigned char *raw = calloc(1, cap);
    memset(raw, 'a', 65536);
    memset(raw + 2 * 65536, 'c', 65536);
    FILE *f = fopen(unit_path(dir, "src.raw"), "wb");
    assert_int_equal(fwrite(raw, 1, cap, f), cap);
    fclose(f);
    f = fopen(unit_path(dir, "s.vmdk"), "wb");
    unsigned char *head = malloc(OVA_STREAM_OVERHEAD * OVA_SECTOR);
    ova_stream_info si = { cap, 0x1234, "s.vmdk", "lsilogic", NULL, NULL };
    assert_int_equal(ova_stream_head(&si, head, NULL), OVA_OK);
    fwrite(head, 1, OVA_STREAM_OVERHEAD * OVA_SECTOR, f);
    ova_codec *c = ova_codec_new(OVA_CODEC_ZLIB, 6);
    unsigned char *rec = malloc(ova_grain_record_max());
    for (int g = 0; g < 3; g++) { /* grain 1 is all zeros, and written */
        size_t clen;
        assert_int_equal(ova_codec_compress(c, raw + g * 65536, 65536, rec + 12, ova_grain_record_max() - 12, &clen),
                         OVA_OK);
        fwrite(rec, 1, ova_grain_record_finish(rec, (uint64_t)g * 128, (uint32_t)clen), f);
    }
    unsigned char eos[OVA_SECTOR];
    ova_stream_marker(eos, 0, OVA_MARKER_EOS);
    fwrite(eos, 1, sizeof eos, f);
    fclose(f);
    ova_err err = { 0 };
    uint64_t allocated = 0, zeros = 0;
    ova_status st = import_stream_w(dir, OVA_DISK_MONOLITHIC_SPARSE, cap, &allocated, &zeros, &err);
    if (st != OVA_OK)
        fail_msg("import failed: %s", err.msg);
    assert_int_equal(zeros, 1);
    assert_int_equal(allocated, 2 * 65536);
    assert_int_equal(unit_run(dir, 0, "qemu-img check -q -f vmdk out.vmdk && qemu-img compare -q -f raw -F vmdk "
                                      "src.raw out.vmdk"),
                     0);
    /* the zero grain's entry is empty: qemu-img maps two allocated grains */
    assert_int_equal(unit_run(dir, 1, "test \"$(qemu-img map -f vmdk --output=json out.vmdk | "
                                      "grep -c '\"data\": true')\" = 2"),
                     0);
    ova_codec_free(&c);
    free(rec);
    free(head);
    free(raw);
    assert_int_equal(unit_run(dir, 1, "rm -rf '%s'", dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_sparse),
        cmocka_unit_test(t_sparse_carried), cmocka_unit_test(t_flat), cmocka_unit_test(t_twogb),
        cmocka_unit_test(t_sparse_buffered), cmocka_unit_test(t_flat_short_tail), cmocka_unit_test(t_sparse_short_tail),
        cmocka_unit_test(t_bad_grain), cmocka_unit_test(t_truncated), cmocka_unit_test(t_zero_grain),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
