/* codec_rate.c - the compression ceiling: how fast one codec deflates the
 * non-zero 64 KiB grains of a raw image, per core, on 1 and on T threads.
 *
 *   codec_rate IMAGE CODEC LEVEL THREADS [SAMPLE_MIB]
 *
 * Loads a stride sample of the image's non-zero grains (so the content mix
 * is kept) into memory, then compresses every sampled grain into its own
 * zlib stream, first on one thread, then on THREADS threads. Prints one
 * line of key=value pairs for bench.sh. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovatool/codec.h"
#include "ovatool/unit.h"
#include "ovatool/vmdk_stream.h"

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
        pthread_create(&t[i], NULL, run, &jobs[i]);
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

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: codec_rate IMAGE CODEC LEVEL THREADS [SAMPLE_MIB]\n");
        return 2;
    }
    ova_codec_kind kind;
    if (!ova_codec_parse(argv[2], &kind) || !ova_codec_available(kind)) {
        fprintf(stderr, "codec_rate: codec %s not available\n", argv[2]);
        return 2;
    }
    int level = atoi(argv[3]), threads = atoi(argv[4]);
    size_t sample = (size_t)(argc > 5 ? atol(argv[5]) : 256) << 20;
    if (threads < 1 || threads > 256)
        return 2;
    int fd = open(argv[1], O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        perror(argv[1]);
        return 1;
    }
    size_t total = (size_t)sb.st_size / OVA_GRAIN_SIZE;
    unsigned char *g = aligned_alloc(64, OVA_GRAIN_SIZE);
    /* pass 1: count non-zero grains */
    size_t nonzero = 0;
    for (size_t i = 0; i < total; i++) {
        if (pread(fd, g, OVA_GRAIN_SIZE, (off_t)(i * OVA_GRAIN_SIZE)) != OVA_GRAIN_SIZE)
            return 1;
        nonzero += !ova_is_zero(g, OVA_GRAIN_SIZE);
    }
    size_t want = sample / OVA_GRAIN_SIZE;
    size_t stride = nonzero > want ? (nonzero + want - 1) / want : 1;
    unsigned char *grains = aligned_alloc(64, (nonzero / stride + 1) * (size_t)OVA_GRAIN_SIZE);
    size_t n = 0, k = 0;
    for (size_t i = 0; i < total; i++) {
        unsigned char *dst = grains + n * OVA_GRAIN_SIZE;
        if (pread(fd, dst, OVA_GRAIN_SIZE, (off_t)(i * OVA_GRAIN_SIZE)) != OVA_GRAIN_SIZE)
            return 1;
        if (ova_is_zero(dst, OVA_GRAIN_SIZE))
            continue;
        if (k++ % stride == 0)
            n++;
    }
    close(fd);
    size_t out1, outT;
    double t1 = timed(grains, n, kind, level, 1, &out1);
    double tT = timed(grains, n, kind, level, threads, &outT);
    double mb = (double)n * OVA_GRAIN_SIZE / 1e6;
    printf("codec=%s level=%d grains_total=%zu grains_nonzero=%zu sample_grains=%zu f=%.4f ratio=%.4f "
           "per_core_mb_s=%.1f threads=%d threads_mb_s=%.1f\n",
           ova_codec_name(kind), level, total, nonzero, n, (double)nonzero / (double)total,
           (double)out1 / ((double)n * OVA_GRAIN_SIZE), mb / t1, threads, mb / tT);
    free(grains);
    free(g);
    return 0;
}
