/* journal.h - the resume journal: how far a journaled export's output
 * (NAME.ova.partial) is durable, and what that output depends on.
 *
 * Why a journal: the OVA is deterministic and written in order, so an
 * export stopped by a time limit, a kill or a lost node can carry on from
 * the last point whose bytes are known to be on disk, instead of from zero.
 *
 * Durable points are taken only where the output's state is small: at the
 * end of a grain-table group (every 512 grains, 32 MiB of disk) and at the
 * end of a disk. There, no grain table is half filled (the group's table
 * was just written or the group had no data), so the state to restore is
 * the grain-directory entries so far (4 bytes per 32 MiB of disk: 256 KiB
 * for a 2 TiB disk), the VMDK's next sector, and the finished disks'
 * sizes and digests. Points are named by disk and grain, never by unit:
 * the unit size depends on the number of ranks, which may differ when the
 * export resumes, and every unit size divides 512, so a group boundary is
 * the start of a unit in every plan.
 *
 * The digest of the member being written is not saved: OpenSSL has no
 * portable way to serialise an EVP_MD_CTX (its state is opaque and differs
 * between versions and providers). The resume reads the member's durable
 * prefix back and hashes it again, which costs one read of at most one
 * disk member; the journal keeps the prefix's digest so that the read-back
 * also proves the partial file still holds the bytes the journal speaks of.
 *
 * The encoding is binary, little-endian, and ends in a SHA-256 of all that
 * precedes it; decoding checks every length against the bytes there are,
 * so a damaged or hostile journal is refused with a reason, never trusted.
 * A journal is replaced atomically: written to NAME.ova.journal.tmp,
 * fsynced, renamed over NAME.ova.journal, and the folder fsynced. */
#ifndef OVATOOL_JOURNAL_H
#define OVATOOL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/buf.h"
#include "ovatool/status.h"

#define OVA_JOURNAL_VERSION 1u
#define OVA_JOURNAL_DIGEST_MAX 64u

/* A file the export reads, as it was when the journal was written. */
typedef struct ova_journal_source {
    char *path;
    uint64_t size;
    int64_t mtime_ns;
} ova_journal_source;

/* What the output's bytes depend on: if any of it differs, the partial
 * output is not a prefix of what this export would write. */
typedef struct ova_journal_deps {
    char *tool_version;
    uint32_t codec, level, store_incompressible, sha, target_hw;
    int64_t mtime;                 /* the tar mtime in use (resolved, never < 0) */
    size_t n_sources;              /* [0] is the VMX, then every disk file */
    ova_journal_source *sources;
    size_t n_disks;
    uint64_t *capacity;            /* each disk's capacity, in export order */
} ova_journal_deps;

/* A disk member: finished, or (the one at the durable point) begun. */
typedef struct ova_journal_disk {
    uint64_t hdr_off;              /* its tar header's offset in the OVA */
    uint64_t size;                 /* member bytes (finished disks) */
    uint64_t data_grains;          /* grains written */
    uint32_t digest_len;
    unsigned char digest[OVA_JOURNAL_DIGEST_MAX]; /* finished: the member's; begun: of its durable prefix */
} ova_journal_disk;

/* The durable point. disk == n_disks: every disk is in the file, only the
 * OVF, manifest and trailer are missing. grain > 0: disk `disk` is begun
 * and its grains [0, grain) are in the file (grain a multiple of 512). */
typedef struct ova_journal_point {
    uint32_t disk;
    uint64_t grain;
    uint64_t pos;                  /* the output's durable length */
    ova_journal_disk *disks;       /* [0, disk) finished, [disk] begun when grain > 0 */
    uint64_t sector;               /* begun disk: the VMDK's next sector */
    uint64_t n_gd;                 /* begun disk: grain / 512 directory entries */
    uint32_t *gd;
} ova_journal_point;

typedef struct ova_journal {
    ova_journal_deps deps;
    ova_journal_point pt;
} ova_journal;

/* Serialise j (every field above) into out, replacing its contents. */
ova_status ova_journal_encode(const ova_journal *j, ova_buf *out, ova_err *err);

/* Parse n bytes at p (the contents of the journal at path, for messages).
 * Refuses (OVA_E_FORMAT, naming path and what is wrong) a bad magic,
 * version or checksum, a length beyond the data, and a point that is not
 * self-consistent (a disk index beyond the disks, a grain that is not a
 * group boundary or beyond the disk, directory entries that do not match
 * the grain). */
ova_status ova_journal_decode(const void *p, size_t n, const char *path, ova_journal **out, ova_err *err);

void ova_journal_free(ova_journal **j);
/* Free the fields of deps (not deps itself). */
void ova_journal_deps_clear(ova_journal_deps *d);

/* Is saved (from the journal at path) what now would write? OVA_OK, or
 * OVA_E_USAGE with the first difference in words ("the source disk X
 * changed: size A, was B"). */
ova_status ova_journal_match(const ova_journal_deps *saved, const ova_journal_deps *now, const char *path,
                             ova_err *err);

/* Fill d->sources with the real path (realpath), size and mtime of each
 * of paths[0..n) (stat follows links, as the export's reads do). */
ova_status ova_journal_stat_sources(ova_journal_deps *d, const char *const *paths, size_t n, ova_err *err);

/* Replace the journal at path atomically (see the top of this file). */
ova_status ova_journal_save(const char *path, const ova_journal *j, ova_buf *scratch, ova_err *err);

/* Read and decode the journal at path. OVA_E_IO if it cannot be read. */
ova_status ova_journal_load(const char *path, ova_journal **out, ova_err *err);

#endif
