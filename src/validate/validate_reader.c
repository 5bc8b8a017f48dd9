/* validate_reader.c - one OVF file's bytes out of an OVA, whatever way the
 * producer stored it: one member, chunks (ovf:chunkSize, HREF.000000000 ...)
 * and/or a gzip stream (ovf:compression="gzip"), DSP0243 section 5 (the
 * References). `validate` reads chunked and gzip files through it, and
 * import reads every disk through it (API and rules in validate.h).
 *
 * Memory: one 1 MiB input buffer plus zlib's inflate state, whatever the
 * file size; the member list is at most OVA_VALIDATE_MAX_MEMBERS entries. */
#include "ovatool/validate.h"
#include "validate/validate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IN_CHUNK ((size_t)1 << 20)

struct ova_member_reader {
    int fd;
    const ova_vmember *m;
    size_t *parts;             /* member indexes, reading order */
    size_t n_parts;
    size_t part;               /* the member being read */
    uint64_t at;               /* bytes of it consumed */
    uint64_t stored;
    ova_member_tap tap;
    void *tap_ctx;
    bool gzip;
    bool z_ready;              /* inflateInit2 done */
    bool z_end;                /* a gzip member ended and no byte followed yet */
    z_stream z;
    unsigned char *in;         /* gzip input buffer */
    char what[OVA_VNAME_MAX + 16]; /* the file's name for messages */
};

bool ova_vchunk_number(const char *name, const char *stem, size_t stem_len, unsigned *num)
{
    if (strncmp(name, stem, stem_len) != 0 || name[stem_len] != '.' || strlen(name + stem_len) != 10)
        return false;
    unsigned v = 0;
    for (const char *p = name + stem_len + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned)(*p - '0');
    }
    *num = v;
    return true;
}

/* The members of a chunked file, checked as DSP0243 has them. */
static ova_status find_chunks(const ova_vmember *m, size_t n, const ova_ovf_file *f, size_t **parts,
                              size_t *n_parts, ova_err *err)
{
    size_t sl = strlen(f->href);
    unsigned highest = 0;
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c;
        if (ova_vchunk_number(m[i].name, f->href, sl, &c)) {
            found++;
            if (c > highest)
                highest = c;
        }
    }
    if (found == 0)
        return ova_err_set(err, OVA_E_FORMAT, "%s.000000000: not in the archive (first chunk of %s, ovf:chunkSize "
                           "%llu)", f->href, f->href, (unsigned long long)f->chunk_size);
    /* chunks 0..found-1 must all be there: a number at or past found means
     * one below it is missing, so `found` entries are enough to name it
     * (and a hostile .999999999 allocates nothing more) */
    size_t want = found;
    size_t *p = malloc(want * sizeof *p);
    if (p == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", f->href);
    for (size_t k = 0; k < want; k++)
        p[k] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned c;
        if (ova_vchunk_number(m[i].name, f->href, sl, &c) && c < want) {
            if (p[c] != SIZE_MAX) {
                free(p);
                return ova_err_set(err, OVA_E_FORMAT, "%s: chunk member appears twice", m[i].name);
            }
            p[c] = i;
        }
    }
    for (size_t k = 0; k <= want; k++) {
        if (k == want ? (size_t)highest + 1 > want : p[k] == SIZE_MAX) {
            ova_status st = ova_err_set(err, OVA_E_FORMAT, "%s.%09zu: chunk missing from the archive (chunks of "
                                        "%s run to .%09u)", f->href, k, f->href, highest);
            free(p);
            return st;
        }
        if (k == want)
            break;
        const ova_vmember *c = &m[p[k]];
        bool last = k + 1 == want;
        bool wrong = last ? c->size == 0 || c->size > f->chunk_size : c->size != f->chunk_size;
        if (c->truncated || wrong) {
            ova_status st =
                c->truncated ? ova_err_set(err, OVA_E_FORMAT, "%s: chunk cut short by the end of the archive", c->name)
                : ova_err_set(err, OVA_E_FORMAT, "%s: chunk of %llu bytes, %s %llu (ovf:chunkSize)", c->name,
                              (unsigned long long)c->size, last ? "the last must hold 1 to" : "must hold exactly",
                              (unsigned long long)f->chunk_size);
            free(p);
            return st;
        }
    }
    *parts = p;
    *n_parts = want;
    return OVA_OK;
}

ova_status ova_member_reader_open(int fd, const ova_vmember *m, size_t n, const ova_ovf_file *f,
                                  ova_member_tap tap, void *tap_ctx, ova_member_reader **out, ova_err *err)
{
    *out = NULL;
    if (f->href == NULL || f->href[0] == '\0' || strlen(f->href) >= OVA_VNAME_MAX)
        return ova_err_set(err, OVA_E_FORMAT, "References/File: ovf:href \"%s\" is empty or longer than a member name",
                           f->href ? f->href : "");
    ova_member_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", f->href);
    r->fd = fd;
    r->m = m;
    r->tap = tap;
    r->tap_ctx = tap_ctx;
    r->gzip = f->gzip;
    snprintf(r->what, sizeof r->what, "%s", f->href);
    ova_status st = OVA_OK;
    if (f->chunk_size > 0) {
        st = find_chunks(m, n, f, &r->parts, &r->n_parts, err);
    } else {
        ssize_t i = -1;
        for (size_t k = 0; k < n && i < 0; k++)
            if (strcmp(m[k].name, f->href) == 0)
                i = (ssize_t)k;
        if (i < 0)
            st = ova_err_set(err, OVA_E_FORMAT, "%s: not in the archive", f->href);
        else if (m[i].truncated)
            st = ova_err_set(err, OVA_E_FORMAT, "%s: cut short by the end of the archive", f->href);
        else if ((r->parts = malloc(sizeof *r->parts)) == NULL)
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", f->href);
        else {
            r->parts[0] = (size_t)i;
            r->n_parts = 1;
        }
    }
    if (st == OVA_OK && r->gzip) {
        r->in = malloc(IN_CHUNK);
        /* 16 + MAX_WBITS: a gzip wrapper, its CRC-32 and size checked by zlib */
        if (r->in == NULL || inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK)
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory for inflating", f->href);
        else
            r->z_ready = true;
    }
    for (size_t k = 0; st == OVA_OK && k < r->n_parts; k++)
        r->stored += m[r->parts[k]].size;
    if (st != OVA_OK) {
        ova_member_reader_close(&r);
        return st;
    }
    *out = r;
    return OVA_OK;
}

