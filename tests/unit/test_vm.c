/* test_vm.c - unit tests for the VM model built from VMX keys: hardware, storage, NICs, refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovatool/vm.h"

#define FIX(name) OVATOOL_FIXTURES "/vmx/" name
#define VMX_PATH "/vms/My VM/My VM.vmx"

static ova_vm *build_at(const char *text, const char *path)
{
    ova_vmx *vmx = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (ova_vmx_parse(text, strlen(text), path, &vmx, &err) != OVA_OK)
        fail_msg("parse failed: %s", err.msg);
    ova_vm *vm = NULL;
    ova_status st = ova_vm_from_vmx(vmx, path, &vm, &err);
    ova_vmx_free(&vmx);
    if (st != OVA_OK)
        fail_msg("ova_vm_from_vmx failed: %s", err.msg);
    assert_non_null(vm);
    return vm;
}

static ova_vm *build(const char *text) { return build_at(text, VMX_PATH); }

/* Expect ova_vm_from_vmx to fail with status want and a message containing want_msg. */
static void build_fails(const char *text, ova_status want, const char *want_msg)
{
    ova_vmx *vmx = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (ova_vmx_parse(text, strlen(text), "vm.vmx", &vmx, &err) != OVA_OK)
        fail_msg("parse failed: %s", err.msg);
    ova_vm *vm = (ova_vm *)1;
    ova_status st = ova_vm_from_vmx(vmx, "vm.vmx", &vm, &err);
    ova_vmx_free(&vmx);
    assert_int_equal(st, want);
    assert_null(vm);
    if (strstr(err.msg, want_msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want_msg);
}

static const ova_device *find_dev(const ova_vm *vm, const char *prefix)
{
    for (size_t i = 0; i < vm->n_devices; i++)
        if (strcmp(vm->devices[i].key_prefix, prefix) == 0)
            return &vm->devices[i];
    return NULL;
}

static void test_defaults(void **state)
{
    (void)state;
    ova_vm *vm = build("config.version = \"8\"\n");
    assert_string_equal(vm->vmx_path, VMX_PATH);
    assert_string_equal(vm->vmx_dir, "/vms/My VM");
    assert_string_equal(vm->display_name, "My VM");
    assert_string_equal(vm->guest_os, "other");
    assert_null(vm->annotation);
    assert_int_equal(vm->num_vcpus, 1);
    assert_int_equal(vm->cores_per_socket, 0);
    assert_int_equal(vm->memory_mb, 256);
    assert_int_equal(vm->hw_version, 4);
    assert_false(vm->efi);
    assert_false(vm->secure_boot);
    assert_int_equal(vm->n_controllers, 0);
    assert_int_equal(vm->n_devices, 0);
    assert_int_equal(vm->n_nics, 0);
    assert_int_equal(ova_vm_disk_count(vm), 0);
    ova_vm_free(&vm);
    assert_null(vm);
    ova_vm_free(&vm);
    ova_vm_free(NULL);
}

static void test_display_name_fallback(void **state)
{
    (void)state;
    ova_vm *vm = build_at("displayName = \"\"\n", "Legacy.VMX");
    assert_string_equal(vm->display_name, "Legacy");
    assert_string_equal(vm->vmx_dir, ".");
    ova_vm_free(&vm);
    vm = build_at("a = \"1\"\n", "/root.vmx");
    assert_string_equal(vm->display_name, "root");
    assert_string_equal(vm->vmx_dir, "/");
    ova_vm_free(&vm);
    vm = build_at("a = \"1\"\n", "dir/noext");
    assert_string_equal(vm->display_name, "noext");
    assert_string_equal(vm->vmx_dir, "dir");
    ova_vm_free(&vm);
}

static void test_core_keys(void **state)
{
    (void)state;
    ova_vm *vm = build("displayName = \"Caf|C3|A9 |22prod|22\"\n"
                       "GuestOS = \"Ubuntu-64\"\n"
                       "annotation = \"line 1|0Aline 2 |7C pipe\"\n"
                       "numvcpus = \"8\"\n"
                       "cpuid.coresPerSocket = \"4\"\n"
                       "memsize = \"16384\"\n"
                       "virtualHW.version = \"19\"\n"
                       "firmware = \"efi\"\n"
                       "uefi.secureBoot.enabled = \"TRUE\"\n");
    assert_string_equal(vm->display_name, "Caf\xC3\xA9 \"prod\"");
    assert_string_equal(vm->guest_os, "ubuntu-64");
    assert_string_equal(vm->annotation, "line 1\nline 2 | pipe");
    assert_int_equal(vm->num_vcpus, 8);
    assert_int_equal(vm->cores_per_socket, 4);
    assert_int_equal(vm->memory_mb, 16384);
    assert_int_equal(vm->hw_version, 19);
    assert_true(vm->efi);
    assert_true(vm->secure_boot);
    ova_vm_free(&vm);
}

static void test_firmware_values(void **state)
{
    (void)state;
    ova_vm *vm = build("firmware = \"bios\"\nuefi.secureBoot.enabled = \"FALSE\"\n");
    assert_false(vm->efi);
    assert_false(vm->secure_boot);
    ova_vm_free(&vm);
    vm = build("FIRMWARE = EFI\n");
    assert_true(vm->efi);
    ova_vm_free(&vm);
}

static void test_bad_numbers(void **state)
{
    (void)state;
    build_fails("a = \"1\"\nnumvcpus = \"abc\"\n", OVA_E_FORMAT, "vm.vmx: line 2: numvcpus: \"abc\" is not a number");
    build_fails("memsize = \"-5\"\n", OVA_E_FORMAT, "vm.vmx: line 1: memsize: \"-5\" is not a number");
    build_fails("memsize = \"\"\n", OVA_E_FORMAT, "line 1: memsize: \"\"");
    build_fails("memsize = \"0\"\n", OVA_E_FORMAT, "memsize: \"0\"");
    build_fails("memsize = \"512MB\"\n", OVA_E_FORMAT, "memsize: \"512MB\"");
    build_fails("memsize = \"99999999999999999999999\"\n", OVA_E_FORMAT, "memsize");
    build_fails("numvcpus = \"0\"\n", OVA_E_FORMAT, "numvcpus: \"0\"");
    build_fails("numvcpus = \" 2\"\n", OVA_E_FORMAT, "numvcpus");
    build_fails("numvcpus = \"+2\"\n", OVA_E_FORMAT, "numvcpus");
    build_fails("cpuid.coresPerSocket = \"1.5\"\n", OVA_E_FORMAT, "line 1: cpuid.coresPerSocket: \"1.5\"");
    build_fails("\n\nvirtualHW.version = \"0x13\"\n", OVA_E_FORMAT, "line 3: virtualHW.version: \"0x13\"");
}

static void test_scsi_models(void **state)
{
    (void)state;
    ova_vm *vm = build("scsi0.present = \"TRUE\"\nscsi0.virtualDev = \"lsilogic\"\n"
                       "scsi1.present = \"TRUE\"\nscsi1.virtualDev = \"lsisas1068\"\n"
                       "scsi2.present = \"TRUE\"\nscsi2.virtualDev = \"pvscsi\"\n"
                       "scsi3.present = \"TRUE\"\nscsi3.virtualDev = \"BusLogic\"\n");
    assert_int_equal(vm->n_controllers, 4);
    static const ova_scsi_model want[] = { OVA_SCSI_LSILOGIC, OVA_SCSI_LSISAS, OVA_SCSI_PVSCSI, OVA_SCSI_BUSLOGIC };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(vm->controllers[i].bus, OVA_BUS_SCSI);
        assert_int_equal(vm->controllers[i].index, i);
        assert_int_equal(vm->controllers[i].model, want[i]);
    }
    ova_vm_free(&vm);
    vm = build("scsi0.present = \"TRUE\"\n");
    assert_int_equal(vm->n_controllers, 1);
    assert_int_equal(vm->controllers[0].model, OVA_SCSI_LSILOGIC); /* default */
    ova_vm_free(&vm);
    build_fails("scsi0.present = \"TRUE\"\nscsi0.virtualDev = \"megaraid\"\n", OVA_E_UNSUPPORTED,
                "vm.vmx: line 2: scsi0.virtualDev: unknown SCSI controller model \"megaraid\"");
    /* a model on an absent controller does not matter */
    vm = build("scsi1.virtualDev = \"megaraid\"\n");
    assert_int_equal(vm->n_controllers, 0);
    ova_vm_free(&vm);
}

