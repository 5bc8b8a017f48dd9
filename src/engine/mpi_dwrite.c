/* mpi_dwrite.c - distributed writing: every rank writes the units it
 * compressed into the output itself (--distributed-write; README "Scaling
 * past one node"), the pattern of mpifileutils' dtar and dbz2.
 *
 * Rank 0 still places every unit in disk order (ova_writer.c), so grain
 * tables, markers, directory, footer, tar headers, OVF and manifest are the
 * bytes of a rank-0 export; only the records of another rank's unit stay
 * where they were made. For such a unit rank 0 gets the header alone
 * (records_len and each grain's sector, what the grain table needs), and
 * when the writer reaches it, sends its holder the file offset and the
 * member's digest state (WRITE); the holder hashes its records, sends the
 * state back (HASHED) and pwrite()s them while rank 0 goes on with the next
 * unit. Only the digest chain is serial; the writes run side by side.
 *
 * Memory: a result waits in its buffer, owned by the rank's holder thread,
 * until written; its worker thread compresses the next unit in a second
 * buffer meanwhile, and waits before a third (the planner sizes units so
 * that two per thread fit in a rank's --mem-limit, prepare.c); rank 0 keeps
 * headers instead of records. Deadlock-free: units are granted in write
 * order, so the earliest unwritten unit is being compressed, or waits for
 * CLEAR inside rank 0's hold (so it is cleared), or is held and the
 * holder thread, which waits for nothing else, answers its WRITE. */
#include "engine/mpi_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "engine/mpi_agree.h"
#include "engine/unit.h"
#include "format/digest_state.h"
#include "util/fault.h"
#include "util/io.h"

#define TOKEN_LEN 16
/* The longest sleep between polls on the digest chain (rank 0 waiting for
 * HASHED, a holder for WRITE): each is a delay of the serial chain, against
 * 5-20 ms of hashing per 8-32 MiB unit, yet a thread polling this often
 * costs its core little (mpi_engine.c backs off to 1 ms elsewhere). */
#define CHAIN_WAIT_US 50u

/* WRITE: where the records go, and the member's digest state so far. */
typedef struct dw_write {
    uint64_t unit;
    int64_t off;
    ova_digest_state state;
} dw_write;

/* Every rank continues a state rank 0 began and compares the digest with
 * rank 0's: the states are only bytes, meaningful to the same build. */
static int state_layout_agrees(ova_engine *e)
{
    static const char one[] = "ovatool distributed write: the state rank 0 began, ",
                      two[] = "continued by every rank";
    int size = (int)sizeof(ova_digest_state), ok = 1, all = 0;
    MPI_Bcast(&size, 1, MPI_INT, 0, e->comm);
    ok = size == (int)sizeof(ova_digest_state);
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, e->comm);
    if (!all)
        return 0;
    ova_err err;
    ova_digest_state s;
    memset(&s, 0, sizeof s);
    if (e->rank == 0 && (ova_digest_state_init(&s, e->opts->sha, &err) != OVA_OK ||
                         ova_digest_state_update(&s, one, sizeof one - 1, &err) != OVA_OK))
        memset(&s, 0, sizeof s);
    MPI_Bcast(&s, (int)sizeof s, MPI_BYTE, 0, e->comm);
    unsigned char mine[64] = { 0 }, theirs[64];
    ok = ova_digest_state_update(&s, two, sizeof two - 1, &err) == OVA_OK &&
         ova_digest_state_final(&s, mine, &err) == OVA_OK;
    memcpy(theirs, mine, sizeof mine);
    MPI_Bcast(theirs, (int)sizeof theirs, MPI_BYTE, 0, e->comm);
    ok = ok && memcmp(mine, theirs, sizeof mine) == 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, e->comm);
    return all;
}

