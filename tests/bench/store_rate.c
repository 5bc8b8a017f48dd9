/* store_rate.c - how well, and at what cost, a cheap test tells the grains
 * that will not compress from those that will (issue 15).
 *
 *   store_rate candidates IMAGE SAMPLE_MIB [CANDIDATE...]
 *
 * Loads a stride sample of the image's non-zero 64 KiB grains (as
 * codec_rate does, at most SAMPLE_MIB) and up to 2048 grains of
 * pseudo-random bytes (an encrypted guest). The truth for each grain is
 * libdeflate level 6's size (the balanced preset) and the time it took.
 * Then every candidate predictor runs over every grain, timed (the fastest
 * of three passes), and for each threshold t ("store when the predicted
 * size is above t of the grain") prints one key=value line:
 *   cand thr us_per_grain random_us_per_grain stored_pct false_store(_pct)
 *   missed(_pct) out_delta_pct saved_pct random_stored_pct
 * false_store: stored although libdeflate 6 made it smaller than 97%;
 * missed: compressed although it ended above 97%; out_delta_pct: bytes of
 * the sampled grains' records (marker + stream, padded to 512 bytes, as in
 * the VMDK) against compressing every one; saved_pct: the
 * share of the codec's time no longer spent, net of the predictor's cost
 * and the stored grains' copy and Adler-32 (store_us_per_grain). Two
 * "truth" lines first: how the sample splits at 97%.
 *
 * A candidate is KIND:KxL[d]: K slices of L bytes, one at the start of each
 * K-th of the grain, or with d on a diagonal (slice s starts (s * L) % step
 * into its step); KIND is
 *   h0   order-0 (Shannon) entropy of the sample's bytes / 8
 *   h2   collision (Renyi order-2) entropy, unbiased pair count / 8
 *   ld1  libdeflate level 1 of the sample's bytes, size / sample size
 * or A@T+B: B, only where A predicts above T (two stages). Without
 * CANDIDATEs, the list measured for issue 15 (default_cands below). The
 * entropies here use double log2(): fine for measuring; the shipped
 * detector (codec.c) decides with integers only.
 *
 *   store_rate detector IMAGE CODEC LEVEL [SAMPLE_MIB]
 *
 * The shipped detector (ova_grain_incompressible) against CODEC LEVEL on
 * the same kind of sample (default 256 MiB), one key=value line for
 * bench.sh: its cost per grain, the storing's and the codec's, how many
 * grains it stores, its two error rates (as above, against this codec),
 * and the output and codec-time deltas against compressing every grain. */
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovatool/codec.h"
#include "engine/unit.h"
#include "format/vmdk_stream.h"

#define G OVA_GRAIN_SIZE
#define TRUTH_LIMIT 0.97 /* the line: a grain that ends above 97% bought nothing */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long number(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "store_rate: %s must be a number from %ld to %ld, not '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

static void *xalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (p == NULL) {
        fprintf(stderr, "store_rate: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* Every stride-th non-zero grain of the image, at most want of them
 * (codec_rate.c's sampling; see there). */
static unsigned char *load_sample(const char *path, size_t sample_bytes, size_t *count)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        perror(path);
        exit(1);
    }
    size_t total = (size_t)sb.st_size / G;
    unsigned char *g = xalloc(G);
    size_t nonzero = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t want = sample_bytes / G;
        size_t stride = nonzero > want ? (nonzero + want - 1) / want : 1;
        size_t cap = pass ? (nonzero + stride - 1) / stride : 0;
        unsigned char *grains = pass ? xalloc(cap * G) : NULL;
        size_t n = 0, k = 0;
        for (size_t i = 0; i < total && (pass == 0 || n < cap); i++) {
            if (pread(fd, g, G, (off_t)(i * G)) != (ssize_t)G) {
                fprintf(stderr, "store_rate: %s: cannot read grain %zu\n", path, i);
                exit(1);
            }
            if (ova_is_zero(g, G))
                continue;
            if (pass == 0)
                nonzero++;
            else if (k++ % stride == 0)
                memcpy(grains + n++ * G, g, G);
        }
        if (pass == 0 && nonzero == 0) {
            fprintf(stderr, "store_rate: %s has no non-zero grain\n", path);
            exit(1);
        }
        if (pass == 1) {
            close(fd);
            free(g);
            *count = n;
            return grains;
        }
    }
    return NULL;
}

