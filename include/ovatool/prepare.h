/* prepare.h - everything an export decides before it reads disk data, in
 * one MPI-free step that `ovatool export` (the engine, on rank 0), `ovatool
 * info` and the OVA writer share, so what info shows and what export does
 * cannot disagree.
 *
 * ova_prepare() loads the VMX, checks for lock folders beside every file an
 * export reads, describes every disk with its snapshot chain, pairs each
 * disk with its VMX device and controller, names its OVA member, and
 * chooses the output path and the tar mtime. It never prints and never
 * reads the environment: warnings go to opts->log, and the caller resolves
 * SOURCE_DATE_EPOCH into opts->mtime.
 */
#ifndef OVATOOL_PREPARE_H
#define OVATOOL_PREPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/codec.h"
#include "ovatool/disk.h"
#include "ovatool/status.h"
#include "ovatool/vm.h"

typedef struct ova_prepare_opts {
    const char *vmx_path;
    const char *output;       /* -o: the OVA, or an existing folder: then FOLDER/<VM name>.ova;
                                 NULL: no output (info) */
    int64_t mtime;            /* tar mtime; < 0: the VMX file's mtime */
    bool force;               /* lock folders: one warning instead of a refusal */
    bool confine;             /* refuse disk, extent and parent files outside the VMX's folder */
    /* Looking, not exporting (`ovatool info`): a lock folder is recorded in
     * the result (ova_prepared.lock), neither refused nor warned about, and
     * the export's own warnings (snapshot flattening) are not given. */
    bool inspect;
    /* Warnings (level 1: a file outside the VM's folder, a lock folder with
     * force, a snapshot chain flattened) and notes (level 0); may be NULL. */
    void (*log)(void *ctx, int level, const char *msg);
    void *log_ctx;
} ova_prepare_opts;

/* Defaults: everything zero, mtime -1. */
void ova_prepare_opts_init(ova_prepare_opts *o);

/* One disk of the export, in VMX device order (the order of the OVA's
 * disk members and of the plan's disks). */
typedef struct ova_prepared_disk {
    ova_disk_info *info;               /* the described disk and its chain; owned by the
                                          ova_prepared until the engine hands it to its plan */
    const ova_device *device;          /* its VMX device (in vm) */
    const ova_controller *controller;  /* the controller it sits on (in vm), NULL if the VMX has none */
    const char *adapter;               /* the stream VMDK's ddb.adapterType: "ide", "lsilogic", "buslogic" */
    char member[128];                  /* its OVA member name, "BASE-diskN.vmdk" */
} ova_prepared_disk;

typedef struct ova_prepared {
    ova_vm *vm;                        /* owned */
    ova_prepared_disk *disks;          /* owned; n_disks == ova_vm_disk_count(vm) */
    size_t n_disks;
    char output[4096];                 /* the OVA path ("" without opts->output) */
    char member_base[81];              /* BASE of BASE.ovf, BASE.mf, BASE-diskN.vmdk: from output,
                                          else from the VM's name (ova_member_base) */
    int64_t mtime;                     /* tar mtime */
    char lock[4096];                   /* the first lock folder found ("" none): the VM is
                                          running or did not shut down cleanly */
    bool infos_given;                  /* the engine's plan took disks[i].info: they live as
                                          long as the plan, and ova_prepared_free leaves them */
} ova_prepared;

/* Prepare an export. Refuses (OVA_E_UNSUPPORTED) a lock folder "<file>.lck"
 * beside the VMX, a disk descriptor, an extent file, a snapshot parent or a
 * parent's extent file, unless force or inspect. On success *out must be
 * released with ova_prepared_free(). */
ova_status ova_prepare(const ova_prepare_opts *opts, ova_prepared **out, ova_err *err);

/* Set (or, with output NULL, clear) the OVA path and derive the member
 * names from it, as ova_prepare does with opts->output: -o DIR names the
 * OVA after the VM. For callers that write the same prepared VM to
 * another target (tests). */
