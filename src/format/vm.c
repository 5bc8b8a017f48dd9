/* vm.c - builds the ovatool VM model (hardware, controllers, disks, NICs) from a parsed VMX. */
#include "ovatool/vm.h"
#include "util/grow.h"
#include "util/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SCSI 4
#define MAX_SATA 4
#define MAX_NVME 4
#define MAX_IDE 2
#define MAX_NICS OVA_VM_MAX_NICS

const char *ova_bus_name(ova_bus bus)
{
    switch (bus) {
    case OVA_BUS_IDE: return "ide";
    case OVA_BUS_SCSI: return "scsi";
    case OVA_BUS_SATA: return "sata";
    case OVA_BUS_NVME: return "nvme";
    }
    return "unknown";
}

/* Units each bus can address; SCSI includes 7 because a disk written
 * there by hand is still a disk (the controller's own id is not a key). */
int ova_bus_units(ova_bus bus)
{
    switch (bus) {
    case OVA_BUS_IDE: return 2;
    case OVA_BUS_SCSI: return 16;
    case OVA_BUS_SATA: return 30;
    case OVA_BUS_NVME: return 64;
    }
    return 0;
}

int ova_bus_controllers(ova_bus bus)
{
    switch (bus) {
    case OVA_BUS_IDE: return MAX_IDE;
    case OVA_BUS_SCSI: return MAX_SCSI;
    case OVA_BUS_SATA: return MAX_SATA;
    case OVA_BUS_NVME: return MAX_NVME;
    }
    return 0;
}

typedef struct builder {
    const ova_vmx *vmx;
    const char *file;   /* VMX path for messages */
    ova_vm *vm;
    size_t cap_devices;
    size_t cap_left_out;
    size_t cap_warnings;
    ova_err *err;
} builder;

static ova_status nomem(builder *b)
{
    return ova_err_set(b->err, OVA_E_NOMEM, "%s: out of memory", b->file);
}

/* Keep a warning for ova_prepare to log (vm.h says why the model keeps them). */
static ova_status add_warning(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ova_status add_warning(builder *b, const char *fmt, ...)
{
    ova_vm *vm = b->vm;
    char **grown = ova_grow(vm->warnings, &b->cap_warnings, vm->n_warnings + 1, sizeof *grown);
    if (grown == NULL)
        return nomem(b);
    vm->warnings = grown;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&vm->warnings[vm->n_warnings], fmt, ap);
    va_end(ap);
    if (n < 0)
        return nomem(b);
    vm->n_warnings++;
    return OVA_OK;
}

static int entry_line(const builder *b, const char *key)
{
    const ova_vmx_entry *e = ova_vmx_find(b->vmx, key);
    return e ? e->line : 0;
}

static const char *nonempty(const char *s)
{
    return (s != NULL && s[0] != '\0') ? s : NULL;
}

/* Strict decimal: VMware writes plain digits, and anything else ("abc",
 * "-5", "1.5", "0x10") would be silently misread by strtoul. */
static ova_status get_number(builder *b, const char *key, unsigned long long min, unsigned long long max,
                             unsigned long long def, unsigned long long *out)
{
    const ova_vmx_entry *e = ova_vmx_find(b->vmx, key);
    if (e == NULL) {
        *out = def;
        return OVA_OK;
    }
    const char *s = e->value;
    unsigned long long v = 0;
    bool ok = s[0] != '\0';
    for (const char *p = s; ok && *p; p++) {
        if (*p < '0' || *p > '9' || v > (max - (unsigned)(*p - '0')) / 10)
            ok = false;
        else
            v = v * 10 + (unsigned)(*p - '0');
    }
    if (!ok || v < min)
        return ova_err_set(b->err, OVA_E_FORMAT, "%s: line %d: %s: \"%s\" is not a number from %llu to %llu",
                           b->file, e->line, key, s, min, max);
    *out = v;
    return OVA_OK;
}

static ova_status dup_str(builder *b, const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return OVA_OK;
    *out = strdup(s);
    return *out ? OVA_OK : nomem(b);
}

