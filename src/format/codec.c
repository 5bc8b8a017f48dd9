/* codec.c - zlib, libdeflate and (optionally) ISA-L behind one per-grain
 * interface. */
#include "ovatool/codec.h"

#ifdef OVATOOL_HAVE_ISAL
#include <isa-l.h>
#endif

#include <libdeflate.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

struct ova_codec {
    ova_codec_kind kind;
    int level;
    bool store;              /* store-incompressible on (codec.h) */
    z_stream zs;             /* zlib: reused with deflateReset, no per-grain allocation */
    int zs_ready;
    struct libdeflate_compressor *ld;
#ifdef OVATOOL_HAVE_ISAL
    struct isal_zstream iz;
    unsigned char *isal_buf;  /* the level's hash tables, allocated once */
    size_t isal_buf_size;
#endif
};

int ova_codec_available(ova_codec_kind kind)
{
#ifdef OVATOOL_HAVE_ISAL
    return kind <= OVA_CODEC_ISAL;
#else
    return kind <= OVA_CODEC_LIBDEFLATE;
#endif
}

const char *ova_codec_name(ova_codec_kind kind)
{
    switch (kind) {
    case OVA_CODEC_LIBDEFLATE: return "libdeflate";
    case OVA_CODEC_ISAL: return "isal";
    case OVA_CODEC_ZLIB: break;
    }
    return "zlib";
}

int ova_codec_parse(const char *s, ova_codec_kind *kind)
{
    if (strcasecmp(s, "zlib") == 0)
        *kind = OVA_CODEC_ZLIB;
    else if (strcasecmp(s, "libdeflate") == 0)
        *kind = OVA_CODEC_LIBDEFLATE;
    else if (strcasecmp(s, "isal") == 0 || strcasecmp(s, "isa-l") == 0)
        *kind = OVA_CODEC_ISAL;
    else
        return 0;
    return 1;
}

int ova_codec_level_ok(ova_codec_kind kind, int level)
{
    int max = kind == OVA_CODEC_LIBDEFLATE ? 12 : kind == OVA_CODEC_ISAL ? 3 : 9;
    return level >= 1 && level <= max;
}

ova_codec *ova_codec_new(ova_codec_kind kind, int level)
{
    ova_codec *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->kind = kind;
    c->level = level;
    if (!ova_codec_available(kind) || !ova_codec_level_ok(kind, level))
        goto fail;
    if (kind == OVA_CODEC_LIBDEFLATE) {
        c->ld = libdeflate_alloc_compressor(level);
        if (c->ld == NULL)
            goto fail;
    } else if (kind == OVA_CODEC_ISAL) {
#ifdef OVATOOL_HAVE_ISAL
        c->isal_buf_size = level == 1   ? ISAL_DEF_LVL1_DEFAULT
                           : level == 2 ? ISAL_DEF_LVL2_DEFAULT
                                        : ISAL_DEF_LVL3_DEFAULT;
        c->isal_buf = malloc(c->isal_buf_size);
        if (c->isal_buf == NULL)
            goto fail;
#endif
    } else {
        if (deflateInit(&c->zs, level) != Z_OK)
            goto fail;
        c->zs_ready = 1;
    }
    return c;
fail:
    free(c);
    return NULL;
}

void ova_codec_free(ova_codec **pc)
{
    ova_codec *c = *pc;
    if (c == NULL)
        return;
    if (c->zs_ready)
        deflateEnd(&c->zs);
    if (c->ld)
        libdeflate_free_compressor(c->ld);
#ifdef OVATOOL_HAVE_ISAL
    free(c->isal_buf);
#endif
    free(c);
    *pc = NULL;
}

void ova_codec_set_store_incompressible(ova_codec *c, bool on)
{
    c->store = on;
}

/* ---- the detector ---------------------------------------------------------
 *
 * Order-0 entropy of a sample, in integers: with N sample bytes and c_b
 * bytes of value b, H = log2 N - (1/N) sum c_b log2 c_b bits per byte, so
 * H > 8T  <=>  sum c_b log2 c_b < N (log2 N - 8T). The terms come from a
 * table of c log2 c in 16.16 fixed point built once with an integer log2
 * (no libm: the same table, so the same decisions, on every machine). */
