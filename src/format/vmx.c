/* vmx.c - reader for VMware .vmx files: key = "value" lines, |XX escapes, .encoding. */
#include "ovatool/vmx.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovatool/buf.h"
#include "util/io.h"
#include "util/grow.h"
#include "util/text.h"

/* Keys are ASCII; lower-casing with the C locale's tolower() could treat
 * bytes >= 0x80 differently depending on the user's locale. */
static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* CR counts as a blank so CRLF files need no special case. */
static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* FNV-1a over the lower-cased key, so lookups in any case hit the same slot. */
static size_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= ascii_lower(*p);
        h *= 1099511628211u;
    }
    return (size_t)h;
}

/* Slot that holds key, or the empty slot where it would go. */
static size_t find_slot(const ova_vmx *vmx, const char *key)
{
    size_t mask = vmx->n_slots - 1;
    size_t i = hash_key(key) & mask;
    while (vmx->slots[i] != 0 && strcasecmp(vmx->entries[vmx->slots[i] - 1].key, key) != 0)
        i = (i + 1) & mask;
    return i;
}

const ova_vmx_entry *ova_vmx_find(const ova_vmx *vmx, const char *key)
{
    if (vmx == NULL || key == NULL)
        return NULL;
    if (vmx->slots == NULL) {
        for (size_t i = 0; i < vmx->n_entries; i++)
            if (strcasecmp(vmx->entries[i].key, key) == 0)
                return &vmx->entries[i];
        return NULL;
    }
    size_t slot = find_slot(vmx, key);
    return vmx->slots[slot] ? &vmx->entries[vmx->slots[slot] - 1] : NULL;
}

const char *ova_vmx_get(const ova_vmx *vmx, const char *key)
{
    const ova_vmx_entry *e = ova_vmx_find(vmx, key);
    return e ? e->value : NULL;
}

const char *ova_vmx_getf(const ova_vmx *vmx, const char *keyfmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, keyfmt);
    int n = vsnprintf(small, sizeof small, keyfmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    if ((size_t)n < sizeof small)
        return ova_vmx_get(vmx, small);
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        return NULL;
    va_start(ap, keyfmt);
    vsnprintf(big, (size_t)n + 1, keyfmt, ap);
    va_end(ap);
    const char *v = ova_vmx_get(vmx, big);
    free(big);
    return v;
}

bool ova_vmx_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "", "true", "yes", "on", "1", "t", "y" };
    static const char *const no[] = { "false", "no", "off", "0", "f", "n" };
    if (s == NULL)
        return false;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    return false;
}

bool ova_vmx_bool(const ova_vmx *vmx, const char *key, bool def)
{
    bool b;
    return ova_vmx_parse_bool(ova_vmx_get(vmx, key), &b) ? b : def;
}

void ova_vmx_free(ova_vmx **vmx)
{
    if (vmx == NULL || *vmx == NULL)
        return;
    ova_vmx *v = *vmx;
    for (size_t i = 0; i < v->n_entries; i++) {
        free(v->entries[i].key);
        free(v->entries[i].value);
    }
    free(v->entries);
    free(v->slots);
    free(v->path);
    free(v);
    *vmx = NULL;
}

typedef struct parser {
    ova_vmx *vmx;
    const char *name;  /* for messages */
    size_t cap;        /* allocated entries */
    ova_err *err;
} parser;

static ova_status nomem(parser *p)
{
    return ova_err_set(p->err, OVA_E_NOMEM, "%s: out of memory while parsing", p->name);
}

/* Keep the table at most half full so probe chains stay short. */
static bool grow_index(ova_vmx *vmx)
{
    size_t n = vmx->n_slots ? vmx->n_slots * 2 : 64;
    if (n > SIZE_MAX / sizeof(size_t))
        return false;
    size_t *slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return false;
    free(vmx->slots);
    vmx->slots = slots;
    vmx->n_slots = n;
    for (size_t i = 0; i < vmx->n_entries; i++)
        slots[find_slot(vmx, vmx->entries[i].key)] = i + 1;
    return true;
}

