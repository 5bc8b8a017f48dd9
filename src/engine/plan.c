/* plan.c - the work plan and its byte encoding for the broadcast. */
#include "engine/plan.h"

#include <stdlib.h>
#include <string.h>

#include "format/vmdk_stream.h"
#include "format/wire.h"
#include "ovatool/prepare.h"
#include "util/grow.h"

#define PLAN_MAGIC 0x4e4c5041564fULL /* "OVAPLN" */

void ova_plan_free(ova_plan **pp)
{
    ova_plan *p = *pp;
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_disks; i++)
        ova_disk_info_free(&p->disks[i]);
    free(p->disks);
    free(p->first_unit);
    free(p->runs);
    free(p);
    *pp = NULL;
}

/* Units [ua, ub) of disk d (its own numbering) are planned: after the
 * plan's last run, merged with it when they touch. */
static ova_status add_units(ova_plan *p, size_t d, uint64_t ua, uint64_t ub, size_t *cap)
{
    uint64_t *fu = p->first_unit;
    if (p->n_runs > 0) {
        ova_plan_run *last = &p->runs[p->n_runs - 1];
        uint64_t last_end = last->first_grain / p->unit_grains + last->n_units;
        if (last->disk == d && ua <= last_end) {
            if (ub > last_end) {
                last->n_units += ub - last_end;
                fu[d + 1] += ub - last_end;
            }
            return OVA_OK;
        }
    }
    ova_plan_run *r = ova_grow(p->runs, cap, p->n_runs + 1, sizeof *r);
    if (r == NULL)
        return OVA_E_NOMEM;
    p->runs = r;
    r[p->n_runs++] = (ova_plan_run){ fu[d + 1], ua * p->unit_grains, ub - ua, d };
    fu[d + 1] += ub - ua;
    return OVA_OK;
}

/* Plan the units of disk d that its data map says may hold data (all of
 * them without a map). */
static ova_status add_disk_runs(ova_plan *p, size_t d, size_t *cap)
{
    const ova_disk_info *di = p->disks[d];
    uint64_t g = ova_stream_grains(di->capacity), ug = p->unit_grains;
    uint64_t units = g / ug + (g % ug != 0);
    if (!di->data_mapped)
        return units > 0 ? add_units(p, d, 0, units, cap) : OVA_OK;
    for (size_t k = 0; k < di->n_data_runs; k++) {
        uint64_t a = di->data_runs[k].first / ug, b = (di->data_runs[k].end + ug - 1) / ug;
        if (b > units)
            b = units;
        if (a < b && add_units(p, d, a, b, cap) != OVA_OK)
            return OVA_E_NOMEM;
    }
    return OVA_OK;
}

ova_status ova_plan_new(ova_disk_info **disks, size_t n_disks, uint32_t unit_grains, ova_plan **out,
                        ova_err *err)
{
    if (unit_grains == 0 || unit_grains > OVA_GT_ENTRIES || (unit_grains & (unit_grains - 1)) != 0) {
        for (size_t i = 0; i < n_disks; i++)
            ova_disk_info_free(&disks[i]);
        free(disks);
        return ova_err_set(err, OVA_E_USAGE, "unit size of %u grains is not a power of two up to 512",
                           unit_grains);
    }
    ova_plan *p = calloc(1, sizeof *p);
    uint64_t *fu = calloc(n_disks + 1, sizeof *fu);
    if (p == NULL || fu == NULL) {
        free(fu);
        free(p);
        for (size_t i = 0; i < n_disks; i++)
            ova_disk_info_free(&disks[i]);
        free(disks);
        return ova_err_set(err, OVA_E_NOMEM, "out of memory building the plan");
    }
    p->disks = disks;
    p->n_disks = n_disks;
    p->first_unit = fu;
    p->unit_grains = unit_grains;
    size_t cap = 0;
    for (size_t i = 0; i < n_disks; i++) {
        fu[i + 1] = fu[i];
        if (add_disk_runs(p, i, &cap) != OVA_OK) {
            ova_plan_free(&p);
            return ova_err_set(err, OVA_E_NOMEM, "out of memory building the plan");
        }
    }
    *out = p;
    return OVA_OK;
}

