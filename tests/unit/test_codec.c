/* test_codec.c - storing grains that will not compress (codec.h, issue 15):
 * stored-block streams inflate back with zlib and libdeflate; the decision
 * is a pure function of the bytes (calls, codec objects, threads); grains
 * just below and just above the threshold go the documented way; grains
 * judged compressible get exactly the codec's own bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ovatool/codec.h"
#include "format/vmdk_stream.h"

#define G 65536

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
    rng_state = seed;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rnd() >> 56);
}

/* random bytes, each replaced by a zero with probability zero_per_10000 / 10000 */
static void fill_mix(unsigned char *p, size_t n, unsigned zero_per_10000, uint64_t seed)
{
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        p[i] = (r % 10000) < zero_per_10000 ? 0 : (unsigned char)(r >> 56);
    }
}

static void fill_text(unsigned char *p, size_t n)
{
    static const char line[] = "Dec  1 12:00:00 host sshd[4242]: session opened for user u17 from 10.0.0.1\n";
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)line[i % (sizeof line - 1)];
}

static const ova_codec_kind kinds[] = { OVA_CODEC_ZLIB, OVA_CODEC_LIBDEFLATE, OVA_CODEC_ISAL };
static int level_of(ova_codec_kind k) { return k == OVA_CODEC_ISAL ? 1 : 6; }

/* Both inflaters give back exactly the n input bytes. */
static void assert_inflates_to(const unsigned char *z, size_t zlen, const unsigned char *want, size_t n)
{
    unsigned char *back = malloc(n + 16);
    assert_non_null(back);
    uLongf bl = n + 16;
    assert_int_equal(uncompress(back, &bl, z, zlen), Z_OK);
    assert_true(bl == n);
    assert_memory_equal(back, want, n);

    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    assert_non_null(d);
    size_t got = 0, in_used = 0;
    memset(back, 0xa5, n + 16);
    assert_int_equal(libdeflate_zlib_decompress_ex(d, z, zlen, back, n + 16, &in_used, &got), LIBDEFLATE_SUCCESS);
    assert_true(got == n);
    assert_true(in_used == zlen); /* the stream ends exactly at its Adler-32 */
    assert_memory_equal(back, want, n);
    libdeflate_free_decompressor(d);
    free(back);
}

/* A 64 KiB grain as two stored blocks: the exact layout, and both inflaters read it. */
static void t_store_grain_layout(void **state)
{
    (void)state;
    unsigned char *in = malloc(G), *out = malloc(ova_grain_record_max());
    fill_random(in, G, 1);
    size_t len = 0;
    assert_int_equal(ova_zlib_store(in, G, out, ova_grain_record_max(), &len), OVA_OK);
    assert_int_equal(len, 65552);
    assert_int_equal(ova_zlib_store_size(G), 65552);
    assert_true(len <= ova_grain_record_max() - OVA_GRAIN_MARKER_SIZE);
    assert_int_equal(out[0], 0x78);
    assert_int_equal(out[1], 0x01);
    assert_int_equal((out[0] * 256 + out[1]) % 31, 0); /* RFC 1950 FCHECK */
    /* block 1: not final, stored, 65535 bytes */
    assert_int_equal(out[2], 0x00);
    assert_int_equal(out[3] | out[4] << 8, 65535);
    assert_int_equal(out[5] | out[6] << 8, 0);
    assert_memory_equal(out + 7, in, 65535);
    /* block 2: final, stored, 1 byte */
    unsigned char *b2 = out + 7 + 65535;
    assert_int_equal(b2[0], 0x01);
    assert_int_equal(b2[1] | b2[2] << 8, 1);
    assert_int_equal(b2[3] | b2[4] << 8, 0xfffe);
    assert_int_equal(b2[5], in[65535]);
    /* the Adler-32, big-endian, as zlib computes it */
    uLong a = adler32(adler32(0, NULL, 0), in, G);
    assert_int_equal(b2[6], (a >> 24) & 0xff);
    assert_int_equal(b2[7], (a >> 16) & 0xff);
    assert_int_equal(b2[8], (a >> 8) & 0xff);
    assert_int_equal(b2[9], a & 0xff);
    assert_inflates_to(out, len, in, G);
    free(in);
    free(out);
}

