/* disk.c - describing source disks (descriptors, extents, snapshot chains)
 * and reading their flattened content.
 *
 * Reads walk the chain per grain: an unallocated grain of a link falls
 * through to its parent, a zeroed grain or a flat-file hole is zeros, and
 * only allocated data is ever read. Holes in flat files are found with
 * SEEK_DATA so that a thin 500 GB flat file holding 20 GB costs about 20 GB
 * of reading. Memory stays bounded whatever the disk size: a reader keeps
 * at most FD_MAX files open and GT_CACHE grain-table blocks cached. */
#include "ovatool/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"
#include "ovatool/limits.h"
#include "disk/sparse.h"
#include "format/vmdk_stream.h"

#define FD_MAX 64                   /* extent files a reader keeps open */
#define GT_CACHE 64                 /* GD/GT blocks (2 KiB each) a reader caches */
#define SCAN_WINDOW ((uint64_t)32 << 20) /* bytes of the disk the allocation scan looks at per step */
#define ULL(x) ((unsigned long long)(x))

static void extents_free(ova_extent *x, size_t n)
{
    for (size_t i = 0; x != NULL && i < n; i++)
        free(x[i].path);
    free(x);
}

static void link_free(ova_disk_link *l)
{
    extents_free(l->extents, l->n_extents);
    free(l->path);
    free(l->create_type);
    memset(l, 0, sizeof *l);
}

void ova_disk_info_free(ova_disk_info **pd)
{
    ova_disk_info *d = *pd;
    if (d == NULL)
        return;
    extents_free(d->extents, d->n_extents);
    for (int i = 0; d->parents != NULL && i < d->chain_depth; i++)
        link_free(&d->parents[i]);
    free(d->parents);
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

static bool is_regular(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ---- describing one link ------------------------------------------------ */

/* Does text (n bytes) look like a VMDK text descriptor: a line (after
 * blanks) that starts with version= or createType= (any case), or
 * VMware's "# Disk DescriptorFile" comment? Only then may parse errors
 * quote its lines: a file named as a disk that is something else
 * (/etc/passwd, a flat extent) must never have its bytes shown. */
static bool looks_like_descriptor(const char *text, size_t n)
{
    static const char *const keys[] = { "version", "createType" };
    const char *end = text + n;
    for (const char *l = text; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *le = nl ? nl : end;
        const char *p = l;
        while (p < le && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(le - p) >= 21 && strncasecmp(p, "# Disk DescriptorFile", 21) == 0)
            return true;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            size_t kl = strlen(keys[k]);
            if ((size_t)(le - p) > kl && strncasecmp(p, keys[k], kl) == 0) {
                const char *q = p + kl;
                while (q < le && (*q == ' ' || *q == '\t'))
                    q++;
                if (q < le && *q == '=')
                    return true;
            }
        }
        l = nl ? nl + 1 : end;
    }
    return false;
}

/* Read the descriptor of a link: a text file, or the text embedded in a
 * sparse file. A sparse extent without one (part of a split disk) and ESXi
 * redo logs are refused with a message saying what to open instead. */
static ova_status read_descriptor(const char *path, ova_descriptor **out, ova_err *err)
{
    int fd;
    struct stat sb;
    ova_status st = ova_open_source(path, "disk", &fd, &sb, err);
    if (st != OVA_OK)
        return st;
    char *buf = NULL;
    size_t n = 0;
    unsigned char magic[4] = {0};
    size_t got;
    int e = ova_pread_full(fd, magic, sizeof magic, 0, &got);
    if (e != 0) {
        st = ova_err_errno(err, OVA_E_IO, e, "%s: read failed", path);
    } else if (got == 4 && memcmp(magic, "KDMV", 4) == 0) {
        ova_sparse_header h;
        st = ova_sparse_read_header(fd, path, (uint64_t)sb.st_size, &h, err);
        if (st == OVA_OK && h.desc_offset != 0)
            st = ova_sparse_read_descriptor(fd, path, &h, OVA_DESC_MAX_SIZE, &buf, &n, err);
        /* qemu reserves an all-zero descriptor area in the pieces of split disks */
        if (st == OVA_OK && n == 0)
            st = ova_err_set(err, OVA_E_UNSUPPORTED,
                             "%s: sparse extent without an embedded descriptor (one piece of a split "
                             "twoGbMaxExtentSparse disk?): name the small descriptor .vmdk that lists it instead",
                             path);
    } else if (got == 4 && memcmp(magic, "COWD", 4) == 0) {
        st = ova_err_set(err, OVA_E_UNSUPPORTED, "%s: ESXi redo log (vmfsSparse): not supported", path);
    } else {
        buf = malloc(OVA_DESC_MAX_SIZE + 1);
        if (buf == NULL)
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
        /* one byte more than the limit tells "too large" from "exactly 1 MiB" */
        if (st == OVA_OK && (e = ova_pread_full(fd, buf, OVA_DESC_MAX_SIZE + 1, 0, &n)) != 0)
            st = ova_err_errno(err, OVA_E_IO, e, "%s: read failed", path);
        if (st == OVA_OK && n > OVA_DESC_MAX_SIZE)
            st = ova_err_set(err, OVA_E_FORMAT,
                             "%s: not a VMDK descriptor (larger than 1 MiB and no sparse header)", path);
        if (st == OVA_OK) {
            buf[n] = '\0';
            /* the parser stops at the first NUL, and so does the look */
            if (!looks_like_descriptor(buf, strlen(buf)))
                st = ova_err_set(err, OVA_E_FORMAT,
                                 "%s: not a VMDK disk: neither a sparse extent (no KDMV header) nor a text "
                                 "descriptor (no version= or createType= line)",
                                 path);
        }
    }
    close(fd);
    if (st == OVA_OK)
        st = ova_descriptor_parse(buf, n, path, out, err);
    free(buf);
    return st;
}

/* Open a SPARSE extent's file and fill in its geometry from the header. */
static ova_status sparse_extent(const char *desc_path, ova_extent *e, ova_err *err)
{
    int fd;
    struct stat sb;
    char what[PATH_MAX + 16];
    snprintf(what, sizeof what, "extent of %s", desc_path);
    ova_status st = ova_open_source(e->path, what, &fd, &sb, err);
    if (st != OVA_OK)
        return st;
    ova_sparse_header h;
    st = ova_sparse_read_header(fd, e->path, (uint64_t)sb.st_size, &h, err);
    close(fd);
    if (st != OVA_OK)
        return st;
    if (e->size > h.capacity * OVA_SECTOR)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: sparse header capacity is %llu sectors but descriptor %s says the extent has %llu",
                           e->path, ULL(h.capacity), desc_path, ULL(e->size / OVA_SECTOR));
    e->sparse_flags = h.flags;
    e->grain_sectors = (uint32_t)h.grain;
    e->gd_sector = h.gd_offset;
    e->gd_entries = h.gd_entries;
    e->file_size = (uint64_t)sb.st_size;
    e->dev = (uint64_t)sb.st_dev;
    e->ino = (uint64_t)sb.st_ino;
    return OVA_OK;
}

/* ---- confinement to the VM's folder ------------------------------------- */

/* One describe's view of ova_describe_opts: the VM's folder resolved once. */
typedef struct confine {
    const ova_describe_opts *o;
    char *root;               /* realpath of o->root; NULL: no check */
} confine;