ova_status ova_plan_from_prepared(ova_prepared *prep, uint32_t unit_grains, ova_plan **out, ova_err *err)
{
    ova_disk_info **disks = calloc(prep->n_disks ? prep->n_disks : 1, sizeof *disks);
    if (disks == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory building the plan");
    for (size_t i = 0; i < prep->n_disks; i++)
        disks[i] = prep->disks[i].info;
    prep->infos_given = true;
    return ova_plan_new(disks, prep->n_disks, unit_grains, out, err);
}

uint64_t ova_plan_units(const ova_plan *p) { return p->first_unit[p->n_disks]; }

void ova_plan_unit(const ova_plan *p, uint64_t unit, size_t *disk, uint64_t *first_grain,
                   uint32_t *n_grains)
{
    size_t lo = 0, hi = p->n_runs;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p->runs[mid].first_unit <= unit)
            lo = mid;
        else
            hi = mid;
    }
    const ova_plan_run *r = &p->runs[lo];
    *disk = r->disk;
    *first_grain = r->first_grain + (unit - r->first_unit) * p->unit_grains;
    uint64_t total = ova_stream_grains(p->disks[r->disk]->capacity);
    uint64_t left = total - *first_grain;
    *n_grains = left < p->unit_grains ? (uint32_t)left : p->unit_grains;
}

static void putstr(ova_buf *b, const char *s)
{
    if (s == NULL) {
        ova_wire_put64(b, UINT64_MAX);
        return;
    }
    size_t n = strlen(s);
    ova_wire_put64(b, n);
    ova_buf_append(b, s, n);
}

static void put_extents(ova_buf *b, const ova_extent *x, size_t n)
{
    ova_wire_put64(b, n);
    for (size_t k = 0; k < n; k++) {
        const ova_extent *e = &x[k];
        ova_wire_put64(b, (uint64_t)e->type);
        ova_wire_put64(b, e->start);
        ova_wire_put64(b, e->size);
        ova_wire_put64(b, e->file_offset);
        putstr(b, e->path);
        ova_wire_put64(b, e->sparse_flags);
        ova_wire_put64(b, e->grain_sectors);
        ova_wire_put64(b, e->gd_sector);
        ova_wire_put64(b, e->gd_entries);
        ova_wire_put64(b, e->file_size);
    }
}

void ova_plan_pack(const ova_plan *p, ova_buf *b)
{
    ova_wire_put64(b, PLAN_MAGIC);
    ova_wire_put64(b, p->unit_grains);
    ova_wire_put64(b, p->n_disks);
    for (size_t i = 0; i < p->n_disks; i++) {
        const ova_disk_info *d = p->disks[i];
        putstr(b, d->path);
        putstr(b, d->create_type);
        ova_wire_put64(b, d->capacity);
        ova_wire_put64(b, d->cid);
        putstr(b, d->tools_version);
        putstr(b, d->tools_install_type);
        ova_wire_put64(b, d->allocated);
        /* the data map, so that every rank plans the same units */
        ova_wire_put64(b, d->data_mapped ? d->n_data_runs : UINT64_MAX);
        for (size_t k = 0; d->data_mapped && k < d->n_data_runs; k++) {
            ova_wire_put64(b, d->data_runs[k].first);
            ova_wire_put64(b, d->data_runs[k].end);
        }
        put_extents(b, d->extents, d->n_extents);
        /* the snapshot chain, so that every rank can read through it */
        ova_wire_put64(b, (uint64_t)d->chain_depth);
        for (int k = 0; k < d->chain_depth; k++) {
            const ova_disk_link *l = &d->parents[k];
            putstr(b, l->path);
            putstr(b, l->create_type);
            ova_wire_put64(b, l->cid);
            ova_wire_put64(b, l->capacity);
            put_extents(b, l->extents, l->n_extents);
        }
    }
}

static char *getstr(ova_wire *r)
{
    uint64_t n = ova_wire_get64(r);
    if (r->bad || n == UINT64_MAX)
        return NULL;
    const unsigned char *q = n <= r->left ? ova_wire_take(r, (size_t)n) : NULL;
    char *s = q != NULL ? malloc((size_t)n + 1) : NULL;
    if (s == NULL) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, q, (size_t)n);
    s[n] = '\0';
    return s;
}

/* Smallest encoding of one extent: ten 64-bit fields (a NULL path is one). */
#define EXTENT_MIN_BYTES 80u

