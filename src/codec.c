/* codec.c - zlib and libdeflate behind one per-grain interface. */
#include "ovatool/codec.h"

#include <libdeflate.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

struct ova_codec {
    ova_codec_kind kind;
    int level;
    z_stream zs;             /* zlib: reused with deflateReset, no per-grain allocation */
    int zs_ready;
    struct libdeflate_compressor *ld;
};

const char *ova_codec_name(ova_codec_kind kind)
{
    return kind == OVA_CODEC_LIBDEFLATE ? "libdeflate" : "zlib";
}

int ova_codec_parse(const char *s, ova_codec_kind *kind)
{
    if (strcasecmp(s, "zlib") == 0)
        *kind = OVA_CODEC_ZLIB;
    else if (strcasecmp(s, "libdeflate") == 0)
        *kind = OVA_CODEC_LIBDEFLATE;
    else
        return 0;
    return 1;
}

int ova_codec_level_ok(ova_codec_kind kind, int level)
{
    return level >= 1 && level <= (kind == OVA_CODEC_LIBDEFLATE ? 12 : 9);
}

ova_codec *ova_codec_new(ova_codec_kind kind, int level)
{
    ova_codec *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->kind = kind;
    c->level = level;
    if (kind == OVA_CODEC_LIBDEFLATE) {
        c->ld = libdeflate_alloc_compressor(level);
        if (c->ld == NULL)
            goto fail;
    } else {
        if (deflateInit(&c->zs, level) != Z_OK)
            goto fail;
        c->zs_ready = 1;
    }
    return c;
fail:
    free(c);
    return NULL;
}

void ova_codec_free(ova_codec **pc)
{
    ova_codec *c = *pc;
    if (c == NULL)
        return;
    if (c->zs_ready)
        deflateEnd(&c->zs);
    if (c->ld)
        libdeflate_free_compressor(c->ld);
    free(c);
    *pc = NULL;
}

ova_status ova_codec_compress(ova_codec *c, const void *in, size_t n, void *out, size_t cap,
                              size_t *out_len)
{
    if (c->kind == OVA_CODEC_LIBDEFLATE) {
        size_t r = libdeflate_zlib_compress(c->ld, in, n, out, cap);
        if (r == 0)
            return OVA_E_CODEC;
        *out_len = r;
        return OVA_OK;
    }
    if (deflateReset(&c->zs) != Z_OK)
        return OVA_E_CODEC;
    c->zs.next_in = (Bytef *)(uintptr_t)in;
    c->zs.avail_in = (uInt)n;
    c->zs.next_out = out;
    c->zs.avail_out = (uInt)cap;
    if (deflate(&c->zs, Z_FINISH) != Z_STREAM_END)
        return OVA_E_CODEC;
    *out_len = cap - c->zs.avail_out;
    return OVA_OK;
}