/* A file a disk is made of (role: "disk", "extent", "parent"; by: the file
 * that names it, or NULL) must resolve (realpath: symbolic links and ".."
 * followed) inside the VM's folder: refused under confine, else a warning
 * through the log hook. Run before the file is opened. */
static ova_status check_confined(const confine *c, const char *by, const char *role, const char *path,
                                 ova_err *err)
{
    if (c == NULL || c->root == NULL)
        return OVA_OK;
    const char *sep = by != NULL ? ": " : "";
    if (by == NULL)
        by = "";
    char *real = realpath(path, NULL);
    if (real == NULL) {
        if (!c->o->confine)
            return OVA_OK; /* opening it says what is wrong */
        return ova_err_errno(err, OVA_E_IO, errno, "%s%s%s %s: cannot resolve the path to check it lies in the VM's folder",
                             by, sep, role, path);
    }
    size_t rl = strlen(c->root);
    bool inside = strcmp(c->root, "/") == 0 ||
                  (strncmp(real, c->root, rl) == 0 && (real[rl] == '/' || real[rl] == '\0'));
    ova_status st = OVA_OK;
    if (!inside && c->o->confine) {
        st = ova_err_set(err, OVA_E_UNSUPPORTED,
                         "%s%s%s %s resolves to %s, outside the VM's folder %s: refused (--confine)", by, sep, role,
                         path, real, c->root);
    } else if (!inside && c->o->log != NULL) {
        char msg[OVA_ERR_MAX];
        snprintf(msg, sizeof msg, "%s%s%s %s resolves to %s, outside the VM's folder %s (--confine would refuse it)",
                 by, sep, role, path, real, c->root);
        c->o->log(c->o->log_ctx, 1, msg);
    }
    free(real);
    return st;
}

/* Describe one link: its descriptor and extents. *desc_out keeps the parsed
 * descriptor for the chain walk (parent hint, parentCID, ddb). */
static ova_status describe_link(const confine *cf, const char *path, ova_disk_link *l, ova_descriptor **desc_out,
                                ova_err *err)
{
    memset(l, 0, sizeof *l);
    ova_descriptor *desc = NULL;
    ova_status st = read_descriptor(path, &desc, err);
    if (st != OVA_OK)
        return st;
    bool oom = false;
    l->path = dup_or_null(path, &oom);
    l->create_type = dup_or_null(desc->create_type, &oom);
    l->cid = desc->cid;
    l->extents = calloc(desc->n_extents ? desc->n_extents : 1, sizeof *l->extents);
    if (oom || l->extents == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    uint64_t start = 0;
    for (size_t i = 0; i < desc->n_extents; i++) {
        const ova_extent_desc *x = &desc->extents[i];
        if (x->access == OVA_ACCESS_NOACCESS) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED, "%s: extent %zu is NOACCESS", path, i + 1);
            goto fail;
        }
        if (x->type == OVA_EXTENT_VMFSSPARSE) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED,
                             "%s: extent %zu is an ESXi redo log (VMFSSPARSE, createType \"%s\"): not supported",
                             path, i + 1, desc->create_type);
            goto fail;
        }
        if (x->type != OVA_EXTENT_FLAT && x->type != OVA_EXTENT_VMFS && x->type != OVA_EXTENT_ZERO &&
            x->type != OVA_EXTENT_SPARSE) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED,
                             "%s: extent %zu is of type %s (createType \"%s\"): only FLAT, VMFS, ZERO and SPARSE "
                             "extents are supported",
                             path, i + 1, x->type_name ? x->type_name : "?", desc->create_type);
            goto fail;
        }
        if (x->sectors > (UINT64_MAX / 2 - start) / OVA_SECTOR ||
            (x->type == OVA_EXTENT_FLAT && x->offset > UINT64_MAX / 2 / OVA_SECTOR)) {
            st = ova_err_set(err, OVA_E_FORMAT, "%s: extent sizes overflow 64 bits", path);
            goto fail;
        }
        if (x->sectors == 0)
            continue; /* covers nothing */
        ova_extent *e = &l->extents[l->n_extents++];
        e->type = x->type;
        e->start = start;
        e->size = x->sectors * OVA_SECTOR;
        e->file_offset = x->type == OVA_EXTENT_FLAT ? x->offset * OVA_SECTOR : 0;
        start += e->size;
        if (x->type == OVA_EXTENT_ZERO)
            continue;
        e->path = resolve(path, x->file_name);
        if (e->path == NULL) {
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        st = check_confined(cf, path, "extent", e->path, err);
        if (st != OVA_OK)
            goto fail;
        if (x->type == OVA_EXTENT_SPARSE) {
            st = sparse_extent(path, e, err);
            if (st != OVA_OK)
                goto fail;
            continue;
        }
        struct stat sb;
        char what[PATH_MAX + 16];
        snprintf(what, sizeof what, "extent of %s", path);
        st = ova_stat_source(e->path, what, &sb, err);
        if (st != OVA_OK)
            goto fail;
        e->file_size = (uint64_t)sb.st_size;
        e->dev = (uint64_t)sb.st_dev;
        e->ino = (uint64_t)sb.st_ino;
        uint64_t need = e->file_offset + e->size;
        if ((uint64_t)sb.st_size < need) {
            st = ova_err_set(err, OVA_E_FORMAT,
                             "%s: flat extent is %llu bytes but descriptor %s needs %llu (file truncated?)",
                             e->path, ULL(sb.st_size), path, ULL(need));
            goto fail;
        }
    }
    l->capacity = start;
    if (l->capacity == 0) {
        st = ova_err_set(err, OVA_E_FORMAT, "%s: disk has a capacity of 0 bytes", path);
        goto fail;
    }
    *desc_out = desc;
    return OVA_OK;
fail:
    ova_descriptor_free(&desc);
    link_free(l);
    return st;
}

/* ---- the snapshot chain ------------------------------------------------- */

static bool is_windows_absolute(const char *h)
{
    return (((h[0] >= 'A' && h[0] <= 'Z') || (h[0] >= 'a' && h[0] <= 'z')) && h[1] == ':') ||
           (h[0] == '\\' && h[1] == '\\');
}

/* Find the parent a child's parentFileNameHint names. Tries the hint
 * relative to the child's folder (or as is when absolute), then with
 * backslashes as folder separators, then - for an absolute hint, which may
 * come from another machine - its file name in the child's folder. */
static ova_status find_parent(const char *child, const char *hint, char **out, ova_err *err)
{
    char *cand[3] = {NULL, NULL, NULL};
    size_t nc = 0;
    bool oom = false;
    bool win_abs = is_windows_absolute(hint);
    if (!win_abs)
        cand[nc++] = resolve(child, hint);
    if (strchr(hint, '\\') != NULL && !win_abs) {
        char *h = strdup(hint);
        if (h != NULL) {
            for (char *p = h; *p; p++)
                if (*p == '\\')
                    *p = '/';
            cand[nc++] = resolve(child, h);
            free(h);
        } else {
            oom = true;
        }
    }
    if (hint[0] == '/' || win_abs) {
        const char *base = hint;
        for (const char *p = hint; *p; p++)
            if (*p == '/' || *p == '\\')
                base = p + 1;
        if (*base != '\0')
            cand[nc++] = resolve(child, base);
    }
    for (size_t i = 0; i < nc; i++)
        if (cand[i] == NULL)
            oom = true;
    ova_status st = OVA_OK;
    if (oom) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", child);
    } else {
        size_t i = 0;
        while (i < nc && !is_regular(cand[i]))
            i++;
        if (i < nc) {
            *out = cand[i];
            cand[i] = NULL;
        } else {
            char looked[1200] = "";
            size_t used = 0;
            for (size_t k = 0; k < nc && used < sizeof looked; k++) {
                int w = snprintf(looked + used, sizeof looked - used, "%s%s", k ? ", " : "", cand[k]);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            st = ova_err_set(err, OVA_E_IO,
                             "%s: parent disk not found: parentFileNameHint \"%s\" (looked for %s)", child, hint,
                             nc ? looked : "nothing usable");
        }
    }
    for (size_t i = 0; i < nc; i++)
        free(cand[i]);
    return st;
}

