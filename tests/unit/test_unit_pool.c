/* test_unit_pool.c - rank 0's reusable unit buffers (engine/unit_pool.h):
 * buffers come back and are handed out again (the same memory, so its
 * pages stay mapped), no more than max pooled ones exist, a full pool
 * makes ova_unit_pool_get wait until a buffer is put back on another
 * thread (the write thread's release), stop wakes a waiter with
 * OVA_E_ABORTED, try_get never waits but makes one-off buffers, and
 * buffers put back after the pool was freed are freed (ASan/LSan builds
 * see any leak or double free). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "engine/unit_pool.h"

#define SIZE 100000u

static ova_unit_pool *new_pool(size_t max)
{
    ova_unit_pool *p = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_unit_pool_new(SIZE, max, &p, &err), OVA_OK);
    assert_non_null(p);
    return p;
}

static void t_reuse(void **state)
{
    (void)state;
    ova_unit_pool *p = new_pool(2);
    assert_int_equal(ova_unit_pool_made(p), 0); /* nothing before it is asked for */
    unsigned char *a, *b, *c;
    assert_int_equal(ova_unit_pool_get(p, &a), OVA_OK);
    assert_int_equal(ova_unit_pool_get(p, &b), OVA_OK);
    assert_ptr_not_equal(a, b);
    assert_int_equal((uintptr_t)a % 64, 0);
    memset(a, 0xa5, SIZE); /* the whole size is usable */
    memset(b, 0x5a, SIZE);
    assert_int_equal(ova_unit_pool_made(p), 2);
    ova_unit_pool_put(a);
    assert_int_equal(ova_unit_pool_get(p, &c), OVA_OK);
    assert_ptr_equal(c, a); /* the same buffer again, not a new one */
    assert_int_equal(ova_unit_pool_made(p), 2);
    ova_unit_pool_put(b);
    ova_unit_pool_put(c);
    ova_unit_pool_put(NULL);
    ova_unit_pool_free(&p);
    assert_null(p);
    ova_unit_pool_free(&p); /* NULL is accepted */
}

static void t_bad_sizes(void **state)
{
    (void)state;
    ova_unit_pool *p = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_unit_pool_new(SIZE, 0, &p, &err), OVA_E_INTERNAL);
    assert_null(p);
    assert_int_equal(ova_unit_pool_new(0, 4, &p, &err), OVA_E_INTERNAL);
    assert_null(p);
}

typedef struct getter {
    ova_unit_pool *p;
    unsigned char *got;
    ova_status st;
    int done;
    pthread_mutex_t mu;
} getter;

static void *get_main(void *arg)
{
    getter *g = arg;
    unsigned char *b = NULL;
    ova_status st = ova_unit_pool_get(g->p, &b);
    pthread_mutex_lock(&g->mu);
    g->got = b;
    g->st = st;
    g->done = 1;
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static int getter_done(getter *g)
{
    pthread_mutex_lock(&g->mu);
    int d = g->done;
    pthread_mutex_unlock(&g->mu);
    return d;
}

static void pause_ms(long ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

/* A full pool: get waits, and a put on this thread lets it through with
 * the very buffer put back. */
static void t_full_pool_waits(void **state)
{
    (void)state;
    ova_unit_pool *p = new_pool(1);
    unsigned char *a;
    assert_int_equal(ova_unit_pool_get(p, &a), OVA_OK);
    getter g = { p, NULL, OVA_OK, 0, PTHREAD_MUTEX_INITIALIZER };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, get_main, &g), 0);
    pause_ms(100);
    assert_false(getter_done(&g)); /* still waiting: the one buffer is out */
    ova_unit_pool_put(a);
    pthread_join(t, NULL);
    assert_int_equal(g.st, OVA_OK);
    assert_ptr_equal(g.got, a);
    assert_int_equal(ova_unit_pool_made(p), 1);
    ova_unit_pool_put(g.got);
    ova_unit_pool_free(&p);
}

/* stop wakes a waiter, which gets OVA_E_ABORTED and no buffer; later gets
 * fail at once, try_get still works */
static void t_stop_wakes(void **state)
{
    (void)state;
    ova_unit_pool *p = new_pool(1);
    unsigned char *a;
    assert_int_equal(ova_unit_pool_get(p, &a), OVA_OK);
    getter g = { p, NULL, OVA_OK, 0, PTHREAD_MUTEX_INITIALIZER };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, get_main, &g), 0);
    pause_ms(50);
    ova_unit_pool_stop(p);
    pthread_join(t, NULL);
    assert_int_equal(g.st, OVA_E_ABORTED);
    assert_null(g.got);
    unsigned char *b = (unsigned char *)1;
    assert_int_equal(ova_unit_pool_get(p, &b), OVA_E_ABORTED);
    assert_null(b);
    unsigned char *c = ova_unit_pool_try_get(p, 10);
    assert_non_null(c);
    ova_unit_pool_put(c);
    ova_unit_pool_put(a);
    ova_unit_pool_free(&p);
}

/* try_get: a pooled buffer while there is one, then one-off buffers (no
 * more pooled than max); a one-off put back is freed, not pooled */
