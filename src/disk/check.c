/* check.c - ova_disk_info_check: an info is consistent (extents contiguous
 * and of known types, geometry within the limits) before anything reads
 * through it; a plan received from another rank is checked the same way. */
#include "ovatool/disk.h"

#include <stdint.h>

#include "disk/disk_internal.h"
#include "disk/sparse.h"
#include "format/vmdk_stream.h"
#include "ovatool/limits.h"

static ova_status check_extents(const char *path, const ova_extent *x, size_t n, uint64_t cap, ova_err *err)
{
    if (path == NULL || x == NULL || n == 0 || cap == 0)
        return ova_err_set(err, OVA_E_USAGE, "%s: disk description has no extents", path ? path : "?");
    if (cap > OVA_MAX_CAPACITY)
        return ova_err_set(err, OVA_E_USAGE, "%s: capacity of %llu bytes is above the limit of " OVA_MAX_CAPACITY_TEXT,
                           path, ULL(cap));
    uint64_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const ova_extent *e = &x[i];
        if (e->start != start || e->size == 0 || e->size > cap - start)
            return ova_err_set(err, OVA_E_USAGE, "%s: extent %zu is not where the previous one ends", path, i + 1);
        start += e->size;
        switch (e->type) {
        case OVA_EXTENT_ZERO:
            break;
        case OVA_EXTENT_FLAT:
        case OVA_EXTENT_VMFS:
            if (e->path == NULL || e->file_offset > UINT64_MAX / 2)
                return ova_err_set(err, OVA_E_USAGE, "%s: flat extent %zu is malformed", path, i + 1);
            break;
        case OVA_EXTENT_SPARSE: {
            uint64_t g = e->grain_sectors;
            if (e->path == NULL || g == 0 || g > OVA_SPARSE_MAX_GRAIN || (g & (g - 1)) != 0 ||
                e->gd_entries > OVA_MAX_CAPACITY / OVA_SECTOR / OVA_SPARSE_GTES + 1 || e->gd_entries > OVA_SPARSE_MAX_GTS ||
                e->gd_entries * OVA_SPARSE_GTES * g * OVA_SECTOR < e->size ||
                e->gd_sector > e->file_size / OVA_SECTOR)
                return ova_err_set(err, OVA_E_USAGE, "%s: sparse extent %zu is malformed", path, i + 1);
            break;
        }
        default:
            return ova_err_set(err, OVA_E_USAGE, "%s: extent %zu has an unsupported type", path, i + 1);
        }
    }
    if (start != cap)
        return ova_err_set(err, OVA_E_USAGE, "%s: extents cover %llu bytes, not %llu", path, ULL(start), ULL(cap));
    return OVA_OK;
}

ova_status ova_disk_info_check(const ova_disk_info *d, ova_err *err)
{
    ova_status st = check_extents(d->path, d->extents, d->n_extents, d->capacity, err);
    if (st != OVA_OK)
        return st;
    if (d->chain_depth < 0 || d->chain_depth > OVA_CHAIN_MAX || (d->chain_depth > 0 && d->parents == NULL))
        return ova_err_set(err, OVA_E_USAGE, "%s: snapshot chain of %d links is malformed", d->path,
                           d->chain_depth);
    size_t n_ext = d->n_extents;
    for (int i = 0; i < d->chain_depth; i++) {
        const ova_disk_link *l = &d->parents[i];
        st = check_extents(l->path, l->extents, l->n_extents, l->capacity, err);
        if (st != OVA_OK)
            return st;
        n_ext += l->n_extents;
    }
    if (n_ext > OVA_DISK_MAX_EXTENTS)
        return ova_err_set(err, OVA_E_USAGE, "%s: %zu extents in the chain, more than the limit of %u", d->path,
                           n_ext, OVA_DISK_MAX_EXTENTS);
    return OVA_OK;
}

