/* vmx_write.c - writes the VM model as a VMware Workstation .vmx (import).
 *
 * The text is what Workstation itself writes for such a VM: the .encoding
 * line first, `key = "value"` lines, |XX escapes for the characters a VMX
 * value cannot hold as they are; the chipset keys (PCI bridges, VMCI, HPET)
 * a new Workstation VM has. Every key ova_vm_from_vmx() reads is written so
 * that it reads back to the same model, which is what makes
 * export(import(export(vm))) equal to export(vm). A pure function of the
 * model. All inputs are checked before the first byte is appended.
 */
#include "ovatool/import.h"
#include "util/text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *vm_label(const ova_vm *vm)
{
    return vm->vmx_path != NULL ? vm->vmx_path : vm->display_name != NULL ? vm->display_name : "VM";
}

static bool is_vmnet(const char *s)
{
    if (strncasecmp(s, "vmnet", 5) != 0 || s[5] == '\0')
        return false;
    for (const char *p = s + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

bool ova_vmx_network_is_host(const char *network)
{
    static const char *const types[] = { "nat", "bridged", "hostonly", "custom" };
    if (network == NULL)
        return false;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(network, types[i]) == 0)
            return true;
    return is_vmnet(network);
}

static bool has_controller(const ova_vm *vm, ova_bus bus, int index)
{
    for (size_t k = 0; k < vm->n_controllers; k++)
        if (vm->controllers[k].bus == bus && vm->controllers[k].index == index)
            return true;
    return false;
}

static ova_status check_model(const ova_vm *vm, ova_err *err)
{
    const char *who = vm_label(vm);
    if ((vm->n_controllers > 0 && vm->controllers == NULL) || (vm->n_devices > 0 && vm->devices == NULL) ||
        (vm->n_nics > 0 && vm->nics == NULL))
        return ova_err_set(err, OVA_E_USAGE, "%s: VM model has a count without its array", who);
    if (vm->num_vcpus < 1 || vm->num_vcpus > 4096 || vm->cores_per_socket < 0 || vm->cores_per_socket > 4096)
        return ova_err_set(err, OVA_E_USAGE, "%s: %d virtual CPUs, %d cores per socket", who, vm->num_vcpus,
                           vm->cores_per_socket);
    if (vm->memory_mb < 1 || vm->memory_mb > UINT64_MAX >> 20)
        return ova_err_set(err, OVA_E_USAGE, "%s: memory of %" PRIu64 " MB", who, vm->memory_mb);
    if (vm->hw_version < 1 || vm->hw_version > 999)
        return ova_err_set(err, OVA_E_USAGE, "%s: hardware version %d is not valid", who, vm->hw_version);
    for (size_t k = 0; k < vm->n_controllers; k++) {
        const ova_controller *c = &vm->controllers[k];
        if (c->index < 0 || c->index >= ova_bus_controllers(c->bus))
            return ova_err_set(err, OVA_E_USAGE, "%s: controller %s%d cannot be written to a VMX", who,
                               ova_bus_name(c->bus), c->index);
    }
    for (size_t i = 0; i < vm->n_devices; i++) {
        const ova_device *d = &vm->devices[i];
        if (!has_controller(vm, d->bus, d->ctrl_index) || d->unit < 0 || d->unit >= ova_bus_units(d->bus))
            return ova_err_set(err, OVA_E_USAGE, "%s: device %s%d:%d has no place in the VM", who,
                               ova_bus_name(d->bus), d->ctrl_index, d->unit);
        if (d->kind == OVA_DEV_DISK && (d->file_name == NULL || d->file_name[0] == '\0'))
            return ova_err_set(err, OVA_E_USAGE, "%s: disk %s%d:%d has no file name", who, ova_bus_name(d->bus),
                               d->ctrl_index, d->unit);
    }
    for (size_t i = 0; i < vm->n_nics; i++) {
        int n = vm->nics[i].index;
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || vm->nics[j].index == n;
        if (n < 0 || n >= OVA_VM_MAX_NICS || dup || ova_nic_model_subtype(vm->nics[i].model) == NULL)
            return ova_err_set(err, OVA_E_USAGE, "%s: network adapter ethernet%d cannot be written to a VMX", who, n);
    }
    return OVA_OK;
}

/* One `key = "value"` line. The value's '"', '#', '|' and control
 * characters become |XX, as Workstation escapes them (vmx.c decodes). */
static void kv(ova_buf *out, const char *key, const char *value)
{
    ova_buf_printf(out, "%s = \"", key);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '#' || *p == '|' || *p < 0x20 || *p == 0x7f)
            ova_buf_printf(out, "|%02X", *p);
        else
            ova_buf_putc(out, (char)*p);
    }
    ova_buf_puts(out, "\"\n");
}