/* Every size the block splitting has an edge at, and too small a buffer. */
static void t_store_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = { 0, 1, 100, 65534, 65535, 65536, 65537, 131070, 131071, 200000 };
    unsigned char *in = malloc(200000), *out = malloc(200100);
    fill_text(in, 200000);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], len = 0;
        size_t blocks = n == 0 ? 1 : (n + 65534) / 65535;
        assert_int_equal(ova_zlib_store_size(n), 2 + 5 * blocks + n + 4);
        assert_int_equal(ova_zlib_store(in, n, out, ova_zlib_store_size(n), &len), OVA_OK);
        assert_int_equal(len, ova_zlib_store_size(n));
        assert_inflates_to(out, len, in, n);
        assert_int_equal(ova_zlib_store(in, n, out, ova_zlib_store_size(n) - 1, &len), OVA_E_CODEC);
    }
    free(in);
    free(out);
}

/* Random grains are stored by every codec, with the same bytes; text and
 * all-zero grains are not; a short input never is. */
static void t_decision_basics(void **state)
{
    (void)state;
    unsigned char *in = malloc(G), *out = malloc(ova_grain_record_max()), *ref = malloc(ova_grain_record_max());
    fill_random(in, G, 2);
    assert_true(ova_grain_incompressible(in, G));
    assert_true(ova_grain_predicted_permille(in, G) > OVA_STORE_THRESHOLD_PERMILLE);
    size_t rlen = 0;
    assert_int_equal(ova_zlib_store(in, G, ref, ova_grain_record_max(), &rlen), OVA_OK);
    for (size_t k = 0; k < 3; k++) {
        if (!ova_codec_available(kinds[k])) {
            OVA_SKIP_PART("%s not built in\n", ova_codec_name(kinds[k]));
            continue;
        }
        ova_codec *c = ova_codec_new(kinds[k], level_of(kinds[k]));
        assert_non_null(c);
        size_t len = 0;
        bool stored = true;
        /* off by default: the codec's own stream */
        assert_int_equal(ova_codec_compress_grain(c, in, G, out, ova_grain_record_max(), &len, &stored), OVA_OK);
        assert_false(stored);
        assert_inflates_to(out, len, in, G);
        ova_codec_set_store_incompressible(c, true);
        assert_int_equal(ova_codec_compress_grain(c, in, G, out, ova_grain_record_max(), &len, &stored), OVA_OK);
        assert_true(stored);
        assert_true(len == rlen);
        assert_memory_equal(out, ref, rlen);
        /* the plain entry point follows the same setting */
        assert_int_equal(ova_codec_compress(c, in, G, out, ova_grain_record_max(), &len), OVA_OK);
        assert_true(len == rlen);
        ova_codec_free(&c);
    }
    fill_text(in, G);
    assert_false(ova_grain_incompressible(in, G));
    memset(in, 0, G);
    assert_false(ova_grain_incompressible(in, G));
    assert_int_equal(ova_grain_predicted_permille(in, G), 0);
    /* fewer bytes than the sample: always through the codec */
    fill_random(in, G, 3);
    size_t small = OVA_STORE_SAMPLE_SLICES * OVA_STORE_SAMPLE_LEN - 4;
    assert_false(ova_grain_incompressible(in, small));
    free(in);
    free(out);
    free(ref);
}

/* Grains judged compressible get exactly the bytes the codec gave them
 * before storing existed (store off). */
