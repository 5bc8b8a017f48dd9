/* batch_pool.c - the batch threads of one process (batch_pool.h). */
#include "import/batch_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

typedef struct pool_disk {
    int in_fd;
    const char *in_path;
    const char *member;
    size_t n_ext;
    ova_batch_out *out;
} pool_disk;

typedef struct zero_rep {
    uint32_t disk;
    uint64_t lba;
} zero_rep;

struct ova_batch_pool {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full, idle;
    ova_grain_batch *q;
    size_t cap, head, count;
    unsigned running;       /* batches being run */
    bool stop;
    ova_status failed;      /* first error */
    ova_err err;
    pool_disk *disks;
    size_t n_disks, disks_cap;
    zero_rep *zeros;
    size_t n_zeros, zeros_cap;
    pthread_t *tids;
    unsigned n_threads;
    const struct ova_import_remote *remote;
    unsigned next_slot;     /* handed to the remote threads as they start */
    uint64_t carry_limit;   /* bytes of carried batches (queued or running) at most */
    uint64_t carried;
};

/* A carried batch is done with (run, or dropped): its bytes go. Lock held. */
static void drop_data(ova_batch_pool *p, ova_grain_batch *b)
{
    if (b->data == NULL)
        return;
    free(b->data);
    b->data = NULL;
    p->carried -= b->span;
    pthread_cond_broadcast(&p->not_full);
}

static void fail(ova_batch_pool *p, ova_status st, const ova_err *e)
{
    if (p->failed == OVA_OK) {
        p->failed = st;
        p->err = *e;
    }
    p->stop = true;
    pthread_cond_broadcast(&p->not_full);
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->idle);
}

/* A local worker runs batches here; a remote one (slot >= 0) hands them to
 * its slot and waits. */
static void *work(ova_batch_pool *p, int slot)
{
    ova_batch_scratch *s = NULL;
    ova_err e = { 0 };
    ova_status st = slot < 0 ? ova_batch_scratch_new(&s, &e) : OVA_OK;
    ova_grain_batch b;
    uint64_t zl[OVA_BATCH_GRAINS];
    pthread_mutex_lock(&p->mu);
    if (st != OVA_OK)
        fail(p, st, &e);
    for (;;) {
        while (p->count == 0 && !p->stop)
            pthread_cond_wait(&p->not_empty, &p->mu);
        if (p->stop)
            break;
        b = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->running++;
        pthread_cond_signal(&p->not_full);
        pool_disk dd = b.disk < p->n_disks ? p->disks[b.disk] : (pool_disk){ -1, NULL, NULL, 0, NULL };
        const pool_disk *d = &dd;
        pthread_mutex_unlock(&p->mu);
        uint32_t nz = 0;
        uint64_t wr = 0; /* (the MPI driver counts each rank's bytes from its answers) */
        if (d->out == NULL)
            st = ova_err_set(&e, OVA_E_INTERNAL, "internal error: batch for an unknown disk %u", b.disk);
        else if (slot < 0)
            st = ova_grain_batch_run(&b, d->in_fd, d->member, d->out, s, zl, &nz, &wr, &e);
        else {
            ova_pool_disk_info info = { b.disk, d->in_path, d->member, d->n_ext, d->out };
            st = p->remote->run(p->remote->ctx, (unsigned)slot, &info, &b, zl, &nz, &wr, &e);
        }
        pthread_mutex_lock(&p->mu);
        p->running--;
        drop_data(p, &b);
        if (st != OVA_OK) {
            fail(p, st, &e);
            break;
        }
        for (uint32_t i = 0; i < nz; i++) {
            zero_rep *z = ova_grow(p->zeros, &p->zeros_cap, p->n_zeros + 1, sizeof *z);
            if (z == NULL) {
                ova_err_set(&e, OVA_E_NOMEM, "out of memory");
                fail(p, OVA_E_NOMEM, &e);
                break;
            }
            p->zeros = z;
            p->zeros[p->n_zeros].disk = b.disk;
            p->zeros[p->n_zeros++].lba = zl[i];
        }
        if (p->count == 0 && p->running == 0)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->mu);
    ova_batch_scratch_free(&s);
    return NULL;
}

static void *worker(void *arg) { return work(arg, -1); }

static void *remote_worker(void *arg)
{
    ova_batch_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    int slot = (int)p->next_slot++;
    pthread_mutex_unlock(&p->mu);
    return work(p, slot);
}

