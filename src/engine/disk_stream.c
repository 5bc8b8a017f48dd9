/* disk_stream.c - the streamOptimized metadata of one disk around its grain
 * records: header, grain tables, directory, footer (disk_stream.h). */
#include "engine/disk_stream.h"

#include <stdlib.h>
#include <string.h>

void ova_disk_stream_init(ova_disk_stream *s, const char *out_path, ova_disk_stream_emit emit, void *emit_ctx)
{
    memset(s, 0, sizeof *s);
    s->out_path = out_path;
    s->emit = emit;
    s->emit_ctx = emit_ctx;
}

void ova_disk_stream_free(ova_disk_stream *s)
{
    free(s->gd);
    s->gd = NULL;
}

/* Grain-table and directory entries are 32-bit sectors: a stream file
 * cannot grow past 2 TiB. */
static ova_status check_sector(const ova_disk_stream *s, uint64_t sector, ova_err *err)
{
    if (sector > UINT32_MAX)
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s: compressed disk exceeds the 2 TiB limit of a streamOptimized VMDK", s->out_path);
    return OVA_OK;
}

ova_status ova_disk_stream_start(ova_disk_stream *s, const ova_stream_info *si, const char *disk_path,
                                 ova_err *err)
{
    unsigned char *head = malloc((size_t)OVA_STREAM_OVERHEAD * OVA_SECTOR);
    if (head == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    ova_status st = ova_stream_head(si, head, err);
    if (st == OVA_OK)
        st = s->emit(s->emit_ctx, head, (size_t)OVA_STREAM_OVERHEAD * OVA_SECTOR, err);
    free(head);
    if (st != OVA_OK)
        return st;
    s->capacity = si->capacity;
    s->sector = OVA_STREAM_OVERHEAD;
    free(s->gd);
    s->gd = calloc(ova_stream_gts(si->capacity), sizeof *s->gd);
    if (s->gd == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for the grain directory of %s", disk_path);
    memset(s->gt, 0, sizeof s->gt);
    s->gt_has_data = 0;
    return OVA_OK;
}

ova_status ova_disk_stream_resume(ova_disk_stream *s, uint64_t capacity, uint64_t sector, const uint32_t *gd,
                                  uint64_t n_gd, const char *disk_path, ova_err *err)
{
    uint64_t n = ova_stream_gts(capacity);
    if (n_gd > n)
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: %llu grain tables resumed for %s, which has %llu",
                           (unsigned long long)n_gd, disk_path, (unsigned long long)n);
    free(s->gd);
    s->gd = calloc(n ? n : 1, sizeof *s->gd);
    if (s->gd == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for the grain directory of %s", disk_path);
    memcpy(s->gd, gd, (size_t)n_gd * sizeof *gd);
    s->capacity = capacity;
    s->sector = sector;
    memset(s->gt, 0, sizeof s->gt);
    s->gt_has_data = 0;
    return OVA_OK;
}

ova_status ova_disk_stream_records(ova_disk_stream *s, uint64_t first, uint32_t n, const uint32_t *rel,
                                   uint64_t records_len, ova_err *err)
{
    ova_status st = check_sector(s, s->sector + records_len / OVA_SECTOR, err);
    if (st != OVA_OK)
        return st;
    uint32_t slot = (uint32_t)(first % OVA_GT_ENTRIES);
    for (uint32_t i = 0; i < n; i++)
        if (rel[i] != 0)
            s->gt[slot + i] = (uint32_t)(s->sector + rel[i] - 1);
    s->gt_has_data = 1;
    s->sector += records_len / OVA_SECTOR;
    return OVA_OK;
}

/* The directory, footer and end-of-stream after the last group. */
static ova_status finish(ova_disk_stream *s, ova_err *err)
{
    uint64_t n_gds = ova_stream_gts(s->capacity);
    size_t tl = ova_stream_tail_size(n_gds);
    unsigned char *tail = malloc(tl);
    if (tail == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    uint64_t gd_sector = s->sector + 1;
    ova_status st = check_sector(s, gd_sector, err);
    if (st == OVA_OK) {
        ova_stream_tail(tail, s->capacity, s->gd, n_gds, gd_sector);
        st = s->emit(s->emit_ctx, tail, tl, err);
    }
    free(tail);
    if (st != OVA_OK)
        return st;
    s->sector += tl / OVA_SECTOR;
    return OVA_OK;
}

ova_status ova_disk_stream_grains_done(ova_disk_stream *s, uint64_t first, uint32_t n, uint64_t *size,
                                       ova_err *err)
{
    ova_status st;
    *size = 0;
    int last_of_disk = first + n == ova_stream_grains(s->capacity);
    if ((first + n) % OVA_GT_ENTRIES == 0 || last_of_disk) {
        /* VMware writes no grain table for a group without data (GDE 0) */
        if (s->gt_has_data) {
            if ((st = check_sector(s, s->sector + 5, err)) != OVA_OK)
                return st;
            unsigned char blk[OVA_GT_BLOCK_SIZE];
            ova_stream_gt_block(blk, s->gt);
            if ((st = s->emit(s->emit_ctx, blk, sizeof blk, err)) != OVA_OK)
                return st;
            s->gd[first / OVA_GT_ENTRIES] = (uint32_t)(s->sector + 1);
            s->sector += 5;
        }
        memset(s->gt, 0, sizeof s->gt);
        s->gt_has_data = 0;
    }
    if (!last_of_disk)
        return OVA_OK;
    if ((st = finish(s, err)) != OVA_OK)
        return st;
    *size = s->sector * OVA_SECTOR;
    return OVA_OK;
}
