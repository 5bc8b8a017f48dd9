/* fuzz_manifest.c - manifest lines (validate.h: ova_manifest_parse_line),
 * each line of the input in turn, as `ovatool validate` reads a .mf.
 *
 * Contracts checked: a line that parses is written back byte for byte by
 * ova_manifest_line (manifest.h; the digest's hex in any case); a failure
 * says why; a smaller name buffer only ever refuses names that do not
 * fit. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "ovatool/buf.h"
#include "ovatool/manifest.h"
#include "ovatool/validate.h"

#define SMALL_CAP 8

static void one_line(const char *line, size_t len)
{
    ova_sha alg = 0, alg8 = 0;
    char name[OVA_VNAME_MAX + 1], name8[SMALL_CAP];
    unsigned char dg[64], dg8[64];
    const char *why = NULL, *why8 = NULL;
    int ok = ova_manifest_parse_line(line, len, &alg, name, sizeof name, dg, &why);
    int ok8 = ova_manifest_parse_line(line, len, &alg8, name8, sizeof name8, dg8, &why8);
    if (!ok && why == NULL)
        fuzz_fail("a refused line without a reason");
    if (ok8 && (!ok || strcmp(name, name8) != 0 || alg != alg8))
        fuzz_fail("the line parses with a %d-byte name buffer but not (or differently) with a larger one", SMALL_CAP);
    if (!ok)
        return;
    size_t nl = strlen(name);
    if (nl == 0 || nl >= sizeof name)
        fuzz_fail("name of %zu bytes", nl);
    if (!ok8 && nl < SMALL_CAP)
        fuzz_fail("a %zu-byte name refused with a %d-byte buffer", nl, SMALL_CAP);
    /* written back: the same line, and a '\n' */
    ova_buf out = OVA_BUF_INIT;
    ova_manifest_line(&out, alg, name, dg);
    size_t hex = 2 * ova_sha_len(alg);
    if (ova_buf_failed(&out))
        fuzz_fail("out of memory");
    if (out.len != len + 1 || out.data[len] != '\n' || len < hex ||
        memcmp(out.data, line, len - hex) != 0 || strncasecmp(out.data + len - hex, line + len - hex, hex) != 0)
        fuzz_fail("line \"%.*s\" parses but is written back as \"%.*s\"", (int)len, line, (int)out.len, out.data);
    ova_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    for (size_t at = 0; at <= size;) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t ll = nl ? (size_t)(nl - (text + at)) : size - at;
        one_line(text + at, ll);
        at += ll + 1;
    }
    return 0;
}
