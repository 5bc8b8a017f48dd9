/* manifest.c - digest algorithm names and `ALG(name)= hex` manifest lines. */
#include "ovatool/manifest.h"

#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

/* The one table of digest algorithms. Labels are built by hand: OpenSSL 3
 * says "SHA2-256", which vCenter rejects. */
static const struct {
    ova_sha alg;
    const char *label;
    size_t len;
} SHA[] = {
    { OVA_SHA1, "SHA1", 20 },
    { OVA_SHA256, "SHA256", 32 },
    { OVA_SHA512, "SHA512", 64 },
};

#define N_SHA (sizeof SHA / sizeof SHA[0])

const char *ova_sha_label(ova_sha alg)
{
    for (size_t i = 0; i < N_SHA; i++)
        if (SHA[i].alg == alg)
            return SHA[i].label;
    return "unknown";
}

size_t ova_sha_len(ova_sha alg)
{
    for (size_t i = 0; i < N_SHA; i++)
        if (SHA[i].alg == alg)
            return SHA[i].len;
    return 0;
}

int ova_sha_parse(const char *s, ova_sha *alg)
{
    /* "sha256", "SHA256", any case: the label is the name */
    if (s == NULL || alg == NULL)
        return 0;
    for (size_t i = 0; i < N_SHA; i++) {
        if (strcasecmp(s, SHA[i].label) == 0) {
            *alg = SHA[i].alg;
            return 1;
        }
    }
    return 0;
}

int ova_sha_from_label(const char *s, size_t n, ova_sha *alg)
{
    for (size_t i = 0; i < N_SHA; i++) {
        if (strlen(SHA[i].label) == n && memcmp(s, SHA[i].label, n) == 0) {
            *alg = SHA[i].alg;
            return 1;
        }
    }
    return 0;
}

const EVP_MD *ova_sha_md(ova_sha alg)
{
    switch (alg) {
    case OVA_SHA1: return EVP_sha1();
    case OVA_SHA256: return EVP_sha256();
    case OVA_SHA512: return EVP_sha512();
    }
    return NULL;
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
