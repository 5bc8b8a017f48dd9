/* out_file.c - positioned writes into the OVA, through an aligned staging
 * buffer and O_DIRECT where the file system allows it, and the write-behind
 * queue that makes them on a thread of their own (see out_file.h). */
#include "engine/out_file.h"
#include "util/io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"

/* The direct write in flight. Once a direct write has succeeded (so the
 * file system takes them), a full stage goes to a thread of its own and the
 * caller fills the spare buffer meanwhile: the device is not left idle
 * while the next 8 MiB are copied in (it was, one write at a time: the
 * copy was about a tenth of each write's time on this VM's disk). The
 * caller collects the outcome (land) before it reuses the buffer, writes
 * below the stage, syncs, flushes or closes, so no two writes of a block
 * ever race. */
typedef struct flight {
    int running;            /* the thread exists (and spare is allocated) */
    int refused;            /* it could not be started: direct writes stay synchronous */
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a job was given, a job is done, or stop */
    int busy;               /* a job is being written */
    int pending;            /* a job's outcome is not collected yet */
    int stop;
    int dfd, fd;            /* the job: buf[0, len) at off */
    const unsigned char *buf;
    size_t len;
    uint64_t off;
    int e;                  /* its outcome (direct_range) */
    uint64_t at;
} flight;

struct ova_out_file {
    int fd;                 /* the caller's descriptor, through the page cache */
    int dfd;                /* the same file opened with O_DIRECT, or -1 */
    const char *path;
    unsigned char *stage;   /* OVA_OUT_STAGE bytes, aligned */
    uint64_t stage_off;     /* file offset of stage[0], aligned */
    size_t stage_len;       /* valid bytes from stage[0] */
    int started;            /* stage_off is set */
    int wrote_direct;       /* a direct write has succeeded */
    uint64_t high;          /* end of the highest byte range written so far */
    char *space_dir;        /* the output's folder, for "disk full" (NULL: plain messages) */
    uint64_t space_expected;/* the OVA's estimated size, 0 unknown */
    unsigned char *spare;   /* the second stage buffer, in flight or free (flight) */
    flight fl;
};

/* A failed write of the OVA. A full file system (ENOSPC, EDQUOT) is said
 * in the user's terms: which folder, how much was written, of about how
 * much (ova_out_file_set_space); anything else names the file and offset. */
static ova_status write_failed(const ova_out_file *f, int e, uint64_t off, ova_err *err)
{
    if ((e == ENOSPC || e == EDQUOT) && f->space_dir != NULL) {
        char done[32], total[32];
        uint64_t d = f->high > off ? f->high : off;
        ova_size_text(d, done);
        if (f->space_expected > 0)
            return ova_err_set(err, OVA_E_IO, "%s: disk full after writing %s of about %s (%s: %s)", f->space_dir,
                               done, ova_size_text(f->space_expected, total), f->path, strerror(e));
        return ova_err_set(err, OVA_E_IO, "%s: disk full after writing %s (%s: %s)", f->space_dir, done, f->path,
                           strerror(e));
    }
    return ova_err_errno(err, OVA_E_IO, e, "%s: write at offset %llu failed", f->path, (unsigned long long)off);
}

/* A write through f's own descriptor, noting what was written. */
static ova_status pwrite_fd(ova_out_file *f, const void *buf, size_t n, uint64_t off, ova_err *err)
{
    size_t done;
    int e = ova_pwrite_all(f->fd, buf, n, off, &done);
    if (e != 0)
        return write_failed(f, e, off + done, err);
    if (done < n)
        return ova_err_set(err, OVA_E_IO, "%s: write at offset %llu wrote nothing", f->path,
                           (unsigned long long)(off + done));
    if (off + n > f->high)
        f->high = off + n;
    return OVA_OK;
}

void ova_out_file_set_space(ova_out_file *f, const char *folder, uint64_t expected)
{
    free(f->space_dir);
    f->space_dir = folder != NULL ? strdup(folder) : NULL;
    f->space_expected = expected;
}

ova_status ova_out_file_open(int fd, const char *path, int want_direct, ova_out_file **out, ova_err *err)
{
    ova_out_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    f->fd = fd;
    f->dfd = -1;
    f->path = path;
    if (want_direct) {
        f->dfd = ova_reopen_direct(fd, path);
        if (f->dfd >= 0) {
            f->stage = aligned_alloc(OVA_OUT_ALIGN, OVA_OUT_STAGE);
            if (f->stage == NULL) {
                close(f->dfd);
                f->dfd = -1;
            }
        }
    }
    *out = f;
    return OVA_OK;
}

