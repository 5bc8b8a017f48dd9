/* codec.c - zlib, libdeflate and (optionally) ISA-L behind one per-grain
 * interface. */
#include "ovatool/codec.h"

#ifdef OVATOOL_HAVE_ISAL
#include <isa-l.h>
#endif

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
#ifdef OVATOOL_HAVE_ISAL
    struct isal_zstream iz;
    unsigned char *isal_buf;  /* the level's hash tables, allocated once */
    size_t isal_buf_size;
#endif
};

int ova_codec_available(ova_codec_kind kind)
{
#ifdef OVATOOL_HAVE_ISAL
    return kind <= OVA_CODEC_ISAL;
#else
    return kind <= OVA_CODEC_LIBDEFLATE;
#endif
}

const char *ova_codec_name(ova_codec_kind kind)
{
    switch (kind) {
    case OVA_CODEC_LIBDEFLATE: return "libdeflate";
    case OVA_CODEC_ISAL: return "isal";
    case OVA_CODEC_ZLIB: break;
    }
    return "zlib";
}

int ova_codec_parse(const char *s, ova_codec_kind *kind)
{
    if (strcasecmp(s, "zlib") == 0)
        *kind = OVA_CODEC_ZLIB;
    else if (strcasecmp(s, "libdeflate") == 0)
        *kind = OVA_CODEC_LIBDEFLATE;
    else if (strcasecmp(s, "isal") == 0 || strcasecmp(s, "isa-l") == 0)
        *kind = OVA_CODEC_ISAL;
    else
        return 0;
    return 1;
}

int ova_codec_level_ok(ova_codec_kind kind, int level)
{
    int max = kind == OVA_CODEC_LIBDEFLATE ? 12 : kind == OVA_CODEC_ISAL ? 3 : 9;
    return level >= 1 && level <= max;
}

ova_codec *ova_codec_new(ova_codec_kind kind, int level)
{
    ova_codec *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->kind = kind;
    c->level = level;
    if (!ova_codec_available(kind) || !ova_codec_level_ok(kind, level))
        goto fail;
    if (kind == OVA_CODEC_LIBDEFLATE) {
        c->ld = libdeflate_alloc_compressor(level);
        if (c->ld == NULL)
            goto fail;
    } else if (kind == OVA_CODEC_ISAL) {
#ifdef OVATOOL_HAVE_ISAL
        c->isal_buf_size = level == 1   ? ISAL_DEF_LVL1_DEFAULT
                           : level == 2 ? ISAL_DEF_LVL2_DEFAULT
                                        : ISAL_DEF_LVL3_DEFAULT;
        c->isal_buf = malloc(c->isal_buf_size);
        if (c->isal_buf == NULL)
            goto fail;
#endif
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
#ifdef OVATOOL_HAVE_ISAL
    free(c->isal_buf);
#endif
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
#ifdef OVATOOL_HAVE_ISAL
    if (c->kind == OVA_CODEC_ISAL) {
        isal_deflate_stateless_init(&c->iz);
        c->iz.next_in = (uint8_t *)(uintptr_t)in;
        c->iz.avail_in = (uint32_t)n;
        c->iz.next_out = out;
        c->iz.avail_out = (uint32_t)cap;
        c->iz.end_of_stream = 1;
        c->iz.flush = NO_FLUSH;
        c->iz.level = (uint32_t)c->level;
        c->iz.level_buf = c->isal_buf;
        c->iz.level_buf_size = (uint32_t)c->isal_buf_size;
        c->iz.gzip_flag = IGZIP_ZLIB; /* RFC 1950 header and Adler-32 trailer */
        if (isal_deflate_stateless(&c->iz) != COMP_OK)
            return OVA_E_CODEC;
        *out_len = c->iz.total_out;
        return OVA_OK;
    }
#endif
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
