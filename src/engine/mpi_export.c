/* mpi_export.c - the export over MPI (export.h) as four phases, each
 * ending in one agreement (mpi_agree.h): the plan broadcast, opening the
 * disk readers, compress and gather, finish. The threads and loops of the
 * compress phase live in mpi_workers.c, mpi_write_loop.c and
 * mpi_service.c (mpi_engine.h describes the messages). */
#include "ovatool/export_mpi.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/mpi_agree.h"
#include "engine/mpi_engine.h"
#include "engine/ova_target.h"
#include "engine/resume.h"
#include "engine/unit.h"
#include "util/fault.h"

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
    o->journal_secs = 5;
}

void ova_export_stats_free(ova_export_stats *stats)
{
    free(stats->rank_written);
    stats->rank_written = NULL;
}

/* ---- phases: each ends in one agreement (mpi_agree.h) ------------------- */

/* The writer's warnings about the output folder, as warnings of the export. */
static void writer_warn(void *ctx, const char *msg)
{
    ova_engine_log(ctx, 1, "%s", msg);
}

/* rank 0: prepare (prepare.h), size the units, plan, open the output and
 * pack the plan for the others. */
static ova_status plan_rank0(ova_engine *e, int threads_total, ova_buf *packed, ova_err *err)
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
    /* the output's folder, the target, the space, before any data is read */
    ova_check_opts co = { o->vmx_path, o->overwrite, o->codec, o->level, e->hooks.log, e->hooks.ctx };
    ova_check_result cr;
    if ((st = ova_prepare_check(e->prep, &co, &cr, err)) != OVA_OK)
        return st;
    /* Units by one rank's memory (prepare.c). Rank 0 keeps its threads'
     * units and, within the rest of its limit, the results waiting to be
     * written (hold); the grant window adds a unit for every thread of the
     * job, whose results wait at their senders until they fit. Alone, one
     * window bounds it all, as the hold includes rank 0's threads. */
    uint32_t ug;
    uint64_t per_rank;
    ova_prepare_unit_size(o->mem_limit, e->size, e->n_threads_max, &ug, &per_rank);
    e->window = e->hold = per_rank;
    if (e->size > 1) {
        e->hold = per_rank > (uint64_t)e->n_threads + 1 ? per_rank - (uint64_t)e->n_threads : 1;
        e->window = e->hold + (uint64_t)threads_total;
    }
    if ((st = ova_plan_from_prepared(e->prep, ug, &e->plan, err)) != OVA_OK)
        return st;
    if (o->dry_run) {
        ova_target_report_leftovers(e->prep->output, writer_warn, e);
        ova_export_preview pv = { e->prep, &cr, ova_plan_units(e->plan), ug, e->size, threads_total };
        if (e->hooks.preview != NULL)
            e->hooks.preview(e->hooks.ctx, &pv);
        return OVA_OK;
    }
    /* the writer refuses an output that is one of the inputs, and warns of
     * temporary files earlier exports left (ova_writer.h) */
    ova_writer_opts wo = { o->sha, o->target_hw, e->prep->mtime, o->buffered_io, o->vmx_path, writer_warn, e,
                           cr.size.likely, !o->overwrite, NULL, NULL, NULL, 0, 0, 0, 0 };
    /* distributed writing (mpi_dwrite.c): a digest state other ranks can
     * continue, and no O_DIRECT block of rank 0 over another rank's bytes.
     * Kept if the file check falls back: same bytes, rank 0 writing. */
    if (e->dw_candidate) {
        wo.portable_digest = 1;
        wo.buffered_io = 1;
    }
    /* resume (resume.h): journaled, continued, or refused */
    ova_resume rs;
    if ((st = ova_resume_setup(o, e->prep, e->plan, e->hooks.log, e->hooks.ctx, &rs, err)) != OVA_OK) {
        ova_resume_clear(&rs);
        return st;
    }
    wo.journal = rs.journal;
    rs.journal = NULL; /* the writer's now */
    wo.journal_path = rs.journal_path;
    wo.partial_path = rs.partial_path;
    wo.journal_secs = o->journal_secs;
    wo.first_unit = e->first_unit = rs.first_unit;
    e->first_bytes = rs.done_bytes;
    /* the disks side by side (disk_order.h): not journaled, since a
     * durable point is a position in the one stream written in plan order
     * and a spool has none to resume from */
    e->parallel_disks = !e->dw_candidate && ova_parallel_disks_engage(o->parallel_disks, threads_total, o->sha,
                                                                      e->plan, wo.journal != NULL);
    if (e->parallel_disks) {
        if ((st = ova_disk_order_init(&e->grant_order, e->plan, err)) != OVA_OK) {
            ova_resume_clear(&rs);
            return st;
        }
        ova_engine_log(e, 0, "parallel disks: the %zu disks are compressed and hashed side by side; later disks "
                       "are spooled beside the output and copied in", e->plan->n_disks);
    } else if (o->parallel_disks == OVA_PARALLEL_DISKS_ON) {
        ova_engine_log(e, 1, "parallel disks: not engaged (%s)",
                       wo.journal != NULL ? "a journaled export (--resume) writes its disks in order"
                                          : "fewer than two disks hold data");
    }
    wo.parallel_disks = e->parallel_disks;
    st = ova_writer_open(e->prep, e->plan, &wo, &e->writer, err);
    ova_resume_clear(&rs);
    if (st != OVA_OK)
        return st;
    uint64_t rb;
    double rbs;
    ova_writer_readback(e->writer, &rb, &rbs);
    if (rb > 0) /* the cost of recomputing the begun member's digest (journal.h) */
        ova_engine_log(e, 0, "read back %.1f MiB of the partial output in %.2f s to continue its disk's digest",
                       (double)rb / 1048576.0, rbs);
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

