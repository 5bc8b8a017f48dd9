/* test_journal.c - the resume journal (engine/journal.h): encoding round
 * trip, refusal of damaged and hostile journals, the dependency check's
 * reasons, the atomic save, and where a resumed plan starts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/journal.h"
#include "engine/plan.h"
#include "engine/resume.h"
#include "format/vmdk_stream.h"

/* A journal of a two-disk export stopped inside disk 2 at grain 1024. */
static ova_journal *sample(void)
{
    ova_journal *j = calloc(1, sizeof *j);
    ova_journal_deps *d = &j->deps;
    d->tool_version = strdup("9.9.9");
    d->codec = 1;
    d->level = 6;
    d->store_incompressible = 1;
    d->sha = 1;
    d->target_hw = 0;
    d->mtime = 1700000000;
    d->n_sources = 3;
    d->sources = calloc(3, sizeof *d->sources);
    const char *names[] = { "/vm/vm.vmx", "/vm/a.vmdk", "/vm/b-flat.vmdk" };
    for (int i = 0; i < 3; i++)
        d->sources[i] = (ova_journal_source){ strdup(names[i]), 1000u * (uint64_t)(i + 1), 1700000000123456789 + i };
    d->n_disks = 2;
    d->capacity = calloc(2, sizeof *d->capacity);
    d->capacity[0] = 100u << 20;
    d->capacity[1] = 200u << 20;
    ova_journal_point *p = &j->pt;
    p->disks = calloc(2, sizeof *p->disks);
    p->disks[0] = (ova_journal_disk){ 3072, 5000 * 512, 1600, 32, { 0 } };
    memset(p->disks[0].digest, 0xab, 32);
    p->disk = 1;
    p->grain = 1024;
    p->disks[1] = (ova_journal_disk){ 3072 + 512 + 5000 * 512, 0, 700, 32, { 0 } };
    memset(p->disks[1].digest, 0xcd, 32);
    p->sector = 9000;
    p->pos = p->disks[1].hdr_off + 512 + p->sector * 512;
    p->n_gd = 2;
    p->gd = calloc(2, sizeof *p->gd);
    p->gd[0] = 4000;
    p->gd[1] = 8000;
    return j;
}

static void encode(const ova_journal *j, ova_buf *b)
{
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_journal_encode(j, b, &err), OVA_OK);
}

/* Put a valid checksum back after editing the body: a hostile journal,
 * not a damaged one. */
static void reseal(ova_buf *b)
{
    unsigned int sl = 0;
    assert_int_equal(EVP_Digest(b->data, b->len - 32, (unsigned char *)b->data + b->len - 32, &sl, EVP_sha256(),
                                NULL),
                     1);
}

static void t_round_trip(void **state)
{
    (void)state;
    ova_journal *j = sample(), *k = NULL;
    ova_buf b = OVA_BUF_INIT, c = OVA_BUF_INIT;
    encode(j, &b);
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_journal_decode(b.data, b.len, "j", &k, &err), OVA_OK);
    encode(k, &c);
    assert_int_equal(b.len, c.len);
    assert_memory_equal(b.data, c.data, b.len);
    assert_int_equal(ova_journal_match(&j->deps, &k->deps, "j", &err), OVA_OK);
    assert_int_equal(k->pt.gd[1], 8000);
    assert_int_equal(k->pt.pos, j->pt.pos);
    ova_journal_free(&j);
    ova_journal_free(&k);
    ova_buf_free(&b);
    ova_buf_free(&c);
}

/* Any flipped byte or cut fails the checksum (or the magic): refused. */
static void t_damaged(void **state)
{
    (void)state;
    ova_journal *j = sample(), *k = NULL;
    ova_buf b = OVA_BUF_INIT;
    encode(j, &b);
    ova_err err;
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x01;
        ova_err_clear(&err);
        assert_int_equal(ova_journal_decode(b.data, b.len, "J", &k, &err), OVA_E_FORMAT);
        assert_null(k);
        assert_non_null(strstr(err.msg, "J: "));
        b.data[i] ^= 0x01;
    }
    for (size_t n = 0; n < b.len; n += 7) {
        ova_err_clear(&err);
        assert_int_equal(ova_journal_decode(b.data, n, "J", &k, &err), OVA_E_FORMAT);
    }
    ova_journal_free(&j);
    ova_buf_free(&b);
}

