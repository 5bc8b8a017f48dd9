/* ovf_read_items.c - the VirtualHardwareSection's Items into the VM model:
 * the inverse of ovf.c's write_cpu_memory, write_controllers,
 * write_devices, write_nics and write_optional (docs/ovf.md section 6).
 *
 * Controllers are read first (a device names its controller by InstanceID,
 * in any order); each disk and CD-ROM goes to its controller's bus at the
 * unit its AddressOnParent gives. Item children are matched by local name,
 * so OVF 2.0's StorageItem and EthernetPortItem (sasd:, epasd:) read like
 * rasd: Items. Devices and controllers come out sorted as vm.c sorts them.
 */
#include "format/ovf_read.h"
#include "format/ovf_units.h"
#include "ovatool/ovf.h"
#include "util/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUOTED(buf, s) ova_quote_text((buf), sizeof(buf), (s), 100)

/* CIM ResourceType values (docs/ovf.md section 6). */
enum {
    RT_OTHER = 1, RT_CPU = 3, RT_MEMORY = 4, RT_IDE = 5, RT_SCSI = 6, RT_ETHERNET = 10, RT_FLOPPY = 14,
    RT_CD = 15, RT_DVD = 16, RT_DISK = 17, RT_OTHER_STORAGE = 20, RT_USB = 23, RT_GRAPHICS = 24, RT_SOUND = 35
};

typedef struct ctrl_ref {
    char *iid;              /* InstanceID, as devices' Parent names it */
    ova_bus bus;
    int index;
    ova_scsi_model model;
    bool used;              /* holds a device (an empty IDE controller is dropped, as vm.c lists none) */
} ctrl_ref;

typedef struct dev_ref {
    ova_device dev;
    size_t disk;            /* index into d->disks, SIZE_MAX for a CD-ROM */
} dev_ref;

typedef struct items {
    ova_rd *r;
    const xmlNode **item;   /* the Items, in document order */
    size_t n_items;
    ctrl_ref *ctrl;
    size_t n_ctrl;
    dev_ref *dev;
    size_t n_dev;
    bool have_cpu, have_mem;
} items;

/* The trimmed text of the child `local` of item n; NULL when absent (or out
 * of memory: *oom). */
static char *field(const xmlNode *n, const char *local, bool *oom)
{
    const xmlNode *c = ova_rd_child(n, local);
    if (c == NULL)
        return NULL;
    char *s = ova_rd_text(c, true);
    if (s == NULL)
        *oom = true;
    return s;
}

static bool is_item(const xmlNode *n)
{
    return ova_rd_is_ovf(n, "Item") || ova_rd_is_ovf(n, "StorageItem") || ova_rd_is_ovf(n, "EthernetPortItem");
}

/* ovf:required="false": an importer may leave the item out. */
static bool optional_item(const xmlNode *n)
{
    bool oom = false;
    char *req = ova_rd_attr(n, "required", false, &oom);
    bool opt = req != NULL && strcmp(req, "false") == 0;
    free(req);
    return opt;
}

/* A number field in [min, max]; absent gives def when has_def, else an error. */
static ova_status num_field(items *it, const xmlNode *n, const char *local, uint64_t min, uint64_t max, bool has_def,
                            uint64_t def, uint64_t *out)
{
    bool oom = false;
    char *s = field(n, local, &oom);
    char q[512];
    ova_status st = OVA_OK;
    if (oom)
        st = ova_rd_nomem(it->r);
    else if (s == NULL && has_def)
        *out = def;
    else if (s == NULL)
        st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "no %s", local);
    else if (!ova_ovf_parse_u64(s, out) || *out < min || *out > max)
        st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "%s \"%s\" is not a number from %llu to %llu", local, QUOTED(q, s),
                         (unsigned long long)min, (unsigned long long)max);
    free(s);
    return st;
}

