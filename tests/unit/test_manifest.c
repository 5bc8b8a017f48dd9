/* test_manifest.c - unit tests for manifest lines and digest names (manifest.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <string.h>

#include <openssl/evp.h>

#include "ovatool/manifest.h"

/* Digest of data with OpenSSL, the way the exporter computes it. */
static void digest_of(ova_sha alg, const char *data, unsigned char *out)
{
    const EVP_MD *md = alg == OVA_SHA1 ? EVP_sha1() : alg == OVA_SHA256 ? EVP_sha256() : EVP_sha512();
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, strlen(data), out, &n, md, NULL), 1);
    assert_int_equal(n, ova_sha_len(alg));
}

static void expect_line(ova_sha alg, const char *name, const char *data, const char *want)
{
    unsigned char d[64];
    digest_of(alg, data, d);
    ova_buf b = OVA_BUF_INIT;
    ova_manifest_line(&b, alg, name, d);
    assert_false(ova_buf_failed(&b));
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    ova_buf_free(&b);
}

static void test_labels_and_lengths(void **state)
{
    (void)state;
    assert_string_equal(ova_sha_label(OVA_SHA1), "SHA1");
    assert_string_equal(ova_sha_label(OVA_SHA256), "SHA256");
    assert_string_equal(ova_sha_label(OVA_SHA512), "SHA512");
    assert_non_null(ova_sha_label((ova_sha)7));
    assert_int_equal(ova_sha_len(OVA_SHA1), 20);
    assert_int_equal(ova_sha_len(OVA_SHA256), 32);
    assert_int_equal(ova_sha_len(OVA_SHA512), 64);
    assert_int_equal(ova_sha_len((ova_sha)7), 0);
}

static void test_parse(void **state)
{
    (void)state;
    ova_sha alg = OVA_SHA1;
    assert_true(ova_sha_parse("sha256", &alg));
    assert_int_equal(alg, OVA_SHA256);
    assert_true(ova_sha_parse("SHA1", &alg));
    assert_int_equal(alg, OVA_SHA1);
    assert_true(ova_sha_parse("Sha512", &alg));
    assert_int_equal(alg, OVA_SHA512);
    assert_true(ova_sha_parse("sHa256", &alg));
    assert_int_equal(alg, OVA_SHA256);

    /* unknown names leave alg alone */
    alg = OVA_SHA512;
    static const char *const bad[] = {"md5", "sha-256", "SHA2-256", "sha", "sha2561", "sha256 ",
                                      " sha256", "", "sha384", "256"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ova_sha_parse(bad[i], &alg))
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(alg, OVA_SHA512);
    }
    assert_false(ova_sha_parse(NULL, &alg));
}

static void test_known_digests(void **state)
{
    (void)state;
    /* FIPS 180 test vectors for "abc" */
    expect_line(OVA_SHA1, "vm.ovf", "abc", "SHA1(vm.ovf)= a9993e364706816aba3e25717850c26c9cd0d89d\n");
    expect_line(OVA_SHA256, "vm-disk1.vmdk", "abc",
                "SHA256(vm-disk1.vmdk)= "
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n");
    expect_line(OVA_SHA512, "vm.ovf", "abc",
                "SHA512(vm.ovf)= "
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f\n");
    /* the empty file */
    expect_line(OVA_SHA256, "empty.iso", "",
                "SHA256(empty.iso)= "
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n");
}

static void test_hex_and_appending(void **state)
{
    (void)state;
    /* leading zero nibbles and 0xff stay two lower-case digits each */
    unsigned char d[32];
    for (int i = 0; i < 32; i++)
        d[i] = (unsigned char)(i * 8 + (i & 1 ? 0x07 : 0));
    d[31] = 0xff;
    ova_buf b = OVA_BUF_INIT;
    ova_buf_puts(&b, "SHA256(vm.ovf)= x\n");
    size_t first = b.len;
    ova_manifest_line(&b, OVA_SHA256, "my vm-disk1.vmdk", d);
    assert_false(ova_buf_failed(&b));
    assert_string_equal(b.data + first,
                        "SHA256(my vm-disk1.vmdk)= "
                        "000f101f202f303f404f505f606f707f808f909fa0afb0bfc0cfd0dfe0eff0ff\n");
    ova_buf_free(&b);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    unsigned char d[64] = {0};
    ova_buf b = OVA_BUF_INIT;
    ova_manifest_line(&b, (ova_sha)7, "vm.ovf", d);
    assert_true(ova_buf_failed(&b));
    ova_buf_free(&b);
    ova_manifest_line(&b, OVA_SHA1, NULL, d);
    assert_true(ova_buf_failed(&b));
    ova_buf_free(&b);
    ova_manifest_line(&b, OVA_SHA1, "vm.ovf", NULL);
    assert_true(ova_buf_failed(&b));
    ova_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_and_lengths),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_known_digests),
        cmocka_unit_test(test_hex_and_appending),
        cmocka_unit_test(test_bad_arguments),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
