/* reader.c - reading the flattened content of a described disk, from any
 * number of threads at once.
 *
 * Reads walk the chain per grain: an unallocated grain of a link falls
 * through to its parent, a zeroed grain or a flat-file hole is zeros, and
 * only allocated data is ever read. Holes in flat files are found with
 * SEEK_DATA so that a thin 500 GB flat file holding 20 GB costs about 20 GB
 * of reading. Memory stays bounded whatever the disk size: a reader keeps
 * at most FD_MAX files open and GT_CACHE grain-table blocks cached. */
#include "ovatool/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk_internal.h"
#include "disk/sparse.h"
#include "format/vmdk_stream.h"
#include "util/io.h"

#define FD_MAX 64                   /* extent files a reader keeps open */
#define GT_CACHE 64                 /* GD/GT blocks (2 KiB each) a reader caches */

typedef struct fd_slot {
    int fd;                   /* -1 when closed */
    unsigned refs;            /* preads in flight: never closed while > 0 */
    uint64_t used;            /* LRU tick */
    uint64_t dev, ino;        /* the file's identity: the extent's, else from the first open */
    bool known;
} fd_slot;

enum { BLK_GD = 0, BLK_GT = 1 };

typedef struct blk {
    size_t slot;              /* extent slot; SIZE_MAX = empty */
    int kind;                 /* BLK_GD or BLK_GT */
    uint64_t index;           /* GD block number or GT number */
    uint64_t used;
    uint32_t v[OVA_SPARSE_GTES];
} blk;

struct ova_disk_reader {
    const ova_disk_info *info;
    int n_levels;
    ova_disk_level *levels;
    size_t *slot0;            /* first extent slot of each level */
    fd_slot *fds;             /* one per extent of every level */
    size_t n_slots;
    size_t n_open;
    blk *cache;               /* GT_CACHE blocks, allocated when a link is sparse */
    uint64_t tick;
    pthread_mutex_t mu;       /* guards fds and cache */
};

ova_status ova_disk_reader_open(const ova_disk_info *info, ova_disk_reader **out, ova_err *err)
{
    ova_status st = ova_disk_info_check(info, err);
    if (st != OVA_OK)
        return st;
    ova_disk_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", info->path);
    r->info = info;
    r->n_levels = info->chain_depth + 1;
    r->levels = calloc((size_t)r->n_levels, sizeof *r->levels);
    r->slot0 = calloc((size_t)r->n_levels, sizeof *r->slot0);
    bool sparse = false;
    for (int k = 0; r->levels != NULL && r->slot0 != NULL && k < r->n_levels; k++) {
        r->levels[k] = ova_disk_level_of(info, k);
        r->slot0[k] = r->n_slots;
        r->n_slots += r->levels[k].n;
        for (size_t i = 0; i < r->levels[k].n; i++)
            sparse |= r->levels[k].ext[i].type == OVA_EXTENT_SPARSE;
    }
    if (r->levels != NULL && r->slot0 != NULL) {
        r->fds = calloc(r->n_slots, sizeof *r->fds);
        if (sparse)
            r->cache = calloc(GT_CACHE, sizeof *r->cache);
    }
    if (r->levels == NULL || r->slot0 == NULL || r->fds == NULL || (sparse && r->cache == NULL)) {
        free(r->levels);
        free(r->slot0);
        free(r->fds);
        free(r->cache);
        free(r);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", info->path);
    }
    for (size_t i = 0; i < r->n_slots; i++)
        r->fds[i].fd = -1;
    for (size_t i = 0; r->cache != NULL && i < GT_CACHE; i++)
        r->cache[i].slot = SIZE_MAX;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return OVA_OK;
}

void ova_disk_reader_close(ova_disk_reader **pr)
{
    ova_disk_reader *r = *pr;
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_slots; i++)
        if (r->fds[i].fd >= 0)
            close(r->fds[i].fd);
    pthread_mutex_destroy(&r->mu);
    free(r->levels);
    free(r->slot0);
    free(r->fds);
    free(r->cache);
    free(r);
    *pr = NULL;
}

