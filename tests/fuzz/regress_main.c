/* regress_main.c - the regression runner: a fuzz target built without
 * libFuzzer (any compiler, every build) runs each file it is given, or each
 * file of each folder it is given (sorted, dot files skipped), once through
 * LLVMFuzzerTestOneInput. ctest runs it over tests/fuzz/corpus/<target>/ and
 * tests/fuzz/regress/<target>/ as fuzz.regress.<target>; a crash, a sanitizer
 * report or a leak fails the test, and "RUN name" on stderr names the input.
 *
 *   fuzz_<target> FILE|DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Each input in a buffer of exactly its size, as libFuzzer passes it, so
 * ASan sees any read past the end. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "%s: not a regular file\n", path);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *data = malloc(n ? n : 1);
    if (data == NULL || fread(data, 1, n, f) != n) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    fprintf(stderr, "RUN %s (%zu bytes)\n", path, n);
    (void)LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 0;
}

static int skip_dot(const struct dirent *e) { return e->d_name[0] != '.'; }

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    unsigned long ran = 0;
    for (int a = 1; a < argc; a++) {
        struct stat sb;
        if (stat(argv[a], &sb) != 0) {
            fprintf(stderr, "%s: %s\n", argv[a], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(sb.st_mode)) {
            if (run_file(argv[a]) != 0)
                return 1;
            ran++;
            continue;
        }
        struct dirent **list = NULL;
        int n = scandir(argv[a], &list, skip_dot, alphasort);
        if (n < 0) {
            fprintf(stderr, "%s: cannot list: %s\n", argv[a], strerror(errno));
            return 1;
        }
        int bad = 0;
        for (int i = 0; i < n; i++) {
            if (!bad) {
                size_t len = strlen(argv[a]) + 1 + strlen(list[i]->d_name) + 1;
                char *path = malloc(len);
                if (path == NULL)
                    return 1;
                snprintf(path, len, "%s/%s", argv[a], list[i]->d_name);
                bad = run_file(path) != 0;
                free(path);
                ran++;
            }
            free(list[i]);
        }
        free(list);
        if (bad)
            return 1;
    }
    if (ran == 0) {
        fprintf(stderr, "%s: no inputs found\n", argv[0]);
        return 1;
    }
    fprintf(stderr, "%s: %lu inputs ran\n", argv[0], ran);
    return 0;
}