int ova_out_file_direct(const ova_out_file *f) { return f->dfd >= 0; }

/* Stop bypassing the page cache: staged bytes are written through fd. */
static ova_status fall_back(ova_out_file *f, ova_err *err)
{
    close(f->dfd);
    f->dfd = -1;
    ova_status st = OVA_OK;
    if (f->started && f->stage_len > 0)
        st = pwrite_fd(f, f->stage, f->stage_len, f->stage_off, err);
    free(f->stage);
    f->stage = NULL;
    return st;
}

/* Write buf[0, len) (len aligned) at off through dfd. Returns 0, or the
 * errno of the failure (-1: a write took nothing) with *at where it
 * stopped (on success the end). A short direct write ends on a block
 * boundary in practice; if not, the rest cannot be retried aligned, so it
 * goes through fd. *direct_ok is set once a direct pwrite succeeds. Touches
 * nothing else of the out_file: the flight thread runs it too. */
static int direct_range(int dfd, int fd, const unsigned char *buf, size_t len, uint64_t off, uint64_t *at,
                        int *direct_ok)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(dfd, buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *at = off + done;
            return r < 0 ? errno : -1;
        }
        *direct_ok = 1;
        done += (size_t)r;
        if ((size_t)r % OVA_OUT_ALIGN != 0 && done < len) {
            size_t d;
            int e = ova_pwrite_all(fd, buf + done, len - done, off + done, &d);
            done += d;
            if (e != 0 || done < len) {
                *at = off + done;
                return e != 0 ? e : -1;
            }
        }
    }
    *at = off + len;
    return 0;
}

/* The message for direct_range's failure e at offset at. */
static ova_status direct_failed(const ova_out_file *f, int e, uint64_t at, ova_err *err)
{
    if (e < 0)
        return ova_err_set(err, OVA_E_IO, "%s: write at offset %llu wrote nothing", f->path, (unsigned long long)at);
    return write_failed(f, e, at, err);
}

/* Write stage[0, len) (len aligned) at stage_off with O_DIRECT, now. */
static ova_status write_direct(ova_out_file *f, size_t len, ova_err *err)
{
    uint64_t at;
    int ok = 0;
    int e = direct_range(f->dfd, f->fd, f->stage, len, f->stage_off, &at, &ok);
    if (e == EINVAL && !ok && !f->wrote_direct)
        return fall_back(f, err); /* alignment this file system does not take */
    if (ok)
        f->wrote_direct = 1;
    if (at > f->high)
        f->high = at;
    return e != 0 ? direct_failed(f, e, at, err) : OVA_OK;
}

/* The flight thread: one job at a time until stop; a job given before the
 * stop is still written (flight_stop relies on it). */
static void *flight_main(void *p)
{
    flight *fl = p;
    pthread_mutex_lock(&fl->mu);
    for (;;) {
        while (!fl->busy && !fl->stop)
            pthread_cond_wait(&fl->cv, &fl->mu);
        if (!fl->busy)
            break;
        pthread_mutex_unlock(&fl->mu);
        uint64_t at;
        int ok = 0;
        int e = direct_range(fl->dfd, fl->fd, fl->buf, fl->len, fl->off, &at, &ok);
        pthread_mutex_lock(&fl->mu);
        fl->e = e;
        fl->at = at;
        fl->busy = 0;
        pthread_cond_broadcast(&fl->cv);
    }
    pthread_mutex_unlock(&fl->mu);
    return NULL;
}

/* Wait for the write in flight, if any, and take its outcome. */
static ova_status land(ova_out_file *f, ova_err *err)
{
    flight *fl = &f->fl;
    if (!fl->running)
        return OVA_OK;
    pthread_mutex_lock(&fl->mu);
    while (fl->busy)
        pthread_cond_wait(&fl->cv, &fl->mu);
    int pending = fl->pending, e = fl->e;
    uint64_t at = fl->at;
    fl->pending = 0;
    pthread_mutex_unlock(&fl->mu);
    if (!pending)
        return OVA_OK;
    if (at > f->high)
        f->high = at;
    return e != 0 ? direct_failed(f, e, at, err) : OVA_OK;
}

