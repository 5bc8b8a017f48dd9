/* ovf_read_storage.c - the storage Items of an OVF into the VM model: the
 * inverse of ovf.c's write_controllers and write_devices (docs/ovf.md
 * sections 6.4-6.6, 11).
 *
 * Controllers are read first (a device names its controller by InstanceID,
 * in any order): the bus from the ResourceType and subtype, the number from
 * Address. Each disk and CD-ROM then goes to its controller's bus at the
 * unit its AddressOnParent gives, a disk to the DiskSection entry its
 * HostResource names. Out they come sorted as vm.c sorts them.
 */
#include "format/ovf_read.h"
#include "format/ovf_units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The SCSI model whose OVF subtype this is (importers compare it in any case). */
static bool scsi_model_of(const char *sub, ova_scsi_model *m)
{
    static const ova_scsi_model all[] = { OVA_SCSI_LSILOGIC, OVA_SCSI_LSISAS, OVA_SCSI_PVSCSI, OVA_SCSI_BUSLOGIC };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(sub, ova_scsi_model_subtype(all[i])) == 0) {
            *m = all[i];
            return true;
        }
    return false;
}

/* Bus and model of a controller Item. */
static ova_status controller_kind(ova_rd_storage *s, const xmlNode *n, uint64_t type, const char *sub, ova_bus *bus,
                                  ova_scsi_model *model)
{
    char q[512];
    *model = OVA_SCSI_NONE;
    if (type == OVA_RT_IDE) {
        *bus = OVA_BUS_IDE;
    } else if (type == OVA_RT_SCSI) {
        *bus = OVA_BUS_SCSI;
        *model = OVA_SCSI_LSILOGIC; /* vm.c's default too */
        if (sub != NULL && !scsi_model_of(sub, model))
            return ova_rd_warn(s->r, "line %ld: SCSI controller model \"%s\" is not one of Workstation's; "
                               "imported as lsilogic", ova_rd_line(n), QUOTED(q, sub));
    } else if (sub != NULL && strcasestr(sub, "nvme") != NULL) {
        *bus = OVA_BUS_NVME;
    } else {
        *bus = OVA_BUS_SATA;
        if (sub != NULL && strcasestr(sub, "ahci") == NULL && strcasestr(sub, "sata") == NULL)
            return ova_rd_warn(s->r, "line %ld: storage controller \"%s\" imported as a SATA (AHCI) controller",
                               ova_rd_line(n), QUOTED(q, sub));
    }
    return OVA_OK;
}

ova_status ova_rd_controller(ova_rd_storage *s, const xmlNode *n, uint64_t type)
{
    bool oom = false;
    char *sub = ova_rd_field(n, "ResourceSubType", &oom), *addr = ova_rd_field(n, "Address", &oom);
    char *iid = ova_rd_field(n, "InstanceID", &oom);
    char q[512];
    ova_rd_ctrl *c = &s->ctrl[s->n_ctrl];
    *c = (ova_rd_ctrl){ .iid = iid };
    ova_status st = oom ? ova_rd_nomem(s->r) : OVA_OK;
    if (st == OVA_OK && iid == NULL)
        st = ova_rd_fail(s->r, OVA_E_FORMAT, n, "a controller without an InstanceID");
    for (size_t k = 0; st == OVA_OK && k < s->n_ctrl; k++)
        if (strcmp(s->ctrl[k].iid, iid) == 0)
            st = ova_rd_fail(s->r, OVA_E_FORMAT, n, "InstanceID \"%s\" is given twice", QUOTED(q, iid));
    if (st == OVA_OK)
        st = controller_kind(s, n, type, sub, &c->bus, &c->model);
    if (st == OVA_OK) {
        /* its Address is the controller number (export writes scsi1 as 1);
         * one missing, taken or beyond what the VMX can say gets the first free */
        int max = ova_bus_controllers(c->bus);
        uint64_t want = 0;
        bool have = addr != NULL && ova_ovf_parse_u64(addr, &want) && want < (uint64_t)max;
        c->index = -1;
        for (int pass = have ? 0 : 1; pass < 2 && c->index < 0; pass++)
            for (int i = pass == 0 ? (int)want : 0; i < (pass == 0 ? (int)want + 1 : max) && c->index < 0; i++) {
                bool taken = false;
                for (size_t k = 0; k < s->n_ctrl && !taken; k++)
                    taken = s->ctrl[k].bus == c->bus && s->ctrl[k].index == i;
                if (!taken)
                    c->index = i;
            }
        if (c->index < 0)
            st = ova_rd_fail(s->r, OVA_E_UNSUPPORTED, n, "more than %d %s controllers", max, ova_bus_name(c->bus));
    }
    if (st == OVA_OK)
        s->n_ctrl++;
    else
        free(iid);
    free(sub);
    free(addr);
    return st;
}

