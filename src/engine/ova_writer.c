/* ova_writer.c - writing the OVA in one pass on rank 0: the order of
 * things. Units arrive in plan order and go to their disk's stream
 * (disk_stream.c); every member byte is hashed here, on the caller's
 * thread, and handed to the write-behind queue (out_file.c); at the end the
 * OVF and manifest fill the space reserved for them (ova_layout.c) and the
 * temporary file is renamed into place (ova_target.c). */
#include "engine/ova_writer.h"
#include "ovatool/export.h"

#include <openssl/evp.h>
#include <errno.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ovatool/disk.h"
#include "engine/disk_order.h"
#include "engine/disk_stream.h"
#include "engine/journal.h"
#include "engine/out_file.h"
#include "engine/ova_layout.h"
#include "engine/ova_target.h"
#include "format/digest_state.h"
#include "format/tar.h"
#include "format/vmdk_stream.h"
#include "util/fault.h"
#include "util/io.h"

/* The export's progress, for the signal handler: lock-free atomics, so the
 * handler reads them without locks or allocation (async-signal-safe). */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the signal handler needs lock-free 64-bit atomics");
static _Atomic unsigned long long g_done, g_total;
/* A stop a signal asked for (ova_export_request_stop): lock-free likewise. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs a lock-free int");
static atomic_int g_stop;

void ova_export_request_stop(void) { atomic_store_explicit(&g_stop, 1, memory_order_relaxed); }

typedef struct disk_out {
    char name[128];           /* member name (ova_tar_header enforces < 100) */
    uint64_t hdr_off;         /* where its tar header goes */
    uint64_t size;            /* member bytes */
    uint64_t data_grains;     /* grains written */
    unsigned char digest[EVP_MAX_MD_SIZE];
} disk_out;

/* A disk written ahead of its place (--parallel-disks): its member, tar
 * header block first, in a spool file, hashed on the spool's write
 * thread. The fields from stream on are the writer's sink state
 * (swap_sink): while a unit of this disk is placed, they are the
 * writer's, so the placing code is the same for the OVA and a spool. */
typedef struct spool {
    char *path;               /* NULL: not begun, or appended */
    int fd;
    ova_out_file *out;
    ova_disk_stream stream;
    EVP_MD_CTX *md;
    ova_out_queue *queue;
    size_t at_disk;
    uint64_t at_grain;
    uint64_t pos;
    int md_on_queue;
} spool;

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

    /* a journaled export (journal.h): the point saved last, and when */
    ova_journal *jn;
    char *jpath;              /* the journal's file */
    uint64_t rb_bytes;        /* resumed: bytes read back for the digest, and the seconds */
    double rb_secs;
    int kill_in;              /* tests (fault.h): units until this process dies, 0 for none */
    const char *kill_point;   /* the fault point that armed kill_in */
    ova_buf jbuf;
    struct timespec jlast;

    /* --parallel-disks (ova_writer_opts.parallel_disks) */
    int md_on_queue;          /* the sink's digest is computed on its queue's thread */
    ova_disk_order order;     /* the units' order */
    int64_t expect;           /* the unit due next */
    spool *spools;            /* by disk */

    /* distributed writing (ova_writer_opts.portable_digest): the member's
     * digest in a state other ranks can continue (digest_state.h) */
    int portable;
    ova_digest_state ds;
};

/* The queue's digest of a spool (ova_out_queue_set_hash). */
static int md_update(void *ctx, const void *p, size_t n)
{
    return EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : 1;
}

/* Exchange the writer's sink state with a spool's (see spool). */
static void swap_sink(ova_writer *w, spool *sp)
{
#define SWAP(a, b)                  \
    do {                            \
        __typeof__(a) t_ = (a);     \
        (a) = (b);                  \
        (b) = t_;                   \
    } while (0)
    SWAP(w->stream, sp->stream);
    SWAP(w->md, sp->md);
    SWAP(w->queue, sp->queue);
    SWAP(w->at_disk, sp->at_disk);
    SWAP(w->at_grain, sp->at_grain);
    SWAP(w->pos, sp->pos);
    SWAP(w->md_on_queue, sp->md_on_queue);
#undef SWAP
}

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