/* splitmix64: the same pseudo-random grains on every run */
static void random_grains(unsigned char *p, size_t n)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(p + i, &z, 8);
    }
}

/* ---- candidates ---------------------------------------------------------- */

typedef struct cand {
    char name[64];
    int kind;  /* 0 h0, 1 h2, 2 ld1 */
    int k, l;  /* k slices of l bytes */
    int diag;  /* slice s starts (s * l) % step into its step, not at its start */
    const struct cand *first; /* a two-stage candidate: this one only where first > first_thr */
    double first_thr;
} cand;

static struct libdeflate_compressor *g_ld1;

static size_t slice_at(const cand *c, int s)
{
    size_t step = G / (size_t)c->k;
    return (size_t)s * step + (c->diag ? ((size_t)s * (size_t)c->l) % step : 0);
}

static void hist(const cand *c, const unsigned char *gp, uint32_t h[256])
{
    uint32_t h4[4][256];
    memset(h4, 0, sizeof h4);
    for (int s = 0; s < c->k; s++) {
        const unsigned char *p = gp + slice_at(c, s);
        for (int i = 0; i + 4 <= c->l; i += 4) {
            h4[0][p[i]]++;
            h4[1][p[i + 1]]++;
            h4[2][p[i + 2]]++;
            h4[3][p[i + 3]]++;
        }
    }
    for (int b = 0; b < 256; b++)
        h[b] = h4[0][b] + h4[1][b] + h4[2][b] + h4[3][b];
}

static double predict(const cand *c, const unsigned char *gp, unsigned char *scratch, unsigned char *out)
{
    if (c->first != NULL) {
        double f = predict(c->first, gp, scratch, out);
        if (f <= c->first_thr)
            return f;
    }
    double n = (double)c->k * c->l;
    if (c->kind == 2) {
        const unsigned char *src = gp;
        if (c->k > 1) {
            for (int s = 0; s < c->k; s++)
                memcpy(scratch + (size_t)s * c->l, gp + slice_at(c, s), (size_t)c->l);
            src = scratch;
        }
        size_t r = libdeflate_deflate_compress(g_ld1, src, (size_t)(c->k * c->l), out, G + 1024);
        return r == 0 ? 1.01 : (double)r / n;
    }
    uint32_t h[256];
    hist(c, gp, h);
    if (c->kind == 0) {
        double e = 0;
        for (int b = 0; b < 256; b++)
            if (h[b])
                e -= h[b] * log2(h[b] / n);
        return e / n / 8;
    }
    double pairs = 0;
    for (int b = 0; b < 256; b++)
        pairs += (double)h[b] * (h[b] - 1);
    double p = pairs / (n * (n - 1));
    return p > 0 ? -log2(p) / 8 : 1.0;
}

/* "h0:32x128", "h2:16x256d" (d: diagonal slices), "ld1:32x256d"; and
 * "A@T+B": B only where A predicts above T. 0 if malformed. */
static int parse_cand(const char *spec, cand *c, cand *first)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", spec);
    const char *plus = strchr(spec, '+');
    if (plus != NULL) {
        char a[64];
        const char *at = strchr(spec, '@');
        if (at == NULL || at > plus || (size_t)(at - spec) >= sizeof a)
            return 0;
        memcpy(a, spec, (size_t)(at - spec));
        a[at - spec] = '\0';
        cand dummy;
        if (!parse_cand(a, first, &dummy) || first->first != NULL)
            return 0;
        c->first = first;
        c->first_thr = atof(at + 1);
        spec = plus + 1;
    }
    char kind[8], d = 0;
    int n = sscanf(spec, "%7[^:]:%dx%d%c", kind, &c->k, &c->l, &d);
    if (n < 3 || c->k < 1 || c->l < 4 || c->l % 4 || (size_t)c->k * (size_t)c->l > G || G % c->k ||
        (G / c->k) % c->l)
        return 0;
    c->diag = d == 'd';
    c->kind = strcmp(kind, "h0") == 0 ? 0 : strcmp(kind, "h2") == 0 ? 1 : strcmp(kind, "ld1") == 0 ? 2 : -1;
    return c->kind >= 0;
}

