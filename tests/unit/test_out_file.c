/* test_out_file.c - positioned writes through out_file.c (O_DIRECT staging)
 * land exactly where an ordinary pwrite would put them: appends across
 * staging blocks, gaps, headers filled in behind the stream (inside the
 * stage, below it, and straddling its start), the flush of an unaligned
 * tail and the front written last through the plain descriptor; a stage
 * block rewritten while its direct write is in flight, and the failure of
 * a write in flight reported by the next call; and the write-behind queue: jobs at their offsets, releases, the first failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/out_file.h"
#include "util/io.h"

#define MIB (1u << 20)
#define TOTAL (3 * OVA_OUT_STAGE + 5 * MIB + 777) /* crosses three stage blocks, ends unaligned */

/* The writes, applied both to the file and to the expected image. */
typedef struct sim {
    ova_out_file *f;
    unsigned char *want;
    unsigned char *src;   /* bytes for the stream */
    unsigned char *late;  /* other bytes for rewrites, so that a lost one shows */
} sim;

static void put_from(sim *s, const unsigned char *from, uint64_t off, size_t n)
{
    ova_err err = { 0 };
    assert_true(off + n <= TOTAL);
    if (ova_out_file_pwrite(s->f, from + off, n, off, &err) != OVA_OK)
        fail_msg("pwrite %zu at %llu: %s", n, (unsigned long long)off, err.msg);
    memcpy(s->want + off, from + off, n);
}

static void put(sim *s, uint64_t off, size_t n) { put_from(s, s->src, off, n); }
static void put_late(sim *s, uint64_t off, size_t n) { put_from(s, s->late, off, n); }

static void run(const char *dir, int want_direct)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ova-out-file-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        OVA_SKIP("cannot create a file in %s\n", dir);
    }
    sim s = { NULL, calloc(1, TOTAL), malloc(TOTAL), malloc(TOTAL) };
    assert_non_null(s.want);
    assert_non_null(s.src);
    assert_non_null(s.late);
    srand(12345);
    for (size_t i = 0; i < TOTAL; i++) {
        s.src[i] = (unsigned char)(rand() >> 7);
        s.late[i] = (unsigned char)~s.src[i];
    }

    ova_err err = { 0 };
    assert_int_equal(ova_out_file_open(fd, path, want_direct, &s.f, &err), OVA_OK);
    if (want_direct && !ova_out_file_direct(s.f))
        print_message("%s refuses O_DIRECT: testing the page-cache path\n", dir);

    const uint64_t front = 5 * 512;       /* reserved, written last */
    uint64_t pos = front;
    uint64_t hdr_near = 0, hdr_far = 0;   /* header slots left behind */
    unsigned sizes[] = { 512, 65536 + 512, 1000, 3 * MIB + 17, 4096, 511, 2 * MIB };
    for (int i = 0; pos < TOTAL - 4 * MIB; i++) {
        if (i == 2) {                     /* a header slot, filled while still staged */
            hdr_near = pos;
            pos += 512;
        }
        if (i == 3)                       /* a gap: zeros in the file */
            pos += 3000;
        if (i == 5) {                     /* a slot that will be far behind the stage */
            hdr_far = pos;
            pos += 512;
        }
        size_t n = sizes[i % 7];
        put(&s, pos, n);
        pos += n;
        if (i == 4)
            put_late(&s, hdr_near, 512);
    }
    put_late(&s, hdr_far, 512);                   /* below the stage: page cache */
    put_late(&s, 3 * OVA_OUT_STAGE - 1000, 3000); /* straddles the stage's start */
    put_late(&s, pos - 4000, 2000);               /* inside the stage */
    put(&s, pos, TOTAL - 512 - pos);              /* to an unaligned end */
    assert_int_equal(ova_out_file_flush(s.f, &err), OVA_OK);
    assert_int_equal(ova_out_file_direct(s.f), 0);
    put(&s, TOTAL - 512, 512);                    /* after the flush: page cache */
    assert_int_equal(ova_pwrite_exact(fd, s.src, front, 0, path, &err), OVA_OK);
    memcpy(s.want, s.src, front);
    ova_out_file_close(&s.f);
    assert_null(s.f);

    unsigned char *got = malloc(TOTAL + 1);
    assert_non_null(got);
    ssize_t r = pread(fd, got, TOTAL + 1, 0);
    assert_int_equal(r, TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        if (got[i] != s.want[i])
            fail_msg("%s (direct %d): byte %zu is %u, want %u", dir, want_direct, i, got[i], s.want[i]);
    close(fd);
    unlink(path);
    free(got);
    free(s.want);
    free(s.src);
    free(s.late);
}

