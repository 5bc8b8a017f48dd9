/* test_cli_json.c - the command line's JSON writer (src/cli/cli_json.c):
 * commas, nesting, escaping, numbers, and the failures it must report. The
 * outputs of export/info/validate --json are compared byte for byte with
 * the previous build by tests/compare_builds.sh and read by the e2e tests;
 * here each rule is pinned on its own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <math.h>
#include <string.h>

#include "cli_json.h"

static void t_flat_object(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    cli_json j;
    cli_json_init(&j, &b);
    cli_json_object(&j, NULL);
    cli_json_str(&j, "s", "a\"b\\c\n\x01");
    cli_json_str(&j, "null", NULL);
    cli_json_strn(&j, "part", "abcdef", 3);
    cli_json_int(&j, "neg", -5);
    cli_json_int(&j, "min", INT64_MIN);
    cli_json_uint(&j, "max", UINT64_MAX);
    cli_json_double(&j, "d", 0.17334, 4);
    cli_json_double(&j, "r", 106208822.4, 0);
    cli_json_double(&j, "nan", NAN, 3);
    cli_json_double(&j, "inf", -INFINITY, 3);
    cli_json_bool(&j, "t", true);
    cli_json_bool(&j, "f", false);
    cli_json_end(&j);
    assert_false(ova_buf_failed(&b));
    assert_string_equal(b.data, "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\",\"null\":null,\"part\":\"abc\",\"neg\":-5,"
                                "\"min\":-9223372036854775808,\"max\":18446744073709551615,\"d\":0.1733,"
                                "\"r\":106208822,\"nan\":null,\"inf\":null,\"t\":true,\"f\":false}");
    ova_buf_free(&b);
}

static void t_nesting_and_commas(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    cli_json j;
    cli_json_init(&j, &b);
    cli_json_object(&j, NULL);
    cli_json_array(&j, "empty");
    cli_json_end(&j);
    cli_json_array(&j, "objs");
    for (int i = 0; i < 3; i++) {
        cli_json_object(&j, NULL);
        cli_json_int(&j, "i", i);
        cli_json_array(&j, "x");
        cli_json_str(&j, NULL, "p");
        cli_json_uint(&j, NULL, 7);
        cli_json_end(&j);
        cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_object(&j, "o");
    cli_json_end(&j);
    cli_json_bool(&j, "last", true);
    cli_json_end(&j);
    assert_false(ova_buf_failed(&b));
    assert_int_equal(j.depth, 0);
    assert_string_equal(b.data, "{\"empty\":[],\"objs\":[{\"i\":0,\"x\":[\"p\",7]},{\"i\":1,\"x\":[\"p\",7]},"
                                "{\"i\":2,\"x\":[\"p\",7]}],\"o\":{},\"last\":true}");
    ova_buf_free(&b);
}

/* a key needing escapes is escaped like a value */
static void t_key_escaped(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    cli_json j;
    cli_json_init(&j, &b);
    cli_json_object(&j, NULL);
    cli_json_int(&j, "a\"b", 1);
    cli_json_end(&j);
    assert_string_equal(b.data, "{\"a\\\"b\":1}");
    ova_buf_free(&b);
}

/* misuse is reported through the buffer, never written as broken JSON
 * that looks fine */
static void t_failures(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    cli_json j;
    cli_json_init(&j, &b);
    cli_json_end(&j); /* nothing open */
    assert_true(ova_buf_failed(&b));
    ova_buf_free(&b);

    ova_buf c = OVA_BUF_INIT;
    cli_json_init(&j, &c);
    for (int i = 0; i < CLI_JSON_DEPTH; i++)
        cli_json_array(&j, NULL);
    assert_false(ova_buf_failed(&c));
    cli_json_array(&j, NULL); /* one deeper than the writer keeps */
    assert_true(ova_buf_failed(&c));
    ova_buf_free(&c);

    /* a buffer that already failed stays failed (out of memory) */
    ova_buf d = OVA_BUF_INIT;
    d.failed = true;
    cli_json_init(&j, &d);
    cli_json_object(&j, NULL);
    cli_json_strn(&j, "k", "v", 1);
    cli_json_end(&j);
    assert_true(ova_buf_failed(&d));
    ova_buf_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_flat_object),
        cmocka_unit_test(t_nesting_and_commas),
        cmocka_unit_test(t_key_escaped),
        cmocka_unit_test(t_failures),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
