/* test_buf.c - the growable buffer and its XML / JSON escaping. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <string.h>

#include "ovatool/buf.h"
#include "ovatool/status.h"

static void t_append(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        ova_buf_printf(&b, "%d,", i);
    assert_false(ova_buf_failed(&b));
    assert_int_equal(strlen(b.data), b.len);
    assert_memory_equal(b.data, "0,1,2,", 6);
    ova_buf_reset(&b);
    assert_int_equal(b.len, 0);
    ova_buf_fill(&b, ' ', 3);
    ova_buf_putc(&b, 'x');
    assert_string_equal(b.data, "   x");
    ova_buf_free(&b);
    assert_null(b.data);
}

static void t_xml(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    ova_buf_put_xml(&b, "a&b<c>\"d\" 'e' caf\xC3\xA9 \x01tab\there");
    assert_string_equal(b.data, "a&amp;b&lt;c&gt;&quot;d&quot; &apos;e&apos; caf\xC3\xA9 tab\there");
    ova_buf_reset(&b);
    /* invalid UTF-8 (a lone windows-1252 byte, an overlong slash, a surrogate) becomes U+FFFD */
    ova_buf_put_xml(&b, "x\xE9y\xC0\xAFz\xED\xA0\x80");
    assert_string_equal(b.data, "x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    ova_buf_free(&b);
}

static void t_json(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    ova_buf_put_json(&b, "q\"b\\s\n\x01 \xC3\xA9");
    assert_string_equal(b.data, "q\\\"b\\\\s\\u000a\\u0001 \xC3\xA9");
    ova_buf_free(&b);
}

static void t_err(void **state)
{
    (void)state;
    ova_err e;
    ova_err_clear(&e);
    assert_int_equal(ova_err_set(&e, OVA_E_FORMAT, "%s: line %d", "x.vmx", 3), OVA_E_FORMAT);
    ova_err_set(&e, OVA_E_IO, "second");
    assert_string_equal(e.msg, "x.vmx: line 3"); /* the first failure wins */
    assert_int_equal(e.status, OVA_E_FORMAT);
    ova_err_clear(&e);
    ova_err_errno(&e, OVA_E_IO, 2, "%s", "f");
    assert_string_equal(e.msg, "f: No such file or directory");
    assert_int_equal(ova_err_set(NULL, OVA_E_IO, "ignored"), OVA_E_IO);
    assert_string_equal(ova_strstatus(OVA_E_NOMEM), "out of memory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_append),
        cmocka_unit_test(t_xml),
        cmocka_unit_test(t_json),
        cmocka_unit_test(t_err),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
