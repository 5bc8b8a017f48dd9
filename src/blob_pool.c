/* blob_pool.c - recycled unit buffers (see blob_pool.h). */
#include "ovatool/blob_pool.h"

#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>

/* Each buffer carries its pool, so a release callback needs no context. */
typedef struct box {
    ova_blob_pool *pool;
    struct box *next;
    alignas(64) unsigned char data[];
} box;

struct ova_blob_pool {
    pthread_mutex_t mu;
    size_t size;
    unsigned keep, n_idle;
    box *idle;
};

ova_blob_pool *ova_blob_pool_new(size_t size, unsigned keep)
{
    ova_blob_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->size = size;
    p->keep = keep;
    return p;
}

unsigned char *ova_blob_get(ova_blob_pool *p)
{
    pthread_mutex_lock(&p->mu);
    box *b = p->idle;
    if (b != NULL) {
        p->idle = b->next;
        p->n_idle--;
    }
    pthread_mutex_unlock(&p->mu);
    if (b == NULL) {
        size_t n = offsetof(box, data) + p->size;
        b = aligned_alloc(64, n + (64 - n % 64) % 64);
        if (b == NULL)
            return NULL;
        b->pool = p;
    }
    return b->data;
}

void ova_blob_put(void *blob)
{
    if (blob == NULL)
        return;
    box *b = (box *)(void *)((unsigned char *)blob - offsetof(box, data));
    ova_blob_pool *p = b->pool;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle < p->keep) {
        b->next = p->idle;
        p->idle = b;
        p->n_idle++;
        b = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    free(b);
}

void ova_blob_pool_free(ova_blob_pool **pp)
{
    ova_blob_pool *p = *pp;
    if (p == NULL)
        return;
    while (p->idle != NULL) {
        box *b = p->idle;
        p->idle = b->next;
        free(b);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
    *pp = NULL;
}
