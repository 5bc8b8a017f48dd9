/* manifest.c - digest algorithm names and `ALG(name)= hex` manifest lines. */
#include "ovatool/manifest.h"

#include <strings.h>

const char *ova_sha_label(ova_sha alg)
{
    /* built by hand: OpenSSL 3 says "SHA2-256", which vCenter rejects */
    switch (alg) {
    case OVA_SHA1: return "SHA1";
    case OVA_SHA256: return "SHA256";
    case OVA_SHA512: return "SHA512";
    }
    return "unknown";
}

size_t ova_sha_len(ova_sha alg)
{
    switch (alg) {
    case OVA_SHA1: return 20;
    case OVA_SHA256: return 32;
    case OVA_SHA512: return 64;
    }
    return 0;
}

int ova_sha_parse(const char *s, ova_sha *alg)
{
    static const struct {
        const char *name;
        ova_sha alg;
    } names[] = {
        {"sha1", OVA_SHA1},
        {"sha256", OVA_SHA256},
        {"sha512", OVA_SHA512},
    };
    if (s == NULL || alg == NULL)
        return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *alg = names[i].alg;
            return 1;
        }
    }
    return 0;
}

void ova_manifest_line(ova_buf *out, ova_sha alg, const char *name, const unsigned char *digest)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = ova_sha_len(alg);
    if (n == 0 || name == NULL || digest == NULL) {
        /* a caller bug; use the buffer's sticky failure so the check the
         * caller makes once at the end catches it instead of a bad .mf */
        out->failed = true;
        return;
    }
    /* exact spelling matters: no blank before '(' or before '=', one after */
    ova_buf_puts(out, ova_sha_label(alg));
    ova_buf_putc(out, '(');
    ova_buf_puts(out, name);
    ova_buf_puts(out, ")= ");
    char h[128];
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = hex[digest[i] >> 4];
        h[2 * i + 1] = hex[digest[i] & 0x0f];
    }
    ova_buf_append(out, h, 2 * n);
    ova_buf_putc(out, '\n');
}
