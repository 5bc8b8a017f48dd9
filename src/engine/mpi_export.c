/* mpi_export.c - the export engine over MPI (see export.h for the design).
 *
 * Messages (all on a private duplicate of the caller's communicator):
 *   REQ    worker thread -> rank 0   int32 thread index: "give me a unit"
 *   GRANT  rank 0 -> worker thread   int64 unit, or -1 = stop; tag GRANT + thread index
 *   RESULT worker thread -> rank 0   a unit result (ova_unit_hdr + records)
 *   ERROR  worker thread -> rank 0   int64 unit (or -1) + message text; the thread then ends
 *   WAKE   rank 0 -> rank 0          wakes the service loop after the window moved or
 *                                    the job failed, so pending requests get answered
 */
#include "ovatool/export.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "engine/cores.h"
#include "engine/mpi_agree.h"
#include "engine/ova_writer.h"
#include "engine/plan.h"
#include "engine/unit.h"
#include "ovatool/disk.h"
#include "ovatool/prepare.h"
#include "util/fault.h"

enum { TAG_REQ = 1, TAG_RESULT, TAG_ERROR, TAG_WAKE, TAG_GRANT = 100 };

#define READ_CHUNK (2u << 20)  /* 32 grains per pread */
#define MAX_THREADS 1024

void ova_export_opts_init(ova_export_opts *o)
{
    memset(o, 0, sizeof *o);
    o->pin = true;
    o->mem_limit = 512ull << 20;
    o->codec = OVA_CODEC_LIBDEFLATE;
    o->level = 6;
    o->sha = OVA_SHA256;
    o->mtime = -1;
    o->progress_secs = 10;
    o->store_incompressible = true;
}

typedef struct pending { int src, tid; } pending;

typedef struct engine {
    const ova_export_opts *opts;
    MPI_Comm comm;
    int rank, size;
    char host[MPI_MAX_PROCESSOR_NAME];
    ova_prepared *prep;        /* rank 0 */
    ova_plan *plan;
    ova_disk_reader **readers;
    uint64_t n_units;
    size_t unit_max;
    ova_export_hooks hooks;

    /* threads of this rank */
    int n_threads;
    ova_cores cores;

    /* rank 0: dispatch and write state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_grant;   /* window moved or job ended */
    pthread_cond_t cv_write;   /* a result arrived or job ended */
    uint64_t next_unit;        /* next unit to grant */
    uint64_t write_head;       /* next unit to write */
    uint64_t window;
    unsigned char **slots;     /* results waiting to be written, by unit % window */
    int failed;
    ova_err first_err;
    int first_from;            /* the rank whose failure first_err reports (0: rank 0's own) */
    int service_running;
    pending *pend;
    size_t n_pend;
    ova_writer *writer;
    ova_export_stats *stats;
    struct timespec t0;

    /* other ranks */
    atomic_int local_abort;
    ova_err local_err;         /* this rank's own failure, for its return value */
} engine;

static double now_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void logf_(engine *e, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(engine *e, int level, const char *fmt, ...)
{
    if (e->hooks.log == NULL || e->rank != 0)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    e->hooks.log(e->hooks.ctx, level, msg);
}

/* Blocking MPI calls in Open MPI spin on a core while they wait. The
 * service thread and idle workers wait a lot, and that spinning would take
 * a core from compression (half the machine on a 2-core node), so waits
 * poll with a short back-off instead: spin briefly for latency, then sleep
 * 10 us growing to 1 ms. */
static void backoff(unsigned *round)
{
    if (*round < 64) {
        (*round)++;
        return;
    }
    unsigned us = 10u << ((*round - 64) / 8 < 7 ? (*round - 64) / 8 : 7);
    if (us > 1000)
        us = 1000;
    (*round)++;
    struct timespec ts = { 0, (long)us * 1000 };
    nanosleep(&ts, NULL);
}

static void wait_request(MPI_Request *req)
{
    unsigned round = 0;
    int done = 0;
    for (;;) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        backoff(&round);
    }
}

static void probe_any(MPI_Comm comm, MPI_Status *ms)
{
    unsigned round = 0;
    int flag = 0;
    for (;;) {
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, ms);
        if (flag)
            return;
        backoff(&round);
    }
}

