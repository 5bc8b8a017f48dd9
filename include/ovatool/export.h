/* export.h - the export engine's options, hooks and results: VMX in, OVA
 * out, over MPI. ova_export() itself is declared in export_mpi.h, so this
 * header (and the code that only needs the options) does not need <mpi.h>.
 *
 * Collective over comm: every rank calls ova_export() with the same options.
 * Rank 0 prepares the export (prepare.h), broadcasts the plan, hands
 * out work units on request (dynamic balancing: a rank asks for the next
 * unit when a thread is free) and writes the OVA in unit order. Every rank,
 * rank 0 included, reads its units straight from the shared file system and
 * compresses them with its own pinned threads. Memory stays bounded: rank 0
 * grants a unit only while fewer than `window` units are between the write
 * position and the newest grant.
 *
 * The work runs in phases (plan, readers, compress and gather, finish),
 * each ending in an agreement: on an error on any rank the job stops
 * everywhere, the temporary output is removed, and every rank returns a
 * failure; rank 0's err carries the failing rank's own status and message
 * (prefixed with the rank and host that hit it when that is not rank 0).
 */
#ifndef OVATOOL_EXPORT_H
#define OVATOOL_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "ovatool/codec.h"
#include "ovatool/manifest.h"
#include "ovatool/prepare.h"
#include "ovatool/status.h"

/* --parallel-disks: compress and hash a VM's disks side by side (engine/disk_order.h). */
typedef enum ova_parallel_disks {
    OVA_PARALLEL_DISKS_AUTO = 0, /* when the job's threads could outrun one digest stream */
    OVA_PARALLEL_DISKS_ON,
    OVA_PARALLEL_DISKS_OFF
} ova_parallel_disks;

/* --distributed-write: the ranks that compressed a unit write it into the
 * output themselves, rank 0 only the metadata (engine/mpi_dwrite.c). */
typedef enum ova_distributed_write {
    OVA_DWRITE_AUTO = 0, /* when the job spans more than one host and every rank sees the output */
    OVA_DWRITE_ON,       /* whenever there are several ranks; an error if a rank cannot see the output */
    OVA_DWRITE_OFF
} ova_distributed_write;

typedef struct ova_export_opts {
    const char *vmx_path;
    const char *output;       /* the OVA, or an existing folder: then FOLDER/<VM name>.ova */
    int threads;              /* compression threads per rank; 0 = one per allowed core */
    bool pin;                 /* bind threads to cores with hwloc */
    uint64_t mem_limit;       /* bytes per rank for units in flight (default 512 MiB) */
    ova_codec_kind codec;
    int level;
    ova_sha sha;
    int target_hw;            /* 0 = keep the VM's virtualHW.version */
    int64_t mtime;            /* tar mtime; < 0: the VMX's mtime (the library reads no environment:
                                 the CLI puts SOURCE_DATE_EPOCH here) */
    double progress_secs;     /* seconds between progress reports; 0 = none */
    bool force;               /* export even when lock folders say the VM is running */
    bool buffered_io;         /* write the OVA through the page cache, never O_DIRECT */
    bool confine;             /* refuse disk, extent and parent files outside the VMX's folder
                                 (else each is named in a warning; disk.h ova_describe_opts) */
    bool store_incompressible; /* store grains that will not compress (codec.h); default on, off with --compress-all */
    bool overwrite;           /* replace an existing OVA at the output (else refused: prepare.h ova_prepare_check) */
    bool dry_run;             /* stop after the plan and every check: nothing is read but metadata, nothing
                                 is written; rank 0 hands what it would write to hooks->preview */
    /* Resume (engine/resume.h): a journaled export, written to OUT.partial with its durable point in
     * OUT.journal, and continued from that point when a matching journal is there. */
    bool resume;
    double journal_secs;      /* at most this often a durable point inside a disk (default 5 s) */
    ova_parallel_disks parallel_disks; /* default auto; never engaged with resume */
    ova_distributed_write distributed_write; /* default auto; never with resume or parallel disks on
                                                (the CLI refuses ON with them) */
} ova_export_opts;

