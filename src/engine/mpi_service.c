/* mpi_service.c - rank 0's service loop: grants units to other ranks'
 * threads within the window, clears their finished results to come in
 * when rank 0 has room, checks and files them, and takes their errors
 * (mpi_engine.h). */
#include "engine/mpi_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/unit.h"

/* May unit u's result come in now (under mu)? Inside the hold window, or
 * after a failure, when results come only to be dropped. */
static int may_hold(const ova_engine *e, uint64_t u)
{
    return e->failed || ova_engine_seq(e, u) < e->write_head + e->hold;
}

/* Answer a request with unit u (-1: stop), cleared if its result will fit. */
static void send_grant(ova_engine *e, int64_t u, int src, int tid, int cleared)
{
    int64_t g[2] = { u, cleared };
    MPI_Send(g, 2, MPI_INT64_T, src, TAG_GRANT + tid, e->comm);
}

static void send_clear(ova_engine *e, const ova_ready *r)
{
    int64_t u = (int64_t)r->unit;
    MPI_Send(&u, 1, MPI_INT64_T, r->src, TAG_CLEAR + r->tid, e->comm);
}

/* Decide the answer to one request (under mu): a unit, -1 = stop, or -2 = wait. */
static int64_t decide(ova_engine *e)
{
    if (e->failed || e->next_unit >= e->n_units)
        return -1;
    if (e->next_unit >= e->write_head + e->window)
        return -2;
    return (int64_t)ova_engine_grant_next(e);
}

/* Take a message rank 0 will not keep off the wire (mpi_engine.h). */
static void drain(ova_engine *e, const MPI_Status *ms, int count)
{
    ova_mpi_drain(e->comm, ms, count);
}

/* A unit result from another rank, before rank 0 files it (under mu): a
 * unit it granted and has not written, the header and records as long as
 * the message, as many grains as the plan gives the unit, and every grain's
 * sector inside the records. The writer trusts all of this, and a slot
 * index taken from a bad header would overwrite another unit's result.
 * NULL if it is sound, else what is wrong. */
static const char *bad_result(const ova_engine *e, const ova_unit_hdr *h, size_t count)
{
    const char *bad = ova_unit_result_check(e->plan, h, count);
    if (bad != NULL)
        return bad;
    uint64_t seq = ova_engine_seq(e, h->unit);
    if (seq < e->write_head || seq >= e->next_unit || e->slots[seq % e->hold] != NULL)
        return "it names a unit that was not granted or is already in";
    if (seq >= e->write_head + e->hold)
        return "it came before rank 0 cleared it";
    return NULL;
}

void ova_engine_drop_held(ova_engine *e)
{
    for (uint64_t i = 0; i < e->hold; i++) {
        pthread_mutex_lock(&e->mu);
        unsigned char *blob = NULL;
        int src = e->slot_src[i];
        if (e->failed && src >= 0 && e->slots[i] != NULL) {
            blob = e->slots[i];
            e->slots[i] = NULL;
            e->slot_src[i] = -1;
        }
        pthread_mutex_unlock(&e->mu);
        if (blob != NULL) {
            ova_dwrite_drop(e, src, ((const ova_unit_hdr *)(void *)blob)->unit);
            ova_unit_pool_put(blob);
        }
    }
}

