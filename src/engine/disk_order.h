/* disk_order.h - the order in which a multi-disk export grants and writes
 * its units when the disks are compressed and hashed side by side
 * (--parallel-disks, mpi_engine.h), and the rule that engages it.
 *
 * Why interleave: disk k+1's member lands in the tar after disk k's, whose
 * compressed length is unknown until it is done, so in plan order disk k+1
 * is neither compressed (beyond the window) nor hashed until disk k is
 * nearly done: one digest stream at a time. Interleaved, every disk has
 * units in flight and its own digest stream (ova_writer.c spools the later
 * disks), while the window and hold stay what they are: they count units
 * in this order, whatever disk they belong to.
 *
 * The order: the plan's units of disk d are its units i = 0 .. U_d-1 (U_d
 * its planned units); each gets the key (2i+1) / (2 U_d), the middle of its
 * share of the disk, and units go in key order, ties to the lower disk.
 * So every disk advances in proportion to its planned units, each disk's
 * own units stay in plan order, and the order is a pure function of the
 * plan (every rank and every run computes the same one). Position s is a
 * unit's "sequence number"; without interleaving it is the unit itself.
 * Nothing is stored per unit (memory independent of disk size): the
 * cursor keeps one counter per disk and the inverse is counted in
 * O(disks). */
#ifndef OVATOOL_DISK_ORDER_H
#define OVATOOL_DISK_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/plan.h"
#include "ovatool/export.h"

/* A cursor through the interleaved order. */
typedef struct ova_disk_order {
    const ova_plan *plan;
    uint64_t *next;           /* per disk: its units already passed */
    uint64_t seq;             /* position of the next unit */
} ova_disk_order;

/* Start at position 0. OVA_E_NOMEM when the counters cannot be had. */
ova_status ova_disk_order_init(ova_disk_order *o, const ova_plan *plan, ova_err *err);
void ova_disk_order_free(ova_disk_order *o);

/* The plan unit at the cursor, and the cursor moved past it; -1 at the end. */
int64_t ova_disk_order_next(ova_disk_order *o);

/* The position of plan unit u in the interleaved order. */
uint64_t ova_disk_order_seq(const ova_plan *plan, uint64_t u);

/* ---- the rule (--parallel-disks auto) ---- */

/* What one digest stream takes per second on one core, bytes: measured
 * by tests/bench/scale.sh ("digest rate per core") on the 2-core
 * development machine, with SHA-NI for SHA-256: about 1.7 GB/s SHA-256,
 * 0.9 GB/s SHA-512, and SHA-1 (no SHA-NI path there) taken as SHA-256's. */
#define OVA_DIGEST_RATE_SHA256 1700000000ull
#define OVA_DIGEST_RATE_SHA512 900000000ull
#define OVA_DIGEST_RATE_SHA1 1700000000ull
/* Compressed output one compression thread makes per second, bytes: at
 * the benchmark image's mix (compressed size about 0.57 of the non-zero
 * data, libdeflate level 6 at about 105 MB/s of input per core, README
 * "Scaling") about 60 MB/s. An optimistic figure for faster codecs and
 * levels would engage it sooner; this one is the default's. */
#define OVA_COMPRESSED_RATE_PER_THREAD 60000000ull

/* 1 when the export interleaves its disks: mode on, or mode auto and the
 * job's threads could make compressed bytes faster than one digest stream
 * of algorithm sha takes them (threads_total x the per-thread rate above
 * > the digest rate). Never with fewer than two disks that have planned
 * units, nor for a journaled export (resume.h: its durable points are
 * positions in one stream written in plan order; a spooled disk has none). */
int ova_parallel_disks_engage(ova_parallel_disks mode, int threads_total, ova_sha sha, const ova_plan *plan,
                              int journaled);

#endif
