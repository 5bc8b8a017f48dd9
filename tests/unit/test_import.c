/* test_import.c - reading an OVF back into the VM model and writing the
 * VMX (ova_import_desc_parse, ova_vmx_write).
 *
 * The round trip is the contract: for every VMX fixture export accepts,
 *   VMX -> model -> OVF A -> import -> VMX -> model -> OVF B
 * gives B == A byte for byte. Then each mapping case with small OVFs as
 * other producers write them (ovftool's GiB units, an OVF 2.0 envelope,
 * VirtualBox), and the errors a broken or hostile descriptor gets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovatool/buf.h"
#include "ovatool/import.h"
#include "ovatool/ovf.h"
#include "ovatool/vm.h"
#include "ovatool/vmx.h"

#define FIXTURE_DIR OVATOOL_FIXTURES "/vmx/"

/* ---- helpers ---- */

/* Disks as ova_prepare gives them: in device order, named NAME-diskN.vmdk
 * (here "vm-diskN.vmdk"), sizes made up and distinct per disk. */
typedef struct disks {
    ova_ovf_disk *d;
    char (*href)[32];
    size_t n;
} disks;

static void disks_for(const ova_vm *vm, disks *out)
{
    out->n = ova_vm_disk_count(vm);
    out->d = calloc(out->n + 1, sizeof *out->d);
    out->href = calloc(out->n + 1, sizeof *out->href);
    assert_non_null(out->d);
    assert_non_null(out->href);
    size_t k = 0;
    for (size_t i = 0; i < vm->n_devices; i++) {
        if (vm->devices[i].kind != OVA_DEV_DISK)
            continue;
        snprintf(out->href[k], sizeof out->href[k], "vm-disk%zu.vmdk", k + 1);
        out->d[k] = (ova_ovf_disk){ out->href[k], 123456789ULL * (k + 1), ((uint64_t)(k + 1) << 30) + 512 * k,
                                    (uint64_t)(k + 1) << 20, &vm->devices[i] };
        k++;
    }
}

static void disks_free(disks *d)
{
    free(d->d);
    free(d->href);
}

static ova_import_desc *parse_ok(const char *xml, const char *name)
{
    ova_err err;
    ova_err_clear(&err);
    ova_import_desc *d = NULL;
    ova_status st = ova_import_desc_parse(xml, strlen(xml), name, &d, &err);
    if (st != OVA_OK)
        fail_msg("import of %s failed (%s): %s", name, ova_strstatus(st), err.msg);
    assert_non_null(d);
    return d;
}

/* The error message of a descriptor that must be refused with st. */
static void parse_fails(const char *xml, ova_status want, const char *msg_part)
{
    ova_err err;
    ova_err_clear(&err);
    ova_import_desc *d = NULL;
    ova_status st = ova_import_desc_parse(xml, strlen(xml), "bad.ovf", &d, &err);
    assert_null(d);
    if (st != want || strstr(err.msg, msg_part) == NULL || strncmp(err.msg, "bad.ovf: ", 9) != 0)
        fail_msg("want %s with \"%s\", got %s: %s", ova_strstatus(want), msg_part, ova_strstatus(st), err.msg);
}

/* Names every disk device "diskN.vmdk" and writes the VMX. */
static char *vmx_of(ova_import_desc *d)
{
    ova_err err;
    ova_err_clear(&err);
    for (size_t i = 0, k = 0; i < d->vm.n_devices; i++) {
        if (d->vm.devices[i].kind != OVA_DEV_DISK)
            continue;
        char name[32];
        snprintf(name, sizeof name, "disk%zu.vmdk", ++k);
        assert_int_equal(ova_import_name_disk(d, i, name, &err), OVA_OK);
    }
    ova_buf b = OVA_BUF_INIT;
    ova_status st = ova_vmx_write(&d->vm, &b, &err);
    if (st != OVA_OK)
        fail_msg("ova_vmx_write: %s", err.msg);
    return b.data;
}

static ova_vm *vm_of_vmx(const char *text, const char *path)
{
    ova_err err;
    ova_err_clear(&err);
    ova_vmx *vmx = NULL;
    ova_vm *vm = NULL;
    if (ova_vmx_parse(text, strlen(text), path, &vmx, &err) != OVA_OK ||
        ova_vm_from_vmx(vmx, path, &vm, &err) != OVA_OK)
        fail_msg("written VMX does not read back: %s\n%s", err.msg, text);
    ova_vmx_free(&vmx);
    return vm;
}

static bool has_warning(const ova_import_desc *d, const char *part)
{
    for (size_t i = 0; i < d->n_warnings; i++)
        if (strstr(d->warnings[i], part) != NULL)
            return true;
    return false;
}

/* ---- the round trip over every fixture ---- */

/* What the OVF carries of the VMX's model comes back in the imported one:
 * each mapping of item 2 of issue 16, field by field. */
