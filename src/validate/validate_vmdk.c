/* validate_vmdk.c - the streamOptimized VMDK structure check of `ovatool
 * validate`: a push parser that walks header, descriptor, grain markers,
 * grain tables, GD, footer and EOS in one pass (docs/formats.md section 3).
 * The deep pass, which inflates the grains, is validate_deep.c. */
#include "ovatool/validate.h"
#include "validate/validate_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ovatool/descriptor.h"
#include "format/sparse_header.h"
#include "format/vmdk_stream.h"
#include "util/grow.h"

/* VirtualBox rejects compressed grains of 2 x 64 KiB and more (docs/formats.md 3.4). */
#define GRAIN_CSIZE_LIMIT OVA_SPARSE_MAX_CSIZE
/* VirtualBox's limit on descriptorSize (docs/formats.md 3.11); also caps the allocation. */
#define DESC_SECTORS_MAX OVA_SPARSE_MAX_DESC_SECTORS
#define GT_BYTES (OVA_GT_ENTRIES * 4u)

enum { ST_HEADER, ST_DESC, ST_RECORD, ST_GT, ST_GD, ST_FOOTER, ST_DONE };
/* Where in the stream we are: grains and GTs, then GD, footer, EOS. */
enum { PH_GRAINS, PH_AFTER_GD, PH_AFTER_FOOTER, PH_AFTER_EOS };

struct ova_vmdk_walk {
    char name[OVA_VNAME_MAX];
    uint64_t size;
    ova_vlist *probs;
    unsigned n_probs;
    bool stopped;              /* framing lost or too many problems: ignore the rest */
    bool nomem;
    uint64_t pos;              /* bytes consumed */
    int state;
    uint64_t skip;             /* bytes to pass over before collecting acc */
    unsigned char *acc;        /* the record being collected */
    size_t acc_len, acc_need, acc_cap;

    unsigned char head[OVA_SECTOR];
    bool header_ok;
    uint64_t capacity, desc_off, desc_sectors, overhead;
    uint64_t n_gts, gd_sectors;

    int phase;
    uint64_t grains;
    bool any_grain;
    uint64_t last_lba;
    /* a run of grains whose LBA is not above last_lba, reported as one
     * problem: one bad marker with a high LBA would otherwise make every
     * following grain of the run a problem of its own */
    uint64_t run_first, run_last, run_n, run_lba;
    uint32_t *gt_pos;          /* per group: GT block sector, 0 = none seen */
    bool cur_open;             /* grains of cur_group seen, its GT not yet */
    uint64_t cur_group;
    uint32_t cur_slot[OVA_GT_ENTRIES]; /* grain marker sector per slot of cur_group */
    uint32_t *orphans;         /* all-zero GTs of groups without grains (VirtualBox writes them) */
    size_t n_orphans, cap_orphans;
    uint64_t gd_sector;
    uint32_t *gd;
};

