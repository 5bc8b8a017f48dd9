/* test_vmx_ovf.c - end to end from VMX text to OVF: ova_vm_load() on the
 * fixtures tests/fixtures/vmx/ovf-*.vmx, then ova_ovf_write(), then the
 * descriptor is parsed with libxml2, validated against the DMTF OVF schema
 * (it ships in the repository under src/schema/) and checked item
 * by item with XPath, never compared as a whole string.
 *
 * The expected values come from docs/ovf.md sections 3-7 and the VMX keys
 * of docs/formats.md section 4. Every descriptor also passes the generic
 * invariants of check_invariants(): InstanceIDs 1..N, Parents that name an
 * earlier controller, rasd children in alphabetical order, vmw: elements
 * only after the standard content, and consistent File/Disk/Network links.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <libxml/parser.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovatool/buf.h"
#include "ovatool/ovf.h"
#include "ovatool/vm.h"
#include "ovf_schema.h"
#include "ovf_xpath.h"

#define SCHEMA_DIR OVATOOL_SCHEMA_DIR
#define FIXTURE_DIR OVATOOL_FIXTURES "/vmx/"

/* ------------------------------------------------------------------ */
/* schema set-up (the XPath plumbing is in ovf_xpath.c)                 */

static int group_setup(void **state)
{
    (void)state;
    return ovf_schema_load(SCHEMA_DIR);
}

static int group_teardown(void **state)
{
    (void)state;
    ovf_schema_free();
    print_message("%lu XPath checks made\n", ovf_xpath_checks);
    return 0;
}

/* ------------------------------------------------------------------ */
/* invariants every generated descriptor must satisfy                   */
/* (ovf_check_invariants in ovf_xpath.c, and the links below)           */

/* Files, Disks, HostResources, Connections and Networks refer to each
 * other consistently; ElementNames are unique. */
static void check_links(ovfdoc *d)
{
    int n_disks = (int)xp_num(d, "count(//ovf:DiskSection/ovf:Disk)");
    CHECK_NUM(d, n_disks, "count(//ovf:References/ovf:File)");
    CHECK_NUM(d, n_disks, "count(//ovf:Item[rasd:ResourceType=17])");
    CHECK_NUM(d, 0, "count(//ovf:Disk[not(@ovf:fileRef = //ovf:File/@ovf:id)])");
    CHECK_NUM(d, 0, "count(//ovf:Disk[@ovf:diskId = preceding-sibling::ovf:Disk/@ovf:diskId])");
    CHECK_NUM(d, 0, "count(//ovf:File[@ovf:id = preceding-sibling::ovf:File/@ovf:id])");
    for (int i = 1; i <= n_disks; i++) {
        char expr[128];
        fmt_to(expr, sizeof expr, "string(//ovf:Disk[%d]/@ovf:diskId)", i);
        char *id = xp_str(d, expr);
        CHECK_NUM(d, 1, "count(//ovf:Item/rasd:HostResource[. = 'ovf:/disk/%s'])", id);
        free(id);
    }
    CHECK_NUM(d, 0, "count(//ovf:Item[rasd:ResourceType=17][count(rasd:HostResource) != 1])");

    CHECK_NUM(d, 0, "count(//ovf:Item[rasd:ResourceType=10][not(rasd:Connection = //ovf:Network/@ovf:name)])");
    CHECK_NUM(d, 0, "count(//ovf:Network[not(@ovf:name = //ovf:Item/rasd:Connection)])");
    CHECK_NUM(d, 0, "count(//ovf:Network[@ovf:name = preceding-sibling::ovf:Network/@ovf:name])");

    CHECK_NUM(d, 0, "count(//ovf:Item[count(rasd:ElementName) != 1 or count(rasd:ResourceType) != 1])");
    CHECK_NUM(d, 0, "count(//ovf:Item[rasd:ElementName = preceding-sibling::ovf:Item/rasd:ElementName])");
}

static void check_invariants(ovfdoc *d)
{
    ovf_check_invariants(d);
    check_links(d);
}

static ovfdoc open_doc(const ova_buf *b)
{
    assert_non_null(b->data);
    assert_int_equal(strlen(b->data), b->len); /* no NUL inside */
    /* line ends are spelling; that text with newlines round-trips is
     * checked on the parsed values (test_escaping) */
    ovfdoc d = ovf_doc_parse(b);
    check_invariants(&d);
    return d;
}

/* ------------------------------------------------------------------ */
/* fixture -> model -> OVF                                               */

/* Made-up sizes of the k-th exported disk (0-based), distinct per disk so
 * a Disk element shows which array slot it came from. */
static uint64_t fake_file_size(size_t k) { return 123456789ULL * (k + 1); }
static uint64_t fake_capacity(size_t k) { return ((uint64_t)(k + 1) << 30) + 512 * (uint64_t)k; }
static uint64_t fake_populated(size_t k) { return (uint64_t)(k + 1) << 20; }

typedef struct run {
    ova_vm *vm;
    ova_ovf_disk *disks;
    char (*hrefs)[32];
    size_t n_disks;
    ova_buf buf;
    ovfdoc d;
} run;

static void load_vm(const char *fixture, ova_vm **vm)
{
    char path[1024];
    fmt_to(path, sizeof path, "%s%s", FIXTURE_DIR, fixture);
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_vm_load(path, vm, &err);
    if (st != OVA_OK)
        fail_msg("ova_vm_load(%s) failed (%s): %s", fixture, ova_strstatus(st), err.msg);
    assert_non_null(*vm);
}