static void same_model(const char *fixture, const ova_vm *x, const ova_vm *y)
{
    const char *vx, *vy;
    ova_guest_lookup(x->guest_os, &vx, NULL, NULL);
    ova_guest_lookup(y->guest_os, &vy, NULL, NULL);
    if (strcmp(vx, vy) != 0 || strcmp(x->display_name, y->display_name) != 0 || x->num_vcpus != y->num_vcpus ||
        x->cores_per_socket != y->cores_per_socket || x->memory_mb != y->memory_mb ||
        x->hw_version != y->hw_version || x->efi != y->efi || (x->secure_boot && x->efi) != y->secure_boot ||
        x->usb != y->usb || x->usb_ehci != y->usb_ehci || x->usb_xhci != y->usb_xhci || x->floppy != y->floppy)
        fail_msg("%s: the VM's settings differ after import", fixture);
    const char *sx = x->sound != NULL ? ova_ovf_sound_subtype(x->sound) : NULL;
    if ((sx != NULL) != (y->sound != NULL) || (sx != NULL && strcmp(x->sound, y->sound) != 0))
        fail_msg("%s: sound %s became %s", fixture, x->sound ? x->sound : "none", y->sound ? y->sound : "none");
    bool ax = x->annotation != NULL && x->annotation[0] != '\0';
    if (ax != (y->annotation != NULL) || (ax && strcmp(x->annotation, y->annotation) != 0))
        fail_msg("%s: the annotation differs", fixture);
    assert_int_equal(x->n_controllers, y->n_controllers);
    for (size_t k = 0; k < x->n_controllers; k++) {
        assert_int_equal(x->controllers[k].bus, y->controllers[k].bus);
        assert_int_equal(x->controllers[k].index, y->controllers[k].index);
        assert_int_equal(x->controllers[k].model, y->controllers[k].model);
    }
    assert_int_equal(x->n_devices, y->n_devices);
    for (size_t i = 0; i < x->n_devices; i++) {
        assert_int_equal(x->devices[i].kind, y->devices[i].kind);
        assert_string_equal(x->devices[i].key_prefix, y->devices[i].key_prefix);
    }
    assert_int_equal(x->n_nics, y->n_nics);
    for (size_t i = 0; i < x->n_nics; i++) {
        assert_int_equal(x->nics[i].index, y->nics[i].index);
        assert_int_equal(x->nics[i].model, y->nics[i].model);
        assert_string_equal(x->nics[i].network, y->nics[i].network);
        assert_int_equal(x->nics[i].start_connected, y->nics[i].start_connected);
    }
}

static int round_trip(const char *fixture)
{
    char path[1024];
    snprintf(path, sizeof path, "%s%s", FIXTURE_DIR, fixture);
    ova_err err;
    ova_err_clear(&err);
    ova_vm *vm = NULL;
    if (ova_vm_load(path, &vm, &err) != OVA_OK)
        return 0; /* a fixture export refuses (bad encodings): nothing to import */

    disks da;
    disks_for(vm, &da);
    ova_buf a = OVA_BUF_INIT;
    assert_int_equal(ova_ovf_write(vm, da.d, da.n, NULL, &a, &err), OVA_OK);

    ova_import_desc *d = parse_ok(a.data, fixture);
    same_model(fixture, vm, &d->vm);
    char *text = vmx_of(d);
    ova_vm *vm2 = vm_of_vmx(text, path);

    /* B's disks from what import read: References and DiskSection */
    disks db;
    disks_for(vm2, &db);
    for (size_t i = 0, k = 0; i < vm2->n_devices; i++) {
        if (vm2->devices[i].kind != OVA_DEV_DISK)
            continue;
        size_t j = d->device_disk[i];
        assert_true(j < d->n_disks);
        const ova_import_disk *dk = &d->disks[j];
        assert_true(dk->file < d->n_files);
        db.d[k].href = d->files[dk->file].href;
        db.d[k].file_size = d->files[dk->file].size;
        db.d[k].capacity = dk->capacity;
        db.d[k].populated_size = dk->populated_size;
        k++;
    }
    ova_buf b = OVA_BUF_INIT;
    assert_int_equal(ova_ovf_write(vm2, db.d, db.n, NULL, &b, &err), OVA_OK);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        fail_msg("%s: OVF after import differs\n--- A\n%s\n--- VMX\n%s\n--- B\n%s", fixture, a.data, text, b.data);

    ova_buf_free(&a);
    ova_buf_free(&b);
    disks_free(&da);
    disks_free(&db);
    free(text);
    ova_vm_free(&vm2);
    ova_vm_free(&vm);
    ova_import_desc_free(&d);
    return 1;
}

static void test_round_trip_fixtures(void **state)
{
    (void)state;
    DIR *dir = opendir(FIXTURE_DIR);
    assert_non_null(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".vmx") == 0)
            n += round_trip(e->d_name);
    }
    closedir(dir);
    print_message("%d fixtures round-tripped\n", n);
    assert_true(n >= 15);
}

/* ---- mapping cases ---- */

#define ENV1                                                                                                       \
    "<?xml version=\"1.0\"?>\n<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""                      \
    " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""                                                      \
    " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\""        \
    " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\""             \
    " xmlns:vmw=\"http://www.vmware.com/schema/ovf\">\n"

#define CPU_MEM(cpus, mem, units)                                                                                  \
    "<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType>"                         \
    "<rasd:VirtualQuantity>" cpus "</rasd:VirtualQuantity></Item>"                                               \
    "<Item><rasd:AllocationUnits>" units "</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID>"           \
    "<rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>" mem "</rasd:VirtualQuantity></Item>"

