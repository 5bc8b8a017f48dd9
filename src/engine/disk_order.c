/* disk_order.c - the interleaved unit order of a multi-disk export and
 * the rule that engages it (disk_order.h). */
#include "engine/disk_order.h"

#include <stdlib.h>

/* Planned units of disk d. */
static uint64_t units_of(const ova_plan *p, size_t d)
{
    return p->first_unit[d + 1] - p->first_unit[d];
}

/* Does unit i of disk a come before unit j of disk b? Keys (2i+1)/(2U_a)
 * against (2j+1)/(2U_b), compared without division (128-bit products:
 * unit counts reach 2^40 and more), ties to the lower disk. */
static int before(const ova_plan *p, size_t a, uint64_t i, size_t b, uint64_t j)
{
    unsigned __int128 x = (unsigned __int128)(2 * i + 1) * units_of(p, b);
    unsigned __int128 y = (unsigned __int128)(2 * j + 1) * units_of(p, a);
    return x < y || (x == y && a < b);
}

ova_status ova_disk_order_init(ova_disk_order *o, const ova_plan *plan, ova_err *err)
{
    o->plan = plan;
    o->seq = 0;
    o->next = calloc(plan->n_disks ? plan->n_disks : 1, sizeof *o->next);
    if (o->next == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for the disks' unit order");
    return OVA_OK;
}

void ova_disk_order_free(ova_disk_order *o)
{
    free(o->next);
    o->next = NULL;
}

int64_t ova_disk_order_next(ova_disk_order *o)
{
    const ova_plan *p = o->plan;
    size_t best = p->n_disks;
    for (size_t d = 0; d < p->n_disks; d++) {
        if (o->next[d] >= units_of(p, d))
            continue;
        if (best == p->n_disks || before(p, d, o->next[d], best, o->next[best]))
            best = d;
    }
    if (best == p->n_disks)
        return -1;
    o->seq++;
    return (int64_t)(p->first_unit[best] + o->next[best]++);
}

uint64_t ova_disk_order_seq(const ova_plan *p, uint64_t u)
{
    size_t d = 0;
    while (d + 1 < p->n_disks && u >= p->first_unit[d + 1])
        d++;
    uint64_t i = u - p->first_unit[d], ud = units_of(p, d);
    uint64_t seq = i; /* its own disk's units before it */
    for (size_t k = 0; k < p->n_disks; k++) {
        uint64_t uk = units_of(p, k);
        if (k == d || uk == 0)
            continue;
        /* units j of disk k before it: (2j+1) ud < (2i+1) uk, or equal
         * with k < d; that is 2j+1 <= m, m = floor(lim / ud) */
        unsigned __int128 lim = (unsigned __int128)(2 * i + 1) * uk;
        if (k > d)
            lim -= 1; /* strict: (2i+1) uk >= 1, so no wrap */
        unsigned __int128 m = lim / ud;
        unsigned __int128 c = (m + 1) / 2;
        seq += c < uk ? (uint64_t)c : uk;
    }
    return seq;
}

int ova_parallel_disks_engage(ova_parallel_disks mode, int threads_total, ova_sha sha, const ova_plan *plan,
                              int journaled)
{
    if (mode == OVA_PARALLEL_DISKS_OFF || journaled)
        return 0;
    size_t with_units = 0;
    for (size_t d = 0; d < plan->n_disks; d++)
        with_units += units_of(plan, d) > 0;
    if (with_units < 2)
        return 0;
    if (mode == OVA_PARALLEL_DISKS_ON)
        return 1;
    uint64_t digest = sha == OVA_SHA512 ? OVA_DIGEST_RATE_SHA512
                      : sha == OVA_SHA1 ? OVA_DIGEST_RATE_SHA1
                                        : OVA_DIGEST_RATE_SHA256;
    return (uint64_t)(threads_total > 0 ? threads_total : 1) * OVA_COMPRESSED_RATE_PER_THREAD > digest;
}
