/* codec.h - per-grain compressors that all write the zlib format (RFC 1950):
 * one complete stream per 64 KiB grain, as every VMDK reader expects.
 *
 * zlib is the reference; libdeflate writes the same format about twice as
 * fast at a slightly better ratio; ISA-L (when built in) is about seven
 * times faster than libdeflate level 6 at levels 1-3 for ~5% more output
 * (README.md, section "Performance"). Output bytes differ between
 * codecs and levels, never between runs: a given codec and level always
 * turns a grain into the same stream.
 * A codec object is not thread-safe: give each thread its own.
 */
#ifndef OVATOOL_CODEC_H
#define OVATOOL_CODEC_H

#include <stddef.h>

#include "ovatool/status.h"

typedef enum ova_codec_kind {
    OVA_CODEC_ZLIB = 0,
    OVA_CODEC_LIBDEFLATE,
    OVA_CODEC_ISAL
} ova_codec_kind;

/* Whether a codec was compiled in (zlib and libdeflate always are). */
int ova_codec_available(ova_codec_kind kind);

typedef struct ova_codec ova_codec;

/* "zlib", "libdeflate", "isal". */
const char *ova_codec_name(ova_codec_kind kind);

/* Parse a codec name; false if unknown. */
int ova_codec_parse(const char *s, ova_codec_kind *kind);

/* Valid levels: zlib 1-9, libdeflate 1-12, isal 1-3. */
int ova_codec_level_ok(ova_codec_kind kind, int level);

/* Create a compressor. Returns NULL on allocation failure. */
ova_codec *ova_codec_new(ova_codec_kind kind, int level);

/* Free and set *c to NULL. Accepts NULL. */
void ova_codec_free(ova_codec **c);

/* Compress n bytes from in into a fresh zlib stream at out (cap bytes).
 * On success *out_len is the stream length. cap must be at least
 * ova_grain_record_max() - OVA_GRAIN_MARKER_SIZE for a 64 KiB grain. */
ova_status ova_codec_compress(ova_codec *c, const void *in, size_t n, void *out, size_t cap,
                              size_t *out_len);

#endif