/* ovftool's way: capacity in GiB, several hardware versions, a NIC on a
 * vSphere network, controllers listed after their devices, an ISO. */
static const char OVFTOOL_GIB[] =
    ENV1 "<References><File ovf:href=\"app-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"1000\"/>"
    "<File ovf:href=\"app.iso\" ovf:id=\"file2\" ovf:size=\"2048\"/></References>"
    "<DiskSection><Info>d</Info><Disk ovf:capacity=\"16\" ovf:capacityAllocationUnits=\"byte * 2^30\""
    " ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" ovf:format=\"http://www.vmware.com/interfaces/specifications/"
    "vmdk.html#streamOptimized\" ovf:populatedSize=\"512\"/></DiskSection>"
    "<NetworkSection><Info>n</Info><Network ovf:name=\"VM Network\"/></NetworkSection>"
    "<VirtualSystem ovf:id=\"appliance\"><Info>vm</Info>"
    "<OperatingSystemSection ovf:id=\"101\" vmw:osType=\"ubuntu64Guest\"><Info>o</Info></OperatingSystemSection>"
    "<VirtualHardwareSection><Info>h</Info><System><vssd:ElementName>x</vssd:ElementName>"
    "<vssd:InstanceID>0</vssd:InstanceID><vssd:VirtualSystemType>vmx-07 vmx-10 vmx-13</vssd:VirtualSystemType>"
    "</System>" CPU_MEM("2", "4", "byte * 2^30")
    "<Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>"
    "<rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>"
    "<Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/file/file2</rasd:HostResource>"
    "<rasd:InstanceID>6</rasd:InstanceID><rasd:Parent>4</rasd:Parent><rasd:ResourceType>15</rasd:ResourceType></Item>"
    "<Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID>"
    "<rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>"
    "<Item><rasd:Address>1</rasd:Address><rasd:InstanceID>4</rasd:InstanceID>"
    "<rasd:ResourceType>5</rasd:ResourceType></Item>"
    "<Item><rasd:Address>0</rasd:Address><rasd:InstanceID>8</rasd:InstanceID>"
    "<rasd:ResourceType>5</rasd:ResourceType></Item>"
    "<Item><rasd:AddressOnParent>7</rasd:AddressOnParent><rasd:Connection>VM Network</rasd:Connection>"
    "<rasd:ElementName>Network adapter 1</rasd:ElementName><rasd:InstanceID>7</rasd:InstanceID>"
    "<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>"
    "<Item><rasd:InstanceID>9</rasd:InstanceID><rasd:ResourceType>24</rasd:ResourceType></Item>"
    "<Item><rasd:ElementName>serial0</rasd:ElementName><rasd:InstanceID>10</rasd:InstanceID>"
    "<rasd:ResourceType>21</rasd:ResourceType></Item>"
    "<vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>"
    "<vmw:Config ovf:required=\"false\" vmw:key=\"bootOptions.efiSecureBootEnabled\" vmw:value=\"true\"/>"
    "</VirtualHardwareSection></VirtualSystem></Envelope>\n";

static void test_ovftool_gib(void **state)
{
    (void)state;
    ova_import_desc *d = parse_ok(OVFTOOL_GIB, "app.ovf");
    const ova_vm *vm = &d->vm;
    assert_string_equal(vm->display_name, "appliance"); /* no Name: the ovf:id */
    assert_string_equal(vm->guest_os, "ubuntu-64");
    assert_int_equal(vm->hw_version, 13);
    assert_int_equal(vm->num_vcpus, 2);
    assert_int_equal(vm->memory_mb, 4096);
    assert_true(vm->efi);
    assert_true(vm->secure_boot);
    assert_int_equal(d->n_disks, 1);
    assert_int_equal(d->disks[0].capacity, (uint64_t)16 << 30);
    assert_int_equal(d->disks[0].populated_size, 512);
    assert_int_equal(d->n_files, 2);
    assert_int_equal(d->files[0].size, 1000);
    /* the empty IDE controller 0 is dropped; the CD-ROM's is kept */
    assert_int_equal(vm->n_controllers, 2);
    assert_int_equal(vm->controllers[0].bus, OVA_BUS_IDE);
    assert_int_equal(vm->controllers[0].index, 1);
    assert_int_equal(vm->controllers[1].bus, OVA_BUS_SCSI);
    assert_int_equal(vm->controllers[1].model, OVA_SCSI_PVSCSI);
    assert_int_equal(vm->n_devices, 2);
    assert_int_equal(vm->devices[0].kind, OVA_DEV_CDROM);
    assert_string_equal(vm->devices[0].key_prefix, "ide1:0");
    assert_false(vm->devices[0].start_connected);
    assert_int_equal(d->device_disk[0], SIZE_MAX);
    assert_int_equal(vm->devices[1].kind, OVA_DEV_DISK);
    assert_string_equal(vm->devices[1].key_prefix, "scsi0:0");
    assert_int_equal(d->device_disk[1], 0);
    assert_int_equal(vm->n_nics, 1);
    assert_int_equal(vm->nics[0].index, 0);
    assert_int_equal(vm->nics[0].model, OVA_NIC_VMXNET3);
    assert_string_equal(vm->nics[0].network, "VM Network");
    assert_true(has_warning(d, "app.ovf: ethernet0 is on network \"VM Network\""));
    assert_true(has_warning(d, "medium \"ovf:/file/file2\" is not"));
    assert_true(has_warning(d, "\"serial0\" (ResourceType 21) is not imported"));
    assert_int_equal(d->n_warnings, 3); /* the graphics card is not worth one */

    char *text = vmx_of(d);
    assert_non_null(strstr(text, "ethernet0.connectionType = \"bridged\"\nethernet0.networkName = \"VM Network\"\n"));
    assert_non_null(strstr(text, "ide1:0.deviceType = \"cdrom-raw\"\nide1:0.fileName = \"auto detect\"\n"));
    assert_non_null(strstr(text, "scsi0.virtualDev = \"pvscsi\"\n"));
    assert_non_null(strstr(text, "scsi0:0.fileName = \"disk1.vmdk\"\n"));
    assert_non_null(strstr(text, "firmware = \"efi\"\nuefi.secureBoot.enabled = \"TRUE\"\n"));
    assert_non_null(strstr(text, "floppy0.present = \"FALSE\"\n"));
    assert_int_equal(strncmp(text, ".encoding = \"UTF-8\"\n", 20), 0);
    ova_vm *back = vm_of_vmx(text, "app.vmx");
    assert_int_equal(back->memory_mb, 4096);
    assert_int_equal(back->n_devices, 2);
    assert_string_equal(back->nics[0].network, "VM Network");
    ova_vm_free(&back);
    free(text);
    ova_import_desc_free(&d);
}

