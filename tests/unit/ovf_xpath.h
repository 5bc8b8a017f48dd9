/* ovf_xpath.h - shared by the OVF unit tests (test_ovf.c, test_vmx_ovf.c):
 * a generated descriptor parsed with libxml2 and read with XPath, checks
 * that report the expression and the caller's line, and the invariants
 * every generated descriptor must satisfy. */
#ifndef OVATOOL_TEST_OVF_XPATH_H
#define OVATOOL_TEST_OVF_XPATH_H

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stddef.h>

#include "ovatool/buf.h"

#define NS_OVF "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_RASD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
#define NS_VSSD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
#define NS_VMW "http://www.vmware.com/schema/ovf"

/* an Item picked by its ElementName */
#define ITEM "//ovf:VirtualHardwareSection/ovf:Item[rasd:ElementName='%s']"
#define VHS "/ovf:Envelope/ovf:VirtualSystem/ovf:VirtualHardwareSection"

typedef struct ovfdoc {
    xmlDocPtr doc;
    xmlXPathContextPtr xp;
} ovfdoc;

/* Checks made by check_str, check_num, the invariants and the schema
 * validation of ovf_doc_parse (a test may report it). */
extern unsigned long ovf_xpath_checks;

/* data parsed as "generated.ovf", never touching the network; NULL if not
 * well-formed */
xmlDocPtr ovf_xml_read(const char *data, size_t len);

/* b parsed (the test fails if it is not well-formed), validated against the
 * DMTF schema when ovf_schema_load() found it (the test fails, printing the
 * text, if it is invalid), with an XPath context that knows the prefixes
 * ovf, rasd, vssd and vmw. Free with close_doc(). */
ovfdoc ovf_doc_parse(const ova_buf *b);
void close_doc(ovfdoc *d);

/* Compile and evaluate expr; the test fails if it does not compile. */
xmlXPathObjectPtr xp_eval(ovfdoc *d, const char *expr);
/* number(expr) */
double xp_num(ovfdoc *d, const char *expr);
/* string(expr) as a malloc'd C string */
char *xp_str(ovfdoc *d, const char *expr);

/* snprintf into dst; the test fails if it does not fit */
void fmt_to(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks that report the XPath expression and the caller's line. */
void check_str(ovfdoc *d, int line, const char *want, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void check_num(ovfdoc *d, int line, double want, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define CHECK_STR(d, want, ...) check_str((d), __LINE__, (want), __VA_ARGS__)
#define CHECK_NUM(d, want, ...) check_num((d), __LINE__, (want), __VA_ARGS__)

/* Invariants every generated descriptor must satisfy. */
/* rasd children of each Item in strictly ascending alphabetical order of
 * local name, vmw: children only after them, nothing else inside an Item */
void check_item_children(ovfdoc *d);
/* InstanceIDs 1..N in document order, CPU and memory first; every Parent
 * names a controller Item that comes earlier; disks, CD-ROMs and
 * controllers carry their addresses */
void check_instance_ids(ovfdoc *d);
/* vmw: elements only after the last Item of the section, or after the rasd
 * children of an Item, and never required */
void check_ext_placement(ovfdoc *d);
/* the three above */
void ovf_check_invariants(ovfdoc *d);

#endif
