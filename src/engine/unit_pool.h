/* unit_pool.h - rank 0's unit result buffers, reused instead of freed.
 *
 * Why: a unit result waits in rank 0's window until the writer has hashed
 * it and the write thread has put it in the file. With a fresh malloc per
 * unit, every result whose buffer is not recycled by glibc faults its pages
 * in anew (and glibc returns them as the window drains). Where the grains
 * compress that is a small share of the time, but stored grains (codec.h)
 * fill whole buffers at memory speed: the 512 MiB window filled with
 * full-size results behind the hashing thread, and faulting them in took
 * half of the copy time of a stored export (README.md, "Performance").
 * A pool keeps a few buffers mapped and hands them out again, so in steady
 * state no page faults in; and because rank 0's own threads wait for a
 * free buffer, it also caps what they hold in flight to the pool's size,
 * far below the window, when hashing is the slower side.
 *
 * Every buffer has `size` bytes. At most `max` pooled buffers exist at once.
 * ova_unit_pool_get waits while all of them are out (rank 0's compression
 * threads: they get a buffer before they take a unit, so a waiting thread
 * never holds back the unit the writer needs next). ova_unit_pool_try_get
 * never waits (rank 0's service loop, which must keep taking messages off
 * the wire): when no pooled buffer is free it makes a one-off buffer, freed
 * when put back, as a fresh malloc per result did before.
 *
 * Any thread may put a buffer back: ova_unit_pool_put has the signature of
 * a release callback (ova_writer_unit, out_file.h's queue), so the write
 * thread returns buffers once their bytes are in the file. A buffer knows
 * its pool (a header before the returned pointer).
 */
#ifndef OVATOOL_UNIT_POOL_H
#define OVATOOL_UNIT_POOL_H

#include <stddef.h>

#include "ovatool/status.h"

typedef struct ova_unit_pool ova_unit_pool;

/* A pool of buffers of size bytes, at most max (>= 1) of them pooled. No
 * buffer is made until one is asked for. */
ova_status ova_unit_pool_new(size_t size, size_t max, ova_unit_pool **out, ova_err *err);

/* A buffer of the pool's size in *buf (64-byte aligned), waiting while max
 * pooled buffers are out. OVA_E_ABORTED once ova_unit_pool_stop was called
 * (also for a caller already waiting), OVA_E_NOMEM without memory for a new
 * buffer; *buf is NULL then. */
ova_status ova_unit_pool_get(ova_unit_pool *p, unsigned char **buf);

/* Without waiting: a free pooled buffer, a new pooled one while fewer than
 * max exist, or else a one-off buffer of `size` bytes (<= the pool's size).
 * NULL without memory, for a larger size, or for a NULL pool (rank 0 could
 * not make one, and has failed the job). Works after ova_unit_pool_stop too. */
unsigned char *ova_unit_pool_try_get(ova_unit_pool *p, size_t size);

/* Without waiting, and never a pooled buffer: a one-off buffer of size
 * bytes (<= the pool's size), for a result much smaller than a unit
 * (distributed writing's held headers, mpi_service.c), which would
 * otherwise take a whole pooled buffer from rank 0's threads. NULL as for
 * ova_unit_pool_try_get. */
unsigned char *ova_unit_pool_one_off(ova_unit_pool *p, size_t size);
/* Give a buffer back (from any get; NULL is ignored). Wakes a waiter. */
void ova_unit_pool_put(void *buf);

/* Wake every waiter; later ova_unit_pool_get calls fail with
 * OVA_E_ABORTED. For the job's first failure. */
void ova_unit_pool_stop(ova_unit_pool *p);

/* Pooled buffers made so far (at most max): the memory the pool holds. */
size_t ova_unit_pool_made(ova_unit_pool *p);

/* Free the pool and its free buffers. Buffers still out may be put back
 * later: the last one frees what remains. Accepts NULL. */
void ova_unit_pool_free(ova_unit_pool **p);

#endif