/* An OVF 2.0 envelope: its own namespace, StorageItem and EthernetPortItem,
 * string InstanceIDs, an NVMe and a SATA controller. */
static const char OVF2[] =
    "<?xml version=\"1.0\"?>\n<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/2\""
    " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/2\""
    " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\""
    " xmlns:sasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData\""
    " xmlns:epasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData\""
    " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\">"
    "<References><File ovf:href=\"d.vmdk\" ovf:id=\"f\" ovf:size=\"10\" ovf:chunkSize=\"4\""
    " ovf:compression=\"gzip\"/></References>"
    "<DiskSection><Info>d</Info><Disk ovf:capacity=\"2048\" ovf:capacityAllocationUnits=\"byte * 2^20\""
    " ovf:diskId=\"data\" ovf:fileRef=\"f\"/><Disk ovf:capacity=\"1\" ovf:capacityAllocationUnits=\"byte*10^9\""
    " ovf:diskId=\"blank\"/></DiskSection>"
    "<VirtualSystem ovf:id=\"v2\"><Info>vm</Info><Name>OVF two</Name>"
    "<OperatingSystemSection ovf:id=\"96\"><Info>o</Info><Description>Debian</Description></OperatingSystemSection>"
    "<VirtualHardwareSection><Info>h</Info><System><vssd:ElementName>x</vssd:ElementName>"
    "<vssd:InstanceID>sys</vssd:InstanceID><vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType></System>"
    CPU_MEM("1", "512", "byte * 2^20")
    "<Item><rasd:Address>0</rasd:Address><rasd:InstanceID>nv</rasd:InstanceID>"
    "<rasd:ResourceSubType>vmware.nvme.controller</rasd:ResourceSubType>"
    "<rasd:ResourceType>20</rasd:ResourceType></Item>"
    "<Item><rasd:Address>2</rasd:Address><rasd:InstanceID>sa</rasd:InstanceID>"
    "<rasd:ResourceSubType>AHCI</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>"
    "<StorageItem><sasd:AddressOnParent>3</sasd:AddressOnParent><sasd:HostResource>ovf:/disk/data</sasd:HostResource>"
    "<sasd:InstanceID>d1</sasd:InstanceID><sasd:Parent>nv</sasd:Parent><sasd:ResourceType>17</sasd:ResourceType>"
    "</StorageItem>"
    "<StorageItem><sasd:HostResource>/disk/blank</sasd:HostResource><sasd:InstanceID>d2</sasd:InstanceID>"
    "<sasd:Parent>sa</sasd:Parent><sasd:ResourceType>17</sasd:ResourceType></StorageItem>"
    "<EthernetPortItem><epasd:Connection>NAT</epasd:Connection><epasd:InstanceID>e</epasd:InstanceID>"
    "<epasd:ResourceSubType>E1000e</epasd:ResourceSubType><epasd:ResourceType>10</epasd:ResourceType>"
    "</EthernetPortItem>"
    "</VirtualHardwareSection></VirtualSystem></Envelope>\n";

