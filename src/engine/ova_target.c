/* ova_target.c - the OVA's temporary file beside the target, the checks
 * that the rename at the end destroys nothing but an older OVA, the report
 * of leftovers of earlier exports, and the fsync and rename into place
 * (ova_target.h). */
#include "engine/ova_target.h"
#include "util/grow.h"
#include "util/io.h"
#include "ovatool/export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovatool/disk.h"

/* The temporary file of this process, for the signal handler: the path is
 * complete before the flag is set, so the handler reads it without locks
 * or allocation (async-signal-safe). */
static char g_tmp_path[PATH_MAX];
static volatile sig_atomic_t g_tmp_set;
/* Spools of this process (ova_target_spool), for the signal handler, as
 * g_tmp_path: each path complete before its flag is set. */
static char g_spool_path[OVA_TARGET_SPOOLS][PATH_MAX];
static volatile sig_atomic_t g_spool_set[OVA_TARGET_SPOOLS];

const char *ova_writer_signal_cleanup(int *removed)
{
    *removed = 0;
    if (!g_tmp_set)
        return NULL;
    *removed = unlink(g_tmp_path) == 0;
    for (int i = 0; i < OVA_TARGET_SPOOLS; i++)
        if (g_spool_set[i])
            unlink(g_spool_path[i]);
    return g_tmp_path;
}

void ova_target_init(ova_target *t)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    t->lock_fd = -1;
}

