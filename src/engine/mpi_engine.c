/* mpi_engine.c - pieces the export engine's files share (mpi_engine.h). */
#include "engine/mpi_engine.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

double ova_engine_seconds(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

uint64_t ova_engine_grant_next(ova_engine *e)
{
    uint64_t s = e->next_unit++;
    return e->parallel_disks ? (uint64_t)ova_disk_order_next(&e->grant_order) : s;
}

uint64_t ova_engine_seq(const ova_engine *e, uint64_t unit)
{
    return e->parallel_disks ? ova_disk_order_seq(e->plan, unit) : unit;
}

void ova_engine_log(ova_engine *e, int level, const char *fmt, ...)
{
    if (e->rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    ova_vlogf(e->hooks.log, e->hooks.ctx, level, fmt, ap);
    va_end(ap);
}

/* Blocking MPI calls in Open MPI spin on a core while they wait. The
 * service thread and idle workers wait a lot, and that spinning would take
 * a core from compression (half the machine on a 2-core node), so waits
 * poll with a short back-off instead: spin briefly for latency, then sleep
 * 10 us growing to 1 ms. */
static void backoff_to(unsigned *round, unsigned max_us)
{
    if (*round < 64) {
        (*round)++;
        return;
    }
    unsigned us = 10u << ((*round - 64) / 8 < 7 ? (*round - 64) / 8 : 7);
    if (us > max_us)
        us = max_us;
    (*round)++;
    struct timespec ts = { 0, (long)us * 1000 };
    nanosleep(&ts, NULL);
}

static void backoff(unsigned *round) { backoff_to(round, 1000); }

void ova_mpi_wait_within(MPI_Request *req, unsigned max_us)
{
    unsigned round = 0;
    int done = 0;
    for (;;) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        backoff_to(&round, max_us);
    }
}

void ova_mpi_wait(MPI_Request *req) { ova_mpi_wait_within(req, 1000); }

void ova_mpi_probe_any(MPI_Comm comm, MPI_Status *ms)
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

void ova_engine_wake(ova_engine *e)
{
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, 0, TAG_WAKE, e->comm);
}

void ova_engine_fail0(ova_engine *e, int from, ova_status st, const char *msg)
{
    pthread_mutex_lock(&e->mu);
    if (!e->failed) {
        e->failed = 1;
        e->first_from = from;
        ova_err_set(&e->first_err, st, "%s", msg);
    }
    int wake = e->service_running;
    ova_unit_pool_stop(e->pool); /* threads waiting for a buffer end */
    pthread_cond_broadcast(&e->cv_grant);
    pthread_cond_broadcast(&e->cv_write);
    pthread_mutex_unlock(&e->mu);
    if (wake)
        ova_engine_wake(e);
}

void ova_mpi_drain(MPI_Comm comm, const MPI_Status *ms, int count)
{
    unsigned char small[256];
    unsigned char *buf = (size_t)count <= sizeof small ? small : malloc((size_t)count);
    if (buf != NULL) {
        MPI_Recv(buf, count, MPI_BYTE, ms->MPI_SOURCE, ms->MPI_TAG, comm, MPI_STATUS_IGNORE);
        if (buf != small)
            free(buf);
        return;
    }
    MPI_Errhandler eh;
    MPI_Comm_get_errhandler(comm, &eh);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Recv(small, 1, MPI_BYTE, ms->MPI_SOURCE, ms->MPI_TAG, comm, MPI_STATUS_IGNORE);
    MPI_Comm_set_errhandler(comm, eh);
    MPI_Errhandler_free(&eh);
}
