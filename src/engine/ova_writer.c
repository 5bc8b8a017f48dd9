/* ova_writer.c - writing the OVA in one pass on rank 0: tar framing, the
 * streamOptimized VMDK metadata around the grain records the workers made,
 * digests, and the OVF and manifest in the space reserved for them. */
#include "engine/ova_writer.h"
#include "ovatool/export.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovatool/disk.h"
#include "engine/out_file.h"
#include "format/tar.h"
#include "format/vmdk_stream.h"

/* The temporary file of this process, and the export's progress, for the
 * signal handler: the path is complete before the flag is set, and the
 * counters are lock-free atomics, so the handler reads them without locks
 * or allocation (async-signal-safe). */
static char g_tmp_path[PATH_MAX];
static volatile sig_atomic_t g_tmp_set;
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the signal handler needs lock-free 64-bit atomics");
static _Atomic unsigned long long g_done, g_total;

typedef struct disk_out {
    char name[128];           /* member name (ova_tar_header enforces < 100) */
    uint64_t hdr_off;         /* where its tar header goes */
    uint64_t size;            /* member bytes */
    uint64_t data_grains;     /* grains written */
    unsigned char digest[EVP_MAX_MD_SIZE];
} disk_out;

/* A file the export reads, by identity: the output must never be one. */
typedef struct input_id {
    dev_t dev;
    ino_t ino;
    const char *path;         /* borrowed from the plan or the options */
} input_id;

struct ova_writer {
    const ova_vm *vm;
    const ova_prepared *prep; /* each disk's device, adapter and member name */
    const ova_plan *plan;
    ova_writer_opts opts;
    char *final_path;
    char *tmp_path;
    int fd;
    int lock_fd;              /* fd's duplicate: holds the flock from close(fd) to the rename */
    ova_out_file *out;        /* fd's writes, direct where possible (I/O thread) */
    uint64_t pos;             /* file offset of the next byte */
    char base[81];
    char ovf_name[100];
    char mf_name[100];
    uint64_t ovf_len;         /* reserved (and final) .ovf length */
    uint64_t mf_len;          /* exact .mf length */
    disk_out *disks;
    input_id *inputs;         /* the VMX and every file of every disk */
    size_t n_inputs;
    const EVP_MD *md_type;
    EVP_MD_CTX *md;
    uint64_t next_unit;
    /* the disk being written */
    uint64_t sector;          /* next sector inside the VMDK */
    uint32_t *gd;
    uint32_t gt[OVA_GT_ENTRIES];
    int gt_has_data;

    /* The write thread: hashing stays on the caller's thread, in order;
     * the bytes go to the file from this thread, so hashing the next unit
     * overlaps writing the last one. Jobs carry their file offset. */
    pthread_t io_tid;
    int io_started;
    pthread_mutex_t io_mu;
    pthread_cond_t io_work;    /* a job was queued, or stop */
    pthread_cond_t io_idle;    /* a job finished */
    struct io_job *io_head, *io_tail;
    size_t io_bytes;           /* bytes queued, bounded by IO_QUEUE_MAX */
    int io_busy;
    int io_stop;
    ova_err io_err;            /* first write failure; later jobs are dropped */
};

/* Bytes waiting for the write thread at most (one job may exceed it): the
 * memory this overlap costs on rank 0, on top of the unit window. */
#define IO_QUEUE_MAX (64u << 20)

typedef struct io_job {
    const unsigned char *buf;
    size_t len;
    uint64_t off;
    void (*release)(void *);   /* called once the bytes are written (or dropped) */
    void *arg;
    struct io_job *next;
} io_job;

