/* fuzz_vmx.c - the VMX parser and the VM model built from it (vmx.h, vm.h),
 * then the OVF writer on that model (ovf.h), since every VMX string ends up
 * in the OVF.
 *
 * Contracts checked: every parsed key is found again by ova_vmx_find (also
 * upper-cased: keys match in any case); every disk has a path; the OVF
 * written from any model that loads is well-formed XML and validates
 * against the DMTF schema (ovf.h says it does; src/schema, compiled once,
 * with its catalog, as the unit tests and xmllint --nonet check it). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlschemas.h>

#include "fuzz.h"
#include "ovatool/buf.h"
#include "ovatool/ovf.h"
#include "ovatool/vm.h"
#include "ovatool/vmx.h"

#ifndef OVATOOL_FUZZ_SCHEMA_DIR
#error "OVATOOL_FUZZ_SCHEMA_DIR (the src/schema folder) must be defined"
#endif

static xmlSchemaPtr schema; /* compiled on the first input, kept (reachable, not a leak) */

static void xml_quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void xml_print(void *ctx, const char *msg, ...) __attribute__((format(printf, 2, 3)));
static void xml_print(void *ctx, const char *msg, ...)
{
    (void)ctx;
    va_list ap;
    va_start(ap, msg);
    vfprintf(stderr, msg, ap);
    va_end(ap);
}

static void schema_load(void)
{
    if (schema != NULL)
        return;
    /* before libxml2 first reads its catalogs: every import resolves locally */
    if (setenv("XML_CATALOG_FILES", OVATOOL_FUZZ_SCHEMA_DIR "/catalog.xml", 1) != 0)
        fuzz_fail("setenv");
    xmlInitParser();
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(OVATOOL_FUZZ_SCHEMA_DIR "/dsp8023_1.1.1.xsd");
    if (pc == NULL)
        fuzz_fail("out of memory");
    xmlSchemaSetParserErrors(pc, xml_print, xml_quiet, NULL);
    schema = xmlSchemaParse(pc);
    xmlSchemaFreeParserCtxt(pc);
    if (schema == NULL)
        fuzz_fail("the OVF schema in %s does not compile", OVATOOL_FUZZ_SCHEMA_DIR);
}

static void check_lookups(const ova_vmx *vmx)
{
    for (size_t i = 0; i < vmx->n_entries; i++) {
        const ova_vmx_entry *e = &vmx->entries[i];
        if (e->key == NULL || e->value == NULL)
            fuzz_fail("entry %zu has a NULL key or value", i);
        if (ova_vmx_find(vmx, e->key) != e)
            fuzz_fail("key \"%s\" (entry %zu) is not found again", e->key, i);
        size_t n = strlen(e->key);
        char *up = malloc(n + 1);
        if (up == NULL)
            fuzz_fail("out of memory");
        for (size_t k = 0; k <= n; k++)
            up[k] = e->key[k] >= 'a' && e->key[k] <= 'z' ? (char)(e->key[k] - 'a' + 'A') : e->key[k];
        if (ova_vmx_find(vmx, up) != e)
            fuzz_fail("key \"%s\" is not found as \"%s\"", e->key, up);
        free(up);
        (void)ova_vmx_bool(vmx, e->key, false);
    }
    (void)ova_vmx_get(vmx, "displayName");
    (void)ova_vmx_getf(vmx, "scsi%d:%d.fileName", 0, 0);
}

/* The OVF of the model, one fake disk per disk device, must parse as XML. */
static void check_ovf(const ova_vm *vm)
{
    size_t nd = ova_vm_disk_count(vm);
    ova_ovf_disk *disks = calloc(nd ? nd : 1, sizeof *disks);
    char(*hrefs)[32] = calloc(nd ? nd : 1, sizeof *hrefs);
    if (disks == NULL || hrefs == NULL)
        fuzz_fail("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < vm->n_devices; i++) {
        if (vm->devices[i].kind != OVA_DEV_DISK)
            continue;
        if (k == nd)
            fuzz_fail("more disk devices than ova_vm_disk_count says (%zu)", nd);
        snprintf(hrefs[k], sizeof hrefs[k], "fuzz-disk%zu.vmdk", k + 1);
        disks[k] = (ova_ovf_disk){ hrefs[k], 65536u * (k + 1), (uint64_t)8 << 30, 65536u * (k + 1),
                                   &vm->devices[i] };
        k++;
    }
    if (k != nd)
        fuzz_fail("ova_vm_disk_count says %zu disks, the devices hold %zu", nd, k);
    for (int hw = 0; hw <= 1; hw++) {
        ova_ovf_options opts = { hw ? 10 : 0 };
        ova_buf out = OVA_BUF_INIT;
        ova_err err = { 0 };
        if (ova_ovf_write(vm, disks, nd, &opts, &out, &err) == OVA_OK) {
            if (out.len == 0 || out.len > 0x7fffffff)
                fuzz_fail("OVF of %zu bytes", out.len);
            xmlDocPtr doc = xmlReadMemory(out.data, (int)out.len, "fuzz.ovf", NULL,
                                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
            if (doc == NULL) {
                fprintf(stderr, "%.*s\n", (int)out.len, out.data);
                fuzz_fail("ova_ovf_write wrote an OVF that is not well-formed XML (above)");
            }
            xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
            if (vc == NULL)
                fuzz_fail("out of memory");
            xmlSchemaSetValidErrors(vc, xml_quiet, xml_quiet, NULL);
            int rc = xmlSchemaValidateDoc(vc, doc);
            if (rc != 0) {
                fprintf(stderr, "%.*s\n", (int)out.len, out.data);
                xmlSchemaSetValidErrors(vc, xml_print, xml_quiet, NULL);
                (void)xmlSchemaValidateDoc(vc, doc);
                fuzz_fail("ova_ovf_write wrote an OVF that does not validate against the DMTF schema (above)");
            }
            xmlSchemaFreeValidCtxt(vc);
            xmlFreeDoc(doc);
        }
        ova_buf_free(&out);
    }
    free(hrefs);
    free(disks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    schema_load();
    ova_vmx *vmx = NULL;
    ova_err err = { 0 };
    if (ova_vmx_parse((const char *)data, size, "fuzz.vmx", &vmx, &err) != OVA_OK) {
        if (vmx != NULL)
            fuzz_fail("ova_vmx_parse failed but returned a table");
        return 0;
    }
    check_lookups(vmx);
    ova_vm *vm = NULL;
    ova_err verr = { 0 };
    if (ova_vm_from_vmx(vmx, "/fuzz-vm/fuzz.vmx", &vm, &verr) == OVA_OK) {
        for (size_t i = 0; i < vm->n_devices; i++) {
            const ova_device *d = &vm->devices[i];
            if (d->kind == OVA_DEV_DISK && (d->path == NULL || d->file_name == NULL))
                fuzz_fail("disk %s without a path", d->key_prefix ? d->key_prefix : "?");
        }
        check_ovf(vm);
        ova_vm_free(&vm);
    } else if (vm != NULL) {
        fuzz_fail("ova_vm_from_vmx failed but returned a model");
    } else if (verr.msg[0] == '\0') {
        fuzz_fail("ova_vm_from_vmx failed without a message");
    }
    ova_vmx_free(&vmx);
    return 0;
}
