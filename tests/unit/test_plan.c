/* test_plan.c - unit numbering and the plan's broadcast encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"
#include "engine/unit.h"

static ova_disk_info *disk(const char *path, uint64_t cap, int n_extents)
{
    ova_disk_info *d = calloc(1, sizeof *d);
    d->path = strdup(path);
    d->create_type = strdup("twoGbMaxExtentFlat");
    d->capacity = cap;
    d->cid = 0xfeedbeef;
    d->tools_version = strdup("12345");
    d->extents = calloc((size_t)n_extents, sizeof *d->extents);
    d->n_extents = (size_t)n_extents;
    uint64_t per = cap / (uint64_t)n_extents;
    for (int i = 0; i < n_extents; i++) {
        d->extents[i].type = i == 1 ? OVA_EXTENT_ZERO : OVA_EXTENT_FLAT;
        d->extents[i].start = per * (uint64_t)i;
        d->extents[i].size = i == n_extents - 1 ? cap - per * (uint64_t)i : per;
        if (i != 1)
            d->extents[i].path = strdup("x-f001.vmdk");
    }
    return d;
}

static void t_units(void **state)
{
    (void)state;
    ova_disk_info **v = calloc(2, sizeof *v);
    v[0] = disk("a.vmdk", (33ull << 20) + 512, 1);   /* 529 grains: 2 units of 512 */
    v[1] = disk("b.vmdk", 600ull << 30, 3);           /* 64-bit sizes */
    ova_plan *p = NULL;
    assert_int_equal(ova_plan_new(v, 2, 512, &p, NULL), OVA_OK);
    assert_int_equal(p->first_unit[1], 2);
    assert_true(ova_plan_units(p) == 2 + 19200);
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(p, 1, &d, &first, &n);
    assert_int_equal(d, 0);
    assert_int_equal(first, 512);
    assert_int_equal(n, 17);
    ova_plan_unit(p, 2 + 19199, &d, &first, &n);
    assert_int_equal(d, 1);
    assert_true(first == 19199ull * 512);
    assert_int_equal(n, 512);

    /* pack / unpack gives the same plan */
    ova_buf b = OVA_BUF_INIT;
    ova_plan_pack(p, &b);
    ova_plan *q = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_plan_unpack(b.data, b.len, &q, &err), OVA_OK);
    assert_int_equal(q->n_disks, 2);
    assert_int_equal(q->unit_grains, 512);
    assert_true(q->disks[1]->capacity == 600ull << 30);
    assert_int_equal(q->disks[1]->n_extents, 3);
    assert_null(q->disks[1]->extents[1].path);
    assert_int_equal(q->disks[1]->extents[1].type, OVA_EXTENT_ZERO);
    assert_string_equal(q->disks[1]->extents[2].path, "x-f001.vmdk");
    assert_string_equal(q->disks[0]->tools_version, "12345");
    assert_null(q->disks[0]->tools_install_type);
    assert_int_equal(q->disks[0]->cid, 0xfeedbeef);

    /* every truncation of the encoding is refused, never a crash */
    for (size_t cut = 0; cut < b.len; cut += 7) {
        ova_plan *r = NULL;
        ova_err_clear(&err);
        assert_int_not_equal(ova_plan_unpack(b.data, cut, &r, &err), OVA_OK);
        assert_null(r);
    }
    ova_buf_free(&b);
    ova_plan_free(&q);
    ova_plan_free(&p);
    assert_null(p);
}

static void t_small_units(void **state)
{
    (void)state;
    ova_disk_info **v = calloc(1, sizeof *v);
    v[0] = disk("a.vmdk", (33ull << 20) + 512, 1);
    ova_plan *p = NULL;
    assert_int_equal(ova_plan_new(v, 1, 64, &p, NULL), OVA_OK);
    assert_int_equal(ova_plan_units(p), 9); /* 529 grains / 64 */
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(p, 8, &d, &first, &n);
    assert_int_equal(first, 512);
    assert_int_equal(n, 17);
    ova_plan_free(&p);

    v = calloc(1, sizeof *v);
    v[0] = disk("a.vmdk", 1 << 20, 1);
    assert_int_equal(ova_plan_new(v, 1, 100, &p, NULL), OVA_E_USAGE); /* not a power of two */
}

