/* mpi_fleet_run.c - the fleet's compress phase on one rank: rank 0's queue
 * and the service loop that takes every rank's messages (mpi_fleet.h
 * describes roles and messages); the threads it starts live in
 * mpi_ova_fleet_workers.c (compression) and mpi_fleet_writer.c (the OVAs). */
#include "engine/mpi_fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/unit.h"
#include "util/log.h"

void ova_fleet_wake(ova_fleet *f)
{
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, f->rank, FT_WAKE, f->comm);
}

/* ---- rank 0: the queue --------------------------------------------------- */

/* Under mu: VM k gets no more units (fully granted, failed or done); the
 * service loop retires it on every rank (retire_send). */
static void retire_note(ova_fleet *f, long k)
{
    ova_fleet_qvm *v = &f->q[k];
    if (v->retire_told || f->retire_q == NULL)
        return;
    v->retire_told = 1;
    f->retire_q[f->n_retire++] = k;
}

/* The next unit to grant (under mu): 1 and *k, *u; 0: none now, wait; -1:
 * none will come (every VM fully granted, failed or done). VMs are taken in
 * queue order, each within its window and only once its writer opened it. */
int ova_fleet_decide(ova_fleet *f, int64_t *k, int64_t *u)
{
    /* VMs only ever leave the grantable set, so the mark only moves up */
    for (; f->low < f->n_q; f->low++) {
        const ova_fleet_qvm *v = &f->q[f->low];
        if (!v->failed && !v->done && v->next < v->n_units)
            break;
    }
    int left = 0;
    for (size_t i = f->low; i < f->n_q; i++) {
        ova_fleet_qvm *v = &f->q[i];
        if (v->failed || v->done || v->next >= v->n_units)
            continue;
        left = 1;
        if (v->open && v->next < v->head + f->window) {
            *k = (int64_t)i;
            *u = (int64_t)v->next++;
            if (v->next == v->n_units)
                retire_note(f, (long)i);
            return 1;
        }
    }
    return left ? 0 : -1;
}

/* rank 0: VM k's writer drops it. */
static void tell_writer(ova_fleet *f, long k)
{
    if (f->q[k].writer == 0) {
        ova_fleet_writer_drop(f, k, NULL);
    } else {
        int64_t kk = k;
        MPI_Send(&kk, 1, MPI_INT64_T, f->q[k].writer, FT_FAILVM, f->comm);
    }
}

void ova_fleet_fail_vm(ova_fleet *f, long k, ova_status st, const char *msg)
{
    ova_fleet_qvm *v = &f->q[k];
    ova_fleet_vm *r = &f->res->vms[v->index];
    pthread_mutex_lock(&f->mu);
    int tell = !v->failed && !v->done;
    if (tell) {
        v->failed = 1;
        retire_note(f, k);
        /* a failed VM is never counted as written, whatever the caller said */
        r->status = st != OVA_OK ? st : OVA_E_INTERNAL;
        snprintf(r->msg, sizeof r->msg, "%s", msg != NULL && msg[0] != '\0' ? msg : "failed for no stated reason");
    }
    pthread_cond_broadcast(&f->cv_grant);
    pthread_mutex_unlock(&f->mu);
    if (tell)
        tell_writer(f, k);
}

void ova_fleet_thread_gone(ova_fleet *f, ova_status st, const char *msg)
{
    pthread_mutex_lock(&f->mu);
    if (f->gone++ == 0)
        ova_err_set(&f->gone_err, st != OVA_OK ? st : OVA_E_INTERNAL, "%s", msg);
    pthread_mutex_unlock(&f->mu);
}

/* rank 0's service loop: say once that a thread is gone (the others do its
 * share); when no thread of the job can work, fail every VM left with the
 * first gone thread's story, or they would wait for ever. */
static void threads_gone(ova_fleet *f)
{
    pthread_mutex_lock(&f->mu);
    int say = f->gone > f->gone_logged;
    f->gone_logged = f->gone;
    int none = f->gone >= f->threads_total && !f->gone_failed;
    f->gone_failed |= none;
    ova_err why = f->gone_err;
    int gone = f->gone;
    pthread_mutex_unlock(&f->mu);
    if (none) {
        for (size_t k = 0; k < f->n_q; k++)
            ova_fleet_fail_vm(f, (long)k, why.status, why.msg);
    } else if (say) {
        ova_logf(f->hooks.log, f->hooks.ctx, 1, "%s; %d of %d compression threads cannot work, the others do "
                 "their share", why.msg, gone, f->threads_total);
    }
}

