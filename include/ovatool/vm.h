/* vm.h - the virtual machine as ovatool understands it: what the VMX says
 * about hardware, disks and networks, independent of how it was written.
 *
 * ova_vm_from_vmx() builds it from a parsed VMX; the OVF writer and the
 * export engine read it. All strings are UTF-8 (converted from the VMX's
 * .encoding) with |XX escapes already decoded.
 */
#ifndef OVATOOL_VM_H
#define OVATOOL_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/status.h"
#include "ovatool/vmx.h"

typedef enum ova_bus {
    OVA_BUS_IDE = 0,
    OVA_BUS_SCSI,
    OVA_BUS_SATA,
    OVA_BUS_NVME
} ova_bus;

/* SCSI controller models (scsiN.virtualDev). */
typedef enum ova_scsi_model {
    OVA_SCSI_NONE = 0,  /* not a SCSI controller */
    OVA_SCSI_LSILOGIC,  /* "lsilogic" (also the default when virtualDev is absent) */
    OVA_SCSI_LSISAS,    /* "lsisas1068" -> OVF lsilogicsas */
    OVA_SCSI_PVSCSI,    /* "pvscsi" -> OVF VirtualSCSI */
    OVA_SCSI_BUSLOGIC   /* "buslogic" */
} ova_scsi_model;

typedef struct ova_controller {
    ova_bus bus;
    int index;              /* scsi0 -> 0 */
    ova_scsi_model model;   /* OVA_SCSI_NONE unless bus == OVA_BUS_SCSI */
} ova_controller;

typedef enum ova_device_kind {
    OVA_DEV_DISK = 0,   /* a .vmdk hard disk: exported */
    OVA_DEV_CDROM       /* CD/DVD drive (image or host device): exported as an empty drive */
} ova_device_kind;

/* What a CD-ROM drive is connected to in the VMX (the OVF always gets an
 * empty drive; `ovatool info` shows this so a user knows what to re-attach). */
typedef enum ova_cdrom_kind {
    OVA_CDROM_IMAGE = 0,    /* deviceType "cdrom-image" (or none, with an .iso fileName): an ISO file */
    OVA_CDROM_HOST,         /* "atapi-cdrom", "cdrom-raw" and other cdrom types: the host's drive */
    OVA_CDROM_CLIENT        /* clientDevice = "TRUE": the drive of the machine running the console */
} ova_cdrom_kind;

typedef struct ova_device {
    ova_device_kind kind;
    ova_bus bus;
    int ctrl_index;         /* controller number on that bus (scsi1 -> 1) */
    int unit;               /* unit on the controller (scsi1:3 -> 3) */
    char *file_name;        /* fileName as written in the VMX (decoded), may be NULL for CD-ROMs */
    char *path;             /* disks: fileName resolved against the VMX's folder; else NULL */
    char *key_prefix;       /* "scsi1:3", for messages */
    /* Disks: fileName is a path of another host (a Windows drive or UNC
     * path here; ova_prepare also sets it for an absolute path that does not
     * exist here), and path is the file of the same base name beside the
     * VMX. ova_prepare names both in a warning. */
    bool foreign_path;
    char *mode;             /* disks: the .mode key as written ("independent-persistent",
                               "independent-nonpersistent", "persistent"), NULL when absent
                               (VMware's default, persistent); CD-ROMs: NULL */
    ova_cdrom_kind cdrom;   /* CD-ROMs only */
    bool start_connected;   /* CD-ROMs: .startConnected (default true, as VMware); disks: true */
} ova_device;

/* A present device that the OVA leaves out, with a warning: a SCSI
 * passthrough device (a tape drive, a changer, a scanner: deviceType
 * "scsi-passthru") is not a disk, and an importing host has no such
 * device to give it. */
typedef struct ova_left_out {
    char *key_prefix;       /* "scsi0:1" */
    char *device_type;      /* as written, "scsi-passthru" */
    char *file_name;        /* the host device ("/dev/sg2"), NULL if none */
} ova_left_out;

/* encryption.type with encryption.keySafe/encryption.data. Only the partial
 * kind gets past ova_vm_from_vmx: the others are refused. */
typedef enum ova_encryption {
    OVA_ENC_NONE = 0,
    OVA_ENC_PARTIAL         /* encryption.type = "partial" (Workstation 17, for a vTPM): the VM's
                               secrets (vTPM, NVRAM) are encrypted, the VMX keys and disks are not */
} ova_encryption;

typedef enum ova_nic_model {
    OVA_NIC_E1000 = 0,  /* "e1000" */
    OVA_NIC_E1000E,     /* "e1000e" */
    OVA_NIC_VMXNET3,    /* "vmxnet3" */
    OVA_NIC_VMXNET,     /* "vmxnet" */
    OVA_NIC_PCNET32     /* "vlance" (and the default when virtualDev is absent) */
} ova_nic_model;

/* NICs a VMX may have: ethernet0 to ethernet9, as the reader scans them. */
#define OVA_VM_MAX_NICS 10