/* Join dir and name; "." is left out so a VMX in the working directory
 * yields paths as short as the user wrote them. */
static char *join_path(const char *dir, const char *name)
{
    if (strcmp(dir, ".") == 0)
        return strdup(name);
    size_t dl = strlen(dir);
    const char *sep = (dl > 0 && dir[dl - 1] == '/') ? "" : "/";
    char *p = NULL;
    if (asprintf(&p, "%s%s%s", dir, sep, name) < 0)
        return NULL;
    return p;
}

/* "C:\..." or "C:/...", or a UNC path "\\server\share\...". */
static bool is_windows_absolute(const char *s)
{
    if (((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) && s[1] == ':' &&
        (s[2] == '\\' || s[2] == '/'))
        return true;
    return s[0] == '\\' && s[1] == '\\';
}

static char *resolve_disk_path(const char *vmx_dir, const char *file_name, bool *foreign)
{
    *foreign = false;
    if (file_name[0] == '/')
        return strdup(file_name);
    if (is_windows_absolute(file_name)) {
        *foreign = true;
        /* A VM copied off a Windows host keeps its disks beside the VMX;
         * the drive letter path means nothing here. */
        const char *base = file_name;
        for (const char *p = file_name; *p; p++)
            if (*p == '\\' || *p == '/')
                base = p + 1;
        return join_path(vmx_dir, base);
    }
    return join_path(vmx_dir, file_name);
}

/* What a CD-ROM is connected to: clientDevice first (the drive is then the
 * console's, whatever deviceType says), then an ISO image by its type (or,
 * without one, by the .iso name scan_device matched), else the host's drive. */
static ova_cdrom_kind cdrom_kind(builder *b, const char *prefix, const char *type)
{
    char key[64];
    snprintf(key, sizeof key, "%s.clientDevice", prefix);
    if (ova_vmx_bool(b->vmx, key, false))
        return OVA_CDROM_CLIENT;
    if (type == NULL || strcasecmp(type, "cdrom-image") == 0)
        return OVA_CDROM_IMAGE;
    return OVA_CDROM_HOST;
}

static ova_status add_device(builder *b, ova_device_kind kind, ova_bus bus, int ctrl, int unit,
                             const char *prefix, const char *file_name, const char *type)
{
    ova_vm *vm = b->vm;
    ova_device *grown = ova_grow(vm->devices, &b->cap_devices, vm->n_devices + 1, sizeof *grown);
    if (grown == NULL)
        return nomem(b);
    vm->devices = grown;
    ova_device *d = &vm->devices[vm->n_devices];
    *d = (ova_device){ kind, bus, ctrl, unit, NULL, NULL, NULL, false, NULL, OVA_CDROM_IMAGE, true };
    /* count it now so ova_vm_free releases whatever got allocated */
    vm->n_devices++;
    if ((d->key_prefix = strdup(prefix)) == NULL)
        return nomem(b);
    if (dup_str(b, file_name, &d->file_name) != OVA_OK)
        return OVA_E_NOMEM;
    if (kind == OVA_DEV_DISK) {
        if ((d->path = resolve_disk_path(vm->vmx_dir, file_name, &d->foreign_path)) == NULL)
            return nomem(b);
        if (dup_str(b, nonempty(ova_vmx_getf(b->vmx, "%s.mode", prefix)), &d->mode) != OVA_OK)
            return OVA_E_NOMEM;
    } else {
        d->cdrom = cdrom_kind(b, prefix, type);
        char key[64];
        snprintf(key, sizeof key, "%s.startConnected", prefix);
        d->start_connected = ova_vmx_bool(b->vmx, key, true);
    }
    return OVA_OK;
}

static bool is_disk_type(const char *t)
{
    static const char *const types[] = { "disk", "scsi-hardDisk", "ata-hardDisk", "sata-hardDisk",
                                         "nvme-hardDisk" };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(t, types[i]) == 0)
            return true;
    return false;
}