static ova_status read_cpu(items *it, const xmlNode *n)
{
    ova_vm *vm = &it->r->d->vm;
    uint64_t v = 0;
    /* vm.c's bounds, so that the VMX written from the model reads back */
    ova_status st = num_field(it, n, "VirtualQuantity", 1, 4096, false, 0, &v);
    if (st != OVA_OK)
        return st;
    vm->num_vcpus = (int)v;
    const xmlNode *cps = NULL;
    for (const xmlNode *c = n->children; c != NULL && cps == NULL; c = c->next)
        if (ova_rd_is_vmw(c, "CoresPerSocket"))
            cps = c;
    if (cps != NULL) {
        char *s = ova_rd_text(cps, true);
        char q[512];
        if (s == NULL)
            return ova_rd_nomem(it->r);
        if (!ova_ovf_parse_u64(s, &v) || v > 4096)
            st = ova_rd_fail(it->r, OVA_E_FORMAT, cps, "\"%s\" is not a number from 0 to 4096", QUOTED(q, s));
        free(s);
        vm->cores_per_socket = (int)v;
    }
    it->have_cpu = true;
    return st;
}

static ova_status read_memory(items *it, const xmlNode *n)
{
    uint64_t q = 0, mult = 0;
    ova_status st = num_field(it, n, "VirtualQuantity", 1, UINT64_MAX, false, 0, &q);
    if (st != OVA_OK)
        return st;
    bool oom = false;
    char *units = field(n, "AllocationUnits", &oom);
    char qb[512];
    if (oom)
        st = ova_rd_nomem(it->r);
    else if (!ova_rd_units(units, (uint64_t)1 << 20, &mult)) /* absent: MB, as ovftool reads it */
        st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "AllocationUnits \"%s\" is not a unit of bytes", QUOTED(qb, units));
    else if (q > UINT64_MAX / mult || q * mult / mult != q)
        st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "a memory size of %llu x %llu bytes", (unsigned long long)q,
                         (unsigned long long)mult);
    if (st == OVA_OK) {
        uint64_t bytes = q * mult;
        /* whole MiB, rounded up: memsize counts them */
        it->r->d->vm.memory_mb = bytes / (1u << 20) + (bytes % (1u << 20) != 0);
        it->have_mem = true;
    }
    free(units);
    return st;
}

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
static ova_status controller_kind(items *it, const xmlNode *n, uint64_t type, const char *sub, ova_bus *bus,
                                  ova_scsi_model *model)
{
    char q[512];
    *model = OVA_SCSI_NONE;
    if (type == RT_IDE) {
        *bus = OVA_BUS_IDE;
    } else if (type == RT_SCSI) {
        *bus = OVA_BUS_SCSI;
        *model = OVA_SCSI_LSILOGIC; /* vm.c's default too */
        if (sub != NULL && !scsi_model_of(sub, model))
            return ova_rd_warn(it->r, "line %ld: SCSI controller model \"%s\" is not one of Workstation's; "
                               "imported as lsilogic", ova_rd_line(n), QUOTED(q, sub));
    } else if (sub != NULL && strcasestr(sub, "nvme") != NULL) {
        *bus = OVA_BUS_NVME;
    } else {
        *bus = OVA_BUS_SATA;
        if (sub != NULL && strcasestr(sub, "ahci") == NULL && strcasestr(sub, "sata") == NULL)
            return ova_rd_warn(it->r, "line %ld: storage controller \"%s\" imported as a SATA (AHCI) controller",
                               ova_rd_line(n), QUOTED(q, sub));
    }
    return OVA_OK;
}

static ova_status read_controller(items *it, const xmlNode *n, uint64_t type)
{
    bool oom = false;
    char *sub = field(n, "ResourceSubType", &oom), *addr = field(n, "Address", &oom);
    char *iid = field(n, "InstanceID", &oom);
    ctrl_ref *c = &it->ctrl[it->n_ctrl];
    *c = (ctrl_ref){ .iid = iid };
    ova_status st = oom ? ova_rd_nomem(it->r) : OVA_OK;
    if (st == OVA_OK && iid == NULL)
        st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "a controller without an InstanceID");
    for (size_t k = 0; st == OVA_OK && k < it->n_ctrl; k++)
        if (strcmp(it->ctrl[k].iid, iid) == 0)
            st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "InstanceID %s is given twice", iid);
    if (st == OVA_OK)
        st = controller_kind(it, n, type, sub, &c->bus, &c->model);
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
                for (size_t k = 0; k < it->n_ctrl && !taken; k++)
                    taken = it->ctrl[k].bus == c->bus && it->ctrl[k].index == i;
                if (!taken)
                    c->index = i;
            }
        if (c->index < 0)
            st = ova_rd_fail(it->r, OVA_E_UNSUPPORTED, n, "more than %d %s controllers", max, ova_bus_name(c->bus));
    }
    if (st == OVA_OK)
        it->n_ctrl++;
    else
        free(iid);
    free(sub);
    free(addr);
    return st;
}

