/* sparse_header.c - encoding, decoding and the reader's checks of the
 * sparse extent header (sparse_header.h, docs/formats.md 1.1-1.5). */
#include "format/sparse_header.h"

#include <string.h>

#include "format/vmdk_stream.h"

#define ULL(x) ((unsigned long long)(x))

/* docs/formats.md 1.1: byte offsets of the fields */
enum {
    H_MAGIC = 0, H_VERSION = 4, H_FLAGS = 8, H_CAPACITY = 12, H_GRAIN = 20, H_DESC_OFFSET = 28,
    H_DESC_SIZE = 36, H_GTES = 44, H_RGD = 48, H_GD = 56, H_OVERHEAD = 64, H_UNCLEAN = 72, H_NL = 73,
    H_COMPRESS = 77
};

static const unsigned char NL_CHECK[4] = { '\n', ' ', '\r', '\n' };

bool ova_sparse_header_decode(const unsigned char *b, ova_sparse_fields *f)
{
    memset(f, 0, sizeof *f);
    if (memcmp(b + H_MAGIC, "KDMV", 4) != 0)
        return false;
    f->version = ova_get_le32(b + H_VERSION);
    f->flags = ova_get_le32(b + H_FLAGS);
    f->capacity = ova_get_le64(b + H_CAPACITY);
    f->grain = ova_get_le64(b + H_GRAIN);
    f->desc_offset = ova_get_le64(b + H_DESC_OFFSET);
    f->desc_size = ova_get_le64(b + H_DESC_SIZE);
    f->gtes = ova_get_le32(b + H_GTES);
    f->rgd_offset = ova_get_le64(b + H_RGD);
    f->gd_offset = ova_get_le64(b + H_GD);
    f->overhead = ova_get_le64(b + H_OVERHEAD);
    f->unclean = b[H_UNCLEAN];
    f->nl_ok = memcmp(b + H_NL, NL_CHECK, sizeof NL_CHECK) == 0;
    f->compress = (uint16_t)(b[H_COMPRESS] | b[H_COMPRESS + 1] << 8);
    return true;
}

void ova_sparse_header_encode(unsigned char *out, const ova_sparse_fields *f)
{
    memset(out, 0, OVA_SPARSE_HEADER_SIZE);
    memcpy(out + H_MAGIC, "KDMV", 4);
    ova_put_le32(out + H_VERSION, f->version);
    ova_put_le32(out + H_FLAGS, f->flags);
    ova_put_le64(out + H_CAPACITY, f->capacity);
    ova_put_le64(out + H_GRAIN, f->grain);
    ova_put_le64(out + H_DESC_OFFSET, f->desc_offset);
    ova_put_le64(out + H_DESC_SIZE, f->desc_size);
    ova_put_le32(out + H_GTES, f->gtes);
    ova_put_le64(out + H_RGD, f->rgd_offset);
    ova_put_le64(out + H_GD, f->gd_offset);
    ova_put_le64(out + H_OVERHEAD, f->overhead);
    out[H_UNCLEAN] = f->unclean;
    /* always written: a reader checks them whenever flag bit 0 is set */
    memcpy(out + H_NL, NL_CHECK, sizeof NL_CHECK);
    out[H_COMPRESS] = (unsigned char)f->compress;
    out[H_COMPRESS + 1] = (unsigned char)(f->compress >> 8);
}