static bool is_cdrom_type(const char *t)
{
    /* "cdrom-image", "cdrom-raw", "atapi-cdrom", and hand-written "sata-cdrom" */
    return strncasecmp(t, "atapi", 5) == 0 || strcasestr(t, "cdrom") != NULL;
}

/* "scsi-passthru": a host SCSI device (tape, changer, scanner) handed to
 * the guest through its generic SCSI node (/dev/sgN). */
static bool is_passthru_type(const char *t)
{
    return strcasestr(t, "passthru") != NULL;
}

static bool is_raw_type(const char *t)
{
    return strcasecmp(t, "plainDisk") == 0 || strcasestr(t, "raw") != NULL;
}

static const char *bus_label(ova_bus bus)
{
    switch (bus) {
    case OVA_BUS_IDE: return "IDE";
    case OVA_BUS_SCSI: return "SCSI";
    case OVA_BUS_SATA: return "SATA";
    case OVA_BUS_NVME: return "NVMe";
    }
    return "unknown";
}

/* A passthrough device is not a disk and no importing host has it: it is
 * left out, named in vm->left_out (for info) and in a warning. */
static ova_status leave_out(builder *b, ova_bus bus, const char *prefix, const char *type, const char *file_name)
{
    ova_vm *vm = b->vm;
    ova_left_out *grown = ova_grow(vm->left_out, &b->cap_left_out, vm->n_left_out + 1, sizeof *grown);
    if (grown == NULL)
        return nomem(b);
    vm->left_out = grown;
    ova_left_out *l = &vm->left_out[vm->n_left_out];
    *l = (ova_left_out){ NULL, NULL, NULL };
    vm->n_left_out++;
    if ((l->key_prefix = strdup(prefix)) == NULL || (l->device_type = strdup(type)) == NULL ||
        dup_str(b, file_name, &l->file_name) != OVA_OK)
        return nomem(b);
    return add_warning(b, "%s: %s: %s passthrough device%s%s%s left out: not a disk", b->file, prefix,
                       bus_label(bus), file_name ? " (" : "", file_name ? file_name : "", file_name ? ")" : "");
}

static ova_status scan_device(builder *b, ova_bus bus, int ctrl, int unit)
{
    char prefix[32];
    char key[64];
    snprintf(prefix, sizeof prefix, "%s%d:%d", ova_bus_name(bus), ctrl, unit);
    snprintf(key, sizeof key, "%s.present", prefix);
    if (!ova_vmx_bool(b->vmx, key, false))
        return OVA_OK;
    int present_line = entry_line(b, key);

    snprintf(key, sizeof key, "%s.deviceType", prefix);
    const char *type = nonempty(ova_vmx_get(b->vmx, key));
    int type_line = entry_line(b, key);
    snprintf(key, sizeof key, "%s.fileName", prefix);
    const char *file_name = nonempty(ova_vmx_get(b->vmx, key));

    ova_device_kind kind = OVA_DEV_DISK;
    if (type == NULL) {
        /* Workstation omits deviceType for plain disks; the extension is
         * then all there is to go on. */
        if (file_name == NULL)
            return ova_err_set(b->err, OVA_E_FORMAT, "%s: line %d: %s: present disk has no fileName", b->file,
                               present_line, prefix);
        if (ova_ends_with_ci(file_name, ".vmdk"))
            kind = OVA_DEV_DISK;
        else if (ova_ends_with_ci(file_name, ".iso"))
            kind = OVA_DEV_CDROM;
        else
            return ova_err_set(b->err, OVA_E_UNSUPPORTED,
                               "%s: line %d: %s: \"%s\" is neither a .vmdk disk nor an .iso image", b->file,
                               entry_line(b, key), key, file_name);
    } else if (is_disk_type(type)) {
        if (file_name == NULL)
            return ova_err_set(b->err, OVA_E_FORMAT, "%s: line %d: %s: disk (deviceType \"%s\") has no fileName",
                               b->file, present_line, prefix, type);
        kind = OVA_DEV_DISK;
    } else if (is_cdrom_type(type)) {
        kind = OVA_DEV_CDROM;
    } else if (is_passthru_type(type)) {
        return leave_out(b, bus, prefix, type, file_name);
    } else if (is_raw_type(type)) {
        /* a raw disk is a host's physical disk: its data is the host's, not the VM's to package */
        return ova_err_set(b->err, OVA_E_UNSUPPORTED,
                           "%s: %s: raw or passthrough disk (deviceType \"%s\") cannot be exported", b->file,
                           prefix, type);
    } else {
        return ova_err_set(b->err, OVA_E_UNSUPPORTED, "%s: line %d: %s.deviceType: unknown device type \"%s\"",
                           b->file, type_line, prefix, type);
    }
    return add_device(b, kind, bus, ctrl, unit, prefix, file_name, type);
}

