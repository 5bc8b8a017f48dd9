/* test_util.c - the one-home helpers of src/util and the name tables of
 * src/format: ova_grow (doubling, overflow refused, old array kept), the
 * pread/pwrite loops and their messages, and the model and digest tables
 * read both ways. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ovatool/manifest.h"
#include "ovatool/vm.h"
#include "util/grow.h"
#include "util/io.h"

static void t_grow(void **state)
{
    (void)state;
    size_t cap = 0;
    uint64_t *a = ova_grow(NULL, &cap, 1, sizeof *a);
    assert_non_null(a);
    assert_int_equal(cap, 32); /* 256 bytes of 8-byte elements */
    a[0] = 7;
    uint64_t *b = ova_grow(a, &cap, 33, sizeof *b);
    assert_non_null(b);
    assert_int_equal(cap, 64);
    assert_int_equal(b[0], 7);
    assert_ptr_equal(ova_grow(b, &cap, 64, sizeof *b), b); /* already big enough */
    /* a byte size past SIZE_MAX is refused; the array stays as it was */
    assert_null(ova_grow(b, &cap, SIZE_MAX / 4, sizeof *b));
    assert_int_equal(cap, 64);
    assert_int_equal(b[0], 7);
    free(b);
    size_t bcap = 0;
    char *s = ova_grow(NULL, &bcap, 300, 1);
    assert_non_null(s);
    assert_int_equal(bcap, 512);
    free(s);
    size_t scap = 0;
    struct { char x[100]; } *big = ova_grow(NULL, &scap, 1, sizeof *big);
    assert_non_null(big);
    assert_int_equal(scap, 16);
    free(big);
}

static void t_pread_pwrite(void **state)
{
    (void)state;
    char path[] = "/tmp/ova-test-util-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_pwrite_exact(fd, "hello world", 11, 100, path, &err), OVA_OK);
    char buf[16] = { 0 };
    size_t done = 99;
    assert_int_equal(ova_pread_full(fd, buf, 5, 106, &done), 0);
    assert_int_equal(done, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(ova_pread_full(fd, buf, 16, 106, &done), 0); /* end of file: short */
    assert_int_equal(done, 5);
    assert_int_equal(ova_pread_exact(fd, buf, 16, 106, "x.vmdk", "a grain table", &err), OVA_E_FORMAT);
    assert_string_equal(err.msg, "x.vmdk: unexpected end of file at offset 111 reading a grain table (file "
                                 "truncated?)");
    assert_int_equal(ova_pread_exact(fd, buf, 11, 100, "x.vmdk", "data", &err), OVA_OK);
    assert_memory_equal(buf, "hello world", 11);
    close(fd);
    unlink(path);
    ova_err_clear(&err); /* an ova_err keeps its first message */
    assert_int_equal(ova_pwrite_exact(-1, "x", 1, 42, "some.ova", &err), OVA_E_IO);
    assert_non_null(strstr(err.msg, "some.ova"));
    assert_non_null(strstr(err.msg, "write at offset 42 failed"));
    assert_int_equal(ova_pread_full(-1, buf, 1, 0, &done), EBADF);
}

static void t_model_tables(void **state)
{
    (void)state;
    static const ova_scsi_model scsi[] = { OVA_SCSI_LSILOGIC, OVA_SCSI_LSISAS, OVA_SCSI_PVSCSI,
                                           OVA_SCSI_BUSLOGIC };
    for (size_t i = 0; i < sizeof scsi / sizeof scsi[0]; i++) {
        ova_scsi_model m = OVA_SCSI_NONE;
        assert_true(ova_scsi_model_parse(ova_scsi_model_name(scsi[i]), &m));
        assert_int_equal(m, scsi[i]);
        assert_non_null(ova_scsi_model_subtype(scsi[i]));
    }
    ova_scsi_model m = OVA_SCSI_NONE;
    assert_true(ova_scsi_model_parse("PVSCSI", &m)); /* any case, as VMware reads it */
    assert_int_equal(m, OVA_SCSI_PVSCSI);
    assert_string_equal(ova_scsi_model_subtype(OVA_SCSI_PVSCSI), "VirtualSCSI");
    assert_string_equal(ova_scsi_model_name(OVA_SCSI_LSISAS), "lsisas1068");
    assert_string_equal(ova_scsi_model_subtype(OVA_SCSI_LSISAS), "lsilogicsas");
    assert_false(ova_scsi_model_parse("megaraid", &m));
    assert_string_equal(ova_scsi_model_name(OVA_SCSI_NONE), "");
    assert_null(ova_scsi_model_subtype(OVA_SCSI_NONE));

    static const ova_nic_model nic[] = { OVA_NIC_E1000, OVA_NIC_E1000E, OVA_NIC_VMXNET3, OVA_NIC_VMXNET,
                                         OVA_NIC_PCNET32 };
    for (size_t i = 0; i < sizeof nic / sizeof nic[0]; i++) {
        ova_nic_model n = OVA_NIC_E1000;
        assert_true(ova_nic_model_parse(ova_nic_model_name(nic[i]), &n));
        assert_int_equal(n, nic[i]);
        assert_non_null(ova_nic_model_subtype(nic[i]));
    }
    assert_string_equal(ova_nic_model_name(OVA_NIC_PCNET32), "vlance");
    assert_string_equal(ova_nic_model_subtype(OVA_NIC_VMXNET3), "VmxNet3");
    ova_nic_model n = OVA_NIC_E1000;
    assert_false(ova_nic_model_parse("e1000x", &n));
    assert_int_equal(n, OVA_NIC_E1000);
}

static void t_sha_table(void **state)
{
    (void)state;
    static const ova_sha algs[] = { OVA_SHA1, OVA_SHA256, OVA_SHA512 };
    for (size_t i = 0; i < 3; i++) {
        const char *label = ova_sha_label(algs[i]);
        ova_sha a = 0;
        assert_true(ova_sha_from_label(label, strlen(label), &a));
        assert_int_equal(a, algs[i]);
        assert_true(ova_sha_parse(label, &a));
        assert_int_equal(a, algs[i]);
        assert_non_null(ova_sha_md(algs[i]));
        assert_int_equal((size_t)EVP_MD_get_size(ova_sha_md(algs[i])), ova_sha_len(algs[i]));
    }
    ova_sha a = 0;
    assert_true(ova_sha_parse("sha256", &a));
    assert_false(ova_sha_from_label("sha256", 6, &a)); /* a manifest spells it exactly */
    assert_false(ova_sha_from_label("SHA2", 4, &a));
    assert_null(ova_sha_md((ova_sha)3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_grow),
        cmocka_unit_test(t_pread_pwrite),
        cmocka_unit_test(t_model_tables),
        cmocka_unit_test(t_sha_table),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