static void prob(ova_vmdk_walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void prob(ova_vmdk_walk *w, const char *fmt, ...)
{
    if (w->stopped)
        return;
    if (w->n_probs == OVA_VALIDATE_MAX_DISK_PROBLEMS) {
        ova_vlist_add(w->probs, w->name, "too many problems; the rest of this disk is not checked");
        w->stopped = true;
        return;
    }
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ova_vlist_add(w->probs, w->name, "%s", what);
    w->n_probs++;
}

/* A problem after which the framing of the stream is lost. */
#define FATAL(w, ...) do { prob((w), __VA_ARGS__); (w)->stopped = true; } while (0)

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static uint64_t sectors_for(uint64_t bytes) { return bytes / OVA_SECTOR + (bytes % OVA_SECTOR != 0); }

/* Next: pass over skip bytes, then collect need bytes and handle them in state. */
static void expect(ova_vmdk_walk *w, uint64_t skip, size_t need, int state)
{
    if (need > w->acc_cap) {
        unsigned char *p = realloc(w->acc, need);
        if (p == NULL) {
            w->nomem = true;
            w->stopped = true;
            return;
        }
        w->acc = p;
        w->acc_cap = need;
    }
    w->skip = skip;
    w->acc_need = need;
    w->acc_len = 0;
    w->state = state;
}

ova_status ova_vmdk_walk_new(const char *name, uint64_t size, ova_vlist *probs, ova_vmdk_walk **out,
                             ova_err *err)
{
    ova_vmdk_walk *w = calloc(1, sizeof *w);
    if (w == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", name);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->size = size;
    w->probs = probs;
    expect(w, 0, OVA_SECTOR, ST_HEADER);
    if (w->nomem) {
        free(w);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", name);
    }
    if (size % OVA_SECTOR != 0)
        prob(w, "size %llu is not a multiple of 512", (unsigned long long)size);
    *out = w;
    return OVA_OK;
}

void ova_vmdk_walk_free(ova_vmdk_walk **wp)
{
    if (wp == NULL || *wp == NULL)
        return;
    ova_vmdk_walk *w = *wp;
    free(w->acc);
    free(w->gt_pos);
    free(w->orphans);
    free(w->gd);
    free(w);
    *wp = NULL;
}

static void on_header(ova_vmdk_walk *w)
{
    const unsigned char *h = w->acc;
    memcpy(w->head, h, OVA_SECTOR);
    ova_sparse_fields f;
    if (!ova_sparse_header_decode(h, &f)) {
        FATAL(w, "not a sparse VMDK: no KDMV magic in the header");
        return;
    }
    w->capacity = f.capacity;
    w->desc_off = f.desc_offset;
    w->desc_sectors = f.desc_size;
    w->overhead = f.overhead;

    if (f.version != 3)
        prob(w, "header version %u, must be 3 (ESXi refuses other versions)", f.version);
    if ((f.flags & (OVA_SPARSE_FLAG_COMPRESSED | OVA_SPARSE_FLAG_MARKERS)) !=
        (OVA_SPARSE_FLAG_COMPRESSED | OVA_SPARSE_FLAG_MARKERS))
        prob(w, "header flags 0x%08x lack bit 16 (compressed grains) or bit 17 (markers)", f.flags);
    if (!f.nl_ok)
        prob(w, "header newline-detection bytes are damaged (was the file transferred as text?)");
    if (f.compress != 1)
        prob(w, "header compressAlgorithm %u, must be 1 (deflate)", (unsigned)f.compress);
    if (f.gd_offset != OVA_GD_AT_END)
        prob(w, "header gdOffset is %llu, must be GD_AT_END (the real one belongs in the footer)",
             (unsigned long long)f.gd_offset);
    /* the rest of the walk depends on the geometry: stop if it is off */
    if (f.grain != OVA_GRAIN_SECTORS) {
        FATAL(w, "header grainSize %llu, must be 128", (unsigned long long)f.grain);
        return;
    }
    if (f.gtes != OVA_GT_ENTRIES) {
        FATAL(w, "header numGTEsPerGT %u, must be 512", f.gtes);
        return;
    }
    if (w->capacity == 0 || w->capacity > OVA_VALIDATE_MAX_CAPACITY / OVA_SECTOR) {
        FATAL(w, "header capacity %llu sectors is 0 or above 64 TiB", (unsigned long long)w->capacity);
        return;
    }
    if (w->overhead == 0 || w->overhead > w->size / OVA_SECTOR) {
        FATAL(w, "header overHead %llu sectors is 0 or past the end of the disk", (unsigned long long)w->overhead);
        return;
    }
    uint64_t n_grains = w->capacity / OVA_GRAIN_SECTORS + (w->capacity % OVA_GRAIN_SECTORS != 0);
    w->n_gts = n_grains / OVA_GT_ENTRIES + (n_grains % OVA_GT_ENTRIES != 0);
    w->gd_sectors = sectors_for(w->n_gts * 4);
    w->gt_pos = calloc((size_t)w->n_gts, sizeof *w->gt_pos);
    if (w->gt_pos == NULL) {
        w->nomem = w->stopped = true;
        return;
    }
    w->header_ok = true;
    if (w->desc_off < 1 || w->desc_sectors < 1 || w->desc_sectors > DESC_SECTORS_MAX ||
        w->desc_off > w->overhead || w->desc_sectors > w->overhead - w->desc_off) {
        prob(w, "embedded descriptor (sector %llu, %llu sectors) is not inside the %llu sectors before the "
             "first grain", (unsigned long long)w->desc_off, (unsigned long long)w->desc_sectors,
             (unsigned long long)w->overhead);
        expect(w, w->overhead * OVA_SECTOR - OVA_SECTOR, OVA_SECTOR, ST_RECORD);
        return;
    }
    expect(w, (w->desc_off - 1) * OVA_SECTOR, (size_t)w->desc_sectors * OVA_SECTOR, ST_DESC);
}

static void on_desc(ova_vmdk_walk *w)
{
    ova_descriptor *d = NULL;
    ova_err e;
    ova_err_clear(&e);
    if (ova_descriptor_parse((const char *)w->acc, w->acc_need, w->name, &d, &e) != OVA_OK) {
        /* the parser's message starts with the name we gave it */
        const char *m = e.msg;
        size_t nl = strlen(w->name);
        if (strncmp(m, w->name, nl) == 0 && m[nl] == ':')
            m += nl + 1 + (m[nl + 1] == ' ');
        prob(w, "embedded descriptor: %s", m);
    } else {
        if (d->create_type == NULL || strcasecmp(d->create_type, "streamOptimized") != 0)
            prob(w, "embedded descriptor says createType \"%s\", not streamOptimized",
                 d->create_type ? d->create_type : "");
        /* the stream is its own one extent: a FLAT or other line would make a
         * reader (ovatool's own export too) take the stream's bytes as the
         * disk, or refuse it (found by tests/fuzz/fuzz_vmdk_walk) */
        if (d->n_extents != 1)
            prob(w, "embedded descriptor has %zu extent lines, not the one SPARSE extent of a stream",
                 d->n_extents);
        else if (d->extents[0].type != OVA_EXTENT_SPARSE)
            prob(w, "embedded descriptor's extent is of type %s, not SPARSE",
                 d->extents[0].type_name ? d->extents[0].type_name : "(none)");
        uint64_t sectors = ova_descriptor_sectors(d);
        if (sectors != w->capacity)
            prob(w, "embedded descriptor extents hold %llu sectors, the header capacity is %llu",
                 (unsigned long long)sectors, (unsigned long long)w->capacity);
        ova_descriptor_free(&d);
    }
    expect(w, w->overhead * OVA_SECTOR - w->pos, OVA_SECTOR, ST_RECORD);
}

static void flush_run(ova_vmdk_walk *w)
{
    if (w->run_n == 1)
        prob(w, "grain marker at sector %llu: LBA %llu is not above the previous grain's LBA %llu (grains must "
             "come in strictly increasing order)", (unsigned long long)w->run_first, (unsigned long long)w->run_lba,
             (unsigned long long)w->last_lba);
    else if (w->run_n > 1)
        prob(w, "grain markers at sectors %llu..%llu: %llu LBAs not above the previous grain's LBA %llu (grains "
             "must come in strictly increasing order)", (unsigned long long)w->run_first,
             (unsigned long long)w->run_last, (unsigned long long)w->run_n, (unsigned long long)w->last_lba);
    w->run_n = 0;
}

static void on_grain(ova_vmdk_walk *w, uint64_t s, uint64_t lba, uint32_t csize)
{
    if (w->phase != PH_GRAINS) {
        FATAL(w, "grain marker at sector %llu after the grain directory", (unsigned long long)s);
        return;
    }
    if (csize >= GRAIN_CSIZE_LIMIT) {
        FATAL(w, "grain marker at sector %llu: compressed size %u is not below 128 KiB", (unsigned long long)s,
              csize);
        return;
    }
    uint64_t rec = sectors_for(OVA_GRAIN_MARKER_SIZE + (uint64_t)csize) * OVA_SECTOR;
    if (rec > w->size - s * OVA_SECTOR) {
        FATAL(w, "grain record at sector %llu runs past the end of the disk (truncated)", (unsigned long long)s);
        return;
    }
    w->grains++;
    bool ok = true;
    if (lba % OVA_GRAIN_SECTORS != 0) {
        prob(w, "grain marker at sector %llu: LBA %llu is not a multiple of the grain size (128)",
             (unsigned long long)s, (unsigned long long)lba);
        ok = false;
    } else if (lba >= w->capacity) {
        prob(w, "grain marker at sector %llu: LBA %llu is not below the capacity (%llu sectors)",
             (unsigned long long)s, (unsigned long long)lba, (unsigned long long)w->capacity);
        ok = false;
    } else if (w->any_grain && lba <= w->last_lba) {
        if (w->run_n++ == 0) {
            w->run_first = s;
            w->run_lba = lba;
        }
        w->run_last = s;
        ok = false;
    } else {
        flush_run(w);
    }
    if (s > UINT32_MAX) {
        prob(w, "grain marker at sector %llu is beyond the reach of 32-bit grain-table entries",
             (unsigned long long)s);
        ok = false;
    }
    if (ok) {
        /* only valid LBAs advance the order, so one bad marker gives one problem */
        w->any_grain = true;
        w->last_lba = lba;
        uint64_t gi = lba / OVA_GRAIN_SECTORS, g = gi / OVA_GT_ENTRIES;
        if (w->cur_open && g != w->cur_group) {
            prob(w, "grains of grain-table group %llu are not followed by their grain table",
                 (unsigned long long)w->cur_group);
            w->cur_open = false;
        }
        if (!w->cur_open) {
            if (w->gt_pos[g] != 0)
                prob(w, "grain marker at sector %llu: group %llu already had its grain table",
                     (unsigned long long)s, (unsigned long long)g);
            w->cur_open = true;
            w->cur_group = g;
            memset(w->cur_slot, 0, sizeof w->cur_slot);
        }
        w->cur_slot[gi % OVA_GT_ENTRIES] = (uint32_t)s;
    }
    expect(w, rec - OVA_SECTOR, OVA_SECTOR, ST_RECORD);
}

static void on_record(ova_vmdk_walk *w)
{
    const unsigned char *m = w->acc;
    uint64_t s = w->pos / OVA_SECTOR - 1;
    uint64_t val = ova_get_le64(m);
    uint32_t csize = ova_get_le32(m + 8);
    uint32_t type = ova_get_le32(m + 12);
    if (csize != 0) {
        on_grain(w, s, val, csize);
        return;
    }
    flush_run(w);
    if (!all_zero(m + 16, OVA_SECTOR - 16))
        prob(w, "metadata marker at sector %llu has non-zero bytes after its type field", (unsigned long long)s);
    uint64_t left = w->size - w->pos; /* bytes after the marker */
    switch (type) {
    case OVA_MARKER_GT:
        if (w->phase != PH_GRAINS) {
            FATAL(w, "grain-table marker at sector %llu after the grain directory", (unsigned long long)s);
        } else if (val != 4) {
            FATAL(w, "grain-table marker at sector %llu: val %llu, must be 4 (sectors of the table)",
                  (unsigned long long)s, (unsigned long long)val);
        } else if (left < GT_BYTES) {
            FATAL(w, "grain table at sector %llu runs past the end of the disk (truncated)",
                  (unsigned long long)(s + 1));
        } else {
            expect(w, 0, GT_BYTES, ST_GT);
        }
        return;
    case OVA_MARKER_GD:
        if (w->phase != PH_GRAINS) {
            FATAL(w, "second grain-directory marker at sector %llu", (unsigned long long)s);
            return;
        }
        if (w->cur_open) {
            prob(w, "grains of grain-table group %llu are not followed by their grain table",
                 (unsigned long long)w->cur_group);
            w->cur_open = false;
        }
        if (val != w->gd_sectors) {
            FATAL(w, "grain-directory marker at sector %llu: val %llu, expected %llu sectors for %llu grain "
                  "tables", (unsigned long long)s, (unsigned long long)val, (unsigned long long)w->gd_sectors,
                  (unsigned long long)w->n_gts);
        } else if (left < w->gd_sectors * OVA_SECTOR) {
            FATAL(w, "grain directory at sector %llu runs past the end of the disk (truncated)",
                  (unsigned long long)(s + 1));
        } else {
            w->gd_sector = s + 1;
            w->phase = PH_AFTER_GD;
            expect(w, 0, (size_t)(w->gd_sectors * OVA_SECTOR), ST_GD);
        }
        return;
    case OVA_MARKER_FOOTER:
        if (w->phase != PH_AFTER_GD) {
            FATAL(w, "footer marker at sector %llu %s", (unsigned long long)s,
                  w->phase == PH_GRAINS ? "before the grain directory" : "after the footer");
        } else if (val != 1) {
            FATAL(w, "footer marker at sector %llu: val %llu, must be 1", (unsigned long long)s,
                  (unsigned long long)val);
        } else if (left < OVA_SECTOR) {
            FATAL(w, "footer at sector %llu is missing (truncated)", (unsigned long long)(s + 1));
        } else {
            expect(w, 0, OVA_SECTOR, ST_FOOTER);
        }
        return;
    case OVA_MARKER_EOS:
        if (val != 0) {
            FATAL(w, "end-of-stream marker at sector %llu has val %llu, must be 0", (unsigned long long)s,
                  (unsigned long long)val);
            return;
        }
        if (left != 0) {
            /* a zero sector is an EOS: readers that stream stop here */
            FATAL(w, "end-of-stream marker (zero sector) at sector %llu is not the last sector; %llu bytes follow",
                  (unsigned long long)s, (unsigned long long)left);
            return;
        }
        if (w->phase != PH_AFTER_FOOTER)
            prob(w, "end-of-stream marker at sector %llu without %s before it", (unsigned long long)s,
                 w->phase == PH_GRAINS ? "a grain directory and footer" : "a footer");
        w->phase = PH_AFTER_EOS;
        w->state = ST_DONE;
        return;
    default:
        FATAL(w, "unknown marker type %u at sector %llu", type, (unsigned long long)s);
        return;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void on_gt(ova_vmdk_walk *w)
{
    const unsigned char *gt = w->acc;
    uint64_t block = w->pos / OVA_SECTOR - 4;
    if (block > UINT32_MAX) {
        prob(w, "grain table at sector %llu is beyond the reach of 32-bit directory entries",
             (unsigned long long)block);
    } else if (w->cur_open) {
        unsigned bad = 0, first = 0;
        for (unsigned i = 0; i < OVA_GT_ENTRIES; i++) {
            if (ova_get_le32(gt + 4 * i) != w->cur_slot[i]) {
                if (bad++ == 0)
                    first = i;
            }
        }
        if (bad > 0) {
            uint64_t lba = (w->cur_group * OVA_GT_ENTRIES + first) * OVA_GRAIN_SECTORS;
            uint32_t got = ova_get_le32(gt + 4 * first);
            if (w->cur_slot[first] != 0)
                prob(w, "grain table of group %llu (sector %llu): %u entries disagree with the grain markers; "
                     "entry %u is %u, the grain marker for LBA %llu is at sector %u",
                     (unsigned long long)w->cur_group, (unsigned long long)block, bad, first, got,
                     (unsigned long long)lba, w->cur_slot[first]);
            else
                prob(w, "grain table of group %llu (sector %llu): %u entries disagree with the grain markers; "
                     "entry %u is %u, but no grain marker has LBA %llu",
                     (unsigned long long)w->cur_group, (unsigned long long)block, bad, first, got,
                     (unsigned long long)lba);
        }
        w->gt_pos[w->cur_group] = (uint32_t)block;
        w->cur_open = false;
    } else if (!all_zero(gt, GT_BYTES)) {
        prob(w, "grain table at sector %llu does not follow the grains of its group", (unsigned long long)block);
    } else if (w->n_orphans < w->n_gts) {
        /* an empty table for a group without data: legal, checked against the GD */
        uint32_t *p = ova_grow(w->orphans, &w->cap_orphans, w->n_orphans + 1, sizeof *p);
        if (p == NULL) {
            w->nomem = w->stopped = true;
            return;
        }
        w->orphans = p;
        w->orphans[w->n_orphans++] = (uint32_t)block;
    } else {
        prob(w, "more grain tables than groups (sector %llu)", (unsigned long long)block);
    }
    expect(w, 0, OVA_SECTOR, ST_RECORD);
}

static void on_gd(ova_vmdk_walk *w)
{
    w->gd = malloc((size_t)w->n_gts * sizeof *w->gd);
    if (w->gd == NULL) {
        w->nomem = w->stopped = true;
        return;
    }
    for (uint64_t g = 0; g < w->n_gts; g++)
        w->gd[g] = ova_get_le32(w->acc + 4 * g);
    expect(w, 0, OVA_SECTOR, ST_RECORD);
}

static void on_footer(ova_vmdk_walk *w)
{
    const unsigned char *f = w->acc;
    for (unsigned i = 0; i < OVA_SECTOR; i++) {
        if (i >= 56 && i < 64)
            continue; /* gdOffset: the one field that differs */
        if (f[i] != w->head[i]) {
            prob(w, "footer is not a copy of the header (first difference at byte %u)", i);
            break;
        }
    }
    uint64_t fgd = ova_get_le64(f + 56);
    if (fgd != w->gd_sector)
        prob(w, "footer gdOffset is %llu, the grain directory is at sector %llu", (unsigned long long)fgd,
             (unsigned long long)w->gd_sector);

    /* every GDE points at the table found for its group (or an empty one) */
    if (w->n_orphans > 1)
        qsort(w->orphans, w->n_orphans, sizeof *w->orphans, cmp_u32);
    uint64_t bad = 0, first = 0;
    for (uint64_t g = 0; g < w->n_gts; g++) {
        uint32_t gde = w->gd[g], want = w->gt_pos[g];
        bool ok = want != 0 ? gde == want
                            : gde == 0 || (w->n_orphans > 0 &&
                                           bsearch(&gde, w->orphans, w->n_orphans, sizeof gde, cmp_u32) != NULL);
        if (!ok && bad++ == 0)
            first = g;
    }
    if (bad > 0)
        prob(w, "grain directory: %llu entries disagree with the grain tables found; entry %llu is %u, expected %u",
             (unsigned long long)bad, (unsigned long long)first, w->gd[first], w->gt_pos[first]);
    w->phase = PH_AFTER_FOOTER;
    expect(w, 0, OVA_SECTOR, ST_RECORD);
}

static void dispatch(ova_vmdk_walk *w)
{
    switch (w->state) {
    case ST_HEADER: on_header(w); break;
    case ST_DESC: on_desc(w); break;
    case ST_RECORD: on_record(w); break;
    case ST_GT: on_gt(w); break;
    case ST_GD: on_gd(w); break;
    case ST_FOOTER: on_footer(w); break;
    default: break;
    }
}

void ova_vmdk_walk_feed(ova_vmdk_walk *w, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0 && !w->stopped && w->state != ST_DONE) {
        if (w->skip > 0) {
            size_t take = w->skip < n ? (size_t)w->skip : n;
            w->skip -= take;
            w->pos += take;
            p += take;
            n -= take;
            continue;
        }
        size_t take = w->acc_need - w->acc_len;
        if (take > n)
            take = n;
        memcpy(w->acc + w->acc_len, p, take);
        w->acc_len += take;
        w->pos += take;
        p += take;
        n -= take;
        if (w->acc_len == w->acc_need)
            dispatch(w);
    }
    w->pos += n;
}

ova_status ova_vmdk_walk_finish(ova_vmdk_walk *w, ova_vmdk_facts *facts, ova_err *err)
{
    flush_run(w);
    if (!w->stopped && w->state != ST_DONE) {
        if (w->state == ST_HEADER)
            prob(w, "too short for a VMDK header (%llu bytes)", (unsigned long long)w->size);
        else if (w->skip > 0 || w->acc_len > 0)
            prob(w, "the disk ends inside a record (truncated)");
        else if (w->phase == PH_GRAINS)
            prob(w, "no grain directory, footer or end-of-stream marker (truncated?)");
        else if (w->phase == PH_AFTER_GD)
            prob(w, "no footer after the grain directory (truncated?)");
        else
            prob(w, "no end-of-stream marker: the last sector must be the EOS marker");
    }
    memset(facts, 0, sizeof *facts);
    facts->header_ok = w->header_ok;
    facts->capacity = w->header_ok ? w->capacity : 0;
    facts->sound = w->header_ok && !w->stopped && w->n_probs == 0 && w->phase == PH_AFTER_EOS;
    facts->gd_sector = w->gd_sector;
    facts->n_gds = w->n_gts;
    facts->grains = w->grains;
    if (w->nomem)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory for the grain tables", w->name);
    return OVA_OK;
}
