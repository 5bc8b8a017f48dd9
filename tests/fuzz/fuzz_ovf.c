/* fuzz_ovf.c - the OVF checks of `ovatool validate` (validate.h:
 * ova_vovf_check): libxml2 parsing of the descriptor, the DMTF schema check
 * (the shipped src/schema, compiled in as OVATOOL_FUZZ_SCHEMA_DIR), and the
 * References / DiskSection cross-checks against the archive's members.
 *
 * The input is the .ovf member. The other members are fixed, as an OVA
 * exported as fuzz.ova has them: fuzz.mf, fuzz-disk1.vmdk and
 * fuzz-disk2.vmdk (each a 512-byte stream header of a 1 MiB disk, written by
 * ova_stream_header, so capacity checks read a real header) and a truncated
 * fuzz-disk3.vmdk. The seeds (make_corpus.sh) are OVFs ovatool wrote for
 * fuzz.ova exports. Problem lines must hold no control characters. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ovatool/validate.h"
#include "validate/validate_internal.h"
#include "format/vmdk_stream.h"

#ifndef OVATOOL_FUZZ_SCHEMA_DIR
#error "OVATOOL_FUZZ_SCHEMA_DIR (the src/schema folder) must be defined"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t hdr_off = (size + OVA_SECTOR - 1) / OVA_SECTOR * OVA_SECTOR;
    uint8_t *file = calloc(1, hdr_off + OVA_SECTOR);
    if (file == NULL)
        fuzz_fail("out of memory");
    if (size > 0)
        memcpy(file, data, size);
    ova_stream_header(file + hdr_off, (uint64_t)1 << 20, OVA_GD_AT_END);
    int fd = fuzz_memfd(file, hdr_off + OVA_SECTOR);
    free(file);

    /* members 5-7: a disk in two chunks and a gzip member, for
     * ovf:chunkSize and ovf:compression (the header is no gzip stream) */
    ova_vmember m[8];
    memset(m, 0, sizeof m);
    const char *names[8] = { "fuzz.ovf", "fuzz.mf", "fuzz-disk1.vmdk", "fuzz-disk2.vmdk", "fuzz-disk3.vmdk",
                             "fuzz-disk4.vmdk.000000000", "fuzz-disk4.vmdk.000000001", "fuzz-disk5.vmdk.gz" };
    for (size_t i = 0; i < 8; i++) {
        strcpy(m[i].name, names[i]);
        m[i].offset = hdr_off;
        m[i].size = OVA_SECTOR;
    }
    m[0].offset = 0;
    m[0].size = size;
    m[1].size = 0;
    m[4].size = (uint64_t)1 << 40;
    m[4].truncated = true;

    ova_validation v;
    ova_validation_init(&v);
    ova_err err = { 0 };
    ova_vfile *files = NULL;
    size_t n_files = 0;
    ova_status st = ova_vovf_check(fd, m, 8, 0, OVATOOL_FUZZ_SCHEMA_DIR, &v, &files, &n_files, &err);
    close(fd);
    if (n_files > 8)
        fuzz_fail("more chunked or gzip files than members");
    for (size_t i = 0; i < n_files; i++)
        if (files[i].chunk_size == 0 && !files[i].gzip)
            fuzz_fail("a plain file among the chunked and gzip ones");
    free(files);
    if (st != OVA_OK && err.msg[0] == '\0')
        fuzz_fail("ova_vovf_check failed without a message");
    fuzz_check_problem_lines(&v.problems);
    ova_validation_free(&v);
    return 0;
}