static ctrl_ref *find_ctrl(items *it, const char *iid)
{
    for (size_t k = 0; k < it->n_ctrl; k++)
        if (strcmp(it->ctrl[k].iid, iid) == 0)
            return &it->ctrl[k];
    return NULL;
}

static bool unit_taken(const items *it, const ctrl_ref *c, int unit)
{
    for (size_t i = 0; i < it->n_dev; i++)
        if (it->dev[i].dev.bus == c->bus && it->dev[i].dev.ctrl_index == c->index && it->dev[i].dev.unit == unit)
            return true;
    return false;
}

/* The disk a disk Item's HostResource names ("ovf:/disk/ID"). */
static ova_status host_disk(items *it, const xmlNode *n, const char *host, size_t *disk)
{
    ova_import_desc *d = it->r->d;
    char q[512];
    if (host == NULL)
        return ova_rd_fail(it->r, OVA_E_FORMAT, n, "a disk without a HostResource");
    const char *id = strncmp(host, "ovf:/disk/", 10) == 0 ? host + 10 : strncmp(host, "/disk/", 6) == 0 ? host + 6 : NULL;
    if (id == NULL)
        return ova_rd_fail(it->r, OVA_E_UNSUPPORTED, n, "HostResource \"%s\" does not name a disk (ovf:/disk/ID)",
                           QUOTED(q, host));
    for (size_t i = 0; i < d->n_disks; i++)
        if (strcmp(d->disks[i].disk_id, id) == 0) {
            for (size_t k = 0; k < it->n_dev; k++)
                if (it->dev[k].disk == i)
                    return ova_rd_fail(it->r, OVA_E_FORMAT, n, "disk \"%s\" is attached twice", QUOTED(q, id));
            *disk = i;
            return OVA_OK;
        }
    return ova_rd_fail(it->r, OVA_E_FORMAT, n, "HostResource \"%s\" names no DiskSection/Disk", QUOTED(q, host));
}

/* A disk (17) or CD/DVD drive (15, 16) at its controller's unit. */
static ova_status read_device(items *it, const xmlNode *n, uint64_t type)
{
    bool oom = false;
    char *parent = field(n, "Parent", &oom), *aop = field(n, "AddressOnParent", &oom);
    char *host = field(n, "HostResource", &oom);
    char q[512];
    ova_status st = oom ? ova_rd_nomem(it->r) : OVA_OK;
    ctrl_ref *c = NULL;
    size_t disk = SIZE_MAX;
    int unit = -1;
    if (st == OVA_OK && parent == NULL)
        st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "a %s without a Parent controller", type == RT_DISK ? "disk" : "drive");
    if (st == OVA_OK && (c = find_ctrl(it, parent)) == NULL)
        st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "Parent \"%s\" is not the InstanceID of a controller", QUOTED(q, parent));
    if (st == OVA_OK && aop != NULL) {
        uint64_t u = 0;
        if (!ova_ovf_parse_u64(aop, &u) || u >= (uint64_t)ova_bus_units(c->bus))
            st = ova_rd_fail(it->r, OVA_E_UNSUPPORTED, n, "AddressOnParent \"%s\" is not a unit of a %s controller "
                             "(0 to %d)", QUOTED(q, aop), ova_bus_name(c->bus), ova_bus_units(c->bus) - 1);
        else if (unit_taken(it, c, (int)u))
            st = ova_rd_fail(it->r, OVA_E_FORMAT, n, "two devices at %s%d:%llu", ova_bus_name(c->bus), c->index,
                             (unsigned long long)u);
        unit = (int)u;
    }
    /* none given: the first free unit, past the SCSI controller's own 7 */
    for (int u = 0; st == OVA_OK && unit < 0 && u < ova_bus_units(c->bus); u++)
        if (!(c->bus == OVA_BUS_SCSI && u == 7) && !unit_taken(it, c, u))
            unit = u;
    if (st == OVA_OK && unit < 0)
        st = ova_rd_fail(it->r, OVA_E_UNSUPPORTED, n, "no free unit on %s%d", ova_bus_name(c->bus), c->index);
    if (st == OVA_OK && type == RT_DISK)
        st = host_disk(it, n, host, &disk);
    else if (st == OVA_OK && host != NULL && host[0] != '\0')
        st = ova_rd_warn(it->r, "line %ld: the drive at %s%d:%d is imported empty; its medium \"%s\" is not",
                         ova_rd_line(n), ova_bus_name(c->bus), c->index, unit, QUOTED(q, host));
    if (st == OVA_OK) {
        dev_ref *r = &it->dev[it->n_dev];
        /* a CD-ROM is an empty drive of the host, not connected at power
         * on, as export leaves it (vm.h: ova_cdrom_kind) */
        r->dev = (ova_device){ type == RT_DISK ? OVA_DEV_DISK : OVA_DEV_CDROM, c->bus, c->index, unit, NULL, NULL,
                               NULL, false, NULL, OVA_CDROM_HOST, type == RT_DISK };
        r->disk = disk;
        if (asprintf(&r->dev.key_prefix, "%s%d:%d", ova_bus_name(c->bus), c->index, unit) < 0)
            st = ova_rd_nomem(it->r);
        else
            it->n_dev++;
        c->used = true;
    }
    free(parent);
    free(aop);
    free(host);
    return st;
}

