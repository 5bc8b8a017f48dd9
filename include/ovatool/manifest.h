/* manifest.h - the OVA manifest (.mf): one `ALG(name)= hex` line per file.
 *
 * The exact spelling matters: ESXi rejects `SHA256 (name) = hex` and
 * `SHA2-256(name)= hex` (docs/formats.md section 5.3).
 */
#ifndef OVATOOL_MANIFEST_H
#define OVATOOL_MANIFEST_H

#include <stddef.h>

#include "ovatool/buf.h"
#include "ovatool/status.h"

typedef enum ova_sha {
    OVA_SHA1 = 1,
    OVA_SHA256 = 256,
    OVA_SHA512 = 512
} ova_sha;

/* "SHA1", "SHA256", "SHA512". */
const char *ova_sha_label(ova_sha alg);

/* Digest length in bytes (20, 32, 64). */
size_t ova_sha_len(ova_sha alg);

/* Parse "sha1" / "sha256" / "sha512" (any case); false if unknown. */
int ova_sha_parse(const char *s, ova_sha *alg);

/* The n bytes at s are exactly a label ("SHA256", case and all, as a
 * manifest line must spell it): 1 and *alg set, else 0. */
int ova_sha_from_label(const char *s, size_t n, ova_sha *alg);

/* OpenSSL's digest for alg; NULL for a value outside the enum. */
struct evp_md_st;
const struct evp_md_st *ova_sha_md(ova_sha alg);

/* Append `LABEL(name)= hex\n` for a digest of ova_sha_len(alg) bytes. */
void ova_manifest_line(ova_buf *out, ova_sha alg, const char *name, const unsigned char *digest);

#endif
