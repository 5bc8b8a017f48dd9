/* sparse.c - reading hosted sparse and streamOptimized extents: the header
 * (checked by format/sparse_header.c) and the stream footer, grain directory and grain table blocks, and
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
    st = ova_sparse_header_check(b, path, "header", file_size, h, err);
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
    st = ova_sparse_header_check(t + OVA_SECTOR, path, "footer", file_size, &f, err);
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