/* "nat", "bridged", "hostonly" for names that say so in any producer's
 * spelling (VirtualBox: "NAT", "Bridged", "HostOnly"); NULL otherwise. */
static const char *connection_type(const char *name)
{
    char k[32];
    size_t n = 0;
    for (const char *p = name; *p; p++) {
        if (*p == ' ' || *p == '-' || *p == '_')
            continue;
        if (n + 1 >= sizeof k)
            return NULL;
        k[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    }
    k[n] = '\0';
    static const struct {
        const char *spelling, *type;
    } known[] = { { "nat", "nat" }, { "natnetwork", "nat" }, { "bridged", "bridged" },
                  { "bridgedadapter", "bridged" }, { "bridgednetwork", "bridged" }, { "hostonly", "hostonly" },
                  { "hostonlyadapter", "hostonly" }, { "hostonlynetwork", "hostonly" } };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(k, known[i].spelling) == 0)
            return known[i].type;
    return NULL;
}

static bool nic_model_of(const char *sub, ova_nic_model *m)
{
    static const ova_nic_model all[] = { OVA_NIC_E1000, OVA_NIC_E1000E, OVA_NIC_VMXNET3, OVA_NIC_VMXNET,
                                         OVA_NIC_PCNET32 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(sub, ova_nic_model_subtype(all[i])) == 0) {
            *m = all[i];
            return true;
        }
    return false;
}

/* ethernetN: the N of its ElementName as export writes it, when free;
 * else the first free one. */
static int nic_index(const ova_vm *vm, const char *elname)
{
    int want = -1;
    if (elname != NULL && strncmp(elname, "ethernet", 8) == 0 && elname[8] >= '0' && elname[8] <= '9' &&
        elname[9] == '\0')
        want = elname[8] - '0';
    for (int pass = want >= 0 ? 0 : 1; pass < 2; pass++)
        for (int i = pass == 0 ? want : 0; i < (pass == 0 ? want + 1 : OVA_VM_MAX_NICS); i++) {
            bool taken = false;
            for (size_t k = 0; k < vm->n_nics && !taken; k++)
                taken = vm->nics[k].index == i;
            if (!taken)
                return i;
        }
    return -1;
}