static const ova_extent *slot_extent(const ova_disk_reader *r, size_t slot)
{
    int k = r->n_levels - 1;
    while (r->slot0[k] > slot)
        k--;
    return &r->levels[k].ext[slot - r->slot0[k]];
}

/* The file at an extent's path must still be the one described (same
 * device and inode, once known) and no shorter than it was: a replaced
 * file would export other content, a truncated one reads as zeros past its
 * new end (SEEK_DATA says ENXIO there, just as in a trailing hole). */
static ova_status check_same_file(const ova_extent *e, const fd_slot *s, const struct stat *sb, ova_err *err)
{
    if (s->known && (s->dev != (uint64_t)sb->st_dev || s->ino != (uint64_t)sb->st_ino))
        return ova_err_set(err, OVA_E_IO,
                           "%s was replaced during the export: it is another file (device %llu, inode %llu) than "
                           "the one described (device %llu, inode %llu)",
                           e->path, ULL(sb->st_dev), ULL(sb->st_ino), ULL(s->dev), ULL(s->ino));
    if ((uint64_t)sb->st_size < e->file_size)
        return ova_err_set(err, OVA_E_IO, "%s shrank from %llu to %llu bytes during the export", e->path,
                           ULL(e->file_size), ULL(sb->st_size));
    return OVA_OK;
}

/* After a failed or suspicious read of an open extent: has the file shrunk
 * since it was described? Then say so (err), instead of what the read saw. */
static bool shrank(int fd, const ova_extent *e, ova_err *err)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size >= e->file_size)
        return false;
    ova_err_set(err, OVA_E_IO, "%s shrank from %llu to %llu bytes during the export", e->path, ULL(e->file_size),
                ULL(sb.st_size));
    return true;
}

/* Pass a read failure (local) on to err, unless it came from the file
 * shrinking: that gets its own message. */
static ova_status read_failed(int fd, const ova_extent *e, const ova_err *local, ova_err *err)
{
    if (shrank(fd, e, err))
        return OVA_E_IO;
    return ova_err_set(err, local->status, "%s", local->msg);
}

/* Take a reference on the open file of an extent slot, opening it (and
 * closing the least recently used idle one beyond FD_MAX) if needed. */
static ova_status fd_get(ova_disk_reader *r, size_t slot, int *fd, ova_err *err)
{
    ova_status st = OVA_OK;
    pthread_mutex_lock(&r->mu);
    fd_slot *s = &r->fds[slot];
    if (s->fd < 0) {
        if (r->n_open >= FD_MAX) {
            size_t victim = SIZE_MAX;
            for (size_t i = 0; i < r->n_slots; i++)
                if (r->fds[i].fd >= 0 && r->fds[i].refs == 0 &&
                    (victim == SIZE_MAX || r->fds[i].used < r->fds[victim].used))
                    victim = i;
            if (victim != SIZE_MAX) {
                close(r->fds[victim].fd);
                r->fds[victim].fd = -1;
                r->n_open--;
            }
        }
        const ova_extent *e = slot_extent(r, slot);
        int f;
        struct stat sb;
        st = ova_open_source(e->path, "extent", &f, &sb, err);
        if (st == OVA_OK) {
            if (!s->known && (e->dev != 0 || e->ino != 0)) {
                s->dev = e->dev;
                s->ino = e->ino;
                s->known = true;
            }
            st = check_same_file(e, s, &sb, err);
            if (st != OVA_OK)
                close(f);
        }
        if (st == OVA_OK) {
            s->dev = (uint64_t)sb.st_dev;
            s->ino = (uint64_t)sb.st_ino;
            s->known = true;
            /* extents are read front to back (grains of sparse files too, as
             * creators append them in order): ask for aggressive readahead */
            posix_fadvise(f, 0, 0, POSIX_FADV_SEQUENTIAL);
            s->fd = f;
            r->n_open++;
        }
    }
    if (st == OVA_OK) {
        s->refs++;
        s->used = ++r->tick;
        *fd = s->fd;
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

static void fd_put(ova_disk_reader *r, size_t slot)
{
    pthread_mutex_lock(&r->mu);
    r->fds[slot].refs--;
    pthread_mutex_unlock(&r->mu);
}

/* Entry `entry` of a GD block or GT of an extent slot, through the cache.
 * A miss reads the 2 KiB block without holding the lock. */
static ova_status meta_get(ova_disk_reader *r, size_t slot, int kind, uint64_t index, uint32_t gde, size_t entry,
                           uint32_t *val, uint64_t *nread, ova_err *err)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < GT_CACHE; i++) {
        blk *b = &r->cache[i];
        if (b->slot == slot && b->kind == kind && b->index == index) {
            b->used = ++r->tick;
            *val = b->v[entry];
            pthread_mutex_unlock(&r->mu);
            return OVA_OK;
        }
    }
    pthread_mutex_unlock(&r->mu);

    uint32_t v[OVA_SPARSE_GTES];
    const ova_extent *e = slot_extent(r, slot);
    int fd;
    ova_status st = fd_get(r, slot, &fd, err);
    if (st != OVA_OK)
        return st;
    ova_err local = {0};
    if (kind == BLK_GD)
        st = ova_sparse_read_gd_block(fd, e, index, v, nread, &local);
    else
        st = ova_sparse_read_gt(fd, e, index, gde, v, nread, &local);
    if (st != OVA_OK)
        st = read_failed(fd, e, &local, err);
    fd_put(r, slot);
    if (st != OVA_OK)
        return st;

    pthread_mutex_lock(&r->mu);
    blk *victim = &r->cache[0];
    for (size_t i = 0; i < GT_CACHE; i++) {
        blk *b = &r->cache[i];
        if (b->slot == slot && b->kind == kind && b->index == index) {
            victim = b; /* another thread got here first: same content */
            break;
        }
        if (b->used < victim->used)
            victim = b;
    }
    victim->slot = slot;
    victim->kind = kind;
    victim->index = index;
    victim->used = ++r->tick;
    memcpy(victim->v, v, sizeof v);
    pthread_mutex_unlock(&r->mu);
    *val = v[entry];
    return OVA_OK;
}

