/* fuzz_vmdk_walk.c - the streamOptimized VMDK walker of `ovatool validate`
 * (validate.h: ova_vmdk_walk_*), and the deep pass over the grains of a disk
 * the walk found sound (ova_validate_deep_disk).
 *
 * Contracts checked: the walk is a push parser for chunks of any size, so
 * the input fed at once and fed in odd chunks must give the same problems
 * and facts; problem lines hold no control characters; the deep pass finds
 * the same grains and problems whether one rank or two split the work; and
 * a disk `ovatool validate --deep` calls sound must be one ovatool can
 * export again (README: streamOptimized input, "re-exporting a disk taken
 * out of an OVA"): ova_disk_describe accepts it and the reader reads it,
 * saved under the extent name its embedded descriptor gives. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ovatool/descriptor.h"
#include "ovatool/limits.h"
#include "disk/sparse.h"
#include "ovatool/validate.h"

typedef struct walked {
    ova_status st;
    ova_vmdk_facts f;
    ova_vlist probs;
} walked;

/* Chunk sizes cycled through by the chunked feed: around sectors, markers
 * (12 bytes) and grain tables (2 KiB). */
static const size_t chunks[] = { 1, 511, 12, 513, 2048, 3, 4096, 500, 65536, 7 };

static void walk(const uint8_t *data, size_t size, int chunked, walked *out)
{
    memset(out, 0, sizeof *out);
    ova_vmdk_walk *w = NULL;
    ova_err err = { 0 };
    out->st = ova_vmdk_walk_new("fuzz.vmdk", size, &out->probs, &w, &err);
    if (out->st != OVA_OK)
        return;
    size_t at = 0, k = 0;
    while (at < size) {
        size_t n = chunked ? chunks[k++ % (sizeof chunks / sizeof chunks[0])] : size;
        if (n > size - at)
            n = size - at;
        ova_vmdk_walk_feed(w, data + at, n);
        at += n;
    }
    out->st = ova_vmdk_walk_finish(w, &out->f, &err);
    ova_vmdk_walk_free(&w);
}

/* The file name on the one extent line of the embedded descriptor, if it
 * is a plain local name; else 0 (the check is skipped). */
static int extent_name(const uint8_t *data, size_t size, char *name, size_t cap)
{
    int fd = fuzz_memfd(data, size);
    ova_sparse_header h;
    ova_err err = { 0 };
    char *text = NULL;
    size_t len = 0;
    ova_status st = ova_sparse_read_header(fd, "walk", size, &h, &err);
    if (st == OVA_OK && h.desc_offset != 0)
        st = ova_sparse_read_descriptor(fd, "walk", &h, OVA_DESC_MAX_SIZE, &text, &len, &err);
    close(fd);
    int ok = 0;
    ova_descriptor *d = NULL;
    if (st == OVA_OK && text != NULL && ova_descriptor_parse(text, len, "walk", &d, &err) == OVA_OK &&
        d->n_extents == 1 && d->extents[0].file_name != NULL) {
        fuzz_part p[FUZZ_MAX_PARTS];
        const char *fn = d->extents[0].file_name;
        /* fuzz_split accepts exactly the plain names fuzz_write may create */
        if (strlen(fn) < cap && fuzz_split((const uint8_t *)"", 0, fn, p) == 1) {
            strcpy(name, fn);
            ok = 1;
        }
    }
    ova_descriptor_free(&d);
    free(text);
    return ok;
}

/* Sound for the validator, so ovatool must be able to read it as a disk,
 * unless it declines the disk on purpose: a stream whose descriptor marks
 * it encrypted is sound as a stream, and export refuses it by policy. */
static void reexport(const uint8_t *data, size_t size)
{
    char name[FUZZ_NAME_MAX + 1];
    if (!extent_name(data, size, name, sizeof name) || !fuzz_disk_names_local(data, size))
        return; /* a name the scratch folder cannot hold, or a parent hint outside it */
    char *path = fuzz_write(name, data, size);
    char why[OVA_ERR_MAX + 64];
    int r = fuzz_disk_exercise(path, why, sizeof why);
    fuzz_remove(path);
    if (r != FUZZ_DISK_OK && r != FUZZ_DISK_DECLINED)
        fuzz_fail("validate --deep finds this stream sound, but ovatool cannot %s it as a disk: %s",
                  r == FUZZ_DISK_REFUSED ? "describe" : "read", why);
}

