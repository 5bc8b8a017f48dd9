/* scan.c - counting the allocated bytes of a described disk (what
 * `ovatool info` and the plan report) and mapping where it may hold data
 * (what the plan skips), from its grain tables and the holes of its flat
 * files, without reading disk data. */
#include "ovatool/disk.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/disk_internal.h"
#include "disk/sparse.h"
#include "format/vmdk_stream.h"
#include "util/grow.h"
#include "util/io.h"

#define SCAN_WINDOW ((uint64_t)32 << 20) /* bytes of the disk the allocation scan looks at per step */

/* The scan goes through the disk in windows of SCAN_WINDOW bytes. In each
 * window it asks the links from the top down which sectors they decide
 * (allocated, zeroed or flat) and which of those hold data; sectors a link
 * leaves undecided fall through to its parent, as reads do. Two bitmaps of
 * one window and one GD block + one GT per link: bounded memory. */
#define WIN_SECTORS (SCAN_WINDOW / OVA_SECTOR)
#define WIN_WORDS (WIN_SECTORS / 64)

typedef struct scan_link {
    ova_disk_level lv;
    size_t fd_i;              /* extent whose file is open, SIZE_MAX for none */
    int fd;
    size_t gd_i;              /* extent and block of the cached GD block */
    uint64_t gd_block;
    size_t gt_i;              /* extent and index of the cached GT */
    uint64_t gt_index;
    uint32_t gd[OVA_SPARSE_GTES];
    uint32_t gt[OVA_SPARSE_GTES];
    size_t hole_i;            /* extent and byte range of the last hole SEEK_DATA found */
    uint64_t hole_lo, hole_hi;
} scan_link;

typedef struct scan {
    uint64_t ws;              /* first byte of the window */
    uint64_t dec[WIN_WORDS];  /* sector decided by a link above */
    uint64_t data[WIN_WORDS]; /* ... and it holds data */
    uint64_t meta;            /* metadata bytes read (not reported) */
} scan;

/* Decide the undecided sectors of [lo, hi) (bytes, within the window). */
static void mark(scan *s, uint64_t lo, uint64_t hi, bool data)
{
    uint64_t from = (lo - s->ws) / OVA_SECTOR;
    uint64_t to = (hi - s->ws + OVA_SECTOR - 1) / OVA_SECTOR;
    while (from < to) {
        uint64_t w = from / 64, b = from % 64;
        uint64_t k = 64 - b < to - from ? 64 - b : to - from;
        uint64_t m = (k == 64 ? ~0ull : ((1ull << k) - 1)) << b;
        uint64_t fresh = m & ~s->dec[w];
        s->dec[w] |= fresh;
        if (data)
            s->data[w] |= fresh;
        from += k;
    }
}

static ova_status scan_fd(scan_link *sl, size_t i, ova_err *err)
{
    if (sl->fd_i == i)
        return OVA_OK;
    if (sl->fd >= 0)
        close(sl->fd);
    sl->fd_i = SIZE_MAX;
    ova_status st = ova_open_source(sl->lv.ext[i].path, "extent", &sl->fd, NULL, err);
    if (st != OVA_OK)
        return st;
    sl->fd_i = i;
    return OVA_OK;
}

static ova_status scan_flat(scan *s, scan_link *sl, size_t i, uint64_t lo, uint64_t hi, ova_err *err)
{
    const ova_extent *e = &sl->lv.ext[i];
    ova_status st = scan_fd(sl, i, err);
    if (st != OVA_OK)
        return st;
    uint64_t flo = e->file_offset + (lo - e->start), fhi = flo + (hi - lo);
    for (uint64_t pos = flo; pos < fhi;) {
        off_t dpos = lseek(sl->fd, (off_t)pos, SEEK_DATA);
        if (dpos < 0) {
            if (errno != ENXIO) /* no SEEK_DATA here: call it all data */
                mark(s, lo + (pos - flo), hi, true);
            break;
        }
        if ((uint64_t)dpos >= fhi)
            break;
        off_t hpos = lseek(sl->fd, dpos, SEEK_HOLE);
        uint64_t h = hpos < 0 || (uint64_t)hpos > fhi ? fhi : (uint64_t)hpos;
        mark(s, lo + ((uint64_t)dpos / OVA_SECTOR * OVA_SECTOR - flo), lo + (h - flo), true);
        pos = h;
    }
    mark(s, lo, hi, false); /* the rest of a flat extent reads as zeros */
    return OVA_OK;
}

