/* ova_writer.c - writing the OVA in one pass on rank 0: the order of
 * things. Units arrive in plan order and go to their disk's stream
 * (disk_stream.c); every member byte is hashed here, on the caller's
 * thread, and handed to the write-behind queue (out_file.c); at the end the
 * OVF and manifest fill the space reserved for them (ova_layout.c) and the
 * temporary file is renamed into place (ova_target.c). */
#include "engine/ova_writer.h"
#include "ovatool/export.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ovatool/disk.h"
#include "engine/disk_stream.h"
#include "engine/out_file.h"
#include "engine/ova_layout.h"
#include "engine/ova_target.h"
#include "format/tar.h"
#include "format/vmdk_stream.h"
#include "util/io.h"

/* The export's progress, for the signal handler: lock-free atomics, so the
 * handler reads them without locks or allocation (async-signal-safe). */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the signal handler needs lock-free 64-bit atomics");
static _Atomic unsigned long long g_done, g_total;

typedef struct disk_out {
    char name[128];           /* member name (ova_tar_header enforces < 100) */
    uint64_t hdr_off;         /* where its tar header goes */
    uint64_t size;            /* member bytes */
    uint64_t data_grains;     /* grains written */
    unsigned char digest[EVP_MAX_MD_SIZE];
} disk_out;

struct ova_writer {
    const ova_vm *vm;
    const ova_prepared *prep; /* each disk's device, adapter and member name */
    const ova_plan *plan;
    ova_writer_opts opts;
    ova_target target;        /* the temporary file and the rename into place */
    ova_out_file *out;        /* target.fd's writes, direct where possible (I/O thread) */
    uint64_t pos;             /* file offset of the next byte */
    char base[81];
    ova_layout layout;        /* the .ovf and .mf members and their reserved space */
    disk_out *disks;
    const EVP_MD *md_type;
    EVP_MD_CTX *md;
    uint64_t next_unit;
    ova_disk_stream stream;   /* the disk being written */
    size_t at_disk;           /* the next grain to place: disk at_disk, grain at_grain */
    uint64_t at_grain;        /* (0: that disk is not started) */

    /* the write-behind queue (out_file.h): the caller's thread hashes, in
     * order, and hands the bytes over with their offset */
    ova_out_queue *queue;
};

void ova_writer_note_progress(uint64_t done, uint64_t total)
{
    atomic_store_explicit(&g_done, done, memory_order_relaxed);
    atomic_store_explicit(&g_total, total, memory_order_relaxed);
}

void ova_writer_signal_progress(uint64_t *done, uint64_t *total)
{
    *done = atomic_load_explicit(&g_done, memory_order_relaxed);
    *total = atomic_load_explicit(&g_total, memory_order_relaxed);
}

void ova_member_base(const char *output, char out[81])
{
    const char *name = strrchr(output, '/');
    name = name ? name + 1 : output;
    size_t n = strlen(name);
    if (n >= 4 && strcasecmp(name + n - 4, ".ova") == 0)
        n -= 4;
    size_t k = 0;
    for (size_t i = 0; i < n && k < 80; i++) {
        unsigned char c = (unsigned char)name[i];
        /* a dot never leads and never follows a dot: no hidden files, no ".." */
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '-' || c == '+' || (c == '.' && k > 0 && out[k - 1] != '.');
        out[k++] = ok ? (char)c : '_';
    }
    /* nor ends the base: "NAME..ovf" would hold a ".." */
    if (k > 0 && out[k - 1] == '.')
        out[k - 1] = '_';
    out[k] = '\0';
    if (k == 0)
        strcpy(out, "vm");
}

uint64_t ova_writer_bytes(const ova_writer *w) { return w->pos; }

int ova_writer_direct(const ova_writer *w) { return w->out != NULL && ova_out_file_direct(w->out); }

/* Append bytes the caller keeps: hashed now, copied for the write thread. */
static ova_status write_all(ova_writer *w, const void *p, size_t n, int hash, ova_err *err)
{
    if (hash && EVP_DigestUpdate(w->md, p, n) != 1)
        return ova_err_set(err, OVA_E_INTERNAL, "%s: digest update failed", w->target.final_path);
    unsigned char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", w->target.final_path);
    memcpy(copy, p, n);
    ova_status st = ova_out_queue_put(w->queue, copy, n, w->pos, free, copy, err);
    w->pos += n;
    return st;
}

/* The disk stream's metadata: part of the member, so hashed. */
static ova_status emit_hashed(void *w, const void *p, size_t n, ova_err *err)
{
    return write_all(w, p, n, 1, err);
}

/* Append bytes owned by the caller's buffer `owner`, without copying:
 * release(owner) runs once they are in the file. */