ova_status ova_batch_pool_new(unsigned threads, const struct ova_import_remote *remote, uint64_t carry_limit,
                              ova_batch_pool **out, ova_err *err)
{
    ova_batch_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    if (threads == 0)
        threads = 1;
    unsigned slots = remote != NULL ? remote->slots : 0;
    p->remote = remote;
    p->carry_limit = carry_limit;
    /* the window: two batches per worker, here or elsewhere */
    p->cap = 2 * ((size_t)threads + slots) + 2;
    p->q = calloc(p->cap, sizeof *p->q);
    p->tids = calloc((size_t)threads + slots, sizeof *p->tids);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->not_empty, NULL);
    pthread_cond_init(&p->not_full, NULL);
    pthread_cond_init(&p->idle, NULL);
    if (p->q == NULL || p->tids == NULL) {
        ova_batch_pool_free(&p);
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    }
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&p->tids[i], NULL, worker, p) != 0) {
            ova_batch_pool_free(&p);
            return ova_err_set(err, OVA_E_NOMEM, "cannot start inflate thread %u", i + 1);
        }
        p->n_threads++;
    }
    for (unsigned i = 0; i < slots; i++) {
        if (pthread_create(&p->tids[p->n_threads], NULL, remote_worker, p) != 0) {
            ova_batch_pool_free(&p);
            return ova_err_set(err, OVA_E_NOMEM, "cannot start the thread of remote worker %u", i + 1);
        }
        p->n_threads++;
    }
    *out = p;
    return OVA_OK;
}

ova_status ova_batch_pool_set_disk(ova_batch_pool *p, uint32_t d, int in_fd, const char *in_path,
                                   const char *member, size_t n_ext, const ova_batch_out *out, ova_err *err)
{
    pthread_mutex_lock(&p->mu);
    ova_status st = OVA_OK;
    pool_disk *v = ova_grow(p->disks, &p->disks_cap, (size_t)d + 1, sizeof *v);
    ova_batch_out *outs = malloc(n_ext * sizeof *outs);
    if (v == NULL || outs == NULL) {
        free(outs);
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
    } else {
        p->disks = v;
        for (size_t i = p->n_disks; i <= d; i++)
            memset(&p->disks[i], 0, sizeof p->disks[i]);
        if (p->n_disks <= d)
            p->n_disks = (size_t)d + 1;
        memcpy(outs, out, n_ext * sizeof *outs);
        free(p->disks[d].out);
        p->disks[d] = (pool_disk){ in_fd, in_path, member, n_ext, outs };
    }
    pthread_mutex_unlock(&p->mu);
    return st;
}

ova_status ova_batch_pool_submit(ova_batch_pool *p, ova_grain_batch *b, ova_err *err)
{
    pthread_mutex_lock(&p->mu);
    /* carried bytes wait for room too (one batch always fits: at most
     * OVA_BATCH_SPAN_MAX, and nothing else carried then) */
    while ((p->count == p->cap || (b->data != NULL && p->carried > 0 && p->carried + b->span > p->carry_limit)) &&
           !p->stop)
        pthread_cond_wait(&p->not_full, &p->mu);
    ova_status st = p->failed;
    if (st != OVA_OK) {
        *err = p->err;
    } else if (p->stop) {
        st = ova_err_set(err, OVA_E_INTERNAL, "internal error: batch pool stopped");
    } else {
        p->q[(p->head + p->count) % p->cap] = *b;
        p->count++;
        if (b->data != NULL)
            p->carried += b->span;
        pthread_cond_signal(&p->not_empty);
    }
    pthread_mutex_unlock(&p->mu);
    if (st != OVA_OK)
        free(b->data);
    b->data = NULL; /* the pool's now, or freed */
    return st;
}

ova_status ova_batch_pool_take_zeros(ova_batch_pool *p, ova_status (*fn)(void *ctx, uint32_t disk, uint64_t lba,
                                                                         ova_err *err),
                                     void *ctx, ova_err *err)
{
    pthread_mutex_lock(&p->mu);
    zero_rep *z = p->zeros;
    size_t n = p->n_zeros;
    p->zeros = NULL;
    p->n_zeros = p->zeros_cap = 0;
    pthread_mutex_unlock(&p->mu);
    ova_status st = OVA_OK;
    for (size_t i = 0; i < n && st == OVA_OK; i++)
        st = fn(ctx, z[i].disk, z[i].lba, err);
    free(z);
    return st;
}

ova_status ova_batch_pool_wait(ova_batch_pool *p, ova_err *err)
{
    pthread_mutex_lock(&p->mu);
    while ((p->count > 0 || p->running > 0) && p->failed == OVA_OK)
        pthread_cond_wait(&p->idle, &p->mu);
    ova_status st = p->failed;
    if (st != OVA_OK)
        *err = p->err;
    pthread_mutex_unlock(&p->mu);
    return st;
}

void ova_batch_pool_free(ova_batch_pool **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    ova_batch_pool *p = *pp;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->not_full);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->tids[i], NULL);
    for (; p->count > 0; p->count--, p->head = (p->head + 1) % p->cap)
        drop_data(p, &p->q[p->head]); /* dropped: their bytes go */
    for (size_t i = 0; i < p->n_disks; i++) {
        free(p->disks[i].out);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->not_empty);
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->idle);
    free(p->disks);
    free(p->zeros);
    free(p->q);
    free(p->tids);
    free(p);
    *pp = NULL;
}
