/* codec_rate.c - the compression ceiling: how fast one codec deflates the
 * non-zero 64 KiB grains of a raw image, per core, on 1 and on T threads.
 *
 *   codec_rate IMAGE CODEC LEVEL THREADS [SAMPLE_MIB]
 *
 * Loads a stride sample of the image's non-zero grains (so the content mix
 * is kept) into memory, at most SAMPLE_MIB (default 256) of them, then
 * compresses every sampled grain into its own zlib stream, first on one
 * thread, then on THREADS threads. Prints one line of key=value pairs for
 * bench.sh. A trailing partial grain of the image is not counted. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovatool/codec.h"
#include "engine/unit.h"
#include "format/vmdk_stream.h"

typedef struct job {
    unsigned char *grains;
    size_t first, count;
    ova_codec_kind kind;
    int level;
    size_t out_bytes;
    int failed;
} job;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *run(void *p)
{
    job *j = p;
    ova_codec *c = ova_codec_new(j->kind, j->level);
    unsigned char *out = malloc(ova_grain_record_max());
    if (c == NULL || out == NULL) {
        j->failed = 1;
        free(out);
        ova_codec_free(&c);
        return NULL;
    }
    for (size_t i = j->first; i < j->first + j->count; i++) {
        size_t n = 0;
        if (ova_codec_compress(c, j->grains + i * OVA_GRAIN_SIZE, OVA_GRAIN_SIZE, out, ova_grain_record_max(), &n) !=
            OVA_OK)
            j->failed = 1;
        j->out_bytes += n;
    }
    free(out);
    ova_codec_free(&c);
    return NULL;
}

static double timed(unsigned char *grains, size_t n, ova_codec_kind kind, int level, int threads, size_t *out)
{
    pthread_t t[256];
    job jobs[256];
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        size_t per = n / (size_t)threads, first = per * (size_t)i;
        jobs[i] = (job){ grains, first, i == threads - 1 ? n - first : per, kind, level, 0, 0 };
        int rc = pthread_create(&t[i], NULL, run, &jobs[i]);
        if (rc != 0) {
            fprintf(stderr, "codec_rate: pthread_create: %s\n", strerror(rc));
            exit(1);
        }
    }
    *out = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        *out += jobs[i].out_bytes;
        if (jobs[i].failed) {
            fprintf(stderr, "codec_rate: compression failed\n");
            exit(1);
        }
    }
    return now() - t0;
}

/* A whole decimal number in [lo, hi], or exit 2 saying which argument. */
static long number(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "codec_rate: %s must be a number from %ld to %ld, not '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

/* Grain i of the image into buf; 0 (said on stderr) if it cannot be read. */
static int read_grain(int fd, const char *path, size_t i, unsigned char *buf)
{
    ssize_t got = pread(fd, buf, OVA_GRAIN_SIZE, (off_t)(i * OVA_GRAIN_SIZE));
    if (got == (ssize_t)OVA_GRAIN_SIZE)
        return 1;
    if (got < 0)
        fprintf(stderr, "codec_rate: %s: read at grain %zu: %s\n", path, i, strerror(errno));
    else
        fprintf(stderr, "codec_rate: %s: short read at grain %zu (the file shrank?)\n", path, i);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: codec_rate IMAGE CODEC LEVEL THREADS [SAMPLE_MIB]\n");
        return 2;
    }
    ova_codec_kind kind;
    if (!ova_codec_parse(argv[2], &kind) || !ova_codec_available(kind)) {
        fprintf(stderr, "codec_rate: codec %s not available\n", argv[2]);
        return 2;
    }
    int level = (int)number(argv[3], 0, 99, "LEVEL");
    if (!ova_codec_level_ok(kind, level)) {
        fprintf(stderr, "codec_rate: level %d is not valid for %s\n", level, ova_codec_name(kind));
        return 2;
    }
    int threads = (int)number(argv[4], 1, 256, "THREADS");
    size_t sample = (size_t)(argc > 5 ? number(argv[5], 1, 1L << 20, "SAMPLE_MIB") : 256) << 20;
    int fd = open(argv[1], O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        perror(argv[1]);
        return 1;
    }
    size_t total = (size_t)sb.st_size / OVA_GRAIN_SIZE;
    unsigned char *g = aligned_alloc(64, OVA_GRAIN_SIZE), *grains = NULL;
    int rc = 1;
    if (g == NULL) {
        fprintf(stderr, "codec_rate: out of memory\n");
        goto done;
    }
    /* pass 1: count non-zero grains */
    size_t nonzero = 0;
    for (size_t i = 0; i < total; i++) {
        if (!read_grain(fd, argv[1], i, g))
            goto done;
        nonzero += !ova_is_zero(g, OVA_GRAIN_SIZE);
    }
    if (nonzero == 0) {
        fprintf(stderr, "codec_rate: %s has no non-zero grain to compress (%zu grains)\n", argv[1], total);
        goto done;
    }
    /* pass 2: every stride-th non-zero grain, k = 0, stride, 2 * stride, ...
     * < nonzero: that is cap grains, at most want. Each grain is read into
     * the scratch g and copied into the sample only when chosen, and the
     * pass stops once the sample is full, so neither the grains after the
     * last chosen one nor an image that changed since pass 1 can write past
     * the sample (bench.sh's 6 GiB image did: it ends in free space). */
    size_t want = sample / OVA_GRAIN_SIZE;
    size_t stride = nonzero > want ? (nonzero + want - 1) / want : 1;
    size_t cap = (nonzero + stride - 1) / stride;
    grains = aligned_alloc(64, cap * (size_t)OVA_GRAIN_SIZE);
    if (grains == NULL) {
        fprintf(stderr, "codec_rate: out of memory for a sample of %zu grains\n", cap);
        goto done;
    }
    size_t n = 0, k = 0;
    for (size_t i = 0; i < total && n < cap; i++) {
        if (!read_grain(fd, argv[1], i, g))
            goto done;
        if (ova_is_zero(g, OVA_GRAIN_SIZE))
            continue;
        if (k++ % stride == 0)
            memcpy(grains + n++ * OVA_GRAIN_SIZE, g, OVA_GRAIN_SIZE);
    }
    if (n == 0) {
        fprintf(stderr, "codec_rate: %s changed while being read: no non-zero grain left\n", argv[1]);
        goto done;
    }
    size_t out1, outT;
    double t1 = timed(grains, n, kind, level, 1, &out1);
    double tT = timed(grains, n, kind, level, threads, &outT);
    double mb = (double)n * OVA_GRAIN_SIZE / 1e6;
    printf("codec=%s level=%d grains_total=%zu grains_nonzero=%zu sample_grains=%zu f=%.4f ratio=%.4f "
           "per_core_mb_s=%.1f threads=%d threads_mb_s=%.1f\n",
           ova_codec_name(kind), level, total, nonzero, n, (double)nonzero / (double)total,
           (double)out1 / ((double)n * OVA_GRAIN_SIZE), mb / t1, threads, mb / tT);
    rc = 0;
done:
    close(fd);
    free(grains);
    free(g);
    return rc;
}
