/* mpi_export.c - the export engine over MPI (see export.h for the design).
 *
 * Messages (all on a private duplicate of the caller's communicator):
 *   REQ    worker thread -> rank 0   int32 thread index: "give me a unit"
 *   GRANT  rank 0 -> worker thread   int64 unit, or -1 = stop; tag GRANT + thread index
 *   RESULT worker thread -> rank 0   a unit result (ova_unit_hdr + records)
 *   ERROR  worker thread -> rank 0   int64 unit (or -1) + message text; the thread then ends
 *   WAKE   rank 0 -> rank 0          wakes the service loop after the window moved or
 *                                    the job failed, so pending requests get answered
 */
#include "ovatool/export.h"

#include <errno.h>
#include <limits.h>
#include <hwloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovatool/disk.h"
#include "engine/ova_writer.h"
#include "engine/plan.h"
#include "engine/unit.h"
#include "ovatool/vm.h"

enum { TAG_REQ = 1, TAG_RESULT, TAG_ERROR, TAG_WAKE, TAG_GRANT = 100 };

#define READ_CHUNK (2u << 20)  /* 32 grains per pread */
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
}

typedef struct pending { int src, tid; } pending;

typedef struct engine {
    const ova_export_opts *opts;
    MPI_Comm comm;
    int rank, size;
    char host[MPI_MAX_PROCESSOR_NAME];
    ova_plan *plan;
    ova_disk_reader **readers;
    uint64_t n_units;
    size_t unit_max;
    ova_export_hooks hooks;

    /* threads of this rank */
    int n_threads;
    hwloc_topology_t topo;
    hwloc_bitmap_t *cores;     /* allowed cores to pin to */
    int n_cores;

    /* rank 0: dispatch and write state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_grant;   /* window moved or job ended */
    pthread_cond_t cv_write;   /* a result arrived or job ended */
    uint64_t next_unit;        /* next unit to grant */
    uint64_t write_head;       /* next unit to write */
    uint64_t window;
    unsigned char **slots;     /* results waiting to be written, by unit % window */
    int failed;
    ova_err first_err;
    int service_running;
    pending *pend;
    size_t n_pend;
    ova_writer *writer;
    ova_export_stats *stats;
    struct timespec t0;

    int fail_rank;             /* test hook, -1 normally */

    /* other ranks */
    atomic_int local_abort;
    ova_err local_err;         /* this rank's own failure, for its return value */
} engine;

static double now_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void logf_(engine *e, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(engine *e, int level, const char *fmt, ...)
{
    if (e->hooks.log == NULL || e->rank != 0)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    e->hooks.log(e->hooks.ctx, level, msg);
}

/* Blocking MPI calls in Open MPI spin on a core while they wait. The
 * service thread and idle workers wait a lot, and that spinning would take
 * a core from compression (half the machine on a 2-core node), so waits
 * poll with a short back-off instead: spin briefly for latency, then sleep
 * 10 us growing to 1 ms. */
static void backoff(unsigned *round)
{
    if (*round < 64) {
        (*round)++;
        return;
    }
    unsigned us = 10u << ((*round - 64) / 8 < 7 ? (*round - 64) / 8 : 7);
    if (us > 1000)
        us = 1000;
    (*round)++;
    struct timespec ts = { 0, (long)us * 1000 };
    nanosleep(&ts, NULL);
}

static void wait_request(MPI_Request *req)
{
    unsigned round = 0;
    int done = 0;
    for (;;) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        backoff(&round);
    }
}

static void probe_any(MPI_Comm comm, MPI_Status *ms)
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

static void send_wake(engine *e)
{
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, 0, TAG_WAKE, e->comm);
}

/* rank 0: record the first failure and stop handing out work. */
static void fail0(engine *e, const char *msg)
{
    pthread_mutex_lock(&e->mu);
    if (!e->failed) {
        e->failed = 1;
        ova_err_set(&e->first_err, OVA_E_IO, "%s", msg);
    }
    int wake = e->service_running;
    pthread_cond_broadcast(&e->cv_grant);
    pthread_cond_broadcast(&e->cv_write);
    pthread_mutex_unlock(&e->mu);
    if (wake)
        send_wake(e);
}

/* ---- threads and cores ------------------------------------------------- */

/* The cores this process may run on (its cpuset from mpirun, srun or
 * cgroups), one bitmap each, so threads can be spread one per core. */
