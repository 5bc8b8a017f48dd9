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

#endif
