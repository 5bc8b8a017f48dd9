/* disk.h - source disks: what a .vmdk is made of, and reading its bytes.
 *
 * Rank 0 calls ova_disk_describe() on each disk the VMX names: it parses the
 * descriptor, resolves and checks every extent file, follows the snapshot
 * chain down to the base disk and yields an ova_disk_info, a self-contained
 * description that is broadcast to all ranks (plan.h). Every rank then opens
 * an ova_disk_reader on it and reads the ranges it was given straight from
 * the (shared) file system.
 *
 * Supported: FLAT, VMFS and ZERO extents (monolithicFlat, twoGbMaxExtentFlat,
 * vmfs, vmfsThin), hosted SPARSE extents (monolithicSparse,
 * twoGbMaxExtentSparse, Workstation snapshot deltas) and streamOptimized
 * files as input. ESXi redo logs (vmfsSparse, seSparse) are refused.
 */
#ifndef OVATOOL_DISK_H
#define OVATOOL_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/descriptor.h"
#include "ovatool/limits.h"
#include "ovatool/status.h"

typedef struct ova_extent {
    ova_extent_type type;    /* FLAT, VMFS, ZERO or SPARSE */
    uint64_t start;          /* first virtual byte it covers */
    uint64_t size;           /* bytes it covers */
    uint64_t file_offset;    /* FLAT: byte offset of its data in the file; else 0 */
    char *path;              /* resolved path, NULL for ZERO */
    /* SPARSE only (0 otherwise), from the checked header, or from the footer
     * of a streamOptimized file whose header says GD_AT_END: */
    uint32_t sparse_flags;   /* header flags (zeroed-grain, compressed, markers) */
    uint32_t grain_sectors;  /* sectors per grain: a power of two, 1..128 */
    uint64_t gd_sector;      /* sector of the grain directory */
    uint64_t gd_entries;     /* entries in it (the header capacity's GTs) */
    uint64_t file_size;      /* bytes; every offset read from the file is checked against it */
    /* Identity and size of the file when it was described (FLAT, VMFS and
     * SPARSE). A reader refuses the file if it has been replaced (another
     * device/inode) or has shrunk below file_size since: both would
     * otherwise turn data into zeros in the OVA without an error. dev and
     * ino are 0 (unknown) in a plan received from rank 0, because st_dev
     * of one file differs between the hosts of a shared file system; a
     * reader then takes them from its own first open of the file. */
    uint64_t dev;
    uint64_t ino;
} ova_extent;

/* One link of a snapshot chain below the disk the VMX names. */
typedef struct ova_disk_link {
    char *path;              /* its descriptor (resolved from the child's parentFileNameHint) */
    char *create_type;
    uint32_t cid;
    uint64_t capacity;       /* bytes; reads past it (a grown child) are zeros */
    ova_extent *extents;     /* in virtual order, contiguous from 0 */
    size_t n_extents;
} ova_disk_link;

/* A run of grains [first, end) of a disk. */
typedef struct ova_grain_run {
    uint64_t first, end;
} ova_grain_run;

/* The data map's grain: runs start and end on multiples of it (1 MiB, the
 * smallest unit the engine plans), or of a larger power of two when the
 * map would otherwise pass OVA_DATA_MAP_RUNS_MAX runs. */
#define OVA_DATA_MAP_GRAINS 16u
#define OVA_DATA_MAP_RUNS_MAX 65536u