static ova_status scsi_model(builder *b, int ctrl, ova_scsi_model *out)
{
    char key[32];
    snprintf(key, sizeof key, "scsi%d.virtualDev", ctrl);
    const char *v = nonempty(ova_vmx_get(b->vmx, key));
    if (v == NULL) {
        /* VMware picks a guest-dependent default; LSI Logic is the one
         * every guest of the era had a driver for. */
        *out = OVA_SCSI_LSILOGIC;
        return OVA_OK;
    }
    if (ova_scsi_model_parse(v, out))
        return OVA_OK;
    return ova_err_set(b->err, OVA_E_UNSUPPORTED, "%s: line %d: %s: unknown SCSI controller model \"%s\"", b->file,
                       entry_line(b, key), key, v);
}

static ova_status add_controller(builder *b, size_t *cap, ova_bus bus, int index, ova_scsi_model model)
{
    ova_vm *vm = b->vm;
    ova_controller *c = ova_grow(vm->controllers, cap, vm->n_controllers + 1, sizeof *c);
    if (c == NULL)
        return nomem(b);
    vm->controllers = c;
    vm->controllers[vm->n_controllers++] = (ova_controller){ bus, index, model };
    return OVA_OK;
}

/* Walk buses in enum order, controllers and units in ascending order, so
 * devices and controllers come out sorted without a separate sort. */
static ova_status scan_storage(builder *b)
{
    static const struct {
        ova_bus bus;
        int count;
    } buses[] = {
        { OVA_BUS_IDE, MAX_IDE },
        { OVA_BUS_SCSI, MAX_SCSI },
        { OVA_BUS_SATA, MAX_SATA },
        { OVA_BUS_NVME, MAX_NVME },
    };
    size_t cap_ctrl = 0;
    for (size_t i = 0; i < sizeof buses / sizeof buses[0]; i++) {
        ova_bus bus = buses[i].bus;
        for (int c = 0; c < buses[i].count; c++) {
            ova_scsi_model model = OVA_SCSI_NONE;
            if (bus != OVA_BUS_IDE) {
                char key[32];
                snprintf(key, sizeof key, "%s%d.present", ova_bus_name(bus), c);
                if (!ova_vmx_bool(b->vmx, key, false))
                    continue; /* its devices are invisible to VMware too */
                if (bus == OVA_BUS_SCSI) {
                    ova_status st = scsi_model(b, c, &model);
                    if (st != OVA_OK)
                        return st;
                }
            }
            size_t before = b->vm->n_devices;
            for (int u = 0; u < ova_bus_units(bus); u++) {
                ova_status st = scan_device(b, bus, c, u);
                if (st != OVA_OK)
                    return st;
            }
            /* IDE controllers are implicit: list one only if it holds a device, as ovftool does. */
            if (bus != OVA_BUS_IDE || b->vm->n_devices > before) {
                ova_status st = add_controller(b, &cap_ctrl, bus, c, model);
                if (st != OVA_OK)
                    return st;
            }
        }
    }
    return OVA_OK;
}

