/* sparse_header.h - the 512-byte header of a hosted sparse / streamOptimized
 * VMDK extent (docs/formats.md sections 1.1-1.5 and 3), in one place: the
 * field offsets are known only to sparse_header.c.
 *
 * Three users, each with its own idea of "valid":
 *   - the disk reader (src/disk/sparse.c) takes any sparse extent VMware,
 *     qemu or VirtualBox writes: ova_sparse_header_check, which fails with
 *     the first problem as an error naming the file and the field;
 *   - the stream writer (src/format/vmdk_stream.c) encodes the one header
 *     ovatool writes: ova_sparse_header_encode;
 *   - `ovatool validate` (src/validate/validate_vmdk.c) holds a stream to
 *     what ESXi accepts and lists every problem: it decodes with
 *     ova_sparse_header_decode and judges the fields itself.
 * Pure functions over bytes: no I/O, no allocation.
 */
#ifndef OVATOOL_SPARSE_HEADER_H
#define OVATOOL_SPARSE_HEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "ovatool/limits.h"
#include "ovatool/status.h"

#define OVA_SPARSE_HEADER_SIZE 512u

#define OVA_SPARSE_FLAG_NL_TEST 0x00000001u    /* end-of-line bytes are meaningful */
#define OVA_SPARSE_FLAG_RGD 0x00000002u        /* redundant GD present */
#define OVA_SPARSE_FLAG_ZERO_GRAIN 0x00000004u /* GTE 1 = zeroed grain */
#define OVA_SPARSE_FLAG_COMPRESSED 0x00010000u
#define OVA_SPARSE_FLAG_MARKERS 0x00020000u

#define OVA_SPARSE_MAX_GRAIN 128u          /* sectors; what every reader accepts */
#define OVA_SPARSE_GTES 512u               /* entries per grain table */
#define OVA_SPARSE_MAX_DESC_SECTORS 20480u /* VirtualBox's limit on descriptorSize */
/* Largest compressed grain record payload a reader accepts (qemu's limit;
 * VirtualBox refuses 2 x 64 KiB and more, which validate holds streams to). */
#define OVA_SPARSE_MAX_CSIZE (2u * 65536u)

/* gdOffset of a stream header whose grain directory is found through the footer. */
#define OVA_GD_AT_END UINT64_MAX

/* Every field of the header, as stored (docs/formats.md 1.1). */
typedef struct ova_sparse_fields {
    uint32_t version;
    uint32_t flags;
    uint64_t capacity;      /* sectors */
    uint64_t grain;         /* sectors */
    uint64_t desc_offset;   /* sectors */
    uint64_t desc_size;     /* sectors */
    uint32_t gtes;          /* numGTEsPerGT */
    uint64_t rgd_offset;
    uint64_t gd_offset;
    uint64_t overhead;      /* sectors */
    uint8_t unclean;        /* uncleanShutdown */
    bool nl_ok;             /* the end-of-line check bytes are "\n \r\n" */
    uint16_t compress;      /* compressAlgorithm */
} ova_sparse_fields;

/* Decode the 512 bytes at b. Returns false, leaving f zeroed, if they do
 * not start with the magic "KDMV"; no field is judged. */
bool ova_sparse_header_decode(const unsigned char *b, ova_sparse_fields *f);

/* Encode f into out (512 bytes: the magic, the fields, the end-of-line
 * check bytes whatever nl_ok says, zero padding). */
void ova_sparse_header_encode(unsigned char *out, const ova_sparse_fields *f);

/* The reader's view of a header that passed ova_sparse_header_check.
 * Sizes and offsets are in sectors. */
typedef struct ova_sparse_header {
    uint32_t version;
    uint32_t flags;
    uint64_t capacity;
    uint64_t grain;
    uint64_t desc_offset;
    uint64_t desc_size;
    uint64_t gd_offset;   /* never GD_AT_END: the footer's value replaces it */
    uint64_t gd_entries;
    uint64_t overhead;
    int has_footer;       /* GD location came from a stream footer */
} ova_sparse_header;

/* The disk reader's checks (docs/formats.md 1.5) of the header at b, from a
 * file of file_size bytes: the magic, then every field the reader relies on,
 * in that order; the first problem fails with a message
 * "PATH: sparse WHERE: ..." (where is "header" or "footer"). On success h
 * holds the fields and the grain directory's entry count; h->gd_offset may
 * be OVA_GD_AT_END (the caller reads the footer). */
ova_status ova_sparse_header_check(const unsigned char *b, const char *path, const char *where,
                                   uint64_t file_size, ova_sparse_header *h, ova_err *err);

#endif