/* Takes ownership of key and value (freed here on failure). */
static ova_status add_entry(parser *p, char *key, char *value, int line)
{
    ova_vmx *vmx = p->vmx;
    size_t slot = find_slot(vmx, key);
    if (vmx->slots[slot] != 0) {
        /* VMware lets the last definition win; the first keeps its place so
         * the table still reads in file order. */
        ova_vmx_entry *e = &vmx->entries[vmx->slots[slot] - 1];
        free(key);
        free(e->value);
        e->value = value;
        e->line = line;
        return OVA_OK;
    }
    ova_vmx_entry *grown = ova_grow(vmx->entries, &p->cap, vmx->n_entries + 1, sizeof *grown);
    if (grown == NULL) {
        free(key);
        free(value);
        return nomem(p);
    }
    vmx->entries = grown;
    vmx->entries[vmx->n_entries] = (ova_vmx_entry){ key, value, line };
    vmx->n_entries++;
    vmx->slots[slot] = vmx->n_entries;
    if (vmx->n_entries * 2 > vmx->n_slots && !grow_index(vmx))
        return nomem(p);
    return OVA_OK;
}

/* Decode |XX escapes. A '|' not followed by two hex digits stays as is,
 * as VMware's own reader does. */
static ova_status unescape(parser *p, const char *v, size_t n, int line, const char *key, char **out)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        return nomem(p);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (v[i] == '|' && i + 2 < n && (hi = ova_hex_digit(v[i + 1])) >= 0 && (lo = ova_hex_digit(v[i + 2])) >= 0) {
            if (hi == 0 && lo == 0) {
                free(s);
                return ova_err_set(p->err, OVA_E_FORMAT, "%s: line %d: %s: escaped NUL byte (|00) in value",
                                   p->name, line, key);
            }
            s[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            s[j++] = v[i];
        }
    }
    s[j] = '\0';
    *out = s;
    return OVA_OK;
}

static ova_status expected_kv(parser *p, int line)
{
    return ova_err_set(p->err, OVA_E_FORMAT, "%s: line %d: expected key = value", p->name, line);
}

/* One line without its LF. */
static ova_status parse_line(parser *p, const char *s, const char *end, int line)
{
    if (memchr(s, '\0', (size_t)(end - s)) != NULL)
        return ova_err_set(p->err, OVA_E_FORMAT, "%s: line %d: NUL byte in a text file", p->name, line);
    while (s < end && is_blank(*s))
        s++;
    if (s == end || *s == '#')
        return OVA_OK;

    const char *k = s;
    while (s < end && *s != '=' && *s != '#')
        s++;
    if (s == end || *s == '#')
        return expected_kv(p, line);
    const char *kend = s;
    while (kend > k && is_blank(kend[-1]))
        kend--;
    if (kend == k)
        return expected_kv(p, line);
    for (const char *c = k; c < kend; c++)
        if (is_blank(*c) || *c == '"') {
            char q[4 * 200 + 1];
            size_t kl = (size_t)(kend - k);
            char raw[201];
            memcpy(raw, k, kl < 200 ? kl : 200);
            raw[kl < 200 ? kl : 200] = '\0';
            return ova_err_set(p->err, OVA_E_FORMAT, "%s: line %d: invalid key \"%s\"", p->name, line,
                               ova_quote_text(q, sizeof q, raw, 200));
        }

    s++; /* '=' */
    while (s < end && is_blank(*s))
        s++;
    const char *v, *vend;
    if (s < end && *s == '"') {
        v = s + 1;
        vend = memchr(v, '"', (size_t)(end - v));
        if (vend == NULL)
            return ova_err_set(p->err, OVA_E_FORMAT, "%s: line %d: unterminated quoted value", p->name, line);
        const char *rest = vend + 1;
        while (rest < end && is_blank(*rest))
            rest++;
        if (rest < end && *rest != '#')
            return ova_err_set(p->err, OVA_E_FORMAT, "%s: line %d: unexpected text after the closing quote",
                               p->name, line);
    } else {
        /* Unquoted values (`sata0.present = TRUE`) are accepted by VMware;
         * they end at a comment or the end of the line. */
        v = s;
        vend = memchr(v, '#', (size_t)(end - v));
        if (vend == NULL)
            vend = end;
        while (vend > v && is_blank(vend[-1]))
            vend--;
    }

    size_t klen = (size_t)(kend - k);
    char *key = malloc(klen + 1);
    if (key == NULL)
        return nomem(p);
    for (size_t i = 0; i < klen; i++)
        key[i] = (char)ascii_lower((unsigned char)k[i]);
    key[klen] = '\0';
    char *value = NULL;
    ova_status st = unescape(p, v, (size_t)(vend - v), line, key, &value);
    if (st != OVA_OK) {
        free(key);
        return st;
    }
    return add_entry(p, key, value, line);
}

