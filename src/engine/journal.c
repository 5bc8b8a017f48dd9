/* journal.c - encoding, checking, saving and loading the resume journal
 * (journal.h). */
#include "engine/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/vmdk_stream.h"
#include "format/wire.h"
#include "ovatool/codec.h"
#include "util/io.h"

static const char MAGIC[8] = { 'O', 'V', 'A', 'J', 'R', 'N', 'L', '\n' };
#define SUM_LEN 32u /* SHA-256 of everything before it */
/* Limits on counts read from a journal, far above any real export, so a
 * hostile count cannot make the decoder allocate without bound. */
#define MAX_SOURCES 65536u
#define MAX_DISKS 4096u
#define MAX_TEXT 65536u

/* ---- encoding ---------------------------------------------------------- */

static void put_text(ova_buf *b, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    ova_wire_put32(b, (uint32_t)n);
    ova_buf_append(b, s != NULL ? s : "", n);
}

ova_status ova_journal_encode(const ova_journal *j, ova_buf *b, ova_err *err)
{
    const ova_journal_deps *d = &j->deps;
    const ova_journal_point *p = &j->pt;
    ova_buf_reset(b);
    ova_buf_append(b, MAGIC, sizeof MAGIC);
    ova_wire_put32(b, OVA_JOURNAL_VERSION);
    put_text(b, d->tool_version);
    ova_wire_put32(b, d->codec);
    ova_wire_put32(b, d->level);
    ova_wire_put32(b, d->store_incompressible);
    ova_wire_put32(b, d->sha);
    ova_wire_put32(b, d->target_hw);
    ova_wire_put64(b, (uint64_t)d->mtime);
    ova_wire_put32(b, (uint32_t)d->n_sources);
    for (size_t i = 0; i < d->n_sources; i++) {
        put_text(b, d->sources[i].path);
        ova_wire_put64(b, d->sources[i].size);
        ova_wire_put64(b, (uint64_t)d->sources[i].mtime_ns);
    }
    ova_wire_put32(b, (uint32_t)d->n_disks);
    for (size_t i = 0; i < d->n_disks; i++)
        ova_wire_put64(b, d->capacity[i]);
    ova_wire_put32(b, p->disk);
    ova_wire_put64(b, p->grain);
    ova_wire_put64(b, p->pos);
    for (size_t i = 0; i < d->n_disks; i++) {
        const ova_journal_disk *k = &p->disks[i];
        ova_wire_put64(b, k->hdr_off);
        ova_wire_put64(b, k->size);
        ova_wire_put64(b, k->data_grains);
        ova_wire_put32(b, k->digest_len);
        ova_buf_append(b, k->digest, k->digest_len);
    }
    ova_wire_put64(b, p->sector);
    ova_wire_put64(b, p->n_gd);
    for (uint64_t i = 0; i < p->n_gd; i++)
        ova_wire_put32(b, p->gd[i]);
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int sl = 0;
    if (ova_buf_failed(b))
        return ova_err_set(err, OVA_E_NOMEM, "out of memory encoding the resume journal");
    if (EVP_Digest(b->data, b->len, sum, &sl, EVP_sha256(), NULL) != 1 || sl != SUM_LEN)
        return ova_err_set(err, OVA_E_INTERNAL, "digest of the resume journal failed");
    ova_buf_append(b, sum, SUM_LEN);
    if (ova_buf_failed(b))
        return ova_err_set(err, OVA_E_NOMEM, "out of memory encoding the resume journal");
    return OVA_OK;
}

/* ---- decoding ---------------------------------------------------------- */

static char *get_text(ova_wire *r)
{
    uint32_t n = ova_wire_get32(r);
    if (n > MAX_TEXT) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = ova_wire_take(r, n);
    if (q == NULL)
        return NULL;
    if (memchr(q, '\0', n) != NULL) {
        r->bad = 1;
        return NULL;
    }
    char *s = strndup((const char *)q, n);
    if (s == NULL)
        r->bad = 2;
    return s;
}

void ova_journal_deps_clear(ova_journal_deps *d)
{
    for (size_t i = 0; d->sources != NULL && i < d->n_sources; i++)
        free(d->sources[i].path);
    free(d->sources);
    free(d->capacity);
    free(d->tool_version);
    memset(d, 0, sizeof *d);
}