/* Take ddb values the child lacks from a parent: lookups in a chain search
 * the child first. */
static bool inherit_ddb(ova_disk_info *d, const ova_descriptor *desc)
{
    bool oom = false;
    if (d->tools_version == NULL)
        d->tools_version = dup_or_null(ova_descriptor_ddb(desc, "ddb.toolsVersion"), &oom);
    if (d->tools_install_type == NULL)
        d->tools_install_type = dup_or_null(ova_descriptor_ddb(desc, "ddb.toolsInstallType"), &oom);
    return !oom;
}

static ova_status scan_allocated(ova_disk_info *d, ova_err *err);

ova_status ova_disk_describe(const char *path, ova_disk_info **out, ova_err *err)
{
    return ova_disk_describe_ex(path, NULL, out, err);
}

ova_status ova_disk_describe_ex(const char *path, const ova_describe_opts *o, ova_disk_info **out, ova_err *err)
{
    confine cf = { o, NULL };
    if (o != NULL && o->root != NULL && (cf.root = realpath(o->root, NULL)) == NULL)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot resolve the VM's folder", o->root);
    ova_disk_link top;
    ova_descriptor *desc = NULL;
    ova_status st = check_confined(&cf, NULL, "disk", path, err);
    if (st == OVA_OK)
        st = describe_link(&cf, path, &top, &desc, err);
    if (st != OVA_OK) {
        free(cf.root);
        return st;
    }
    ova_disk_info *d = calloc(1, sizeof *d);
    char **seen = calloc(OVA_CHAIN_MAX + 1, sizeof *seen);
    if (d == NULL || seen == NULL) {
        free(d);
        free(seen);
        free(cf.root);
        link_free(&top);
        ova_descriptor_free(&desc);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    }
    size_t n_ext = top.n_extents; /* of the whole chain, against OVA_DISK_MAX_EXTENTS */
    d->path = top.path;
    d->create_type = top.create_type;
    d->cid = top.cid;
    d->capacity = top.capacity;
    d->extents = top.extents;
    d->n_extents = top.n_extents;
    size_t n_seen = 0;
    if (!inherit_ddb(d, desc)) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((seen[n_seen++] = realpath(path, NULL)) == NULL) {
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot resolve the path", path);
        goto done;
    }

    /* Follow parentFileNameHint down to the base, checking every CID. */
    const char *child = d->path;
    while (desc->parent_hint != NULL || desc->parent_cid != UINT32_MAX) {
        if (desc->parent_hint == NULL || desc->parent_hint[0] == '\0') {
            st = ova_err_set(err, OVA_E_FORMAT,
                             "%s: snapshot delta (parentCID=%08x) without a parentFileNameHint", child,
                             desc->parent_cid);
            goto done;
        }
        if (d->chain_depth >= OVA_CHAIN_MAX) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED, "%s: snapshot chain longer than %d links", path,
                             OVA_CHAIN_MAX);
            goto done;
        }
        char *ppath = NULL;
        st = find_parent(child, desc->parent_hint, &ppath, err);
        if (st != OVA_OK)
            goto done;
        char *real = realpath(ppath, NULL);
        if (real == NULL) {
            st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot resolve parent %s", child, ppath);
            free(ppath);
            goto done;
        }
        for (size_t i = 0; i < n_seen; i++) {
            if (strcmp(seen[i], real) == 0) {
                st = ova_err_set(err, OVA_E_FORMAT,
                                 "%s: snapshot chain loops: its parentFileNameHint \"%s\" names %s, which is "
                                 "already in the chain",
                                 child, desc->parent_hint, ppath);
                free(real);
                free(ppath);
                goto done;
            }
        }
        seen[n_seen++] = real;
        if (d->parents == NULL) {
            d->parents = calloc(OVA_CHAIN_MAX, sizeof *d->parents);
            if (d->parents == NULL) {
                free(ppath);
                st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
                goto done;
            }
        }
        ova_disk_link *pl = &d->parents[d->chain_depth];
        ova_descriptor *pdesc = NULL;
        st = check_confined(&cf, child, "parent", ppath, err);
        if (st == OVA_OK)
            st = describe_link(&cf, ppath, pl, &pdesc, err);
        free(ppath);
        if (st != OVA_OK)
            goto done;
        d->chain_depth++;
        n_ext += pl->n_extents;
        if (n_ext > OVA_DISK_MAX_EXTENTS) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED,
                             "%s: the disk and its snapshot chain down to %s have %zu extents, more than the limit "
                             "of %u",
                             path, pl->path, n_ext, OVA_DISK_MAX_EXTENTS);
            ova_descriptor_free(&pdesc);
            goto done;
        }
        if (desc->parent_cid != pl->cid) {
            st = ova_err_set(err, OVA_E_FORMAT,
                             "%s: parentCID=%08x but its parent %s has CID=%08x (the parent changed after the "
                             "snapshot was taken; the chain is inconsistent)",
                             child, desc->parent_cid, pl->path, pl->cid);
            ova_descriptor_free(&pdesc);
            goto done;
        }
        ova_descriptor_free(&desc);
        desc = pdesc;
        child = pl->path;
        if (!inherit_ddb(d, desc)) {
            st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    st = scan_allocated(d, err);
done:
    free(cf.root);
    ova_descriptor_free(&desc);
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    if (st != OVA_OK) {
        ova_disk_info_free(&d);
        return st;
    }
    *out = d;
    return OVA_OK;
}

/* ---- checking an info --------------------------------------------------- */

static ova_status check_extents(const char *path, const ova_extent *x, size_t n, uint64_t cap, ova_err *err)
{
    if (path == NULL || x == NULL || n == 0 || cap == 0)
        return ova_err_set(err, OVA_E_USAGE, "%s: disk description has no extents", path ? path : "?");
    if (cap > OVA_MAX_CAPACITY)
        return ova_err_set(err, OVA_E_USAGE, "%s: capacity of %llu bytes is above the limit of " OVA_MAX_CAPACITY_TEXT,
                           path, ULL(cap));
    uint64_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const ova_extent *e = &x[i];
        if (e->start != start || e->size == 0 || e->size > cap - start)
            return ova_err_set(err, OVA_E_USAGE, "%s: extent %zu is not where the previous one ends", path, i + 1);
        start += e->size;
        switch (e->type) {
        case OVA_EXTENT_ZERO:
            break;
        case OVA_EXTENT_FLAT:
        case OVA_EXTENT_VMFS:
            if (e->path == NULL || e->file_offset > UINT64_MAX / 2)
                return ova_err_set(err, OVA_E_USAGE, "%s: flat extent %zu is malformed", path, i + 1);
            break;
        case OVA_EXTENT_SPARSE: {
            uint64_t g = e->grain_sectors;
            if (e->path == NULL || g == 0 || g > OVA_SPARSE_MAX_GRAIN || (g & (g - 1)) != 0 ||
                e->gd_entries > OVA_MAX_CAPACITY / OVA_SECTOR / OVA_SPARSE_GTES + 1 || e->gd_entries > OVA_SPARSE_MAX_GTS ||
                e->gd_entries * OVA_SPARSE_GTES * g * OVA_SECTOR < e->size ||
                e->gd_sector > e->file_size / OVA_SECTOR)
                return ova_err_set(err, OVA_E_USAGE, "%s: sparse extent %zu is malformed", path, i + 1);
            break;
        }
        default:
            return ova_err_set(err, OVA_E_USAGE, "%s: extent %zu has an unsupported type", path, i + 1);
        }
    }
    if (start != cap)
        return ova_err_set(err, OVA_E_USAGE, "%s: extents cover %llu bytes, not %llu", path, ULL(start), ULL(cap));
    return OVA_OK;
}