static void test_direct_here(void **state)
{
    (void)state;
    run(".", 1);
}

static void test_buffered_here(void **state)
{
    (void)state;
    run(".", 0);
}

/* The resume journal's durable point (journal.h): sync at an unaligned
 * offset P, write on, die without flushing (the staged bytes are lost);
 * the file cut to P holds exactly the bytes before P, and a new out_file
 * resumed at P (its first, partial block read back into the stage) writes
 * the rest without disturbing them. */
static void sync_resume(const char *dir, int want_direct)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ova-out-sync-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        OVA_SKIP("cannot create a file in %s\n", dir);
    const size_t total = 2 * OVA_OUT_STAGE + 3 * MIB + 333, front = 1536;
    unsigned char *src = malloc(total), *got = malloc(total);
    assert_non_null(src);
    assert_non_null(got);
    for (size_t i = 0; i < total; i++)
        src[i] = (unsigned char)(i * 7 + i / 4093);
    ova_err err = { 0 };
    ova_out_file *f = NULL;
    assert_int_equal(ova_out_file_open(fd, path, want_direct, &f, &err), OVA_OK);
    uint64_t pos = front, p = 0;
    for (int i = 0; pos < total; i++) {
        size_t n = (size_t)(i % 3 == 0 ? 1000 : i % 3 == 1 ? MIB + 17 : 70000);
        if (n > total - pos)
            n = total - pos;
        assert_int_equal(ova_out_file_pwrite(f, src + pos, n, pos, &err), OVA_OK);
        pos += n;
        if (p == 0 && pos > OVA_OUT_STAGE + MIB) { /* unaligned, inside the second stage block */
            assert_int_equal(ova_out_file_sync(f, &err), OVA_OK);
            p = pos;
        }
        if (p != 0 && pos > p + 2 * MIB)
            break;                                 /* then "killed": what is staged is lost */
    }
    assert_true(p % OVA_OUT_ALIGN != 0);
    ova_out_file_close(&f);
    assert_int_equal(ftruncate(fd, (off_t)p), 0);
    assert_int_equal(pread(fd, got, p, 0), (ssize_t)p);
    assert_memory_equal(got + front, src + front, p - front);

    assert_int_equal(ova_out_file_open(fd, path, want_direct, &f, &err), OVA_OK);
    assert_int_equal(ova_out_file_resume_at(f, p, &err), OVA_OK);
    for (pos = p; pos < total;) {
        size_t n = total - pos < 3 * MIB + 5 ? total - pos : 3 * MIB + 5;
        assert_int_equal(ova_out_file_pwrite(f, src + pos, n, pos, &err), OVA_OK);
        pos += n;
    }
    assert_int_equal(ova_out_file_flush(f, &err), OVA_OK);
    ova_out_file_close(&f);
    assert_int_equal(pread(fd, got, total, 0), (ssize_t)total);
    for (size_t i = front; i < total; i++)
        if (got[i] != src[i])
            fail_msg("%s (direct %d): byte %zu is %u, want %u (durable point %llu)", dir, want_direct, i, got[i],
                     src[i], (unsigned long long)p);
    close(fd);
    unlink(path);
    free(src);
    free(got);
}

