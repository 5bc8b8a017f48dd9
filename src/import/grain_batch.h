/* grain_batch.h - a run of grain records of one disk, the unit of work of
 * an import: rank 0 cuts the stream into batches as it reads it (each grain
 * already placed in the output, disk_out.h), and any thread of any rank runs
 * one: read its bytes of the input, inflate every grain, write the grains
 * that hold data to their places, and report the ones that inflated to
 * zeros (rank 0 leaves those unallocated). Plain data, so a batch travels
 * between ranks as bytes (ova_grain_batch_encode/decode).
 */
#ifndef OVATOOL_IMPORT_GRAIN_BATCH_H
#define OVATOOL_IMPORT_GRAIN_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/status.h"

/* Grains per batch: 4 MiB inflated, the export's single-process unit. */
#define OVA_BATCH_GRAINS 64u
/* Input bytes a batch spans at most (grain records and the metadata between
 * them): 64 worst-case records plus a grain table block each side. */
#define OVA_BATCH_SPAN_MAX ((uint64_t)OVA_BATCH_GRAINS * (12u + 131072u + 512u) + 8192u)

typedef struct ova_batch_grain {
    uint64_t lba;          /* sectors */
    uint64_t rec;          /* record offset from the batch's in_off */
    uint32_t csize;
    uint32_t ext;          /* output extent */
    uint64_t out_off;      /* byte offset in that extent */
} ova_batch_grain;

typedef struct ova_grain_batch {
    uint32_t disk;         /* index of the imported disk */
    uint64_t in_off;       /* input file offset of the first record */
    uint64_t span;         /* bytes from in_off to the end of the last record */
    uint64_t capacity;     /* the disk's capacity in bytes (a last grain may be short) */
    /* The span's bytes, carried with the batch when the file cannot be read
     * by offset (a chunked or gzip file: rank 0 reads it in order through
     * the member reader), or NULL: the worker preads them at in_off. Owned
     * by the batch pool once submitted. */
    unsigned char *data;
    uint32_t n;
    ova_batch_grain g[OVA_BATCH_GRAINS];
} ova_grain_batch;

/* One output extent as a batch writes it. Grains go out through dfd, the
 * same file opened with O_DIRECT (disk_out.h), when the write is aligned
 * (a run of whole grains at a grain slot: 64 KiB offsets): the page cache
 * would only hold bytes nobody reads again, and writing them back through
 * it costs about half this kind of disk's direct speed. A short last grain,
 * dfd -1 (O_DIRECT refused, or --buffered-io) or a file system that wants
 * another alignment (EINVAL) go through fd. */
typedef struct ova_batch_out {
    int fd;
    int dfd;
    const char *path;      /* the extent's temporary file, for messages */
} ova_batch_out;

/* Per-thread buffers and decompressor. */
typedef struct ova_batch_scratch ova_batch_scratch;
ova_status ova_batch_scratch_new(ova_batch_scratch **out, ova_err *err);
void ova_batch_scratch_free(ova_batch_scratch **s);
/* The scratch's input buffer (OVA_BATCH_SPAN_MAX bytes): where a worker on
 * another rank receives a carried batch's span, to run it from there. */
unsigned char *ova_batch_scratch_in(ova_batch_scratch *s);

/* Run batch b: its carried bytes, or else in_fd, the input (OVA or disk
 * file), named in messages by member, the disk's member; outs[ext] the output
 * extents of the disk. The LBAs of grains that inflated to zeros are stored
 * in zero_lbas (OVA_BATCH_GRAINS entries), their count in *n_zero; the
 * bytes of grain data written in *written. */
ova_status ova_grain_batch_run(const ova_grain_batch *b, int in_fd, const char *member, const ova_batch_out *outs,
                               ova_batch_scratch *s, uint64_t *zero_lbas, uint32_t *n_zero, uint64_t *written,
                               ova_err *err);

#endif
