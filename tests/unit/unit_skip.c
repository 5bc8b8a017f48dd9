/* unit_skip.c - the skip counter behind unit_skip.h. */
#include "unit_skip.h"

int ova_tests_skipped;

int ova_test_exit(int failed)
{
    if (failed != 0)
        return failed;
    return ova_tests_skipped > 0 ? OVA_TEST_SKIPPED : 0;
}