const char *ova_writer_signal_cleanup(int *removed)
{
    *removed = 0;
    if (!g_tmp_set)
        return NULL;
    *removed = unlink(g_tmp_path) == 0;
    return g_tmp_path;
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

int ova_writer_direct(const ova_writer *w) { return w->out != NULL && ova_out_file_direct(w->out); }

static void *io_main(void *p)
{
    ova_writer *w = p;
    pthread_mutex_lock(&w->io_mu);
    for (;;) {
        while (w->io_head == NULL && !w->io_stop)
            pthread_cond_wait(&w->io_work, &w->io_mu);
        io_job *j = w->io_head;
        if (j == NULL)
            break;
        w->io_head = j->next;
        if (w->io_head == NULL)
            w->io_tail = NULL;
        w->io_busy = 1;
        int failed = w->io_err.status != OVA_OK;
        pthread_mutex_unlock(&w->io_mu);

        ova_err e;
        ova_err_clear(&e);
        int bad = !failed && ova_out_file_pwrite(w->out, j->buf, j->len, j->off, &e) != OVA_OK;
        if (j->release)
            j->release(j->arg);

        pthread_mutex_lock(&w->io_mu);
        if (bad)
            ova_err_set(&w->io_err, e.status, "%s", e.msg);
        w->io_bytes -= j->len;
        w->io_busy = 0;
        free(j);
        pthread_cond_broadcast(&w->io_idle);
    }
    pthread_mutex_unlock(&w->io_mu);
    return NULL;
}

/* Hand len bytes at file offset off to the write thread; release(arg) runs
 * once they are written or dropped, also when this call fails. */
static ova_status enqueue(ova_writer *w, const void *buf, size_t len, uint64_t off, void (*release)(void *),
                          void *arg, ova_err *err)
{
    io_job *j = malloc(sizeof *j);
    if (j == NULL) {
        if (release)
            release(arg);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory queueing a write", w->final_path);
    }
    *j = (io_job){ buf, len, off, release, arg, NULL };
    pthread_mutex_lock(&w->io_mu);
    while (w->io_bytes > 0 && w->io_bytes + len > IO_QUEUE_MAX && w->io_err.status == OVA_OK)
        pthread_cond_wait(&w->io_idle, &w->io_mu);
    if (w->io_err.status != OVA_OK) {
        ova_status st = ova_err_set(err, w->io_err.status, "%s", w->io_err.msg);
        pthread_mutex_unlock(&w->io_mu);
        free(j);
        if (release)
            release(arg);
        return st;
    }
    if (w->io_tail)
        w->io_tail->next = j;
    else
        w->io_head = j;
    w->io_tail = j;
    w->io_bytes += len;
    pthread_cond_signal(&w->io_work);
    pthread_mutex_unlock(&w->io_mu);
    return OVA_OK;
}

/* Wait until every queued byte is in the file; the first write error, if any. */
static ova_status io_drain(ova_writer *w, ova_err *err)
{
    pthread_mutex_lock(&w->io_mu);
    while (w->io_head != NULL || w->io_busy)
        pthread_cond_wait(&w->io_idle, &w->io_mu);
    ova_status st = w->io_err.status;
    if (st != OVA_OK)
        ova_err_set(err, st, "%s", w->io_err.msg);
    pthread_mutex_unlock(&w->io_mu);
    return st;
}

/* Stop the write thread; with drop set, queued jobs are released unwritten. */
static void io_stop(ova_writer *w, int drop)
{
    if (!w->io_started)
        return;
    pthread_mutex_lock(&w->io_mu);
    if (drop)
        ova_err_set(&w->io_err, OVA_E_ABORTED, "aborted");
    w->io_stop = 1;
    pthread_cond_broadcast(&w->io_work);
    pthread_mutex_unlock(&w->io_mu);
    pthread_join(w->io_tid, NULL);
    w->io_started = 0;
}

/* Append bytes the caller keeps: hashed now, copied for the write thread. */
static ova_status write_all(ova_writer *w, const void *p, size_t n, int hash, ova_err *err)
{
    if (hash && EVP_DigestUpdate(w->md, p, n) != 1)
        return ova_err_set(err, OVA_E_INTERNAL, "%s: digest update failed", w->final_path);
    unsigned char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", w->final_path);
    memcpy(copy, p, n);
    ova_status st = enqueue(w, copy, n, w->pos, free, copy, err);
    w->pos += n;
    return st;
}

/* Append bytes owned by the caller's buffer `owner`, without copying:
 * release(owner) runs once they are in the file. */
static ova_status write_owned(ova_writer *w, const void *p, size_t n, void (*release)(void *), void *owner,
                              ova_err *err)
{
    if (EVP_DigestUpdate(w->md, p, n) != 1) {
        release(owner);
        return ova_err_set(err, OVA_E_INTERNAL, "%s: digest update failed", w->final_path);
    }
    ova_status st = enqueue(w, p, n, w->pos, release, owner, err);
    w->pos += n;
    return st;
}

/* Write at a given offset (a tar header filled in afterwards). */
static ova_status pwrite_all(ova_writer *w, const void *p, size_t n, uint64_t off, ova_err *err)
{
    unsigned char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", w->final_path);
    memcpy(copy, p, n);
    return enqueue(w, copy, n, off, free, copy, err);
}

static uint64_t round_block(uint64_t n) { return n + ova_tar_padding(n); }

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
    io_stop(w, 1);
    ova_out_file_close(&w->out);
    pthread_mutex_destroy(&w->io_mu);
    pthread_cond_destroy(&w->io_work);
    pthread_cond_destroy(&w->io_idle);
    if (w->fd >= 0)
        close(w->fd);
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    EVP_MD_CTX_free(w->md);
    free(w->gd);
    free(w->disks);
    free(w->inputs);
    free(w->final_path);
    free(w->tmp_path);
    free(w);
}