ova_status ova_prepared_set_output(ova_prepared *p, const char *output, ova_err *err);

/* Free and set *p to NULL. Accepts NULL. */
void ova_prepared_free(ova_prepared **p);

/* The unit size and window for a job of ranks ranks, the busiest of them
 * running rank_threads compression threads, with mem_limit bytes per rank
 * for units in flight: *unit_grains grains per unit (a power of two,
 * 16..512) and *window units one rank's limit holds. The total thread
 * count plays no part: each rank's memory decides. Why these sizes:
 * prepare.c. */
void ova_prepare_unit_size(uint64_t mem_limit, int ranks, int rank_threads, uint32_t *unit_grains,
                           uint64_t *window);

/* ---- before the first byte of disk data: output, target, space ---------- */

/* What an OVA will take on disk, from what prepare knows: each disk's
 * capacity and allocated bytes (no data is read). Why these figures:
 * precheck.c. */
typedef struct ova_size_estimate {
    uint64_t best;    /* a lower bound: every allocated grain compressed to one 512-byte sector */
    uint64_t likely;  /* allocated bytes at the ratio measured for the codec and level */
    uint64_t worst;   /* every allocated grain stored as it is */
} ova_size_estimate;

/* The ratio (per mille of allocated bytes) ova_estimate_* take as likely
 * for codec at level. */
unsigned ova_estimate_ratio_permille(ova_codec_kind codec, int level);

/* Add one disk of capacity bytes, allocated of them backed by data, to *e
 * (its member: tar header, stream head, grains, grain tables, directory,
 * footer). */
void ova_estimate_disk(uint64_t capacity, uint64_t allocated, ova_codec_kind codec, int level,
                       ova_size_estimate *e);

/* The whole OVA of a prepared export: the front (tar headers, OVF,
 * manifest), every disk, the trailer. */
void ova_estimate_output(const ova_prepared *p, ova_codec_kind codec, int level, ova_size_estimate *e);

typedef struct ova_check_opts {
    const char *vmx_path;     /* the VMX read (the output must not be it) */
    bool overwrite;           /* an existing regular file at the output may be replaced */
    ova_codec_kind codec;     /* for the estimate */
    int level;
    /* Warnings (level 1): the likely size close to or above the free space. */
    void (*log)(void *ctx, int level, const char *msg);
    void *log_ctx;
} ova_check_opts;

typedef struct ova_check_result {
    ova_size_estimate size;   /* of the OVA */
    char folder[4096];        /* the output's folder ("." for the current one) */
    int have_free;            /* free_bytes is known (statvfs worked and the file system reports
                                 its size: ramfs, for one, reports 0 blocks, 0 free) */
    uint64_t free_bytes;      /* f_bavail * f_frsize at folder */
    uint64_t existing;        /* bytes of the regular file at the output (replaced with overwrite), 0 none */
} ova_check_result;

/* The checks an export makes on rank 0 after ova_prepare() and before any
 * disk data is read, each refusal saying what to do (every disk, extent
 * and parent file was opened by ova_prepare already: an unreadable one is
 * refused there, util/io.h):
 *   - the output's folder exists, is a folder and is writable;
 *   - the output is none of the inputs and, if it exists, a regular file
 *     (ova_writer_open's rules), and without overwrite does not exist:
 *     "FILE exists; use --overwrite to replace it";
 *   - free space at the folder (statvfs: f_bavail * f_frsize) against the
 *     estimate: refused when even the best case does not fit, a warning
 *     when the likely size is above 90% of it. An existing file that
 *     overwrite replaces does not count as free: the new OVA is written
 *     beside it and renamed over it only when complete, so both exist
 *     until then (the refusal says so when that made the difference).
 * Fills *r (the estimate also on refusal). Refusals are OVA_E_USAGE (the
 * output) and OVA_E_IO (space). */
ova_status ova_prepare_check(const ova_prepared *p, const ova_check_opts *o, ova_check_result *r, ova_err *err);

#endif