/* Load the GD block holding entry gdi of sparse extent i into sl's cache. */
static ova_status scan_gd(scan *s, scan_link *sl, size_t i, uint64_t gdi, ova_err *err)
{
    if (sl->gd_i == i && sl->gd_block == gdi / OVA_SPARSE_GTES)
        return OVA_OK;
    sl->gd_i = SIZE_MAX;
    ova_status st = ova_sparse_read_gd_block(sl->fd, &sl->lv.ext[i], gdi / OVA_SPARSE_GTES, sl->gd, &s->meta, err);
    if (st == OVA_OK) {
        sl->gd_i = i;
        sl->gd_block = gdi / OVA_SPARSE_GTES;
    }
    return st;
}

static ova_status scan_sparse(scan *s, scan_link *sl, size_t i, uint64_t lo, uint64_t hi, ova_err *err)
{
    const ova_extent *e = &sl->lv.ext[i];
    uint64_t gb = (uint64_t)e->grain_sectors * OVA_SECTOR;
    uint64_t per_gt = gb * OVA_SPARSE_GTES;
    bool stream = (e->sparse_flags & OVA_SPARSE_FLAG_MARKERS) != 0;
    ova_status st = scan_fd(sl, i, err);
    for (uint64_t pos = lo; st == OVA_OK && pos < hi;) {
        uint64_t rel = pos - e->start;
        uint64_t gdi = rel / per_gt;
        st = scan_gd(s, sl, i, gdi, err);
        if (st != OVA_OK)
            break;
        uint32_t gde = sl->gd[gdi % OVA_SPARSE_GTES];
        if (gde == 0) { /* a whole grain table unallocated */
            uint64_t end = e->start + (gdi + 1) * per_gt;
            pos = end < hi ? end : hi;
            continue;
        }
        if (sl->gt_i != i || sl->gt_index != gdi) {
            sl->gt_i = SIZE_MAX;
            st = ova_sparse_read_gt(sl->fd, e, gdi, gde, sl->gt, &s->meta, err);
            if (st != OVA_OK)
                break;
            sl->gt_i = i;
            sl->gt_index = gdi;
        }
        uint64_t g = rel / gb;
        uint64_t end = e->start + (g + 1) * gb;
        if (end > hi)
            end = hi;
        uint32_t gte = sl->gt[g % OVA_SPARSE_GTES];
        if (gte == 1 && (e->sparse_flags & OVA_SPARSE_FLAG_ZERO_GRAIN)) {
            mark(s, pos, end, false);
        } else if (gte == 1) {
            st = ova_err_set(err, OVA_E_FORMAT,
                             "%s: grain %llu has grain table entry 1 but the zeroed-grain flag is not set", e->path,
                             ULL(g));
        } else if (gte > 1) {
            if (stream) {
                if ((uint64_t)gte * OVA_SECTOR > e->file_size - OVA_GRAIN_MARKER_SIZE)
                    st = ova_err_set(err, OVA_E_FORMAT,
                                     "%s: grain %llu is at sector %u, past the end of the file (%llu bytes; "
                                     "truncated?)",
                                     e->path, ULL(g), gte, ULL(e->file_size));
            } else {
                st = ova_sparse_check_gte(e, g, gte, err);
            }
            mark(s, pos, end, true);
        }
        pos = end;
    }
    return st;
}

/* Is [off, end) of sparse extent i's file (open in sl) a hole? Remembers
 * the hole it finds, so the grain tables qemu preallocates as one long
 * hole cost one SEEK_DATA, not one each. */
static bool scan_hole(scan_link *sl, size_t i, uint64_t off, uint64_t end)
{
    if (sl->hole_i == i && off >= sl->hole_lo && end <= sl->hole_hi)
        return true;
    off_t d = lseek(sl->fd, (off_t)off, SEEK_DATA);
    uint64_t hi;
    if (d >= 0)
        hi = (uint64_t)d;
    else if (errno == ENXIO) /* no data up to the end of the file */
        hi = sl->lv.ext[i].file_size;
    else
        return false;        /* no SEEK_DATA here */
    if (hi <= off)
        return false;
    sl->hole_i = i;
    sl->hole_lo = off;
    sl->hole_hi = hi;
    return end <= hi;
}

/* The first byte at or after pos where link sl may hold data, or
 * UINT64_MAX: ZERO extents are skipped whole, flat files by SEEK_DATA,
 * sparse extents by their grain directory, and a grain table the directory
 * points at is skipped when its 2 KiB lie in a hole of the file (qemu
 * leaves them so; scan_hole) or, once read, hold only zeros. This keeps the scan
 * proportional to what is allocated: at the 64 TiB maximum, an empty ZERO
 * or flat disk costs one step, an empty sparse one reads its directory
 * (2 Mi entries, 8 MiB, with 64 KiB grains). Worst case: every table of a
 * sparse extent allocated but empty and written out, not left as a hole:
 * one 2 KiB read per 32 MiB of capacity (4 GiB at 64 TiB), which is the
 * size of that metadata in the file. */