/* Phase 1: rank 0 plans; the plan and the window go to every rank. It
 * agrees three times, because each step needs every rank ready for the
 * next: rank 0's plan, every rank's room for it, every rank's unpacking. */
static ova_status phase_plan(ova_engine *e, int threads_total, ova_err *err)
{
    ova_buf packed = OVA_BUF_INIT;
    ova_status st = e->rank == 0 ? plan_rank0(e, threads_total, &packed, err) : OVA_OK;
    if ((st = ova_mpi_agree(e->comm, st, err)) != OVA_OK || e->opts->dry_run)
        goto out;
    uint64_t hdr[2] = { packed.len, e->window };
    MPI_Bcast(hdr, 2, MPI_UINT64_T, 0, e->comm);
    if (e->rank != 0) {
        e->window = hdr[1];
        if (ova_fault("export.plan"))
            st = ova_err_set(err, OVA_E_NOMEM, "injected: no room to receive the plan (test fault export.plan)");
        else
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
static ova_status phase_readers(ova_engine *e, ova_err *err)
{
    ova_status st = OVA_OK;
    e->n_units = ova_plan_units(e->plan);
    e->unit_max = ova_unit_max_size(e->plan->unit_grains);
    e->readers = calloc(e->plan->n_disks ? e->plan->n_disks : 1, sizeof *e->readers);
    if (e->readers == NULL)
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory for the disk readers");
    for (size_t i = 0; st == OVA_OK && i < e->plan->n_disks; i++)
        st = ova_disk_reader_open(e->plan->disks[i], &e->readers[i], err);
    if (st == OVA_OK && ova_fault("export.readers"))
        st = ova_err_set(err, OVA_E_IO, "%s: injected failure opening the disk readers (test fault export.readers)",
                         e->plan->n_disks > 0 ? e->plan->disks[0]->path : "no disk");
    return ova_mpi_agree(e->comm, st, err);
}

/* Rank 0's pooled result buffers (unit_pool.h): one per thread at work,
 * as many again waiting for the writer (reordering), and a few for the
 * writer's hashing and the write thread; never more than rank 0's own
 * memory holds (its threads' units and the hold). Results beyond this
 * wait in one-off buffers; rank 0's own threads wait for a buffer
 * instead, which keeps what they hold mapped and reused. */
static uint64_t pool_buffers(const ova_engine *e, int threads_total)
{
    uint64_t n = 2 * (uint64_t)threads_total + 4;
    uint64_t cap = e->size > 1 ? e->hold + (uint64_t)e->n_threads : e->window;
    return n < cap ? n : cap;
}

/* Phase 3: compress and gather. Workers on every rank; on rank 0 also the
 * writer thread and, with other ranks, the service loop. Failures are
 * recorded (rank 0: fail0; others: local_err), not returned: phase 4
 * agrees on them. */
static void phase_run(ova_engine *e, int threads_total, int remote_threads)
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
        stats->parallel_disks = e->parallel_disks != 0;
        ova_writer_note_progress(0, stats->bytes_in);
        ova_engine_log(e, 0,
                       "exporting %zu disk(s), %.2f GiB, as %llu units of %u grains; %d rank(s), %d compression "
                       "thread(s); %s level %d, %s; memory limit %llu MiB per rank (%llu units in flight, %llu "
                       "waiting at rank 0); output %s",
                       e->plan->n_disks, (double)stats->bytes_in / 1073741824.0, (unsigned long long)e->n_units,
                       e->plan->unit_grains, e->size, threads_total, ova_codec_name(opts->codec), opts->level,
                       opts->store_incompressible ? "incompressible grains stored" : "every grain compressed",
                       (unsigned long long)(opts->mem_limit >> 20), (unsigned long long)e->window,
                       (unsigned long long)e->hold, ova_writer_direct(e->writer) ? "with O_DIRECT" : "through the page cache");
        e->slots = calloc((size_t)e->hold, sizeof *e->slots);
        e->pend = calloc((size_t)remote_threads + 1, sizeof *e->pend);
        e->ready = calloc((size_t)remote_threads + 1, sizeof *e->ready);
        if (e->dwrite) {
            e->slot_src = malloc((size_t)e->hold * sizeof *e->slot_src);
            for (uint64_t i = 0; e->slot_src != NULL && i < e->hold; i++)
                e->slot_src[i] = -1;
        }
        ova_err pe;
        ova_err_clear(&pe);
        if (e->slots == NULL || e->pend == NULL || e->ready == NULL ||
            (e->dwrite && e->slot_src == NULL) ||
            ova_unit_pool_new(e->unit_max, pool_buffers(e, threads_total), &e->pool, &pe) != OVA_OK)
            ova_engine_fail0(e, 0, OVA_E_NOMEM, "rank 0: out of memory for the unit window");
        e->service_running = e->size > 1;
        e->next_unit = e->write_head = e->first_unit; /* a resumed export's units before it are in the file */
    }

    pthread_t *tids = calloc((size_t)e->n_threads, sizeof *tids);
    ova_worker *ws = calloc((size_t)e->n_threads, sizeof *ws);
    int started = 0;
    pthread_t writer_tid, holder_tid;
    int writer_started = 0, holder_started = 0;
    /* distributed writing, other ranks: the holder thread (mpi_dwrite.c);
     * without it, or room for what it holds, this rank writes nothing and
     * says so (its threads stop at once) */
    if (e->dwrite && e->rank != 0) {
        e->held = calloc((size_t)e->n_threads * OVA_DWRITE_HELD_PER_THREAD, sizeof *e->held);
        e->dw_workers = e->n_threads;
        holder_started = e->held != NULL && pthread_create(&holder_tid, NULL, ova_dwrite_holder_main, e) == 0;
        if (!holder_started)
            tids = (free(tids), NULL); /* every worker counts as not started below */
    }
    if (tids != NULL && ws != NULL) {
        if (e->rank == 0 && !e->failed)
            writer_started = pthread_create(&writer_tid, NULL, ova_engine_write_loop, e) == 0;
        for (int i = 0; i < e->n_threads; i++) {
            ova_worker_init(&ws[i], e, i);
            if (pthread_create(&tids[i], NULL, ova_worker_main, &ws[i]) != 0)
                break;
            started++;
        }
    }
    if (e->rank == 0) {
        if (started == 0 || (!writer_started && !e->failed))
            ova_engine_fail0(e, 0, OVA_E_NOMEM, "rank 0: cannot start threads");
        if (e->size > 1)
            ova_engine_service(e, remote_threads);
    } else if (started < e->n_threads) {
        /* threads that never started must still be counted as stopped by rank 0 */
        for (int i = started; i < e->n_threads; i++) {
            ova_worker_not_started(e, e->dwrite && !holder_started
                                          ? "cannot start the thread that writes this rank's units (distributed "
                                            "writing), or find memory for it"
                                          : "cannot start a compression thread");
            if (holder_started)
                ova_dwrite_worker_done(e);
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (holder_started)
        pthread_join(holder_tid, NULL);
    for (int i = 0; ws != NULL && i < e->n_threads; i++)
        free(ws[i].spare); /* buffers the holder gave back */
    if (writer_started)
        pthread_join(writer_tid, NULL);
    if (e->rank == 0 && e->slot_src != NULL)
        ova_engine_drop_held(e); /* rank 0 failed after its service loop ended */
    free(tids);
    free(ws);
}

/* Phase 4: rank 0 finishes (or removes) the OVA; every rank learns the
 * verdict, and rank 0 the failing rank's own message. */
static ova_status phase_finish(ova_engine *e, ova_err *err)
{
    ova_export_stats *stats = e->stats;
    if (e->dwrite) {
        /* every rank's bytes durable before rank 0 renames the file; a
         * failure is recorded (rank 0: fail0) and reported below */
        ova_err de;
        ova_err_clear(&de);
        ova_dwrite_finish(e, &de);
    }
    if (e->rank == 0) {
        if (!e->failed && e->write_head != e->n_units)
            ova_engine_fail0(e, 0, OVA_E_INTERNAL,
                             "internal error: rank 0's work ended before every unit was written");
        if (!e->failed) {
            stats->bytes_out = ova_writer_bytes(e->writer) + 2 * 512;
            if (stats->rank_written != NULL) { /* rank 0 wrote what the others did not */
                uint64_t others = 0;
                for (int r = 1; r < e->size; r++)
                    others += stats->rank_written[r];
                stats->rank_written[0] = stats->bytes_out - others;
            }
            if (e->opts->progress_secs > 0)
                ova_engine_report_progress(e, stats->bytes_in, 1);
            ova_err fe;
            ova_err_clear(&fe);
            if (ova_writer_finish(&e->writer, &fe) != OVA_OK)
                ova_engine_fail0(e, 0, fe.status, fe.msg);
        } else {
            ova_writer_abort(&e->writer);
        }
        stats->seconds = ova_engine_seconds(&e->t0);
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
    ova_engine E;
    ova_engine *e = &E;
    memset(e, 0, sizeof *e);
    e->dw_fd = -1;
    atomic_init(&e->dw_bytes, 0);
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
    pthread_cond_init(&e->dw_cv, NULL);
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
    MPI_Reduce(&e->n_threads, &e->n_threads_max, 1, MPI_INT, MPI_MAX, 0, e->comm);
    int remote_threads = threads_total - e->n_threads; /* rank 0's view */

    ova_status st = ova_dwrite_decide(e, err);
    if (st == OVA_OK)
        st = phase_plan(e, threads_total, err);
    if (st == OVA_OK && !opts->dry_run && e->dw_candidate)
        st = ova_dwrite_open(e, err);
    if (st == OVA_OK && !opts->dry_run)
        st = phase_readers(e, err);
    if (st == OVA_OK && !opts->dry_run) {
        phase_run(e, threads_total, remote_threads);
        st = phase_finish(e, err);
    }

    for (size_t i = 0; e->readers != NULL && e->plan != NULL && i < e->plan->n_disks; i++)
        ova_disk_reader_close(&e->readers[i]);
    free(e->readers);
    /* results never written (after a failure) */
    for (uint64_t i = 0; e->slots != NULL && i < e->hold; i++)
        ova_unit_pool_put(e->slots[i]);
    free(e->slots);
    free(e->slot_src);
    free(e->held);
    if (e->dw_fd >= 0) /* a phase after the file check failed */
        close(e->dw_fd);
    free(e->dw_path);
    free(e->pend);
    free(e->ready);
    ova_writer_abort(&e->writer); /* gives back the buffers it still queued */
    ova_unit_pool_free(&e->pool);
    ova_disk_order_free(&e->grant_order);
    ova_plan_free(&e->plan);
    ova_prepared_free(&e->prep);
    ova_cores_free(&e->cores);
    pthread_cond_destroy(&e->cv_grant);
    pthread_cond_destroy(&e->cv_write);
    pthread_cond_destroy(&e->dw_cv);
    pthread_mutex_destroy(&e->mu);
    MPI_Comm_free(&e->comm);
    return st;
}
