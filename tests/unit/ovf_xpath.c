/* ovf_xpath.c - XPath plumbing and descriptor invariants for the OVF unit
 * tests (see ovf_xpath.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovf_schema.h"
#include "ovf_xpath.h"

unsigned long ovf_xpath_checks;

/* ------------------------------------------------------------------ */
/* libxml2 plumbing                                                    */

xmlDocPtr ovf_xml_read(const char *data, size_t len)
{
    return xmlReadMemory(data, (int)len, "generated.ovf", NULL, XML_PARSE_NONET);
}

ovfdoc ovf_doc_parse(const ova_buf *b)
{
    ovfdoc d;
    d.doc = ovf_xml_read(b->data, b->len);
    assert_non_null(d.doc);
    assert_true(ovf_schema_loaded());
    ovf_xpath_checks++;
    if (ovf_schema_validate(d.doc, false) != 0) {
        fprintf(stderr, "%s", b->data);
        fail_msg("the generated OVF does not validate against DSP8023");
    }
    d.xp = xmlXPathNewContext(d.doc);
    assert_non_null(d.xp);
    assert_int_equal(xmlXPathRegisterNs(d.xp, (const xmlChar *)"ovf", (const xmlChar *)NS_OVF), 0);
    assert_int_equal(xmlXPathRegisterNs(d.xp, (const xmlChar *)"rasd", (const xmlChar *)NS_RASD), 0);
    assert_int_equal(xmlXPathRegisterNs(d.xp, (const xmlChar *)"vssd", (const xmlChar *)NS_VSSD), 0);
    assert_int_equal(xmlXPathRegisterNs(d.xp, (const xmlChar *)"vmw", (const xmlChar *)NS_VMW), 0);
    return d;
}

void close_doc(ovfdoc *d)
{
    xmlXPathFreeContext(d->xp);
    xmlFreeDoc(d->doc);
}

xmlXPathObjectPtr xp_eval(ovfdoc *d, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, d->xp);
    if (o == NULL)
        fail_msg("XPath expression does not compile: %s", expr);
    return o;
}

double xp_num(ovfdoc *d, const char *expr)
{
    xmlXPathObjectPtr o = xp_eval(d, expr);
    double v = xmlXPathCastToNumber(o);
    xmlXPathFreeObject(o);
    return v;
}

char *xp_str(ovfdoc *d, const char *expr)
{
    xmlXPathObjectPtr o = xp_eval(d, expr);
    xmlChar *s = xmlXPathCastToString(o);
    xmlXPathFreeObject(o);
    char *r = strdup((const char *)s);
    xmlFree(s);
    assert_non_null(r);
    return r;
}