static void send_wake(engine *e)
{
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, 0, TAG_WAKE, e->comm);
}

/* rank 0: record the first failure and stop handing out work. from is the
 * rank that failed: a failure another rank reported (TAG_ERROR) is recorded
 * as OVA_E_ABORTED here, and the final agreement takes that rank's own
 * status and message (mpi_agree.h). */
static void fail0(engine *e, int from, ova_status st, const char *msg)
{
    pthread_mutex_lock(&e->mu);
    if (!e->failed) {
        e->failed = 1;
        e->first_from = from;
        ova_err_set(&e->first_err, st, "%s", msg);
    }
    int wake = e->service_running;
    pthread_cond_broadcast(&e->cv_grant);
    pthread_cond_broadcast(&e->cv_write);
    pthread_mutex_unlock(&e->mu);
    if (wake)
        send_wake(e);
}

/* ---- worker threads ----------------------------------------------------- */

/* Every rank runs n_threads compression threads with one loop: take a
 * unit, compress it, deliver the result. Only taking and delivering differ
 * (unit_io): rank 0's threads use the dispatch state directly and file
 * results in the window; other ranks' ask rank 0 for a grant and send the
 * result back over MPI. */
typedef struct worker worker;

typedef struct unit_io {
    int64_t (*take)(worker *w);                        /* the next unit; -1: stop */
    unsigned char *(*buffer)(worker *w);               /* room for one result; NULL: out of memory */
    void (*deliver)(worker *w, unsigned char *blob);   /* pass a result on */
    void (*fail)(worker *w, int64_t unit, const ova_err *err); /* unit -1: none taken; the thread then ends */
} unit_io;

struct worker {
    engine *e;
    const unit_io *io;
    int tid;
    unsigned char *blob;       /* a result buffer this thread still holds; freed when it ends */
};

/* rank 0: take the next unit, waiting while the window is full. -1 = done. */
static int64_t take_local(worker *w)
{
    engine *e = w->e;
    pthread_mutex_lock(&e->mu);
    while (!e->failed && e->next_unit < e->n_units && e->next_unit >= e->write_head + e->window)
        pthread_cond_wait(&e->cv_grant, &e->mu);
    int64_t u = -1;
    if (!e->failed && e->next_unit < e->n_units)
        u = (int64_t)e->next_unit++;
    pthread_mutex_unlock(&e->mu);
    return u;
}

/* rank 0: a fresh buffer per unit, since results wait in the window */
static unsigned char *buffer_local(worker *w)
{
    w->blob = malloc(w->e->unit_max);
    return w->blob;
}

static void deliver_local(worker *w, unsigned char *blob)
{
    engine *e = w->e;
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
    pthread_mutex_lock(&e->mu);
    e->slots[h->unit % e->window] = blob;
    pthread_cond_broadcast(&e->cv_write);
    pthread_mutex_unlock(&e->mu);
    w->blob = NULL; /* the writer's now */
}

static void fail_local(worker *w, int64_t unit, const ova_err *err)
{
    (void)unit;
    fail0(w->e, 0, err->status, err->msg);
}

static const unit_io LOCAL_IO = { take_local, buffer_local, deliver_local, fail_local };

static void send_error(engine *e, int64_t unit, const char *msg)
{
    char buf[8 + OVA_ERR_MAX + 128];
    memcpy(buf, &unit, 8);
    int n = snprintf(buf + 8, sizeof buf - 8, "rank %d on %s: %s", e->rank, e->host, msg);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf - 8)
        n = (int)(sizeof buf - 9);
    MPI_Send(buf, 8 + n + 1, MPI_CHAR, 0, TAG_ERROR, e->comm);
}

/* other ranks: ask rank 0 for a unit. After a sibling thread failed, units
 * still granted are answered as skipped, without doing them, so rank 0's
 * count of outstanding units stays right. */
static int64_t take_remote(worker *w)
{
    engine *e = w->e;
    int32_t tid = w->tid;
    for (;;) {
        int64_t u;
        MPI_Request req;
        MPI_Irecv(&u, 1, MPI_INT64_T, 0, TAG_GRANT + tid, e->comm, &req);
        MPI_Send(&tid, 1, MPI_INT32_T, 0, TAG_REQ, e->comm);
        wait_request(&req);
        if (u < 0 || !atomic_load(&e->local_abort))
            return u;
        ova_unit_hdr h;
        memset(&h, 0, sizeof h);
        h.unit = (uint64_t)u;
        h.status = OVA_UNIT_SKIPPED;
        MPI_Send(&h, (int)sizeof h, MPI_BYTE, 0, TAG_RESULT, e->comm);
    }
}

