/* fuzz_tar_walk.c - the ustar walk of `ovatool validate` (validate.h:
 * ova_vtar_walk) on the input as an archive.
 *
 * Contracts checked: members are block-aligned, in file order, within the
 * file unless marked truncated, NUL-terminated, at most
 * OVA_VALIDATE_MAX_MEMBERS; problem lines hold no control characters. */
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "format/tar.h"
#include "ovatool/validate.h"
#include "validate/validate_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_memfd(data, size);
    ova_vmember *m = NULL;
    size_t n = 0;
    ova_vlist probs = { OVA_BUF_INIT, 0, 0 };
    ova_err err = { 0 };
    ova_status st = ova_vtar_walk(fd, size, "fuzz.ova", &m, &n, &probs, &err);
    close(fd);
    if (st == OVA_OK) {
        if (n > OVA_VALIDATE_MAX_MEMBERS || (n > 0 && m == NULL))
            fuzz_fail("%zu members", n);
        uint64_t prev_end = 0;
        for (size_t i = 0; i < n; i++) {
            if (memchr(m[i].name, '\0', sizeof m[i].name) == NULL)
                fuzz_fail("member %zu: name not NUL-terminated", i);
            if (m[i].offset % OVA_TAR_BLOCK != 0 || m[i].offset < prev_end + OVA_TAR_BLOCK)
                fuzz_fail("member %zu at offset %llu (previous data ends at %llu)", i,
                          (unsigned long long)m[i].offset, (unsigned long long)prev_end);
            if (!m[i].truncated && (m[i].offset > size || m[i].size > size - m[i].offset))
                fuzz_fail("member %zu: %llu bytes at %llu in a file of %zu, not marked truncated", i,
                          (unsigned long long)m[i].size, (unsigned long long)m[i].offset, size);
            if (m[i].truncated && i + 1 != n)
                fuzz_fail("member %zu is truncated but not the last", i);
            prev_end = m[i].offset + m[i].size;
        }
        fuzz_check_problem_lines(&probs);
    } else if (m != NULL || n != 0) {
        fuzz_fail("ova_vtar_walk failed but returned members");
    }
    free(m);
    ova_vlist_free(&probs);
    return 0;
}
