/* unit_shell.c - shell helpers of the unit tests (unit_shell.h). */
#include "unit_shell.h"

#include <limits.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

int unit_run(const char *dir, int quiet, const char *fmt, ...)
{
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && ( ", dir);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) + 20 >= sizeof cmd)
        fail_msg("command too long: %.80s...", cmd);
    snprintf(cmd + n + m, sizeof cmd - (size_t)(n + m), " )%s", quiet ? " >/dev/null" : "");
    return system(cmd);
}

const char *unit_path(const char *dir, const char *name)
{
    static char bufs[4][PATH_MAX];
    static int k;
    char *b = bufs[k++ % 4];
    if (snprintf(b, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        fail_msg("path too long: %s", name);
    return b;
}

int unit_have(const char *cmd)
{
    char buf[256];
    snprintf(buf, sizeof buf, "command -v %s >/dev/null 2>&1", cmd);
    return system(buf) == 0;
}
