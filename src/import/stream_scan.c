/* stream_scan.c - the marker walk over a streamOptimized VMDK member
 * (stream_scan.h). Every record starts on a sector at or after overHead:
 * a grain record (LBA, compressed size != 0, data padded to a sector) or a
 * metadata marker (sector count, size 0, type) followed by that many
 * sectors; the end-of-stream marker ends the walk and whatever follows it
 * (qemu-img's zero padding) is ignored. */
#include "import/stream_scan.h"

#include <stdlib.h>
#include <string.h>

#include "format/sparse_header.h"
#include "format/vmdk_stream.h"
#include "ovatool/limits.h"

#define ULL(x) ((unsigned long long)(x))

struct ova_sscan {
    const char *name;
    uint64_t size;
    ova_sscan_grain_fn fn;
    void *ctx;
    uint64_t pos;              /* member bytes consumed */
    unsigned char sec[OVA_SECTOR]; /* the header, then each record's first sector */
    size_t sec_fill;
    uint64_t rec_start;        /* member offset of the record being collected */
    uint64_t skip_until;       /* bytes before this offset belong to the current record */
    ova_sparse_fields f;
    bool have_header;
    bool eos;
    uint64_t desc_off, desc_len; /* bytes, in the member */
    char *desc;
    uint64_t grains;
};

ova_status ova_sscan_new(const char *name, uint64_t size, ova_sscan_grain_fn fn, void *ctx, ova_sscan **out,
                         ova_err *err)
{
    ova_sscan *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", name);
    s->name = name;
    s->size = size;
    s->fn = fn;
    s->ctx = ctx;
    *out = s;
    return OVA_OK;
}

void ova_sscan_free(ova_sscan **s)
{
    if (s == NULL || *s == NULL)
        return;
    free((*s)->desc);
    free(*s);
    *s = NULL;
}

bool ova_sscan_capacity(const ova_sscan *s, uint64_t *capacity)
{
    if (!s->have_header)
        return false;
    *capacity = s->f.capacity * OVA_SECTOR;
    return true;
}

/* The header: only what import relies on is judged; `validate` says more. */
static ova_status take_header(ova_sscan *s, ova_err *err)
{
    if (!ova_sparse_header_decode(s->sec, &s->f))
        return ova_err_set(err, OVA_E_FORMAT, "%s: not a VMDK sparse extent (no KDMV magic)", s->name);
    const ova_sparse_fields *f = &s->f;
    if ((f->flags & OVA_SPARSE_FLAG_COMPRESSED) == 0 || (f->flags & OVA_SPARSE_FLAG_MARKERS) == 0 ||
        f->compress != 1)
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s: not a streamOptimized VMDK (flags 0x%08x, compressAlgorithm %u): only compressed "
                           "streams with markers are imported", s->name, f->flags, f->compress);
    if (f->grain != OVA_GRAIN_SECTORS)
        return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: grain of %llu sectors; import takes 128-sector grains",
                           s->name, ULL(f->grain));
    if (f->capacity == 0 || f->capacity > OVA_MAX_CAPACITY / OVA_SECTOR)
        return ova_err_set(err, OVA_E_FORMAT, "%s: capacity of %llu sectors is out of range", s->name,
                           ULL(f->capacity));
    if (f->overhead == 0 || f->overhead > s->size / OVA_SECTOR)
        return ova_err_set(err, OVA_E_FORMAT, "%s: overHead %llu sectors lies past the end of the member",
                           s->name, ULL(f->overhead));
    if (f->desc_offset > 0 && f->desc_size > 0) {
        if (f->desc_offset + f->desc_size > f->overhead || f->desc_size * OVA_SECTOR > OVA_SSCAN_MAX_DESC)
            return ova_err_set(err, OVA_E_FORMAT, "%s: embedded descriptor (sectors %llu+%llu) out of range",
                               s->name, ULL(f->desc_offset), ULL(f->desc_size));
        s->desc_off = f->desc_offset * OVA_SECTOR;
        s->desc_len = f->desc_size * OVA_SECTOR;
        if ((s->desc = calloc(1, (size_t)s->desc_len + 1)) == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", s->name);
    }
    s->have_header = true;
    s->skip_until = f->overhead * OVA_SECTOR;
    return OVA_OK;
}