void ova_export_opts_init(ova_export_opts *o);

typedef struct ova_export_stats {
    uint64_t bytes_in;        /* virtual bytes of all disks */
    uint64_t bytes_read;      /* bytes read from files (all ranks) */
    uint64_t bytes_out;       /* size of the OVA */
    uint64_t grains_data;     /* grains written */
    uint64_t grains_stored;   /* of those, grains stored as they are (store_incompressible) */
    uint64_t bytes_stored;    /* disk bytes those stored grains hold (64 KiB each) */
    uint64_t units;
    uint32_t unit_grains;
    uint64_t window;          /* units in flight allowed */
    int ranks;
    int threads_total;
    double seconds;
    uint64_t rss_max_kb;      /* peak resident memory of the largest rank */
    uint64_t rss_rank0_kb;    /* peak resident memory of rank 0 */
    bool parallel_disks;      /* the disks were compressed and hashed side by side (--parallel-disks) */
    bool distributed_write;   /* every rank wrote its own units (--distributed-write) */
    uint64_t *rank_written;   /* with it: bytes each rank wrote into the OVA, by rank (ranks entries);
                                 freed by ova_export_stats_free */
    char output[4096];        /* the OVA written (opts->output, or DIR/<VM name>.ova) */
} ova_export_stats;

/* Free what ova_export left in stats (rank_written). */
void ova_export_stats_free(ova_export_stats *stats);

/* Progress as rank 0 sees it: disk bytes whose units are written. */
typedef struct ova_progress {
    uint64_t done;            /* virtual bytes done */
    uint64_t total;           /* virtual bytes in all */
    uint64_t out_bytes;       /* OVA bytes written so far */
    double seconds;           /* since the start */
    int final;                /* 1 on the last call */
} ova_progress;

/* What a dry run would write (opts->dry_run), valid during the preview
 * call only. */
typedef struct ova_export_preview {
    const ova_prepared *prep;      /* the OVA path, the member base and names, every disk with its
                                      capacity, allocated bytes and snapshot chain */
    const ova_check_result *check; /* the estimate, the output's folder and its free space, the file
                                      replaced (prepare.h) */
    uint64_t units;                /* the plan: units of unit_grains grains */
    uint32_t unit_grains;
    int ranks;
    int threads_total;
} ova_export_preview;

/* What the engine reports (on rank 0 only; called from engine threads, one
 * call at a time). log: level 0 info, 1 warning. progress: every
 * progress_secs seconds while units are written, and once at the end.
 * preview: once, in a dry run that passed every check (may be NULL). */
typedef struct ova_export_hooks {
    void (*log)(void *ctx, int level, const char *msg);
    void (*progress)(void *ctx, const ova_progress *p);
    void *ctx;
    void (*preview)(void *ctx, const ova_export_preview *pv);
} ova_export_hooks;

/* For the CLI's SIGINT/SIGTERM handler (the OVA writer keeps this state). */
/* Async-signal-safe: unlink the temporary file of the writer currently
 * open in this process, if any. For SIGINT/SIGTERM handlers. Returns that
 * file's path (NULL if there is none) and sets *removed to 1 if the unlink
 * succeeded, else 0. */
const char *ova_writer_signal_cleanup(int *removed);

/* Async-signal-safe: ask a journaled export (opts.resume) running in this
 * process to stop at its next durable point (at most one grain-table group,
 * 32 MiB of disk, away). It then fails with OVA_E_STOPPED, keeping
 * OUT.partial and OUT.journal for a run with --resume. No effect on an
 * export without a journal, or on ranks other than 0. */
void ova_export_request_stop(void);

/* Progress for a signal handler to report: disk bytes whose units went to
 * the writer, and disk bytes in all. Any thread may note; the handler's
 * read is async-signal-safe (lock-free atomics). 0, 0 before any note. */
void ova_writer_note_progress(uint64_t done, uint64_t total);
void ova_writer_signal_progress(uint64_t *done, uint64_t *total);

#endif
