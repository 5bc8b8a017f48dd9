/* ovf.c - writes the OVF 1.x descriptor of an exported VM, shaped like ovftool's output for a .vmx.
 *
 * The layout follows docs/ovf.md (what importers and
 * scripts expect from a hosted-source export) and stays valid against the
 * DMTF schema DSP8023: two-space indent, LF, ovf:-prefixed attributes in
 * alphabetical order, rasd children in alphabetical order of local name,
 * vmw: extension elements only after the standard children. The text is a
 * pure function of the inputs (no timestamp, no build id), so two exports
 * of the same VM give byte-identical descriptors and manifests.
 *
 * All inputs are checked before the first byte is appended, so on any error
 * other than out-of-memory the buffer is left as it was.
 */
#include "ovatool/ovf.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_OPTIMIZED_URL "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

/* The CPU and memory Items always take InstanceIDs 1 and 2, so the
 * controller at vm->controllers[k] is InstanceID FIRST_CTRL_ID + k. */
enum { CPU_ID = 1, MEM_ID = 2, FIRST_CTRL_ID = 3 };

typedef struct writer {
    ova_buf *out;
    bool oom; /* an allocation made here (not in out) failed */
} writer;

/* How a controller is described: docs/ovf.md section 6.4. */
typedef struct ctrl_info {
    int resource_type;
    const char *subtype;   /* NULL: none (IDE), or the model's (SCSI: controller_subtype) */
    const char *desc;
    const char *name;      /* ElementName prefix; the controller index follows */
} ctrl_info;

/* One static description per bus, so a lookup either returns a complete
 * entry or NULL: nothing is left half-filled for the caller (gcc's -O3
 * could not prove the old fill-in-place version always wrote it). A SCSI
 * controller's subtype is its model's, from the one table in models.c. */
static const ctrl_info CTRL_IDE = { 5, NULL, "IDE Controller", "ideController" };
static const ctrl_info CTRL_SCSI = { 6, NULL, "SCSI Controller", "scsiController" };
static const ctrl_info CTRL_SATA = { 20, "vmware.sata.ahci", "SATA Controller", "sataController" };
static const ctrl_info CTRL_NVME = { 20, "vmware.nvme.controller", "NVME Controller", "nvmeController" };

/* vm.h: lsilogic is also what an absent virtualDev means */
static ova_scsi_model scsi_model_of(const ova_controller *c)
{
    return c->model == OVA_SCSI_NONE ? OVA_SCSI_LSILOGIC : c->model;
}

/* NULL: a bus or model the OVF cannot describe (refused in check_inputs) */
static const ctrl_info *controller_info(const ova_controller *c)
{
    switch (c->bus) {
    case OVA_BUS_IDE: return &CTRL_IDE;
    case OVA_BUS_SCSI: return ova_scsi_model_subtype(scsi_model_of(c)) != NULL ? &CTRL_SCSI : NULL;
    case OVA_BUS_SATA: return &CTRL_SATA;
    case OVA_BUS_NVME: return &CTRL_NVME;
    }
    return NULL;
}

static const char *controller_subtype(const ova_controller *c, const ctrl_info *ci)
{
    return c->bus == OVA_BUS_SCSI ? ova_scsi_model_subtype(scsi_model_of(c)) : ci->subtype;
}

/* vm.h promises "None" for an unconnected NIC; a NULL here would otherwise
 * become an empty Connection that matches no Network. */
static const char *nic_network(const ova_nic *n) { return n->network != NULL ? n->network : "None"; }

static const char *str_or(const char *s, const char *dflt) { return s != NULL ? s : dflt; }

/* Name used in error messages: the VMX path, which the user typed. */
static const char *vm_label(const ova_vm *vm)
{
    return vm->vmx_path != NULL ? vm->vmx_path : str_or(vm->display_name, "VM");
}

static const char *dev_label(const ova_device *d) { return str_or(d->key_prefix, "device"); }

