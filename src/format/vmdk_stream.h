/* vmdk_stream.h - the pieces of a streamOptimized VMDK, in VMware's own
 * layout (docs/formats.md section 3):
 *
 *   sector 0        header (gdOffset = GD_AT_END)
 *   sector 1..20    embedded descriptor, NUL padded
 *   ..127           zero padding (overHead = 128: grains start grain-aligned)
 *   128..           grain records in ascending LBA order; after the last grain
 *                   of each 512-grain group that holds data, a GT marker + GT
 *   GD marker + GD, FOOTER marker + footer (header copy with the real
 *   gdOffset), EOS marker as the very last sector.
 *
 * These functions only format bytes; the export engine decides where they go.
 */
#ifndef OVATOOL_VMDK_STREAM_H
#define OVATOOL_VMDK_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "format/sparse_header.h"
#include "ovatool/status.h"

#define OVA_SECTOR 512u
#define OVA_GRAIN_SECTORS 128u
#define OVA_GRAIN_SIZE (OVA_GRAIN_SECTORS * OVA_SECTOR)          /* 64 KiB */
#define OVA_GT_ENTRIES 512u
#define OVA_GT_COVERAGE ((uint64_t)OVA_GT_ENTRIES * OVA_GRAIN_SIZE) /* 32 MiB */
#define OVA_STREAM_DESC_SECTORS 20u
#define OVA_STREAM_OVERHEAD 128u   /* sectors before the first grain record */
#define OVA_GRAIN_MARKER_SIZE 12u  /* uint64 lba + uint32 size */

/* Metadata marker types. */
#define OVA_MARKER_EOS 0u
#define OVA_MARKER_GT 1u
#define OVA_MARKER_GD 2u
#define OVA_MARKER_FOOTER 3u

/* What goes into a disk's header and embedded descriptor. */
typedef struct ova_stream_info {
    uint64_t capacity;          /* virtual size in bytes (need not be a sector multiple) */
    uint32_t cid;               /* content id written as CID= */
    const char *extent_name;    /* file name on the extent line (the OVA member name) */
    const char *adapter_type;   /* ddb.adapterType: "ide", "lsilogic", "buslogic" */
    const char *tools_version;  /* ddb.toolsVersion or NULL (then "2147483647") */
    const char *tools_install_type; /* ddb.toolsInstallType or NULL (then omitted) */
} ova_stream_info;

/* Capacity in sectors (rounded up) and the grain / grain-table counts. */
uint64_t ova_stream_sectors(uint64_t capacity);
uint64_t ova_stream_grains(uint64_t capacity);
uint64_t ova_stream_gts(uint64_t capacity);

/* Fill out[OVA_STREAM_OVERHEAD * OVA_SECTOR] with the header, the embedded
 * descriptor and the zero padding that precede the first grain record.
 * Fails (OVA_E_USAGE) if the descriptor does not fit or a name contains a
 * double quote or control character. */
ova_status ova_stream_head(const ova_stream_info *info, unsigned char *out, ova_err *err);

/* The 512-byte sparse extent header ovatool writes (encoded by
 * format/sparse_header.c); gd_offset is OVA_GD_AT_END in the head and the
 * real GD sector in the footer. */
void ova_stream_header(unsigned char out[OVA_SECTOR], uint64_t capacity, uint64_t gd_offset);

/* Largest padded size of one grain record: marker + worst-case deflate of a
 * 64 KiB grain (any codec, see codec.h) rounded up to whole sectors. */
size_t ova_grain_record_max(void);

/* Finish a grain record whose compressed bytes (clen of them) are already at
 * rec + OVA_GRAIN_MARKER_SIZE: write the marker for lba (in sectors) and zero
 * the padding up to the next sector boundary. Returns the padded length. */
size_t ova_grain_record_finish(unsigned char *rec, uint64_t lba, uint32_t clen);

/* A metadata marker sector. */
void ova_stream_marker(unsigned char out[OVA_SECTOR], uint64_t val, uint32_t type);

/* GT marker + the 4-sector grain table: 5 sectors into out. */
#define OVA_GT_BLOCK_SIZE (5u * OVA_SECTOR)
void ova_stream_gt_block(unsigned char out[OVA_GT_BLOCK_SIZE], const uint32_t gt[OVA_GT_ENTRIES]);

/* Size in bytes of the tail for a disk with n_gds grain-directory entries:
 * GD marker + GD sectors + footer marker + footer + EOS. */
size_t ova_stream_tail_size(uint64_t n_gds);

/* Write the tail into out (ova_stream_tail_size bytes). gd[] holds the GT
 * sector of every group (0 for empty groups); gd_sector is where the GD
 * block itself lands (the sector after the GD marker). */
void ova_stream_tail(unsigned char *out, uint64_t capacity, const uint32_t *gd, uint64_t n_gds,
                     uint64_t gd_sector);

/* Little-endian helpers shared with the readers. */
static inline void ova_put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}
static inline void ova_put_le64(unsigned char *p, uint64_t v)
{
    ova_put_le32(p, (uint32_t)v);
    ova_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t ova_get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ova_get_le64(const unsigned char *p)
{
    return (uint64_t)ova_get_le32(p) | (uint64_t)ova_get_le32(p + 4) << 32;
}

#endif
