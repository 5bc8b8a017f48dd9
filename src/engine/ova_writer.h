/* ova_writer.h - rank 0's output: the OVA file, written in one pass.
 *
 * Layout: [.ovf header][.ovf][.mf header][.mf][disk1 header][disk1.vmdk]...
 * [two zero blocks]. The OVF and manifest depend on the disks' sizes and
 * digests, which are only known at the end, so their space is reserved up
 * front: the .mf has a fixed length, and the .ovf gets the length of the
 * document written with the widest possible numbers; the real document is
 * padded to that length with blanks after </Envelope> (XML allows trailing
 * whitespace). Each disk's tar header is filled in once its size is known.
 * Nothing is read back: every byte is hashed as it is written.
 *
 * Writes happen on a thread of the writer's own, at most 64 MiB behind the
 * hashing, so rank 0 receives, hashes and writes in three threads at once,
 * and bypass the page cache where the file system allows (out_file.h).
 *
 * Output goes to a temporary file beside the target (".NAME.XXXXXX.part"),
 * which is fsynced and renamed into place only by ova_writer_finish().
 */
#ifndef OVATOOL_OVA_WRITER_H
#define OVATOOL_OVA_WRITER_H

#include <stdint.h>

#include "ovatool/manifest.h"
#include "ovatool/ovf.h"
#include "ovatool/prepare.h"
#include "engine/plan.h"
#include "ovatool/status.h"
#include "engine/unit.h"
#include "ovatool/vm.h"

typedef struct ova_writer_opts {
    ova_sha sha;             /* manifest algorithm */
    int target_hw;           /* 0 = the VM's own hardware version */
    int64_t mtime;           /* tar member mtime */
    int buffered_io;         /* 1: through the page cache, never O_DIRECT (out_file.h) */
    const char *vmx_path;    /* the VMX read for this export, or NULL (the output must not be it) */
    /* Warnings about the target's folder (leftover temporary files, see
     * ova_writer_open), one message per call; NULL: not reported. */
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
    /* The OVA's estimated size (prepare.h, ova_size_estimate.likely), for
     * the message when the file system fills up: "FOLDER: disk full after
     * writing X of about Y". 0: unknown. */
    uint64_t expected_size;
    /* 1: never replace a file at the target (no --overwrite): one that
     * appears during the export fails it at the rename (ova_target.h). */
    int no_replace;
    /* A journaled export (journal.h), else NULL. The output goes to
     * partial_path (ova_target_create_partial), and at the end of every
     * disk, and at the end of a grain-table group once journal_secs have
     * passed since the last, the writer makes its bytes durable and saves
     * the point in journal (deps filled in by the caller) at journal_path.
     * When journal->pt.pos is not 0 the export resumes there: the partial
     * output is checked against the point (length, and the digest of the
     * begun member's prefix, read back), cut to it, and the first unit
     * expected is first_unit, the plan's unit at the point. The writer
     * frees journal and copies the paths. */
    struct ova_journal *journal;
    const char *journal_path;
    const char *partial_path;
    double journal_secs;
    uint64_t first_unit;
    /* 1: --parallel-disks engaged (disk_order.h; never with a journal):
     * units come in the interleaved order, and a unit of a disk after the
     * one being written into the OVA goes to that disk's spool, a file
     * beside the target (ova_target_spool) written and hashed on a thread
     * of its own; once the disks before it are in the OVA the spool is
     * copied in after its tar header and the disk goes on in the OVA. The
     * bytes are those of the plan order. */
    int parallel_disks;
    /* 1: distributed writing (mpi_dwrite.c; never with a journal or
     * parallel disks, and only with buffered_io, so that no block write of
     * this process covers bytes another rank writes): member digests are
     * kept in a state other ranks can continue (format/digest_state.h),
     * and units may be placed with ova_writer_unit_held. */
    int portable_digest;
} ova_writer_opts;

typedef struct ova_writer ova_writer;

