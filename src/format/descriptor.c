/* descriptor.c - parser for VMDK text descriptors (header, extents, ddb). */
#include "ovatool/descriptor.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/io.h"
#include "ovatool/limits.h"
#include "util/grow.h"

/* The size (OVA_DESC_MAX_SIZE) keeps a wrong file (a flat extent handed to
 * us as a descriptor) from costing memory and time; the extent count
 * (OVA_DESC_MAX_EXTENTS, 64 Ki, generous) bounds the table at a few MiB. */

/* Every extent and offset is turned into bytes by callers (sectors * 512);
 * keeping the totals below this makes that multiplication safe. */
#define DESC_MAX_SECTORS (UINT64_MAX / 512u)

typedef struct parser {
    const char *name;     /* for messages */
    size_t line;          /* 1-based number of the line being parsed */
    ova_err *err;
    ova_descriptor *d;
    size_t cap_extents;
    size_t cap_ddb;
    uint64_t total_sectors;
    int have_version;
    int have_create_type;
} parser;

/* Record "NAME: line N: what" and return st. */
static ova_status line_fail(parser *p, ova_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ova_status line_fail(parser *p, ova_status st, const char *fmt, ...)
{
    char what[OVA_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ova_err_set(p->err, st, "%s: line %zu: %s", p->name, p->line, what);
}

static ova_status nomem(parser *p)
{
    return ova_err_set(p->err, OVA_E_NOMEM, "%s: out of memory while parsing the descriptor",
                       p->name);
}

/* Text of the descriptor quoted in a message: at most max bytes, with
 * bytes a terminal could act on written as \xNN (io.h). */
#define QUOTE_MAX 200
typedef struct quoted {
    char s[4 * QUOTE_MAX + 1];
} quoted;

static const char *quote(quoted *q, const char *s, size_t max)
{
    return ova_quote_text(q->s, sizeof q->s, s, max < QUOTE_MAX ? max : QUOTE_MAX);
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static char *skip_blanks(char *s)
{
    while (is_blank(*s))
        s++;
    return s;
}

/* Parse a decimal uint64 at s. strtoull alone would accept a sign, leading
 * blanks and "0x"; requiring a digit first rules those out, and ERANGE
 * catches overflow. *end is set past the digits. 0 ok, -1 not a number,
 * -2 overflow. */
static int parse_u64(const char *s, char **end, uint64_t *v)
{
    if (!is_digit(*s))
        return -1;
    errno = 0;
    unsigned long long x = strtoull(s, end, 10);
    if (errno == ERANGE)
        return -2;
#if ULLONG_MAX > UINT64_MAX
    /* unsigned long long may be wider than 64 bits on some ABI */
    if (x > UINT64_MAX)
        return -2;
#endif
    *v = (uint64_t)x;
    return 0;
}

/* CID values: 1 to 8 hex digits, nothing else (qemu drops leading zeros,
 * e.g. "c3376b4"). */
static int parse_hex32(const char *s, uint32_t *v)
{
    uint32_t x = 0;
    size_t n = 0;
    for (; *s; s++, n++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return 0;
        if (n == 8)
            return 0;
        x = (x << 4) | (uint32_t)d;
    }
    if (n == 0)
        return 0;
    *v = x;
    return 1;
}

static int replace_str(char **slot, const char *value)
{
    char *s = strdup(value);
    if (s == NULL)
        return 0;
    free(*slot);
    *slot = s;
    return 1;
}

static ova_status add_ddb(parser *p, const char *key, const char *value)
{
    ova_descriptor *d = p->d;
    ova_ddb_entry *t = ova_grow(d->ddb, &p->cap_ddb, d->n_ddb + 1, sizeof *t);
    if (t == NULL)
        return nomem(p);
    d->ddb = t;
    char *k = strdup(key);
    char *v = strdup(value);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return nomem(p);
    }
    d->ddb[d->n_ddb].key = k;
    d->ddb[d->n_ddb].value = v;
    d->n_ddb++;
    return OVA_OK;
}

/* `key=value` or `ddb.key = "value"`. s is trimmed, eq points at the '='. */
static ova_status parse_key_value(parser *p, char *s, char *eq)
{
    /* the key: text before '=' without trailing blanks, no inner blanks */
    char *kend = eq;
    while (kend > s && is_blank(kend[-1]))
        kend--;
    if (kend == s)
        return line_fail(p, OVA_E_FORMAT, "empty key before '='");
    *kend = '\0';
    for (char *c = s; *c; c++)
        if (is_blank(*c))
            return line_fail(p, OVA_E_FORMAT, "bad key \"%s\" (blank inside a key)", quote(&(quoted){0}, s, 200));
    const char *key = s;

    /* the value: optionally double-quoted; quotes are not escaped in
     * descriptors, so the first and last characters are the quotes */
    char *value = skip_blanks(eq + 1);
    size_t vlen = strlen(value);
    if (value[0] == '"') {
        if (vlen < 2 || value[vlen - 1] != '"')
            return line_fail(p, OVA_E_FORMAT, "unterminated quoted value for %s", quote(&(quoted){0}, key, 200));
        value[vlen - 1] = '\0';
        value++;
    }

    ova_descriptor *d = p->d;
    if (d->encryption_key == NULL &&
        (strncasecmp(key, "encryption.", 11) == 0 || strcasecmp(key, "ddb.keySafe") == 0 ||
         strncasecmp(key, "ddb.encryption", 14) == 0) &&
        !replace_str(&d->encryption_key, key))
        return nomem(p);

    if (strncasecmp(key, "ddb.", 4) == 0)
        return add_ddb(p, key, value);

    if (strcasecmp(key, "version") == 0) {
        uint64_t v;
        char *end;
        if (parse_u64(value, &end, &v) != 0 || *end != '\0' || v > INT_MAX)
            return line_fail(p, OVA_E_FORMAT, "bad number for version: \"%s\"", quote(&(quoted){0}, value, 200));
        d->version = (int)v;
        p->have_version = 1;
    } else if (strcasecmp(key, "CID") == 0) {
        if (!parse_hex32(value, &d->cid))
            return line_fail(p, OVA_E_FORMAT,
                             "bad number for CID: \"%s\" (want up to 8 hex digits)", quote(&(quoted){0}, value, 200));
    } else if (strcasecmp(key, "parentCID") == 0) {
        if (!parse_hex32(value, &d->parent_cid))
            return line_fail(p, OVA_E_FORMAT,
                             "bad number for parentCID: \"%s\" (want up to 8 hex digits)",
                             quote(&(quoted){0}, value, 200));
    } else if (strcasecmp(key, "createType") == 0) {
        if (value[0] == '\0')
            return line_fail(p, OVA_E_FORMAT, "empty createType");
        if (!replace_str(&d->create_type, value))
            return nomem(p);
        p->have_create_type = 1;
    } else if (strcasecmp(key, "parentFileNameHint") == 0) {
        if (!replace_str(&d->parent_hint, value))
            return nomem(p);
    } else if (strcasecmp(key, "encoding") == 0) {
        if (!replace_str(&d->encoding, value))
            return nomem(p);
    }
    /* isNativeSnapshot, changeTrackPath and keys we do not know carry
     * nothing an export needs; ignoring them keeps newer files readable */
    return OVA_OK;
}

static const struct {
    const char *name;
    ova_extent_access access;
} access_names[] = {
    {"RW", OVA_ACCESS_RW},
    {"RDONLY", OVA_ACCESS_RDONLY},
    {"NOACCESS", OVA_ACCESS_NOACCESS},
};

static const struct {
    const char *name;
    ova_extent_type type;
} type_names[] = {
    {"FLAT", OVA_EXTENT_FLAT},
    {"SPARSE", OVA_EXTENT_SPARSE},
    {"ZERO", OVA_EXTENT_ZERO},
    {"VMFS", OVA_EXTENT_VMFS},
    {"VMFSSPARSE", OVA_EXTENT_VMFSSPARSE},
};

/* Access keyword of the n bytes at s, or -1 if it is not one. */
static int match_access(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof access_names / sizeof access_names[0]; i++)
        if (strlen(access_names[i].name) == n && strncasecmp(s, access_names[i].name, n) == 0)
            return (int)i;
    return -1;
}

static ova_extent_type match_type(const char *s)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcasecmp(s, type_names[i].name) == 0)
            return type_names[i].type;
    return OVA_EXTENT_OTHER;
}

