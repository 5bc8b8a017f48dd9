/* cli_schema.c - where `ovatool validate` finds the DMTF OVF schema.
 *
 * The schema ships with ovatool (src/schema/ in the sources, installed to
 * DATADIR/ovatool/ovf-schema). An installed binary finds it relative to its
 * own location, so an installation that is moved or copied to another prefix
 * keeps working; a binary in the build tree finds the copy CMake puts beside
 * it. The user's choice wins: --schema DIR, then OVATOOL_SCHEMA_DIR. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define SCHEMA_MAIN "dsp8023_1.1.1.xsd"

/* From the installed bin/ folder to the installed schema folder, e.g.
 * "../share/ovatool/ovf-schema" (CMakeLists.txt derives it from
 * GNUInstallDirs), and where the build tree keeps its copy. */
#ifndef OVATOOL_SCHEMA_FROM_BINDIR
#error "OVATOOL_SCHEMA_FROM_BINDIR must be defined by the build"
#endif
#define SCHEMA_IN_BUILD_TREE "share/ovatool/ovf-schema"

static bool has_schema(const char *dir)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, SCHEMA_MAIN);
    return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

/* The folder holding the running executable, without a trailing slash. */
static bool exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0 || (size_t)n >= len - 1)
        return false;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    return true;
}

const char *cli_schema_dir(const char *given, char *buf, size_t len, char *why, size_t why_len)
{
    const char *from = "--schema";
    if (given == NULL || given[0] == '\0') {
        given = getenv("OVATOOL_SCHEMA_DIR");
        from = "OVATOOL_SCHEMA_DIR";
    }
    if (given != NULL && given[0] != '\0') {
        if (has_schema(given))
            return given;
        snprintf(why, why_len, "%s/%s not found (the schema folder given by %s)", given, SCHEMA_MAIN, from);
        return NULL;
    }
    char dir[PATH_MAX];
    if (!exe_dir(dir, sizeof dir)) {
        snprintf(why, why_len, "cannot tell where the ovatool executable is (/proc/self/exe); "
                               "give the schema folder with --schema DIR or OVATOOL_SCHEMA_DIR");
        return NULL;
    }
    const char *rel[] = { OVATOOL_SCHEMA_FROM_BINDIR, SCHEMA_IN_BUILD_TREE };
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        int n = snprintf(buf, len, "%s/%s", dir, rel[i]);
        if (n > 0 && (size_t)n < len && has_schema(buf))
            return buf;
    }
    snprintf(why, why_len, "the OVF schema is not installed: neither %s/%s nor %s/%s holds %s; reinstall "
                           "ovatool, or give the folder with --schema DIR or OVATOOL_SCHEMA_DIR",
             dir, OVATOOL_SCHEMA_FROM_BINDIR, dir, SCHEMA_IN_BUILD_TREE, SCHEMA_MAIN);
    return NULL;
}