static ova_status link_next(scan *s, scan_link *sl, uint64_t pos, uint64_t *next, ova_err *err)
{
    const ova_disk_level *lv = &sl->lv;
    *next = UINT64_MAX;
    if (pos >= lv->cap)
        return OVA_OK;
    for (size_t i = ova_disk_find_extent(lv->ext, lv->n, pos); i < lv->n; i++) {
        const ova_extent *e = &lv->ext[i];
        uint64_t p = pos > e->start ? pos : e->start;
        uint64_t end = e->start + e->size;
        if (e->type == OVA_EXTENT_ZERO)
            continue;
        ova_status st = scan_fd(sl, i, err);
        if (st != OVA_OK)
            return st;
        if (e->type != OVA_EXTENT_SPARSE) {
            off_t d = lseek(sl->fd, (off_t)(e->file_offset + (p - e->start)), SEEK_DATA);
            if (d < 0 && errno == ENXIO)
                continue;
            if (d < 0) { /* no SEEK_DATA here: the scan decides */
                *next = p;
                return OVA_OK;
            }
            if ((uint64_t)d >= e->file_offset + e->size)
                continue;
            *next = e->start + ((uint64_t)d - e->file_offset);
            return OVA_OK;
        }
        uint64_t per_gt = (uint64_t)e->grain_sectors * OVA_SECTOR * OVA_SPARSE_GTES;
        for (uint64_t gdi = (p - e->start) / per_gt; e->start + gdi * per_gt < end; gdi++) {
            st = scan_gd(s, sl, i, gdi, err);
            if (st != OVA_OK)
                return st;
            uint32_t gde = sl->gd[gdi % OVA_SPARSE_GTES];
            if (gde == 0)
                continue;
            uint64_t at = e->start + gdi * per_gt;
            if (at < p)
                at = p;
            uint64_t gt_off = (uint64_t)gde * OVA_SECTOR, gt_end = gt_off + OVA_SPARSE_GTES * 4;
            if (gt_end <= e->file_size) {
                if (scan_hole(sl, i, gt_off, gt_end))
                    continue; /* the table is a hole: all zeros */
                if (sl->gt_i != i || sl->gt_index != gdi) {
                    sl->gt_i = SIZE_MAX;
                    st = ova_sparse_read_gt(sl->fd, e, gdi, gde, sl->gt, &s->meta, err);
                    if (st != OVA_OK)
                        return st;
                    sl->gt_i = i;
                    sl->gt_index = gdi;
                }
                bool any = false;
                for (size_t k = 0; k < OVA_SPARSE_GTES && !any; k++)
                    any = sl->gt[k] != 0;
                if (!any)
                    continue;
            } /* else: past the end of the file, which the scan reports */
            *next = at;
            return OVA_OK;
        }
    }
    return OVA_OK;
}

/* The data map being built: d's runs, their capacity and grain (a power
 * of two of grains, OVA_DATA_MAP_GRAINS or more). */
typedef struct data_map {
    ova_disk_info *d;
    size_t cap;
    uint64_t gran;
    uint64_t total;           /* grains of the disk */
} data_map;

/* Coarsen the map to twice its grain: every run widened to the new grain,
 * touching runs merged. Repeated while the map is full, it bounds the map
 * at OVA_DATA_MAP_RUNS_MAX runs whatever the disk holds (a disk with data
 * every few MiB ends up mapped as data everywhere, which it nearly is). */
static void map_coarsen(data_map *m)
{
    ova_disk_info *d = m->d;
    m->gran *= 2;
    size_t n = 0;
    for (size_t i = 0; i < d->n_data_runs; i++) {
        uint64_t a = d->data_runs[i].first / m->gran * m->gran;
        uint64_t b = (d->data_runs[i].end + m->gran - 1) / m->gran * m->gran;
        if (b > m->total)
            b = m->total;
        if (n > 0 && a <= d->data_runs[n - 1].end) {
            if (b > d->data_runs[n - 1].end)
                d->data_runs[n - 1].end = b;
        } else {
            d->data_runs[n++] = (ova_grain_run){ a, b };
        }
    }
    d->n_data_runs = n;
}

