/* ovf_read_items.c - the VirtualHardwareSection's Items into the VM model:
 * the inverse of ovf.c's write_system, write_cpu_memory, write_nics,
 * write_optional and the VM-level vmw:Config (docs/ovf.md sections 6, 11);
 * the storage Items go to ovf_read_storage.c, controllers in a first pass
 * (a device names its controller by InstanceID, in any order).
 *
 * Item children are matched by local name, so OVF 2.0's StorageItem and
 * EthernetPortItem (sasd:, epasd:) read like rasd: Items.
 */
#include "format/ovf_read.h"
#include "format/ovf_units.h"
#include "ovatool/ovf.h"
#include "util/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct items {
    ova_rd *r;
    const xmlNode **item;   /* the Items, in document order */
    size_t n_items;
    ova_rd_storage storage; /* controllers, disks, CD-ROMs: ovf_read_storage.c */
    bool have_cpu, have_mem;
} items;

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
    char *s = ova_rd_field(n, local, &oom);
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
    char *units = ova_rd_field(n, "AllocationUnits", &oom);
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
    char *conn = ova_rd_field(n, "Connection", &oom), *sub = ova_rd_field(n, "ResourceSubType", &oom);
    char *auto_ = ova_rd_field(n, "AutomaticAllocation", &oom), *elname = ova_rd_field(n, "ElementName", &oom);
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
    char *sub = ova_rd_field(n, "ResourceSubType", &oom);
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
    if (type != OVA_RT_SOUND && (sub == NULL || strcasestr(sub, "sound") == NULL))
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
    char *sub = ova_rd_field(n, "ResourceSubType", &oom), *elname = ova_rd_field(n, "ElementName", &oom);
    char q[512];
    ova_status st = oom ? ova_rd_nomem(it->r) : OVA_OK;
    const char *snd = st == OVA_OK ? sound_dev(sub, type) : NULL;
    if (snd != NULL) {
        free(vm->sound);
        if ((vm->sound = strdup(snd)) == NULL)
            st = ova_rd_nomem(it->r);
    } else if (st == OVA_OK && type != OVA_RT_OTHER && type != OVA_RT_GRAPHICS && !optional_item(n)) {
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
    case OVA_RT_CPU: return read_cpu(it, n);
    case OVA_RT_MEMORY: return read_memory(it, n);
    case OVA_RT_IDE:
    case OVA_RT_SCSI:
    case OVA_RT_OTHER_STORAGE: return OVA_OK; /* read in the first pass */
    case OVA_RT_DISK:
    case OVA_RT_CD:
    case OVA_RT_DVD: return ova_rd_device(&it->storage, n, type);
    case OVA_RT_FLOPPY: it->r->d->vm.floppy = true; return OVA_OK;
    case OVA_RT_ETHERNET: return read_nic(it, n);
    case OVA_RT_USB: return read_usb(it, n);
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

static int cmp_nic(const void *a, const void *b)
{
    const ova_nic *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* The model's lists, sorted as vm.c builds them. */
static ova_status finish(items *it)
{
    ova_vm *vm = &it->r->d->vm;
    if (vm->n_nics > 1)
        qsort(vm->nics, vm->n_nics, sizeof *vm->nics, cmp_nic);
    return ova_rd_storage_finish(&it->storage);
}

ova_status ova_rd_items(ova_rd *r, const xmlNode *vhs)
{
    items it = { .r = r };
    size_t n = 0;
    for (const xmlNode *c = vhs->children; c != NULL; c = c->next)
        if (is_item(c) && ++n > OVA_IMPORT_MAX_ITEMS)
            return ova_rd_fail(r, OVA_E_UNSUPPORTED, vhs, "more than %u Items", OVA_IMPORT_MAX_ITEMS);
    ova_status st = ova_rd_storage_init(&it.storage, r, n);
    if (st == OVA_OK && (it.item = calloc(n + 1, sizeof *it.item)) == NULL)
        st = ova_rd_nomem(r);
    for (const xmlNode *c = vhs->children; c != NULL && st == OVA_OK; c = c->next)
        if (is_item(c))
            it.item[it.n_items++] = c;
    if (st == OVA_OK)
        st = read_hw_version(&it, vhs);
    /* controllers first: devices name them by InstanceID */
    for (size_t i = 0; i < it.n_items && st == OVA_OK; i++) {
        uint64_t type = 0;
        if ((st = read_type(&it, it.item[i], &type)) == OVA_OK &&
            (type == OVA_RT_IDE || type == OVA_RT_SCSI || type == OVA_RT_OTHER_STORAGE))
            st = ova_rd_controller(&it.storage, it.item[i], type);
    }
    for (size_t i = 0; i < it.n_items && st == OVA_OK; i++) {
        uint64_t type = 0;
        if ((st = read_type(&it, it.item[i], &type)) == OVA_OK)
            st = read_item(&it, it.item[i], type);
    }
    if (st == OVA_OK && (!it.have_cpu || !it.have_mem))
        st = ova_rd_fail(r, OVA_E_FORMAT, vhs, "no %s Item (ResourceType %d)", it.have_cpu ? "memory" : "CPU",
                         it.have_cpu ? OVA_RT_MEMORY : OVA_RT_CPU);
    if (st == OVA_OK)
        st = read_config(&it, vhs);
    if (st == OVA_OK)
        st = finish(&it);
    ova_rd_storage_free(&it.storage);
    free(it.item);
    return st;
}