/* Position of controller (bus, index) in vm->controllers, or -1. */
static long find_controller(const ova_vm *vm, ova_bus bus, int index)
{
    for (size_t k = 0; k < vm->n_controllers; k++)
        if (vm->controllers[k].bus == bus && vm->controllers[k].index == index)
            return (long)k;
    return -1;
}

/* Position of the ova_ovf_disk exported from device d, or -1. */
static long find_disk(const ova_ovf_disk *disks, size_t n_disks, const ova_device *d)
{
    for (size_t i = 0; i < n_disks; i++)
        if (disks[i].device == d)
            return (long)i;
    return -1;
}

/* Is d one of vm->devices? Compared by equality: ordering pointers into
 * different objects is undefined. */
static bool device_in_vm(const ova_vm *vm, const ova_device *d)
{
    for (size_t i = 0; i < vm->n_devices; i++)
        if (&vm->devices[i] == d)
            return true;
    return false;
}

static int hw_version(const ova_vm *vm, const ova_ovf_options *opts)
{
    return (opts != NULL && opts->target_hw != 0) ? opts->target_hw : vm->hw_version;
}

/* Everything the writer relies on, checked up front so that a bad model
 * never produces half a document. */
static ova_status check_inputs(const ova_vm *vm, const ova_ovf_disk *disks, size_t n_disks,
                               const ova_ovf_options *opts, ova_err *err)
{
    const char *who = vm_label(vm);

    if (n_disks > 0 && disks == NULL)
        return ova_err_set(err, OVA_E_USAGE, "%s: %zu disks announced but none given", who, n_disks);
    if ((vm->n_controllers > 0 && vm->controllers == NULL) || (vm->n_devices > 0 && vm->devices == NULL) ||
        (vm->n_nics > 0 && vm->nics == NULL))
        return ova_err_set(err, OVA_E_USAGE, "%s: VM model has a count without its array", who);
    if (vm->num_vcpus < 1)
        return ova_err_set(err, OVA_E_USAGE, "%s: %d virtual CPUs", who, vm->num_vcpus);
    if (vm->memory_mb < 1)
        return ova_err_set(err, OVA_E_USAGE, "%s: no memory", who);
    if (vm->cores_per_socket < 0)
        return ova_err_set(err, OVA_E_USAGE, "%s: %d cores per socket", who, vm->cores_per_socket);
    if (opts != NULL && opts->target_hw < 0)
        return ova_err_set(err, OVA_E_USAGE, "target hardware version %d is not valid", opts->target_hw);
    if (hw_version(vm, opts) < 1)
        return ova_err_set(err, OVA_E_USAGE, "%s: hardware version %d is not valid", who, hw_version(vm, opts));

    for (size_t k = 0; k < vm->n_controllers; k++) {
        if (controller_info(&vm->controllers[k]) == NULL)
            return ova_err_set(err, OVA_E_USAGE, "%s: controller %zu has an unknown bus or model", who, k);
    }

    for (size_t i = 0; i < n_disks; i++) {
        const ova_device *d = disks[i].device;
        if (d == NULL || !device_in_vm(vm, d))
            return ova_err_set(err, OVA_E_USAGE, "%s: exported disk %zu is not a device of this VM", who, i + 1);
        if (d->kind != OVA_DEV_DISK)
            return ova_err_set(err, OVA_E_USAGE, "%s: %s is not a hard disk", who, dev_label(d));
        if (disks[i].href == NULL || disks[i].href[0] == '\0')
            return ova_err_set(err, OVA_E_USAGE, "%s: exported disk %zu has no file name", who, i + 1);
        if (find_disk(disks, i, d) >= 0)
            return ova_err_set(err, OVA_E_USAGE, "%s: %s is exported twice", who, dev_label(d));
    }

    for (size_t i = 0; i < vm->n_devices; i++) {
        const ova_device *d = &vm->devices[i];
        if (d->kind != OVA_DEV_DISK && d->kind != OVA_DEV_CDROM)
            return ova_err_set(err, OVA_E_USAGE, "%s: %s has an unknown device kind", who, dev_label(d));
        if (find_controller(vm, d->bus, d->ctrl_index) < 0)
            return ova_err_set(err, OVA_E_USAGE, "%s: the controller of %s is not in the VM model", who,
                               dev_label(d));
        /* every disk must be exported: an OVF that silently drops one
         * would import as a VM that does not boot or lacks data */
        if (d->kind == OVA_DEV_DISK && find_disk(disks, n_disks, d) < 0)
            return ova_err_set(err, OVA_E_USAGE, "%s: disk %s was not exported", who, dev_label(d));
    }

    for (size_t i = 0; i < vm->n_nics; i++)
        if (ova_nic_model_subtype(vm->nics[i].model) == NULL)
            return ova_err_set(err, OVA_E_USAGE, "%s: ethernet%d has an unknown adapter type", who,
                               vm->nics[i].index);
    return OVA_OK;
}

