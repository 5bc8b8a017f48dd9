/* fuzz_journal.c - the resume journal (engine/journal.h:
 * ova_journal_decode), as `ovatool export --resume` reads OUT.journal.
 *
 * The input is a journal's body: the target seals it with the SHA-256 the
 * format ends in before decoding, so the fuzzer explores the fields, not
 * only the checksum (a damaged checksum is covered by test_journal).
 *
 * Contracts checked: a refusal has a message that names the file; a
 * journal that decodes is encoded back to exactly the same bytes, and its
 * durable point is self-consistent as journal.h promises (disk within the
 * disks, grain a group boundary inside its disk, one directory entry per
 * group before it). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/journal.h"
#include "format/vmdk_stream.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return -1;
    unsigned char *sealed = malloc(size + 32);
    if (sealed == NULL)
        fuzz_fail("out of memory");
    if (size > 0)
        memcpy(sealed, data, size);
    unsigned int sl = 0;
    if (EVP_Digest(sealed, size, sealed + size, &sl, EVP_sha256(), NULL) != 1 || sl != 32)
        fuzz_fail("digest failed");
    ova_journal *j = NULL;
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_journal_decode(sealed, size + 32, "fuzz.journal", &j, &err);
    if (st != OVA_OK) {
        if (j != NULL || strncmp(err.msg, "fuzz.journal: ", 14) != 0)
            fuzz_fail("a refusal (%d) without its file named or with a journal: %s", (int)st, err.msg);
        free(sealed);
        return 0;
    }
    const ova_journal_point *p = &j->pt;
    if (p->disk > j->deps.n_disks || p->grain % OVA_GT_ENTRIES != 0 ||
        (p->disk < j->deps.n_disks && p->grain > 0 && p->grain >= ova_stream_grains(j->deps.capacity[p->disk])) ||
        (p->disk == j->deps.n_disks && p->grain != 0) || p->n_gd != p->grain / OVA_GT_ENTRIES)
        fuzz_fail("an inconsistent durable point decoded: disk %u of %zu, grain %llu, %llu directory entries",
                  p->disk, j->deps.n_disks, (unsigned long long)p->grain, (unsigned long long)p->n_gd);
    ova_buf out = OVA_BUF_INIT;
    ova_err_clear(&err);
    if (ova_journal_encode(j, &out, &err) != OVA_OK)
        fuzz_fail("a decoded journal does not encode: %s", err.msg);
    if (out.len != size + 32 || memcmp(out.data, sealed, size + 32) != 0)
        fuzz_fail("a decoded journal of %zu bytes encodes to %zu other bytes", size + 32, out.len);
    ova_buf_free(&out);
    ova_journal_free(&j);
    free(sealed);
    return 0;
}