/* The spare buffer and the thread; 0 if either cannot be had (then direct
 * writes go on one at a time, as before). */
static int flight_start(ova_out_file *f)
{
    flight *fl = &f->fl;
    if (fl->running)
        return 1;
    if (fl->refused)
        return 0;
    f->spare = aligned_alloc(OVA_OUT_ALIGN, OVA_OUT_STAGE);
    if (f->spare != NULL) {
        pthread_mutex_init(&fl->mu, NULL);
        pthread_cond_init(&fl->cv, NULL);
        if (pthread_create(&fl->tid, NULL, flight_main, fl) == 0) {
            fl->running = 1;
            return 1;
        }
        pthread_mutex_destroy(&fl->mu);
        pthread_cond_destroy(&fl->cv);
        free(f->spare);
        f->spare = NULL;
    }
    fl->refused = 1;
    return 0;
}

/* Let the thread finish its job, stop it, free the spare buffer. The
 * outcome of a job not landed is lost: land first where it matters. */
static void flight_stop(ova_out_file *f)
{
    flight *fl = &f->fl;
    if (!fl->running)
        return;
    pthread_mutex_lock(&fl->mu);
    fl->stop = 1;
    pthread_cond_broadcast(&fl->cv);
    pthread_mutex_unlock(&fl->mu);
    pthread_join(fl->tid, NULL);
    pthread_mutex_destroy(&fl->mu);
    pthread_cond_destroy(&fl->cv);
    fl->running = 0;
    fl->stop = 0;
    fl->pending = 0;
    free(f->spare);
    f->spare = NULL;
}

/* The full stage goes out: in flight while the spare is filled, once the
 * file system has taken a direct write; else (the first write, which may
 * still fall back, or no thread) now. */
static ova_status send_stage(ova_out_file *f, ova_err *err)
{
    if (!f->wrote_direct)
        return write_direct(f, OVA_OUT_STAGE, err);
    ova_status st = land(f, err); /* the spare is free again */
    if (st != OVA_OK)
        return st;
    if (!flight_start(f))
        return write_direct(f, OVA_OUT_STAGE, err);
    flight *fl = &f->fl;
    pthread_mutex_lock(&fl->mu);
    fl->dfd = f->dfd;
    fl->fd = f->fd;
    fl->buf = f->stage;
    fl->len = OVA_OUT_STAGE;
    fl->off = f->stage_off;
    fl->busy = 1;
    fl->pending = 1;
    pthread_cond_broadcast(&fl->cv);
    pthread_mutex_unlock(&fl->mu);
    unsigned char *t = f->stage;
    f->stage = f->spare;
    f->spare = t;
    return OVA_OK;
}

/* Append n bytes (zeros when src is NULL) at the end of the stage, writing
 * it out each time it fills. */
static ova_status append(ova_out_file *f, const unsigned char *src, size_t n, ova_err *err)
{
    while (n > 0) {
        if (f->dfd < 0) /* fell back meanwhile */
            return src ? pwrite_fd(f, src, n, f->stage_off + f->stage_len, err) : OVA_OK;
        size_t c = OVA_OUT_STAGE - f->stage_len;
        if (c > n)
            c = n;
        if (src) {
            memcpy(f->stage + f->stage_len, src, c);
            src += c;
        } else {
            memset(f->stage + f->stage_len, 0, c);
        }
        f->stage_len += c;
        n -= c;
        if (f->stage_len == OVA_OUT_STAGE) {
            ova_status st = send_stage(f, err);
            if (st != OVA_OK)
                return st;
            f->stage_off += OVA_OUT_STAGE;
            f->stage_len = 0;
        }
    }
    return OVA_OK;
}

