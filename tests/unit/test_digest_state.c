/* test_digest_state.c - the SHA state handed between ranks
 * (format/digest_state.h): a state copied as bytes mid-stream and
 * continued gives the digest of the whole stream, the same as OpenSSL's
 * EVP digest of it and as sha1sum/sha256sum/sha512sum of the same file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_shell.h"
#include "unit_skip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "format/digest_state.h"

#define DATA_LEN (3u * 1000 * 1000 + 17) /* not a block multiple, more than one block */

static unsigned char *make_data(void)
{
    unsigned char *d = malloc(DATA_LEN);
    assert_non_null(d);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < DATA_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d[i] = (unsigned char)x;
    }
    return d;
}

static void evp_digest(ova_sha alg, const unsigned char *d, size_t n, unsigned char *out)
{
    unsigned int len = 0;
    assert_int_equal(EVP_Digest(d, n, out, &len, ova_sha_md(alg), NULL), 1);
    assert_int_equal(len, ova_sha_len(alg));
}

/* Hash the data in pieces, copying the state as bytes at every cut (as a
 * rank hands it on) and continuing the copy. */
static void digest_in_pieces(ova_sha alg, const unsigned char *d, const size_t *cuts, size_t n_cuts,
                             unsigned char *out)
{
    ova_err err;
    ova_err_clear(&err);
    ova_digest_state s;
    assert_int_equal(ova_digest_state_init(&s, alg, &err), OVA_OK);
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : DATA_LEN;
        assert_int_equal(ova_digest_state_update(&s, d + at, to - at, &err), OVA_OK);
        unsigned char wire[sizeof s];
        memcpy(wire, &s, sizeof s);
        memset(&s, 0xa5, sizeof s); /* the sender's copy is gone */
        memcpy(&s, wire, sizeof s);
        at = to;
    }
    assert_int_equal(ova_digest_state_final(&s, out, &err), OVA_OK);
}

static void check_alg(ova_sha alg)
{
    unsigned char *d = make_data();
    unsigned char want[64], got[64];
    evp_digest(alg, d, DATA_LEN, want);
    const size_t cuts[] = { 0, 1, 63, 64, 65, 1000, 65536, 1048576 + 3, 2000000 };
    digest_in_pieces(alg, d, cuts, sizeof cuts / sizeof cuts[0], got);
    assert_memory_equal(got, want, ova_sha_len(alg));
    digest_in_pieces(alg, d, NULL, 0, got);
    assert_memory_equal(got, want, ova_sha_len(alg));
    free(d);
}

static void test_sha1(void **state)
{
    (void)state;
    check_alg(OVA_SHA1);
}

static void test_sha256(void **state)
{
    (void)state;
    check_alg(OVA_SHA256);
}

static void test_sha512(void **state)
{
    (void)state;
    check_alg(OVA_SHA512);
}

/* The continued state against the coreutils tools, an implementation
 * that is not OpenSSL's. */
static void test_against_coreutils(void **state)
{
    (void)state;
    static const struct { ova_sha alg; const char *tool; } algs[] = {
        { OVA_SHA1, "sha1sum" }, { OVA_SHA256, "sha256sum" }, { OVA_SHA512, "sha512sum" } };
    char dir[] = "/tmp/ova_digest_state.XXXXXX";
    assert_non_null(mkdtemp(dir));
    unsigned char *d = make_data();
    FILE *f = fopen(unit_path(dir, "data"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, DATA_LEN, f), DATA_LEN);
    assert_int_equal(fclose(f), 0);
    for (size_t a = 0; a < sizeof algs / sizeof algs[0]; a++) {
        if (!unit_have(algs[a].tool)) {
            OVA_SKIP_PART("%s is not installed\n", algs[a].tool);
            continue;
        }
        const size_t cuts[] = { 100, 4096 * 100 + 1 };
        unsigned char got[64];
        digest_in_pieces(algs[a].alg, d, cuts, 2, got);
        char hex[129];
        for (size_t i = 0; i < ova_sha_len(algs[a].alg); i++)
            snprintf(hex + 2 * i, 3, "%02x", got[i]);
        assert_int_equal(unit_run(dir, 1, "%s data | grep -q '^%s '", algs[a].tool, hex), 0);
    }
    free(d);
    unit_run(dir, 1, "rm -f data");
    rmdir(dir);
}

static void test_bad_algorithm(void **state)
{
    (void)state;
    ova_err err;
    ova_err_clear(&err);
    ova_digest_state s;
    assert_int_equal(ova_digest_state_init(&s, (ova_sha)7, &err), OVA_E_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_sha512),
        cmocka_unit_test(test_against_coreutils),
        cmocka_unit_test(test_bad_algorithm),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
