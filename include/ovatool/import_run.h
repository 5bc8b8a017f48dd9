/* import_run.h - `ovatool import`: an OVA (or an OVF with its files in a
 * folder) becomes a VMware Workstation VM again: DIR/NAME.vmx and its disks.
 *
 * The input is read once, in order, by this process: every member listed in
 * the manifest is hashed as it streams by, and each streamOptimized disk is
 * cut into batches of grain records (src/import/grain_batch.h) that threads
 * inflate and write straight to their places in the output extents, whose
 * layout is fixed before any data is written (src/import/disk_out.h).
 * The OVF is read by ova_import_desc_parse and the VMX written by
 * ova_vmx_write (import.h).
 *
 * Atomic: every file is written under a temporary name in DIR and renamed
 * only once all of them are complete and every digest matched; on any
 * failure nothing is left. Library code: nothing printed.
 */
#ifndef OVATOOL_IMPORT_RUN_H
#define OVATOOL_IMPORT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/export.h"
#include "ovatool/status.h"

typedef enum ova_disk_format {
    OVA_DISK_MONOLITHIC_SPARSE = 0,  /* one growable file, as Workstation creates a disk */
    OVA_DISK_TWOGB_SPARSE,           /* a descriptor and 2047 MiB sparse extents */
    OVA_DISK_MONOLITHIC_FLAT         /* a descriptor and one preallocated (here: sparse) flat file */
} ova_disk_format;

/* "monolithicSparse", "twoGbMaxExtentSparse", "monolithicFlat" (any case). */
bool ova_disk_format_parse(const char *s, ova_disk_format *f);
const char *ova_disk_format_name(ova_disk_format f);

/* Workers beyond this process's threads (the MPI driver's other ranks,
 * src/import/mpi_import.c); defined in src/import/batch_pool.h. */
struct ova_import_remote;

typedef struct ova_import_opts {
    const char *input;             /* NAME.ova, or NAME.ovf with its files beside it */
    const char *out_dir;           /* an existing folder */
    ova_disk_format disk_format;
    bool overwrite;                /* replace existing files of the same names */
    bool dry_run;                  /* read the OVF and manifest, say what would be written, stop */
    int target_hw;                 /* virtualHW.version to write instead of the OVF's (0: keep) */
    unsigned threads;              /* inflate threads (0: one per online core) */
    uint64_t mem_limit;            /* bytes for the threads' buffers (0: 512 MiB) */
    bool buffered_io;              /* grains through the page cache, never O_DIRECT (grain_batch.h) */
    void (*log)(void *ctx, int warning, const char *msg);
    void *log_ctx;
    void (*progress)(void *ctx, const ova_progress *p);
    void *progress_ctx;
    double progress_secs;          /* 0: no progress calls */
    const struct ova_import_remote *remote; /* NULL: this process's threads only */
} ova_import_opts;

/* The inflate threads o asks for: o->threads, or one per online core, at
 * most as many as o->mem_limit has buffers for. */
unsigned ova_import_threads(const ova_import_opts *o);

typedef struct ova_import_disk_result {
    char *member;                  /* the OVA member or file (NULL: a blank disk) */
    char **files;                  /* the disk's files, descriptor first */
    size_t n_files;
    uint64_t capacity;             /* bytes */
    uint64_t allocated;            /* bytes of grains written (all-zero grains are not) */
    uint64_t grains;               /* grain records in the stream */
} ova_import_disk_result;

typedef struct ova_import_result {
    char *vm_name;                 /* NAME of NAME.vmx */
    char *vmx_path;
    int hw_version;                /* as written */
    ova_import_disk_result *disks;
    size_t n_disks;
    size_t digests_checked;        /* manifest lines verified */
    uint64_t input_bytes;          /* the OVA or the OVF's files */
    uint64_t bytes_read;
    uint64_t bytes_written;        /* grain data written */
    int ranks;                     /* MPI ranks that ran batches (1: this process alone) */
    uint64_t *rank_bytes_written;  /* [ranks] each rank's share of bytes_written; NULL for one rank */
    unsigned threads;              /* inflate threads, over all ranks */
    double seconds;
    bool dry_run;
} ova_import_result;

/* Ask a running import to stop (async-signal-safe: it only sets a flag):
 * it fails with OVA_E_STOPPED at its next 1 MiB read and removes what it
 * wrote. For the CLI's SIGINT/SIGTERM handler. */
void ova_import_request_stop(void);

/* For the same handler (async-signal-safe: system calls only): remove this
 * process's temporary import files at once, in case the graceful stop
 * never comes (rank 0 waiting for a rank that died, and killed soon
 * after). Before the files are renamed into place; afterwards, and in a
 * process that is not importing, nothing. Returns how many it removed. */
int ova_import_signal_cleanup(void);

/* Import o->input into o->out_dir. Errors name the member or file and what
 * is wrong (a digest mismatch, a truncated member, a grain that does not
 * inflate, an OVF import cannot map, an existing file without overwrite:
 * OVA_E_USAGE). r is filled on success (and for a dry run). */
ova_status ova_import(const ova_import_opts *o, ova_import_result *r, ova_err *err);
void ova_import_result_free(ova_import_result *r);

#endif