static void test_sync_resume_direct(void **state)
{
    (void)state;
    sync_resume(".", 1);
}

static void test_sync_resume_buffered(void **state)
{
    (void)state;
    sync_resume(".", 0);
}

/* tmpfs: O_DIRECT since Linux 6.6, refused before (then the page cache). */
static void test_direct_tmpfs(void **state)
{
    (void)state;
    if (access("/dev/shm", W_OK) != 0)
        OVA_SKIP("/dev/shm is not writable\n");
    run("/dev/shm", 1);
}

/* The second, O_DIRECT descriptor is the same file as fd, whatever its name
 * has become: in a folder others may write to, the name could be replaced
 * by a symbolic link to any file between the creation of the temporary
 * file and that second open, and the OVA's bytes would then go there. */
static void test_direct_same_file(void **state)
{
    (void)state;
    char path[64], victim[64], moved[80];
    snprintf(path, sizeof path, "./ova-out-file-XXXXXX");
    snprintf(victim, sizeof victim, "./ova-out-victim-XXXXXX");
    int fd = mkstemp(path);
    int vfd = mkstemp(victim);
    if (fd < 0 || vfd < 0)
        OVA_SKIP("cannot create files in the current folder\n");
    assert_int_equal(write(vfd, "precious", 8), 8);
    close(vfd);
    /* the temporary file's name now leads elsewhere */
    snprintf(moved, sizeof moved, "%s.moved", path);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(symlink(victim + 2, path), 0);

    ova_err err = { 0 };
    ova_out_file *f = NULL;
    assert_int_equal(ova_out_file_open(fd, path, 1, &f, &err), OVA_OK);
    if (!ova_out_file_direct(f))
        print_message("no O_DIRECT here: the page-cache path writes through fd only\n");
    size_t n = OVA_OUT_STAGE + 3 * 4096;
    unsigned char *b = malloc(n);
    assert_non_null(b);
    memset(b, 0xab, n);
    assert_int_equal(ova_out_file_pwrite(f, b, n, 0, &err), OVA_OK);
    assert_int_equal(ova_out_file_flush(f, &err), OVA_OK);
    ova_out_file_close(&f);

    char got[16] = { 0 };
    vfd = open(victim, O_RDONLY);
    assert_true(vfd >= 0);
    assert_int_equal(read(vfd, got, sizeof got), 8);
    close(vfd);
    assert_memory_equal(got, "precious", 8);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_size, (off_t)n);
    unsigned char *back = malloc(n);
    assert_non_null(back);
    assert_int_equal(pread(fd, back, n, 0), (ssize_t)n);
    assert_memory_equal(back, b, n);
    close(fd);
    unlink(path);
    unlink(moved);
    unlink(victim);
    free(b);
    free(back);
}

/* A block rewritten while its direct write is in flight (the stage before
 * the current one, on the flight thread): the rewrite waits for that write
 * to land, so it is not overwritten by the older bytes. Several rounds,
 * since a race would show only sometimes. */
