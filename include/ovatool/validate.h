/* validate.h - checking an OVA (`ovatool validate`): tar structure, member
 * order, manifest digests, the OVF (DMTF schema and cross-checks) and each
 * streamOptimized VMDK, read in place inside the archive.
 *
 * The checks follow docs/formats.md sections 3 (VMDK) and 5 (tar, manifest)
 * and docs/ovf.md (OVF). Problems in the OVA are not errors: they are
 * collected as "member: what" lines in an ova_vlist and the call still
 * returns OVA_OK; an ova_status failure means the check itself could not run
 * (the file cannot be opened or read, memory ran out).
 *
 * Memory stays bounded whatever the disk size: members are hashed and walked
 * in 1 MiB chunks, and a VMDK walk keeps one grain table's worth of state
 * plus one 32-bit entry per grain table (8 MiB for the 64 TiB maximum); a
 * stream whose tables precede the grains takes 20 bytes per table more
 * (GD, a 32-bit digest of each table, their order: 40 MiB at 64 TiB).
 * Every size read from the file is capped before anything is allocated.
 *
 * Findings come in three levels (docs/formats.md 3.12):
 *   - problems: the data is wrong or unreadable (exit 3 in the CLI);
 *   - risks: sound data in a form a named importer is known to reject, each
 *     line naming the importers and the public report it rests on; they fail
 *     the check only for a target importer they name, or in strict mode;
 *   - notes: layouts other than ovftool's that VMware's own tools also write
 *     and importers read; they never change the verdict.
 *
 * Files that other producers store in chunks (ovf:chunkSize) or gzip
 * (ovf:compression) are read through ova_member_reader (below), which
 * import reuses to stream a disk whatever its storage.
 *
 * Everything here is MPI-free; ova_validate_mpi() is in ovatool/validate_mpi.h,
 * so that only its callers need <mpi.h>. What the checks share internally is
 * in src/validate/validate_internal.h.
 */
#ifndef OVATOOL_VALIDATE_H
#define OVATOOL_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ovatool/buf.h"
#include "ovatool/limits.h"
#include "ovatool/manifest.h"
#include "ovatool/status.h"

/* Problem lines kept in a list; more are only counted (a badly broken disk
 * could otherwise produce one line per grain). */
#define OVA_VALIDATE_MAX_PROBLEMS 1000u
/* Problems one VMDK structure walk reports before it stops reading. */
#define OVA_VALIDATE_MAX_DISK_PROBLEMS 20u
/* Grain problems of the deep pass kept (over all disks). */
#define OVA_VALIDATE_MAX_DEEP 100u
/* Largest VMDK capacity checked: VMware's sparse limit is 62 TB. */
#define OVA_VALIDATE_MAX_CAPACITY OVA_MAX_CAPACITY /* the one limit for every disk (limits.h) */
/* Resource bounds: what a hostile OVA can make validate read, hold or
 * compare. Each one exceeded is a problem naming it (exit 3), and what is
 * beyond it is not checked.
 * Members: an OVA has a handful; the cap bounds the member table. */
#define OVA_VALIDATE_MAX_MEMBERS 4096u
/* The OVF descriptor: real ones are tens of KiB. libxml2's tree takes about
 * 20 bytes per byte of OVF (1.2 GB and 13 s at the cap, measured with
 * 900,000 References/File and Disk entries). */
#define OVA_VALIDATE_MAX_OVF_BYTES ((uint64_t)64 << 20)
/* The manifest: a line per member, so 1 MiB is thousands of members. */
#define OVA_VALIDATE_MAX_MF_BYTES ((uint64_t)1 << 20)
/* Manifest lines: each must name a different member, so more lines than
 * members can only be wrong; lines past this are not read. */
#define OVA_VALIDATE_MAX_MF_LINES (2 * OVA_VALIDATE_MAX_MEMBERS)
/* The longest manifest line: SHA512(a 100-byte name)= 128 hex digits is
 * 238 bytes; a longer line is reported without being parsed. */
#define OVA_VALIDATE_MAX_MF_LINE 1024u
/* Member name field (100 bytes) plus a NUL. */
#define OVA_VNAME_MAX 101u

/* ---- problem lists ---- */

typedef struct ova_vlist {
    ova_buf text;      /* kept problems, "member: what\n" each */
    size_t kept;       /* lines in text */
    uint64_t count;    /* all problems found, kept or not */
} ova_vlist;

/* Add "member: what". Control characters in the line become '?', so a
 * hostile member name cannot forge extra output lines. */
