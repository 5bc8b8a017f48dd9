/* mpi_engine.h - the export engine's state and the pieces its files share
 * (internal to src/engine). ova_export (mpi_export.c) runs the phases;
 * mpi_workers.c holds the compression threads of every rank,
 * mpi_write_loop.c rank 0's thread that puts results into the OVA in
 * unit order, mpi_service.c rank 0's loop that answers other ranks.
 *
 * Messages (all on a private duplicate of the caller's communicator):
 *   REQ    worker thread -> rank 0   int32 thread index: "give me a unit"
 *   GRANT  rank 0 -> worker thread   int64 unit (or -1 = stop) and int64 cleared (1: rank 0
 *                                    has room for its result, send it when done; 0: send
 *                                    READY first); tag GRANT + thread index
 *   READY  worker thread -> rank 0   int64 unit + int64 thread index: "my result is done"
 *   CLEAR  rank 0 -> worker thread   int64 unit: "send it now"; tag CLEAR + thread index
 *   RESULT worker thread -> rank 0   a unit result (ova_unit_hdr + records)
 *   ERROR  worker thread -> rank 0   int64 unit (or -1) + message text; the thread then ends
 *   WAKE   rank 0 -> rank 0          wakes the service loop after the window moved or
 *                                    the job failed, so pending requests get answered
 *
 * Distributed writing (mpi_dwrite.c, README "Scaling past one node"): another
 * rank's RESULT is its header and an int64 thread index only (the records stay
 * in the thread's buffer, which the rank's holder thread now owns), and then:
 *   WRITE  rank 0 -> holder thread   uint64 unit, int64 offset (-1: drop it, the job
 *                                    failed) and the member's digest state
 *   HASHED holder thread -> rank 0   the digest state continued over the records. The
 *                                    holder then pwrite()s them at the offset.
 *   ERROR  with unit -2: the holder thread failed (not a worker thread's stop)
 */
#ifndef OVATOOL_MPI_ENGINE_H
#define OVATOOL_MPI_ENGINE_H

#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "engine/cores.h"
#include "engine/disk_order.h"
#include "engine/ova_writer.h"
#include "engine/plan.h"
#include "engine/unit_pool.h"
#include "ovatool/disk.h"
#include "ovatool/export.h"
#include "ovatool/prepare.h"

enum { TAG_REQ = 1, TAG_RESULT, TAG_ERROR, TAG_WAKE, TAG_READY, TAG_GRANT = 100, TAG_CLEAR = 100 + 1024,
       TAG_WRITE = 100 + 2048, TAG_HASHED = 100 + 3072 };

typedef struct ova_pending { int src, tid; } ova_pending; /* a request waiting for the window */
/* a finished remote result waiting for room at rank 0 */
typedef struct ova_ready { int src, tid; uint64_t unit; } ova_ready;

/* A unit the holder thread of distributed writing has (mpi_dwrite.c): its
 * header went to rank 0, its records wait in blob, w's buffer. */
struct ova_worker;
/* The units one worker thread may have with the holder at once (its
 * buffers: prepare.c sizes units so that two per thread fit --mem-limit). */
#define OVA_DWRITE_HELD_PER_THREAD 2
typedef struct dw_held {
    uint64_t unit;
    unsigned char *blob;
    struct ova_worker *w;
} dw_held;