/* Note path as an input (stat follows links: what is read is the file). */
static ova_status add_input(ova_writer *w, const char *path, size_t *cap, ova_err *err)
{
    struct stat sb;
    if (path == NULL || stat(path, &sb) != 0)
        return OVA_OK; /* nothing there cannot be replaced */
    if (w->n_inputs == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        input_id *ni = realloc(w->inputs, nc * sizeof *ni);
        if (ni == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "out of memory");
        w->inputs = ni;
        *cap = nc;
    }
    w->inputs[w->n_inputs++] = (input_id){ sb.st_dev, sb.st_ino, path };
    return OVA_OK;
}

static ova_status add_extents(ova_writer *w, const ova_extent *x, size_t n, size_t *cap, ova_err *err)
{
    ova_status st = OVA_OK;
    for (size_t i = 0; st == OVA_OK && i < n; i++)
        st = add_input(w, x[i].path, cap, err);
    return st;
}

/* Every file this export reads: the VMX, and of each disk its descriptor,
 * its extent files, and those of every snapshot parent. */
static ova_status collect_inputs(ova_writer *w, ova_err *err)
{
    size_t cap = 0;
    ova_status st = add_input(w, w->opts.vmx_path, &cap, err);
    for (size_t i = 0; st == OVA_OK && i < w->plan->n_disks; i++) {
        const ova_disk_info *d = w->plan->disks[i];
        st = add_input(w, d->path, &cap, err);
        if (st == OVA_OK)
            st = add_extents(w, d->extents, d->n_extents, &cap, err);
        for (int l = 0; st == OVA_OK && d->parents != NULL && l < d->chain_depth; l++) {
            st = add_input(w, d->parents[l].path, &cap, err);
            if (st == OVA_OK)
                st = add_extents(w, d->parents[l].extents, d->parents[l].n_extents, &cap, err);
        }
    }
    return st;
}

static const char *file_kind(mode_t m)
{
    return S_ISCHR(m) ? "character device" : S_ISBLK(m) ? "block device" : S_ISFIFO(m) ? "FIFO" :
           S_ISSOCK(m) ? "socket" : "special file";
}

/* May the rename put the OVA at output? Only over nothing, or over a
 * regular file that is none of the inputs (ova_writer.h). */
static ova_status check_target(const ova_writer *w, const char *output, ova_err *err)
{
    struct stat sb;
    if (lstat(output, &sb) != 0)
        return OVA_OK; /* not there (other errors show when the file is created or renamed) */
    if (S_ISLNK(sb.st_mode))
        return ova_err_set(err, OVA_E_USAGE,
                           "%s: is a symbolic link; the OVA would replace the link, not the file it points to: "
                           "remove the link or give that file's own path",
                           output);
    if (S_ISDIR(sb.st_mode))
        return ova_err_set(err, OVA_E_USAGE, "%s: is a folder; give the OVA file name", output);
    if (!S_ISREG(sb.st_mode))
        return ova_err_set(err, OVA_E_USAGE, "%s: is a %s, not a regular file; the OVA would replace it", output,
                           file_kind(sb.st_mode));
    for (size_t i = 0; i < w->n_inputs; i++)
        if (w->inputs[i].dev == sb.st_dev && w->inputs[i].ino == sb.st_ino)
            return ova_err_set(err, OVA_E_USAGE,
                               "%s: is the same file as %s, which this export reads; the OVA would replace it: "
                               "choose another output name",
                               output, w->inputs[i].path);
    return OVA_OK;
}