static void test_ovf2(void **state)
{
    (void)state;
    ova_import_desc *d = parse_ok(OVF2, "two.ovf");
    const ova_vm *vm = &d->vm;
    assert_string_equal(vm->display_name, "OVF two");
    assert_string_equal(vm->guest_os, "debian4-64"); /* the first row of CIM 96 */
    assert_int_equal(vm->hw_version, 19);
    assert_int_equal(vm->memory_mb, 512);
    assert_true(d->files[0].gzip);
    assert_int_equal(d->files[0].chunk_size, 4);
    assert_int_equal(d->disks[0].capacity, (uint64_t)2 << 30);
    assert_int_equal(d->disks[1].capacity, 1000000000);
    assert_int_equal(d->disks[1].file, SIZE_MAX);
    assert_int_equal(vm->n_controllers, 2);
    assert_int_equal(vm->controllers[0].bus, OVA_BUS_SATA);
    assert_int_equal(vm->controllers[0].index, 2);
    assert_int_equal(vm->controllers[1].bus, OVA_BUS_NVME);
    assert_string_equal(vm->devices[0].key_prefix, "sata2:0");
    assert_int_equal(d->device_disk[0], 1);
    assert_string_equal(vm->devices[1].key_prefix, "nvme0:3");
    assert_int_equal(d->device_disk[1], 0);
    assert_string_equal(vm->nics[0].network, "nat");
    assert_int_equal(vm->nics[0].model, OVA_NIC_E1000E);
    assert_int_equal(d->n_warnings, 0);
    char *text = vmx_of(d);
    assert_non_null(strstr(text, "nvme0.present = \"TRUE\"\n"));
    assert_non_null(strstr(text, "nvme0:3.fileName = \"disk2.vmdk\"\n"));
    assert_non_null(strstr(text, "ethernet0.connectionType = \"nat\"\n"));
    free(text);
    ova_import_desc_free(&d);
}

/* VirtualBox's way: memory in MegaBytes, no vmw: at all, PIIX4 IDE with a
 * DVD, AHCI SATA, "HostOnly" network, OHCI USB, AC97 sound, its
 * vbox:Machine section (ignored) and a VirtualSystemType of its own. */
static const char VBOX[] =
    "<?xml version=\"1.0\"?>\n<Envelope ovf:version=\"1.0\" xml:lang=\"en-US\""
    " xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""
    " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\""
    " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\""
    " xmlns:vbox=\"http://www.virtualbox.org/ovf/machine\">"
    "<References><File ovf:id=\"file1\" ovf:href=\"vb-disk001.vmdk\"/></References>"
    "<DiskSection><Info>d</Info><Disk ovf:capacity=\"10737418240\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\""
    " ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\""
    " vbox:uuid=\"0\"/></DiskSection>"
    "<NetworkSection><Info>n</Info><Network ovf:name=\"HostOnly\"><Description>h</Description></Network>"
    "</NetworkSection>"
    "<VirtualSystem ovf:id=\"vbox-vm\"><Info>vm</Info>"
    "<OperatingSystemSection ovf:id=\"94\"><Info>o</Info><Description>Ubuntu_64</Description>"
    "<vbox:OSType ovf:required=\"false\">Ubuntu_64</vbox:OSType></OperatingSystemSection>"
    "<VirtualHardwareSection><Info>h</Info><System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName>"
    "<vssd:InstanceID>0</vssd:InstanceID><vssd:VirtualSystemIdentifier>vbox-vm</vssd:VirtualSystemIdentifier>"
    "<vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType></System>"
    CPU_MEM("2", "2048", "MegaBytes")
    "<Item><rasd:Address>0</rasd:Address><rasd:ElementName>ideController0</rasd:ElementName>"
    "<rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>"
    "<rasd:ResourceType>5</rasd:ResourceType></Item>"
    "<Item><rasd:Address>0</rasd:Address><rasd:ElementName>sataController0</rasd:ElementName>"
    "<rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType>"
    "<rasd:ResourceType>20</rasd:ResourceType></Item>"
    "<Item><rasd:Address>0</rasd:Address><rasd:InstanceID>6</rasd:InstanceID>"
    "<rasd:ResourceSubType>OHCI</rasd:ResourceSubType><rasd:ResourceType>23</rasd:ResourceType></Item>"
    "<Item><rasd:AddressOnParent>3</rasd:AddressOnParent><rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>"
    "<rasd:InstanceID>7</rasd:InstanceID><rasd:ResourceSubType>ensoniq1371</rasd:ResourceSubType>"
    "<rasd:ResourceType>35</rasd:ResourceType></Item>"
    "<Item><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation><rasd:Caption>Ethernet adapter on 'HostOnly'"
    "</rasd:Caption><rasd:Connection>HostOnly</rasd:Connection><rasd:InstanceID>8</rasd:InstanceID>"
    "<rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>"
    "<Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>/disk/vmdisk1</rasd:HostResource>"
    "<rasd:InstanceID>9</rasd:InstanceID><rasd:Parent>5</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>"
    "<Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:InstanceID>10</rasd:InstanceID>"
    "<rasd:Parent>3</rasd:Parent><rasd:ResourceType>15</rasd:ResourceType></Item>"
    "</VirtualHardwareSection>"
    "<vbox:Machine ovf:required=\"false\" version=\"1.16\" uuid=\"{x}\" name=\"vbox-vm\" OSType=\"Ubuntu_64\">"
    "<ovf:Info>VirtualBox machine</ovf:Info><Hardware><Firmware type=\"EFI\"/></Hardware></vbox:Machine>"
    "</VirtualSystem></Envelope>\n";