/* The disk array in the VM's device order: vmdiskN / fileN is the Nth disk
 * device, "vm-diskN.vmdk". */
static void build_disks(run *r)
{
    r->n_disks = ova_vm_disk_count(r->vm);
    r->disks = calloc(r->n_disks + 1, sizeof *r->disks);
    r->hrefs = calloc(r->n_disks + 1, sizeof *r->hrefs);
    assert_non_null(r->disks);
    assert_non_null(r->hrefs);
    size_t k = 0;
    for (size_t i = 0; i < r->vm->n_devices; i++) {
        const ova_device *dev = &r->vm->devices[i];
        if (dev->kind != OVA_DEV_DISK)
            continue;
        assert_true(k < r->n_disks);
        fmt_to(r->hrefs[k], sizeof r->hrefs[k], "vm-disk%zu.vmdk", k + 1);
        r->disks[k] = (ova_ovf_disk){ r->hrefs[k], fake_file_size(k), fake_capacity(k), fake_populated(k), dev };
        k++;
    }
    assert_int_equal(k, r->n_disks);
}

static void write_ovf(run *r, int target_hw)
{
    ova_err err;
    ova_err_clear(&err);
    ova_ovf_options o = { target_hw };
    ova_buf_free(&r->buf);
    ova_status st = ova_ovf_write(r->vm, r->disks, r->n_disks, &o, &r->buf, &err);
    if (st != OVA_OK)
        fail_msg("ova_ovf_write failed (%s): %s", ova_strstatus(st), err.msg);
}

/* References and DiskSection follow the disk array exactly. */
static void check_references(run *r)
{
    ovfdoc *d = &r->d;
    CHECK_NUM(d, (double)r->n_disks, "count(//ovf:References/ovf:File)");
    CHECK_NUM(d, (double)r->n_disks, "count(//ovf:DiskSection/ovf:Disk)");
    for (size_t k = 0; k < r->n_disks; k++) {
        char want[64];
        size_t n = k + 1;
        CHECK_STR(d, r->hrefs[k], "//ovf:References/ovf:File[%zu]/@ovf:href", n);
        fmt_to(want, sizeof want, "file%zu", n);
        CHECK_STR(d, want, "//ovf:References/ovf:File[%zu]/@ovf:id", n);
        CHECK_STR(d, want, "//ovf:DiskSection/ovf:Disk[%zu]/@ovf:fileRef", n);
        fmt_to(want, sizeof want, "%llu", (unsigned long long)fake_file_size(k));
        CHECK_STR(d, want, "//ovf:References/ovf:File[%zu]/@ovf:size", n);
        fmt_to(want, sizeof want, "vmdisk%zu", n);
        CHECK_STR(d, want, "//ovf:DiskSection/ovf:Disk[%zu]/@ovf:diskId", n);
        fmt_to(want, sizeof want, "%llu", (unsigned long long)fake_capacity(k));
        CHECK_STR(d, want, "//ovf:DiskSection/ovf:Disk[%zu]/@ovf:capacity", n);
        CHECK_STR(d, "byte", "//ovf:DiskSection/ovf:Disk[%zu]/@ovf:capacityAllocationUnits", n);
        fmt_to(want, sizeof want, "%llu", (unsigned long long)fake_populated(k));
        CHECK_STR(d, want, "//ovf:DiskSection/ovf:Disk[%zu]/@ovf:populatedSize", n);
        CHECK_STR(d, "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized",
                  "//ovf:DiskSection/ovf:Disk[%zu]/@ovf:format", n);
    }
}

/* fixture -> ova_vm -> disks -> OVF -> parsed, validated document */
static void run_fixture(run *r, const char *fixture, int target_hw)
{
    memset(r, 0, sizeof *r);
    ova_buf empty = OVA_BUF_INIT;
    r->buf = empty;
    load_vm(fixture, &r->vm);
    build_disks(r);
    write_ovf(r, target_hw);
    r->d = open_doc(&r->buf);
    check_references(r);
}

static void run_free(run *r)
{
    close_doc(&r->d);
    ova_buf_free(&r->buf);
    free(r->disks);
    free(r->hrefs);
    ova_vm_free(&r->vm);
}

/* ------------------------------------------------------------------ */
/* item checks                                                           */

/* A controller Item (docs/ovf.md 6.4); subtype NULL: none. */
static void check_ctrl(ovfdoc *d, int line, const char *name, int id, const char *rtype, const char *subtype,
                       const char *desc, const char *address)
{
    check_num(d, line, 1, "count(" ITEM ")", name);
    check_num(d, line, id, "number(" ITEM "/rasd:InstanceID)", name);
    check_str(d, line, rtype, ITEM "/rasd:ResourceType", name);
    if (subtype != NULL)
        check_str(d, line, subtype, ITEM "/rasd:ResourceSubType", name);
    else
        check_num(d, line, 0, "count(" ITEM "/rasd:ResourceSubType)", name);
    check_str(d, line, desc, ITEM "/rasd:Description", name);
    check_str(d, line, address, ITEM "/rasd:Address", name);
    check_num(d, line, 0, "count(" ITEM "/rasd:Parent)", name);
    check_num(d, line, 0, "count(" ITEM "/@ovf:required)", name);
}
#define CHECK_CTRL(d, ...) check_ctrl((d), __LINE__, __VA_ARGS__)