/* `ACCESS SECTORS TYPE ["FILENAME" [OFFSET]]`; s is trimmed and starts
 * with an access keyword of alen bytes. The finished extent goes to *e,
 * which owns type_name and file_name even on failure. */
static ova_status parse_extent_fields(parser *p, char *s, size_t alen, ova_extent_desc *e)
{
    e->access = access_names[match_access(s, alen)].access;
    char *q = skip_blanks(s + alen);

    /* sectors */
    char *end;
    int rc = parse_u64(q, &end, &e->sectors);
    if (rc == -2)
        return line_fail(p, OVA_E_FORMAT, "bad number: extent size %.*s does not fit in 64 bits",
                         (int)(end - q), q);
    if (rc != 0 || (*end != '\0' && !is_blank(*end)))
        return line_fail(p, OVA_E_FORMAT,
                         "bad extent line: sector count missing or not a decimal number");
    q = skip_blanks(end);

    /* type, kept as written for messages about types we do not read */
    char *t = q;
    while (*q && !is_blank(*q) && *q != '"')
        q++;
    if (q == t)
        return line_fail(p, OVA_E_FORMAT, "bad extent line: missing extent type");
    e->type_name = strndup(t, (size_t)(q - t));
    if (e->type_name == NULL)
        return nomem(p);
    e->type = match_type(e->type_name);
    q = skip_blanks(q);

    /* file name: always quoted, may hold blanks, cannot hold quotes */
    if (*q == '"') {
        char *fs = q + 1;
        char *fe = strchr(fs, '"');
        if (fe == NULL)
            return line_fail(p, OVA_E_FORMAT, "bad extent line: unterminated file name");
        if (fe == fs)
            return line_fail(p, OVA_E_FORMAT, "bad extent line: empty file name");
        e->file_name = strndup(fs, (size_t)(fe - fs));
        if (e->file_name == NULL)
            return nomem(p);
        q = skip_blanks(fe + 1);
    } else if (*q != '\0') {
        return line_fail(p, OVA_E_FORMAT, "bad extent line: file name must be double-quoted");
    }

    /* offset: FLAT only (qemu forbids it for VMFS); types we do not read
     * may carry one, their readers refuse them anyway */
    if (*q != '\0') {
        if (e->type != OVA_EXTENT_FLAT && e->type != OVA_EXTENT_OTHER)
            return line_fail(p, OVA_E_FORMAT,
                             "bad extent line: an offset is only allowed for FLAT extents");
        uint64_t off;
        rc = parse_u64(q, &end, &off);
        if (rc == -2)
            return line_fail(p, OVA_E_FORMAT, "bad number: offset %.*s does not fit in 64 bits",
                             (int)(end - q), q);
        if (rc != 0)
            return line_fail(p, OVA_E_FORMAT, "bad number: offset \"%s\"", quote(&(quoted){0}, q, 40));
        if (*end != '\0')
            return line_fail(p, OVA_E_FORMAT, "bad extent line: unexpected text after the offset");
        if (e->type == OVA_EXTENT_FLAT)
            e->offset = off;
    }

    if (e->type == OVA_EXTENT_ZERO) {
        /* reads as zeros: a name, if any, names nothing we would open */
        free(e->file_name);
        e->file_name = NULL;
    } else if (e->file_name == NULL) {
        return line_fail(p, OVA_E_FORMAT, "bad extent line: missing file name for a %s extent",
                         e->type_name);
    }

    /* both limits keep sector * 512 arithmetic in callers from wrapping */
    if (e->sectors > DESC_MAX_SECTORS || e->offset > DESC_MAX_SECTORS - e->sectors)
        return line_fail(p, OVA_E_FORMAT,
                         "sectors overflow: extent end beyond 2^64 bytes in its file");
    if (e->sectors > DESC_MAX_SECTORS - p->total_sectors)
        return line_fail(p, OVA_E_FORMAT, "sectors overflow: disk larger than 2^64 bytes");
    /* one limit for every kind of disk, ZERO extents included: reading a
     * descriptor must not commit anyone to an export of years */
    if (p->total_sectors + e->sectors > OVA_MAX_CAPACITY / 512u)
        return line_fail(p, OVA_E_UNSUPPORTED,
                         "the extents add up to %llu bytes, above ovatool's limit of " OVA_MAX_CAPACITY_TEXT
                         " (%llu bytes) for a disk",
                         (unsigned long long)((p->total_sectors + e->sectors) * 512u),
                         (unsigned long long)OVA_MAX_CAPACITY);
    return OVA_OK;
}

