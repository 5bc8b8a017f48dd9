/* validate.c - `ovatool validate` driver: the result, member order, the
 * manifest, and one streaming pass per member that hashes it and walks its
 * VMDK structure on the same read (docs/formats.md 5.1, 5.3). */
#include "ovatool/validate.h"
#include "validate/validate_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "format/sparse_header.h"
#include "util/grow.h"
#include "util/io.h"
#include "util/text.h"

/* Read size of the streaming pass. */
#define CHUNK ((size_t)1 << 20)
/* Seconds between progress lines while a large member is read. */
#define PROGRESS_SECS 10.0

void ova_validation_init(ova_validation *v)
{
    memset(v, 0, sizeof *v);
}

void ova_validation_free(ova_validation *v)
{
    ova_vlist_free(&v->problems);
    ova_vlist_free(&v->risks);
    ova_vlist_free(&v->layout_notes);
    ova_buf_free(&v->notes);
    free(v->disks);
    memset(v, 0, sizeof *v);
}

bool ova_validation_ok(const ova_validation *v) { return v->problems.count == 0; }

/* ---- manifest lines ---- */

int ova_manifest_parse_line(const char *line, size_t len, ova_sha *alg, char *name, size_t name_cap,
                            unsigned char digest[64], const char **why)
{
    if (memchr(line, '\0', len) != NULL) {
        *why = "contains a NUL byte";
        return 0;
    }
    if (len > 0 && line[len - 1] == '\r') {
        *why = "ends with a carriage return (CRLF line end); importers expect LF";
        return 0;
    }
    const char *open = memchr(line, '(', len);
    if (open == NULL) {
        *why = "not of the form ALG(name)= hex";
        return 0;
    }
    size_t lab = (size_t)(open - line);
    if (lab > 0 && line[lab - 1] == ' ') {
        /* the BSD/`sha256sum --tag` spelling ESXi rejects */
        *why = "blank between the algorithm and '(' (ESXi rejects `ALG (name) = hex`)";
        return 0;
    }
    ova_sha found;
    if (!ova_sha_from_label(line, lab, &found)) {
        *why = "unknown digest algorithm: must be SHA1, SHA256 or SHA512, spelled exactly so";
        return 0;
    }
    /* the name may hold ')': the last ")= " ends it (hex has none) */
    const char *close = NULL;
    for (const char *p = line + len; p > open + 1; p--) {
        if (p[-1] == ')' && (size_t)(line + len - p) >= 2 && p[0] == '=' && p[1] == ' ') {
            close = p - 1;
            break;
        }
    }
    if (close == NULL) {
        const char *rp = NULL;
        for (const char *p = line + len; p > open + 1; p--)
            if (p[-1] == ')') {
                rp = p - 1;
                break;
            }
        if (rp != NULL && (size_t)(line + len - rp) >= 2 && rp[1] == ' ')
            *why = "blank between ')' and '=' (must be `ALG(name)= hex`)";
        else
            *why = "missing \")= \" after the file name";
        return 0;
    }
    size_t nlen = (size_t)(close - open - 1);
    if (nlen == 0) {
        *why = "empty file name";
        return 0;
    }
    if (nlen >= name_cap) {
        *why = "file name too long";
        return 0;
    }
    const char *hex = close + 3;
    size_t hlen = (size_t)(line + len - hex);
    size_t dlen = ova_sha_len(found);
    if (hlen > 0 && hex[0] == ' ') {
        *why = "more than one blank after '='";
        return 0;
    }
    if (hlen != 2 * dlen) {
        *why = "digest length does not match the algorithm";
        return 0;
    }
    for (size_t i = 0; i < dlen; i++) {
        int hi = ova_hex_digit(hex[2 * i]), lo = ova_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            *why = "digest is not hexadecimal";
            return 0;
        }
        digest[i] = (unsigned char)(hi << 4 | lo);
    }
    memcpy(name, open + 1, nlen);
    name[nlen] = '\0';
    *alg = found;
    return 1;
}

/* ---- the OVA ---- */

typedef struct mf_entry {
    bool listed;
    ova_sha alg;
    unsigned char digest[64];
} mf_entry;

