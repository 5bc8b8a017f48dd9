/* unit_skip.h - a skipped check is reported as SKIP, never as PASS.
 *
 * cmocka counts skip() as "not failed", so a test program whose checks were
 * all skipped would exit 0 and ctest would call it passed. Every unit test
 * program therefore ends with `return ova_test_exit(cmocka_run_group_tests(...))`:
 * any skip turns a clean run into exit 77, which tests/CMakeLists.txt maps to
 * ctest's SKIP (and CI fails on a skip it does not expect). */
#ifndef OVATOOL_UNIT_SKIP_H
#define OVATOOL_UNIT_SKIP_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

/* ctest's SKIP_RETURN_CODE for every test (tests/CMakeLists.txt) */
#define OVA_TEST_SKIPPED 77

extern int ova_tests_skipped;

/* Skip the rest of this test, saying why. */
#define OVA_SKIP(...)                                                                                             \
    do {                                                                                                          \
        print_message("SKIP: " __VA_ARGS__);                                                                      \
        ova_tests_skipped++;                                                                                      \
        skip();                                                                                                   \
    } while (0)

/* One part of a test could not run; the rest goes on. */
#define OVA_SKIP_PART(...)                                                                                        \
    do {                                                                                                          \
        print_message("SKIP: " __VA_ARGS__);                                                                      \
        ova_tests_skipped++;                                                                                      \
    } while (0)

/* The exit status for main: failures win, then skips. */
int ova_test_exit(int failed);

#endif
