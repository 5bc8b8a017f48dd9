/* grain_batch.c - inflating and writing one batch (grain_batch.h). */
#include "import/grain_batch.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "format/vmdk_stream.h"
#include "util/fault.h"
#include "util/io.h"

#define ULL(x) ((unsigned long long)(x))
/* What O_DIRECT asks of buffer, offset and length on any common file
 * system (logical blocks of 512 or 4096 bytes). */
#define DIRECT_ALIGN 4096u

struct ova_batch_scratch {
    unsigned char *in;     /* OVA_BATCH_SPAN_MAX */
    unsigned char *out;    /* OVA_BATCH_GRAINS grains */
    struct libdeflate_decompressor *dec;
};

ova_status ova_batch_scratch_new(ova_batch_scratch **out, ova_err *err)
{
    ova_batch_scratch *s = calloc(1, sizeof *s);
    if (s != NULL) {
        s->in = malloc((size_t)OVA_BATCH_SPAN_MAX);
        void *o = NULL; /* aligned for O_DIRECT */
        s->out = posix_memalign(&o, DIRECT_ALIGN, (size_t)OVA_BATCH_GRAINS * OVA_GRAIN_SIZE) == 0 ? o : NULL;
        s->dec = libdeflate_alloc_decompressor();
    }
    if (s == NULL || s->in == NULL || s->out == NULL || s->dec == NULL) {
        ova_batch_scratch_free(&s);
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for the inflate buffers");
    }
    *out = s;
    return OVA_OK;
}

void ova_batch_scratch_free(ova_batch_scratch **ps)
{
    if (ps == NULL || *ps == NULL)
        return;
    free((*ps)->in);
    free((*ps)->out);
    if ((*ps)->dec != NULL)
        libdeflate_free_decompressor((*ps)->dec);
    free(*ps);
    *ps = NULL;
}

/* n bytes of grains at off of extent o: with O_DIRECT when aligned and
 * the file system takes it, else through the page cache. */
static ova_status write_grains(const ova_batch_out *o, const unsigned char *buf, size_t n, uint64_t off,
                               ova_err *err)
{
    if (o->dfd >= 0 && ((uintptr_t)buf | (uintptr_t)n | (uintptr_t)off) % DIRECT_ALIGN == 0) {
        size_t done = 0;
        int e = ova_pwrite_all(o->dfd, buf, n, off, &done);
        if (e != EINVAL || done != 0)
            return ova_pwrite_result(e, n, off, done, o->path, err);
        /* EINVAL before a byte: an alignment this file system does not take */
    }
    return ova_pwrite_exact(o->fd, buf, n, off, o->path, err);
}

unsigned char *ova_batch_scratch_in(ova_batch_scratch *s) { return s->in; }

static bool all_zero(const unsigned char *p, size_t n)
{
    /* word at a time: most grains fail on the first word */
    const uint64_t *w = (const uint64_t *)(const void *)p;
    for (size_t i = 0; i < n / 8; i++)
        if (w[i] != 0)
            return false;
    for (size_t i = n / 8 * 8; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

ova_status ova_grain_batch_run(const ova_grain_batch *b, int in_fd, const char *member, const ova_batch_out *outs,
                               ova_batch_scratch *s, uint64_t *zero_lbas, uint32_t *n_zero, uint64_t *written,
                               ova_err *err)
{
    *n_zero = 0;
    *written = 0;
    if (b->n == 0 || b->n > OVA_BATCH_GRAINS || b->span > OVA_BATCH_SPAN_MAX)
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: %s: batch of %u grains over %llu bytes", member,
                           b->n, ULL(b->span));
    if (ova_fault("import.batch"))
        return ova_err_set(err, OVA_E_IO, "%s: injected read error (test fault import.batch)", member);
    ova_status st = OVA_OK;
    const unsigned char *in = b->data;
    if (in == NULL) {
        if ((st = ova_pread_exact(in_fd, s->in, (size_t)b->span, b->in_off, member, "grain records", err)) != OVA_OK)
            return st;
        in = s->in;
    }
    size_t len[OVA_BATCH_GRAINS];
    bool data[OVA_BATCH_GRAINS];
    for (uint32_t i = 0; i < b->n; i++) {
        const ova_batch_grain *g = &b->g[i];
        if (g->rec + OVA_GRAIN_MARKER_SIZE + g->csize > b->span)
            return ova_err_set(err, OVA_E_INTERNAL, "internal error: %s: grain record outside its batch", member);
        const unsigned char *rec = in + g->rec;
        uint64_t left = b->capacity - g->lba * OVA_SECTOR;
        size_t want = left < OVA_GRAIN_SIZE ? (size_t)left : OVA_GRAIN_SIZE;
        unsigned char *out = s->out + (size_t)i * OVA_GRAIN_SIZE;
        size_t got = 0;
        enum libdeflate_result r = libdeflate_zlib_decompress(s->dec, rec + OVA_GRAIN_MARKER_SIZE, g->csize, out,
                                                              OVA_GRAIN_SIZE, &got);
        /* a full grain, or one cut at the capacity (the disk's last) */
        if (r != LIBDEFLATE_SUCCESS || (got != OVA_GRAIN_SIZE && got != want))
            return ova_err_set(err, OVA_E_FORMAT,
                               "%s: bad grain at LBA %llu (record at byte %llu of the %s, %u compressed bytes): "
                               "%s", member, ULL(g->lba), ULL(b->in_off + g->rec), b->data ? "file" : "input", g->csize,
                               r == LIBDEFLATE_BAD_DATA ? "corrupt zlib data"
                               : r == LIBDEFLATE_INSUFFICIENT_SPACE ? "inflates to more than 64 KiB"
                               : r == LIBDEFLATE_SUCCESS ? "inflates to fewer bytes than a grain"
                                                         : "inflate failed");
        len[i] = want;
        data[i] = !all_zero(out, want);
        if (!data[i])
            zero_lbas[(*n_zero)++] = g->lba;
    }
    /* grains placed side by side go out in one write */
    for (uint32_t i = 0; i < b->n;) {
        if (!data[i]) {
            i++;
            continue;
        }
        uint32_t j = i + 1;
        size_t n = len[i];
        while (j < b->n && data[j] && b->g[j].ext == b->g[i].ext && len[j - 1] == OVA_GRAIN_SIZE &&
               b->g[j].out_off == b->g[j - 1].out_off + OVA_GRAIN_SIZE &&
               s->out + (size_t)j * OVA_GRAIN_SIZE == s->out + (size_t)i * OVA_GRAIN_SIZE + n)
            n += len[j++];
        st = write_grains(&outs[b->g[i].ext], s->out + (size_t)i * OVA_GRAIN_SIZE, n, b->g[i].out_off, err);
        if (st != OVA_OK)
            return st;
        *written += n;
        i = j;
    }
    return OVA_OK;
}