/* The next stored bytes, up to cap, from the members in order; shown to
 * the tap. *got 0: every member is consumed. */
static ova_status read_stored(ova_member_reader *r, void *buf, size_t cap, size_t *got, ova_err *err)
{
    *got = 0;
    while (r->part < r->n_parts && r->at == r->m[r->parts[r->part]].size) {
        r->part++;
        r->at = 0;
    }
    if (r->part == r->n_parts)
        return OVA_OK;
    size_t idx = r->parts[r->part];
    const ova_vmember *c = &r->m[idx];
    uint64_t left = c->size - r->at;
    size_t k = left < cap ? (size_t)left : cap;
    ova_status st = ova_vpread(r->fd, buf, k, c->offset + r->at, c->name, err);
    if (st != OVA_OK)
        return st;
    if (r->tap != NULL && (st = r->tap(r->tap_ctx, idx, buf, k, err)) != OVA_OK)
        return st;
    r->at += k;
    *got = k;
    return OVA_OK;
}

/* The member the inflater is in, for messages. */
static const char *cur_name(const ova_member_reader *r)
{
    size_t p = r->part < r->n_parts ? r->part : r->n_parts - 1;
    return r->m[r->parts[p]].name;
}

static ova_status read_gzip(ova_member_reader *r, unsigned char *buf, size_t cap, size_t *got, ova_err *err)
{
    *got = 0;
    r->z.next_out = buf;
    r->z.avail_out = cap > UINT32_MAX ? UINT32_MAX : (uInt)cap;
    while (r->z.avail_out > 0) {
        if (r->z.avail_in == 0) {
            size_t k;
            ova_status st = read_stored(r, r->in, IN_CHUNK, &k, err);
            if (st != OVA_OK)
                return st;
            if (k == 0) {
                if (!r->z_end)
                    return ova_err_set(err, OVA_E_FORMAT, "%s: gzip stream cut short: its members end before "
                                       "the stream does (truncated)", cur_name(r));
                break;
            }
            r->z.next_in = r->in;
            r->z.avail_in = (uInt)k;
        }
        if (r->z_end) {
            /* RFC 1952: a gzip file may be several members in a row */
            if (inflateReset(&r->z) != Z_OK)
                return ova_err_set(err, OVA_E_FORMAT, "%s: gzip: cannot start the next gzip member", cur_name(r));
            r->z_end = false;
        }
        int zr = inflate(&r->z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END)
            r->z_end = true;
        else if (zr == Z_BUF_ERROR && r->z.avail_in == 0)
            continue; /* needs more input */
        else if (zr != Z_OK)
            return ova_err_set(err, OVA_E_FORMAT, "%s: gzip stream does not inflate: %s", cur_name(r),
                               r->z.msg ? r->z.msg : zError(zr));
    }
    *got = (size_t)(r->z.next_out - buf);
    return OVA_OK;
}

ova_status ova_member_reader_read(ova_member_reader *r, void *buf, size_t cap, size_t *got, ova_err *err)
{
    if (r->gzip)
        return read_gzip(r, buf, cap, got, err);
    return read_stored(r, buf, cap, got, err);
}

ova_status ova_member_reader_drain(ova_member_reader *r, size_t *got, ova_err *err)
{
    if (r->in == NULL && (r->in = malloc(IN_CHUNK)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", r->what);
    return read_stored(r, r->in, IN_CHUNK, got, err);
}

size_t ova_member_reader_parts(const ova_member_reader *r, const size_t **members)
{
    *members = r->parts;
    return r->n_parts;
}

uint64_t ova_member_reader_stored(const ova_member_reader *r) { return r->stored; }

void ova_member_reader_close(ova_member_reader **rp)
{
    ova_member_reader *r = *rp;
    if (r == NULL)
        return;
    if (r->z_ready)
        inflateEnd(&r->z);
    free(r->in);
    free(r->parts);
    free(r);
    *rp = NULL;
}

ova_status ova_member_file_size(int fd, const ova_vmember *m, size_t n, const ova_ovf_file *f, uint64_t *size,
                                ova_err *err)
{
    ova_member_reader *r;
    ova_status st = ova_member_reader_open(fd, m, n, f, NULL, NULL, &r, err);
    if (st != OVA_OK)
        return st;
    *size = r->stored;
    if (f->gzip) {
        unsigned char *buf = malloc(IN_CHUNK);
        if (buf == NULL)
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", f->href);
        uint64_t total = 0;
        for (size_t got = 1; st == OVA_OK && got > 0;) {
            st = ova_member_reader_read(r, buf, IN_CHUNK, &got, err);
            total += got;
        }
        free(buf);
        *size = total;
    }
    ova_member_reader_close(&r);
    return st;
}
