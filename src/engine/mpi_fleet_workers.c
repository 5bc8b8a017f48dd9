/* mpi_ova_fleet_workers.c - the fleet's compression threads on every rank:
 * take a unit of any VM, read and compress it, hand it to that VM's writer
 * (mpi_fleet.h); and this rank's disk readers, open only while their VM
 * is at work. */
#include "engine/mpi_fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/unit.h"
#include "util/fault.h"


/* ---- this rank's disk readers: opened at a VM's first unit here, closed
 * once rank 0 says it gets no more units (RETIRE, each VM on its own) and
 * its last one here is done, so a fleet of any length keeps only the VMs
 * at work open. A unit granted before its VM's RETIRE came opens them
 * again and closes them when done. ---- */

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

void ova_fleet_readers_retire(ova_fleet *f, long k)
{
    if (k < 0 || (size_t)k >= f->n_q)
        return;
    ova_fleet_qvm *v = &f->q[k];
    pthread_mutex_lock(&f->rd_mu);
    v->retired = 1;
    if (v->users == 0)
        readers_close(v);
    pthread_mutex_unlock(&f->rd_mu);
}

/* The next unit: 1 with *k, *u, or 0 = stop. */
static int take(ova_fleet_worker *w, int64_t *k, int64_t *u)
{
    ova_fleet *f = w->f;
    if (f->rank == 0) {
        pthread_mutex_lock(&f->mu);
        int r;
        while ((r = ova_fleet_decide(f, k, u)) == 0)
            pthread_cond_wait(&f->cv_grant, &f->mu);
        if (r < 0)
            f->local_stopped++;
        pthread_mutex_unlock(&f->mu);
        if (r < 0)
            ova_fleet_wake(f);
        return r > 0;
    }
    int64_t g[2];
    int32_t tid = w->tid;
    MPI_Request req;
    MPI_Irecv(g, 2, MPI_INT64_T, 0, FT_GRANT + tid, f->comm, &req);
    MPI_Send(&tid, 1, MPI_INT32_T, 0, FT_REQ, f->comm);
    ova_mpi_wait(&req);
    *k = g[0];
    *u = g[1];
    return g[0] >= 0;
}

/* To rank 0 from another rank: ERROR {k, u, status} + "rank R on HOST: msg". */
static void send_error(ova_fleet *f, int64_t k, int64_t u, const ova_err *err)
{
    char buf[24 + OVA_ERR_MAX + 128];
    int64_t st = err->status;
    memcpy(buf, &k, 8);
    memcpy(buf + 8, &u, 8);
    memcpy(buf + 16, &st, 8);
    int n = snprintf(buf + 24, sizeof buf - 24, "rank %d on %s: %s", f->rank, f->host, err->msg);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf - 24)
        n = (int)(sizeof buf - 25);
    MPI_Send(buf, 24 + n + 1, MPI_CHAR, 0, FT_ERROR, f->comm);
}

/* A unit of VM k failed here: rank 0 fails the VM. */
static void report(ova_fleet_worker *w, int64_t k, int64_t u, const ova_err *err)
{
    ova_fleet *f = w->f;
    if (f->rank == 0)
        ova_fleet_fail_vm(f, (long)k, err->status, err->msg);
    else
        send_error(f, k, u, err);
}

/* This thread cannot work (no compressor or no buffer) and takes no more
 * units: to rank 0 it is a stopped thread; the others do the work. */
static void gone(ova_fleet_worker *w, const ova_err *err)
{
    ova_fleet *f = w->f;
    if (f->rank != 0) {
        send_error(f, -1, w->tid, err);
        return;
    }
    char msg[OVA_ERR_MAX];
    snprintf(msg, sizeof msg, "rank 0 on %.64s: %.1900s", f->host, err->msg);
    pthread_mutex_lock(&f->mu);
    f->local_stopped++;
    pthread_mutex_unlock(&f->mu);
    ova_fleet_thread_gone(f, err->status, msg);
    ova_fleet_wake(f);
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

void *ova_fleet_worker_main(void *p)
{
    ova_fleet_worker *w = p;
    ova_fleet *f = w->f;
    if (!ova_fleet_gate(f))
        return NULL;
    if (f->opts->pin)
        ova_cores_pin(&f->cores, w->tid);
    /* the setup's error is kept apart from the units' (each starts clean) */
    ova_err setup;
    ova_err_clear(&setup);
    ova_unit_worker *uw = NULL;
    if (ova_fault("export.thread")) /* the tests' thread that cannot set up (as when out of memory) */
        ova_err_set(&setup, OVA_E_NOMEM, "cannot set up compression thread %d (test fault export.thread)", w->tid);
    else if (ova_unit_worker_new(f->opts->codec, f->opts->level, OVA_READ_CHUNK, &uw, &setup) == OVA_OK) {
        ova_unit_worker_store_incompressible(uw, f->opts->store_incompressible);
        if ((w->blob = malloc(f->unit_max)) == NULL)
            ova_err_set(&setup, OVA_E_NOMEM, "out of memory for compression thread %d's unit buffer (%zu bytes)",
                        w->tid, f->unit_max);
    }
    if (setup.status != OVA_OK)
        gone(w, &setup);
    int64_t k, u;
    while (setup.status == OVA_OK && take(w, &k, &u)) {
        ova_fleet_qvm *v = &f->q[k];
        ova_err err;
        ova_err_clear(&err);
        if (w->blob == NULL && (w->blob = malloc(f->unit_max)) == NULL) {
            /* the buffer went to this rank's writer and no new one came: the
             * unit's VM fails, the thread stops and the others go on */
            ova_err_set(&err, OVA_E_NOMEM, "out of memory for compression thread %d's unit buffer (%zu bytes)",
                        w->tid, f->unit_max);
            report(w, k, u, &err);
            gone(w, &err);
            break;
        }
        readers_get(f, v);
        ova_status st = compress(f, uw, v, (uint64_t)u, w->blob, &err);
        readers_put(f, v);
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
            ova_fleet_file_result(f, w->blob, len, f->rank); /* the slot's now, or freed */
            w->blob = NULL;
        } else {
            MPI_Request sreq;
            MPI_Issend(w->blob, (int)len, MPI_BYTE, v->writer, FT_RESULT, f->comm, &sreq);
            ova_mpi_wait(&sreq);
        }
    }
    ova_unit_worker_free(&uw);
    free(w->blob);
    w->blob = NULL;
    return NULL;
}