typedef struct ova_engine {
    const ova_export_opts *opts;
    MPI_Comm comm;
    int rank, size;
    char host[MPI_MAX_PROCESSOR_NAME];
    ova_prepared *prep;        /* rank 0 */
    ova_plan *plan;
    ova_disk_reader **readers;
    uint64_t n_units;
    size_t unit_max;
    ova_export_hooks hooks;

    /* threads of this rank; rank 0: the most threads any rank runs */
    int n_threads;
    int n_threads_max;
    ova_cores cores;

    /* rank 0: dispatch and write state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_grant;   /* window moved or job ended */
    pthread_cond_t cv_write;   /* a result arrived or job ended */
    /* Units go out and are written in one order: the plan's, or with
     * parallel disks disk_order.h's. next_unit and write_head, the window
     * and the hold count positions in that order ("sequence numbers",
     * ova_engine_seq), which are the units themselves in plan order. */
    uint64_t next_unit;        /* sequence number of the next unit to grant */
    uint64_t write_head;       /* sequence number of the next unit to write */
    int parallel_disks;        /* --parallel-disks engaged (disk_order.h) */
    ova_disk_order grant_order; /* with it: the units to grant, in order */
    /* Two windows (mpi_export.c sizes them). Units are granted while
     * unit < write_head + window: enough for every thread of the job to
     * have one. Rank 0 takes in or files a result only while unit <
     * write_head + hold: what rank 0's own memory limit holds beside its
     * threads' units; results beyond it wait at their senders (READY and
     * CLEAR) or in rank 0's threads. Alone, hold == window. */
    uint64_t window;
    uint64_t hold;
    unsigned char **slots;     /* results waiting to be written, by unit % hold */
    ova_unit_pool *pool;       /* every result's buffer (unit_pool.h); slots hold them */
    int failed;
    ova_err first_err;
    int first_from;            /* the rank whose failure first_err reports (0: rank 0's own) */
    int service_running;
    ova_pending *pend;
    size_t n_pend;
    ova_ready *ready;          /* finished remote results not yet cleared to come in */
    size_t n_ready;
    ova_writer *writer;
    uint64_t first_unit;       /* a resumed export's first unit (resume.h), else 0 */
    uint64_t first_bytes;      /* disk bytes before it */
    ova_export_stats *stats;
    struct timespec t0;

    /* distributed writing (mpi_dwrite.c) */
    int dw_candidate;          /* every rank: asked for and possible, pending the file check */
    int dwrite;                /* every rank: engaged */
    int dw_fd;                 /* other ranks: the temporary output, open for writing */
    char *dw_path;             /* its name, for messages */
    int *slot_src;             /* rank 0: by slot, the rank holding a unit's records (-1: here) */
    dw_held *held;             /* other ranks: units whose header went to rank 0, not yet written */
    size_t n_held;
    int dw_workers;            /* other ranks: worker threads still running */
    pthread_cond_t dw_cv;      /* other ranks: a held unit was written or dropped, or a worker ended */
    _Atomic unsigned long long dw_bytes; /* this rank's bytes written into the output */

    /* other ranks */
    atomic_int local_abort;
    ova_err local_err;         /* this rank's own failure, for its return value */
} ova_engine;

/* One compression thread (mpi_workers.c). */
struct ova_unit_io;
typedef struct ova_worker {
    ova_engine *e;
    const struct ova_unit_io *io; /* how it takes and delivers units: rank 0's or another rank's */
    int tid;
    unsigned char *blob;          /* a result buffer it still holds; freed when it ends */
    int cleared;                  /* other ranks: rank 0 has room for the current unit's result */
    int held;                     /* other ranks, distributed writing: its units the holder has */
    unsigned char *spare;         /* and a buffer the holder gave back */
} ova_worker;

/* Set up worker tid of e's rank; then run ova_worker_main(w) on a thread. */
void ova_worker_init(ova_worker *w, ova_engine *e, int tid);
void *ova_worker_main(void *w);
/* Another rank: a worker that could not be started still owes rank 0 its
 * stop (an ERROR message, saying why), and fails this rank. */
void ova_worker_not_started(ova_engine *e, const char *why);

/* Rank 0's write loop (mpi_write_loop.c): a thread, arg the engine. */
void *ova_engine_write_loop(void *e);
/* Report progress through the hooks (rank 0). */
void ova_engine_report_progress(ova_engine *e, uint64_t done, int final);

/* Rank 0's service loop (mpi_service.c): answers requests, files results
 * and errors until every remote thread has stopped and no unit is out. */
void ova_engine_service(ova_engine *e, int remote_threads);

/* Distributed writing (mpi_dwrite_setup.c: decide, open, finish; mpi_dwrite.c:
 * the run). All collective except where said. */
/* Before the plan: whether to try it (--distributed-write, the hosts the
 * job spans) and whether every rank continues a digest state alike. */