static ova_status nic_model(builder *b, int n, ova_nic_model *out)
{
    char key[48];
    snprintf(key, sizeof key, "ethernet%d.virtualDev", n);
    const char *v = nonempty(ova_vmx_get(b->vmx, key));
    if (v == NULL) {
        *out = OVA_NIC_PCNET32;
        return OVA_OK;
    }
    if (ova_nic_model_parse(v, out))
        return OVA_OK;
    return ova_err_set(b->err, OVA_E_UNSUPPORTED, "%s: line %d: %s: unknown network adapter model \"%s\"",
                       b->file, entry_line(b, key), key, v);
}

/* The OVF network name: ESXi's networkName, else the hosted connection type. */
static const char *nic_network(builder *b, int n)
{
    const char *name = nonempty(ova_vmx_getf(b->vmx, "ethernet%d.networkName", n));
    if (name != NULL)
        return name;
    const char *ct = nonempty(ova_vmx_getf(b->vmx, "ethernet%d.connectionType", n));
    if (ct == NULL)
        return "bridged"; /* Workstation's default when the key is absent */
    static const char *const known[] = { "bridged", "nat", "hostonly" };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcasecmp(ct, known[i]) == 0)
            return known[i];
    if (strcasecmp(ct, "custom") == 0) {
        const char *vnet = nonempty(ova_vmx_getf(b->vmx, "ethernet%d.vnet", n));
        if (vnet == NULL)
            return "custom";
        /* Linux hosts write the device node ("/dev/vmnet2"); the name is what matters. */
        if (strncmp(vnet, "/dev/", 5) == 0 && vnet[5] != '\0')
            vnet += 5;
        return vnet;
    }
    return ct;
}

