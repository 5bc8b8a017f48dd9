/* stream_scan.h - a push parser over one streamOptimized VMDK, fed the
 * member's bytes in order as rank 0 reads (and hashes) them, so the input is
 * read once. It knows the three layouts import meets (docs/formats.md 3.12):
 * ovftool's and ovatool's (grain tables after each group's grains, GD and
 * footer at the end), open-vmdk's (GD and GTs first, no footer) and
 * qemu-img's (zero padding after the end-of-stream marker). All three mark
 * every record, so the walk never needs the tables: it only hands each grain
 * record (its LBA and where it lies in the member) to a callback, and keeps
 * the embedded descriptor. The grains are inflated elsewhere (in parallel).
 *
 * Memory: one sector of state and the descriptor (at most
 * OVA_SSCAN_MAX_DESC bytes), whatever the disk size.
 */
#ifndef OVATOOL_IMPORT_STREAM_SCAN_H
#define OVATOOL_IMPORT_STREAM_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/status.h"

/* Longest embedded descriptor kept (ovatool writes 20 sectors). */
#define OVA_SSCAN_MAX_DESC ((size_t)64 << 10)

/* One grain record. */
typedef struct ova_sscan_grain {
    uint64_t lba;       /* first sector of the grain in the disk */
    uint64_t off;       /* first byte of the record (its marker) in the member */
    uint32_t csize;     /* compressed bytes after the 12-byte marker */
} ova_sscan_grain;

/* Called for every grain record in stream order; a failure stops the walk. */
typedef ova_status (*ova_sscan_grain_fn)(void *ctx, const ova_sscan_grain *g, ova_err *err);

typedef struct ova_sscan ova_sscan;

/* name: the member, for messages; size: its bytes. */
ova_status ova_sscan_new(const char *name, uint64_t size, ova_sscan_grain_fn fn, void *ctx, ova_sscan **out,
                         ova_err *err);
/* The next n bytes of the member. */
ova_status ova_sscan_feed(ova_sscan *s, const unsigned char *data, size_t n, ova_err *err);
/* Once the header (the first sector) has been fed: the capacity in bytes. */
bool ova_sscan_capacity(const ova_sscan *s, uint64_t *capacity);
/* The embedded descriptor as far as it has been fed (complete once the
 * first record was reached: it lies before overHead); "" if none. */
const char *ova_sscan_descriptor(const ova_sscan *s);
/* The lowest member offset a grain record not yet reported can start at:
 * the bytes fed before it are never needed again (a caller that keeps the
 * fed bytes, import's carried batches, drops them). */
uint64_t ova_sscan_keep_from(const ova_sscan *s);
/* After the last byte: the end-of-stream marker must have been reached.
 * *desc (NUL-terminated, owned by s) is the embedded descriptor. */
ova_status ova_sscan_finish(ova_sscan *s, const char **desc, uint64_t *grains, ova_err *err);
void ova_sscan_free(ova_sscan **s);

#endif