static void test_virtualbox(void **state)
{
    (void)state;
    ova_import_desc *d = parse_ok(VBOX, "vbox.ovf");
    const ova_vm *vm = &d->vm;
    assert_string_equal(vm->display_name, "vbox-vm");
    assert_string_equal(vm->guest_os, "ubuntu-64");
    assert_int_equal(vm->hw_version, OVA_IMPORT_DEFAULT_HW);
    assert_true(has_warning(d, "\"virtualbox-2.2\" names no VMware hardware version"));
    assert_int_equal(d->n_warnings, 1);
    assert_int_equal(vm->memory_mb, 2048);
    assert_false(vm->efi); /* vbox:Machine is not read */
    assert_true(vm->usb);
    assert_false(vm->usb_ehci);
    assert_string_equal(vm->sound, "es1371");
    assert_string_equal(vm->nics[0].network, "hostonly");
    assert_int_equal(d->disks[0].capacity, 10737418240ULL);
    assert_int_equal(d->files[0].size, 0);
    assert_int_equal(vm->n_devices, 2);
    assert_string_equal(vm->devices[0].key_prefix, "ide0:0");
    assert_int_equal(vm->devices[0].kind, OVA_DEV_CDROM);
    assert_string_equal(vm->devices[1].key_prefix, "sata0:0");
    char *text = vmx_of(d);
    assert_non_null(strstr(text, "ethernet0.connectionType = \"hostonly\"\n"));
    assert_non_null(strstr(text, "sound.virtualDev = \"es1371\"\n"));
    assert_non_null(strstr(text, "virtualHW.version = \"14\"\n"));
    free(text);
    ova_import_desc_free(&d);
}

/* Values written back with Workstation's escapes, and read back the same. */
static void test_vmx_escapes(void **state)
{
    (void)state;
    ova_vm vm = { 0 };
    vm.display_name = "a \"b\" | c # d\ne\r\tf Zürich";
    vm.annotation = "line 1\nline 2 |7C";
    vm.guest_os = "other";
    vm.num_vcpus = 1;
    vm.memory_mb = 64;
    vm.hw_version = 4;
    ova_buf b = OVA_BUF_INIT;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_vmx_write(&vm, &b, &err), OVA_OK);
    assert_non_null(strstr(b.data, "displayName = \"a |22b|22 |7C c |23 d|0Ae|0D|09f Zürich\"\n"));
    assert_non_null(strstr(b.data, "annotation = \"line 1|0Aline 2 |7C7C\"\n"));
    assert_null(strstr(b.data, "pciBridge4")); /* hardware version 4 has no PCIe */
    ova_vm *back = vm_of_vmx(b.data, "e.vmx");
    assert_string_equal(back->display_name, vm.display_name);
    assert_string_equal(back->annotation, vm.annotation);
    ova_vm_free(&back);
    ova_buf_free(&b);
}

static void test_vmx_write_refuses(void **state)
{
    (void)state;
    ova_controller c = { OVA_BUS_SCSI, 0, OVA_SCSI_LSILOGIC };
    ova_device dev = { .kind = OVA_DEV_DISK, .bus = OVA_BUS_SCSI, .ctrl_index = 0, .unit = 0 };
    ova_vm vm = { 0 };
    vm.vmx_path = "x.ovf";
    vm.num_vcpus = 1;
    vm.memory_mb = 64;
    vm.hw_version = 21;
    vm.controllers = &c;
    vm.n_controllers = 1;
    vm.devices = &dev;
    vm.n_devices = 1;
    ova_buf b = OVA_BUF_INIT;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_vmx_write(&vm, &b, &err), OVA_E_USAGE);
    assert_non_null(strstr(err.msg, "x.ovf: disk scsi0:0 has no file name"));
    assert_int_equal(b.len, 0);
    dev.file_name = "d.vmdk";
    dev.unit = 16;
    ova_err_clear(&err);
    assert_int_equal(ova_vmx_write(&vm, &b, &err), OVA_E_USAGE);
    assert_int_equal(b.len, 0);
    ova_buf_free(&b);
}

/* ---- errors ---- */

#define VS_OPEN "<VirtualSystem ovf:id=\"v\"><Info>i</Info><VirtualHardwareSection><Info>h</Info>"
#define VS_CLOSE "</VirtualHardwareSection></VirtualSystem></Envelope>"
#define SCSI_CTRL                                                                                                  \
    "<Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></Item>"
#define DISK_ITEM(iid, aop, host)                                                                                  \
    "<Item><rasd:AddressOnParent>" aop "</rasd:AddressOnParent><rasd:HostResource>" host "</rasd:HostResource>"    \
    "<rasd:InstanceID>" iid "</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType>" \
    "</Item>"
#define ONE_DISK                                                                                                   \
    "<References><File ovf:href=\"a.vmdk\" ovf:id=\"f1\"/></References><DiskSection><Info>d</Info>"             \
    "<Disk ovf:capacity=\"1\" ovf:capacityAllocationUnits=\"byte * 2^30\" ovf:diskId=\"d1\" ovf:fileRef=\"f1\"/>" \
    "</DiskSection>"

