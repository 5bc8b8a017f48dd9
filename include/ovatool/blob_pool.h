/* blob_pool.h - recycled unit buffers for rank 0.
 *
 * Why: a unit buffer is tens of MiB, so malloc hands out a fresh mmap each
 * time and every page the codec writes faults in and is zeroed by the
 * kernel: 170,000 faults for a 6 GiB disk. Keeping a few idle buffers
 * makes that a cost of the first units only. The pool keeps at most
 * `keep` idle buffers (their touched pages stay resident; the window of
 * units in flight bounds how many exist at once either way).
 *
 * Thread-safe: workers, the MPI service loop and the writer's release
 * callback get and put from different threads. */
#ifndef OVATOOL_BLOB_POOL_H
#define OVATOOL_BLOB_POOL_H

#include <stddef.h>

typedef struct ova_blob_pool ova_blob_pool;

/* A pool of buffers of `size` bytes; NULL when out of memory. */
ova_blob_pool *ova_blob_pool_new(size_t size, unsigned keep);

/* A buffer of the pool's size, 64-byte aligned, contents undefined; NULL
 * when out of memory. */
unsigned char *ova_blob_get(ova_blob_pool *p);

/* Give a buffer back to the pool it came from (NULL is ignored). The
 * signature fits ova_writer_unit's release callback. */
void ova_blob_put(void *blob);

/* Free the pool and its idle buffers; every buffer must be back. */
void ova_blob_pool_free(ova_blob_pool **p);

#endif