static void extent_free(ova_extent_desc *e)
{
    free(e->type_name);
    free(e->file_name);
}

static ova_status parse_extent(parser *p, char *s, size_t alen)
{
    ova_descriptor *d = p->d;
    if (d->n_extents >= OVA_DESC_MAX_EXTENTS)
        return line_fail(p, OVA_E_FORMAT, "too many extents (the limit is %u)", OVA_DESC_MAX_EXTENTS);

    ova_extent_desc e = {0};
    ova_status st = parse_extent_fields(p, s, alen, &e);
    if (st != OVA_OK) {
        extent_free(&e);
        return st;
    }
    ova_extent_desc *t = ova_grow(d->extents, &p->cap_extents, d->n_extents + 1, sizeof *t);
    if (t == NULL) {
        extent_free(&e);
        return nomem(p);
    }
    d->extents = t;
    d->extents[d->n_extents++] = e;
    p->total_sectors += e.sectors;
    return OVA_OK;
}

static ova_status parse_line(parser *p, char *s)
{
    /* trim blanks both sides (a CR was removed by the caller) */
    s = skip_blanks(s);
    size_t n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        s[--n] = '\0';
    if (n == 0 || s[0] == '#')
        return OVA_OK;

    /* control characters would end up in file names and the OVF */
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
            return line_fail(p, OVA_E_FORMAT, "control character 0x%02x in the line", *c);

    /* an extent line starts with an access keyword and a blank; checked
     * before '=' because a quoted file name may contain '=' */
    size_t w = 0;
    while (s[w] && !is_blank(s[w]) && s[w] != '=')
        w++;
    if (is_blank(s[w]) || s[w] == '\0') {
        if (match_access(s, w) >= 0)
            return parse_extent(p, s, w);
    }
    char *eq = strchr(s, '=');
    if (eq != NULL)
        return parse_key_value(p, s, eq);
    return line_fail(p, OVA_E_FORMAT,
                     "not a key=value, extent or ddb line: \"%s\"", quote(&(quoted){0}, s, 80));
}

