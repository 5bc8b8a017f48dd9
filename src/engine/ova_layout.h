/* ova_layout.h - where the OVA's members go, and the front of the archive.
 *
 * [.ovf header][.ovf][.mf header][.mf][disk members...][two zero blocks]
 *
 * The OVF and the manifest come first but depend on the disks' sizes and
 * digests, known only at the end, so their space is reserved when the
 * writer opens and filled last (ova_writer.h says how): the .mf has an
 * exact length, the .ovf the length of the document written with the
 * widest possible numbers, and the real document is padded to it. */
#ifndef OVATOOL_OVA_LAYOUT_H
#define OVATOOL_OVA_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/buf.h"
#include "ovatool/manifest.h"
#include "ovatool/status.h"
#include "format/tar.h"

/* The archive ends in two zero blocks. */
#define OVA_LAYOUT_TRAILER (2 * OVA_TAR_BLOCK)

typedef struct ova_layout {
    char ovf_name[100];
    char mf_name[100];
    uint64_t ovf_len;         /* reserved (and final) .ovf length */
    uint64_t mf_len;          /* exact .mf length */
} ova_layout;

/* The .ovf and .mf member names for a member base (ova_member_base). */
void ova_layout_names(ova_layout *l, const char *base);

/* Bytes of the manifest line for a member: "SHA256(name)= hex\n". */
uint64_t ova_layout_mf_line(ova_sha sha, const char *name);

/* Bytes before the first disk member: both headers, the reserved .ovf and
 * the .mf, each padded to whole blocks. */
uint64_t ova_layout_front_len(const ova_layout *l);

/* Pad the final OVF to its reserved length (blanks after </Envelope>,
 * ending in LF); an OVF longer than reserved is an internal error. */
ova_status ova_layout_pad_ovf(const ova_layout *l, ova_buf *ovf, ova_err *err);

/* The front of the archive, ova_layout_front_len bytes in *front (the
 * caller frees it): the tar headers (mtime) and contents of the padded OVF
 * and of the manifest, which must have exactly its reserved length. */
ova_status ova_layout_front(const ova_layout *l, const ova_buf *ovf, const ova_buf *mf, int64_t mtime,
                            unsigned char **front, ova_err *err);

#endif
