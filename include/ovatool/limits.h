/* limits.h - the bounds ovatool puts on its input, in one place.
 *
 * Each limit has one named constant, is checked where the input is read,
 * and is exceeded with an error that names the file and the limit. They
 * keep a hostile or broken VM from costing unbounded time or memory.
 */
#ifndef OVATOOL_LIMITS_H
#define OVATOOL_LIMITS_H

#include <stdint.h>

/* Largest disk capacity, for every kind of disk (flat, VMFS, ZERO, sparse,
 * stream) and for the OVAs `validate` accepts: 64 TiB, above VMware's own
 * 62 TB. Checked when a descriptor or a sparse header is read. */
#define OVA_MAX_CAPACITY ((uint64_t)64 << 40)
#define OVA_MAX_CAPACITY_TEXT "64 TiB"

/* A VMX file: its size (VMware's are a few KiB) and the length of one line
 * (an annotation is one line, with |0A for its line breaks). */
#define OVA_VMX_MAX_SIZE (16u * 1024u * 1024u)
#define OVA_VMX_MAX_LINE (1u << 20)

/* A text descriptor, or the text embedded in a sparse extent: its size
 * (real ones are a few hundred bytes) and its extent lines (a 2 TB disk in
 * 2 GB pieces has about 1000). */
#define OVA_DESC_MAX_SIZE ((size_t)1 << 20)
#define OVA_DESC_MAX_EXTENTS 65536u

/* Snapshot links below the disk the VMX names. */
#define OVA_CHAIN_MAX 255

/* Extents of one disk and all its snapshot links together: bounds rank 0's
 * memory for the description and the plan it broadcasts. */
#define OVA_DISK_MAX_EXTENTS (1u << 20)

/* Grain tables of one sparse extent (its grain directory's entries): 4 Mi
 * tables, a 16 MiB directory, cover 64 TiB in grains of 32 KiB (VMware's
 * are 64 KiB); smaller grains are refused for disks that large. */
#define OVA_SPARSE_MAX_GTS (1u << 22)

/* Also bounded, in sparse.h: a sparse extent's embedded descriptor
 * (OVA_SPARSE_MAX_DESC_SECTORS), its grain size (OVA_SPARSE_MAX_GRAIN) and
 * a compressed grain (OVA_SPARSE_MAX_CSIZE). */

#endif
