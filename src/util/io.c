/* io.c - opening source files without blocking on FIFOs, reading and
 * writing exact byte counts at offsets, and quoting text safely in
 * messages. */
#include "util/io.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ova_file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "not a regular file";
}

const char *ova_size_text(uint64_t bytes, char out[32])
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    if (bytes < 1024) {
        snprintf(out, 32, "%llu bytes", (unsigned long long)bytes);
        return out;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, 32, "%.1f %s", v, units[u]);
    return out;
}

const char *ova_user_desc(char *out, size_t cap)
{
    uid_t uid = geteuid();
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res != NULL && res->pw_name != NULL) {
        char name[64];
        snprintf(out, cap, "user %s (uid %u)", ova_quote_text(name, sizeof name, res->pw_name, 32),
                 (unsigned)uid);
    } else {
        snprintf(out, cap, "uid %u", (unsigned)uid);
    }
    return out;
}

ova_status ova_open_source(const char *path, const char *what, int *fd_out, struct stat *sb_out, ova_err *err)
{
    const char *sp = what != NULL ? " " : "";
    const char *w = what != NULL ? what : "";
    *fd_out = -1;
    /* O_NONBLOCK: open(2) of a FIFO returns at once instead of waiting for
     * a writer; O_NOCTTY: a terminal named as a disk never becomes ours */
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno == EACCES) {
        char who[160];
        return ova_err_set(err, OVA_E_IO, "%s: not readable by %s; run as a user who can read it or fix its "
                           "permissions", path, ova_user_desc(who, sizeof who));
    }
    if (fd < 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot open%s%s", path, sp, w);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ova_err_errno(err, OVA_E_IO, e, "%s: cannot stat%s%s", path, sp, w);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: %s%sis %s, not a regular file", path, w, sp,
                           ova_file_kind(sb.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return ova_err_errno(err, OVA_E_IO, e, "%s: cannot clear O_NONBLOCK%s%s", path, sp, w);
    }
    *fd_out = fd;
    if (sb_out != NULL)
        *sb_out = sb;
    return OVA_OK;
}

ova_status ova_stat_source(const char *path, const char *what, struct stat *sb, ova_err *err)
{
    int fd;
    ova_status st = ova_open_source(path, what, &fd, sb, err);
    if (st == OVA_OK)
        close(fd);
    return st;
}

int ova_pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *done_out)
{
    unsigned char *p = buf;
    size_t done = 0;
    int e = 0;
    while (done < n) {
        ssize_t got = pread(fd, p + done, n - done, (off_t)(off + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            e = errno;
            break;
        }
        if (got == 0)
            break; /* end of file: the caller says what that means */
        done += (size_t)got;
    }
    *done_out = done;
    return e;
}

ova_status ova_pread_exact(int fd, void *buf, size_t n, uint64_t off, const char *path, const char *what,
                           ova_err *err)
{
    size_t done;
    int e = ova_pread_full(fd, buf, n, off, &done);
    if (e != 0)
        return ova_err_errno(err, OVA_E_IO, e, "%s: read of %s (%zu bytes at offset %llu) failed", path, what,
                             n - done, (unsigned long long)(off + done));
    if (done < n)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: unexpected end of file at offset %llu reading %s (file truncated?)", path,
                           (unsigned long long)(off + done), what);
    return OVA_OK;
}

int ova_pwrite_all(int fd, const void *buf, size_t n, uint64_t off, size_t *done_out)
{
    const unsigned char *b = buf;
    size_t done = 0;
    int e = 0;
    while (done < n) {
        ssize_t r = pwrite(fd, b + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            break;
        }
        if (r == 0)
            break; /* the file system took nothing: retrying would loop forever */
        done += (size_t)r;
    }
    *done_out = done;
    return e;
}

ova_status ova_pwrite_result(int e, size_t n, uint64_t off, size_t done, const char *path, ova_err *err)
{
    if (e != 0)
        return ova_err_errno(err, OVA_E_IO, e, "%s: write at offset %llu failed", path,
                             (unsigned long long)(off + done));
    if (done < n)
        return ova_err_set(err, OVA_E_IO, "%s: write at offset %llu wrote nothing", path,
                           (unsigned long long)(off + done));
    return OVA_OK;
}

ova_status ova_pwrite_exact(int fd, const void *buf, size_t n, uint64_t off, const char *path, ova_err *err)
{
    size_t done;
    int e = ova_pwrite_all(fd, buf, n, off, &done);
    return ova_pwrite_result(e, n, off, done, path, err);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid.
 * C1 controls (U+0080..U+009F) count as invalid: terminals act on them. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
        return 0;
    return len;
}

char *ova_quote_text(char *out, size_t cap, const char *s, size_t max)
{
    if (cap == 0)
        return out;
    size_t n = strnlen(s, max), o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(p + i, n - i);
        bool esc = l == 0 || p[i] < 0x20 || p[i] == 0x7f;
        size_t need = esc ? 4 : l;
        if (o + need >= cap)
            break;
        if (esc) {
            snprintf(out + o, cap - o, "\\x%02x", p[i]);
            i++;
        } else {
            memcpy(out + o, p + i, l);
            i += l;
        }
        o += need;
    }
    out[o] = '\0';
    return out;
}

/* The folder part of path ("DIR/" or "."), allocated. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
}

ova_status ova_fsync_folder(const char *path, ova_err *err)
{
    char *dir = folder_of(path);
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

int ova_open_folder(const char *path, ova_err *err)
{
    char *dir = folder_of(path);
    if (dir == NULL) {
        ova_err_set(err, OVA_E_NOMEM, "out of memory");
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        ova_err_errno(err, OVA_E_IO, errno, "%s: cannot open the folder", dir);
    free(dir);
    return fd;
}

/* A second descriptor of fd's file (its own open file description, so
 * O_DIRECT stays off fd), or -1. Not by the file's name: in a folder others
 * may write to, the name could meanwhile lead elsewhere (a symbolic link to
 * any file), and the OVA's bytes would go there. /proc/self/fd/N reopens
 * the very inode fd refers to; without /proc, the name is opened without
 * following a link, and either way the result must be fd's file (device
 * and inode) or it is not used. */
int ova_reopen_direct(int fd, const char *path)
{
    struct stat a, b;
    if (fstat(fd, &a) != 0)
        return -1;
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    int dfd = open(self, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT)
        dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (dfd < 0)
        return -1;
    if (fstat(dfd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        close(dfd);
        return -1;
    }
    return dfd;
}
