/* unit_pool.c - reusable unit result buffers (unit_pool.h). */
#include "engine/unit_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* In front of every buffer, so a release callback with one argument finds
 * the pool; 64 bytes keep the buffer itself 64-byte aligned. */
typedef struct buf_head {
    ova_unit_pool *pool;
    struct buf_head *next;   /* the free list */
    bool pooled;             /* false: a one-off of try_get, freed when put back */
} buf_head;
#define HEAD 64u
_Static_assert(sizeof(buf_head) <= HEAD, "the buffer header fits in front of the buffer");

struct ova_unit_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;    /* a pooled buffer came back, or stop */
    size_t size, max;
    size_t made;             /* pooled buffers in existence */
    size_t out;              /* buffers handed out, pooled or not */
    buf_head *free_list;
    bool stopped;
    bool closing;            /* ova_unit_pool_free ran: the last put frees the pool */
};

ova_status ova_unit_pool_new(size_t size, size_t max, ova_unit_pool **out, ova_err *err)
{
    if (max == 0 || size == 0)
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: a unit buffer pool of %zu buffers of %zu bytes",
                           max, size);
    ova_unit_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for the unit buffers");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->size = size;
    p->max = max;
    *out = p;
    return OVA_OK;
}

static unsigned char *make(ova_unit_pool *p, size_t size, bool pooled)
{
    /* size rounded up: aligned_alloc wants a multiple of the alignment */
    buf_head *h = aligned_alloc(HEAD, HEAD + (size + HEAD - 1) / HEAD * HEAD);
    if (h == NULL)
        return NULL;
    *h = (buf_head){ p, NULL, pooled };
    return (unsigned char *)h + HEAD;
}

static void destroy(ova_unit_pool *p)
{
    while (p->free_list != NULL) {
        buf_head *h = p->free_list;
        p->free_list = h->next;
        free(h);
    }
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

ova_status ova_unit_pool_get(ova_unit_pool *p, unsigned char **buf)
{
    *buf = NULL;
    pthread_mutex_lock(&p->mu);
    while (!p->stopped && p->free_list == NULL && p->made >= p->max)
        pthread_cond_wait(&p->freed, &p->mu);
    if (p->stopped) {
        pthread_mutex_unlock(&p->mu);
        return OVA_E_ABORTED;
    }
    buf_head *h = p->free_list;
    if (h != NULL) {
        p->free_list = h->next;
        p->out++;
        pthread_mutex_unlock(&p->mu);
        *buf = (unsigned char *)h + HEAD;
        return OVA_OK;
    }
    p->made++; /* claimed before allocating, outside the lock */
    pthread_mutex_unlock(&p->mu);
    unsigned char *b = make(p, p->size, true);
    pthread_mutex_lock(&p->mu);
    if (b == NULL) {
        p->made--;
        pthread_cond_signal(&p->freed); /* the claim is free again */
    } else {
        p->out++;
    }
    pthread_mutex_unlock(&p->mu);
    *buf = b;
    return b != NULL ? OVA_OK : OVA_E_NOMEM;
}

unsigned char *ova_unit_pool_try_get(ova_unit_pool *p, size_t size)
{
    if (p == NULL || size > p->size)
        return NULL;
    pthread_mutex_lock(&p->mu);
    buf_head *h = p->free_list;
    bool pooled = h != NULL || p->made < p->max;
    if (h != NULL)
        p->free_list = h->next;
    else if (pooled)
        p->made++;
    pthread_mutex_unlock(&p->mu);
    unsigned char *b = h != NULL ? (unsigned char *)h + HEAD : make(p, pooled ? p->size : size, pooled);
    pthread_mutex_lock(&p->mu);
    if (b != NULL)
        p->out++;
    else if (pooled) {
        p->made--;
        pthread_cond_signal(&p->freed);
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

unsigned char *ova_unit_pool_one_off(ova_unit_pool *p, size_t size)
{
    if (p == NULL || size > p->size)
        return NULL;
    unsigned char *b = make(p, size, false);
    if (b != NULL) {
        pthread_mutex_lock(&p->mu);
        p->out++;
        pthread_mutex_unlock(&p->mu);
    }
    return b;
}

void ova_unit_pool_put(void *buf)
{
    if (buf == NULL)
        return;
    buf_head *h = (buf_head *)(void *)((unsigned char *)buf - HEAD);
    ova_unit_pool *p = h->pool;
    pthread_mutex_lock(&p->mu);
    p->out--;
    if (!h->pooled || p->closing) {
        if (h->pooled)
            p->made--;
        free(h);
    } else {
        h->next = p->free_list;
        p->free_list = h;
        pthread_cond_signal(&p->freed);
    }
    bool last = p->closing && p->out == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        destroy(p);
}

void ova_unit_pool_stop(ova_unit_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopped = true;
    pthread_cond_broadcast(&p->freed);
    pthread_mutex_unlock(&p->mu);
}

size_t ova_unit_pool_made(ova_unit_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->made;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void ova_unit_pool_free(ova_unit_pool **pp)
{
    ova_unit_pool *p = *pp;
    if (p == NULL)
        return;
    *pp = NULL;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    p->stopped = true;
    while (p->free_list != NULL) {
        buf_head *h = p->free_list;
        p->free_list = h->next;
        p->made--;
        free(h);
    }
    bool last = p->out == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        destroy(p); /* else the last ova_unit_pool_put does */
}
