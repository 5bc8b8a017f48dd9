/* batch_pool.h - the threads of one process that run grain batches
 * (grain_batch.h) while rank 0's main thread reads, hashes and cuts the
 * input. A bounded queue: submitting blocks while every slot is taken, so
 * memory is the queue (about 2.6 KiB a batch) plus each thread's scratch, whatever
 * the disk size, plus the bytes of carried batches (a chunked or gzip
 * file's), held under the pool's carry limit. Grains that inflated to zeros come back through
 * ova_batch_pool_take_zeros, for rank 0 to leave unallocated.
 */
#ifndef OVATOOL_IMPORT_BATCH_POOL_H
#define OVATOOL_IMPORT_BATCH_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "import/grain_batch.h"
#include "ovatool/status.h"

/* Scratch of one thread (input span + inflated grains): what --mem-limit
 * divides into threads. */
#define OVA_BATCH_THREAD_BYTES (OVA_BATCH_SPAN_MAX + (uint64_t)OVA_BATCH_GRAINS * 65536u)

typedef struct ova_batch_pool ova_batch_pool;

/* What a worker elsewhere needs to know of a disk to run its batches:
 * the input file and the output extents, by name (it opens them itself). */
typedef struct ova_pool_disk_info {
    uint32_t disk;
    const char *in_path;       /* the OVA, or the disk's file beside the .ovf */
    const char *member;        /* for messages */
    size_t n_ext;
    const ova_batch_out *out;  /* the extents here: their temporary files' paths, and
                                  dfd >= 0 where rank 0 writes with O_DIRECT */
} ova_pool_disk_info;

/* Batch runners outside this process (import_run.h): slots workers, each
 * run by one pool thread that hands it a batch and waits for the answer. */
struct ova_import_remote {
    unsigned slots;
    ova_status (*run)(void *ctx, unsigned slot, const ova_pool_disk_info *d, const ova_grain_batch *b,
                      uint64_t *zero_lbas, uint32_t *n_zero, uint64_t *written, ova_err *err);
    /* Every batch has run: make what the workers wrote durable (each
     * fdatasyncs the files it wrote: on another node, rank 0's fsync does
     * not reach its writes). Called on rank 0's main thread while the pool
     * is idle. */
    ova_status (*sync)(void *ctx, ova_err *err);
    void *ctx;
};

/* threads local workers plus one thread per slot of remote (may be NULL).
 * carry_limit: the bytes of carried batches (grain_batch.h: data) held at
 * once, queued or running; a batch that would pass it waits. */
ova_status ova_batch_pool_new(unsigned threads, const struct ova_import_remote *remote, uint64_t carry_limit,
                              ova_batch_pool **out, ova_err *err);
/* Where the batches of disk d read and write: out[n_ext], the extents
 * (array copied; strings borrowed until the pool is freed). */
ova_status ova_batch_pool_set_disk(ova_batch_pool *p, uint32_t d, int in_fd, const char *in_path,
                                   const char *member, size_t n_ext, const ova_batch_out *out, ova_err *err);
/* Queue a copy of b; blocks while the queue (or the carried bytes' limit)
 * is full. Takes b->data, whether it succeeds or not (b->data is NULL
 * after). Fails with the first error a thread hit (then nothing more runs). */
ova_status ova_batch_pool_submit(ova_batch_pool *p, ova_grain_batch *b, ova_err *err);
/* Hand every zero grain reported so far to fn (on the caller's thread). */
ova_status ova_batch_pool_take_zeros(ova_batch_pool *p, ova_status (*fn)(void *ctx, uint32_t disk, uint64_t lba,
                                                                         ova_err *err),
                                     void *ctx, ova_err *err);
/* Wait until every queued batch ran; the first error, if any. */
ova_status ova_batch_pool_wait(ova_batch_pool *p, ova_err *err);
/* Stop the threads (queued batches are dropped) and free; accepts NULL. */
void ova_batch_pool_free(ova_batch_pool **p);

#endif