/* Convert one value to UTF-8. Returns 0, EILSEQ for input that is not
 * valid in the source charset (*bad = its offset), or ENOMEM. */
static int convert_one(iconv_t cd, const char *in, char **out, size_t *bad)
{
    size_t inlen = strlen(in);
    size_t cap = inlen * 4 + 16;
    char *buf = malloc(cap);
    if (buf == NULL)
        return ENOMEM;
    iconv(cd, NULL, NULL, NULL, NULL); /* fresh shift state per value */
    char *ip = (char *)in;
    size_t ileft = inlen, used = 0;
    bool input_done = false;
    for (;;) {
        char *op = buf + used;
        size_t oleft = cap - 1 - used;
        /* once the input is consumed, a NULL-input call emits the closing
         * shift sequence of stateful charsets */
        size_t r = input_done ? iconv(cd, NULL, NULL, &op, &oleft) : iconv(cd, &ip, &ileft, &op, &oleft);
        used = (size_t)(op - buf);
        if (r != (size_t)-1) {
            if (input_done)
                break;
            input_done = true;
            continue;
        }
        if (errno != E2BIG) {
            *bad = (size_t)(ip - in);
            free(buf);
            return EILSEQ;
        }
        char *nb = ova_grow(buf, &cap, cap + 1, 1);
        if (nb == NULL) {
            free(buf);
            return ENOMEM;
        }
        buf = nb;
    }
    buf[used] = '\0';
    /* charsets like UTF-16 can turn text into NUL bytes a C string cannot hold */
    if (memchr(buf, '\0', used) != NULL) {
        *bad = 0;
        free(buf);
        return EILSEQ;
    }
    *out = buf;
    return 0;
}

static ova_status convert_values(parser *p)
{
    ova_vmx *vmx = p->vmx;
    const ova_vmx_entry *enc = ova_vmx_find(vmx, ".encoding");
    /* Without .encoding, modern VMware wrote UTF-8; converting UTF-8 to
     * UTF-8 still validates, so bad bytes never reach the OVF. */
    bool named = enc != NULL && enc->value[0] != '\0';
    const char *cs = named ? enc->value : "UTF-8";
    iconv_t cd = iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1) {
        if (errno == ENOMEM)
            return nomem(p);
        return ova_err_set(p->err, OVA_E_FORMAT, "%s: line %d: unknown .encoding \"%s\"", p->name,
                           enc ? enc->line : 0, cs);
    }
    ova_status st = OVA_OK;
    /* cs may point into .encoding's own value, which this loop replaces:
     * messages read enc->value afresh. */
    for (size_t i = 0; i < vmx->n_entries; i++) {
        ova_vmx_entry *e = &vmx->entries[i];
        char *u = NULL;
        size_t bad = 0;
        int rc = convert_one(cd, e->value, &u, &bad);
        if (rc == ENOMEM) {
            st = nomem(p);
            break;
        }
        if (rc != 0) {
            unsigned char b = (unsigned char)e->value[bad];
            st = ova_err_set(p->err, OVA_E_FORMAT,
                             "%s: line %d: %s: value is not valid %s (byte 0x%02X at offset %zu)%s", p->name,
                             e->line, e->key, named ? enc->value : "UTF-8", b, bad,
                             named ? "" : "; add a .encoding line naming the file's character set");
            break;
        }
        free(e->value);
        e->value = u;
    }
    iconv_close(cd);
    return st;
}