ova_status ova_dwrite_decide(ova_engine *e, ova_err *err)
{
    const ova_export_opts *o = e->opts;
    e->dw_fd = -1;
    /* every rank has the same options, so every rank returns here alike */
    if (e->size < 2 || o->distributed_write == OVA_DWRITE_OFF || o->dry_run)
        return OVA_OK;
    if (o->resume || o->parallel_disks == OVA_PARALLEL_DISKS_ON) {
        if (o->distributed_write == OVA_DWRITE_ON)
            return ova_err_set(err, OVA_E_USAGE, "--distributed-write on cannot be used with %s",
                               o->resume ? "--resume (a journal's durable points are rank 0's writes)"
                                         : "--parallel-disks on (rank 0 spools the later disks)");
        return OVA_OK;
    }
    MPI_Comm node;
    MPI_Comm_split_type(e->comm, MPI_COMM_TYPE_SHARED, e->rank, MPI_INFO_NULL, &node);
    int node_rank = 0, leader, hosts = 0;
    MPI_Comm_rank(node, &node_rank);
    MPI_Comm_free(&node);
    leader = node_rank == 0;
    MPI_Allreduce(&leader, &hosts, 1, MPI_INT, MPI_SUM, e->comm);
    if (o->distributed_write == OVA_DWRITE_AUTO && hosts < 2)
        return OVA_OK; /* one host: rank 0 writes, as fast as the rank's threads feed it there */
    if (!state_layout_agrees(e)) {
        if (o->distributed_write == OVA_DWRITE_ON)
            return ova_err_set(err, OVA_E_USAGE, "--distributed-write on: the ranks do not continue one "
                               "another's digest state alike (different ovatool or OpenSSL builds?)");
        ova_engine_log(e, 1, "distributed writing: off, the ranks do not continue one another's digest state "
                       "alike (different ovatool or OpenSSL builds?); rank 0 writes the OVA");
        return OVA_OK;
    }
    e->dw_candidate = 1;
    return OVA_OK;
}

/* Rank 0: a token nobody could have left in the file by chance. */
static void make_token(unsigned char *t)
{
    if (getrandom(t, TOKEN_LEN, 0) == TOKEN_LEN)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    for (int i = 0; i < TOKEN_LEN; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = (unsigned char)(x >> 56);
    }
}

