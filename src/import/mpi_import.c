/* mpi_import.c - `ovatool import` over MPI ranks (import_mpi.h).
 *
 * Rank 0 runs the whole import; each other rank runs as many worker threads
 * as it would alone, and rank 0's batch pool has one thread per such remote
 * worker (a slot), which sends it a batch and waits for the answer. So the
 * pool's bounded queue is the window over every rank, and batches go to
 * whichever worker is free (dynamic balancing, as export's units). Only
 * batch descriptions (2 KiB) and answers travel: the workers read the grain
 * records from the input and write the grains into the output files
 * themselves. The exception is a file that cannot be read by offset (split
 * into chunks, or gzip): its batches carry their grain records' bytes,
 * which rank 0 read in order (within the pool's carried-bytes limit).
 *
 * Messages on tag TAG_BASE + t between rank 0 and thread t of a rank, all
 * ova_wire records:
 *   SETUP  disk, input path, member, extent count, extent paths, and
 *          whether to write grains with O_DIRECT (once per disk and slot,
 *          before its first batch)
 *   BATCH  the batch; when carried, a second message follows with its
 *          span's bytes alone, which the worker receives straight into its
 *          scratch (so a thread's memory is the scratch --mem-limit counts)
 *   SYNC   fdatasync the files written (before rank 0 finishes the disks)
 *   STOP   no more work
 * and the answer to a BATCH or SYNC: status, zero-grain count and LBAs,
 * bytes of grain data written, message.
 */
#include "ovatool/import_mpi.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/wire.h"
#include "import/batch_pool.h"
#include "import/grain_batch.h"
#include "util/fault.h"
#include "util/grow.h"
#include "util/io.h"

#define TAG_BASE 7100
enum { MSG_SETUP = 1, MSG_BATCH = 2, MSG_STOP = 3, MSG_SYNC = 4 };

static void put_str(ova_buf *b, const char *s)
{
    size_t n = strlen(s);
    ova_wire_put32(b, (uint32_t)n);
    ova_buf_append(b, s, n);
}

/* A string of the record, malloc'd; NULL (and r->bad) when short. */
static char *get_str(ova_wire *r)
{
    uint32_t n = ova_wire_get32(r);
    const unsigned char *p = ova_wire_take(r, n);
    char *s = p != NULL ? strndup((const char *)p, n) : NULL;
    if (s == NULL)
        r->bad = 1;
    return s;
}

static ova_status send_buf(const ova_buf *b, int rank, int tag, MPI_Comm comm, ova_err *err)
{
    if (ova_buf_failed(b))
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for a message to rank %d", rank);
    if (MPI_Send(b->data, (int)b->len, MPI_BYTE, rank, tag, comm) != MPI_SUCCESS)
        return ova_err_set(err, OVA_E_MPI, "MPI_Send to rank %d failed", rank);
    return OVA_OK;
}