static ova_rd_ctrl *find_ctrl(ova_rd_storage *s, const char *iid)
{
    for (size_t k = 0; k < s->n_ctrl; k++)
        if (strcmp(s->ctrl[k].iid, iid) == 0)
            return &s->ctrl[k];
    return NULL;
}

static bool unit_taken(const ova_rd_storage *s, const ova_rd_ctrl *c, int unit)
{
    for (size_t i = 0; i < s->n_dev; i++)
        if (s->dev[i].dev.bus == c->bus && s->dev[i].dev.ctrl_index == c->index && s->dev[i].dev.unit == unit)
            return true;
    return false;
}

/* The disk a disk Item's HostResource names ("ovf:/disk/ID"). */
static ova_status host_disk(ova_rd_storage *s, const xmlNode *n, const char *host, size_t *disk)
{
    ova_import_desc *d = s->r->d;
    char q[512];
    if (host == NULL)
        return ova_rd_fail(s->r, OVA_E_FORMAT, n, "a disk without a HostResource");
    const char *id = strncmp(host, "ovf:/disk/", 10) == 0 ? host + 10
                     : strncmp(host, "/disk/", 6) == 0   ? host + 6
                                                         : NULL;
    if (id == NULL)
        return ova_rd_fail(s->r, OVA_E_UNSUPPORTED, n, "HostResource \"%s\" does not name a disk (ovf:/disk/ID)",
                           QUOTED(q, host));
    for (size_t i = 0; i < d->n_disks; i++)
        if (strcmp(d->disks[i].disk_id, id) == 0) {
            for (size_t k = 0; k < s->n_dev; k++)
                if (s->dev[k].disk == i)
                    return ova_rd_fail(s->r, OVA_E_FORMAT, n, "disk \"%s\" is attached twice", QUOTED(q, id));
            *disk = i;
            return OVA_OK;
        }
    return ova_rd_fail(s->r, OVA_E_FORMAT, n, "HostResource \"%s\" names no DiskSection/Disk", QUOTED(q, host));
}

/* A disk (17) or CD/DVD drive (15, 16) at its controller's unit. */
ova_status ova_rd_device(ova_rd_storage *s, const xmlNode *n, uint64_t type)
{
    bool oom = false;
    char *parent = ova_rd_field(n, "Parent", &oom), *aop = ova_rd_field(n, "AddressOnParent", &oom);
    char *host = ova_rd_field(n, "HostResource", &oom);
    char q[512];
    ova_status st = oom ? ova_rd_nomem(s->r) : OVA_OK;
    ova_rd_ctrl *c = NULL;
    size_t disk = SIZE_MAX;
    int unit = -1;
    if (st == OVA_OK && parent == NULL)
        st = ova_rd_fail(s->r, OVA_E_FORMAT, n, "a %s without a Parent controller",
                         type == OVA_RT_DISK ? "disk" : "drive");
    if (st == OVA_OK && (c = find_ctrl(s, parent)) == NULL)
        st = ova_rd_fail(s->r, OVA_E_FORMAT, n, "Parent \"%s\" is not the InstanceID of a controller",
                         QUOTED(q, parent));
    if (st == OVA_OK && aop != NULL) {
        uint64_t u = 0;
        if (!ova_ovf_parse_u64(aop, &u) || u >= (uint64_t)ova_bus_units(c->bus))
            st = ova_rd_fail(s->r, OVA_E_UNSUPPORTED, n, "AddressOnParent \"%s\" is not a unit of a %s controller "
                             "(0 to %d)", QUOTED(q, aop), ova_bus_name(c->bus), ova_bus_units(c->bus) - 1);
        else if (unit_taken(s, c, (int)u))
            st = ova_rd_fail(s->r, OVA_E_FORMAT, n, "two devices at %s%d:%llu", ova_bus_name(c->bus), c->index,
                             (unsigned long long)u);
        unit = (int)u;
    }
    /* none given: the first free unit, past the SCSI controller's own 7 */
    for (int u = 0; st == OVA_OK && unit < 0 && u < ova_bus_units(c->bus); u++)
        if (!(c->bus == OVA_BUS_SCSI && u == 7) && !unit_taken(s, c, u))
            unit = u;
    if (st == OVA_OK && unit < 0)
        st = ova_rd_fail(s->r, OVA_E_UNSUPPORTED, n, "no free unit on %s%d", ova_bus_name(c->bus), c->index);
    if (st == OVA_OK && type == OVA_RT_DISK)
        st = host_disk(s, n, host, &disk);
    else if (st == OVA_OK && host != NULL && host[0] != '\0')
        st = ova_rd_warn(s->r, "line %ld: the drive at %s%d:%d is imported empty; its medium \"%s\" is not",
                         ova_rd_line(n), ova_bus_name(c->bus), c->index, unit, QUOTED(q, host));
    if (st == OVA_OK) {
        ova_rd_dev *r = &s->dev[s->n_dev];
        /* a CD-ROM is an empty drive of the host, not connected at power
         * on, as export leaves it (vm.h: ova_cdrom_kind) */
        r->dev = (ova_device){ type == OVA_RT_DISK ? OVA_DEV_DISK : OVA_DEV_CDROM, c->bus, c->index, unit, NULL, NULL,
                               NULL, false, NULL, OVA_CDROM_HOST, type == OVA_RT_DISK };
        r->disk = disk;
        if (asprintf(&r->dev.key_prefix, "%s%d:%d", ova_bus_name(c->bus), c->index, unit) < 0)
            st = ova_rd_nomem(s->r);
        else
            s->n_dev++;
        c->used = true;
    }
    free(parent);
    free(aop);
    free(host);
    return st;
}