static void test_rewrite_in_flight(void **state)
{
    (void)state;
    char path[] = "./ova-out-flight-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        OVA_SKIP("cannot create a file in the current folder\n");
    const size_t total = 6 * OVA_OUT_STAGE + MIB;
    unsigned char *src = malloc(total), *got = malloc(total);
    assert_non_null(src);
    assert_non_null(got);
    for (size_t i = 0; i < total; i++)
        src[i] = (unsigned char)(i * 13 + i / 4099);
    ova_err err = { 0 };
    ova_out_file *f = NULL;
    assert_int_equal(ova_out_file_open(fd, path, 1, &f, &err), OVA_OK);
    if (!ova_out_file_direct(f))
        print_message("no O_DIRECT here: the page-cache path\n");
    const unsigned char late[700] = { 0x5a };
    uint64_t pos = 0;
    for (int k = 1; k <= 5; k++) {
        /* up to 1 MiB into stage block k: block k - 1 has just been sent */
        uint64_t to = (uint64_t)k * OVA_OUT_STAGE + MIB;
        assert_int_equal(ova_out_file_pwrite(f, src + pos, to - pos, pos, &err), OVA_OK);
        pos = to;
        uint64_t at = (uint64_t)(k - 1) * OVA_OUT_STAGE + 4096 * (uint64_t)k + 100;
        assert_int_equal(ova_out_file_pwrite(f, late, sizeof late, at, &err), OVA_OK);
        memcpy(src + at, late, sizeof late);
    }
    assert_int_equal(ova_out_file_pwrite(f, src + pos, total - pos, pos, &err), OVA_OK);
    assert_int_equal(ova_out_file_flush(f, &err), OVA_OK);
    ova_out_file_close(&f);
    assert_int_equal(pread(fd, got, total, 0), (ssize_t)total);
    for (size_t i = 0; i < total; i++)
        if (got[i] != src[i])
            fail_msg("byte %zu is %u, want %u", i, got[i], src[i]);
    close(fd);
    unlink(path);
    free(src);
    free(got);
}

/* A write in flight that fails (here: past RLIMIT_FSIZE, EFBIG) fails the
 * next call on the out_file, or the flush at the latest, with the file's
 * name and the offset where writing stopped. */
static void test_failure_in_flight(void **state)
{
    (void)state;
    char path[] = "./ova-out-fsize-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        OVA_SKIP("cannot create a file in the current folder\n");
    const uint64_t limit = 2 * (uint64_t)OVA_OUT_STAGE + 4096;
    const size_t total = 4 * OVA_OUT_STAGE;
    unsigned char *src = calloc(1, total);
    assert_non_null(src);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = limit;
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

    ova_err err = { 0 };
    ova_out_file *f = NULL;
    assert_int_equal(ova_out_file_open(fd, path, 1, &f, &err), OVA_OK);
    ova_status st = OVA_OK;
    for (uint64_t pos = 0; st == OVA_OK && pos < total; pos += MIB)
        st = ova_out_file_pwrite(f, src + pos, MIB, pos, &err);
    if (st == OVA_OK)
        st = ova_out_file_flush(f, &err);
    ova_out_file_close(&f);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);

    assert_int_equal(st, OVA_E_IO);
    char want[64];
    snprintf(want, sizeof want, "offset %llu", (unsigned long long)limit);
    if (strstr(err.msg, path + 2) == NULL || strstr(err.msg, want) == NULL)
        fail_msg("message '%s' does not name %s and %s", err.msg, path, want);
    close(fd);
    unlink(path);
    free(src);
}

static void test_write_error_names_file(void **state)
{
    (void)state;
    ova_err err = { 0 };
    assert_int_equal(ova_pwrite_exact(-1, "x", 1, 42, "some.ova", &err), OVA_E_IO);
    assert_non_null(strstr(err.msg, "some.ova"));
    assert_non_null(strstr(err.msg, "42"));
}

/* ---- the write-behind queue ---- */

static int g_released;

static void count_free(void *p)
{
    g_released++;
    free(p);
}

/* Jobs land at their offsets whatever their order, every buffer is
 * released once, and more than OVA_OUT_QUEUE_MAX in flight just waits. */