void ova_writer_readback(const ova_writer *w, uint64_t *bytes, double *secs)
{
    *bytes = w->rb_bytes;
    *secs = w->rb_secs;
}

int ova_writer_direct(const ova_writer *w) { return w->out != NULL && ova_out_file_direct(w->out); }

/* Hash member bytes on this thread: the EVP digest, or the portable one. */
static int md_add(ova_writer *w, const void *p, size_t n)
{
    if (w->portable) {
        ova_err e;
        return ova_digest_state_update(&w->ds, p, n, &e) == OVA_OK;
    }
    return EVP_DigestUpdate(w->md, p, n) == 1;
}

/* Append bytes the caller keeps: hashed now, copied for the write thread. */
static ova_status write_all(ova_writer *w, const void *p, size_t n, int hash, ova_err *err)
{
    if (hash && !w->md_on_queue && !md_add(w, p, n))
        return ova_err_set(err, OVA_E_INTERNAL, "%s: digest update failed", w->target.final_path);
    unsigned char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", w->target.final_path);
    memcpy(copy, p, n);
    ova_status st = ova_out_queue_put_ex(w->queue, copy, n, w->pos, hash && w->md_on_queue, free, copy, err);
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
    if (!w->md_on_queue && !md_add(w, p, n)) {
        release(owner);
        return ova_err_set(err, OVA_E_INTERNAL, "%s: digest update failed", w->target.final_path);
    }
    ova_status st = ova_out_queue_put_ex(w->queue, p, n, w->pos, w->md_on_queue, release, owner, err);
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

/* Stop a spool's thread (dropping what waits), close and remove its file. */
static void spool_free(spool *sp)
{
    ova_out_queue_stop(&sp->queue, 1);
    ova_out_file_close(&sp->out);
    ova_target_spool_remove(&sp->path, &sp->fd);
    EVP_MD_CTX_free(sp->md);
    sp->md = NULL;
    ova_disk_stream_free(&sp->stream);
}

static void writer_free(ova_writer *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; w->spools != NULL && i < w->plan->n_disks; i++)
        spool_free(&w->spools[i]);
    free(w->spools);
    ova_disk_order_free(&w->order);
    ova_out_queue_stop(&w->queue, 1);
    ova_out_file_close(&w->out);
    ova_target_free(&w->target);
    EVP_MD_CTX_free(w->md);
    ova_disk_stream_free(&w->stream);
    ova_journal_free(&w->jn);
    free(w->jpath);
    ova_buf_free(&w->jbuf);
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

/* ---- the resume journal (journal.h) ------------------------------------ */

/* Hash bytes [from, to) of the output file into w->md, reading them back. */
static ova_status hash_back(ova_writer *w, uint64_t from, uint64_t to, ova_err *err)
{
    size_t cap = 8u << 20;
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    ova_status st = OVA_OK;
    for (uint64_t at = from; st == OVA_OK && at < to;) {
        size_t n = to - at < cap ? (size_t)(to - at) : cap;
        st = ova_pread_exact(w->target.fd, buf, n, at, w->target.tmp_path, "the partial output", err);
        if (st == OVA_OK && EVP_DigestUpdate(w->md, buf, n) != 1)
            st = ova_err_set(err, OVA_E_INTERNAL, "digest update failed");
        at += n;
    }
    free(buf);
    return st;
}

/* The digest of what w->md has hashed so far, leaving w->md as it is. */
static ova_status digest_so_far(ova_writer *w, unsigned char *out, uint32_t *len, ova_err *err)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int dl = 0;
    int ok = c != NULL && EVP_MD_CTX_copy_ex(c, w->md) == 1 && EVP_DigestFinal_ex(c, out, &dl) == 1;
    EVP_MD_CTX_free(c);
    *len = dl;
    return ok ? OVA_OK : ova_err_set(err, OVA_E_INTERNAL, "digest copy failed");
}

