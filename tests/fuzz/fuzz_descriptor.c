/* fuzz_descriptor.c - the VMDK text descriptor parser (descriptor.h).
 *
 * Contracts checked: a parsed descriptor has a createType and at least one
 * extent, and every extent the disk readers open has a file name; every ddb
 * key is found again; a NUL byte ends the text (the prefix before it
 * parses the same way). */
#include <string.h>

#include "fuzz.h"
#include "ovatool/descriptor.h"

static ova_status parse(const uint8_t *data, size_t size, int check)
{
    ova_descriptor *d = NULL;
    ova_err err = { 0 };
    ova_status st = ova_descriptor_parse((const char *)data, size, "fuzz.vmdk", &d, &err);
    if (st != OVA_OK) {
        if (d != NULL)
            fuzz_fail("ova_descriptor_parse failed but returned a descriptor");
        if (err.msg[0] == '\0')
            fuzz_fail("ova_descriptor_parse failed without a message");
        return st;
    }
    if (!check) {
        ova_descriptor_free(&d);
        return st;
    }
    if (d->create_type == NULL || d->n_extents == 0 || d->extents == NULL)
        fuzz_fail("parsed descriptor without createType or extents");
    for (size_t i = 0; i < d->n_extents; i++) {
        const ova_extent_desc *x = &d->extents[i];
        if (x->type != OVA_EXTENT_ZERO && x->type != OVA_EXTENT_OTHER && x->file_name == NULL)
            fuzz_fail("extent %zu (%s) has no file name", i + 1, x->type_name ? x->type_name : "?");
    }
    for (size_t i = 0; i < d->n_ddb; i++)
        if (d->ddb[i].key == NULL || d->ddb[i].value == NULL || ova_descriptor_ddb(d, d->ddb[i].key) == NULL)
            fuzz_fail("ddb entry %zu is not found again", i);
    (void)ova_descriptor_sectors(d);
    (void)ova_descriptor_ddb(d, "ddb.adapterType");
    ova_descriptor_free(&d);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ova_status st = parse(data, size, 1);
    const uint8_t *nul = memchr(data, '\0', size);
    if (nul != NULL) {
        ova_status st2 = parse(data, (size_t)(nul - data), 0);
        if (st2 != st)
            fuzz_fail("the text up to its NUL byte parses differently (%d) from the whole (%d)", (int)st2, (int)st);
    }
    return 0;
}
