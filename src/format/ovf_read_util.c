/* ovf_read_util.c - element and attribute access for the OVF reader, in
 * either OVF namespace (1.x and 2.x envelopes name the same elements), units
 * of allocation as every producer writes them, and the reader's messages. */
#include "format/ovf_read.h"
#include "format/ovf_units.h"
#include "util/grow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool ns_is(const xmlNode *n, const char *href)
{
    return n->ns != NULL && n->ns->href != NULL && strcmp((const char *)n->ns->href, href) == 0;
}

bool ova_rd_is_local(const xmlNode *n, const char *local)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0;
}

bool ova_rd_is_ovf(const xmlNode *n, const char *local)
{
    return ova_rd_is_local(n, local) && (ns_is(n, OVA_OVF1_NS) || ns_is(n, OVA_OVF2_NS));
}

bool ova_rd_is_vmw(const xmlNode *n, const char *local)
{
    return ova_rd_is_local(n, local) && ns_is(n, OVA_VMW_NS);
}

xmlNode *ova_rd_child(const xmlNode *n, const char *local)
{
    for (xmlNode *c = n->children; c != NULL; c = c->next)
        if (ova_rd_is_local(c, local))
            return c;
    return NULL;
}

/* libxml2's strings go through xmlFree; the reader's through free(), so the
 * callers have one rule. */
static char *to_malloc(xmlChar *x, bool *oom)
{
    if (x == NULL)
        return NULL;
    char *s = strdup((const char *)x);
    xmlFree(x);
    if (s == NULL && oom != NULL)
        *oom = true;
    return s;
}

char *ova_rd_attr(const xmlNode *n, const char *name, bool vmw, bool *oom)
{
    const xmlChar *nm = (const xmlChar *)name;
    if (vmw)
        return to_malloc(xmlGetNsProp(n, nm, (const xmlChar *)OVA_VMW_NS), oom);
    xmlChar *v = xmlGetNsProp(n, nm, (const xmlChar *)OVA_OVF1_NS);
    if (v == NULL)
        v = xmlGetNsProp(n, nm, (const xmlChar *)OVA_OVF2_NS);
    return to_malloc(v, oom);
}

char *ova_rd_text(const xmlNode *n, bool trim)
{
    xmlChar *x = xmlNodeGetContent(n);
    char *s = to_malloc(x != NULL ? x : xmlStrdup((const xmlChar *)""), NULL);
    if (s == NULL || !trim)
        return s;
    size_t a = strspn(s, " \t\r\n"), e = strlen(s);
    while (e > a && strchr(" \t\r\n", s[e - 1]) != NULL)
        e--;
    memmove(s, s + a, e - a);
    s[e - a] = '\0';
    return s;
}

bool ova_rd_units(const char *s, uint64_t def, uint64_t *mult)
{
    if (s == NULL) {
        *mult = def;
        return true;
    }
    /* VirtualBox and older tools write names instead of DSP0004 units;
     * ovftool reads them as powers of 2, and so does this */
    static const struct {
        const char *name;
        unsigned shift;
    } named[] = { { "KiloBytes", 10 }, { "KB", 10 }, { "MegaBytes", 20 }, { "MB", 20 },
                  { "GigaBytes", 30 }, { "GB", 30 }, { "TeraBytes", 40 }, { "TB", 40 } };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strcasecmp(s, named[i].name) == 0) {
            *mult = (uint64_t)1 << named[i].shift;
            return true;
        }
    return ova_ovf_parse_units(s, mult) && *mult != 0;
}

char *ova_rd_field(const xmlNode *n, const char *local, bool *oom)
{
    const xmlNode *c = ova_rd_child(n, local);
    if (c == NULL)
        return NULL;
    char *s = ova_rd_text(c, true);
    if (s == NULL)
        *oom = true;
    return s;
}

long ova_rd_line(const xmlNode *n)
{
    return n != NULL ? xmlGetLineNo(n) : 0;
}

ova_status ova_rd_nomem(ova_rd *r)
{
    return ova_err_set(r->err, OVA_E_NOMEM, "%s: out of memory reading the OVF descriptor", r->name);
}

ova_status ova_rd_fail(ova_rd *r, ova_status st, const xmlNode *n, const char *fmt, ...)
{
    char what[OVA_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (n == NULL)
        return ova_err_set(r->err, st, "%s: %s", r->name, what);
    return ova_err_set(r->err, st, "%s: line %ld: <%s>: %s", r->name, ova_rd_line(n), (const char *)n->name, what);
}

ova_status ova_rd_warn(ova_rd *r, const char *fmt, ...)
{
    ova_import_desc *d = r->d;
    char **grown = ova_grow(d->warnings, &r->cap_warnings, d->n_warnings + 1, sizeof *grown);
    if (grown == NULL)
        return ova_rd_nomem(r);
    d->warnings = grown;
    char what[OVA_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (asprintf(&d->warnings[d->n_warnings], "%s: %s", r->name, what) < 0)
        return ova_rd_nomem(r);
    d->n_warnings++;
    return OVA_OK;
}
