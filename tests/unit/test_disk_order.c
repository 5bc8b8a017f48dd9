/* test_disk_order.c - the interleaved unit order of --parallel-disks
 * (engine/disk_order.h): every unit once, each disk in plan order, every
 * disk advancing in proportion to its units, the inverse agreeing with the
 * cursor; and the rule that engages it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine/disk_order.h"

/* A plan with only what the order reads: each disk's first unit. */
static void fake_plan(ova_plan *p, uint64_t *first, const uint64_t *units, size_t n)
{
    memset(p, 0, sizeof *p);
    p->n_disks = n;
    p->first_unit = first;
    first[0] = 0;
    for (size_t d = 0; d < n; d++)
        first[d + 1] = first[d] + units[d];
}

static void check_order(const uint64_t *units, size_t n)
{
    uint64_t first[8];
    ova_plan p;
    fake_plan(&p, first, units, n);
    uint64_t total = first[n];
    unsigned char *seen = calloc(total ? total : 1, 1);
    uint64_t done[8] = { 0 };
    ova_disk_order o;
    assert_int_equal(ova_disk_order_init(&o, &p, NULL), OVA_OK);
    for (uint64_t s = 0; s < total; s++) {
        int64_t u = ova_disk_order_next(&o);
        assert_true(u >= 0 && (uint64_t)u < total);
        assert_false(seen[u]);
        seen[u] = 1;
        assert_int_equal(ova_disk_order_seq(&p, (uint64_t)u), s);
        size_t d = 0;
        while ((uint64_t)u >= first[d + 1])
            d++;
        /* each disk's own units in plan order */
        assert_int_equal((uint64_t)u, first[d] + done[d]);
        done[d]++;
        /* proportional: after s+1 units, disk k has about (s+1) U_k / total,
         * never more than one unit off per disk */
        for (size_t k = 0; k < n; k++) {
            double want = (double)(s + 1) * (double)units[k] / (double)total;
            assert_true((double)done[k] <= want + (double)n);
            assert_true((double)done[k] + (double)n >= want);
        }
    }
    assert_int_equal(ova_disk_order_next(&o), -1);
    ova_disk_order_free(&o);
    free(seen);
}

static void t_orders(void **state)
{
    (void)state;
    const uint64_t a[] = { 5, 3, 17 };
    check_order(a, 3);
    const uint64_t b[] = { 1, 1000 };
    check_order(b, 2);
    const uint64_t c[] = { 0, 7, 0, 7, 1 }; /* disks the plan gave no unit */
    check_order(c, 5);
    const uint64_t d[] = { 64, 64, 64, 64 };
    check_order(d, 4);
    const uint64_t e[] = { 9 };
    check_order(e, 1);
}

static void t_equal_disks_alternate(void **state)
{
    (void)state;
    uint64_t first[3];
    const uint64_t units[] = { 3, 3 };
    ova_plan p;
    fake_plan(&p, first, units, 2);
    ova_disk_order o;
    assert_int_equal(ova_disk_order_init(&o, &p, NULL), OVA_OK);
    const int64_t want[] = { 0, 3, 1, 4, 2, 5, -1 };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(ova_disk_order_next(&o), want[i]);
    ova_disk_order_free(&o);
}

static void t_huge_counts_do_not_overflow(void **state)
{
    (void)state;
    uint64_t first[3];
    const uint64_t units[] = { 1ull << 40, (1ull << 41) + 3 };
    ova_plan p;
    fake_plan(&p, first, units, 2);
    /* the last unit of each disk comes near the end, the first near the
     * start: the larger disk's first key is the smaller, so it leads */
    assert_int_equal(ova_disk_order_seq(&p, first[1]), 0);
    assert_int_equal(ova_disk_order_seq(&p, 0), 1);
    assert_true(ova_disk_order_seq(&p, first[2] - 1) >= first[2] - 2);
    assert_true(ova_disk_order_seq(&p, first[1] - 1) >= first[2] - 3);
}

static void t_rule(void **state)
{
    (void)state;
    uint64_t first[4];
    const uint64_t two[] = { 4, 4, 0 };
    ova_plan p;
    fake_plan(&p, first, two, 3);
    /* auto: only past one digest stream's rate */
    assert_false(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_AUTO, 2, OVA_SHA256, &p, 0));
    assert_false(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_AUTO, 28, OVA_SHA256, &p, 0));
    assert_true(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_AUTO, 29, OVA_SHA256, &p, 0));
    assert_false(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_AUTO, 15, OVA_SHA512, &p, 0));
    assert_true(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_AUTO, 16, OVA_SHA512, &p, 0));
    assert_true(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_ON, 1, OVA_SHA256, &p, 0));
    assert_false(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_OFF, 1000, OVA_SHA256, &p, 0));
    /* never journaled, never with one disk of data */
    assert_false(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_ON, 1000, OVA_SHA256, &p, 1));
    const uint64_t one[] = { 0, 4, 0 };
    fake_plan(&p, first, one, 3);
    assert_false(ova_parallel_disks_engage(OVA_PARALLEL_DISKS_ON, 1000, OVA_SHA256, &p, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_orders),
        cmocka_unit_test(t_equal_disks_alternate),
        cmocka_unit_test(t_huge_counts_do_not_overflow),
        cmocka_unit_test(t_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