static ova_status write_owned(ova_writer *w, const void *p, size_t n, void (*release)(void *), void *owner,
                              ova_err *err)
{
    if (EVP_DigestUpdate(w->md, p, n) != 1) {
        release(owner);
        return ova_err_set(err, OVA_E_INTERNAL, "%s: digest update failed", w->target.final_path);
    }
    ova_status st = ova_out_queue_put(w->queue, p, n, w->pos, release, owner, err);
    w->pos += n;
    return st;
}

/* Write at a given offset (a tar header filled in afterwards). */
static ova_status pwrite_all(ova_writer *w, const void *p, size_t n, uint64_t off, ova_err *err)
{
    unsigned char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", w->target.final_path);
    memcpy(copy, p, n);
    return ova_out_queue_put(w->queue, copy, n, off, free, copy, err);
}

/* The OVF for the current disk facts (sizes may be placeholders). */
static ova_status build_ovf(ova_writer *w, int placeholder, ova_buf *out, ova_err *err)
{
    size_t n = w->plan->n_disks;
    ova_ovf_disk *od = calloc(n ? n : 1, sizeof *od);
    if (od == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory building the OVF");
    for (size_t i = 0; i < n; i++) {
        uint64_t cap = w->plan->disks[i]->capacity;
        uint64_t pop = w->disks[i].data_grains * (uint64_t)OVA_GRAIN_SIZE;
        od[i].href = w->disks[i].name;
        od[i].capacity = cap;
        od[i].file_size = placeholder ? UINT64_MAX : w->disks[i].size;
        od[i].populated_size = placeholder ? UINT64_MAX : (pop < cap ? pop : cap);
        od[i].device = w->prep->disks[i].device;
    }
    ova_ovf_options oo = { w->opts.target_hw };
    ova_status st = ova_ovf_write(w->vm, od, n, &oo, out, err);
    free(od);
    return st;
}

static void writer_free(ova_writer *w)
{
    if (w == NULL)
        return;
    ova_out_queue_stop(&w->queue, 1);
    ova_out_file_close(&w->out);
    ova_target_free(&w->target);
    EVP_MD_CTX_free(w->md);
    ova_disk_stream_free(&w->stream);
    free(w->disks);
    free(w);
}

void ova_writer_abort(ova_writer **pw)
{
    ova_writer *w = *pw;
    if (w == NULL)
        return;
    ova_target_discard(&w->target);
    writer_free(w);
    *pw = NULL;
}

ova_status ova_writer_open(const ova_prepared *prep, const ova_plan *plan, const ova_writer_opts *opts,
                           ova_writer **out, ova_err *err)
{
    const char *output = prep->output;
    ova_status st = OVA_OK;
    ova_buf ovf = OVA_BUF_INIT;
    ova_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    ova_target_init(&w->target);
    w->vm = prep->vm;
    w->prep = prep;
    w->plan = plan;
    w->opts = *opts;
    size_t nd = plan->n_disks;
    w->disks = calloc(nd ? nd : 1, sizeof *w->disks);
    w->md = EVP_MD_CTX_new();
    w->md_type = ova_sha_md(opts->sha);
    if (w->disks == NULL || w->md == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        goto fail;
    }
    if (w->md_type == NULL) {
        st = ova_err_set(err, OVA_E_INTERNAL, "internal error: no digest for manifest algorithm %d", (int)opts->sha);
        goto fail;
    }

    /* prepare paired disks with devices and named members; the plan must
     * hold those same disks, in order */
    int same = prep->n_disks == nd;
    for (size_t i = 0; same && i < nd; i++)
        same = plan->disks[i] == prep->disks[i].info;
    if (!same) {
        st = ova_err_set(err, OVA_E_INTERNAL, "internal error: the plan's %zu disks are not the %zu prepared", nd,
                         prep->n_disks);
        goto fail;
    }

    memcpy(w->base, prep->member_base, sizeof w->base);
    ova_layout_names(&w->layout, w->base);
    for (size_t i = 0; i < nd; i++)
        memcpy(w->disks[i].name, prep->disks[i].member, sizeof w->disks[i].name);

    /* reserve: the OVF at its widest, the manifest exactly */
    st = build_ovf(w, 1, &ovf, err);
    if (st != OVA_OK)
        goto fail;
    w->layout.ovf_len = ovf.len;
    w->layout.mf_len = ova_layout_mf_line(opts->sha, w->layout.ovf_name);
    for (size_t i = 0; i < nd; i++)
        w->layout.mf_len += ova_layout_mf_line(opts->sha, w->disks[i].name);

    /* the temporary file beside the target */
    if ((st = ova_target_create(&w->target, output, opts->vmx_path, plan, opts->warn, opts->warn_ctx, err)) !=
        OVA_OK)
        goto fail;
    w->target.no_replace = opts->no_replace;
    ova_disk_stream_init(&w->stream, w->target.final_path, emit_hashed, w);
    if ((st = ova_out_file_open(w->target.fd, w->target.tmp_path, !opts->buffered_io, &w->out, err)) != OVA_OK)
        goto fail;
    {
        /* the output's folder, as "disk full" names it */
        const char *slash = strrchr(output, '/');
        char *dir = slash == NULL ? strdup(".") : slash == output ? strdup("/") : strndup(output, (size_t)(slash - output));
        if (dir == NULL) {
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
            goto fail;
        }
        ova_out_file_set_space(w->out, dir, opts->expected_size);
        free(dir);
    }
    w->pos = ova_layout_front_len(&w->layout);
    if ((st = ova_out_queue_start(w->out, w->target.final_path, &w->queue, err)) != OVA_OK)
        goto fail;
    ova_buf_free(&ovf);
    *out = w;
    return OVA_OK;
fail:
    ova_buf_free(&ovf);
    ova_writer_abort(&w);
    return st;
}

static ova_status start_disk(ova_writer *w, size_t d, ova_err *err)
{
    const ova_disk_info *info = w->plan->disks[d];
    disk_out *o = &w->disks[d];
    o->hdr_off = w->pos;
    unsigned char zero[OVA_TAR_BLOCK] = { 0 };
    ova_status st = write_all(w, zero, sizeof zero, 0, err); /* filled in at the end of the disk */
    if (st != OVA_OK)
        return st;
    if (EVP_DigestInit_ex(w->md, w->md_type, NULL) != 1)
        return ova_err_set(err, OVA_E_INTERNAL, "digest init failed");

    const char *adapter = w->prep->disks[d].adapter;
    ova_stream_info si = { info->capacity, info->cid, o->name, adapter, info->tools_version,
                           info->tools_install_type };
    return ova_disk_stream_start(&w->stream, &si, info->path, err);
}

/* The disk's member is complete at size bytes: its digest, and its tar
 * header in the block left for it. */
static ova_status finish_disk(ova_writer *w, size_t d, uint64_t size, ova_err *err)
{
    disk_out *o = &w->disks[d];
    o->size = size;
    unsigned int dl = 0;
    if (EVP_DigestFinal_ex(w->md, o->digest, &dl) != 1)
        return ova_err_set(err, OVA_E_INTERNAL, "digest failed");
    unsigned char hdr[OVA_TAR_BLOCK];
    ova_status st = ova_tar_header(hdr, o->name, o->size, w->opts.mtime, err);
    if (st != OVA_OK)
        return st;
    return pwrite_all(w, hdr, sizeof hdr, o->hdr_off, err);
}

/* Grains first..first+n-1 of disk d are placed: the stream's grain table,
 * or the disk's end, and the cursor past them. */
static ova_status grains_done(ova_writer *w, size_t d, uint64_t first, uint64_t n, ova_err *err)
{
    uint64_t size;
    ova_status st = ova_disk_stream_grains_done(&w->stream, first, (uint32_t)n, &size, err);
    if (st != OVA_OK)
        return st;
    if (size != 0 && (st = finish_disk(w, d, size, err)) != OVA_OK)
        return st;
    w->at_grain = first + n;
    if (w->at_grain == ova_stream_grains(w->plan->disks[d]->capacity)) {
        w->at_disk++;
        w->at_grain = 0;
    }
    return OVA_OK;
}

/* Place the grains no planned unit covers, from the cursor to grain `to`
 * of disk d (d == n_disks: to the end of the last disk). The plan leaves
 * out units with no data anywhere in the chain (plan.h); their grains are
 * unallocated in the stream, as zero grains of a planned unit are, so the
 * bytes are those of a plan with every unit. A disk with no planned unit
 * is started and finished here. */
static ova_status skip_to(ova_writer *w, size_t d, uint64_t to, ova_err *err)
{
    ova_status st = OVA_OK;
    while (st == OVA_OK && (w->at_disk < d || (w->at_disk == d && w->at_grain < to))) {
        size_t k = w->at_disk;
        uint64_t end = k < d ? ova_stream_grains(w->plan->disks[k]->capacity) : to;
        if (w->at_grain == 0 && (st = start_disk(w, k, err)) != OVA_OK)
            break;
        /* to the end of the current group first: its table goes out if it
         * holds data; the groups after it hold none */
        uint64_t a = w->at_grain;
        uint64_t group_end = (a / OVA_GT_ENTRIES + 1) * OVA_GT_ENTRIES;
        uint64_t b = end < group_end ? end : group_end;
        if ((st = grains_done(w, k, a, b - a, err)) == OVA_OK && b < end)
            st = grains_done(w, k, b, end - b, err);
    }
    return st;
}

ova_status ova_writer_unit(ova_writer *w, const ova_unit_hdr *h, const unsigned char *records,
                           void (*release)(void *), void *owner, ova_err *err)
{
    if (h->unit != w->next_unit || h->status != OVA_UNIT_OK) {
        ova_status st = ova_err_set(err, OVA_E_INTERNAL, "internal error: unit %llu written out of order (expected %llu)",
                                    (unsigned long long)h->unit, (unsigned long long)w->next_unit);
        release(owner);
        return st;
    }
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(w->plan, h->unit, &d, &first, &n);
    ova_status st = skip_to(w, d, first, err);
    if (st == OVA_OK && first == 0)
        st = start_disk(w, d, err);
    if (st != OVA_OK) {
        release(owner);
        return st;
    }

    if (h->n_data > 0) {
        if ((st = ova_disk_stream_records(&w->stream, first, n, h->rel, h->records_len, err)) != OVA_OK) {
            release(owner);
            return st;
        }
        w->disks[d].data_grains += h->n_data;
        /* h lives in owner too: nothing below may read it once it is queued */
        if ((st = write_owned(w, records, (size_t)h->records_len, release, owner, err)) != OVA_OK)
            return st;
    } else {
        release(owner);
    }

    if ((st = grains_done(w, d, first, n, err)) != OVA_OK)
        return st;
    w->next_unit++;
    return OVA_OK;
}

static ova_status digest(const EVP_MD *md, const void *p, size_t n, unsigned char *out, ova_err *err)
{
    unsigned int len = 0;
    if (EVP_Digest(p, n, out, &len, md, NULL) != 1)
        return ova_err_set(err, OVA_E_INTERNAL, "digest failed");
    return OVA_OK;
}

ova_status ova_writer_finish(ova_writer **pw, ova_err *err)
{
    ova_writer *w = *pw;
    ova_status st = OVA_OK;
    ova_buf ovf = OVA_BUF_INIT, mf = OVA_BUF_INIT;
    unsigned char *front = NULL;
    if (w->next_unit != ova_plan_units(w->plan)) {
        st = ova_err_set(err, OVA_E_INTERNAL, "internal error: finishing after %llu of %llu units",
                         (unsigned long long)w->next_unit, (unsigned long long)ova_plan_units(w->plan));
        goto fail;
    }
    /* the disks, or ends of disks, with no planned unit */
    if ((st = skip_to(w, w->plan->n_disks, 0, err)) != OVA_OK)
        goto fail;
    /* every disk byte in the file and no write failed, before the front */
    if ((st = ova_out_queue_drain(w->queue, err)) != OVA_OK)
        goto fail;
    ova_out_queue_stop(&w->queue, 0);
    if ((st = ova_out_file_flush(w->out, err)) != OVA_OK)
        goto fail;
    if ((st = build_ovf(w, 0, &ovf, err)) != OVA_OK)
        goto fail;
    if ((st = ova_layout_pad_ovf(&w->layout, &ovf, err)) != OVA_OK)
        goto fail;
    unsigned char dg[EVP_MAX_MD_SIZE];
    if ((st = digest(w->md_type, ovf.data, ovf.len, dg, err)) != OVA_OK)
        goto fail;
    ova_manifest_line(&mf, w->opts.sha, w->layout.ovf_name, dg);
    for (size_t i = 0; i < w->plan->n_disks; i++)
        ova_manifest_line(&mf, w->opts.sha, w->disks[i].name, w->disks[i].digest);
    if (ova_buf_failed(&ovf) || ova_buf_failed(&mf)) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = ova_layout_front(&w->layout, &ovf, &mf, w->opts.mtime, &front, err)) != OVA_OK)
        goto fail;
    unsigned char end[OVA_LAYOUT_TRAILER] = { 0 };
    /* through w->out, flushed above (so straight to the file): a full file
     * system is reported as it is for the disks */
    if ((st = ova_out_file_pwrite(w->out, front, ova_layout_front_len(&w->layout), 0, err)) != OVA_OK ||
        (st = ova_out_file_pwrite(w->out, end, sizeof end, w->pos, err)) != OVA_OK)
        goto fail;
    w->pos += sizeof end;
    /* once renamed, a failure to sync the folder leaves nothing to remove */
    st = ova_target_commit(&w->target, err);
    if (st != OVA_OK && w->target.tmp_path != NULL)
        goto fail;
    free(front);
    ova_buf_free(&ovf);
    ova_buf_free(&mf);
    writer_free(w);
    *pw = NULL;
    return st;
fail:
    free(front);
    ova_buf_free(&ovf);
    ova_buf_free(&mf);
    ova_writer_abort(pw);
    return st;
}
