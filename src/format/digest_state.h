/* digest_state.h - a SHA digest whose running state is plain bytes, so it
 * can be handed from one process to another and continued there.
 *
 * Why: with distributed writing (mpi_dwrite.c) each disk member's bytes
 * are spread over the ranks that compressed them, but the manifest needs
 * one SHA stream per member. The stream is handed on in unit order: rank 0
 * sends the state to the rank holding the next unit, which hashes its
 * bytes and sends the state back. OpenSSL's EVP contexts cannot be
 * exported, so this wraps the low-level SHA1/SHA256/SHA512 contexts
 * (deprecated in OpenSSL 3.0, still present), the one place that uses
 * them. The bytes are only meaningful to a process of the same build and
 * architecture: before engaging, every rank continues a state rank 0 began
 * and compares the digest with rank 0's (mpi_dwrite.c state_layout_agrees). */
#ifndef OVATOOL_DIGEST_STATE_H
#define OVATOOL_DIGEST_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/manifest.h"
#include "ovatool/status.h"

/* Large enough for any of the three contexts (checked in digest_state.c). */
#define OVA_DIGEST_STATE_BYTES 256u

typedef struct ova_digest_state {
    uint32_t alg;       /* ova_sha */
    uint32_t reserved;
    _Alignas(16) unsigned char ctx[OVA_DIGEST_STATE_BYTES];
} ova_digest_state;

/* Start a digest; OVA_E_INTERNAL for an algorithm outside ova_sha. */
ova_status ova_digest_state_init(ova_digest_state *s, ova_sha alg, ova_err *err);

/* Hash n more bytes. */
ova_status ova_digest_state_update(ova_digest_state *s, const void *p, size_t n, ova_err *err);

/* The digest (ova_sha_len bytes into out); s is spent afterwards. */
ova_status ova_digest_state_final(ova_digest_state *s, unsigned char *out, ova_err *err);

#endif
