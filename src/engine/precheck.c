/* precheck.c - what an export checks on rank 0 between ova_prepare() and
 * the first byte of disk data (prepare.h): the output's folder, the
 * target, and the free space against an estimate of the OVA's size.
 *
 * The estimate (ova_estimate_*) uses only what prepare knows without
 * reading data: each disk's capacity and allocated bytes (allocated
 * grains of sparse extents, SEEK_DATA regions of flat ones; an unallocated
 * grain or a hole is never written, so it costs nothing).
 *
 *  - best: a lower bound that holds for any data. A stored grain is a
 *    grain record (12-byte marker + its zlib stream) padded to whole
 *    512-byte sectors (vmdk_stream.h), so no grain that holds data costs
 *    less than one sector: 1/128 of its 64 KiB, whatever the codec. Add
 *    the fixed parts (tar headers, the 64 KiB stream head, the grain
 *    tables of the fewest groups the grains can fill, directory, footer).
 *    The one thing that can beat it is an allocated grain of zeros (which
 *    is not written at all): a thick disk full of zeros has a best case of
 *    1/128 of its size although its OVA is tiny. Refusing only when even
 *    this does not fit means refusing only what cannot succeed, but for
 *    that case.
 *  - likely: allocated bytes times the ratio measured on the benchmark
 *    image (README.md, "Performance": 1157 MiB = 1213 MB of non-zero
 *    grains of OS files, logs and already-compressed data): balanced
 *    (libdeflate 6) wrote 691.1 MB (0.570), max 688.5 (0.568), zlib 6
 *    694.8 (0.573), libdeflate 1 710.6 (0.586), fast (ISA-L 1) 718.3
 *    (0.592). Rounded up to 0.58 for levels 4 and above and 0.60 for
 *    ISA-L and levels 1-3, and applied to allocated rather than non-zero
 *    bytes (allocated >= non-zero), so it errs on the large side: it only
 *    decides a warning.
 *  - worst: every allocated grain stored as it is (a zlib stream of
 *    stored blocks, 65552 bytes, + marker = 129 sectors), and a grain
 *    table for every group that can hold one. Deflate never does worse
 *    than that by more than a few bytes per grain, which the sector
 *    padding absorbs. */
#include "ovatool/prepare.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/log.h"
#include "engine/ova_target.h"
#include "format/tar.h"
#include "format/vmdk_stream.h"
#include "util/io.h"

/* The front of the archive at the least (.ovf and .mf headers and one
 * block each) and as allowed for (an OVF with the widest numbers is a few
 * KiB per disk; 64 KiB covers dozens of disks), and the trailer. */
#define EST_FRONT_MIN (4u * OVA_TAR_BLOCK)
#define EST_FRONT_LIKELY (64u << 10)
#define EST_TRAILER (2u * OVA_TAR_BLOCK)
/* A grain stored as it is: marker + 65552-byte zlib stream, in sectors. */
#define EST_STORED_SECTORS 129u

unsigned ova_estimate_ratio_permille(ova_codec_kind codec, int level)
{
    if (codec == OVA_CODEC_ISAL || level <= 3)
        return 600;
    return 580;
}