static void t_compressible_unchanged(void **state)
{
    (void)state;
    unsigned char *in = malloc(G), *a = malloc(ova_grain_record_max()), *b = malloc(ova_grain_record_max());
    for (int variant = 0; variant < 3; variant++) {
        if (variant == 0)
            fill_text(in, G);
        else if (variant == 1)
            fill_mix(in, G, 3000, 4); /* 30% zeros: compressible */
        else {
            fill_random(in, G, 5); /* half random, half text */
            fill_text(in + G / 2, G / 2);
        }
        assert_false(ova_grain_incompressible(in, G));
        for (size_t k = 0; k < 3; k++) {
            if (!ova_codec_available(kinds[k]))
                continue; /* said in t_decision_basics */
            ova_codec *off = ova_codec_new(kinds[k], level_of(kinds[k]));
            ova_codec *on = ova_codec_new(kinds[k], level_of(kinds[k]));
            ova_codec_set_store_incompressible(on, true);
            size_t la = 0, lb = 0;
            bool stored = true;
            assert_int_equal(ova_codec_compress(off, in, G, a, ova_grain_record_max(), &la), OVA_OK);
            assert_int_equal(ova_codec_compress_grain(on, in, G, b, ova_grain_record_max(), &lb, &stored), OVA_OK);
            assert_false(stored);
            assert_true(la == lb);
            assert_memory_equal(a, b, la);
            assert_true(la < G);
            ova_codec_free(&off);
            ova_codec_free(&on);
        }
    }
    free(in);
    free(a);
    free(b);
}

/* Just below and just above the threshold: grains of random bytes with a
 * growing share of zeros, whose predicted size falls through the threshold.
 * Predicted above OVA_STORE_THRESHOLD_PERMILLE: stored; at or below it
 * (by a whole permille): compressed. */
static void t_threshold(void **state)
{
    (void)state;
    unsigned char *in = malloc(G), *out = malloc(ova_grain_record_max());
    const unsigned T = OVA_STORE_THRESHOLD_PERMILLE;
    unsigned below = 0, above = 1000, z_below = 0, z_above = 0;
    ova_codec *c = ova_codec_new(OVA_CODEC_LIBDEFLATE, 6);
    ova_codec_set_store_incompressible(c, true);
    for (unsigned z = 0; z <= 1500; z += 5) { /* 0% to 15% zeros */
        fill_mix(in, G, z, 100 + z);
        unsigned p = ova_grain_predicted_permille(in, G);
        bool inc = ova_grain_incompressible(in, G);
        if (p > T)
            assert_true(inc);
        if (p < T)
            assert_false(inc);
        size_t len = 0;
        bool stored = !inc;
        assert_int_equal(ova_codec_compress_grain(c, in, G, out, ova_grain_record_max(), &len, &stored), OVA_OK);
        assert_true(stored == inc);
        if (stored)
            assert_int_equal(len, 65552);
        else
            assert_true(len < 65552); /* below the line, the codec still wins a little */
        assert_inflates_to(out, len, in, G);
        if (p < T && p > below) {
            below = p;
            z_below = z;
        }
        if (p > T && p < above) {
            above = p;
            z_above = z;
        }
    }
    /* the sweep got close on both sides */
    assert_true(below >= T - 3);
    assert_true(above <= T + 3);
    print_message("threshold %u permille: stored at %u (%u/10000 zeros), compressed at %u (%u/10000 zeros)\n", T,
                  above, z_above, below, z_below);
    ova_codec_free(&c);
    free(in);
    free(out);
}

/* Only the documented sample decides: slice s of 128 bytes at
 * s * 2048 + (s * 128) % 2048. Random bytes everywhere but there: not
 * stored; zeros everywhere but there: stored (the known blind spot of a
 * sample, and the proof that nothing else is read). */
static void t_sample_layout(void **state)
{
    (void)state;
    unsigned char *in = malloc(G), *mask = calloc(G, 1);
    for (size_t s = 0; s < OVA_STORE_SAMPLE_SLICES; s++)
        memset(mask + s * 2048 + (s * 128) % 2048, 1, OVA_STORE_SAMPLE_LEN);
    assert_int_equal(OVA_STORE_SAMPLE_SLICES * OVA_STORE_SAMPLE_LEN, 4096);
    fill_random(in, G, 7);
    for (size_t i = 0; i < G; i++)
        if (mask[i])
            in[i] = 0;
    assert_false(ova_grain_incompressible(in, G));
    assert_int_equal(ova_grain_predicted_permille(in, G), 0);
    fill_random(in, G, 8);
    for (size_t i = 0; i < G; i++)
        if (!mask[i])
            in[i] = 0;
    assert_true(ova_grain_incompressible(in, G));
    free(in);
    free(mask);
}

