/* stream_meta_first.c - a test-side writer of the streamOptimized layout
 * open-vmdk's vmdk-convert writes (VMware's Photon OS appliances ship so),
 * built from the VMDK technote's rules and nothing of ovatool's:
 *
 *   sector 0            header: version 3, flags 0x00030001 (end-of-line
 *                       check, compressed, markers; no redundant GD),
 *                       gdOffset = the real GD sector, overHead = the end of
 *                       the grain tables (not rounded to a grain)
 *   sectors 1-20        the embedded descriptor (open-vmdk's keys)
 *   sector 21 ...       the grain directory, then every grain table
 *   overHead ...        grain markers (LBA, size, zlib data), increasing LBA,
 *                       all-zero grains left out
 *   last sector         end-of-stream marker; no footer, no GT/GD markers
 *
 *   stream_meta_first RAW OUT.vmdk
 *
 * Everything is held in memory: it is meant for test images of some MiB. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SECTOR 512u
#define GRAIN_SECTORS 128u
#define GRAIN_BYTES (GRAIN_SECTORS * SECTOR)
#define GTES 512u
#define DESC_OFFSET 1u
#define DESC_SECTORS 20u

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s RAW OUT.vmdk\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL)
        die(argv[1]);
    if (fseek(in, 0, SEEK_END) != 0)
        die("fseek");
    long bytes = ftell(in);
    rewind(in);
    if (bytes <= 0 || bytes % SECTOR != 0 || bytes > (1L << 30)) {
        fprintf(stderr, "%s: size must be a multiple of 512, up to 1 GiB\n", argv[1]);
        return 1;
    }
    uint64_t capacity = (uint64_t)bytes / SECTOR;
    uint64_t n_grains = (capacity + GRAIN_SECTORS - 1) / GRAIN_SECTORS;
    uint64_t n_gts = (n_grains + GTES - 1) / GTES;
    uint64_t gd_sector = DESC_OFFSET + DESC_SECTORS;
    uint64_t gd_sectors = (n_gts * 4 + SECTOR - 1) / SECTOR;
    uint64_t gt0 = gd_sector + gd_sectors;
    uint64_t overhead = gt0 + n_gts * 4; /* open-vmdk: the end of the tables */

    /* the grain records, laid out from overHead */
    unsigned char *raw = malloc(GRAIN_BYTES);
    uLong bound = compressBound(GRAIN_BYTES);
    size_t cap = 1 << 20, len = 0;
    unsigned char *recs = malloc(cap);
    uint32_t *gt = calloc((size_t)(n_gts * GTES), 4);
    if (raw == NULL || recs == NULL || gt == NULL)
        die("malloc");
    for (uint64_t g = 0; g < n_grains; g++) {
        memset(raw, 0, GRAIN_BYTES);
        size_t want = GRAIN_BYTES;
        if ((g + 1) * GRAIN_BYTES > (uint64_t)bytes)
            want = (size_t)((uint64_t)bytes - g * GRAIN_BYTES); /* partial last grain: zero-filled */
        if (fread(raw, 1, want, in) != want)
            die("read");
        int zero = 1;
        for (size_t i = 0; i < GRAIN_BYTES && zero; i++)
            zero = raw[i] == 0;
        if (zero)
            continue;
        size_t need = 12 + bound + SECTOR;
        if (len + need > cap) {
            while (len + need > cap)
                cap *= 2;
            recs = realloc(recs, cap);
            if (recs == NULL)
                die("realloc");
        }
        uLongf clen = bound;
        if (compress2(recs + len + 12, &clen, raw, GRAIN_BYTES, Z_DEFAULT_COMPRESSION) != Z_OK) {
            fprintf(stderr, "compress2 failed\n");
            return 1;
        }
        put64(recs + len, g * GRAIN_SECTORS);
        put32(recs + len + 8, (uint32_t)clen);
        gt[g] = (uint32_t)(overhead + len / SECTOR);
        size_t rec = ((12 + clen + SECTOR - 1) / SECTOR) * SECTOR;
        memset(recs + len + 12 + clen, 0, rec - 12 - clen);
        len += rec;
    }
    fclose(in);

    size_t meta = (size_t)(overhead * SECTOR);
    unsigned char *head = calloc(1, meta);
    if (head == NULL)
        die("calloc");
    memcpy(head, "KDMV", 4);
    put32(head + 4, 3);                      /* version */
    put32(head + 8, 0x00030001u);            /* flags */
    put64(head + 12, capacity);
    put64(head + 20, GRAIN_SECTORS);
    put64(head + 28, DESC_OFFSET);
    put64(head + 36, DESC_SECTORS);
    put32(head + 44, GTES);                  /* numGTEsPerGT */
    put64(head + 48, 0);                     /* rgdOffset */
    put64(head + 56, gd_sector);             /* gdOffset: the real one */
    put64(head + 64, overhead);
    head[72] = 0;                            /* uncleanShutdown */
    memcpy(head + 73, "\n \r\n", 4);         /* end-of-line check bytes */
    head[77] = 1;                            /* compressAlgorithm: deflate */
    head[78] = 0;

    const char *base = strrchr(argv[2], '/');
    base = base ? base + 1 : argv[2];
    char *desc = (char *)head + DESC_OFFSET * SECTOR;
    int dn = snprintf(desc, DESC_SECTORS * SECTOR,
                      "# Disk DescriptorFile\n"
                      "version=1\n"
                      "encoding=\"UTF-8\"\n"
                      "CID=5eedf00d\n"
                      "parentCID=ffffffff\n"
                      "createType=\"streamOptimized\"\n"
                      "\n"
                      "# Extent description\n"
                      "RW %llu SPARSE \"%s\"\n"
                      "\n"
                      "# The Disk Data Base\n"
                      "#DDB\n"
                      "\n"
                      "ddb.adapterType = \"lsilogic\"\n"
                      "ddb.geometry.cylinders = \"%llu\"\n"
                      "ddb.geometry.heads = \"255\"\n"
                      "ddb.geometry.sectors = \"63\"\n"
                      "ddb.longContentID = \"0123456789abcdef0123456789abcdef\"\n"
                      "ddb.toolsVersion = \"2147483647\"\n"
                      "ddb.virtualHWVersion = \"4\"\n",
                      (unsigned long long)capacity, base, (unsigned long long)(capacity / (255 * 63)));
    if (dn < 0 || (unsigned)dn >= DESC_SECTORS * SECTOR) {
        fprintf(stderr, "descriptor too long\n");
        return 1;
    }
    /* every table is written, as open-vmdk does, and the GD names each */
    for (uint64_t t = 0; t < n_gts; t++) {
        put32(head + gd_sector * SECTOR + 4 * t, (uint32_t)(gt0 + 4 * t));
        for (unsigned i = 0; i < GTES; i++)
            put32(head + (gt0 + 4 * t) * SECTOR + 4 * i, gt[t * GTES + i]);
    }

    FILE *out = fopen(argv[2], "wb");
    if (out == NULL)
        die(argv[2]);
    unsigned char eos[SECTOR] = { 0 }; /* val 0, size 0, type 0 (end of stream) */
    if (fwrite(head, 1, meta, out) != meta || (len > 0 && fwrite(recs, 1, len, out) != len) ||
        fwrite(eos, 1, sizeof eos, out) != sizeof eos || fclose(out) != 0)
        die(argv[2]);
    free(head);
    free(recs);
    free(gt);
    free(raw);
    return 0;
}