/* ---- text helpers ---- */

static void indent(writer *w, int level) { ova_buf_fill(w->out, ' ', (size_t)level * 2); }

static void puts_(writer *w, const char *s) { ova_buf_puts(w->out, s); }

/* Append s, XML-escaped by ova_buf_put_xml. On top of that, characters an
 * XML parser would not hand back as written become character references: CR
 * in text (parsers turn CR and CRLF into LF, and the file stays LF-only), and
 * CR, LF and TAB in attribute values (parsers turn those into blanks). */
static void put_esc(writer *w, const char *s, bool attr)
{
    const char *special = attr ? "\r\n\t" : "\r";
    if (s[strcspn(s, special)] == '\0') {
        ova_buf_put_xml(w->out, s);
        return;
    }
    char *copy = strdup(s);
    if (copy == NULL) {
        w->oom = true;
        return;
    }
    for (char *p = copy;;) {
        size_t n = strcspn(p, special);
        char c = p[n];
        p[n] = '\0';
        ova_buf_put_xml(w->out, p);
        if (c == '\0')
            break;
        ova_buf_printf(w->out, "&#%d;", (int)(unsigned char)c);
        p += n + 1;
    }
    free(copy);
}

static void text_elem(writer *w, int level, const char *name, const char *text)
{
    indent(w, level);
    ova_buf_printf(w->out, "<%s>", name);
    put_esc(w, text, false);
    ova_buf_printf(w->out, "</%s>\n", name);
}

static void num_elem(writer *w, int level, const char *name, uint64_t v)
{
    indent(w, level);
    ova_buf_printf(w->out, "<%s>%" PRIu64 "</%s>\n", name, v, name);
}

static void open_tag(writer *w, int level, const char *tag)
{
    indent(w, level);
    ova_buf_printf(w->out, "<%s>\n", tag);
}

static void close_tag(writer *w, int level, const char *name)
{
    indent(w, level);
    ova_buf_printf(w->out, "</%s>\n", name);
}

/* ---- sections ---- */

static void write_envelope_start(writer *w)
{
    puts_(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<!--Generated by ovatool-->\n"
             "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""
             " xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\""
             " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""
             " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\""
             " xmlns:vmw=\"http://www.vmware.com/schema/ovf\""
             " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\""
             " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n");
}

static void write_references(writer *w, const ova_ovf_disk *disks, size_t n_disks)
{
    open_tag(w, 1, "References");
    for (size_t i = 0; i < n_disks; i++) {
        indent(w, 2);
        puts_(w, "<File ovf:href=\"");
        put_esc(w, disks[i].href, true);
        ova_buf_printf(w->out, "\" ovf:id=\"file%zu\" ovf:size=\"%" PRIu64 "\"/>\n", i + 1, disks[i].file_size);
    }
    close_tag(w, 1, "References");
}