/* other ranks: one buffer per thread, reused (a result is sent before the
 * next unit is taken) */
static unsigned char *buffer_remote(worker *w)
{
    if (w->blob == NULL)
        w->blob = malloc(w->e->unit_max);
    return w->blob;
}

static void deliver_remote(worker *w, unsigned char *blob)
{
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
    MPI_Request sreq;
    MPI_Isend(blob, (int)(sizeof *h + h->records_len), MPI_BYTE, 0, TAG_RESULT, w->e->comm, &sreq);
    wait_request(&sreq);
}

static void fail_remote(worker *w, int64_t unit, const ova_err *err)
{
    engine *e = w->e;
    atomic_store(&e->local_abort, 1);
    pthread_mutex_lock(&e->mu);
    ova_err_set(&e->local_err, err->status, "%s", err->msg);
    pthread_mutex_unlock(&e->mu);
    send_error(e, unit, err->msg);
}

static const unit_io REMOTE_IO = { take_remote, buffer_remote, deliver_remote, fail_remote };

static ova_status compress_unit(engine *e, ova_unit_worker *uw, uint64_t u, unsigned char *blob, ova_err *err)
{
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(e->plan, u, &d, &first, &n);
    /* the tests' proof that a failure on any rank stops the job cleanly */
    if (ova_fault("export.unit"))
        return ova_err_set(err, OVA_E_IO, "%s: injected read failure at byte %llu (test fault export.unit)",
                           e->plan->disks[d]->path, (unsigned long long)(first * OVA_GRAIN_SIZE));
    return ova_unit_compress(uw, e->plan, e->readers[d], u, blob, err);
}

static void *worker_main(void *p)
{
    worker *w = p;
    engine *e = w->e;
    if (e->opts->pin)
        ova_cores_pin(&e->cores, w->tid);
    ova_err err;
    ova_err_clear(&err);
    ova_unit_worker *uw = NULL;
    if (ova_unit_worker_new(e->opts->codec, e->opts->level, READ_CHUNK, &uw, &err) != OVA_OK) {
        w->io->fail(w, -1, &err);
        return NULL;
    }
    ova_unit_worker_store_incompressible(uw, e->opts->store_incompressible);
    for (;;) {
        int64_t u = w->io->take(w);
        if (u < 0)
            break;
        unsigned char *blob = w->io->buffer(w);
        if (blob == NULL)
            ova_err_set(&err, OVA_E_NOMEM, "out of memory for a unit buffer");
        if (blob == NULL || compress_unit(e, uw, (uint64_t)u, blob, &err) != OVA_OK) {
            w->io->fail(w, u, &err);
            break;
        }
        w->io->deliver(w, blob);
    }
    ova_unit_worker_free(&uw);
    free(w->blob);
    w->blob = NULL;
    return NULL;
}

/* ---- rank 0: writer thread and service loop ------------------------------ */

static void report_progress(engine *e, uint64_t done, int final)
{
    if (e->hooks.progress == NULL)
        return;
    ova_progress p = { done < e->stats->bytes_in ? done : e->stats->bytes_in, e->stats->bytes_in,
                       ova_writer_bytes(e->writer), now_since(&e->t0), final };
    e->hooks.progress(e->hooks.ctx, &p);
}