/* Receive the next message from rank on tag into *buf (grown as needed). */
static ova_status recv_buf(unsigned char **buf, size_t *cap, int *len, int rank, int tag, MPI_Comm comm,
                           ova_err *err)
{
    MPI_Status ms;
    if (MPI_Probe(rank, tag, comm, &ms) != MPI_SUCCESS || MPI_Get_count(&ms, MPI_BYTE, len) != MPI_SUCCESS)
        return ova_err_set(err, OVA_E_MPI, "MPI_Probe from rank %d failed", rank);
    unsigned char *nb = ova_grow(*buf, cap, (size_t)*len + 1, 1);
    if (nb == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for a message from rank %d", rank);
    *buf = nb;
    if (MPI_Recv(*buf, *len, MPI_BYTE, rank, tag, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return ova_err_set(err, OVA_E_MPI, "MPI_Recv from rank %d failed", rank);
    return OVA_OK;
}

static void put_batch(ova_buf *b, const ova_grain_batch *g)
{
    ova_wire_put32(b, MSG_BATCH);
    /* first, so that the worker knows of the data message even when the
     * rest would not parse */
    ova_wire_put32(b, g->data != NULL);
    ova_wire_put32(b, g->disk);
    ova_wire_put64(b, g->in_off);
    ova_wire_put64(b, g->span);
    ova_wire_put64(b, g->capacity);
    ova_wire_put32(b, g->n);
    for (uint32_t i = 0; i < g->n; i++) {
        ova_wire_put64(b, g->g[i].lba);
        ova_wire_put64(b, g->g[i].rec);
        ova_wire_put32(b, g->g[i].csize);
        ova_wire_put32(b, g->g[i].ext);
        ova_wire_put64(b, g->g[i].out_off);
    }
}

/* The batch of a BATCH message (after its type); true when its span's
 * bytes follow in a message of their own. */
static bool get_batch(ova_wire *r, ova_grain_batch *g)
{
    bool carried = ova_wire_get32(r) != 0;
    g->data = NULL;
    g->disk = ova_wire_get32(r);
    g->in_off = ova_wire_get64(r);
    g->span = ova_wire_get64(r);
    g->capacity = ova_wire_get64(r);
    g->n = ova_wire_get32(r);
    if (g->n > OVA_BATCH_GRAINS) {
        r->bad = 1;
        return carried;
    }
    for (uint32_t i = 0; i < g->n; i++) {
        g->g[i].lba = ova_wire_get64(r);
        g->g[i].rec = ova_wire_get64(r);
        g->g[i].csize = ova_wire_get32(r);
        g->g[i].ext = ova_wire_get32(r);
        g->g[i].out_off = ova_wire_get64(r);
    }
    if (carried && g->span > OVA_BATCH_SPAN_MAX)
        r->bad = 1;
    return carried;
}

/* The data message of a carried batch: into dst (OVA_BATCH_SPAN_MAX
 * bytes) when it holds want bytes; else received into *buf and dropped,
 * so the protocol stays in step: an error if dst was given, OVA_OK if not
 * (the caller had its reason not to give one). */
static ova_status recv_span(unsigned char *dst, size_t want, unsigned char **buf, size_t *cap, int tag,
                            MPI_Comm comm, ova_err *err)
{
    MPI_Status ms;
    int len = 0;
    if (MPI_Probe(0, tag, comm, &ms) != MPI_SUCCESS || MPI_Get_count(&ms, MPI_BYTE, &len) != MPI_SUCCESS)
        return ova_err_set(err, OVA_E_MPI, "MPI_Probe from rank 0 failed");
    if (dst != NULL && (size_t)len == want) {
        if (MPI_Recv(dst, len, MPI_BYTE, 0, tag, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return ova_err_set(err, OVA_E_MPI, "MPI_Recv from rank 0 failed");
        return OVA_OK;
    }
    ova_status st = recv_buf(buf, cap, &len, 0, tag, comm, err);
    if (st == OVA_OK && dst != NULL)
        st = ova_err_set(err, OVA_E_MPI, "malformed message from rank 0: %d bytes of a batch's span, not %zu", len,
                         want);
    return st; /* dst NULL: drained, the caller names its own reason */
}

/* ---- rank 0: the slots ---- */

typedef struct slot {
    int rank, tag;
    bool *known;           /* disks this worker has set up */
    size_t known_cap;
    unsigned char *buf;
    size_t cap;
    uint64_t written;      /* grain bytes its worker wrote */
} slot;

typedef struct remote_ctx {
    MPI_Comm comm;
    slot *slots;
    unsigned n;
} remote_ctx;

/* The answer of a slot's worker to a BATCH or a SYNC. */
static ova_status recv_answer(remote_ctx *rc, slot *s, uint64_t *zero_lbas, uint32_t *n_zero, uint64_t *written,
                              ova_err *err)
{
    int len = 0;
    ova_status st = recv_buf(&s->buf, &s->cap, &len, s->rank, s->tag, rc->comm, err);
    if (st != OVA_OK)
        return st;
    ova_wire r = { s->buf, (size_t)len, 0 };
    ova_status rst = (ova_status)ova_wire_get32(&r);
    *n_zero = ova_wire_get32(&r);
    if (*n_zero > OVA_BATCH_GRAINS)
        r.bad = 1;
    for (uint32_t i = 0; !r.bad && i < *n_zero; i++)
        zero_lbas[i] = ova_wire_get64(&r);
    *written = ova_wire_get64(&r);
    char *msg = get_str(&r);
    if (r.bad)
        st = ova_err_set(err, OVA_E_MPI, "malformed answer from rank %d", s->rank);
    else if (rst != OVA_OK)
        st = ova_err_set(err, rst, "%s", msg);
    free(msg);
    return st;
}

static ova_status remote_run(void *ctx, unsigned si, const ova_pool_disk_info *d, const ova_grain_batch *b,
                             uint64_t *zero_lbas, uint32_t *n_zero, uint64_t *written, ova_err *err)
{
    remote_ctx *rc = ctx;
    slot *s = &rc->slots[si];
    ova_buf m = { 0 };
    ova_status st = OVA_OK;
    if (d->disk >= s->known_cap || !s->known[d->disk]) {
        size_t old = s->known_cap;
        bool *k = ova_grow(s->known, &s->known_cap, (size_t)d->disk + 1, sizeof *k);
        if (k == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "out of memory");
        memset(k + old, 0, (s->known_cap - old) * sizeof *k);
        s->known = k;
        ova_wire_put32(&m, MSG_SETUP);
        ova_wire_put32(&m, d->disk);
        put_str(&m, d->in_path);
        put_str(&m, d->member);
        ova_wire_put32(&m, (uint32_t)d->n_ext);
        for (size_t i = 0; i < d->n_ext; i++)
            put_str(&m, d->out[i].path);
        ova_wire_put32(&m, d->out[0].dfd >= 0); /* O_DIRECT where rank 0 could */
        if ((st = send_buf(&m, s->rank, s->tag, rc->comm, err)) != OVA_OK) {
            ova_buf_free(&m);
            return st;
        }
        s->known[d->disk] = true;
        ova_buf_reset(&m);
    }
    put_batch(&m, b);
    st = send_buf(&m, s->rank, s->tag, rc->comm, err);
    ova_buf_free(&m);
    if (st != OVA_OK)
        return st;
    if (b->data != NULL &&
        MPI_Send(b->data, (int)b->span, MPI_BYTE, s->rank, s->tag, rc->comm) != MPI_SUCCESS)
        return ova_err_set(err, OVA_E_MPI, "MPI_Send to rank %d failed", s->rank);
    st = recv_answer(rc, s, zero_lbas, n_zero, written, err);
    if (st == OVA_OK)
        s->written += *written; /* only this slot's pool thread touches it */
    return st;
}

static ova_status remote_sync(void *ctx, ova_err *err)
{
    remote_ctx *rc = ctx;
    ova_buf m = { 0 };
    ova_wire_put32(&m, MSG_SYNC);
    ova_status st = OVA_OK;
    for (unsigned i = 0; i < rc->n && st == OVA_OK; i++) {
        uint64_t zl[OVA_BATCH_GRAINS], wr;
        uint32_t nz = 0;
        if ((st = send_buf(&m, rc->slots[i].rank, rc->slots[i].tag, rc->comm, err)) == OVA_OK)
            st = recv_answer(rc, &rc->slots[i], zl, &nz, &wr, err);
    }
    ova_buf_free(&m);
    return st;
}

/* ---- the other ranks: worker threads ---- */

typedef struct wdisk {
    int in_fd;
    char *member;
    size_t n_ext;
    ova_batch_out *out;    /* path: owned */
    ova_status st;         /* a file that would not open: the answer to every batch */
    ova_err err;
} wdisk;

typedef struct worker_arg {
    MPI_Comm comm;
    int tag;
    char host[MPI_MAX_PROCESSOR_NAME];
    int rank;
} worker_arg;

static void wdisk_free(wdisk *d)
{
    if (d->in_fd >= 0)
        close(d->in_fd);
    for (size_t i = 0; d->out != NULL && i < d->n_ext; i++) {
        if (d->out[i].fd >= 0)
            close(d->out[i].fd);
        if (d->out[i].dfd >= 0)
            close(d->out[i].dfd);
        free((char *)d->out[i].path);
    }
    free(d->out);
    free(d->member);
}

static void setup_disk(ova_wire *r, wdisk **disks, size_t *cap)
{
    uint32_t d = ova_wire_get32(r);
    if (d >= 1u << 20) {
        r->bad = 1;
        return;
    }
    size_t old = *cap;
    wdisk *v = ova_grow(*disks, cap, (size_t)d + 1, sizeof *v);
    if (v == NULL) {
        r->bad = 1;
        return;
    }
    for (size_t i = old; i < *cap; i++)
        v[i] = (wdisk){ .in_fd = -1 };
    *disks = v;
    wdisk *w = &v[d];
    wdisk_free(w);
    *w = (wdisk){ .in_fd = -1 };
    char *in_path = get_str(r);
    w->member = get_str(r);
    uint32_t n = ova_wire_get32(r);
    if (r->bad || n == 0 || n > 1u << 16) {
        r->bad = 1;
        free(in_path);
        return;
    }
    w->out = calloc(n, sizeof *w->out);
    if (w->out == NULL) {
        r->bad = 1;
        free(in_path);
        return;
    }
    w->n_ext = n;
    for (uint32_t i = 0; i < n; i++)
        w->out[i] = (ova_batch_out){ -1, -1, get_str(r) };
    bool direct = ova_wire_get32(r) != 0;
    if (r->bad) {
        free(in_path);
        return;
    }
    w->in_fd = open(in_path, O_RDONLY | O_CLOEXEC);
    if (w->in_fd < 0)
        w->st = ova_err_errno(&w->err, OVA_E_IO, errno, "%s: cannot open", in_path);
    for (uint32_t i = 0; i < n && w->st == OVA_OK; i++) {
        ova_batch_out *o = &w->out[i];
        /* rank 0 created it: a link put in its place is not followed */
        o->fd = open(o->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (o->fd < 0)
            w->st = ova_err_errno(&w->err, OVA_E_IO, errno, "%s: cannot open for writing", o->path);
        else if (direct)
            o->dfd = ova_reopen_direct(o->fd, o->path); /* -1: this node's page cache */
    }
    free(in_path);
}

/* Every grain of b goes to an extent the disk has (rank 0's word is
 * checked like every other field of the message). */
static bool extents_known(const ova_grain_batch *b, size_t n_ext)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (b->g[i].ext >= n_ext)
            return false;
    return true;
}

static void *worker_main(void *argp)
{
    const worker_arg *a = argp;
    wdisk *disks = NULL;
    size_t cap = 0, bcap = 0;
    unsigned char *buf = NULL;
    ova_batch_scratch *s = NULL;
    ova_err serr = { 0 };
    ova_status sst = ova_batch_scratch_new(&s, &serr);
    ova_grain_batch b;
    for (;;) {
        int len = 0;
        ova_err e = { 0 };
        if (recv_buf(&buf, &bcap, &len, 0, a->tag, a->comm, &e) != OVA_OK)
            break; /* MPI itself failed: nothing more can be said */
        ova_wire r = { buf, (size_t)len, 0 };
        uint32_t type = ova_wire_get32(&r);
        if (type == MSG_STOP)
            break;
        if (type == MSG_SETUP) {
            setup_disk(&r, &disks, &cap);
            continue; /* a malformed setup fails the disk's first batch */
        }
        ova_status st = OVA_OK;
        uint64_t zl[OVA_BATCH_GRAINS], wr = 0;
        uint32_t nz = 0;
        if (type == MSG_SYNC) {
            for (size_t i = 0; i < cap && st == OVA_OK; i++)
                for (size_t x = 0; x < disks[i].n_ext && st == OVA_OK; x++)
                    if (disks[i].out[x].fd >= 0 && fdatasync(disks[i].out[x].fd) != 0)
                        st = ova_err_errno(&e, OVA_E_IO, errno, "%s: fdatasync", disks[i].out[x].path);
        } else if (type != MSG_BATCH) {
            st = ova_err_set(&e, OVA_E_MPI, "malformed message from rank 0");
        } else {
            bool carried = get_batch(&r, &b);
            /* a carried batch's bytes come next: into the scratch (drained
             * when there is none or the batch is malformed) */
            unsigned char *dst = carried && sst == OVA_OK && !r.bad ? ova_batch_scratch_in(s) : NULL;
            if (carried && (st = recv_span(dst, (size_t)b.span, &buf, &bcap, a->tag, a->comm, &e)) != OVA_OK) {
                /* MPI failed, or the span was not the batch's size: answered below */
            } else if (sst != OVA_OK) {
                st = sst;
                e = serr;
            } else if (r.bad)
                st = ova_err_set(&e, OVA_E_MPI, "malformed message from rank 0");
            else if (b.disk >= cap || disks[b.disk].out == NULL)
                st = ova_err_set(&e, OVA_E_MPI, "a batch for disk %u, which was never set up", b.disk);
            else if (disks[b.disk].st != OVA_OK) {
                st = disks[b.disk].st;
                e = disks[b.disk].err;
            } else if (!extents_known(&b, disks[b.disk].n_ext)) {
                st = ova_err_set(&e, OVA_E_MPI, "a batch for an extent disk %u does not have", b.disk);
            } else {
                const wdisk *d = &disks[b.disk];
                b.data = dst; /* NULL: the worker reads the span from the input */
                st = ova_grain_batch_run(&b, d->in_fd, d->member, d->out, s, zl, &nz, &wr, &e);
            }
        }
        ova_buf m = { 0 };
        ova_wire_put32(&m, (uint32_t)st);
        ova_wire_put32(&m, st == OVA_OK ? nz : 0);
        for (uint32_t i = 0; st == OVA_OK && i < nz; i++)
            ova_wire_put64(&m, zl[i]);
        ova_wire_put64(&m, st == OVA_OK ? wr : 0);
        char msg[OVA_ERR_MAX + MPI_MAX_PROCESSOR_NAME + 32];
        snprintf(msg, sizeof msg, "rank %d on %s: %s", a->rank, a->host, e.msg);
        put_str(&m, st == OVA_OK ? "" : msg);
        ova_status ss = send_buf(&m, 0, a->tag, a->comm, &e);
        ova_buf_free(&m);
        if (ss != OVA_OK)
            break;
    }
    for (size_t i = 0; i < cap; i++)
        wdisk_free(&disks[i]);
    free(disks);
    free(buf);
    ova_batch_scratch_free(&s);
    return NULL;
}

/* A rank other than 0: its worker threads, each until rank 0 stops it. */
typedef struct workers {
    worker_arg *args;
    pthread_t *t;
    unsigned started;
} workers;

/* Start up to threads workers; started says how many run (rank 0 is told
 * that number, so it never waits on a worker that is not there). */
static void start_workers(MPI_Comm comm, int rank, unsigned threads, workers *w)
{
    worker_arg a = { comm, 0, "", rank };
    int hl = 0;
    MPI_Get_processor_name(a.host, &hl);
    w->args = calloc(threads ? threads : 1, sizeof *w->args);
    w->t = calloc(threads ? threads : 1, sizeof *w->t);
    w->started = 0;
    for (unsigned i = 0; w->args != NULL && w->t != NULL && i < threads; i++) {
        w->args[i] = a;
        w->args[i].tag = TAG_BASE + (int)i;
        if (pthread_create(&w->t[i], NULL, worker_main, &w->args[i]) != 0)
            break;
        w->started++;
    }
}

static void join_workers(workers *w)
{
    for (unsigned i = 0; i < w->started; i++)
        pthread_join(w->t[i], NULL);
    free(w->t);
    free(w->args);
}

/* Each rank's share of the grain bytes written: the others' from their
 * slots' answers, rank 0's the rest. The import is done by now, so a lack
 * of memory only leaves the shares out of the summary. */
static void rank_shares(const remote_ctx *rc, int size, ova_import_result *r)
{
    r->ranks = size;
    r->rank_bytes_written = calloc((size_t)size, sizeof *r->rank_bytes_written);
    if (r->rank_bytes_written == NULL)
        return;
    uint64_t others = 0;
    for (unsigned i = 0; i < rc->n; i++) {
        r->rank_bytes_written[rc->slots[i].rank] += rc->slots[i].written;
        others += rc->slots[i].written;
    }
    r->rank_bytes_written[0] = others <= r->bytes_written ? r->bytes_written - others : 0;
}

ova_status ova_import_mpi(const ova_import_opts *o, MPI_Comm comm, ova_import_result *r, ova_err *err)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    ova_fault_rank(rank);
    /* every rank's running worker count, known to rank 0 (rank 0's own
     * threads run in its pool) */
    workers w = { NULL, NULL, 0 };
    if (rank != 0)
        start_workers(comm, rank, o->dry_run ? 0 : ova_import_threads(o), &w);
    unsigned mine = w.started;
    unsigned *all = rank == 0 ? calloc((size_t)size, sizeof *all) : NULL;
    if (rank == 0 && all == NULL)
        mine = 0; /* reported below, once the others know */
    MPI_Gather(&mine, 1, MPI_UNSIGNED, all, 1, MPI_UNSIGNED, 0, comm);
    ova_status st = OVA_OK;
    if (rank != 0) {
        join_workers(&w);
    } else {
        remote_ctx rc = { comm, NULL, 0 };
        for (int k = 1; all != NULL && k < size; k++)
            rc.n += all[k];
        rc.slots = calloc(rc.n ? rc.n : 1, sizeof *rc.slots);
        if (all == NULL || rc.slots == NULL) {
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        } else {
            unsigned s = 0;
            for (int k = 1; k < size; k++)
                for (unsigned t = 0; t < all[k]; t++, s++) {
                    rc.slots[s].rank = k;
                    rc.slots[s].tag = TAG_BASE + (int)t;
                }
            struct ova_import_remote remote = { rc.n, remote_run, remote_sync, &rc };
            ova_import_opts o2 = *o;
            o2.remote = rc.n > 0 ? &remote : NULL;
            st = ova_import(&o2, r, err);
            if (st == OVA_OK && !o->dry_run && size > 1)
                rank_shares(&rc, size, r);
        }
        /* whatever happened, every worker elsewhere stops now (named from
         * the gathered counts: without room for the slots, too) */
        ova_buf m = { 0 };
        ova_wire_put32(&m, MSG_STOP);
        for (int k = 1; all != NULL && k < size; k++)
            for (unsigned t = 0; t < all[k]; t++) {
                ova_err e2;
                send_buf(&m, k, TAG_BASE + (int)t, comm, &e2);
            }
        for (unsigned s = 0; rc.slots != NULL && s < rc.n; s++) {
            free(rc.slots[s].known);
            free(rc.slots[s].buf);
        }
        ova_buf_free(&m);
        free(rc.slots);
    }
    free(all);
    int code = (int)st;
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    if (rank != 0 && code != OVA_OK)
        ova_err_set(err, OVA_E_ABORTED, "rank 0 failed");
    return rank == 0 ? st : (ova_status)code;
}