static ova_status read_nic(items *it, const xmlNode *n)
{
    ova_vm *vm = &it->r->d->vm;
    if (vm->n_nics >= OVA_VM_MAX_NICS)
        return ova_rd_fail(it->r, OVA_E_UNSUPPORTED, n, "more than %d network adapters", OVA_VM_MAX_NICS);
    if (vm->nics == NULL && (vm->nics = calloc(OVA_VM_MAX_NICS, sizeof *vm->nics)) == NULL)
        return ova_rd_nomem(it->r);
    bool oom = false;
    char *conn = field(n, "Connection", &oom), *sub = field(n, "ResourceSubType", &oom);
    char *auto_ = field(n, "AutomaticAllocation", &oom), *elname = field(n, "ElementName", &oom);
    char q[512];
    ova_status st = oom ? ova_rd_nomem(it->r) : OVA_OK;
    ova_nic *nic = &vm->nics[vm->n_nics];
    *nic = (ova_nic){ nic_index(vm, elname), OVA_NIC_E1000, NULL, true, NULL, NULL };
    if (st == OVA_OK && sub != NULL && !nic_model_of(sub, &nic->model))
        st = ova_rd_warn(it->r, "line %ld: network adapter model \"%s\" is not one of Workstation's; imported as e1000",
                         ova_rd_line(n), QUOTED(q, sub));
    nic->start_connected = auto_ == NULL || strcmp(auto_, "false") != 0;
    const char *net = conn != NULL && conn[0] != '\0' ? conn : NULL;
    const char *type = net != NULL ? connection_type(net) : "bridged";
    if (st == OVA_OK && net == NULL)
        st = ova_rd_warn(it->r, "line %ld: ethernet%d has no network; connected bridged", ova_rd_line(n), nic->index);
    else if (st == OVA_OK && type == NULL && !ova_vmx_network_is_host(net))
        st = ova_rd_warn(it->r, "ethernet%d is on network \"%s\", which Workstation does not have; connected bridged",
                         nic->index, QUOTED(q, net));
    if (st == OVA_OK && ((nic->network = strdup(type != NULL ? type : net)) == NULL ||
                         (nic->address_type = strdup("generated")) == NULL))
        st = ova_rd_nomem(it->r);
    /* counted even when incomplete, so that ova_vm_clear frees its strings */
    vm->n_nics++;
    free(conn);
    free(sub);
    free(auto_);
    free(elname);
    return st;
}

/* The vmw:Config child of n with that key: its value (malloc'ed), or NULL. */
static char *config_value(const xmlNode *n, const char *key, bool *oom)
{
    for (const xmlNode *c = n->children; c != NULL; c = c->next) {
        if (!ova_rd_is_vmw(c, "Config"))
            continue;
        char *k = ova_rd_attr(c, "key", true, oom);
        bool match = k != NULL && strcmp(k, key) == 0;
        free(k);
        if (match)
            return ova_rd_attr(c, "value", true, oom);
    }
    return NULL;
}

static ova_status read_usb(items *it, const xmlNode *n)
{
    ova_vm *vm = &it->r->d->vm;
    bool oom = false;
    char *sub = field(n, "ResourceSubType", &oom);
    char *ehci = config_value(n, "ehciEnabled", &oom);
    if (sub != NULL && strcasecmp(sub, "vmware.usb.ehci") == 0) {
        /* export's UHCI controller, EHCI on it when ehciEnabled says so */
        vm->usb = true;
        vm->usb_ehci = vm->usb_ehci || (ehci != NULL && strcmp(ehci, "true") == 0);
    } else if (sub != NULL && strcasestr(sub, "xhci") != NULL) {
        vm->usb_xhci = true;
    } else {
        vm->usb = true; /* OHCI, UHCI, or EHCI by another name */
        vm->usb_ehci = vm->usb_ehci || (sub != NULL && strcasestr(sub, "ehci") != NULL);
    }
    free(sub);
    free(ehci);
    return oom ? ova_rd_nomem(it->r) : OVA_OK;
}

/* A sound card: export's subtypes (ova_ovf_sound_subtype) exactly, else by
 * the chip other producers name. Not a sound card: false. */
static const char *sound_dev(const char *sub, uint64_t type)
{
    static const char *const devs[] = { "hdaudio", "es1371", "sb16" };
    for (size_t i = 0; sub != NULL && i < sizeof devs / sizeof devs[0]; i++)
        if (strcmp(sub, ova_ovf_sound_subtype(devs[i])) == 0)
            return devs[i];
    if (type != RT_SOUND && (sub == NULL || strcasestr(sub, "sound") == NULL))
        return NULL;
    if (sub != NULL && (strcasestr(sub, "1371") != NULL || strcasestr(sub, "ensoniq") != NULL))
        return "es1371";
    if (sub != NULL && strcasestr(sub, "sb16") != NULL)
        return "sb16";
    return "hdaudio"; /* HD Audio, AC97 or unnamed: the card every current guest has a driver for */
}