#define SAMPLE_N (OVA_STORE_SAMPLE_SLICES * OVA_STORE_SAMPLE_LEN)
#define FIX 16
_Static_assert(OVA_STORE_SAMPLE_LEN % 4 == 0, "the histogram reads 4 bytes at a time");

static uint32_t clog_tab[SAMPLE_N + 1]; /* c * log2(c) * 2^16, rounded down */
static uint64_t lg_n;                   /* log2(SAMPLE_N) * 2^16 */
static uint64_t store_bound;            /* store when sum c log2 c < this (16.16) */
static pthread_once_t clog_once = PTHREAD_ONCE_INIT;

/* log2(x) * 2^32 for x >= 1, by repeated squaring of the mantissa (exact to
 * about 2^-30: 32 fraction bits, truncated at each step) */
static uint64_t log2_q32(uint32_t x)
{
    int k = 31 - __builtin_clz(x);
    uint64_t m = (uint64_t)x << (31 - k); /* x / 2^k in [1, 2) as Q1.31 */
    uint64_t frac = 0;
    for (int i = 1; i <= 32; i++) {
        m = (m * m) >> 31; /* m < 2^32, so m * m < 2^64 */
        if (m >= (1ull << 32)) {
            m >>= 1;
            frac |= 1ull << (32 - i);
        }
    }
    return ((uint64_t)k << 32) | frac;
}

static void clog_init(void)
{
    for (uint32_t c = 1; c <= SAMPLE_N; c++)
        clog_tab[c] = (uint32_t)(((uint64_t)c * log2_q32(c)) >> (32 - FIX));
    lg_n = log2_q32(SAMPLE_N) >> (32 - FIX);
    /* H > 8T  <=>  sum c log2 c < N (log2 N - 8T) */
    store_bound = (uint64_t)SAMPLE_N * lg_n - ((uint64_t)SAMPLE_N * 8 * OVA_STORE_THRESHOLD_PERMILLE << FIX) / 1000;
}

/* sum over the sample's byte values of c log2 c, in 16.16 fixed point.
 * Slice s starts (s * LEN) % step into the s-th step of the grain (a
 * diagonal), so the slices do not all sit at the start of a file system
 * block: slices at block starts miss the zero tails of files and took
 * half-empty grains for random ones (README.md, "Performance"). */
static uint64_t sample_clog(const unsigned char *p, size_t n)
{
    uint32_t h[4][256];
    memset(h, 0, sizeof h);
    size_t step = n / OVA_STORE_SAMPLE_SLICES / OVA_STORE_SAMPLE_LEN * OVA_STORE_SAMPLE_LEN;
    for (size_t s = 0; s < OVA_STORE_SAMPLE_SLICES; s++) {
        const unsigned char *q = p + s * step + (s * OVA_STORE_SAMPLE_LEN) % step;
        for (size_t i = 0; i < OVA_STORE_SAMPLE_LEN; i += 4) {
            h[0][q[i]]++;
            h[1][q[i + 1]]++;
            h[2][q[i + 2]]++;
            h[3][q[i + 3]]++;
        }
    }
    uint64_t sum = 0;
    for (int b = 0; b < 256; b++)
        sum += clog_tab[h[0][b] + h[1][b] + h[2][b] + h[3][b]];
    return sum;
}

unsigned ova_grain_predicted_permille(const void *in, size_t n)
{
    if (n < SAMPLE_N)
        return 0;
    pthread_once(&clog_once, clog_init);
    /* H / 8 = (log2 N - sum / N) / 8 */
    uint64_t per_byte = sample_clog(in, n) / SAMPLE_N; /* 16.16 */
    uint64_t h = lg_n > per_byte ? lg_n - per_byte : 0; /* bits per byte, 16.16 */
    return (unsigned)((h * 1000 / 8) >> FIX);
}

bool ova_grain_incompressible(const void *in, size_t n)
{
    if (n < SAMPLE_N)
        return false;
    pthread_once(&clog_once, clog_init);
    return sample_clog(in, n) < store_bound;
}

