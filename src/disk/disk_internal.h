/* disk_internal.h - what the files of src/disk share; not API.
 *
 *   describe.c  descriptors, extents and snapshot chains -> ova_disk_info
 *   scan.c      the allocated-bytes count describe.c finishes with
 *   check.c     ova_disk_info_check: an info is consistent
 *   reader.c    the threaded reader of the flattened disk
 *   sparse.c    sparse extent metadata (sparse.h), used by all of the above
 * scan.c and reader.c both walk the chain link by link as ova_disk_level.
 */
#ifndef OVATOOL_DISK_INTERNAL_H
#define OVATOOL_DISK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/disk.h"
#include "ovatool/status.h"

#define ULL(x) ((unsigned long long)(x))

/* A link of the chain as the scan and the reader see it: level 0 is the
 * disk itself, level i its i-th parent. */
typedef struct ova_disk_level {
    const char *path;
    const ova_extent *ext;
    size_t n;
    uint64_t cap;
} ova_disk_level;

static inline ova_disk_level ova_disk_level_of(const ova_disk_info *d, int i)
{
    if (i == 0)
        return (ova_disk_level){ d->path, d->extents, d->n_extents, d->capacity };
    const ova_disk_link *l = &d->parents[i - 1];
    return (ova_disk_level){ l->path, l->extents, l->n_extents, l->capacity };
}

/* Index of the extent holding virtual byte off (extents are sorted and
 * contiguous from 0, n >= 1). */
static inline size_t ova_disk_find_extent(const ova_extent *x, size_t n, uint64_t off)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (x[mid].start <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Count d's allocated bytes (sectors some link holds data for, holes of
 * flat files left out) into d->allocated, and map the grains that hold
 * them into d->data_runs; scan.c. The last step of
 * ova_disk_describe_ex. */
ova_status ova_disk_scan_allocated(ova_disk_info *d, ova_err *err);

#endif