static void find_cores(engine *e)
{
    hwloc_topology_init(&e->topo);
    if (hwloc_topology_load(e->topo) != 0)
        return;
    hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(e->topo, allowed, HWLOC_CPUBIND_PROCESS) != 0)
        hwloc_bitmap_copy(allowed, hwloc_topology_get_allowed_cpuset(e->topo));
    int n = hwloc_get_nbobjs_by_type(e->topo, HWLOC_OBJ_CORE);
    e->cores = calloc(n > 0 ? (size_t)n : 1, sizeof *e->cores);
    for (int i = 0; e->cores && i < n; i++) {
        hwloc_obj_t c = hwloc_get_obj_by_type(e->topo, HWLOC_OBJ_CORE, i);
        if (c == NULL || !hwloc_bitmap_intersects(c->cpuset, allowed))
            continue;
        hwloc_bitmap_t set = hwloc_bitmap_dup(c->cpuset);
        hwloc_bitmap_and(set, set, allowed);
        e->cores[e->n_cores++] = set;
    }
    hwloc_bitmap_free(allowed);
}

static void pin_thread(engine *e, int i)
{
    if (!e->opts->pin || e->n_cores == 0)
        return;
    hwloc_bitmap_t set = hwloc_bitmap_dup(e->cores[i % e->n_cores]);
    hwloc_bitmap_singlify(set);
    hwloc_set_cpubind(e->topo, set, HWLOC_CPUBIND_THREAD); /* best effort: unpinned still works */
    hwloc_bitmap_free(set);
}

static void free_cores(engine *e)
{
    for (int i = 0; i < e->n_cores; i++)
        hwloc_bitmap_free(e->cores[i]);
    free(e->cores);
    hwloc_topology_destroy(e->topo);
}

/* ---- worker threads ----------------------------------------------------- */

typedef struct worker_arg {
    engine *e;
    int tid;
} worker_arg;

/* rank 0: take the next unit, waiting while the window is full. -1 = done. */
static int64_t take_local(engine *e)
{
    pthread_mutex_lock(&e->mu);
    while (!e->failed && e->next_unit < e->n_units && e->next_unit >= e->write_head + e->window)
        pthread_cond_wait(&e->cv_grant, &e->mu);
    int64_t u = -1;
    if (!e->failed && e->next_unit < e->n_units)
        u = (int64_t)e->next_unit++;
    pthread_mutex_unlock(&e->mu);
    return u;
}

static void deliver_local(engine *e, unsigned char *blob)
{
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
    pthread_mutex_lock(&e->mu);
    e->slots[h->unit % e->window] = blob;
    pthread_cond_broadcast(&e->cv_write);
    pthread_mutex_unlock(&e->mu);
}

/* Test hook: OVATOOL_TEST_FAIL_RANK=R makes rank R fail its first unit, so
 * the tests can prove that a failure on any rank stops the whole job
 * cleanly. Unset (the normal case) it costs one getenv at start-up. */
static int test_fail_rank(void)
{
    const char *s = getenv("OVATOOL_TEST_FAIL_RANK");
    return s != NULL && *s ? atoi(s) : -1;
}

static ova_status compress_unit(engine *e, ova_unit_worker *uw, uint64_t u, unsigned char *blob, ova_err *err)
{
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(e->plan, u, &d, &first, &n);
    if (e->fail_rank == e->rank)
        return ova_err_set(err, OVA_E_IO, "%s: injected read failure at byte %llu (OVATOOL_TEST_FAIL_RANK)",
                           e->plan->disks[d]->path, (unsigned long long)(first * OVA_GRAIN_SIZE));
    return ova_unit_compress(uw, e->plan, e->readers[d], u, blob, err);
}

static void *worker_rank0(void *p)
{
    worker_arg *a = p;
    engine *e = a->e;
    pin_thread(e, a->tid);
    ova_err err;
    ova_err_clear(&err);
    ova_unit_worker *uw = NULL;
    if (ova_unit_worker_new(e->opts->codec, e->opts->level, READ_CHUNK, &uw, &err) != OVA_OK) {
        fail0(e, err.msg);
        return NULL;
    }
    ova_unit_worker_store_incompressible(uw, e->opts->store_incompressible);
    for (;;) {
        int64_t u = take_local(e);
        if (u < 0)
            break;
        unsigned char *blob = malloc(e->unit_max);
        if (blob == NULL) {
            fail0(e, "rank 0: out of memory for a unit buffer");
            break;
        }
        if (compress_unit(e, uw, (uint64_t)u, blob, &err) != OVA_OK) {
            free(blob);
            fail0(e, err.msg);
            break;
        }
        deliver_local(e, blob);
    }
    ova_unit_worker_free(&uw);
    return NULL;
}