static void write_disk_section(writer *w, const ova_ovf_disk *disks, size_t n_disks)
{
    open_tag(w, 1, "DiskSection");
    text_elem(w, 2, "Info", "Virtual disk information");
    for (size_t i = 0; i < n_disks; i++) {
        /* capacity in plain bytes: VirtualBox ignores capacityAllocationUnits
         * (docs/ovf.md section 3), and bytes read correctly everywhere */
        indent(w, 2);
        ova_buf_printf(w->out,
                       "<Disk ovf:capacity=\"%" PRIu64 "\" ovf:capacityAllocationUnits=\"byte\""
                       " ovf:diskId=\"vmdisk%zu\" ovf:fileRef=\"file%zu\" ovf:format=\"" STREAM_OPTIMIZED_URL "\""
                       " ovf:populatedSize=\"%" PRIu64 "\"/>\n",
                       disks[i].capacity, i + 1, i + 1, disks[i].populated_size);
    }
    close_tag(w, 1, "DiskSection");
}

static void write_network_section(writer *w, const ova_vm *vm)
{
    /* the schema lets a VM without NICs leave the section out */
    if (vm->n_nics == 0)
        return;
    open_tag(w, 1, "NetworkSection");
    text_elem(w, 2, "Info", "The list of logical networks");
    for (size_t i = 0; i < vm->n_nics; i++) {
        const char *net = nic_network(&vm->nics[i]);
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(nic_network(&vm->nics[j]), net) == 0;
        if (seen)
            continue;
        indent(w, 2);
        puts_(w, "<Network ovf:name=\"");
        put_esc(w, net, true);
        puts_(w, "\">\n");
        indent(w, 3);
        puts_(w, "<Description>The ");
        put_esc(w, net, false);
        puts_(w, " network</Description>\n");
        close_tag(w, 2, "Network");
    }
    close_tag(w, 1, "NetworkSection");
}

static void write_os_section(writer *w, const ova_vm *vm)
{
    const char *vim_id, *desc;
    int cim_id;
    ova_guest_lookup(str_or(vm->guest_os, "other"), &vim_id, &cim_id, &desc);
    indent(w, 2);
    ova_buf_printf(w->out, "<OperatingSystemSection ovf:id=\"%d\" vmw:osType=\"", cim_id);
    put_esc(w, vim_id, true);
    puts_(w, "\">\n");
    text_elem(w, 3, "Info", "The kind of installed guest operating system");
    /* hosted ovftool omits it, but VirtualBox picks its OS type from this
     * text when the CIM id is Other / Other 64-bit */
    text_elem(w, 3, "Description", desc);
    close_tag(w, 2, "OperatingSystemSection");
}

static void write_system(writer *w, const ova_vm *vm, const ova_ovf_options *opts)
{
    open_tag(w, 3, "System");
    text_elem(w, 4, "vssd:ElementName", "Virtual Hardware Family");
    num_elem(w, 4, "vssd:InstanceID", 0);
    text_elem(w, 4, "vssd:VirtualSystemIdentifier", str_or(vm->display_name, ""));
    indent(w, 4);
    ova_buf_printf(w->out, "<vssd:VirtualSystemType>vmx-%02d</vssd:VirtualSystemType>\n", hw_version(vm, opts));
    close_tag(w, 3, "System");
}