typedef struct ova_nic {
    int index;              /* ethernetN */
    ova_nic_model model;
    char *network;          /* networkName, else connectionType ("nat", "bridged", "hostonly"; for
                               "custom" the vnet name, "/dev/" stripped), else "bridged" (VMware's default) */
    bool start_connected;
    char *address_type;     /* ethernetN.addressType, lower-cased ("generated", "static", "vpx"),
                               "generated" (VMware's default) when absent */
    char *mac;              /* the MAC that address type uses: .address for "static", else
                               .generatedAddress; NULL when the VMX has none (not yet powered on) */
} ova_nic;

typedef struct ova_vm {
    char *vmx_path;         /* as given */
    char *vmx_dir;          /* folder of the VMX, for resolving relative disk paths */
    char *display_name;     /* displayName; falls back to the VMX file name without .vmx */
    char *guest_os;         /* guestOS key as written (lower-cased), "other" if absent */
    char *annotation;       /* may be NULL; |0A decoded to LF */
    int num_vcpus;          /* numvcpus, default 1 */
    int cores_per_socket;   /* cpuid.coresPerSocket, 0 when not set */
    uint64_t memory_mb;     /* memsize, default 256 */
    int hw_version;         /* virtualHW.version, default 4 when absent */
    bool efi;               /* firmware = "efi" */
    bool secure_boot;       /* uefi.secureBoot.enabled */
    bool usb;               /* usb.present: the USB 1.1 (UHCI) controller */
    bool usb_ehci;          /* ehci.present: USB 2.0 on that controller */
    bool usb_xhci;          /* usb_xhci.present: the USB 3 controller */
    char *sound;            /* sound.virtualDev when sound.present ("hdaudio", "es1371", "sb16"), else NULL */
    bool floppy;            /* floppy0.present */
    bool vtpm;              /* vtpm.present: a virtual TPM, which the OVA cannot carry */
    ova_encryption encryption;

    ova_controller *controllers;   /* present controllers that hold at least one exported device,
                                      plus every present SCSI/SATA/NVMe controller; sorted by bus, index */
    size_t n_controllers;
    ova_device *devices;    /* present devices, sorted by bus, controller, unit */
    size_t n_devices;
    ova_nic *nics;          /* present NICs, sorted by index */
    size_t n_nics;
    ova_left_out *left_out; /* present devices the OVA leaves out, in device order */
    size_t n_left_out;
    /* Warnings about what the VMX has and the OVA will not (a left-out
     * device, the vTPM and the secrets of a partially encrypted VM), each a
     * whole message naming the VMX. The model cannot log (it is built
     * without a callback, and a model built twice must not warn twice), so
     * it keeps them, and ova_prepare gives them to its log callback, for
     * export and info alike. */
    char **warnings;
    size_t n_warnings;
} ova_vm;

/* Build the VM model from a parsed VMX file. vmx_path is used to resolve
 * relative disk paths and for messages. Refuses (OVA_E_UNSUPPORTED, with a
 * message naming the key) raw disks and encrypted VMs but the partially
 * encrypted kind; leaves SCSI passthrough devices out (vm->left_out), with
 * a warning in vm->warnings. Reads no file.
 * On success *out must be released with ova_vm_free(). */
ova_status ova_vm_from_vmx(const ova_vmx *vmx, const char *vmx_path, ova_vm **out, ova_err *err);

/* Convenience: ova_vmx_load() + ova_vm_from_vmx(). */
ova_status ova_vm_load(const char *vmx_path, ova_vm **out, ova_err *err);

/* Free a VM and set *vm to NULL. Accepts NULL. */
void ova_vm_free(ova_vm **vm);

/* Free what a VM holds and zero it, leaving the struct itself (a model
 * embedded in another, as import.h's). Accepts NULL. */
void ova_vm_clear(ova_vm *vm);

/* Number of devices of kind OVA_DEV_DISK. */
size_t ova_vm_disk_count(const ova_vm *vm);

/* Text names used in the OVF and in messages. */
const char *ova_bus_name(ova_bus bus);                  /* "ide", "scsi", "sata", "nvme" */

/* What the VMX reader looks at (vm.c), so that a writer stays inside it:
 * controllers per bus (ide0-1, scsi0-3, sata0-3, nvme0-3) and units per
 * controller (IDE 2, SCSI 16, SATA 30, NVMe 64). */
int ova_bus_controllers(ova_bus bus);
int ova_bus_units(ova_bus bus);

/* Model names, from one table per enum (src/format/models.c).
 * _name: the VMX spelling ("lsilogic", "vmxnet3", "vlance"), "" for
 * OVA_SCSI_NONE or a value outside the enum. _subtype: the OVF
 * rasd:ResourceSubType ("lsilogicsas", "VirtualSCSI", "VmxNet3"), NULL if
 * the model has none. _parse: a VMX virtualDev value, any case; false if
 * unknown (*m untouched). */
const char *ova_scsi_model_name(ova_scsi_model m);
const char *ova_scsi_model_subtype(ova_scsi_model m);
bool ova_scsi_model_parse(const char *name, ova_scsi_model *m);
const char *ova_nic_model_name(ova_nic_model m);
const char *ova_nic_model_subtype(ova_nic_model m);
bool ova_nic_model_parse(const char *name, ova_nic_model *m);

#endif