ova_status ova_disk_info_check(const ova_disk_info *d, ova_err *err)
{
    ova_status st = check_extents(d->path, d->extents, d->n_extents, d->capacity, err);
    if (st != OVA_OK)
        return st;
    if (d->chain_depth < 0 || d->chain_depth > OVA_CHAIN_MAX || (d->chain_depth > 0 && d->parents == NULL))
        return ova_err_set(err, OVA_E_USAGE, "%s: snapshot chain of %d links is malformed", d->path,
                           d->chain_depth);
    size_t n_ext = d->n_extents;
    for (int i = 0; i < d->chain_depth; i++) {
        const ova_disk_link *l = &d->parents[i];
        st = check_extents(l->path, l->extents, l->n_extents, l->capacity, err);
        if (st != OVA_OK)
            return st;
        n_ext += l->n_extents;
    }
    if (n_ext > OVA_DISK_MAX_EXTENTS)
        return ova_err_set(err, OVA_E_USAGE, "%s: %zu extents in the chain, more than the limit of %u", d->path,
                           n_ext, OVA_DISK_MAX_EXTENTS);
    return OVA_OK;
}

/* Index of the extent holding virtual byte off (extents are sorted). */
static size_t find_extent(const ova_extent *x, size_t n, uint64_t off)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (x[mid].start <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* A link as both describe and the reader see it. */
typedef struct level {
    const char *path;
    const ova_extent *ext;
    size_t n;
    uint64_t cap;
} level;

static level level_of(const ova_disk_info *d, int i)
{
    if (i == 0)
        return (level){ d->path, d->extents, d->n_extents, d->capacity };
    const ova_disk_link *l = &d->parents[i - 1];
    return (level){ l->path, l->extents, l->n_extents, l->capacity };
}

/* ---- counting allocated bytes ------------------------------------------ */

/* The scan goes through the disk in windows of SCAN_WINDOW bytes. In each
 * window it asks the links from the top down which sectors they decide
 * (allocated, zeroed or flat) and which of those hold data; sectors a link
 * leaves undecided fall through to its parent, as reads do. Two bitmaps of
 * one window and one GD block + one GT per link: bounded memory. */
#define WIN_SECTORS (SCAN_WINDOW / OVA_SECTOR)
#define WIN_WORDS (WIN_SECTORS / 64)

typedef struct scan_link {
    level lv;
    size_t fd_i;              /* extent whose file is open, SIZE_MAX for none */
    int fd;
    size_t gd_i;              /* extent and block of the cached GD block */
    uint64_t gd_block;
    size_t gt_i;              /* extent and index of the cached GT */
    uint64_t gt_index;
    uint32_t gd[OVA_SPARSE_GTES];
    uint32_t gt[OVA_SPARSE_GTES];
    size_t hole_i;            /* extent and byte range of the last hole SEEK_DATA found */
    uint64_t hole_lo, hole_hi;
} scan_link;

typedef struct scan {
    uint64_t ws;              /* first byte of the window */
    uint64_t dec[WIN_WORDS];  /* sector decided by a link above */
    uint64_t data[WIN_WORDS]; /* ... and it holds data */
    uint64_t meta;            /* metadata bytes read (not reported) */
} scan;

/* Decide the undecided sectors of [lo, hi) (bytes, within the window). */
static void mark(scan *s, uint64_t lo, uint64_t hi, bool data)
{
    uint64_t from = (lo - s->ws) / OVA_SECTOR;
    uint64_t to = (hi - s->ws + OVA_SECTOR - 1) / OVA_SECTOR;
    while (from < to) {
        uint64_t w = from / 64, b = from % 64;
        uint64_t k = 64 - b < to - from ? 64 - b : to - from;
        uint64_t m = (k == 64 ? ~0ull : ((1ull << k) - 1)) << b;
        uint64_t fresh = m & ~s->dec[w];
        s->dec[w] |= fresh;
        if (data)
            s->data[w] |= fresh;
        from += k;
    }
}

static ova_status scan_fd(scan_link *sl, size_t i, ova_err *err)
{
    if (sl->fd_i == i)
        return OVA_OK;
    if (sl->fd >= 0)
        close(sl->fd);
    sl->fd_i = SIZE_MAX;
    ova_status st = ova_open_source(sl->lv.ext[i].path, "extent", &sl->fd, NULL, err);
    if (st != OVA_OK)
        return st;
    sl->fd_i = i;
    return OVA_OK;
}

static ova_status scan_flat(scan *s, scan_link *sl, size_t i, uint64_t lo, uint64_t hi, ova_err *err)
{
    const ova_extent *e = &sl->lv.ext[i];
    ova_status st = scan_fd(sl, i, err);
    if (st != OVA_OK)
        return st;
    uint64_t flo = e->file_offset + (lo - e->start), fhi = flo + (hi - lo);
    for (uint64_t pos = flo; pos < fhi;) {
        off_t dpos = lseek(sl->fd, (off_t)pos, SEEK_DATA);
        if (dpos < 0) {
            if (errno != ENXIO) /* no SEEK_DATA here: call it all data */
                mark(s, lo + (pos - flo), hi, true);
            break;
        }
        if ((uint64_t)dpos >= fhi)
            break;
        off_t hpos = lseek(sl->fd, dpos, SEEK_HOLE);
        uint64_t h = hpos < 0 || (uint64_t)hpos > fhi ? fhi : (uint64_t)hpos;
        mark(s, lo + ((uint64_t)dpos / OVA_SECTOR * OVA_SECTOR - flo), lo + (h - flo), true);
        pos = h;
    }
    mark(s, lo, hi, false); /* the rest of a flat extent reads as zeros */
    return OVA_OK;
}

/* Load the GD block holding entry gdi of sparse extent i into sl's cache. */
static ova_status scan_gd(scan *s, scan_link *sl, size_t i, uint64_t gdi, ova_err *err)
{
    if (sl->gd_i == i && sl->gd_block == gdi / OVA_SPARSE_GTES)
        return OVA_OK;
    sl->gd_i = SIZE_MAX;
    ova_status st = ova_sparse_read_gd_block(sl->fd, &sl->lv.ext[i], gdi / OVA_SPARSE_GTES, sl->gd, &s->meta, err);
    if (st == OVA_OK) {
        sl->gd_i = i;
        sl->gd_block = gdi / OVA_SPARSE_GTES;
    }
    return st;
}

static ova_status scan_sparse(scan *s, scan_link *sl, size_t i, uint64_t lo, uint64_t hi, ova_err *err)
{
    const ova_extent *e = &sl->lv.ext[i];
    uint64_t gb = (uint64_t)e->grain_sectors * OVA_SECTOR;
    uint64_t per_gt = gb * OVA_SPARSE_GTES;
    bool stream = (e->sparse_flags & OVA_SPARSE_FLAG_MARKERS) != 0;
    ova_status st = scan_fd(sl, i, err);
    for (uint64_t pos = lo; st == OVA_OK && pos < hi;) {
        uint64_t rel = pos - e->start;
        uint64_t gdi = rel / per_gt;
        st = scan_gd(s, sl, i, gdi, err);
        if (st != OVA_OK)
            break;
        uint32_t gde = sl->gd[gdi % OVA_SPARSE_GTES];
        if (gde == 0) { /* a whole grain table unallocated */
            uint64_t end = e->start + (gdi + 1) * per_gt;
            pos = end < hi ? end : hi;
            continue;
        }
        if (sl->gt_i != i || sl->gt_index != gdi) {
            sl->gt_i = SIZE_MAX;
            st = ova_sparse_read_gt(sl->fd, e, gdi, gde, sl->gt, &s->meta, err);
            if (st != OVA_OK)
                break;
            sl->gt_i = i;
            sl->gt_index = gdi;
        }
        uint64_t g = rel / gb;
        uint64_t end = e->start + (g + 1) * gb;
        if (end > hi)
            end = hi;
        uint32_t gte = sl->gt[g % OVA_SPARSE_GTES];
        if (gte == 1 && (e->sparse_flags & OVA_SPARSE_FLAG_ZERO_GRAIN)) {
            mark(s, pos, end, false);
        } else if (gte == 1) {
            st = ova_err_set(err, OVA_E_FORMAT,
                             "%s: grain %llu has grain table entry 1 but the zeroed-grain flag is not set", e->path,
                             ULL(g));
        } else if (gte > 1) {
            if (stream) {
                if ((uint64_t)gte * OVA_SECTOR > e->file_size - OVA_GRAIN_MARKER_SIZE)
                    st = ova_err_set(err, OVA_E_FORMAT,
                                     "%s: grain %llu is at sector %u, past the end of the file (%llu bytes; "
                                     "truncated?)",
                                     e->path, ULL(g), gte, ULL(e->file_size));
            } else {
                st = ova_sparse_check_gte(e, g, gte, err);
            }
            mark(s, pos, end, true);
        }
        pos = end;
    }
    return st;
}

/* Is [off, end) of sparse extent i's file (open in sl) a hole? Remembers
 * the hole it finds, so the grain tables qemu preallocates as one long
 * hole cost one SEEK_DATA, not one each. */
static bool scan_hole(scan_link *sl, size_t i, uint64_t off, uint64_t end)
{
    if (sl->hole_i == i && off >= sl->hole_lo && end <= sl->hole_hi)
        return true;
    off_t d = lseek(sl->fd, (off_t)off, SEEK_DATA);
    uint64_t hi;
    if (d >= 0)
        hi = (uint64_t)d;
    else if (errno == ENXIO) /* no data up to the end of the file */
        hi = sl->lv.ext[i].file_size;
    else
        return false;        /* no SEEK_DATA here */
    if (hi <= off)
        return false;
    sl->hole_i = i;
    sl->hole_lo = off;
    sl->hole_hi = hi;
    return end <= hi;
}

/* The first byte at or after pos where link sl may hold data, or
 * UINT64_MAX: ZERO extents are skipped whole, flat files by SEEK_DATA,
 * sparse extents by their grain directory, and a grain table the directory
 * points at is skipped when its 2 KiB lie in a hole of the file (qemu
 * leaves them so; scan_hole) or, once read, hold only zeros. This keeps the scan
 * proportional to what is allocated: at the 64 TiB maximum, an empty ZERO
 * or flat disk costs one step, an empty sparse one reads its directory
 * (2 Mi entries, 8 MiB, with 64 KiB grains). Worst case: every table of a
 * sparse extent allocated but empty and written out, not left as a hole:
 * one 2 KiB read per 32 MiB of capacity (4 GiB at 64 TiB), which is the
 * size of that metadata in the file. */
static ova_status link_next(scan *s, scan_link *sl, uint64_t pos, uint64_t *next, ova_err *err)
{
    const level *lv = &sl->lv;
    *next = UINT64_MAX;
    if (pos >= lv->cap)
        return OVA_OK;
    for (size_t i = find_extent(lv->ext, lv->n, pos); i < lv->n; i++) {
        const ova_extent *e = &lv->ext[i];
        uint64_t p = pos > e->start ? pos : e->start;
        uint64_t end = e->start + e->size;
        if (e->type == OVA_EXTENT_ZERO)
            continue;
        ova_status st = scan_fd(sl, i, err);
        if (st != OVA_OK)
            return st;
        if (e->type != OVA_EXTENT_SPARSE) {
            off_t d = lseek(sl->fd, (off_t)(e->file_offset + (p - e->start)), SEEK_DATA);
            if (d < 0 && errno == ENXIO)
                continue;
            if (d < 0) { /* no SEEK_DATA here: the scan decides */
                *next = p;
                return OVA_OK;
            }
            if ((uint64_t)d >= e->file_offset + e->size)
                continue;
            *next = e->start + ((uint64_t)d - e->file_offset);
            return OVA_OK;
        }
        uint64_t per_gt = (uint64_t)e->grain_sectors * OVA_SECTOR * OVA_SPARSE_GTES;
        for (uint64_t gdi = (p - e->start) / per_gt; e->start + gdi * per_gt < end; gdi++) {
            st = scan_gd(s, sl, i, gdi, err);
            if (st != OVA_OK)
                return st;
            uint32_t gde = sl->gd[gdi % OVA_SPARSE_GTES];
            if (gde == 0)
                continue;
            uint64_t at = e->start + gdi * per_gt;
            if (at < p)
                at = p;
            uint64_t gt_off = (uint64_t)gde * OVA_SECTOR, gt_end = gt_off + OVA_SPARSE_GTES * 4;
            if (gt_end <= e->file_size) {
                if (scan_hole(sl, i, gt_off, gt_end))
                    continue; /* the table is a hole: all zeros */
                if (sl->gt_i != i || sl->gt_index != gdi) {
                    sl->gt_i = SIZE_MAX;
                    st = ova_sparse_read_gt(sl->fd, e, gdi, gde, sl->gt, &s->meta, err);
                    if (st != OVA_OK)
                        return st;
                    sl->gt_i = i;
                    sl->gt_index = gdi;
                }
                bool any = false;
                for (size_t k = 0; k < OVA_SPARSE_GTES && !any; k++)
                    any = sl->gt[k] != 0;
                if (!any)
                    continue;
            } /* else: past the end of the file, which the scan reports */
            *next = at;
            return OVA_OK;
        }
    }
    return OVA_OK;
}

static ova_status scan_allocated(ova_disk_info *d, ova_err *err)
{
    int nl = d->chain_depth + 1;
    scan *s = malloc(sizeof *s);
    scan_link *sl = calloc((size_t)nl, sizeof *sl);
    if (s == NULL || sl == NULL) {
        free(s);
        free(sl);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", d->path);
    }
    for (int k = 0; k < nl; k++) {
        sl[k].lv = level_of(d, k);
        sl[k].fd = -1;
        sl[k].fd_i = sl[k].gd_i = sl[k].gt_i = sl[k].hole_i = SIZE_MAX;
    }
    ova_status st = OVA_OK;
    uint64_t total = 0;
    for (uint64_t ws = 0; st == OVA_OK && ws < d->capacity; ws += SCAN_WINDOW) {
        /* skip the windows in which no link can hold data */
        uint64_t next = UINT64_MAX;
        for (int k = 0; st == OVA_OK && k < nl; k++) {
            uint64_t nk;
            st = link_next(s, &sl[k], ws, &nk, err);
            if (nk < next)
                next = nk;
        }
        if (st != OVA_OK || next >= d->capacity)
            break;
        ws = next / SCAN_WINDOW * SCAN_WINDOW;
        uint64_t we = d->capacity - ws < SCAN_WINDOW ? d->capacity : ws + SCAN_WINDOW;
        uint64_t win_sectors = (we - ws) / OVA_SECTOR;
        s->ws = ws;
        memset(s->dec, 0, sizeof s->dec);
        memset(s->data, 0, sizeof s->data);
        for (int k = 0; st == OVA_OK && k < nl; k++) {
            const level *lv = &sl[k].lv;
            uint64_t hi = we < lv->cap ? we : lv->cap;
            if (ws >= hi)
                continue;
            for (size_t i = find_extent(lv->ext, lv->n, ws); st == OVA_OK && i < lv->n && lv->ext[i].start < hi;
                 i++) {
                const ova_extent *e = &lv->ext[i];
                uint64_t a = e->start > ws ? e->start : ws;
                uint64_t b = e->start + e->size < hi ? e->start + e->size : hi;
                if (e->type == OVA_EXTENT_ZERO)
                    mark(s, a, b, false);
                else if (e->type == OVA_EXTENT_SPARSE)
                    st = scan_sparse(s, &sl[k], i, a, b, err);
                else
                    st = scan_flat(s, &sl[k], i, a, b, err);
            }
            /* every sector decided: the links below cannot show through */
            uint64_t decided = 0;
            for (size_t w = 0; w < WIN_WORDS; w++)
                decided += (uint64_t)__builtin_popcountll(s->dec[w]);
            if (decided == win_sectors)
                break;
        }
        for (size_t w = 0; w < WIN_WORDS; w++)
            total += (uint64_t)__builtin_popcountll(s->data[w]);
    }
    for (int k = 0; k < nl; k++)
        if (sl[k].fd >= 0)
            close(sl[k].fd);
    free(sl);
    free(s);
    d->allocated = total * OVA_SECTOR;
    return st;
}

/* ---- the reader --------------------------------------------------------- */

typedef struct fd_slot {
    int fd;                   /* -1 when closed */
    unsigned refs;            /* preads in flight: never closed while > 0 */
    uint64_t used;            /* LRU tick */
    uint64_t dev, ino;        /* the file's identity: the extent's, else from the first open */
    bool known;
} fd_slot;

enum { BLK_GD = 0, BLK_GT = 1 };

typedef struct blk {
    size_t slot;              /* extent slot; SIZE_MAX = empty */
    int kind;                 /* BLK_GD or BLK_GT */
    uint64_t index;           /* GD block number or GT number */
    uint64_t used;
    uint32_t v[OVA_SPARSE_GTES];
} blk;

struct ova_disk_reader {
    const ova_disk_info *info;
    int n_levels;
    level *levels;
    size_t *slot0;            /* first extent slot of each level */
    fd_slot *fds;             /* one per extent of every level */
    size_t n_slots;
    size_t n_open;
    blk *cache;               /* GT_CACHE blocks, allocated when a link is sparse */
    uint64_t tick;
    pthread_mutex_t mu;       /* guards fds and cache */
};

ova_status ova_disk_reader_open(const ova_disk_info *info, ova_disk_reader **out, ova_err *err)
{
    ova_status st = ova_disk_info_check(info, err);
    if (st != OVA_OK)
        return st;
    ova_disk_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", info->path);
    r->info = info;
    r->n_levels = info->chain_depth + 1;
    r->levels = calloc((size_t)r->n_levels, sizeof *r->levels);
    r->slot0 = calloc((size_t)r->n_levels, sizeof *r->slot0);
    bool sparse = false;
    for (int k = 0; r->levels != NULL && r->slot0 != NULL && k < r->n_levels; k++) {
        r->levels[k] = level_of(info, k);
        r->slot0[k] = r->n_slots;
        r->n_slots += r->levels[k].n;
        for (size_t i = 0; i < r->levels[k].n; i++)
            sparse |= r->levels[k].ext[i].type == OVA_EXTENT_SPARSE;
    }
    if (r->levels != NULL && r->slot0 != NULL) {
        r->fds = calloc(r->n_slots, sizeof *r->fds);
        if (sparse)
            r->cache = calloc(GT_CACHE, sizeof *r->cache);
    }
    if (r->levels == NULL || r->slot0 == NULL || r->fds == NULL || (sparse && r->cache == NULL)) {
        free(r->levels);
        free(r->slot0);
        free(r->fds);
        free(r->cache);
        free(r);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", info->path);
    }
    for (size_t i = 0; i < r->n_slots; i++)
        r->fds[i].fd = -1;
    for (size_t i = 0; r->cache != NULL && i < GT_CACHE; i++)
        r->cache[i].slot = SIZE_MAX;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return OVA_OK;
}

void ova_disk_reader_close(ova_disk_reader **pr)
{
    ova_disk_reader *r = *pr;
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_slots; i++)
        if (r->fds[i].fd >= 0)
            close(r->fds[i].fd);
    pthread_mutex_destroy(&r->mu);
    free(r->levels);
    free(r->slot0);
    free(r->fds);
    free(r->cache);
    free(r);
    *pr = NULL;
}

