/* import_run.c - `ovatool import` in one process (import_run.h): the
 * input read once in order, digests checked on the way, each disk's grain
 * records cut into batches for the inflate threads, the files renamed into
 * place at the end. */
#include "ovatool/import_run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "engine/ova_writer.h"
#include "format/vmdk_stream.h"
#include "import/import_ctx.h"
#include "import/import_tmp.h"
#include "ovatool/descriptor.h"
#include "util/fault.h"
#include "util/io.h"

#define ULL(x) ((unsigned long long)(x))
/* Read size of rank 0's pass over the input. */
#define CHUNK ((size_t)1 << 20)
#define DEFAULT_MEM_LIMIT ((uint64_t)512 << 20)

/* Set by ova_import_request_stop (a signal handler); read between reads. */
static volatile sig_atomic_t ova_import_stop_flag;

void ova_import_request_stop(void) { ova_import_stop_flag = 1; }

static ova_status check_stop(ova_err *err)
{
    if (ova_import_stop_flag)
        return ova_err_set(err, OVA_E_STOPPED, "stopped by a signal");
    return OVA_OK;
}

static double now_secs(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void progress(imp_ctx *c, int final)
{
    if (c->o->progress == NULL || c->o->progress_secs <= 0)
        return;
    double t = now_secs();
    if (!final && t - c->last < c->o->progress_secs)
        return;
    c->last = t;
    uint64_t out = 0; /* grain bytes placed so far (written, or being written) */
    for (size_t i = 0; i < c->n_disks; i++)
        out += c->disks[i].out != NULL ? ova_disk_out_allocated(c->disks[i].out) : 0;
    ova_progress p = { c->done, c->in.total, out, t - c->t0, final };
    c->o->progress(c->o->progress_ctx, &p);
}

/* ---- the disks ---- */

static ova_status create_out(imp_ctx *c, imp_disk *x, const char *desc_text, ova_err *err)
{
    ova_descriptor *src = NULL;
    const char *member = x->carried ? x->file.href : x->member >= 0 ? c->in.m[x->member].name : x->base;
    if (desc_text != NULL && desc_text[0] != '\0') {
        ova_err e2 = { 0 };
        if (ova_descriptor_parse(desc_text, strlen(desc_text), member, &src, &e2) != OVA_OK)
            ova_imp_log(c, 1, "%s: embedded descriptor not read (%s): the imported disk gets a new one", member, e2.msg);
        /* a delta's grains alone are not the disk, and its parent is not in
         * the OVA (validate reports the same) */
        if (src != NULL && ova_descriptor_has_parent(src)) {
            ova_status st = ova_err_set(err, OVA_E_FORMAT,
                                        "%s: the embedded descriptor names a parent disk (parentCID=%08x): a snapshot "
                                        "delta, not a whole disk; it cannot be imported",
                                        member, src->parent_cid);
            ova_descriptor_free(&src);
            return st;
        }
    }
    ova_status st = ova_disk_out_create(c->o->disk_format, c->o->out_dir, x->base, x->capacity, src,
                                        !c->o->buffered_io, &x->out, err);
    ova_descriptor_free(&src);
    if (st != OVA_OK || c->pool == NULL)
        return st;
    size_t ne = ova_disk_out_extents(x->out);
    ova_imp_log(c, 0, "%s: grains written %s", member,
                ova_disk_out_extent_dfd(x->out, 0) >= 0 ? "with O_DIRECT"
                : c->o->buffered_io                     ? "through the page cache (--buffered-io)"
                                                        : "through the page cache (the file system refuses O_DIRECT)");
    ova_batch_out *ov = malloc(ne * sizeof *ov);
    if (ov == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    for (size_t i = 0; i < ne; i++)
        ov[i] = (ova_batch_out){ ova_disk_out_extent_fd(x->out, i), ova_disk_out_extent_dfd(x->out, i),
                                 ova_disk_out_extent_path(x->out, i) };
    const ova_in_member *im = x->member >= 0 ? &c->in.m[x->member] : NULL;
    st = ova_batch_pool_set_disk(c->pool, (uint32_t)(x - c->disks), im ? im->fd : -1, im ? im->path : "", member, ne,
                                 ov, err);
    free(ov);
    return st;
}

static ova_status on_zero(void *ctx, uint32_t disk, uint64_t lba, ova_err *err)
{
    imp_ctx *c = ctx;
    return ova_disk_out_unplace(c->disks[disk].out, lba, err);
}

static ova_status flush_batch(imp_ctx *c, ova_err *err)
{
    if (c->batch.n == 0)
        return OVA_OK;
    if (c->cur != NULL && c->cur->carried) {
        /* the span's bytes go with the batch: on_grain saw every record of
         * it complete in c->carry before the batch is cut */
        const struct imp_carry *k = &c->carry;
        ova_grain_batch *b = &c->batch;
        if (b->in_off < k->off || b->in_off + b->span > k->off + k->len)
            return ova_err_set(err, OVA_E_INTERNAL, "internal error: %s: batch bytes %llu+%llu not held",
                               c->cur->file.href, ULL(b->in_off), ULL(b->span));
        if ((b->data = malloc((size_t)b->span)) == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory for a batch", c->cur->file.href);
        memcpy(b->data, k->p + (b->in_off - k->off), (size_t)b->span);
    }
    ova_status st = ova_batch_pool_submit(c->pool, &c->batch, err);
    c->batch.n = 0;
    if (st == OVA_OK)
        st = ova_batch_pool_take_zeros(c->pool, on_zero, c, err);
    return st;
}

static ova_status on_grain(void *ctx, const ova_sscan_grain *g, ova_err *err)
{
    imp_ctx *c = ctx;
    imp_disk *x = c->cur;
    ova_status st;
    if (x->out == NULL && (st = create_out(c, x, ova_sscan_descriptor(c->scan), err)) != OVA_OK)
        return st;
    size_t ext;
    uint64_t off;
    if ((st = ova_disk_out_place(x->out, g->lba, x->carried ? x->file.href : c->cur_m->name, &ext, &off, err)) !=
        OVA_OK)
        return st;
    uint64_t at = c->cur_base + g->off, end = at + OVA_GRAIN_MARKER_SIZE + g->csize;
    ova_grain_batch *b = &c->batch;
    if (b->n > 0 && (b->n == OVA_BATCH_GRAINS || end - b->in_off > OVA_BATCH_SPAN_MAX) &&
        (st = flush_batch(c, err)) != OVA_OK)
        return st;
    if (b->n == 0) {
        b->disk = c->cur_idx;
        b->in_off = at;
        b->capacity = x->capacity;
    }
    b->g[b->n++] = (ova_batch_grain){ g->lba, at - b->in_off, g->csize, (uint32_t)ext, off };
    b->span = end - b->in_off;
    x->grains++;
    return OVA_OK;
}

static void hex_of(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The manifest digest of member m, when it has a line (else *md NULL). */
static ova_status digest_begin(const ova_in_member *m, EVP_MD_CTX **md, ova_err *err)
{
    *md = NULL;
    if (!m->listed)
        return OVA_OK;
    *md = EVP_MD_CTX_new();
    if (*md == NULL || EVP_DigestInit_ex(*md, (const EVP_MD *)ova_sha_md(m->alg), NULL) != 1) {
        EVP_MD_CTX_free(*md);
        *md = NULL;
        return ova_err_set(err, OVA_E_NOMEM, "%s: cannot set up the %s digest", m->name, ova_sha_label(m->alg));
    }
    return OVA_OK;
}

/* All of m's bytes went into md: it must be the manifest's. */
static ova_status digest_check(const ova_in_member *m, EVP_MD_CTX *md, const char *what, ova_err *err)
{
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (EVP_DigestFinal_ex(md, dg, &dl) != 1)
        return ova_err_set(err, OVA_E_NOMEM, "%s: digest computation failed", m->name);
    if (dl != ova_sha_len(m->alg) || memcmp(dg, m->digest, dl) != 0) {
        char want[129], got[129];
        hex_of(m->digest, ova_sha_len(m->alg), want);
        hex_of(dg, dl, got);
        return ova_err_set(err, OVA_E_FORMAT, "%s: %s digest does not match the manifest (manifest %s, %s %s)",
                           m->name, ova_sha_label(m->alg), want, what, got);
    }
    return OVA_OK;
}

/* The disk's bytes were all fed to the walk: its end, and the last batch. */
static ova_status walk_end(imp_ctx *c, imp_disk *x, const char *name, ova_err *err)
{
    const char *desc;
    uint64_t grains, cap = 0;
    ova_status st = ova_sscan_finish(c->scan, &desc, &grains, err);
    if (st != OVA_OK)
        return st;
    if (ova_sscan_capacity(c->scan, &cap) && cap != (x->capacity + OVA_SECTOR - 1) / OVA_SECTOR * OVA_SECTOR)
        return ova_err_set(err, OVA_E_FORMAT, "%s: the stream's capacity (%llu bytes) is not the OVF's (%llu bytes)",
                           name, ULL(cap), ULL(x->capacity));
    if (x->out == NULL && (st = create_out(c, x, desc, err)) != OVA_OK)
        return st;
    return flush_batch(c, err);
}

/* One member, read once: its digest, and for a disk the grain walk. */
static ova_status stream_member(imp_ctx *c, size_t mi, imp_disk *x, unsigned char *buf, ova_err *err)
{
    const ova_in_member *m = &c->in.m[mi];
    EVP_MD_CTX *md = NULL;
    ova_status st = digest_begin(m, &md, err);
    if (st != OVA_OK)
        return st;
    if (x != NULL) {
        c->cur = x;
        c->cur_idx = (uint32_t)(x - c->disks);
        c->cur_m = m;
        c->cur_base = m->off;
        if ((st = ova_sscan_new(m->name, m->size, on_grain, c, &c->scan, err)) != OVA_OK)
            goto out;
    }
    for (uint64_t done = 0; done < m->size;) {
        size_t n = m->size - done < CHUNK ? (size_t)(m->size - done) : CHUNK;
        if ((st = check_stop(err)) != OVA_OK ||
            (st = ova_pread_exact(m->fd, buf, n, m->off + done, m->name, "the member", err)) != OVA_OK)
            goto out;
        if (md != NULL && EVP_DigestUpdate(md, buf, n) != 1) {
            st = ova_err_set(err, OVA_E_NOMEM, "%s: digest update failed", m->name);
            goto out;
        }
        if (c->scan != NULL && (st = ova_sscan_feed(c->scan, buf, n, err)) != OVA_OK)
            goto out;
        done += n;
        c->done += n;
        progress(c, 0);
        if (ova_fault("import.slow"))
            usleep(200000); /* a test's signal finds the import mid-way */
    }
    if (md != NULL && (st = digest_check(m, md, "member", err)) != OVA_OK)
        goto out;
    if (c->scan != NULL)
        st = walk_end(c, x, m->name, err);
out:
    EVP_MD_CTX_free(md);
    ova_sscan_free(&c->scan);
    return st;
}

/* ---- a chunked or gzip file: read in order, its batches carry their bytes ---- */

/* The member reader's tap: each part's stored bytes, for its digest. */
typedef struct part_tap {
    imp_ctx *c;
    imp_disk *x;
    size_t cur;                /* input member being hashed, SIZE_MAX: none */
    EVP_MD_CTX *md;
    EVP_MD_CTX *whole;         /* a manifest line for the chunks joined */
    uint64_t checked;
} part_tap;

static ova_status part_end(part_tap *t, ova_err *err)
{
    ova_status st = OVA_OK;
    if (t->md != NULL && (st = digest_check(&t->c->in.m[t->cur], t->md, "member", err)) == OVA_OK)
        t->checked++;
    EVP_MD_CTX_free(t->md);
    t->md = NULL;
    t->cur = SIZE_MAX;
    return st;
}

static ova_status tap_part(void *ctx, size_t member, const void *data, size_t n, ova_err *err)
{
    part_tap *t = ctx;
    /* an OVA's reader table is the input's; a folder's gzip file is one part */
    size_t mi = t->c->in.is_ova ? member : (size_t)t->x->member;
    ova_status st;
    if (mi != t->cur) {
        if ((st = part_end(t, err)) != OVA_OK || (st = digest_begin(&t->c->in.m[mi], &t->md, err)) != OVA_OK)
            return st;
        t->cur = mi;
    }
    if ((t->md != NULL && EVP_DigestUpdate(t->md, data, n) != 1) ||
        (t->whole != NULL && EVP_DigestUpdate(t->whole, data, n) != 1))
        return ova_err_set(err, OVA_E_NOMEM, "%s: digest update failed", t->c->in.m[mi].name);
    t->c->done += n;
    progress(t->c, 0);
    if (ova_fault("import.slow"))
        usleep(200000);
    return check_stop(err);
}

/* Keep the file's next n bytes (just read, not yet walked) for the
 * batches, dropping what no batch can need: the buffer holds the open
 * batch's span (at most OVA_BATCH_SPAN_MAX) plus one read, whatever the
 * disk size. */
static ova_status carry_add(imp_ctx *c, const unsigned char *data, size_t n, ova_err *err)
{
    struct imp_carry *k = &c->carry;
    const ova_grain_batch *b = &c->batch;
    uint64_t end = k->off + k->len;
    ova_status st;
    /* metadata after a complete batch would hold its bytes longer: cut it */
    if (b->n > 0 && b->in_off + b->span <= end && end - b->in_off + n > k->cap && (st = flush_batch(c, err)) != OVA_OK)
        return st;
    uint64_t keep = ova_sscan_keep_from(c->scan);
    if (b->n > 0 && b->in_off < keep)
        keep = b->in_off;
    if (keep > k->off) {
        size_t drop = (size_t)(keep - k->off);
        memmove(k->p, k->p + drop, k->len - drop);
        k->len -= drop;
        k->off = keep;
    }
    if (k->len + n > k->cap)
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: %s: %zu carried bytes do not fit", c->cur->file.href,
                           k->len + n);
    memcpy(k->p + k->len, data, n);
    k->len += n;
    return OVA_OK;
}

static ova_status stream_carried(imp_ctx *c, imp_disk *x, unsigned char *buf, uint64_t *checked, ova_err *err)
{
    part_tap t = { c, x, SIZE_MAX, NULL, NULL, 0 };
    const ova_in_whole *w = x->whole >= 0 && c->in.whole[x->whole].listed ? &c->in.whole[x->whole] : NULL;
    ova_member_reader *r = NULL;
    struct imp_carry *k = &c->carry;
    x->streamed = true;
    k->off = 0;
    k->len = 0;
    k->cap = (size_t)OVA_BATCH_SPAN_MAX + CHUNK + OVA_SECTOR;
    if (k->p == NULL && (k->p = malloc(k->cap)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", x->file.href);
    c->cur = x;
    c->cur_idx = (uint32_t)(x - c->disks);
    c->cur_m = &c->in.m[x->member];
    c->cur_base = 0; /* offsets in the file's own bytes */
    ova_status st = OVA_OK;
    if (w != NULL) {
        /* the same digest set-up as a member's, under the file's name */
        ova_in_member as = { .name = w->name, .listed = true, .alg = w->alg };
        if ((st = digest_begin(&as, &t.whole, err)) != OVA_OK)
            return st;
    }
    if ((st = ova_imp_open_reader(c, x, tap_part, &t, &r, err)) != OVA_OK)
        goto out;
    /* a gzip stream tells its size only at its end: the walk takes any, and
     * a stream cut short is caught by its missing end-of-stream marker */
    uint64_t size = x->file.gzip ? UINT64_MAX : ova_member_reader_stored(r);
    if ((st = ova_sscan_new(x->file.href, size, on_grain, c, &c->scan, err)) != OVA_OK)
        goto out;
    for (;;) {
        size_t got = 0;
        if ((st = ova_member_reader_read(r, buf, CHUNK, &got, err)) != OVA_OK || got == 0)
            break;
        if ((st = carry_add(c, buf, got, err)) != OVA_OK || (st = ova_sscan_feed(c->scan, buf, got, err)) != OVA_OK)
            break;
    }
    if (st == OVA_OK)
        st = part_end(&t, err);
    if (st == OVA_OK && w != NULL) {
        ova_in_member as = { .name = w->name, .listed = true, .alg = w->alg };
        memcpy(as.digest, w->digest, sizeof as.digest);
        if ((st = digest_check(&as, t.whole, "chunks joined", err)) == OVA_OK)
            t.checked++;
    }
    if (st == OVA_OK)
        st = walk_end(c, x, x->file.href, err);
    *checked = t.checked;
out:
    EVP_MD_CTX_free(t.md);
    EVP_MD_CTX_free(t.whole);
    ova_member_reader_close(&r);
    ova_sscan_free(&c->scan);
    return st;
}

static imp_disk *disk_of_member(imp_ctx *c, size_t mi)
{
    for (size_t i = 0; i < c->n_disks; i++)
        if (c->disks[i].member == (ssize_t)mi)
            return &c->disks[i];
    return NULL;
}

static ova_status write_vmx(imp_ctx *c, ova_err *err)
{
    ova_buf b = { 0 };
    ova_status st = ova_vmx_write(&c->desc->vm, &b, err);
    if (st != OVA_OK) {
        ova_buf_free(&b);
        return st;
    }
    int fd = open(c->vmx_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        ova_buf_free(&b);
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot create", c->vmx_tmp);
    }
    c->vmx_created = true;
    st = ova_pwrite_exact(fd, b.data, b.len, 0, c->vmx_tmp, err);
    if (st == OVA_OK && fsync(fd) != 0)
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: fsync", c->vmx_tmp);
    close(fd);
    ova_buf_free(&b);
    return st;
}

unsigned ova_import_threads(const ova_import_opts *o)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned t = o->threads ? o->threads : (cores > 0 ? (unsigned)cores : 1);
    uint64_t lim = o->mem_limit ? o->mem_limit : DEFAULT_MEM_LIMIT;
    uint64_t fit = lim / OVA_BATCH_THREAD_BYTES;
    if (fit < 1)
        fit = 1;
    return t > fit ? (unsigned)fit : t;
}

static ova_status run(imp_ctx *c, ova_import_result *r, ova_err *err)
{
    const ova_import_opts *o = c->o;
    ova_status st = ova_input_open(o->input, &c->in, err);
    if (st != OVA_OK)
        return st;
    const char *ovfname = c->in.m[c->in.ovf].name;
    char stem[256];
    snprintf(stem, sizeof stem, "%.*s", (int)(strlen(ovfname) - 4), ovfname);
    ova_member_base(stem, c->name);
    if ((st = ova_imp_read_ovf(c, err)) != OVA_OK)
        return st;
    for (size_t i = 0; i < c->desc->n_warnings; i++)
        ova_imp_log(c, 1, "%s", c->desc->warnings[i]);
    if ((st = ova_imp_plan_disks(c, err)) != OVA_OK)
        return st;
    size_t lines = 0;
    if ((st = ova_input_manifest(&c->in, &lines, err)) != OVA_OK)
        return st;
    if (c->in.mf < 0)
        ova_imp_log(c, 1, "%s: no manifest: the files' digests are not verified", c->in.label);
    for (size_t i = 0; i < c->in.n; i++) {
        size_t l = strlen(c->in.m[i].name);
        if (l > 5 && strcmp(c->in.m[i].name + l - 5, ".cert") == 0)
            ova_imp_log(c, 1, "%s: signing certificate not verified (import checks the manifest's digests only)",
                  c->in.m[i].name);
    }
    if (o->target_hw > 0)
        c->desc->vm.hw_version = o->target_hw;
    r->hw_version = c->desc->vm.hw_version;
    r->input_bytes = c->in.total;
    if ((st = ova_imp_check_targets(c, r, err)) != OVA_OK || o->dry_run)
        return st;

    c->threads = ova_import_threads(o);
    r->threads = c->threads + (o->remote != NULL ? o->remote->slots : 0);
    /* what --mem-limit leaves after the threads' scratch and the carry
     * buffer bounds the carried batches' bytes (at least one batch) */
    uint64_t lim = o->mem_limit ? o->mem_limit : DEFAULT_MEM_LIMIT;
    uint64_t used = c->threads * OVA_BATCH_THREAD_BYTES + OVA_BATCH_SPAN_MAX + CHUNK;
    uint64_t carry_limit = lim > used + OVA_BATCH_SPAN_MAX ? lim - used : OVA_BATCH_SPAN_MAX;
    if ((st = ova_batch_pool_new(c->threads, o->remote, carry_limit, &c->pool, err)) != OVA_OK)
        return st;
    unsigned char *buf = malloc(CHUNK);
    if (buf == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    for (size_t i = 0; i < c->in.n && st == OVA_OK; i++) {
        if (c->in.m[i].part) { /* the whole file, in order, when its first part comes */
            imp_disk *x = &c->disks[c->in.m[i].part_disk];
            uint64_t checked = 0;
            if (x->streamed)
                continue;
            ova_imp_log(c, 0, "%s: %s", x->file.href, !x->file.gzip ? "reading its chunks in order"
                        : x->file.chunk_size ? "reading its chunks in order, inflating" : "inflating in order");
            st = stream_carried(c, x, buf, &checked, err);
            r->digests_checked += checked;
            continue;
        }
        imp_disk *x = disk_of_member(c, i);
        if ((ssize_t)i == c->in.mf || (x == NULL && !c->in.m[i].listed))
            continue;
        if (x != NULL && c->in.m[i].size >= ((uint64_t)64 << 20))
            ova_imp_log(c, 0, "%s: reading %.1f MiB", c->in.m[i].name, (double)c->in.m[i].size / 1048576.0);
        st = stream_member(c, i, x, buf, err);
        if (st == OVA_OK && c->in.m[i].listed)
            r->digests_checked++;
    }
    free(buf);
    if (st == OVA_OK)
        st = ova_batch_pool_wait(c->pool, err);
    if (st == OVA_OK)
        st = ova_batch_pool_take_zeros(c->pool, on_zero, c, err);
    if (st == OVA_OK && o->remote != NULL && o->remote->sync != NULL)
        st = o->remote->sync(o->remote->ctx, err);
    for (size_t i = 0; i < c->n_disks && st == OVA_OK; i++) {
        imp_disk *x = &c->disks[i];
        if (x->out == NULL) /* a blank disk */
            st = create_out(c, x, NULL, err);
        if (st == OVA_OK)
            st = ova_disk_out_finish(x->out, err);
        r->disks[i].allocated = x->out ? ova_disk_out_allocated(x->out) : 0;
        r->disks[i].grains = x->grains;
        r->bytes_written += r->disks[i].allocated;
    }
    r->bytes_read = c->done;
    if (st == OVA_OK && (st = check_stop(err)) == OVA_OK)
        st = write_vmx(c, err);
    /* everything is complete: now the names (a signal no longer removes
     * the files, which may be in place already) */
    ova_import_tmp_disarm();
    for (size_t i = 0; i < c->n_disks && st == OVA_OK; i++)
        st = ova_disk_out_commit(c->disks[i].out, err);
    if (st == OVA_OK) {
        if (rename(c->vmx_tmp, c->vmx_final) != 0)
            st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot rename to %s", c->vmx_tmp, c->vmx_final);
        else
            st = ova_fsync_folder(o->out_dir, err);
    }
    return st;
}

ova_status ova_import(const ova_import_opts *o, ova_import_result *r, ova_err *err)
{
    imp_ctx c = { 0 };
    c.o = o;
    c.in.fd = -1;
    c.t0 = c.last = now_secs();
    memset(r, 0, sizeof *r);
    r->ranks = 1;
    r->dry_run = o->dry_run;
    if (!o->dry_run)
        ova_import_tmp_arm(o->out_dir);
    ova_status st = run(&c, r, err);
    ova_import_tmp_disarm();
    if (st == OVA_OK && !o->dry_run)
        progress(&c, 1);
    r->seconds = now_secs() - c.t0;
    ova_batch_pool_free(&c.pool); /* threads stop before their files close */
    for (size_t i = 0; i < c.n_disks; i++)
        ova_disk_out_free(&c.disks[i].out); /* after a failure: the temporary files go */
    if (c.vmx_tmp != NULL && c.vmx_created && st != OVA_OK)
        unlink(c.vmx_tmp);
    free(c.vmx_tmp);
    free(c.vmx_final);
    free(c.carry.p);
    free(c.disks);
    ova_import_desc_free(&c.desc);
    ova_input_close(&c.in);
    if (st != OVA_OK)
        ova_import_result_free(r);
    return st;
}

void ova_import_result_free(ova_import_result *r)
{
    for (size_t i = 0; r->disks != NULL && i < r->n_disks; i++) {
        free(r->disks[i].member);
        ova_disk_out_names_free(r->disks[i].files, r->disks[i].n_files);
    }
    free(r->disks);
    free(r->rank_bytes_written);
    free(r->vm_name);
    free(r->vmx_path);
    memset(r, 0, sizeof *r);
}