static void send_error(engine *e, int64_t unit, const char *msg)
{
    char buf[8 + OVA_ERR_MAX + 128];
    memcpy(buf, &unit, 8);
    int n = snprintf(buf + 8, sizeof buf - 8, "rank %d on %s: %s", e->rank, e->host, msg);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf - 8)
        n = (int)(sizeof buf - 9);
    MPI_Send(buf, 8 + n + 1, MPI_CHAR, 0, TAG_ERROR, e->comm);
}

static void *worker_remote(void *p)
{
    worker_arg *a = p;
    engine *e = a->e;
    pin_thread(e, a->tid);
    ova_err err;
    ova_err_clear(&err);
    ova_unit_worker *uw = NULL;
    unsigned char *blob = malloc(e->unit_max);
    if (blob == NULL || ova_unit_worker_new(e->opts->codec, e->opts->level, READ_CHUNK, &uw, &err) != OVA_OK) {
        if (blob == NULL)
            ova_err_set(&err, OVA_E_NOMEM, "out of memory for a unit buffer");
        free(blob);
        atomic_store(&e->local_abort, 1);
        send_error(e, -1, err.msg);
        return NULL;
    }
    ova_unit_worker_store_incompressible(uw, e->opts->store_incompressible);
    int32_t tid = a->tid;
    for (;;) {
        int64_t u;
        MPI_Request req;
        MPI_Irecv(&u, 1, MPI_INT64_T, 0, TAG_GRANT + tid, e->comm, &req);
        MPI_Send(&tid, 1, MPI_INT32_T, 0, TAG_REQ, e->comm);
        wait_request(&req);
        if (u < 0)
            break;
        if (atomic_load(&e->local_abort)) {
            /* a sibling failed; answer for the unit without doing it */
            ova_unit_hdr h;
            memset(&h, 0, sizeof h);
            h.unit = (uint64_t)u;
            h.status = OVA_UNIT_SKIPPED;
            MPI_Send(&h, (int)sizeof h, MPI_BYTE, 0, TAG_RESULT, e->comm);
            continue;
        }
        if (compress_unit(e, uw, (uint64_t)u, blob, &err) != OVA_OK) {
            atomic_store(&e->local_abort, 1);
            pthread_mutex_lock(&e->mu);
            ova_err_set(&e->local_err, err.status, "%s", err.msg);
            pthread_mutex_unlock(&e->mu);
            send_error(e, u, err.msg);
            break;
        }
        const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
        MPI_Request sreq;
        MPI_Isend(blob, (int)(sizeof *h + h->records_len), MPI_BYTE, 0, TAG_RESULT, e->comm, &sreq);
        wait_request(&sreq);
    }
    ova_unit_worker_free(&uw);
    free(blob);
    return NULL;
}

/* ---- rank 0: writer thread and service loop ------------------------------ */

static void report_progress(engine *e, uint64_t done, int final)
{
    if (e->hooks.progress == NULL)
        return;
    ova_progress p = { done < e->stats->bytes_in ? done : e->stats->bytes_in, e->stats->bytes_in,
                       ova_writer_bytes(e->writer), now_since(&e->t0), final };
    e->hooks.progress(e->hooks.ctx, &p);
}

static void *writer_main(void *p)
{
    engine *e = p;
    ova_err err;
    ova_err_clear(&err);
    uint64_t done_bytes = 0;
    double next_progress = e->opts->progress_secs;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->failed && e->write_head < e->n_units && e->slots[e->write_head % e->window] == NULL)
            pthread_cond_wait(&e->cv_write, &e->mu);
        if (e->failed || e->write_head >= e->n_units) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        unsigned char *blob = e->slots[e->write_head % e->window];
        e->slots[e->write_head % e->window] = NULL; /* ours now, whatever happens */
        pthread_mutex_unlock(&e->mu);

        const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
        e->stats->bytes_read += h->bytes_read;
        e->stats->grains_data += h->n_data;
        e->stats->grains_stored += h->n_stored;
        e->stats->bytes_stored += (uint64_t)h->n_stored * OVA_GRAIN_SIZE;
        done_bytes += (uint64_t)h->n_grains * OVA_GRAIN_SIZE;
        /* the writer frees the blob once its records are in the file */
        ova_status st = ova_writer_unit(e->writer, h, blob + sizeof *h, free, blob, &err);
        if (st != OVA_OK) {
            fail0(e, err.msg);
            break;
        }
        ova_writer_note_progress(done_bytes < e->stats->bytes_in ? done_bytes : e->stats->bytes_in,
                                 e->stats->bytes_in);
        pthread_mutex_lock(&e->mu);
        e->write_head++;
        int wake = e->service_running && e->n_pend > 0;
        pthread_cond_broadcast(&e->cv_grant);
        pthread_mutex_unlock(&e->mu);
        if (wake)
            send_wake(e);
        if (e->opts->progress_secs > 0) {
            double t = now_since(&e->t0);
            if (t >= next_progress) {
                report_progress(e, done_bytes, e->write_head == e->n_units);
                next_progress = t + e->opts->progress_secs;
            }
        }
    }
    return NULL;
}