static const ova_extent *slot_extent(const ova_disk_reader *r, size_t slot)
{
    int k = r->n_levels - 1;
    while (r->slot0[k] > slot)
        k--;
    return &r->levels[k].ext[slot - r->slot0[k]];
}

/* The file at an extent's path must still be the one described (same
 * device and inode, once known) and no shorter than it was: a replaced
 * file would export other content, a truncated one reads as zeros past its
 * new end (SEEK_DATA says ENXIO there, just as in a trailing hole). */
static ova_status check_same_file(const ova_extent *e, const fd_slot *s, const struct stat *sb, ova_err *err)
{
    if (s->known && (s->dev != (uint64_t)sb->st_dev || s->ino != (uint64_t)sb->st_ino))
        return ova_err_set(err, OVA_E_IO,
                           "%s was replaced during the export: it is another file (device %llu, inode %llu) than "
                           "the one described (device %llu, inode %llu)",
                           e->path, ULL(sb->st_dev), ULL(sb->st_ino), ULL(s->dev), ULL(s->ino));
    if ((uint64_t)sb->st_size < e->file_size)
        return ova_err_set(err, OVA_E_IO, "%s shrank from %llu to %llu bytes during the export", e->path,
                           ULL(e->file_size), ULL(sb->st_size));
    return OVA_OK;
}

