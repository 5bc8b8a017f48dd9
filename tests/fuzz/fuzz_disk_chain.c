/* fuzz_disk_chain.c - a disk made of several files split from the input
 * (fuzz.h: FUZZ_FILE_SEP): a text descriptor and its FLAT, SPARSE or ZERO
 * extents, split twoGbMaxExtent pieces, and snapshot chains (a child's
 * parentFileNameHint and parentCID, down to the base). The first file is
 * disk.vmdk, the one described (disk.h); the reader then reads the
 * flattened disk (fuzz_disk_exercise).
 *
 * Inputs where any file's descriptor names a file outside the scratch
 * folder are skipped (fuzz_disk_names_local). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part parts[FUZZ_MAX_PARTS];
    size_t n = fuzz_split(data, size, "disk.vmdk", parts);
    for (size_t i = 0; i < n; i++)
        if (!fuzz_disk_names_local(parts[i].data, parts[i].len))
            return -1; /* not kept in the corpus */
    char *paths[FUZZ_MAX_PARTS] = { NULL };
    for (size_t i = 0; i < n; i++)
        paths[i] = fuzz_write(parts[i].name, parts[i].data, parts[i].len);
    (void)fuzz_disk_exercise(paths[0], NULL, 0);
    for (size_t i = 0; i < n; i++)
        fuzz_remove(paths[i]);
    return 0;
}
