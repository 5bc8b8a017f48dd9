/* sparse.c - reading hosted sparse and streamOptimized extents: strict
 * header and footer checks, grain directory and grain table blocks, and
 * compressed grain records. Every offset taken from a file is checked
 * against the file's size before it is used, and nothing allocated here is
 * sized by a header field. */
#include "disk/sparse.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "format/vmdk_stream.h"
#include "util/io.h"

#define ULL(x) ((unsigned long long)(x))

static uint64_t div_up(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

/* Decode the 512-byte header at hdr and check every field we rely on.
 * where is "header" or "footer" for messages. */
static ova_status decode(const unsigned char *b, const char *path, const char *where, uint64_t file_size,
                         ova_sparse_header *h, ova_err *err)
{
    if (memcmp(b, "KDMV", 4) != 0)
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse %s: bad magic number (not \"KDMV\")", path, where);
    memset(h, 0, sizeof *h);
    h->version = ova_get_le32(b + 4);
    h->flags = ova_get_le32(b + 8);
    h->capacity = ova_get_le64(b + 12);
    h->grain = ova_get_le64(b + 20);
    h->desc_offset = ova_get_le64(b + 28);
    h->desc_size = ova_get_le64(b + 36);
    uint32_t gtes = ova_get_le32(b + 44);
    uint64_t rgd = ova_get_le64(b + 48);
    h->gd_offset = ova_get_le64(b + 56);
    h->overhead = ova_get_le64(b + 64);
    unsigned compress = (unsigned)b[77] | (unsigned)b[78] << 8;
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
    if ((h->flags & OVA_SPARSE_FLAG_NL_TEST) && (b[73] != '\n' || b[74] != ' ' || b[75] != '\r' || b[76] != '\n'))
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse %s: end-of-line check bytes are wrong (file corrupted by a text-mode "
                           "transfer?)",
                           path, where);
    if (compress > 1 || ((h->flags & OVA_SPARSE_FLAG_COMPRESSED) && compress != 1))
        return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: sparse %s: compressAlgorithm %u with flags 0x%08x", path,
                           where, compress, h->flags);
    if (h->grain == 0 || h->grain > OVA_SPARSE_MAX_GRAIN || (h->grain & (h->grain - 1)) != 0)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse %s: grainSize %llu sectors (expected a power of two up to %u)", path, where,
                           ULL(h->grain), OVA_SPARSE_MAX_GRAIN);
    if (gtes != OVA_SPARSE_GTES)
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse %s: numGTEsPerGT %u (expected %u)", path, where, gtes,
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
    if ((h->flags & OVA_SPARSE_FLAG_RGD) && rgd > file_sectors)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse %s: rgdOffset %llu is past the end of the file (%llu bytes; truncated?)",
                           path, where, ULL(rgd), ULL(file_size));
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

/* A metadata marker: val, size 0, type. */
static int is_marker(const unsigned char *m, uint64_t val, uint32_t type)
{
    return ova_get_le64(m) == val && ova_get_le32(m + 8) == 0 && ova_get_le32(m + 12) == type;
}

