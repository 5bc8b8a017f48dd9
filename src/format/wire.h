/* wire.h - the little-endian byte records ovatool passes between its own
 * processes and runs: the plan rank 0 broadcasts (engine/plan.c), the
 * fleet's queue (engine/mpi_fleet.c) and the resume journal
 * (engine/journal.c). One writer and one bounds-checked reader, so every
 * decoder of bytes it did not write itself (a corrupt broadcast, a hostile
 * journal) stops at the first short field instead of reading past the end.
 */
#ifndef OVATOOL_WIRE_H
#define OVATOOL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/buf.h"

void ova_wire_put32(ova_buf *b, uint32_t v);
void ova_wire_put64(ova_buf *b, uint64_t v);

/* A reader over len bytes. Once a take runs past the end, bad is set to 1,
 * and every later take fails (setting it to 1 again) and every get answers
 * 0: a decoder reads all its fields and checks bad once. A caller may set
 * bad itself for its own reasons (a count too large, no memory). */
typedef struct ova_wire {
    const unsigned char *p;
    size_t left;
    int bad;
} ova_wire;

/* The next n bytes, or NULL (and bad set) when fewer are left. */
const unsigned char *ova_wire_take(ova_wire *r, size_t n);
uint32_t ova_wire_get32(ova_wire *r);
uint64_t ova_wire_get64(ova_wire *r);

#endif
