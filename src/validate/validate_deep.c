/* validate_deep.c - the deep pass of `ovatool validate --deep`: for a disk
 * the structure walk (validate_vmdk.c) found sound, inflate every grain its
 * grain tables point at and check it gives exactly one grain. Split over
 * ranks by grain-table group (mpi_validate.c); problems are keyed by disk
 * and LBA so their order does not depend on the rank count. */
#include "ovatool/validate.h"
#include "validate/validate_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "format/sparse_header.h"
#include "format/vmdk_stream.h"

/* VirtualBox rejects compressed grains of 2 x 64 KiB and more (docs/formats.md 3.4). */
#define GRAIN_CSIZE_LIMIT OVA_SPARSE_MAX_CSIZE
#define GT_BYTES (OVA_GT_ENTRIES * 4u)

static void deep_prob(ova_deep_result *r, const ova_vdisk *d, uint64_t disk, uint64_t lba, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void deep_prob(ova_deep_result *r, const ova_vdisk *d, uint64_t disk, uint64_t lba, const char *fmt, ...)
{
    r->count++;
    if (r->n >= OVA_VALIDATE_MAX_DEEP || r->probs == NULL)
        return;
    ova_deep_problem *p = &r->probs[r->n++];
    p->disk = disk;
    p->lba = lba;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->text, sizeof p->text, "%s: %s", d->name, what);
}

void ova_deep_result_free(ova_deep_result *r)
{
    free(r->probs);
    memset(r, 0, sizeof *r);
}

/* Exactly n bytes of the file, or *short_read. */
static ova_status take(ova_member_reader *rd, unsigned char *buf, size_t n, bool *short_read, ova_err *err)
{
    size_t have = 0, got = 1;
    while (have < n && got > 0) {
        ova_status st = ova_member_reader_read(rd, buf + have, n - have, &got, err);
        if (st != OVA_OK)
            return st;
        have += got;
    }
    *short_read = have < n;
    return OVA_OK;
}

/* Inflate one grain record's data; a problem unless it is one grain. */
static void check_grain(ova_deep_result *r, const ova_vdisk *d, uint64_t disk, uint64_t lba, uint64_t sec,
                        const unsigned char *data, uint32_t csize, unsigned char *out)
{
    /* one byte of room beyond a grain tells "too long" from "exact" */
    uLongf out_len = OVA_GRAIN_SIZE + 1;
    int zr = uncompress(out, &out_len, data, csize);
    r->inflated++;
    if (zr == Z_BUF_ERROR)
        deep_prob(r, d, disk, lba, "grain at LBA %llu (sector %llu) inflates to more than 65536 bytes",
                  (unsigned long long)lba, (unsigned long long)sec);
    else if (zr != Z_OK)
        deep_prob(r, d, disk, lba, "grain at LBA %llu (sector %llu) does not inflate: zlib %s",
                  (unsigned long long)lba, (unsigned long long)sec,
                  zr == Z_DATA_ERROR ? "data error (corrupt or truncated stream)" : zError(zr));
    else if (out_len != OVA_GRAIN_SIZE)
        deep_prob(r, d, disk, lba, "grain at LBA %llu (sector %llu) inflates to %lu bytes, not 65536",
                  (unsigned long long)lba, (unsigned long long)sec, (unsigned long)out_len);
}

/* The deep pass of a disk stored in chunks or gzip, which cannot be read
 * at random: one read in order through the member reader, inflating every
 * grain record from overHead on. The walk found the disk sound, so its
 * markers are where they say; every grain its tables name is among them. */