static void test_controller_present_flags(void **state)
{
    (void)state;
    ova_vm *vm = build("scsi0.present = \"FALSE\"\n"
                       "scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"hidden.vmdk\"\n"
                       "scsi1:0.present = \"TRUE\"\nscsi1:0.fileName = \"no-controller-key.vmdk\"\n"
                       "sata0.present = \"TRUE\"\n"
                       "sata0:0.present = \"TRUE\"\nsata0:0.fileName = \"shown.vmdk\"\n"
                       "sata1:0.present = \"TRUE\"\nsata1:0.fileName = \"hidden2.vmdk\"\n"
                       "nvme0.present = \"TRUE\"\n"
                       "nvme1.present = \"FALSE\"\n"
                       "nvme1:0.present = \"TRUE\"\nnvme1:0.fileName = \"hidden3.vmdk\"\n");
    assert_int_equal(vm->n_devices, 1);
    assert_string_equal(vm->devices[0].key_prefix, "sata0:0");
    /* present SATA/NVMe controllers are listed even when empty */
    assert_int_equal(vm->n_controllers, 2);
    assert_int_equal(vm->controllers[0].bus, OVA_BUS_SATA);
    assert_int_equal(vm->controllers[0].model, OVA_SCSI_NONE);
    assert_int_equal(vm->controllers[1].bus, OVA_BUS_NVME);
    assert_int_equal(vm->controllers[1].index, 0);
    ova_vm_free(&vm);
}

static void test_sata_nvme_units(void **state)
{
    (void)state;
    ova_vm *vm = build("sata3.present = \"TRUE\"\n"
                       "sata3:29.present = \"TRUE\"\nsata3:29.fileName = \"s.vmdk\"\n"
                       "sata3:30.present = \"TRUE\"\nsata3:30.fileName = \"out-of-range.vmdk\"\n"
                       "nvme3.present = \"TRUE\"\n"
                       "nvme3:63.present = \"TRUE\"\nnvme3:63.fileName = \"n.vmdk\"\n"
                       "nvme3:64.present = \"TRUE\"\nnvme3:64.fileName = \"out-of-range.vmdk\"\n"
                       "scsi0.present = \"TRUE\"\n"
                       "scsi0:15.present = \"TRUE\"\nscsi0:15.fileName = \"last.vmdk\"\n"
                       "scsi0:16.present = \"TRUE\"\nscsi0:16.fileName = \"out-of-range.vmdk\"\n"
                       "ide1:1.present = \"TRUE\"\nide1:1.fileName = \"i.vmdk\"\n"
                       "ide1:2.present = \"TRUE\"\nide1:2.fileName = \"out-of-range.vmdk\"\n"
                       "ide2:0.present = \"TRUE\"\nide2:0.fileName = \"out-of-range.vmdk\"\n"
                       "scsi4.present = \"TRUE\"\n"
                       "scsi4:0.present = \"TRUE\"\nscsi4:0.fileName = \"out-of-range.vmdk\"\n");
    assert_int_equal(vm->n_devices, 4);
    assert_string_equal(vm->devices[0].key_prefix, "ide1:1");
    assert_string_equal(vm->devices[1].key_prefix, "scsi0:15");
    assert_string_equal(vm->devices[2].key_prefix, "sata3:29");
    assert_int_equal(vm->devices[2].ctrl_index, 3);
    assert_int_equal(vm->devices[2].unit, 29);
    assert_string_equal(vm->devices[3].key_prefix, "nvme3:63");
    assert_int_equal(vm->devices[3].bus, OVA_BUS_NVME);
    assert_int_equal(vm->devices[3].unit, 63);
    assert_int_equal(vm->n_controllers, 4);
    ova_vm_free(&vm);
}

static void test_scsi_unit7(void **state)
{
    (void)state;
    ova_vm *vm = build("scsi0.present = \"TRUE\"\n"
                       "scsi0:7.present = \"TRUE\"\nscsi0:7.fileName = \"seven.vmdk\"\n"
                       "scsi0:8.present = \"TRUE\"\nscsi0:8.fileName = \"eight.vmdk\"\n");
    assert_int_equal(vm->n_devices, 2);
    assert_int_equal(vm->devices[0].unit, 7);
    assert_int_equal(vm->devices[1].unit, 8);
    ova_vm_free(&vm);
}

