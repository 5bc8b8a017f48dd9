/* describe.c - describing a source disk: its descriptor (a text file or
 * the one embedded in a sparse extent), its extents with their files'
 * sizes and identities, and its snapshot chain, followed from the newest
 * delta through parentFileNameHint with every parentCID checked. The
 * allocated-bytes count (scan.c) completes the description. */
#include "ovatool/disk.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk_internal.h"
#include "disk/sparse.h"
#include "format/vmdk_stream.h"
#include "ovatool/limits.h"
#include "util/io.h"
#include "util/log.h"

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
    free(d->data_runs);
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
 * sparse file (*embedded set). A sparse extent without one (part of a split
 * disk) and ESXi redo logs are refused with a message saying what to open
 * instead. */
static ova_status read_descriptor(const char *path, ova_descriptor **out, bool *embedded, ova_err *err)
{
    *embedded = false;
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
        *embedded = true;
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

/* The extent file's size and identity as described: the reader checks
 * them again whenever it opens the file (a replaced or shrunk source fails
 * the export instead of exporting other bytes). */
static void record_file(ova_extent *e, const struct stat *sb)
{
    e->file_size = (uint64_t)sb->st_size;
    e->dev = (uint64_t)sb->st_dev;
    e->ino = (uint64_t)sb->st_ino;
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
    record_file(e, &sb);
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
    } else if (!inside) {
        ova_logf(c->o->log, c->o->log_ctx, 1,
                 "%s%s%s %s resolves to %s, outside the VM's folder %s (--confine would refuse it)", by, sep, role,
                 path, real, c->root);
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
    bool embedded = false;
    ova_status st = read_descriptor(path, &desc, &embedded, err);
    if (st != OVA_OK)
        return st;
    /* Raw disks: a host's physical disk or its partitions (Workstation's
     * fullDevice and partitionedDevice, ESXi's RDMs). Their extents name
     * devices; the data is the host's, not the VM's to package. */
    static const char *const raw_types[] = { "fullDevice", "partitionedDevice", "vmfsRaw", "vmfsRawDeviceMap",
                                             "vmfsPassthroughRawDeviceMap" };
    for (size_t i = 0; i < sizeof raw_types / sizeof raw_types[0]; i++)
        if (strcasecmp(desc->create_type, raw_types[i]) == 0) {
            st = ova_err_set(err, OVA_E_UNSUPPORTED, "%s: raw disk (createType \"%s\") cannot be exported", path,
                             desc->create_type);
            ova_descriptor_free(&desc);
            return st;
        }
    /* The data of an encrypted disk only opens with the VM's password. */
    if (desc->encryption_key != NULL) {
        st = ova_err_set(err, OVA_E_UNSUPPORTED,
                         "%s: the disk is encrypted (%s is set); remove the encryption in VMware before exporting",
                         path, desc->encryption_key);
        ova_descriptor_free(&desc);
        return st;
    }
    /* A single-file sparse disk (monolithicSparse, streamOptimized) carries
     * its descriptor inside itself, and its one SPARSE extent is that file,
     * whatever name the extent line gives: open-vmdk's vmdk-convert writes
     * "disk", and a renamed file keeps its old name there. qemu and VMware
     * read such a file as itself too. */
    bool self_extent = embedded && desc->n_extents == 1 && desc->extents[0].type == OVA_EXTENT_SPARSE;
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
        e->path = self_extent ? strdup(path) : resolve(path, x->file_name);
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
        record_file(e, &sb);
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
    while (ova_descriptor_has_parent(desc)) {
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
    st = ova_disk_scan_allocated(d, err);
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