static void *writer_main(void *p)
{
    engine *e = p;
    ova_err err;
    ova_err_clear(&err);
    uint64_t done_bytes = 0;
    double next_progress = e->opts->progress_secs;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->failed && e->write_head < e->n_units && e->slots[e->write_head % e->window] == NULL)
            pthread_cond_wait(&e->cv_write, &e->mu);
        if (e->failed || e->write_head >= e->n_units) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        unsigned char *blob = e->slots[e->write_head % e->window];
        e->slots[e->write_head % e->window] = NULL; /* ours now, whatever happens */
        pthread_mutex_unlock(&e->mu);

        const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
        e->stats->bytes_read += h->bytes_read;
        e->stats->grains_data += h->n_data;
        e->stats->grains_stored += h->n_stored;
        e->stats->bytes_stored += (uint64_t)h->n_stored * OVA_GRAIN_SIZE;
        done_bytes += (uint64_t)h->n_grains * OVA_GRAIN_SIZE;
        /* the writer frees the blob once its records are in the file */
        ova_status st = ova_writer_unit(e->writer, h, blob + sizeof *h, free, blob, &err);
        if (st != OVA_OK) {
            fail0(e, 0, err.status, err.msg);
            break;
        }
        ova_writer_note_progress(done_bytes < e->stats->bytes_in ? done_bytes : e->stats->bytes_in,
                                 e->stats->bytes_in);
        pthread_mutex_lock(&e->mu);
        e->write_head++;
        int wake = e->service_running && e->n_pend > 0;
        pthread_cond_broadcast(&e->cv_grant);
        pthread_mutex_unlock(&e->mu);
        if (wake)
            send_wake(e);
        if (e->opts->progress_secs > 0) {
            double t = now_since(&e->t0);
            if (t >= next_progress) {
                report_progress(e, done_bytes, e->write_head == e->n_units);
                next_progress = t + e->opts->progress_secs;
            }
        }
    }
    return NULL;
}

/* Decide the answer to one request (under mu): a unit, -1 = stop, or -2 = wait. */
static int64_t decide(engine *e)
{
    if (e->failed || e->next_unit >= e->n_units)
        return -1;
    if (e->next_unit >= e->write_head + e->window)
        return -2;
    return (int64_t)e->next_unit++;
}

/* Take a message rank 0 will not keep off the wire. Without memory for it,
 * a 1-byte receive with errors returned still consumes it (MPI_ERR_TRUNCATE)
 * instead of handing MPI_Recv a NULL buffer; the handler is this
 * communicator's only for that call. */
static void drain(engine *e, const MPI_Status *ms, int count)
{
    unsigned char small[256];
    unsigned char *buf = (size_t)count <= sizeof small ? small : malloc((size_t)count);
    if (buf != NULL) {
        MPI_Recv(buf, count, MPI_BYTE, ms->MPI_SOURCE, ms->MPI_TAG, e->comm, MPI_STATUS_IGNORE);
        if (buf != small)
            free(buf);
        return;
    }
    MPI_Errhandler eh;
    MPI_Comm_get_errhandler(e->comm, &eh);
    MPI_Comm_set_errhandler(e->comm, MPI_ERRORS_RETURN);
    MPI_Recv(small, 1, MPI_BYTE, ms->MPI_SOURCE, ms->MPI_TAG, e->comm, MPI_STATUS_IGNORE);
    MPI_Comm_set_errhandler(e->comm, eh);
    MPI_Errhandler_free(&eh);
}

/* A unit result from another rank, before rank 0 files it (under mu): a
 * unit it granted and has not written, the header and records as long as
 * the message, as many grains as the plan gives the unit, and every grain's
 * sector inside the records. The writer trusts all of this, and a slot
 * index taken from a bad header would overwrite another unit's result.
 * NULL if it is sound, else what is wrong. */
static const char *bad_result(const engine *e, const ova_unit_hdr *h, size_t count)
{
    if (count < sizeof *h || count - sizeof *h != h->records_len || h->records_len % OVA_SECTOR != 0)
        return "its length does not match its header";
    if (h->unit >= e->n_units || h->unit < e->write_head || h->unit >= e->next_unit ||
        e->slots[h->unit % e->window] != NULL)
        return "it names a unit that was not granted or is already in";
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(e->plan, h->unit, &d, &first, &n);
    if (h->n_grains != n || h->n_data > n || h->n_stored > h->n_data)
        return "its grain counts do not match the plan";
    uint32_t data = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (h->rel[i] == 0)
            continue;
        if ((uint64_t)h->rel[i] - 1 >= h->records_len / OVA_SECTOR)
            return "a grain lies outside its records";
        data++;
    }
    if (data != h->n_data)
        return "its grain counts do not match the plan";
    return NULL;
}