/* Decide the answer to one request (under mu): a unit, -1 = stop, or -2 = wait. */
static int64_t decide(engine *e)
{
    if (e->failed || e->next_unit >= e->n_units)
        return -1;
    if (e->next_unit >= e->write_head + e->window)
        return -2;
    return (int64_t)e->next_unit++;
}

/* Take a message rank 0 will not keep off the wire. Without memory for it,
 * a 1-byte receive with errors returned still consumes it (MPI_ERR_TRUNCATE)
 * instead of handing MPI_Recv a NULL buffer; the handler is this
 * communicator's only for that call. */
static void drain(engine *e, const MPI_Status *ms, int count)
{
    unsigned char small[256];
    unsigned char *buf = (size_t)count <= sizeof small ? small : malloc((size_t)count);
    if (buf != NULL) {
        MPI_Recv(buf, count, MPI_BYTE, ms->MPI_SOURCE, ms->MPI_TAG, e->comm, MPI_STATUS_IGNORE);
        if (buf != small)
            free(buf);
        return;
    }
    MPI_Errhandler eh;
    MPI_Comm_get_errhandler(e->comm, &eh);
    MPI_Comm_set_errhandler(e->comm, MPI_ERRORS_RETURN);
    MPI_Recv(small, 1, MPI_BYTE, ms->MPI_SOURCE, ms->MPI_TAG, e->comm, MPI_STATUS_IGNORE);
    MPI_Comm_set_errhandler(e->comm, eh);
    MPI_Errhandler_free(&eh);
}

/* A unit result from another rank, before rank 0 files it (under mu): a
 * unit it granted and has not written, the header and records as long as
 * the message, as many grains as the plan gives the unit, and every grain's
 * sector inside the records. The writer trusts all of this, and a slot
 * index taken from a bad header would overwrite another unit's result.
 * NULL if it is sound, else what is wrong. */
static const char *bad_result(const engine *e, const ova_unit_hdr *h, size_t count)
{
    if (count < sizeof *h || count - sizeof *h != h->records_len || h->records_len % OVA_SECTOR != 0)
        return "its length does not match its header";
    if (h->unit >= e->n_units || h->unit < e->write_head || h->unit >= e->next_unit ||
        e->slots[h->unit % e->window] != NULL)
        return "it names a unit that was not granted or is already in";
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(e->plan, h->unit, &d, &first, &n);
    if (h->n_grains != n || h->n_data > n || h->n_stored > h->n_data)
        return "its grain counts do not match the plan";
    uint32_t data = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (h->rel[i] == 0)
            continue;
        if ((uint64_t)h->rel[i] - 1 >= h->records_len / OVA_SECTOR)
            return "a grain lies outside its records";
        data++;
    }
    if (data != h->n_data)
        return "its grain counts do not match the plan";
    return NULL;
}

