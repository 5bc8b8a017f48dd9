/* disk_stream.h - one disk's streamOptimized VMDK as the OVA writer lays
 * it out around the grain records the workers made: the header and
 * embedded descriptor, a grain table after each group of 512 grains that
 * holds data, the grain directory, footer and end-of-stream marker.
 *
 * The records carry their own markers; what this keeps is where each one
 * lands (the VMDK's next sector) so that the grain tables can point at
 * them. Bytes go out through emit, in order: the writer hashes and queues
 * them as the member's data. The byte layout itself is format/vmdk_stream.h. */
#ifndef OVATOOL_DISK_STREAM_H
#define OVATOOL_DISK_STREAM_H

#include <stdint.h>

#include "ovatool/status.h"
#include "format/vmdk_stream.h"

/* Append n bytes to the disk's member. */
typedef ova_status (*ova_disk_stream_emit)(void *ctx, const void *p, size_t n, ova_err *err);

typedef struct ova_disk_stream {
    const char *out_path;     /* the OVA, for messages */
    ova_disk_stream_emit emit;
    void *emit_ctx;
    uint64_t capacity;        /* of the disk being written, bytes */
    uint64_t sector;          /* next sector inside the VMDK */
    uint32_t *gd;             /* grain directory: sector of each group's GT, 0 for none */
    uint32_t gt[OVA_GT_ENTRIES];  /* the current group's grain table */
    int gt_has_data;
} ova_disk_stream;

/* A stream with nothing started; out_path is borrowed. */
void ova_disk_stream_init(ova_disk_stream *s, const char *out_path, ova_disk_stream_emit emit, void *emit_ctx);

/* Begin a disk: emit the header and descriptor of si. disk_path names the
 * source disk in messages. */
ova_status ova_disk_stream_start(ova_disk_stream *s, const ova_stream_info *si, const char *disk_path,
                                 ova_err *err);

/* Place records_len bytes of grain records for grains first..first+n-1
 * (rel as in unit.h) at the current sector: their grain-table entries. The
 * caller then appends exactly those bytes itself (they are not copied). */
ova_status ova_disk_stream_records(ova_disk_stream *s, uint64_t first, uint32_t n, const uint32_t *rel,
                                   uint64_t records_len, ova_err *err);

/* Grains first..first+n-1 are placed: emit the grain table when they end a
 * group (VMware writes none for a group without data), and, when they end
 * the disk, the directory, footer and end-of-stream. *size is then the
 * member's length, else 0. */
ova_status ova_disk_stream_grains_done(ova_disk_stream *s, uint64_t first, uint32_t n, uint64_t *size,
                                       ova_err *err);

/* Continue a disk begun by an earlier run (journal.h): its header and
 * grain groups [0, n_gd) are in the file, the next byte is at sector, and
 * gd holds those groups' directory entries. No grain table is half filled
 * at such a point. */
ova_status ova_disk_stream_resume(ova_disk_stream *s, uint64_t capacity, uint64_t sector, const uint32_t *gd,
                                  uint64_t n_gd, const char *disk_path, ova_err *err);

/* Free the grain directory. */
void ova_disk_stream_free(ova_disk_stream *s);

#endif