/* One ova_disk_read call. Pieces are produced in increasing virtual order;
 * zeros before the first data piece are only written into buf once data
 * turns up, so an all-zero range leaves buf untouched. Contiguous reads of
 * the same file are merged into one pread. */
typedef struct rctx {
    ova_disk_reader *r;
    unsigned char *buf;
    uint64_t base;            /* virtual offset of buf[0] */
    bool any_data;
    size_t p_slot;            /* pending pread: slot, file offset, virtual offset, length */
    uint64_t p_foff, p_voff, p_len;
    unsigned char *cbuf;      /* compressed grain scratch (lazily allocated) */
    unsigned char *gbuf;      /* one inflated grain */
    uint64_t *nread;
    ova_err *err;
} rctx;

static void emit_zero(rctx *c, uint64_t voff, uint64_t n)
{
    if (c->any_data)
        memset(c->buf + (voff - c->base), 0, (size_t)n);
}

static void data_at(rctx *c, uint64_t voff)
{
    if (!c->any_data) {
        memset(c->buf, 0, (size_t)(voff - c->base));
        c->any_data = true;
    }
}

static ova_status flush_pread(rctx *c)
{
    if (c->p_len == 0)
        return OVA_OK;
    int fd;
    ova_status st = fd_get(c->r, c->p_slot, &fd, c->err);
    if (st != OVA_OK)
        return st;
    const ova_extent *e = slot_extent(c->r, c->p_slot);
    ova_err local = {0};
    st = ova_pread_exact(fd, c->buf + (c->p_voff - c->base), (size_t)c->p_len, c->p_foff, e->path, "disk data",
                         &local);
    if (st != OVA_OK)
        st = read_failed(fd, e, &local, c->err);
    fd_put(c->r, c->p_slot);
    if (st == OVA_OK)
        *c->nread += c->p_len;
    c->p_len = 0;
    return st;
}

static ova_status emit_pread(rctx *c, size_t slot, uint64_t foff, uint64_t voff, uint64_t n)
{
    data_at(c, voff);
    if (c->p_len != 0 && c->p_slot == slot && c->p_foff + c->p_len == foff && c->p_voff + c->p_len == voff) {
        c->p_len += n;
        return OVA_OK;
    }
    ova_status st = flush_pread(c);
    c->p_slot = slot;
    c->p_foff = foff;
    c->p_voff = voff;
    c->p_len = n;
    return st;
}