static void service_loop(engine *e, int remote_threads)
{
    int stopped = 0;
    uint64_t outstanding = 0;
    while (stopped < remote_threads || outstanding > 0) {
        MPI_Status ms;
        probe_any(e->comm, &ms);
        int count = 0;
        MPI_Get_count(&ms, MPI_BYTE, &count);
        if (ms.MPI_TAG == TAG_REQ) {
            int32_t tid;
            MPI_Recv(&tid, 1, MPI_INT32_T, ms.MPI_SOURCE, TAG_REQ, e->comm, MPI_STATUS_IGNORE);
            pthread_mutex_lock(&e->mu);
            int64_t u = decide(e);
            if (u == -2)
                e->pend[e->n_pend++] = (pending){ ms.MPI_SOURCE, tid };
            pthread_mutex_unlock(&e->mu);
            if (u != -2) {
                MPI_Send(&u, 1, MPI_INT64_T, ms.MPI_SOURCE, TAG_GRANT + tid, e->comm);
                if (u < 0)
                    stopped++;
                else
                    outstanding++;
            }
        } else if (ms.MPI_TAG == TAG_RESULT) {
            int fits = count > 0 && (size_t)count <= e->unit_max;
            unsigned char *blob = fits ? malloc((size_t)count) : NULL;
            if (blob == NULL) {
                /* nowhere to keep it: take it off the wire, drop it and fail */
                drain(e, &ms, count);
                outstanding--;
                char msg[160];
                snprintf(msg, sizeof msg, fits ? "rank 0: out of memory receiving a unit from rank %d"
                                               : "rank 0: rank %d sent a unit larger than a unit can be",
                         ms.MPI_SOURCE);
                fail0(e, 0, fits ? OVA_E_NOMEM : OVA_E_INTERNAL, msg);
                continue;
            }
            MPI_Recv(blob, count, MPI_BYTE, ms.MPI_SOURCE, TAG_RESULT, e->comm, MPI_STATUS_IGNORE);
            outstanding--;
            const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
            int keep = 0;
            const char *bad = NULL;
            pthread_mutex_lock(&e->mu);
            if ((size_t)count < sizeof *h)
                bad = "it is shorter than a unit header";
            else if (!e->failed && h->status == OVA_UNIT_OK && (bad = bad_result(e, h, (size_t)count)) == NULL) {
                e->slots[h->unit % e->window] = blob;
                keep = 1;
                pthread_cond_broadcast(&e->cv_write);
            }
            pthread_mutex_unlock(&e->mu);
            if (bad != NULL) {
                char msg[200];
                snprintf(msg, sizeof msg, "rank 0: rank %d sent a malformed unit result: %s", ms.MPI_SOURCE, bad);
                fail0(e, 0, OVA_E_INTERNAL, msg);
            }
            if (!keep)
                free(blob);
        } else if (ms.MPI_TAG == TAG_ERROR) {
            char *buf = calloc(1, (size_t)count + 1);
            if (buf != NULL)
                MPI_Recv(buf, count, MPI_BYTE, ms.MPI_SOURCE, TAG_ERROR, e->comm, MPI_STATUS_IGNORE);
            else
                drain(e, &ms, count);
            int64_t unit = -1;
            if (buf != NULL && count >= 8)
                memcpy(&unit, buf, 8);
            if (unit >= 0)
                outstanding--;
            stopped++;
            fail0(e, ms.MPI_SOURCE, OVA_E_ABORTED, buf != NULL && count > 8 ? buf + 8 : "a remote rank failed");
            free(buf);
        } else if (ms.MPI_TAG == TAG_WAKE) {
            int x;
            MPI_Recv(&x, 1, MPI_INT, ms.MPI_SOURCE, TAG_WAKE, e->comm, MPI_STATUS_IGNORE);
        } else {
            /* not ours: consume it so the loop cannot spin on it */
            drain(e, &ms, count);
        }

        /* answer requests that were waiting for the window or for the end */
        for (;;) {
            pthread_mutex_lock(&e->mu);
            if (e->n_pend == 0) {
                pthread_mutex_unlock(&e->mu);
                break;
            }
            int64_t u = decide(e);
            if (u == -2) {
                pthread_mutex_unlock(&e->mu);
                break;
            }
            pending pq = e->pend[--e->n_pend];
            pthread_mutex_unlock(&e->mu);
            MPI_Send(&u, 1, MPI_INT64_T, pq.src, TAG_GRANT + pq.tid, e->comm);
            if (u < 0)
                stopped++;
            else
                outstanding++;
        }
    }
    pthread_mutex_lock(&e->mu);
    e->service_running = 0;
    pthread_mutex_unlock(&e->mu);
    /* swallow WAKEs sent before the flag dropped */
    for (;;) {
        int flag = 0;
        MPI_Status ms;
        MPI_Iprobe(0, TAG_WAKE, e->comm, &flag, &ms);
        if (!flag)
            break;
        int x;
        MPI_Recv(&x, 1, MPI_INT, 0, TAG_WAKE, e->comm, MPI_STATUS_IGNORE);
    }
}