void ova_journal_free(ova_journal **pj)
{
    ova_journal *j = *pj;
    if (j == NULL)
        return;
    ova_journal_deps_clear(&j->deps);
    free(j->pt.disks);
    free(j->pt.gd);
    free(j);
    *pj = NULL;
}

/* The point's own consistency, against the disks' capacities. NULL or what
 * is wrong. */
static const char *bad_point(const ova_journal *j)
{
    const ova_journal_point *p = &j->pt;
    const ova_journal_deps *d = &j->deps;
    if (p->disk > d->n_disks)
        return "its durable point names a disk beyond the export's disks";
    if (p->grain % OVA_GT_ENTRIES != 0)
        return "its durable point is not at a grain-table boundary";
    if (p->disk == d->n_disks ? p->grain != 0 : p->grain >= ova_stream_grains(d->capacity[p->disk]) && p->grain)
        return "its durable point lies beyond the end of its disk";
    if (p->n_gd != (p->grain > 0 ? p->grain / OVA_GT_ENTRIES : 0))
        return "its grain directory does not match its durable point";
    uint64_t at = 0;
    for (uint32_t i = 0; i < p->disk + (p->grain > 0 ? 1u : 0u); i++) {
        const ova_journal_disk *k = &p->disks[i];
        int begun = i == p->disk;
        if (k->hdr_off < at || k->hdr_off > p->pos || k->digest_len == 0 ||
            (!begun && (k->size > p->pos - k->hdr_off || k->data_grains > ova_stream_grains(d->capacity[i]))))
            return "its disk members overlap or lie beyond its durable length";
        at = begun ? k->hdr_off : k->hdr_off + 512 + k->size;
    }
    if (p->grain > 0 && (p->sector < OVA_STREAM_OVERHEAD || p->sector * OVA_SECTOR + p->disks[p->disk].hdr_off + 512 != p->pos))
        return "its VMDK position does not match its durable length";
    return NULL;
}