static void kvf(ova_buf *out, const char *value, const char *keyfmt, ...) __attribute__((format(printf, 3, 4)));
static void kvf(ova_buf *out, const char *value, const char *keyfmt, ...)
{
    char key[64];
    va_list ap;
    va_start(ap, keyfmt);
    vsnprintf(key, sizeof key, keyfmt, ap);
    va_end(ap);
    kv(out, key, value);
}

static void kv_num(ova_buf *out, const char *key, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, v);
    kv(out, key, s);
}

static const char *tf(bool b) { return b ? "TRUE" : "FALSE"; }

static void write_core(ova_buf *out, const ova_vm *vm)
{
    kv(out, ".encoding", "UTF-8");
    kv(out, "config.version", "8");
    kv_num(out, "virtualHW.version", (uint64_t)vm->hw_version);
    /* the chipset of a new Workstation VM: PCIe root ports for vmxnet3,
     * pvscsi and NVMe (hardware version 7 on) */
    kv(out, "pciBridge0.present", "TRUE");
    if (vm->hw_version >= 7) {
        for (int b = 4; b <= 7; b++) {
            kvf(out, "TRUE", "pciBridge%d.present", b);
            kvf(out, "pcieRootPort", "pciBridge%d.virtualDev", b);
            kvf(out, "8", "pciBridge%d.functions", b);
        }
        kv(out, "vmci0.present", "TRUE");
        kv(out, "hpet0.present", "TRUE");
    }
    kv(out, "displayName", vm->display_name != NULL ? vm->display_name : "");
    kv(out, "guestOS", vm->guest_os != NULL ? vm->guest_os : "other");
    if (vm->efi) {
        kv(out, "firmware", "efi");
        if (vm->secure_boot)
            kv(out, "uefi.secureBoot.enabled", "TRUE");
    }
    kv_num(out, "numvcpus", (uint64_t)vm->num_vcpus);
    if (vm->cores_per_socket > 0)
        kv_num(out, "cpuid.coresPerSocket", (uint64_t)vm->cores_per_socket);
    kv_num(out, "memsize", vm->memory_mb);
    if (vm->annotation != NULL && vm->annotation[0] != '\0')
        kv(out, "annotation", vm->annotation);
}

static void write_device(ova_buf *out, const ova_device *d)
{
    char p[32];
    snprintf(p, sizeof p, "%s%d:%d", ova_bus_name(d->bus), d->ctrl_index, d->unit);
    kvf(out, "TRUE", "%s.present", p);
    if (d->kind == OVA_DEV_DISK) {
        /* Workstation names no type for a disk; the reader goes by the
         * extension, so another name needs the type said */
        if (!ova_ends_with_ci(d->file_name, ".vmdk"))
            kvf(out, "disk", "%s.deviceType", p);
        kvf(out, d->file_name, "%s.fileName", p);
        if (d->mode != NULL)
            kvf(out, d->mode, "%s.mode", p);
        return;
    }
    switch (d->cdrom) {
    case OVA_CDROM_IMAGE:
        kvf(out, "cdrom-image", "%s.deviceType", p);
        if (d->file_name != NULL)
            kvf(out, d->file_name, "%s.fileName", p);
        break;
    case OVA_CDROM_CLIENT:
        kvf(out, "cdrom-raw", "%s.deviceType", p);
        kvf(out, "TRUE", "%s.clientDevice", p);
        break;
    case OVA_CDROM_HOST:
        /* an empty drive: the host's, whichever it has */
        kvf(out, "cdrom-raw", "%s.deviceType", p);
        kvf(out, d->file_name != NULL ? d->file_name : "auto detect", "%s.fileName", p);
        if (d->file_name == NULL)
            kvf(out, "TRUE", "%s.autodetect", p);
        break;
    }
    kvf(out, tf(d->start_connected), "%s.startConnected", p);
}

