/* fuzz_disk_sparse.c - one disk file made from the input: a hosted sparse
 * (KDMV) extent with its embedded descriptor, a streamOptimized file, or a
 * text descriptor (disk.h, sparse.h, descriptor.h). ova_disk_describe reads
 * the header (and a stream's footer), the embedded descriptor, the grain
 * directory and every grain table; the reader then reads the disk
 * (fuzz_disk_exercise).
 *
 * Inputs whose descriptor names a file outside the scratch folder are
 * skipped (fuzz_disk_names_local): they would make the run depend on the
 * machine. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_disk_names_local(data, size))
        return -1; /* not kept in the corpus */
    char *path = fuzz_write("disk.vmdk", data, size);
    (void)fuzz_disk_exercise(path, NULL, 0);
    fuzz_remove(path);
    return 0;
}