typedef struct ova_disk_info {
    char *path;              /* the descriptor as the VMX names it (resolved) */
    char *create_type;
    uint64_t capacity;       /* bytes */
    uint32_t cid;
    char *tools_version;     /* ddb.toolsVersion or NULL (child first, then parents) */
    char *tools_install_type;/* ddb.toolsInstallType or NULL (likewise) */
    ova_extent *extents;     /* of the disk itself: in virtual order, contiguous from 0 */
    size_t n_extents;
    /* Snapshot chain: 0 = a plain disk. Otherwise parents[0] is this disk's
     * parent and parents[chain_depth - 1] the base disk; reads fall through
     * unallocated grains link by link (the export is the flattened state). */
    int chain_depth;
    ova_disk_link *parents;
    /* Bytes of the flattened disk backed by allocated data somewhere in the
     * chain (allocated grains; data regions of flat files per SEEK_DATA).
     * An estimate for `ovatool info` and ovf:populatedSize. */
    uint64_t allocated;
    /* Where the flattened disk may hold data, from the same scan: runs of
     * grains in order, apart, on multiples of OVA_DATA_MAP_GRAINS (or
     * coarser: at most OVA_DATA_MAP_RUNS_MAX runs, so memory and the plan
     * broadcast stay bounded). Every grain outside reads as zeros, so the
     * plan skips it. data_mapped false (an info built by hand): no map,
     * every grain may hold data. */
    bool data_mapped;
    ova_grain_run *data_runs;
    size_t n_data_runs;
} ova_disk_info;

/* Parse the descriptor at path (a text descriptor or a sparse file with an
 * embedded one), resolve extent files relative to its folder, check each
 * exists and is long enough and every sparse header is valid, follow and
 * check the snapshot chain (parentFileNameHint, parentCID), and count the
 * allocated bytes (reads every grain directory and every grain table that
 * is not a hole, once; a ZERO extent or a hole costs nothing). A disk above
 * OVA_MAX_CAPACITY (limits.h) is refused when its descriptor or sparse
 * header is read. Errors name the file and the problem. */
ova_status ova_disk_describe(const char *path, ova_disk_info **out, ova_err *err);

/* Where a disk's files may live. A VMX fileName, an extent name or a
 * parentFileNameHint may be absolute or climb out with "../"; linked clones
 * need that, but a service exporting VMs it did not make must not export
 * /etc/passwd as an extent. Every disk, extent and parent path is resolved
 * (realpath) and compared with root before it is opened: outside root it is
 * refused when confine is set (OVA_E_UNSUPPORTED, naming the path and what
 * it resolves to), else named in a warning through log (level 1). */
typedef struct ova_describe_opts {
    const char *root;        /* the VM's folder (the VMX's); NULL: no check */
    bool confine;            /* refuse paths outside root (`--confine`) */
    void (*log)(void *ctx, int level, const char *msg); /* warnings; may be NULL */
    void *log_ctx;
} ova_describe_opts;

/* ova_disk_describe with opts (NULL: no check, as ova_disk_describe). */
ova_status ova_disk_describe_ex(const char *path, const ova_describe_opts *opts, ova_disk_info **out,
                                ova_err *err);

/* Free and set *d to NULL. Accepts NULL. */
void ova_disk_info_free(ova_disk_info **d);

/* Check that an info (e.g. one rebuilt from a received plan) is consistent
 * enough for a reader: extents contiguous and within the capacity, sane
 * sparse geometry, a path for every file-backed extent. */
ova_status ova_disk_info_check(const ova_disk_info *d, ova_err *err);

/* A reader: opens extent files on first use (keeping a bounded number open)
 * and caches a bounded number of grain tables (64 of 2 KiB); safe to share
 * between threads (a mutex guards the caches, data is read with pread). */
typedef struct ova_disk_reader ova_disk_reader;

ova_status ova_disk_reader_open(const ova_disk_info *info, ova_disk_reader **out, ova_err *err);
void ova_disk_reader_close(ova_disk_reader **r);

/* Read len bytes at virtual offset off (off + len <= capacity) into buf:
 * the flattened content of the snapshot chain. Sets *zero when the whole
 * range is known to be zero without reading data (ZERO extents, holes in
 * flat files, unallocated or zeroed grains in every link); buf is then left
 * untouched. Only allocated data is ever read. Adds the bytes actually read
 * from files (data, compressed grains and grain tables) to *nread. A file
 * shorter than its metadata says is an error naming the file and offset; a
 * file that shrank or was replaced since it was described is an error naming
 * the file ("X shrank from N to M bytes during the export"). */
ova_status ova_disk_read(ova_disk_reader *r, uint64_t off, size_t len, void *buf, bool *zero,
                         uint64_t *nread, ova_err *err);

#endif