static ova_status scan_nics(builder *b)
{
    ova_vm *vm = b->vm;
    for (int n = 0; n < MAX_NICS; n++) {
        char key[48];
        snprintf(key, sizeof key, "ethernet%d.present", n);
        if (!ova_vmx_bool(b->vmx, key, false))
            continue;
        ova_nic_model model = OVA_NIC_PCNET32;
        ova_status st = nic_model(b, n, &model);
        if (st != OVA_OK)
            return st;
        if (vm->nics == NULL && (vm->nics = calloc(MAX_NICS, sizeof *vm->nics)) == NULL)
            return nomem(b);
        ova_nic *nic = &vm->nics[vm->n_nics];
        snprintf(key, sizeof key, "ethernet%d.startConnected", n);
        *nic = (ova_nic){ n, model, NULL, ova_vmx_bool(b->vmx, key, true), NULL, NULL };
        vm->n_nics++;
        if ((nic->network = strdup(nic_network(b, n))) == NULL)
            return nomem(b);
        /* the MAC is for `ovatool info` (the OVF carries none: an importer
         * assigns its own): a static one the guest's licences or DHCP
         * reservations depend on must be set again by hand */
        const char *at = nonempty(ova_vmx_getf(b->vmx, "ethernet%d.addressType", n));
        if ((nic->address_type = strdup(at ? at : "generated")) == NULL)
            return nomem(b);
        for (char *p = nic->address_type; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        const char *mac = strcmp(nic->address_type, "static") == 0
                              ? nonempty(ova_vmx_getf(b->vmx, "ethernet%d.address", n))
                              : nonempty(ova_vmx_getf(b->vmx, "ethernet%d.generatedAddress", n));
        if (dup_str(b, mac, &nic->mac) != OVA_OK)
            return OVA_E_NOMEM;
    }
    return OVA_OK;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static char *name_without_vmx(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && strcasecmp(base + n - 4, ".vmx") == 0)
        n -= 4;
    return strndup(base, n);
}

static ova_status scan_core(builder *b)
{
    ova_vm *vm = b->vm;
    const char *name = nonempty(ova_vmx_get(b->vmx, "displayName"));
    vm->display_name = name ? strdup(name) : name_without_vmx(b->file);
    if (vm->display_name == NULL)
        return nomem(b);

    const char *guest = nonempty(ova_vmx_get(b->vmx, "guestOS"));
    if ((vm->guest_os = strdup(guest ? guest : "other")) == NULL)
        return nomem(b);
    for (char *p = vm->guest_os; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');

    ova_status st = dup_str(b, ova_vmx_get(b->vmx, "annotation"), &vm->annotation);
    if (st != OVA_OK)
        return st;

    unsigned long long v = 0;
    if ((st = get_number(b, "numvcpus", 1, 4096, 1, &v)) != OVA_OK)
        return st;
    vm->num_vcpus = (int)v;
    if ((st = get_number(b, "cpuid.coresPerSocket", 0, 4096, 0, &v)) != OVA_OK)
        return st;
    vm->cores_per_socket = (int)v;
    /* capped so memory_mb << 20 (bytes, for the OVF) cannot overflow */
    if ((st = get_number(b, "memsize", 1, UINT64_MAX >> 20, 256, &v)) != OVA_OK)
        return st;
    vm->memory_mb = v;
    if ((st = get_number(b, "virtualHW.version", 1, 999, 4, &v)) != OVA_OK)
        return st;
    vm->hw_version = (int)v;

    const char *fw = ova_vmx_get(b->vmx, "firmware");
    vm->efi = fw != NULL && strcasecmp(fw, "efi") == 0;
    vm->secure_boot = ova_vmx_bool(b->vmx, "uefi.secureBoot.enabled", false);

    /* optional devices, exported as ovf:required="false" items */
    vm->usb = ova_vmx_bool(b->vmx, "usb.present", false);
    vm->usb_ehci = vm->usb && ova_vmx_bool(b->vmx, "ehci.present", false);
    vm->usb_xhci = ova_vmx_bool(b->vmx, "usb_xhci.present", false);
    vm->floppy = ova_vmx_bool(b->vmx, "floppy0.present", false);
    if (ova_vmx_bool(b->vmx, "sound.present", false)) {
        const char *dev = nonempty(ova_vmx_get(b->vmx, "sound.virtualDev"));
        /* es1371 is what Workstation picks when the key is absent */
        if ((st = dup_str(b, dev ? dev : "es1371", &vm->sound)) != OVA_OK)
            return st;
        for (char *p = vm->sound; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    return OVA_OK;
}

/* Encryption. A fully encrypted VM keeps its configuration and its disks
 * encrypted (encryption.keySafe, encryption.data; the VMX then holds little
 * else): unreadable without the password, refused. Workstation 17 also
 * writes encryption.type = "partial" for a VM that needs encryption only
 * for its vTPM (Windows 11): the key safe then protects the vTPM and NVRAM,
 * while the VMX's hardware keys and the disks are in clear, so the VM
 * exports without its secrets. Any other type, or keys without a type, is
 * the full kind. A disk that is itself encrypted is refused when its
 * descriptor is read (describe.c), partial VM or not. */
static ova_status check_encryption(const ova_vmx *vmx, const char *vmx_path, ova_encryption *out, ova_err *err)
{
    *out = OVA_ENC_NONE;
    const char *type = nonempty(ova_vmx_get(vmx, "encryption.type"));
    if (type != NULL && strcasecmp(type, "partial") == 0) {
        *out = OVA_ENC_PARTIAL;
        return OVA_OK;
    }
    if (type != NULL)
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s: line %d: the VM is encrypted (encryption.type \"%s\"); remove the encryption in "
                           "VMware before exporting",
                           vmx_path, ova_vmx_find(vmx, "encryption.type")->line, type);
    static const char *const enc_keys[] = { "encryption.keySafe", "encryption.data" };
    for (size_t i = 0; i < sizeof enc_keys / sizeof enc_keys[0]; i++)
        if (ova_vmx_get(vmx, enc_keys[i]) != NULL)
            return ova_err_set(err, OVA_E_UNSUPPORTED,
                               "%s: the VM is encrypted (%s is set); remove the encryption in VMware before "
                               "exporting",
                               vmx_path, enc_keys[i]);
    return OVA_OK;
}

/* The vTPM and a partial encryption's key safe stay behind: the OVF has no
 * TPM device and the secrets only open with the password on this host. */
static ova_status scan_secrets(builder *b)
{
    ova_vm *vm = b->vm;
    vm->vtpm = ova_vmx_bool(b->vmx, "vtpm.present", false);
    const char *guest_note = " (a guest that keeps keys in its TPM, such as BitLocker or Windows Hello, will ask "
                             "for its recovery key, and the importing host must add a new vTPM)";
    if (vm->encryption == OVA_ENC_PARTIAL)
        return add_warning(b,
                           "%s: the VM is partially encrypted (encryption.type \"partial\"): its hardware and disks "
                           "are in clear and exported; %sits secrets (encryption.keySafe, encryption.data) are "
                           "not part of the OVA%s",
                           b->file, vm->vtpm ? "the virtual TPM (vtpm.present) and " : "",
                           vm->vtpm ? guest_note : "");
    if (vm->vtpm)
        return add_warning(b, "%s: the virtual TPM (vtpm.present) and its secrets are not part of the OVA%s", b->file,
                           guest_note);
    return OVA_OK;
}

ova_status ova_vm_from_vmx(const ova_vmx *vmx, const char *vmx_path, ova_vm **out, ova_err *err)
{
    *out = NULL;
    if (vmx_path == NULL)
        vmx_path = vmx->path;
    builder b = { .vmx = vmx, .file = vmx_path, .err = err };

    ova_encryption enc = OVA_ENC_NONE;
    ova_status st = check_encryption(vmx, vmx_path, &enc, err);
    if (st != OVA_OK)
        return st;

    ova_vm *vm = calloc(1, sizeof *vm);
    if (vm == NULL)
        return nomem(&b);
    b.vm = vm;
    vm->encryption = enc;
    if ((vm->vmx_path = strdup(vmx_path)) == NULL || (vm->vmx_dir = dir_of(vmx_path)) == NULL) {
        st = nomem(&b);
        goto fail;
    }
    if ((st = scan_core(&b)) != OVA_OK || (st = scan_storage(&b)) != OVA_OK || (st = scan_nics(&b)) != OVA_OK ||
        (st = scan_secrets(&b)) != OVA_OK)
        goto fail;
    *out = vm;
    return OVA_OK;
fail:
    ova_vm_free(&vm);
    return st;
}

ova_status ova_vm_load(const char *vmx_path, ova_vm **out, ova_err *err)
{
    *out = NULL;
    ova_vmx *vmx = NULL;
    ova_status st = ova_vmx_load(vmx_path, &vmx, err);
    if (st != OVA_OK)
        return st;
    st = ova_vm_from_vmx(vmx, vmx_path, out, err);
    ova_vmx_free(&vmx);
    return st;
}

void ova_vm_clear(ova_vm *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n_devices; i++) {
        free(v->devices[i].file_name);
        free(v->devices[i].path);
        free(v->devices[i].key_prefix);
        free(v->devices[i].mode);
    }
    for (size_t i = 0; i < v->n_nics; i++) {
        free(v->nics[i].network);
        free(v->nics[i].address_type);
        free(v->nics[i].mac);
    }
    for (size_t i = 0; i < v->n_left_out; i++) {
        free(v->left_out[i].key_prefix);
        free(v->left_out[i].device_type);
        free(v->left_out[i].file_name);
    }
    free(v->left_out);
    for (size_t i = 0; i < v->n_warnings; i++)
        free(v->warnings[i]);
    free(v->warnings);
    free(v->devices);
    free(v->controllers);
    free(v->nics);
    free(v->vmx_path);
    free(v->vmx_dir);
    free(v->display_name);
    free(v->guest_os);
    free(v->annotation);
    free(v->sound);
    *v = (ova_vm){ 0 };
}

void ova_vm_free(ova_vm **vm)
{
    if (vm == NULL || *vm == NULL)
        return;
    ova_vm_clear(*vm);
    free(*vm);
    *vm = NULL;
}

size_t ova_vm_disk_count(const ova_vm *vm)
{
    size_t n = 0;
    for (size_t i = 0; vm != NULL && i < vm->n_devices; i++)
        if (vm->devices[i].kind == OVA_DEV_DISK)
            n++;
    return n;
}
