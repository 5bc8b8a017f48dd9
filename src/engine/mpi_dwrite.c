/* mpi_dwrite.c - distributed writing: every rank writes the units it
 * compressed into the output itself (--distributed-write; README "Scaling
 * past one node"), the pattern of mpifileutils' dtar and dbz2. This file is
 * the run: buffers, the holder thread and rank 0's placing; whether it runs
 * and on which file is mpi_dwrite_setup.c's.
 *
 * Rank 0 still places every unit in disk order (ova_writer.c), so grain
 * tables, markers, directory, footer, tar headers, OVF and manifest are the
 * bytes of a rank-0 export; only the records of another rank's unit stay
 * where they were made. For such a unit rank 0 gets the header alone
 * (records_len and each grain's sector, what the grain table needs), and
 * when the writer reaches it, sends its holder the file offset and the
 * member's digest state (WRITE); the holder hashes its records, sends the
 * state back (HASHED) and pwrite()s them while rank 0 goes on with the next
 * unit. Only the digest chain is serial; the writes run side by side.
 *
 * Memory: a result waits in its buffer, owned by the rank's holder thread,
 * until written; its worker thread compresses the next unit in a second
 * buffer meanwhile, and waits before a third (the planner sizes units so
 * that two per thread fit in a rank's --mem-limit, prepare.c); rank 0 keeps
 * headers instead of records. Deadlock-free: units are granted in write
 * order, so the earliest unwritten unit is being compressed, or waits for
 * CLEAR inside rank 0's hold (so it is cleared), or is held and the
 * holder thread, which waits for nothing else, answers its WRITE. */
#include "engine/mpi_engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/unit.h"
#include "format/digest_state.h"
#include "util/fault.h"
#include "util/io.h"

/* The longest sleep between polls on the digest chain (rank 0 waiting for
 * HASHED, a holder for WRITE): each is a delay of the serial chain, against
 * 5-20 ms of hashing per 8-32 MiB unit (mpi_engine.c backs off to 1 ms
 * elsewhere). Polling this often costs 12-15% of a core (measured on a
 * 2-core VM), so the holder polls only while it holds a unit; a blocking
 * MPI_Recv would be worse: Open MPI spins a whole core in it. */
#define CHAIN_WAIT_US 50u

/* WRITE: where the records go, and the member's digest state so far. */
typedef struct dw_write {
    uint64_t unit;
    int64_t off;
    ova_digest_state state;
} dw_write;

unsigned char *ova_dwrite_buffer(ova_worker *w)
{
    ova_engine *e = w->e;
    pthread_mutex_lock(&e->mu);
    /* two buffers per thread (what the planner sizes units for): one unit
     * compressed while the holder still has the last; with both held, the
     * thread waits for the earlier to be written before a third */
    while (w->held >= OVA_DWRITE_HELD_PER_THREAD)
        pthread_cond_wait(&e->dw_cv, &e->mu);
    unsigned char *b = w->spare;
    w->spare = NULL;
    pthread_mutex_unlock(&e->mu);
    return b != NULL ? b : malloc(e->unit_max);
}

void ova_dwrite_deliver(ova_worker *w)
{
    ova_engine *e = w->e;
    unsigned char *blob = w->blob;
    const ova_unit_hdr *h = (const ova_unit_hdr *)(const void *)blob;
    /* the holder's before rank 0 can answer: a WRITE finds it */
    pthread_mutex_lock(&e->mu);
    e->held[e->n_held++] = (dw_held){ h->unit, blob, w };
    w->held++;
    pthread_cond_broadcast(&e->dw_cv); /* the holder sleeps while it has nothing */
    pthread_mutex_unlock(&e->mu);
    w->blob = NULL;
    /* the header and this thread's index */
    unsigned char msg[sizeof *h + 8];
    int64_t tid = w->tid;
    memcpy(msg, h, sizeof *h);
    memcpy(msg + sizeof *h, &tid, 8);
    MPI_Request sreq;
    MPI_Isend(msg, (int)sizeof msg, MPI_BYTE, 0, TAG_RESULT, e->comm, &sreq);
    ova_mpi_wait(&sreq);
}

void ova_dwrite_worker_done(ova_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->dw_workers--;
    pthread_cond_broadcast(&e->dw_cv);
    pthread_mutex_unlock(&e->mu);
}

/* The holder's part of one WRITE: hash, answer, write. */
static ova_status write_held(ova_engine *e, dw_write *wr, const unsigned char *blob, ova_err *err)
{
    const ova_unit_hdr *h = (const ova_unit_hdr *)(const void *)blob;
    const unsigned char *records = blob + sizeof *h;
    size_t len = (size_t)h->records_len;
    /* the digest chain first, so rank 0 goes on while the bytes go out */
    ova_err de;
    ova_err_clear(&de);
    ova_status st = ova_digest_state_update(&wr->state, records, len, &de);
    MPI_Request sreq;
    MPI_Isend(&wr->state, (int)sizeof wr->state, MPI_BYTE, 0, TAG_HASHED, e->comm, &sreq);
    ova_mpi_wait(&sreq);
    if (st != OVA_OK)
        return ova_err_set(err, st, "%s: unit %llu at byte %lld: %s", e->dw_path, (unsigned long long)wr->unit,
                           (long long)wr->off, de.msg);
    if (ova_fault("export.dwrite"))
        return ova_err_set(err, OVA_E_IO, "%s: injected write failure at byte %lld (test fault export.dwrite)",
                           e->dw_path, (long long)wr->off);
    if ((st = ova_pwrite_exact(e->dw_fd, records, len, (uint64_t)wr->off, e->dw_path, err)) != OVA_OK)
        return st;
    atomic_fetch_add(&e->dw_bytes, (unsigned long long)len);
    return OVA_OK;
}

