/* disk.c - describing source disks from their descriptors and reading their
 * bytes with pread. Holes in flat files are found with SEEK_DATA so that a
 * thin 500 GB flat file holding 20 GB costs about 20 GB of reading. */
#include "ovatool/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovatool/buf.h"

#define DESCRIPTOR_MAX (1u << 20)

void ova_disk_info_free(ova_disk_info **pd)
{
    ova_disk_info *d = *pd;
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_extents; i++)
        free(d->extents[i].path);
    free(d->extents);
    free(d->path);
    free(d->create_type);
    free(d->tools_version);
    free(d->tools_install_type);
    free(d);
    *pd = NULL;
}

/* dir of path + name, or name itself when absolute. */
static char *resolve(const char *path, const char *name)
{
    if (name[0] == '/')
        return strdup(name);
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    size_t nl = strlen(name);
    char *r = malloc(dl + nl + 1);
    if (r == NULL)
        return NULL;
    memcpy(r, path, dl);
    memcpy(r + dl, name, nl + 1);
    return r;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *r = strdup(s);
    if (r == NULL)
        *oom = true;
    return r;
}

/* Read a whole small file (the descriptor) into a NUL-terminated buffer. */
static ova_status slurp(const char *path, char **text, size_t *len, ova_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot open disk", path);
    char *buf = malloc(DESCRIPTOR_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    }
    size_t n = 0;
    while (n < DESCRIPTOR_MAX + 1) {
        ssize_t r = read(fd, buf + n, DESCRIPTOR_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return ova_err_errno(err, OVA_E_IO, e, "%s: read failed", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n >= 4 && memcmp(buf, "KDMV", 4) == 0) {
        free(buf);
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s: hosted sparse VMDK (monolithicSparse or streamOptimized): not supported yet; "
                           "convert it with 'qemu-img convert -O vmdk -o subformat=monolithicFlat'",
                           path);
    }
    if (n >= 4 && memcmp(buf, "COWD", 4) == 0) {
        free(buf);
        return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: ESXi redo log (vmfsSparse): not supported", path);
    }
    if (n > DESCRIPTOR_MAX) {
        free(buf);
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: not a VMDK descriptor (larger than 1 MiB and no sparse header)", path);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return OVA_OK;
}

ova_status ova_disk_describe(const char *path, ova_disk_info **out, ova_err *err)
{
    char *text = NULL;
    size_t len = 0;
    ova_status st = slurp(path, &text, &len, err);
    if (st != OVA_OK)
        return st;
    ova_descriptor *desc = NULL;
    st = ova_descriptor_parse(text, len, path, &desc, err);
    free(text);
    if (st != OVA_OK)
        return st;

    ova_disk_info *d = calloc(1, sizeof *d);
    if (d == NULL) {
        ova_descriptor_free(&desc);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    }
    bool oom = false;
    d->path = dup_or_null(path, &oom);
    d->create_type = dup_or_null(desc->create_type, &oom);
    d->cid = desc->cid;
    d->tools_version = dup_or_null(ova_descriptor_ddb(desc, "ddb.toolsVersion"), &oom);
    d->tools_install_type = dup_or_null(ova_descriptor_ddb(desc, "ddb.toolsInstallType"), &oom);
    d->extents = calloc(desc->n_extents, sizeof *d->extents);
    if (oom || d->extents == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (desc->parent_hint != NULL || desc->parent_cid != 0xffffffffu) {
        st = ova_err_set(err, OVA_E_UNSUPPORTED,
                         "%s: snapshot delta disk (parentFileNameHint \"%s\"): snapshot chains are not supported yet",
                         path, desc->parent_hint ? desc->parent_hint : "");
        goto fail;
    }

    uint64_t start = 0;
    for (size_t i = 0; i < desc->n_extents; i++) {
        const ova_extent_desc *x = &desc->extents[i];
        ova_extent *e = &d->extents[i];
        if (x->access == OVA_ACCESS_NOACCESS) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED, "%s: extent %zu is NOACCESS", path, i + 1);
            goto fail;
        }
        if (x->type != OVA_EXTENT_FLAT && x->type != OVA_EXTENT_VMFS && x->type != OVA_EXTENT_ZERO) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED,
                             "%s: extent %zu is of type %s (createType \"%s\"): only flat disks "
                             "(monolithicFlat, twoGbMaxExtentFlat, vmfs) are supported yet",
                             path, i + 1, x->type_name ? x->type_name : "?", desc->create_type);
            goto fail;
        }
        if (x->sectors > (UINT64_MAX - start) / 512) {
            st = ova_err_set(err, OVA_E_FORMAT, "%s: extent sizes overflow 64 bits", path);
            goto fail;
        }
        e->type = x->type;
        e->start = start;
        e->size = x->sectors * 512;
        e->file_offset = x->offset * 512;
        start += e->size;
        d->n_extents++;
        if (x->type == OVA_EXTENT_ZERO)
            continue;
        e->path = resolve(path, x->file_name);
        if (e->path == NULL) {
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        struct stat sb;
        if (stat(e->path, &sb) != 0) {
            st = ova_err_errno(err, OVA_E_IO, errno, "%s: extent file %s", path, e->path);
            goto fail;
        }
        if (!S_ISREG(sb.st_mode)) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED, "%s: extent %s is not a regular file", path, e->path);
            goto fail;
        }
        uint64_t need = e->file_offset + e->size;
        if ((uint64_t)sb.st_size < need) {
            st = ova_err_set(err, OVA_E_FORMAT,
                             "%s: flat extent is %llu bytes but descriptor %s needs %llu (file truncated?)",
                             e->path, (unsigned long long)sb.st_size, path, (unsigned long long)need);
            goto fail;
        }
    }
    d->capacity = start;
    if (d->capacity == 0) {
        st = ova_err_set(err, OVA_E_FORMAT, "%s: disk has a capacity of 0 bytes", path);
        goto fail;
    }
    ova_descriptor_free(&desc);
    *out = d;
    return OVA_OK;