ova_status ova_sparse_read_header(int fd, const char *path, uint64_t file_size, ova_sparse_header *h,
                                  ova_err *err)
{
    unsigned char b[OVA_SECTOR];
    if (file_size < OVA_SECTOR)
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse header: file is only %llu bytes (truncated?)", path,
                           ULL(file_size));
    ova_status st = ova_pread_exact(fd, b, sizeof b, 0, path, "the sparse header", err);
    if (st != OVA_OK)
        return st;
    st = decode(b, path, "header", file_size, h, err);
    if (st != OVA_OK || h->gd_offset != OVA_GD_AT_END)
        return st;

    /* GD_AT_END (streamOptimized as VMware writes it): the footer holds the
     * real values, 3 sectors before the end: FOOTER marker, header copy, EOS. */
    if (!(h->flags & OVA_SPARSE_FLAG_MARKERS))
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse header: gdOffset is GD_AT_END but the file has no markers (flags 0x%08x)",
                           path, h->flags);
    unsigned char t[3 * OVA_SECTOR];
    if (file_size < sizeof t + OVA_SECTOR || file_size % OVA_SECTOR != 0)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse header says the grain directory is at the end, but the file (%llu bytes) "
                           "has no footer (truncated?)",
                           path, ULL(file_size));
    st = ova_pread_exact(fd, t, sizeof t, file_size - sizeof t, path, "the stream footer", err);
    if (st != OVA_OK)
        return st;
    if (!is_marker(t, ova_get_le64(t), OVA_MARKER_FOOTER)) /* val is 1 in practice; not checked */
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse header says the grain directory is at the end, but there is no footer "
                           "marker at offset %llu (truncated?)",
                           path, ULL(file_size - sizeof t));
    if (!is_marker(t + 2 * OVA_SECTOR, 0, OVA_MARKER_EOS))
        return ova_err_set(err, OVA_E_FORMAT, "%s: stream footer: no end-of-stream marker in the last sector",
                           path);
    ova_sparse_header f;
    st = decode(t + OVA_SECTOR, path, "footer", file_size, &f, err);
    if (st != OVA_OK)
        return st;
    if (f.gd_offset == OVA_GD_AT_END)
        return ova_err_set(err, OVA_E_FORMAT, "%s: sparse footer: gdOffset is GD_AT_END too", path);
    if (f.capacity != h->capacity || f.grain != h->grain || f.flags != h->flags)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse footer disagrees with the header (capacity %llu/%llu, grainSize %llu/%llu, "
                           "flags 0x%08x/0x%08x)",
                           path, ULL(f.capacity), ULL(h->capacity), ULL(f.grain), ULL(h->grain), f.flags, h->flags);
    *h = f;
    h->has_footer = 1;
    return OVA_OK;
}

ova_status ova_sparse_read_descriptor(int fd, const char *path, const ova_sparse_header *h, size_t max,
                                      char **text, size_t *len, ova_err *err)
{
    uint64_t n64 = h->desc_size * OVA_SECTOR;
    size_t n = n64 < max ? (size_t)n64 : max;
    char *t = malloc(n + 1);
    if (t == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory for the embedded descriptor", path);
    ova_status st = ova_pread_exact(fd, t, n, h->desc_offset * OVA_SECTOR, path, "the embedded descriptor", err);
    if (st != OVA_OK) {
        free(t);
        return st;
    }
    t[n] = '\0';
    *text = t;
    *len = strlen(t);
    return OVA_OK;
}

ova_status ova_sparse_read_gd_block(int fd, const ova_extent *e, uint64_t block, uint32_t out[OVA_SPARSE_GTES],
                                    uint64_t *nread, ova_err *err)
{
    uint64_t first = block * OVA_SPARSE_GTES;
    size_t cnt = 0;
    if (first < e->gd_entries)
        cnt = e->gd_entries - first < OVA_SPARSE_GTES ? (size_t)(e->gd_entries - first) : OVA_SPARSE_GTES;
    unsigned char b[OVA_SPARSE_GTES * 4];
    if (cnt > 0) {
        ova_status st = ova_pread_exact(fd, b, cnt * 4, e->gd_sector * OVA_SECTOR + first * 4, e->path,
                                        "the grain directory", err);
        if (st != OVA_OK)
            return st;
        *nread += cnt * 4;
    }
    for (size_t i = 0; i < OVA_SPARSE_GTES; i++)
        out[i] = i < cnt ? ova_get_le32(b + 4 * i) : 0;
    return OVA_OK;
}

ova_status ova_sparse_read_gt(int fd, const ova_extent *e, uint64_t gdi, uint32_t gde,
                              uint32_t out[OVA_SPARSE_GTES], uint64_t *nread, ova_err *err)
{
    uint64_t off = (uint64_t)gde * OVA_SECTOR;
    if (off > e->file_size || e->file_size - off < OVA_SPARSE_GTES * 4)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: grain directory entry %llu points at sector %u, past the end of the file (%llu "
                           "bytes; truncated?)",
                           e->path, ULL(gdi), gde, ULL(e->file_size));
    unsigned char b[OVA_SPARSE_GTES * 4];
    ova_status st = ova_pread_exact(fd, b, sizeof b, off, e->path, "a grain table", err);
    if (st != OVA_OK)
        return st;
    *nread += sizeof b;
    for (size_t i = 0; i < OVA_SPARSE_GTES; i++)
        out[i] = ova_get_le32(b + 4 * i);
    return OVA_OK;
}

/* Bytes of grain g that lie inside the extent (the last one may be short). */
static uint64_t grain_bytes_in(const ova_extent *e, uint64_t g)
{
    uint64_t gb = (uint64_t)e->grain_sectors * OVA_SECTOR;
    uint64_t left = e->size - g * gb;
    return left < gb ? left : gb;
}

ova_status ova_sparse_check_gte(const ova_extent *e, uint64_t grain, uint32_t gte, ova_err *err)
{
    uint64_t off = (uint64_t)gte * OVA_SECTOR;
    uint64_t need = grain_bytes_in(e, grain);
    if (off > e->file_size || e->file_size - off < need)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: grain %llu is at sector %u, past the end of the file (%llu bytes; truncated?)",
                           e->path, ULL(grain), gte, ULL(e->file_size));
    return OVA_OK;
}

