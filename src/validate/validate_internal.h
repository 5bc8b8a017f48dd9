/* validate_internal.h - what the files of the validator share; not API.
 *
 * The dependency runs one way:
 *   validate_common.c  problem lists (ova_vlist_*), the name index, ova_vpread
 *        ^
 *   validate_tar.c     the ustar walk       -> ova_vtar_walk (validate.h)
 *   validate_reader.c  a file's bytes across chunks and gzip (validate.h)
 *   validate_vmdk.c    the VMDK stream walk (API in validate.h)
 *   validate_deep.c    the deep pass over the disks the walk found sound (validate.h)
 *   validate_ovf.c     the OVF checks       -> ova_vovf_check
 *        ^
 *   validate.c         the driver: runs the checks over one OVA
 *        ^
 *   mpi_validate.c     the driver split over MPI ranks
 * The checks never call each other or the driver.
 */
#ifndef OVATOOL_VALIDATE_INTERNAL_H
#define OVATOOL_VALIDATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ovatool/status.h"
#include "ovatool/validate.h"

/* Name lookups: an OVF may hold a million References/File entries (the
 * descriptor limit allows it), so nothing is looked up by a scan per entry.
 * An index is the keys with their positions, sorted by (key, position);
 * building it is O(n log n), a lookup O(log n). Keys are borrowed. */
typedef struct ova_vkey {
    const char *key;
    size_t pos;
} ova_vkey;

/* Sort n keys by key, then position. */
void ova_vkeys_sort(ova_vkey *keys, size_t n);
/* The run of entries whose key is s: [*first, *end) (indexes into keys),
 * empty when *first == *end. keys must be sorted. */
void ova_vkeys_range(const ova_vkey *keys, size_t n, const char *s, size_t *first, size_t *end);
/* The lowest position with key s, or -1. */
ssize_t ova_vkeys_find(const ova_vkey *keys, size_t n, const char *s);
/* An index of the member names (malloc'd; NULL when out of memory). */
ova_vkey *ova_vmember_index(const ova_vmember *m, size_t n);

/* pread exactly n bytes at off; a short read is an I/O error (what names
 * the member or the OVA). validate_common.c. */
ova_status ova_vpread(int fd, void *buf, size_t n, uint64_t off, const char *what, ova_err *err);

/* Whether name is a chunk of the file stem (stem_len bytes): stem + "." +
 * nine digits (DSP0243), their value in *num. validate_reader.c. */
bool ova_vchunk_number(const char *name, const char *stem, size_t stem_len, unsigned *num);

/* A file the OVF stores other than as one plain member (ovf:chunkSize,
 * ovf:compression="gzip") whose members are all there: the driver reads
 * it through an ova_member_reader. */
typedef struct ova_vfile {
    char href[OVA_VNAME_MAX];
    uint64_t chunk_size;
    bool gzip;
} ova_vfile;

/* OVF checks: parse with libxml2 (OVF 1.x or 2.x envelope), the DMTF schema
 * when schema_dir has it (1.x only), then References, Disk and capacity
 * cross-checks against the members. Fills *stored (malloc'd, *n_stored
 * entries; both start NULL/0) with the chunked and gzip files. */
ova_status ova_vovf_check(int fd, const ova_vmember *members, size_t n_members, size_t ovf_index,
                          const char *schema_dir, ova_validation *v, ova_vfile **stored, size_t *n_stored,
                          ova_err *err);

#endif
