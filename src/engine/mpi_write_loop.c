/* mpi_write_loop.c - rank 0's write loop: unit results, whichever rank
 * made them, into the OVA writer in unit order (mpi_engine.h). */
#include "engine/mpi_engine.h"

#include <stdlib.h>
#include <time.h>

#include "engine/unit.h"
#include "util/fault.h"

void ova_engine_report_progress(ova_engine *e, uint64_t done, int final)
{
    if (e->hooks.progress == NULL)
        return;
    ova_progress p = { done < e->stats->bytes_in ? done : e->stats->bytes_in, e->stats->bytes_in,
                       ova_writer_bytes(e->writer), ova_engine_seconds(&e->t0), final };
    e->hooks.progress(e->hooks.ctx, &p);
}

/* The disk bytes up to the end of unit u: every disk before its own and
 * its own up to the unit's last grain. Units the plan left out (plan.h)
 * count as done once the writer is past them. */
static uint64_t disk_bytes_done(const ova_plan *plan, uint64_t u)
{
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(plan, u, &d, &first, &n);
    uint64_t done = 0;
    for (size_t i = 0; i < d; i++)
        done += plan->disks[i]->capacity;
    uint64_t in_disk = (first + n) * OVA_GRAIN_SIZE;
    return done + (in_disk < plan->disks[d]->capacity ? in_disk : plan->disks[d]->capacity);
}

void *ova_engine_write_loop(void *p)
{
    ova_engine *e = p;
    ova_err err;
    ova_err_clear(&err);
    uint64_t done_bytes = e->first_bytes;
    double next_progress = e->opts->progress_secs;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->failed && e->write_head < e->n_units && e->slots[e->write_head % e->hold] == NULL)
            pthread_cond_wait(&e->cv_write, &e->mu);
        if (e->failed || e->write_head >= e->n_units) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        if (e->write_head == e->first_unit && ova_fault("export.late")) {
            /* test fault: rank 0 fails once every result is in (its service
             * loop ended, waited for up to 10 s), the later units still in
             * their slots */
            for (int i = 0; i < 1000 && e->service_running; i++) {
                pthread_mutex_unlock(&e->mu);
                nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
                pthread_mutex_lock(&e->mu);
            }
            pthread_mutex_unlock(&e->mu);
            ova_err_set(&err, OVA_E_IO, "%s: injected write failure (test fault export.late)", e->stats->output);
            ova_engine_fail0(e, 0, err.status, err.msg);
            break;
        }
        unsigned char *blob = e->slots[e->write_head % e->hold];
        e->slots[e->write_head % e->hold] = NULL; /* ours now, whatever happens */
        int src = -1; /* distributed writing: the rank holding its records */
        if (e->slot_src != NULL) {
            src = e->slot_src[e->write_head % e->hold];
            e->slot_src[e->write_head % e->hold] = -1;
        }
        pthread_mutex_unlock(&e->mu);

        const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
        e->stats->bytes_read += h->bytes_read;
        e->stats->grains_data += h->n_data;
        e->stats->grains_stored += h->n_stored;
        e->stats->bytes_stored += (uint64_t)h->n_stored * OVA_GRAIN_SIZE;
        /* interleaved disks: the share of units written, as the disks
         * advance together */
        done_bytes = e->parallel_disks ? (uint64_t)((double)e->stats->bytes_in * (double)(e->write_head + 1) /
                                                    (double)e->n_units)
                                       : disk_bytes_done(e->plan, h->unit);
        ova_status st;
        if (src >= 0) {
            st = ova_dwrite_place(e, blob, src, &err);
            ova_unit_pool_put(blob);
        } else {
            /* the writer gives the blob back to the pool once its records are in the file */
            st = ova_writer_unit(e->writer, h, blob + sizeof *h, ova_unit_pool_put, blob, &err);
        }
        if (st != OVA_OK) {
            ova_engine_fail0(e, 0, err.status, err.msg);
            break;
        }
        ova_writer_note_progress(done_bytes < e->stats->bytes_in ? done_bytes : e->stats->bytes_in,
                                 e->stats->bytes_in);
        pthread_mutex_lock(&e->mu);
        e->write_head++;
        int wake = e->service_running && (e->n_pend > 0 || e->n_ready > 0);
        pthread_cond_broadcast(&e->cv_grant);
        pthread_mutex_unlock(&e->mu);
        if (wake)
            ova_engine_wake(e);
        if (e->opts->progress_secs > 0) {
            double t = ova_engine_seconds(&e->t0);
            if (t >= next_progress) {
                ova_engine_report_progress(e, done_bytes, e->write_head == e->n_units);
                next_progress = t + e->opts->progress_secs;
            }
        }
    }
    return NULL;
}
