/* test_fleet_names.c - a fleet's OVA names (engine/fleet_names.h): names
 * that do not clash stay; clashing ones become the VMX files' names, and
 * what still clashes gets -2, -3, ... in list order; VMs left out neither
 * get a name nor block one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "engine/fleet_names.h"

static char g_out[8][OVA_FLEET_PATH_MAX];

static void set(size_t n, const char *const *names)
{
    for (size_t i = 0; i < n; i++)
        snprintf(g_out[i], sizeof g_out[i], "%s", names[i]);
}

static void t_distinct_names_stay(void **state)
{
    (void)state;
    const char *vmx[] = { "/a/x.vmx", "/b/y.vmx" };
    const char *in[] = { "out/web.ova", "out/db.ova" };
    set(2, in);
    ova_fleet_names("out", vmx, g_out, 2);
    assert_string_equal(g_out[0], "out/web.ova");
    assert_string_equal(g_out[1], "out/db.ova");
}

static void t_clashes_take_vmx_names(void **state)
{
    (void)state;
    /* three clones named "demo"; two VMX files share a name; ".VMX" in capitals */
    const char *vmx[] = { "/s1/web/web.vmx", "/s2/web/web.vmx", "db.VMX", "/x/other.vmx" };
    const char *in[] = { "out/demo.ova", "out/demo.ova", "out/demo.ova", "out/other.ova" };
    set(4, in);
    ova_fleet_names("out/", vmx, g_out, 4);
    assert_string_equal(g_out[0], "out/web.ova");
    assert_string_equal(g_out[1], "out/web-2.ova");
    assert_string_equal(g_out[2], "out/db.ova");
    assert_string_equal(g_out[3], "out/other.ova");
}

static void t_clones_named_as_their_vmx_keep_list_order(void **state)
{
    (void)state;
    /* VMware's default: the display name is the VMX file's name; the first
     * given keeps the plain name (it came out reversed: web-2, web) */
    const char *vmx[] = { "/a/web.vmx", "/b/web.vmx", "/c/web.vmx" };
    const char *in[] = { "o/web.ova", "o/web.ova", "o/web.ova" };
    set(3, in);
    ova_fleet_names("o", vmx, g_out, 3);
    assert_string_equal(g_out[0], "o/web.ova");
    assert_string_equal(g_out[1], "o/web-2.ova");
    assert_string_equal(g_out[2], "o/web-3.ova");
}

static void t_vmx_name_taken_by_another_vm(void **state)
{
    (void)state;
    /* the clones' VMX is "db.vmx", but a third VM is named "db" */
    const char *vmx[] = { "/a/db.vmx", "/b/db.vmx", "/c/c.vmx" };
    const char *in[] = { "o/same.ova", "o/same.ova", "o/db.ova" };
    set(3, in);
    ova_fleet_names("o", vmx, g_out, 3);
    assert_string_equal(g_out[0], "o/db-2.ova");
    assert_string_equal(g_out[1], "o/db-3.ova");
    assert_string_equal(g_out[2], "o/db.ova");
}

static void t_left_out_and_odd_names(void **state)
{
    (void)state;
    /* a VM left out ("") blocks nothing; a VMX name is sanitised like a VM name */
    const char *vmx[] = { "/a/my vm;1.vmx", "/b/z.vmx", "/c/y.vmx" };
    const char *in[] = { "o/v.ova", "", "o/v.ova" };
    set(3, in);
    ova_fleet_names("o", vmx, g_out, 3);
    assert_string_equal(g_out[0], "o/my_vm_1.ova");
    assert_string_equal(g_out[1], "");
    assert_string_equal(g_out[2], "o/y.ova");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_distinct_names_stay),
        cmocka_unit_test(t_clashes_take_vmx_names),
        cmocka_unit_test(t_clones_named_as_their_vmx_keep_list_order),
        cmocka_unit_test(t_vmx_name_taken_by_another_vm),
        cmocka_unit_test(t_left_out_and_odd_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
