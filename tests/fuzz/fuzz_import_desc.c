/* fuzz_import_desc.c - reading an OVF descriptor back into the VM model for
 * `ovatool import` (import.h: ova_import_desc_parse), then writing the VMX
 * (ova_vmx_write).
 *
 * The input is the .ovf. Contracts checked: a refusal has a message that
 * names the OVF ("fuzz.ovf: ...") and holds no control characters, nor does
 * any warning; a descriptor that is accepted gives a model whose every
 * index is in range (device_disk into disks, a disk's file into files) and
 * whose VMX, once the disks are named, is written and reads back through
 * ova_vmx_parse and ova_vm_from_vmx to as many devices and NICs. The seeds
 * (make_corpus.sh) are OVFs ovatool wrote for fuzz.ova exports. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ovatool/import.h"
#include "ovatool/vm.h"
#include "ovatool/vmx.h"

static void check_text(const char *what, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            fuzz_fail("%s holds control character 0x%02x: %s", what, *p, s);
}

static void check_model(const ova_import_desc *d)
{
    const ova_vm *vm = &d->vm;
    for (size_t i = 0; i < d->n_disks; i++)
        if (d->disks[i].file != SIZE_MAX && d->disks[i].file >= d->n_files)
            fuzz_fail("disk %zu names file %zu of %zu", i, d->disks[i].file, d->n_files);
    for (size_t i = 0; i < vm->n_devices; i++) {
        bool disk = vm->devices[i].kind == OVA_DEV_DISK;
        if (disk != (d->device_disk[i] != SIZE_MAX) || (disk && d->device_disk[i] >= d->n_disks))
            fuzz_fail("device %zu (%s) has disk index %zu of %zu", i, vm->devices[i].key_prefix, d->device_disk[i],
                      d->n_disks);
    }
    for (size_t i = 0; i < d->n_warnings; i++) {
        if (strncmp(d->warnings[i], "fuzz.ovf: ", 10) != 0)
            fuzz_fail("warning does not name the OVF: %s", d->warnings[i]);
        check_text("warning", d->warnings[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ova_err err = { 0 };
    ova_import_desc *d = NULL;
    ova_status st = ova_import_desc_parse((const char *)data, size, "fuzz.ovf", &d, &err);
    if (st != OVA_OK) {
        if (d != NULL || strncmp(err.msg, "fuzz.ovf: ", 10) != 0)
            fuzz_fail("refusal (%d) without the OVF's name, or with a model: %s", (int)st, err.msg);
        check_text("error", err.msg);
        return 0;
    }
    check_model(d);
    for (size_t i = 0; i < d->vm.n_devices; i++) {
        char name[32];
        snprintf(name, sizeof name, "fuzz-%zu.vmdk", i);
        if (d->vm.devices[i].kind == OVA_DEV_DISK && ova_import_name_disk(d, i, name, &err) != OVA_OK)
            fuzz_fail("ova_import_name_disk: %s", err.msg);
    }
    ova_buf b = OVA_BUF_INIT;
    if (ova_vmx_write(&d->vm, &b, &err) != OVA_OK)
        fuzz_fail("the imported model cannot be written: %s", err.msg);
    ova_vmx *vmx = NULL;
    ova_vm *vm = NULL;
    if (ova_vmx_parse(b.data, b.len, "fuzz.vmx", &vmx, &err) != OVA_OK ||
        ova_vm_from_vmx(vmx, "fuzz.vmx", &vm, &err) != OVA_OK)
        fuzz_fail("the written VMX does not read back: %s\n%s", err.msg, b.data);
    if (vm->n_devices != d->vm.n_devices || vm->n_nics != d->vm.n_nics || vm->n_controllers != d->vm.n_controllers)
        fuzz_fail("the written VMX reads back with other devices:\n%s", b.data);
    ova_vm_free(&vm);
    ova_vmx_free(&vmx);
    ova_buf_free(&b);
    ova_import_desc_free(&d);
    return 0;
}
