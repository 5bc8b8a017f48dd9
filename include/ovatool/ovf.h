/* ovf.h - writing the OVF 1.x descriptor of an exported VM.
 *
 * The text follows what VMware's ovftool writes for a hosted (.vmx) source
 * (docs/ovf.md) and validates against the DMTF schema
 * DSP8023. It is a pure function of its inputs: the same VM and disk facts
 * always give the same bytes.
 */
#ifndef OVATOOL_OVF_H
#define OVATOOL_OVF_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/buf.h"
#include "ovatool/status.h"
#include "ovatool/vm.h"

/* One exported disk, in References order (file1, file2, ...). */
typedef struct ova_ovf_disk {
    const char *href;          /* member name in the OVA, e.g. "vm-disk1.vmdk" */
    uint64_t file_size;        /* bytes of the streamOptimized member (ovf:size) */
    uint64_t capacity;         /* virtual size in bytes */
    uint64_t populated_size;   /* bytes of non-zero grains (ovf:populatedSize) */
    const ova_device *device;  /* the VMX device it came from (bus, controller, unit) */
} ova_ovf_disk;

typedef struct ova_ovf_options {
    int target_hw;             /* 0: the VM's own virtualHW.version; else vmx-NN to write */
} ova_ovf_options;

/* Append the complete OVF document for vm to out. disks[i].device must point
 * into vm->devices. Every string from the VMX is XML-escaped.
 * Returns OVA_E_NOMEM if out failed to grow. */
ova_status ova_ovf_write(const ova_vm *vm, const ova_ovf_disk *disks, size_t n_disks,
                         const ova_ovf_options *opts, ova_buf *out, ova_err *err);

/* VMware's ResourceSubType for a sound card model (sound.virtualDev,
 * lower-cased: "hdaudio", "es1371", "sb16"); NULL for one it has no name
 * for, which the OVF then leaves out (it is optional hardware). */
const char *ova_ovf_sound_subtype(const char *dev);

/* The guest table: vmw:osType and CIM OperatingSystemSection id for a VMX
 * guestOS key (case-insensitive). Unknown keys fall back to otherGuest64
 * (id 102) or otherGuest (id 1) by their "-64" suffix. desc gets a human
 * description (used by VirtualBox to pick the OS type). */
void ova_guest_lookup(const char *guest_os, const char **vim_id, int *cim_id, const char **desc);

/* The inverse, for import: the VMX guestOS key (the table's spelling) for a
 * vmw:osType (NULL if the OVF has none), the CIM OS id (-1 if none) and the
 * OperatingSystemSection Description (may be NULL), so that
 * ova_guest_lookup() of the key gives back the same three where the table
 * allows. NULL when no row has that vSphere id (or, without one, that CIM id). */
const char *ova_guest_vmx_key(const char *vim_id, int cim_id, const char *desc);

#endif
