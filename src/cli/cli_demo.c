/* cli_demo.c - `ovatool demo DIR`: a small Workstation-style VM to try the
 * export on: a VMX and a monolithicFlat disk holding text, random and zero
 * regions (so compression, zero-grain skipping and incompressible data are
 * all exercised). The random bytes come from a fixed-seed generator, so the
 * demo is the same on every machine. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Fill [off, off+len) of fd from gen; one MiB at a time. */
static int fill(int fd, const char *path, uint64_t off, uint64_t len, int text, uint64_t *seed)
{
    static const char *words[] = { "virtual", "machine", "grain", "table", "stream", "optimized", "disk",
                                   "ovatool", "export", "rank", "cluster", "sector", "deflate", "manifest" };
    char *buf = malloc(1 << 20);
    if (buf == NULL) {
        cli_error("out of memory");
        return -1;
    }
    uint64_t line = off / 64;
    while (len > 0) {
        size_t n = len < (1u << 20) ? (size_t)len : (1u << 20);
        if (text) {
            size_t k = 0;
            while (k < n) {
                char l[128];
                int m = snprintf(l, sizeof l, "%08llu %s %s %s %s\n", (unsigned long long)line++,
                                 words[xorshift(seed) % 14], words[xorshift(seed) % 14],
                                 words[xorshift(seed) % 14], words[xorshift(seed) % 14]);
                size_t c = (size_t)m < n - k ? (size_t)m : n - k;
                memcpy(buf + k, l, c);
                k += c;
            }
        } else {
            for (size_t k = 0; k + 8 <= n; k += 8) {
                uint64_t r = xorshift(seed);
                memcpy(buf + k, &r, 8);
            }
        }
        if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
            cli_error("%s: write failed: %s", path, strerror(errno));
            free(buf);
            return -1;
        }
        off += n;
        len -= n;
    }
    free(buf);
    return 0;
}

enum { O_SIZE = 256 };

/* One table defines every option: getopt reads it, --help prints it. */
static const cli_opt OPTS[] = {
    { "size", 1, O_SIZE, "MIB", "the disk's size in MiB, 8 to 1048576 (default 64)" },
    { "help", 0, 'h', NULL, "show this help" },
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

static void demo_usage(FILE *f)
{
    fprintf(f, "Usage: ovatool demo DIR [--size MIB]\n"
               "Creates DIR/demo.vmx and a monolithicFlat disk (default 64 MiB) with text,\n"
               "random and zero regions.\n\nOptions:\n");
    cli_print_options(f, OPTS, N_OPTS);
}

/* Parse argv; returns NULL on success or a reason for a usage error. */
static const char *parse(int argc, char **argv, const char **dir, long *mib, int *help)
{
    struct option lo[N_OPTS + 1];
    char short_opts[16];
    cli_getopt_table(OPTS, N_OPTS, lo, short_opts, sizeof short_opts);
    int c;
    while ((c = getopt_long(argc, argv, short_opts, lo, NULL)) != -1) {
        switch (c) {
        case O_SIZE:
            if (!cli_parse_int(optarg, 8, 1 << 20, mib))
                return "--size takes MiB from 8 to 1048576";
            break;
        case 'h': *help = 1; return NULL;
        default: return cli_getopt_error(c, argv);
        }
    }
    return cli_one_operand(argc, argv, "missing DIR", dir);
}

int cli_demo(int argc, char **argv)
{
    const char *dir = NULL;
    long mib = 64;
    int help = 0;
    const char *why = parse(argc, argv, &dir, &mib, &help);
    int outcome = cli_usage_outcome("demo", help, why, demo_usage, 1);
    if (outcome >= 0)
        return outcome;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_error("%s: %s", dir, strerror(errno));
        return EXIT_FAIL;
    }

    char path[4096];
    uint64_t size = (uint64_t)mib << 20;
    uint64_t sectors = size / 512;
    snprintf(path, sizeof path, "%s/demo-flat.vmdk", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        cli_error("%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_FAIL;
    }
    uint64_t seed = 0x9E3779B97F4A7C15ull, M = 1 << 20;
    /* text at the start, random data, a long zero stretch, text and random near the end */
    int rc = fill(fd, path, 0, size / 16, 1, &seed);
    rc = rc ? rc : fill(fd, path, size / 16, size / 8, 0, &seed);
    rc = rc ? rc : fill(fd, path, size / 2, size / 16, 1, &seed);
    rc = rc ? rc : fill(fd, path, size - 2 * M, M + M / 2, 0, &seed);
    if (close(fd) != 0 || rc != 0)
        return EXIT_FAIL;

    char text[2048];
    int n = snprintf(text, sizeof text,
                     "# Disk DescriptorFile\n"
                     "version=1\n"
                     "encoding=\"UTF-8\"\n"
                     "CID=5eed0001\n"
                     "parentCID=ffffffff\n"
                     "createType=\"monolithicFlat\"\n"
                     "\n"
                     "# Extent description\n"
                     "RW %llu FLAT \"demo-flat.vmdk\" 0\n"
                     "\n"
                     "# The Disk Data Base\n"
                     "#DDB\n"
                     "\n"
                     "ddb.adapterType = \"lsilogic\"\n"
                     "ddb.geometry.cylinders = \"%llu\"\n"
                     "ddb.geometry.heads = \"255\"\n"
                     "ddb.geometry.sectors = \"63\"\n"
                     "ddb.virtualHWVersion = \"19\"\n",
                     (unsigned long long)sectors, (unsigned long long)((sectors + 16064) / 16065));
    snprintf(path, sizeof path, "%s/demo.vmdk", dir);
    if (write_file(path, text, (size_t)n) != 0)
        return EXIT_FAIL;

    n = snprintf(text, sizeof text,
                 ".encoding = \"UTF-8\"\n"
                 "config.version = \"8\"\n"
                 "virtualHW.version = \"19\"\n"
                 "displayName = \"ovatool demo\"\n"
                 "guestOS = \"debian12-64\"\n"
                 "numvcpus = \"2\"\n"
                 "cpuid.coresPerSocket = \"2\"\n"
                 "memsize = \"1024\"\n"
                 "scsi0.present = \"TRUE\"\n"
                 "scsi0.virtualDev = \"lsilogic\"\n"
                 "scsi0:0.present = \"TRUE\"\n"
                 "scsi0:0.fileName = \"demo.vmdk\"\n"
                 "ethernet0.present = \"TRUE\"\n"
                 "ethernet0.virtualDev = \"vmxnet3\"\n"
                 "ethernet0.connectionType = \"nat\"\n"
                 "ethernet0.addressType = \"generated\"\n"
                 "annotation = \"Demo VM made by ovatool demo|0A%lld MiB disk: text, random and zero regions\"\n",
                 (long long)mib);
    snprintf(path, sizeof path, "%s/demo.vmx", dir);
    if (write_file(path, text, (size_t)n) != 0)
        return EXIT_FAIL;
    printf("%s\n", path);
    return EXIT_OK;
}
