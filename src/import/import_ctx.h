/* import_ctx.h - what the import driver's files share (import_run.c reads
 * and writes; import_plan.c reads the OVF, names and matches the disks,
 * checks the targets); not API. */
#ifndef OVATOOL_IMPORT_CTX_H
#define OVATOOL_IMPORT_CTX_H

#include <stdint.h>
#include <sys/types.h>

#include "import/batch_pool.h"
#include "import/disk_out.h"
#include "import/grain_batch.h"
#include "import/import_input.h"
#include "import/stream_scan.h"
#include "ovatool/import.h"
#include "ovatool/import_run.h"

typedef struct imp_disk {
    size_t disk;               /* index into desc->disks */
    size_t device;             /* index into desc->vm.devices */
    ssize_t member;            /* input member, -1 for a blank disk */
    char base[128];            /* NAME-diskN */
    uint64_t capacity;
    uint64_t grains;
    ova_disk_out *out;
    /* A file that cannot be read by offset (ovf:chunkSize, gzip): rank 0
     * reads it in order through validate's member reader, and its batches
     * carry their bytes (grain_batch.h). member is then its first part. */
    bool carried;
    bool streamed;
    ssize_t whole;             /* chunked: its entry in in.whole, else -1 */
    ova_ovf_file file;
    ova_vmember one;           /* folder input: the gzip file as a one-member table */
} imp_disk;

typedef struct imp_ctx {
    const ova_import_opts *o;
    ova_input in;
    ova_import_desc *desc;
    char name[81];
    imp_disk *disks;
    size_t n_disks;
    ova_batch_pool *pool;
    unsigned threads;
    /* the disk being streamed */
    imp_disk *cur;
    uint32_t cur_idx;
    const ova_in_member *cur_m;
    uint64_t cur_base;         /* input offset of the walked bytes' first (0: carried, offsets in the file) */
    struct imp_carry {         /* a carried file's bytes not yet in a batch */
        unsigned char *p;
        uint64_t off;          /* file offset of p[0] */
        size_t len, cap;
    } carry;
    ova_sscan *scan;
    ova_grain_batch batch;
    /* the VMX */
    char *vmx_final, *vmx_tmp;
    bool vmx_created;       /* vmx_tmp is this import's (removed after a failure) */
    /* progress */
    double t0, last;
    uint64_t done;
} imp_ctx;

/* A line for the caller's log (warning: 1 for a warning). */
void ova_imp_log(const imp_ctx *c, int warning, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Read and parse the OVF (c->in.ovf) into c->desc. */
ova_status ova_imp_read_ovf(imp_ctx *c, ova_err *err);
/* Open the member reader over x's file (x->carried), tap as in validate.h. */
ova_status ova_imp_open_reader(imp_ctx *c, imp_disk *x, ova_member_tap tap, void *tap_ctx, ova_member_reader **r,
                               ova_err *err);
/* The disks in device order, named NAME-diskN, matched to their files. */
ova_status ova_imp_plan_disks(imp_ctx *c, ova_err *err);
/* The folder and every file import would write (refused when present
 * without overwrite); fills r's names. */
ova_status ova_imp_check_targets(imp_ctx *c, ova_import_result *r, ova_err *err);

#endif
