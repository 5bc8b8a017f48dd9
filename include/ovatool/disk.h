/* disk.h - source disks: what a .vmdk is made of, and reading its bytes.
 *
 * Rank 0 calls ova_disk_describe() on each disk the VMX names: it parses the
 * descriptor, resolves and checks every extent file and yields an
 * ova_disk_info, a self-contained description that is broadcast to all ranks
 * (plan.h). Every rank then opens an ova_disk_reader on it and reads the
 * ranges it was given straight from the (shared) file system.
 *
 * Supported now: descriptors whose extents are FLAT, VMFS or ZERO
 * (monolithicFlat, twoGbMaxExtentFlat, vmfs, vmfsThin, ...). Sparse and
 * stream extents are refused with a clear message.
 */
#ifndef OVATOOL_DISK_H
#define OVATOOL_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/descriptor.h"
#include "ovatool/status.h"

typedef struct ova_extent {
    ova_extent_type type;    /* FLAT, VMFS or ZERO */
    uint64_t start;          /* first virtual byte it covers */
    uint64_t size;           /* bytes it covers */
    uint64_t file_offset;    /* byte offset of its data in the file */
    char *path;              /* resolved path, NULL for ZERO */
} ova_extent;

typedef struct ova_disk_info {
    char *path;              /* the descriptor as the VMX names it (resolved) */
    char *create_type;
    uint64_t capacity;       /* bytes */
    uint32_t cid;
    char *tools_version;     /* ddb.toolsVersion or NULL */
    char *tools_install_type;/* ddb.toolsInstallType or NULL */
    ova_extent *extents;     /* in virtual order, contiguous from 0 */
    size_t n_extents;
} ova_disk_info;

/* Parse the descriptor at path, resolve extent files relative to its folder,
 * check each exists and is long enough. Errors name the file and the problem. */
ova_status ova_disk_describe(const char *path, ova_disk_info **out, ova_err *err);

/* Free and set *d to NULL. Accepts NULL. */
void ova_disk_info_free(ova_disk_info **d);

/* A reader: opens extent files on first use; safe to share between threads
 * (reads use pread on descriptors that never change once opened). */
typedef struct ova_disk_reader ova_disk_reader;

ova_status ova_disk_reader_open(const ova_disk_info *info, ova_disk_reader **out, ova_err *err);
void ova_disk_reader_close(ova_disk_reader **r);

/* Read len bytes at virtual offset off (off + len <= capacity) into buf.
 * Sets *zero when the whole range is known to be zero without reading it
 * (a ZERO extent or a hole in a sparse file); buf is then left untouched.
 * Adds the bytes actually read from files to *nread. A file shorter than
 * its extent is an error naming the file and offset. */
ova_status ova_disk_read(ova_disk_reader *r, uint64_t off, size_t len, void *buf, bool *zero,
                         uint64_t *nread, ova_err *err);

#endif
