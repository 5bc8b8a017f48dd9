/* disk_out.c - the imported disk's files (disk_out.h). */
#include "import/disk_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "format/sparse_header.h"
#include "format/vmdk_stream.h"
#include "import/import_tmp.h"
#include "ovatool/buf.h"
#include "util/io.h"

#define ULL(x) ((unsigned long long)(x))
#define DESC_OFFSET 1u
#define DESC_SECTORS 20u
#define GT_BYTES (OVA_GT_ENTRIES * 4u)

typedef struct extent {
    char *final;            /* path */
    char *tmp;
    bool created;   /* tmp is this import's: only then is it removed */
    int fd;
    int dfd;                /* the same file with O_DIRECT, or -1 */
    uint64_t first;         /* first disk sector it holds */
    uint64_t sectors;
    bool sparse;
    uint64_t rgd, gd, rgt0, gt0, overhead, n_gts, gd_sectors; /* sectors */
    uint64_t next_slot;
} extent;

struct ova_disk_out {
    ova_disk_format fmt;
    uint64_t capacity;      /* bytes */
    char *desc_final, *desc_tmp; /* the text descriptor file (not for monolithicSparse) */
    bool desc_created;
    extent *ext;
    size_t n_ext;
    uint64_t allocated;
    /* the one cached grain table */
    size_t c_ext;
    int64_t c_gt;           /* -1: none */
    bool c_dirty;
    uint32_t gt[OVA_GT_ENTRIES];
};

static const char *const format_names[] = { "monolithicSparse", "twoGbMaxExtentSparse", "monolithicFlat" };

bool ova_disk_format_parse(const char *s, ova_disk_format *f)
{
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
        if (strcasecmp(s, format_names[i]) == 0) {
            *f = (ova_disk_format)i;
            return true;
        }
    return false;
}

const char *ova_disk_format_name(ova_disk_format f) { return format_names[f]; }

static uint64_t sectors_of(uint64_t capacity) { return (capacity + OVA_SECTOR - 1) / OVA_SECTOR; }

static size_t n_extents(ova_disk_format fmt, uint64_t capacity)
{
    if (fmt != OVA_DISK_TWOGB_SPARSE)
        return 1;
    uint64_t s = sectors_of(capacity);
    return (size_t)((s + OVA_TWOGB_EXTENT_SECTORS - 1) / OVA_TWOGB_EXTENT_SECTORS);
}

static char *join(const char *dir, const char *prefix, const char *base, const char *suffix)
{
    size_t n = strlen(dir) + strlen(prefix) + strlen(base) + strlen(suffix) + 2;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] != '/' ? "/" : "", prefix, base, suffix);
    return s;
}

/* The extent file names relative to the folder ("vm-disk1-s001.vmdk"). */
static void extent_rel(ova_disk_format fmt, const char *base, size_t i, char *out, size_t cap)
{
    if (fmt == OVA_DISK_MONOLITHIC_SPARSE)
        snprintf(out, cap, "%s.vmdk", base);
    else if (fmt == OVA_DISK_TWOGB_SPARSE)
        snprintf(out, cap, "%s-s%03zu.vmdk", base, i + 1);
    else
        snprintf(out, cap, "%s-flat.vmdk", base);
}

void ova_disk_out_names_free(char **names, size_t n)
{
    for (size_t i = 0; names != NULL && i < n; i++)
        free(names[i]);
    free(names);
}