static ova_status deep_stream(int fd, const ova_vdisk *d, uint64_t disk_index, ova_deep_result *r, ova_err *err_out)
{
    ova_err e = { 0 }, *err = &e; /* a storage fault is a problem of the disk, not a failure */
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: stat", d->name);
    /* the member table again: the disk facts may have come over MPI */
    ova_vmember *m = NULL;
    size_t n = 0;
    ova_vlist scratch = { 0 };
    ova_member_reader *rd = NULL;
    unsigned char *rec = malloc(OVA_GRAIN_MARKER_SIZE + GRAIN_CSIZE_LIMIT + OVA_SECTOR);
    unsigned char *out = malloc(OVA_GRAIN_SIZE + 1);
    ova_status st = OVA_OK;
    bool cut = false;
    if (rec == NULL || out == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", d->name);
        goto out;
    }
    if ((st = ova_vtar_walk(fd, (uint64_t)sb.st_size, d->name, &m, &n, &scratch, err)) != OVA_OK)
        goto out;
    ova_ovf_file spec = { d->name, d->chunk_size, d->gzip != 0 };
    if ((st = ova_member_reader_open(fd, m, n, &spec, NULL, NULL, &rd, err)) != OVA_OK)
        goto out;
    ova_sparse_fields h;
    if ((st = take(rd, rec, OVA_SECTOR, &cut, err)) != OVA_OK || cut)
        goto out;
    if (!ova_sparse_header_decode(rec, &h) || h.overhead == 0) {
        st = ova_err_set(err, OVA_E_USAGE, "%s: inconsistent disk facts for the deep pass", d->name);
        goto out;
    }
    uint64_t sec = 1;
    for (; sec < h.overhead && !cut; sec++) /* skip descriptor, and GD and GTs of a meta-first stream */
        if ((st = take(rd, rec, OVA_SECTOR, &cut, err)) != OVA_OK)
            goto out;
    while (!cut) {
        if ((st = take(rd, rec, OVA_SECTOR, &cut, err)) != OVA_OK || cut)
            break;
        uint64_t val = ova_get_le64(rec);
        uint32_t csize = ova_get_le32(rec + 8);
        uint64_t at = sec++;
        if (csize == 0) {
            uint32_t type = ova_get_le32(rec + 12);
            if (type == OVA_MARKER_EOS)
                break;
            /* GT and GD markers: val sectors follow; the footer is one */
            uint64_t skip = type == OVA_MARKER_FOOTER ? 1 : val;
            for (uint64_t k = 0; k < skip && !cut; k++, sec++)
                if ((st = take(rd, rec, OVA_SECTOR, &cut, err)) != OVA_OK)
                    goto out;
            continue;
        }
        if (csize >= GRAIN_CSIZE_LIMIT) { /* the walk passed the disk: not expected */
            deep_prob(r, d, disk_index, val, "grain at LBA %llu (sector %llu): compressed size %u too large",
                      (unsigned long long)val, (unsigned long long)at, csize);
            break;
        }
        size_t total = (OVA_GRAIN_MARKER_SIZE + csize + OVA_SECTOR - 1) / OVA_SECTOR * OVA_SECTOR;
        if ((st = take(rd, rec + OVA_SECTOR, total - OVA_SECTOR, &cut, err)) != OVA_OK)
            goto out;
        if (cut) {
            deep_prob(r, d, disk_index, val, "grain at LBA %llu (sector %llu): the file ends inside it",
                      (unsigned long long)val, (unsigned long long)at);
            break;
        }
        sec += total / OVA_SECTOR - 1;
        check_grain(r, d, disk_index, val, at, rec + OVA_GRAIN_MARKER_SIZE, csize, out);
    }
out:
    if (st == OVA_E_FORMAT) {
        /* the storage went bad under the walk's verdict (a gzip stream
         * that does not inflate): a problem of the disk, not a failure */
        deep_prob(r, d, disk_index, UINT64_MAX, "%s", e.msg);
        st = OVA_OK;
    } else if (st != OVA_OK) {
        st = ova_err_set(err_out, st, "%s", e.msg);
    }
    ova_member_reader_close(&rd);
    ova_vlist_free(&scratch);
    free(m);
    free(rec);
    free(out);
    return st;
}

