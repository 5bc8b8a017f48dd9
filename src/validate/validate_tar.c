/* validate_tar.c - the ustar walk of `ovatool validate`: headers, checksums,
 * sizes, padding, end-of-archive blocks and member names (docs/formats.md 5.2). */
#include "validate/validate_internal.h"

#include <stdlib.h>
#include <string.h>

#include "format/tar.h"
#include "util/grow.h"

#define F_NAME_LEN 100
#define F_TYPEFLAG 156
#define F_MAGIC 257
#define F_VERSION 263
#define F_PREFIX 345
#define F_PREFIX_LEN 155

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* Name checks from docs/formats.md 5.2: top-level members only, no path tricks,
 * nothing that could confuse a terminal or a line-based reader. */
static const char *name_problem(const char *name)
{
    if (name[0] == '\0')
        return "empty member name";
    if (strchr(name, '/') != NULL)
        return "member name contains '/' (OVA members live at the top level)";
    if (strstr(name, "..") != NULL || strcmp(name, ".") == 0)
        return "member name contains '..' or is '.'";
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "member name contains a control character";
    return NULL;
}

/* Bytes after the end-of-archive blocks must be zero (GNU tar pads to a
 * 10 KiB record); anything else is data no reader will see. */
static ova_status check_trailer(int fd, uint64_t from, uint64_t size, const char *label, ova_vlist *probs,
                                ova_err *err)
{
    unsigned char buf[4096];
    for (uint64_t off = from; off < size;) {
        size_t n = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        ova_status st = ova_vpread(fd, buf, n, off, label, err);
        if (st != OVA_OK)
            return st;
        if (!all_zero(buf, n)) {
            ova_vlist_add(probs, label, "non-zero data after the end-of-archive blocks (offset %llu)",
                          (unsigned long long)off);
            break;
        }
        off += n;
    }
    return OVA_OK;
}