static void write_cpu_memory(writer *w, const ova_vm *vm)
{
    open_tag(w, 3, "Item");
    text_elem(w, 4, "rasd:AllocationUnits", "hertz * 10^6");
    text_elem(w, 4, "rasd:Description", "Number of Virtual CPUs");
    indent(w, 4);
    ova_buf_printf(w->out, "<rasd:ElementName>%d virtual CPU(s)</rasd:ElementName>\n", vm->num_vcpus);
    num_elem(w, 4, "rasd:InstanceID", CPU_ID);
    num_elem(w, 4, "rasd:ResourceType", 3);
    num_elem(w, 4, "rasd:VirtualQuantity", (uint64_t)vm->num_vcpus);
    /* only when the VMX sets cpuid.coresPerSocket, as ovftool does */
    if (vm->cores_per_socket > 0) {
        indent(w, 4);
        ova_buf_printf(w->out, "<vmw:CoresPerSocket ovf:required=\"false\">%d</vmw:CoresPerSocket>\n",
                       vm->cores_per_socket);
    }
    close_tag(w, 3, "Item");

    open_tag(w, 3, "Item");
    /* byte * 2^20 is one of the few units VirtualBox accepts for memory */
    text_elem(w, 4, "rasd:AllocationUnits", "byte * 2^20");
    text_elem(w, 4, "rasd:Description", "Memory Size");
    indent(w, 4);
    ova_buf_printf(w->out, "<rasd:ElementName>%" PRIu64 "MB of memory</rasd:ElementName>\n", vm->memory_mb);
    num_elem(w, 4, "rasd:InstanceID", MEM_ID);
    num_elem(w, 4, "rasd:ResourceType", 4);
    num_elem(w, 4, "rasd:VirtualQuantity", vm->memory_mb);
    close_tag(w, 3, "Item");
}

static void write_controllers(writer *w, const ova_vm *vm)
{
    for (size_t k = 0; k < vm->n_controllers; k++) {
        const ova_controller *c = &vm->controllers[k];
        const ctrl_info *ci = controller_info(c); /* not NULL: checked in check_inputs */
        open_tag(w, 3, "Item");
        num_elem(w, 4, "rasd:Address", (uint64_t)c->index);
        text_elem(w, 4, "rasd:Description", ci->desc);
        indent(w, 4);
        ova_buf_printf(w->out, "<rasd:ElementName>%s%d</rasd:ElementName>\n", ci->name, c->index);
        num_elem(w, 4, "rasd:InstanceID", FIRST_CTRL_ID + k);
        const char *sub = controller_subtype(c, ci);
        if (sub != NULL)
            text_elem(w, 4, "rasd:ResourceSubType", sub);
        num_elem(w, 4, "rasd:ResourceType", (uint64_t)ci->resource_type);
        close_tag(w, 3, "Item");
    }
}

/* Disks and CD-ROMs in vm->devices order; returns the next free InstanceID. */
static uint64_t write_devices(writer *w, const ova_vm *vm, const ova_ovf_disk *disks, size_t n_disks,
                              uint64_t id)
{
    unsigned n_disk_items = 0, n_cdroms = 0;
    for (size_t i = 0; i < vm->n_devices; i++, id++) {
        const ova_device *d = &vm->devices[i];
        uint64_t parent = FIRST_CTRL_ID + (uint64_t)find_controller(vm, d->bus, d->ctrl_index);
        if (d->kind == OVA_DEV_DISK) {
            long k = find_disk(disks, n_disks, d);
            open_tag(w, 3, "Item");
            num_elem(w, 4, "rasd:AddressOnParent", (uint64_t)d->unit);
            indent(w, 4);
            ova_buf_printf(w->out, "<rasd:ElementName>disk%u</rasd:ElementName>\n", n_disk_items++);
            indent(w, 4);
            ova_buf_printf(w->out, "<rasd:HostResource>ovf:/disk/vmdisk%ld</rasd:HostResource>\n", k + 1);
            num_elem(w, 4, "rasd:InstanceID", id);
            num_elem(w, 4, "rasd:Parent", parent);
            num_elem(w, 4, "rasd:ResourceType", 17);
            close_tag(w, 3, "Item");
        } else {
            /* an empty drive: the ISO is not packaged, and the importer
             * may drop the drive altogether */
            open_tag(w, 3, "Item ovf:required=\"false\"");
            num_elem(w, 4, "rasd:AddressOnParent", (uint64_t)d->unit);
            text_elem(w, 4, "rasd:AutomaticAllocation", "false");
            indent(w, 4);
            ova_buf_printf(w->out, "<rasd:ElementName>cdrom%u</rasd:ElementName>\n", n_cdroms++);
            num_elem(w, 4, "rasd:InstanceID", id);
            num_elem(w, 4, "rasd:Parent", parent);
            text_elem(w, 4, "rasd:ResourceSubType", "vmware.cdrom.remotepassthrough");
            num_elem(w, 4, "rasd:ResourceType", 15);
            close_tag(w, 3, "Item");
        }
    }
    return id;
}