void ova_engine_service(ova_engine *e, int remote_threads)
{
    int stopped = 0;
    uint64_t outstanding = 0;
    while (stopped < remote_threads || outstanding > 0) {
        MPI_Status ms;
        ova_mpi_probe_any(e->comm, &ms);
        int count = 0;
        MPI_Get_count(&ms, MPI_BYTE, &count);
        if (ms.MPI_TAG == TAG_REQ) {
            int32_t tid;
            MPI_Recv(&tid, 1, MPI_INT32_T, ms.MPI_SOURCE, TAG_REQ, e->comm, MPI_STATUS_IGNORE);
            pthread_mutex_lock(&e->mu);
            int64_t u = decide(e);
            if (u == -2)
                e->pend[e->n_pend++] = (ova_pending){ ms.MPI_SOURCE, tid };
            int cleared = u >= 0 && may_hold(e, (uint64_t)u);
            pthread_mutex_unlock(&e->mu);
            if (u != -2) {
                send_grant(e, u, ms.MPI_SOURCE, tid, cleared);
                if (u < 0)
                    stopped++;
                else
                    outstanding++;
            }
        } else if (ms.MPI_TAG == TAG_READY) {
            int64_t rd[2];
            MPI_Recv(rd, 2, MPI_INT64_T, ms.MPI_SOURCE, TAG_READY, e->comm, MPI_STATUS_IGNORE);
            ova_ready r = { ms.MPI_SOURCE, (int)rd[1], (uint64_t)rd[0] };
            pthread_mutex_lock(&e->mu);
            int now = may_hold(e, r.unit);
            if (!now)
                e->ready[e->n_ready++] = r;
            pthread_mutex_unlock(&e->mu);
            if (now)
                send_clear(e, &r);
        } else if (ms.MPI_TAG == TAG_RESULT) {
            int fits = count > 0 && (size_t)count <= e->unit_max;
            /* distributed writing: a held unit's header alone (below), in a
             * buffer of its own size, not a whole unit's from the pool */
            int small = e->dwrite && (size_t)count == sizeof(ova_unit_hdr) + 8;
            unsigned char *blob = !fits  ? NULL
                                  : small ? ova_unit_pool_one_off(e->pool, (size_t)count)
                                          : ova_unit_pool_try_get(e->pool, (size_t)count);
            if (blob == NULL) {
                /* nowhere to keep it: take it off the wire, drop it and fail */
                drain(e, &ms, count);
                outstanding--;
                char msg[160];
                snprintf(msg, sizeof msg, fits ? "rank 0: out of memory receiving a unit from rank %d"
                                               : "rank 0: rank %d sent a unit larger than a unit can be",
                         ms.MPI_SOURCE);
                ova_engine_fail0(e, 0, fits ? OVA_E_NOMEM : OVA_E_INTERNAL, msg);
                continue;
            }
            MPI_Recv(blob, count, MPI_BYTE, ms.MPI_SOURCE, TAG_RESULT, e->comm, MPI_STATUS_IGNORE);
            outstanding--;
            const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
            /* distributed writing: the header and the thread that holds the records */
            int held = e->dwrite && (size_t)count == sizeof *h + 8;
            int64_t tid = -1;
            size_t whole = (size_t)count;
            if (held) {
                memcpy(&tid, blob + sizeof *h, 8);
                whole = h->records_len <= e->unit_max ? sizeof *h + (size_t)h->records_len : 0;
            }
            int keep = 0;
            const char *bad = NULL;
            pthread_mutex_lock(&e->mu);
            if ((size_t)count < sizeof *h)
                bad = "it is shorter than a unit header";
            else if (held && (tid < 0 || tid >= 1024 || h->status != OVA_UNIT_OK))
                bad = "it names no thread or holds no records";
            else if (!e->failed && h->status == OVA_UNIT_OK && (bad = bad_result(e, h, whole)) == NULL) {
                uint64_t slot = ova_engine_seq(e, h->unit) % e->hold;
                e->slots[slot] = blob;
                if (e->slot_src != NULL)
                    e->slot_src[slot] = held ? ms.MPI_SOURCE : -1;
                keep = 1;
                pthread_cond_broadcast(&e->cv_write);
            }
            pthread_mutex_unlock(&e->mu);
            if (held && !keep)
                ova_dwrite_drop(e, ms.MPI_SOURCE, h->unit); /* its holder waits for a word */
            if (bad != NULL) {
                char msg[200];
                snprintf(msg, sizeof msg, "rank 0: rank %d sent a malformed unit result: %s", ms.MPI_SOURCE, bad);
                ova_engine_fail0(e, 0, OVA_E_INTERNAL, msg);
            }
            if (!keep)
                ova_unit_pool_put(blob);
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
            if (unit != -2) /* -2: a rank's holder thread (mpi_dwrite.c), not a worker's stop */
                stopped++;
            ova_engine_fail0(e, ms.MPI_SOURCE, OVA_E_ABORTED,
                             buf != NULL && count > 8 ? buf + 8 : "a remote rank failed");
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
            ova_pending pq = e->pend[--e->n_pend];
            int cleared = u >= 0 && may_hold(e, (uint64_t)u);
            pthread_mutex_unlock(&e->mu);
            send_grant(e, u, pq.src, pq.tid, cleared);
            if (u < 0)
                stopped++;
            else
                outstanding++;
        }
        pthread_mutex_lock(&e->mu);
        int failed = e->failed;
        pthread_mutex_unlock(&e->mu);
        if (e->slot_src != NULL && failed)
            ova_engine_drop_held(e);
        /* clear finished results that now fit (at most one per thread) */
        pthread_mutex_lock(&e->mu);
        for (size_t i = 0; i < e->n_ready;) {
            if (!may_hold(e, e->ready[i].unit)) {
                i++;
                continue;
            }
            ova_ready r = e->ready[i];
            e->ready[i] = e->ready[--e->n_ready];
            pthread_mutex_unlock(&e->mu);
            send_clear(e, &r);
            pthread_mutex_lock(&e->mu);
        }
        pthread_mutex_unlock(&e->mu);
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
