/* test_ovf.c - unit tests of the OVF writer (ova_ovf_write) and the guest table (ova_guest_lookup).
 *
 * Each generated descriptor is parsed with libxml2 and checked item by item
 * with XPath, never compared as a whole string: the tests pin what importers
 * read, not incidental layout. Every descriptor is also validated against the
 * DMTF OVF 1.x schema in ../shared/ovf-schema when that folder is present
 * (it sits beside the repository clone, locally and in CI); without it the
 * schema check is skipped with a message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovatool/ovf.h"

#define SCHEMA_DIR OVATOOL_SCHEMA_DIR

#define NS_OVF "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_RASD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
#define NS_VSSD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
#define NS_VMW "http://www.vmware.com/schema/ovf"

static xmlSchemaPtr g_schema; /* NULL: schema folder absent, validation skipped */

/* ------------------------------------------------------------------ */
/* libxml2 plumbing                                                    */

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
 * common schema (SOURCE.md); that is expected noise. */
static void xml_warning(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static int group_setup(void **state)
{
    (void)state;
    if (access(SCHEMA_DIR "/dsp8023_1.1.1.xsd", R_OK) != 0) {
        print_message("note: %s not found, skipping OVF schema validation\n", SCHEMA_DIR);
        return 0;
    }
    /* must be set before libxml2 first reads its catalogs */
    if (setenv("XML_CATALOG_FILES", SCHEMA_DIR "/catalog.xml", 1) != 0)
        return -1;
    xmlInitParser();
    /* like xmllint --nonet: the catalog must resolve every import locally */
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(SCHEMA_DIR "/dsp8023_1.1.1.xsd");
    if (pc == NULL)
        return -1;
    xmlSchemaSetParserErrors(pc, xml_error, xml_warning, NULL);
    g_schema = xmlSchemaParse(pc);
    xmlSchemaFreeParserCtxt(pc);
    if (g_schema == NULL) {
        print_error("the OVF schema in %s does not compile\n", SCHEMA_DIR);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_schema != NULL)
        xmlSchemaFree(g_schema);
    g_schema = NULL;
    xmlCleanupParser();
    return 0;
}

/* 0 valid, >0 invalid, <0 internal error (as xmlSchemaValidateDoc). */
static int schema_validate(xmlDocPtr doc, bool quiet)
{
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(g_schema);
    assert_non_null(vc);
    if (quiet)
        xmlSchemaSetValidErrors(vc, xml_warning, xml_warning, NULL);
    else
        xmlSchemaSetValidErrors(vc, xml_error, xml_warning, NULL);
    int rc = xmlSchemaValidateDoc(vc, doc);
    xmlSchemaFreeValidCtxt(vc);
    return rc;
}

typedef struct ovfdoc {
    xmlDocPtr doc;
    xmlXPathContextPtr xp;
} ovfdoc;

static xmlDocPtr parse_buf(const char *data, size_t len)
{
    return xmlReadMemory(data, (int)len, "generated.ovf", NULL, XML_PARSE_NONET);
}

static xmlXPathObjectPtr xp_eval(ovfdoc *d, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, d->xp);
    if (o == NULL)
        fail_msg("XPath expression does not compile: %s", expr);
    return o;
}

static double xp_num(ovfdoc *d, const char *expr)
{
    xmlXPathObjectPtr o = xp_eval(d, expr);
    double v = xmlXPathCastToNumber(o);
    xmlXPathFreeObject(o);
    return v;
}

/* string(expr) as a malloc'd C string */
static char *xp_str(ovfdoc *d, const char *expr)
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

