/* validate_deep.c - the deep pass of `ovatool validate --deep`: for a disk
 * the structure walk (validate_vmdk.c) found sound, inflate every grain its
 * grain tables point at and check it gives exactly one grain. Split over
 * ranks by grain-table group (mpi_validate.c); problems are keyed by disk
 * and LBA so their order does not depend on the rank count. */
#include "ovatool/validate.h"
#include "validate/validate_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

ova_status ova_validate_deep_disk(int fd, const ova_vdisk *d, uint64_t disk_index, unsigned rank,
                                  unsigned nranks, ova_deep_result *r, ova_err *err)
{
    if (!d->sound || nranks == 0)
        return OVA_OK;
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
            /* one byte of room beyond a grain tells "too long" from "exact" */
            uLongf out_len = OVA_GRAIN_SIZE + 1;
            int zr = uncompress(out, &out_len, rec + OVA_GRAIN_MARKER_SIZE, csize);
            r->inflated++;
            if (zr == Z_BUF_ERROR)
                deep_prob(r, d, disk_index, lba, "grain at LBA %llu (sector %llu) inflates to more than 65536 bytes",
                          (unsigned long long)lba, (unsigned long long)sec);
            else if (zr != Z_OK)
                deep_prob(r, d, disk_index, lba, "grain at LBA %llu (sector %llu) does not inflate: zlib %s",
                          (unsigned long long)lba, (unsigned long long)sec,
                          zr == Z_DATA_ERROR ? "data error (corrupt or truncated stream)" : zError(zr));
            else if (out_len != OVA_GRAIN_SIZE)
                deep_prob(r, d, disk_index, lba, "grain at LBA %llu (sector %llu) inflates to %lu bytes, not 65536",
                          (unsigned long long)lba, (unsigned long long)sec, (unsigned long)out_len);
        }
    }
out:
    free(gd);
    free(rec);
    free(out);
    return st;
}