ova_status ova_disk_out_names(ova_disk_format fmt, const char *dir, const char *base, uint64_t capacity,
                              char ***names, size_t *n, ova_err *err)
{
    size_t ne = n_extents(fmt, capacity), total = ne + (fmt != OVA_DISK_MONOLITHIC_SPARSE);
    char **v = calloc(total, sizeof *v);
    if (v == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", base);
    size_t k = 0;
    if (fmt != OVA_DISK_MONOLITHIC_SPARSE)
        v[k++] = join(dir, "", base, ".vmdk");
    for (size_t i = 0; i < ne; i++) {
        char rel[512];
        extent_rel(fmt, base, i, rel, sizeof rel);
        v[k++] = join(dir, "", rel, "");
    }
    for (size_t i = 0; i < total; i++)
        if (v[i] == NULL) {
            ova_disk_out_names_free(v, total);
            return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", base);
        }
    *names = v;
    *n = total;
    return OVA_OK;
}

/* A value goes between double quotes: one that would break the line or the
 * quoting is left out rather than written wrong. */
static bool ddb_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p == '"' || *p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The descriptor text, as qemu-img and Workstation write it. */
static void descriptor_text(const ova_disk_out *o, const char *base, const ova_descriptor *src, ova_buf *b)
{
    uint32_t cid = src != NULL ? src->cid : 0xfffffffeu;
    ova_buf_printf(b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%08x\nparentCID=ffffffff\n"
                      "createType=\"%s\"\n\n# Extent description\n", cid, format_names[o->fmt]);
    for (size_t i = 0; i < o->n_ext; i++) {
        char rel[512];
        extent_rel(o->fmt, base, i, rel, sizeof rel);
        if (o->fmt == OVA_DISK_MONOLITHIC_FLAT)
            ova_buf_printf(b, "RW %llu FLAT \"%s\" 0\n", ULL(o->ext[i].sectors), rel);
        else
            ova_buf_printf(b, "RW %llu SPARSE \"%s\"\n", ULL(o->ext[i].sectors), rel);
    }
    ova_buf_puts(b, "\n# The Disk Data Base\n#DDB\n\n");
    bool geometry = false;
    for (size_t i = 0; src != NULL && i < src->n_ddb; i++) {
        if (!ddb_value_ok(src->ddb[i].value) || !ddb_value_ok(src->ddb[i].key))
            continue;
        if (strncasecmp(src->ddb[i].key, "ddb.geometry.", 13) == 0)
            geometry = true;
        ova_buf_printf(b, "%s = \"%s\"\n", src->ddb[i].key, src->ddb[i].value);
    }
    if (!geometry) { /* what VMware computes for an IDE-style geometry */
        uint64_t cyl = sectors_of(o->capacity) / (16 * 63);
        ova_buf_printf(b, "ddb.geometry.cylinders = \"%llu\"\nddb.geometry.heads = \"16\"\n"
                          "ddb.geometry.sectors = \"63\"\n", ULL(cyl > 16383 ? 16383 : cyl));
    }
}

static void layout(extent *e, uint64_t sectors)
{
    uint64_t grains = (sectors + OVA_GRAIN_SECTORS - 1) / OVA_GRAIN_SECTORS;
    e->n_gts = (grains + OVA_GT_ENTRIES - 1) / OVA_GT_ENTRIES;
    e->gd_sectors = (e->n_gts * 4 + OVA_SECTOR - 1) / OVA_SECTOR;
    e->rgd = DESC_OFFSET + DESC_SECTORS;
    e->rgt0 = e->rgd + e->gd_sectors;
    e->gd = e->rgt0 + e->n_gts * 4;
    e->gt0 = e->gd + e->gd_sectors;
    uint64_t end = e->gt0 + e->n_gts * 4;
    e->overhead = (end + OVA_GRAIN_SECTORS - 1) / OVA_GRAIN_SECTORS * OVA_GRAIN_SECTORS;
}

/* A grain directory whose tables are preallocated: entry i is gt0 + 4 i.
 * Written a sector at a time, so memory does not grow with the disk. */
static ova_status write_gd(const extent *e, uint64_t gd, uint64_t gt0, ova_err *err)
{
    unsigned char sec[OVA_SECTOR];
    for (uint64_t s = 0; s < e->gd_sectors; s++) {
        memset(sec, 0, sizeof sec);
        for (uint64_t k = 0; k < OVA_SECTOR / 4; k++) {
            uint64_t i = s * (OVA_SECTOR / 4) + k;
            if (i < e->n_gts)
                ova_put_le32(sec + 4 * k, (uint32_t)(gt0 + 4 * i));
        }
        ova_status st = ova_pwrite_exact(e->fd, sec, sizeof sec, (gd + s) * OVA_SECTOR, e->tmp, err);
        if (st != OVA_OK)
            return st;
    }
    return OVA_OK;
}

static ova_status create_file(const char *path, int *fd, ova_err *err)
{
    *fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (*fd < 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot create", path);
    return OVA_OK;
}

static ova_status start_extent(extent *e, const ova_buf *embedded, bool direct, ova_err *err)
{
    ova_status st = create_file(e->tmp, &e->fd, err);
    if (st != OVA_OK)
        return st;
    e->created = true;
    if (direct)
        e->dfd = ova_reopen_direct(e->fd, e->tmp); /* -1: the page cache it is */
    if (!e->sparse) {
        if (ftruncate(e->fd, (off_t)(e->sectors * OVA_SECTOR)) != 0)
            return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot size the flat extent", e->tmp);
        return OVA_OK;
    }
    layout(e, e->sectors);
    ova_sparse_fields f = { 0 };
    f.version = 1;
    f.flags = OVA_SPARSE_FLAG_NL_TEST | OVA_SPARSE_FLAG_RGD;
    f.capacity = e->sectors;
    f.grain = OVA_GRAIN_SECTORS;
    f.desc_offset = embedded != NULL ? DESC_OFFSET : 0;
    f.desc_size = embedded != NULL ? DESC_SECTORS : 0;
    f.gtes = OVA_GT_ENTRIES;
    f.rgd_offset = e->rgd;
    f.gd_offset = e->gd;
    f.overhead = e->overhead;
    f.nl_ok = true;
    unsigned char head[OVA_SECTOR * (1 + DESC_SECTORS)];
    memset(head, 0, sizeof head);
    ova_sparse_header_encode(head, &f);
    if (embedded != NULL) {
        if (embedded->len > DESC_SECTORS * OVA_SECTOR)
            return ova_err_set(err, OVA_E_USAGE, "%s: the disk descriptor (%zu bytes) does not fit in %u sectors",
                               e->tmp, embedded->len, DESC_SECTORS);
        memcpy(head + OVA_SECTOR, embedded->data, embedded->len);
    }
    if ((st = ova_pwrite_exact(e->fd, head, sizeof head, 0, e->tmp, err)) != OVA_OK ||
        (st = write_gd(e, e->rgd, e->rgt0, err)) != OVA_OK || (st = write_gd(e, e->gd, e->gt0, err)) != OVA_OK)
        return st;
    /* the tables are holes that read as zero until a grain is placed */
    if (ftruncate(e->fd, (off_t)(e->overhead * OVA_SECTOR)) != 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot size the sparse extent", e->tmp);
    return OVA_OK;
}

ova_status ova_disk_out_create(ova_disk_format fmt, const char *dir, const char *base, uint64_t capacity,
                               const ova_descriptor *src, bool direct, ova_disk_out **out, ova_err *err)
{
    ova_disk_out *o = calloc(1, sizeof *o);
    size_t ne = n_extents(fmt, capacity);
    if (o == NULL || (o->ext = calloc(ne, sizeof *o->ext)) == NULL) {
        free(o);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", base);
    }
    o->fmt = fmt;
    o->capacity = capacity;
    o->n_ext = ne;
    o->c_gt = -1;
    ova_status st = OVA_OK;
    const char *tag = ova_import_tmp_tag();
    uint64_t total = sectors_of(capacity);
    for (size_t i = 0; i < ne; i++) {
        extent *e = &o->ext[i];
        e->fd = -1;
        e->dfd = -1;
        char rel[512];
        extent_rel(fmt, base, i, rel, sizeof rel);
        e->final = join(dir, "", rel, "");
        e->tmp = join(dir, ".", rel, tag);
        e->first = (uint64_t)i * OVA_TWOGB_EXTENT_SECTORS;
        e->sectors = fmt == OVA_DISK_TWOGB_SPARSE && total - e->first > OVA_TWOGB_EXTENT_SECTORS
                         ? OVA_TWOGB_EXTENT_SECTORS : total - e->first;
        e->sparse = fmt != OVA_DISK_MONOLITHIC_FLAT;
        if (e->final == NULL || e->tmp == NULL)
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", base);
    }
    ova_buf desc = { 0 };
    if (st == OVA_OK) {
        descriptor_text(o, base, src, &desc);
        if (ova_buf_failed(&desc))
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", base);
    }
    if (st == OVA_OK && fmt != OVA_DISK_MONOLITHIC_SPARSE) {
        o->desc_final = join(dir, "", base, ".vmdk");
        char suffix[80];
        snprintf(suffix, sizeof suffix, ".vmdk%s", tag);
        o->desc_tmp = join(dir, ".", base, suffix);
        int fd = -1;
        if (o->desc_final == NULL || o->desc_tmp == NULL)
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", base);
        else if ((st = create_file(o->desc_tmp, &fd, err)) == OVA_OK) {
            o->desc_created = true;
            st = ova_pwrite_exact(fd, desc.data, desc.len, 0, o->desc_tmp, err);
            if (st == OVA_OK && fsync(fd) != 0)
                st = ova_err_errno(err, OVA_E_IO, errno, "%s: fsync", o->desc_tmp);
            close(fd);
        }
    }
    for (size_t i = 0; i < ne && st == OVA_OK; i++)
        st = start_extent(&o->ext[i], fmt == OVA_DISK_MONOLITHIC_SPARSE ? &desc : NULL, direct, err);
    ova_buf_free(&desc);
    if (st != OVA_OK) {
        ova_disk_out_free(&o);
        return st;
    }
    *out = o;
    return OVA_OK;
}

/* Both copies of a grain table (the redundant one first, as VMware). */
static ova_status flush_gt(ova_disk_out *o, ova_err *err)
{
    if (o->c_gt < 0 || !o->c_dirty)
        return OVA_OK;
    extent *e = &o->ext[o->c_ext];
    unsigned char b[GT_BYTES];
    for (unsigned i = 0; i < OVA_GT_ENTRIES; i++)
        ova_put_le32(b + 4 * i, o->gt[i]);
    uint64_t g = (uint64_t)o->c_gt;
    ova_status st = ova_pwrite_exact(e->fd, b, sizeof b, (e->rgt0 + 4 * g) * OVA_SECTOR, e->tmp, err);
    if (st == OVA_OK)
        st = ova_pwrite_exact(e->fd, b, sizeof b, (e->gt0 + 4 * g) * OVA_SECTOR, e->tmp, err);
    if (st == OVA_OK)
        o->c_dirty = false;
    return st;
}

/* Make grain table g of extent x the cached one. */
static ova_status load_gt(ova_disk_out *o, size_t x, uint64_t g, ova_err *err)
{
    if (o->c_gt >= 0 && o->c_ext == x && (uint64_t)o->c_gt == g)
        return OVA_OK;
    ova_status st = flush_gt(o, err);
    if (st != OVA_OK)
        return st;
    extent *e = &o->ext[x];
    unsigned char b[GT_BYTES];
    if ((st = ova_pread_exact(e->fd, b, sizeof b, (e->gt0 + 4 * g) * OVA_SECTOR, e->tmp, "a grain table", err)) !=
        OVA_OK)
        return st;
    for (unsigned i = 0; i < OVA_GT_ENTRIES; i++)
        o->gt[i] = ova_get_le32(b + 4 * i);
    o->c_ext = x;
    o->c_gt = (int64_t)g;
    return OVA_OK;
}

static size_t extent_of(const ova_disk_out *o, uint64_t lba)
{
    return o->fmt == OVA_DISK_TWOGB_SPARSE ? (size_t)(lba / OVA_TWOGB_EXTENT_SECTORS) : 0;
}

ova_status ova_disk_out_place(ova_disk_out *o, uint64_t lba, const char *name, size_t *ext, uint64_t *off,
                              ova_err *err)
{
    size_t x = extent_of(o, lba);
    if (x >= o->n_ext || lba >= sectors_of(o->capacity))
        return ova_err_set(err, OVA_E_FORMAT, "%s: grain at LBA %llu lies past the capacity", name, ULL(lba));
    extent *e = &o->ext[x];
    uint64_t rel = lba - e->first;
    uint64_t bytes = (e->sectors - rel) * OVA_SECTOR;
    o->allocated += bytes < OVA_GRAIN_SIZE ? bytes : OVA_GRAIN_SIZE;
    *ext = x;
    if (!e->sparse) {
        *off = rel * OVA_SECTOR;
        return OVA_OK;
    }
    uint64_t grain = rel / OVA_GRAIN_SECTORS;
    ova_status st = load_gt(o, x, grain / OVA_GT_ENTRIES, err);
    if (st != OVA_OK)
        return st;
    uint32_t *gte = &o->gt[grain % OVA_GT_ENTRIES];
    if (*gte != 0)
        return ova_err_set(err, OVA_E_FORMAT, "%s: a second grain record for LBA %llu", name, ULL(lba));
    uint64_t sector = e->overhead + e->next_slot * OVA_GRAIN_SECTORS;
    if (sector > UINT32_MAX - OVA_GRAIN_SECTORS)
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse extent %s would pass 2 TiB", name, e->final);
    e->next_slot++;
    *gte = (uint32_t)sector;
    o->c_dirty = true;
    *off = sector * OVA_SECTOR;
    return OVA_OK;
}

ova_status ova_disk_out_unplace(ova_disk_out *o, uint64_t lba, ova_err *err)
{
    size_t x = extent_of(o, lba);
    extent *e = &o->ext[x];
    uint64_t rel = lba - e->first;
    uint64_t bytes = (e->sectors - rel) * OVA_SECTOR;
    o->allocated -= bytes < OVA_GRAIN_SIZE ? bytes : OVA_GRAIN_SIZE;
    if (!e->sparse)
        return OVA_OK;
    uint64_t grain = rel / OVA_GRAIN_SECTORS;
    ova_status st = load_gt(o, x, grain / OVA_GT_ENTRIES, err);
    if (st != OVA_OK)
        return st;
    o->gt[grain % OVA_GT_ENTRIES] = 0;
    o->c_dirty = true;
    return OVA_OK;
}

size_t ova_disk_out_extents(const ova_disk_out *o) { return o->n_ext; }
const char *ova_disk_out_extent_path(const ova_disk_out *o, size_t ext) { return o->ext[ext].tmp; }
int ova_disk_out_extent_fd(const ova_disk_out *o, size_t ext) { return o->ext[ext].fd; }
int ova_disk_out_extent_dfd(const ova_disk_out *o, size_t ext) { return o->ext[ext].dfd; }
uint64_t ova_disk_out_allocated(const ova_disk_out *o) { return o->allocated; }

ova_status ova_disk_out_finish(ova_disk_out *o, ova_err *err)
{
    ova_status st = flush_gt(o, err);
    for (size_t i = 0; i < o->n_ext && st == OVA_OK; i++) {
        extent *e = &o->ext[i];
        /* a sparse extent ends after its last slot (a slot whose grain
         * inflated to zeros stays a hole inside it) */
        uint64_t end = e->sparse ? (e->overhead + e->next_slot * OVA_GRAIN_SECTORS) * OVA_SECTOR
                                 : e->sectors * OVA_SECTOR;
        if (ftruncate(e->fd, (off_t)end) != 0)
            st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot size", e->tmp);
        else if (fsync(e->fd) != 0)
            st = ova_err_errno(err, OVA_E_IO, errno, "%s: fsync", e->tmp);
    }
    return st;
}

ova_status ova_disk_out_commit(ova_disk_out *o, ova_err *err)
{
    for (size_t i = 0; i < o->n_ext; i++) {
        if (rename(o->ext[i].tmp, o->ext[i].final) != 0)
            return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot rename to %s", o->ext[i].tmp, o->ext[i].final);
        free(o->ext[i].tmp);
        o->ext[i].tmp = NULL;
    }
    if (o->desc_tmp != NULL) {
        if (rename(o->desc_tmp, o->desc_final) != 0)
            return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot rename to %s", o->desc_tmp, o->desc_final);
        free(o->desc_tmp);
        o->desc_tmp = NULL;
    }
    return OVA_OK;
}

void ova_disk_out_free(ova_disk_out **po)
{
    if (po == NULL || *po == NULL)
        return;
    ova_disk_out *o = *po;
    for (size_t i = 0; i < o->n_ext; i++) {
        extent *e = &o->ext[i];
        if (e->fd >= 0)
            close(e->fd);
        if (e->dfd >= 0)
            close(e->dfd);
        if (e->tmp != NULL && e->created) /* not committed: nothing may be left */
            unlink(e->tmp);
        free(e->tmp);
        free(e->final);
    }
    if (o->desc_tmp != NULL && o->desc_created)
        unlink(o->desc_tmp);
    free(o->desc_tmp);
    free(o->desc_final);
    free(o->ext);
    free(o);
    *po = NULL;
}