/* The InstanceID of the Item called name, which must exist. */
static char *item_id(ovfdoc *d, const char *name)
{
    char expr[256];
    fmt_to(expr, sizeof expr, "string(" ITEM "/rasd:InstanceID)", name);
    char *id = xp_str(d, expr);
    if (id[0] == '\0')
        fail_msg("no Item named %s", name);
    return id;
}

/* A hard disk Item (docs/ovf.md 6.5): on controller ctrl at unit, backed by vmdiskN. */
static void check_disk(ovfdoc *d, int line, const char *name, int id, const char *ctrl, int unit, int vmdisk)
{
    char want[64];
    check_num(d, line, 1, "count(" ITEM ")", name);
    check_num(d, line, id, "number(" ITEM "/rasd:InstanceID)", name);
    check_str(d, line, "17", ITEM "/rasd:ResourceType", name);
    fmt_to(want, sizeof want, "%d", unit);
    check_str(d, line, want, ITEM "/rasd:AddressOnParent", name);
    fmt_to(want, sizeof want, "ovf:/disk/vmdisk%d", vmdisk);
    check_str(d, line, want, ITEM "/rasd:HostResource", name);
    check_num(d, line, 1, "count(//ovf:DiskSection/ovf:Disk[@ovf:diskId='vmdisk%d'])", vmdisk);
    char *parent = item_id(d, ctrl);
    check_str(d, line, parent, ITEM "/rasd:Parent", name);
    free(parent);
    check_num(d, line, 0, "count(" ITEM "/@ovf:required)", name);
}
#define CHECK_DISK(d, ...) check_disk((d), __LINE__, __VA_ARGS__)

/* A CD-ROM Item (docs/ovf.md 6.6): an empty, optional drive. */
static void check_cdrom(ovfdoc *d, int line, const char *name, int id, const char *ctrl, int unit)
{
    char want[16];
    check_num(d, line, 1, "count(" ITEM ")", name);
    check_num(d, line, id, "number(" ITEM "/rasd:InstanceID)", name);
    check_str(d, line, "15", ITEM "/rasd:ResourceType", name);
    check_str(d, line, "false", ITEM "/@ovf:required", name);
    check_str(d, line, "false", ITEM "/rasd:AutomaticAllocation", name);
    check_num(d, line, 0, "count(" ITEM "/rasd:HostResource)", name);
    fmt_to(want, sizeof want, "%d", unit);
    check_str(d, line, want, ITEM "/rasd:AddressOnParent", name);
    char *parent = item_id(d, ctrl);
    check_str(d, line, parent, ITEM "/rasd:Parent", name);
    free(parent);
}
#define CHECK_CDROM(d, ...) check_cdrom((d), __LINE__, __VA_ARGS__)

/* A network adapter Item (docs/ovf.md 6.7) and its Network. */
static void check_nic(ovfdoc *d, int line, const char *name, int id, const char *subtype, const char *net,
                      bool connected)
{
    char desc[256];
    check_num(d, line, 1, "count(" ITEM ")", name);
    check_num(d, line, id, "number(" ITEM "/rasd:InstanceID)", name);
    check_str(d, line, "10", ITEM "/rasd:ResourceType", name);
    check_str(d, line, subtype, ITEM "/rasd:ResourceSubType", name);
    check_str(d, line, net, ITEM "/rasd:Connection", name);
    check_str(d, line, connected ? "true" : "false", ITEM "/rasd:AutomaticAllocation", name);
    check_str(d, line, "2", ITEM "/rasd:AddressOnParent", name);
    fmt_to(desc, sizeof desc, "%s ethernet adapter on \"%s\"", subtype, net);
    check_str(d, line, desc, ITEM "/rasd:Description", name);
    check_num(d, line, 0, "count(" ITEM "/rasd:Parent)", name);
    check_num(d, line, 1, "count(//ovf:NetworkSection/ovf:Network[@ovf:name = " ITEM "/rasd:Connection])", name);
}
#define CHECK_NIC(d, ...) check_nic((d), __LINE__, __VA_ARGS__)

/* The CPU and memory Items (docs/ovf.md 6.3). cores 0: no vmw:CoresPerSocket. */
static void check_cpu_mem(ovfdoc *d, int line, int vcpus, int cores, unsigned long long mem_mb)
{
    char want[64];
    check_str(d, line, "hertz * 10^6", VHS "/ovf:Item[1]/rasd:AllocationUnits");
    check_str(d, line, "Number of Virtual CPUs", VHS "/ovf:Item[1]/rasd:Description");
    fmt_to(want, sizeof want, "%d virtual CPU(s)", vcpus);
    check_str(d, line, want, VHS "/ovf:Item[1]/rasd:ElementName");
    fmt_to(want, sizeof want, "%d", vcpus);
    check_str(d, line, want, VHS "/ovf:Item[1]/rasd:VirtualQuantity");
    if (cores > 0) {
        fmt_to(want, sizeof want, "%d", cores);
        check_num(d, line, 1, "count(//vmw:CoresPerSocket)");
        check_str(d, line, want, VHS "/ovf:Item[1]/vmw:CoresPerSocket");
        check_str(d, line, "false", VHS "/ovf:Item[1]/vmw:CoresPerSocket/@ovf:required");
        /* the last child of the CPU Item */
        check_str(d, line, "CoresPerSocket", "local-name(" VHS "/ovf:Item[1]/*[last()])");
    } else {
        check_num(d, line, 0, "count(//vmw:CoresPerSocket)");
    }
    check_str(d, line, "byte * 2^20", VHS "/ovf:Item[2]/rasd:AllocationUnits");
    check_str(d, line, "Memory Size", VHS "/ovf:Item[2]/rasd:Description");
    fmt_to(want, sizeof want, "%lluMB of memory", mem_mb);
    check_str(d, line, want, VHS "/ovf:Item[2]/rasd:ElementName");
    fmt_to(want, sizeof want, "%llu", mem_mb);
    check_str(d, line, want, VHS "/ovf:Item[2]/rasd:VirtualQuantity");
}
#define CHECK_CPU_MEM(d, ...) check_cpu_mem((d), __LINE__, __VA_ARGS__)

