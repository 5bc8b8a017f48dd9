/* ovf_schema.c - the DMTF OVF schema for the OVF tests (see ovf_schema.h). */
#include "ovf_schema.h"

#include <libxml/parser.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlschemas.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static xmlSchemaPtr g_schema; /* NULL until ovf_schema_load succeeds */

static void xml_error(void *ctx, const char *msg, ...) __attribute__((format(printf, 2, 3)));
static void xml_error(void *ctx, const char *msg, ...)
{
    (void)ctx;
    va_list ap;
    va_start(ap, msg);
    vfprintf(stderr, msg, ap);
    va_end(ap);
}

/* The schema set always warns that it skips a second import of the WS-CIM
 * common schema (src/schema/README.md); that is expected noise. */
static void xml_quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int ovf_schema_load(const char *dir)
{
    char xsd[4096], catalog[4096];
    snprintf(xsd, sizeof xsd, "%s/dsp8023_1.1.1.xsd", dir);
    snprintf(catalog, sizeof catalog, "%s/catalog.xml", dir);
    if (access(xsd, R_OK) != 0) {
        fprintf(stderr, "%s not found: the OVF schema ships in src/schema/\n", xsd);
        return -1;
    }
    /* must be set before libxml2 first reads its catalogs */
    if (setenv("XML_CATALOG_FILES", catalog, 1) != 0)
        return -1;
    xmlInitParser();
    /* like xmllint --nonet: the catalog must resolve every import locally */
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
    if (pc == NULL)
        return -1;
    xmlSchemaSetParserErrors(pc, xml_error, xml_quiet, NULL);
    g_schema = xmlSchemaParse(pc);
    xmlSchemaFreeParserCtxt(pc);
    if (g_schema == NULL) {
        fprintf(stderr, "the OVF schema in %s does not compile\n", dir);
        return -1;
    }
    return 0;
}

bool ovf_schema_loaded(void) { return g_schema != NULL; }

int ovf_schema_validate(xmlDocPtr doc, bool quiet)
{
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(g_schema);
    if (vc == NULL)
        return -1;
    xmlSchemaSetValidErrors(vc, quiet ? xml_quiet : xml_error, xml_quiet, NULL);
    int rc = xmlSchemaValidateDoc(vc, doc);
    xmlSchemaFreeValidCtxt(vc);
    return rc;
}

void ovf_schema_free(void)
{
    if (g_schema != NULL)
        xmlSchemaFree(g_schema);
    g_schema = NULL;
    xmlCleanupParser();
}
