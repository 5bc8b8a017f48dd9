/* cli_info.c - `ovatool info VMX`: what an export would contain, without
 * reading any disk data (descriptors, headers and grain tables only). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"
#include "ovatool/buf.h"
#include "ovatool/disk.h"
#include "ovatool/ovf.h"
#include "ovatool/prepare.h"
#include "ovatool/vm.h"

static const char *controller_model(const ova_prepared_disk *pd)
{
    if (pd->device->bus != OVA_BUS_SCSI)
        return ova_bus_name(pd->device->bus);
    return pd->controller != NULL ? ova_scsi_model_name(pd->controller->model) : "scsi";
}

/* "512 KiB", "37.5 MiB", "3.00 GiB": readable at every disk size. */
static const char *human(uint64_t v, char buf[32])
{
    if (v >= (1ull << 30))
        snprintf(buf, 32, "%.2f GiB", (double)v / 1073741824.0);
    else if (v >= (1ull << 20))
        snprintf(buf, 32, "%.1f MiB", (double)v / 1048576.0);
    else
        snprintf(buf, 32, "%llu KiB", (unsigned long long)(v >> 10));
    return buf;
}

static const char *cdrom_kind_name(ova_cdrom_kind k)
{
    switch (k) {
    case OVA_CDROM_IMAGE: return "iso";
    case OVA_CDROM_HOST: return "host";
    case OVA_CDROM_CLIENT: return "client";
    }
    return "";
}

static const char *cdrom_kind_text(ova_cdrom_kind k)
{
    switch (k) {
    case OVA_CDROM_IMAGE: return "ISO image";
    case OVA_CDROM_HOST: return "host device";
    case OVA_CDROM_CLIENT: return "client device";
    }
    return "";
}

/* A disk without a .mode key is persistent: VMware's default. */
static const char *disk_mode(const ova_device *d)
{
    return d->mode != NULL ? d->mode : "persistent";
}

/* The optional items the OVF gets beside disks, CD-ROMs and NICs, by the
 * conditions write_optional() in ovf.c uses. A sound card of a model the
 * OVF has no type for has subtype NULL: the OVF leaves it out. */
typedef struct optional_dev {
    const char *name;     /* the OVF item's ElementName */
    const char *label;    /* for the text output */
    const char *subtype;  /* its ResourceSubType */
} optional_dev;

static size_t optional_devices(const ova_vm *vm, optional_dev out[4])
{
    size_t n = 0;
    if (vm->usb)
        out[n++] = (optional_dev){ "usb", vm->usb_ehci ? "USB 2 controller" : "USB 1.1 controller",
                                   "vmware.usb.ehci" };
    if (vm->usb_xhci)
        out[n++] = (optional_dev){ "usb_xhci", "USB 3 controller", "vmware.usb.xhci" };
    if (vm->sound != NULL)
        out[n++] = (optional_dev){ "sound", "sound card", ova_ovf_sound_subtype(vm->sound) };
    if (vm->floppy)
        out[n++] = (optional_dev){ "floppy0", "floppy drive", "vmware.floppy.remotedevice" };
    return n;
}

/* The library's warnings (a disk file outside the VM's folder) go to stderr. */
static void info_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level > 0)
        cli_warn("%s", msg);
    else
        cli_info("%s", msg);
}

enum { O_JSON = 256, O_CONFINE };