int ova_fleet_gate(ova_fleet *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->gate == 0)
        pthread_cond_wait(&f->cv_grant, &f->mu);
    int go = f->gate > 0;
    pthread_mutex_unlock(&f->mu);
    return go;
}

/* ---- the service loop ----------------------------------------------------- */

static void drain(ova_fleet *f, const MPI_Status *ms, int count)
{
    ova_mpi_drain(f->comm, ms, count);
}

static void grant(ova_fleet *f, int src, int tid, int64_t k, int64_t u)
{
    int64_t g[2] = { k, u };
    MPI_Send(g, 2, MPI_INT64_T, src, FT_GRANT + tid, f->comm);
}

/* rank 0's service loop: the VMs that got no more units since the last
 * call, retired here and on every rank. Not after FINISH: then every
 * worker has stopped (the readers close at the end) and the other ranks
 * may have left their loops. */
static void retire_send(ova_fleet *f)
{
    for (;;) {
        pthread_mutex_lock(&f->mu);
        int more = f->retire_sent < f->n_retire && !f->finish;
        int64_t k = more ? f->retire_q[f->retire_sent++] : -1;
        pthread_mutex_unlock(&f->mu);
        if (!more)
            return;
        ova_fleet_readers_retire(f, (long)k);
        for (int r = 1; r < f->size; r++)
            MPI_Send(&k, 1, MPI_INT64_T, r, FT_RETIRE, f->comm);
    }
}

/* rank 0: what a writer said about a VM (OPEN or DONE). */
static void writer_said(ova_fleet *f, int tag, const ova_fleet_msg *m, int from)
{
    if (m->vm < 0 || (size_t)m->vm >= f->n_q)
        return;
    ova_fleet_qvm *v = &f->q[m->vm];
    ova_fleet_vm *r = &f->res->vms[v->index];
    pthread_mutex_lock(&f->mu);
    int drop = 0;
    if (tag == FT_OPEN && m->status == OVA_OK) {
        v->open = 1;
        drop = v->failed; /* it failed before its writer came to it (no thread could work) */
    } else {
        if (m->status != OVA_OK && !v->failed) {
            v->failed = 1;
            r->status = (ova_status)m->status;
            if (from != 0)
                snprintf(r->msg, sizeof r->msg, "rank %d on %.64s: %.1900s", from, r->writer_host, m->msg);
            else
                snprintf(r->msg, sizeof r->msg, "%s", m->msg);
        }
        v->done = 1;
        retire_note(f, (long)m->vm);
        if (tag == FT_DONE && m->status == OVA_OK) {
            r->status = OVA_OK;
            r->bytes_read = m->bytes_read;
            r->bytes_out = m->bytes_out;
            r->grains_data = m->grains_data;
            r->grains_stored = m->grains_stored;
            r->bytes_stored = m->bytes_stored;
            r->seconds = m->seconds;
        }
    }
    pthread_cond_broadcast(&f->cv_grant);
    pthread_mutex_unlock(&f->mu);
    if (drop)
        tell_writer(f, (long)m->vm);
}

