/* plan.c - the work plan and its byte encoding for the broadcast. */
#include "engine/plan.h"

#include <stdlib.h>
#include <string.h>

#include "format/vmdk_stream.h"
#include "ovatool/prepare.h"

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
    free(p);
    *pp = NULL;
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
    for (size_t i = 0; i < n_disks; i++) {
        uint64_t g = ova_stream_grains(disks[i]->capacity);
        fu[i + 1] = fu[i] + g / unit_grains + (g % unit_grains != 0);
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
    size_t lo = 0, hi = p->n_disks;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p->first_unit[mid] <= unit)
            lo = mid;
        else
            hi = mid;
    }
    *disk = lo;
    *first_grain = (unit - p->first_unit[lo]) * p->unit_grains;
    uint64_t total = ova_stream_grains(p->disks[lo]->capacity);
    uint64_t left = total - *first_grain;
    *n_grains = left < p->unit_grains ? (uint32_t)left : p->unit_grains;
}

static void put64(ova_buf *b, uint64_t v)
{
    unsigned char x[8];
    ova_put_le64(x, v);
    ova_buf_append(b, x, 8);
}

static void putstr(ova_buf *b, const char *s)
{
    if (s == NULL) {
        put64(b, UINT64_MAX);
        return;
    }
    size_t n = strlen(s);
    put64(b, n);
    ova_buf_append(b, s, n);
}

static void put_extents(ova_buf *b, const ova_extent *x, size_t n)
{
    put64(b, n);
    for (size_t k = 0; k < n; k++) {
        const ova_extent *e = &x[k];
        put64(b, (uint64_t)e->type);
        put64(b, e->start);
        put64(b, e->size);
        put64(b, e->file_offset);
        putstr(b, e->path);
        put64(b, e->sparse_flags);
        put64(b, e->grain_sectors);
        put64(b, e->gd_sector);
        put64(b, e->gd_entries);
        put64(b, e->file_size);
    }
}

void ova_plan_pack(const ova_plan *p, ova_buf *b)
{
    put64(b, PLAN_MAGIC);
    put64(b, p->unit_grains);
    put64(b, p->n_disks);
    for (size_t i = 0; i < p->n_disks; i++) {
        const ova_disk_info *d = p->disks[i];
        putstr(b, d->path);
        putstr(b, d->create_type);
        put64(b, d->capacity);
        put64(b, d->cid);
        putstr(b, d->tools_version);
        putstr(b, d->tools_install_type);
        put64(b, d->allocated);
        put_extents(b, d->extents, d->n_extents);
        /* the snapshot chain, so that every rank can read through it */
        put64(b, (uint64_t)d->chain_depth);
        for (int k = 0; k < d->chain_depth; k++) {
            const ova_disk_link *l = &d->parents[k];
            putstr(b, l->path);
            putstr(b, l->create_type);
            put64(b, l->cid);
            put64(b, l->capacity);
            put_extents(b, l->extents, l->n_extents);
        }
    }
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
    int bad;
} reader;

static uint64_t get64(reader *r)
{
    if (r->bad || r->left < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = ova_get_le64(r->p);
    r->p += 8;
    r->left -= 8;
    return v;
}

static char *getstr(reader *r)
{
    uint64_t n = get64(r);
    if (r->bad || n == UINT64_MAX)
        return NULL;
    if (n > r->left) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->p, (size_t)n);
    s[n] = '\0';
    r->p += n;
    r->left -= (size_t)n;
    return s;
}

/* Smallest encoding of one extent: ten 64-bit fields (a NULL path is one). */
#define EXTENT_MIN_BYTES 80u

static void get_extents(reader *r, ova_extent **out, size_t *n_out)
{
    uint64_t ne = get64(r);
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
        e->type = (ova_extent_type)get64(r);
        e->start = get64(r);
        e->size = get64(r);
        e->file_offset = get64(r);
        e->path = getstr(r);
        e->sparse_flags = (uint32_t)get64(r);
        e->grain_sectors = (uint32_t)get64(r);
        e->gd_sector = get64(r);
        e->gd_entries = get64(r);
        e->file_size = get64(r);
        (*n_out)++;
    }
}

ova_status ova_plan_unpack(const void *data, size_t len, ova_plan **out, ova_err *err)
{
    reader r = { data, len, 0 };
    if (get64(&r) != PLAN_MAGIC)
        return ova_err_set(err, OVA_E_MPI, "received plan is corrupt (bad magic)");
    uint64_t unit_grains = get64(&r);
    uint64_t n = get64(&r);
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
        d->capacity = get64(&r);
        d->cid = (uint32_t)get64(&r);
        d->tools_version = getstr(&r);
        d->tools_install_type = getstr(&r);
        d->allocated = get64(&r);
        get_extents(&r, &d->extents, &d->n_extents);
        uint64_t depth = get64(&r);
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
            l->cid = (uint32_t)get64(&r);
            l->capacity = get64(&r);
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