ova_status ova_sparse_read_stream_grain(int fd, const ova_extent *e, uint64_t grain, uint32_t gte,
                                        unsigned char *cbuf, unsigned char *out, size_t out_cap,
                                        size_t *out_len, uint64_t *nread, ova_err *err)
{
    uint64_t off = (uint64_t)gte * OVA_SECTOR;
    if (off > e->file_size || e->file_size - off < OVA_GRAIN_MARKER_SIZE)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: grain %llu is at sector %u, past the end of the file (%llu bytes; truncated?)",
                           e->path, ULL(grain), gte, ULL(e->file_size));
    size_t first = e->file_size - off < OVA_SECTOR ? (size_t)(e->file_size - off) : OVA_SECTOR;
    ova_status st = ova_pread_exact(fd, cbuf, first, off, e->path, "a grain marker", err);
    if (st != OVA_OK)
        return st;
    *nread += first;
    uint64_t lba = ova_get_le64(cbuf);
    uint32_t csize = ova_get_le32(cbuf + 8);
    uint64_t want = grain * e->grain_sectors;
    if (csize == 0)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: grain %llu points at sector %u, which holds a metadata marker, not a grain", e->path,
                           ULL(grain), gte);
    if (lba != want)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: grain marker at sector %u says LBA %llu, but the grain table expects LBA %llu",
                           e->path, gte, ULL(lba), ULL(want));
    if (csize > OVA_SPARSE_MAX_CSIZE)
        return ova_err_set(err, OVA_E_FORMAT, "%s: grain marker at sector %u says %u compressed bytes (at most %u)",
                           e->path, gte, csize, OVA_SPARSE_MAX_CSIZE);
    size_t total = OVA_GRAIN_MARKER_SIZE + (size_t)csize;
    if (e->file_size - off < total)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: compressed grain at sector %u (%u bytes) runs past the end of the file (%llu "
                           "bytes; truncated?)",
                           e->path, gte, csize, ULL(e->file_size));
    if (total > first) {
        st = ova_pread_exact(fd, cbuf + first, total - first, off + first, e->path, "a compressed grain", err);
        if (st != OVA_OK)
            return st;
        *nread += total - first;
    }
    uLongf dlen = (uLongf)out_cap;
    int zr = uncompress(out, &dlen, cbuf + OVA_GRAIN_MARKER_SIZE, (uLong)csize);
    if (zr != Z_OK)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: compressed grain at sector %u (LBA %llu) does not inflate to at most %zu bytes: %s",
                           e->path, gte, ULL(lba), out_cap,
                           zr == Z_BUF_ERROR ? "too long or truncated" : zr == Z_DATA_ERROR ? "corrupt data"
                                                                                            : "zlib error");
    *out_len = (size_t)dlen;
    return OVA_OK;
}
