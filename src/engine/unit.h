/* unit.h - compressing one work unit into ready-to-write grain records.
 *
 * A unit result is one contiguous block, so it can be handed between
 * threads or sent over MPI as a single message without copying:
 *
 *   ova_unit_hdr | grain records (marker + zlib stream + padding, in LBA order)
 *
 * rel[i] tells where grain first_grain + i landed: 0 for an all-zero grain
 * (not written), else 1 + its sector offset inside the records. Rank 0 turns
 * these into grain-table entries by adding the records' position in the file.
 * The header is sent as raw bytes: all ranks run the same binary on the same
 * architecture (an MPI job does not mix byte orders).
 */
#ifndef OVATOOL_UNIT_H
#define OVATOOL_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/codec.h"
#include "ovatool/disk.h"
#include "engine/plan.h"
#include "ovatool/status.h"
#include "format/vmdk_stream.h"

#define OVA_UNIT_OK 0u
#define OVA_UNIT_SKIPPED 1u   /* the job was aborted; no records follow */

typedef struct ova_unit_hdr {
    uint64_t unit;
    uint64_t records_len;     /* bytes of records after the header (a sector multiple) */
    uint64_t bytes_read;      /* bytes read from files for this unit */
    uint32_t status;          /* OVA_UNIT_OK or OVA_UNIT_SKIPPED */
    uint32_t n_data;          /* grains written (non-zero) */
    uint32_t n_grains;        /* grains covered by the unit */
    uint32_t n_stored;        /* of the n_data, grains stored, not compressed (codec.h) */
    uint32_t rel[OVA_GT_ENTRIES];
} ova_unit_hdr;

/* Bytes a unit result of n_grains can take at most. */
size_t ova_unit_max_size(uint32_t n_grains);

/* Per-thread scratch: a read buffer and a codec. */
typedef struct ova_unit_worker ova_unit_worker;

/* read_chunk: bytes read per pread (a multiple of 64 KiB). */
ova_status ova_unit_worker_new(ova_codec_kind codec, int level, size_t read_chunk, ova_unit_worker **out,
                               ova_err *err);
void ova_unit_worker_free(ova_unit_worker **w);

/* Store grains that will not compress instead of deflating them (codec.h,
 * "Storing what will not compress"). Off after ova_unit_worker_new; the
 * export turns it on unless --compress-all. */
void ova_unit_worker_store_incompressible(ova_unit_worker *w, bool on);

/* Read and compress unit `unit` of plan from reader (the reader of the
 * unit's disk) into out, which must hold ova_unit_max_size(n_grains) bytes.
 * On success the result occupies sizeof(ova_unit_hdr) + hdr->records_len
 * bytes of out. */
ova_status ova_unit_compress(ova_unit_worker *w, const ova_plan *plan, ova_disk_reader *reader,
                             uint64_t unit, unsigned char *out, ova_err *err);

/* A unit result of count bytes received from another rank, before anyone
 * trusts it: the header and records as long as the message, whole sectors,
 * a unit of plan, as many grains as the plan gives it, and every grain's
 * sector inside the records (the writer trusts all of this). NULL if it is
 * sound, else what is wrong. Whether the unit was granted is the caller's
 * to check. */
const char *ova_unit_result_check(const ova_plan *plan, const ova_unit_hdr *h, size_t count);

/* True when all n bytes at p are zero (n a multiple of 8, p 8-aligned). */
bool ova_is_zero(const void *p, size_t n);

#endif
