/* validate_vmdk.c - the streamOptimized VMDK structure check of `ovatool
 * validate`: a push parser that walks header, descriptor, grain markers,
 * grain tables, GD, footer and EOS in one pass (docs/formats.md section 3).
 * Two layouts are read (3.12): VMware's, GD_AT_END in the header with grain
 * tables, GD and footer in markers after the grains; and the one open-vmdk
 * and qemu-img write, the header's gdOffset naming a GD that, with its grain
 * tables, precedes the grains, and no footer. In the second, each table is
 * reduced to a digest of its entries when it streams past, and the grain
 * markers of its group must give the same digest.
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

enum { ST_HEADER, ST_DESC, ST_RECORD, ST_GT, ST_GD, ST_FOOTER, ST_HGD, ST_HGT, ST_TAIL, ST_DONE };
/* gt_pos of a group whose table (header-GD layout) is not compared with its grains */
#define GT_SKIP UINT32_MAX
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

    /* the header-GD layout (gdOffset is not GD_AT_END) */
    bool gd_in_header;
    uint32_t flags;
    uint64_t rgd_offset, hgd;
    bool desc_ok;              /* the descriptor lies where a descriptor may */
    bool desc_pending, gd_pending;
    uint64_t *gt_order;        /* GT sector << 32 | group, sorted: the tables after the GD */
    size_t n_order, next_order;
    uint32_t *gt_sum;          /* per group: digest of its table's entries, 0 once compared */
    uint32_t cur_sum;          /* digest of the current group's grain markers */
    uint64_t last_gt;          /* the table read last, for directory entries that share it */
    uint32_t last_sum;
    bool last_bad;
    uint64_t unchecked;        /* tables before the GD: passed before the walk knew them */
    uint64_t eos_sector, zero_tail;
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
    free(w->gt_order);
    free(w->gt_sum);
    free(w);
    *wp = NULL;
}

/* A 32-bit digest of one grain-table entry (slot, sector); a table's digest
 * is the sum over its non-zero entries, so the grain markers of its group,
 * met later, can be summed the same way and compared. */
static uint32_t gte_digest(uint64_t slot, uint64_t sector)
{
    uint64_t x = (slot << 32 | sector) + 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(x ^ (x >> 31));
}

static void apply_gt(ova_vmdk_walk *w, uint64_t g, uint64_t block, uint32_t sum, bool bad)
{
    if (bad) {
        w->gt_pos[g] = GT_SKIP;
    } else {
        w->gt_pos[g] = (uint32_t)block;
        w->gt_sum[g] = sum;
    }
}

/* What comes next before the first grain: the descriptor, the header's GD
 * and the tables it names, in file order; then the records at overHead. */