static void progress(ova_fleet *f, int final)
{
    if (f->hooks.progress == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    ova_progress p = { f->done_bytes < f->total_bytes ? f->done_bytes : f->total_bytes, f->total_bytes, 0,
                       ova_engine_seconds(&f->t0), final };
    for (size_t i = 0; i < f->n_q; i++) /* finished VMs' sizes, the others' bytes so far */
        p.out_bytes += f->q[i].done ? f->res->vms[f->q[i].index].bytes_out : f->q[i].out_bytes;
    pthread_mutex_unlock(&f->mu);
    f->hooks.progress(f->hooks.ctx, &p);
}

/* Over when no result can come any more (FINISH) and this rank's VMs are
 * written; rank 0 sends FINISH once every worker has stopped, and ends
 * when every VM is done. */
static int over(ova_fleet *f, int stopped)
{
    int send_finish = 0, done;
    pthread_mutex_lock(&f->mu);
    if (f->rank == 0 && !f->finish && stopped == f->remote_threads && f->local_stopped == f->n_threads) {
        f->finish = 1;
        send_finish = 1;
    }
    done = f->finish && f->writer_finished;
    for (size_t i = 0; done && f->rank == 0 && i < f->n_q; i++)
        done = f->q[i].done;
    pthread_mutex_unlock(&f->mu);
    for (int r = 1; send_finish && r < f->size; r++) {
        int x = 0;
        MPI_Send(&x, 1, MPI_INT, r, FT_FINISH, f->comm);
    }
    return done;
}

static void service(ova_fleet *f)
{
    int stopped = 0;
    double next_progress = f->opts->progress_secs;
    while (!over(f, stopped)) {
        MPI_Status ms;
        ova_mpi_probe_any(f->comm, &ms);
        int count = 0;
        MPI_Get_count(&ms, MPI_BYTE, &count);
        if (ms.MPI_TAG == FT_REQ && f->rank == 0) {
            int32_t tid;
            MPI_Recv(&tid, 1, MPI_INT32_T, ms.MPI_SOURCE, FT_REQ, f->comm, MPI_STATUS_IGNORE);
            int64_t k = -1, u = -1;
            pthread_mutex_lock(&f->mu);
            int r = ova_fleet_decide(f, &k, &u);
            if (r == 0)
                f->pend[f->n_pend++] = (ova_pending){ ms.MPI_SOURCE, tid };
            pthread_mutex_unlock(&f->mu);
            if (r != 0) {
                grant(f, ms.MPI_SOURCE, tid, r > 0 ? k : -1, r > 0 ? u : -1);
                stopped += r < 0;
            }
        } else if (ms.MPI_TAG == FT_RESULT) {
            unsigned char *blob = count >= (int)sizeof(ova_unit_hdr) && (size_t)count <= f->unit_max
                                      ? malloc((size_t)count) : NULL;
            if (blob == NULL) {
                drain(f, &ms, count);
                char msg[160];
                snprintf(msg, sizeof msg, "%s a unit from rank %d",
                         count >= (int)sizeof(ova_unit_hdr) && (size_t)count <= f->unit_max
                             ? "out of memory receiving" : "wrong size of", ms.MPI_SOURCE);
                pthread_mutex_lock(&f->mu);
                long cur = f->cur;
                pthread_mutex_unlock(&f->mu);
                ova_fleet_writer_drop(f, cur, msg);
                continue;
            }
            MPI_Recv(blob, count, MPI_BYTE, ms.MPI_SOURCE, FT_RESULT, f->comm, MPI_STATUS_IGNORE);
            ova_fleet_file_result(f, blob, (size_t)count, ms.MPI_SOURCE);
        } else if (ms.MPI_TAG == FT_ERROR && f->rank == 0 && count > 24) {
            char *buf = calloc(1, (size_t)count + 1);
            if (buf == NULL) {
                drain(f, &ms, count);
                continue; /* the VM's writer still waits for the unit: rank 0 cannot tell which */
            }
            MPI_Recv(buf, count, MPI_BYTE, ms.MPI_SOURCE, FT_ERROR, f->comm, MPI_STATUS_IGNORE);
            int64_t k, est;
            memcpy(&k, buf, 8);
            memcpy(&est, buf + 16, 8);
            if (k == -1) { /* a thread that cannot work: stopped */
                ova_fleet_thread_gone(f, (ova_status)est, buf + 24);
                stopped++;
            } else if (k >= 0 && (size_t)k < f->n_q) {
                ova_fleet_fail_vm(f, (long)k, (ova_status)est, buf + 24);
            }
            free(buf);
        } else if ((ms.MPI_TAG == FT_OPEN || ms.MPI_TAG == FT_DONE) && f->rank == 0 &&
                   count == (int)sizeof(ova_fleet_msg)) {
            ova_fleet_msg *m = malloc(sizeof *m);
            if (m == NULL) {
                drain(f, &ms, count);
                continue;
            }
            MPI_Recv(m, count, MPI_BYTE, ms.MPI_SOURCE, ms.MPI_TAG, f->comm, MPI_STATUS_IGNORE);
            m->msg[sizeof m->msg - 1] = '\0';
            writer_said(f, ms.MPI_TAG, m, ms.MPI_SOURCE);
            free(m);
        } else if (ms.MPI_TAG == FT_CREDIT && f->rank == 0) {
            int64_t c[3];
            MPI_Recv(c, 3, MPI_INT64_T, ms.MPI_SOURCE, FT_CREDIT, f->comm, MPI_STATUS_IGNORE);
            if (c[0] >= 0 && (size_t)c[0] < f->n_q) {
                ova_fleet_qvm *v = &f->q[c[0]];
                pthread_mutex_lock(&f->mu);
                v->out_bytes = (uint64_t)c[2];
                for (; v->head < (uint64_t)c[1] && v->head < v->n_units; v->head++) {
                    size_t d;
                    uint64_t first;
                    uint32_t n;
                    ova_plan_unit(v->plan, v->head, &d, &first, &n);
                    f->done_bytes += (uint64_t)n * OVA_GRAIN_SIZE;
                }
                pthread_cond_broadcast(&f->cv_grant);
                pthread_mutex_unlock(&f->mu);
            }
        } else if (ms.MPI_TAG == FT_FAILVM) {
            int64_t k;
            MPI_Recv(&k, 1, MPI_INT64_T, ms.MPI_SOURCE, FT_FAILVM, f->comm, MPI_STATUS_IGNORE);
            ova_fleet_writer_drop(f, (long)k, NULL);
        } else if (ms.MPI_TAG == FT_RETIRE && f->rank != 0) {
            int64_t k;
            MPI_Recv(&k, 1, MPI_INT64_T, ms.MPI_SOURCE, FT_RETIRE, f->comm, MPI_STATUS_IGNORE);
            ova_fleet_readers_retire(f, (long)k);
        } else if (ms.MPI_TAG == FT_FINISH) {
            int x;
            MPI_Recv(&x, 1, MPI_INT, ms.MPI_SOURCE, FT_FINISH, f->comm, MPI_STATUS_IGNORE);
            pthread_mutex_lock(&f->mu);
            f->finish = 1;
            pthread_mutex_unlock(&f->mu);
        } else {
            /* WAKE, or not ours: consume it so the loop cannot spin on it */
            drain(f, &ms, count);
        }

        if (f->rank == 0) {
            threads_gone(f);
            retire_send(f);
        }
        /* rank 0: answer requests that waited for a window, an OPEN or the end */
        while (f->rank == 0) {
            int64_t k = -1, u = -1;
            pthread_mutex_lock(&f->mu);
            int r = f->n_pend > 0 ? ova_fleet_decide(f, &k, &u) : 0;
            ova_pending pq = r != 0 ? f->pend[--f->n_pend] : (ova_pending){ 0, 0 };
            pthread_mutex_unlock(&f->mu);
            if (r == 0)
                break;
            grant(f, pq.src, pq.tid, r > 0 ? k : -1, r > 0 ? u : -1);
            stopped += r < 0;
        }
        if (f->rank == 0 && f->opts->progress_secs > 0 && ova_engine_seconds(&f->t0) >= next_progress) {
            progress(f, 0);
            next_progress = ova_engine_seconds(&f->t0) + f->opts->progress_secs;
        }
    }
    if (f->rank == 0 && f->opts->progress_secs > 0)
        progress(f, 1);
}

ova_status ova_fleet_run(ova_fleet *f, ova_err *err)
{
    f->cur = -1;
    f->slots = calloc((size_t)f->window, sizeof *f->slots);
    f->pend = calloc((size_t)f->remote_threads + 1, sizeof *f->pend);
    if (f->rank == 0)
        f->retire_q = calloc(f->n_q ? f->n_q : 1, sizeof *f->retire_q);
    pthread_t *tids = calloc((size_t)f->n_threads, sizeof *tids);
    ova_fleet_worker *ws = calloc((size_t)f->n_threads, sizeof *ws);
    pthread_t wt;
    int started = 0, writer_started = 0;
    if (f->slots != NULL && f->pend != NULL && tids != NULL && ws != NULL && (f->rank != 0 || f->retire_q != NULL)) {
        writer_started = pthread_create(&wt, NULL, ova_fleet_write_main, f) == 0;
        for (int i = 0; writer_started && i < f->n_threads; i++) {
            ws[i] = (ova_fleet_worker){ f, i, NULL };
            if (pthread_create(&tids[i], NULL, ova_fleet_worker_main, &ws[i]) != 0)
                break;
            started++;
        }
    }
    int mine = started == f->n_threads, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, f->comm);
    pthread_mutex_lock(&f->mu);
    f->gate = all ? 1 : -1;
    pthread_cond_broadcast(&f->cv_grant);
    pthread_mutex_unlock(&f->mu);
    ova_status st = OVA_OK;
    if (all)
        service(f);
    else
        st = ova_err_set(err, OVA_E_NOMEM, mine ? "stopped because another rank could not start its threads"
                                                : "rank %d on %s: cannot start its threads", f->rank, f->host);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (writer_started)
        pthread_join(wt, NULL);
    /* swallow WAKEs sent before the loop ended */
    for (;;) {
        int flag = 0;
        MPI_Status ms;
        MPI_Iprobe(f->rank, FT_WAKE, f->comm, &flag, &ms);
        if (!flag)
            break;
        int x;
        MPI_Recv(&x, 1, MPI_INT, f->rank, FT_WAKE, f->comm, MPI_STATUS_IGNORE);
    }
    free(tids);
    free(ws);
    free(f->pend);
    f->pend = NULL;
    free(f->retire_q);
    f->retire_q = NULL;
    return st;
}
