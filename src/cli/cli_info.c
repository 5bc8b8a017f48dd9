/* cli_info.c - `ovatool info VMX`: what an export would contain, without
 * reading any disk data (descriptors, headers and grain tables only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovatool/buf.h"
#include "ovatool/disk.h"
#include "ovatool/ovf.h"
#include "ovatool/prepare.h"
#include "ovatool/vm.h"

static const char *scsi_name(ova_scsi_model m)
{
    switch (m) {
    case OVA_SCSI_LSILOGIC: return "lsilogic";
    case OVA_SCSI_LSISAS: return "lsisas1068";
    case OVA_SCSI_PVSCSI: return "pvscsi";
    case OVA_SCSI_BUSLOGIC: return "buslogic";
    case OVA_SCSI_NONE: break;
    }
    return "";
}

static const char *nic_name(ova_nic_model m)
{
    switch (m) {
    case OVA_NIC_E1000: return "e1000";
    case OVA_NIC_E1000E: return "e1000e";
    case OVA_NIC_VMXNET3: return "vmxnet3";
    case OVA_NIC_VMXNET: return "vmxnet";
    case OVA_NIC_PCNET32: return "vlance";
    }
    return "";
}

static const char *controller_model(const ova_prepared_disk *pd)
{
    if (pd->device->bus != OVA_BUS_SCSI)
        return ova_bus_name(pd->device->bus);
    return pd->controller != NULL ? scsi_name(pd->controller->model) : "scsi";
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

static void jstr(ova_buf *b, const char *key, const char *v)
{
    ova_buf_printf(b, "\"%s\":", key);
    if (v == NULL) {
        ova_buf_puts(b, "null");
        return;
    }
    ova_buf_putc(b, '"');
    ova_buf_put_json(b, v);
    ova_buf_putc(b, '"');
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

int cli_info_cmd(int argc, char **argv)
{
    const char *vmx_path = NULL;
    int json = 0, confine = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--confine") == 0) {
            confine = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: ovatool info VMX [--json] [--confine]\n"
                   "Shows what 'ovatool export' would write: the VM's hardware, each disk with its\n"
                   "controller, bus:unit, type, capacity, allocated bytes and snapshot depth, the NICs.\n"
                   "Reads descriptors and grain tables only, never disk data. --confine refuses disk,\n"
                   "extent and parent files that resolve outside the VMX's folder (default: a warning each).\n");
            return EXIT_OK;
        } else if (vmx_path == NULL && argv[i][0] != '-') {
            vmx_path = argv[i];
        } else {
            fprintf(stderr, "ovatool info: unexpected argument '%s'; try 'ovatool info --help'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (vmx_path == NULL) {
        fprintf(stderr, "ovatool info: missing the VMX file; try 'ovatool info --help'\n");
        return EXIT_USAGE;
    }

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

    ova_buf b = OVA_BUF_INIT;
    if (json) {
        ova_buf_putc(&b, '{');
        jstr(&b, "vmx", vmx_path);
        ova_buf_putc(&b, ',');
        jstr(&b, "name", vm->display_name);
        ova_buf_putc(&b, ',');
        jstr(&b, "guest_os", vm->guest_os);
        ova_buf_putc(&b, ',');
        jstr(&b, "os_type", vim_id);
        ova_buf_printf(&b, ",\"cpus\":%d,\"cores_per_socket\":%d,\"memory_mb\":%llu,\"hw_version\":%d,",
                       vm->num_vcpus, vm->cores_per_socket, (unsigned long long)vm->memory_mb, vm->hw_version);
        jstr(&b, "firmware", vm->efi ? "efi" : "bios");
        ova_buf_printf(&b, ",\"secure_boot\":%s,\"running\":%s,\"disks\":[", vm->secure_boot ? "true" : "false",
                       running ? "true" : "false");
        k = 0;
        for (size_t i = 0; i < vm->n_devices; i++) {
            const ova_device *d = &vm->devices[i];
            if (d->kind != OVA_DEV_DISK)
                continue;
            const ova_prepared_disk *pd = &prep->disks[k++];
            const ova_disk_info *di = pd->info;
            ova_buf_puts(&b, k > 1 ? ",{" : "{");
            jstr(&b, "device", d->key_prefix);
            ova_buf_putc(&b, ',');
            jstr(&b, "controller", controller_model(pd));
            ova_buf_printf(&b, ",\"bus\":%d,\"unit\":%d,", d->ctrl_index, d->unit);
            jstr(&b, "path", di->path);
            ova_buf_putc(&b, ',');
            jstr(&b, "type", di->create_type);
            ova_buf_printf(&b, ",\"capacity\":%llu,\"allocated\":%llu,\"snapshot_depth\":%d}",
                           (unsigned long long)di->capacity, (unsigned long long)di->allocated, di->chain_depth);
        }
        ova_buf_puts(&b, "],\"cdroms\":[");
        int nc = 0;
        for (size_t i = 0; i < vm->n_devices; i++) {
            if (vm->devices[i].kind != OVA_DEV_CDROM)
                continue;
            ova_buf_puts(&b, nc++ ? ",{" : "{");
            jstr(&b, "device", vm->devices[i].key_prefix);
            ova_buf_putc(&b, ',');
            jstr(&b, "file", vm->devices[i].file_name);
            ova_buf_putc(&b, '}');
        }
        ova_buf_puts(&b, "],\"nics\":[");
        for (size_t i = 0; i < vm->n_nics; i++) {
            const ova_nic *n = &vm->nics[i];
            ova_buf_printf(&b, "%s{\"index\":%d,", i ? "," : "", n->index);
            jstr(&b, "model", nic_name(n->model));
            ova_buf_putc(&b, ',');
            jstr(&b, "network", n->network);
            ova_buf_printf(&b, ",\"connected\":%s}", n->start_connected ? "true" : "false");
        }
        ova_buf_puts(&b, "]}\n");
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
                ova_buf_putc(&b, '\n');
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
            ova_buf_putc(&b, '\n');
        }
        for (size_t i = 0; i < vm->n_nics; i++) {
            ova_buf_printf(&b, "NIC %d:     %s on \"", vm->nics[i].index, nic_name(vm->nics[i].model));
            cli_buf_text(&b, vm->nics[i].network);
            ova_buf_printf(&b, "\"%s\n", vm->nics[i].start_connected ? "" : " (not connected at start)");
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
