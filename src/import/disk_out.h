/* disk_out.h - one imported disk's output files: the layout of a hosted
 * sparse extent as Workstation (and qemu-img) create it, the grain slots,
 * and the temporary names renamed into place only at the end.
 *
 *   monolithicSparse      NAME.vmdk: header, embedded descriptor (sectors
 *                         1-20), redundant GD + GTs, GD + GTs, all
 *                         preallocated for the whole capacity (holes until
 *                         written), grains from overHead on
 *   twoGbMaxExtentSparse  NAME.vmdk (text descriptor) + NAME-s001.vmdk ...,
 *                         each a sparse extent of at most 2047 MiB as above
 *   monolithicFlat        NAME.vmdk (text descriptor) + NAME-flat.vmdk,
 *                         the raw disk with holes where it reads zeros
 *
 * Rank 0 owns the object: it assigns every grain its place
 * (ova_disk_out_place) in stream order, before any data is written, and
 * writes the grain tables through a one-table cache, so memory is one GT
 * (2 KiB) whatever the capacity. The workers only pwrite grain data into the
 * extents' files (ova_disk_out_extent_path names them for other ranks).
 */
#ifndef OVATOOL_IMPORT_DISK_OUT_H
#define OVATOOL_IMPORT_DISK_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/descriptor.h"
#include "ovatool/import_run.h"
#include "ovatool/status.h"

/* Sectors of one twoGbMaxExtentSparse extent (2047 MiB, as Workstation). */
#define OVA_TWOGB_EXTENT_SECTORS 4192256u

typedef struct ova_disk_out ova_disk_out;

/* The files a disk of capacity bytes becomes in dir, named after base
 * ("vm-disk1" -> "vm-disk1.vmdk", ...). Fills names[] (up to cap
 * entries, each malloc'd; *n set to the count, the descriptor first) without
 * creating anything: --dry-run and the existence checks use it. */
ova_status ova_disk_out_names(ova_disk_format fmt, const char *dir, const char *base, uint64_t capacity,
                              char ***names, size_t *n, ova_err *err);
void ova_disk_out_names_free(char **names, size_t n);

/* Create the temporary files and write everything but grains and grain
 * tables: headers, descriptor (CID and the ddb entries of src, the disk's
 * stream descriptor, so that an export of the imported disk gives the same
 * stream), grain directories. src may be NULL. direct: also open each
 * extent with O_DIRECT for the grains (grain_batch.h), where the file
 * system allows it. */
ova_status ova_disk_out_create(ova_disk_format fmt, const char *dir, const char *base, uint64_t capacity,
                               const ova_descriptor *src, bool direct, ova_disk_out **out, ova_err *err);

/* Where the grain at lba (sectors, grain-aligned) goes: its extent and byte
 * offset there. For sparse extents the next free slot, recorded in the grain
 * table; a second grain for one LBA is an error (name: the member). */
ova_status ova_disk_out_place(ova_disk_out *o, uint64_t lba, const char *name, size_t *ext, uint64_t *off,
                              ova_err *err);
/* A placed grain inflated to zeros: leave it unallocated (sparse extents;
 * nothing to do for flat ones). */
ova_status ova_disk_out_unplace(ova_disk_out *o, uint64_t lba, ova_err *err);

size_t ova_disk_out_extents(const ova_disk_out *o);
/* The extent's temporary file (where workers write) and its open descriptor. */
const char *ova_disk_out_extent_path(const ova_disk_out *o, size_t ext);
int ova_disk_out_extent_fd(const ova_disk_out *o, size_t ext);
/* The same file opened with O_DIRECT, or -1 (not asked for, or refused). */
int ova_disk_out_extent_dfd(const ova_disk_out *o, size_t ext);
/* Bytes of grain data placed (allocated) so far. */
uint64_t ova_disk_out_allocated(const ova_disk_out *o);

/* Write the cached grain table, size the files, fsync. */
ova_status ova_disk_out_finish(ova_disk_out *o, ova_err *err);
/* Rename every temporary file to its final name (overwrite: replace). */
ova_status ova_disk_out_commit(ova_disk_out *o, ova_err *err);
/* Remove the temporary files (after a failure) and free; accepts NULL. */
void ova_disk_out_free(ova_disk_out **o);

#endif