static void test_ide_implicit(void **state)
{
    (void)state;
    ova_vm *vm = build("ide1:0.present = \"TRUE\"\nide1:0.deviceType = \"cdrom-raw\"\n"
                       "ide1:0.fileName = \"auto detect\"\n"
                       "ide0:1.present = \"FALSE\"\nide0:1.fileName = \"off.vmdk\"\n");
    assert_int_equal(vm->n_controllers, 1);
    assert_int_equal(vm->controllers[0].bus, OVA_BUS_IDE);
    assert_int_equal(vm->controllers[0].index, 1);
    assert_int_equal(vm->controllers[0].model, OVA_SCSI_NONE);
    assert_int_equal(vm->n_devices, 1);
    assert_int_equal(vm->devices[0].kind, OVA_DEV_CDROM);
    assert_string_equal(vm->devices[0].file_name, "auto detect");
    assert_null(vm->devices[0].path);
    ova_vm_free(&vm);
}

static void test_device_present_flag(void **state)
{
    (void)state;
    ova_vm *vm = build("scsi0.present = \"TRUE\"\n"
                       "scsi0:0.fileName = \"no-present-key.vmdk\"\n"
                       "scsi0:1.present = \"FALSE\"\nscsi0:1.fileName = \"off.vmdk\"\n"
                       "scsi0:2.present = \"junk\"\nscsi0:2.fileName = \"junk.vmdk\"\n"
                       "scsi0:3.present = \"yes\"\nscsi0:3.fileName = \"on.vmdk\"\n"
                       /* broken keys of a device that is not present do not matter */
                       "scsi0:4.present = \"FALSE\"\nscsi0:4.deviceType = \"rawDisk\"\n");
    assert_int_equal(vm->n_devices, 1);
    assert_string_equal(vm->devices[0].file_name, "on.vmdk");
    ova_vm_free(&vm);
}

static void test_disk_device_types(void **state)
{
    (void)state;
    ova_vm *vm = build("scsi0.present = \"TRUE\"\n"
                       "scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"a.vmdk\"\n"
                       "scsi0:1.present = \"TRUE\"\nscsi0:1.fileName = \"b.vmdk\"\nscsi0:1.deviceType = \"disk\"\n"
                       "scsi0:2.present = \"TRUE\"\nscsi0:2.fileName = \"c.vmdk\"\n"
                       "scsi0:2.deviceType = \"scsi-hardDisk\"\n"
                       "ide0:0.present = \"TRUE\"\nide0:0.fileName = \"d.vmdk\"\nide0:0.deviceType = \"ata-hardDisk\"\n"
                       "sata0.present = \"TRUE\"\n"
                       "sata0:0.present = \"TRUE\"\nsata0:0.fileName = \"e.VMDK\"\n"
                       "sata0:0.deviceType = \"sata-hardDisk\"\n"
                       "nvme0.present = \"TRUE\"\n"
                       "nvme0:0.present = \"TRUE\"\nnvme0:0.fileName = \"f.vmdk\"\n"
                       "nvme0:0.deviceType = \"nvme-hardDisk\"\n");
    assert_int_equal(vm->n_devices, 6);
    assert_int_equal(ova_vm_disk_count(vm), 6);
    for (size_t i = 0; i < vm->n_devices; i++)
        assert_int_equal(vm->devices[i].kind, OVA_DEV_DISK);
    ova_vm_free(&vm);
}

static void test_cdrom_device_types(void **state)
{
    (void)state;
    ova_vm *vm = build("sata0.present = \"TRUE\"\n"
                       "sata0:0.present = \"TRUE\"\nsata0:0.deviceType = \"cdrom-image\"\n"
                       "sata0:0.fileName = \"/isos/ubuntu.iso\"\n"
                       "sata0:1.present = \"TRUE\"\nsata0:1.deviceType = \"cdrom-raw\"\n"
                       "sata0:2.present = \"TRUE\"\nsata0:2.deviceType = \"atapi-cdrom\"\n"
                       "sata0:2.fileName = \"/dev/sr0\"\n"
                       "sata0:3.present = \"TRUE\"\nsata0:3.deviceType = \"sata-cdrom\"\n"
                       "sata0:4.present = \"TRUE\"\nsata0:4.fileName = \"Setup.ISO\"\n"
                       "sata0:5.present = \"TRUE\"\nsata0:5.deviceType = \"CDROM-IMAGE\"\n"
                       "sata0:5.fileName = \"x.iso\"\n");
    assert_int_equal(vm->n_devices, 6);
    assert_int_equal(ova_vm_disk_count(vm), 0);
    for (size_t i = 0; i < vm->n_devices; i++) {
        assert_int_equal(vm->devices[i].kind, OVA_DEV_CDROM);
        assert_null(vm->devices[i].path);
    }
    assert_string_equal(find_dev(vm, "sata0:0")->file_name, "/isos/ubuntu.iso");
    assert_null(find_dev(vm, "sata0:1")->file_name);
    assert_string_equal(find_dev(vm, "sata0:4")->file_name, "Setup.ISO");
    ova_vm_free(&vm);
}

static void test_raw_refused(void **state)
{
    (void)state;
    build_fails("scsi0.present = \"TRUE\"\nscsi0:1.present = \"TRUE\"\nscsi0:1.deviceType = \"rawDisk\"\n"
                "scsi0:1.fileName = \"raw.vmdk\"\n",
                OVA_E_UNSUPPORTED,
                "vm.vmx: scsi0:1: raw or passthrough disk (deviceType \"rawDisk\") cannot be exported");
    build_fails("ide0:0.present = \"TRUE\"\nide0:0.deviceType = \"plainDisk\"\nide0:0.fileName = \"p.dat\"\n",
                OVA_E_UNSUPPORTED, "vm.vmx: ide0:0: raw or passthrough disk (deviceType \"plainDisk\")");
    build_fails("sata0.present = \"TRUE\"\nsata0:0.present = \"TRUE\"\nsata0:0.deviceType = \"rawDiskPartition\"\n",
                OVA_E_UNSUPPORTED, "sata0:0: raw or passthrough disk");
}

/* A SCSI passthrough device (tape, changer) is not a disk: left out, named
 * in vm->left_out and in one warning each; the controller stays. */