static void next_meta(ova_vmdk_walk *w)
{
    uint64_t at = w->pos / OVA_SECTOR;
    for (;;) {
        uint64_t best = UINT64_MAX;
        int what = 0;
        if (w->desc_pending) {
            best = w->desc_off;
            what = 1;
        }
        if (w->gd_pending && w->hgd < best) {
            best = w->hgd;
            what = 2;
        }
        if (!w->gd_pending && w->next_order < w->n_order && (w->gt_order[w->next_order] >> 32) < best) {
            best = w->gt_order[w->next_order] >> 32;
            what = 3;
        }
        if (what == 1) {
            expect(w, (best - at) * OVA_SECTOR, (size_t)w->desc_sectors * OVA_SECTOR, ST_DESC);
            return;
        }
        if (what == 2) {
            w->gd_pending = false;
            expect(w, (best - at) * OVA_SECTOR, (size_t)w->gd_sectors * OVA_SECTOR, ST_HGD);
            return;
        }
        if (what == 3) {
            uint64_t g = w->gt_order[w->next_order] & 0xffffffffu;
            if (w->last_gt != 0 && best == w->last_gt) { /* two entries, one table */
                apply_gt(w, g, best, w->last_sum, w->last_bad);
                w->next_order++;
                continue;
            }
            if (best < at) {
                prob(w, "grain directory entry %llu: the grain table at sector %llu overlaps the one before it",
                     (unsigned long long)g, (unsigned long long)best);
                w->gt_pos[g] = GT_SKIP;
                w->next_order++;
                continue;
            }
            expect(w, (best - at) * OVA_SECTOR, GT_BYTES, ST_HGT);
            return;
        }
        expect(w, w->overhead * OVA_SECTOR - w->pos, OVA_SECTOR, ST_RECORD);
        return;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static bool overlaps(uint64_t a, uint64_t an, uint64_t b, uint64_t bn) { return a < b + bn && b < a + an; }

/* The header's grain directory: every entry names a table before the
 * first grain, clear of the header, descriptor and directory. */
static void on_hgd(ova_vmdk_walk *w)
{
    size_t n = (size_t)w->n_gts;
    w->gd = malloc(n * sizeof *w->gd);
    w->gt_sum = calloc(n, sizeof *w->gt_sum);
    w->gt_order = malloc(n * sizeof *w->gt_order);
    if (w->gd == NULL || w->gt_sum == NULL || w->gt_order == NULL) {
        w->nomem = w->stopped = true;
        return;
    }
    uint64_t file_sectors = w->size / OVA_SECTOR, bad = 0, first = 0;
    const char *first_why = "";
    for (size_t g = 0; g < n; g++) {
        uint32_t gde = ova_get_le32(w->acc + 4 * g);
        w->gd[g] = gde;
        if (gde == 0)
            continue;
        const char *why = NULL;
        if ((uint64_t)gde + 4 > file_sectors)
            why = "past the end of the disk";
        else if ((uint64_t)gde + 4 > w->overhead)
            why = "among the grains";
        else if (overlaps(gde, 4, 0, 1) || (w->desc_ok && overlaps(gde, 4, w->desc_off, w->desc_sectors)) ||
                 overlaps(gde, 4, w->hgd, w->gd_sectors))
            why = "onto the header, the embedded descriptor or the directory itself";
        if (why != NULL) {
            if (bad++ == 0) {
                first = g;
                first_why = why;
            }
            w->gt_pos[g] = GT_SKIP;
        } else if (gde < w->hgd) {
            w->gt_pos[g] = GT_SKIP; /* streamed past already */
            w->unchecked++;
        } else {
            w->gt_order[w->n_order++] = (uint64_t)gde << 32 | g;
        }
    }
    if (bad > 0)
        prob(w, "grain directory (sector %llu): %llu entries do not name a grain table before the first grain "
             "(sector %llu); entry %llu is %u, %s", (unsigned long long)w->hgd, (unsigned long long)bad,
             (unsigned long long)w->overhead, (unsigned long long)first, w->gd[first], first_why);
    if (w->n_order > 1)
        qsort(w->gt_order, w->n_order, sizeof *w->gt_order, cmp_u64);
    next_meta(w);
}

/* One grain table named by the header's GD: entries must point at the
 * grains, and are kept as the digest of the group. */
static void on_hgt(ova_vmdk_walk *w)
{
    uint64_t o = w->gt_order[w->next_order++];
    uint64_t block = o >> 32, g = o & 0xffffffffu, file_sectors = w->size / OVA_SECTOR;
    uint32_t sum = 0;
    unsigned bad = 0, first = 0;
    for (unsigned i = 0; i < OVA_GT_ENTRIES; i++) {
        uint32_t e = ova_get_le32(w->acc + 4 * i);
        if (e == 0)
            continue;
        if (e < w->overhead || e >= file_sectors) {
            if (bad++ == 0)
                first = i;
            continue;
        }
        sum += gte_digest(i, e);
    }
    if (bad > 0)
        prob(w, "grain table of group %llu (sector %llu): %u entries point outside the grains (sectors %llu..%llu); "
             "entry %u is %u", (unsigned long long)g, (unsigned long long)block, bad,
             (unsigned long long)w->overhead, (unsigned long long)(file_sectors - 1), first,
             ova_get_le32(w->acc + 4 * first));
    w->last_gt = block;
    w->last_sum = sum;
    w->last_bad = bad > 0;
    apply_gt(w, g, block, sum, bad > 0);
    next_meta(w);
}

/* The grains of cur_group are all seen: compare them with its table. */
static void close_group(ova_vmdk_walk *w)
{
    uint64_t g = w->cur_group;
    w->cur_open = false;
    if (w->gt_pos[g] == GT_SKIP)
        return;
    if (w->gd[g] == 0)
        prob(w, "grains of grain-table group %llu have no grain table: grain directory entry %llu is 0",
             (unsigned long long)g, (unsigned long long)g);
    else if (w->cur_sum != w->gt_sum[g])
        prob(w, "grain table of group %llu (sector %u) disagrees with the grain markers of its group: an entry "
             "names no grain marker of its LBA, or a grain has no entry (--deep names the grain)",
             (unsigned long long)g, w->gt_pos[g]);
    w->gt_sum[g] = 0;
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
        prob(w, "header version %u, must be 3 (ESXi refuses streams of other versions: glennmatthews/cot#65)",
             f.version);
    if ((f.flags & (OVA_SPARSE_FLAG_COMPRESSED | OVA_SPARSE_FLAG_MARKERS)) !=
        (OVA_SPARSE_FLAG_COMPRESSED | OVA_SPARSE_FLAG_MARKERS))
        prob(w, "header flags 0x%08x lack bit 16 (compressed grains) or bit 17 (markers)", f.flags);
    if (!f.nl_ok)
        prob(w, "header newline-detection bytes are damaged (was the file transferred as text?)");
    if (f.compress != 1)
        prob(w, "header compressAlgorithm %u, must be 1 (deflate)", (unsigned)f.compress);
    w->flags = f.flags;
    w->rgd_offset = f.rgd_offset;
    if ((f.flags & OVA_SPARSE_FLAG_RGD) && f.rgd_offset > w->size / OVA_SECTOR)
        prob(w, "header rgdOffset %llu is past the end of the disk", (unsigned long long)f.rgd_offset);
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
    } else {
        w->desc_ok = w->desc_pending = true;
    }
    if (f.gd_offset != OVA_GD_AT_END) {
        /* open-vmdk's and qemu-img's layout: GD and GTs before the grains, no footer */
        w->gd_in_header = true;
        w->hgd = f.gd_offset;
        if (w->hgd == 0 || w->hgd > w->overhead || w->gd_sectors > w->overhead - w->hgd) {
            FATAL(w, "header gdOffset %llu: a grain directory of %llu sectors there does not end before the first "
                  "grain (overHead %llu); a stream without a footer must have it there",
                  (unsigned long long)w->hgd, (unsigned long long)w->gd_sectors, (unsigned long long)w->overhead);
            return;
        }
        if (w->desc_ok && w->hgd < w->desc_off + w->desc_sectors && w->desc_off < w->hgd + w->gd_sectors) {
            FATAL(w, "header gdOffset %llu: the grain directory overlaps the embedded descriptor (sectors %llu..%llu)",
                  (unsigned long long)w->hgd, (unsigned long long)w->desc_off,
                  (unsigned long long)(w->desc_off + w->desc_sectors - 1));
            return;
        }
        w->gd_pending = true;
    }
    next_meta(w);
}

static void on_desc(ova_vmdk_walk *w)
{
    w->desc_pending = false;
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
        /* a disk in an OVA stands alone: a parent named here would make
         * a reader (ovatool's export and import too) look for another file
         * beside the stream, or refuse it (found by tests/fuzz/fuzz_vmdk_walk) */
        if (ova_descriptor_has_parent(d))
            prob(w, "embedded descriptor names a parent disk (parentCID=%08x%s%s%s); a disk in an OVA must be "
                 "a whole disk, not a snapshot delta",
                 d->parent_cid, d->parent_hint ? ", parentFileNameHint \"" : "", d->parent_hint ? d->parent_hint : "",
                 d->parent_hint ? "\"" : "");
        uint64_t sectors = ova_descriptor_sectors(d);
        if (sectors != w->capacity)
            prob(w, "embedded descriptor extents hold %llu sectors, the header capacity is %llu",
                 (unsigned long long)sectors, (unsigned long long)w->capacity);
        ova_descriptor_free(&d);
    }
    next_meta(w);
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
        if (w->gd_in_header) {
            if (w->cur_open && g != w->cur_group)
                close_group(w);
            if (!w->cur_open) {
                w->cur_open = true;
                w->cur_group = g;
                w->cur_sum = 0;
            }
            w->cur_sum += gte_digest(gi % OVA_GT_ENTRIES, s);
        } else {
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
    if (w->gd_in_header && type != OVA_MARKER_EOS) {
        FATAL(w, "%s marker at sector %llu, but the header already names the grain directory (gdOffset %llu): "
              "tables before the grains and tables in markers after them cannot both count",
              type == OVA_MARKER_GT ? "grain-table" : type == OVA_MARKER_GD ? "grain-directory"
              : type == OVA_MARKER_FOOTER ? "footer" : "an unknown", (unsigned long long)s,
              (unsigned long long)w->hgd);
        return;
    }
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
        w->eos_sector = s;
        if (left != 0 && w->gd_in_header) {
            /* qemu-img's padding: readers find the tables through the
             * header, so zeros here are harmless to them (a risk the
             * driver words); anything else is checked in ST_TAIL */
            w->phase = PH_AFTER_EOS;
            w->state = ST_TAIL;
            return;
        }
        if (left != 0) {
            /* a zero sector is an EOS: readers that stream stop here, and
             * qemu and VirtualBox find the footer counting from the end */
            FATAL(w, "end-of-stream marker (zero sector) at sector %llu is not the last sector; %llu bytes follow",
                  (unsigned long long)s, (unsigned long long)left);
            return;
        }
        if (w->phase != PH_AFTER_FOOTER && !w->gd_in_header)
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
    case ST_HGD: on_hgd(w); break;
    case ST_HGT: on_hgt(w); break;
    default: break;
    }
}

