/* mpi_workers.c - the compression threads of every rank (mpi_engine.h). */
#include "engine/mpi_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/unit.h"
#include "engine/unit_pool.h"
#include "util/fault.h"


/* Every rank runs n_threads compression threads with one loop: take a
 * unit, compress it, deliver the result. Only taking and delivering differ
 * (unit_io): rank 0's threads use the dispatch state directly and file
 * results in the window; other ranks' ask rank 0 for a grant and send the
 * result back over MPI. */
typedef struct ova_unit_io {
    /* room for one result, got before a unit is taken (rank 0's threads may
     * wait for a free buffer, and must not hold a unit meanwhile); NULL:
     * stop, after *err is set unless the job is stopping anyway */
    unsigned char *(*buffer)(ova_worker *w, ova_err *err);
    int64_t (*take)(ova_worker *w);                        /* the next unit; -1: stop */
    void (*deliver)(ova_worker *w, unsigned char *blob);   /* pass a result on */
    void (*fail)(ova_worker *w, int64_t unit, const ova_err *err); /* unit -1: none taken; the thread then ends */
    void (*drop)(void *blob);                              /* a buffer the thread still holds at its end */
} unit_io;

/* rank 0: take the next unit, waiting while the window is full. -1 = done. */
static int64_t take_local(ova_worker *w)
{
    ova_engine *e = w->e;
    pthread_mutex_lock(&e->mu);
    while (!e->failed && e->next_unit < e->n_units && e->next_unit >= e->write_head + e->window)
        pthread_cond_wait(&e->cv_grant, &e->mu);
    int64_t u = -1;
    if (!e->failed && e->next_unit < e->n_units)
        u = (int64_t)ova_engine_grant_next(e);
    pthread_mutex_unlock(&e->mu);
    return u;
}

/* rank 0: a buffer of the pool (unit_pool.h), since results wait in the
 * window; it goes back to the pool once the write thread has written it */
static unsigned char *buffer_local(ova_worker *w, ova_err *err)
{
    if (w->blob == NULL && w->e->pool == NULL) {
        ova_err_clear(err); /* no pool: rank 0 failed setting up, and said so */
        return NULL;
    }
    if (w->blob == NULL) {
        ova_status st = ova_unit_pool_get(w->e->pool, &w->blob);
        if (st == OVA_E_NOMEM)
            ova_err_set(err, OVA_E_NOMEM, "rank 0: out of memory for a unit buffer (%zu bytes)", w->e->unit_max);
        else if (st != OVA_OK)
            ova_err_clear(err); /* stopping: the job's failure is recorded already */
    }
    return w->blob;
}

/* rank 0: file the result once it is inside the hold window (with other
 * ranks, units are granted further ahead than rank 0 keeps results) */
static void deliver_local(ova_worker *w, unsigned char *blob)
{
    ova_engine *e = w->e;
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
    uint64_t seq = ova_engine_seq(e, h->unit);
    pthread_mutex_lock(&e->mu);
    while (!e->failed && seq >= e->write_head + e->hold)
        pthread_cond_wait(&e->cv_grant, &e->mu);
    if (!e->failed) {
        e->slots[seq % e->hold] = blob;
        if (e->slot_src != NULL)
            e->slot_src[seq % e->hold] = -1; /* rank 0 writes it */
        pthread_cond_broadcast(&e->cv_write);
    } else {
        ova_unit_pool_put(blob); /* the job failed: nothing will write it */
    }
    w->blob = NULL; /* the writer's now, or gone */
    pthread_mutex_unlock(&e->mu);
}

static void fail_local(ova_worker *w, int64_t unit, const ova_err *err)
{
    (void)unit;
    ova_engine_fail0(w->e, 0, err->status, err->msg);
}

static const unit_io LOCAL_IO = { buffer_local, take_local, deliver_local, fail_local, ova_unit_pool_put };