/* A record's first sector is complete. */
static ova_status take_record(ova_sscan *s, ova_err *err)
{
    uint64_t val = ova_get_le64(s->sec);
    uint32_t size = ova_get_le32(s->sec + 8);
    if (size != 0) {
        uint64_t cap = s->f.capacity;
        if (val % OVA_GRAIN_SECTORS != 0 || val >= cap)
            return ova_err_set(err, OVA_E_FORMAT, "%s: grain record at byte %llu has LBA %llu, %s", s->name,
                               ULL(s->rec_start), ULL(val),
                               val >= cap ? "past the capacity" : "not on a grain boundary");
        if (size > OVA_SPARSE_MAX_CSIZE)
            return ova_err_set(err, OVA_E_FORMAT, "%s: grain record at byte %llu (LBA %llu) says %u compressed "
                               "bytes, more than %u", s->name, ULL(s->rec_start), ULL(val), size,
                               OVA_SPARSE_MAX_CSIZE);
        uint64_t total = (OVA_GRAIN_MARKER_SIZE + (uint64_t)size + OVA_SECTOR - 1) / OVA_SECTOR * OVA_SECTOR;
        s->skip_until = s->rec_start + total;
        s->grains++;
        ova_sscan_grain g = { val, s->rec_start, size };
        return s->fn(s->ctx, &g, err);
    }
    uint32_t type = ova_get_le32(s->sec + 12);
    switch (type) {
    case OVA_MARKER_EOS:
        s->eos = true;
        return OVA_OK;
    case OVA_MARKER_GT:
    case OVA_MARKER_GD:
    case OVA_MARKER_FOOTER:
        if (val > (s->size - s->rec_start) / OVA_SECTOR)
            return ova_err_set(err, OVA_E_FORMAT, "%s: metadata marker at byte %llu says %llu sectors, past the "
                               "end of the member", s->name, ULL(s->rec_start), ULL(val));
        s->skip_until = s->rec_start + OVA_SECTOR + val * OVA_SECTOR;
        return OVA_OK;
    default:
        return ova_err_set(err, OVA_E_FORMAT, "%s: unknown marker type %u at byte %llu", s->name, type,
                           ULL(s->rec_start));
    }
}

/* Gather the input into s->sec, which may take several feeds: true once it
 * holds a whole sector (sec_fill back at 0 for the next one). */
static bool fill_sector(ova_sscan *s, const unsigned char **data, size_t *n)
{
    size_t k = OVA_SECTOR - s->sec_fill < *n ? OVA_SECTOR - s->sec_fill : *n;
    memcpy(s->sec + s->sec_fill, *data, k);
    s->sec_fill += k;
    s->pos += k;
    *data += k;
    *n -= k;
    if (s->sec_fill < OVA_SECTOR)
        return false;
    s->sec_fill = 0;
    return true;
}

ova_status ova_sscan_feed(ova_sscan *s, const unsigned char *data, size_t n, ova_err *err)
{
    while (n > 0) {
        if (s->eos) { /* padding after the end: not ours to read */
            s->pos += n;
            return OVA_OK;
        }
        if (s->pos < s->skip_until || !s->have_header) {
            if (!s->have_header) {
                if (fill_sector(s, &data, &n)) {
                    ova_status st = take_header(s, err);
                    if (st != OVA_OK)
                        return st;
                }
                continue;
            }
            uint64_t k64 = s->skip_until - s->pos;
            size_t k = k64 < n ? (size_t)k64 : n;
            /* the embedded descriptor lies in the skipped head */
            if (s->desc != NULL && s->pos < s->desc_off + s->desc_len && s->pos + k > s->desc_off) {
                uint64_t a = s->pos > s->desc_off ? s->pos : s->desc_off;
                uint64_t b = s->pos + k < s->desc_off + s->desc_len ? s->pos + k : s->desc_off + s->desc_len;
                memcpy(s->desc + (a - s->desc_off), data + (a - s->pos), (size_t)(b - a));
            }
            s->pos += k;
            data += k;
            n -= k;
            continue;
        }
        if (s->sec_fill == 0)
            s->rec_start = s->pos;
        if (fill_sector(s, &data, &n)) {
            s->skip_until = s->pos;
            ova_status st = take_record(s, err);
            if (st != OVA_OK)
                return st;
        }
    }
    return OVA_OK;
}

uint64_t ova_sscan_keep_from(const ova_sscan *s)
{
    /* a record's first sector being collected started at rec_start; else
     * the next record starts at pos or later */
    return s->have_header && s->sec_fill > 0 ? s->rec_start : s->pos;
}

const char *ova_sscan_descriptor(const ova_sscan *s) { return s->desc != NULL ? s->desc : ""; }

ova_status ova_sscan_finish(ova_sscan *s, const char **desc, uint64_t *grains, ova_err *err)
{
    if (!s->have_header)
        return ova_err_set(err, OVA_E_FORMAT, "%s: truncated: shorter than a VMDK header", s->name);
    if (!s->eos)
        return ova_err_set(err, OVA_E_FORMAT, "%s: truncated: the stream ends at byte %llu%s without an end-of-stream marker",
                           s->name, ULL(s->pos), s->pos < s->skip_until || s->sec_fill > 0 ? ", inside a record," : "");
    *desc = s->desc != NULL ? s->desc : "";
    *grains = s->grains;
    return OVA_OK;
}
