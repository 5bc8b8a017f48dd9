/* mpi_fleet.h - the fleet engine's state and the pieces its files share
 * (internal to src/engine). ova_export_fleet (mpi_fleet.c) plans every VM
 * on rank 0 and hands the plans out; the compress phase is rank 0's queue
 * and the service loop (mpi_fleet_run.c), the compression threads
 * (mpi_fleet_workers.c) and the write thread (mpi_fleet_writer.c).
 *
 * Roles: rank 0 dispatches (one queue of units over every VM, largest VM
 * first); every rank compresses; each VM has one writer rank that receives
 * its units, writes and hashes its OVA. A writer writes its VMs one after
 * another, so a rank holds at most one VM's window of results: memory per
 * rank stays what --mem-limit sized for one export.
 *
 * Messages (on a private duplicate of the caller's communicator):
 *   REQ    worker -> 0       int32 thread index: "give me a unit"
 *   GRANT  0 -> worker       int64 {queue index, unit}, or {-1, -1} = stop; tag GRANT + thread
 *   RETIRE 0 -> other ranks  int64 queue index: that VM gets no more units (failed, done or
 *                            fully granted): close its readers once unused. Each VM on its
 *                            own, so a long VM at the front keeps no finished VM's files open
 *   RESULT worker -> writer  a unit result, hdr.unit = queue index << UNIT_BITS | unit; sent
 *                            synchronously (MPI_Issend), so a worker that has stopped has
 *                            had every result taken in
 *   ERROR  worker -> 0       int64 {queue index, unit, status} + message: that VM fails, the
 *                            thread goes on; or {-1, thread, status} + message: that thread
 *                            cannot work (no compressor or buffer) and takes no more units
 *   OPEN   writer -> 0       fleet_msg: the writer has opened the VM's OVA (or failed to);
 *                            rank 0 grants its units only after this
 *   CREDIT writer -> 0       int64 {queue index, units written, OVA bytes written}: moves
 *                            the VM's window
 *   DONE   writer -> 0       fleet_msg: the VM's OVA is finished or removed
 *   FAILVM 0 -> writer       int64 queue index: drop that VM (a unit of it failed)
 *   FINISH 0 -> every rank   every worker has stopped: no result will come any more
 *   WAKE   self -> self      re-check the service loop's end
 */
#ifndef OVATOOL_MPI_FLEET_H
#define OVATOOL_MPI_FLEET_H

#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "engine/cores.h"
#include "engine/mpi_engine.h"
#include "engine/plan.h"
#include "ovatool/disk.h"
#include "ovatool/export.h"
#include "ovatool/fleet.h"

enum {
    FT_REQ = 1, FT_RESULT, FT_ERROR, FT_OPEN, FT_CREDIT, FT_DONE, FT_FAILVM, FT_FINISH, FT_WAKE, FT_RETIRE,
    FT_GRANT = 100
};

#define OVA_FLEET_UNIT_BITS 40

/* One VM in the queue. */
typedef struct ova_fleet_qvm {
    /* every rank */
    size_t index;                /* in the caller's list */
    int writer;                  /* its writer rank */
    char output[4096];
    ova_plan *plan;
    uint64_t n_units;
    ova_disk_reader **readers;   /* this rank's, one per disk; NULL until its first unit here */
    ova_err reader_err;          /* this rank could not open them: each unit of the VM fails */
    int users, retired;          /* under rd_mu: threads using the readers; no more units will come */
    /* rank 0: dispatch, under mu */
    uint64_t next, head;         /* next unit to grant; units its writer has written */
    uint64_t out_bytes;          /* OVA bytes its writer has written so far */
    int open, failed, done;
    int retire_told;             /* queued for RETIRE (it gets no more units) */
} ova_fleet_qvm;

/* OPEN and DONE: what a writer tells rank 0 about one VM. */
typedef struct ova_fleet_msg {
    int64_t vm;                  /* queue index */
    int32_t status;              /* OVA_OK, or why the VM failed */
    int32_t pad;
    double seconds;
    uint64_t bytes_read, bytes_out, grains_data, grains_stored, bytes_stored;
    char msg[OVA_ERR_MAX];
} ova_fleet_msg;