/* Name, VirtualSystemIdentifier, hardware family and guest. */
static void check_system(ovfdoc *d, int line, const char *name, const char *family, const char *os_type,
                         const char *cim_id)
{
    check_str(d, line, "vm", "/ovf:Envelope/ovf:VirtualSystem/@ovf:id");
    check_str(d, line, name, "/ovf:Envelope/ovf:VirtualSystem/ovf:Name");
    check_str(d, line, name, VHS "/ovf:System/vssd:VirtualSystemIdentifier");
    check_str(d, line, "0", VHS "/ovf:System/vssd:InstanceID");
    check_str(d, line, family, VHS "/ovf:System/vssd:VirtualSystemType");
    check_str(d, line, os_type, "//ovf:OperatingSystemSection/@vmw:osType");
    check_str(d, line, cim_id, "//ovf:OperatingSystemSection/@ovf:id");
}
#define CHECK_SYSTEM(d, ...) check_system((d), __LINE__, __VA_ARGS__)

/* The k-th (1-based) Item of a resource type, in document order. */
#define NTH_OF_TYPE VHS "/ovf:Item[rasd:ResourceType=%d][%d]"

/* ------------------------------------------------------------------ */
/* 1. every SCSI controller model, disks at low and high units            */

static void test_scsi_controllers(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "ovf-scsi.vmx", 0);
    ovfdoc *d = &r.d;

    /* the model: sorted by controller and unit although the VMX is not */
    static const char *const prefixes[] = { "scsi0:0", "scsi0:8", "scsi1:3", "scsi2:1",
                                            "scsi2:15", "scsi3:0", "scsi3:9" };
    assert_int_equal(r.n_disks, 7);
    assert_int_equal(r.vm->n_devices, 7); /* scsi2:4 and ide1:0 are not present */
    for (size_t k = 0; k < r.n_disks; k++)
        assert_string_equal(r.disks[k].device->key_prefix, prefixes[k]);

    CHECK_SYSTEM(d, "SCSI Lab", "vmx-16", "windows9Server64Guest", "118");
    CHECK_CPU_MEM(d, 2, 0, 6144);
    CHECK_NUM(d, 2 + 4 + 7 + 1, "count(" VHS "/ovf:Item)");

    CHECK_CTRL(d, "scsiController0", 3, "6", "lsilogic", "SCSI Controller", "0");
    CHECK_CTRL(d, "scsiController1", 4, "6", "lsilogicsas", "SCSI Controller", "1");
    CHECK_CTRL(d, "scsiController2", 5, "6", "VirtualSCSI", "SCSI Controller", "2");
    CHECK_CTRL(d, "scsiController3", 6, "6", "buslogic", "SCSI Controller", "3");
    CHECK_NUM(d, 4, "count(" VHS "/ovf:Item[rasd:ResourceType=6])");
    /* ide1:0.present = FALSE: no IDE controller, no CD-ROM */
    CHECK_NUM(d, 0, "count(" VHS "/ovf:Item[rasd:ResourceType=5])");
    CHECK_NUM(d, 0, "count(" VHS "/ovf:Item[rasd:ResourceType=15])");
    CHECK_NUM(d, 0, "count(" VHS "/ovf:Item[rasd:ResourceType=20])");

    CHECK_DISK(d, "disk0", 7, "scsiController0", 0, 1);
    CHECK_DISK(d, "disk1", 8, "scsiController0", 8, 2);
    CHECK_DISK(d, "disk2", 9, "scsiController1", 3, 3);
    CHECK_DISK(d, "disk3", 10, "scsiController2", 1, 4);
    CHECK_DISK(d, "disk4", 11, "scsiController2", 15, 5);
    CHECK_DISK(d, "disk5", 12, "scsiController3", 0, 6);
    CHECK_DISK(d, "disk6", 13, "scsiController3", 9, 7);
    /* HostResource in disk order through the document */
    for (int k = 1; k <= 7; k++) {
        char want[32];
        fmt_to(want, sizeof want, "ovf:/disk/vmdisk%d", k);
        CHECK_STR(d, want, NTH_OF_TYPE "/rasd:HostResource", 17, k);
    }
    CHECK_NIC(d, "ethernet0", 14, "E1000e", "nat", true);
    CHECK_NUM(d, 0, "count(//vmw:Config)"); /* BIOS (no firmware key) */
    CHECK_NUM(d, 0, "count(//ovf:AnnotationSection)");
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 2. SATA, NVMe and IDE with disks and CD-ROMs                           */