/* Warnings about leftovers are capped: a folder may hold many. */
#define LEFTOVERS_MAX 10

/* Is name the temporary file of an export to fname: ".FNAME.XXXXXX.part"
 * with six characters that mkostemps could have chosen? */
static int is_part_of(const char *name, const char *fname)
{
    size_t fl = strlen(fname), nl = strlen(name);
    if (nl != 1 + fl + 1 + 6 + 5 || name[0] != '.' || strncmp(name + 1, fname, fl) != 0 || name[1 + fl] != '.' ||
        strcmp(name + nl - 5, ".part") != 0)
        return 0;
    for (size_t i = 2 + fl; i < 2 + fl + 6; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

/* Report the temporary files that earlier exports to this target left
 * behind (ova_writer.h): a rank 0 killed by SIGKILL cannot remove its own,
 * and nothing else would ever mention the hidden file.
 *
 * A writer holds an exclusive flock on its temporary file from creation to
 * rename, so a file another process holds a lock on belongs to an export
 * running now, and one nobody locks was left by an export that ended.
 * Such files are reported, never deleted: the lock is evidence enough to
 * call a file in use, but its absence does not prove the file stale
 * everywhere (an ovatool from before this lock takes none, and file
 * systems mounted with node-local locks, such as NFS local_lock=flock or
 * Lustre localflock, do not see a writer on another node), and deleting a
 * running export's file would make it fail at the very end. Where the file
 * system has no flock at all, the warning says that it cannot tell. */
static void report_leftovers(const ova_writer *w, const char *dir, const char *fname)
{
    if (w->opts.warn == NULL)
        return;
    DIR *d = opendir(dir[0] ? dir : ".");
    if (d == NULL)
        return; /* creating the temporary file will say what is wrong */
    int fd_dir = dirfd(d), n = 0;
    struct dirent *de;
    char msg[OVA_ERR_MAX];
    while ((de = readdir(d)) != NULL) {
        if (!is_part_of(de->d_name, fname))
            continue;
        struct stat sb;
        if (fstatat(fd_dir, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (++n > LEFTOVERS_MAX)
            continue;
        /* in use: another process holds its lock; unknown: no flock here */
        int in_use = 0, unknown = 1;
        int fd = openat(fd_dir, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
                unknown = 0;
            } else if (errno == EWOULDBLOCK) {
                in_use = 1;
                unknown = 0;
            }
            close(fd);
        }
        char when[32];
        struct tm tm;
        if (gmtime_r(&sb.st_mtime, &tm) == NULL || strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
            strcpy(when, "?");
        if (in_use)
            snprintf(msg, sizeof msg, "%s%s: temporary file of another export to %s, running now (it holds the "
                     "file's lock); whichever of the two finishes last replaces the other's OVA", dir, de->d_name,
                     fname);
        else
            snprintf(msg, sizeof msg, "%s%s: left behind by an interrupted export to %s (%llu bytes, last written "
                     "%s)%s; it can be deleted", dir, de->d_name, fname, (unsigned long long)sb.st_size, when,
                     unknown ? ", unless such an export is still running (this file system has no locks to tell)"
                             : "; no running export holds it");
        w->opts.warn(w->opts.warn_ctx, msg);
    }
    closedir(d);
    if (n > LEFTOVERS_MAX) {
        snprintf(msg, sizeof msg, "%s: %d more temporary files of earlier exports to %s (%s.%s.*.part)",
                 dir[0] ? dir : ".", n - LEFTOVERS_MAX, fname, dir, fname);
        w->opts.warn(w->opts.warn_ctx, msg);
    }
}

void ova_writer_abort(ova_writer **pw)
{
    ova_writer *w = *pw;
    if (w == NULL)
        return;
    if (w->tmp_path != NULL)
        unlink(w->tmp_path);
    g_tmp_set = 0;
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
    w->fd = -1;
    w->lock_fd = -1;
    pthread_mutex_init(&w->io_mu, NULL);
    pthread_cond_init(&w->io_work, NULL);
    pthread_cond_init(&w->io_idle, NULL);
    w->vm = prep->vm;
    w->prep = prep;
    w->plan = plan;
    w->opts = *opts;
    size_t nd = plan->n_disks;
    w->disks = calloc(nd ? nd : 1, sizeof *w->disks);
    w->final_path = strdup(output);
    w->md = EVP_MD_CTX_new();
    w->md_type = opts->sha == OVA_SHA1 ? EVP_sha1() : opts->sha == OVA_SHA512 ? EVP_sha512() : EVP_sha256();
    if (w->disks == NULL || w->final_path == NULL || w->md == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
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
    snprintf(w->ovf_name, sizeof w->ovf_name, "%s.ovf", w->base);
    snprintf(w->mf_name, sizeof w->mf_name, "%s.mf", w->base);
    for (size_t i = 0; i < nd; i++)
        memcpy(w->disks[i].name, prep->disks[i].member, sizeof w->disks[i].name);

    /* reserve: the OVF at its widest, the manifest exactly */
    st = build_ovf(w, 1, &ovf, err);
    if (st != OVA_OK)
        goto fail;
    w->ovf_len = ovf.len;
    size_t hex = 2 * ova_sha_len(opts->sha);
    size_t label = strlen(ova_sha_label(opts->sha));
    w->mf_len = label + 2 + strlen(w->ovf_name) + 2 + hex + 1;
    for (size_t i = 0; i < nd; i++)
        w->mf_len += label + 2 + strlen(w->disks[i].name) + 2 + hex + 1;

    /* the temporary file beside the target */
    const char *slash = strrchr(output, '/');
    size_t dl = slash ? (size_t)(slash - output) + 1 : 0;
    const char *fname = output + dl;
    if (*fname == '\0') {
        st = ova_err_set(err, OVA_E_USAGE, "%s: output must be a file name, not a folder", output);
        goto fail;
    }
    if ((st = collect_inputs(w, err)) != OVA_OK || (st = check_target(w, output, err)) != OVA_OK)
        goto fail;
    /* the folder part of output, with its '/' ("" for the current folder) */
    char *dir = strndup(output, dl);
    if (dir == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        goto fail;
    }
    report_leftovers(w, dir, fname);
    free(dir);
    w->tmp_path = malloc(dl + strlen(fname) + 20);
    if (w->tmp_path == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        goto fail;
    }
    sprintf(w->tmp_path, "%.*s.%s.XXXXXX.part", (int)dl, output, fname);
    w->fd = mkostemps(w->tmp_path, 5, O_CLOEXEC);
    if (w->fd < 0) {
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot create the temporary output file %s", output,
                           w->tmp_path);
        free(w->tmp_path);
        w->tmp_path = NULL;
        goto fail;
    }
    if (strlen(w->tmp_path) < sizeof g_tmp_path) {
        memcpy(g_tmp_path, w->tmp_path, strlen(w->tmp_path) + 1);
        g_tmp_set = 1;
    }
    /* ours until the rename: a later export to this target then knows it
     * is in use (report_leftovers). A scan may hold a shared lock on it for
     * an instant, so a refusal is retried for a while; where the file
     * system has no flock, exporting goes on without it. */
    for (int i = 0; i < 1000 && flock(w->fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK; i++)
        usleep(1000);
    mode_t um = umask(0);
    umask(um);
    fchmod(w->fd, 0666 & ~um);

    if ((st = ova_out_file_open(w->fd, w->tmp_path, !opts->buffered_io, &w->out, err)) != OVA_OK)
        goto fail;
    w->pos = OVA_TAR_BLOCK + round_block(w->ovf_len) + OVA_TAR_BLOCK + round_block(w->mf_len);
    if (pthread_create(&w->io_tid, NULL, io_main, w) != 0) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: cannot start the write thread", output);
        goto fail;
    }
    w->io_started = 1;
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
    unsigned char *head = malloc((size_t)OVA_STREAM_OVERHEAD * OVA_SECTOR);
    if (head == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    st = ova_stream_head(&si, head, err);
    if (st == OVA_OK)
        st = write_all(w, head, (size_t)OVA_STREAM_OVERHEAD * OVA_SECTOR, 1, err);
    free(head);
    if (st != OVA_OK)
        return st;
    w->sector = OVA_STREAM_OVERHEAD;
    free(w->gd);
    w->gd = calloc(ova_stream_gts(info->capacity), sizeof *w->gd);
    if (w->gd == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for the grain directory of %s", info->path);
    memset(w->gt, 0, sizeof w->gt);
    w->gt_has_data = 0;
    return OVA_OK;
}

/* Grain-table and directory entries are 32-bit sectors: a stream file
 * cannot grow past 2 TiB. */
static ova_status check_sector(ova_writer *w, uint64_t sector, ova_err *err)
{
    if (sector > UINT32_MAX)
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s: compressed disk exceeds the 2 TiB limit of a streamOptimized VMDK", w->final_path);
    return OVA_OK;
}

static ova_status finish_disk(ova_writer *w, size_t d, ova_err *err)
{
    const ova_disk_info *info = w->plan->disks[d];
    disk_out *o = &w->disks[d];
    uint64_t n_gds = ova_stream_gts(info->capacity);
    size_t tl = ova_stream_tail_size(n_gds);
    unsigned char *tail = malloc(tl);
    if (tail == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    uint64_t gd_sector = w->sector + 1;
    ova_status st = check_sector(w, gd_sector, err);
    if (st == OVA_OK) {
        ova_stream_tail(tail, info->capacity, w->gd, n_gds, gd_sector);
        st = write_all(w, tail, tl, 1, err);
    }
    free(tail);
    if (st != OVA_OK)
        return st;
    w->sector += tl / OVA_SECTOR;
    o->size = w->sector * OVA_SECTOR;
    unsigned int dl = 0;
    if (EVP_DigestFinal_ex(w->md, o->digest, &dl) != 1)
        return ova_err_set(err, OVA_E_INTERNAL, "digest failed");
    unsigned char hdr[OVA_TAR_BLOCK];
    st = ova_tar_header(hdr, o->name, o->size, w->opts.mtime, err);
    if (st != OVA_OK)
        return st;
    return pwrite_all(w, hdr, sizeof hdr, o->hdr_off, err);
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
    ova_status st;
    if (first == 0 && (st = start_disk(w, d, err)) != OVA_OK) {
        release(owner);
        return st;
    }

    if (h->n_data > 0) {
        if ((st = check_sector(w, w->sector + h->records_len / OVA_SECTOR, err)) != OVA_OK) {
            release(owner);
            return st;
        }
        uint32_t slot = (uint32_t)(first % OVA_GT_ENTRIES);
        for (uint32_t i = 0; i < n; i++)
            if (h->rel[i] != 0)
                w->gt[slot + i] = (uint32_t)(w->sector + h->rel[i] - 1);
        uint64_t rec_sectors = h->records_len / OVA_SECTOR;
        w->gt_has_data = 1;
        w->disks[d].data_grains += h->n_data;
        /* h lives in owner too: nothing below may read it once it is queued */
        if ((st = write_owned(w, records, (size_t)h->records_len, release, owner, err)) != OVA_OK)
            return st;
        w->sector += rec_sectors;
    } else {
        release(owner);
    }

    uint64_t total = ova_stream_grains(w->plan->disks[d]->capacity);
    int last_of_disk = first + n == total;
    if ((first + n) % OVA_GT_ENTRIES == 0 || last_of_disk) {
        /* VMware writes no grain table for a group without data (GDE 0) */
        if (w->gt_has_data) {
            if ((st = check_sector(w, w->sector + 5, err)) != OVA_OK)
                return st;
            unsigned char blk[OVA_GT_BLOCK_SIZE];
            ova_stream_gt_block(blk, w->gt);
            if ((st = write_all(w, blk, sizeof blk, 1, err)) != OVA_OK)
                return st;
            w->gd[first / OVA_GT_ENTRIES] = (uint32_t)(w->sector + 1);
            w->sector += 5;
        }
        memset(w->gt, 0, sizeof w->gt);
        w->gt_has_data = 0;
    }
    if (last_of_disk && (st = finish_disk(w, d, err)) != OVA_OK)
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

static ova_status fsync_dir(const char *path, ova_err *err)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
    if (dir == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ova_status st = OVA_OK;
    if (fd < 0 || fsync(fd) != 0)
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot sync the folder", dir);
    if (fd >= 0)
        close(fd);
    free(dir);
    return st;
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
    /* every disk byte in the file and no write failed, before the front */
    if ((st = io_drain(w, err)) != OVA_OK)
        goto fail;
    io_stop(w, 0);
    if ((st = ova_out_file_flush(w->out, err)) != OVA_OK)
        goto fail;
    if ((st = build_ovf(w, 0, &ovf, err)) != OVA_OK)
        goto fail;
    if (ovf.len > w->ovf_len) {
        st = ova_err_set(err, OVA_E_INTERNAL, "internal error: OVF grew past its reserved %llu bytes",
                         (unsigned long long)w->ovf_len);
        goto fail;
    }
    /* pad to the reserved length with blanks after </Envelope>, ending in LF */
    if (ovf.len < w->ovf_len) {
        ova_buf_fill(&ovf, ' ', w->ovf_len - ovf.len - 1);
        ova_buf_putc(&ovf, '\n');
    }
    unsigned char dg[EVP_MAX_MD_SIZE];
    if ((st = digest(w->md_type, ovf.data, ovf.len, dg, err)) != OVA_OK)
        goto fail;
    ova_manifest_line(&mf, w->opts.sha, w->ovf_name, dg);
    for (size_t i = 0; i < w->plan->n_disks; i++)
        ova_manifest_line(&mf, w->opts.sha, w->disks[i].name, w->disks[i].digest);
    if (ova_buf_failed(&ovf) || ova_buf_failed(&mf)) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        goto fail;
    }
    if (mf.len != w->mf_len) {
        st = ova_err_set(err, OVA_E_INTERNAL, "internal error: manifest is %zu bytes, %llu reserved", mf.len,
                         (unsigned long long)w->mf_len);
        goto fail;
    }

    size_t front_len = OVA_TAR_BLOCK + round_block(w->ovf_len) + OVA_TAR_BLOCK + round_block(w->mf_len);
    front = calloc(1, front_len);
    if (front == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        goto fail;
    }
    unsigned char *p = front;
    if ((st = ova_tar_header(p, w->ovf_name, w->ovf_len, w->opts.mtime, err)) != OVA_OK)
        goto fail;
    p += OVA_TAR_BLOCK;
    memcpy(p, ovf.data, ovf.len);
    p += round_block(w->ovf_len);
    if ((st = ova_tar_header(p, w->mf_name, w->mf_len, w->opts.mtime, err)) != OVA_OK)
        goto fail;
    p += OVA_TAR_BLOCK;
    memcpy(p, mf.data, mf.len);
    unsigned char end[2 * OVA_TAR_BLOCK] = { 0 };
    if ((st = ova_pwrite_full(w->fd, front, front_len, 0, w->tmp_path, err)) != OVA_OK ||
        (st = ova_pwrite_full(w->fd, end, sizeof end, w->pos, w->tmp_path, err)) != OVA_OK)
        goto fail;
    w->pos += sizeof end;
    if (fsync(w->fd) != 0) {
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: fsync failed", w->tmp_path);
        goto fail;
    }
    /* the lock belongs to the open file description: a duplicate keeps it
     * until the file is renamed, so it is never seen unlocked under its
     * temporary name while this export still runs */
    w->lock_fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
    if (close(w->fd) != 0) {
        w->fd = -1;
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: close failed", w->tmp_path);
        goto fail;
    }
    w->fd = -1;
    /* the target may have changed during the export */
    if ((st = check_target(w, w->final_path, err)) != OVA_OK)
        goto fail;
    if (rename(w->tmp_path, w->final_path) != 0) {
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot rename %s into place", w->final_path, w->tmp_path);
        goto fail;
    }
    g_tmp_set = 0;
    free(w->tmp_path);
    w->tmp_path = NULL;
    st = fsync_dir(w->final_path, err);
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