ova_status ova_out_file_pwrite(ova_out_file *f, const void *buf, size_t n, uint64_t off, ova_err *err)
{
    const unsigned char *b = buf;
    if (f->dfd < 0)
        return pwrite_fd(f, b, n, off, err);
    if (!f->started) {
        f->stage_off = off - off % OVA_OUT_ALIGN;
        f->stage_len = (size_t)(off - f->stage_off);
        memset(f->stage, 0, f->stage_len); /* not ours yet: whoever owns it writes it later */
        f->started = 1;
    }
    /* below the stage: those blocks are in the file already (once the
     * write in flight, which may hold them, has landed) */
    if (off < f->stage_off) {
        ova_status st = land(f, err);
        if (st != OVA_OK)
            return st;
        size_t k = f->stage_off - off < n ? (size_t)(f->stage_off - off) : n;
        st = pwrite_fd(f, b, k, off, err);
        if (st != OVA_OK || k == n)
            return st;
        b += k;
        n -= k;
        off += k;
    }
    /* inside the stage: merge */
    uint64_t end = f->stage_off + f->stage_len;
    if (off < end) {
        size_t k = end - off < n ? (size_t)(end - off) : n;
        memcpy(f->stage + (off - f->stage_off), b, k);
        b += k;
        n -= k;
        off += k;
    }
    if (n == 0)
        return OVA_OK;
    /* above it: zeros up to off (never written before), then the bytes */
    ova_status st = append(f, NULL, (size_t)(off - end), err);
    if (st != OVA_OK)
        return st;
    return append(f, b, n, err);
}

ova_status ova_out_file_flush(ova_out_file *f, ova_err *err)
{
    if (f->dfd < 0)
        return OVA_OK;
    ova_status st = land(f, err);
    flight_stop(f);
    if (st == OVA_OK && f->started && f->stage_len > 0) {
        size_t a = f->stage_len - f->stage_len % OVA_OUT_ALIGN;
        if (a > 0)
            st = write_direct(f, a, err);
        /* the unaligned tail (or all of it, if direct writes just fell back) */
        if (st == OVA_OK && f->dfd >= 0 && a < f->stage_len)
            st = pwrite_fd(f, f->stage + a, f->stage_len - a, f->stage_off + a, err);
    }
    if (f->dfd >= 0) {
        close(f->dfd);
        f->dfd = -1;
    }
    free(f->stage);
    f->stage = NULL;
    return st;
}

ova_status ova_out_file_sync(ova_out_file *f, ova_err *err)
{
    ova_status ls = land(f, err);
    if (ls != OVA_OK)
        return ls;
    if (f->dfd >= 0 && f->started && f->stage_len >= OVA_OUT_ALIGN) {
        size_t a = f->stage_len - f->stage_len % OVA_OUT_ALIGN;
        ova_status st = write_direct(f, a, err);
        if (st != OVA_OK)
            return st;
        if (f->dfd >= 0) { /* else it fell back and wrote the whole stage */
            memmove(f->stage, f->stage + a, f->stage_len - a);
            f->stage_off += a;
            f->stage_len -= a;
        }
    }
    if (f->dfd >= 0 && f->started && f->stage_len > 0) {
        /* the direct write of this block later rewrites these bytes; the
         * kernel writes back and drops cached pages of a range it writes
         * directly, so the two stay coherent */
        ova_status st = pwrite_fd(f, f->stage, f->stage_len, f->stage_off, err);
        if (st != OVA_OK)
            return st;
    }
    if (fdatasync(f->fd) != 0)
        return write_failed(f, errno, f->high, err);
    return OVA_OK;
}

ova_status ova_out_file_resume_at(ova_out_file *f, uint64_t off, ova_err *err)
{
    f->high = off;
    if (f->dfd < 0)
        return OVA_OK;
    f->stage_off = off - off % OVA_OUT_ALIGN;
    f->stage_len = (size_t)(off - f->stage_off);
    f->started = 1;
    return ova_pread_exact(f->fd, f->stage, f->stage_len, f->stage_off, f->path, "the partial output's last block",
                           err);
}

void ova_out_file_close(ova_out_file **pf)
{
    ova_out_file *f = *pf;
    if (f == NULL)
        return;
    flight_stop(f);
    if (f->dfd >= 0)
        close(f->dfd);
    free(f->stage);
    free(f->space_dir);
    free(f);
    *pf = NULL;
}

/* ---- the write-behind queue ---- */

typedef struct io_job {
    const unsigned char *buf;
    size_t len;
    uint64_t off;
    void (*release)(void *);   /* called once the bytes are written (or dropped) */
    void *arg;
    int hash;                  /* pass the bytes to the queue's hash before writing them */
    struct io_job *next;
} io_job;

/* Jobs carry their file offset, so the thread needs no order of its own
 * beyond the queue's. */