ova_status ova_vtar_walk(int fd, uint64_t size, const char *label, ova_vmember **members,
                         size_t *n_members, ova_vlist *probs, ova_err *err)
{
    ova_vmember *m = NULL;
    size_t n = 0, cap = 0;
    unsigned char hdr[OVA_TAR_BLOCK];
    uint64_t off = 0;
    ova_status st = OVA_OK;

    *members = NULL;
    *n_members = 0;
    if (size == 0) {
        ova_vlist_add(probs, label, "empty file, not a tar archive");
        return OVA_OK;
    }
    for (;;) {
        if (off + OVA_TAR_BLOCK > size) {
            if (off == size)
                ova_vlist_add(probs, label, "no end-of-archive blocks: the archive is truncated");
            else
                ova_vlist_add(probs, label, "archive ends inside a header block at offset %llu (truncated)",
                              (unsigned long long)off);
            break;
        }
        if ((st = ova_vpread(fd, hdr, sizeof hdr, off, label, err)) != OVA_OK)
            goto out;
        if (all_zero(hdr, sizeof hdr)) {
            /* end of archive: two zero blocks */
            if (off + 2 * OVA_TAR_BLOCK > size) {
                ova_vlist_add(probs, label, "only one end-of-archive block (truncated)");
                break;
            }
            if ((st = ova_vpread(fd, hdr, sizeof hdr, off + OVA_TAR_BLOCK, label, err)) != OVA_OK)
                goto out;
            if (!all_zero(hdr, sizeof hdr)) {
                ova_vlist_add(probs, label, "lone zero block at offset %llu followed by more data",
                              (unsigned long long)off);
                break;
            }
            st = check_trailer(fd, off + 2 * OVA_TAR_BLOCK, size, label, probs, err);
            goto out;
        }
        if (!ova_tar_checksum_ok(hdr)) {
            /* nothing after a bad header can be trusted: its size is the framing */
            if (off == 0)
                ova_vlist_add(probs, label, "not a tar archive: the first header has a bad checksum");
            else
                ova_vlist_add(probs, label, "tar header at offset %llu has a bad checksum",
                              (unsigned long long)off);
            break;
        }
        char name[OVA_VNAME_MAX];
        memcpy(name, hdr, F_NAME_LEN);
        name[F_NAME_LEN] = '\0';
        const char *who = name[0] ? name : label;
        uint64_t msize;
        if (!ova_tar_parse_size(hdr, &msize)) {
            ova_vlist_add(probs, who, "tar header at offset %llu has a malformed size field",
                          (unsigned long long)off);
            break;
        }
        bool posix = memcmp(hdr + F_MAGIC, "ustar\0", 6) == 0 &&
                     (memcmp(hdr + F_VERSION, "00", 2) == 0 || memcmp(hdr + F_VERSION, " \0", 2) == 0);
        bool gnu = memcmp(hdr + F_MAGIC, "ustar ", 6) == 0 && memcmp(hdr + F_VERSION, " \0", 2) == 0;
        if (!posix && !gnu)
            ova_vlist_add(probs, who, "not a ustar header (magic/version fields)");

        uint64_t data = off + OVA_TAR_BLOCK;
        uint64_t pad = ova_tar_padding(msize);
        bool regular = true;
        char type = (char)hdr[F_TYPEFLAG];
        if (type == 'x' || type == 'g') {
            ova_vlist_add(probs, who, "PAX extended header (vSphere and VirtualBox reject PAX archives)");
            regular = false;
        } else if (type == 'L' || type == 'K') {
            ova_vlist_add(probs, who, "GNU long-name entry (member names must fit the 100-byte field)");
            regular = false;
        } else if (type == 'S') {
            /* tar -S of qemu-img's output, whose file has holes: the member
             * holds a sparse map and the data runs, not the file's bytes */
            ova_vlist_add(probs, who, "GNU sparse member (tar type 'S', as `tar -S` makes of a file with holes): "
                          "readers that do not expand it read other bytes than the file's");
            regular = false;
        } else if (type != '0' && type != '\0') {
            ova_vlist_add(probs, who, "not a regular file (tar type '%c')",
                          type >= 0x20 && type < 0x7f ? type : '?');
            regular = false;
        }
        if (hdr[F_PREFIX] != 0)
            ova_vlist_add(probs, who, "uses the ustar prefix field (a path, not a top-level member)");
        const char *why = name_problem(name);
        if (why != NULL)
            ova_vlist_add(probs, who, "%s", why);

        bool cut = msize > size - data || pad > size - data - msize;
        if (cut)
            ova_vlist_add(probs, who, "archive ends inside this member: header says %llu bytes, %llu present "
                          "(truncated)", (unsigned long long)msize, (unsigned long long)(size - data));
        else if (pad > 0) {
            unsigned char pb[OVA_TAR_BLOCK];
            if ((st = ova_vpread(fd, pb, (size_t)pad, data + msize, label, err)) != OVA_OK)
                goto out;
            if (!all_zero(pb, (size_t)pad))
                ova_vlist_add(probs, who, "non-zero padding after the member data");
        }
        if (regular) {
            /* a scan, but over at most OVA_VALIDATE_MAX_MEMBERS names */
            for (size_t i = 0; i < n; i++)
                if (strcmp(m[i].name, name) == 0) {
                    ova_vlist_add(probs, who, "member name appears twice in the archive");
                    break;
                }
            if (n == OVA_VALIDATE_MAX_MEMBERS) {
                ova_vlist_add(probs, label, "more than %u members (the limit); the rest is not checked",
                              OVA_VALIDATE_MAX_MEMBERS);
                break;
            }
            ova_vmember *nm = ova_grow(m, &cap, n + 1, sizeof *nm);
            if (nm == NULL) {
                st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory for the member table", label);
                goto out;
            }
            m = nm;
            memcpy(m[n].name, name, sizeof name);
            m[n].offset = data;
            m[n].size = msize;
            /* kept so the manifest and OVF checks do not call it missing */
            m[n].truncated = cut;
            n++;
        }
        if (cut)
            break;
        off = data + msize + pad;
    }
out:
    if (st != OVA_OK) {
        free(m);
        return st;
    }
    *members = m;
    *n_members = n;
    return OVA_OK;
}
