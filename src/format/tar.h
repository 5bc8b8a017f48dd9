/* tar.h - ustar member headers for the OVA archive.
 *
 * An OVA is a plain ustar archive (docs/formats.md section 5.2):
 * 512-byte headers, data padded to 512 bytes, two zero blocks at the end.
 * Members of 8 GiB and more get their size in GNU base-256 form; PAX headers
 * are never written (vSphere and VirtualBox reject them).
 */
#ifndef OVATOOL_TAR_H
#define OVATOOL_TAR_H

#include <stdint.h>

#include "ovatool/status.h"

#define OVA_TAR_BLOCK 512u

/* Largest size the 11 octal digits of the ustar size field can hold. */
#define OVA_TAR_OCTAL_MAX 077777777777ull

/* Fill hdr (512 bytes) with a regular-file header: mode 0644, uid/gid 0,
 * uname/gname "root", POSIX "ustar\0" "00" magic, the given size and mtime.
 * name must be a plain member name (no '/'), 1..99 bytes. */
ova_status ova_tar_header(unsigned char hdr[OVA_TAR_BLOCK], const char *name, uint64_t size,
                          int64_t mtime, ova_err *err);

/* Bytes of zero padding that follow size bytes of member data. */
static inline uint64_t ova_tar_padding(uint64_t size)
{
    return (OVA_TAR_BLOCK - size % OVA_TAR_BLOCK) % OVA_TAR_BLOCK;
}

/* Decode a header's size field (octal or base-256). Returns false if the
 * field is malformed. Used by tests and by readers of OVAs. */
int ova_tar_parse_size(const unsigned char hdr[OVA_TAR_BLOCK], uint64_t *size);

/* Recompute a header's checksum and compare; nonzero if it matches. */
int ova_tar_checksum_ok(const unsigned char hdr[OVA_TAR_BLOCK]);

#endif