ova_status ova_dwrite_decide(ova_engine *e, ova_err *err);
/* After the plan: every rank opens rank 0's temporary output and reads
 * its token; sets e->dwrite on every rank, or falls back (auto). */
ova_status ova_dwrite_open(ova_engine *e, ova_err *err);
/* Another rank's worker thread (not collective): a buffer for its next
 * unit, waiting while the holder has OVA_DWRITE_HELD_PER_THREAD of its
 * units (two buffers per thread: the planner sizes units so that two per
 * thread fit in --mem-limit); NULL: out of memory. */
unsigned char *ova_dwrite_buffer(ova_worker *w);
/* Hand the finished result in w->blob to the rank's holder thread and
 * send rank 0 its header; w->blob is then NULL. */
void ova_dwrite_deliver(ova_worker *w);
/* Another rank: the holder thread (arg: the engine), which answers WRITE
 * for every held unit, until the rank's workers have ended and nothing is
 * held. A worker thread's end: ova_dwrite_worker_done. */
void *ova_dwrite_holder_main(void *e);
void ova_dwrite_worker_done(ova_engine *e);
/* Rank 0's write loop (not collective): put the held unit in blob into
 * the writer, the holder src writing its records. */
ova_status ova_dwrite_place(ova_engine *e, unsigned char *blob, int src, ova_err *err);
/* Rank 0 (not collective): tell holder src that unit will not be written. */
void ova_dwrite_drop(ova_engine *e, int src, uint64_t unit);
/* Rank 0, after a failure (not collective): every unit in a slot that
 * another rank holds is dropped (ova_dwrite_drop), so its holder thread
 * stops waiting for WRITE. The service loop calls it while it runs;
 * phase_run once the service loop and the writer have ended, for a failure
 * that came after the loop (its holders would otherwise wait for ever). */
void ova_engine_drop_held(ova_engine *e);
/* Report this rank's failure to rank 0 (TAG_ERROR, unit -1 when a worker
 * thread stops with it, -2 from the holder thread). */
void ova_engine_send_error(ova_engine *e, int64_t unit, const char *msg);
/* Before the finish: every rank's bytes durable, agreed; rank 0 learns the
 * bytes each rank wrote. */
ova_status ova_dwrite_finish(ova_engine *e, ova_err *err);

/* Shared pieces (mpi_engine.c). */
/* Rank 0, under mu: the next unit to grant (the caller checked that one
 * is left and the window has room), and a unit's sequence number. */
uint64_t ova_engine_grant_next(ova_engine *e);
uint64_t ova_engine_seq(const ova_engine *e, uint64_t unit);
double ova_engine_seconds(const struct timespec *t0);
/* A message for the log hook; only rank 0 logs. */
void ova_engine_log(ova_engine *e, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Rank 0: record the first failure and stop handing out work. from is the
 * rank that failed: a failure another rank reported (TAG_ERROR) is recorded
 * as OVA_E_ABORTED here, and the final agreement takes that rank's own
 * status and message (mpi_agree.h). */
void ova_engine_fail0(ova_engine *e, int from, ova_status st, const char *msg);
/* Wake rank 0's service loop (a WAKE to itself). */
void ova_engine_wake(ova_engine *e);
/* Take a probed message off the wire without keeping it (count bytes).
 * Without memory for it, a 1-byte receive with errors returned still
 * consumes it (MPI_ERR_TRUNCATE) instead of handing MPI_Recv a NULL
 * buffer; the handler is comm's only for that call. */
void ova_mpi_drain(MPI_Comm comm, const MPI_Status *ms, int count);
/* Bytes read per pread by the compression threads: 32 grains. */
#define OVA_READ_CHUNK (2u << 20)
/* Wait for a request, or for any message, polling with back-off. */
void ova_mpi_wait(MPI_Request *req);
/* The same, sleeping at most max_us between polls: for waits on the
 * digest chain of distributed writing, which is serial, so every
 * microsecond of a wait there is a microsecond of the whole export. */
void ova_mpi_wait_within(MPI_Request *req, unsigned max_us);
void ova_mpi_probe_any(MPI_Comm comm, MPI_Status *ms);

#endif