static void test_queue_writes(void **state)
{
    (void)state;
    char path[] = "/tmp/ova-out-queue-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    ova_err err = { 0 };
    ova_out_file *f = NULL;
    assert_int_equal(ova_out_file_open(fd, path, 0, &f, &err), OVA_OK);
    ova_out_queue *q = NULL;
    assert_int_equal(ova_out_queue_start(f, "q.ova", &q, &err), OVA_OK);
    const size_t job = 4 * MIB, jobs = OVA_OUT_QUEUE_MAX / (4 * MIB) + 3;
    g_released = 0;
    /* front to back except job 0, queued last (a header filled in behind) */
    for (size_t i = 1; i <= jobs; i++) {
        size_t k = i % jobs;
        unsigned char *b = malloc(job);
        assert_non_null(b);
        memset(b, (int)(k & 0xff) + 1, job);
        assert_int_equal(ova_out_queue_put(q, b, job, (uint64_t)k * job, count_free, b, &err), OVA_OK);
    }
    assert_int_equal(ova_out_queue_drain(q, &err), OVA_OK);
    assert_int_equal(g_released, (int)jobs);
    ova_out_queue_stop(&q, 0);
    assert_null(q);
    ova_out_queue_stop(&q, 0); /* NULL is fine */
    ova_out_file_close(&f);
    unsigned char *back = malloc(job);
    assert_non_null(back);
    for (size_t k = 0; k < jobs; k++) {
        assert_int_equal(pread(fd, back, job, (off_t)(k * job)), (ssize_t)job);
        for (size_t i = 0; i < job; i += 4093)
            assert_int_equal(back[i], (int)(k & 0xff) + 1);
    }
    free(back);
    close(fd);
    unlink(path);
}

/* The first failed write is reported by drain and refuses later jobs
 * (still releasing them); stop with drop releases what is queued. */
static void test_queue_failure(void **state)
{
    (void)state;
    char path[] = "/tmp/ova-out-queue-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int ro = open(path, O_RDONLY);
    assert_true(ro >= 0);
    ova_err err = { 0 };
    ova_out_file *f = NULL;
    assert_int_equal(ova_out_file_open(ro, path, 0, &f, &err), OVA_OK);
    ova_out_queue *q = NULL;
    assert_int_equal(ova_out_queue_start(f, "q.ova", &q, &err), OVA_OK);
    g_released = 0;
    unsigned char *b = malloc(512);
    assert_non_null(b);
    assert_int_equal(ova_out_queue_put(q, b, 512, 0, count_free, b, &err), OVA_OK);
    assert_int_equal(ova_out_queue_drain(q, &err), OVA_E_IO);
    assert_non_null(strstr(err.msg, "write at offset 0 failed"));
    assert_int_equal(g_released, 1);
    b = malloc(512);
    assert_non_null(b);
    ova_err later = { 0 };
    assert_int_equal(ova_out_queue_put(q, b, 512, 512, count_free, b, &later), OVA_E_IO);
    assert_int_equal(g_released, 2);
    assert_string_equal(later.msg, err.msg);
    ova_out_queue_stop(&q, 1);
    ova_out_file_close(&f);

    /* a healthy queue stopped with drop: every job released, written or not */
    assert_int_equal(ova_out_file_open(fd, path, 0, &f, &err), OVA_OK);
    assert_int_equal(ova_out_queue_start(f, "q.ova", &q, &err), OVA_OK);
    g_released = 0;
    for (int i = 0; i < 8; i++) {
        b = malloc(MIB);
        assert_non_null(b);
        memset(b, 1, MIB);
        assert_int_equal(ova_out_queue_put(q, b, MIB, (uint64_t)i * MIB, count_free, b, &err), OVA_OK);
    }
    ova_out_queue_stop(&q, 1);
    assert_int_equal(g_released, 8);
    ova_out_file_close(&f);
    close(ro);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct_here),
        cmocka_unit_test(test_buffered_here),
        cmocka_unit_test(test_direct_tmpfs),
        cmocka_unit_test(test_write_error_names_file),
        cmocka_unit_test(test_direct_same_file),
        cmocka_unit_test(test_rewrite_in_flight),
        cmocka_unit_test(test_failure_in_flight),
        cmocka_unit_test(test_queue_writes),
        cmocka_unit_test(test_queue_failure),
        cmocka_unit_test(test_sync_resume_direct),
        cmocka_unit_test(test_sync_resume_buffered),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