ova_status ova_vmx_parse(const char *text, size_t len, const char *name, ova_vmx **out, ova_err *err)
{
    *out = NULL;
    if (name == NULL)
        name = "<memory>";
    parser p = { NULL, name, 0, err };
    ova_vmx *vmx = calloc(1, sizeof *vmx);
    if (vmx == NULL)
        return nomem(&p);
    p.vmx = vmx;
    ova_status st = OVA_OK;
    vmx->path = strdup(name);
    if (vmx->path == NULL || !grow_index(vmx)) {
        st = nomem(&p);
        goto fail;
    }
    p.name = vmx->path;

    const char *s = text, *end = text + len;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    int line = 0;
    while (s < end) {
        if (line == INT_MAX) {
            st = ova_err_set(err, OVA_E_FORMAT, "%s: too many lines", name);
            goto fail;
        }
        line++;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *lend = nl ? nl : end;
        if ((size_t)(lend - s) > OVA_VMX_MAX_LINE) {
            st = ova_err_set(err, OVA_E_FORMAT, "%s: line %d: %zu bytes long, more than the limit of %u for a VMX line",
                             name, line, (size_t)(lend - s), OVA_VMX_MAX_LINE);
            goto fail;
        }
        st = parse_line(&p, s, lend, line);
        if (st != OVA_OK)
            goto fail;
        s = nl ? nl + 1 : end;
    }
    st = convert_values(&p);
    if (st != OVA_OK)
        goto fail;
    *out = vmx;
    return OVA_OK;
fail:
    ova_vmx_free(&vmx);
    return st;
}

/* A disk or an OVA given where the VMX belongs would otherwise fail on its
 * first line with "expected key = value": say what the file is instead.
 * By content first (a sparse extent's magic, a descriptor's first line, a
 * tar header's "ustar"), then by name (a flat extent is just bytes). */
static ova_status not_a_vmx(const char *path, const char *buf, size_t len, ova_err *err)
{
    static const char desc[] = "# Disk DescriptorFile";
    const char *what = NULL;
    if ((len >= 4 && memcmp(buf, "KDMV", 4) == 0) || (len >= 4 && memcmp(buf, "COWD", 4) == 0))
        what = "a VMDK disk (sparse extent)";
    else if (len >= sizeof desc - 1 && memcmp(buf, desc, sizeof desc - 1) == 0)
        what = "a VMDK disk descriptor";
    else if (len >= 262 && memcmp(buf + 257, "ustar", 5) == 0)
        what = "a tar archive (an OVA?)";
    else if (ova_ends_with_ci(path, ".vmdk"))
        what = "a VMDK disk (by its name)";
    else if (ova_ends_with_ci(path, ".ova") || ova_ends_with_ci(path, ".ovf"))
        what = "an OVA or OVF (by its name)";
    if (what == NULL)
        return OVA_OK;
    return ova_err_set(err, OVA_E_USAGE,
                       "%s: is %s, not a VMX file; give the VM's .vmx file (it names the disks), or use "
                       "'ovatool validate' to check an OVA", path, what);
}

ova_status ova_vmx_load(const char *path, ova_vmx **out, ova_err *err)
{
    *out = NULL;
    int fd;
    struct stat sb;
    ova_status st0 = ova_open_source(path, NULL, &fd, &sb, err);
    if (st0 != OVA_OK)
        return st0;
    if (sb.st_size > (off_t)OVA_VMX_MAX_SIZE) {
        close(fd);
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: %lld bytes is too big for a VMX file (limit 16 MiB); is this really a .vmx?",
                           path, (long long)sb.st_size);
    }
    /* Read until EOF rather than trusting st_size: the file may grow (and
     * files in /proc report 0). */
    size_t cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : 65536;
    char *buf = malloc(cap);
    size_t len = 0;
    if (buf == NULL) {
        close(fd);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory while reading", path);
    }
    for (;;) {
        if (len == cap) {
            char *nb = NULL;
            if (cap <= OVA_VMX_MAX_SIZE)
                nb = ova_grow(buf, &cap, cap + 1, 1);
            if (nb == NULL) {
                free(buf);
                close(fd);
                return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory while reading", path);
            }
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return ova_err_errno(err, OVA_E_IO, e, "%s: cannot read", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > OVA_VMX_MAX_SIZE) {
            free(buf);
            close(fd);
            return ova_err_set(err, OVA_E_FORMAT,
                               "%s: more than 16 MiB is too big for a VMX file; is this really a .vmx?", path);
        }
    }
    close(fd);
    ova_status st = not_a_vmx(path, buf, len, err);
    if (st == OVA_OK)
        st = ova_vmx_parse(buf, len, path, out, err);
    free(buf);
    return st;
}