/* Note path as an input (stat follows links: what is read is the file). */
static ova_status add_input(ova_target *t, const char *path, size_t *cap, ova_err *err)
{
    struct stat sb;
    if (path == NULL || stat(path, &sb) != 0)
        return OVA_OK; /* nothing there cannot be replaced */
    ova_target_input *ni = ova_grow(t->inputs, cap, t->n_inputs + 1, sizeof *ni);
    if (ni == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    t->inputs = ni;
    t->inputs[t->n_inputs++] = (ova_target_input){ sb.st_dev, sb.st_ino, path };
    return OVA_OK;
}

static ova_status add_extents(ova_target *t, const ova_extent *x, size_t n, size_t *cap, ova_err *err)
{
    ova_status st = OVA_OK;
    for (size_t i = 0; st == OVA_OK && i < n; i++)
        st = add_input(t, x[i].path, cap, err);
    return st;
}

/* Every file this export reads: the VMX, and of each disk its descriptor,
 * its extent files, and those of every snapshot parent. */
static ova_status collect_inputs(ova_target *t, const char *vmx_path, ova_disk_info *const *disks, size_t n_disks,
                                 ova_err *err)
{
    size_t cap = 0;
    ova_status st = add_input(t, vmx_path, &cap, err);
    for (size_t i = 0; st == OVA_OK && i < n_disks; i++) {
        const ova_disk_info *d = disks[i];
        st = add_input(t, d->path, &cap, err);
        if (st == OVA_OK)
            st = add_extents(t, d->extents, d->n_extents, &cap, err);
        for (int l = 0; st == OVA_OK && d->parents != NULL && l < d->chain_depth; l++) {
            st = add_input(t, d->parents[l].path, &cap, err);
            if (st == OVA_OK)
                st = add_extents(t, d->parents[l].extents, d->parents[l].n_extents, &cap, err);
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
static ova_status check_target(const ova_target *t, const char *output, ova_err *err)
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
    for (size_t i = 0; i < t->n_inputs; i++)
        if (t->inputs[i].dev == sb.st_dev && t->inputs[i].ino == sb.st_ino)
            return ova_err_set(err, OVA_E_USAGE,
                               "%s: is the same file as %s, which this export reads; the OVA would replace it: "
                               "choose another output name",
                               output, t->inputs[i].path);
    return OVA_OK;
}

/* Warnings about leftovers are capped: a folder may hold many. */
#define LEFTOVERS_MAX 10

/* Is name the temporary file of an export to fname: ".FNAME.XXXXXX.part"
 * with six characters that mkostemps could have chosen? */
ova_status ova_target_inputs(ova_target *t, const char *vmx_path, const ova_plan *plan, ova_err *err)
{
    return collect_inputs(t, vmx_path, plan->disks, plan->n_disks, err);
}

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
static void report_leftovers(const char *dir, const char *fname, void (*warn)(void *ctx, const char *msg),
                             void *warn_ctx)
{
    if (warn == NULL)
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
        warn(warn_ctx, msg);
    }
    closedir(d);
    if (n > LEFTOVERS_MAX) {
        snprintf(msg, sizeof msg, "%s: %d more temporary files of earlier exports to %s (%s.%s.*.part)",
                 dir[0] ? dir : ".", n - LEFTOVERS_MAX, fname, dir, fname);
        warn(warn_ctx, msg);
    }
}

ova_status ova_target_check(const char *output, const char *vmx_path, ova_disk_info *const *disks, size_t n_disks,
                            ova_err *err)
{
    ova_target t;
    ova_target_init(&t);
    ova_status st = collect_inputs(&t, vmx_path, disks, n_disks, err);
    if (st == OVA_OK)
        st = check_target(&t, output, err);
    ova_target_free(&t);
    return st;
}

/* A journaled export's files (resume.h): OUT.partial and OUT.journal. */
static void report_resumable(const char *output, void (*warn)(void *ctx, const char *msg), void *warn_ctx)
{
    char partial[PATH_MAX], journal[PATH_MAX], msg[3 * PATH_MAX + 256];
    struct stat pb, jb;
    if (warn == NULL || snprintf(partial, sizeof partial, "%s.partial", output) >= (int)sizeof partial ||
        snprintf(journal, sizeof journal, "%s.journal", output) >= (int)sizeof journal)
        return;
    int hp = lstat(partial, &pb) == 0, hj = lstat(journal, &jb) == 0;
    if (hj)
        snprintf(msg, sizeof msg, "%s: a resumable export to %s (partial output %s, %llu bytes); the export will "
                 "continue it with --resume, discard it with --overwrite, and refuse to run with neither",
                 journal, output, partial, hp ? (unsigned long long)pb.st_size : 0ull);
    else if (hp)
        snprintf(msg, sizeof msg, "%s: left by a journaled export to %s that stopped before its first durable "
                 "point (%llu bytes); it can be deleted", partial, output, (unsigned long long)pb.st_size);
    if (hj || hp)
        warn(warn_ctx, msg);
}

void ova_target_report_leftovers(const char *output, void (*warn)(void *ctx, const char *msg), void *warn_ctx)
{
    const char *slash = strrchr(output, '/');
    size_t dl = slash ? (size_t)(slash - output) + 1 : 0;
    char *dir = strndup(output, dl);
    if (dir != NULL && output[dl] != '\0')
        report_leftovers(dir, output + dl, warn, warn_ctx);
    free(dir);
    report_resumable(output, warn, warn_ctx);
}

/* Create ".FNAME.XXXXXX.part" beside output, locked for this process
 * (report_leftovers tells a running export's from a killed one's), with
 * the mode a new file gets. */
static ova_status make_part(const char *output, char **path, int *fd, ova_err *err)
{
    const char *slash = strrchr(output, '/');
    size_t dl = slash ? (size_t)(slash - output) + 1 : 0;
    const char *fname = output + dl;
    *path = malloc(dl + strlen(fname) + 20);
    if (*path == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    sprintf(*path, "%.*s.%s.XXXXXX.part", (int)dl, output, fname);
    *fd = mkostemps(*path, 5, O_CLOEXEC);
    if (*fd < 0) {
        ova_status st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot create the temporary output file %s",
                                      output, *path);
        free(*path);
        *path = NULL;
        return st;
    }
    /* ours until the rename: a later export to this target then knows it
     * is in use (report_leftovers). A scan may hold a shared lock on it for
     * an instant, so a refusal is retried for a while; where the file
     * system has no flock, exporting goes on without it. */
    for (int i = 0; i < 1000 && flock(*fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK; i++)
        usleep(1000);
    mode_t um = umask(0);
    umask(um);
    fchmod(*fd, 0666 & ~um);
    return OVA_OK;
}

ova_status ova_target_spool(const ova_target *t, char **path, int *fd, ova_err *err)
{
    ova_status st = make_part(t->final_path, path, fd, err);
    if (st != OVA_OK)
        return st;
    for (int i = 0; i < OVA_TARGET_SPOOLS; i++) {
        if (!g_spool_set[i] && strlen(*path) < PATH_MAX) {
            memcpy(g_spool_path[i], *path, strlen(*path) + 1);
            g_spool_set[i] = 1;
            break;
        }
    }
    return OVA_OK;
}

void ova_target_spool_remove(char **path, int *fd)
{
    if (*path == NULL)
        return;
    for (int i = 0; i < OVA_TARGET_SPOOLS; i++)
        if (g_spool_set[i] && strcmp(g_spool_path[i], *path) == 0)
            g_spool_set[i] = 0;
    unlink(*path);
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    free(*path);
    *path = NULL;
}

ova_status ova_target_create(ova_target *t, const char *output, const char *vmx_path, const ova_plan *plan,
                             void (*warn)(void *ctx, const char *msg), void *warn_ctx, ova_err *err)
{
    ova_status st;
    t->final_path = strdup(output);
    if (t->final_path == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    const char *slash = strrchr(output, '/');
    size_t dl = slash ? (size_t)(slash - output) + 1 : 0;
    const char *fname = output + dl;
    if (*fname == '\0')
        return ova_err_set(err, OVA_E_USAGE, "%s: output must be a file name, not a folder", output);
    if ((st = collect_inputs(t, vmx_path, plan->disks, plan->n_disks, err)) != OVA_OK ||
        (st = check_target(t, output, err)) != OVA_OK)
        return st;
    /* the folder part of output, with its '/' ("" for the current folder) */
    char *dir = strndup(output, dl);
    if (dir == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    report_leftovers(dir, fname, warn, warn_ctx);
    free(dir);
    if ((st = make_part(output, &t->tmp_path, &t->fd, err)) != OVA_OK)
        return st;
    if (strlen(t->tmp_path) < sizeof g_tmp_path) {
        memcpy(g_tmp_path, t->tmp_path, strlen(t->tmp_path) + 1);
        g_tmp_set = 1;
    }
    return OVA_OK;
}

ova_status ova_target_create_partial(ova_target *t, const char *output, const char *partial_path,
                                     const char *vmx_path, const ova_plan *plan, ova_err *err)
{
    ova_status st;
    t->keep = 1; /* nothing here is ours to remove until it is locked */
    if ((t->final_path = strdup(output)) == NULL || (t->tmp_path = strdup(partial_path)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    if ((st = collect_inputs(t, vmx_path, plan->disks, plan->n_disks, err)) != OVA_OK ||
        (st = check_target(t, output, err)) != OVA_OK || (st = check_target(t, partial_path, err)) != OVA_OK)
        return st;
    t->fd = open(partial_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (t->fd < 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot open the partial output", partial_path);
    struct stat sb;
    if (fstat(t->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return ova_err_set(err, OVA_E_USAGE, "%s: the partial output is not a regular file", partial_path);
    /* ours until the rename; a lock held elsewhere is an export running
     * now, whose file is not ours to remove */
    t->keep = 1;
    if (flock(t->fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK)
        return ova_err_set(err, OVA_E_USAGE,
                           "%s: another export to %s is running now (it holds this partial output's lock)",
                           partial_path, output);
    t->keep = 0;
    return OVA_OK;
}

/* fsync or close failed: a file system that reports a full disk only now
 * (NFS and others report write errors at fsync or close) is said so. */
static ova_status flush_failed(const ova_target *t, int e, const char *what, ova_err *err)
{
    if (e == ENOSPC || e == EDQUOT) {
        const char *slash = strrchr(t->final_path, '/');
        int dl = slash == NULL ? 1 : slash == t->final_path ? 1 : (int)(slash - t->final_path);
        return ova_err_set(err, OVA_E_IO, "%.*s: disk full while flushing the OVA to it (%s: %s failed: %s)", dl,
                           slash == NULL ? "." : slash == t->final_path ? "/" : t->final_path, t->tmp_path, what,
                           strerror(e));
    }
    return ova_err_errno(err, OVA_E_IO, e, "%s: %s failed", t->tmp_path, what);
}

ova_status ova_target_commit(ova_target *t, ova_err *err)
{
    if (fsync(t->fd) != 0)
        return flush_failed(t, errno, "fsync", err);
    /* the lock belongs to the open file description: a duplicate keeps it
     * until the file is renamed, so it is never seen unlocked under its
     * temporary name while this export still runs */
    t->lock_fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 0);
    if (close(t->fd) != 0) {
        int e = errno;
        t->fd = -1;
        return flush_failed(t, e, "close", err);
    }
    t->fd = -1;
    /* the target may have changed during the export */
    ova_status st = check_target(t, t->final_path, err);
    if (st != OVA_OK)
        return st;
    /* the folder, to make the rename durable: opened first, so that a
     * process out of descriptors (a fleet's writer) fails with nothing in
     * place, not after the OVA is there */
    int dfd = ova_open_folder(t->final_path, err);
    if (dfd < 0)
        return err->status;
    int r = -1;
    if (t->no_replace) {
        r = renameat2(AT_FDCWD, t->tmp_path, AT_FDCWD, t->final_path, RENAME_NOREPLACE);
        if (r != 0 && errno != EEXIST) { /* EINVAL, ENOSYS: not on this file system */
            struct stat sb;
            if (lstat(t->final_path, &sb) == 0)
                errno = EEXIST;
            else
                r = rename(t->tmp_path, t->final_path);
        }
        if (r != 0 && errno == EEXIST) {
            close(dfd);
            return ova_err_set(err, OVA_E_USAGE,
                               "%s exists (it appeared during the export); use --overwrite to replace it",
                               t->final_path);
        }
    } else {
        r = rename(t->tmp_path, t->final_path);
    }
    if (r != 0) {
        int e = errno;
        close(dfd);
        return ova_err_errno(err, OVA_E_IO, e, "%s: cannot rename %s into place", t->final_path, t->tmp_path);
    }
    g_tmp_set = 0;
    free(t->tmp_path);
    t->tmp_path = NULL;
    if (fsync(dfd) != 0) {
        /* the rename may not survive a crash: a failed export leaves no
         * output, so the OVA goes again (an OVA it replaced is gone too) */
        int e = errno;
        close(dfd);
        unlink(t->final_path);
        return ova_err_errno(err, OVA_E_IO, e, "%s: cannot sync its folder after the rename; removed it",
                             t->final_path);
    }
    close(dfd);
    return OVA_OK;
}

void ova_target_discard(ova_target *t)
{
    if (t->tmp_path != NULL && !t->keep)
        unlink(t->tmp_path);
    g_tmp_set = 0;
}

void ova_target_free(ova_target *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->lock_fd >= 0)
        close(t->lock_fd);
    free(t->inputs);
    free(t->final_path);
    free(t->tmp_path);
    ova_target_init(t);
}
