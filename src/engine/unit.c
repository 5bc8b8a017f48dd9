/* unit.c - read a unit's grains, drop the all-zero ones, deflate the rest
 * (or store those that will not compress: codec.h) into grain records.
 * This is the hot loop of the export: one pread per read_chunk, no
 * allocation and no copy per grain (the codec writes straight into the
 * record behind its marker). */
#include "engine/unit.h"

#include <stdlib.h>
#include <string.h>

struct ova_unit_worker {
    ova_codec *codec;
    ova_codec_kind kind;
    int level;
    unsigned char *buf;   /* read buffer, read_chunk bytes, 64-byte aligned */
    size_t chunk;
};

size_t ova_unit_max_size(uint32_t n_grains)
{
    return sizeof(ova_unit_hdr) + (size_t)n_grains * ova_grain_record_max();
}

ova_status ova_unit_worker_new(ova_codec_kind codec, int level, size_t read_chunk, ova_unit_worker **out,
                               ova_err *err)
{
    if (read_chunk == 0 || read_chunk % OVA_GRAIN_SIZE != 0)
        return ova_err_set(err, OVA_E_USAGE, "read size %zu is not a multiple of 64 KiB", read_chunk);
    ova_unit_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for a compression thread");
    w->chunk = read_chunk;
    w->kind = codec;
    w->level = level;
    w->codec = ova_codec_new(codec, level);
    w->buf = aligned_alloc(64, read_chunk);
    if (w->codec == NULL || w->buf == NULL) {
        ova_unit_worker_free(&w);
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for a compression thread (%s level %d)",
                           ova_codec_name(codec), level);
    }
    *out = w;
    return OVA_OK;
}

void ova_unit_worker_store_incompressible(ova_unit_worker *w, bool on)
{
    ova_codec_set_store_incompressible(w->codec, on);
}

void ova_unit_worker_free(ova_unit_worker **pw)
{
    ova_unit_worker *w = *pw;
    if (w == NULL)
        return;
    ova_codec_free(&w->codec);
    free(w->buf);
    free(w);
    *pw = NULL;
}

bool ova_is_zero(const void *p, size_t n)
{
    const uint64_t *q = p;
    size_t words = n / 8;
    /* OR eight words at a time: one branch per 64 bytes keeps this at memory speed */
    size_t i = 0;
    for (; i + 8 <= words; i += 8) {
        uint64_t acc = q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] | q[i + 6] | q[i + 7];
        if (acc != 0)
            return false;
    }
    for (; i < words; i++)
        if (q[i] != 0)
            return false;
    return true;
}

ova_status ova_unit_compress(ova_unit_worker *w, const ova_plan *plan, ova_disk_reader *reader,
                             uint64_t unit, unsigned char *out, ova_err *err)
{
    size_t disk;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(plan, unit, &disk, &first, &n);
    const ova_disk_info *info = plan->disks[disk];
    uint64_t cap = info->capacity;

    ova_unit_hdr *h = (ova_unit_hdr *)(void *)out;
    memset(h, 0, sizeof *h);
    h->unit = unit;
    h->n_grains = n;
    unsigned char *rec = out + sizeof *h;
    size_t used = 0;
    size_t rec_cap = ova_grain_record_max() - OVA_GRAIN_MARKER_SIZE;

    size_t grains_per_chunk = w->chunk / OVA_GRAIN_SIZE;
    for (uint32_t g = 0; g < n; g += (uint32_t)grains_per_chunk) {
        uint32_t cg = n - g < grains_per_chunk ? n - g : (uint32_t)grains_per_chunk;
        uint64_t off = (first + g) * (uint64_t)OVA_GRAIN_SIZE;
        uint64_t want = (uint64_t)cg * OVA_GRAIN_SIZE;
        if (want > cap - off)
            want = cap - off; /* the disk's partial last grain */
        bool zero = false;
        ova_status st = ova_disk_read(reader, off, (size_t)want, w->buf, &zero, &h->bytes_read, err);
        if (st != OVA_OK)
            return st;
        if (zero)
            continue;
        /* pad a partial last grain with zeros: readers inflate full 64 KiB grains */
        size_t full = (size_t)cg * OVA_GRAIN_SIZE;
        if (want < full)
            memset(w->buf + want, 0, full - (size_t)want);
        for (uint32_t k = 0; k < cg; k++) {
            const unsigned char *gp = w->buf + (size_t)k * OVA_GRAIN_SIZE;
            if (ova_is_zero(gp, OVA_GRAIN_SIZE))
                continue;
            size_t clen = 0;
            bool stored = false;
            unsigned char *r = rec + used;
            if (ova_codec_compress_grain(w->codec, gp, OVA_GRAIN_SIZE, r + OVA_GRAIN_MARKER_SIZE, rec_cap, &clen,
                                         &stored) != OVA_OK)
                return ova_err_set(err, OVA_E_CODEC, "%s: %s level %d failed to compress the grain at byte %llu",
                                   info->path, ova_codec_name(w->kind), w->level,
                                   (unsigned long long)(off + (uint64_t)k * OVA_GRAIN_SIZE));
            uint64_t lba = (first + g + k) * (uint64_t)OVA_GRAIN_SECTORS;
            h->rel[g + k] = (uint32_t)(1 + used / OVA_SECTOR);
            used += ova_grain_record_finish(r, lba, (uint32_t)clen);
            h->n_data++;
            h->n_stored += stored;
        }
    }
    h->records_len = used;
    h->status = OVA_UNIT_OK;
    return OVA_OK;
}

const char *ova_unit_result_check(const ova_plan *plan, const ova_unit_hdr *h, size_t count)
{
    if (count < sizeof *h || count - sizeof *h != h->records_len || h->records_len % OVA_SECTOR != 0)
        return "its length does not match its header";
    if (h->unit >= ova_plan_units(plan))
        return "it names a unit that was not granted or is already in";
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(plan, h->unit, &d, &first, &n);
    if (h->n_grains != n || h->n_data > n || h->n_stored > h->n_data)
        return "its grain counts do not match the plan";
    uint32_t data = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (h->rel[i] == 0)
            continue;
        if ((uint64_t)h->rel[i] - 1 >= h->records_len / OVA_SECTOR)
            return "a grain lies outside its records";
        data++;
    }
    if (data != h->n_data)
        return "its grain counts do not match the plan";
    return NULL;
}