/* The holder's answer to one WRITE (the unit is written or dropped, its
 * buffer goes back to its thread); a failure is reported once, and the
 * holder goes on answering (rank 0 drops the rest). */
static void answer(ova_engine *e, dw_write *wr)
{
    pthread_mutex_lock(&e->mu);
    size_t i = 0;
    while (i < e->n_held && e->held[i].unit != wr->unit)
        i++;
    dw_held hd = { 0, NULL, NULL };
    if (i < e->n_held) {
        hd = e->held[i];
        e->held[i] = e->held[--e->n_held];
    }
    pthread_mutex_unlock(&e->mu);
    ova_err err;
    ova_err_clear(&err);
    ova_status st = OVA_OK;
    if (wr->off >= 0 && hd.blob != NULL && !atomic_load(&e->local_abort))
        st = write_held(e, wr, hd.blob, &err);
    else if (wr->off >= 0) /* nothing to write: rank 0 still gets its answer */
        MPI_Send(&wr->state, (int)sizeof wr->state, MPI_BYTE, 0, TAG_HASHED, e->comm);
    if (hd.blob == NULL)
        st = ova_err_set(&err, OVA_E_INTERNAL, "internal error: rank 0 asked for unit %llu, which this rank "
                         "does not hold", (unsigned long long)wr->unit);
    if (st != OVA_OK) {
        int first = !atomic_exchange(&e->local_abort, 1);
        pthread_mutex_lock(&e->mu);
        if (e->local_err.status == OVA_OK)
            ova_err_set(&e->local_err, st, "%s", err.msg);
        pthread_mutex_unlock(&e->mu);
        if (first)
            ova_engine_send_error(e, -2, err.msg);
    }
    pthread_mutex_lock(&e->mu);
    if (hd.w != NULL) {
        hd.w->held--;
        if (hd.w->spare == NULL)
            hd.w->spare = hd.blob;
        else
            free(hd.blob);
    }
    pthread_cond_broadcast(&e->dw_cv);
    pthread_mutex_unlock(&e->mu);
}

void *ova_dwrite_holder_main(void *p)
{
    ova_engine *e = p;
    for (;;) {
        dw_write wr;
        MPI_Request req;
        MPI_Irecv(&wr, (int)sizeof wr, MPI_BYTE, 0, TAG_WRITE, e->comm, &req);
        /* wait for a WRITE, or for the end: every worker gone and nothing
         * held, so no WRITE can come (rank 0 sends one only for a header) */
        unsigned round = 0;
        int done = 0, end = 0;
        while (!done && !end) {
            MPI_Test(&req, &done, MPI_STATUS_IGNORE);
            if (done)
                break;
            /* holding nothing, no WRITE can come: sleep until a worker
             * hands over a unit or ends, instead of polling for the whole
             * export; a WRITE for a held unit is on the digest chain, so
             * that wait polls (CHAIN_WAIT_US) */
            pthread_mutex_lock(&e->mu);
            int idle = 0;
            while (e->dw_workers > 0 && e->n_held == 0) {
                pthread_cond_wait(&e->dw_cv, &e->mu);
                idle = 1;
            }
            end = e->dw_workers == 0 && e->n_held == 0;
            pthread_mutex_unlock(&e->mu);
            if (idle)
                round = 0;
            if (!end) {
                struct timespec ts = { 0, round < 64 ? 0 : (long)CHAIN_WAIT_US * 1000 };
                round++;
                if (ts.tv_nsec > 0)
                    nanosleep(&ts, NULL);
            }
        }
        if (!done) {
            MPI_Cancel(&req);
            MPI_Wait(&req, MPI_STATUS_IGNORE);
            return NULL;
        }
        answer(e, &wr);
    }
}

typedef struct place_ctx {
    ova_engine *e;
    int src, sent;
    uint64_t unit;
} place_ctx;

/* The writer reached a held unit: its holder writes it at off and
 * continues the digest (ova_writer.h ova_writer_held). */
static ova_status place_held(void *p, uint64_t off, uint64_t len, ova_digest_state *state, ova_err *err)
{
    place_ctx *c = p;
    (void)err;
    (void)len;
    dw_write wr;
    memset(&wr, 0, sizeof wr);
    wr.unit = c->unit;
    wr.off = (int64_t)off;
    wr.state = *state;
    MPI_Request rreq;
    /* posted before the WRITE, so the answer is never the service loop's to probe */
    MPI_Irecv(state, (int)sizeof *state, MPI_BYTE, c->src, TAG_HASHED, c->e->comm, &rreq);
    MPI_Send(&wr, (int)sizeof wr, MPI_BYTE, c->src, TAG_WRITE, c->e->comm);
    c->sent = 1;
    ova_mpi_wait_within(&rreq, CHAIN_WAIT_US);
    return OVA_OK;
}

ova_status ova_dwrite_place(ova_engine *e, unsigned char *blob, int src, ova_err *err)
{
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
    place_ctx c = { e, src, 0, h->unit };
    ova_writer_held held = { place_held, &c };
    ova_status st = ova_writer_unit_held(e->writer, h, &held, err);
    if (!c.sent)
        ova_dwrite_drop(e, src, c.unit);
    return st;
}

void ova_dwrite_drop(ova_engine *e, int src, uint64_t unit)
{
    dw_write wr;
    memset(&wr, 0, sizeof wr);
    wr.unit = unit;
    wr.off = -1;
    MPI_Send(&wr, (int)sizeof wr, MPI_BYTE, src, TAG_WRITE, e->comm);
}

