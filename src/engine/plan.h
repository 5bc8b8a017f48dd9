/* plan.h - the export plan rank 0 broadcasts: every disk's extents, and the
 * list of work units.
 *
 * A unit is a run of unit_grains grains of one disk (never crossing a disk
 * or grain-table boundary): a power of two dividing 512, the grains of one
 * grain table. The engine uses 64 grains (4 MiB of disk) in a single
 * process and 512 (32 MiB) with several ranks, or fewer when one rank's
 * memory limit would otherwise hold fewer than two units per thread of
 * the busiest rank. Units are numbered across disks in
 * export order, so unit order is output order: rank 0 writes units 0, 1,
 * 2, ... whatever rank compressed them.
 */
#ifndef OVATOOL_PLAN_H
#define OVATOOL_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/buf.h"
#include "ovatool/disk.h"
#include "ovatool/status.h"

/* The unit sizes the engine starts from, alone and with other ranks; it
 * halves them while the memory limit requires (why: ova_prepare_unit_size
 * in prepare.c). */
#define OVA_UNIT_GRAINS_ONE_RANK 64u
#define OVA_UNIT_GRAINS_MANY_RANKS 512u

/* Consecutive planned units of one disk. */
typedef struct ova_plan_run {
    uint64_t first_unit;      /* the number of its first unit */
    uint64_t first_grain;     /* that unit's first grain (a multiple of unit_grains) */
    uint64_t n_units;
    size_t disk;
} ova_plan_run;

typedef struct ova_plan {
    ova_disk_info **disks;    /* owned */
    size_t n_disks;
    uint64_t *first_unit;     /* first planned unit of each disk; first_unit[n_disks] = total */
    uint32_t unit_grains;     /* grains per unit: a power of two, 1..512 */
    ova_plan_run *runs;       /* in unit order */
    size_t n_runs;
} ova_plan;

/* Build a plan from described disks; takes ownership of disks[] entries
 * (and of the array) on success and on failure. */
ova_status ova_plan_new(ova_disk_info **disks, size_t n_disks, uint32_t unit_grains, ova_plan **out,
                        ova_err *err);
void ova_plan_free(ova_plan **p);

/* Build the plan of a prepared export (prepare.h): its disks, in order.
 * The plan takes the disk infos, on success and on failure; prep's
 * pointers to them stay valid as long as the plan (prep->infos_given). */
struct ova_prepared;
ova_status ova_plan_from_prepared(struct ova_prepared *prep, uint32_t unit_grains, ova_plan **out, ova_err *err);

uint64_t ova_plan_units(const ova_plan *p);

/* Which disk a unit belongs to, its first grain and its grain count (the
 * last unit of a disk may be shorter). Consecutive units need not be
 * adjacent on the disk: empty ones are not planned. */
void ova_plan_unit(const ova_plan *p, uint64_t unit, size_t *disk, uint64_t *first_grain,
                   uint32_t *n_grains);

/* Serialise to bytes for MPI_Bcast, and back. Deserialising checks every
 * length, so a corrupt buffer gives an error, not a crash. */
void ova_plan_pack(const ova_plan *p, ova_buf *out);
ova_status ova_plan_unpack(const void *data, size_t len, ova_plan **out, ova_err *err);

#endif
