/* import.h - reading an OVF descriptor back into the VM model, and writing
 * that model as a VMware Workstation .vmx (`ovatool import`).
 *
 * ova_import_desc_parse() is the inverse of the export mapping (ovf.c,
 * vm.c, guestos.c, models.c; docs/ovf.md): an OVF that `ovatool export`
 * wrote gives back the ova_vm it was written from, so that
 *   ova_vmx_write(import(OVF)) -> ova_vm_from_vmx -> ova_ovf_write
 * reproduces the OVF byte for byte. It also reads what other producers
 * write (ovftool, VirtualBox, OVF 2.0 envelopes, capacities in any unit)
 * and keeps, as warnings, what it has to guess.
 *
 * Library code: nothing is printed; errors name the OVF and the element.
 */
#ifndef OVATOOL_IMPORT_H
#define OVATOOL_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/buf.h"
#include "ovatool/status.h"
#include "ovatool/vm.h"

/* Bounds on what a descriptor may declare (a hostile OVF must not make
 * import allocate or loop without end): the descriptor's size, and the
 * References/File, DiskSection/Disk and VirtualHardwareSection/Item
 * entries it may have. Real descriptors have a handful of each. */
#define OVA_IMPORT_MAX_OVF_BYTES ((size_t)16 << 20)
#define OVA_IMPORT_MAX_FILES 4096u
#define OVA_IMPORT_MAX_DISKS 1024u
#define OVA_IMPORT_MAX_ITEMS 4096u

/* The virtual hardware version given to a VM whose OVF names none
 * (VirtualBox writes "virtualbox-2.2"): Workstation 14's, the first with
 * every device the model has (NVMe, secure boot). */
#define OVA_IMPORT_DEFAULT_HW 14

/* One References/File. */
typedef struct ova_import_file {
    char *id;               /* ovf:id */
    char *href;             /* ovf:href: a member name of the OVA, or a file beside the .ovf */
    uint64_t size;          /* ovf:size, 0 if absent */
    uint64_t chunk_size;    /* ovf:chunkSize, 0 if the file is not split; when split, the
                               pieces are href.000000000, href.000000001, ... (OVF 1.1 5.2) */
    bool gzip;              /* ovf:compression="gzip" (any other value is refused) */
} ova_import_file;

/* One DiskSection/Disk. */
typedef struct ova_import_disk {
    char *disk_id;          /* ovf:diskId */
    size_t file;            /* index into desc->files; SIZE_MAX for a disk without ovf:fileRef
                               (a blank disk the importer creates empty, of capacity bytes) */
    uint64_t capacity;      /* bytes: ovf:capacity x ovf:capacityAllocationUnits ("byte",
                               "byte * 2^30", "MegaBytes", ...), at most OVA_MAX_CAPACITY */
    uint64_t populated_size;/* ovf:populatedSize, 0 if absent */
    char *format;           /* ovf:format URI, NULL if absent */
} ova_import_disk;

typedef struct ova_import_desc {
    /* The VM as export models it from a VMX (vm.h): vm.vmx_path is the OVF's
     * name (for messages), vm.vmx_dir NULL. Disk devices have file_name and
     * path NULL until the caller names the imported disk files
     * (ova_import_name_disk); CD-ROMs are empty drives of the host
     * (OVA_CDROM_HOST, file_name NULL, start_connected false). A NIC's
     * network is "nat", "bridged" or "hostonly" when the OVF's name says
     * so in any producer's spelling, else the OVF's name as written
     * (ova_vmx_write: "custom" and "vmnetN" as custom networks, any other
     * bridged with the name kept, see ova_vmx_network_is_host); MACs are
     * not carried (address_type "generated", mac NULL). vm.warnings is
     * empty: see warnings below. */
    ova_vm vm;
    size_t *device_disk;    /* per vm.devices[i]: index into disks for a disk, SIZE_MAX otherwise */
    ova_import_file *files;
    size_t n_files;
    ova_import_disk *disks;
    size_t n_disks;
    /* Whole messages naming the OVF, about what import had to guess or
     * leave out (a network mapped to bridged, an unknown device, a guest
     * OS it has no VMX name for). The caller logs them. */
    char **warnings;
    size_t n_warnings;
} ova_import_desc;

/* Parse an OVF descriptor of len bytes (OVF 1.x or 2.x envelope) into *out.
 * name is the OVF's name for messages (the member or file; NULL: "<ovf>"; its control
 * characters are quoted as \xNN) and becomes vm.vmx_path.
 * The first VirtualSystem is imported (a VirtualSystemCollection is refused:
 * OVA_E_UNSUPPORTED). No file is read, no network entity is loaded.
 * Errors: OVA_E_FORMAT (malformed XML, a missing or invalid element or
 * attribute: the message names the OVF, the element and its line),
 * OVA_E_UNSUPPORTED (valid OVF that a Workstation VM cannot be made from),
 * OVA_E_NOMEM. On success *out must be released with ova_import_desc_free(). */
ova_status ova_import_desc_parse(const char *xml, size_t len, const char *name, ova_import_desc **out,
                                 ova_err *err);

/* Free and set *d to NULL. Accepts NULL. */
void ova_import_desc_free(ova_import_desc **d);

/* Set the fileName of disk device vm.devices[device] (relative to the VMX's
 * folder, as Workstation writes it: "NAME.vmdk"); path is set to the same
 * string. OVA_E_USAGE if device is not a disk, OVA_E_NOMEM. */
ova_status ova_import_name_disk(ova_import_desc *d, size_t device, const char *file_name, ova_err *err);

/* Append the VMX text of vm to out, as Workstation writes it: the
 * `.encoding = "UTF-8"` line first, `key = "value"` lines, '"', '|', '#'
 * and control characters written as |XX escapes. Disks' fileName from
 * vm->devices[i].file_name (every disk must have one: OVA_E_USAGE),
 * virtualHW.version from vm->hw_version (callers lower it for --target-hw).
 * A pure function of vm: the same model always gives the same bytes. */
ova_status ova_vmx_write(const ova_vm *vm, ova_buf *out, ova_err *err);

/* Is network (an ova_nic.network) one Workstation has: "nat", "bridged",
 * "hostonly", "custom" or a virtual network "vmnetN"? ova_vmx_write
 * connects a NIC on any other network bridged, keeping the name as
 * ethernetN.networkName (which export reads back). */
bool ova_vmx_network_is_host(const char *network);

#endif