static void write_storage(ova_buf *out, const ova_vm *vm)
{
    for (size_t k = 0; k < vm->n_controllers; k++) {
        const ova_controller *c = &vm->controllers[k];
        if (c->bus == OVA_BUS_IDE)
            continue; /* implicit in every VM */
        kvf(out, "TRUE", "%s%d.present", ova_bus_name(c->bus), c->index);
        if (c->bus == OVA_BUS_SCSI)
            kvf(out, ova_scsi_model_name(c->model == OVA_SCSI_NONE ? OVA_SCSI_LSILOGIC : c->model), "scsi%d.virtualDev",
                c->index);
    }
    for (size_t i = 0; i < vm->n_devices; i++)
        write_device(out, &vm->devices[i]);
}

static void write_nic(ova_buf *out, const ova_nic *n)
{
    int i = n->index;
    const char *net = n->network != NULL ? n->network : "bridged";
    kvf(out, "TRUE", "ethernet%d.present", i);
    kvf(out, ova_nic_model_name(n->model), "ethernet%d.virtualDev", i);
    if (is_vmnet(net)) {
        kvf(out, "custom", "ethernet%d.connectionType", i);
        kvf(out, net, "ethernet%d.vnet", i);
    } else if (ova_vmx_network_is_host(net)) {
        kvf(out, net, "ethernet%d.connectionType", i);
    } else {
        /* a network this host does not have: bridged, and the name kept
         * for an export to give the OVF its network back */
        kvf(out, "bridged", "ethernet%d.connectionType", i);
        kvf(out, net, "ethernet%d.networkName", i);
    }
    kvf(out, tf(n->start_connected), "ethernet%d.startConnected", i);
    const char *at = n->address_type != NULL ? n->address_type : "generated";
    kvf(out, at, "ethernet%d.addressType", i);
    if (n->mac != NULL)
        kvf(out, n->mac, strcmp(at, "static") == 0 ? "ethernet%d.address" : "ethernet%d.generatedAddress", i);
}

static void write_optional(ova_buf *out, const ova_vm *vm)
{
    if (vm->usb) {
        kv(out, "usb.present", "TRUE");
        if (vm->usb_ehci)
            kv(out, "ehci.present", "TRUE");
    }
    if (vm->usb_xhci)
        kv(out, "usb_xhci.present", "TRUE");
    if (vm->sound != NULL) {
        kv(out, "sound.present", "TRUE");
        kv(out, "sound.virtualDev", vm->sound);
        kv(out, "sound.fileName", "-1");
        kv(out, "sound.autodetect", "TRUE");
    }
    /* Workstation gives a VM without the key a floppy drive */
    kv(out, "floppy0.present", tf(vm->floppy));
    if (vm->floppy) {
        kv(out, "floppy0.fileType", "device");
        kv(out, "floppy0.autodetect", "TRUE");
        kv(out, "floppy0.startConnected", "FALSE");
    }
}

ova_status ova_vmx_write(const ova_vm *vm, ova_buf *out, ova_err *err)
{
    if (vm == NULL || out == NULL)
        return ova_err_set(err, OVA_E_USAGE, "ova_vmx_write: no VM or no output buffer");
    ova_status st = check_model(vm, err);
    if (st != OVA_OK)
        return st;
    write_core(out, vm);
    write_storage(out, vm);
    for (size_t i = 0; i < vm->n_nics; i++)
        write_nic(out, &vm->nics[i]);
    write_optional(out, vm);
    if (ova_buf_failed(out))
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory writing the VMX", vm_label(vm));
    return OVA_OK;
}