static void test_errors(void **state)
{
    (void)state;
    parse_fails("<Envelope", OVA_E_FORMAT, "not well-formed XML");
    parse_fails("<?xml version=\"1.0\"?><vmx/>", OVA_E_FORMAT, "not an OVF Envelope");
    parse_fails("<?xml version=\"1.0\"?><!DOCTYPE Envelope [<!ENTITY a \"aaaa\">]>"
                "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"/>",
                OVA_E_FORMAT, "DOCTYPE");
    parse_fails(ENV1 "</Envelope>", OVA_E_FORMAT, "no VirtualSystem");
    parse_fails(ENV1 "<VirtualSystemCollection ovf:id=\"c\"/></Envelope>", OVA_E_UNSUPPORTED, "vApp");
    parse_fails(ENV1 VS_OPEN VS_CLOSE, OVA_E_FORMAT, "no CPU Item");
    parse_fails(ENV1 VS_OPEN CPU_MEM("0", "1", "byte * 2^20") VS_CLOSE, OVA_E_FORMAT,
                "<Item>: VirtualQuantity \"0\" is not a number from 1 to 4096");
    parse_fails(ENV1 VS_OPEN CPU_MEM("1", "1", "furlongs") VS_CLOSE, OVA_E_FORMAT, "AllocationUnits \"furlongs\"");
    parse_fails(ENV1 VS_OPEN CPU_MEM("1", "18446744073709551615", "byte * 2^20") VS_CLOSE, OVA_E_FORMAT,
                "a memory size of");
    parse_fails(ENV1 "<References><File ovf:href=\"../etc/passwd\" ovf:id=\"f\"/></References>" VS_OPEN
                CPU_MEM("1", "1", "byte * 2^20") VS_CLOSE,
                OVA_E_UNSUPPORTED, "line 3: <File>: ovf:href \"../etc/passwd\" is not a file of the OVA");
    parse_fails(ENV1 "<References><File ovf:href=\"http://x/y.vmdk\" ovf:id=\"f\"/></References>" VS_OPEN
                CPU_MEM("1", "1", "byte * 2^20") VS_CLOSE,
                OVA_E_UNSUPPORTED, "is not a file of the OVA");
    parse_fails(ENV1 "<References><File ovf:href=\"a\" ovf:id=\"f\" ovf:compression=\"bzip2\"/></References>" VS_OPEN
                CPU_MEM("1", "1", "byte * 2^20") VS_CLOSE,
                OVA_E_UNSUPPORTED, "ovf:compression \"bzip2\"");
    parse_fails(ENV1 "<DiskSection><Disk ovf:capacity=\"${size}\" ovf:diskId=\"d\"/></DiskSection>" VS_OPEN
                CPU_MEM("1", "1", "byte * 2^20") VS_CLOSE,
                OVA_E_UNSUPPORTED, "<Disk>: ovf:capacity \"${size}\"");
    parse_fails(ENV1 "<DiskSection><Disk ovf:capacity=\"65\" ovf:capacityAllocationUnits=\"byte * 2^40\""
                " ovf:diskId=\"d\"/></DiskSection>" VS_OPEN CPU_MEM("1", "1", "byte * 2^20") VS_CLOSE,
                OVA_E_UNSUPPORTED, "too large");
    parse_fails(ENV1 "<DiskSection><Disk ovf:capacity=\"1\" ovf:diskId=\"d\" ovf:fileRef=\"nope\"/></DiskSection>"
                VS_OPEN CPU_MEM("1", "1", "byte * 2^20") VS_CLOSE,
                OVA_E_FORMAT, "ovf:fileRef \"nope\" names no References/File");
    parse_fails(ENV1 ONE_DISK VS_OPEN CPU_MEM("1", "1", "byte * 2^20") SCSI_CTRL
                DISK_ITEM("4", "0", "ovf:/disk/zz") VS_CLOSE,
                OVA_E_FORMAT, "HostResource \"ovf:/disk/zz\" names no DiskSection/Disk");
    parse_fails(ENV1 ONE_DISK VS_OPEN CPU_MEM("1", "1", "byte * 2^20") SCSI_CTRL
                DISK_ITEM("4", "16", "ovf:/disk/d1") VS_CLOSE,
                OVA_E_UNSUPPORTED, "AddressOnParent \"16\" is not a unit of a scsi controller (0 to 15)");
    parse_fails(ENV1 ONE_DISK VS_OPEN CPU_MEM("1", "1", "byte * 2^20") SCSI_CTRL
                DISK_ITEM("4", "0", "ovf:/disk/d1") DISK_ITEM("5", "0", "ovf:/disk/d1") VS_CLOSE,
                OVA_E_FORMAT, "two devices at scsi0:0");
    parse_fails(ENV1 ONE_DISK VS_OPEN CPU_MEM("1", "1", "byte * 2^20") SCSI_CTRL
                DISK_ITEM("4", "0", "ovf:/disk/d1") DISK_ITEM("5", "1", "ovf:/disk/d1") VS_CLOSE,
                OVA_E_FORMAT, "disk \"d1\" is attached twice");
    parse_fails(ENV1 ONE_DISK VS_OPEN CPU_MEM("1", "1", "byte * 2^20")
                "<Item><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID>"
                "<rasd:Parent>9</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>" VS_CLOSE,
                OVA_E_FORMAT, "Parent \"9\" is not the InstanceID of a controller");
    parse_fails(ENV1 VS_OPEN CPU_MEM("1", "1", "byte * 2^20") SCSI_CTRL SCSI_CTRL SCSI_CTRL VS_CLOSE, OVA_E_FORMAT,
                "InstanceID \"3\" is given twice");

    /* too big to be read at all */
    ova_err err;
    ova_err_clear(&err);
    ova_import_desc *d = NULL;
    assert_int_equal(ova_import_desc_parse("x", OVA_IMPORT_MAX_OVF_BYTES + 1, "big.ovf", &d, &err),
                     OVA_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "big.ovf: descriptor of"));
}

