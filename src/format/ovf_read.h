/* ovf_read.h - what the files of the OVF reader (import) share; not API.
 *
 *   ovf_read.c        the document: envelope, References, DiskSection,
 *                     VirtualSystem, operating system, annotation
 *   ovf_read_items.c  the VirtualHardwareSection's Items: system type, CPU,
 *                     memory, NICs, optional devices, vmw:Config
 *   ovf_read_storage.c  its storage Items: controllers, disks, CD-ROMs
 *   ovf_read_util.c   element and attribute access in either OVF namespace,
 *                     numbers with units, messages
 */
#ifndef OVATOOL_FORMAT_OVF_READ_H
#define OVATOOL_FORMAT_OVF_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "format/ovf_units.h"
#include "ovatool/import.h"
#include "util/io.h"

#define OVA_VMW_NS "http://www.vmware.com/schema/ovf"

/* CIM ResourceType values (docs/ovf.md section 8). */
enum {
    OVA_RT_OTHER = 1, OVA_RT_CPU = 3, OVA_RT_MEMORY = 4, OVA_RT_IDE = 5, OVA_RT_SCSI = 6, OVA_RT_ETHERNET = 10,
    OVA_RT_FLOPPY = 14, OVA_RT_CD = 15, OVA_RT_DVD = 16, OVA_RT_DISK = 17, OVA_RT_OTHER_STORAGE = 20,
    OVA_RT_USB = 23, OVA_RT_GRAPHICS = 24, OVA_RT_SOUND = 35
};

/* A value from the OVF in a message: quoted so it cannot drive a terminal. */
#define QUOTED(buf, s) ova_quote_text((buf), sizeof(buf), (s), 100)

typedef struct ova_rd {
    const char *name;       /* the OVF, for messages */
    ova_import_desc *d;
    ova_err *err;
    size_t cap_files, cap_disks, cap_warnings;
} ova_rd;

/* Element n is an OVF element (either envelope namespace) named local. */
bool ova_rd_is_ovf(const xmlNode *n, const char *local);
/* Element n has that local name, in whatever namespace (rasd:, sasd:,
 * epasd: children of an Item; vmw: extensions are checked by namespace). */
bool ova_rd_is_local(const xmlNode *n, const char *local);
/* Element n is a vmw: element named local. */
bool ova_rd_is_vmw(const xmlNode *n, const char *local);
/* The first child element of n with that local name, or NULL. */
xmlNode *ova_rd_child(const xmlNode *n, const char *local);

/* An attribute in the OVF namespace (either version) or, with vmw true, in
 * VMware's; malloc'ed (free()), NULL if absent or out of memory: *oom
 * tells the two apart. */
char *ova_rd_attr(const xmlNode *n, const char *name, bool vmw, bool *oom);
/* The text of element n, blanks at both ends removed when trim; malloc'ed,
 * NULL only when memory runs out. */
char *ova_rd_text(const xmlNode *n, bool trim);

/* A unit of allocation: a DSP0004 programmatic unit ("byte * 2^30"), or the
 * names other producers write ("MegaBytes", "GB"); NULL is def. False if
 * unknown. */
bool ova_rd_units(const char *s, uint64_t def, uint64_t *mult);

/* Line of n for messages (0 if unknown). */
long ova_rd_line(const xmlNode *n);

/* Fail with "NAME: line L: <Element>: what" (st is returned). */
ova_status ova_rd_fail(ova_rd *r, ova_status st, const xmlNode *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
ova_status ova_rd_nomem(ova_rd *r);
/* Keep a warning "NAME: what" in r->d->warnings. */
ova_status ova_rd_warn(ova_rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The trimmed text of the child `local` of item n; NULL when absent (or out
 * of memory: *oom). */
char *ova_rd_field(const xmlNode *n, const char *local, bool *oom);

/* The Items of a VirtualHardwareSection into r->d->vm and the device
 * lists (ovf_read_items.c). The disks are already read. */
ova_status ova_rd_items(ova_rd *r, const xmlNode *vhs);

/* ---- ovf_read_storage.c ---- */

typedef struct ova_rd_ctrl {
    char *iid;              /* InstanceID, as devices' Parent names it */
    ova_bus bus;
    int index;
    ova_scsi_model model;
    bool used;              /* holds a device (an empty IDE controller is dropped, as vm.c lists none) */
} ova_rd_ctrl;

typedef struct ova_rd_dev {
    ova_device dev;
    size_t disk;            /* index into d->disks, SIZE_MAX for a CD-ROM */
} ova_rd_dev;

/* The controllers and devices of one VirtualHardwareSection, room for
 * max_items of each (there cannot be more than Items). */
typedef struct ova_rd_storage {
    ova_rd *r;
    ova_rd_ctrl *ctrl;
    size_t n_ctrl;
    ova_rd_dev *dev;
    size_t n_dev;
} ova_rd_storage;

ova_status ova_rd_storage_init(ova_rd_storage *s, ova_rd *r, size_t max_items);
/* A controller Item (ResourceType 5, 6 or 20). */
ova_status ova_rd_controller(ova_rd_storage *s, const xmlNode *n, uint64_t type);
/* A disk (17) or CD/DVD drive (15, 16) Item; every controller is read. */
ova_status ova_rd_device(ova_rd_storage *s, const xmlNode *n, uint64_t type);
/* Into r->d: vm.controllers, vm.devices and device_disk, sorted. */
ova_status ova_rd_storage_finish(ova_rd_storage *s);
void ova_rd_storage_free(ova_rd_storage *s);

#endif