/* After a failed or suspicious read of an open extent: has the file shrunk
 * since it was described? Then say so (err), instead of what the read saw. */
static bool shrank(int fd, const ova_extent *e, ova_err *err)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size >= e->file_size)
        return false;
    ova_err_set(err, OVA_E_IO, "%s shrank from %llu to %llu bytes during the export", e->path, ULL(e->file_size),
                ULL(sb.st_size));
    return true;
}

/* Pass a read failure (local) on to err, unless it came from the file
 * shrinking: that gets its own message. */
static ova_status read_failed(int fd, const ova_extent *e, const ova_err *local, ova_err *err)
{
    if (shrank(fd, e, err))
        return OVA_E_IO;
    return ova_err_set(err, local->status, "%s", local->msg);
}

/* Take a reference on the open file of an extent slot, opening it (and
 * closing the least recently used idle one beyond FD_MAX) if needed. */
static ova_status fd_get(ova_disk_reader *r, size_t slot, int *fd, ova_err *err)
{
    ova_status st = OVA_OK;
    pthread_mutex_lock(&r->mu);
    fd_slot *s = &r->fds[slot];
    if (s->fd < 0) {
        if (r->n_open >= FD_MAX) {
            size_t victim = SIZE_MAX;
            for (size_t i = 0; i < r->n_slots; i++)
                if (r->fds[i].fd >= 0 && r->fds[i].refs == 0 &&
                    (victim == SIZE_MAX || r->fds[i].used < r->fds[victim].used))
                    victim = i;
            if (victim != SIZE_MAX) {
                close(r->fds[victim].fd);
                r->fds[victim].fd = -1;
                r->n_open--;
            }
        }
        const ova_extent *e = slot_extent(r, slot);
        int f;
        struct stat sb;
        st = ova_open_source(e->path, "extent", &f, &sb, err);
        if (st == OVA_OK) {
            if (!s->known && (e->dev != 0 || e->ino != 0)) {
                s->dev = e->dev;
                s->ino = e->ino;
                s->known = true;
            }
            st = check_same_file(e, s, &sb, err);
            if (st != OVA_OK)
                close(f);
        }
        if (st == OVA_OK) {
            s->dev = (uint64_t)sb.st_dev;
            s->ino = (uint64_t)sb.st_ino;
            s->known = true;
            /* extents are read front to back (grains of sparse files too, as
             * creators append them in order): ask for aggressive readahead */
            posix_fadvise(f, 0, 0, POSIX_FADV_SEQUENTIAL);
            s->fd = f;
            r->n_open++;
        }
    }
    if (st == OVA_OK) {
        s->refs++;
        s->used = ++r->tick;
        *fd = s->fd;
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

static void fd_put(ova_disk_reader *r, size_t slot)
{
    pthread_mutex_lock(&r->mu);
    r->fds[slot].refs--;
    pthread_mutex_unlock(&r->mu);
}

/* Entry `entry` of a GD block or GT of an extent slot, through the cache.
 * A miss reads the 2 KiB block without holding the lock. */
static ova_status meta_get(ova_disk_reader *r, size_t slot, int kind, uint64_t index, uint32_t gde, size_t entry,
                           uint32_t *val, uint64_t *nread, ova_err *err)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < GT_CACHE; i++) {
        blk *b = &r->cache[i];
        if (b->slot == slot && b->kind == kind && b->index == index) {
            b->used = ++r->tick;
            *val = b->v[entry];
            pthread_mutex_unlock(&r->mu);
            return OVA_OK;
        }
    }
    pthread_mutex_unlock(&r->mu);

    uint32_t v[OVA_SPARSE_GTES];
    const ova_extent *e = slot_extent(r, slot);
    int fd;
    ova_status st = fd_get(r, slot, &fd, err);
    if (st != OVA_OK)
        return st;
    ova_err local = {0};
    if (kind == BLK_GD)
        st = ova_sparse_read_gd_block(fd, e, index, v, nread, &local);
    else
        st = ova_sparse_read_gt(fd, e, index, gde, v, nread, &local);
    if (st != OVA_OK)
        st = read_failed(fd, e, &local, err);
    fd_put(r, slot);
    if (st != OVA_OK)
        return st;

    pthread_mutex_lock(&r->mu);
    blk *victim = &r->cache[0];
    for (size_t i = 0; i < GT_CACHE; i++) {
        blk *b = &r->cache[i];
        if (b->slot == slot && b->kind == kind && b->index == index) {
            victim = b; /* another thread got here first: same content */
            break;
        }
        if (b->used < victim->used)
            victim = b;
    }
    victim->slot = slot;
    victim->kind = kind;
    victim->index = index;
    victim->used = ++r->tick;
    memcpy(victim->v, v, sizeof v);
    pthread_mutex_unlock(&r->mu);
    *val = v[entry];
    return OVA_OK;
}