struct ova_out_queue {
    ova_out_file *out;
    const char *name;          /* the output, for messages */
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t work;       /* a job was queued, or stop */
    pthread_cond_t idle;       /* a job finished */
    io_job *head, *tail;
    size_t bytes;              /* bytes queued, bounded by OVA_OUT_QUEUE_MAX */
    int busy;
    int stop;
    ova_err err;               /* first write failure; later jobs are dropped */
    size_t max;                /* bytes queued at most (ova_out_queue_limit) */
    int (*hash)(void *ctx, const void *p, size_t n); /* ova_out_queue_set_hash */
    void *hash_ctx;
};

static void *io_main(void *p)
{
    ova_out_queue *q = p;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->head == NULL && !q->stop)
            pthread_cond_wait(&q->work, &q->mu);
        io_job *j = q->head;
        if (j == NULL)
            break;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->busy = 1;
        int failed = q->err.status != OVA_OK;
        pthread_mutex_unlock(&q->mu);

        ova_err e;
        ova_err_clear(&e);
        int bad = 0;
        if (!failed && j->hash && q->hash != NULL && q->hash(q->hash_ctx, j->buf, j->len) != 0) {
            ova_err_set(&e, OVA_E_INTERNAL, "%s: digest update failed", q->name);
            bad = 1;
        }
        bad = bad || (!failed && ova_out_file_pwrite(q->out, j->buf, j->len, j->off, &e) != OVA_OK);
        if (j->release)
            j->release(j->arg);

        pthread_mutex_lock(&q->mu);
        if (bad)
            ova_err_set(&q->err, e.status, "%s", e.msg);
        q->bytes -= j->len;
        q->busy = 0;
        free(j);
        pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

ova_status ova_out_queue_start(ova_out_file *f, const char *name, ova_out_queue **out, ova_err *err)
{
    ova_out_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    q->out = f;
    q->name = name;
    q->max = OVA_OUT_QUEUE_MAX;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->idle, NULL);
    if (pthread_create(&q->tid, NULL, io_main, q) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->work);
        pthread_cond_destroy(&q->idle);
        free(q);
        return ova_err_set(err, OVA_E_NOMEM, "%s: cannot start the write thread", name);
    }
    *out = q;
    return OVA_OK;
}

void ova_out_queue_limit(ova_out_queue *q, size_t max)
{
    pthread_mutex_lock(&q->mu);
    q->max = max;
    pthread_mutex_unlock(&q->mu);
}

void ova_out_queue_set_hash(ova_out_queue *q, int (*hash)(void *ctx, const void *p, size_t n), void *ctx)
{
    pthread_mutex_lock(&q->mu);
    q->hash = hash;
    q->hash_ctx = ctx;
    pthread_mutex_unlock(&q->mu);
}

ova_status ova_out_queue_put(ova_out_queue *q, const void *buf, size_t len, uint64_t off, void (*release)(void *),
                             void *arg, ova_err *err)
{
    return ova_out_queue_put_ex(q, buf, len, off, 0, release, arg, err);
}

ova_status ova_out_queue_put_ex(ova_out_queue *q, const void *buf, size_t len, uint64_t off, int hash,
                                void (*release)(void *), void *arg, ova_err *err)
{
    io_job *j = malloc(sizeof *j);
    if (j == NULL) {
        if (release)
            release(arg);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory queueing a write", q->name);
    }
    *j = (io_job){ buf, len, off, release, arg, hash, NULL };
    pthread_mutex_lock(&q->mu);
    while (q->bytes > 0 && q->bytes + len > q->max && q->err.status == OVA_OK)
        pthread_cond_wait(&q->idle, &q->mu);
    if (q->err.status != OVA_OK) {
        ova_status st = ova_err_set(err, q->err.status, "%s", q->err.msg);
        pthread_mutex_unlock(&q->mu);
        free(j);
        if (release)
            release(arg);
        return st;
    }
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->bytes += len;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    return OVA_OK;
}

ova_status ova_out_queue_drain(ova_out_queue *q, ova_err *err)
{
    pthread_mutex_lock(&q->mu);
    while (q->head != NULL || q->busy)
        pthread_cond_wait(&q->idle, &q->mu);
    ova_status st = q->err.status;
    if (st != OVA_OK)
        ova_err_set(err, st, "%s", q->err.msg);
    pthread_mutex_unlock(&q->mu);
    return st;
}

void ova_out_queue_stop(ova_out_queue **pq, int drop)
{
    ova_out_queue *q = *pq;
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    if (drop)
        ova_err_set(&q->err, OVA_E_ABORTED, "aborted");
    q->stop = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->tid, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->idle);
    free(q);
    *pq = NULL;
}