/* A data map: only the units touching it are planned, numbered on across
 * disks; the map survives the broadcast, and a bad one is refused. */
static void t_data_map(void **state)
{
    (void)state;
    ova_disk_info **v = calloc(3, sizeof *v);
    v[0] = disk("a.vmdk", 3ull << 40, 1);            /* 3 TiB: 98,304 units of 512 grains */
    v[1] = disk("b.vmdk", 64ull << 20, 1);           /* mapped, nothing in it */
    v[2] = disk("c.vmdk", (33ull << 20) + 512, 1);   /* no map: every unit */
    static const ova_grain_run runs[] = {
        { 0, 16 },                                   /* unit 0 */
        { 1000, 1040 },                              /* grains 992..1055: units 1 and 2 */
        { 1056, 1072 },                              /* unit 2 again: merged */
        { (3ull << 40) / 65536 - 16, (3ull << 40) / 65536 }, /* the last unit */
    };
    v[0]->data_mapped = true;
    v[0]->data_runs = malloc(sizeof runs);
    memcpy(v[0]->data_runs, runs, sizeof runs);
    v[0]->n_data_runs = 4;
    v[1]->data_mapped = true;
    ova_plan *p = NULL;
    assert_int_equal(ova_plan_new(v, 3, 512, &p, NULL), OVA_OK);
    assert_int_equal(ova_plan_units(p), 4 + 0 + 2);
    assert_int_equal(p->first_unit[1], 4);
    assert_int_equal(p->first_unit[2], 4);
    static const struct { size_t d; uint64_t first; uint32_t n; } want[] = {
        { 0, 0, 512 }, { 0, 512, 512 }, { 0, 1024, 512 }, { 0, 98303ull * 512, 512 }, { 2, 0, 512 }, { 2, 512, 17 },
    };
    for (uint64_t u = 0; u < 6; u++) {
        size_t d;
        uint64_t first;
        uint32_t n;
        ova_plan_unit(p, u, &d, &first, &n);
        assert_int_equal(d, want[u].d);
        assert_true(first == want[u].first);
        assert_int_equal(n, want[u].n);
    }

    ova_buf b = OVA_BUF_INIT;
    ova_plan_pack(p, &b);
    ova_plan *q = NULL;
    assert_int_equal(ova_plan_unpack(b.data, b.len, &q, NULL), OVA_OK);
    assert_int_equal(ova_plan_units(q), 6);
    assert_int_equal(q->n_runs, p->n_runs);
    assert_memory_equal(q->runs, p->runs, p->n_runs * sizeof *p->runs);
    assert_true(q->disks[1]->data_mapped && q->disks[1]->n_data_runs == 0);
    assert_false(q->disks[2]->data_mapped);
    ova_plan_free(&q);

    /* runs out of order: refused, not planned */
    ova_buf bad = OVA_BUF_INIT;
    p->disks[0]->data_runs[1] = (ova_grain_run){ 4, 8 };
    ova_plan_pack(p, &bad);
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_plan_unpack(bad.data, bad.len, &q, &err), OVA_E_MPI);
    assert_null(q);
    ova_buf_free(&bad);
    ova_buf_free(&b);
    ova_plan_free(&p);
}

static void t_is_zero(void **state)
{
    (void)state;
    uint64_t *g = aligned_alloc(64, 65536);
    memset(g, 0, 65536);
    assert_true(ova_is_zero(g, 65536));
    for (size_t i = 0; i < 65536; i += 4093) {
        ((unsigned char *)g)[i] = 1;
        assert_false(ova_is_zero(g, 65536));
        ((unsigned char *)g)[i] = 0;
    }
    ((unsigned char *)g)[65535] = 0x80;
    assert_false(ova_is_zero(g, 65536));
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_units),
        cmocka_unit_test(t_small_units),
        cmocka_unit_test(t_data_map),
        cmocka_unit_test(t_is_zero),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