static void service_loop(engine *e, int remote_threads)
{
    int stopped = 0;
    uint64_t outstanding = 0;
    while (stopped < remote_threads || outstanding > 0) {
        MPI_Status ms;
        probe_any(e->comm, &ms);
        int count = 0;
        MPI_Get_count(&ms, MPI_BYTE, &count);
        if (ms.MPI_TAG == TAG_REQ) {
            int32_t tid;
            MPI_Recv(&tid, 1, MPI_INT32_T, ms.MPI_SOURCE, TAG_REQ, e->comm, MPI_STATUS_IGNORE);
            pthread_mutex_lock(&e->mu);
            int64_t u = decide(e);
            if (u == -2)
                e->pend[e->n_pend++] = (pending){ ms.MPI_SOURCE, tid };
            pthread_mutex_unlock(&e->mu);
            if (u != -2) {
                MPI_Send(&u, 1, MPI_INT64_T, ms.MPI_SOURCE, TAG_GRANT + tid, e->comm);
                if (u < 0)
                    stopped++;
                else
                    outstanding++;
            }
        } else if (ms.MPI_TAG == TAG_RESULT) {
            int fits = count > 0 && (size_t)count <= e->unit_max;
            unsigned char *blob = fits ? malloc((size_t)count) : NULL;
            if (blob == NULL) {
                /* nowhere to keep it: take it off the wire, drop it and fail */
                drain(e, &ms, count);
                outstanding--;
                char msg[160];
                snprintf(msg, sizeof msg, fits ? "rank 0: out of memory receiving a unit from rank %d"
                                               : "rank 0: rank %d sent a unit larger than a unit can be",
                         ms.MPI_SOURCE);
                fail0(e, msg);
                continue;
            }
            MPI_Recv(blob, count, MPI_BYTE, ms.MPI_SOURCE, TAG_RESULT, e->comm, MPI_STATUS_IGNORE);
            outstanding--;
            const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
            int keep = 0;
            const char *bad = NULL;
            pthread_mutex_lock(&e->mu);
            if ((size_t)count < sizeof *h)
                bad = "it is shorter than a unit header";
            else if (!e->failed && h->status == OVA_UNIT_OK && (bad = bad_result(e, h, (size_t)count)) == NULL) {
                e->slots[h->unit % e->window] = blob;
                keep = 1;
                pthread_cond_broadcast(&e->cv_write);
            }
            pthread_mutex_unlock(&e->mu);
            if (bad != NULL) {
                char msg[200];
                snprintf(msg, sizeof msg, "rank 0: rank %d sent a malformed unit result: %s", ms.MPI_SOURCE, bad);
                fail0(e, msg);
            }
            if (!keep)
                free(blob);
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
            stopped++;
            fail0(e, buf != NULL && count > 8 ? buf + 8 : "a remote rank failed");
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
            pending pq = e->pend[--e->n_pend];
            pthread_mutex_unlock(&e->mu);
            MPI_Send(&u, 1, MPI_INT64_T, pq.src, TAG_GRANT + pq.tid, e->comm);
            if (u < 0)
                stopped++;
            else
                outstanding++;
        }
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

/* ---- planning (rank 0) --------------------------------------------------- */

static int64_t pick_mtime(const ova_export_opts *o)
{
    if (o->mtime >= 0)
        return o->mtime;
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde != NULL && *sde) {
        char *end;
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (errno == 0 && *end == '\0' && v >= 0)
            return v;
    }
    struct stat sb;
    if (stat(o->vmx_path, &sb) == 0)
        return (int64_t)sb.st_mtime;
    return 0;
}

/* The unit size: the largest power of two of grains, up to a start size,
 * that still lets every thread have a unit in flight plus as many again
 * for reordering.
 *
 * The start size depends on who compresses. Alone, rank 0's threads fill
 * a fresh result buffer per unit: at a whole grain table (512 grains,
 * 32 MiB) that buffer is over glibc's 32 MiB mmap ceiling, so its pages
 * fault in and are zeroed every time (170,000 faults for the 6 GiB
 * benchmark disk); at 64 grains (4 MiB) freed buffers are reused from the
 * heap (11,000 faults), peak memory halves (105 -> 48 MiB) and an export
 * takes 2-4% less CPU (A/B, 5 runs each). With other ranks, rank 0's limit
 * is its intake of messages, and 32 MiB units carry the same bytes in 8x
 * fewer messages: 15-20% more intake (intake_rate, 512 vs 64 grains);
 * remote threads reuse one buffer, so no faults there. */
static void pick_unit(const ova_export_opts *o, int ranks, int threads_total, uint32_t *unit_grains,
                      uint64_t *window)
{
    uint32_t g = ranks > 1 ? OVA_UNIT_GRAINS_MANY_RANKS : OVA_UNIT_GRAINS_ONE_RANK;
    for (;;) {
        uint64_t w = o->mem_limit / ova_unit_max_size(g);
        if (w >= 2 * (uint64_t)threads_total || g == 16) {
            *unit_grains = g;
            *window = w < 2 ? 2 : w;
            return;
        }
        g /= 2;
    }
}

/* A running (or crashed) VM keeps a lock folder "<file>.lck" beside its VMX
 * and each disk file. Exporting it would copy disks mid-write: refuse, or
 * with --force warn that the OVA may be inconsistent. */
static ova_status check_lock(engine *e, const char *path, int *warned, ova_err *err)
{
    char lck[4096];
    struct stat sb;
    if ((size_t)snprintf(lck, sizeof lck, "%s.lck", path) >= sizeof lck || stat(lck, &sb) != 0)
        return OVA_OK;
    if (!e->opts->force)
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s exists: the VM appears to be running (or did not shut down cleanly); "
                           "power it off, or use --force to export anyway",
                           lck);
    if (!(*warned)++)
        logf_(e, 1, "%s exists: the VM may be running; exporting anyway (--force), the OVA may be inconsistent",
              lck);
    return OVA_OK;
}