/* bytes a stream of len bytes takes in the VMDK: marker + stream, padded to a sector */
static size_t record_size(size_t len)
{
    return (OVA_GRAIN_MARKER_SIZE + len + OVA_SECTOR - 1) / OVA_SECTOR * OVA_SECTOR;
}

typedef struct truth {
    size_t size;   /* the codec's stream size */
    size_t rec;    /* its grain record's size (record_size) */
    double secs;   /* the codec's time for this grain */
} truth;

static void compute_truth(const unsigned char *grains, size_t n, ova_codec_kind kind, int level, truth *t)
{
    ova_codec *c = ova_codec_new(kind, level);
    unsigned char *out = xalloc(ova_grain_record_max());
    if (c == NULL) {
        fprintf(stderr, "store_rate: cannot make the codec\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        double t0 = now();
        size_t len = 0;
        if (ova_codec_compress(c, grains + i * G, G, out, ova_grain_record_max(), &len) != OVA_OK) {
            fprintf(stderr, "store_rate: compression failed\n");
            exit(1);
        }
        t[i].secs = now() - t0;
        t[i].size = len;
        t[i].rec = record_size(len);
    }
    free(out);
    ova_codec_free(&c);
}

/* a zlib stream of stored blocks: header, two blocks, Adler-32 (the cost of storing) */
static size_t store_grain(const unsigned char *in, unsigned char *out)
{
    out[0] = 0x78;
    out[1] = 0x01;
    size_t o = 2, done = 0;
    while (done < G) {
        size_t len = G - done > 65535 ? 65535 : G - done;
        out[o] = done + len == G;
        out[o + 1] = (unsigned char)len;
        out[o + 2] = (unsigned char)(len >> 8);
        out[o + 3] = (unsigned char)~len;
        out[o + 4] = (unsigned char)(~len >> 8);
        memcpy(out + o + 5, in + done, len);
        o += 5 + len;
        done += len;
    }
    uint32_t a = libdeflate_adler32(1, in, G);
    out[o] = (unsigned char)(a >> 24);
    out[o + 1] = (unsigned char)(a >> 16);
    out[o + 2] = (unsigned char)(a >> 8);
    out[o + 3] = (unsigned char)a;
    return o + 4;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* what was measured for issue 15 (README.md, "Performance") */
static const char *const default_cands[] = {
    "h0:1x4096",   "h0:16x256",  "h0:16x256d", "h0:32x128",  "h0:32x128d", "h0:32x256",   "h0:64x128",
    "h0:1x65536",  "h2:1x4096",  "h2:16x256",  "h2:32x128d", "h2:32x256",  "h2:1x65536",  "ld1:1x4096",
    "ld1:16x256",  "ld1:16x256d", "ld1:32x128d", "ld1:32x256", "ld1:32x256d", "ld1:1x65536",
    "h0:32x128d@0.95+ld1:32x256d", "h0:32x128d@0.97+ld1:32x256d", "h0:32x128d@0.95+ld1:16x256d",
    NULL
};

static int candidates(const char *image, size_t sample_bytes, const char *const *specs)
{
    for (size_t ci = 0; specs[ci] != NULL; ci++) { /* every one sound before anything is measured */
        cand c, first;
        if (!parse_cand(specs[ci], &c, &first)) {
            fprintf(stderr, "store_rate: bad candidate '%s' (KIND:KxL[d] or A@T+B; see store_rate.c)\n", specs[ci]);
            return 2;
        }
    }
    size_t n = 0;
    unsigned char *img = load_sample(image, sample_bytes, &n);
    size_t nr = n < 2048 ? n : 2048; /* 128 MiB of random grains at most: random data is uniform */
    unsigned char *rnd = xalloc(nr * G);
    random_grains(rnd, nr * G);
    truth *t = calloc(n, sizeof *t);
    double *pred = calloc(n, sizeof *pred), *rpred = calloc(nr, sizeof *rpred);
    unsigned char *scratch = xalloc(G), *out = xalloc(G + 1024);
    g_ld1 = libdeflate_alloc_compressor(1);
    if (t == NULL || pred == NULL || rpred == NULL || g_ld1 == NULL) {
        fprintf(stderr, "store_rate: out of memory\n");
        exit(1);
    }
    compute_truth(img, n, OVA_CODEC_LIBDEFLATE, 6, t);

    /* the truth: how the sample splits at 97% */
    double all_secs = 0, all_out = 0, hi_out = 0, hi_secs = 0;
    size_t hi = 0;
    double *ratios = calloc(n, sizeof *ratios);
    for (size_t i = 0; i < n; i++) {
        double r = (double)t[i].size / G;
        ratios[i] = r;
        all_secs += t[i].secs;
        all_out += (double)t[i].rec;
        if (r > TRUTH_LIMIT) {
            hi++;
            hi_out += (double)t[i].rec;
            hi_secs += t[i].secs;
        }
    }
    qsort(ratios, n, sizeof *ratios, cmp_double);
    /* storing cost per grain: copy + Adler-32; the fastest of three passes */
    double store_us = 1e30;
    size_t stored_size = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        size_t sink = 0;
        for (size_t i = 0; i < n; i++)
            sink += store_grain(img + i * G, out);
        double us = (now() - t0) / (double)n * 1e6;
        store_us = us < store_us ? us : store_us;
        stored_size = sink / n;
    }
    printf("truth grains=%zu random_grains=%zu ld6_us_per_grain=%.1f above97=%zu above97_pct=%.1f "
           "above97_out_pct=%.1f above97_time_pct=%.1f store_us_per_grain=%.2f stored_size=%zu "
           "ratio_p10=%.3f ratio_p50=%.3f ratio_p70=%.3f ratio_p90=%.3f\n",
           n, nr, all_secs / (double)n * 1e6, hi, 100.0 * (double)hi / (double)n, 100 * hi_out / all_out,
           100 * hi_secs / all_secs, store_us, stored_size, ratios[n / 10], ratios[n / 2], ratios[n * 7 / 10],
           ratios[n * 9 / 10]);
    /* how the above-97% grains' sizes are spread: storing them costs (stored - size) */
    double extra_hi = 0;
    for (size_t i = 0; i < n; i++)
        if ((double)t[i].size / G > TRUTH_LIMIT)
            extra_hi += (double)record_size(stored_size) - (double)t[i].rec;
    printf("truth store_every_above97_out_delta_pct=%.3f\n", 100 * extra_hi / all_out);
    free(ratios);

    static const double thr[] = { 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995 };
    for (size_t ci = 0; specs[ci] != NULL; ci++) {
        cand c, first;
        parse_cand(specs[ci], &c, &first); /* checked above */
        /* three timed passes, the fastest counts (the machine is shared) */
        double best = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double a = now();
            for (size_t i = 0; i < n; i++)
                pred[i] = predict(&c, img + i * G, scratch, out);
            double b = now() - a;
            if (b < best)
                best = b;
        }
        double us = best / (double)n * 1e6;
        double rbest = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double a = now();
            for (size_t i = 0; i < nr; i++)
                rpred[i] = predict(&c, rnd + i * G, scratch, out);
            double b = now() - a;
            if (b < rbest)
                rbest = b;
        }
        for (size_t ti = 0; ti < sizeof thr / sizeof thr[0]; ti++) {
            size_t stored = 0, fs = 0, missed = 0, rstored = 0;
            double out_bytes = 0, secs = 0;
            for (size_t i = 0; i < n; i++) {
                int st = pred[i] > thr[ti];
                int big = (double)t[i].size / G > TRUTH_LIMIT;
                stored += st;
                fs += st && !big;
                missed += !st && big;
                out_bytes += st ? (double)record_size(stored_size) : (double)t[i].rec;
                secs += st ? store_us / 1e6 : t[i].secs;
            }
            secs += best;
            for (size_t i = 0; i < nr; i++)
                rstored += rpred[i] > thr[ti];
            printf("cand=%s thr=%.3f us_per_grain=%.2f random_us_per_grain=%.2f stored_pct=%.1f false_store=%zu "
                   "false_store_pct=%.2f missed=%zu missed_pct=%.2f out_delta_pct=%.3f saved_pct=%.1f "
                   "random_stored_pct=%.1f\n",
                   c.name, thr[ti], us, rbest / (double)nr * 1e6, 100.0 * (double)stored / (double)n, fs,
                   100.0 * (double)fs / (double)n, missed, 100.0 * (double)missed / (double)n,
                   100 * (out_bytes - all_out) / all_out, 100 * (all_secs - secs) / all_secs,
                   100.0 * (double)rstored / (double)nr);
        }
        fflush(stdout);
    }
    libdeflate_free_compressor(g_ld1);
    free(img);
    free(rnd);
    free(t);
    free(pred);
    free(rpred);
    free(scratch);
    free(out);
    return 0;
}