ova_status ova_validate_deep_disk(int fd, const ova_vdisk *d, uint64_t disk_index, unsigned rank,
                                  unsigned nranks, ova_deep_result *r, ova_err *err)
{
    if (!d->sound || nranks == 0)
        return OVA_OK;
    if (d->chunk_size != 0 || d->gzip) {
        if (disk_index % nranks != rank)
            return OVA_OK;
        if (r->probs == NULL && (r->probs = calloc(OVA_VALIDATE_MAX_DEEP, sizeof *r->probs)) == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", d->name);
        return deep_stream(fd, d, disk_index, r, err);
    }
    /* the walk capped capacity; recheck, the vdisk may have come over MPI */
    if (d->n_gds == 0 || d->n_gds > OVA_VALIDATE_MAX_CAPACITY / OVA_GT_COVERAGE + 1 ||
        d->gd_sector > d->size / OVA_SECTOR || d->n_gds * 4 > d->size - d->gd_sector * OVA_SECTOR)
        return ova_err_set(err, OVA_E_USAGE, "%s: inconsistent disk facts for the deep pass", d->name);
    if (r->probs == NULL) {
        r->probs = calloc(OVA_VALIDATE_MAX_DEEP, sizeof *r->probs);
        if (r->probs == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", d->name);
    }
    uint32_t *gd = malloc((size_t)d->n_gds * 4);
    unsigned char *rec = malloc(OVA_GRAIN_MARKER_SIZE + GRAIN_CSIZE_LIMIT);
    unsigned char *out = malloc(OVA_GRAIN_SIZE + 1);
    unsigned char gt[GT_BYTES];
    ova_status st = OVA_OK;
    if (gd == NULL || rec == NULL || out == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", d->name);
        goto out;
    }
    if ((st = ova_vpread(fd, gd, (size_t)d->n_gds * 4, d->offset + d->gd_sector * OVA_SECTOR, d->name, err)) !=
        OVA_OK)
        goto out;
    for (uint64_t g = rank; g < d->n_gds; g += nranks) {
        uint32_t gde = ova_get_le32((const unsigned char *)&gd[g]);
        if (gde == 0)
            continue;
        if ((uint64_t)gde * OVA_SECTOR + GT_BYTES > d->size) {
            deep_prob(r, d, disk_index, g * OVA_GT_ENTRIES * OVA_GRAIN_SECTORS,
                      "grain directory entry %llu points past the end of the disk", (unsigned long long)g);
            continue;
        }
        if ((st = ova_vpread(fd, gt, sizeof gt, d->offset + (uint64_t)gde * OVA_SECTOR, d->name, err)) != OVA_OK)
            goto out;
        for (unsigned i = 0; i < OVA_GT_ENTRIES; i++) {
            uint64_t sec = ova_get_le32(gt + 4 * i);
            if (sec == 0)
                continue;
            uint64_t lba = (g * OVA_GT_ENTRIES + i) * OVA_GRAIN_SECTORS;
            uint64_t at = sec * OVA_SECTOR;
            if (at + OVA_SECTOR > d->size) {
                deep_prob(r, d, disk_index, lba, "grain at LBA %llu: table entry points past the end of the disk",
                          (unsigned long long)lba);
                continue;
            }
            if ((st = ova_vpread(fd, rec, OVA_SECTOR, d->offset + at, d->name, err)) != OVA_OK)
                goto out;
            uint64_t mlba = ova_get_le64(rec);
            uint32_t csize = ova_get_le32(rec + 8);
            if (mlba != lba || csize == 0 || csize >= GRAIN_CSIZE_LIMIT ||
                OVA_GRAIN_MARKER_SIZE + (uint64_t)csize > d->size - at) {
                deep_prob(r, d, disk_index, lba, "grain at LBA %llu: table entry does not point at its grain marker",
                          (unsigned long long)lba);
                continue;
            }
            size_t total = OVA_GRAIN_MARKER_SIZE + csize;
            if (total > OVA_SECTOR &&
                (st = ova_vpread(fd, rec + OVA_SECTOR, total - OVA_SECTOR, d->offset + at + OVA_SECTOR, d->name,
                                 err)) != OVA_OK)
                goto out;
            check_grain(r, d, disk_index, lba, sec, rec + OVA_GRAIN_MARKER_SIZE, csize, out);
        }
    }
out:
    free(gd);
    free(rec);
    free(out);
    return st;
}