/* ---- phases: each ends in one agreement (mpi_agree.h) ------------------- */

/* The writer's warnings about the output folder, as warnings of the export. */
static void writer_warn(void *ctx, const char *msg)
{
    logf_(ctx, 1, "%s", msg);
}

/* rank 0: prepare (prepare.h), size the units, plan, open the output and
 * pack the plan for the others. */
static ova_status plan_rank0(engine *e, int threads_total, ova_buf *packed, ova_err *err)
{
    const ova_export_opts *o = e->opts;
    ova_prepare_opts po;
    ova_prepare_opts_init(&po);
    po.vmx_path = o->vmx_path;
    po.output = o->output;
    po.mtime = o->mtime;
    po.force = o->force;
    po.confine = o->confine;
    po.log = e->hooks.log;
    po.log_ctx = e->hooks.ctx;
    ova_status st = ova_prepare(&po, &e->prep, err);
    if (st != OVA_OK)
        return st;
    memcpy(e->stats->output, e->prep->output, sizeof e->stats->output);
    uint32_t ug;
    ova_prepare_unit_size(o->mem_limit, e->size, threads_total, &ug, &e->window);
    if ((st = ova_plan_from_prepared(e->prep, ug, &e->plan, err)) != OVA_OK)
        return st;
    /* the writer refuses an output that is one of the inputs, and warns of
     * temporary files earlier exports left (ova_writer.h) */
    ova_writer_opts wo = { o->sha, o->target_hw, e->prep->mtime, o->buffered_io, o->vmx_path, writer_warn, e };
    if ((st = ova_writer_open(e->prep, e->plan, &wo, &e->writer, err)) != OVA_OK)
        return st;
    ova_plan_pack(e->plan, packed);
    if (ova_buf_failed(packed))
        return ova_err_set(err, OVA_E_NOMEM, "out of memory packing the plan");
    if (packed->len > INT_MAX) /* MPI_Bcast counts in int */
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "the export plan is %zu bytes, more than one MPI broadcast carries (%d): the disks "
                           "have too many extents or too long paths",
                           packed->len, INT_MAX);
    return OVA_OK;
}

/* Phase 1: rank 0 plans; the plan and the window go to every rank. */
static ova_status phase_plan(engine *e, int threads_total, ova_err *err)
{
    ova_buf packed = OVA_BUF_INIT;
    ova_status st = e->rank == 0 ? plan_rank0(e, threads_total, &packed, err) : OVA_OK;
    if ((st = ova_mpi_agree(e->comm, st, err)) != OVA_OK)
        goto out;
    uint64_t hdr[2] = { packed.len, e->window };
    MPI_Bcast(hdr, 2, MPI_UINT64_T, 0, e->comm);
    if (e->rank != 0) {
        e->window = hdr[1];
        ova_buf_fill(&packed, 0, (size_t)hdr[0]);
        if (ova_buf_failed(&packed))
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory receiving the plan (%llu bytes)",
                             (unsigned long long)hdr[0]);
    }
    /* a rank with no room for the plan says so before anyone broadcasts */
    if ((st = ova_mpi_agree(e->comm, st, err)) != OVA_OK)
        goto out;
    MPI_Bcast(packed.data, (int)hdr[0], MPI_BYTE, 0, e->comm);
    if (e->rank != 0)
        st = ova_plan_unpack(packed.data, packed.len, &e->plan, err);
    st = ova_mpi_agree(e->comm, st, err);
out:
    ova_buf_free(&packed);
    return st;
}

