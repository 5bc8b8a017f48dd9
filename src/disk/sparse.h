/* sparse.h - hosted sparse (KDMV) extents as input: header and footer
 * checks, grain directory / grain table blocks, compressed grain records
 * (docs/formats.md sections 1 and 3). Internal to src/disk; the
 * functions take an open file descriptor and never keep state.
 */
#ifndef OVATOOL_SPARSE_H
#define OVATOOL_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/disk.h"
#include "ovatool/limits.h"
#include "ovatool/status.h"
#include "format/sparse_header.h"

/* Read and check (ova_sparse_header_check) the header of the sparse file open as fd (path in
 * messages, file_size its size). For a stream whose header says GD_AT_END,
 * also finds and checks the footer (marker, header copy, EOS) at the end of
 * the file and returns its values. Errors name the file and the field. */
ova_status ova_sparse_read_header(int fd, const char *path, uint64_t file_size, ova_sparse_header *h,
                                  ova_err *err);

/* The embedded descriptor (h->desc_offset != 0) as a malloc'd NUL-ended
 * text of at most max bytes. */
ova_status ova_sparse_read_descriptor(int fd, const char *path, const ova_sparse_header *h, size_t max,
                                      char **text, size_t *len, ova_err *err);

/* Grain directory entries [block * 512, block * 512 + 512) of extent e into
 * out (entries past the directory are 0). Adds the bytes read to *nread. */
ova_status ova_sparse_read_gd_block(int fd, const ova_extent *e, uint64_t block, uint32_t out[OVA_SPARSE_GTES],
                                    uint64_t *nread, ova_err *err);

/* Grain table gdi of extent e, whose directory entry is gde (nonzero). */
ova_status ova_sparse_read_gt(int fd, const ova_extent *e, uint64_t gdi, uint32_t gde,
                              uint32_t out[OVA_SPARSE_GTES], uint64_t *nread, ova_err *err);

/* Check a grain table entry > 1 of an uncompressed extent: the bytes of
 * grain `grain` the extent covers lie within the file. */
ova_status ova_sparse_check_gte(const ova_extent *e, uint64_t grain, uint32_t gte, ova_err *err);

/* Scratch size for ova_sparse_read_stream_grain. */
#define OVA_SPARSE_CBUF_SIZE (OVA_SPARSE_MAX_CSIZE + 1024u)

/* Read the compressed grain record at sector gte of extent e, check that its
 * marker names grain `grain`, and inflate it into out (out_cap bytes, at
 * most one grain). cbuf is OVA_SPARSE_CBUF_SIZE bytes of scratch. *out_len
 * gets the inflated length (a stream's last grain may be short). */
ova_status ova_sparse_read_stream_grain(int fd, const ova_extent *e, uint64_t grain, uint32_t gte,
                                        unsigned char *cbuf, unsigned char *out, size_t out_cap,
                                        size_t *out_len, uint64_t *nread, ova_err *err);

#endif