static ova_status read_other(items *it, const xmlNode *n, uint64_t type)
{
    ova_vm *vm = &it->r->d->vm;
    bool oom = false;
    char *sub = field(n, "ResourceSubType", &oom), *elname = field(n, "ElementName", &oom);
    char q[512];
    ova_status st = oom ? ova_rd_nomem(it->r) : OVA_OK;
    const char *snd = st == OVA_OK ? sound_dev(sub, type) : NULL;
    if (snd != NULL) {
        free(vm->sound);
        if ((vm->sound = strdup(snd)) == NULL)
            st = ova_rd_nomem(it->r);
    } else if (st == OVA_OK && type != RT_OTHER && type != RT_GRAPHICS && !optional_item(n)) {
        /* Workstation has its own display and no place for the rest */
        st = ova_rd_warn(it->r, "line %ld: device \"%s\" (ResourceType %llu) is not imported", ova_rd_line(n),
                         QUOTED(q, elname != NULL ? elname : ""), (unsigned long long)type);
    }
    free(sub);
    free(elname);
    return st;
}

static ova_status read_type(items *it, const xmlNode *n, uint64_t *type)
{
    return num_field(it, n, "ResourceType", 0, UINT64_MAX, false, 0, type);
}

static ova_status read_item(items *it, const xmlNode *n, uint64_t type)
{
    switch (type) {
    case RT_CPU: return read_cpu(it, n);
    case RT_MEMORY: return read_memory(it, n);
    case RT_IDE:
    case RT_SCSI:
    case RT_OTHER_STORAGE: return OVA_OK; /* read in the first pass */
    case RT_DISK:
    case RT_CD:
    case RT_DVD: return read_device(it, n, type);
    case RT_FLOPPY: it->r->d->vm.floppy = true; return OVA_OK;
    case RT_ETHERNET: return read_nic(it, n);
    case RT_USB: return read_usb(it, n);
    default: return read_other(it, n, type);
    }
}

/* VirtualSystemType: the highest vmx-NN it lists ("vmx-07 vmx-21"). */
static ova_status read_hw_version(items *it, const xmlNode *vhs)
{
    ova_vm *vm = &it->r->d->vm;
    const xmlNode *sys = ova_rd_child(vhs, "System");
    const xmlNode *t = sys != NULL ? ova_rd_child(sys, "VirtualSystemType") : NULL;
    char *s = t != NULL ? ova_rd_text(t, true) : NULL;
    if (t != NULL && s == NULL)
        return ova_rd_nomem(it->r);
    vm->hw_version = 0;
    for (char *p = s; p != NULL && (p = strstr(p, "vmx-")) != NULL; p += 4) {
        int v = 0, digits = 0;
        for (const char *q = p + 4; *q >= '0' && *q <= '9' && digits < 4; q++, digits++)
            v = v * 10 + (*q - '0');
        if (digits > 0 && digits < 4 && v > vm->hw_version)
            vm->hw_version = v;
    }
    ova_status st = OVA_OK;
    if (vm->hw_version == 0) {
        char q[512];
        vm->hw_version = OVA_IMPORT_DEFAULT_HW;
        st = ova_rd_warn(it->r, "virtual system type \"%s\" names no VMware hardware version; using vmx-%d",
                         QUOTED(q, s != NULL ? s : ""), OVA_IMPORT_DEFAULT_HW);
    }
    free(s);
    return st;
}

/* VM-level vmw:Config after the Items (ovf.c write_hardware). */
static ova_status read_config(items *it, const xmlNode *vhs)
{
    ova_vm *vm = &it->r->d->vm;
    bool oom = false;
    char *fw = config_value(vhs, "firmware", &oom);
    char *sb = config_value(vhs, "bootOptions.efiSecureBootEnabled", &oom);
    vm->efi = fw != NULL && strcmp(fw, "efi") == 0;
    vm->secure_boot = vm->efi && sb != NULL && strcmp(sb, "true") == 0;
    free(fw);
    free(sb);
    return oom ? ova_rd_nomem(it->r) : OVA_OK;
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
    const ova_device *x = &((const dev_ref *)a)->dev, *y = &((const dev_ref *)b)->dev;
    if (x->bus != y->bus)
        return x->bus < y->bus ? -1 : 1;
    if (x->ctrl_index != y->ctrl_index)
        return x->ctrl_index < y->ctrl_index ? -1 : 1;
    return (x->unit > y->unit) - (x->unit < y->unit);
}