static ova_status walk_level(rctx *c, int lvl, uint64_t voff, uint64_t n);

/* A compressed grain: bytes [within, within + n) of grain g. */
static ova_status emit_stream_grain(rctx *c, size_t slot, const ova_extent *e, uint64_t g, uint32_t gte,
                                    uint64_t within, uint64_t voff, uint64_t n)
{
    size_t gb = (size_t)e->grain_sectors * OVA_SECTOR;
    if (c->cbuf == NULL) {
        c->cbuf = malloc(OVA_SPARSE_CBUF_SIZE);
        c->gbuf = malloc(OVA_GRAIN_SIZE);
        if (c->cbuf == NULL || c->gbuf == NULL)
            return ova_err_set(c->err, OVA_E_NOMEM, "%s: out of memory for a compressed grain", e->path);
    }
    data_at(c, voff);
    int fd;
    ova_status st = fd_get(c->r, slot, &fd, c->err);
    if (st != OVA_OK)
        return st;
    /* a whole grain goes straight into buf; a part goes through gbuf */
    bool direct = within == 0 && n == gb;
    unsigned char *dst = direct ? c->buf + (voff - c->base) : c->gbuf;
    size_t got = 0;
    ova_err local = {0};
    st = ova_sparse_read_stream_grain(fd, e, g, gte, c->cbuf, dst, gb, &got, c->nread, &local);
    if (st != OVA_OK)
        st = read_failed(fd, e, &local, c->err);
    fd_put(c->r, slot);
    if (st != OVA_OK)
        return st;
    if (got < within + n)
        return ova_err_set(c->err, OVA_E_FORMAT,
                           "%s: compressed grain %llu inflates to %zu bytes, fewer than the %llu the disk needs",
                           e->path, ULL(g), got, ULL(within + n));
    if (!direct)
        memcpy(c->buf + (voff - c->base), c->gbuf + within, (size_t)n);
    return OVA_OK;
}

/* Hand a run of unallocated grains to the parent, or make it zeros. */
static ova_status fall_through(rctx *c, int lvl, uint64_t voff, uint64_t n)
{
    if (n == 0)
        return OVA_OK;
    if (lvl + 1 < c->r->n_levels)
        return walk_level(c, lvl + 1, voff, n);
    emit_zero(c, voff, n);
    return OVA_OK;
}

static ova_status walk_sparse(rctx *c, int lvl, size_t ei, uint64_t voff, uint64_t n)
{
    const ova_extent *e = &c->r->levels[lvl].ext[ei];
    size_t slot = c->r->slot0[lvl] + ei;
    uint64_t gb = (uint64_t)e->grain_sectors * OVA_SECTOR;
    uint64_t per_gt = gb * OVA_SPARSE_GTES;
    bool stream = (e->sparse_flags & OVA_SPARSE_FLAG_MARKERS) != 0;
    uint64_t run = voff, run_len = 0; /* pending fall-through run */
    ova_status st = OVA_OK;
    for (uint64_t pos = voff; pos < voff + n;) {
        uint64_t rel = pos - e->start;
        uint64_t gdi = rel / per_gt;
        uint32_t gde, gte = 0;
        st = meta_get(c->r, slot, BLK_GD, gdi / OVA_SPARSE_GTES, 0, (size_t)(gdi % OVA_SPARSE_GTES), &gde,
                      c->nread, c->err);
        if (st != OVA_OK)
            return st;
        uint64_t g = rel / gb, within = rel % gb;
        uint64_t take = gb - within;
        if (gde == 0) /* the whole grain table is unallocated */
            take = e->start + (gdi + 1) * per_gt - pos;
        if (take > voff + n - pos)
            take = voff + n - pos;
        if (gde != 0) {
            st = meta_get(c->r, slot, BLK_GT, gdi, gde, (size_t)(g % OVA_SPARSE_GTES), &gte, c->nread, c->err);
            if (st != OVA_OK)
                return st;
        }
        if (gte == 0) {
            if (run_len == 0)
                run = pos;
            run_len += take;
            pos += take;
            continue;
        }
        st = fall_through(c, lvl, run, run_len);
        run_len = 0;
        if (st != OVA_OK)
            return st;
        if (gte == 1 && (e->sparse_flags & OVA_SPARSE_FLAG_ZERO_GRAIN)) {
            emit_zero(c, pos, take); /* a zeroed grain hides the parent */
        } else if (gte == 1) {
            return ova_err_set(c->err, OVA_E_FORMAT,
                               "%s: grain %llu has grain table entry 1 but the zeroed-grain flag is not set",
                               e->path, ULL(g));
        } else if (stream) {
            st = emit_stream_grain(c, slot, e, g, gte, within, pos, take);
        } else {
            st = ova_sparse_check_gte(e, g, gte, c->err);
            if (st == OVA_OK)
                st = emit_pread(c, slot, (uint64_t)gte * OVA_SECTOR + within, pos, take);
        }
        if (st != OVA_OK)
            return st;
        pos += take;
    }
    return fall_through(c, lvl, run, run_len);
}

