/* ova_layout.c - the space reserved for the OVF and manifest, and the tar
 * framing of the front of the archive (ova_layout.h). */
#include "engine/ova_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t round_block(uint64_t n) { return n + ova_tar_padding(n); }

void ova_layout_names(ova_layout *l, const char *base)
{
    snprintf(l->ovf_name, sizeof l->ovf_name, "%s.ovf", base);
    snprintf(l->mf_name, sizeof l->mf_name, "%s.mf", base);
}

uint64_t ova_layout_mf_line(ova_sha sha, const char *name)
{
    size_t hex = 2 * ova_sha_len(sha);
    size_t label = strlen(ova_sha_label(sha));
    return label + 2 + strlen(name) + 2 + hex + 1;
}

uint64_t ova_layout_front_len(const ova_layout *l)
{
    return OVA_TAR_BLOCK + round_block(l->ovf_len) + OVA_TAR_BLOCK + round_block(l->mf_len);
}

ova_status ova_layout_pad_ovf(const ova_layout *l, ova_buf *ovf, ova_err *err)
{
    if (ovf->len > l->ovf_len)
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: OVF grew past its reserved %llu bytes",
                           (unsigned long long)l->ovf_len);
    /* pad to the reserved length with blanks after </Envelope>, ending in LF */
    if (ovf->len < l->ovf_len) {
        ova_buf_fill(ovf, ' ', l->ovf_len - ovf->len - 1);
        ova_buf_putc(ovf, '\n');
    }
    return OVA_OK;
}

ova_status ova_layout_front(const ova_layout *l, const ova_buf *ovf, const ova_buf *mf, int64_t mtime,
                            unsigned char **front, ova_err *err)
{
    *front = NULL;
    if (mf->len != l->mf_len)
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: manifest is %zu bytes, %llu reserved", mf->len,
                           (unsigned long long)l->mf_len);
    unsigned char *f = calloc(1, ova_layout_front_len(l));
    if (f == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    unsigned char *p = f;
    ova_status st = ova_tar_header(p, l->ovf_name, l->ovf_len, mtime, err);
    if (st != OVA_OK)
        goto fail;
    p += OVA_TAR_BLOCK;
    memcpy(p, ovf->data, ovf->len);
    p += round_block(l->ovf_len);
    if ((st = ova_tar_header(p, l->mf_name, l->mf_len, mtime, err)) != OVA_OK)
        goto fail;
    p += OVA_TAR_BLOCK;
    memcpy(p, mf->data, mf->len);
    *front = f;
    return OVA_OK;
fail:
    free(f);
    return st;
}