static void write_nics(writer *w, const ova_vm *vm, uint64_t id)
{
    for (size_t i = 0; i < vm->n_nics; i++, id++) {
        const ova_nic *n = &vm->nics[i];
        const char *net = nic_network(n);
        const char *sub = ova_nic_model_subtype(n->model);
        open_tag(w, 3, "Item");
        /* 2 is what ovftool writes for hosted sources (vSphere uses 7) */
        num_elem(w, 4, "rasd:AddressOnParent", 2);
        text_elem(w, 4, "rasd:AutomaticAllocation", n->start_connected ? "true" : "false");
        text_elem(w, 4, "rasd:Connection", net);
        indent(w, 4);
        ova_buf_printf(w->out, "<rasd:Description>%s ethernet adapter on &quot;", sub);
        put_esc(w, net, false);
        puts_(w, "&quot;</rasd:Description>\n");
        indent(w, 4);
        ova_buf_printf(w->out, "<rasd:ElementName>ethernet%d</rasd:ElementName>\n", n->index);
        num_elem(w, 4, "rasd:InstanceID", id);
        text_elem(w, 4, "rasd:ResourceSubType", sub);
        num_elem(w, 4, "rasd:ResourceType", 10);
        close_tag(w, 3, "Item");
    }
}

const char *ova_ovf_sound_subtype(const char *dev)
{
    if (strcmp(dev, "hdaudio") == 0)
        return "vmware.soundcard.hdaudio";
    if (strcmp(dev, "es1371") == 0)
        return "vmware.soundcard.ensoniq1371";
    if (strcmp(dev, "sb16") == 0)
        return "vmware.soundcard.sb16";
    return NULL;
}

static void config_elem(writer *w, int level, const char *key, const char *value)
{
    indent(w, level);
    ova_buf_printf(w->out, "<vmw:Config ovf:required=\"false\" vmw:key=\"%s\" vmw:value=\"%s\"/>\n", key, value);
}

/* USB controllers, sound card and floppy drive: optional devices that an
 * importer may drop (ovf:required="false"), as ovftool marks them.
 * `ovatool info` lists them by the same conditions (cli_info.c). */
static uint64_t write_optional(writer *w, const ova_vm *vm, uint64_t id)
{
    if (vm->usb) {
        open_tag(w, 3, "Item ovf:required=\"false\"");
        num_elem(w, 4, "rasd:Address", 0);
        text_elem(w, 4, "rasd:Description", "USB Controller (EHCI)");
        text_elem(w, 4, "rasd:ElementName", "usb");
        num_elem(w, 4, "rasd:InstanceID", id++);
        text_elem(w, 4, "rasd:ResourceSubType", "vmware.usb.ehci");
        num_elem(w, 4, "rasd:ResourceType", 23);
        config_elem(w, 4, "ehciEnabled", vm->usb_ehci ? "true" : "false");
        close_tag(w, 3, "Item");
    }
    if (vm->usb_xhci) {
        open_tag(w, 3, "Item ovf:required=\"false\"");
        num_elem(w, 4, "rasd:Address", 0);
        text_elem(w, 4, "rasd:Description", "USB Controller (XHCI)");
        text_elem(w, 4, "rasd:ElementName", "usb_xhci");
        num_elem(w, 4, "rasd:InstanceID", id++);
        text_elem(w, 4, "rasd:ResourceSubType", "vmware.usb.xhci");
        num_elem(w, 4, "rasd:ResourceType", 23);
        close_tag(w, 3, "Item");
    }
    const char *snd = vm->sound ? ova_ovf_sound_subtype(vm->sound) : NULL;
    if (snd != NULL) {
        open_tag(w, 3, "Item ovf:required=\"false\"");
        text_elem(w, 4, "rasd:AutomaticAllocation", "false");
        text_elem(w, 4, "rasd:ElementName", "sound");
        num_elem(w, 4, "rasd:InstanceID", id++);
        text_elem(w, 4, "rasd:ResourceSubType", snd);
        num_elem(w, 4, "rasd:ResourceType", 1);
        close_tag(w, 3, "Item");
    }
    if (vm->floppy) {
        open_tag(w, 3, "Item ovf:required=\"false\"");
        num_elem(w, 4, "rasd:AddressOnParent", 0);
        text_elem(w, 4, "rasd:AutomaticAllocation", "false");
        text_elem(w, 4, "rasd:Description", "Floppy Drive");
        text_elem(w, 4, "rasd:ElementName", "floppy0");
        num_elem(w, 4, "rasd:InstanceID", id++);
        text_elem(w, 4, "rasd:ResourceSubType", "vmware.floppy.remotedevice");
        num_elem(w, 4, "rasd:ResourceType", 14);
        close_tag(w, 3, "Item");
    }
    return id;
}