static int cmp_ctrl(const void *a, const void *b)
{
    const ova_controller *x = a, *y = b;
    if (x->bus != y->bus)
        return x->bus < y->bus ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int cmp_dev(const void *a, const void *b)
{
    const ova_device *x = &((const ova_rd_dev *)a)->dev, *y = &((const ova_rd_dev *)b)->dev;
    if (x->bus != y->bus)
        return x->bus < y->bus ? -1 : 1;
    if (x->ctrl_index != y->ctrl_index)
        return x->ctrl_index < y->ctrl_index ? -1 : 1;
    return (x->unit > y->unit) - (x->unit < y->unit);
}

/* Controllers and devices into the model, sorted as vm.c builds them; an
 * IDE controller without devices is left out, as vm.c lists none. A disk no
 * device holds is a warning. */
ova_status ova_rd_storage_finish(ova_rd_storage *s)
{
    ova_rd *r = s->r;
    ova_import_desc *d = r->d;
    ova_vm *vm = &d->vm;
    if ((vm->controllers = calloc(s->n_ctrl + 1, sizeof *vm->controllers)) == NULL ||
        (vm->devices = calloc(s->n_dev + 1, sizeof *vm->devices)) == NULL ||
        (d->device_disk = calloc(s->n_dev + 1, sizeof *d->device_disk)) == NULL)
        return ova_rd_nomem(r);
    for (size_t k = 0; k < s->n_ctrl; k++)
        if (s->ctrl[k].bus != OVA_BUS_IDE || s->ctrl[k].used)
            vm->controllers[vm->n_controllers++] =
                (ova_controller){ s->ctrl[k].bus, s->ctrl[k].index, s->ctrl[k].model };
    qsort(vm->controllers, vm->n_controllers, sizeof *vm->controllers, cmp_ctrl);
    qsort(s->dev, s->n_dev, sizeof *s->dev, cmp_dev);
    for (size_t i = 0; i < s->n_dev; i++) {
        vm->devices[i] = s->dev[i].dev;
        d->device_disk[i] = s->dev[i].disk;
    }
    vm->n_devices = s->n_dev;
    s->n_dev = 0; /* the model owns the strings now */
    ova_status st = OVA_OK;
    for (size_t i = 0; i < d->n_disks && st == OVA_OK; i++) {
        bool attached = false;
        for (size_t k = 0; k < vm->n_devices && !attached; k++)
            attached = d->device_disk[k] == i;
        if (!attached) {
            char q[512];
            st = ova_rd_warn(r, "disk \"%s\" is attached to no controller; not imported",
                             QUOTED(q, d->disks[i].disk_id));
        }
    }
    return st;
}

ova_status ova_rd_storage_init(ova_rd_storage *s, ova_rd *r, size_t max_items)
{
    *s = (ova_rd_storage){ .r = r };
    s->ctrl = calloc(max_items + 1, sizeof *s->ctrl);
    s->dev = calloc(max_items + 1, sizeof *s->dev);
    return s->ctrl == NULL || s->dev == NULL ? ova_rd_nomem(r) : OVA_OK;
}

void ova_rd_storage_free(ova_rd_storage *s)
{
    for (size_t k = 0; k < s->n_ctrl; k++)
        free(s->ctrl[k].iid);
    for (size_t i = 0; i < s->n_dev; i++)
        free(s->dev[i].dev.key_prefix);
    free(s->ctrl);
    free(s->dev);
    *s = (ova_rd_storage){ 0 };
}
