/* unit_size.c - the unit size the planner chooses for a job shape, without
 * running the job: scale.sh measures rank 0's intake at the sizes 8 x 16
 * and 64 x 16 threads would get (ova_prepare_unit_size, prepare.c).
 *
 *   unit_size RANKS THREADS_PER_RANK [MEM_LIMIT_MIB]
 *
 * prints "unit_grains=G unit_mib=M window=W" (W: units one rank's limit
 * holds); MEM_LIMIT_MIB defaults to the export's default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ovatool/export.h"
#include "ovatool/prepare.h"

static long number(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || v < lo || v > hi ? -1 : v;
}

int main(int argc, char **argv)
{
    ova_export_opts o;
    ova_export_opts_init(&o);
    long ranks = argc > 1 ? number(argv[1], 1, 1L << 20) : -1;
    long threads = argc > 2 ? number(argv[2], 1, 1024) : -1;
    long mib = argc > 3 ? number(argv[3], 1, 1L << 30) : (long)(o.mem_limit >> 20);
    if (argc < 3 || argc > 4 || ranks < 0 || threads < 0 || mib < 0) {
        fprintf(stderr, "usage: unit_size RANKS (1..2^20) THREADS_PER_RANK (1..1024) [MEM_LIMIT_MIB]\n");
        return 2;
    }
    uint32_t g;
    uint64_t w;
    ova_prepare_unit_size((uint64_t)mib << 20, (int)ranks, (int)threads, &g, &w);
    printf("unit_grains=%u unit_mib=%u window=%llu\n", g, g / 16, (unsigned long long)w);
    return 0;
}