static void get_extents(ova_wire *r, ova_extent **out, size_t *n_out)
{
    uint64_t ne = ova_wire_get64(r);
    if (r->bad || ne > r->left / EXTENT_MIN_BYTES) {
        r->bad = 1;
        return;
    }
    ova_extent *x = calloc(ne ? ne : 1, sizeof *x);
    if (x == NULL) {
        r->bad = 1;
        return;
    }
    *out = x;
    for (uint64_t k = 0; k < ne && !r->bad; k++) {
        ova_extent *e = &x[k];
        e->type = (ova_extent_type)ova_wire_get64(r);
        e->start = ova_wire_get64(r);
        e->size = ova_wire_get64(r);
        e->file_offset = ova_wire_get64(r);
        e->path = getstr(r);
        e->sparse_flags = (uint32_t)ova_wire_get64(r);
        e->grain_sectors = (uint32_t)ova_wire_get64(r);
        e->gd_sector = ova_wire_get64(r);
        e->gd_entries = ova_wire_get64(r);
        e->file_size = ova_wire_get64(r);
        (*n_out)++;
    }
}

/* A disk's data map: runs in order, apart, within the disk (UINT64_MAX
 * runs: no map). */
static void get_data_map(ova_wire *r, ova_disk_info *d)
{
    uint64_t n = ova_wire_get64(r);
    if (r->bad || n == UINT64_MAX)
        return;
    if (n > OVA_DATA_MAP_RUNS_MAX || n > r->left / 16) {
        r->bad = 1;
        return;
    }
    d->data_mapped = true;
    if (n == 0)
        return;
    d->data_runs = calloc((size_t)n, sizeof *d->data_runs);
    if (d->data_runs == NULL) {
        r->bad = 1;
        return;
    }
    uint64_t grains = ova_stream_grains(d->capacity), prev = 0;
    for (uint64_t k = 0; k < n && !r->bad; k++) {
        ova_grain_run *g = &d->data_runs[k];
        g->first = ova_wire_get64(r);
        g->end = ova_wire_get64(r);
        if (g->first >= g->end || g->end > grains || (k > 0 && g->first <= prev))
            r->bad = 1;
        prev = g->end;
        d->n_data_runs++;
    }
}

ova_status ova_plan_unpack(const void *data, size_t len, ova_plan **out, ova_err *err)
{
    ova_wire r = { data, len, 0 };
    if (ova_wire_get64(&r) != PLAN_MAGIC)
        return ova_err_set(err, OVA_E_MPI, "received plan is corrupt (bad magic)");
    uint64_t unit_grains = ova_wire_get64(&r);
    uint64_t n = ova_wire_get64(&r);
    if (r.bad || n > len / 8)
        return ova_err_set(err, OVA_E_MPI, "received plan is corrupt (disk count)");
    ova_disk_info **disks = calloc(n ? n : 1, sizeof *disks);
    if (disks == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory reading the plan");
    size_t have = 0;
    while (have < n && !r.bad) {
        ova_disk_info *d = calloc(1, sizeof *d);
        if (d == NULL) {
            r.bad = 1;
            break;
        }
        disks[have++] = d;
        d->path = getstr(&r);
        d->create_type = getstr(&r);
        d->capacity = ova_wire_get64(&r);
        d->cid = (uint32_t)ova_wire_get64(&r);
        d->tools_version = getstr(&r);
        d->tools_install_type = getstr(&r);
        d->allocated = ova_wire_get64(&r);
        get_data_map(&r, d);
        get_extents(&r, &d->extents, &d->n_extents);
        uint64_t depth = ova_wire_get64(&r);
        if (r.bad || depth > OVA_CHAIN_MAX) {
            r.bad = 1;
            break;
        }
        if (depth > 0) {
            d->parents = calloc((size_t)depth, sizeof *d->parents);
            if (d->parents == NULL) {
                r.bad = 1;
                break;
            }
        }
        for (uint64_t k = 0; k < depth && !r.bad; k++) {
            ova_disk_link *l = &d->parents[k];
            d->chain_depth++;
            l->path = getstr(&r);
            l->create_type = getstr(&r);
            l->cid = (uint32_t)ova_wire_get64(&r);
            l->capacity = ova_wire_get64(&r);
            get_extents(&r, &l->extents, &l->n_extents);
        }
        /* readers index files by these numbers: refuse anything inconsistent */
        if (r.bad || d->path == NULL || ova_disk_info_check(d, NULL) != OVA_OK)
            r.bad = 1;
    }
    if (r.bad || r.left != 0) {
        for (size_t i = 0; i < have; i++)
            ova_disk_info_free(&disks[i]);
        free(disks);
        return ova_err_set(err, OVA_E_MPI, "received plan is corrupt");
    }
    return ova_plan_new(disks, (size_t)n, (uint32_t)unit_grains, out, err);
}