/* Phase 2: every rank opens its own readers on the shared files. */
static ova_status phase_readers(engine *e, ova_err *err)
{
    ova_status st = OVA_OK;
    e->n_units = ova_plan_units(e->plan);
    e->unit_max = ova_unit_max_size(e->plan->unit_grains);
    e->readers = calloc(e->plan->n_disks ? e->plan->n_disks : 1, sizeof *e->readers);
    if (e->readers == NULL)
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory for the disk readers");
    for (size_t i = 0; st == OVA_OK && i < e->plan->n_disks; i++)
        st = ova_disk_reader_open(e->plan->disks[i], &e->readers[i], err);
    return ova_mpi_agree(e->comm, st, err);
}

/* Phase 3: compress and gather. Workers on every rank; on rank 0 also the
 * writer thread and, with other ranks, the service loop. Failures are
 * recorded (rank 0: fail0; others: local_err), not returned: phase 4
 * agrees on them. */
static void phase_run(engine *e, int threads_total, int remote_threads)
{
    const ova_export_opts *opts = e->opts;
    ova_export_stats *stats = e->stats;
    if (e->rank == 0) {
        for (size_t i = 0; i < e->plan->n_disks; i++)
            stats->bytes_in += e->plan->disks[i]->capacity;
        stats->units = e->n_units;
        stats->unit_grains = e->plan->unit_grains;
        stats->window = e->window;
        stats->ranks = e->size;
        stats->threads_total = threads_total;
        ova_writer_note_progress(0, stats->bytes_in);
        logf_(e, 0,
              "exporting %zu disk(s), %.2f GiB, as %llu units of %u grains; %d rank(s), %d compression "
              "thread(s); %s level %d, %s; memory limit %llu MiB per rank (%llu units in flight); output %s",
              e->plan->n_disks, (double)stats->bytes_in / 1073741824.0, (unsigned long long)e->n_units,
              e->plan->unit_grains, e->size, threads_total, ova_codec_name(opts->codec), opts->level,
              opts->store_incompressible ? "incompressible grains stored" : "every grain compressed",
              (unsigned long long)(opts->mem_limit >> 20), (unsigned long long)e->window,
              ova_writer_direct(e->writer) ? "with O_DIRECT" : "through the page cache");
        e->slots = calloc((size_t)e->window, sizeof *e->slots);
        e->pend = calloc((size_t)remote_threads + 1, sizeof *e->pend);
        if (e->slots == NULL || e->pend == NULL)
            fail0(e, 0, OVA_E_NOMEM, "rank 0: out of memory for the unit window");
        e->service_running = e->size > 1;
    }

    pthread_t *tids = calloc((size_t)e->n_threads, sizeof *tids);
    worker *ws = calloc((size_t)e->n_threads, sizeof *ws);
    int started = 0;
    pthread_t writer_tid;
    int writer_started = 0;
    if (tids != NULL && ws != NULL) {
        if (e->rank == 0 && !e->failed)
            writer_started = pthread_create(&writer_tid, NULL, writer_main, e) == 0;
        for (int i = 0; i < e->n_threads; i++) {
            ws[i] = (worker){ e, e->rank == 0 ? &LOCAL_IO : &REMOTE_IO, i, NULL };
            if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0)
                break;
            started++;
        }
    }
    if (e->rank == 0) {
        if (started == 0 || (!writer_started && !e->failed))
            fail0(e, 0, OVA_E_NOMEM, "rank 0: cannot start threads");
        if (e->size > 1)
            service_loop(e, remote_threads);
    } else if (started < e->n_threads) {
        /* threads that never started must still be counted as stopped by rank 0 */
        ova_err te;
        ova_err_clear(&te);
        ova_err_set(&te, OVA_E_NOMEM, "cannot start a compression thread");
        worker none = { e, &REMOTE_IO, -1, NULL };
        for (int i = started; i < e->n_threads; i++)
            fail_remote(&none, -1, &te);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (writer_started)
        pthread_join(writer_tid, NULL);
    free(tids);
    free(ws);
}

/* Phase 4: rank 0 finishes (or removes) the OVA; every rank learns the
 * verdict, and rank 0 the failing rank's own message. */