ova_status ova_descriptor_parse(const char *text, size_t len, const char *name,
                                ova_descriptor **out, ova_err *err)
{
    if (name == NULL)
        name = "descriptor";
    if (out == NULL || (text == NULL && len > 0))
        return ova_err_set(err, OVA_E_USAGE, "%s: no text or no result pointer", name);
    *out = NULL;

    /* embedded descriptors are NUL-padded to whole sectors */
    const char *nul = len > 0 ? memchr(text, '\0', len) : NULL;
    size_t n = nul != NULL ? (size_t)(nul - text) : len;
    if (n > OVA_DESC_MAX_SIZE)
        return ova_err_set(err, OVA_E_FORMAT,
                           "%s: descriptor text is larger than 1 MiB; not a VMDK descriptor",
                           name);

    parser p = {0};
    p.name = name;
    p.err = err;
    p.d = calloc(1, sizeof *p.d);
    char *buf = malloc(n + 1);
    if (p.d == NULL || buf == NULL) {
        free(p.d);
        free(buf);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory while parsing the descriptor",
                           name);
    }
    if (n > 0)
        memcpy(buf, text, n);
    buf[n] = '\0';
    /* a base disk has no parent; a delta's parentCID= overrides this */
    p.d->parent_cid = UINT32_MAX;

    /* split in place at LF; CRLF files just leave a CR to drop */
    ova_status st = OVA_OK;
    char *s = buf;
    for (;;) {
        char *nl = strchr(s, '\n');
        if (nl != NULL)
            *nl = '\0';
        p.line++;
        size_t ll = strlen(s);
        if (ll > 0 && s[ll - 1] == '\r')
            s[ll - 1] = '\0';
        st = parse_line(&p, s);
        if (st != OVA_OK || nl == NULL)
            break;
        s = nl + 1;
    }
    free(buf);

    /* an encrypted disk's descriptor keeps its extents in the encrypted
     * data: say so rather than "missing createType" */
    if (st == OVA_OK && p.d->encryption_key != NULL && (!p.have_version || !p.have_create_type || p.d->n_extents == 0))
        st = ova_err_set(err, OVA_E_UNSUPPORTED,
                         "%s: the disk is encrypted (%s is set); remove the encryption in VMware before exporting",
                         name, p.d->encryption_key);
    if (st == OVA_OK) {
        if (n == 0)
            st = ova_err_set(err, OVA_E_FORMAT, "%s: empty descriptor", name);
        else if (!p.have_version)
            st = ova_err_set(err, OVA_E_FORMAT,
                             "%s: missing version= (not a VMDK descriptor?)", name);
        else if (!p.have_create_type)
            st = ova_err_set(err, OVA_E_FORMAT, "%s: missing createType=", name);
        else if (p.d->n_extents == 0)
            st = ova_err_set(err, OVA_E_FORMAT, "%s: no extents (no RW/RDONLY/NOACCESS lines)",
                             name);
    }
    if (st != OVA_OK) {
        ova_descriptor_free(&p.d);
        return st;
    }
    *out = p.d;
    return OVA_OK;
}

