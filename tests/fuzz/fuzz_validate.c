/* fuzz_validate.c - the whole validator (validate.h: ova_validate_file) on
 * the input as an OVA, with the deep pass on: tar walk, member order,
 * manifest lines and digests, the OVF checks, the streamOptimized walk of
 * every .vmdk member and the inflation of every grain.
 *
 * Without the DMTF schema: compiling it for every input (about 45 ms under
 * ASan) halved this target's speed, and fuzz_ovf runs the same OVF code
 * with the schema at a far higher rate.
 *
 * Contracts checked: problems do not fail the call; the lines hold no
 * control characters (a hostile member name cannot forge output lines);
 * the result's counts agree with each other. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ovatool/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_write("fuzz.ova", data, size);
    ova_validate_opts o = { NULL, true, NULL, NULL };
    ova_validation v;
    ova_validation_init(&v);
    ova_err err = { 0 };
    ova_status st = ova_validate_file(path, &o, &v, &err);
    fuzz_remove(path);
    if (st != OVA_OK && err.msg[0] == '\0')
        fuzz_fail("ova_validate_file failed without a message");
    if (st == OVA_OK) {
        if (v.ova_size != size)
            fuzz_fail("ova_size %llu for %zu bytes", (unsigned long long)v.ova_size, size);
        if (v.n_disks > v.n_members || v.n_members > OVA_VALIDATE_MAX_MEMBERS)
            fuzz_fail("%zu disks in %zu members", v.n_disks, v.n_members);
        if (v.problems.kept > v.problems.count || v.problems.kept > OVA_VALIDATE_MAX_PROBLEMS)
            fuzz_fail("%zu problems kept of %llu", v.problems.kept, (unsigned long long)v.problems.count);
        if (v.grains_inflated > v.grains)
            fuzz_fail("%llu grains inflated, %llu walked", (unsigned long long)v.grains_inflated,
                      (unsigned long long)v.grains);
        fuzz_check_problem_lines(&v.problems);
    }
    ova_validation_free(&v);
    return 0;
}