static ova_status phase_finish(engine *e, ova_err *err)
{
    ova_export_stats *stats = e->stats;
    if (e->rank == 0) {
        if (!e->failed && e->write_head != e->n_units)
            fail0(e, 0, OVA_E_INTERNAL, "internal error: rank 0's work ended before every unit was written");
        if (!e->failed) {
            stats->bytes_out = ova_writer_bytes(e->writer) + 2 * 512;
            if (e->opts->progress_secs > 0)
                report_progress(e, stats->bytes_in, 1);
            ova_err fe;
            ova_err_clear(&fe);
            if (ova_writer_finish(&e->writer, &fe) != OVA_OK)
                fail0(e, 0, fe.status, fe.msg);
        } else {
            ova_writer_abort(&e->writer);
        }
        stats->seconds = now_since(&e->t0);
    }

    /* peak memory of every rank, for the summary */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t rss = (uint64_t)ru.ru_maxrss, rss_max = 0;
    MPI_Reduce(&rss, &rss_max, 1, MPI_UINT64_T, MPI_MAX, 0, e->comm);
    if (e->rank == 0) {
        stats->rss_max_kb = rss_max;
        stats->rss_rank0_kb = rss;
    }

    ova_status mine = OVA_OK;
    if (e->rank == 0 && e->failed) {
        mine = e->first_from == 0 ? e->first_err.status : OVA_E_ABORTED;
        ova_err_set(err, mine, "%s", e->first_err.msg);
    } else if (e->rank != 0 && e->local_err.status != OVA_OK) {
        mine = ova_err_set(err, e->local_err.status, "%s", e->local_err.msg);
    } else if (e->rank != 0 && atomic_load(&e->local_abort)) {
        mine = ova_err_set(err, OVA_E_ABORTED, "stopped because another rank failed");
    }
    return ova_mpi_agree(e->comm, mine, err);
}

/* ---- the collective entry point ---------------------------------------- */

ova_status ova_export(const ova_export_opts *opts, MPI_Comm user_comm, const ova_export_hooks *hooks,
                      ova_export_stats *stats, ova_err *err)
{
    engine E;
    engine *e = &E;
    memset(e, 0, sizeof *e);
    memset(stats, 0, sizeof *stats);
    e->opts = opts;
    if (hooks != NULL)
        e->hooks = *hooks;
    e->stats = stats;
    clock_gettime(CLOCK_MONOTONIC, &e->t0);
    MPI_Comm_dup(user_comm, &e->comm);
    MPI_Comm_rank(e->comm, &e->rank);
    MPI_Comm_size(e->comm, &e->size);
    int hl = 0;
    MPI_Get_processor_name(e->host, &hl);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv_grant, NULL);
    pthread_cond_init(&e->cv_write, NULL);
    atomic_init(&e->local_abort, 0);
    ova_err_clear(&e->first_err);
    ova_err_clear(&e->local_err);
    ova_fault_rank(e->rank);

    /* threads per rank, from the cores each rank was given */
    ova_cores_find(&e->cores);
    e->n_threads = opts->threads > 0 ? opts->threads : (e->cores.n > 0 ? e->cores.n : 1);
    if (e->n_threads > MAX_THREADS)
        e->n_threads = MAX_THREADS;
    int threads_total = 0;
    MPI_Reduce(&e->n_threads, &threads_total, 1, MPI_INT, MPI_SUM, 0, e->comm);
    int remote_threads = threads_total - e->n_threads; /* rank 0's view */

    ova_status st = phase_plan(e, threads_total, err);
    if (st == OVA_OK)
        st = phase_readers(e, err);
    if (st == OVA_OK) {
        phase_run(e, threads_total, remote_threads);
        st = phase_finish(e, err);
    }

    for (size_t i = 0; e->readers != NULL && e->plan != NULL && i < e->plan->n_disks; i++)
        ova_disk_reader_close(&e->readers[i]);
    free(e->readers);
    /* results never written (after a failure) */
    for (uint64_t i = 0; e->slots != NULL && i < e->window; i++)
        free(e->slots[i]);
    free(e->slots);
    free(e->pend);
    ova_writer_abort(&e->writer);
    ova_plan_free(&e->plan);
    ova_prepared_free(&e->prep);
    ova_cores_free(&e->cores);
    pthread_cond_destroy(&e->cv_grant);
    pthread_cond_destroy(&e->cv_write);
    pthread_mutex_destroy(&e->mu);
    MPI_Comm_free(&e->comm);
    return st;
}