static uint64_t div_up(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

void ova_estimate_disk(uint64_t capacity, uint64_t allocated, ova_codec_kind codec, int level,
                       ova_size_estimate *e)
{
    uint64_t grains = ova_stream_grains(capacity), groups = ova_stream_gts(capacity);
    if (allocated > capacity)
        allocated = capacity;
    uint64_t data = div_up(allocated, OVA_GRAIN_SIZE); /* grains with data, at least */
    if (data > grains)
        data = grains;
    uint64_t fixed = OVA_TAR_BLOCK + (uint64_t)OVA_STREAM_OVERHEAD * OVA_SECTOR + ova_stream_tail_size(groups);
    uint64_t gts_min = div_up(data, OVA_GT_ENTRIES), gts_max = data < groups ? data : groups;
    uint64_t best = fixed + data * OVA_SECTOR + gts_min * OVA_GT_BLOCK_SIZE;
    uint64_t worst = fixed + data * EST_STORED_SECTORS * OVA_SECTOR + gts_max * OVA_GT_BLOCK_SIZE;
    /* allocated * ratio / 1000 without overflow (allocated < 2^64 / 1000 is not given) */
    uint64_t r = ova_estimate_ratio_permille(codec, level);
    uint64_t likely = fixed + allocated / 1000 * r + allocated % 1000 * r / 1000 + gts_max * OVA_GT_BLOCK_SIZE;
    if (likely < best)
        likely = best;
    if (likely > worst)
        likely = worst;
    e->best += best;
    e->likely += likely;
    e->worst += worst;
}

void ova_estimate_output(const ova_prepared *p, ova_codec_kind codec, int level, ova_size_estimate *e)
{
    memset(e, 0, sizeof *e);
    for (size_t i = 0; i < p->n_disks; i++)
        ova_estimate_disk(p->disks[i].info->capacity, p->disks[i].info->allocated, codec, level, e);
    e->best += EST_FRONT_MIN + EST_TRAILER;
    e->likely += EST_FRONT_LIKELY + EST_TRAILER;
    e->worst += EST_FRONT_LIKELY + EST_TRAILER;
}

#define logf_(o, level, ...) ova_logf((o)->log, (o)->log_ctx, level, __VA_ARGS__)

/* The folder the OVA goes to: it must exist, be a folder, and let this
 * user create files in it. */
static ova_status check_folder(const char *folder, const char *output, ova_err *err)
{
    struct stat sb;
    if (stat(folder, &sb) != 0) {
        if (errno == ENOENT)
            return ova_err_set(err, OVA_E_USAGE, "%s: no such folder (the folder of -o %s)", folder, output);
        if (errno == ENOTDIR)
            return ova_err_set(err, OVA_E_USAGE, "%s: not a folder (the folder of -o %s)", folder, output);
        if (errno == EACCES) {
            char who[160];
            return ova_err_set(err, OVA_E_USAGE,
                               "%s: not reachable by %s (the folder of -o %s); run as a user who can write there "
                               "or choose another folder",
                               folder, ova_user_desc(who, sizeof who), output);
        }
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot look at the folder of -o %s", folder, output);
    }
    if (!S_ISDIR(sb.st_mode))
        return ova_err_set(err, OVA_E_USAGE, "%s: not a folder (the folder of -o %s)", folder, output);
    if (faccessat(AT_FDCWD, folder, W_OK | X_OK, AT_EACCESS) != 0) {
        if (errno == EROFS)
            return ova_err_set(err, OVA_E_USAGE,
                               "%s: on a read-only file system (the folder of -o %s); choose another folder",
                               folder, output);
        if (errno == EACCES || errno == EPERM) {
            char who[160];
            return ova_err_set(err, OVA_E_USAGE,
                               "%s: not writable by %s (the folder of -o %s); run as a user who can write there, "
                               "fix its permissions or choose another folder",
                               folder, ova_user_desc(who, sizeof who), output);
        }
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot check the folder of -o %s", folder, output);
    }
    return OVA_OK;
}

static ova_status check_space(const ova_prepared *p, const ova_check_opts *o, ova_check_result *r, ova_err *err)
{
    struct statvfs vf;
    /* no figure to judge by: the export itself will tell. A file system
     * that reports no blocks at all (ramfs, some FUSE and network file
     * systems) has no size to count free space in, not zero free space. */
    if (statvfs(r->folder, &vf) != 0 || vf.f_blocks == 0)
        return OVA_OK;
    r->have_free = 1;
    r->free_bytes = (uint64_t)vf.f_bavail * (uint64_t)vf.f_frsize;
    char need[32], free_[32], likely[32], worst[32], old[32];
    ova_size_text(r->size.best, need);
    ova_size_text(r->free_bytes, free_);
    if (r->size.best > r->free_bytes) {
        if (r->existing > 0 && r->size.best <= r->free_bytes + r->existing)
            return ova_err_set(err, OVA_E_IO,
                               "%s: not enough space: need about %s, %s free at %s; the existing %s (%s) is "
                               "replaced only once the new OVA is complete, so both need room until then: "
                               "delete it first, free some space or choose another folder",
                               p->output, need, free_, r->folder, p->output, ova_size_text(r->existing, old));
        return ova_err_set(err, OVA_E_IO,
                           "%s: not enough space: need about %s, %s free at %s; free some space or choose another "
                           "folder",
                           p->output, need, free_, r->folder);
    }
    /* close: within 10% of the free space, or above it */
    if (r->size.likely > r->free_bytes - r->free_bytes / 10)
        logf_(o, 1,
              "%s: %s free at %s, and this OVA likely needs about %s (%s to %s): the export may run out of space",
              p->output, free_, r->folder, ova_size_text(r->size.likely, likely), need,
              ova_size_text(r->size.worst, worst));
    return OVA_OK;
}

ova_status ova_prepare_check(const ova_prepared *p, const ova_check_opts *o, ova_check_result *r, ova_err *err)
{
    memset(r, 0, sizeof *r);
    ova_estimate_output(p, o->codec, o->level, &r->size);
    const char *output = p->output;
    if (output[0] == '\0')
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: a check of the output without an output");
    const char *slash = strrchr(output, '/');
    if (slash == NULL)
        snprintf(r->folder, sizeof r->folder, ".");
    else if (slash == output)
        snprintf(r->folder, sizeof r->folder, "/");
    else
        snprintf(r->folder, sizeof r->folder, "%.*s", (int)(slash - output), output);
    ova_status st = check_folder(r->folder, output, err);
    if (st != OVA_OK)
        return st;
    if (slash != NULL && slash[1] == '\0')
        return ova_err_set(err, OVA_E_USAGE, "%s: output must be a file name, not a folder", output);

    /* the target: none of the inputs, no link or device (its own message),
     * then an existing regular file only with overwrite */
    ova_disk_info **infos = calloc(p->n_disks ? p->n_disks : 1, sizeof *infos);
    if (infos == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    for (size_t i = 0; i < p->n_disks; i++)
        infos[i] = p->disks[i].info;
    st = ova_target_check(output, o->vmx_path, infos, p->n_disks, err);
    free(infos);
    if (st != OVA_OK)
        return st;
    struct stat sb;
    if (lstat(output, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if (!o->overwrite)
            return ova_err_set(err, OVA_E_USAGE, "%s exists; use --overwrite to replace it", output);
        r->existing = (uint64_t)sb.st_size;
    }
    return check_space(p, o, r, err);
}
