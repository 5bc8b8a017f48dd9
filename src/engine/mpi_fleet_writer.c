/* mpi_fleet_writer.c - every rank as a writer: its VMs one after another,
 * each opened, fed its units in order as they come (from local threads or
 * the wire), and finished or removed (mpi_fleet.h). */
#include "engine/mpi_fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ova_writer.h"
#include "engine/unit.h"

#define UNIT_MASK ((1ull << OVA_FLEET_UNIT_BITS) - 1)

/* Stop writing VM k (under no lock): why NULL when rank 0 decided it. */
void ova_fleet_writer_drop(ova_fleet *f, long k, const char *why)
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
void ova_fleet_file_result(ova_fleet *f, unsigned char *blob, size_t count, int from)
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
        ova_fleet_writer_drop(f, (long)k, msg);
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
    /* no journal: a fleet's exports are not resumable (cli_export.c refuses --resume) */
    ova_writer_opts wo = { .sha = o->sha, .target_hw = o->target_hw, .mtime = (*prep)->mtime,
                           .buffered_io = o->buffered_io, .vmx_path = vmx, .no_replace = !o->overwrite };
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
void *ova_fleet_write_main(void *p)
{
    ova_fleet *f = p;
    if (!ova_fleet_gate(f))
        return NULL;
    for (size_t k = 0; k < f->n_q; k++)
        if (f->q[k].writer == f->rank)
            write_vm(f, (long)k);
    pthread_mutex_lock(&f->mu);
    f->writer_finished = 1;
    pthread_mutex_unlock(&f->mu);
    ova_fleet_wake(f);
    return NULL;
}