/* One ova_disk_read call. Pieces are produced in increasing virtual order;
 * zeros before the first data piece are only written into buf once data
 * turns up, so an all-zero range leaves buf untouched. Contiguous reads of
 * the same file are merged into one pread. */
typedef struct rctx {
    ova_disk_reader *r;
    unsigned char *buf;
    uint64_t base;            /* virtual offset of buf[0] */
    bool any_data;
    size_t p_slot;            /* pending pread: slot, file offset, virtual offset, length */
    uint64_t p_foff, p_voff, p_len;
    unsigned char *cbuf;      /* compressed grain scratch (lazily allocated) */
    unsigned char *gbuf;      /* one inflated grain */
    uint64_t *nread;
    ova_err *err;
} rctx;

static void emit_zero(rctx *c, uint64_t voff, uint64_t n)
{
    if (c->any_data)
        memset(c->buf + (voff - c->base), 0, (size_t)n);
}

static void data_at(rctx *c, uint64_t voff)
{
    if (!c->any_data) {
        memset(c->buf, 0, (size_t)(voff - c->base));
        c->any_data = true;
    }
}

static ova_status flush_pread(rctx *c)
{
    if (c->p_len == 0)
        return OVA_OK;
    int fd;
    ova_status st = fd_get(c->r, c->p_slot, &fd, c->err);
    if (st != OVA_OK)
        return st;
    const ova_extent *e = slot_extent(c->r, c->p_slot);
    ova_err local = {0};
    st = ova_pread_exact(fd, c->buf + (c->p_voff - c->base), (size_t)c->p_len, c->p_foff, e->path, "disk data",
                         &local);
    if (st != OVA_OK)
        st = read_failed(fd, e, &local, c->err);
    fd_put(c->r, c->p_slot);
    if (st == OVA_OK)
        *c->nread += c->p_len;
    c->p_len = 0;
    return st;
}

static ova_status emit_pread(rctx *c, size_t slot, uint64_t foff, uint64_t voff, uint64_t n)
{
    data_at(c, voff);
    if (c->p_len != 0 && c->p_slot == slot && c->p_foff + c->p_len == foff && c->p_voff + c->p_len == voff) {
        c->p_len += n;
        return OVA_OK;
    }
    ova_status st = flush_pread(c);
    c->p_slot = slot;
    c->p_foff = foff;
    c->p_voff = voff;
    c->p_len = n;
    return st;
}

static ova_status walk_level(rctx *c, int lvl, uint64_t voff, uint64_t n);