/* Well sealed but inconsistent: each refused with its reason. */
static void t_hostile_points(void **state)
{
    (void)state;
    ova_err err;
    ova_buf b = OVA_BUF_INIT;
    ova_journal *j, *k = NULL;
#define REFUSED(stmt, text)                                                                                          \
    do {                                                                                                             \
        j = sample();                                                                                                \
        stmt;                                                                                                        \
        encode(j, &b);                                                                                               \
        ova_err_clear(&err);                                                                                         \
        assert_int_equal(ova_journal_decode(b.data, b.len, "J", &k, &err), OVA_E_FORMAT);                            \
        assert_non_null(strstr(err.msg, text));                                                                      \
        ova_journal_free(&j);                                                                                        \
    } while (0)
    REFUSED(j->pt.disk = 3, "beyond the export's disks");
    REFUSED(j->pt.grain = 1000, "not at a grain-table boundary");
    REFUSED(j->pt.grain = 200u << 20, "beyond the end of its disk");
    REFUSED(j->pt.n_gd = 1, "grain directory does not match");
    REFUSED(j->pt.sector = 9001, "VMDK position does not match");
    REFUSED(j->pt.disks[0].size = 1ull << 40, "overlap or lie beyond");
    REFUSED((j->pt.disk = 2, j->pt.grain = 512), "beyond the end of its disk");
#undef REFUSED
    /* counts far beyond the data, resealed */
    j = sample();
    encode(j, &b);
    size_t at = 8 + 4 + 4 + strlen("9.9.9") + 5 * 4 + 8; /* the source count */
    b.data[at + 3] = 0x7f;
    reseal(&b);
    ova_err_clear(&err);
    assert_int_equal(ova_journal_decode(b.data, b.len, "J", &k, &err), OVA_E_FORMAT);
    assert_null(k);
    ova_journal_free(&j);
    ova_buf_free(&b);
}

/* Random edits, resealed: every outcome is a clean success or refusal
 * (run under the sanitizers, any overread shows). */
static void t_fuzz(void **state)
{
    (void)state;
    ova_journal *j = sample(), *k = NULL;
    ova_buf b = OVA_BUF_INIT;
    encode(j, &b);
    unsigned char *orig = malloc(b.len);
    memcpy(orig, b.data, b.len);
    srand(14);
    int refused = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(b.data, orig, b.len);
        int edits = 1 + rand() % 4;
        for (int e = 0; e < edits; e++)
            b.data[8 + (size_t)rand() % (b.len - 40)] = (char)(rand() & 0xff);
        reseal(&b);
        ova_err err;
        ova_err_clear(&err);
        ova_status st = ova_journal_decode(b.data, b.len, "J", &k, &err);
        if (st != OVA_OK) {
            assert_null(k);
            assert_true(err.msg[0] != '\0');
            refused++;
        }
        ova_journal_free(&k);
    }
    assert_true(refused > 0);
    free(orig);
    ova_journal_free(&j);
    ova_buf_free(&b);
}

static void t_match(void **state)
{
    (void)state;
    ova_journal *a = sample(), *b = sample();
    ova_err err;
#define DIFFERS(stmt, text)                                                                                          \
    do {                                                                                                             \
        stmt;                                                                                                        \
        ova_err_clear(&err);                                                                                         \
        assert_int_equal(ova_journal_match(&a->deps, &b->deps, "J", &err), OVA_E_USAGE);                             \
        assert_non_null(strstr(err.msg, text));                                                                      \
        ova_journal_free(&b);                                                                                        \
        b = sample();                                                                                                \
    } while (0)
    DIFFERS(b->deps.sources[2].size = 1, "/vm/b-flat.vmdk changed: 1 bytes, was 3000");
    DIFFERS(b->deps.sources[1].mtime_ns++, "/vm/a.vmdk changed: modified");
    DIFFERS(b->deps.level = 9, "codec libdeflate level 6, now libdeflate level 9");
    DIFFERS(b->deps.store_incompressible = 0, "--compress-all");
    DIFFERS(b->deps.mtime = 5, "tar mtime");
    DIFFERS(b->deps.target_hw = 13, "--target-hw");
    DIFFERS(b->deps.sha = 2, "--sha");
    /* the dropped source's path is freed here: the journal frees n_sources of them */
    DIFFERS((free(b->deps.sources[2].path), b->deps.n_sources = 2), "read 3 files");
    DIFFERS(b->deps.capacity[1]++, "disk 2's capacity");
    DIFFERS((free(b->deps.tool_version), b->deps.tool_version = strdup("1.0")), "ovatool 9.9.9, this is 1.0");
#undef DIFFERS
    ova_journal_free(&a);
    ova_journal_free(&b);
}