static void test_passthru_left_out(void **state)
{
    (void)state;
    ova_vm *vm = build("scsi0.present = \"TRUE\"\n"
                       "scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"a.vmdk\"\n"
                       "scsi0:1.present = \"TRUE\"\nscsi0:1.deviceType = \"scsi-passthru\"\n"
                       "scsi0:1.fileName = \"/dev/sg2\"\n"
                       "scsi1.present = \"TRUE\"\n"
                       "scsi1:4.present = \"TRUE\"\nscsi1:4.deviceType = \"SCSI-PASSTHRU\"\n"
                       "scsi2:0.present = \"TRUE\"\nscsi2:0.deviceType = \"scsi-passthru\"\n");
    assert_int_equal(vm->n_devices, 1);
    assert_int_equal(ova_vm_disk_count(vm), 1);
    assert_int_equal(vm->n_controllers, 2);
    assert_int_equal(vm->n_left_out, 2); /* scsi2 is not present: its device neither */
    assert_string_equal(vm->left_out[0].key_prefix, "scsi0:1");
    assert_string_equal(vm->left_out[0].device_type, "scsi-passthru");
    assert_string_equal(vm->left_out[0].file_name, "/dev/sg2");
    assert_string_equal(vm->left_out[1].key_prefix, "scsi1:4");
    assert_null(vm->left_out[1].file_name);
    assert_int_equal(vm->n_warnings, 2);
    assert_string_equal(vm->warnings[0],
                        VMX_PATH ": scsi0:1: SCSI passthrough device (/dev/sg2) left out: not a disk");
    assert_string_equal(vm->warnings[1], VMX_PATH ": scsi1:4: SCSI passthrough device left out: not a disk");
    ova_vm_free(&vm);
    /* raw disks stay refused */
    build_fails("scsi0.present = \"TRUE\"\nscsi0:1.present = \"TRUE\"\nscsi0:1.deviceType = \"rawDisk\"\n"
                "scsi0:1.fileName = \"/dev/sdb\"\n",
                OVA_E_UNSUPPORTED, "scsi0:1: raw or passthrough disk (deviceType \"rawDisk\")");
}

/* What a CD-ROM is connected to and whether it starts connected; disk modes. */
static void test_cdrom_kinds_and_modes(void **state)
{
    (void)state;
    ova_vm *vm = build("ide0:0.present = \"TRUE\"\nide0:0.deviceType = \"cdrom-image\"\nide0:0.fileName = \"a.iso\"\n"
                       "ide0:1.present = \"TRUE\"\nide0:1.fileName = \"b.ISO\"\nide0:1.startConnected = \"FALSE\"\n"
                       "ide1:0.present = \"TRUE\"\nide1:0.deviceType = \"atapi-cdrom\"\nide1:0.fileName = \"/dev/sr0\"\n"
                       "ide1:1.present = \"TRUE\"\nide1:1.deviceType = \"cdrom-raw\"\nide1:1.fileName = \"auto detect\"\n"
                       "ide1:1.clientDevice = \"TRUE\"\n"
                       "sata0.present = \"TRUE\"\n"
                       "sata0:0.present = \"TRUE\"\nsata0:0.fileName = \"p.vmdk\"\n"
                       "sata0:1.present = \"TRUE\"\nsata0:1.fileName = \"i.vmdk\"\n"
                       "sata0:1.mode = \"independent-persistent\"\n"
                       "sata0:2.present = \"TRUE\"\nsata0:2.fileName = \"n.vmdk\"\n"
                       "sata0:2.mode = \"independent-nonpersistent\"\n");
    assert_int_equal(find_dev(vm, "ide0:0")->cdrom, OVA_CDROM_IMAGE);
    assert_true(find_dev(vm, "ide0:0")->start_connected);
    assert_int_equal(find_dev(vm, "ide0:1")->cdrom, OVA_CDROM_IMAGE);
    assert_false(find_dev(vm, "ide0:1")->start_connected);
    assert_int_equal(find_dev(vm, "ide1:0")->cdrom, OVA_CDROM_HOST);
    assert_int_equal(find_dev(vm, "ide1:1")->cdrom, OVA_CDROM_CLIENT);
    assert_null(find_dev(vm, "sata0:0")->mode);
    assert_string_equal(find_dev(vm, "sata0:1")->mode, "independent-persistent");
    assert_string_equal(find_dev(vm, "sata0:2")->mode, "independent-nonpersistent");
    assert_int_equal(vm->n_warnings, 0);
    ova_vm_free(&vm);
}

static void test_unknown_device_type(void **state)
{
    (void)state;
    build_fails("scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"x.vmdk\"\n"
                "scsi0:0.deviceType = \"tape\"\n",
                OVA_E_UNSUPPORTED, "vm.vmx: line 4: scsi0:0.deviceType: unknown device type \"tape\"");
}

static void test_missing_or_odd_file_name(void **state)
{
    (void)state;
    build_fails("scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\n", OVA_E_FORMAT,
                "vm.vmx: line 2: scsi0:0: present disk has no fileName");
    build_fails("scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\nscsi0:0.deviceType = \"scsi-hardDisk\"\n"
                "scsi0:0.fileName = \"\"\n",
                OVA_E_FORMAT, "scsi0:0: disk (deviceType \"scsi-hardDisk\") has no fileName");
    build_fails("scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"disk.img\"\n",
                OVA_E_UNSUPPORTED, "vm.vmx: line 3: scsi0:0.fileName: \"disk.img\" is neither a .vmdk disk nor an .iso");
}

