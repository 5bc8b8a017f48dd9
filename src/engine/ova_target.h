/* ova_target.h - where the OVA lands: a temporary file beside the target,
 * renamed into place only when the archive is complete, and never over a
 * file the export reads or something that is not a regular file (the
 * rules: ova_writer_open in ova_writer.h).
 *
 * Kept apart from the writing itself because this is the part that must
 * be safe against the file system around it: inputs reached by another
 * name, links and devices at the target, leftovers of killed exports, and
 * a signal handler that has to remove the temporary file without locks. */
#ifndef OVATOOL_OVA_TARGET_H
#define OVATOOL_OVA_TARGET_H

#include <stddef.h>
#include <sys/types.h>

#include "engine/plan.h"
#include "ovatool/status.h"

/* A file the export reads, by identity: the output must never be one. */
typedef struct ova_target_input {
    dev_t dev;
    ino_t ino;
    const char *path;         /* borrowed from the plan or the options */
} ova_target_input;

typedef struct ova_target {
    char *final_path;         /* owned copy of the target's name */
    char *tmp_path;           /* the temporary file, NULL once renamed or never made */
    int fd;                   /* the temporary file, -1 once closed */
    int lock_fd;              /* fd's duplicate: holds the flock from close(fd) to the rename */
    ova_target_input *inputs; /* the VMX and every file of every disk */
    size_t n_inputs;
    int no_replace;           /* set by the caller: the rename must not replace a file that
                                 appeared at the target meanwhile (no --overwrite) */
    int keep;                 /* set by the caller: discard leaves the file (a journaled export
                                 whose journal names it, journal.h) */
} ova_target;

/* An empty target (no paths, fds -1), safe to discard and free. */
void ova_target_init(ova_target *t);

/* Refuse output unless the rename may put the OVA there (ova_writer.h),
 * note leftovers of earlier exports to it (one warn call each; warn may be
 * NULL), then create the locked temporary file beside it. The inputs are
 * vmx_path (may be NULL) and every file of every disk of plan. */
ova_status ova_target_create(ova_target *t, const char *output, const char *vmx_path, const ova_plan *plan,
                             void (*warn)(void *ctx, const char *msg), void *warn_ctx, ova_err *err);

/* A journaled export's output file instead of a temporary one (journal.h):
 * partial_path, a fixed, visible name beside the target, opened (created
 * if missing) without truncating and locked (flock) for this export; one
 * another process holds locked is refused (OVA_E_USAGE: another export to
 * this target is running). The checks on output are ova_target_create's,
 * and partial_path must be a regular file that is none of the inputs. The
 * signal handler's clean-up does not remove it. */
ova_status ova_target_create_partial(ova_target *t, const char *output, const char *partial_path,
                                     const char *vmx_path, const ova_plan *plan, ova_err *err);

/* The files the export reads, into t->inputs (paths borrowed from plan and
 * vmx_path): the VMX, then each disk's descriptor, extents and parents. */
ova_status ova_target_inputs(ova_target *t, const char *vmx_path, const ova_plan *plan, ova_err *err);

/* The checks of ova_target_create without creating anything: may the
 * rename put an OVA at output, given the inputs vmx_path and every file of
 * disks[0..n_disks)? For the checks before an export (prepare.h). */
ova_status ova_target_check(const char *output, const char *vmx_path, ova_disk_info *const *disks, size_t n_disks,
                            ova_err *err);

/* The leftover report of ova_target_create alone (for a dry run), and a
 * journaled export's OUT.partial and OUT.journal (resume.h), if any. */
void ova_target_report_leftovers(const char *output, void (*warn)(void *ctx, const char *msg), void *warn_ctx);

/* fsync the complete temporary file, close it, check the target again (it
 * may have changed during the export), rename into place and fsync the
 * folder. With no_replace the rename is refused if a file appeared at the
 * target meanwhile (another export's, say): RENAME_NOREPLACE, or where the
 * file system lacks it, a look just before a plain rename. After the
 * rename nothing is left to remove, whatever the result. */
ova_status ova_target_commit(ova_target *t, ova_err *err);

/* A spool for a disk written ahead of its place (--parallel-disks,
 * ova_writer.c): a new file named as the temporary output is,
 * ".FNAME.XXXXXX.part" beside t's target, so that one a killed export left
 * is reported as a leftover, locked likewise; the signal handler's
 * clean-up (ova_writer_signal_cleanup) removes it too, for up to
 * OVA_TARGET_SPOOLS spools at a time. *path is malloc'd. */
#define OVA_TARGET_SPOOLS 64
ova_status ova_target_spool(const ova_target *t, char **path, int *fd, ova_err *err);

/* Remove a spool, close fd, free *path; NULL and -1 after. Accepts *path NULL. */
void ova_target_spool_remove(char **path, int *fd);

/* Remove the temporary file, if there still is one. */
void ova_target_discard(ova_target *t);

/* Close the descriptors and free. */
void ova_target_free(ova_target *t);

#endif