void ova_engine_send_error(ova_engine *e, int64_t unit, const char *msg)
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
static int64_t take_remote(ova_worker *w)
{
    ova_engine *e = w->e;
    int32_t tid = w->tid;
    for (;;) {
        int64_t g[2];
        MPI_Request req;
        MPI_Irecv(g, 2, MPI_INT64_T, 0, TAG_GRANT + tid, e->comm, &req);
        MPI_Send(&tid, 1, MPI_INT32_T, 0, TAG_REQ, e->comm);
        ova_mpi_wait(&req);
        int64_t u = g[0];
        w->cleared = g[1] != 0;
        if (u >= 0 && (uint64_t)u >= e->n_units / 2) /* the tests' lost node (fault.h) */
            ova_fault_kill("export.kill");
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
static unsigned char *buffer_remote(ova_worker *w, ova_err *err)
{
    if (w->blob == NULL)
        w->blob = w->e->dwrite ? ova_dwrite_buffer(w) : malloc(w->e->unit_max);
    if (w->blob == NULL)
        ova_err_set(err, OVA_E_NOMEM, "out of memory for a unit buffer (%zu bytes)", w->e->unit_max);
    return w->blob;
}

/* other ranks: a result rank 0 had no room for at the grant waits here,
 * in this thread's buffer, until rank 0 clears it */
static void deliver_remote(ova_worker *w, unsigned char *blob)
{
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
    if (!w->cleared) {
        int64_t rd[2] = { (int64_t)h->unit, w->tid }, ok;
        MPI_Request creq;
        MPI_Irecv(&ok, 1, MPI_INT64_T, 0, TAG_CLEAR + w->tid, w->e->comm, &creq);
        MPI_Send(rd, 2, MPI_INT64_T, 0, TAG_READY, w->e->comm);
        ova_mpi_wait(&creq);
    }
    if (w->e->dwrite && h->records_len > 0 && h->status == OVA_UNIT_OK) {
        ova_dwrite_deliver(w); /* distributed writing (mpi_dwrite.c): the rank's holder writes it */
        return;
    }
    MPI_Request sreq;
    MPI_Isend(blob, (int)(sizeof *h + h->records_len), MPI_BYTE, 0, TAG_RESULT, w->e->comm, &sreq);
    ova_mpi_wait(&sreq);
}

static void fail_remote(ova_worker *w, int64_t unit, const ova_err *err)
{
    ova_engine *e = w->e;
    atomic_store(&e->local_abort, 1);
    pthread_mutex_lock(&e->mu);
    ova_err_set(&e->local_err, err->status, "%s", err->msg);
    pthread_mutex_unlock(&e->mu);
    ova_engine_send_error(e, unit, err->msg);
}

static const unit_io REMOTE_IO = { buffer_remote, take_remote, deliver_remote, fail_remote, free };

static ova_status compress_unit(ova_engine *e, ova_unit_worker *uw, uint64_t u, unsigned char *blob, ova_err *err)
{
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(e->plan, u, &d, &first, &n);
    /* a slow export whatever the machine, for the tests of time limits;
     * export.late slows rank 0 so that the other ranks make (and hold) the
     * later units */
    if (ova_fault("export.slow") || ova_fault("export.late"))
        nanosleep(&(struct timespec){ 1, 0 }, NULL);
    /* the tests' proof that a failure on any rank stops the job cleanly */
    if (ova_fault("export.unit"))
        return ova_err_set(err, OVA_E_IO, "%s: injected read failure at byte %llu (test fault export.unit)",
                           e->plan->disks[d]->path, (unsigned long long)(first * OVA_GRAIN_SIZE));
    return ova_unit_compress(uw, e->plan, e->readers[d], u, blob, err);
}

void *ova_worker_main(void *p)
{
    ova_worker *w = p;
    ova_engine *e = w->e;
    if (e->opts->pin)
        ova_cores_pin(&e->cores, w->tid);
    ova_err err;
    ova_err_clear(&err);
    ova_unit_worker *uw = NULL;
    /* the tests' thread that cannot set up (as when out of memory) */
    ova_status ust = ova_fault("export.thread")
                         ? ova_err_set(&err, OVA_E_NOMEM, "cannot set up compression thread %d (test fault "
                                       "export.thread)", w->tid)
                         : ova_unit_worker_new(e->opts->codec, e->opts->level, OVA_READ_CHUNK, &uw, &err);
    if (ust != OVA_OK) {
        w->io->fail(w, -1, &err);
        goto out; /* still an ended worker to the holder, which waits for every one */
    }
    ova_unit_worker_store_incompressible(uw, e->opts->store_incompressible);
    for (;;) {
        unsigned char *blob = w->io->buffer(w, &err);
        if (blob == NULL) {
            if (err.status != OVA_OK)
                w->io->fail(w, -1, &err);
            break;
        }
        int64_t u = w->io->take(w);
        if (u < 0)
            break;
        if (compress_unit(e, uw, (uint64_t)u, blob, &err) != OVA_OK) {
            w->io->fail(w, u, &err);
            break;
        }
        w->io->deliver(w, blob);
    }
    ova_unit_worker_free(&uw);
    w->io->drop(w->blob);
    w->blob = NULL;
out:
    if (e->dwrite && e->rank != 0)
        ova_dwrite_worker_done(e);
    return NULL;
}

void ova_worker_init(ova_worker *w, ova_engine *e, int tid)
{
    *w = (ova_worker){ e, e->rank == 0 ? &LOCAL_IO : &REMOTE_IO, tid, NULL, 0, 0, NULL };
}

void ova_worker_not_started(ova_engine *e, const char *why)
{
    ova_err te;
    ova_err_clear(&te);
    ova_err_set(&te, OVA_E_NOMEM, "%s", why);
    ova_worker none = { e, &REMOTE_IO, -1, NULL, 0, 0, NULL };
    fail_remote(&none, -1, &te);
}