static void test_disk_paths(void **state)
{
    (void)state;
    ova_vm *vm = build("scsi0.present = \"TRUE\"\n"
                       "scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"My VM.vmdk\"\n"
                       "scsi0:1.present = \"TRUE\"\nscsi0:1.fileName = \"disks/data disk 2.vmdk\"\n"
                       "scsi0:2.present = \"TRUE\"\nscsi0:2.fileName = \"../common/base.vmdk\"\n"
                       "scsi0:3.present = \"TRUE\"\nscsi0:3.fileName = \"/data/vmfs/abs disk.vmdk\"\n"
                       "scsi0:4.present = \"TRUE\"\n"
                       "scsi0:4.fileName = \"C:\\Users\\Jos|C3|A9\\Documents\\Virtual Machines\\Win 10\\Win 10-0.vmdk\"\n"
                       "scsi0:5.present = \"TRUE\"\nscsi0:5.fileName = \"D:/VMs/fwd slash.vmdk\"\n"
                       "scsi0:6.present = \"TRUE\"\nscsi0:6.fileName = \"\\\\nas\\vms\\unc.vmdk\"\n"
                       "scsi0:8.present = \"TRUE\"\n"
                       "scsi0:8.fileName = \"\xD0\x94\xD0\xB8\xD1\x81\xD0\xBA \xC3\xA9t\xC3\xA9.vmdk\"\n");
    assert_int_equal(vm->n_devices, 8);
    assert_string_equal(find_dev(vm, "scsi0:0")->path, "/vms/My VM/My VM.vmdk");
    assert_string_equal(find_dev(vm, "scsi0:1")->path, "/vms/My VM/disks/data disk 2.vmdk");
    assert_string_equal(find_dev(vm, "scsi0:2")->path, "/vms/My VM/../common/base.vmdk");
    assert_string_equal(find_dev(vm, "scsi0:3")->path, "/data/vmfs/abs disk.vmdk");
    const ova_device *win = find_dev(vm, "scsi0:4");
    assert_string_equal(win->file_name,
                        "C:\\Users\\Jos\xC3\xA9\\Documents\\Virtual Machines\\Win 10\\Win 10-0.vmdk");
    assert_string_equal(win->path, "/vms/My VM/Win 10-0.vmdk");
    /* another host's paths are flagged (ova_prepare warns), this host's are not */
    assert_true(win->foreign_path);
    assert_true(find_dev(vm, "scsi0:5")->foreign_path);
    assert_true(find_dev(vm, "scsi0:6")->foreign_path);
    assert_false(find_dev(vm, "scsi0:0")->foreign_path);
    assert_false(find_dev(vm, "scsi0:2")->foreign_path);
    assert_false(find_dev(vm, "scsi0:3")->foreign_path); /* decided by ova_prepare, which looks at the files */
    assert_string_equal(find_dev(vm, "scsi0:5")->path, "/vms/My VM/fwd slash.vmdk");
    assert_string_equal(find_dev(vm, "scsi0:6")->path, "/vms/My VM/unc.vmdk");
    assert_string_equal(find_dev(vm, "scsi0:8")->path,
                        "/vms/My VM/\xD0\x94\xD0\xB8\xD1\x81\xD0\xBA \xC3\xA9t\xC3\xA9.vmdk");
    assert_string_equal(find_dev(vm, "scsi0:8")->file_name,
                        "\xD0\x94\xD0\xB8\xD1\x81\xD0\xBA \xC3\xA9t\xC3\xA9.vmdk");
    ova_vm_free(&vm);
}

static void test_disk_paths_relative_vmx(void **state)
{
    (void)state;
    ova_vm *vm = build_at("scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"a.vmdk\"\n"
                          "scsi0:1.present = \"TRUE\"\nscsi0:1.fileName = \"C:\\VMs\\b.vmdk\"\n",
                          "vm.vmx");
    assert_string_equal(vm->devices[0].path, "a.vmdk");
    assert_string_equal(vm->devices[1].path, "b.vmdk");
    ova_vm_free(&vm);
    vm = build_at("scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"a.vmdk\"\n",
                  "/vm.vmx");
    assert_string_equal(vm->devices[0].path, "/a.vmdk");
    ova_vm_free(&vm);
}