/* Add grains [a, b) (in order, after every run so far) to the map. */
static ova_status map_add(data_map *m, uint64_t a, uint64_t b, ova_err *err)
{
    ova_disk_info *d = m->d;
    a = a / m->gran * m->gran;
    b = (b + m->gran - 1) / m->gran * m->gran;
    if (b > m->total)
        b = m->total;
    if (d->n_data_runs > 0 && a <= d->data_runs[d->n_data_runs - 1].end) {
        if (b > d->data_runs[d->n_data_runs - 1].end)
            d->data_runs[d->n_data_runs - 1].end = b;
        return OVA_OK;
    }
    while (d->n_data_runs >= OVA_DATA_MAP_RUNS_MAX) {
        map_coarsen(m);
        if (a / (m->gran) * m->gran <= d->data_runs[d->n_data_runs - 1].end)
            return map_add(m, a, b, err);
    }
    ova_grain_run *r = ova_grow(d->data_runs, &m->cap, d->n_data_runs + 1, sizeof *r);
    if (r == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory for the data map", d->path);
    d->data_runs = r;
    r[d->n_data_runs++] = (ova_grain_run){ a, b };
    return OVA_OK;
}

/* Add the map grains of the scan's window (we its end) that hold data. */
static ova_status map_window(data_map *m, const scan *s, uint64_t we, ova_err *err)
{
    const uint64_t per = (uint64_t)OVA_DATA_MAP_GRAINS * OVA_GRAIN_SIZE / OVA_SECTOR / 64; /* words */
    ova_status st = OVA_OK;
    for (uint64_t w0 = 0; st == OVA_OK && w0 < WIN_WORDS && s->ws + w0 * 64 * OVA_SECTOR < we; w0 += per) {
        uint64_t any = 0;
        for (uint64_t w = w0; w < w0 + per; w++)
            any |= s->data[w];
        if (any != 0) {
            uint64_t g = (s->ws + w0 * 64 * OVA_SECTOR) / OVA_GRAIN_SIZE;
            st = map_add(m, g, g + OVA_DATA_MAP_GRAINS, err);
        }
    }
    return st;
}

ova_status ova_disk_scan_allocated(ova_disk_info *d, ova_err *err)
{
    int nl = d->chain_depth + 1;
    scan *s = malloc(sizeof *s);
    scan_link *sl = calloc((size_t)nl, sizeof *sl);
    if (s == NULL || sl == NULL) {
        free(s);
        free(sl);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", d->path);
    }
    for (int k = 0; k < nl; k++) {
        sl[k].lv = ova_disk_level_of(d, k);
        sl[k].fd = -1;
        sl[k].fd_i = sl[k].gd_i = sl[k].gt_i = sl[k].hole_i = SIZE_MAX;
    }
    ova_status st = OVA_OK;
    uint64_t total = 0;
    free(d->data_runs);
    d->data_runs = NULL;
    d->n_data_runs = 0;
    d->data_mapped = false;
    data_map m = { d, 0, OVA_DATA_MAP_GRAINS, ova_stream_grains(d->capacity) };
    for (uint64_t ws = 0; st == OVA_OK && ws < d->capacity; ws += SCAN_WINDOW) {
        /* skip the windows in which no link can hold data */
        uint64_t next = UINT64_MAX;
        for (int k = 0; st == OVA_OK && k < nl; k++) {
            uint64_t nk;
            st = link_next(s, &sl[k], ws, &nk, err);
            if (nk < next)
                next = nk;
        }
        if (st != OVA_OK || next >= d->capacity)
            break;
        ws = next / SCAN_WINDOW * SCAN_WINDOW;
        uint64_t we = d->capacity - ws < SCAN_WINDOW ? d->capacity : ws + SCAN_WINDOW;
        uint64_t win_sectors = (we - ws) / OVA_SECTOR;
        s->ws = ws;
        memset(s->dec, 0, sizeof s->dec);
        memset(s->data, 0, sizeof s->data);
        for (int k = 0; st == OVA_OK && k < nl; k++) {
            const ova_disk_level *lv = &sl[k].lv;
            uint64_t hi = we < lv->cap ? we : lv->cap;
            if (ws >= hi)
                continue;
            for (size_t i = ova_disk_find_extent(lv->ext, lv->n, ws); st == OVA_OK && i < lv->n && lv->ext[i].start < hi;
                 i++) {
                const ova_extent *e = &lv->ext[i];
                uint64_t a = e->start > ws ? e->start : ws;
                uint64_t b = e->start + e->size < hi ? e->start + e->size : hi;
                if (e->type == OVA_EXTENT_ZERO)
                    mark(s, a, b, false);
                else if (e->type == OVA_EXTENT_SPARSE)
                    st = scan_sparse(s, &sl[k], i, a, b, err);
                else
                    st = scan_flat(s, &sl[k], i, a, b, err);
            }
            /* every sector decided: the links below cannot show through */
            uint64_t decided = 0;
            for (size_t w = 0; w < WIN_WORDS; w++)
                decided += (uint64_t)__builtin_popcountll(s->dec[w]);
            if (decided == win_sectors)
                break;
        }
        for (size_t w = 0; w < WIN_WORDS; w++)
            total += (uint64_t)__builtin_popcountll(s->data[w]);
        if (st == OVA_OK)
            st = map_window(&m, s, we, err);
    }
    for (int k = 0; k < nl; k++)
        if (sl[k].fd >= 0)
            close(sl[k].fd);
    free(sl);
    free(s);
    d->allocated = total * OVA_SECTOR;
    d->data_mapped = st == OVA_OK;
    return st;
}