/* The shipped detector against one codec and level. */
static int detector(const char *image, const char *codec, int level, size_t sample_bytes)
{
    ova_codec_kind kind;
    if (!ova_codec_parse(codec, &kind) || !ova_codec_available(kind)) {
        fprintf(stderr, "store_rate: codec %s not available\n", codec);
        return 2;
    }
    if (!ova_codec_level_ok(kind, level)) {
        fprintf(stderr, "store_rate: level %d is not valid for %s\n", level, ova_codec_name(kind));
        return 2;
    }
    size_t n = 0;
    unsigned char *img = load_sample(image, sample_bytes, &n);
    truth *t = calloc(n, sizeof *t);
    unsigned char *dec = calloc(n, 1), *out = xalloc(ova_grain_record_max());
    if (t == NULL || dec == NULL) {
        fprintf(stderr, "store_rate: out of memory\n");
        exit(1);
    }
    compute_truth(img, n, kind, level, t);
    /* the detector and the storing, each the fastest of three passes (the machine is shared) */
    double det = 1e30, sto = 1e30;
    size_t stored_size = ova_zlib_store_size(G);
    for (int rep = 0; rep < 3; rep++) {
        double a = now();
        for (size_t i = 0; i < n; i++)
            dec[i] = ova_grain_incompressible(img + i * G, G);
        double b = now();
        for (size_t i = 0; i < n; i++) {
            size_t len = 0;
            if (ova_zlib_store(img + i * G, G, out, ova_grain_record_max(), &len) != OVA_OK || len != stored_size) {
                fprintf(stderr, "store_rate: storing failed\n");
                exit(1);
            }
        }
        double c = now();
        det = b - a < det ? b - a : det;
        sto = c - b < sto ? c - b : sto;
    }
    size_t stored = 0, fs = 0, missed = 0, above = 0;
    double codec_secs = 0, codec_out = 0, on_secs = det, on_out = 0;
    for (size_t i = 0; i < n; i++) {
        int big = (double)t[i].size / G > TRUTH_LIMIT;
        above += big;
        stored += dec[i];
        fs += dec[i] && !big;
        missed += !dec[i] && big;
        codec_secs += t[i].secs;
        codec_out += (double)t[i].rec;
        on_secs += dec[i] ? sto / (double)n : t[i].secs;
        on_out += dec[i] ? (double)record_size(stored_size) : (double)t[i].rec;
    }
    printf("codec=%s level=%d sample_grains=%zu above97=%zu above97_pct=%.2f stored=%zu stored_pct=%.2f "
           "false_store=%zu false_store_pct=%.3f missed=%zu missed_pct=%.3f detector_us_per_grain=%.2f "
           "store_us_per_grain=%.2f codec_us_per_grain=%.1f out_delta_pct=%.3f codec_time_saved_pct=%.1f\n",
           ova_codec_name(kind), level, n, above, 100.0 * (double)above / (double)n, stored,
           100.0 * (double)stored / (double)n, fs, 100.0 * (double)fs / (double)n, missed,
           100.0 * (double)missed / (double)n, det / (double)n * 1e6, sto / (double)n * 1e6,
           codec_secs / (double)n * 1e6, 100 * (on_out - codec_out) / codec_out,
           100 * (codec_secs - on_secs) / codec_secs);
    free(img);
    free(t);
    free(dec);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "candidates") == 0)
        return candidates(argv[2], (size_t)number(argv[3], 1, 1L << 20, "SAMPLE_MIB") << 20,
                          argc > 4 ? (const char *const *)argv + 4 : default_cands);
    if (argc >= 5 && argc <= 6 && strcmp(argv[1], "detector") == 0)
        return detector(argv[2], argv[3], (int)number(argv[4], 0, 99, "LEVEL"),
                        (size_t)(argc > 5 ? number(argv[5], 1, 1L << 20, "SAMPLE_MIB") : 256) << 20);
    fprintf(stderr, "usage: store_rate candidates IMAGE SAMPLE_MIB [CANDIDATE...]\n"
                    "       store_rate detector IMAGE CODEC LEVEL [SAMPLE_MIB]\n");
    return 2;
}