fail:
    ova_descriptor_free(&desc);
    ova_disk_info_free(&d);
    return st;
}

struct ova_disk_reader {
    const ova_disk_info *info;
    int *fds;                  /* per extent, -1 until opened */
    pthread_mutex_t open_mu;   /* serialises first opens only */
};

ova_status ova_disk_reader_open(const ova_disk_info *info, ova_disk_reader **out, ova_err *err)
{
    ova_disk_reader *r = calloc(1, sizeof *r);
    int *fds = calloc(info->n_extents ? info->n_extents : 1, sizeof *fds);
    if (r == NULL || fds == NULL) {
        free(r);
        free(fds);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", info->path);
    }
    for (size_t i = 0; i < info->n_extents; i++)
        fds[i] = -1;
    r->info = info;
    r->fds = fds;
    pthread_mutex_init(&r->open_mu, NULL);
    *out = r;
    return OVA_OK;
}

void ova_disk_reader_close(ova_disk_reader **pr)
{
    ova_disk_reader *r = *pr;
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->info->n_extents; i++)
        if (r->fds[i] >= 0)
            close(r->fds[i]);
    pthread_mutex_destroy(&r->open_mu);
    free(r->fds);
    free(r);
    *pr = NULL;
}

static ova_status extent_fd(ova_disk_reader *r, size_t i, int *fd, ova_err *err)
{
    ova_status st = OVA_OK;
    pthread_mutex_lock(&r->open_mu);
    if (r->fds[i] < 0) {
        const ova_extent *e = &r->info->extents[i];
        int f = open(e->path, O_RDONLY | O_CLOEXEC);
        if (f < 0) {
            st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot open extent", e->path);
        } else {
            /* we read each extent front to back: ask for aggressive readahead */
            posix_fadvise(f, 0, 0, POSIX_FADV_SEQUENTIAL);
            r->fds[i] = f;
        }
    }
    *fd = r->fds[i];
    pthread_mutex_unlock(&r->open_mu);
    return st;
}

/* Is [off, off+len) of fd one hole? Filesystems without SEEK_DATA say no. */
static bool is_hole(int fd, uint64_t off, size_t len)
{
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d < 0)
        return errno == ENXIO; /* no data from off to the end of the file */
    return (uint64_t)d >= off + len;
}

/* Index of the extent holding virtual byte off (extents are few and sorted). */
static size_t find_extent(const ova_disk_info *info, uint64_t off)
{
    size_t lo = 0, hi = info->n_extents;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (info->extents[mid].start <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

ova_status ova_disk_read(ova_disk_reader *r, uint64_t off, size_t len, void *buf, bool *zero,
                         uint64_t *nread, ova_err *err)
{
    const ova_disk_info *info = r->info;
    if (off > info->capacity || len > info->capacity - off)
        return ova_err_set(err, OVA_E_USAGE, "%s: read past the end of the disk", info->path);

    /* First pass: the whole range known to be zero? Then skip the reads. */
    bool all_zero = true;
    for (uint64_t pos = off; pos < off + len && all_zero;) {
        size_t i = find_extent(info, pos);
        const ova_extent *e = &info->extents[i];
        uint64_t n = e->start + e->size - pos;
        if (n > off + len - pos)
            n = off + len - pos;
        if (e->type != OVA_EXTENT_ZERO) {
            int fd;
            ova_status st = extent_fd(r, i, &fd, err);
            if (st != OVA_OK)
                return st;
            if (!is_hole(fd, e->file_offset + (pos - e->start), (size_t)n))
                all_zero = false;
        }
        pos += n;
    }
    *zero = all_zero;
    if (all_zero)
        return OVA_OK;

    unsigned char *p = buf;
    for (uint64_t pos = off; pos < off + len;) {
        size_t i = find_extent(info, pos);
        const ova_extent *e = &info->extents[i];
        uint64_t n = e->start + e->size - pos;
        if (n > off + len - pos)
            n = off + len - pos;
        if (e->type == OVA_EXTENT_ZERO) {
            memset(p, 0, (size_t)n);
        } else {
            int fd;
            ova_status st = extent_fd(r, i, &fd, err);
            if (st != OVA_OK)
                return st;
            uint64_t foff = e->file_offset + (pos - e->start);
            size_t done = 0;
            while (done < n) {
                ssize_t got = pread(fd, p + done, (size_t)n - done, (off_t)(foff + done));
                if (got < 0 && errno == EINTR)
                    continue;
                if (got < 0)
                    return ova_err_errno(err, OVA_E_IO, errno, "%s: read of %zu bytes at offset %llu failed",
                                         e->path, (size_t)n - done, (unsigned long long)(foff + done));
                if (got == 0)
                    return ova_err_set(err, OVA_E_FORMAT,
                                       "%s: unexpected end of file at offset %llu (flat extent shorter "
                                       "than its descriptor %s says)",
                                       e->path, (unsigned long long)(foff + done), info->path);
                done += (size_t)got;
            }
            *nread += n;
        }
        p += n;
        pos += n;
    }
    return OVA_OK;
}
