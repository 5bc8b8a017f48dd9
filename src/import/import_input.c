/* import_input.c - the input's files and the manifest's digests
 * (import_input.h). The tar walk and the manifest line parser are
 * `validate`'s (src/validate), so both commands read an OVA the same way. */
#include "import/import_input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovatool/validate.h"
#include "util/io.h"
#include "validate/validate_internal.h"
#include "util/text.h"

static ova_status add_member(ova_input *in, const char *name, const char *path, int fd, bool own, uint64_t off,
                             uint64_t size, ova_err *err)
{
    ova_in_member *m = realloc(in->m, (in->n + 1) * sizeof *m);
    if (m == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", in->label);
    in->m = m;
    memset(&m[in->n], 0, sizeof m[in->n]);
    m[in->n].fd = -1;
    in->n++;
    if ((m[in->n - 1].name = strdup(name)) == NULL || (m[in->n - 1].path = strdup(path)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", in->label);
    m[in->n - 1].fd = fd;
    m[in->n - 1].own_fd = own;
    m[in->n - 1].off = off;
    m[in->n - 1].size = size;
    return OVA_OK;
}

static ova_status open_ova(const char *path, ova_input *in, ova_err *err)
{
    struct stat sb;
    ova_status st = ova_open_source(path, NULL, &in->fd, &sb, err);
    if (st != OVA_OK)
        return st;
    (void)posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    in->is_ova = true;
    in->total = (uint64_t)sb.st_size;
    ova_vmember *vm = NULL;
    size_t nv = 0;
    ova_vlist probs = { 0 };
    st = ova_vtar_walk(in->fd, in->total, in->label, &vm, &nv, &probs, err);
    if (st == OVA_OK && probs.count > 0) {
        size_t pos = 0, len = 0;
        const char *line = ova_vlist_next(&probs, &pos, &len);
        st = ova_err_set(err, OVA_E_FORMAT, "%s: not imported: %.*s%s", path, (int)len, line ? line : "",
                         probs.count > 1 ? " (and more: see ovatool validate)" : "");
    }
    for (size_t i = 0; i < nv && st == OVA_OK; i++)
        st = add_member(in, vm[i].name, path, in->fd, false, vm[i].offset, vm[i].size, err);
    ova_vlist_free(&probs);
    in->vm = vm; /* the member reader reads chunked and gzip files by it */
    in->nv = nv;
    if (st != OVA_OK)
        return st;
    for (size_t i = 0; i < in->n; i++) {
        if (ova_ends_with_ci(in->m[i].name, ".ovf") && in->ovf < 0)
            in->ovf = (ssize_t)i;
        else if (ova_ends_with_ci(in->m[i].name, ".ovf"))
            return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: more than one .ovf descriptor (%s, %s)", path,
                               in->m[in->ovf].name, in->m[i].name);
    }
    if (in->ovf < 0)
        return ova_err_set(err, OVA_E_FORMAT, "%s: no .ovf descriptor in the archive", path);
    char want[300];
    snprintf(want, sizeof want, "%.*s.mf", (int)(strlen(in->m[in->ovf].name) - 4), in->m[in->ovf].name);
    for (size_t i = 0; i < in->n; i++)
        if (strcmp(in->m[i].name, want) == 0)
            in->mf = (ssize_t)i;
    return OVA_OK;
}

static ova_status open_file_member(ova_input *in, const char *name, bool required, ssize_t *index, ova_err *err)
{
    size_t n = strlen(in->dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (path == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", name);
    snprintf(path, n, "%s/%s", in->dir, name);
    *index = -1;
    struct stat sb;
    if (!required && stat(path, &sb) != 0 && errno == ENOENT) {
        free(path);
        return OVA_OK;
    }
    int fd;
    ova_status st = ova_open_source(path, NULL, &fd, &sb, err);
    if (st != OVA_OK) {
        free(path);
        return st;
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    st = add_member(in, name, path, fd, true, 0, (uint64_t)sb.st_size, err);
    free(path);
    if (st != OVA_OK) {
        if (in->n > 0 && in->m[in->n - 1].fd != fd)
            close(fd);
        return st;
    }
    in->total += (uint64_t)sb.st_size;
    *index = (ssize_t)in->n - 1;
    return OVA_OK;
}

ova_status ova_input_open(const char *path, ova_input *in, ova_err *err)
{
    memset(in, 0, sizeof *in);
    in->fd = -1;
    in->ovf = in->mf = -1;
    const char *slash = strrchr(path, '/');
    if ((in->label = strdup(slash && slash[1] ? slash + 1 : path)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    if (!ova_ends_with_ci(path, ".ovf"))
        return open_ova(path, in, err);
    in->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (in->dir == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    if (in->dir[0] == '\0') { /* "/vm.ovf" */
        free(in->dir);
        if ((in->dir = strdup("/")) == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    }
    ova_status st = open_file_member(in, in->label, true, &in->ovf, err);
    if (st != OVA_OK)
        return st;
    char mf[300];
    snprintf(mf, sizeof mf, "%.*s.mf", (int)(strlen(in->label) - 4), in->label);
    return open_file_member(in, mf, false, &in->mf, err);
}

ova_status ova_input_file(ova_input *in, const char *href, size_t *index, ova_err *err)
{
    for (size_t i = 0; i < in->n; i++)
        if (strcmp(in->m[i].name, href) == 0) {
            *index = i;
            return OVA_OK;
        }
    if (in->is_ova)
        return ova_err_set(err, OVA_E_FORMAT, "%s: the OVF names the file %s, which is not a member of the archive",
                           in->label, href);
    if (href[0] == '\0' || strchr(href, '/') != NULL || strcmp(href, "..") == 0 || strcmp(href, ".") == 0)
        return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: file reference \"%s\" is not a plain file name beside the OVF",
                           in->label, href);
    ssize_t i;
    ova_status st = open_file_member(in, href, true, &i, err);
    if (st == OVA_OK)
        *index = (size_t)i;
    return st;
}

ova_status ova_input_add_whole(ova_input *in, const char *href, size_t *index, ova_err *err)
{
    ova_in_whole *w = realloc(in->whole, (in->n_whole + 1) * sizeof *w);
    if (w == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", href);
    in->whole = w;
    memset(&w[in->n_whole], 0, sizeof *w);
    if ((w[in->n_whole].name = strdup(href)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", href);
    *index = in->n_whole++;
    return OVA_OK;
}

static ova_in_whole *whole_named(ova_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_whole; i++)
        if (strcmp(in->whole[i].name, name) == 0)
            return &in->whole[i];
    return NULL;
}

ova_status ova_input_manifest(ova_input *in, size_t *lines, ova_err *err)
{
    *lines = 0;
    if (in->mf < 0)
        return OVA_OK;
    /* in->m may grow below (a folder's files are opened as lines name
     * them): keep the manifest's own fields, not a pointer into it */
    const ova_in_member mfc = in->m[in->mf], *mf = &mfc;
    if (mf->size > OVA_VALIDATE_MAX_MF_BYTES)
        return ova_err_set(err, OVA_E_FORMAT, "%s: manifest of %llu bytes is larger than the limit of %llu bytes",
                           mf->name, (unsigned long long)mf->size, (unsigned long long)OVA_VALIDATE_MAX_MF_BYTES);
    char *text = malloc((size_t)mf->size + 1);
    if (text == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", mf->name);
    ova_status st = ova_pread_exact(mf->fd, text, (size_t)mf->size, mf->off, mf->name, "the manifest", err);
    size_t len = (size_t)mf->size, lineno = 0;
    for (size_t at = 0; st == OVA_OK && at < len;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - line) : len - at;
        at += ll + (nl != NULL);
        lineno++;
        if (ll > 0 && line[ll - 1] == '\r')
            ll--; /* a CRLF manifest still says what the digests are */
        if (ll == 0)
            continue;
        ova_sha alg;
        char name[OVA_VNAME_MAX + 1];
        unsigned char dg[64];
        const char *why = NULL;
        if (ll > OVA_VALIDATE_MAX_MF_LINE || !ova_manifest_parse_line(line, ll, &alg, name, sizeof name, dg, &why)) {
            st = ova_err_set(err, OVA_E_FORMAT, "%s: line %zu: %s", mf->name, lineno, why ? why : "too long");
            break;
        }
        ova_in_whole *w = whole_named(in, name);
        if (w != NULL) { /* a chunked file: the chunks joined */
            w->listed = true;
            w->alg = alg;
            memcpy(w->digest, dg, sizeof dg);
            (*lines)++;
            continue;
        }
        size_t i;
        if ((st = ova_input_file(in, name, &i, err)) != OVA_OK)
            break;
        in->m[i].listed = true;
        in->m[i].alg = alg;
        memcpy(in->m[i].digest, dg, sizeof dg);
        (*lines)++;
    }
    free(text);
    return st;
}

void ova_input_close(ova_input *in)
{
    for (size_t i = 0; i < in->n; i++) {
        if (in->m[i].own_fd && in->m[i].fd >= 0)
            close(in->m[i].fd);
        free(in->m[i].name);
        free(in->m[i].path);
    }
    if (in->fd >= 0)
        close(in->fd);
    free(in->m);
    free(in->vm);
    for (size_t i = 0; i < in->n_whole; i++)
        free(in->whole[i].name);
    free(in->whole);
    free(in->label);
    free(in->dir);
    memset(in, 0, sizeof *in);
    in->fd = -1;
}