static void test_sata_nvme_ide(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "ovf-sata-nvme-ide.vmx", 0);
    ovfdoc *d = &r.d;

    assert_int_equal(r.n_disks, 4);
    assert_int_equal(r.vm->n_devices, 7);
    CHECK_SYSTEM(d, "Storage Mix", "vmx-19", "ubuntu64Guest", "94");
    CHECK_CPU_MEM(d, 2, 0, 2048);
    CHECK_NUM(d, 2 + 4 + 7 + 1, "count(" VHS "/ovf:Item)");

    /* IDE controllers are implicit and listed because a device sits on each */
    CHECK_CTRL(d, "ideController0", 3, "5", NULL, "IDE Controller", "0");
    CHECK_CTRL(d, "ideController1", 4, "5", NULL, "IDE Controller", "1");
    CHECK_CTRL(d, "sataController0", 5, "20", "vmware.sata.ahci", "SATA Controller", "0");
    CHECK_CTRL(d, "nvmeController0", 6, "20", "vmware.nvme.controller", "NVME Controller", "0");

    CHECK_DISK(d, "disk0", 7, "ideController0", 1, 1);
    CHECK_CDROM(d, "cdrom0", 8, "ideController1", 0);   /* atapi-cdrom */
    CHECK_CDROM(d, "cdrom1", 9, "sataController0", 0);  /* cdrom-raw */
    CHECK_CDROM(d, "cdrom2", 10, "sataController0", 1); /* cdrom-image */
    CHECK_DISK(d, "disk1", 11, "sataController0", 2, 2);
    CHECK_DISK(d, "disk2", 12, "nvmeController0", 0, 3);
    CHECK_DISK(d, "disk3", 13, "nvmeController0", 3, 4);
    CHECK_NIC(d, "ethernet0", 14, "VmxNet3", "bridged", true);

    /* no ISO is packaged and no CD-ROM points at a file */
    CHECK_NUM(d, 3, "count(" VHS "/ovf:Item[rasd:ResourceType=15])");
    CHECK_NUM(d, 0, "count(" VHS "/ovf:Item[rasd:ResourceType=15][not(@ovf:required='false')])");
    CHECK_NUM(d, 0, "count(//ovf:File[contains(@ovf:href, '.iso')])");
    CHECK_NUM(d, 0, "count(//ovf:Item[contains(., 'ubuntu-22.04')])");
    /* usb.present = FALSE */
    CHECK_NUM(d, 0, "count(" VHS "/ovf:Item[rasd:ResourceType=23])");
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 3. every NIC model and connection type                                 */

static void test_nics(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "ovf-nics.vmx", 0);
    ovfdoc *d = &r.d;

    assert_int_equal(r.vm->n_nics, 9);
    CHECK_SYSTEM(d, "Router", "vmx-18", "other5xLinux64Guest", "101");
    CHECK_CPU_MEM(d, 1, 0, 512);
    /* scsi0 without virtualDev: lsilogic */
    CHECK_CTRL(d, "scsiController0", 3, "6", "lsilogic", "SCSI Controller", "0");
    CHECK_DISK(d, "disk0", 4, "scsiController0", 0, 1);
    CHECK_NUM(d, 2 + 1 + 1 + 9, "count(" VHS "/ovf:Item)");

    CHECK_NIC(d, "ethernet0", 5, "E1000", "nat", true);
    CHECK_NIC(d, "ethernet1", 6, "E1000e", "bridged", false);
    CHECK_NIC(d, "ethernet2", 7, "VmxNet3", "hostonly", true);
    CHECK_NIC(d, "ethernet3", 8, "VmxNet", "vmnet2", true);       /* custom, /dev/ stripped */
    CHECK_NIC(d, "ethernet4", 9, "PCNet32", "VM Network", false); /* vlance, networkName */
    CHECK_NIC(d, "ethernet5", 10, "PCNet32", "bridged", true);    /* no virtualDev, no connectionType */
    CHECK_NIC(d, "ethernet6", 11, "VmxNet3", "nat", true);
    CHECK_NUM(d, 0, "count(" ITEM ")", "ethernet7");               /* present = FALSE */
    CHECK_NIC(d, "ethernet8", 12, "E1000", "VMnet8", true);       /* custom, Windows host spelling */
    CHECK_NIC(d, "ethernet9", 13, "VmxNet3", "custom", true);     /* custom without vnet */

    /* one Network per distinct name, in order of first use */
    static const char *const nets[] = { "nat", "bridged", "hostonly", "vmnet2", "VM Network", "VMnet8", "custom" };
    CHECK_NUM(d, 7, "count(//ovf:NetworkSection/ovf:Network)");
    for (int i = 0; i < 7; i++) {
        char desc[64];
        CHECK_STR(d, nets[i], "//ovf:NetworkSection/ovf:Network[%d]/@ovf:name", i + 1);
        fmt_to(desc, sizeof desc, "The %s network", nets[i]);
        CHECK_STR(d, desc, "//ovf:NetworkSection/ovf:Network[%d]/ovf:Description", i + 1);
    }
    /* shared networks: two NICs each on nat and bridged, one Network each */
    CHECK_NUM(d, 2, "count(" VHS "/ovf:Item[rasd:ResourceType=10][rasd:Connection='nat'])");
    CHECK_NUM(d, 2, "count(" VHS "/ovf:Item[rasd:ResourceType=10][rasd:Connection='bridged'])");
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 4. firmware, cores per socket, memory, vCPUs, hardware version         */