static ova_status plan_rank0(engine *e, ova_vm **vm_out, int threads_total, uint64_t *window, ova_err *err)
{
    ova_vm *vm = NULL;
    ova_status st = ova_vm_load(e->opts->vmx_path, &vm, err);
    if (st != OVA_OK)
        return st;
    int warned = 0;
    st = check_lock(e, e->opts->vmx_path, &warned, err);
    for (size_t i = 0; st == OVA_OK && i < vm->n_devices; i++)
        if (vm->devices[i].kind == OVA_DEV_DISK)
            st = check_lock(e, vm->devices[i].path, &warned, err);
    if (st != OVA_OK) {
        ova_vm_free(&vm);
        return st;
    }
    size_t nd = ova_vm_disk_count(vm);
    ova_disk_info **disks = calloc(nd ? nd : 1, sizeof *disks);
    if (disks == NULL) {
        ova_vm_free(&vm);
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < vm->n_devices; i++) {
        const ova_device *dev = &vm->devices[i];
        if (dev->kind != OVA_DEV_DISK)
            continue;
        ova_describe_opts dopts = { vm->vmx_dir, e->opts->confine, e->hooks.log, e->hooks.ctx };
        st = ova_disk_describe_ex(dev->path, &dopts, &disks[k], err);
        for (size_t x = 0; st == OVA_OK && x < disks[k]->n_extents; x++)
            if (disks[k]->extents[x].path != NULL)
                st = check_lock(e, disks[k]->extents[x].path, &warned, err);
        for (int l = 0; st == OVA_OK && l < disks[k]->chain_depth; l++)
            st = check_lock(e, disks[k]->parents[l].path, &warned, err);
        if (st == OVA_OK && disks[k]->chain_depth > 0)
            logf_(e, 1, "%s: %d snapshot level(s) flattened: the OVA holds the VM's current state only",
                  dev->path, disks[k]->chain_depth);
        if (st != OVA_OK) {
            ova_disk_info_free(&disks[k]);
            for (size_t j = 0; j < k; j++)
                ova_disk_info_free(&disks[j]);
            free(disks);
            ova_vm_free(&vm);
            return st;
        }
        k++;
    }
    uint32_t ug;
    pick_unit(e->opts, e->size, threads_total, &ug, window);
    st = ova_plan_new(disks, nd, ug, &e->plan, err);
    if (st != OVA_OK) {
        ova_vm_free(&vm);
        return st;
    }
    *vm_out = vm;
    return OVA_OK;
}

/* The writer's warnings about the output folder, as warnings of the export. */
static void writer_warn(void *ctx, const char *msg)
{
    logf_(ctx, 1, "%s", msg);
}

/* -o FILE, or -o DIR: then the OVA is named after the VM, as ovftool does,
 * with the same sanitising as member names (no '/', no leading '.', no
 * control characters; "vm" when nothing is left). */