void ova_vlist_add(ova_vlist *l, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Iterate kept lines: start with *pos = 0; returns the line (not
 * NUL-terminated at len) or NULL at the end. */
const char *ova_vlist_next(const ova_vlist *l, size_t *pos, size_t *len);
void ova_vlist_free(ova_vlist *l);

/* ---- the result ---- */

/* Importers a risk names (ova_validation.risk_importers is their OR). */
#define OVA_IMPORTER_ESXI 1u        /* ESXi and vCenter, through their own import or ovftool */
#define OVA_IMPORTER_WORKSTATION 2u /* VMware Workstation / Fusion */
#define OVA_IMPORTER_VIRTUALBOX 4u

/* "esxi", "workstation", "virtualbox" or "any" (0: no one importer) to a
 * mask of OVA_IMPORTER_* bits; false for any other word. */
bool ova_importer_parse(const char *word, unsigned *mask);
/* The importers of mask as "ESXi/vCenter, Workstation" (for messages). */
const char *ova_importer_names(unsigned mask, char *buf, size_t cap);

/* What the deep pass needs to know about one VMDK member. Plain data: it is
 * broadcast to the other ranks as bytes. */
typedef struct ova_vdisk {
    char name[OVA_VNAME_MAX];
    uint64_t offset;       /* first byte of the member in the OVA */
    uint64_t size;         /* member bytes */
    uint64_t capacity;     /* sectors, from the header (0 if unreadable) */
    uint64_t gd_sector;    /* GD block, in sectors from the member start (footer or header) */
    uint64_t n_gds;        /* grain directory entries */
    uint64_t grains;       /* grain records the structure walk found */
    int sound;             /* 1: the walk found no problem, the deep pass may trust GD and GTs */
    /* A disk file stored in chunks or gzip (name is then its ovf:href, offset
     * its first member's, size its own bytes): the deep pass reads it once,
     * in order, through an ova_member_reader, on one rank. */
    uint64_t chunk_size;   /* ovf:chunkSize; 0: not chunked */
    int gzip;              /* ovf:compression="gzip" */
} ova_vdisk;

typedef struct ova_validation {
    ova_vlist problems;        /* data wrong or unreadable */
    ova_vlist risks;           /* sound data a named importer is known to reject, with the evidence */
    unsigned risk_importers;   /* OR of the OVA_IMPORTER_* bits the risks name */
    ova_vlist layout_notes;    /* layouts other than ovftool's that importers read (NOTE: lines) */
    ova_buf notes;             /* informational lines ("... skipped: why"), '\n' after each */
    uint64_t ova_size;
    size_t n_members;
    ova_vdisk *disks;          /* one per .vmdk member (or chunked/gzip .vmdk file), archive order */
    size_t n_disks;
    uint64_t grains;           /* grain records in all disks */
    bool schema_checked;       /* the OVF was validated against the DMTF schema */
    bool deep;                 /* the deep pass ran */
    uint64_t grains_inflated;  /* grains the deep pass inflated */
} ova_validation;

void ova_validation_init(ova_validation *v);
void ova_validation_free(ova_validation *v);
/* No problem found (risks and notes aside). */
bool ova_validation_ok(const ova_validation *v);
/* The verdict for a target: no problem, no risk naming an importer of
 * target_mask, and with strict no risk at all. */
bool ova_validation_passes(const ova_validation *v, unsigned target_mask, bool strict);
/* Add a risk for the importers of mask ("member: what"). */
void ova_validation_risk(ova_validation *v, unsigned importers, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct ova_validate_opts {
    const char *schema_dir;    /* DMTF OVF schema folder (dsp8023_1.1.1.xsd); NULL: skip, with a note */
    bool deep;                 /* also inflate every grain */
    /* Optional progress lines ("hashing x.vmdk (1.2 GiB)"); rank 0 only. */
    void (*log)(void *ctx, const char *msg);
    void *log_ctx;
} ova_validate_opts;

/* Every check but the deep pass. v must be initialised. Returns OVA_E_IO
 * when the file cannot be opened or read; problems do not fail the call. */
ova_status ova_validate_meta(const char *path, const ova_validate_opts *o, ova_validation *v,
                             ova_err *err);

/* ova_validate_meta() plus, with o->deep, the deep pass in this process. */
ova_status ova_validate_file(const char *path, const ova_validate_opts *o, ova_validation *v,
                             ova_err *err);

/* Free libxml2's global state (call once, at exit). */
void ova_validate_global_cleanup(void);

/* ---- building blocks (also used by the unit tests) ---- */

/* Parse one manifest line (without its '\n'), which must be exactly
 * `ALG(name)= hex` with ALG SHA1, SHA256 or SHA512 and a hex digest of the
 * algorithm's length. Returns 1 and fills alg, name (NUL-terminated,
 * name_cap bytes at most) and digest; or 0 with *why saying what is wrong. */
int ova_manifest_parse_line(const char *line, size_t len, ova_sha *alg, char *name, size_t name_cap,
                            unsigned char digest[64], const char **why);

/* The VMDK structure walk: a push parser fed the member's bytes in order,
 * in chunks of any size, so it runs on the same read as the digest. */
typedef struct ova_vmdk_walk ova_vmdk_walk;

typedef struct ova_vmdk_facts {
    bool header_ok;            /* the header was readable; capacity is valid */
    uint64_t capacity;         /* sectors */
    bool sound;                /* header, descriptor, stream, GD and GTs all correct */
    uint64_t gd_sector;        /* from the footer, or from the header when gd_in_header */
    uint64_t n_gds;
    uint64_t grains;           /* grain records walked */
    /* What the driver words as risks and notes (docs/formats.md 3.12): */
    bool gd_in_header;         /* header gdOffset names a GD written with its GTs before the grains */
    uint32_t flags;            /* header flags */
    uint64_t rgd_offset;       /* header rgdOffset */
    uint64_t eos_sector;       /* the first end-of-stream marker (0: none reached) */
    uint64_t zero_tail;        /* zero bytes after it (non-zero ones are a problem) */
    uint64_t unchecked_gts;    /* GTs before the GD a one-pass walk could not check (disk not sound) */
} ova_vmdk_facts;

/* name is used in problems; size is the member size (the walk needs it to
 * know which sector is the last). Problems go to probs. */
ova_status ova_vmdk_walk_new(const char *name, uint64_t size, ova_vlist *probs, ova_vmdk_walk **out,
                             ova_err *err);
void ova_vmdk_walk_feed(ova_vmdk_walk *w, const void *data, size_t n);
/* End-of-member checks; fills facts. OVA_E_NOMEM if a table could not be
 * allocated during the walk. */
ova_status ova_vmdk_walk_finish(ova_vmdk_walk *w, ova_vmdk_facts *facts, ova_err *err);
void ova_vmdk_walk_free(ova_vmdk_walk **w);

/* One grain problem of the deep pass, keyed for a rank-independent order. */
typedef struct ova_deep_problem {
    uint64_t disk;             /* index in ova_validation.disks */
    uint64_t lba;
    char text[320];            /* "member: what" */
} ova_deep_problem;

typedef struct ova_deep_result {
    ova_deep_problem *probs;   /* kept, in the order found, at most OVA_VALIDATE_MAX_DEEP */
    size_t n;
    uint64_t count;            /* all grain problems */
    uint64_t inflated;         /* grains inflated */
} ova_deep_result;

/* Inflate the grains of disk d (a sound disk of the OVA open as fd) whose
 * grain-table group g has g % nranks == rank; check each gives exactly
 * 65536 bytes. disk_index keys the problems. */
ova_status ova_validate_deep_disk(int fd, const ova_vdisk *d, uint64_t disk_index, unsigned rank,
                                  unsigned nranks, ova_deep_result *r, ova_err *err);
void ova_deep_result_free(ova_deep_result *r);

/* Add grain problems (from any number of ranks) to v: sorted by disk and
 * LBA, the first OVA_VALIDATE_MAX_DEEP kept; count is the total found. */
void ova_validate_merge_deep(ova_validation *v, ova_deep_problem *probs, size_t n, uint64_t count,
                             uint64_t inflated);

/* ---- reading an OVF file out of an OVA (validate, import) ----
 *
 * An OVF file (a References/File) is not always one member: DSP0243 lets a
 * producer split it into members named HREF.000000000, HREF.000000001, ...
 * (ovf:chunkSize, the size of every chunk but the last; the manifest lists
 * each chunk) and gzip it (ovf:compression="gzip": the stored bytes are a
 * gzip stream, RFC 1952, and ovf:size is the stored size). When both are
 * used the gzip stream is what is chunked. The reader below gives back the
 * file's own bytes in order whatever the storage, in bounded memory (one
 * 1 MiB input buffer and zlib's 32 KiB window), and shows the caller the
 * stored bytes of each member as it consumes them, so that one read serves
 * both the manifest digest of every member and the use of the file.
 *
 * How a reader of a disk (import) uses it, with the OVF's References/File:
 *
 *   ova_vmember *m; size_t n;
 *   ova_vtar_walk(fd, ova_size, "vm.ova", &m, &n, &probs, &err);
 *   ova_ovf_file f = { href, chunk_size, gzip };   // ovf:href, ovf:chunkSize, ovf:compression
 *   ova_member_reader *r;
 *   if (ova_member_reader_open(fd, m, n, &f, my_tap, my_ctx, &r, &err) != OVA_OK) ...;  // names the member
 *   for (size_t got = 1; got > 0;) {
 *       if (ova_member_reader_read(r, buf, cap, &got, &err) != OVA_OK) ...;  // corrupt gzip: names it
 *       ... feed buf[0..got) to the stream walker ...
 *   }
 *   ova_member_reader_close(&r);
 *
 * my_tap(ctx, member, data, n, err) gets m[member]'s stored bytes in order:
 * hash them there against the manifest line of m[member].name (a chunked
 * file has one line per chunk, and may have one for the whole file). The
 * size the VMDK walker needs up front is ova_member_file_size() (a second
 * read only for gzip). validate.c's stream_file() is the reference user. */

/* One member of the archive, as the tar walk found it. */
typedef struct ova_vmember {
    char name[OVA_VNAME_MAX];
    uint64_t offset;           /* first data byte in the OVA */
    uint64_t size;             /* as the header says */
    bool truncated;            /* the archive ends inside the data: named, never read */
} ova_vmember;

/* Walk the tar headers of the OVA open as fd (size bytes; label names it in
 * problems); fills a malloc'd member table in archive order (free() it).
 * What is wrong with the archive goes to probs (a member cut short by the
 * end of the file is kept, marked truncated); OVA_E_IO/NOMEM only when the
 * walk itself cannot run. */
ova_status ova_vtar_walk(int fd, uint64_t size, const char *label, ova_vmember **members,
                         size_t *n_members, ova_vlist *probs, ova_err *err);

/* How the OVF stores one file: the References/File attributes. */
typedef struct ova_ovf_file {
    const char *href;          /* ovf:href: the member name, or the chunks' stem */
    uint64_t chunk_size;       /* ovf:chunkSize; 0: not chunked */
    bool gzip;                 /* ovf:compression="gzip" ("identity" or none: false) */
} ova_ovf_file;

/* Longest chunk member name: HREF + ".000000000". */
#define OVA_CHUNK_SUFFIX_LEN 10u

typedef struct ova_member_reader ova_member_reader;

/* Sees the stored bytes of every member in order as the reader consumes
 * them (member: index in the member table). A non-OK return stops the read
 * with that status. */
typedef ova_status (*ova_member_tap)(void *ctx, size_t member, const void *data, size_t n, ova_err *err);

/* Find the members of file f in the table m of the OVA open as fd (which
 * stays the caller's). A chunked file needs HREF.000000000 up to the
 * highest chunk present with none missing, each but the last exactly
 * chunk_size bytes, the last 1..chunk_size. Fails with OVA_E_FORMAT and a
 * message naming the member and what is wrong (missing, wrong size,
 * truncated in the archive); tap may be NULL. */
ova_status ova_member_reader_open(int fd, const ova_vmember *m, size_t n, const ova_ovf_file *f,
                                  ova_member_tap tap, void *tap_ctx, ova_member_reader **out, ova_err *err);
/* Up to cap bytes of the file into buf; *got 0 means its end. Errors:
 * OVA_E_IO (read), OVA_E_FORMAT for a gzip stream that is corrupt, cut
 * short or followed by other bytes (the message names the member), or
 * what the tap returned. */
ova_status ova_member_reader_read(ova_member_reader *r, void *buf, size_t cap, size_t *got, ova_err *err);
/* Consume up to 1 MiB more of the stored bytes without using them (the tap
 * still sees them), *got 0 at the end: after a read failed on a corrupt
 * gzip stream, this finishes the members' digests. */
ova_status ova_member_reader_drain(ova_member_reader *r, size_t *got, ova_err *err);
/* The members of the file, in reading order (indexes into the table). */
size_t ova_member_reader_parts(const ova_member_reader *r, const size_t **members);
/* Stored bytes: the sum of the members' sizes (ovf:size of the file). */
uint64_t ova_member_reader_stored(const ova_member_reader *r);
void ova_member_reader_close(ova_member_reader **r);

/* The size of file f's own bytes: the stored size, or for a gzip file the
 * inflated size, which takes one read of the members (the gzip trailer
 * keeps only the size modulo 4 GiB). */
ova_status ova_member_file_size(int fd, const ova_vmember *m, size_t n, const ova_ovf_file *f, uint64_t *size,
                                ova_err *err);

#endif