/* Checks that report the XPath expression and the caller's line. */
static void check_str(ovfdoc *d, int line, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void check_str(ovfdoc *d, int line, const char *want, const char *fmt, ...)
{
    char expr[1024];
    va_list ap;
    va_start(ap, fmt);
    vformat(expr, sizeof expr, fmt, ap);
    va_end(ap);
    char *got = xp_str(d, expr);
    if (strcmp(got, want) != 0) {
        print_error("line %d: %s\n  got  \"%s\"\n  want \"%s\"\n", line, expr, got, want);
        free(got);
        fail();
    }
    free(got);
}

static void check_num(ovfdoc *d, int line, double want, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void check_num(ovfdoc *d, int line, double want, const char *fmt, ...)
{
    char expr[1024];
    va_list ap;
    va_start(ap, fmt);
    vformat(expr, sizeof expr, fmt, ap);
    va_end(ap);
    double got = xp_num(d, expr);
    if (got != want) {
        print_error("line %d: %s\n  got  %g\n  want %g\n", line, expr, got, want);
        fail();
    }
}

#define CHECK_STR(d, want, ...) check_str((d), __LINE__, (want), __VA_ARGS__)
#define CHECK_NUM(d, want, ...) check_num((d), __LINE__, (want), __VA_ARGS__)
/* an Item picked by its ElementName */
#define ITEM "//ovf:VirtualHardwareSection/ovf:Item[rasd:ElementName='%s']"

/* ------------------------------------------------------------------ */
/* checks every generated descriptor must pass                          */

/* The serialisation habits of ovf-conventions.md 2, checked on the text. */
static void check_text_form(const ova_buf *b)
{
    static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!--Generated by ovatool-->\n";
    static const char env[] =
        "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""
        " xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\""
        " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""
        " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\""
        " xmlns:vmw=\"http://www.vmware.com/schema/ovf\""
        " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\""
        " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n";
    static const char tail[] = "</VirtualSystem>\n</Envelope>\n";

    assert_non_null(b->data);
    assert_int_equal(strlen(b->data), b->len); /* no NUL inside */
    assert_true(b->len > sizeof head + sizeof env + sizeof tail);
    assert_memory_equal(b->data, head, sizeof head - 1);
    assert_memory_equal(b->data + sizeof head - 1, env, sizeof env - 1);
    assert_memory_equal(b->data + b->len - (sizeof tail - 1), tail, sizeof tail - 1);
    assert_null(memchr(b->data, '\r', b->len));  /* LF only */
    assert_null(strstr(b->data, " />"));         /* ovftool's <File .../> */
    assert_null(strstr(b->data, "\n\n"));

    /* two-space indentation: each line opens with an even run of blanks and
     * then a tag; annotation text lines are the one exception */
    const char *p = b->data;
    bool in_annotation = false;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        assert_non_null(eol);
        size_t blanks = strspn(p, " ");
        if (!in_annotation) {
            assert_int_equal(blanks % 2, 0);
            assert_true(p[blanks] == '<');
        }
        if (memmem(p, (size_t)(eol - p), "<Annotation>", 12) != NULL)
            in_annotation = true;
        if (memmem(p, (size_t)(eol - p), "</Annotation>", 13) != NULL)
            in_annotation = false;
        p = eol + 1;
    }
}

static bool is_ns(xmlNodePtr n, const char *uri)
{
    return n->ns != NULL && strcmp((const char *)n->ns->href, uri) == 0;
}

/* rasd children in alphabetical order of local name, vmw: ones after them
 * (the CIM schema declares rasd as an ordered sequence). */
static void check_item_children(ovfdoc *d)
{
    xmlXPathObjectPtr o = xp_eval(d, "//ovf:Item");
    assert_non_null(o->nodesetval);
    for (int i = 0; i < o->nodesetval->nodeNr; i++) {
        const char *prev = "";
        bool ext_seen = false;
        for (xmlNodePtr c = o->nodesetval->nodeTab[i]->children; c != NULL; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            if (is_ns(c, NS_RASD)) {
                assert_false(ext_seen);
                if (strcmp(prev, (const char *)c->name) >= 0)
                    fail_msg("rasd:%s after rasd:%s", (const char *)c->name, prev);
                prev = (const char *)c->name;
            } else {
                assert_true(is_ns(c, NS_VMW));
                ext_seen = true;
            }
        }
    }
    xmlXPathFreeObject(o);
}

/* InstanceIDs 1..N in document order; every Parent names an earlier Item. */
static void check_instance_ids(ovfdoc *d)
{
    int n = (int)xp_num(d, "count(//ovf:Item)");
    assert_true(n >= 2);
    for (int i = 1; i <= n; i++)
        CHECK_NUM(d, i, "number(//ovf:Item[%d]/rasd:InstanceID)", i);
    CHECK_NUM(d, 0, "count(//ovf:Item[rasd:Parent >= rasd:InstanceID])");
    xmlXPathObjectPtr o = xp_eval(d, "//ovf:Item/rasd:Parent");
    for (int i = 0; o->nodesetval != NULL && i < o->nodesetval->nodeNr; i++) {
        xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
        CHECK_NUM(d, 1, "count(//ovf:Item[rasd:InstanceID='%s'][rasd:ResourceType=5 or rasd:ResourceType=6"
                        " or rasd:ResourceType=20])", (const char *)v);
        xmlFree(v);
    }
    xmlXPathFreeObject(o);
}

/* vmw:Config only after the last Item */
static void check_ext_placement(ovfdoc *d)
{
    CHECK_NUM(d, 0, "count(//ovf:VirtualHardwareSection/vmw:Config/following-sibling::ovf:Item)");
    CHECK_NUM(d, 0, "count(//ovf:VirtualHardwareSection/vmw:Config/following-sibling::ovf:System)");
}

static ovfdoc open_doc(const ova_buf *b)
{
    check_text_form(b);
    ovfdoc d;
    d.doc = parse_buf(b->data, b->len);
    assert_non_null(d.doc);
    if (g_schema != NULL && schema_validate(d.doc, false) != 0) {
        fprintf(stderr, "%s", b->data);
        fail_msg("the generated OVF does not validate against DSP8023");
    }
    d.xp = xmlXPathNewContext(d.doc);
    assert_non_null(d.xp);
    assert_int_equal(xmlXPathRegisterNs(d.xp, (const xmlChar *)"ovf", (const xmlChar *)NS_OVF), 0);
    assert_int_equal(xmlXPathRegisterNs(d.xp, (const xmlChar *)"rasd", (const xmlChar *)NS_RASD), 0);
    assert_int_equal(xmlXPathRegisterNs(d.xp, (const xmlChar *)"vssd", (const xmlChar *)NS_VSSD), 0);
    assert_int_equal(xmlXPathRegisterNs(d.xp, (const xmlChar *)"vmw", (const xmlChar *)NS_VMW), 0);
    check_item_children(&d);
    check_instance_ids(&d);
    check_ext_placement(&d);
    return d;
}

static void close_doc(ovfdoc *d)
{
    xmlXPathFreeContext(d->xp);
    xmlFreeDoc(d->doc);
}

static void write_ok(const ova_vm *vm, const ova_ovf_disk *disks, size_t n, int target_hw, ova_buf *out)
{
    ova_err err;
    ova_err_clear(&err);
    ova_ovf_options o = { target_hw };
    ova_status st = ova_ovf_write(vm, disks, n, &o, out, &err);
    if (st != OVA_OK)
        fail_msg("ova_ovf_write failed (%s): %s", ova_strstatus(st), err.msg);
}

/* ------------------------------------------------------------------ */
/* VM: one LSI Logic disk, one E1000 NIC                                */

static ova_controller basic_ctrl[] = { { OVA_BUS_SCSI, 0, OVA_SCSI_LSILOGIC } };
static ova_device basic_dev[] = {
    { OVA_DEV_DISK, OVA_BUS_SCSI, 0, 0, "basic.vmdk", "/vms/basic/basic.vmdk", "scsi0:0" },
};
static ova_nic basic_nic[] = { { 0, OVA_NIC_E1000, "nat", true } };
static ova_vm basic_vm = {
    .vmx_path = "/vms/basic/basic.vmx", .vmx_dir = "/vms/basic", .display_name = "basic",
    .guest_os = "ubuntu-64", .annotation = NULL, .num_vcpus = 2, .cores_per_socket = 0,
    .memory_mb = 2048, .hw_version = 19, .efi = false, .secure_boot = false,
    .controllers = basic_ctrl, .n_controllers = 1, .devices = basic_dev, .n_devices = 1,
    .nics = basic_nic, .n_nics = 1,
};
static ova_ovf_disk basic_disks[] = {
    { "basic-disk1.vmdk", 734003200, 21474836480ULL, 2147483648ULL, &basic_dev[0] },
};

static void test_basic_vm(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    write_ok(&basic_vm, basic_disks, 1, 0, &b);
    ovfdoc d = open_doc(&b);

    /* Envelope order: References, DiskSection, NetworkSection, VirtualSystem */
    CHECK_STR(&d, "References", "local-name(/ovf:Envelope/*[1])");
    CHECK_STR(&d, "DiskSection", "local-name(/ovf:Envelope/*[2])");
    CHECK_STR(&d, "NetworkSection", "local-name(/ovf:Envelope/*[3])");
    CHECK_STR(&d, "VirtualSystem", "local-name(/ovf:Envelope/*[4])");
    CHECK_NUM(&d, 4, "count(/ovf:Envelope/*)");

    CHECK_NUM(&d, 1, "count(//ovf:References/ovf:File)");
    CHECK_STR(&d, "basic-disk1.vmdk", "//ovf:File/@ovf:href");
    CHECK_STR(&d, "file1", "//ovf:File/@ovf:id");
    CHECK_STR(&d, "734003200", "//ovf:File/@ovf:size");

    CHECK_STR(&d, "Virtual disk information", "//ovf:DiskSection/ovf:Info");
    CHECK_NUM(&d, 1, "count(//ovf:DiskSection/ovf:Disk)");
    CHECK_STR(&d, "21474836480", "//ovf:Disk/@ovf:capacity");
    CHECK_STR(&d, "byte", "//ovf:Disk/@ovf:capacityAllocationUnits");
    CHECK_STR(&d, "vmdisk1", "//ovf:Disk/@ovf:diskId");
    CHECK_STR(&d, "file1", "//ovf:Disk/@ovf:fileRef");
    CHECK_STR(&d, "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized",
              "//ovf:Disk/@ovf:format");
    CHECK_STR(&d, "2147483648", "//ovf:Disk/@ovf:populatedSize");
    /* attributes alphabetical, as ovftool writes them */
    assert_non_null(strstr(b.data, "<Disk ovf:capacity=\"21474836480\" ovf:capacityAllocationUnits=\"byte\" "
                                   "ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" ovf:format=\""));
    assert_non_null(strstr(b.data, "<File ovf:href=\"basic-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"734003200\"/>"));

    CHECK_STR(&d, "The list of logical networks", "//ovf:NetworkSection/ovf:Info");
    CHECK_NUM(&d, 1, "count(//ovf:Network)");
    CHECK_STR(&d, "nat", "//ovf:Network/@ovf:name");
    CHECK_STR(&d, "The nat network", "//ovf:Network/ovf:Description");

    CHECK_STR(&d, "vm", "/ovf:Envelope/ovf:VirtualSystem/@ovf:id");
    CHECK_STR(&d, "A virtual machine", "/ovf:Envelope/ovf:VirtualSystem/ovf:Info");
    CHECK_STR(&d, "basic", "/ovf:Envelope/ovf:VirtualSystem/ovf:Name");
    CHECK_STR(&d, "94", "//ovf:OperatingSystemSection/@ovf:id");
    CHECK_STR(&d, "ubuntu64Guest", "//ovf:OperatingSystemSection/@vmw:osType");
    CHECK_STR(&d, "The kind of installed guest operating system", "//ovf:OperatingSystemSection/ovf:Info");
    CHECK_STR(&d, "Ubuntu Linux (64-bit)", "//ovf:OperatingSystemSection/ovf:Description");

    CHECK_STR(&d, "Virtual hardware requirements", "//ovf:VirtualHardwareSection/ovf:Info");
    CHECK_STR(&d, "Virtual Hardware Family", "//ovf:System/vssd:ElementName");
    CHECK_STR(&d, "0", "//ovf:System/vssd:InstanceID");
    CHECK_STR(&d, "basic", "//ovf:System/vssd:VirtualSystemIdentifier");
    CHECK_STR(&d, "vmx-19", "//ovf:System/vssd:VirtualSystemType");

    CHECK_NUM(&d, 5, "count(//ovf:Item)");
    CHECK_STR(&d, "hertz * 10^6", "//ovf:Item[1]/rasd:AllocationUnits");
    CHECK_STR(&d, "Number of Virtual CPUs", "//ovf:Item[1]/rasd:Description");
    CHECK_STR(&d, "2 virtual CPU(s)", "//ovf:Item[1]/rasd:ElementName");
    CHECK_STR(&d, "3", "//ovf:Item[1]/rasd:ResourceType");
    CHECK_STR(&d, "2", "//ovf:Item[1]/rasd:VirtualQuantity");
    CHECK_NUM(&d, 0, "count(//vmw:CoresPerSocket)");

    CHECK_STR(&d, "byte * 2^20", "//ovf:Item[2]/rasd:AllocationUnits");
    CHECK_STR(&d, "Memory Size", "//ovf:Item[2]/rasd:Description");
    CHECK_STR(&d, "2048MB of memory", "//ovf:Item[2]/rasd:ElementName");
    CHECK_STR(&d, "4", "//ovf:Item[2]/rasd:ResourceType");
    CHECK_STR(&d, "2048", "//ovf:Item[2]/rasd:VirtualQuantity");

    CHECK_STR(&d, "3", ITEM "/rasd:InstanceID", "scsiController0");
    CHECK_STR(&d, "0", ITEM "/rasd:Address", "scsiController0");
    CHECK_STR(&d, "SCSI Controller", ITEM "/rasd:Description", "scsiController0");
    CHECK_STR(&d, "lsilogic", ITEM "/rasd:ResourceSubType", "scsiController0");
    CHECK_STR(&d, "6", ITEM "/rasd:ResourceType", "scsiController0");

    CHECK_STR(&d, "4", ITEM "/rasd:InstanceID", "disk0");
    CHECK_STR(&d, "0", ITEM "/rasd:AddressOnParent", "disk0");
    CHECK_STR(&d, "ovf:/disk/vmdisk1", ITEM "/rasd:HostResource", "disk0");
    CHECK_STR(&d, "3", ITEM "/rasd:Parent", "disk0");
    CHECK_STR(&d, "17", ITEM "/rasd:ResourceType", "disk0");
    CHECK_NUM(&d, 0, "count(" ITEM "/@ovf:required)", "disk0");

    CHECK_STR(&d, "5", ITEM "/rasd:InstanceID", "ethernet0");
    CHECK_STR(&d, "2", ITEM "/rasd:AddressOnParent", "ethernet0");
    CHECK_STR(&d, "true", ITEM "/rasd:AutomaticAllocation", "ethernet0");
    CHECK_STR(&d, "nat", ITEM "/rasd:Connection", "ethernet0");
    CHECK_STR(&d, "E1000 ethernet adapter on \"nat\"", ITEM "/rasd:Description", "ethernet0");
    CHECK_STR(&d, "E1000", ITEM "/rasd:ResourceSubType", "ethernet0");
    CHECK_STR(&d, "10", ITEM "/rasd:ResourceType", "ethernet0");
    /* ovftool writes the quotes of that text as &quot; */
    assert_non_null(strstr(b.data, "<rasd:Description>E1000 ethernet adapter on &quot;nat&quot;</rasd:Description>"));

    CHECK_NUM(&d, 0, "count(//vmw:Config)");
    CHECK_NUM(&d, 0, "count(//ovf:AnnotationSection)");
    close_doc(&d);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* VM: every controller type, one disk or CD-ROM on each               */

static ova_controller ctl_ctrl[] = {
    { OVA_BUS_IDE, 0, OVA_SCSI_NONE },      { OVA_BUS_IDE, 1, OVA_SCSI_NONE },
    { OVA_BUS_SCSI, 0, OVA_SCSI_LSILOGIC }, { OVA_BUS_SCSI, 1, OVA_SCSI_LSISAS },
    { OVA_BUS_SCSI, 2, OVA_SCSI_PVSCSI },   { OVA_BUS_SCSI, 3, OVA_SCSI_BUSLOGIC },
    { OVA_BUS_SATA, 0, OVA_SCSI_NONE },     { OVA_BUS_NVME, 0, OVA_SCSI_NONE },
};
static ova_device ctl_dev[] = {
    { OVA_DEV_DISK, OVA_BUS_IDE, 0, 1, "ide.vmdk", "/v/ide.vmdk", "ide0:1" },
    { OVA_DEV_CDROM, OVA_BUS_IDE, 1, 0, "/iso/x.iso", NULL, "ide1:0" },
    { OVA_DEV_DISK, OVA_BUS_SCSI, 0, 0, "s0.vmdk", "/v/s0.vmdk", "scsi0:0" },
    { OVA_DEV_DISK, OVA_BUS_SCSI, 1, 2, "s1.vmdk", "/v/s1.vmdk", "scsi1:2" },
    { OVA_DEV_DISK, OVA_BUS_SCSI, 2, 8, "s2.vmdk", "/v/s2.vmdk", "scsi2:8" },
    { OVA_DEV_DISK, OVA_BUS_SCSI, 3, 15, "s3.vmdk", "/v/s3.vmdk", "scsi3:15" },
    { OVA_DEV_DISK, OVA_BUS_SATA, 0, 29, "sata.vmdk", "/v/sata.vmdk", "sata0:29" },
    { OVA_DEV_DISK, OVA_BUS_NVME, 0, 3, "nvme.vmdk", "/v/nvme.vmdk", "nvme0:3" },
};
static ova_vm ctl_vm = {
    .vmx_path = "/v/ctl.vmx", .vmx_dir = "/v", .display_name = "controllers", .guest_os = "windows9-64",
    .num_vcpus = 1, .memory_mb = 4096, .hw_version = 21,
    .controllers = ctl_ctrl, .n_controllers = 8, .devices = ctl_dev, .n_devices = 8,
};
/* References order deliberately differs from device order: the disk Items
 * must find their vmdiskN through the device pointer, not by position. */
static ova_ovf_disk ctl_disks[] = {
    { "ctl-disk1.vmdk", 100, 1048576, 0, &ctl_dev[7] },
    { "ctl-disk2.vmdk", 200, 2097152, 65536, &ctl_dev[6] },
    { "ctl-disk3.vmdk", 300, 3145728, 0, &ctl_dev[5] },
    { "ctl-disk4.vmdk", 400, 4194304, 0, &ctl_dev[4] },
    { "ctl-disk5.vmdk", 500, 5242880, 0, &ctl_dev[3] },
    { "ctl-disk6.vmdk", 600, 6291456, 0, &ctl_dev[2] },
    { "ctl-disk7.vmdk", 700, 7340032, 0, &ctl_dev[0] },
};

static void test_controller_types(void **state)
{
    (void)state;
    static const struct {
        const char *name, *rtype, *subtype, *desc, *address;
    } want[] = {
        { "ideController0", "5", NULL, "IDE Controller", "0" },
        { "ideController1", "5", NULL, "IDE Controller", "1" },
        { "scsiController0", "6", "lsilogic", "SCSI Controller", "0" },
        { "scsiController1", "6", "lsilogicsas", "SCSI Controller", "1" },
        { "scsiController2", "6", "VirtualSCSI", "SCSI Controller", "2" },
        { "scsiController3", "6", "buslogic", "SCSI Controller", "3" },
        { "sataController0", "20", "vmware.sata.ahci", "SATA Controller", "0" },
        { "nvmeController0", "20", "vmware.nvme.controller", "NVME Controller", "0" },
    };
    /* disk ElementName, unit, controller ElementName, vmdiskN */
    static const struct {
        const char *name, *unit, *ctrl, *host;
    } disks[] = {
        { "disk0", "1", "ideController0", "ovf:/disk/vmdisk7" },
        { "disk1", "0", "scsiController0", "ovf:/disk/vmdisk6" },
        { "disk2", "2", "scsiController1", "ovf:/disk/vmdisk5" },
        { "disk3", "8", "scsiController2", "ovf:/disk/vmdisk4" },
        { "disk4", "15", "scsiController3", "ovf:/disk/vmdisk3" },
        { "disk5", "29", "sataController0", "ovf:/disk/vmdisk2" },
        { "disk6", "3", "nvmeController0", "ovf:/disk/vmdisk1" },
    };
    ova_buf b = OVA_BUF_INIT;
    write_ok(&ctl_vm, ctl_disks, 7, 0, &b);
    ovfdoc d = open_doc(&b);

    CHECK_NUM(&d, 2 + 8 + 8, "count(//ovf:Item)");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK_NUM(&d, 3 + (double)i, "number(" ITEM "/rasd:InstanceID)", want[i].name);
        CHECK_STR(&d, want[i].rtype, ITEM "/rasd:ResourceType", want[i].name);
        CHECK_STR(&d, want[i].desc, ITEM "/rasd:Description", want[i].name);
        CHECK_STR(&d, want[i].address, ITEM "/rasd:Address", want[i].name);
        if (want[i].subtype != NULL)
            CHECK_STR(&d, want[i].subtype, ITEM "/rasd:ResourceSubType", want[i].name);
        else
            CHECK_NUM(&d, 0, "count(" ITEM "/rasd:ResourceSubType)", want[i].name);
    }
    /* References: file1..7 in the order given, each with its Disk */
    for (int i = 1; i <= 7; i++) {
        char id[32];
        snprintf(id, sizeof id, "file%d", i);
        CHECK_STR(&d, id, "//ovf:File[%d]/@ovf:id", i);
        snprintf(id, sizeof id, "vmdisk%d", i);
        CHECK_STR(&d, id, "//ovf:Disk[@ovf:fileRef='file%d']/@ovf:diskId", i);
        CHECK_STR(&d, id, "//ovf:Disk[%d]/@ovf:diskId", i);
    }
    CHECK_STR(&d, "ctl-disk1.vmdk", "//ovf:File[1]/@ovf:href");
    CHECK_STR(&d, "1048576", "//ovf:Disk[@ovf:diskId='vmdisk1']/@ovf:capacity");
    CHECK_STR(&d, "65536", "//ovf:Disk[@ovf:diskId='vmdisk2']/@ovf:populatedSize");
    for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++) {
        CHECK_STR(&d, disks[i].unit, ITEM "/rasd:AddressOnParent", disks[i].name);
        CHECK_STR(&d, disks[i].host, ITEM "/rasd:HostResource", disks[i].name);
        char expr[256];
        snprintf(expr, sizeof expr, "string(" ITEM "/rasd:InstanceID)", disks[i].ctrl);
        char *ctrl_id = xp_str(&d, expr);
        CHECK_STR(&d, ctrl_id, ITEM "/rasd:Parent", disks[i].name);
        free(ctrl_id);
    }
    /* the CD-ROM sits on ide1, the second controller */
    CHECK_STR(&d, "4", ITEM "/rasd:Parent", "cdrom0");
    CHECK_STR(&d, "0", ITEM "/rasd:AddressOnParent", "cdrom0");
    close_doc(&d);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* VM: every NIC type, shared networks, no disks                        */

static ova_nic nics_nic[] = {
    { 0, OVA_NIC_E1000, "nat", true },
    { 1, OVA_NIC_E1000E, "bridged", false },
    { 2, OVA_NIC_VMXNET3, "nat", true },
    { 4, OVA_NIC_VMXNET, "hostonly", true },
    { 7, OVA_NIC_PCNET32, "VM Network", false },
    { 9, OVA_NIC_VMXNET3, "bridged", true },
};
static ova_vm nics_vm = {
    .vmx_path = "/v/nics.vmx", .display_name = "nics", .guest_os = "other", .num_vcpus = 1,
    .memory_mb = 256, .hw_version = 4, .nics = nics_nic, .n_nics = 6,
};

static void test_nic_types(void **state)
{
    (void)state;
    static const struct {
        const char *name, *subtype, *net, *connected;
    } want[] = {
        { "ethernet0", "E1000", "nat", "true" },
        { "ethernet1", "E1000e", "bridged", "false" },
        { "ethernet2", "VmxNet3", "nat", "true" },
        { "ethernet4", "VmxNet", "hostonly", "true" },
        { "ethernet7", "PCNet32", "VM Network", "false" },
        { "ethernet9", "VmxNet3", "bridged", "true" },
    };
    ova_buf b = OVA_BUF_INIT;
    write_ok(&nics_vm, NULL, 0, 0, &b);
    ovfdoc d = open_doc(&b);

    CHECK_NUM(&d, 0, "count(//ovf:File)");
    CHECK_NUM(&d, 0, "count(//ovf:Disk)");
    CHECK_STR(&d, "vmx-04", "//ovf:System/vssd:VirtualSystemType");
    CHECK_STR(&d, "1", "//ovf:OperatingSystemSection/@ovf:id");
    CHECK_STR(&d, "otherGuest", "//ovf:OperatingSystemSection/@vmw:osType");
    CHECK_STR(&d, "256MB of memory", "//ovf:Item[2]/rasd:ElementName");

    /* one Network per distinct name, in order of first appearance */
    CHECK_NUM(&d, 4, "count(//ovf:Network)");
    CHECK_STR(&d, "nat", "//ovf:Network[1]/@ovf:name");
    CHECK_STR(&d, "bridged", "//ovf:Network[2]/@ovf:name");
    CHECK_STR(&d, "hostonly", "//ovf:Network[3]/@ovf:name");
    CHECK_STR(&d, "VM Network", "//ovf:Network[4]/@ovf:name");
    CHECK_STR(&d, "The VM Network network", "//ovf:Network[4]/ovf:Description");

    CHECK_NUM(&d, 2 + 6, "count(//ovf:Item)");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char desc[128];
        snprintf(desc, sizeof desc, "%s ethernet adapter on \"%s\"", want[i].subtype, want[i].net);
        CHECK_NUM(&d, 3 + (double)i, "number(" ITEM "/rasd:InstanceID)", want[i].name);
        CHECK_STR(&d, "2", ITEM "/rasd:AddressOnParent", want[i].name);
        CHECK_STR(&d, want[i].connected, ITEM "/rasd:AutomaticAllocation", want[i].name);
        CHECK_STR(&d, want[i].net, ITEM "/rasd:Connection", want[i].name);
        CHECK_STR(&d, desc, ITEM "/rasd:Description", want[i].name);
        CHECK_STR(&d, want[i].subtype, ITEM "/rasd:ResourceSubType", want[i].name);
        CHECK_STR(&d, "10", ITEM "/rasd:ResourceType", want[i].name);
        /* every Connection names a listed Network */
        CHECK_NUM(&d, 1, "count(//ovf:Network[@ovf:name=" ITEM "/rasd:Connection])", want[i].name);
    }
    close_doc(&d);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* VM: EFI + secure boot, cores per socket, hardware version override   */

static ova_controller efi_ctrl[] = { { OVA_BUS_NVME, 0, OVA_SCSI_NONE } };
static ova_device efi_dev[] = {
    { OVA_DEV_DISK, OVA_BUS_NVME, 0, 0, "w.vmdk", "/v/w.vmdk", "nvme0:0" },
};
static ova_nic efi_nic[] = { { 0, OVA_NIC_E1000E, "nat", true } };
static ova_vm efi_vm = {
    .vmx_path = "/v/w.vmx", .display_name = "win2019", .guest_os = "windows2019srv-64", .num_vcpus = 4,
    .cores_per_socket = 2, .memory_mb = 8192, .hw_version = 21, .efi = true, .secure_boot = true,
    .controllers = efi_ctrl, .n_controllers = 1, .devices = efi_dev, .n_devices = 1,
    .nics = efi_nic, .n_nics = 1,
};
static ova_ovf_disk efi_disks[] = { { "win2019-disk1.vmdk", 1, 68719476736ULL, 0, &efi_dev[0] } };

static void test_efi_secure_boot_cores(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    write_ok(&efi_vm, efi_disks, 1, 19, &b);
    ovfdoc d = open_doc(&b);

    CHECK_STR(&d, "vmx-19", "//ovf:System/vssd:VirtualSystemType"); /* target_hw wins */
    CHECK_STR(&d, "102", "//ovf:OperatingSystemSection/@ovf:id");
    CHECK_STR(&d, "windows2019srv_64Guest", "//ovf:OperatingSystemSection/@vmw:osType");
    /* VirtualBox maps id 102 by this phrase */
    CHECK_NUM(&d, 1, "count(//ovf:OperatingSystemSection/ovf:Description[contains(., 'Windows 2019')])");

    CHECK_STR(&d, "4 virtual CPU(s)", "//ovf:Item[1]/rasd:ElementName");
    CHECK_STR(&d, "4", "//ovf:Item[1]/rasd:VirtualQuantity");
    CHECK_NUM(&d, 1, "count(//vmw:CoresPerSocket)");
    CHECK_STR(&d, "2", "//ovf:Item[1]/vmw:CoresPerSocket");
    CHECK_STR(&d, "false", "//ovf:Item[1]/vmw:CoresPerSocket/@ovf:required");
    CHECK_STR(&d, "8192", "//ovf:Item[2]/rasd:VirtualQuantity");

    CHECK_NUM(&d, 2, "count(//ovf:VirtualHardwareSection/vmw:Config)");
    CHECK_STR(&d, "firmware", "//ovf:VirtualHardwareSection/vmw:Config[1]/@vmw:key");
    CHECK_STR(&d, "efi", "//ovf:VirtualHardwareSection/vmw:Config[1]/@vmw:value");
    CHECK_STR(&d, "false", "//ovf:VirtualHardwareSection/vmw:Config[1]/@ovf:required");
    CHECK_STR(&d, "bootOptions.efiSecureBootEnabled", "//ovf:VirtualHardwareSection/vmw:Config[2]/@vmw:key");
    CHECK_STR(&d, "true", "//ovf:VirtualHardwareSection/vmw:Config[2]/@vmw:value");
    CHECK_STR(&d, "false", "//ovf:VirtualHardwareSection/vmw:Config[2]/@ovf:required");
    /* after the last Item, and nothing else follows them */
    CHECK_NUM(&d, 2, "count(//ovf:VirtualHardwareSection/ovf:Item[last()]/following-sibling::*)");
    CHECK_STR(&d, "nvmeController0", ITEM "/rasd:ElementName", "nvmeController0");
    close_doc(&d);
    ova_buf_free(&b);

    /* EFI alone; then secure boot without EFI, which is meaningless */
    ova_vm v = efi_vm;
    v.secure_boot = false;
    write_ok(&v, efi_disks, 1, 0, &b);
    d = open_doc(&b);
    CHECK_STR(&d, "vmx-21", "//ovf:System/vssd:VirtualSystemType");
    CHECK_NUM(&d, 1, "count(//vmw:Config)");
    CHECK_STR(&d, "firmware", "//vmw:Config/@vmw:key");
    close_doc(&d);
    ova_buf_free(&b);

    v.efi = false;
    v.secure_boot = true;
    v.cores_per_socket = 0;
    write_ok(&v, efi_disks, 1, 0, &b);
    d = open_doc(&b);
    CHECK_NUM(&d, 0, "count(//vmw:Config)");
    CHECK_NUM(&d, 0, "count(//vmw:CoresPerSocket)");
    close_doc(&d);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* VM: optional devices (USB 2 and 3, sound, floppy)                   */

static void test_optional_devices(void **state)
{
    (void)state;
    ova_vm v = efi_vm;
    v.usb = true;
    v.usb_ehci = true;
    v.usb_xhci = true;
    v.sound = "hdaudio";
    v.floppy = true;
    ova_buf b = OVA_BUF_INIT;
    write_ok(&v, efi_disks, 1, 0, &b);
    ovfdoc d = open_doc(&b);
    CHECK_STR(&d, "vmware.usb.ehci", "//ovf:Item[rasd:ElementName='usb']/rasd:ResourceSubType");
    CHECK_STR(&d, "23", "//ovf:Item[rasd:ElementName='usb']/rasd:ResourceType");
    CHECK_STR(&d, "false", "//ovf:Item[rasd:ElementName='usb']/@ovf:required");
    CHECK_STR(&d, "true", "//ovf:Item[rasd:ElementName='usb']/vmw:Config[@vmw:key='ehciEnabled']/@vmw:value");
    CHECK_STR(&d, "vmware.usb.xhci", "//ovf:Item[rasd:ElementName='usb_xhci']/rasd:ResourceSubType");
    CHECK_STR(&d, "vmware.soundcard.hdaudio", "//ovf:Item[rasd:ElementName='sound']/rasd:ResourceSubType");
    CHECK_STR(&d, "1", "//ovf:Item[rasd:ElementName='sound']/rasd:ResourceType");
    CHECK_STR(&d, "14", "//ovf:Item[rasd:ElementName='floppy0']/rasd:ResourceType");
    CHECK_STR(&d, "false", "//ovf:Item[rasd:ElementName='floppy0']/@ovf:required");
    check_item_children(&d);
    check_instance_ids(&d);
    close_doc(&d);
    ova_buf_free(&b);

    /* USB 1.1 only; a sound card VMware has no OVF name for is left out */
    v.usb_ehci = false;
    v.usb_xhci = false;
    v.sound = "pcspeaker";
    v.floppy = false;
    write_ok(&v, efi_disks, 1, 0, &b);
    d = open_doc(&b);
    CHECK_STR(&d, "false", "//ovf:Item[rasd:ElementName='usb']/vmw:Config[@vmw:key='ehciEnabled']/@vmw:value");
    CHECK_NUM(&d, 0, "count(//ovf:Item[rasd:ElementName='sound' or rasd:ElementName='floppy0' or "
                     "rasd:ElementName='usb_xhci'])");
    close_doc(&d);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* VM: several disks on one controller, CD-ROMs on SATA                 */

static ova_controller multi_ctrl[] = {
    { OVA_BUS_SCSI, 0, OVA_SCSI_PVSCSI },
    { OVA_BUS_SATA, 0, OVA_SCSI_NONE },
};
static ova_device multi_dev[] = {
    { OVA_DEV_DISK, OVA_BUS_SCSI, 0, 0, "m.vmdk", "/v/m.vmdk", "scsi0:0" },
    { OVA_DEV_DISK, OVA_BUS_SCSI, 0, 1, "m_1.vmdk", "/v/m_1.vmdk", "scsi0:1" },
    { OVA_DEV_DISK, OVA_BUS_SCSI, 0, 8, "m_2.vmdk", "/v/m_2.vmdk", "scsi0:8" },
    { OVA_DEV_CDROM, OVA_BUS_SATA, 0, 0, "/iso/a.iso", NULL, "sata0:0" },
    { OVA_DEV_CDROM, OVA_BUS_SATA, 0, 1, NULL, NULL, "sata0:1" },
};
static ova_nic multi_nic[] = { { 0, OVA_NIC_VMXNET3, "bridged", true } };
static ova_vm multi_vm = {
    .vmx_path = "/v/m.vmx", .display_name = "multi", .guest_os = "debian12-64", .num_vcpus = 8,
    .memory_mb = 16384, .hw_version = 20, .controllers = multi_ctrl, .n_controllers = 2,
    .devices = multi_dev, .n_devices = 5, .nics = multi_nic, .n_nics = 1,
};
static ova_ovf_disk multi_disks[] = {
    { "multi-disk1.vmdk", 11, 16000000000ULL, 4096, &multi_dev[0] },
    { "multi-disk2.vmdk", 22, 1073741824ULL, 0, &multi_dev[1] },
    { "multi-disk3.vmdk", 33, 1099511627776ULL, 512, &multi_dev[2] },
};

static void test_multi_disk_cdrom(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    write_ok(&multi_vm, multi_disks, 3, 0, &b);
    ovfdoc d = open_doc(&b);

    CHECK_STR(&d, "96", "//ovf:OperatingSystemSection/@ovf:id");
    CHECK_STR(&d, "debian12_64Guest", "//ovf:OperatingSystemSection/@vmw:osType");
    CHECK_NUM(&d, 3, "count(//ovf:File)");
    /* capacity always in bytes, even when not a whole number of GiB */
    CHECK_STR(&d, "16000000000", "//ovf:Disk[1]/@ovf:capacity");
    CHECK_STR(&d, "1099511627776", "//ovf:Disk[3]/@ovf:capacity");
    CHECK_STR(&d, "byte", "//ovf:Disk[3]/@ovf:capacityAllocationUnits");

    CHECK_NUM(&d, 2 + 2 + 5 + 1, "count(//ovf:Item)");
    CHECK_STR(&d, "VirtualSCSI", ITEM "/rasd:ResourceSubType", "scsiController0");
    CHECK_STR(&d, "4", ITEM "/rasd:InstanceID", "sataController0");
    for (int k = 0; k < 3; k++) {
        char name[16], host[32];
        snprintf(name, sizeof name, "disk%d", k);
        snprintf(host, sizeof host, "ovf:/disk/vmdisk%d", k + 1);
        CHECK_NUM(&d, 5 + k, "number(" ITEM "/rasd:InstanceID)", name);
        CHECK_STR(&d, host, ITEM "/rasd:HostResource", name);
        CHECK_STR(&d, "3", ITEM "/rasd:Parent", name);
    }
    CHECK_STR(&d, "8", ITEM "/rasd:AddressOnParent", "disk2");

    for (int k = 0; k < 2; k++) {
        char name[16], unit[8];
        snprintf(name, sizeof name, "cdrom%d", k);
        snprintf(unit, sizeof unit, "%d", k);
        CHECK_NUM(&d, 8 + k, "number(" ITEM "/rasd:InstanceID)", name);
        CHECK_STR(&d, "false", ITEM "/@ovf:required", name);
        CHECK_STR(&d, "false", ITEM "/rasd:AutomaticAllocation", name);
        CHECK_STR(&d, unit, ITEM "/rasd:AddressOnParent", name);
        CHECK_STR(&d, "4", ITEM "/rasd:Parent", name);
        CHECK_STR(&d, "vmware.cdrom.remotepassthrough", ITEM "/rasd:ResourceSubType", name);
        CHECK_STR(&d, "15", ITEM "/rasd:ResourceType", name);
        /* an empty drive: the ISO is not packaged */
        CHECK_NUM(&d, 0, "count(" ITEM "/rasd:HostResource)", name);
    }
    CHECK_NUM(&d, 10, "number(" ITEM "/rasd:InstanceID)", "ethernet0");
    CHECK_NUM(&d, 2, "count(//ovf:Item[@ovf:required='false'])");
    close_doc(&d);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* VM: names and annotation that need escaping                           */

/* quotes, &, <, >, apostrophe, non-ASCII, an invalid UTF-8 byte and a
 * control character that XML 1.0 cannot carry */
static char esc_name[] = "B\xc3\xbcro \"Lab\" & <Test> 'x' \xff" "end\x01!";
static const char esc_name_parsed[] = "B\xc3\xbcro \"Lab\" & <Test> 'x' \xef\xbf\xbd" "end!";
static char esc_net[] = "net\t\"q\" & <x>";
static char esc_note[] = "first line\nsecond & <b>\"bold\"</b>\r\nthird\tline \xe2\x82\xac";
static ova_controller esc_ctrl[] = { { OVA_BUS_SATA, 0, OVA_SCSI_NONE } };
static ova_device esc_dev[] = {
    { OVA_DEV_DISK, OVA_BUS_SATA, 0, 0, "a&b.vmdk", "/v/a&b.vmdk", "sata0:0" },
};
static ova_nic esc_nic[] = { { 3, OVA_NIC_VMXNET3, esc_net, true } };
static ova_vm esc_vm = {
    .vmx_path = "/v/esc.vmx", .display_name = esc_name, .guest_os = "UBUNTU-64", .annotation = esc_note,
    .num_vcpus = 1, .memory_mb = 1024, .hw_version = 14, .controllers = esc_ctrl, .n_controllers = 1,
    .devices = esc_dev, .n_devices = 1, .nics = esc_nic, .n_nics = 1,
};
static ova_ovf_disk esc_disks[] = { { "B\xc3\xbcro & \"Lab\"-disk1.vmdk", 5, 1048576, 0, &esc_dev[0] } };

static void test_escaping_and_annotation(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    write_ok(&esc_vm, esc_disks, 1, 0, &b);
    ovfdoc d = open_doc(&b);

    CHECK_STR(&d, esc_name_parsed, "/ovf:Envelope/ovf:VirtualSystem/ovf:Name");
    CHECK_STR(&d, esc_name_parsed, "//ovf:System/vssd:VirtualSystemIdentifier");
    CHECK_STR(&d, "B\xc3\xbcro & \"Lab\"-disk1.vmdk", "//ovf:File/@ovf:href");
    CHECK_STR(&d, "ubuntu64Guest", "//ovf:OperatingSystemSection/@vmw:osType");

    /* TAB survives in the attribute as a character reference */
    CHECK_STR(&d, esc_net, "//ovf:Network/@ovf:name");
    CHECK_STR(&d, "The net\t\"q\" & <x> network", "//ovf:Network/ovf:Description");
    CHECK_STR(&d, esc_net, ITEM "/rasd:Connection", "ethernet3");
    CHECK_STR(&d, "VmxNet3 ethernet adapter on \"net\t\"q\" & <x>\"", ITEM "/rasd:Description", "ethernet3");
    CHECK_NUM(&d, 1, "count(//ovf:Network[@ovf:name=" ITEM "/rasd:Connection])", "ethernet3");

    /* AnnotationSection follows VirtualHardwareSection, text round-trips
     * with its real newlines and CR */
    CHECK_STR(&d, "AnnotationSection", "local-name(//ovf:VirtualHardwareSection/following-sibling::*[1])");
    CHECK_STR(&d, "false", "//ovf:AnnotationSection/@ovf:required");
    CHECK_STR(&d, "A human-readable annotation", "//ovf:AnnotationSection/ovf:Info");
    CHECK_STR(&d, esc_note, "//ovf:AnnotationSection/ovf:Annotation");

    /* how the text was written */
    assert_non_null(strstr(b.data, "&amp; &lt;Test&gt; &apos;x&apos;"));
    assert_non_null(strstr(b.data, "<Annotation>first line\nsecond &amp; &lt;b&gt;&quot;bold&quot;&lt;/b&gt;&#13;\n"));
    assert_non_null(strstr(b.data, "ovf:name=\"net&#9;&quot;q&quot; &amp; &lt;x&gt;\""));
    assert_null(strchr(b.data, '\x01'));
    close_doc(&d);
    ova_buf_free(&b);

    /* an empty annotation writes no section */
    ova_vm v = esc_vm;
    v.annotation = "";
    write_ok(&v, esc_disks, 1, 0, &b);
    d = open_doc(&b);
    CHECK_NUM(&d, 0, "count(//ovf:AnnotationSection)");
    close_doc(&d);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* VM without NICs                                                        */

static void test_no_nics(void **state)
{
    (void)state;
    ova_vm v = basic_vm;
    v.nics = NULL;
    v.n_nics = 0;
    v.guest_os = "someday-os-64";
    ova_buf b = OVA_BUF_INIT;
    write_ok(&v, basic_disks, 1, 0, &b);
    ovfdoc d = open_doc(&b);
    CHECK_NUM(&d, 0, "count(//ovf:NetworkSection)");
    CHECK_NUM(&d, 3, "count(/ovf:Envelope/*)");
    CHECK_NUM(&d, 4, "count(//ovf:Item)");
    CHECK_STR(&d, "102", "//ovf:OperatingSystemSection/@ovf:id");
    CHECK_STR(&d, "otherGuest64", "//ovf:OperatingSystemSection/@vmw:osType");
    CHECK_STR(&d, "Other (64-bit)", "//ovf:OperatingSystemSection/ovf:Description");
    close_doc(&d);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* errors                                                                 */

static void expect_error(const ova_vm *vm, const ova_ovf_disk *disks, size_t n, ova_status want)
{
    ova_buf b = OVA_BUF_INIT;
    ova_err err;
    ova_err_clear(&err);
    ova_ovf_options o = { 0 };
    ova_status st = ova_ovf_write(vm, disks, n, &o, &b, &err);
    assert_int_equal(st, want);
    assert_int_equal(err.status, want);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(b.len, 0); /* nothing half-written */
    ova_buf_free(&b);
}

static void test_errors(void **state)
{
    (void)state;
    /* a disk device with no exported disk: all disks must be exported */
    expect_error(&basic_vm, NULL, 0, OVA_E_USAGE);
    expect_error(&ctl_vm, ctl_disks, 6, OVA_E_USAGE);

    /* an exported disk whose device is not one of the VM's */
    ova_device stray = basic_dev[0];
    ova_ovf_disk bad = basic_disks[0];
    bad.device = &stray;
    expect_error(&basic_vm, &bad, 1, OVA_E_USAGE);
    bad.device = NULL;
    expect_error(&basic_vm, &bad, 1, OVA_E_USAGE);

    /* a CD-ROM passed as a disk */
    ova_ovf_disk two[2] = { multi_disks[0], multi_disks[1] };
    ova_ovf_disk four[4] = { multi_disks[0], multi_disks[1], multi_disks[2], multi_disks[2] };
    four[3].device = &multi_dev[3];
    expect_error(&multi_vm, four, 4, OVA_E_USAGE);
    /* the same disk twice */
    four[3].device = &multi_dev[0];
    expect_error(&multi_vm, four, 4, OVA_E_USAGE);
    /* one missing */
    expect_error(&multi_vm, two, 2, OVA_E_USAGE);
    /* no file name */
    bad = basic_disks[0];
    bad.href = NULL;
    expect_error(&basic_vm, &bad, 1, OVA_E_USAGE);

    /* a device whose controller is not in the model */
    ova_vm v = basic_vm;
    v.n_controllers = 0;
    expect_error(&v, basic_disks, 1, OVA_E_USAGE);

    /* impossible hardware */
    v = basic_vm;
    v.num_vcpus = 0;
    expect_error(&v, basic_disks, 1, OVA_E_USAGE);
    v = basic_vm;
    v.hw_version = 0;
    expect_error(&v, basic_disks, 1, OVA_E_USAGE);

    /* NULL arguments */
    expect_error(NULL, NULL, 0, OVA_E_USAGE);
    assert_int_equal(ova_ovf_write(&basic_vm, basic_disks, 1, NULL, NULL, NULL), OVA_E_USAGE);
}

static void test_nomem(void **state)
{
    (void)state;
    /* a buffer whose growth already failed stands in for malloc failing */
    ova_buf b = OVA_BUF_INIT;
    b.failed = true;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_ovf_write(&basic_vm, basic_disks, 1, NULL, &b, &err), OVA_E_NOMEM);
    assert_int_equal(err.status, OVA_E_NOMEM);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* determinism                                                            */

static void test_deterministic(void **state)
{
    (void)state;
    const struct {
        const ova_vm *vm;
        const ova_ovf_disk *disks;
        size_t n;
    } cases[] = {
        { &basic_vm, basic_disks, 1 }, { &ctl_vm, ctl_disks, 7 },   { &nics_vm, NULL, 0 },
        { &efi_vm, efi_disks, 1 },     { &multi_vm, multi_disks, 3 }, { &esc_vm, esc_disks, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ova_buf a = OVA_BUF_INIT, b = OVA_BUF_INIT;
        write_ok(cases[i].vm, cases[i].disks, cases[i].n, 0, &a);
        write_ok(cases[i].vm, cases[i].disks, cases[i].n, 0, &b);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        /* appending to a buffer that already holds text leaves that text */
        ova_buf c = OVA_BUF_INIT;
        ova_buf_puts(&c, "prefix");
        write_ok(cases[i].vm, cases[i].disks, cases[i].n, 0, &c);
        assert_int_equal(c.len, 6 + a.len);
        assert_memory_equal(c.data + 6, a.data, a.len);
        ova_buf_free(&a);
        ova_buf_free(&b);
        ova_buf_free(&c);
    }
}

/* ------------------------------------------------------------------ */
/* the schema check itself                                               */

static void test_schema_rejects_broken(void **state)
{
    (void)state;
    if (g_schema == NULL) {
        print_message("note: OVF schema absent, skipped\n");
        skip();
    }
    ova_buf b = OVA_BUF_INIT;
    write_ok(&basic_vm, basic_disks, 1, 0, &b);
    /* drop the DiskSection's required Info: the validator must notice */
    static const char info[] = "<Info>Virtual disk information</Info>\n";
    char *p = strstr(b.data, info);
    assert_non_null(p);
    memmove(p, p + sizeof info - 1, strlen(p + sizeof info - 1) + 1);
    xmlDocPtr doc = parse_buf(b.data, strlen(b.data));
    assert_non_null(doc);
    assert_true(schema_validate(doc, true) > 0);
    xmlFreeDoc(doc);
    ova_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* guest table                                                            */

static void check_guest(const char *key, const char *vim, int cim)
{
    const char *got_vim = NULL, *desc = NULL;
    int got_cim = -1;
    ova_guest_lookup(key, &got_vim, &got_cim, &desc);
    if (got_vim == NULL || strcmp(got_vim, vim) != 0 || got_cim != cim)
        fail_msg("%s: got %s/%d, want %s/%d", key ? key : "(null)", got_vim ? got_vim : "(null)", got_cim,
                 vim, cim);
    assert_non_null(desc);
    assert_true(desc[0] != '\0');
}

static void test_guest_lookup(void **state)
{
    (void)state;
    /* irregular spellings: the reason for a table */
    check_guest("ubuntu-64", "ubuntu64Guest", 94);
    check_guest("ubuntu", "ubuntuGuest", 93);
    check_guest("other-64", "otherGuest64", 102);
    check_guest("other", "otherGuest", 1);
    check_guest("windows9-64", "windows9_64Guest", 120);
    check_guest("windows7srv-64", "windows7Server64Guest", 103);
    check_guest("windows7-64", "windows7_64Guest", 105);
    check_guest("winnetstandard", "winNetStandardGuest", 69);
    check_guest("winNetStandard-64", "winNetStandard64Guest", 70);
    check_guest("winXPPro", "winXPProGuest", 67);
    check_guest("winXPPro-64", "winXPPro64Guest", 71);
    check_guest("longhorn", "winLonghornGuest", 76);
    check_guest("windows8srv-64", "windows8Server64Guest", 112);
    check_guest("windows9srv-64", "windows9Server64Guest", 118);
    check_guest("windows2019srvNext-64", "windows2019srvNext_64Guest", 102);
    check_guest("windows2022srvNext-64", "windows2022srvNext_64Guest", 102);
    check_guest("windows11-64", "windows11_64Guest", 102);
    check_guest("debian10-64", "debian10_64Guest", 96);
    check_guest("debian12-64", "debian12_64Guest", 96);
    check_guest("debian4", "debian4Guest", 95);
    check_guest("rhel9-64", "rhel9_64Guest", 80);
    check_guest("rhel2", "rhel2Guest", 79);
    check_guest("centos-64", "centos64Guest", 107);
    check_guest("centos9-64", "centos9_64Guest", 107);
    check_guest("oraclelinux8-64", "oracleLinux8_64Guest", 109);
    check_guest("sles15-64", "sles15_64Guest", 85);
    check_guest("opensuse-64", "opensuse64Guest", 83);
    check_guest("fedora-64", "fedora64Guest", 101);
    check_guest("almalinux-64", "almalinux_64Guest", 101);
    check_guest("rockylinux-64", "rockylinux_64Guest", 101);
    check_guest("vmware-photon-64", "vmwarePhoton64Guest", 101);
    check_guest("coreos-64", "coreos64Guest", 101);
    check_guest("other26xlinux-64", "other26xLinux64Guest", 100);
    check_guest("other5xlinux-64", "other5xLinux64Guest", 101);
    check_guest("other6xlinux-64", "other6xLinux64Guest", 101);
    check_guest("otherlinux", "otherLinuxGuest", 36);
    check_guest("mandrake-64", "mandriva64Guest", 90);
    check_guest("asianux4-64", "asianux4_64Guest", 101);
    check_guest("freebsd-64", "freebsd64Guest", 78);
    check_guest("freeBSD13-64", "freebsd13_64Guest", 78);
    check_guest("solaris11-64", "solaris11_64Guest", 81);
    check_guest("darwin19-64", "darwin19_64Guest", 2);
    check_guest("vmkernel7", "vmkernel7Guest", 104);
    check_guest("netware6", "netware6Guest", 21);
    check_guest("os2", "os2Guest", 12);
    check_guest("dos", "dosGuest", 14);

    /* the VMX parser lower-cases keys; case must not matter */
    check_guest("UBUNTU-64", "ubuntu64Guest", 94);
    check_guest("Windows9-64", "windows9_64Guest", 120);
    check_guest("windows2019srvnext-64", "windows2019srvNext_64Guest", 102);
    check_guest("ecomstation2", "eComStation2Guest", 110);

    /* unknown keys fall back by their suffix */
    check_guest("unknown-64", "otherGuest64", 102);
    check_guest("unknown", "otherGuest", 1);
    check_guest("ubuntu-6", "otherGuest", 1);
    check_guest("", "otherGuest", 1);
    check_guest(NULL, "otherGuest", 1);

    const char *desc = NULL;
    ova_guest_lookup("unknown-64", NULL, NULL, &desc);
    assert_string_equal(desc, "Other (64-bit)");
    ova_guest_lookup("unknown", NULL, NULL, &desc);
    assert_string_equal(desc, "Other");
    ova_guest_lookup("windows9-64", NULL, NULL, &desc);
    assert_non_null(strstr(desc, "Windows 10"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_vm),
        cmocka_unit_test(test_controller_types),
        cmocka_unit_test(test_nic_types),
        cmocka_unit_test(test_efi_secure_boot_cores),
        cmocka_unit_test(test_optional_devices),
        cmocka_unit_test(test_multi_disk_cdrom),
        cmocka_unit_test(test_escaping_and_annotation),
        cmocka_unit_test(test_no_nics),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_schema_rejects_broken),
        cmocka_unit_test(test_guest_lookup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