/* Is [off, off+len) of extent e, open as fd, one hole? Filesystems
 * without SEEK_DATA say no. ENXIO means "no data from off to the end of
 * the file": a trailing hole of a thin file, or a file that was truncated
 * since it was described. The second is an error, or the OVA would hold
 * zeros where the disk had data. */
static ova_status is_hole(int fd, const ova_extent *e, uint64_t off, uint64_t len, bool *hole, ova_err *err)
{
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d >= 0) {
        *hole = (uint64_t)d >= off + len;
        return OVA_OK;
    }
    *hole = errno == ENXIO;
    if (*hole && shrank(fd, e, err))
        return OVA_E_IO;
    return OVA_OK;
}

static ova_status walk_level(rctx *c, int lvl, uint64_t voff, uint64_t n)
{
    const ova_disk_level *lv = &c->r->levels[lvl];
    uint64_t end = voff + n;
    /* a child larger than its parent: what lies past the parent's end is zeros */
    if (voff >= lv->cap)
        n = 0;
    else if (n > lv->cap - voff)
        n = lv->cap - voff;
    ova_status st = OVA_OK;
    for (uint64_t pos = voff; st == OVA_OK && pos < voff + n;) {
        size_t i = ova_disk_find_extent(lv->ext, lv->n, pos);
        const ova_extent *e = &lv->ext[i];
        uint64_t take = e->start + e->size - pos;
        if (take > voff + n - pos)
            take = voff + n - pos;
        if (e->type == OVA_EXTENT_ZERO) {
            emit_zero(c, pos, take);
        } else if (e->type == OVA_EXTENT_SPARSE) {
            st = walk_sparse(c, lvl, i, pos, take);
        } else {
            size_t slot = c->r->slot0[lvl] + i;
            int fd;
            st = fd_get(c->r, slot, &fd, c->err);
            if (st != OVA_OK)
                break;
            uint64_t foff = e->file_offset + (pos - e->start);
            bool hole = false;
            st = is_hole(fd, e, foff, take, &hole, c->err);
            fd_put(c->r, slot);
            if (st != OVA_OK)
                break;
            if (hole)
                emit_zero(c, pos, take);
            else
                st = emit_pread(c, slot, foff, pos, take);
        }
        pos += take;
    }
    if (st == OVA_OK && voff + n < end)
        emit_zero(c, voff + n, end - (voff + n));
    return st;
}

ova_status ova_disk_read(ova_disk_reader *r, uint64_t off, size_t len, void *buf, bool *zero,
                         uint64_t *nread, ova_err *err)
{
    const ova_disk_info *info = r->info;
    if (off > info->capacity || len > info->capacity - off)
        return ova_err_set(err, OVA_E_USAGE, "%s: read past the end of the disk", info->path);
    rctx c = { .r = r, .buf = buf, .base = off, .nread = nread, .err = err };
    ova_status st = walk_level(&c, 0, off, len);
    if (st == OVA_OK)
        st = flush_pread(&c);
    free(c.cbuf);
    free(c.gbuf);
    if (st != OVA_OK)
        return st;
    *zero = !c.any_data;
    return OVA_OK;
}