/* A compressed grain: bytes [within, within + n) of grain g. */
static ova_status emit_stream_grain(rctx *c, size_t slot, const ova_extent *e, uint64_t g, uint32_t gte,
                                    uint64_t within, uint64_t voff, uint64_t n)
{
    size_t gb = (size_t)e->grain_sectors * OVA_SECTOR;
    if (c->cbuf == NULL) {
        c->cbuf = malloc(OVA_SPARSE_CBUF_SIZE);
        c->gbuf = malloc(OVA_GRAIN_SIZE);
        if (c->cbuf == NULL || c->gbuf == NULL)
            return ova_err_set(c->err, OVA_E_NOMEM, "%s: out of memory for a compressed grain", e->path);
    }
    data_at(c, voff);
    int fd;
    ova_status st = fd_get(c->r, slot, &fd, c->err);
    if (st != OVA_OK)
        return st;
    /* a whole grain goes straight into buf; a part goes through gbuf */
    bool direct = within == 0 && n == gb;
    unsigned char *dst = direct ? c->buf + (voff - c->base) : c->gbuf;
    size_t got = 0;
    ova_err local = {0};
    st = ova_sparse_read_stream_grain(fd, e, g, gte, c->cbuf, dst, gb, &got, c->nread, &local);
    if (st != OVA_OK)
        st = read_failed(fd, e, &local, c->err);
    fd_put(c->r, slot);
    if (st != OVA_OK)
        return st;
    if (got < within + n)
        return ova_err_set(c->err, OVA_E_FORMAT,
                           "%s: compressed grain %llu inflates to %zu bytes, fewer than the %llu the disk needs",
                           e->path, ULL(g), got, ULL(within + n));
    if (!direct)
        memcpy(c->buf + (voff - c->base), c->gbuf + within, (size_t)n);
    return OVA_OK;
}

/* Hand a run of unallocated grains to the parent, or make it zeros. */
static ova_status fall_through(rctx *c, int lvl, uint64_t voff, uint64_t n)
{
    if (n == 0)
        return OVA_OK;
    if (lvl + 1 < c->r->n_levels)
        return walk_level(c, lvl + 1, voff, n);
    emit_zero(c, voff, n);
    return OVA_OK;
}

static ova_status walk_sparse(rctx *c, int lvl, size_t ei, uint64_t voff, uint64_t n)
{
    const ova_extent *e = &c->r->levels[lvl].ext[ei];
    size_t slot = c->r->slot0[lvl] + ei;
    uint64_t gb = (uint64_t)e->grain_sectors * OVA_SECTOR;
    uint64_t per_gt = gb * OVA_SPARSE_GTES;
    bool stream = (e->sparse_flags & OVA_SPARSE_FLAG_MARKERS) != 0;
    uint64_t run = voff, run_len = 0; /* pending fall-through run */
    ova_status st = OVA_OK;
    for (uint64_t pos = voff; pos < voff + n;) {
        uint64_t rel = pos - e->start;
        uint64_t gdi = rel / per_gt;
        uint32_t gde, gte = 0;
        st = meta_get(c->r, slot, BLK_GD, gdi / OVA_SPARSE_GTES, 0, (size_t)(gdi % OVA_SPARSE_GTES), &gde,
                      c->nread, c->err);
        if (st != OVA_OK)
            return st;
        uint64_t g = rel / gb, within = rel % gb;
        uint64_t take = gb - within;
        if (gde == 0) /* the whole grain table is unallocated */
            take = e->start + (gdi + 1) * per_gt - pos;
        if (take > voff + n - pos)
            take = voff + n - pos;
        if (gde != 0) {
            st = meta_get(c->r, slot, BLK_GT, gdi, gde, (size_t)(g % OVA_SPARSE_GTES), &gte, c->nread, c->err);
            if (st != OVA_OK)
                return st;
        }
        if (gte == 0) {
            if (run_len == 0)
                run = pos;
            run_len += take;
            pos += take;
            continue;
        }
        st = fall_through(c, lvl, run, run_len);
        run_len = 0;
        if (st != OVA_OK)
            return st;
        if (gte == 1 && (e->sparse_flags & OVA_SPARSE_FLAG_ZERO_GRAIN)) {
            emit_zero(c, pos, take); /* a zeroed grain hides the parent */
        } else if (gte == 1) {
            return ova_err_set(c->err, OVA_E_FORMAT,
                               "%s: grain %llu has grain table entry 1 but the zeroed-grain flag is not set",
                               e->path, ULL(g));
        } else if (stream) {
            st = emit_stream_grain(c, slot, e, g, gte, within, pos, take);
        } else {
            st = ova_sparse_check_gte(e, g, gte, c->err);
            if (st == OVA_OK)
                st = emit_pread(c, slot, (uint64_t)gte * OVA_SECTOR + within, pos, take);
        }
        if (st != OVA_OK)
            return st;
        pos += take;
    }
    return fall_through(c, lvl, run, run_len);
}

/* Is [off, off+len) of extent e, open as fd, one hole? Filesystems
 * without SEEK_DATA say no. ENXIO means "no data from off to the end of
 * the file": a trailing hole of a thin file, or a file that was truncated
 * since it was described. The second is an error, or the OVA would hold
 * zeros where the disk had data. */
static ova_status is_hole(int fd, const ova_extent *e, uint64_t off, uint64_t len, bool *hole, ova_err *err)
{
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d >= 0) {
        *hole = (uint64_t)d >= off + len;
        return OVA_OK;
    }
    *hole = errno == ENXIO;
    if (*hole && shrank(fd, e, err))
        return OVA_E_IO;
    return OVA_OK;
}

static ova_status walk_level(rctx *c, int lvl, uint64_t voff, uint64_t n)
{
    const level *lv = &c->r->levels[lvl];
    uint64_t end = voff + n;
    /* a child larger than its parent: what lies past the parent's end is zeros */
    if (voff >= lv->cap)
        n = 0;
    else if (n > lv->cap - voff)
        n = lv->cap - voff;
    ova_status st = OVA_OK;
    for (uint64_t pos = voff; st == OVA_OK && pos < voff + n;) {
        size_t i = find_extent(lv->ext, lv->n, pos);
        const ova_extent *e = &lv->ext[i];
        uint64_t take = e->start + e->size - pos;
        if (take > voff + n - pos)
            take = voff + n - pos;
        if (e->type == OVA_EXTENT_ZERO) {
            emit_zero(c, pos, take);
        } else if (e->type == OVA_EXTENT_SPARSE) {
            st = walk_sparse(c, lvl, i, pos, take);
        } else {
            size_t slot = c->r->slot0[lvl] + i;
            int fd;
            st = fd_get(c->r, slot, &fd, c->err);
            if (st != OVA_OK)
                break;
            uint64_t foff = e->file_offset + (pos - e->start);
            bool hole = false;
            st = is_hole(fd, e, foff, take, &hole, c->err);
            fd_put(c->r, slot);
            if (st != OVA_OK)
                break;
            if (hole)
                emit_zero(c, pos, take);
            else
                st = emit_pread(c, slot, foff, pos, take);
        }
        pos += take;
    }
    if (st == OVA_OK && voff + n < end)
        emit_zero(c, voff + n, end - (voff + n));
    return st;
}

ova_status ova_disk_read(ova_disk_reader *r, uint64_t off, size_t len, void *buf, bool *zero,
                         uint64_t *nread, ova_err *err)
{
    const ova_disk_info *info = r->info;
    if (off > info->capacity || len > info->capacity - off)
        return ova_err_set(err, OVA_E_USAGE, "%s: read past the end of the disk", info->path);
    rctx c = { .r = r, .buf = buf, .base = off, .nread = nread, .err = err };
    ova_status st = walk_level(&c, 0, off, len);
    if (st == OVA_OK)
        st = flush_pread(&c);
    free(c.cbuf);
    free(c.gbuf);
    if (st != OVA_OK)
        return st;
    *zero = !c.any_data;
    return OVA_OK;
}