/* A manifest line naming a chunked file as a whole (NAME when the archive
 * holds NAME.000000000): DSP0243 allows it beside the lines of the chunks,
 * and it must match the chunks joined. Checked when the file is read; a
 * line no chunked file of the OVF claims is reported as naming no member. */
typedef struct mf_whole {
    char name[OVA_VNAME_MAX + 1];  /* as the manifest parser fills it */
    size_t lineno;
    mf_entry ent;
    bool used;
} mf_whole;

typedef struct mf_wholes {
    mf_whole *w;
    size_t n, cap;
} mf_wholes;

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

static void note(ova_validation *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(ova_validation *v, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ova_buf_puts(&v->notes, line);
    ova_buf_putc(&v->notes, '\n');
}

static void log_line(const ova_validate_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_line(const ova_validate_opts *o, const char *fmt, ...)
{
    if (o->log == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(o->log_ctx, line);
}

static ssize_t find_member(const ova_vmember *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Member order (docs/formats.md 5.1): .ovf first, NAME.mf second, an optional
 * NAME.cert third, then the files. Returns the .ovf and .mf indexes used
 * for the content checks (-1 when absent). */
static void check_order(const ova_vmember *m, size_t n, const char *label, ova_validation *v, ssize_t *ovf,
                        ssize_t *mf)
{
    ova_vlist *probs = &v->problems;
    *ovf = *mf = -1;
    for (size_t i = 0; i < n; i++) {
        if (ova_ends_with_ci(m[i].name, ".ovf")) {
            if (*ovf < 0)
                *ovf = (ssize_t)i;
            else
                ova_vlist_add(probs, m[i].name, "a second .ovf descriptor in the archive");
        }
    }
    if (n == 0)
        return;
    if (*ovf < 0)
        ova_vlist_add(probs, label, "no .ovf descriptor in the archive");
    else if (*ovf != 0)
        ova_vlist_add(probs, m[*ovf].name, "the .ovf descriptor must be the first member, it is member %zd "
                      "(after %s)", *ovf + 1, m[0].name);

    /* the manifest shares the descriptor's base name */
    char want[OVA_VNAME_MAX + 8] = "";
    if (*ovf >= 0) {
        size_t bl = strlen(m[*ovf].name) - 4;
        snprintf(want, sizeof want, "%.*s.mf", (int)bl, m[*ovf].name);
        *mf = find_member(m, n, want);
    }
    for (size_t i = 0; i < n; i++) {
        if (!ova_ends_with_ci(m[i].name, ".mf"))
            continue;
        if (*mf < 0)
            *mf = (ssize_t)i;
        if ((ssize_t)i != *mf)
            ova_vlist_add(probs, m[i].name, "a second manifest in the archive");
    }
    if (*mf < 0) {
        ova_vlist_add(probs, label, "no manifest (.mf) in the archive");
    } else {
        if (*ovf >= 0 && strcmp(m[*mf].name, want) != 0)
            ova_vlist_add(probs, m[*mf].name, "the manifest must be named %s, after the descriptor", want);
        if (*mf != 1 && (size_t)*mf == n - 1 && *ovf == 0)
            ova_vlist_add(&v->layout_notes, m[*mf].name, "the manifest is the last member, not the second: DSP0243 "
                          "allows either place (docs/formats.md 5.1), and a writer that hashes while it streams "
                          "must put it last");
        else if (*mf != 1)
            ova_vlist_add(probs, m[*mf].name, "the manifest must be the second member (or the last), it is member %zd",
                          *mf + 1);
    }
    for (size_t i = 2; i < n; i++) {
        if ((ssize_t)i == *ovf || (ssize_t)i == *mf)
            continue;
        if (ova_ends_with_ci(m[i].name, ".cert") && (ssize_t)i != *mf + 1)
            ova_vlist_add(probs, m[i].name, "the certificate must directly follow the manifest");
    }
    for (size_t i = 0; i < n; i++)
        if (ova_ends_with_ci(m[i].name, ".cert"))
            ova_vlist_add(&v->layout_notes, m[i].name, "a certificate (the producer's signature of the manifest): "
                          "present, not verified; ovatool checks the manifest digests, not who signed them");
}

/* Read and check the manifest; fill ent[] (one per member). */
static ova_status check_manifest(int fd, const ova_vmember *m, size_t n, size_t mf, mf_entry *ent,
                                 mf_wholes *wholes, ova_vlist *probs, ova_err *err)
{
    const char *mfn = m[mf].name;
    if (m[mf].truncated)
        return OVA_OK; /* reported by the tar walk */
    if (m[mf].size > OVA_VALIDATE_MAX_MF_BYTES) {
        ova_vlist_add(probs, mfn, "manifest of %llu bytes is larger than the limit of %llu bytes; not checked",
                      (unsigned long long)m[mf].size, (unsigned long long)OVA_VALIDATE_MAX_MF_BYTES);
        return OVA_OK;
    }
    if (m[mf].size == 0) {
        ova_vlist_add(probs, mfn, "manifest is empty");
        return OVA_OK;
    }
    char *text = malloc((size_t)m[mf].size);
    ova_vkey *names = ova_vmember_index(m, n);
    if (text == NULL || names == NULL) {
        free(text);
        free(names);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", mfn);
    }
    ova_status st = ova_vpread(fd, text, (size_t)m[mf].size, m[mf].offset, mfn, err);
    if (st != OVA_OK) {
        free(text);
        free(names);
        return st;
    }
    size_t len = (size_t)m[mf].size, lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - line) : len - at;
        at += ll + (nl != NULL);
        lineno++;
        if (lineno > OVA_VALIDATE_MAX_MF_LINES) {
            ova_vlist_add(probs, mfn, "more than %u lines (the limit); the rest is not checked",
                          OVA_VALIDATE_MAX_MF_LINES);
            break;
        }
        if (ll == 0) {
            ova_vlist_add(probs, mfn, "line %zu is empty", lineno);
            continue;
        }
        if (ll > OVA_VALIDATE_MAX_MF_LINE) {
            ova_vlist_add(probs, mfn, "line %zu is %zu bytes long, over the limit of %u; not parsed", lineno, ll,
                          OVA_VALIDATE_MAX_MF_LINE);
            continue;
        }
        ova_sha alg;
        char name[OVA_VNAME_MAX + 1];
        unsigned char dg[64];
        const char *why = NULL;
        if (!ova_manifest_parse_line(line, ll, &alg, name, sizeof name, dg, &why)) {
            ova_vlist_add(probs, mfn, "line %zu: %s", lineno, why);
            continue;
        }
        ssize_t i = ova_vkeys_find(names, n, name);
        char chunk0[OVA_VNAME_MAX + OVA_CHUNK_SUFFIX_LEN + 1];
        snprintf(chunk0, sizeof chunk0, "%s.000000000", name);
        if (i < 0 && ova_vkeys_find(names, n, chunk0) >= 0) {
            bool again = false;
            for (size_t k = 0; k < wholes->n && !again; k++)
                again = strcmp(wholes->w[k].name, name) == 0;
            if (again) {
                ova_vlist_add(probs, mfn, "line %zu lists %s a second time", lineno, name);
                continue;
            }
            mf_whole *nw = ova_grow(wholes->w, &wholes->cap, wholes->n + 1, sizeof *nw);
            if (nw == NULL) {
                free(text);
                free(names);
                return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", mfn);
            }
            wholes->w = nw;
            mf_whole *wh = &nw[wholes->n++];
            memset(wh, 0, sizeof *wh);
            memcpy(wh->name, name, sizeof wh->name);
            wh->lineno = lineno;
            wh->ent.listed = true;
            wh->ent.alg = alg;
            memcpy(wh->ent.digest, dg, sizeof dg);
        } else if (i < 0) {
            ova_vlist_add(probs, mfn, "line %zu names \"%s\", which is not a member of the archive", lineno, name);
        } else if ((size_t)i == mf) {
            ova_vlist_add(probs, mfn, "line %zu lists the manifest itself", lineno);
        } else if (ent[i].listed) {
            ova_vlist_add(probs, mfn, "line %zu lists %s a second time", lineno, name);
        } else {
            ent[i].listed = true;
            ent[i].alg = alg;
            memcpy(ent[i].digest, dg, sizeof dg);
        }
    }
    free(text);
    free(names);
    for (size_t i = 0; i < n; i++)
        if (i != mf && !ent[i].listed && !ova_ends_with_ci(m[i].name, ".cert"))
            ova_vlist_add(probs, m[i].name, "not listed in the manifest %s", mfn);
    return OVA_OK;
}

/* the manifest parser only yields the table's algorithms; any other
 * value is hashed as SHA-512, as before the table */
static const EVP_MD *evp_of(ova_sha alg)
{
    const EVP_MD *md = ova_sha_md(alg);
    return md != NULL ? md : EVP_sha512();
}

static void hex_of(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* What the walk found that is neither ovftool's layout nor wrong: notes
 * for layouts importers read, risks where an importer is reported to balk
 * (docs/formats.md 3.12 has the evidence). */
static void judge_layout(const char *name, const ova_vmdk_facts *f, ova_validation *v)
{
    if (!f->header_ok)
        return;
    if (f->gd_in_header)
        ova_vlist_add(&v->layout_notes, name,
                      "grain directory and tables before the grains (header gdOffset %llu), no footer: the stream "
                      "layout of open-vmdk's vmdk-convert (VMware ships its Photon OS appliances so, and ESXi "
                      "imports them) and of qemu-img; qemu and open-vmdk read it too. ovftool writes the tables "
                      "after the grains instead (docs/formats.md 3.12)", (unsigned long long)f->gd_sector);
    if ((f->flags & OVA_SPARSE_FLAG_RGD) || f->rgd_offset != 0)
        ova_vlist_add(&v->layout_notes, name,
                      "redundant grain directory (flags 0x%08x, rgdOffset %llu) in a stream, where the format "
                      "leaves it out: qemu-img writes one; streams with it are imported by ESXi/vSphere (Fedora "
                      "CoreOS, Home Assistant OS, Garden Linux ship them) and no rejection is reported",
                      f->flags, (unsigned long long)f->rgd_offset);
    if (f->unchecked_gts > 0)
        ova_vlist_add(&v->layout_notes, name,
                      "%llu grain tables lie before the grain directory, where no known writer puts them: this "
                      "one-pass check could not compare them with the grains, and --deep skips the disk",
                      (unsigned long long)f->unchecked_gts);
    if (f->zero_tail > 0)
        ova_validation_risk(v, OVA_IMPORTER_ESXI | OVA_IMPORTER_WORKSTATION, name,
                            "%llu zero bytes follow the end-of-stream marker at sector %llu (qemu-img's padding "
                            "after the last grain; VMware's tools end the file at that sector). Workstation and "
                            "ovftool have refused OVAs with such qemu-img disks as \"SHA digest ... does not match "
                            "manifest\" although the digest was right (home-assistant/operating-system#2121, "
                            "coreos/coreos-assembler#1156, osbuild/image-builder#431; suspected, not confirmed, "
                            "cause), while ESXi's own import took the same OVA. Fix: cut the file after the "
                            "end-of-stream sector, then redo ovf:size and the manifest",
                            (unsigned long long)f->zero_tail, (unsigned long long)f->eos_sector);
}

/* One read of a member: digest and VMDK walk together, so a 500 GB disk
 * is read once. */
static double now_secs(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The manifest digest of one member, fed as its bytes are read. */
typedef struct member_digest {
    EVP_MD_CTX *md;            /* NULL: the member is not listed */
    const ova_vmember *mb;     /* its name words the messages */
    const mf_entry *ent;
    bool whole;                /* a chunked file's digest over its chunks joined */
} member_digest;

static ova_status digest_begin(member_digest *d, const ova_vmember *mb, const mf_entry *ent, ova_err *err)
{
    d->mb = mb;
    d->ent = ent;
    d->md = NULL;
    d->whole = false;
    if (!ent->listed)
        return OVA_OK;
    d->md = EVP_MD_CTX_new();
    if (d->md == NULL || EVP_DigestInit_ex(d->md, evp_of(ent->alg), NULL) != 1)
        return ova_err_set(err, OVA_E_NOMEM, "%s: cannot set up the %s digest", mb->name, ova_sha_label(ent->alg));
    return OVA_OK;
}

static ova_status digest_update(member_digest *d, const void *data, size_t n, ova_err *err)
{
    if (d->md != NULL && EVP_DigestUpdate(d->md, data, n) != 1)
        return ova_err_set(err, OVA_E_NOMEM, "%s: digest update failed", d->mb->name);
    return OVA_OK;
}

/* Compare with the manifest (a mismatch is a problem) and free. */
static ova_status digest_end(member_digest *d, ova_validation *v, ova_err *err)
{
    ova_status st = OVA_OK;
    if (d->md != NULL) {
        unsigned char dg[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        if (EVP_DigestFinal_ex(d->md, dg, &dl) != 1 || dl != ova_sha_len(d->ent->alg)) {
            st = ova_err_set(err, OVA_E_NOMEM, "%s: digest computation failed", d->mb->name);
        } else if (memcmp(dg, d->ent->digest, dl) != 0) {
            char want[129], got[129];
            hex_of(d->ent->digest, dl, want);
            hex_of(dg, dl, got);
            ova_vlist_add(&v->problems, d->mb->name, "%s digest %sdoes not match the manifest (manifest %s, %s %s)",
                          ova_sha_label(d->ent->alg), d->whole ? "of the chunks joined " : "", want,
                          d->whole ? "file" : "member", got);
        }
    }
    EVP_MD_CTX_free(d->md);
    d->md = NULL;
    return st;
}

/* What the deep pass needs of a disk the walk finished. */
static void add_disk(ova_validation *v, const char *name, uint64_t offset, uint64_t size, const ova_vmdk_facts *f)
{
    ova_vdisk *d = &v->disks[v->n_disks++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->offset = offset;
    d->size = size;
    d->capacity = f->capacity;
    d->gd_sector = f->gd_sector;
    d->n_gds = f->n_gds;
    d->grains = f->grains;
    d->sound = f->sound;
    v->grains += f->grains;
    judge_layout(name, f, v);
}

static void progress(const ova_validate_opts *o, double *last, const char *name, uint64_t done, uint64_t size)
{
    /* a line now and then: a 500 GB disk takes minutes to read */
    if (o->log != NULL && done < size && now_secs() - *last >= PROGRESS_SECS) {
        *last = now_secs();
        log_line(o, "%s: %.1f of %.1f GiB read", name, (double)done / 1073741824.0, (double)size / 1073741824.0);
    }
}

static ova_status stream_member(int fd, const ova_vmember *mb, const mf_entry *ent, bool is_vmdk,
                                unsigned char *buf, const ova_validate_opts *o, ova_validation *v, ova_err *err)
{
    double last = now_secs();
    member_digest dg = { 0 };
    ova_vmdk_walk *w = NULL;
    ova_status st = digest_begin(&dg, mb, ent, err);
    if (st != OVA_OK)
        goto out;
    if (is_vmdk && (st = ova_vmdk_walk_new(mb->name, mb->size, &v->problems, &w, err)) != OVA_OK)
        goto out;
    for (uint64_t done = 0; done < mb->size;) {
        size_t n = mb->size - done < CHUNK ? (size_t)(mb->size - done) : CHUNK;
        if ((st = ova_vpread(fd, buf, n, mb->offset + done, mb->name, err)) != OVA_OK)
            goto out;
        if ((st = digest_update(&dg, buf, n, err)) != OVA_OK)
            goto out;
        if (w != NULL)
            ova_vmdk_walk_feed(w, buf, n);
        done += n;
        progress(o, &last, mb->name, done, mb->size);
    }
    if ((st = digest_end(&dg, v, err)) != OVA_OK)
        goto out;
    if (w != NULL) {
        ova_vmdk_facts f;
        if ((st = ova_vmdk_walk_finish(w, &f, err)) != OVA_OK)
            goto out;
        add_disk(v, mb->name, mb->offset, mb->size, &f);
    }
out:
    EVP_MD_CTX_free(dg.md);
    ova_vmdk_walk_free(&w);
    return st;
}

/* ---- files stored in chunks or gzip (DSP0243 ovf:chunkSize, ovf:compression) ---- */

/* The tap of the member reader: every member's stored bytes go to its own
 * manifest digest, each checked when the next member starts. */
typedef struct file_tap {
    const ova_vmember *m;
    const mf_entry *ent;
    ova_validation *v;
    member_digest dg;
    size_t cur;                /* member being hashed; SIZE_MAX before the first */
    member_digest whole;       /* the manifest's line for the whole file, if any */
} file_tap;

static ova_status tap_bytes(void *ctx, size_t member, const void *data, size_t n, ova_err *err)
{
    file_tap *t = ctx;
    ova_status st;
    if (member != t->cur) {
        if (t->cur != SIZE_MAX && (st = digest_end(&t->dg, t->v, err)) != OVA_OK)
            return st;
        t->cur = member;
        if ((st = digest_begin(&t->dg, &t->m[member], &t->ent[member], err)) != OVA_OK)
            return st;
    }
    if ((st = digest_update(&t->whole, data, n, err)) != OVA_OK)
        return st;
    return digest_update(&t->dg, data, n, err);
}

static bool is_disk_file(const ova_vfile *f)
{
    return ova_ends_with_ci(f->href, ".vmdk") || (f->gzip && ova_ends_with_ci(f->href, ".vmdk.gz"));
}

/* One read of a chunked or gzip file: a digest per member on the stored
 * bytes and, for a disk, the VMDK walk on the file's own bytes. What is
 * wrong with the storage (a corrupt or cut gzip stream) is a problem; the
 * members are still read to the end for their digests. */
static ova_status stream_file(int fd, const ova_vmember *m, size_t n, const mf_entry *ent, mf_wholes *wholes,
                              const ova_vfile *vf, unsigned char *buf, const ova_validate_opts *o, ova_validation *v,
                              ova_err *err)
{
    double last = now_secs();
    ova_ovf_file spec = { vf->href, vf->chunk_size, vf->gzip };
    file_tap tap = { m, ent, v, { 0 }, SIZE_MAX, { 0 } };
    ova_vmember whole_name = { { 0 }, 0, 0, false };
    for (size_t k = 0; k < wholes->n && vf->chunk_size > 0; k++) {
        mf_whole *wh = &wholes->w[k];
        if (wh->used || strcmp(wh->name, vf->href) != 0)
            continue;
        wh->used = true;
        snprintf(whole_name.name, sizeof whole_name.name, "%s", vf->href);
        ova_status ws = digest_begin(&tap.whole, &whole_name, &wh->ent, err);
        tap.whole.whole = true;
        if (ws != OVA_OK) {
            EVP_MD_CTX_free(tap.whole.md);
            return ws;
        }
        break;
    }
    ova_member_reader *r = NULL;
    ova_vmdk_walk *w = NULL;
    ova_err why = { 0 };
    uint64_t size = 0;
    ova_status st = OVA_OK;
    bool use = true; /* read the file's own bytes (inflating) until its storage proves bad */
    if (is_disk_file(vf)) {
        /* the walk needs the size up front: a gzip stream only tells it at its end */
        st = ova_member_file_size(fd, m, n, &spec, &size, &why);
        if (st == OVA_E_FORMAT) {
            ova_vlist_add(&v->problems, NULL, "%s", why.msg);
            use = false; /* said once: the members are still read for their digests */
            st = OVA_OK;
        } else if (st != OVA_OK) {
            return ova_err_set(err, st, "%s", why.msg);
        } else if ((st = ova_vmdk_walk_new(vf->href, size, &v->problems, &w, err)) != OVA_OK) {
            return st;
        }
    }
    if ((st = ova_member_reader_open(fd, m, n, &spec, tap_bytes, &tap, &r, err)) != OVA_OK)
        goto out; /* the OVF check opened it already: only I/O or memory fail here */
    const size_t *parts;
    ova_member_reader_parts(r, &parts);
    uint64_t done = 0;
    for (size_t got = 1; got > 0;) {
        memset(&why, 0, sizeof why);
        /* a gzip file that is no disk is inflated too: that checks its stream */
        st = use ? ova_member_reader_read(r, buf, CHUNK, &got, &why) : ova_member_reader_drain(r, &got, &why);
        if (st == OVA_E_FORMAT) {
            ova_vlist_add(&v->problems, NULL, "%s", why.msg);
            ova_vmdk_walk_free(&w); /* the rest of the disk is unknown: no walk verdict */
            use = false;
            st = OVA_OK;
            got = 1;
            continue;
        }
        if (st != OVA_OK) {
            st = ova_err_set(err, st, "%s", why.msg);
            goto out;
        }
        if (w != NULL)
            ova_vmdk_walk_feed(w, buf, got);
        done += got;
        progress(o, &last, vf->href, done, w != NULL ? size : ova_member_reader_stored(r));
    }
    if (tap.cur != SIZE_MAX && (st = digest_end(&tap.dg, v, err)) != OVA_OK)
        goto out;
    if ((st = digest_end(&tap.whole, v, err)) != OVA_OK)
        goto out;
    if (w != NULL) {
        ova_vmdk_facts f;
        if ((st = ova_vmdk_walk_finish(w, &f, err)) != OVA_OK)
            goto out;
        add_disk(v, vf->href, m[parts[0]].offset, size, &f);
        v->disks[v->n_disks - 1].chunk_size = vf->chunk_size;
        v->disks[v->n_disks - 1].gzip = vf->gzip;
    }
out:
    EVP_MD_CTX_free(tap.dg.md);
    EVP_MD_CTX_free(tap.whole.md);
    ova_vmdk_walk_free(&w);
    ova_member_reader_close(&r);
    return st;
}

/* owner[i]: the index of the file member i belongs to (FIRST_PART set on
 * its first member), SIZE_MAX for a member read on its own. NULL when no
 * file is chunked or gzip. */
#define FIRST_PART ((size_t)1 << (sizeof(size_t) * 8 - 1))

static ova_status map_files(int fd, const ova_vmember *m, size_t n, const ova_vfile *files, size_t n_files,
                            size_t **owner, ova_err *err)
{
    *owner = NULL;
    if (n_files == 0)
        return OVA_OK;
    size_t *ow = malloc(n * sizeof *ow);
    if (ow == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for the member map");
    for (size_t i = 0; i < n; i++)
        ow[i] = SIZE_MAX;
    for (size_t k = 0; k < n_files; k++) {
        ova_ovf_file spec = { files[k].href, files[k].chunk_size, files[k].gzip };
        ova_member_reader *r;
        ova_status st = ova_member_reader_open(fd, m, n, &spec, NULL, NULL, &r, err);
        if (st != OVA_OK) {
            free(ow);
            return st;
        }
        const size_t *parts;
        size_t np = ova_member_reader_parts(r, &parts);
        /* a member two files claim (a hostile OVF) is read with the first */
        if (ow[parts[0]] == SIZE_MAX) {
            for (size_t j = 0; j < np; j++)
                if (ow[parts[j]] == SIZE_MAX)
                    ow[parts[j]] = k;
            ow[parts[0]] = k | FIRST_PART;
        }
        ova_member_reader_close(&r);
    }
    *owner = ow;
    return OVA_OK;
}

ova_status ova_validate_meta(const char *path, const ova_validate_opts *o, ova_validation *v, ova_err *err)
{
    const char *label = base_name(path);
    int fd;
    struct stat sb;
    ova_status st0 = ova_open_source(path, NULL, &fd, &sb, err); /* a FIFO is refused, not waited on */
    if (st0 != OVA_OK)
        return st0;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    v->ova_size = (uint64_t)sb.st_size;

    ova_vmember *m = NULL;
    size_t n = 0;
    mf_entry *ent = NULL;
    unsigned char *buf = NULL;
    ova_vfile *files = NULL;
    size_t n_files = 0, *owner = NULL;
    mf_wholes wholes = { NULL, 0, 0 };
    ova_status st = ova_vtar_walk(fd, v->ova_size, label, &m, &n, &v->problems, err);
    if (st != OVA_OK)
        goto out;
    v->n_members = n;
    ssize_t ovf, mf;
    check_order(m, n, label, v, &ovf, &mf);

    ent = calloc(n ? n : 1, sizeof *ent);
    v->disks = calloc(n ? n : 1, sizeof *v->disks);
    buf = malloc(CHUNK);
    if (ent == NULL || v->disks == NULL || buf == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (mf >= 0 && (st = check_manifest(fd, m, n, (size_t)mf, ent, &wholes, &v->problems, err)) != OVA_OK)
        goto out;
    if (ovf >= 0) {
        if ((st = ova_vovf_check(fd, m, n, (size_t)ovf, o->schema_dir, v, &files, &n_files, err)) != OVA_OK)
            goto out;
    }
    /* which members belong to a chunked or gzip file: that file is read
     * where its first member is, its other members not on their own */
    if ((st = map_files(fd, m, n, files, n_files, &owner, err)) != OVA_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (owner != NULL && owner[i] != SIZE_MAX) {
            if (owner[i] & FIRST_PART) {
                const ova_vfile *vf = &files[owner[i] & ~FIRST_PART];
                if (m[i].size >= ((uint64_t)64 << 20) || vf->chunk_size >= ((uint64_t)64 << 20))
                    log_line(o, "checking %s (%s)", vf->href, vf->gzip ? "gzip" : "chunks");
                if ((st = stream_file(fd, m, n, ent, &wholes, vf, buf, o, v, err)) != OVA_OK)
                    goto out;
            }
            continue;
        }
        bool is_vmdk = ova_ends_with_ci(m[i].name, ".vmdk");
        if ((ssize_t)i == mf || m[i].truncated || (!ent[i].listed && !is_vmdk))
            continue;
        if (m[i].size >= ((uint64_t)64 << 20))
            log_line(o, "checking %s (%.1f MiB)", m[i].name, (double)m[i].size / 1048576.0);
        if ((st = stream_member(fd, &m[i], &ent[i], is_vmdk, buf, o, v, err)) != OVA_OK)
            goto out;
    }
    for (size_t k = 0; k < wholes.n; k++)
        if (!wholes.w[k].used) /* no chunked file of the OVF has that name */
            ova_vlist_add(&v->problems, m[mf].name, "line %zu names \"%s\", which is not a member of the archive",
                          wholes.w[k].lineno, wholes.w[k].name);
    for (size_t i = 0; i < v->n_disks; i++)
        if (!v->disks[i].sound && o->deep)
            note(v, "%s: %s, grains not inflated", v->disks[i].name,
                 v->problems.count > 0 ? "structure problems" : "tables not checked");
out:
    free(buf);
    free(ent);
    free(files);
    free(owner);
    free(wholes.w);
    free(m);
    close(fd);
    return st;
}

static int cmp_deep(const void *a, const void *b)
{
    const ova_deep_problem *x = a, *y = b;
    if (x->disk != y->disk)
        return x->disk < y->disk ? -1 : 1;
    return (x->lba > y->lba) - (x->lba < y->lba);
}

void ova_validate_merge_deep(ova_validation *v, ova_deep_problem *probs, size_t n, uint64_t count,
                             uint64_t inflated)
{
    if (n > 1)
        qsort(probs, n, sizeof *probs, cmp_deep);
    size_t keep = n < OVA_VALIDATE_MAX_DEEP ? n : OVA_VALIDATE_MAX_DEEP;
    for (size_t i = 0; i < keep; i++) {
        probs[i].text[sizeof probs[i].text - 1] = '\0';
        ova_vlist_add(&v->problems, NULL, "%s", probs[i].text);
    }
    if (count > keep)
        v->problems.count += count - keep;
    v->grains_inflated += inflated;
    v->deep = true;
}

ova_status ova_validate_file(const char *path, const ova_validate_opts *o, ova_validation *v, ova_err *err)
{
    ova_status st = ova_validate_meta(path, o, v, err);
    if (st != OVA_OK || !o->deep)
        return st;
    int fd;
    st = ova_open_source(path, NULL, &fd, NULL, err);
    if (st != OVA_OK)
        return st;
    ova_deep_result r = { 0 };
    for (size_t i = 0; i < v->n_disks && st == OVA_OK; i++)
        st = ova_validate_deep_disk(fd, &v->disks[i], i, 0, 1, &r, err);
    close(fd);
    if (st == OVA_OK)
        ova_validate_merge_deep(v, r.probs, r.n, r.count, r.inflated);
    ova_deep_result_free(&r);
    return st;
}