/* ---- stored blocks ---------------------------------------------------------- */

#define STORED_MAX 65535u

size_t ova_zlib_store_size(size_t n)
{
    size_t blocks = n == 0 ? 1 : (n + STORED_MAX - 1) / STORED_MAX;
    return 2 + blocks * 5 + n + 4;
}

ova_status ova_zlib_store(const void *in, size_t n, void *out, size_t cap, size_t *out_len)
{
    if (cap < ova_zlib_store_size(n))
        return OVA_E_CODEC;
    unsigned char *o = out;
    const unsigned char *p = in;
    /* CMF 0x78: deflate, 32 KiB window; FLG 0x01: FLEVEL 0 (fastest), no
     * dictionary, and 0x7801 is a multiple of 31 (RFC 1950's FCHECK) */
    o[0] = 0x78;
    o[1] = 0x01;
    size_t at = 2, done = 0;
    do {
        size_t len = n - done > STORED_MAX ? STORED_MAX : n - done;
        o[at] = done + len == n; /* BFINAL on the last block, BTYPE 00 */
        o[at + 1] = (unsigned char)len;
        o[at + 2] = (unsigned char)(len >> 8);
        o[at + 3] = (unsigned char)~len;
        o[at + 4] = (unsigned char)(~len >> 8);
        if (len > 0)
            memcpy(o + at + 5, p + done, len);
        at += 5 + len;
        done += len;
    } while (done < n);
    uint32_t a = libdeflate_adler32(1, in, n);
    o[at] = (unsigned char)(a >> 24);
    o[at + 1] = (unsigned char)(a >> 16);
    o[at + 2] = (unsigned char)(a >> 8);
    o[at + 3] = (unsigned char)a;
    *out_len = at + 4;
    return OVA_OK;
}

ova_status ova_codec_compress(ova_codec *c, const void *in, size_t n, void *out, size_t cap,
                              size_t *out_len)
{
    return ova_codec_compress_grain(c, in, n, out, cap, out_len, NULL);
}

ova_status ova_codec_compress_grain(ova_codec *c, const void *in, size_t n, void *out, size_t cap,
                                    size_t *out_len, bool *stored)
{
    bool store = c->store && ova_grain_incompressible(in, n);
    if (stored != NULL)
        *stored = store;
    if (store)
        return ova_zlib_store(in, n, out, cap, out_len);
    if (c->kind == OVA_CODEC_LIBDEFLATE) {
        size_t r = libdeflate_zlib_compress(c->ld, in, n, out, cap);
        if (r == 0)
            return OVA_E_CODEC;
        *out_len = r;
        return OVA_OK;
    }
#ifdef OVATOOL_HAVE_ISAL
    if (c->kind == OVA_CODEC_ISAL) {
        isal_deflate_stateless_init(&c->iz);
        c->iz.next_in = (uint8_t *)(uintptr_t)in;
        c->iz.avail_in = (uint32_t)n;
        c->iz.next_out = out;
        c->iz.avail_out = (uint32_t)cap;
        c->iz.end_of_stream = 1;
        c->iz.flush = NO_FLUSH;
        c->iz.level = (uint32_t)c->level;
        c->iz.level_buf = c->isal_buf;
        c->iz.level_buf_size = (uint32_t)c->isal_buf_size;
        c->iz.gzip_flag = IGZIP_ZLIB; /* RFC 1950 header and Adler-32 trailer */
        if (isal_deflate_stateless(&c->iz) != COMP_OK)
            return OVA_E_CODEC;
        *out_len = c->iz.total_out;
        return OVA_OK;
    }
#endif
    if (deflateReset(&c->zs) != Z_OK)
        return OVA_E_CODEC;
    c->zs.next_in = (Bytef *)(uintptr_t)in;
    c->zs.avail_in = (uInt)n;
    c->zs.next_out = out;
    c->zs.avail_out = (uInt)cap;
    if (deflate(&c->zs, Z_FINISH) != Z_STREAM_END)
        return OVA_E_CODEC;
    *out_len = cap - c->zs.avail_out;
    return OVA_OK;
}