static void test_firmware_bios(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "ovf-bios.vmx", 0);
    ovfdoc *d = &r.d;
    CHECK_SYSTEM(d, "Legacy BIOS", "vmx-09", "windows7_64Guest", "105");
    CHECK_CPU_MEM(d, 1, 0, 1024);
    CHECK_NUM(d, 0, "count(//vmw:Config)");
    CHECK_NUM(d, 0, "count(//vmw:Config[@vmw:key='firmware'])");
    CHECK_CTRL(d, "scsiController0", 3, "6", "lsilogicsas", "SCSI Controller", "0");
    CHECK_DISK(d, "disk0", 4, "scsiController0", 0, 1);
    CHECK_NIC(d, "ethernet0", 5, "E1000", "nat", true);
    /* sound.virtualDev = sb16: an optional sound card Item */
    CHECK_STR(d, "1", ITEM "/rasd:ResourceType", "sound");
    CHECK_STR(d, "false", ITEM "/@ovf:required", "sound");
    CHECK_NUM(d, 1, "count(" ITEM "[starts-with(rasd:ResourceSubType, 'vmware.soundcard.')])", "sound");
    run_free(&r);

    /* the target hardware version replaces virtualHW.version */
    run_fixture(&r, "ovf-bios.vmx", 7);
    CHECK_STR(&r.d, "vmx-07", VHS "/ovf:System/vssd:VirtualSystemType");
    run_free(&r);
}

static void test_firmware_efi(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "ovf-efi.vmx", 0);
    ovfdoc *d = &r.d;
    CHECK_SYSTEM(d, "EFI Box", "vmx-20", "debian12_64Guest", "96");
    CHECK_CPU_MEM(d, 8, 4, 65536);
    /* uefi.secureBoot.enabled = FALSE: firmware only */
    CHECK_NUM(d, 1, "count(//vmw:Config)");
    CHECK_STR(d, "firmware", VHS "/vmw:Config[1]/@vmw:key");
    CHECK_STR(d, "efi", VHS "/vmw:Config[1]/@vmw:value");
    CHECK_STR(d, "false", VHS "/vmw:Config[1]/@ovf:required");
    CHECK_NUM(d, 1, "count(" VHS "/ovf:Item[last()]/following-sibling::*)");
    CHECK_CTRL(d, "nvmeController0", 3, "20", "vmware.nvme.controller", "NVME Controller", "0");
    CHECK_DISK(d, "disk0", 4, "nvmeController0", 0, 1);
    CHECK_NIC(d, "ethernet0", 5, "VmxNet3", "nat", true);
    CHECK_NUM(d, 5, "count(" VHS "/ovf:Item)");
    run_free(&r);
}

static void test_firmware_efi_secure_boot(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "ovf-efi-secure.vmx", 0);
    ovfdoc *d = &r.d;
    CHECK_SYSTEM(d, "Windows 11", "vmx-21", "windows11_64Guest", "102");
    CHECK_CPU_MEM(d, 4, 2, 8192);
    CHECK_NUM(d, 2, "count(//vmw:Config[parent::ovf:VirtualHardwareSection])");
    CHECK_STR(d, "firmware", VHS "/vmw:Config[1]/@vmw:key");
    CHECK_STR(d, "efi", VHS "/vmw:Config[1]/@vmw:value");
    CHECK_STR(d, "bootOptions.efiSecureBootEnabled", VHS "/vmw:Config[2]/@vmw:key");
    CHECK_STR(d, "true", VHS "/vmw:Config[2]/@vmw:value");
    CHECK_STR(d, "false", VHS "/vmw:Config[2]/@ovf:required");
    /* both after the last Item, and nothing else there */
    CHECK_NUM(d, 2, "count(" VHS "/ovf:Item[last()]/following-sibling::*)");
    CHECK_NUM(d, 2, "count(" VHS "/ovf:Item[last()]/following-sibling::vmw:Config)");

    CHECK_CTRL(d, "sataController0", 3, "20", "vmware.sata.ahci", "SATA Controller", "0");
    CHECK_CTRL(d, "nvmeController0", 4, "20", "vmware.nvme.controller", "NVME Controller", "0");
    CHECK_CDROM(d, "cdrom0", 5, "sataController0", 1);
    CHECK_DISK(d, "disk0", 6, "nvmeController0", 0, 1);
    CHECK_NIC(d, "ethernet0", 7, "E1000e", "nat", true);
    run_free(&r);

    run_fixture(&r, "ovf-efi-secure.vmx", 19);
    CHECK_STR(&r.d, "vmx-19", VHS "/ovf:System/vssd:VirtualSystemType");
    CHECK_NUM(&r.d, 2, "count(" VHS "/vmw:Config)");
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 5. disk order: ide < scsi < sata < nvme, then controller, then unit    */

