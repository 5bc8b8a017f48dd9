/* mpi_dwrite_setup.c - whether distributed writing runs and on what file
 * (mpi_dwrite.c is the run itself): the decision from --distributed-write
 * and the hosts the job spans, the check that every rank continues rank
 * 0's digest state alike, the token check that every rank sees the very
 * file rank 0 created, and at the end every rank's writes made durable and
 * counted. Every function here is collective. */
#include "engine/mpi_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine/mpi_agree.h"
#include "format/digest_state.h"
#include "util/io.h"

#define TOKEN_LEN 16

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
                ova_engine_log(e, 1,
                               "distributed writing: off (%s); rank 0 writes the OVA, through the page cache and "
                               "with the disks one after another as set up for distributed writing",
                               msg);
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


ova_status ova_dwrite_finish(ova_engine *e, ova_err *err)
{
    ova_err me;
    ova_err_clear(&me);
    ova_status mine = OVA_OK;
    /* this rank's own failure goes into the agreement: its holder thread's
     * ERROR may reach rank 0 after its service loop ended (it waits for
     * worker threads, not holders), and rank 0 would then keep an OVA
     * missing that unit's bytes */
    pthread_mutex_lock(&e->mu);
    if (e->rank != 0 && e->local_err.status != OVA_OK) {
        mine = e->local_err.status;
        ova_err_set(&me, mine, "%s", e->local_err.msg);
    }
    pthread_mutex_unlock(&e->mu);
    if (mine == OVA_OK && e->rank != 0 && e->dw_fd >= 0 && fdatasync(e->dw_fd) != 0) {
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