void ova_descriptor_free(ova_descriptor **d)
{
    if (d == NULL || *d == NULL)
        return;
    ova_descriptor *x = *d;
    for (size_t i = 0; i < x->n_extents; i++)
        extent_free(&x->extents[i]);
    free(x->extents);
    for (size_t i = 0; i < x->n_ddb; i++) {
        free(x->ddb[i].key);
        free(x->ddb[i].value);
    }
    free(x->ddb);
    free(x->create_type);
    free(x->parent_hint);
    free(x->encoding);
    free(x->encryption_key);
    free(x);
    *d = NULL;
}

const char *ova_descriptor_ddb(const ova_descriptor *d, const char *key)
{
    if (d == NULL || key == NULL)
        return NULL;
    /* from the end: a repeated key behaves as if the later line rewrote it */
    for (size_t i = d->n_ddb; i > 0; i--)
        if (strcasecmp(d->ddb[i - 1].key, key) == 0)
            return d->ddb[i - 1].value;
    return NULL;
}

uint64_t ova_descriptor_sectors(const ova_descriptor *d)
{
    if (d == NULL)
        return 0;
    /* the parser bounded the sum, so this cannot wrap */
    uint64_t sum = 0;
    for (size_t i = 0; i < d->n_extents; i++)
        sum += d->extents[i].sectors;
    return sum;
}

bool ova_descriptor_has_parent(const ova_descriptor *d)
{
    return d->parent_cid != UINT32_MAX || d->parent_hint != NULL;
}