static void test_multi_disk_order(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "ovf-multi-disk.vmx", 0);
    ovfdoc *d = &r.d;

    static const struct {
        const char *prefix, *ctrl;
        int unit;
    } want[] = {
        { "scsi0:0", "scsiController0", 0 },  { "scsi0:2", "scsiController0", 2 },
        { "scsi0:10", "scsiController0", 10 }, { "scsi1:0", "scsiController1", 0 },
        { "sata0:0", "sataController0", 0 },  { "sata0:5", "sataController0", 5 },
        { "sata1:0", "sataController1", 0 },  { "nvme0:0", "nvmeController0", 0 },
        { "nvme0:1", "nvmeController0", 1 },
    };
    assert_int_equal(r.n_disks, 9);
    for (size_t k = 0; k < r.n_disks; k++)
        assert_string_equal(r.disks[k].device->key_prefix, want[k].prefix);
    /* relative, nested and absolute fileNames */
    assert_string_equal(r.disks[0].device->path, "/vmfs/shared/Data Store-scsi0.vmdk");
    assert_string_equal(r.disks[5].device->path, FIXTURE_DIR "disks/Data Store-sata5.vmdk");

    CHECK_SYSTEM(d, "Data Store", "vmx-21", "rhel9_64Guest", "80");
    CHECK_CPU_MEM(d, 4, 0, 16384);
    CHECK_NUM(d, 2 + 5 + 10 + 1, "count(" VHS "/ovf:Item)");
    CHECK_CTRL(d, "scsiController0", 3, "6", "lsilogic", "SCSI Controller", "0");
    CHECK_CTRL(d, "scsiController1", 4, "6", "VirtualSCSI", "SCSI Controller", "1");
    CHECK_CTRL(d, "sataController0", 5, "20", "vmware.sata.ahci", "SATA Controller", "0");
    CHECK_CTRL(d, "sataController1", 6, "20", "vmware.sata.ahci", "SATA Controller", "1");
    CHECK_CTRL(d, "nvmeController0", 7, "20", "vmware.nvme.controller", "NVME Controller", "0");

    /* diskK is the K-th disk in bus order and is backed by vmdisk(K+1),
     * i.e. file(K+1) = vm-disk(K+1).vmdk; the CD-ROM takes no number */
    int id = 8;
    for (int k = 0; k < 9; k++, id++) {
        char name[16];
        if (k == 5)
            CHECK_CDROM(d, "cdrom0", id++, "sataController0", 1);
        fmt_to(name, sizeof name, "disk%d", k);
        CHECK_DISK(d, name, id, want[k].ctrl, want[k].unit, k + 1);
        CHECK_STR(d, r.hrefs[k], "//ovf:File[@ovf:id = //ovf:Disk[concat('ovf:/disk/', @ovf:diskId) = " ITEM
                                 "/rasd:HostResource]/@ovf:fileRef]/@ovf:href", name);
    }
    CHECK_NIC(d, "ethernet0", 18, "VmxNet3", "bridged", true);
    CHECK_STR(d, "vm-disk1.vmdk", "//ovf:References/ovf:File[1]/@ovf:href");
    CHECK_STR(d, "vm-disk9.vmdk", "//ovf:References/ovf:File[9]/@ovf:href");
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 6. optional devices: USB 2 and 3, sound, floppy                        */

static void check_optional_common(ovfdoc *d, int line, const char *name, const char *rtype)
{
    check_num(d, line, 1, "count(" ITEM ")", name);
    check_str(d, line, rtype, ITEM "/rasd:ResourceType", name);
    check_str(d, line, "false", ITEM "/@ovf:required", name);
    check_num(d, line, 0, "count(" ITEM "/rasd:HostResource)", name);
}
#define CHECK_OPTIONAL(d, ...) check_optional_common((d), __LINE__, __VA_ARGS__)