static void test_sorting(void **state)
{
    (void)state;
    ova_vm *vm = build("nvme0.present = \"TRUE\"\n"
                       "nvme0:0.present = \"TRUE\"\nnvme0:0.fileName = \"n0.vmdk\"\n"
                       "sata0:1.present = \"TRUE\"\nsata0:1.deviceType = \"cdrom-raw\"\n"
                       "scsi1:0.present = \"TRUE\"\nscsi1:0.fileName = \"s10.vmdk\"\n"
                       "scsi0:10.present = \"TRUE\"\nscsi0:10.fileName = \"s010.vmdk\"\n"
                       "scsi0:2.present = \"TRUE\"\nscsi0:2.fileName = \"s02.vmdk\"\n"
                       "ide1:0.present = \"TRUE\"\nide1:0.deviceType = \"cdrom-image\"\nide1:0.fileName = \"x.iso\"\n"
                       "sata0:0.present = \"TRUE\"\nsata0:0.fileName = \"sa0.vmdk\"\n"
                       "scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"s00.vmdk\"\n"
                       "scsi2.present = \"TRUE\"\n"
                       "scsi1.present = \"TRUE\"\nscsi1.virtualDev = \"pvscsi\"\n"
                       "sata0.present = \"TRUE\"\n"
                       "scsi0.present = \"TRUE\"\n");
    static const char *const order[] = { "ide1:0", "scsi0:0", "scsi0:2", "scsi0:10",
                                         "scsi1:0", "sata0:0", "sata0:1", "nvme0:0" };
    assert_int_equal(vm->n_devices, 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(vm->devices[i].key_prefix, order[i]);
    assert_int_equal(vm->devices[3].bus, OVA_BUS_SCSI);
    assert_int_equal(vm->devices[3].ctrl_index, 0);
    assert_int_equal(vm->devices[3].unit, 10);
    assert_int_equal(ova_vm_disk_count(vm), 6);

    static const struct {
        ova_bus bus;
        int index;
        ova_scsi_model model;
    } ctrl[] = {
        { OVA_BUS_IDE, 1, OVA_SCSI_NONE },     { OVA_BUS_SCSI, 0, OVA_SCSI_LSILOGIC },
        { OVA_BUS_SCSI, 1, OVA_SCSI_PVSCSI },  { OVA_BUS_SCSI, 2, OVA_SCSI_LSILOGIC },
        { OVA_BUS_SATA, 0, OVA_SCSI_NONE },    { OVA_BUS_NVME, 0, OVA_SCSI_NONE },
    };
    assert_int_equal(vm->n_controllers, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(vm->controllers[i].bus, ctrl[i].bus);
        assert_int_equal(vm->controllers[i].index, ctrl[i].index);
        assert_int_equal(vm->controllers[i].model, ctrl[i].model);
    }
    ova_vm_free(&vm);
}

static void test_nic_models(void **state)
{
    (void)state;
    ova_vm *vm = build("ethernet0.present = \"TRUE\"\nethernet0.virtualDev = \"e1000\"\n"
                       "ethernet1.present = \"TRUE\"\nethernet1.virtualDev = \"e1000e\"\n"
                       "ethernet2.present = \"TRUE\"\nethernet2.virtualDev = \"vmxnet3\"\n"
                       "ethernet3.present = \"TRUE\"\nethernet3.virtualDev = \"vmxnet\"\n"
                       "ethernet4.present = \"TRUE\"\nethernet4.virtualDev = \"vlance\"\n"
                       "ethernet5.present = \"TRUE\"\n"
                       "ethernet6.present = \"TRUE\"\nethernet6.virtualDev = \"VMXNET3\"\n");
    static const ova_nic_model want[] = { OVA_NIC_E1000,   OVA_NIC_E1000E,  OVA_NIC_VMXNET3, OVA_NIC_VMXNET,
                                          OVA_NIC_PCNET32, OVA_NIC_PCNET32, OVA_NIC_VMXNET3 };
    assert_int_equal(vm->n_nics, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(vm->nics[i].index, i);
        assert_int_equal(vm->nics[i].model, want[i]);
    }
    ova_vm_free(&vm);
    build_fails("ethernet0.present = \"TRUE\"\nethernet0.virtualDev = \"rtl8139\"\n", OVA_E_UNSUPPORTED,
                "vm.vmx: line 2: ethernet0.virtualDev: unknown network adapter model \"rtl8139\"");
}

static void test_nic_networks(void **state)
{
    (void)state;
    ova_vm *vm = build("ethernet0.present = \"TRUE\"\nethernet0.connectionType = \"nat\"\n"
                       "ethernet1.present = \"TRUE\"\nethernet1.connectionType = \"bridged\"\n"
                       "ethernet2.present = \"TRUE\"\nethernet2.connectionType = \"hostonly\"\n"
                       "ethernet3.present = \"TRUE\"\nethernet3.connectionType = \"custom\"\n"
                       "ethernet3.vnet = \"VMnet3\"\n"
                       "ethernet4.present = \"TRUE\"\nethernet4.connectionType = \"custom\"\n"
                       "ethernet5.present = \"TRUE\"\n"
                       "ethernet6.present = \"TRUE\"\nethernet6.networkName = \"VM Network\"\n"
                       "ethernet6.connectionType = \"bridged\"\n"
                       "ethernet7.present = \"TRUE\"\nethernet7.connectionType = \"custom\"\n"
                       "ethernet7.vnet = \"/dev/vmnet2\"\n"
                       "ethernet8.present = \"TRUE\"\nethernet8.connectionType = \"NAT\"\n"
                       "ethernet9.present = \"TRUE\"\nethernet9.connectionType = \"pvn\"\n");
    static const char *const want[] = { "nat", "bridged", "hostonly", "VMnet3", "custom",
                                        "bridged", "VM Network", "vmnet2", "nat", "pvn" };
    assert_int_equal(vm->n_nics, 10);
    for (int i = 0; i < 10; i++)
        assert_string_equal(vm->nics[i].network, want[i]);
    ova_vm_free(&vm);
}

static void test_nic_present_and_connected(void **state)
{
    (void)state;
    ova_vm *vm = build("ethernet0.present = \"FALSE\"\nethernet0.virtualDev = \"bogus\"\n"
                       "ethernet1.virtualDev = \"e1000\"\n"
                       "ethernet2.present = \"TRUE\"\nethernet2.startConnected = \"FALSE\"\n"
                       "ethernet9.present = \"TRUE\"\n"
                       "ethernet10.present = \"TRUE\"\n");
    assert_int_equal(vm->n_nics, 2);
    assert_int_equal(vm->nics[0].index, 2);
    assert_false(vm->nics[0].start_connected);
    assert_int_equal(vm->nics[1].index, 9);
    assert_true(vm->nics[1].start_connected);
    ova_vm_free(&vm);
}

static void test_optional_devices(void **state)
{
    (void)state;
    ova_vm *vm = build("usb.present = \"TRUE\"\nehci.present = \"TRUE\"\nusb_xhci.present = \"TRUE\"\n"
                       "sound.present = \"TRUE\"\nsound.virtualDev = \"HDAudio\"\nfloppy0.present = \"TRUE\"\n");
    assert_true(vm->usb);
    assert_true(vm->usb_ehci);
    assert_true(vm->usb_xhci);
    assert_string_equal(vm->sound, "hdaudio");
    assert_true(vm->floppy);
    ova_vm_free(&vm);

    /* EHCI hangs off the USB controller; sound defaults to es1371; absent means absent */
    vm = build("ehci.present = \"TRUE\"\nsound.present = \"TRUE\"\nfloppy0.present = \"FALSE\"\n");
    assert_false(vm->usb);
    assert_false(vm->usb_ehci);
    assert_false(vm->usb_xhci);
    assert_string_equal(vm->sound, "es1371");
    assert_false(vm->floppy);
    ova_vm_free(&vm);

    vm = build("sound.virtualDev = \"hdaudio\"\n");
    assert_null(vm->sound);
    ova_vm_free(&vm);
}

static void test_encrypted_refused(void **state)
{
    (void)state;
    build_fails("displayName = \"x\"\nencryption.keySafe = \"vmware:key/list/(pair/(phrase/abc))\"\n"
                "encryption.data = \"AAAA\"\n",
                OVA_E_UNSUPPORTED, "vm.vmx: the VM is encrypted (encryption.keySafe is set)");
    build_fails("encryption.data = \"AAAA\"\n", OVA_E_UNSUPPORTED, "vm.vmx: the VM is encrypted (encryption.data");
    build_fails("ENCRYPTION.KEYSAFE = \"\"\n", OVA_E_UNSUPPORTED, "encrypted");
    /* any type but partial is the full kind */
    build_fails("encryption.type = \"full\"\nencryption.keySafe = \"k\"\nencryption.data = \"d\"\n",
                OVA_E_UNSUPPORTED, "vm.vmx: line 1: the VM is encrypted (encryption.type \"full\")");
    build_fails("a = \"1\"\nencryption.type = \"partialx\"\n", OVA_E_UNSUPPORTED,
                "line 2: the VM is encrypted (encryption.type \"partialx\")");
    /* an empty type is no type: the keys decide */
    build_fails("encryption.type = \"\"\nencryption.keySafe = \"k\"\n", OVA_E_UNSUPPORTED,
                "(encryption.keySafe is set)");
}

/* Workstation 17's partial encryption (a vTPM's secrets only): exported,
 * with one warning naming what stays behind. */
static void test_partial_encryption(void **state)
{
    (void)state;
    ova_vm *vm = build("encryption.type = \"Partial\"\nencryption.keySafe = \"k\"\nencryption.data = \"d\"\n"
                       "vtpm.present = \"TRUE\"\n");
    assert_int_equal(vm->encryption, OVA_ENC_PARTIAL);
    assert_true(vm->vtpm);
    assert_int_equal(vm->n_warnings, 1);
    const char *w = vm->warnings[0];
    if (strstr(w, VMX_PATH ": the VM is partially encrypted (encryption.type \"partial\")") == NULL ||
        strstr(w, "the virtual TPM (vtpm.present)") == NULL ||
        strstr(w, "(encryption.keySafe, encryption.data) are not part of the OVA") == NULL)
        fail_msg("warning: %s", w);
    ova_vm_free(&vm);
    /* partial without a vTPM: no TPM words */
    vm = build("encryption.type = \"partial\"\nencryption.keySafe = \"k\"\n");
    assert_int_equal(vm->n_warnings, 1);
    assert_null(strstr(vm->warnings[0], "TPM"));
    ova_vm_free(&vm);
    /* a vTPM alone */
    vm = build("vtpm.present = \"TRUE\"\n");
    assert_int_equal(vm->encryption, OVA_ENC_NONE);
    assert_int_equal(vm->n_warnings, 1);
    assert_non_null(strstr(vm->warnings[0], "the virtual TPM (vtpm.present) and its secrets are not part of the OVA"));
    ova_vm_free(&vm);
    /* neither: no warning */
    vm = build("vtpm.present = \"FALSE\"\n");
    assert_false(vm->vtpm);
    assert_int_equal(vm->n_warnings, 0);
    ova_vm_free(&vm);
}

static void test_case_insensitive_keys(void **state)
{
    (void)state;
    ova_vm *vm = build("SCSI0.PRESENT = \"true\"\nScsi0.VirtualDev = \"PVSCSI\"\n"
                       "SCSI0:0.Present = \"True\"\nscsi0:0.FILENAME = \"Disk.vmdk\"\n"
                       "ETHERNET0.PRESENT = \"TRUE\"\nEthernet0.ConnectionType = \"hostonly\"\n"
                       "MEMSIZE = \"1024\"\nNumVCPUs = \"2\"\nDISPLAYNAME = \"caps\"\n");
    assert_int_equal(vm->controllers[0].model, OVA_SCSI_PVSCSI);
    assert_string_equal(vm->devices[0].file_name, "Disk.vmdk");
    assert_string_equal(vm->nics[0].network, "hostonly");
    assert_int_equal(vm->memory_mb, 1024);
    assert_int_equal(vm->num_vcpus, 2);
    assert_string_equal(vm->display_name, "caps");
    ova_vm_free(&vm);
}

static void test_load_workstation(void **state)
{
    (void)state;
    ova_vm *vm = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (ova_vm_load(FIX("workstation.vmx"), &vm, &err) != OVA_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(vm->display_name, "Debian 12 (build box)");
    assert_string_equal(vm->guest_os, "debian12-64");
    assert_string_equal(vm->vmx_dir, OVATOOL_FIXTURES "/vmx");
    assert_string_equal(vm->annotation, "Build VM\nOwner: Jo|QA\n\"do not delete\"");
    assert_int_equal(vm->num_vcpus, 4);
    assert_int_equal(vm->cores_per_socket, 2);
    assert_int_equal(vm->memory_mb, 4096);
    assert_int_equal(vm->hw_version, 21);
    assert_true(vm->efi);
    assert_true(vm->secure_boot);
    assert_int_equal(vm->n_devices, 3);
    assert_string_equal(vm->devices[0].key_prefix, "scsi0:0");
    assert_string_equal(vm->devices[0].path, OVATOOL_FIXTURES "/vmx/Debian 12-0.vmdk");
    assert_string_equal(vm->devices[1].key_prefix, "sata0:1");
    assert_int_equal(vm->devices[1].kind, OVA_DEV_CDROM);
    assert_string_equal(vm->devices[2].key_prefix, "nvme0:0");
    assert_string_equal(vm->devices[2].path, OVATOOL_FIXTURES "/vmx/data/Debian 12 data.vmdk");
    assert_int_equal(ova_vm_disk_count(vm), 2);
    assert_int_equal(vm->n_controllers, 3);
    assert_int_equal(vm->controllers[0].model, OVA_SCSI_PVSCSI);
    assert_int_equal(vm->n_nics, 2);
    assert_int_equal(vm->nics[0].model, OVA_NIC_VMXNET3);
    assert_string_equal(vm->nics[0].network, "nat");
    assert_true(vm->nics[0].start_connected);
    assert_int_equal(vm->nics[1].model, OVA_NIC_E1000E);
    assert_string_equal(vm->nics[1].network, "vmnet2");
    assert_false(vm->nics[1].start_connected);
    ova_vm_free(&vm);
}

static void test_load_windows_host(void **state)
{
    (void)state;
    ova_vm *vm = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (ova_vm_load(FIX("windows-host.vmx"), &vm, &err) != OVA_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(vm->display_name, "Jos\xC3\xA9 Win 10");
    assert_string_equal(vm->guest_os, "windows9-64");
    assert_string_equal(vm->annotation, "Caf\xC3\xA9 \xE2\x82\xAC 5\nline 2");
    assert_int_equal(vm->n_devices, 2);
    assert_string_equal(vm->devices[0].key_prefix, "sata0:1");
    assert_int_equal(vm->devices[0].kind, OVA_DEV_CDROM);
    assert_string_equal(vm->devices[1].file_name,
                        "C:\\Users\\Jos\xC3\xA9\\Documents\\Virtual Machines\\Win 10\\Win 10.vmdk");
    assert_string_equal(vm->devices[1].path, OVATOOL_FIXTURES "/vmx/Win 10.vmdk");
    assert_string_equal(vm->nics[0].network, "bridged");
    assert_int_equal(vm->nics[0].model, OVA_NIC_E1000E);
    ova_vm_free(&vm);
}

/* A Workstation 17 Windows 11 VM with a vTPM (fixture modelled on what
 * Workstation writes): partially encrypted, exported with a warning. */
static void test_load_ws17_vtpm(void **state)
{
    (void)state;
    ova_vm *vm = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (ova_vm_load(FIX("ws17-win11-vtpm.vmx"), &vm, &err) != OVA_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(vm->display_name, "Windows 11 x64");
    assert_int_equal(vm->encryption, OVA_ENC_PARTIAL);
    assert_true(vm->vtpm);
    assert_int_equal(vm->n_warnings, 1);
    assert_int_equal(ova_vm_disk_count(vm), 1);
    const ova_device *cd = find_dev(vm, "sata0:1");
    assert_int_equal(cd->cdrom, OVA_CDROM_IMAGE);
    assert_false(cd->start_connected);
    assert_string_equal(vm->nics[0].address_type, "generated");
    assert_string_equal(vm->nics[0].mac, "00:0c:29:c5:d6:e7");
    assert_string_equal(vm->sound, "hdaudio");
    ova_vm_free(&vm);
}

/* A cluster node copied off a Windows host, with a tape drive, shared
 * disks on other hosts' paths, static and vpx MACs. */
static void test_load_ws16_cluster_node(void **state)
{
    (void)state;
    ova_vm *vm = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (ova_vm_load(FIX("ws16-cluster-node.vmx"), &vm, &err) != OVA_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(vm->n_left_out, 1);
    assert_string_equal(vm->left_out[0].key_prefix, "scsi0:1");
    assert_int_equal(vm->n_warnings, 1);
    assert_non_null(strstr(vm->warnings[0], "scsi0:1: SCSI passthrough device (/dev/sg2) left out: not a disk"));
    assert_int_equal(ova_vm_disk_count(vm), 4);
    const ova_device *q = find_dev(vm, "scsi1:0");
    assert_true(q->foreign_path);
    assert_string_equal(q->file_name, "E:\\Cluster\\quorum.vmdk");
    assert_string_equal(q->path, OVATOOL_FIXTURES "/vmx/quorum.vmdk");
    assert_string_equal(q->mode, "independent-persistent");
    const ova_device *nas = find_dev(vm, "scsi1:1");
    assert_true(nas->foreign_path);
    assert_string_equal(nas->path, OVATOOL_FIXTURES "/vmx/data.vmdk");
    assert_string_equal(nas->mode, "independent-nonpersistent");
    const ova_device *logs = find_dev(vm, "scsi1:2");
    assert_string_equal(logs->path, "/vmfs/volumes/datastore1/SQL node 2/logs.vmdk");
    assert_string_equal(logs->mode, "persistent");
    assert_int_equal(find_dev(vm, "ide1:0")->cdrom, OVA_CDROM_CLIENT);
    assert_int_equal(find_dev(vm, "ide0:1")->cdrom, OVA_CDROM_HOST);
    assert_false(find_dev(vm, "ide0:1")->start_connected);
    assert_int_equal(vm->n_nics, 3);
    assert_string_equal(vm->nics[0].address_type, "static");
    assert_string_equal(vm->nics[0].mac, "00:50:56:3F:12:34");
    assert_string_equal(vm->nics[1].address_type, "vpx");
    assert_string_equal(vm->nics[1].mac, "00:50:56:aa:bb:cc");
    assert_string_equal(vm->nics[2].address_type, "generated");
    assert_null(vm->nics[2].mac);
    assert_string_equal(vm->annotation,
                        "SQL Server failover cluster, node 2\nShared disks on the NAS; tape for the nightly backup");
    assert_int_equal(vm->encryption, OVA_ENC_NONE);
    assert_false(vm->vtpm);
    ova_vm_free(&vm);
}

static void test_load_errors(void **state)
{
    (void)state;
    ova_vm *vm = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_vm_load(FIX("missing.vmx"), &vm, &err), OVA_E_IO);
    assert_null(vm);
    assert_non_null(strstr(err.msg, "missing.vmx"));
    ova_err_clear(&err);
    assert_int_equal(ova_vm_load(FIX("bad-sjis.vmx"), &vm, &err), OVA_E_FORMAT);
    assert_null(vm);
    assert_non_null(strstr(err.msg, "bad-sjis.vmx: line 3"));
}

static void test_bus_names(void **state)
{
    (void)state;
    assert_string_equal(ova_bus_name(OVA_BUS_IDE), "ide");
    assert_string_equal(ova_bus_name(OVA_BUS_SCSI), "scsi");
    assert_string_equal(ova_bus_name(OVA_BUS_SATA), "sata");
    assert_string_equal(ova_bus_name(OVA_BUS_NVME), "nvme");
    assert_string_equal(ova_bus_name((ova_bus)42), "unknown");
    assert_int_equal(ova_vm_disk_count(NULL), 0);
}

static void test_null_path_uses_vmx_name(void **state)
{
    (void)state;
    ova_vmx *vmx = NULL;
    ova_err err;
    ova_err_clear(&err);
    const char *text = "scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"d.vmdk\"\n";
    assert_int_equal(ova_vmx_parse(text, strlen(text), "/x/Named.vmx", &vmx, &err), OVA_OK);
    ova_vm *vm = NULL;
    assert_int_equal(ova_vm_from_vmx(vmx, NULL, &vm, &err), OVA_OK);
    assert_string_equal(vm->display_name, "Named");
    assert_string_equal(vm->devices[0].path, "/x/d.vmdk");
    ova_vm_free(&vm);
    ova_vmx_free(&vmx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_display_name_fallback),
        cmocka_unit_test(test_core_keys),
        cmocka_unit_test(test_firmware_values),
        cmocka_unit_test(test_bad_numbers),
        cmocka_unit_test(test_scsi_models),
        cmocka_unit_test(test_controller_present_flags),
        cmocka_unit_test(test_sata_nvme_units),
        cmocka_unit_test(test_scsi_unit7),
        cmocka_unit_test(test_ide_implicit),
        cmocka_unit_test(test_device_present_flag),
        cmocka_unit_test(test_disk_device_types),
        cmocka_unit_test(test_cdrom_device_types),
        cmocka_unit_test(test_raw_refused),
        cmocka_unit_test(test_passthru_left_out),
        cmocka_unit_test(test_cdrom_kinds_and_modes),
        cmocka_unit_test(test_unknown_device_type),
        cmocka_unit_test(test_missing_or_odd_file_name),
        cmocka_unit_test(test_disk_paths),
        cmocka_unit_test(test_disk_paths_relative_vmx),
        cmocka_unit_test(test_sorting),
        cmocka_unit_test(test_nic_models),
        cmocka_unit_test(test_nic_networks),
        cmocka_unit_test(test_nic_present_and_connected),
        cmocka_unit_test(test_optional_devices),
        cmocka_unit_test(test_encrypted_refused),
        cmocka_unit_test(test_partial_encryption),
        cmocka_unit_test(test_case_insensitive_keys),
        cmocka_unit_test(test_load_workstation),
        cmocka_unit_test(test_load_windows_host),
        cmocka_unit_test(test_load_ws17_vtpm),
        cmocka_unit_test(test_load_ws16_cluster_node),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_bus_names),
        cmocka_unit_test(test_null_path_uses_vmx_name),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