/* A fresh journaled export starts with an empty partial output; a resumed
 * one checks the partial output against the journal's point, restores the
 * writer's state there and cuts the file to it. Nothing is cut before
 * every check has passed. */
static ova_status journal_begin(ova_writer *w, ova_err *err)
{
    ova_journal_point *p = &w->jn->pt;
    const char *part = w->target.tmp_path;
    size_t nd = w->plan->n_disks;
    clock_gettime(CLOCK_MONOTONIC, &w->jlast);
    if (p->disks == NULL && (p->disks = calloc(nd ? nd : 1, sizeof *p->disks)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    if (p->pos == 0) {
        if (ftruncate(w->target.fd, 0) != 0)
            return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot truncate the partial output", part);
        return OVA_OK;
    }
    struct stat sb;
    if (fstat(w->target.fd, &sb) != 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot stat", part);
    if ((uint64_t)sb.st_size < p->pos)
        return ova_err_set(err, OVA_E_USAGE,
                           "%s: %llu bytes, but %s says %llu are durable: the partial output was cut short and cannot "
                           "be continued (start over with --overwrite)",
                           part, (unsigned long long)sb.st_size, w->jpath, (unsigned long long)p->pos);
    if (p->disk > nd || p->pos < w->pos)
        return ova_err_set(err, OVA_E_USAGE, "%s: its durable point does not fit this export's layout",
                           w->jpath);
    for (uint32_t i = 0; i < p->disk; i++) {
        disk_out *o = &w->disks[i];
        o->hdr_off = p->disks[i].hdr_off;
        o->size = p->disks[i].size;
        o->data_grains = p->disks[i].data_grains;
        memcpy(o->digest, p->disks[i].digest, p->disks[i].digest_len);
    }
    ova_status st;
    if (p->grain > 0) {
        /* the begun member: its digest, from its durable prefix read back */
        const ova_journal_disk *k = &p->disks[p->disk];
        disk_out *o = &w->disks[p->disk];
        o->hdr_off = k->hdr_off;
        o->data_grains = k->data_grains;
        unsigned char dg[EVP_MAX_MD_SIZE];
        uint32_t dl = 0;
        if (EVP_DigestInit_ex(w->md, w->md_type, NULL) != 1)
            return ova_err_set(err, OVA_E_INTERNAL, "digest init failed");
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if ((st = hash_back(w, k->hdr_off + OVA_TAR_BLOCK, p->pos, err)) != OVA_OK ||
            (st = digest_so_far(w, dg, &dl, err)) != OVA_OK)
            return st;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        w->rb_bytes = p->pos - k->hdr_off - OVA_TAR_BLOCK;
        w->rb_secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (dl != k->digest_len || memcmp(dg, k->digest, dl) != 0)
            return ova_err_set(err, OVA_E_USAGE,
                               "%s: its first %llu bytes are not those %s recorded (the disk member %s differs): "
                               "the partial output cannot be continued (start over with --overwrite)",
                               part, (unsigned long long)p->pos, w->jpath, o->name);
        if ((st = ova_disk_stream_resume(&w->stream, w->plan->disks[p->disk]->capacity, p->sector, p->gd, p->n_gd,
                                         w->plan->disks[p->disk]->path, err)) != OVA_OK)
            return st;
    }
    if (ftruncate(w->target.fd, (off_t)p->pos) != 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot cut the partial output to %llu bytes", part,
                             (unsigned long long)p->pos);
    w->target.keep = 1; /* the journal names it */
    w->pos = p->pos;
    w->next_unit = w->opts.first_unit;
    /* the plan's skipped grains (skip_to) go on from the durable point */
    w->at_disk = p->disk;
    w->at_grain = p->grain;
    return ova_out_file_resume_at(w->out, p->pos, err);
}

/* Make the output durable up to w->pos and save that point: disk d's
 * grains [0, grain) are in the file (d == n_disks: every disk). */
static ova_status checkpoint(ova_writer *w, uint32_t d, uint64_t grain, ova_err *err)
{
    ova_journal_point *p = &w->jn->pt;
    ova_status st;
    if ((st = ova_out_queue_drain(w->queue, err)) != OVA_OK || (st = ova_out_file_sync(w->out, err)) != OVA_OK)
        return st;
    uint32_t dl = (uint32_t)ova_sha_len(w->opts.sha);
    for (uint32_t i = 0; i < d; i++) {
        ova_journal_disk *k = &p->disks[i];
        const disk_out *o = &w->disks[i];
        *k = (ova_journal_disk){ o->hdr_off, o->size, o->data_grains, dl, { 0 } };
        memcpy(k->digest, o->digest, dl);
    }
    p->n_gd = 0;
    p->sector = 0;
    if (grain > 0) {
        ova_journal_disk *k = &p->disks[d];
        *k = (ova_journal_disk){ w->disks[d].hdr_off, 0, w->disks[d].data_grains, 0, { 0 } };
        if ((st = digest_so_far(w, k->digest, &k->digest_len, err)) != OVA_OK)
            return st;
        uint64_t ng = grain / OVA_GT_ENTRIES;
        uint32_t *gd = realloc(p->gd, (size_t)(ng ? ng : 1) * sizeof *gd);
        if (gd == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "out of memory");
        memcpy(gd, w->stream.gd, (size_t)ng * sizeof *gd);
        p->gd = gd;
        p->n_gd = ng;
        p->sector = w->stream.sector;
    }
    p->disk = d;
    p->grain = grain;
    p->pos = w->pos;
    if ((st = ova_journal_save(w->jpath, w->jn, &w->jbuf, err)) != OVA_OK)
        return st;
    w->target.keep = 1;
    clock_gettime(CLOCK_MONOTONIC, &w->jlast);
    /* the tests' kills at chosen points (fault.h) */
    size_t nd = w->plan->n_disks;
    if (grain == 0 && d == 1 && nd > 1)
        ova_fault_kill("resume.kill.boundary");
    if (grain > 0 && w->kill_in == 0 && w->kill_point == NULL) {
        w->kill_point = d == 0 && ova_fault("resume.kill.first")      ? "resume.kill.first"
                        : d + 1 == nd && ova_fault("resume.kill.last") ? "resume.kill.last"
                                                                        : NULL;
        w->kill_in = w->kill_point != NULL ? 3 : 0;
    }
    return OVA_OK;
}

/* After grains [first, first + n) of disk d: a durable point at the end of
 * the disk, and at the end of a group when journal_secs have passed. */
/* After the grains of disk d up to `end` are placed: a durable point at a
 * disk end, or at a group end when journal_secs have passed (or a stop was
 * asked for). */
static ova_status maybe_checkpoint(ova_writer *w, size_t d, uint64_t end, int disk_done, ova_err *err)
{
    if (w->jn == NULL)
        return OVA_OK;
    if (w->kill_in > 0 && --w->kill_in == 0) {
        /* die with bytes past the durable point in the file */
        ova_out_queue_drain(w->queue, err);
        ova_fault_kill(w->kill_point);
    }
    int stop = atomic_load_explicit(&g_stop, memory_order_relaxed);
    ova_status st = OVA_OK;
    if (disk_done) {
        st = checkpoint(w, (uint32_t)d + 1, 0, err);
    } else if (end % OVA_GT_ENTRIES != 0) {
        return OVA_OK;
    } else {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double since = (double)(t.tv_sec - w->jlast.tv_sec) + (double)(t.tv_nsec - w->jlast.tv_nsec) / 1e9;
        if (stop || since >= w->opts.journal_secs)
            st = checkpoint(w, (uint32_t)d, end, err);
    }
    if (st != OVA_OK || !stop)
        return st;
    return ova_err_set(err, OVA_E_STOPPED,
                       "stopped on request at a durable point: %s holds %llu bytes, %s where it ends; run the same "
                       "command with --resume (any number of ranks) to continue, or with --overwrite to start over",
                       w->target.tmp_path, (unsigned long long)w->pos, w->jpath);
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
    w->jn = opts->journal;
    w->portable = opts->portable_digest;
    size_t nd = plan->n_disks;
    w->disks = calloc(nd ? nd : 1, sizeof *w->disks);
    w->md = EVP_MD_CTX_new();
    w->md_type = ova_sha_md(opts->sha);
    if (w->disks == NULL || w->md == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        goto fail;
    }
    if (w->portable && (w->jn != NULL || opts->parallel_disks || !opts->buffered_io)) {
        st = ova_err_set(err, OVA_E_INTERNAL,
                         "internal error: distributed writing with a journal, parallel disks or O_DIRECT");
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

    /* the temporary file beside the target, or a journaled export's partial output */
    if (w->jn != NULL) {
        if ((w->jpath = strdup(opts->journal_path)) == NULL) {
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
            goto fail;
        }
        if ((st = ova_target_create_partial(&w->target, output, opts->partial_path, opts->vmx_path, plan, err)) !=
            OVA_OK)
            goto fail;
    } else if ((st = ova_target_create(&w->target, output, opts->vmx_path, plan, opts->warn, opts->warn_ctx,
                                       err)) != OVA_OK) {
        goto fail;
    }
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
    if (w->jn != NULL && (st = journal_begin(w, err)) != OVA_OK)
        goto fail;
    if (opts->parallel_disks) {
        if (w->jn != NULL) {
            st = ova_err_set(err, OVA_E_INTERNAL, "internal error: parallel disks in a journaled export");
            goto fail;
        }
        if ((w->spools = calloc(nd ? nd : 1, sizeof *w->spools)) == NULL) {
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < nd; i++)
            w->spools[i].fd = -1;
        if ((st = ova_disk_order_init(&w->order, plan, err)) != OVA_OK)
            goto fail;
        w->expect = ova_disk_order_next(&w->order);
    }
    if ((st = ova_out_queue_start(w->out, w->target.final_path, &w->queue, err)) != OVA_OK)
        goto fail;
    ova_buf_free(&ovf);
    *out = w;
    return OVA_OK;
fail:
    ova_buf_free(&ovf);
    if (w->jn != NULL && w->jn->pt.pos != 0)
        w->target.keep = 1; /* a resume that was refused leaves the files as they are */
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
    if (w->portable ? ova_digest_state_init(&w->ds, w->opts.sha, err) != OVA_OK
                    : EVP_DigestInit_ex(w->md, w->md_type, NULL) != 1)
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
    ova_status qs;
    if (w->md_on_queue && (qs = ova_out_queue_drain(w->queue, err)) != OVA_OK) /* every byte hashed */
        return qs;
    if (w->portable ? ova_digest_state_final(&w->ds, o->digest, err) != OVA_OK
                    : EVP_DigestFinal_ex(w->md, o->digest, &dl) != 1)
        return ova_err_set(err, OVA_E_INTERNAL, "digest failed");
    unsigned char hdr[OVA_TAR_BLOCK];
    ova_status st = ova_tar_header(hdr, o->name, o->size, w->opts.mtime, err);
    if (st != OVA_OK)
        return st;
    return pwrite_all(w, hdr, sizeof hdr, o->hdr_off, err);
}

/* Grains first..first+n-1 of disk d are placed: the stream's grain table,
 * or the disk's end, and the cursor past them. */
static ova_status grains_done(ova_writer *w, size_t d, uint64_t first, uint64_t n, int *disk_done, ova_err *err)
{
    uint64_t size;
    ova_status st = ova_disk_stream_grains_done(&w->stream, first, (uint32_t)n, &size, err);
    if (st != OVA_OK)
        return st;
    if (size != 0 && (st = finish_disk(w, d, size, err)) != OVA_OK)
        return st;
    if (disk_done != NULL)
        *disk_done = size != 0;
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
        if ((st = grains_done(w, k, a, b - a, NULL, err)) == OVA_OK && b < end)
            st = grains_done(w, k, b, end - b, NULL, err);
    }
    return st;
}

/* After a unit ending at grain `end` of disk d: when the plan's next unit
 * lies past the end of this grain-table group (or on another disk), the
 * skipped grains up to that end are placed now rather than with that unit,
 * so that the group is complete here and a durable point can follow
 * (maybe_checkpoint), as often as with a plan of every unit. */
static ova_status skip_to_group_end(ova_writer *w, size_t d, uint64_t end, uint64_t next_unit, int *disk_done,
                                    ova_err *err)
{
    uint64_t grains = ova_stream_grains(w->plan->disks[d]->capacity);
    uint64_t group_end = (end + OVA_GT_ENTRIES - 1) / OVA_GT_ENTRIES * OVA_GT_ENTRIES;
    if (group_end > grains)
        group_end = grains;
    if (next_unit < ova_plan_units(w->plan)) {
        size_t nd;
        uint64_t nfirst;
        uint32_t nn;
        ova_plan_unit(w->plan, next_unit, &nd, &nfirst, &nn);
        if (nd == d && nfirst < group_end)
            return OVA_OK;
    }
    if (group_end == end)
        return OVA_OK;
    ova_status st = skip_to(w, d, group_end, err);
    *disk_done = st == OVA_OK && w->at_disk > d;
    return st;
}

/* Place unit `unit` (grains first..first+n-1 of disk d) in the current
 * sink: the grains the plan skipped before it, its records, and its
 * grain table or the disk's end when it completes one. */
static ova_status place_unit(ova_writer *w, const ova_unit_hdr *h, const unsigned char *records,
                             void (*release)(void *), void *owner, const ova_writer_held *held, uint64_t unit,
                             size_t d, uint64_t first, uint32_t n, ova_err *err)
{
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
        if (held != NULL) {
            /* another rank holds the records: it writes them at w->pos and
             * continues the member's digest over them */
            release(owner);
            uint64_t len = h->records_len;
            if ((st = held->place(held->ctx, w->pos, len, &w->ds, err)) != OVA_OK)
                return st;
            w->pos += len;
        } else if ((st = write_owned(w, records, (size_t)h->records_len, release, owner, err)) != OVA_OK) {
            /* h lives in owner too: nothing below may read it once it is queued */
            return st;
        }
    } else {
        release(owner);
    }

    int disk_done = 0;
    if ((st = grains_done(w, d, first, n, &disk_done, err)) != OVA_OK)
        return st;
    if (!disk_done && (st = skip_to_group_end(w, d, first + n, unit + 1, &disk_done, err)) != OVA_OK)
        return st;
    if (w->spools != NULL && !disk_done && unit + 1 == w->plan->first_unit[d + 1])
        return skip_to(w, d + 1, 0, err); /* its last unit: the disk ends here, in its sink */
    return maybe_checkpoint(w, d, disk_done ? first + n : w->at_grain, disk_done, err);
}

/* Begin disk d's spool (ova_writer_opts.parallel_disks). */
static ova_status spool_begin(ova_writer *w, spool *sp, size_t d, ova_err *err)
{
    ova_status st = ova_target_spool(&w->target, &sp->path, &sp->fd, err);
    if (st != OVA_OK)
        return st;
    /* through the page cache: it is read back soon */
    if ((st = ova_out_file_open(sp->fd, sp->path, 0, &sp->out, err)) != OVA_OK ||
        (st = ova_out_queue_start(sp->out, sp->path, &sp->queue, err)) != OVA_OK)
        return st;
    if ((sp->md = EVP_MD_CTX_new()) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    ova_out_queue_set_hash(sp->queue, md_update, sp->md);
    /* the spools share one write-behind budget, so that memory does not
     * grow with the number of disks: OVA_OUT_QUEUE_MAX beside the OVA's */
    ova_out_queue_limit(sp->queue, OVA_OUT_QUEUE_MAX / (w->plan->n_disks > 1 ? w->plan->n_disks - 1 : 1));
    ova_disk_stream_init(&sp->stream, w->target.final_path, emit_hashed, w);
    sp->at_disk = d;
    sp->at_grain = 0;
    sp->pos = 0;
    sp->md_on_queue = 1;
    return OVA_OK;
}

/* Disk k's turn in the OVA: its spool (tar header block and member so
 * far, every byte hashed) is copied in at the current end, through the
 * write-behind queue (the OVA's staging block stays the queue's, see
 * out_file.h, so no copy_file_range here), and the disk goes on in the
 * OVA with the spool's stream and digest. */
static ova_status spool_append(ova_writer *w, spool *sp, size_t k, ova_err *err)
{
    ova_status st = ova_out_queue_drain(sp->queue, err);
    ova_out_queue_stop(&sp->queue, 0);
    if (st == OVA_OK)
        st = ova_out_file_flush(sp->out, err);
    ova_out_file_close(&sp->out);
    if (st != OVA_OK)
        return st;
    w->disks[k].hdr_off = w->pos; /* a header filled in later goes here; one filled in is in the spool */
    for (uint64_t off = 0; off < sp->pos;) {
        size_t len = sp->pos - off < OVA_OUT_STAGE ? (size_t)(sp->pos - off) : OVA_OUT_STAGE;
        unsigned char *buf = malloc(len);
        if (buf == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "out of memory");
        size_t got = 0;
        if (ova_fault("export.spool")) {
            free(buf);
            return ova_err_set(err, OVA_E_IO, "%s: injected failure reading back the spool of disk %s (test fault "
                               "export.spool)", sp->path, w->disks[k].name);
        }
        int rc = ova_pread_full(sp->fd, buf, len, off, &got);
        if (rc != 0 || got != len) {
            free(buf);
            if (rc != 0)
                return ova_err_errno(err, OVA_E_IO, rc, "%s: cannot read back the spool of disk %s", sp->path,
                                     w->disks[k].name);
            return ova_err_set(err, OVA_E_IO, "%s: the spool of disk %s ends at %llu bytes, %llu were written to it",
                               sp->path, w->disks[k].name, (unsigned long long)(off + got),
                               (unsigned long long)sp->pos);
        }
        if ((st = ova_out_queue_put(w->queue, buf, len, w->pos, free, buf, err)) != OVA_OK)
            return st;
        w->pos += len;
        off += len;
    }
    if (sp->at_disk == k) { /* not complete: it goes on here, hashed on this thread */
        ova_disk_stream_free(&w->stream);
        w->stream = sp->stream;
        memset(&sp->stream, 0, sizeof sp->stream);
        EVP_MD_CTX *t = w->md;
        w->md = sp->md;
        sp->md = t;
        w->at_grain = sp->at_grain;
    } else {
        w->at_disk = k + 1;
        w->at_grain = 0;
    }
    ova_target_spool_remove(&sp->path, &sp->fd);
    EVP_MD_CTX_free(sp->md);
    sp->md = NULL;
    ova_disk_stream_free(&sp->stream);
    return OVA_OK;
}

/* Parallel disks: while the OVA is at the start of a disk, put in what is
 * ready for it: that disk's spool, or the whole of a disk the plan gave
 * no unit. */
static ova_status advance(ova_writer *w, ova_err *err)
{
    ova_status st = OVA_OK;
    while (st == OVA_OK && w->at_disk < w->plan->n_disks && w->at_grain == 0) {
        size_t k = w->at_disk;
        if (w->spools[k].path != NULL)
            st = spool_append(w, &w->spools[k], k, err);
        else if (w->plan->first_unit[k] == w->plan->first_unit[k + 1])
            st = skip_to(w, k + 1, 0, err);
        else
            break; /* its first unit starts it here */
    }
    return st;
}

ova_status ova_writer_unit(ova_writer *w, const ova_unit_hdr *h, const unsigned char *records,
                           void (*release)(void *), void *owner, ova_err *err)
{
    uint64_t expect = w->spools != NULL ? (uint64_t)w->expect : w->next_unit;
    if (h->unit != expect || h->status != OVA_UNIT_OK) {
        ova_status st = ova_err_set(err, OVA_E_INTERNAL, "internal error: unit %llu written out of order (expected %llu)",
                                    (unsigned long long)h->unit, (unsigned long long)expect);
        release(owner);
        return st;
    }
    uint64_t unit = h->unit;
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(w->plan, unit, &d, &first, &n);
    if (w->spools == NULL) {
        ova_status st = place_unit(w, h, records, release, owner, NULL, unit, d, first, n, err);
        if (st == OVA_OK)
            w->next_unit++;
        return st;
    }

    ova_status st = advance(w, err);
    if (st == OVA_OK && d < w->at_disk) /* the order keeps each disk's units in plan order */
        st = ova_err_set(err, OVA_E_INTERNAL, "internal error: unit %llu of disk %zu after that disk was written",
                         (unsigned long long)unit, d + 1);
    spool *sp = NULL;
    if (st == OVA_OK && d != w->at_disk) {
        sp = &w->spools[d];
        if (sp->path == NULL && (st = spool_begin(w, sp, d, err)) != OVA_OK)
            sp = NULL;
    }
    if (st != OVA_OK) {
        release(owner);
        return st;
    }
    if (sp != NULL)
        swap_sink(w, sp);
    st = place_unit(w, h, records, release, owner, NULL, unit, d, first, n, err);
    if (sp != NULL)
        swap_sink(w, sp);
    if (st != OVA_OK)
        return st;
    w->next_unit++;
    w->expect = ova_disk_order_next(&w->order);
    return advance(w, err);
}

static void release_none(void *owner) { (void)owner; }

ova_status ova_writer_unit_held(ova_writer *w, const ova_unit_hdr *h, const ova_writer_held *held, ova_err *err)
{
    if (!w->portable || w->spools != NULL || w->jn != NULL)
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: a held unit without distributed writing");
    if (h->unit != w->next_unit || h->status != OVA_UNIT_OK)
        return ova_err_set(err, OVA_E_INTERNAL, "internal error: unit %llu written out of order (expected %llu)",
                           (unsigned long long)h->unit, (unsigned long long)w->next_unit);
    size_t d;
    uint64_t first;
    uint32_t n;
    ova_plan_unit(w->plan, h->unit, &d, &first, &n);
    ova_status st = place_unit(w, h, NULL, release_none, NULL, held, h->unit, d, first, n, err);
    if (st == OVA_OK)
        w->next_unit++;
    return st;
}

const char *ova_writer_partial_path(const ova_writer *w) { return w->target.tmp_path; }

int ova_writer_fd(const ova_writer *w) { return w->target.fd; }

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
    /* the spools not yet in, then the disks, or ends of disks, with no planned unit */
    if (w->spools != NULL && (st = advance(w, err)) != OVA_OK)
        goto fail;
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
    ova_fault_kill("resume.kill.finish");
    /* once renamed, a failure to sync the folder leaves nothing to remove */
    st = ova_target_commit(&w->target, err);
    if (st != OVA_OK && w->target.tmp_path != NULL)
        goto fail;
    if (w->jn != NULL && w->target.tmp_path == NULL)
        unlink(w->jpath); /* the OVA is in place: nothing left to resume */
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