static int cmp_nic(const void *a, const void *b)
{
    const ova_nic *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* The lists into the model, sorted as vm.c builds them; an IDE controller
 * without devices is left out, as vm.c lists none. */
static ova_status finish(items *it)
{
    ova_rd *r = it->r;
    ova_import_desc *d = r->d;
    ova_vm *vm = &d->vm;
    if ((vm->controllers = calloc(it->n_ctrl + 1, sizeof *vm->controllers)) == NULL ||
        (vm->devices = calloc(it->n_dev + 1, sizeof *vm->devices)) == NULL ||
        (d->device_disk = calloc(it->n_dev + 1, sizeof *d->device_disk)) == NULL)
        return ova_rd_nomem(r);
    for (size_t k = 0; k < it->n_ctrl; k++)
        if (it->ctrl[k].bus != OVA_BUS_IDE || it->ctrl[k].used)
            vm->controllers[vm->n_controllers++] =
                (ova_controller){ it->ctrl[k].bus, it->ctrl[k].index, it->ctrl[k].model };
    qsort(vm->controllers, vm->n_controllers, sizeof *vm->controllers, cmp_ctrl);
    qsort(it->dev, it->n_dev, sizeof *it->dev, cmp_dev);
    for (size_t i = 0; i < it->n_dev; i++) {
        vm->devices[i] = it->dev[i].dev;
        d->device_disk[i] = it->dev[i].disk;
    }
    vm->n_devices = it->n_dev;
    it->n_dev = 0; /* the model owns the strings now */
    if (vm->n_nics > 1)
        qsort(vm->nics, vm->n_nics, sizeof *vm->nics, cmp_nic);
    ova_status st = OVA_OK;
    for (size_t i = 0; i < d->n_disks && st == OVA_OK; i++) {
        bool attached = false;
        for (size_t k = 0; k < vm->n_devices && !attached; k++)
            attached = d->device_disk[k] == i;
        if (!attached) {
            char q[512];
            st = ova_rd_warn(r, "disk \"%s\" is attached to no controller; not imported", QUOTED(q, d->disks[i].disk_id));
        }
    }
    return st;
}

ova_status ova_rd_items(ova_rd *r, const xmlNode *vhs)
{
    items it = { .r = r };
    size_t n = 0;
    for (const xmlNode *c = vhs->children; c != NULL; c = c->next)
        if (is_item(c) && ++n > OVA_IMPORT_MAX_ITEMS)
            return ova_rd_fail(r, OVA_E_UNSUPPORTED, vhs, "more than %u Items", OVA_IMPORT_MAX_ITEMS);
    it.item = calloc(n + 1, sizeof *it.item);
    it.ctrl = calloc(n + 1, sizeof *it.ctrl);
    it.dev = calloc(n + 1, sizeof *it.dev);
    ova_status st = (it.item == NULL || it.ctrl == NULL || it.dev == NULL) ? ova_rd_nomem(r) : OVA_OK;
    for (const xmlNode *c = vhs->children; c != NULL && st == OVA_OK; c = c->next)
        if (is_item(c))
            it.item[it.n_items++] = c;
    if (st == OVA_OK)
        st = read_hw_version(&it, vhs);
    /* controllers first: devices name them by InstanceID */
    for (size_t i = 0; i < it.n_items && st == OVA_OK; i++) {
        uint64_t type = 0;
        if ((st = read_type(&it, it.item[i], &type)) == OVA_OK &&
            (type == RT_IDE || type == RT_SCSI || type == RT_OTHER_STORAGE))
            st = read_controller(&it, it.item[i], type);
    }
    for (size_t i = 0; i < it.n_items && st == OVA_OK; i++) {
        uint64_t type = 0;
        if ((st = read_type(&it, it.item[i], &type)) == OVA_OK)
            st = read_item(&it, it.item[i], type);
    }
    if (st == OVA_OK && (!it.have_cpu || !it.have_mem))
        st = ova_rd_fail(r, OVA_E_FORMAT, vhs, "no %s Item (ResourceType %d)", it.have_cpu ? "memory" : "CPU",
                         it.have_cpu ? RT_MEMORY : RT_CPU);
    if (st == OVA_OK)
        st = read_config(&it, vhs);
    if (st == OVA_OK)
        st = finish(&it);
    for (size_t k = 0; k < it.n_ctrl; k++)
        free(it.ctrl[k].iid);
    for (size_t i = 0; i < it.n_dev; i++)
        free(it.dev[i].dev.key_prefix);
    free(it.item);
    free(it.ctrl);
    free(it.dev);
    return st;
}