static ova_status output_path(const char *output, const ova_vm *vm, char *out, size_t n, ova_err *err)
{
    struct stat sb;
    int len;
    if (stat(output, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char base[81];
        ova_member_base(vm->display_name, base);
        size_t ol = strlen(output);
        len = snprintf(out, n, "%s%s%s.ova", output, ol > 0 && output[ol - 1] == '/' ? "" : "/", base);
    } else {
        len = snprintf(out, n, "%s", output);
    }
    if (len < 0 || (size_t)len >= n)
        return ova_err_set(err, OVA_E_USAGE, "%s: output path too long", output);
    return OVA_OK;
}

/* ---- the collective entry point ---------------------------------------- */

ova_status ova_export(const ova_export_opts *opts, MPI_Comm user_comm, const ova_export_hooks *hooks,
                      ova_export_stats *stats, ova_err *err)
{
    engine E;
    engine *e = &E;
    memset(e, 0, sizeof *e);
    memset(stats, 0, sizeof *stats);
    e->opts = opts;
    if (hooks != NULL)
        e->hooks = *hooks;
    e->stats = stats;
    e->fail_rank = test_fail_rank();
    clock_gettime(CLOCK_MONOTONIC, &e->t0);
    MPI_Comm_dup(user_comm, &e->comm);
    MPI_Comm_rank(e->comm, &e->rank);
    MPI_Comm_size(e->comm, &e->size);
    int hl = 0;
    MPI_Get_processor_name(e->host, &hl);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv_grant, NULL);
    pthread_cond_init(&e->cv_write, NULL);
    atomic_init(&e->local_abort, 0);
    ova_err_clear(&e->first_err);
    ova_err_clear(&e->local_err);

    /* threads per rank, from the cores each rank was given */
    find_cores(e);
    e->n_threads = opts->threads > 0 ? opts->threads : (e->n_cores > 0 ? e->n_cores : 1);
    if (e->n_threads > MAX_THREADS)
        e->n_threads = MAX_THREADS;
    int *threads = calloc((size_t)e->size, sizeof *threads);
    MPI_Gather(&e->n_threads, 1, MPI_INT, threads, 1, MPI_INT, 0, e->comm);
    int threads_total = 0, remote_threads = 0;
    for (int r = 0; e->rank == 0 && threads != NULL && r < e->size; r++) {
        threads_total += threads[r];
        if (r > 0)
            remote_threads += threads[r];
    }
    free(threads);

    /* rank 0 plans and opens the output; the verdict and the plan go to all */
    ova_vm *vm = NULL;
    ova_buf packed = OVA_BUF_INIT;
    ova_status st = OVA_OK;
    uint64_t hdr[2] = { 0, 0 }; /* packed length (0 = failed), window */
    if (e->rank == 0) {
        uint64_t window = 0;
        st = plan_rank0(e, &vm, threads_total, &window, &e->first_err);
        if (st == OVA_OK)
            st = output_path(opts->output, vm, stats->output, sizeof stats->output, &e->first_err);
        if (st == OVA_OK) {
            /* the writer refuses an output that is one of the inputs, and
             * warns of temporary files earlier exports left (ova_writer.h) */
            ova_writer_opts wo = { opts->sha,      opts->target_hw, pick_mtime(opts), opts->buffered_io,
                                   opts->vmx_path, writer_warn,     e };
            st = ova_writer_open(stats->output, vm, e->plan, &wo, &e->writer, &e->first_err);
        }
        if (st == OVA_OK) {
            ova_plan_pack(e->plan, &packed);
            if (ova_buf_failed(&packed))
                st = ova_err_set(&e->first_err, OVA_E_NOMEM, "out of memory packing the plan");
            else if (packed.len > INT_MAX) /* MPI_Bcast counts in int */
                st = ova_err_set(&e->first_err, OVA_E_UNSUPPORTED,
                                 "the export plan is %zu bytes, more than one MPI broadcast carries (%d): the "
                                 "disks have too many extents or too long paths",
                                 packed.len, INT_MAX);
        }
        hdr[0] = st == OVA_OK ? packed.len : 0;
        hdr[1] = window;
    }
    MPI_Bcast(hdr, 2, MPI_UINT64_T, 0, e->comm);
    if (hdr[0] == 0) {
        if (e->rank == 0) {
            ova_err_set(err, e->first_err.status, "%s", e->first_err.msg);
        } else {
            st = ova_err_set(err, OVA_E_ABORTED, "rank 0 failed to plan the export");
        }
        goto out;
    }
    if (e->rank != 0 && packed.len == 0) {
        ova_buf_fill(&packed, 0, (size_t)hdr[0]);
        if (ova_buf_failed(&packed)) {
            /* cannot even receive the plan: report and take part no further
             * than the collectives every rank must reach */
            fprintf(stderr, "ovatool: rank %d: out of memory receiving the plan\n", e->rank);
            MPI_Abort(e->comm, 1);
        }
    }
    MPI_Bcast(packed.data, (int)hdr[0], MPI_BYTE, 0, e->comm);
    if (e->rank != 0) {
        st = ova_plan_unpack(packed.data, packed.len, &e->plan, &e->local_err);
        if (st != OVA_OK) {
            fprintf(stderr, "ovatool: rank %d: %s\n", e->rank, e->local_err.msg);
            MPI_Abort(e->comm, 1);
        }
    }
    ova_buf_free(&packed);
    e->window = hdr[1];
    e->n_units = ova_plan_units(e->plan);
    e->unit_max = ova_unit_max_size(e->plan->unit_grains);

    /* every rank opens its own readers on the shared files */
    e->readers = calloc(e->plan->n_disks ? e->plan->n_disks : 1, sizeof *e->readers);
    for (size_t i = 0; e->readers != NULL && i < e->plan->n_disks; i++)
        if (ova_disk_reader_open(e->plan->disks[i], &e->readers[i], &e->local_err) != OVA_OK)
            break;
    int ok = e->readers != NULL && e->local_err.status == OVA_OK, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, e->comm);
    if (!all_ok) {
        st = ova_err_set(err, OVA_E_NOMEM, "rank %d: could not set up disk readers%s%s", e->rank,
                         e->local_err.status ? ": " : "", e->local_err.msg);
        if (e->rank == 0)
            ova_writer_abort(&e->writer);
        goto out;
    }

    if (e->rank == 0) {
        for (size_t i = 0; i < e->plan->n_disks; i++)
            stats->bytes_in += e->plan->disks[i]->capacity;
        stats->units = e->n_units;
        stats->unit_grains = e->plan->unit_grains;
        stats->window = e->window;
        stats->ranks = e->size;
        stats->threads_total = threads_total;
        ova_writer_note_progress(0, stats->bytes_in);
        logf_(e, 0,
              "exporting %zu disk(s), %.2f GiB, as %llu units of %u grains; %d rank(s), %d compression "
              "thread(s); %s level %d, %s; memory limit %llu MiB per rank (%llu units in flight); output %s",
              e->plan->n_disks, (double)stats->bytes_in / 1073741824.0, (unsigned long long)e->n_units,
              e->plan->unit_grains, e->size, threads_total, ova_codec_name(opts->codec), opts->level,
              opts->store_incompressible ? "incompressible grains stored" : "every grain compressed",
              (unsigned long long)(opts->mem_limit >> 20), (unsigned long long)e->window,
              ova_writer_direct(e->writer) ? "with O_DIRECT" : "through the page cache");
        e->slots = calloc((size_t)e->window, sizeof *e->slots);
        e->pend = calloc((size_t)remote_threads + 1, sizeof *e->pend);
        if (e->slots == NULL || e->pend == NULL)
            fail0(e, "rank 0: out of memory for the unit window");
        e->service_running = e->size > 1;
    }

    /* run: workers on every rank; on rank 0 also the writer and the service loop */
    pthread_t *tids = calloc((size_t)e->n_threads, sizeof *tids);
    worker_arg *args = calloc((size_t)e->n_threads, sizeof *args);
    int started = 0;
    pthread_t writer_tid;
    int writer_started = 0;
    if (tids != NULL && args != NULL) {
        if (e->rank == 0 && !e->failed)
            writer_started = pthread_create(&writer_tid, NULL, writer_main, e) == 0;
        for (int i = 0; i < e->n_threads; i++) {
            args[i] = (worker_arg){ e, i };
            if (pthread_create(&tids[i], NULL, e->rank == 0 ? worker_rank0 : worker_remote, &args[i]) != 0)
                break;
            started++;
        }
    }
    if (e->rank == 0) {
        if (started == 0 || (!writer_started && !e->failed))
            fail0(e, "rank 0: cannot start threads");
        if (e->size > 1)
            service_loop(e, remote_threads);
    } else if (started < e->n_threads) {
        /* threads that never started must still be counted as stopped by rank 0 */
        for (int i = started; i < e->n_threads; i++)
            send_error(e, -1, "cannot start a compression thread");
        atomic_store(&e->local_abort, 1);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (writer_started)
        pthread_join(writer_tid, NULL);
    free(tids);
    free(args);

    if (e->rank == 0) {
        if (!e->failed && e->write_head != e->n_units)
            fail0(e, "rank 0: work ended before every unit was written");
        if (!e->failed) {
            stats->bytes_out = ova_writer_bytes(e->writer) + 2 * 512;
            if (e->opts->progress_secs > 0)
                report_progress(e, stats->bytes_in, 1);
            if (ova_writer_finish(&e->writer, &e->first_err) != OVA_OK)
                e->failed = 1;
        } else {
            ova_writer_abort(&e->writer);
        }
        stats->seconds = now_since(&e->t0);
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

    /* everyone learns the verdict */
    int bad = e->rank == 0 ? e->failed : e->local_err.status != OVA_OK || atomic_load(&e->local_abort);
    int any_bad = 0;
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, e->comm);
    if (any_bad) {
        if (e->rank == 0)
            st = ova_err_set(err, e->first_err.status ? e->first_err.status : OVA_E_IO, "%s", e->first_err.msg);
        else if (e->local_err.status != OVA_OK)
            st = ova_err_set(err, e->local_err.status, "%s", e->local_err.msg);
        else
            st = ova_err_set(err, OVA_E_ABORTED, "stopped because another rank failed");
    }

out:
    for (size_t i = 0; e->readers != NULL && e->plan != NULL && i < e->plan->n_disks; i++)
        ova_disk_reader_close(&e->readers[i]);
    free(e->readers);
    /* results never written (after a failure) */
    for (uint64_t i = 0; e->slots != NULL && i < e->window; i++)
        free(e->slots[i]);
    free(e->slots);
    free(e->pend);
    ova_writer_abort(&e->writer);
    ova_plan_free(&e->plan);
    ova_vm_free(&vm);
    free_cores(e);
    pthread_cond_destroy(&e->cv_grant);
    pthread_cond_destroy(&e->cv_write);
    pthread_mutex_destroy(&e->mu);
    MPI_Comm_free(&e->comm);
    return st;
}