typedef struct ova_fleet {
    const ova_export_opts *opts;
    const char *const *paths;
    MPI_Comm comm;
    int rank, size;
    char host[MPI_MAX_PROCESSOR_NAME];
    ova_export_hooks hooks;
    ova_fleet_result *res;       /* vms on every rank; the rest on rank 0 */
    ova_fleet_qvm *q;            /* the queue, largest VM first */
    size_t n_q;
    uint32_t unit_grains;
    uint64_t window;             /* units in flight per VM */
    size_t unit_max;
    int n_threads, threads_total, threads_max, remote_threads;
    ova_cores cores;
    struct timespec t0;

    pthread_mutex_t mu;
    pthread_cond_t cv_grant;     /* rank 0: a window moved, a VM opened, failed or ended */
    pthread_cond_t cv_write;     /* a result arrived or the VM being written failed */
    pthread_mutex_t rd_mu;       /* the readers of every VM on this rank */

    /* rank 0: dispatch, under mu */
    size_t low;                  /* VMs before it get no more units */
    long *retire_q;              /* VMs that get no more units, in that order; the service */
    size_t n_retire, retire_sent;/* loop retires them here and sends RETIRE for each */
    ova_pending *pend;
    size_t n_pend;
    int local_stopped;           /* rank 0's own workers that got their stop (or are gone) */
    int gone, gone_logged;       /* threads of the job that could not work; how many were logged */
    int gone_failed;             /* every thread is gone: the VMs left were failed */
    ova_err gone_err;            /* the first gone thread's story, with its rank and host */
    uint64_t done_bytes, total_bytes;

    /* every rank as a writer, under mu */
    long cur;                    /* queue index of the VM being written, -1 none */
    int cur_failed;              /* drop it: rank 0 said so, or a result was malformed */
    ova_err cur_err;             /* the malformed result's story ("" when rank 0 said so) */
    uint64_t cur_head;           /* its units written */
    unsigned char **slots;       /* its results waiting to be written, by unit % window */
    int writer_finished;         /* the write thread went through all this rank's VMs */
    int finish;                  /* FINISH received (rank 0: sent) */
    int gate;                    /* 0: threads wait; 1: go; -1: a rank could not start its threads */

    /* this rank's work, for the summary */
    atomic_uint_fast64_t units, bytes_read, bytes_compressed, vms_written;
    atomic_int fault_fired;      /* the test fault export.unit fired on this rank (util/fault.h) */
} ova_fleet;

/* One compression thread (mpi_fleet_workers.c). */
typedef struct ova_fleet_worker {
    ova_fleet *f;
    int tid;
    unsigned char *blob;         /* its result buffer, reused while results go over the wire */
} ova_fleet_worker;

/* Threads: run on pthreads, each waits at the gate first. */
void *ova_fleet_worker_main(void *w);   /* arg: an ova_fleet_worker */
void *ova_fleet_write_main(void *f);    /* this rank's VMs, one after another (mpi_fleet_writer.c) */
/* Wait until every rank has started its threads: 1 go, 0 give up. */
int ova_fleet_gate(ova_fleet *f);

/* rank 0's queue (mpi_fleet_run.c). The next unit to grant, under mu: 1
 * and *k, *u; 0: none now; -1: none will come. */
int ova_fleet_decide(ova_fleet *f, int64_t *k, int64_t *u);
/* This rank: VM k gets no more units; its readers close once unused
 * (mpi_fleet_workers.c). */
void ova_fleet_readers_retire(ova_fleet *f, long k);
/* rank 0, any thread: VM k fails; the first reason is kept, its writer drops it. */
void ova_fleet_fail_vm(ova_fleet *f, long k, ova_status st, const char *msg);
/* rank 0, any thread: a thread of the job cannot work (msg names its rank
 * and host); when none can, the VMs left fail with the first one's story
 * (the service loop does it). The caller counts the thread as stopped. */
void ova_fleet_thread_gone(ova_fleet *f, ova_status st, const char *msg);
/* A WAKE to this rank's own service loop. */
void ova_fleet_wake(ova_fleet *f);

/* This rank as a writer (mpi_fleet_writer.c). Stop writing VM k: why NULL
 * when rank 0 decided it, else the writer's own reason. */
void ova_fleet_writer_drop(ova_fleet *f, long k, const char *why);
/* A result for a VM this rank writes, count bytes, made by rank from:
 * into its slot, or freed when its VM failed or is not this rank's now.
 * Takes blob. */
void ova_fleet_file_result(ova_fleet *f, unsigned char *blob, size_t count, int from);

/* The compress phase on this rank: workers, the write thread and the
 * service loop; returns when every rank's work is over (mpi_fleet_run.c).
 * Collective. Each VM's outcome lands in f->res on rank 0; an error is
 * returned only when some rank could not start its threads (then nothing
 * ran). */
ova_status ova_fleet_run(ova_fleet *f, ova_err *err);

#endif
