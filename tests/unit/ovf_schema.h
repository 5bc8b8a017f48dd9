/* ovf_schema.h - shared by the OVF tests: the DMTF OVF schema, compiled
 * once per test program with libxml2, for validating generated descriptors. */
#ifndef OVATOOL_TEST_OVF_SCHEMA_H
#define OVATOOL_TEST_OVF_SCHEMA_H

#include <libxml/tree.h>
#include <stdbool.h>

/* Compile dir/dsp8023_1.1.1.xsd (imports resolved through dir/catalog.xml,
 * never the network). The schema ships with ovatool (src/schema/), so a
 * missing one is an error. Returns 0, or -1 (with a message on stderr) if
 * the schema is missing or does not compile. */
int ovf_schema_load(const char *dir);

/* Whether a schema was loaded. */
bool ovf_schema_loaded(void);

/* 0 valid, > 0 invalid, < 0 internal error (as xmlSchemaValidateDoc).
 * quiet: do not print the validator's messages. */
int ovf_schema_validate(xmlDocPtr doc, bool quiet);

void ovf_schema_free(void);

#endif