/* One table defines every option: getopt reads it, --help prints it. */
static const cli_opt OPTS[] = {
    { "json", 0, O_JSON, NULL, "print the same as one JSON object on stdout, for scripts" },
    { "confine", 0, O_CONFINE, NULL,
      "refuse disk, extent and parent files that resolve outside the VMX's folder (default: a warning each)" },
    { "help", 0, 'h', NULL, "show this help" },
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

static void info_usage(FILE *f)
{
    fprintf(f, "Usage: ovatool info VMX [--json] [--confine]\n"
               "Shows what 'ovatool export' would write: the VM's hardware, annotation, encryption\n"
               "and vTPM, each disk with its controller, bus:unit, type, capacity, allocated bytes,\n"
               "snapshot depth, fileName and mode, the CD-ROMs, the NICs with their MACs, the optional\n"
               "devices and the devices left out.\n"
               "Reads descriptors and grain tables only, never disk data.\n\nOptions:\n");
    cli_print_options(f, OPTS, N_OPTS);
}

/* Parse argv; returns NULL on success or a reason for a usage error. */
static const char *parse(int argc, char **argv, const char **vmx_path, int *json, int *confine, int *help)
{
    struct option lo[N_OPTS + 1];
    char short_opts[16];
    cli_getopt_table(OPTS, N_OPTS, lo, short_opts, sizeof short_opts);
    int c;
    while ((c = getopt_long(argc, argv, short_opts, lo, NULL)) != -1) {
        switch (c) {
        case O_JSON: *json = 1; break;
        case O_CONFINE: *confine = 1; break;
        case 'h': *help = 1; return NULL;
        default: return cli_getopt_error(c, argv);
        }
    }
    return cli_one_operand(argc, argv, "missing the VMX file", vmx_path);
}

int cli_info_cmd(int argc, char **argv)
{
    const char *vmx_path = NULL;
    int json = 0, confine = 0, help = 0;
    const char *why = parse(argc, argv, &vmx_path, &json, &confine, &help);
    int outcome = cli_usage_outcome("info", help, why, info_usage, 1);
    if (outcome >= 0)
        return outcome;

    /* the same preparation as an export's, so info shows what export
     * would do: inspect records lock folders (of every file export reads)
     * instead of refusing */
    ova_err err;
    ova_err_clear(&err);
    ova_prepare_opts po;
    ova_prepare_opts_init(&po);
    po.vmx_path = vmx_path;
    po.confine = confine != 0;
    po.inspect = true;
    po.log = info_log;
    ova_prepared *prep = NULL;
    if (ova_prepare(&po, &prep, &err) != OVA_OK) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    const ova_vm *vm = prep->vm;
    int rc = EXIT_OK;
    size_t k = 0;

    const char *vim_id = NULL, *desc = NULL;
    int cim = 0;
    ova_guest_lookup(vm->guest_os, &vim_id, &cim, &desc);
    int running = prep->lock[0] != '\0';
    optional_dev opt[4];
    size_t n_opt = optional_devices(vm, opt);

    ova_buf b = OVA_BUF_INIT;
    if (json) {
        cli_json j;
        cli_json_init(&j, &b);
        cli_json_object(&j, NULL);
        cli_json_str(&j, "vmx", vmx_path);
        cli_json_str(&j, "name", vm->display_name);
        cli_json_str(&j, "guest_os", vm->guest_os);
        cli_json_str(&j, "os_type", vim_id);
        cli_json_int(&j, "cpus", vm->num_vcpus);
        cli_json_int(&j, "cores_per_socket", vm->cores_per_socket);
        cli_json_uint(&j, "memory_mb", vm->memory_mb);
        cli_json_int(&j, "hw_version", vm->hw_version);
        cli_json_str(&j, "firmware", vm->efi ? "efi" : "bios");
        cli_json_bool(&j, "secure_boot", vm->secure_boot);
        cli_json_bool(&j, "running", running);
        cli_json_str(&j, "annotation", vm->annotation);
        cli_json_str(&j, "encryption", vm->encryption == OVA_ENC_PARTIAL ? "partial" : "none");
        cli_json_bool(&j, "vtpm", vm->vtpm);
        cli_json_array(&j, "disks");
        k = 0;
        for (size_t i = 0; i < vm->n_devices; i++) {
            const ova_device *d = &vm->devices[i];
            if (d->kind != OVA_DEV_DISK)
                continue;
            const ova_prepared_disk *pd = &prep->disks[k++];
            const ova_disk_info *di = pd->info;
            cli_json_object(&j, NULL);
            cli_json_str(&j, "device", d->key_prefix);
            cli_json_str(&j, "controller", controller_model(pd));
            cli_json_int(&j, "bus", d->ctrl_index);
            cli_json_int(&j, "unit", d->unit);
            cli_json_str(&j, "path", di->path);
            cli_json_str(&j, "type", di->create_type);
            cli_json_uint(&j, "capacity", di->capacity);
            cli_json_uint(&j, "allocated", di->allocated);
            cli_json_int(&j, "snapshot_depth", di->chain_depth);
            cli_json_str(&j, "file_name", d->file_name);
            cli_json_bool(&j, "foreign_path", d->foreign_path);
            cli_json_str(&j, "mode", disk_mode(d));
            cli_json_end(&j);
        }
        cli_json_end(&j);
        cli_json_array(&j, "cdroms");
        for (size_t i = 0; i < vm->n_devices; i++) {
            if (vm->devices[i].kind != OVA_DEV_CDROM)
                continue;
            cli_json_object(&j, NULL);
            cli_json_str(&j, "device", vm->devices[i].key_prefix);
            cli_json_str(&j, "file", vm->devices[i].file_name);
            cli_json_str(&j, "kind", cdrom_kind_name(vm->devices[i].cdrom));
            cli_json_bool(&j, "start_connected", vm->devices[i].start_connected);
            cli_json_end(&j);
        }
        cli_json_end(&j);
        cli_json_array(&j, "nics");
        for (size_t i = 0; i < vm->n_nics; i++) {
            const ova_nic *n = &vm->nics[i];
            cli_json_object(&j, NULL);
            cli_json_int(&j, "index", n->index);
            cli_json_str(&j, "model", ova_nic_model_name(n->model));
            cli_json_str(&j, "network", n->network);
            cli_json_bool(&j, "connected", n->start_connected);
            cli_json_str(&j, "address_type", n->address_type);
            cli_json_str(&j, "mac", n->mac);
            cli_json_end(&j);
        }
        cli_json_end(&j);
        cli_json_array(&j, "optional_devices");
        for (size_t i = 0; i < n_opt; i++) {
            cli_json_object(&j, NULL);
            cli_json_str(&j, "name", opt[i].name);
            cli_json_str(&j, "subtype", opt[i].subtype);
            cli_json_bool(&j, "exported", opt[i].subtype != NULL);
            cli_json_end(&j);
        }
        cli_json_end(&j);
        cli_json_array(&j, "left_out");
        for (size_t i = 0; i < vm->n_left_out; i++) {
            cli_json_object(&j, NULL);
            cli_json_str(&j, "device", vm->left_out[i].key_prefix);
            cli_json_str(&j, "type", vm->left_out[i].device_type);
            cli_json_str(&j, "file", vm->left_out[i].file_name);
            cli_json_end(&j);
        }
        cli_json_end(&j);
        cli_json_end(&j);
        ova_buf_putc(&b, '\n');
    } else {
        /* strings from the VMX and the descriptors through cli_buf_text: a
         * displayName of "|1B[31m" must not reach the terminal as an escape */
        ova_buf_puts(&b, "VM:        ");
        cli_buf_text(&b, vm->display_name);
        ova_buf_puts(&b, "\nGuest:     ");
        cli_buf_text(&b, vm->guest_os);
        ova_buf_puts(&b, " (");
        cli_buf_text(&b, vim_id);
        ova_buf_puts(&b, ")\n");
        ova_buf_printf(&b, "CPUs:      %d", vm->num_vcpus);
        if (vm->cores_per_socket > 0)
            ova_buf_printf(&b, " (%d cores per socket)", vm->cores_per_socket);
        ova_buf_printf(&b, "\nMemory:    %llu MiB\n", (unsigned long long)vm->memory_mb);
        ova_buf_printf(&b, "Firmware:  %s%s\n", vm->efi ? "EFI" : "BIOS", vm->secure_boot ? ", secure boot" : "");
        ova_buf_printf(&b, "Hardware:  vmx-%02d\n", vm->hw_version);
        if (vm->annotation != NULL && vm->annotation[0] != '\0') {
            /* one output line per annotation line, so a multi-line note reads as written */
            ova_buf_puts(&b, "Notes:     ");
            for (const char *l = vm->annotation; l != NULL;) {
                const char *nl = strchr(l, '\n');
                size_t ll = nl ? (size_t)(nl - l) : strlen(l);
                if (ll > 0 && l[ll - 1] == '\r')
                    ll--; /* a note typed on Windows: CRLF (|0D|0A) */
                char *line = strndup(l, ll);
                if (line == NULL)
                    b.failed = true;
                else
                    cli_buf_text(&b, line);
                free(line);
                ova_buf_puts(&b, "\n");
                l = nl ? nl + 1 : NULL;
                if (l != NULL)
                    ova_buf_puts(&b, "           ");
            }
        }
        if (vm->encryption == OVA_ENC_PARTIAL)
            ova_buf_puts(&b, "Encrypted: partially (the VM's secrets only; hardware and disks in clear, exported)\n");
        if (vm->vtpm)
            ova_buf_puts(&b, "vTPM:      present; not part of the OVA (nor its secrets)\n");
        if (running)
            ova_buf_puts(&b, "State:     running or not cleanly shut down (.lck folders present)\n");
        k = 0;
        for (size_t i = 0; i < vm->n_devices; i++) {
            const ova_device *d = &vm->devices[i];
            if (d->kind == OVA_DEV_CDROM) {
                ova_buf_puts(&b, "CD-ROM ");
                cli_buf_text(&b, d->key_prefix);
                ova_buf_puts(&b, ": exported as an empty drive");
                if (d->file_name) {
                    ova_buf_puts(&b, ", was ");
                    cli_buf_text(&b, d->file_name);
                }
                ova_buf_printf(&b, "\n           %s, %s\n", cdrom_kind_text(d->cdrom),
                               d->start_connected ? "connected at start" : "not connected at start");
                continue;
            }
            const ova_prepared_disk *pd = &prep->disks[k++];
            const ova_disk_info *di = pd->info;
            char h1[32], h2[32];
            ova_buf_printf(&b, "Disk %zu:    ", k);
            cli_buf_text(&b, d->key_prefix);
            ova_buf_printf(&b, " (%s %d, unit %d), ", controller_model(pd), d->ctrl_index, d->unit);
            cli_buf_text(&b, di->create_type);
            ova_buf_printf(&b, ", %s, %s allocated", human(di->capacity, h1), human(di->allocated, h2));
            if (di->chain_depth > 0)
                ova_buf_printf(&b, ", %d snapshot level(s) (flattened on export)", di->chain_depth);
            ova_buf_puts(&b, "\n           ");
            cli_buf_text(&b, di->path);
            ova_buf_puts(&b, "\n           fileName \"");
            cli_buf_text(&b, d->file_name);
            ova_buf_puts(&b, "\"");
            if (d->foreign_path)
                ova_buf_puts(&b, " (a path on another host: the file beside the VMX is used)");
            ova_buf_puts(&b, ", mode ");
            cli_buf_text(&b, disk_mode(d));
            ova_buf_putc(&b, '\n');
        }
        for (size_t i = 0; i < vm->n_nics; i++) {
            ova_buf_printf(&b, "NIC %d:     %s on \"", vm->nics[i].index, ova_nic_model_name(vm->nics[i].model));
            cli_buf_text(&b, vm->nics[i].network);
            ova_buf_printf(&b, "\"%s\n", vm->nics[i].start_connected ? "" : " (not connected at start)");
            ova_buf_puts(&b, "           MAC ");
            if (vm->nics[i].mac != NULL)
                cli_buf_text(&b, vm->nics[i].mac);
            else
                ova_buf_puts(&b, "not assigned yet");
            ova_buf_puts(&b, " (");
            cli_buf_text(&b, vm->nics[i].address_type);
            ova_buf_puts(&b, "; the OVF carries no MAC)\n");
        }
        if (n_opt > 0) {
            ova_buf_puts(&b, "Optional:  ");
            for (size_t i = 0; i < n_opt; i++) {
                ova_buf_puts(&b, i ? ", " : "");
                ova_buf_puts(&b, opt[i].label);
                if (strcmp(opt[i].name, "sound") == 0) { /* its model, and whether the OVF has a type for it */
                    ova_buf_puts(&b, " (");
                    cli_buf_text(&b, vm->sound);
                    ova_buf_puts(&b, opt[i].subtype != NULL ? ")" : ": left out, the OVF has no type for it)");
                }
            }
            ova_buf_puts(&b, "\n");
        }
        for (size_t i = 0; i < vm->n_left_out; i++) {
            const ova_left_out *l = &vm->left_out[i];
            ova_buf_puts(&b, "Left out:  ");
            cli_buf_text(&b, l->key_prefix);
            ova_buf_puts(&b, " (deviceType ");
            cli_buf_text(&b, l->device_type);
            if (l->file_name != NULL) {
                ova_buf_puts(&b, ", ");
                cli_buf_text(&b, l->file_name);
            }
            ova_buf_puts(&b, "): a passthrough device, not a disk\n");
        }
    }
    if (ova_buf_failed(&b)) {
        cli_error("out of memory");
        rc = EXIT_FAIL;
    } else {
        fputs(b.data, stdout);
    }
    ova_buf_free(&b);
    ova_prepared_free(&prep);
    return rc;
}
