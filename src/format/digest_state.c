/* digest_state.c - SHA with a state that is plain bytes (digest_state.h).
 * The only file that uses OpenSSL's low-level SHA contexts, deprecated in
 * OpenSSL 3.0 because they cannot use providers; the warning is silenced
 * here and nowhere else. The hashing itself is OpenSSL's. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "format/digest_state.h"

#include <string.h>

#include <openssl/sha.h>

_Static_assert(sizeof(SHA_CTX) <= OVA_DIGEST_STATE_BYTES, "SHA_CTX fits the state");
_Static_assert(sizeof(SHA256_CTX) <= OVA_DIGEST_STATE_BYTES, "SHA256_CTX fits the state");
_Static_assert(sizeof(SHA512_CTX) <= OVA_DIGEST_STATE_BYTES, "SHA512_CTX fits the state");

ova_status ova_digest_state_init(ova_digest_state *s, ova_sha alg, ova_err *err)
{
    memset(s, 0, sizeof *s);
    s->alg = (uint32_t)alg;
    int ok = 0;
    switch (alg) {
    case OVA_SHA1:
        ok = SHA1_Init((SHA_CTX *)(void *)s->ctx);
        break;
    case OVA_SHA256:
        ok = SHA256_Init((SHA256_CTX *)(void *)s->ctx);
        break;
    case OVA_SHA512:
        ok = SHA512_Init((SHA512_CTX *)(void *)s->ctx);
        break;
    }
    return ok == 1 ? OVA_OK : ova_err_set(err, OVA_E_INTERNAL, "digest init failed (algorithm %u)", (unsigned)alg);
}

ova_status ova_digest_state_update(ova_digest_state *s, const void *p, size_t n, ova_err *err)
{
    int ok = 0;
    switch ((ova_sha)s->alg) {
    case OVA_SHA1:
        ok = SHA1_Update((SHA_CTX *)(void *)s->ctx, p, n);
        break;
    case OVA_SHA256:
        ok = SHA256_Update((SHA256_CTX *)(void *)s->ctx, p, n);
        break;
    case OVA_SHA512:
        ok = SHA512_Update((SHA512_CTX *)(void *)s->ctx, p, n);
        break;
    }
    return ok == 1 ? OVA_OK : ova_err_set(err, OVA_E_INTERNAL, "digest update failed");
}

ova_status ova_digest_state_final(ova_digest_state *s, unsigned char *out, ova_err *err)
{
    int ok = 0;
    switch ((ova_sha)s->alg) {
    case OVA_SHA1:
        ok = SHA1_Final(out, (SHA_CTX *)(void *)s->ctx);
        break;
    case OVA_SHA256:
        ok = SHA256_Final(out, (SHA256_CTX *)(void *)s->ctx);
        break;
    case OVA_SHA512:
        ok = SHA512_Final(out, (SHA512_CTX *)(void *)s->ctx);
        break;
    }
    return ok == 1 ? OVA_OK : ova_err_set(err, OVA_E_INTERNAL, "digest final failed");
}