/* Create the temporary file prep->output names and reserve the OVF/manifest
 * space. prep and plan must outlive the writer; plan->disks[i] must be
 * prep->disks[i].info (ova_plan_from_prepared), whose device, adapter and
 * member name the writer uses (OVA_E_INTERNAL otherwise).
 *
 * The target is refused (OVA_E_USAGE, nothing created) when the rename at
 * the end would destroy something other than an older OVA: when it is the
 * same file (device and inode, so also through hard and symbolic links) as
 * an input of the export (opts->vmx_path, each disk's descriptor, extent
 * files, snapshot parents and their extents), or when it exists and is not
 * a regular file (a symbolic link: rename would replace the link, not what
 * it points to; a device node, FIFO or socket; a folder). The same checks
 * run again just before the rename.
 *
 * Leftovers: a rank 0 killed outright (SIGKILL, the OOM killer, a node
 * crash) cannot remove its temporary file. Before creating its own, the
 * writer looks for ".NAME.ova.XXXXXX.part" files of the same target and
 * passes one warning per file to opts->warn: left by an interrupted export
 * and safe to delete, or, when another process holds the lock a writer
 * keeps on its temporary file (flock), in use by an export running now.
 * They are never deleted here (see the comment at the scan). */
ova_status ova_writer_open(const ova_prepared *prep, const ova_plan *plan, const ova_writer_opts *opts,
                           ova_writer **out, ova_err *err);

/* Append the records of the next unit (units must come in plan order, or
 * with parallel_disks in disk_order.h's order).
 * hdr and records usually live in one buffer, owner: the records are
 * hashed at once and written by the writer's own thread (so hashing the
 * next unit overlaps writing this one); release(owner) runs exactly once,
 * when they are in the file, on failure, or at once if there are none.
 * The caller must not touch owner after this call. */
ova_status ova_writer_unit(ova_writer *w, const ova_unit_hdr *hdr, const unsigned char *records,
                           void (*release)(void *), void *owner, ova_err *err);

/* A unit whose records another process holds and writes (distributed
 * writing): place(ctx, off, len, state) must see that the len bytes of
 * records land at file offset off and continue the member's digest state
 * over them, in place, before it returns (the state is handed on in unit
 * order; the write itself may still be under way). */
struct ova_digest_state;
typedef struct ova_writer_held {
    ova_status (*place)(void *ctx, uint64_t off, uint64_t len, struct ova_digest_state *state, ova_err *err);
    void *ctx;
} ova_writer_held;

/* As ova_writer_unit, for a unit of which only the header is here (its
 * records_len, rel and counts); needs opts.portable_digest. */
ova_status ova_writer_unit_held(ova_writer *w, const ova_unit_hdr *h, const ova_writer_held *held, ova_err *err);

/* The temporary file every rank writes into, and its descriptor (rank 0's
 * side of distributed writing). */
const char *ova_writer_partial_path(const ova_writer *w);
int ova_writer_fd(const ova_writer *w);

/* Write OVF, manifest and trailer, fsync, rename into place, fsync the
 * folder. Frees the writer whatever the outcome; on failure the temporary
 * file is removed. */
ova_status ova_writer_finish(ova_writer **w, ova_err *err);

/* Remove the temporary file and free. Accepts NULL. */
void ova_writer_abort(ova_writer **w);

/* 1 while the OVA's bytes bypass the page cache (O_DIRECT), 0 when they
 * go through it (--buffered-io, or a file system that refuses O_DIRECT). */
int ova_writer_direct(const ova_writer *w);

/* A resumed export (ova_writer_opts.journal): the bytes of the begun disk
 * member read back to recompute its digest, and the seconds that took
 * (both 0 otherwise). */
void ova_writer_readback(const ova_writer *w, uint64_t *bytes, double *secs);

/* Bytes written so far, and the OVA size after finish. */
uint64_t ova_writer_bytes(const ova_writer *w);

/* Member base name derived from the output path (or a VM name): its file
 * name without ".ova", with characters outside [A-Za-z0-9._+-] replaced by
 * '_', and so is a dot that leads, follows another dot or ends the name (no
 * hidden files, no ".."); at most 80 bytes; "vm" when nothing is left. out
 * must hold 81 bytes. */
void ova_member_base(const char *output, char out[81]);

#endif