/* Controllers beyond what a VMX holds, and more Items than allowed. */
static void test_bounds(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    ova_buf_puts(&b, ENV1 VS_OPEN CPU_MEM("1", "1", "byte * 2^20"));
    for (int i = 0; i < 5; i++)
        ova_buf_printf(&b, "<Item><rasd:InstanceID>c%d</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType>"
                           "</Item>", i);
    ova_buf_puts(&b, VS_CLOSE);
    parse_fails(b.data, OVA_E_UNSUPPORTED, "more than 4 scsi controllers");

    ova_buf_reset(&b);
    ova_buf_puts(&b, ENV1 VS_OPEN);
    for (unsigned i = 0; i <= OVA_IMPORT_MAX_ITEMS; i++)
        ova_buf_puts(&b, "<Item/>");
    ova_buf_puts(&b, VS_CLOSE);
    parse_fails(b.data, OVA_E_UNSUPPORTED, "more than 4096 Items");

    ova_buf_reset(&b);
    ova_buf_puts(&b, ENV1 VS_OPEN CPU_MEM("1", "1", "byte * 2^20"));
    for (int i = 0; i <= OVA_VM_MAX_NICS; i++)
        ova_buf_puts(&b, "<Item><rasd:Connection>nat</rasd:Connection><rasd:InstanceID>n</rasd:InstanceID>"
                         "<rasd:ResourceType>10</rasd:ResourceType></Item>");
    ova_buf_puts(&b, VS_CLOSE);
    parse_fails(b.data, OVA_E_UNSUPPORTED, "more than 10 network adapters");
    ova_buf_free(&b);
}

/* NIC numbers from export's ElementNames; guest from the CIM id alone;
 * units chosen when AddressOnParent is absent (SCSI skips 7). */
static void test_numbering(void **state)
{
    (void)state;
    ova_buf b = OVA_BUF_INIT;
    ova_buf_puts(&b, ENV1 "<References>");
    for (int i = 0; i < 9; i++)
        ova_buf_printf(&b, "<File ovf:href=\"d%d.vmdk\" ovf:id=\"f%d\"/>", i, i);
    ova_buf_puts(&b, "</References><DiskSection><Info>d</Info>");
    for (int i = 0; i < 9; i++)
        ova_buf_printf(&b, "<Disk ovf:capacity=\"1048576\" ovf:diskId=\"d%d\" ovf:fileRef=\"f%d\"/>", i, i);
    ova_buf_puts(&b, "</DiskSection>" VS_OPEN CPU_MEM("1", "1", "byte * 2^20") SCSI_CTRL);
    for (int i = 0; i < 9; i++)
        ova_buf_printf(&b, "<Item><rasd:HostResource>ovf:/disk/d%d</rasd:HostResource><rasd:InstanceID>x%d"
                           "</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType>"
                           "</Item>", i, i);
    ova_buf_puts(&b, "<Item><rasd:Connection>nat</rasd:Connection><rasd:ElementName>ethernet3</rasd:ElementName>"
                     "<rasd:InstanceID>n1</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>"
                     "<Item><rasd:Connection>vmnet5</rasd:Connection><rasd:ElementName>ethernet3</rasd:ElementName>"
                     "<rasd:InstanceID>n2</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>" VS_CLOSE);
    ova_import_desc *d = parse_ok(b.data, "n.ovf");
    assert_int_equal(d->vm.n_devices, 9);
    assert_string_equal(d->vm.devices[6].key_prefix, "scsi0:6");
    assert_string_equal(d->vm.devices[7].key_prefix, "scsi0:8");
    assert_int_equal(d->vm.nics[0].index, 0);
    assert_string_equal(d->vm.nics[0].network, "vmnet5");
    assert_int_equal(d->vm.nics[1].index, 3);
    assert_string_equal(d->vm.guest_os, "other"); /* no OperatingSystemSection */
    assert_int_equal(d->vm.hw_version, OVA_IMPORT_DEFAULT_HW); /* no System */
    assert_int_equal(d->n_warnings, 1);
    char *text = vmx_of(d);
    assert_non_null(strstr(text, "ethernet0.connectionType = \"custom\"\nethernet0.vnet = \"vmnet5\"\n"));
    assert_non_null(strstr(text, "ethernet3.connectionType = \"nat\"\n"));
    free(text);
    ova_import_desc_free(&d);
    ova_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_fixtures),
        cmocka_unit_test(test_ovftool_gib),
        cmocka_unit_test(test_ovf2),
        cmocka_unit_test(test_virtualbox),
        cmocka_unit_test(test_vmx_escapes),
        cmocka_unit_test(test_vmx_write_refuses),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_numbering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