void ova_vmdk_walk_feed(ova_vmdk_walk *w, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0 && !w->stopped && w->state != ST_DONE) {
        if (w->state == ST_TAIL) {
            size_t i = 0;
            while (i < n && p[i] == 0)
                i++;
            w->zero_tail += i;
            w->pos += i;
            p += i;
            n -= i;
            if (n > 0) {
                FATAL(w, "end-of-stream marker at sector %llu is not the last sector: non-zero data at sector %llu "
                      "after it", (unsigned long long)w->eos_sector, (unsigned long long)(w->pos / OVA_SECTOR));
                w->zero_tail = 0;
            }
            continue;
        }
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
    if (w->gd_in_header && w->gd != NULL && !w->stopped) {
        /* the last group, then tables whose grains never came */
        if (w->cur_open)
            close_group(w);
        uint64_t orphan = 0, first = 0;
        for (uint64_t g = 0; g < w->n_gts; g++)
            if (w->gt_pos[g] != GT_SKIP && w->gt_sum[g] != 0 && orphan++ == 0)
                first = g;
        if (orphan > 0)
            prob(w, "%llu grain tables name grains that have no grain marker; the first is group %llu's (sector %u)",
                 (unsigned long long)orphan, (unsigned long long)first, w->gt_pos[first]);
    }
    if (!w->stopped && w->state != ST_DONE && w->state != ST_TAIL) {
        if (w->state == ST_HEADER)
            prob(w, "too short for a VMDK header (%llu bytes)", (unsigned long long)w->size);
        else if (w->skip > 0 || w->acc_len > 0)
            prob(w, "the disk ends inside a record (truncated)");
        else if (w->phase == PH_GRAINS && w->gd_in_header)
            prob(w, "no end-of-stream marker after the last grain: ESXi's OVF deploy rejects such a stream "
                 "(qemu gitlab issue 1357: qemu-img writes none for an empty disk, nor after a last grain that "
                 "does not compress; appending one zero sector fixes it)");
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
    facts->sound = w->header_ok && !w->stopped && w->n_probs == 0 && w->phase == PH_AFTER_EOS && w->unchecked == 0;
    facts->gd_sector = w->gd_in_header ? w->hgd : w->gd_sector;
    facts->n_gds = w->n_gts;
    facts->grains = w->grains;
    facts->gd_in_header = w->gd_in_header;
    facts->flags = w->flags;
    facts->rgd_offset = w->rgd_offset;
    facts->eos_sector = w->eos_sector;
    facts->zero_tail = w->stopped ? 0 : w->zero_tail;
    facts->unchecked_gts = w->unchecked;
    if (w->nomem)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory for the grain tables", w->name);
    return OVA_OK;
}