/* ---- purity: the same answer on every thread -------------------------------- */

#define N_GRAINS 64
static unsigned char *g_grains;

static void make_grains(void)
{
    g_grains = malloc((size_t)N_GRAINS * G);
    assert_non_null(g_grains);
    for (int i = 0; i < N_GRAINS; i++) {
        unsigned char *p = g_grains + (size_t)i * G;
        switch (i % 4) {
        case 0: fill_random(p, G, 1000 + (uint64_t)i); break;
        case 1: fill_mix(p, G, (unsigned)(i * 20), 2000 + (uint64_t)i); break; /* around the threshold */
        case 2: fill_text(p, G); p[i] = 'x'; break;
        default:
            fill_random(p, G, 3000 + (uint64_t)i);
            memset(p + (size_t)(i % 7) * 8192, 0, 8192);
            break;
        }
    }
}

typedef struct answers {
    int kind;
    unsigned char inc[N_GRAINS];
    size_t len[N_GRAINS];
    uint32_t crc[N_GRAINS];
} answers;

static void *decide_all(void *p)
{
    answers *a = p;
    ova_codec *c = ova_codec_new(kinds[a->kind], level_of(kinds[a->kind]));
    ova_codec_set_store_incompressible(c, true);
    unsigned char *out = malloc(ova_grain_record_max());
    for (int r = 0; r < 3; r++) {
        for (int i = N_GRAINS - 1; i >= 0; i--) { /* another order than the main thread */
            const unsigned char *g = g_grains + (size_t)i * G;
            bool stored = false;
            size_t len = 0;
            if (ova_codec_compress_grain(c, g, G, out, ova_grain_record_max(), &len, &stored) != OVA_OK)
                len = 0;
            a->inc[i] = (unsigned char)(ova_grain_incompressible(g, G) * 2 + stored);
            a->len[i] = len;
            a->crc[i] = (uint32_t)crc32(0, out, (uInt)len);
        }
    }
    free(out);
    ova_codec_free(&c);
    return NULL;
}

static void t_decision_is_pure(void **state)
{
    (void)state;
    make_grains();
    int n_stored = 0, n_kept = 0;
    bool first[N_GRAINS];
    for (int i = 0; i < N_GRAINS; i++) {
        first[i] = ova_grain_incompressible(g_grains + (size_t)i * G, G);
        n_stored += first[i];
        n_kept += !first[i];
        for (int r = 0; r < 5; r++)
            assert_true(ova_grain_incompressible(g_grains + (size_t)i * G, G) == first[i]);
    }
    assert_true(n_stored > 0 && n_kept > 0);
    /* 4 threads per codec, each with its own codec object */
    answers res[12];
    pthread_t t[12];
    int nt = 0;
    for (int k = 0; k < 3; k++) {
        if (!ova_codec_available(kinds[k]))
            continue;
        for (int j = 0; j < 4; j++, nt++) {
            memset(&res[nt], 0, sizeof res[nt]);
            res[nt].kind = k;
            assert_int_equal(pthread_create(&t[nt], NULL, decide_all, &res[nt]), 0);
        }
    }
    for (int j = 0; j < nt; j++)
        assert_int_equal(pthread_join(t[j], NULL), 0);
    for (int j = 0; j < nt; j++) {
        for (int i = 0; i < N_GRAINS; i++) {
            assert_int_equal(res[j].inc[i], first[i] ? 3 : 0); /* decided and stored alike */
            /* the same codec gives the same bytes on every thread */
            const answers *ref = &res[j - j % 4];
            assert_true(res[j].len[i] == ref->len[i] && res[j].crc[i] == ref->crc[i]);
            /* a stored grain is the same stream whatever the codec */
            if (first[i])
                assert_true(res[j].len[i] == 65552 && res[j].crc[i] == res[0].crc[i]);
        }
    }
    free(g_grains);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_store_grain_layout), cmocka_unit_test(t_store_sizes),
        cmocka_unit_test(t_decision_basics),   cmocka_unit_test(t_compressible_unchanged),
        cmocka_unit_test(t_threshold),         cmocka_unit_test(t_sample_layout),
        cmocka_unit_test(t_decision_is_pure),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