static void vformat(char *dst, size_t n, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void vformat(char *dst, size_t n, const char *fmt, va_list ap)
{
    int k = vsnprintf(dst, n, fmt, ap);
    assert_true(k >= 0 && (size_t)k < n);
}

void fmt_to(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(dst, n, fmt, ap);
    va_end(ap);
}

void check_str(ovfdoc *d, int line, const char *want, const char *fmt, ...)
{
    char expr[1024];
    va_list ap;
    va_start(ap, fmt);
    vformat(expr, sizeof expr, fmt, ap);
    va_end(ap);
    ovf_xpath_checks++;
    char *got = xp_str(d, expr);
    if (strcmp(got, want) != 0) {
        print_error("line %d: %s\n  got  \"%s\"\n  want \"%s\"\n", line, expr, got, want);
        free(got);
        fail();
    }
    free(got);
}

void check_num(ovfdoc *d, int line, double want, const char *fmt, ...)
{
    char expr[1024];
    va_list ap;
    va_start(ap, fmt);
    vformat(expr, sizeof expr, fmt, ap);
    va_end(ap);
    ovf_xpath_checks++;
    double got = xp_num(d, expr);
    if (got != want) {
        print_error("line %d: %s\n  got  %g\n  want %g\n", line, expr, got, want);
        fail();
    }
}

/* ------------------------------------------------------------------ */
/* invariants every generated descriptor must satisfy                   */

static bool is_ns(xmlNodePtr n, const char *uri)
{
    return n->ns != NULL && strcmp((const char *)n->ns->href, uri) == 0;
}

/* rasd children in strictly ascending alphabetical order of local name (so
 * each at most once: the CIM schema declares rasd as an ordered sequence),
 * vmw: children only after the last rasd child, nothing else inside. */
void check_item_children(ovfdoc *d)
{
    xmlXPathObjectPtr o = xp_eval(d, "//ovf:Item");
    assert_non_null(o->nodesetval);
    for (int i = 0; i < o->nodesetval->nodeNr; i++) {
        const char *prev = "";
        bool ext_seen = false;
        for (xmlNodePtr c = o->nodesetval->nodeTab[i]->children; c != NULL; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            ovf_xpath_checks++;
            if (is_ns(c, NS_RASD)) {
                if (ext_seen)
                    fail_msg("Item %d: rasd:%s after a vmw: element", i + 1, (const char *)c->name);
                if (strcmp(prev, (const char *)c->name) >= 0)
                    fail_msg("Item %d: rasd:%s after rasd:%s", i + 1, (const char *)c->name, prev);
                prev = (const char *)c->name;
            } else if (is_ns(c, NS_VMW)) {
                ext_seen = true;
            } else {
                fail_msg("Item %d: unexpected child %s", i + 1, (const char *)c->name);
            }
        }
    }
    xmlXPathFreeObject(o);
}

/* InstanceIDs 1..N in document order (so unique and consecutive); CPU and
 * memory first; every Parent names a controller Item that comes earlier. */
void check_instance_ids(ovfdoc *d)
{
    int n = (int)xp_num(d, "count(" VHS "/ovf:Item)");
    assert_true(n >= 2);
    CHECK_NUM(d, n, "count(//ovf:Item)"); /* no Item outside the hardware section */
    for (int i = 1; i <= n; i++) {
        CHECK_NUM(d, 1, "count(" VHS "/ovf:Item[%d]/rasd:InstanceID)", i);
        CHECK_NUM(d, i, "number(" VHS "/ovf:Item[%d]/rasd:InstanceID)", i);
    }
    CHECK_NUM(d, 0, "count(//ovf:Item[rasd:InstanceID = preceding-sibling::ovf:Item/rasd:InstanceID])");
    CHECK_STR(d, "3", VHS "/ovf:Item[1]/rasd:ResourceType");
    CHECK_STR(d, "4", VHS "/ovf:Item[2]/rasd:ResourceType");

    CHECK_NUM(d, 0, "count(//ovf:Item[count(rasd:Parent) > 1])");
    CHECK_NUM(d, 0, "count(//ovf:Item[rasd:Parent >= rasd:InstanceID])");
    xmlXPathObjectPtr o = xp_eval(d, "//ovf:Item/rasd:Parent");
    for (int i = 0; o->nodesetval != NULL && i < o->nodesetval->nodeNr; i++) {
        xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
        CHECK_NUM(d, 1,
                  "count(//ovf:Item[rasd:InstanceID='%s'][rasd:ResourceType=5 or rasd:ResourceType=6"
                  " or rasd:ResourceType=20])",
                  (const char *)v);
        xmlFree(v);
    }
    xmlXPathFreeObject(o);
    /* disks and CD-ROMs always hang off a controller, at a unit */
    CHECK_NUM(d, 0, "count(//ovf:Item[rasd:ResourceType=15 or rasd:ResourceType=17]"
                    "[not(rasd:Parent) or not(rasd:AddressOnParent)])");
    /* controllers carry their bus number */
    CHECK_NUM(d, 0, "count(//ovf:Item[rasd:ResourceType=5 or rasd:ResourceType=6 or rasd:ResourceType=20]"
                    "[not(rasd:Address)])");
}

/* vmw: elements only after the last Item of the section (vmw:Config neither
 * before an Item nor before the System), or after the rasd children of an
 * Item (check_item_children), nowhere else. */
void check_ext_placement(ovfdoc *d)
{
    CHECK_NUM(d, 0, "count(//ovf:VirtualHardwareSection/vmw:*/following-sibling::ovf:*)");
    CHECK_NUM(d, 0, "count(//vmw:*[not(parent::ovf:VirtualHardwareSection) and not(parent::ovf:Item)])");
    CHECK_NUM(d, 0, "count(//ovf:Item/vmw:*/following-sibling::rasd:*)");
    CHECK_NUM(d, 0, "count(//vmw:*[not(@ovf:required='false')])");
}

void ovf_check_invariants(ovfdoc *d)
{
    check_item_children(d);
    check_instance_ids(d);
    check_ext_placement(d);
}
