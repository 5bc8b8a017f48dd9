/* mpi_fleet_run.c - the fleet's compress phase on one rank: compression
 * threads, the write thread (this rank's VMs, one after another) and the
 * service loop that takes messages, on rank 0 also dispatching units
 * (mpi_fleet.h describes roles and messages). */
#include "engine/mpi_fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ova_writer.h"
#include "engine/unit.h"
#include "util/fault.h"

#define UNIT_MASK ((1ull << OVA_FLEET_UNIT_BITS) - 1)

static void wake(ova_fleet *f)
{
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, f->rank, FT_WAKE, f->comm);
}

/* ---- rank 0: the queue --------------------------------------------------- */

/* The next unit to grant (under mu): 1 and *k, *u; 0: none now, wait; -1:
 * none will come (every VM fully granted, failed or done). VMs are taken in
 * queue order, each within its window and only once its writer opened it.
 * *low: the VMs before it will never be granted a unit again (the ranks
 * close their readers of them). */
static int decide(ova_fleet *f, int64_t *k, int64_t *u, int64_t *low)
{
    /* VMs only ever leave the grantable set, so the mark only moves up */
    while (f->low < f->n_q && (f->q[f->low].failed || f->q[f->low].done || f->q[f->low].next >= f->q[f->low].n_units))
        f->low++;
    *low = (int64_t)f->low;
    int left = 0;
    for (size_t i = f->low; i < f->n_q; i++) {
        ova_fleet_qvm *v = &f->q[i];
        if (v->failed || v->done || v->next >= v->n_units)
            continue;
        left = 1;
        if (v->open && v->next < v->head + f->window) {
            *k = (int64_t)i;
            *u = (int64_t)v->next++;
            return 1;
        }
    }
    return left ? 0 : -1;
}

/* rank 0: VM k fails (any thread). The first reason is kept; its writer
 * drops it. */
static void writer_drop(ova_fleet *f, long k, const char *why);

static void fail_vm(ova_fleet *f, long k, ova_status st, const char *msg)
{
    ova_fleet_qvm *v = &f->q[k];
    ova_fleet_vm *r = &f->res->vms[v->index];
    pthread_mutex_lock(&f->mu);
    int tell = !v->failed && !v->done;
    if (tell) {
        v->failed = 1;
        r->status = st;
        snprintf(r->msg, sizeof r->msg, "%s", msg);
    }
    pthread_cond_broadcast(&f->cv_grant);
    pthread_mutex_unlock(&f->mu);
    if (!tell)
        return;
    if (v->writer == 0) {
        writer_drop(f, k, NULL);
    } else {
        int64_t kk = k;
        MPI_Send(&kk, 1, MPI_INT64_T, v->writer, FT_FAILVM, f->comm);
    }
}

/* ---- every rank as a writer --------------------------------------------- */

/* Stop writing VM k (under no lock): why NULL when rank 0 decided it. */
static void writer_drop(ova_fleet *f, long k, const char *why)
{
    pthread_mutex_lock(&f->mu);
    if (f->cur == k && !f->cur_failed) {
        f->cur_failed = 1;
        if (why != NULL)
            ova_err_set(&f->cur_err, OVA_E_INTERNAL, "%s", why);
    }
    pthread_cond_broadcast(&f->cv_write);
    pthread_mutex_unlock(&f->mu);
}

/* A result for a VM this rank writes (from a local worker or the wire):
 * into its slot, or dropped when its VM failed or is not this rank's now.
 * Takes the blob. from: the rank that made it. */