static void write_hardware(writer *w, const ova_vm *vm, const ova_ovf_disk *disks, size_t n_disks,
                           const ova_ovf_options *opts)
{
    open_tag(w, 2, "VirtualHardwareSection");
    text_elem(w, 3, "Info", "Virtual hardware requirements");
    write_system(w, vm, opts);
    write_cpu_memory(w, vm);
    write_controllers(w, vm);
    uint64_t id = write_devices(w, vm, disks, n_disks, FIRST_CTRL_ID + (uint64_t)vm->n_controllers);
    write_nics(w, vm, id);
    write_optional(w, vm, id + vm->n_nics);
    /* vmw: elements may only follow the last Item (the schema's trailing
     * wildcard); placed between Items, Xerces-based importers reject them */
    if (vm->efi) {
        config_elem(w, 3, "firmware", "efi");
        /* secure boot means nothing without EFI firmware, and a BIOS VM
         * that claims it would be refused by the importer */
        if (vm->secure_boot)
            config_elem(w, 3, "bootOptions.efiSecureBootEnabled", "true");
    }
    close_tag(w, 2, "VirtualHardwareSection");
}

static void write_annotation(writer *w, const ova_vm *vm)
{
    if (vm->annotation == NULL || vm->annotation[0] == '\0')
        return;
    open_tag(w, 2, "AnnotationSection ovf:required=\"false\"");
    text_elem(w, 3, "Info", "A human-readable annotation");
    text_elem(w, 3, "Annotation", vm->annotation);
    close_tag(w, 2, "AnnotationSection");
}

ova_status ova_ovf_write(const ova_vm *vm, const ova_ovf_disk *disks, size_t n_disks,
                         const ova_ovf_options *opts, ova_buf *out, ova_err *err)
{
    if (vm == NULL || out == NULL)
        return ova_err_set(err, OVA_E_USAGE, "ova_ovf_write: no VM or no output buffer");
    ova_status st = check_inputs(vm, disks, n_disks, opts, err);
    if (st != OVA_OK)
        return st;

    writer w = { out, false };
    write_envelope_start(&w);
    write_references(&w, disks, n_disks);
    write_disk_section(&w, disks, n_disks);
    write_network_section(&w, vm);

    indent(&w, 1);
    puts_(&w, "<VirtualSystem ovf:id=\"vm\">\n");
    text_elem(&w, 2, "Info", "A virtual machine");
    text_elem(&w, 2, "Name", str_or(vm->display_name, ""));
    write_os_section(&w, vm);
    write_hardware(&w, vm, disks, n_disks, opts);
    write_annotation(&w, vm);
    close_tag(&w, 1, "VirtualSystem");
    puts_(&w, "</Envelope>\n");

    if (w.oom || ova_buf_failed(out))
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory writing the OVF descriptor", vm_label(vm));
    return OVA_OK;
}