static void deep(const uint8_t *data, size_t size, const ova_vmdk_facts *f)
{
    ova_vdisk d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "fuzz.vmdk");
    d.offset = 0;
    d.size = size;
    d.capacity = f->capacity;
    d.gd_sector = f->gd_sector;
    d.n_gds = f->n_gds;
    d.grains = f->grains;
    d.sound = 1;
    int fd = fuzz_memfd(data, size);
    ova_deep_result one = { 0 }, two = { 0 };
    ova_err err = { 0 };
    ova_status s1 = ova_validate_deep_disk(fd, &d, 0, 0, 1, &one, &err);
    ova_status s2 = ova_validate_deep_disk(fd, &d, 0, 0, 2, &two, &err);
    if (s2 == OVA_OK)
        s2 = ova_validate_deep_disk(fd, &d, 0, 1, 2, &two, &err);
    close(fd);
    if (s1 != s2)
        fuzz_fail("deep pass: status %d with one rank, %d with two", (int)s1, (int)s2);
    if (s1 == OVA_OK && (one.count != two.count || one.inflated != two.inflated))
        fuzz_fail("deep pass: one rank found %llu problems in %llu grains, two ranks %llu in %llu",
                  (unsigned long long)one.count, (unsigned long long)one.inflated, (unsigned long long)two.count,
                  (unsigned long long)two.inflated);
    if (s1 == OVA_OK && one.inflated > f->grains)
        fuzz_fail("deep pass inflated %llu grains, the walk found %llu", (unsigned long long)one.inflated,
                  (unsigned long long)f->grains);
    bool clean = s1 == OVA_OK && one.count == 0;
    ova_deep_result_free(&one);
    ova_deep_result_free(&two);
    if (clean)
        reexport(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walked a, b;
    walk(data, size, 0, &a);
    walk(data, size, 1, &b);
    if (a.st != b.st)
        fuzz_fail("walk status %d fed at once, %d fed in chunks", (int)a.st, (int)b.st);
    if (a.st == OVA_OK) {
        if (a.f.header_ok != b.f.header_ok || a.f.capacity != b.f.capacity || a.f.sound != b.f.sound ||
            a.f.gd_sector != b.f.gd_sector || a.f.n_gds != b.f.n_gds || a.f.grains != b.f.grains ||
            a.f.gd_in_header != b.f.gd_in_header || a.f.eos_sector != b.f.eos_sector ||
            a.f.zero_tail != b.f.zero_tail || a.f.unchecked_gts != b.f.unchecked_gts)
            fuzz_fail("walk facts differ fed at once (sound %d, %llu grains) and in chunks (sound %d, %llu grains)",
                      a.f.sound, (unsigned long long)a.f.grains, b.f.sound, (unsigned long long)b.f.grains);
        if (a.probs.count != b.probs.count || a.probs.text.len != b.probs.text.len ||
            (a.probs.text.len > 0 && memcmp(a.probs.text.data, b.probs.text.data, a.probs.text.len) != 0)) {
            fprintf(stderr, "fed at once:\n%.*s\nfed in chunks:\n%.*s\n", (int)a.probs.text.len,
                    a.probs.text.data ? a.probs.text.data : "", (int)b.probs.text.len,
                    b.probs.text.data ? b.probs.text.data : "");
            fuzz_fail("walk problems differ fed at once and fed in chunks (above)");
        }
        fuzz_check_problem_lines(&a.probs);
        if (a.f.sound && a.probs.count != 0)
            fuzz_fail("a sound disk with %llu problems", (unsigned long long)a.probs.count);
        if (a.f.sound)
            deep(data, size, &a.f);
    }
    ova_vlist_free(&a.probs);
    ova_vlist_free(&b.probs);
    return 0;
}
