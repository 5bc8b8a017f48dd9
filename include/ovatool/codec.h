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

#include <stdbool.h>
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
 * ova_grain_record_max() - OVA_GRAIN_MARKER_SIZE for a 64 KiB grain.
 * With store-incompressible on (ova_codec_set_store_incompressible), a
 * grain the detector judges incompressible is stored instead of deflated. */
ova_status ova_codec_compress(ova_codec *c, const void *in, size_t n, void *out, size_t cap,
                              size_t *out_len);

/* The same, and *stored says whether the grain was stored (NULL: not asked). */
ova_status ova_codec_compress_grain(ova_codec *c, const void *in, size_t n, void *out, size_t cap,
                                    size_t *out_len, bool *stored);

/* ---- Storing what will not compress (issue 15) ------------------------------
 *
 * Much of a real disk is already compressed or encrypted (packages, media,
 * LUKS/BitLocker volumes), and every codec spends its full effort on such a
 * grain for nothing. With store-incompressible on (off after
 * ova_codec_new; the export turns it on unless --compress-all),
 * ova_codec_compress first asks ova_grain_incompressible() about the grain,
 * and a grain judged incompressible is written as a zlib stream of stored
 * (BTYPE=00) deflate blocks (ova_zlib_store: 65552 bytes for 64 KiB, 16
 * bytes more than the data) instead of going through the codec. Grains
 * judged compressible go through the codec exactly as before, so their
 * bytes do not change.
 *
 * The decision is a pure function of the grain's bytes: the same for every
 * codec, level, thread, rank and call, so the OVA stays byte-identical for
 * any number of ranks and threads. It uses integers only (no floating
 * point, no libm), so it cannot differ between machines either.
 *
 * The rule. The sample is OVA_STORE_SAMPLE_SLICES = 32 slices of
 * OVA_STORE_SAMPLE_LEN = 128 bytes, 4 KiB in all: slice s (0-31) starts at
 * byte s * 2048 + (s * 128) % 2048 of a 64 KiB grain (one slice per 2 KiB,
 * on a diagonal, so that the slices do not all sit at the start of a file
 * system block). The predicted size is the order-0 (Shannon) entropy of
 * the sample's bytes divided by 8 bits; the grain is stored when that is
 * above OVA_STORE_THRESHOLD_PERMILLE = 989 per mille of the grain, i.e.
 * when H(sample) > 7.912 bits per byte. Uniformly random bytes give about
 * 994 (a 4 KiB sample's estimate of 8 bits is 7.955, its spread about
 * 0.5 per mille), text and code 500-800, and random bytes with 1.5-2% of
 * them zero are at the line.
 *
 * Measured (tests/bench/store_rate.c; README.md, "Performance"): on all
 * 18541 non-zero grains of the benchmark image, of which 36.2% end above
 * 97% with libdeflate 6, the rule stores 35.4%; 0.48% of the grains are
 * stored although libdeflate 6 would have brought them below 97%, 1.3%
 * are compressed and end above 97%; the grain records grow 0.20% against
 * compressing every grain, and 36-38% of libdeflate 6's time is saved
 * (two runs). The detector costs about 5 microseconds per grain
 * (libdeflate 6: 600). Lower thresholds store more and grow the output
 * faster (98.5%: +0.27%, 97%: +0.39%), higher ones give up speed quickly
 * (99.3%: 26% of the time saved). The same histogram of the grain's first 4 KiB, or of 16 slices
 * at 4 KiB block starts, took far more compressible grains for random
 * ones (output +1.3-1.7% and +5.9-8.7% on a sample at 95-98.5%); a
 * libdeflate level 1 pass over a sample of the same kind was hardly more
 * accurate at 3-5 times the cost; collision entropy was as accurate. */
#define OVA_STORE_SAMPLE_SLICES 32
#define OVA_STORE_SAMPLE_LEN 128
#define OVA_STORE_THRESHOLD_PERMILLE 989

/* Turn store-incompressible on or off for this codec object. */
void ova_codec_set_store_incompressible(ova_codec *c, bool on);

/* True when the n bytes at in are judged not worth compressing, by the
 * rule above (for n other than 64 KiB the slices are spread the same way
 * over n; n below 4 KiB: always false). Thread-safe; reads only the sample. */
bool ova_grain_incompressible(const void *in, size_t n);

/* The detector's estimate behind that decision: the sample's predicted
 * size in thousandths of its length (0-1000, rounded down; the decision
 * itself compares without rounding). For tests and benchmarks. */
unsigned ova_grain_predicted_permille(const void *in, size_t n);

/* Size of the zlib stream of stored blocks that holds n bytes: 2-byte
 * header, ceil(n / 65535) blocks of 5 bytes of header each (one block for
 * n = 0), the data, 4-byte Adler-32 trailer. 65552 for a 64 KiB grain. */
size_t ova_zlib_store_size(size_t n);

/* Write n bytes from in as a zlib stream of stored deflate blocks of at
 * most 65535 bytes each (RFC 1950/1951) at out; every inflater reads it.
 * OVA_E_CODEC when cap < ova_zlib_store_size(n). */
ova_status ova_zlib_store(const void *in, size_t n, void *out, size_t cap, size_t *out_len);

#endif