static void t_try_get(void **state)
{
    (void)state;
    ova_unit_pool *p = new_pool(2);
    assert_null(ova_unit_pool_try_get(p, SIZE + 1)); /* larger than a unit can be */
    assert_null(ova_unit_pool_try_get(NULL, 10));    /* no pool: the job failed setting up */
    unsigned char *a = ova_unit_pool_try_get(p, 10);
    unsigned char *b = ova_unit_pool_try_get(p, SIZE);
    unsigned char *c = ova_unit_pool_try_get(p, 4096);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    memset(a, 1, SIZE); /* pooled: the full size, whatever was asked */
    memset(c, 3, 4096);
    assert_int_equal(ova_unit_pool_made(p), 2);
    ova_unit_pool_put(c); /* the one-off: freed */
    assert_int_equal(ova_unit_pool_made(p), 2);
    ova_unit_pool_put(a);
    unsigned char *d;
    assert_int_equal(ova_unit_pool_get(p, &d), OVA_OK); /* a free pooled one, no wait */
    assert_ptr_equal(d, a);
    ova_unit_pool_put(d);
    ova_unit_pool_put(b);
    ova_unit_pool_free(&p);
}

/* one_off: never a pooled buffer, even with pooled ones free or still to
 * be made; put back, it is freed and the pool is as it was */
static void t_one_off(void **state)
{
    (void)state;
    ova_unit_pool *p = new_pool(2);
    assert_null(ova_unit_pool_one_off(p, SIZE + 1));
    assert_null(ova_unit_pool_one_off(NULL, 10));
    unsigned char *a;
    assert_int_equal(ova_unit_pool_get(p, &a), OVA_OK);
    ova_unit_pool_put(a); /* a free pooled buffer now */
    unsigned char *h = ova_unit_pool_one_off(p, 40);
    assert_non_null(h);
    assert_ptr_not_equal(h, a);
    memset(h, 7, 40);
    assert_int_equal(ova_unit_pool_made(p), 1);
    ova_unit_pool_put(h);
    assert_int_equal(ova_unit_pool_made(p), 1);
    unsigned char *b, *c;
    assert_int_equal(ova_unit_pool_get(p, &b), OVA_OK); /* the free one, then a second: max 2 */
    assert_ptr_equal(b, a);
    assert_int_equal(ova_unit_pool_get(p, &c), OVA_OK);
    assert_int_equal(ova_unit_pool_made(p), 2);
    ova_unit_pool_put(b);
    ova_unit_pool_put(c);
    ova_unit_pool_free(&p);
}

/* Buffers still out when the pool is freed (the write thread's queue after
 * a failure) may be put back afterwards; the last one frees the pool. */
static void t_put_after_free(void **state)
{
    (void)state;
    ova_unit_pool *p = new_pool(3);
    unsigned char *a, *b, *c;
    assert_int_equal(ova_unit_pool_get(p, &a), OVA_OK);
    assert_int_equal(ova_unit_pool_get(p, &b), OVA_OK);
    c = ova_unit_pool_try_get(p, 64);
    assert_non_null(c);
    ova_unit_pool_put(b);              /* a free one, freed by ova_unit_pool_free */
    ova_unit_pool_free(&p);
    assert_null(p);
    memset(a, 7, SIZE);                /* still valid memory */
    ova_unit_pool_put(a);
    ova_unit_pool_put(c);              /* the last: frees the pool */
}

/* Many threads taking and putting back: never more than max pooled
 * buffers, and no buffer is handed to two holders at once. */
#define THREADS 6
#define ROUNDS 2000
typedef struct churn {
    ova_unit_pool *p;
    int fail;
} churn;

static void *churn_main(void *arg)
{
    churn *c = arg;
    for (int i = 0; i < ROUNDS; i++) {
        unsigned char *b;
        if (ova_unit_pool_get(c->p, &b) != OVA_OK) {
            c->fail = 1;
            return NULL;
        }
        /* a holder owns the buffer: mark it, and find the mark intact */
        uintptr_t me = (uintptr_t)c;
        memcpy(b, &me, sizeof me);
        memcpy(b + SIZE - sizeof me, &me, sizeof me);
        sched_yield();
        uintptr_t x, y;
        memcpy(&x, b, sizeof x);
        memcpy(&y, b + SIZE - sizeof y, sizeof y);
        if (x != me || y != me)
            c->fail = 1;
        ova_unit_pool_put(b);
    }
    return NULL;
}

static void t_threads(void **state)
{
    (void)state;
    ova_unit_pool *p = new_pool(3);
    churn cs[THREADS];
    pthread_t ts[THREADS];
    for (int i = 0; i < THREADS; i++) {
        cs[i] = (churn){ p, 0 };
        assert_int_equal(pthread_create(&ts[i], NULL, churn_main, &cs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(ts[i], NULL);
        assert_int_equal(cs[i].fail, 0);
    }
    assert_true(ova_unit_pool_made(p) <= 3);
    ova_unit_pool_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_reuse),
        cmocka_unit_test(t_bad_sizes),
        cmocka_unit_test(t_full_pool_waits),
        cmocka_unit_test(t_stop_wakes),
        cmocka_unit_test(t_try_get),
        cmocka_unit_test(t_one_off),
        cmocka_unit_test(t_put_after_free),
        cmocka_unit_test(t_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
