/* resume.h - rank 0's decision, before the writer opens, about an export's
 * resume journal (journal.h): start a journaled export, continue one, or
 * refuse because a resumable export exists that the user did not ask to
 * continue.
 *
 *   journal found, --resume       check it against this export (sources,
 *                                 options, tool); continue where it ends,
 *                                 or refuse with the difference and leave
 *                                 the files as they are
 *   journal found, --overwrite    discard it and its partial output
 *   journal found, neither        refuse: say how to resume or discard
 *   no journal, --resume          a fresh journaled export
 *   no journal, no --resume       today's export (temporary file, no journal)
 *
 * Files beside the target OUT: OUT.partial (the output so far) and
 * OUT.journal (the durable point), visible and named after the target. */
#ifndef OVATOOL_RESUME_H
#define OVATOOL_RESUME_H

#include <stdint.h>

#include "engine/journal.h"
#include "engine/plan.h"
#include "ovatool/export.h"
#include "ovatool/prepare.h"

typedef struct ova_resume {
    char *partial_path;       /* OUT.partial */
    char *journal_path;       /* OUT.journal */
    ova_journal *journal;     /* for the writer (ova_writer_opts.journal); NULL: not journaled */
    uint64_t first_unit;      /* the plan's unit at the journal's point (0: from the start) */
    uint64_t done_bytes;      /* disk bytes before that point, for progress */
} ova_resume;

/* Decide as above for the export of prep (output prep->output) with plan.
 * log (level 0 info, 1 warning) says what was found and done. */
ova_status ova_resume_setup(const ova_export_opts *o, const ova_prepared *prep, const ova_plan *plan,
                            void (*log)(void *ctx, int level, const char *msg), void *log_ctx, ova_resume *r,
                            ova_err *err);

/* Free paths and a journal the writer did not take. */
void ova_resume_clear(ova_resume *r);

/* The first unit of disk d whose first grain is at or after grain (units
 * of a disk are in grain order); d == plan->n_disks: the number of units. */
uint64_t ova_resume_unit_at(const ova_plan *plan, size_t d, uint64_t grain);

#endif