/* Another rank: open rank 0's file and find the token in it. */
static ova_status see_file(ova_engine *e, const char *path, const unsigned char *token, ova_err *err)
{
    if ((e->dw_path = strdup(path)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    e->dw_fd = open(path, O_RDWR | O_CLOEXEC);
    if (e->dw_fd < 0)
        return ova_err_errno(err, OVA_E_IO, errno,
                             "%s: cannot open the output rank 0 created (distributed writing needs every rank "
                             "to see it)", path);
    unsigned char got[TOKEN_LEN];
    ova_status st = ova_pread_exact(e->dw_fd, got, sizeof got, 0, path, "the output rank 0 created", err);
    if (st == OVA_OK && memcmp(got, token, TOKEN_LEN) != 0)
        st = ova_err_set(err, OVA_E_IO,
                         "%s: not the file rank 0 created (its token differs): this host sees another file "
                         "system at that path, and distributed writing needs one every rank shares", path);
    return st;
}

static void close_file(ova_engine *e)
{
    if (e->dw_fd >= 0)
        close(e->dw_fd);
    e->dw_fd = -1;
}

ova_status ova_dwrite_open(ova_engine *e, ova_err *err)
{
    unsigned char token[TOKEN_LEN];
    char path[PATH_MAX];
    ova_status st = OVA_OK;
    if (e->rank == 0) {
        make_token(token);
        snprintf(path, sizeof path, "%s", ova_writer_partial_path(e->writer));
        /* the OVF's space at offset 0: the token is overwritten at the finish */
        st = ova_pwrite_exact(ova_writer_fd(e->writer), token, TOKEN_LEN, 0, path, err);
        if (st == OVA_OK && fdatasync(ova_writer_fd(e->writer)) != 0)
            st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot sync", path);
    }
    if ((st = ova_mpi_agree(e->comm, st, err)) != OVA_OK)
        return st;
    MPI_Bcast(path, (int)sizeof path, MPI_CHAR, 0, e->comm);
    MPI_Bcast(token, TOKEN_LEN, MPI_BYTE, 0, e->comm);
    if (e->rank != 0)
        st = see_file(e, path, token, err);
    if (e->opts->distributed_write == OVA_DWRITE_ON) {
        if ((st = ova_mpi_agree(e->comm, st, err)) != OVA_OK) {
            close_file(e);
            return st;
        }
    } else {
        /* auto: the first rank that cannot see the file says why, rank 0 logs it */
        int bad = st == OVA_OK ? INT_MAX : e->rank, first = INT_MAX;
        MPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, e->comm);
        if (first != INT_MAX) {
            char msg[OVA_ERR_MAX + MPI_MAX_PROCESSOR_NAME + 32];
            if (e->rank == first) {
                snprintf(msg, sizeof msg, "rank %d on %s: %s", e->rank, e->host, err->msg);
                MPI_Send(msg, (int)sizeof msg, MPI_CHAR, 0, TAG_ERROR, e->comm);
            } else if (e->rank == 0) {
                MPI_Recv(msg, (int)sizeof msg, MPI_CHAR, first, TAG_ERROR, e->comm, MPI_STATUS_IGNORE);
                msg[sizeof msg - 1] = '\0';
                ova_engine_log(e, 1, "distributed writing: off (%s); rank 0 writes the OVA", msg);
            }
            close_file(e);
            ova_err_clear(err);
            return OVA_OK;
        }
    }
    e->dwrite = 1;
    ova_engine_log(e, 0, "distributed writing: every rank writes the units it compressed into %s; rank 0 the "
                   "headers, grain tables and digests", path);
    return OVA_OK;
}

unsigned char *ova_dwrite_buffer(ova_worker *w)
{
    ova_engine *e = w->e;
    pthread_mutex_lock(&e->mu);
    /* two buffers per thread (what the planner sizes units for): one unit
     * compressed while the holder still has the last; with both held, the
     * thread waits for the earlier to be written before a third */
    while (w->held >= OVA_DWRITE_HELD_PER_THREAD)
        pthread_cond_wait(&e->dw_cv, &e->mu);
    unsigned char *b = w->spare;
    w->spare = NULL;
    pthread_mutex_unlock(&e->mu);
    return b != NULL ? b : malloc(e->unit_max);
}

void ova_dwrite_deliver(ova_worker *w)
{
    ova_engine *e = w->e;
    unsigned char *blob = w->blob;
    const ova_unit_hdr *h = (const ova_unit_hdr *)(const void *)blob;
    /* the holder's before rank 0 can answer: a WRITE finds it */
    pthread_mutex_lock(&e->mu);
    e->held[e->n_held++] = (dw_held){ h->unit, blob, w };
    w->held++;
    pthread_cond_broadcast(&e->dw_cv); /* the holder sleeps while it has nothing */
    pthread_mutex_unlock(&e->mu);
    w->blob = NULL;
    /* the header and this thread's index */
    unsigned char msg[sizeof *h + 8];
    int64_t tid = w->tid;
    memcpy(msg, h, sizeof *h);
    memcpy(msg + sizeof *h, &tid, 8);
    MPI_Request sreq;
    MPI_Isend(msg, (int)sizeof msg, MPI_BYTE, 0, TAG_RESULT, e->comm, &sreq);
    ova_mpi_wait(&sreq);
}

void ova_dwrite_worker_done(ova_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->dw_workers--;
    pthread_cond_broadcast(&e->dw_cv);
    pthread_mutex_unlock(&e->mu);
}

/* The holder's part of one WRITE: hash, answer, write. */
static ova_status write_held(ova_engine *e, dw_write *wr, const unsigned char *blob, ova_err *err)
{
    const ova_unit_hdr *h = (const ova_unit_hdr *)(const void *)blob;
    const unsigned char *records = blob + sizeof *h;
    size_t len = (size_t)h->records_len;
    /* the digest chain first, so rank 0 goes on while the bytes go out */
    ova_err de;
    ova_err_clear(&de);
    ova_status st = ova_digest_state_update(&wr->state, records, len, &de);
    MPI_Request sreq;
    MPI_Isend(&wr->state, (int)sizeof wr->state, MPI_BYTE, 0, TAG_HASHED, e->comm, &sreq);
    ova_mpi_wait(&sreq);
    if (st != OVA_OK)
        return ova_err_set(err, st, "%s: unit %llu at byte %lld: %s", e->dw_path, (unsigned long long)wr->unit,
                           (long long)wr->off, de.msg);
    if (ova_fault("export.dwrite"))
        return ova_err_set(err, OVA_E_IO, "%s: injected write failure at byte %lld (test fault export.dwrite)",
                           e->dw_path, (long long)wr->off);
    if ((st = ova_pwrite_exact(e->dw_fd, records, len, (uint64_t)wr->off, e->dw_path, err)) != OVA_OK)
        return st;
    atomic_fetch_add(&e->dw_bytes, (unsigned long long)len);
    return OVA_OK;
}

/* The holder's answer to one WRITE (the unit is written or dropped, its
 * buffer goes back to its thread); a failure is reported once, and the
 * holder goes on answering (rank 0 drops the rest). */
static void answer(ova_engine *e, dw_write *wr)
{
    pthread_mutex_lock(&e->mu);
    size_t i = 0;
    while (i < e->n_held && e->held[i].unit != wr->unit)
        i++;
    dw_held hd = { 0, NULL, NULL };
    if (i < e->n_held) {
        hd = e->held[i];
        e->held[i] = e->held[--e->n_held];
    }
    pthread_mutex_unlock(&e->mu);
    ova_err err;
    ova_err_clear(&err);
    ova_status st = OVA_OK;
    if (wr->off >= 0 && hd.blob != NULL && !atomic_load(&e->local_abort))
        st = write_held(e, wr, hd.blob, &err);
    else if (wr->off >= 0) /* nothing to write: rank 0 still gets its answer */
        MPI_Send(&wr->state, (int)sizeof wr->state, MPI_BYTE, 0, TAG_HASHED, e->comm);
    if (hd.blob == NULL)
        st = ova_err_set(&err, OVA_E_INTERNAL, "internal error: rank 0 asked for unit %llu, which this rank "
                         "does not hold", (unsigned long long)wr->unit);
    if (st != OVA_OK) {
        int first = !atomic_exchange(&e->local_abort, 1);
        pthread_mutex_lock(&e->mu);
        if (e->local_err.status == OVA_OK)
            ova_err_set(&e->local_err, st, "%s", err.msg);
        pthread_mutex_unlock(&e->mu);
        if (first)
            ova_engine_send_error(e, -2, err.msg);
    }
    pthread_mutex_lock(&e->mu);
    if (hd.w != NULL) {
        hd.w->held--;
        if (hd.w->spare == NULL)
            hd.w->spare = hd.blob;
        else
            free(hd.blob);
    }
    pthread_cond_broadcast(&e->dw_cv);
    pthread_mutex_unlock(&e->mu);
}

void *ova_dwrite_holder_main(void *p)
{
    ova_engine *e = p;
    for (;;) {
        dw_write wr;
        MPI_Request req;
        MPI_Irecv(&wr, (int)sizeof wr, MPI_BYTE, 0, TAG_WRITE, e->comm, &req);
        /* wait for a WRITE, or for the end: every worker gone and nothing
         * held, so no WRITE can come (rank 0 sends one only for a header) */
        unsigned round = 0;
        int done = 0, end = 0;
        while (!done && !end) {
            MPI_Test(&req, &done, MPI_STATUS_IGNORE);
            if (done)
                break;
            /* holding nothing, no WRITE can come: sleep until a worker
             * hands over a unit or ends, instead of polling for the whole
             * export; a WRITE for a held unit is on the digest chain, so
             * that wait polls (CHAIN_WAIT_US) */
            pthread_mutex_lock(&e->mu);
            int idle = 0;
            while (e->dw_workers > 0 && e->n_held == 0) {
                pthread_cond_wait(&e->dw_cv, &e->mu);
                idle = 1;
            }
            end = e->dw_workers == 0 && e->n_held == 0;
            pthread_mutex_unlock(&e->mu);
            if (idle)
                round = 0;
            if (!end) {
                struct timespec ts = { 0, round < 64 ? 0 : (long)CHAIN_WAIT_US * 1000 };
                round++;
                if (ts.tv_nsec > 0)
                    nanosleep(&ts, NULL);
            }
        }
        if (!done) {
            MPI_Cancel(&req);
            MPI_Wait(&req, MPI_STATUS_IGNORE);
            return NULL;
        }
        answer(e, &wr);
    }
}

typedef struct place_ctx {
    ova_engine *e;
    int src, sent;
    uint64_t unit;
} place_ctx;

/* The writer reached a held unit: its holder writes it at off and
 * continues the digest (ova_writer.h ova_writer_held). */
static ova_status place_held(void *p, uint64_t off, uint64_t len, ova_digest_state *state, ova_err *err)
{
    place_ctx *c = p;
    (void)err;
    (void)len;
    dw_write wr;
    memset(&wr, 0, sizeof wr);
    wr.unit = c->unit;
    wr.off = (int64_t)off;
    wr.state = *state;
    MPI_Request rreq;
    /* posted before the WRITE, so the answer is never the service loop's to probe */
    MPI_Irecv(state, (int)sizeof *state, MPI_BYTE, c->src, TAG_HASHED, c->e->comm, &rreq);
    MPI_Send(&wr, (int)sizeof wr, MPI_BYTE, c->src, TAG_WRITE, c->e->comm);
    c->sent = 1;
    ova_mpi_wait_within(&rreq, CHAIN_WAIT_US);
    return OVA_OK;
}

ova_status ova_dwrite_place(ova_engine *e, unsigned char *blob, int src, ova_err *err)
{
    const ova_unit_hdr *h = (const ova_unit_hdr *)(void *)blob;
    place_ctx c = { e, src, 0, h->unit };
    ova_writer_held held = { place_held, &c };
    ova_status st = ova_writer_unit_held(e->writer, h, &held, err);
    if (!c.sent)
        ova_dwrite_drop(e, src, c.unit);
    return st;
}

void ova_dwrite_drop(ova_engine *e, int src, uint64_t unit)
{
    dw_write wr;
    memset(&wr, 0, sizeof wr);
    wr.unit = unit;
    wr.off = -1;
    MPI_Send(&wr, (int)sizeof wr, MPI_BYTE, src, TAG_WRITE, e->comm);
}

ova_status ova_dwrite_finish(ova_engine *e, ova_err *err)
{
    ova_err me;
    ova_err_clear(&me);
    ova_status mine = OVA_OK;
    if (e->rank != 0 && e->dw_fd >= 0 && e->local_err.status == OVA_OK && !atomic_load(&e->local_abort) &&
        fdatasync(e->dw_fd) != 0) {
        mine = ova_err_errno(&me, OVA_E_IO, errno, "%s: cannot make this rank's writes durable", e->dw_path);
        pthread_mutex_lock(&e->mu);
        ova_err_set(&e->local_err, mine, "%s", me.msg);
        pthread_mutex_unlock(&e->mu);
    }
    close_file(e);
    free(e->dw_path);
    e->dw_path = NULL;
    ova_status st = ova_mpi_agree(e->comm, mine, &me);
    unsigned long long b = atomic_load(&e->dw_bytes);
    uint64_t *all = NULL;
    if (e->rank == 0) {
        all = calloc((size_t)e->size, sizeof *all);
        e->stats->distributed_write = true;
    }
    uint64_t mb = b;
    int ok = e->rank != 0 || all != NULL; /* rank 0 says whether it has room for the figures */
    MPI_Bcast(&ok, 1, MPI_INT, 0, e->comm);
    if (ok)
        MPI_Gather(&mb, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, e->comm);
    if (e->rank == 0)
        e->stats->rank_written = all;
    if (st != OVA_OK && e->rank == 0) {
        ova_engine_fail0(e, 1, st, me.msg);
        return ova_err_set(err, st, "%s", me.msg);
    }
    return OVA_OK;
}