static uint64_t div_up(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

ova_status ova_sparse_header_check(const unsigned char *b, const char *path, const char *where,
                                   uint64_t file_size, ova_sparse_header *h, ova_err *err)
{
    ova_sparse_fields f;
    if (!ova_sparse_header_decode(b, &f))
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse %s: bad magic number (not \"KDMV\")", path, where);
    memset(h, 0, sizeof *h);
    h->version = f.version;
    h->flags = f.flags;
    h->capacity = f.capacity;
    h->grain = f.grain;
    h->desc_offset = f.desc_offset;
    h->desc_size = f.desc_size;
    h->gd_offset = f.gd_offset;
    h->overhead = f.overhead;
    uint64_t file_sectors = file_size / OVA_SECTOR;

    if (h->version < 1 || h->version > 3)
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse %s: version %u (expected 1, 2 or 3)", path, where,
                           h->version);
    /* bits 16-31 are incompatible features: we know only compression and markers */
    uint32_t incompat = h->flags & 0xffff0000u;
    if (incompat & ~(OVA_SPARSE_FLAG_COMPRESSED | OVA_SPARSE_FLAG_MARKERS))
        return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: sparse %s: unknown incompatible flags 0x%08x", path,
                           where, incompat & ~(OVA_SPARSE_FLAG_COMPRESSED | OVA_SPARSE_FLAG_MARKERS));
    if ((h->flags & OVA_SPARSE_FLAG_MARKERS) && !(h->flags & OVA_SPARSE_FLAG_COMPRESSED))
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse %s: flags 0x%08x say markers without compression",
                           path, where, h->flags);
    if ((h->flags & OVA_SPARSE_FLAG_COMPRESSED) && !(h->flags & OVA_SPARSE_FLAG_MARKERS))
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s: sparse %s: compressed grains without markers (an obsolete format)", path, where);
    if ((h->flags & OVA_SPARSE_FLAG_NL_TEST) && !f.nl_ok)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse %s: end-of-line check bytes are wrong (file corrupted by a text-mode "
                           "transfer?)",
                           path, where);
    if (f.compress > 1 || ((h->flags & OVA_SPARSE_FLAG_COMPRESSED) && f.compress != 1))
        return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: sparse %s: compressAlgorithm %u with flags 0x%08x", path,
                           where, (unsigned)f.compress, h->flags);
    if (h->grain == 0 || h->grain > OVA_SPARSE_MAX_GRAIN || (h->grain & (h->grain - 1)) != 0)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse %s: grainSize %llu sectors (expected a power of two up to %u)", path, where,
                           ULL(h->grain), OVA_SPARSE_MAX_GRAIN);
    if (f.gtes != OVA_SPARSE_GTES)
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse %s: numGTEsPerGT %u (expected %u)", path, where, f.gtes,
                           OVA_SPARSE_GTES);
    if (h->capacity > OVA_MAX_CAPACITY / OVA_SECTOR)
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s: sparse %s: capacity of %llu sectors is above ovatool's limit of " OVA_MAX_CAPACITY_TEXT
                           " (%llu sectors)",
                           path, where, ULL(h->capacity), ULL(OVA_MAX_CAPACITY / OVA_SECTOR));
    h->gd_entries = div_up(h->capacity, (uint64_t)OVA_SPARSE_GTES * h->grain);
    if (h->gd_entries > OVA_SPARSE_MAX_GTS)
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s: sparse %s: capacity %llu sectors in grains of %llu sectors needs %llu grain tables, "
                           "more than the limit of %u",
                           path, where, ULL(h->capacity), ULL(h->grain), ULL(h->gd_entries), OVA_SPARSE_MAX_GTS);
    if (h->desc_offset != 0) {
        if (h->desc_size == 0 || h->desc_size > OVA_SPARSE_MAX_DESC_SECTORS)
            return ova_err_set(err, OVA_E_FORMAT, "%s: sparse %s: descriptorSize %llu sectors (expected 1..%u)",
                               path, where, ULL(h->desc_size), OVA_SPARSE_MAX_DESC_SECTORS);
        if (h->desc_offset > file_sectors || h->desc_size > file_sectors - h->desc_offset)
            return ova_err_set(err, OVA_E_FORMAT,
                               "%s: sparse %s: descriptorOffset %llu + descriptorSize %llu sectors lies past the "
                               "end of the file (%llu bytes; truncated?)",
                               path, where, ULL(h->desc_offset), ULL(h->desc_size), ULL(file_size));
    }
    if (h->overhead > file_sectors)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse %s: overHead of %llu sectors is past the end of the file (%llu bytes; "
                           "truncated?)",
                           path, where, ULL(h->overhead), ULL(file_size));
    if ((h->flags & OVA_SPARSE_FLAG_RGD) && f.rgd_offset > file_sectors)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse %s: rgdOffset %llu is past the end of the file (%llu bytes; truncated?)",
                           path, where, ULL(f.rgd_offset), ULL(file_size));
    if (h->gd_offset == OVA_GD_AT_END)
        return OVA_OK; /* the caller looks for the footer */
    if (h->gd_offset == 0 && h->gd_entries != 0)
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse %s: gdOffset is 0", path, where);
    if (h->gd_offset > file_sectors || h->gd_entries * 4 > file_size - h->gd_offset * OVA_SECTOR)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse %s: grain directory (gdOffset %llu, %llu entries) lies past the end of "
                           "the file (%llu bytes; truncated?)",
                           path, where, ULL(h->gd_offset), ULL(h->gd_entries), ULL(file_size));
    return OVA_OK;
}