static void test_optional_devices(void **state)
{
    (void)state;
    run r;
    run_fixture(&r, "ovf-optional.vmx", 0);
    ovfdoc *d = &r.d;
    CHECK_SYSTEM(d, "Desktop", "vmx-17", "ubuntu64Guest", "94");
    CHECK_DISK(d, "disk0", 4, "scsiController0", 0, 1);
    CHECK_NIC(d, "ethernet0", 5, "E1000", "nat", true);
    CHECK_NUM(d, 9, "count(" VHS "/ovf:Item)");

    CHECK_OPTIONAL(d, "usb", "23");
    CHECK_STR(d, "vmware.usb.ehci", ITEM "/rasd:ResourceSubType", "usb");
    CHECK_STR(d, "true", ITEM "/vmw:Config[@vmw:key='ehciEnabled']/@vmw:value", "usb");
    CHECK_STR(d, "false", ITEM "/vmw:Config[@vmw:key='ehciEnabled']/@ovf:required", "usb");
    CHECK_OPTIONAL(d, "usb_xhci", "23");
    CHECK_STR(d, "vmware.usb.xhci", ITEM "/rasd:ResourceSubType", "usb_xhci");
    CHECK_OPTIONAL(d, "sound", "1");
    CHECK_STR(d, "vmware.soundcard.hdaudio", ITEM "/rasd:ResourceSubType", "sound");
    CHECK_OPTIONAL(d, "floppy0", "14");
    CHECK_STR(d, "Floppy Drive", ITEM "/rasd:Description", "floppy0");
    /* the four optional Items and nothing else are optional here */
    CHECK_NUM(d, 4, "count(" VHS "/ovf:Item[@ovf:required='false'])");
    /* the floppy is not the VM's file: no File, no media */
    CHECK_NUM(d, 0, "count(//ovf:File[contains(@ovf:href, 'fd0')])");
    run_free(&r);

    /* usb without ehci, default sound card, no floppy, no xHCI */
    run_fixture(&r, "ovf-optional-defaults.vmx", 0);
    d = &r.d;
    CHECK_SYSTEM(d, "Old Desktop", "vmx-10", "winXPProGuest", "67");
    CHECK_CPU_MEM(d, 1, 0, 512);
    CHECK_CTRL(d, "ideController0", 3, "5", NULL, "IDE Controller", "0");
    CHECK_NUM(d, 0, "count(" ITEM ")", "ideController1");
    CHECK_DISK(d, "disk0", 4, "ideController0", 0, 1);
    CHECK_NIC(d, "ethernet0", 5, "PCNet32", "bridged", true);
    CHECK_OPTIONAL(d, "usb", "23");
    CHECK_STR(d, "false", ITEM "/vmw:Config[@vmw:key='ehciEnabled']/@vmw:value", "usb");
    CHECK_NUM(d, 0, "count(" ITEM ")", "usb_xhci");
    CHECK_OPTIONAL(d, "sound", "1");
    CHECK_STR(d, "vmware.soundcard.ensoniq1371", ITEM "/rasd:ResourceSubType", "sound");
    CHECK_NUM(d, 0, "count(" VHS "/ovf:Item[rasd:ResourceType=14])");
    CHECK_NUM(d, 2, "count(" VHS "/ovf:Item[@ovf:required='false'])");
    CHECK_NUM(d, 7, "count(" VHS "/ovf:Item)");
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 7. names and annotation that need escaping, from VMX escapes           */

static void test_escaping(void **state)
{
    (void)state;
    /* displayName = "|22Büro|22 Lab & <Test> > 'Ωmega' 日本 #1 |7C end|22" */
    static const char name[] = "\"B\xc3\xbcro\" Lab & <Test> > '\xce\xa9mega' \xe6\x97\xa5\xe6\x9c\xac #1 | end\"";
    /* annotation = "Owner: Jörg & <ops>|0AStatus: |22do not delete|22|0A|0Aköszönöm |7C 謝謝|0A" */
    static const char note[] = "Owner: J\xc3\xb6rg & <ops>\n"
                               "Status: \"do not delete\"\n"
                               "\n"
                               "k\xc3\xb6sz\xc3\xb6n\xc3\xb6m | \xe8\xac\x9d\xe8\xac\x9d\n";
    static const char net[] = "Lab & <DMZ> \"Z\xc3\xbcrich\"";
    run r;
    run_fixture(&r, "ovf-escape.vmx", 0);
    ovfdoc *d = &r.d;

    assert_string_equal(r.vm->display_name, name);
    assert_string_equal(r.vm->annotation, note);
    CHECK_STR(d, name, "string(/ovf:Envelope/ovf:VirtualSystem/ovf:Name)");
    CHECK_STR(d, name, "string(" VHS "/ovf:System/vssd:VirtualSystemIdentifier)");
    CHECK_STR(d, note, "string(//ovf:AnnotationSection/ovf:Annotation)");
    CHECK_STR(d, "false", "//ovf:AnnotationSection/@ovf:required");
    CHECK_STR(d, "A human-readable annotation", "//ovf:AnnotationSection/ovf:Info");
    CHECK_STR(d, "AnnotationSection", "local-name(" VHS "/following-sibling::*[1])");
    CHECK_SYSTEM(d, name, "vmx-19", "debian11_64Guest", "96");

    CHECK_CTRL(d, "sataController0", 3, "20", "vmware.sata.ahci", "SATA Controller", "0");
    CHECK_DISK(d, "disk0", 4, "sataController0", 0, 1);
    CHECK_NIC(d, "ethernet0", 5, "VmxNet3", net, true);
    CHECK_STR(d, net, "string(//ovf:NetworkSection/ovf:Network[1]/@ovf:name)");
    CHECK_NUM(d, 1, "count(//ovf:NetworkSection/ovf:Network)");

    /* markup characters in the values stayed text (escaped, however
     * spelled): no element came of them */
    CHECK_NUM(d, 0, "count(//*[local-name()='Test' or local-name()='ops' or local-name()='DMZ'])");
    /* every VMX escape was decoded, in every text and attribute value */
    CHECK_NUM(d, 0, "count(//text()[contains(., '|22') or contains(., '|0A')]"
                    " | //@*[contains(., '|22') or contains(., '|0A')])");
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* all fixtures: stable output, invariants with a target version          */

static const char *const all_fixtures[] = {
    "ovf-scsi.vmx",       "ovf-sata-nvme-ide.vmx", "ovf-nics.vmx",
    "ovf-bios.vmx",       "ovf-efi.vmx",           "ovf-efi-secure.vmx",
    "ovf-multi-disk.vmx", "ovf-optional.vmx",      "ovf-optional-defaults.vmx",
    "ovf-escape.vmx",
};

static void test_all_fixtures_stable(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_fixtures / sizeof all_fixtures[0]; i++) {
        run r;
        run_fixture(&r, all_fixtures[i], 13);
        CHECK_STR(&r.d, "vmx-13", VHS "/ovf:System/vssd:VirtualSystemType");
        /* the same VM written again gives the same bytes */
        ova_buf again = OVA_BUF_INIT;
        ova_err err;
        ova_err_clear(&err);
        ova_ovf_options o = { 13 };
        assert_int_equal(ova_ovf_write(r.vm, r.disks, r.n_disks, &o, &again, &err), OVA_OK);
        assert_int_equal(again.len, r.buf.len);
        assert_memory_equal(again.data, r.buf.data, r.buf.len);
        ova_buf_free(&again);
        run_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scsi_controllers),
        cmocka_unit_test(test_sata_nvme_ide),
        cmocka_unit_test(test_nics),
        cmocka_unit_test(test_firmware_bios),
        cmocka_unit_test(test_firmware_efi),
        cmocka_unit_test(test_firmware_efi_secure_boot),
        cmocka_unit_test(test_multi_disk_order),
        cmocka_unit_test(test_optional_devices),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_all_fixtures_stable),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