static void t_save_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/ova-journal.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], tmp[300];
    snprintf(path, sizeof path, "%s/x.ova.journal", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ova_journal *j = sample(), *k = NULL;
    ova_buf b = OVA_BUF_INIT;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_journal_save(path, j, &b, &err), OVA_OK);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed away */
    j->pt.grain = 1536;
    j->pt.n_gd = 3;
    j->pt.gd = realloc(j->pt.gd, 3 * sizeof *j->pt.gd);
    j->pt.gd[2] = 9000;
    j->pt.sector = 12000;
    j->pt.pos = j->pt.disks[1].hdr_off + 512 + j->pt.sector * 512;
    assert_int_equal(ova_journal_save(path, j, &b, &err), OVA_OK);
    assert_int_equal(ova_journal_load(path, &k, &err), OVA_OK);
    assert_int_equal(k->pt.grain, 1536);
    assert_int_equal(k->pt.gd[2], 9000);
    ova_journal_free(&k);
    /* a missing journal: an I/O error naming it */
    unlink(path);
    ova_err_clear(&err);
    assert_int_equal(ova_journal_load(path, &k, &err), OVA_E_IO);
    assert_non_null(strstr(err.msg, path));
    rmdir(dir);
    ova_journal_free(&j);
    ova_buf_free(&b);
}

/* A durable point (disk, grain) is a unit start in every plan, whatever
 * the unit size: the resumed run may have another number of ranks. */
static void t_unit_at(void **state)
{
    (void)state;
    for (uint32_t ug = 1; ug <= 512; ug *= 2) {
        ova_disk_info **v = calloc(2, sizeof *v);
        for (int i = 0; i < 2; i++) {
            v[i] = calloc(1, sizeof *v[i]);
            v[i]->path = strdup("d.vmdk");
            v[i]->capacity = i == 0 ? (100u << 20) + 4096 : 70u << 20;
            v[i]->extents = calloc(1, sizeof *v[i]->extents);
            v[i]->n_extents = 1;
            v[i]->extents[0].type = OVA_EXTENT_ZERO;
            v[i]->extents[0].size = v[i]->capacity;
        }
        ova_plan *p = NULL;
        ova_err err;
        ova_err_clear(&err);
        assert_int_equal(ova_plan_new(v, 2, ug, &p, &err), OVA_OK);
        for (size_t d = 0; d < 2; d++)
            for (uint64_t g = 0; g < ova_stream_grains(p->disks[d]->capacity); g += 512) {
                uint64_t u = ova_resume_unit_at(p, d, g), first;
                size_t dd;
                uint32_t n;
                ova_plan_unit(p, u, &dd, &first, &n);
                assert_int_equal(dd, d);
                assert_int_equal(first, g);
            }
        assert_int_equal(ova_resume_unit_at(p, 2, 0), ova_plan_units(p));
        assert_int_equal(ova_resume_unit_at(p, 1, 0), p->first_unit[1]);
        ova_plan_free(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_round_trip), cmocka_unit_test(t_damaged), cmocka_unit_test(t_hostile_points),
        cmocka_unit_test(t_fuzz),       cmocka_unit_test(t_match),   cmocka_unit_test(t_save_load),
        cmocka_unit_test(t_unit_at),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