static void file_result(ova_fleet *f, unsigned char *blob, size_t count, int from)
{
    ova_unit_hdr *h = (ova_unit_hdr *)(void *)blob;
    uint64_t k = h->unit >> OVA_FLEET_UNIT_BITS, u = h->unit & UNIT_MASK;
    const char *bad = NULL;
    int keep = 0;
    pthread_mutex_lock(&f->mu);
    if (k < f->n_q && (long)k == f->cur && !f->cur_failed) {
        h->unit = u;
        if (h->status != OVA_UNIT_OK)
            bad = "it was skipped";
        else if ((bad = ova_unit_result_check(f->q[k].plan, h, count)) == NULL &&
                 (u < f->cur_head || u >= f->cur_head + f->window || f->slots[u % f->window] != NULL))
            bad = "it names a unit that was not granted or is already in";
        if (bad == NULL) {
            f->slots[u % f->window] = blob;
            keep = 1;
            pthread_cond_broadcast(&f->cv_write);
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (bad != NULL) {
        char msg[200];
        snprintf(msg, sizeof msg, "rank %d sent a malformed unit result: %s", from, bad);
        writer_drop(f, (long)k, msg);
    }
    if (!keep)
        free(blob);
}

static void send_msg(ova_fleet *f, int tag, const ova_fleet_msg *m)
{
    MPI_Send(m, (int)sizeof *m, MPI_BYTE, 0, tag, f->comm);
}

/* Open VM k's OVA on this rank: its own prepare and plan (the writer needs
 * the prepared VM), which must match rank 0's. */
static ova_status open_vm(ova_fleet *f, const ova_fleet_qvm *v, ova_prepared **prep, ova_plan **plan,
                          ova_writer **w, ova_err *err)
{
    const ova_export_opts *o = f->opts;
    const char *vmx = f->paths[v->index];
    ova_prepare_opts po;
    ova_prepare_opts_init(&po);
    po.vmx_path = vmx;
    po.output = v->output;
    po.mtime = o->mtime;
    po.force = o->force;
    po.confine = o->confine;
    ova_status st = ova_prepare(&po, prep, err);
    if (st == OVA_OK)
        st = ova_plan_from_prepared(*prep, f->unit_grains, plan, err);
    if (st == OVA_OK && ova_plan_units(*plan) != v->n_units)
        st = ova_err_set(err, OVA_E_IO, "%s: the VM changed while the export started (rank %d's plan differs "
                         "from rank 0's)", vmx, f->rank);
    if (st != OVA_OK)
        return st;
    ova_writer_opts wo = { o->sha, o->target_hw, (*prep)->mtime, o->buffered_io, vmx, NULL, NULL, 0,
                           !o->overwrite };
    return ova_writer_open(*prep, *plan, &wo, w, err);
}

/* Write VM k: open, units in order as they come, finish or remove. */
static void write_vm(ova_fleet *f, long k)
{
    const ova_fleet_qvm *v = &f->q[k];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ova_fleet_msg m;
    memset(&m, 0, sizeof m);
    m.vm = k;
    ova_err err;
    ova_err_clear(&err);
    ova_prepared *prep = NULL;
    ova_plan *plan = NULL;
    ova_writer *w = NULL;
    ova_status st = open_vm(f, v, &prep, &plan, &w, &err);
    pthread_mutex_lock(&f->mu);
    f->cur = k;
    f->cur_failed = st != OVA_OK;
    f->cur_head = 0;
    ova_err_clear(&f->cur_err);
    pthread_mutex_unlock(&f->mu);
    m.status = st;
    snprintf(m.msg, sizeof m.msg, "%s", err.msg);
    send_msg(f, FT_OPEN, &m);
    int opened = st == OVA_OK; /* rank 0 takes a failed OPEN as the end of the VM */
    if (!opened)
        goto out;

    for (;;) {
        pthread_mutex_lock(&f->mu);
        while (!f->cur_failed && f->cur_head < v->n_units && f->slots[f->cur_head % f->window] == NULL)
            pthread_cond_wait(&f->cv_write, &f->mu);
        if (f->cur_failed || f->cur_head >= v->n_units) {
            pthread_mutex_unlock(&f->mu);
            break;
        }
        unsigned char *blob = f->slots[f->cur_head % f->window];
        f->slots[f->cur_head % f->window] = NULL;
        pthread_mutex_unlock(&f->mu);
        const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
        m.bytes_read += h->bytes_read;
        m.grains_data += h->n_data;
        m.grains_stored += h->n_stored;
        m.bytes_stored += (uint64_t)h->n_stored * OVA_GRAIN_SIZE;
        if (ova_writer_unit(w, h, blob + sizeof *h, free, blob, &err) != OVA_OK) {
            pthread_mutex_lock(&f->mu);
            f->cur_failed = 1;
            ova_err_set(&f->cur_err, err.status, "%s", err.msg);
            pthread_mutex_unlock(&f->mu);
            break;
        }
        pthread_mutex_lock(&f->mu);
        int64_t credit[3] = { k, (int64_t)++f->cur_head, (int64_t)ova_writer_bytes(w) };
        pthread_mutex_unlock(&f->mu);
        MPI_Send(credit, 3, MPI_INT64_T, 0, FT_CREDIT, f->comm);
    }
    pthread_mutex_lock(&f->mu);
    int failed = f->cur_failed;
    ova_err why = f->cur_err;
    pthread_mutex_unlock(&f->mu);
    if (!failed) {
        m.bytes_out = ova_writer_bytes(w) + 2 * 512;
        st = ova_writer_finish(&w, &err);
        if (st != OVA_OK)
            snprintf(m.msg, sizeof m.msg, "%s", err.msg);
    } else {
        ova_writer_abort(&w);
        /* rank 0's own reason stands when it dropped the VM */
        st = why.status != OVA_OK ? why.status : OVA_E_ABORTED;
        snprintf(m.msg, sizeof m.msg, "%s", why.msg);
    }
    m.status = st;
    if (st == OVA_OK)
        atomic_fetch_add(&f->vms_written, 1);
out:
    pthread_mutex_lock(&f->mu);
    f->cur = -1;
    for (uint64_t i = 0; i < f->window; i++) {
        free(f->slots[i]);
        f->slots[i] = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    m.seconds = ova_engine_seconds(&t0);
    if (opened)
        send_msg(f, FT_DONE, &m);
    ova_writer_abort(&w);
    ova_plan_free(&plan);
    ova_prepared_free(&prep);
}

/* Threads wait at the gate until every rank has started all of its own:
 * a rank that could not must not leave the others waiting for its work. */
static int gate(ova_fleet *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->gate == 0)
        pthread_cond_wait(&f->cv_grant, &f->mu);
    int go = f->gate > 0;
    pthread_mutex_unlock(&f->mu);
    return go;
}

static void *write_main(void *p)
{
    ova_fleet *f = p;
    if (!gate(f))
        return NULL;
    for (size_t k = 0; k < f->n_q; k++)
        if (f->q[k].writer == f->rank)
            write_vm(f, (long)k);
    pthread_mutex_lock(&f->mu);
    f->writer_finished = 1;
    pthread_mutex_unlock(&f->mu);
    wake(f);
    return NULL;
}

/* ---- compression threads ------------------------------------------------ */

typedef struct fleet_worker {
    ova_fleet *f;
    int tid;
    unsigned char *blob;
} fleet_worker;

/* ---- this rank's disk readers: opened at a VM's first unit here, closed
 * once rank 0 says it gets no more units and its last one here is done, so
 * a fleet of any length keeps only the VMs at work open. ---- */

/* Open VM v's readers if need be and hold them (a failure to open is kept:
 * every unit of v on this rank then fails with it). */
static void readers_get(ova_fleet *f, ova_fleet_qvm *v)
{
    pthread_mutex_lock(&f->rd_mu);
    v->users++;
    if (v->readers == NULL && v->reader_err.status == OVA_OK) {
        size_t nd = v->plan->n_disks;
        v->readers = calloc(nd ? nd : 1, sizeof *v->readers);
        if (v->readers == NULL)
            ova_err_set(&v->reader_err, OVA_E_NOMEM, "out of memory for the disk readers");
        for (size_t d = 0; v->readers != NULL && d < nd && v->reader_err.status == OVA_OK; d++)
            ova_disk_reader_open(v->plan->disks[d], &v->readers[d], &v->reader_err);
        if (v == &f->q[0] && v->reader_err.status == OVA_OK && ova_fault("export.readers"))
            ova_err_set(&v->reader_err, OVA_E_IO,
                        "%s: injected failure opening the disk readers (test fault export.readers)",
                        nd > 0 ? v->plan->disks[0]->path : "no disk");
    }
    pthread_mutex_unlock(&f->rd_mu);
}

static void readers_close(ova_fleet_qvm *v) /* under rd_mu */
{
    for (size_t d = 0; v->readers != NULL && d < v->plan->n_disks; d++)
        ova_disk_reader_close(&v->readers[d]);
    free(v->readers);
    v->readers = NULL;
}

static void readers_put(ova_fleet *f, ova_fleet_qvm *v)
{
    pthread_mutex_lock(&f->rd_mu);
    if (--v->users == 0 && v->retired)
        readers_close(v);
    pthread_mutex_unlock(&f->rd_mu);
}

/* VMs before low get no more units: close their readers when unused. */
static void readers_retire(ova_fleet *f, int64_t low)
{
    pthread_mutex_lock(&f->rd_mu);
    for (; (int64_t)f->rd_low < low && f->rd_low < f->n_q; f->rd_low++) {
        ova_fleet_qvm *v = &f->q[f->rd_low];
        v->retired = 1;
        if (v->users == 0)
            readers_close(v);
    }
    pthread_mutex_unlock(&f->rd_mu);
}

/* The next unit: 1 with *k, *u, or 0 = stop. */
static int take(fleet_worker *w, int64_t *k, int64_t *u)
{
    ova_fleet *f = w->f;
    if (f->rank == 0) {
        pthread_mutex_lock(&f->mu);
        int r;
        int64_t low;
        while ((r = decide(f, k, u, &low)) == 0)
            pthread_cond_wait(&f->cv_grant, &f->mu);
        if (r < 0)
            f->local_stopped++;
        pthread_mutex_unlock(&f->mu);
        if (r < 0)
            wake(f);
        else
            readers_retire(f, low);
        return r > 0;
    }
    int64_t g[3];
    int32_t tid = w->tid;
    MPI_Request req;
    MPI_Irecv(g, 3, MPI_INT64_T, 0, FT_GRANT + tid, f->comm, &req);
    MPI_Send(&tid, 1, MPI_INT32_T, 0, FT_REQ, f->comm);
    ova_mpi_wait(&req);
    *k = g[0];
    *u = g[1];
    if (g[0] >= 0)
        readers_retire(f, g[2]);
    return g[0] >= 0;
}

/* A unit of VM k failed here: rank 0 fails the VM. */
static void report(fleet_worker *w, int64_t k, int64_t u, const ova_err *err)
{
    ova_fleet *f = w->f;
    if (f->rank == 0) {
        fail_vm(f, (long)k, err->status, err->msg);
        return;
    }
    char buf[16 + OVA_ERR_MAX + 128];
    memcpy(buf, &k, 8);
    memcpy(buf + 8, &u, 8);
    int n = snprintf(buf + 16, sizeof buf - 16, "rank %d on %s: %s", f->rank, f->host, err->msg);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf - 16)
        n = (int)(sizeof buf - 17);
    MPI_Send(buf, 16 + n + 1, MPI_CHAR, 0, FT_ERROR, f->comm);
}

static ova_status compress(ova_fleet *f, ova_unit_worker *uw, const ova_fleet_qvm *v, uint64_t u,
                           unsigned char *blob, ova_err *err)
{
    if (v->reader_err.status != OVA_OK)
        return ova_err_set(err, v->reader_err.status, "%s", v->reader_err.msg);
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(v->plan, u, &d, &first, &n);
    /* the tests' read failure: the rank's first unit only, so one VM fails */
    if (ova_fault("export.unit") && atomic_exchange(&f->fault_fired, 1) == 0)
        return ova_err_set(err, OVA_E_IO, "%s: injected read failure at byte %llu (test fault export.unit)",
                           v->plan->disks[d]->path, (unsigned long long)(first * OVA_GRAIN_SIZE));
    return ova_unit_compress(uw, v->plan, v->readers[d], u, blob, err);
}

static void *worker_main(void *p)
{
    fleet_worker *w = p;
    ova_fleet *f = w->f;
    if (!gate(f))
        return NULL;
    if (f->opts->pin)
        ova_cores_pin(&f->cores, w->tid);
    ova_err err;
    ova_err_clear(&err);
    ova_unit_worker *uw = NULL;
    ova_status wst = ova_unit_worker_new(f->opts->codec, f->opts->level, OVA_READ_CHUNK, &uw, &err);
    if (uw != NULL)
        ova_unit_worker_store_incompressible(uw, f->opts->store_incompressible);
    int64_t k, u;
    while (take(w, &k, &u)) {
        ova_fleet_qvm *v = &f->q[k];
        ova_err_clear(&err); /* first error wins in an ova_err: each unit starts clean */
        if (w->blob == NULL)
            w->blob = malloc(f->unit_max);
        ova_status st = wst;
        if (st == OVA_OK && w->blob == NULL)
            st = ova_err_set(&err, OVA_E_NOMEM, "out of memory for a unit buffer");
        if (st == OVA_OK) {
            readers_get(f, v);
            st = compress(f, uw, v, (uint64_t)u, w->blob, &err);
            readers_put(f, v);
        }
        if (st != OVA_OK) {
            /* the VM fails; this thread goes on with the others' units */
            report(w, k, u, &err);
            continue;
        }
        ova_unit_hdr *h = (ova_unit_hdr *)(void *)w->blob;
        size_t len = sizeof *h + h->records_len;
        atomic_fetch_add(&f->units, 1);
        atomic_fetch_add(&f->bytes_read, h->bytes_read);
        atomic_fetch_add(&f->bytes_compressed, h->records_len);
        h->unit = ((uint64_t)k << OVA_FLEET_UNIT_BITS) | (uint64_t)u;
        if (v->writer == f->rank) {
            file_result(f, w->blob, len, f->rank); /* the slot's now, or freed */
            w->blob = NULL;
        } else {
            MPI_Request sreq;
            MPI_Issend(w->blob, (int)len, MPI_BYTE, v->writer, FT_RESULT, f->comm, &sreq);
            ova_mpi_wait(&sreq);
        }
    }
    ova_unit_worker_free(&uw);
    free(w->blob);
    return NULL;
}

/* ---- the service loop ----------------------------------------------------- */

static void drain(ova_fleet *f, const MPI_Status *ms, int count)
{
    ova_mpi_drain(f->comm, ms, count);
}

static void grant(ova_fleet *f, int src, int tid, int64_t k, int64_t u, int64_t low)
{
    int64_t g[3] = { k, u, low };
    MPI_Send(g, 3, MPI_INT64_T, src, FT_GRANT + tid, f->comm);
}

/* rank 0: what a writer said about a VM (OPEN or DONE). */
static void writer_said(ova_fleet *f, int tag, const ova_fleet_msg *m, int from)
{
    if (m->vm < 0 || (size_t)m->vm >= f->n_q)
        return;
    ova_fleet_qvm *v = &f->q[m->vm];
    ova_fleet_vm *r = &f->res->vms[v->index];
    pthread_mutex_lock(&f->mu);
    if (tag == FT_OPEN && m->status == OVA_OK) {
        v->open = 1;
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
            int64_t k = -1, u = -1, low = 0;
            pthread_mutex_lock(&f->mu);
            int r = decide(f, &k, &u, &low);
            if (r == 0)
                f->pend[f->n_pend++] = (ova_pending){ ms.MPI_SOURCE, tid };
            pthread_mutex_unlock(&f->mu);
            if (r != 0) {
                grant(f, ms.MPI_SOURCE, tid, r > 0 ? k : -1, r > 0 ? u : -1, low);
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
                writer_drop(f, cur, msg);
                continue;
            }
            MPI_Recv(blob, count, MPI_BYTE, ms.MPI_SOURCE, FT_RESULT, f->comm, MPI_STATUS_IGNORE);
            file_result(f, blob, (size_t)count, ms.MPI_SOURCE);
        } else if (ms.MPI_TAG == FT_ERROR && f->rank == 0 && count > 16) {
            char *buf = calloc(1, (size_t)count + 1);
            if (buf == NULL) {
                drain(f, &ms, count);
                continue; /* the VM's writer still waits for the unit: rank 0 cannot tell which */
            }
            MPI_Recv(buf, count, MPI_BYTE, ms.MPI_SOURCE, FT_ERROR, f->comm, MPI_STATUS_IGNORE);
            int64_t k;
            memcpy(&k, buf, 8);
            if (k >= 0 && (size_t)k < f->n_q)
                fail_vm(f, (long)k, OVA_E_IO, buf + 16);
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
            writer_drop(f, (long)k, NULL);
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

        /* rank 0: answer requests that waited for a window, an OPEN or the end */
        while (f->rank == 0) {
            int64_t k = -1, u = -1, low = 0;
            pthread_mutex_lock(&f->mu);
            int r = f->n_pend > 0 ? decide(f, &k, &u, &low) : 0;
            ova_pending pq = r != 0 ? f->pend[--f->n_pend] : (ova_pending){ 0, 0 };
            pthread_mutex_unlock(&f->mu);
            if (r == 0)
                break;
            grant(f, pq.src, pq.tid, r > 0 ? k : -1, r > 0 ? u : -1, low);
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
    pthread_t *tids = calloc((size_t)f->n_threads, sizeof *tids);
    fleet_worker *ws = calloc((size_t)f->n_threads, sizeof *ws);
    pthread_t wt;
    int started = 0, writer_started = 0;
    if (f->slots != NULL && f->pend != NULL && tids != NULL && ws != NULL) {
        writer_started = pthread_create(&wt, NULL, write_main, f) == 0;
        for (int i = 0; writer_started && i < f->n_threads; i++) {
            ws[i] = (fleet_worker){ f, i, NULL };
            if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0)
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
    return st;
}
