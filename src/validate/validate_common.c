/* validate_common.c - what every check of `ovatool validate` shares and
 * nothing else: problem lists, the name index and the pread that words
 * its errors for an OVA. It calls no other validate file, so the checks
 * (validate_tar.c, validate_vmdk.c, validate_ovf.c) depend on it and the
 * driver (validate.c) on them, never the other way round. */
#include "ovatool/validate.h"
#include "validate/validate_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/io.h"

/* ---- problem lists ---- */

void ova_vlist_add(ova_vlist *l, const char *member, const char *fmt, ...)
{
    l->count++;
    if (l->kept >= OVA_VALIDATE_MAX_PROBLEMS)
        return;
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t start = l->text.len;
    if (member != NULL) {
        ova_buf_puts(&l->text, member);
        ova_buf_puts(&l->text, ": ");
    }
    ova_buf_puts(&l->text, what);
    if (ova_buf_failed(&l->text))
        return; /* still counted: the verdict stays right */
    /* one problem, one line: whatever the member name holds */
    for (size_t i = start; i < l->text.len; i++) {
        unsigned char c = (unsigned char)l->text.data[i];
        if (c < 0x20 || c == 0x7f)
            l->text.data[i] = '?';
    }
    ova_buf_putc(&l->text, '\n');
    l->kept++;
}

const char *ova_vlist_next(const ova_vlist *l, size_t *pos, size_t *len)
{
    if (l->text.data == NULL || ova_buf_failed(&l->text) || *pos >= l->text.len)
        return NULL;
    const char *s = l->text.data + *pos;
    const char *nl = memchr(s, '\n', l->text.len - *pos);
    size_t n = nl ? (size_t)(nl - s) : l->text.len - *pos;
    *len = n;
    *pos += n + (nl != NULL);
    return s;
}

void ova_vlist_free(ova_vlist *l)
{
    ova_buf_free(&l->text);
    l->kept = 0;
    l->count = 0;
}

/* ---- risks and importers ---- */

static const struct {
    const char *word;
    const char *name;
    unsigned bit;
} IMPORTERS[] = {
    { "esxi", "ESXi/vCenter (ovftool included)", OVA_IMPORTER_ESXI },
    { "workstation", "Workstation/Fusion", OVA_IMPORTER_WORKSTATION },
    { "virtualbox", "VirtualBox", OVA_IMPORTER_VIRTUALBOX },
};
#define N_IMPORTERS (sizeof IMPORTERS / sizeof IMPORTERS[0])

bool ova_importer_parse(const char *word, unsigned *mask)
{
    if (strcmp(word, "any") == 0) {
        *mask = 0;
        return true;
    }
    for (size_t i = 0; i < N_IMPORTERS; i++)
        if (strcmp(word, IMPORTERS[i].word) == 0) {
            *mask = IMPORTERS[i].bit;
            return true;
        }
    return false;
}

const char *ova_importer_names(unsigned mask, char *buf, size_t cap)
{
    size_t at = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < N_IMPORTERS; i++) {
        if (!(mask & IMPORTERS[i].bit))
            continue;
        int n = snprintf(buf + at, cap - at, "%s%s", at ? ", " : "", IMPORTERS[i].name);
        if (n < 0 || (size_t)n >= cap - at)
            break;
        at += (size_t)n;
    }
    return buf;
}

void ova_validation_risk(ova_validation *v, unsigned importers, const char *member, const char *fmt, ...)
{
    char what[1024], names[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    v->risk_importers |= importers;
    ova_vlist_add(&v->risks, member, "[%s] %s", ova_importer_names(importers, names, sizeof names), what);
}

bool ova_validation_passes(const ova_validation *v, unsigned target_mask, bool strict)
{
    if (v->problems.count != 0)
        return false;
    if (strict && v->risks.count != 0)
        return false;
    return (v->risk_importers & target_mask) == 0;
}

/* ---- reading the OVA ---- */

ova_status ova_vpread(int fd, void *buf, size_t n, uint64_t off, const char *what, ova_err *err)
{
    size_t done;
    int e = ova_pread_full(fd, buf, n, off, &done);
    if (e != 0)
        return ova_err_errno(err, OVA_E_IO, e, "%s: read at offset %llu", what, (unsigned long long)(off + done));
    if (done < n)
        /* sizes were checked against fstat: the file shrank under us */
        return ova_err_set(err, OVA_E_IO, "%s: unexpected end of file at offset %llu", what,
                           (unsigned long long)(off + done));
    return OVA_OK;
}

/* ---- name indexes ---- */

static int cmp_vkey(const void *a, const void *b)
{
    const ova_vkey *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

void ova_vkeys_sort(ova_vkey *keys, size_t n)
{
    if (n > 1)
        qsort(keys, n, sizeof *keys, cmp_vkey);
}

void ova_vkeys_range(const ova_vkey *keys, size_t n, const char *s, size_t *first, size_t *end)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* first key >= s */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(keys[mid].key, s) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    hi = n;
    while (lo < hi) { /* first key > s */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(keys[mid].key, s) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *end = lo;
}

ssize_t ova_vkeys_find(const ova_vkey *keys, size_t n, const char *s)
{
    size_t first, end;
    ova_vkeys_range(keys, n, s, &first, &end);
    return first < end ? (ssize_t)keys[first].pos : -1;
}

ova_vkey *ova_vmember_index(const ova_vmember *m, size_t n)
{
    ova_vkey *k = malloc((n ? n : 1) * sizeof *k);
    if (k == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        k[i] = (ova_vkey){ m[i].name, i };
    ova_vkeys_sort(k, n);
    return k;
}