ova_status ova_journal_decode(const void *data, size_t n, const char *path, ova_journal **out, ova_err *err)
{
    *out = NULL;
    if (n < sizeof MAGIC + 4 + SUM_LEN || memcmp(data, MAGIC, sizeof MAGIC) != 0)
        return ova_err_set(err, OVA_E_FORMAT, "%s: not an ovatool resume journal", path);
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int sl = 0;
    if (EVP_Digest(data, n - SUM_LEN, sum, &sl, EVP_sha256(), NULL) != 1 || sl != SUM_LEN)
        return ova_err_set(err, OVA_E_INTERNAL, "%s: digest failed", path);
    if (memcmp(sum, (const unsigned char *)data + n - SUM_LEN, SUM_LEN) != 0)
        return ova_err_set(err, OVA_E_FORMAT, "%s: damaged resume journal (its checksum does not match)", path);
    ova_wire r = { (const unsigned char *)data + sizeof MAGIC, n - sizeof MAGIC - SUM_LEN, 0 };
    uint32_t version = ova_wire_get32(&r);
    if (version != OVA_JOURNAL_VERSION)
        return ova_err_set(err, OVA_E_FORMAT, "%s: resume journal version %u, this ovatool reads version %u",
                           path, version, OVA_JOURNAL_VERSION);
    ova_journal *j = calloc(1, sizeof *j);
    if (j == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    ova_journal_deps *d = &j->deps;
    ova_journal_point *p = &j->pt;
    d->tool_version = get_text(&r);
    d->codec = ova_wire_get32(&r);
    d->level = ova_wire_get32(&r);
    d->store_incompressible = ova_wire_get32(&r);
    d->sha = ova_wire_get32(&r);
    d->target_hw = ova_wire_get32(&r);
    d->mtime = (int64_t)ova_wire_get64(&r);
    uint32_t ns = ova_wire_get32(&r);
    if (!r.bad && (ns == 0 || ns > MAX_SOURCES))
        r.bad = 1;
    if (!r.bad && (d->sources = calloc(ns, sizeof *d->sources)) == NULL)
        r.bad = 2;
    for (uint32_t i = 0; !r.bad && i < ns; i++, d->n_sources++) {
        d->sources[i].path = get_text(&r);
        d->sources[i].size = ova_wire_get64(&r);
        d->sources[i].mtime_ns = (int64_t)ova_wire_get64(&r);
    }
    uint32_t nd = ova_wire_get32(&r);
    if (!r.bad && nd > MAX_DISKS)
        r.bad = 1;
    if (!r.bad && ((d->capacity = calloc(nd ? nd : 1, sizeof *d->capacity)) == NULL ||
                   (p->disks = calloc(nd ? nd : 1, sizeof *p->disks)) == NULL))
        r.bad = 2;
    if (!r.bad)
        d->n_disks = nd;
    for (uint32_t i = 0; !r.bad && i < nd; i++)
        d->capacity[i] = ova_wire_get64(&r);
    p->disk = ova_wire_get32(&r);
    p->grain = ova_wire_get64(&r);
    p->pos = ova_wire_get64(&r);
    for (uint32_t i = 0; !r.bad && i < nd; i++) {
        ova_journal_disk *k = &p->disks[i];
        k->hdr_off = ova_wire_get64(&r);
        k->size = ova_wire_get64(&r);
        k->data_grains = ova_wire_get64(&r);
        k->digest_len = ova_wire_get32(&r);
        const unsigned char *q = k->digest_len <= OVA_JOURNAL_DIGEST_MAX ? ova_wire_take(&r, k->digest_len) : NULL;
        if (q == NULL)
            r.bad = r.bad ? r.bad : 1;
        else
            memcpy(k->digest, q, k->digest_len);
    }
    p->sector = ova_wire_get64(&r);
    uint64_t ng = ova_wire_get64(&r);
    if (!r.bad && ng > r.left / 4)
        r.bad = 1;
    if (!r.bad && (p->gd = calloc(ng ? ng : 1, sizeof *p->gd)) == NULL)
        r.bad = 2;
    if (!r.bad)
        p->n_gd = ng;
    for (uint64_t i = 0; !r.bad && i < ng; i++)
        p->gd[i] = ova_wire_get32(&r);
    const char *why = r.bad == 2 ? NULL : r.bad ? "a length runs past its end" : r.left != 0 ? "bytes follow its end" : bad_point(j);
    if (r.bad == 2 || why != NULL) {
        ova_status st = r.bad == 2 ? ova_err_set(err, OVA_E_NOMEM, "%s: out of memory reading the journal", path)
                                   : ova_err_set(err, OVA_E_FORMAT, "%s: damaged resume journal (%s)", path, why);
        ova_journal_free(&j);
        return st;
    }
    *out = j;
    return OVA_OK;
}

/* ---- matching ---------------------------------------------------------- */

static const char *codec_text(uint32_t c)
{
    return c <= OVA_CODEC_ISAL ? ova_codec_name((ova_codec_kind)c) : "?";
}

ova_status ova_journal_match(const ova_journal_deps *s, const ova_journal_deps *now, const char *path,
                             ova_err *err)
{
#define DIFF(...) ova_err_set(err, OVA_E_USAGE, __VA_ARGS__)
    const char *tail = "; the partial output cannot be continued (run again with the same sources and options, or "
                       "start over with --overwrite)";
    if (strcmp(s->tool_version ? s->tool_version : "", now->tool_version ? now->tool_version : "") != 0)
        return DIFF("%s: written by ovatool %s, this is %s%s", path, s->tool_version, now->tool_version, tail);
    if (s->codec != now->codec || s->level != now->level)
        return DIFF("%s: the export used codec %s level %u, now %s level %u%s", path, codec_text(s->codec), s->level,
                    codec_text(now->codec), now->level, tail);
    if (s->store_incompressible != now->store_incompressible)
        return DIFF("%s: the export %s incompressible grains, now %s (--compress-all)%s", path,
                    s->store_incompressible ? "stored" : "compressed", now->store_incompressible ? "stored" : "compressed",
                    tail);
    if (s->sha != now->sha)
        return DIFF("%s: the export's manifest digest differs from --sha now%s", path, tail);
    if (s->target_hw != now->target_hw)
        return DIFF("%s: the export used --target-hw %u, now %u (0: the VM's own)%s", path, s->target_hw,
                    now->target_hw, tail);
    if (s->mtime != now->mtime)
        return DIFF("%s: the export's tar mtime was %" PRId64 ", now %" PRId64 " (SOURCE_DATE_EPOCH or the VMX's "
                    "mtime)%s", path, s->mtime, now->mtime, tail);
    if (s->n_sources != now->n_sources || s->n_disks != now->n_disks)
        return DIFF("%s: the export read %zu files for %zu disks, now %zu files for %zu disks%s", path, s->n_sources,
                    s->n_disks, now->n_sources, now->n_disks, tail);
    for (size_t i = 0; i < s->n_sources; i++) {
        const ova_journal_source *a = &s->sources[i], *b = &now->sources[i];
        const char *what = i == 0 ? "VMX" : "source disk file";
        if (strcmp(a->path, b->path) != 0)
            return DIFF("%s: the export read %s %s, now %s%s", path, what, a->path, b->path, tail);
        if (a->size != b->size)
            return DIFF("%s: the %s %s changed: %" PRIu64 " bytes, was %" PRIu64 "%s", path, what, b->path, b->size,
                        a->size, tail);
        if (a->mtime_ns != b->mtime_ns)
            return DIFF("%s: the %s %s changed: modified since the export began%s", path, what, b->path, tail);
    }
    for (size_t i = 0; i < s->n_disks; i++)
        if (s->capacity[i] != now->capacity[i])
            return DIFF("%s: disk %zu's capacity changed (%" PRIu64 " bytes, was %" PRIu64 ")%s", path, i + 1,
                        now->capacity[i], s->capacity[i], tail);
#undef DIFF
    return OVA_OK;
}

ova_status ova_journal_stat_sources(ova_journal_deps *d, const char *const *paths, size_t n, ova_err *err)
{
    d->sources = calloc(n ? n : 1, sizeof *d->sources);
    if (d->sources == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++, d->n_sources++) {
        struct stat sb;
        if (stat(paths[i], &sb) != 0)
            return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot stat", paths[i]);
        /* by the file's real name: a job requeued from another folder reads the same files */
        char *real = realpath(paths[i], NULL);
        d->sources[i].path = real != NULL ? real : strdup(paths[i]);
        if (d->sources[i].path == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "out of memory");
        d->sources[i].size = (uint64_t)sb.st_size;
        d->sources[i].mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    }
    return OVA_OK;
}

/* ---- files ------------------------------------------------------------- */

ova_status ova_journal_save(const char *path, const ova_journal *j, ova_buf *b, ova_err *err)
{
    ova_status st = ova_journal_encode(j, b, err);
    if (st != OVA_OK)
        return st;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (tmp == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot create", tmp);
        goto out;
    }
    if ((st = ova_pwrite_exact(fd, b->data, b->len, 0, tmp, err)) != OVA_OK)
        goto out;
    if (fsync(fd) != 0) {
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: fsync failed", tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot rename %s into place", path, tmp);
        goto out;
    }
    st = ova_fsync_folder(path, err);
out:
    if (fd >= 0)
        close(fd);
    if (st != OVA_OK)
        unlink(tmp);
    free(tmp);
    return st;
}

ova_status ova_journal_load(const char *path, ova_journal **out, ova_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot open the resume journal", path);
    struct stat sb;
    ova_status st = OVA_OK;
    unsigned char *data = NULL;
    if (fstat(fd, &sb) != 0) {
        st = ova_err_errno(err, OVA_E_IO, errno, "%s: cannot stat", path);
    } else if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)64 << 20) {
        st = ova_err_set(err, OVA_E_FORMAT, "%s: not an ovatool resume journal (%s)", path,
                         S_ISREG(sb.st_mode) ? "larger than any journal" : "not a regular file");
    } else if ((data = malloc((size_t)sb.st_size + 1)) == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
    } else if ((st = ova_pread_exact(fd, data, (size_t)sb.st_size, 0, path, "resume journal", err)) == OVA_OK) {
        st = ova_journal_decode(data, (size_t)sb.st_size, path, out, err);
    }
    free(data);
    close(fd);
    return st;
}
