/* ovf_read.c - reads an OVF descriptor back into the VM model (import): the
 * envelope in either OVF namespace, References, DiskSection and the first
 * VirtualSystem's name, operating system and annotation; the hardware Items
 * are ovf_read_items.c's. The mapping is the inverse of ovf.c's (docs/ovf.md),
 * so an OVF that export wrote gives back the model it was written from.
 *
 * The descriptor is hostile input: its size and its lists are bounded
 * (import.h), a DOCTYPE is refused (no entity may be expanded or fetched),
 * and every error names the OVF, the line and the element.
 */
#include "format/ovf_read.h"
#include "format/ovf_units.h"
#include "ovatool/limits.h"
#include "ovatool/ovf.h"
#include "util/grow.h"
#include "util/io.h"

#include <libxml/parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An href is a member of the OVA or a file beside the .ovf: nothing that
 * leads elsewhere (a URL, an absolute path, a parent folder). */
static bool href_is_local(const char *h)
{
    if (h[0] == '\0' || h[0] == '/' || strstr(h, "://") != NULL || strchr(h, '\\') != NULL)
        return false;
    for (const char *p = h; p != NULL; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
            return false;
    }
    return true;
}

static ova_status read_file(ova_rd *r, const xmlNode *f)
{
    ova_import_desc *d = r->d;
    if (d->n_files >= OVA_IMPORT_MAX_FILES)
        return ova_rd_fail(r, OVA_E_UNSUPPORTED, f, "more than %u files", OVA_IMPORT_MAX_FILES);
    ova_import_file *g = ova_grow(d->files, &r->cap_files, d->n_files + 1, sizeof *g);
    if (g == NULL)
        return ova_rd_nomem(r);
    d->files = g;
    ova_import_file *file = &d->files[d->n_files++];
    *file = (ova_import_file){ 0 };
    bool oom = false;
    char q[512];
    char *size = ova_rd_attr(f, "size", false, &oom), *chunk = ova_rd_attr(f, "chunkSize", false, &oom);
    char *comp = ova_rd_attr(f, "compression", false, &oom);
    file->id = ova_rd_attr(f, "id", false, &oom);
    file->href = ova_rd_attr(f, "href", false, &oom);
    ova_status st = OVA_OK;
    if (oom)
        st = ova_rd_nomem(r);
    else if (file->id == NULL || file->href == NULL)
        st = ova_rd_fail(r, OVA_E_FORMAT, f, "no ovf:%s", file->id == NULL ? "id" : "href");
    else if (!href_is_local(file->href))
        st = ova_rd_fail(r, OVA_E_UNSUPPORTED, f, "ovf:href \"%s\" is not a file of the OVA", QUOTED(q, file->href));
    else if (size != NULL && !ova_ovf_parse_u64(size, &file->size))
        st = ova_rd_fail(r, OVA_E_FORMAT, f, "ovf:size \"%s\" is not a number", QUOTED(q, size));
    else if (chunk != NULL && (!ova_ovf_parse_u64(chunk, &file->chunk_size) || file->chunk_size == 0))
        st = ova_rd_fail(r, OVA_E_FORMAT, f, "ovf:chunkSize \"%s\" is not a positive number", QUOTED(q, chunk));
    else if (comp != NULL && strcmp(comp, "gzip") != 0 && strcmp(comp, "identity") != 0)
        st = ova_rd_fail(r, OVA_E_UNSUPPORTED, f, "ovf:compression \"%s\" (only gzip is known)", QUOTED(q, comp));
    file->gzip = comp != NULL && strcmp(comp, "gzip") == 0;
    for (size_t i = 0; st == OVA_OK && i + 1 < d->n_files; i++)
        if (strcmp(d->files[i].id, file->id) == 0)
            st = ova_rd_fail(r, OVA_E_FORMAT, f, "ovf:id \"%s\" is given twice", QUOTED(q, file->id));
    free(size);
    free(chunk);
    free(comp);
    return st;
}

static ova_status read_disk(ova_rd *r, const xmlNode *x)
{
    ova_import_desc *d = r->d;
    if (d->n_disks >= OVA_IMPORT_MAX_DISKS)
        return ova_rd_fail(r, OVA_E_UNSUPPORTED, x, "more than %u disks", OVA_IMPORT_MAX_DISKS);
    ova_import_disk *g = ova_grow(d->disks, &r->cap_disks, d->n_disks + 1, sizeof *g);
    if (g == NULL)
        return ova_rd_nomem(r);
    d->disks = g;
    ova_import_disk *disk = &d->disks[d->n_disks++];
    *disk = (ova_import_disk){ .file = SIZE_MAX };
    bool oom = false;
    char q[512];
    char *ref = ova_rd_attr(x, "fileRef", false, &oom), *cap = ova_rd_attr(x, "capacity", false, &oom);
    char *units = ova_rd_attr(x, "capacityAllocationUnits", false, &oom);
    char *pop = ova_rd_attr(x, "populatedSize", false, &oom);
    disk->disk_id = ova_rd_attr(x, "diskId", false, &oom);
    disk->format = ova_rd_attr(x, "format", false, &oom);
    uint64_t c = 0, mult = 1;
    ova_status st = OVA_OK;
    if (oom)
        st = ova_rd_nomem(r);
    else if (disk->disk_id == NULL || cap == NULL)
        st = ova_rd_fail(r, OVA_E_FORMAT, x, "no ovf:%s", disk->disk_id == NULL ? "diskId" : "capacity");
    else if (!ova_ovf_parse_u64(cap, &c))
        st = ova_rd_fail(r, cap[0] == '$' ? OVA_E_UNSUPPORTED : OVA_E_FORMAT, x,
                         "ovf:capacity \"%s\" is not a number", QUOTED(q, cap));
    else if (!ova_rd_units(units, 1, &mult))
        st = ova_rd_fail(r, OVA_E_FORMAT, x, "ovf:capacityAllocationUnits \"%s\" is not a unit of bytes",
                         QUOTED(q, units));
    else if (c == 0 || c > OVA_MAX_CAPACITY / mult)
        st = ova_rd_fail(r, OVA_E_UNSUPPORTED, x,
                         "capacity %s x %llu bytes is %s (the limit is " OVA_MAX_CAPACITY_TEXT ")",
                         cap, (unsigned long long)mult, c == 0 ? "empty" : "too large");
    else if (pop != NULL && !ova_ovf_parse_u64(pop, &disk->populated_size))
        st = ova_rd_fail(r, OVA_E_FORMAT, x, "ovf:populatedSize \"%s\" is not a number", QUOTED(q, pop));
    disk->capacity = c * mult;
    for (size_t i = 0; st == OVA_OK && ref != NULL && i < d->n_files && disk->file == SIZE_MAX; i++)
        if (strcmp(d->files[i].id, ref) == 0)
            disk->file = i;
    if (st == OVA_OK && ref != NULL && disk->file == SIZE_MAX)
        st = ova_rd_fail(r, OVA_E_FORMAT, x, "ovf:fileRef \"%s\" names no References/File", QUOTED(q, ref));
    for (size_t i = 0; st == OVA_OK && i + 1 < d->n_disks; i++) {
        if (strcmp(d->disks[i].disk_id, disk->disk_id) == 0)
            st = ova_rd_fail(r, OVA_E_FORMAT, x, "ovf:diskId \"%s\" is given twice", QUOTED(q, disk->disk_id));
        else if (disk->file != SIZE_MAX && d->disks[i].file == disk->file)
            st = ova_rd_fail(r, OVA_E_FORMAT, x, "file \"%s\" is the content of two disks", QUOTED(q, ref));
    }
    free(ref);
    free(cap);
    free(units);
    free(pop);
    return st;
}

/* References first: a Disk's fileRef names a File. */
static ova_status read_envelope_lists(ova_rd *r, const xmlNode *root)
{
    ova_status st = OVA_OK;
    for (const xmlNode *s = root->children; s != NULL && st == OVA_OK; s = s->next)
        if (ova_rd_is_ovf(s, "References"))
            for (const xmlNode *f = s->children; f != NULL && st == OVA_OK; f = f->next)
                if (ova_rd_is_ovf(f, "File"))
                    st = read_file(r, f);
    for (const xmlNode *s = root->children; s != NULL && st == OVA_OK; s = s->next)
        if (ova_rd_is_ovf(s, "DiskSection"))
            for (const xmlNode *x = s->children; x != NULL && st == OVA_OK; x = x->next)
                if (ova_rd_is_ovf(x, "Disk"))
                    st = read_disk(r, x);
    return st;
}

static ova_status set_str(ova_rd *r, char **dst, const char *s)
{
    if ((*dst = strdup(s)) == NULL)
        return ova_rd_nomem(r);
    return OVA_OK;
}

/* guestOS: the key whose vmw:osType (or, from producers that write none,
 * CIM id) the section names; "other" with a warning when none has it. */
static ova_status read_os(ova_rd *r, const xmlNode *os)
{
    ova_vm *vm = &r->d->vm;
    if (os == NULL)
        return set_str(r, &vm->guest_os, "other");
    bool oom = false;
    char *vim = ova_rd_attr(os, "osType", true, &oom), *id = ova_rd_attr(os, "id", false, &oom);
    const xmlNode *dn = ova_rd_child(os, "Description");
    char *desc = dn != NULL ? ova_rd_text(dn, false) : NULL;
    uint64_t cim = 0;
    bool have_cim = id != NULL && ova_ovf_parse_u64(id, &cim) && cim <= INT_MAX;
    ova_status st = OVA_OK;
    if (oom || (dn != NULL && desc == NULL)) {
        st = ova_rd_nomem(r);
    } else {
        const char *key = ova_guest_vmx_key(vim, have_cim ? (int)cim : -1, desc);
        if (key == NULL && vim != NULL) /* an osType newer than the table: the CIM id may still say */
            key = ova_guest_vmx_key(NULL, have_cim ? (int)cim : -1, desc);
        if (key == NULL) {
            char q[512];
            key = "other";
            st = ova_rd_warn(r, "the guest operating system (%s \"%s\") has no VMware name; imported as \"other\"",
                             vim != NULL ? "vmw:osType" : "ovf:id", QUOTED(q, vim != NULL ? vim : id ? id : ""));
        }
        if (st == OVA_OK)
            st = set_str(r, &vm->guest_os, key);
        for (char *p = vm->guest_os; st == OVA_OK && *p; p++) /* vm.h: lower-cased, as vm.c keeps it */
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    free(vim);
    free(id);
    free(desc);
    return st;
}

static ova_status read_system(ova_rd *r, const xmlNode *vs)
{
    ova_vm *vm = &r->d->vm;
    const xmlNode *name = NULL, *os = NULL, *vhs = NULL, *ann = NULL;
    for (const xmlNode *c = vs->children; c != NULL; c = c->next) {
        if (name == NULL && ova_rd_is_ovf(c, "Name"))
            name = c;
        else if (os == NULL && ova_rd_is_ovf(c, "OperatingSystemSection"))
            os = c;
        else if (vhs == NULL && ova_rd_is_ovf(c, "VirtualHardwareSection"))
            vhs = c;
        else if (ann == NULL && ova_rd_is_ovf(c, "AnnotationSection"))
            ann = c;
    }
    if (vhs == NULL)
        return ova_rd_fail(r, OVA_E_FORMAT, vs, "no VirtualHardwareSection");

    ova_status st = OVA_OK;
    if (name != NULL && (vm->display_name = ova_rd_text(name, false)) == NULL)
        return ova_rd_nomem(r);
    if (vm->display_name == NULL || vm->display_name[0] == '\0') {
        free(vm->display_name);
        bool oom = false;
        vm->display_name = ova_rd_attr(vs, "id", false, &oom);
        if (oom)
            return ova_rd_nomem(r);
        if (vm->display_name == NULL && (st = set_str(r, &vm->display_name, "vm")) != OVA_OK)
            return st;
    }
    if ((st = read_os(r, os)) != OVA_OK)
        return st;
    const xmlNode *at = ann != NULL ? ova_rd_child(ann, "Annotation") : NULL;
    if (at != NULL && (vm->annotation = ova_rd_text(at, false)) == NULL)
        return ova_rd_nomem(r);
    if (vm->annotation != NULL && vm->annotation[0] == '\0') {
        free(vm->annotation);
        vm->annotation = NULL;
    }
    return ova_rd_items(r, vhs);
}

/* The VirtualSystem to import: the Envelope's own, or a refusal naming the
 * collection (a vApp of several VMs is several Workstation VMs). */
static ova_status find_system(ova_rd *r, const xmlNode *root, const xmlNode **vs)
{
    *vs = NULL;
    for (const xmlNode *c = root->children; c != NULL; c = c->next) {
        if (ova_rd_is_ovf(c, "VirtualSystem")) {
            *vs = c;
            return OVA_OK;
        }
        if (ova_rd_is_ovf(c, "VirtualSystemCollection"))
            return ova_rd_fail(r, OVA_E_UNSUPPORTED, c,
                               "a collection of virtual systems (a vApp) cannot be imported as one VM");
    }
    return ova_rd_fail(r, OVA_E_FORMAT, root, "no VirtualSystem");
}

static ova_status parse_doc(ova_rd *r, xmlDocPtr doc)
{
    if (doc->intSubset != NULL || doc->extSubset != NULL)
        return ova_rd_fail(r, OVA_E_FORMAT, NULL, "a DOCTYPE is not allowed in an OVF descriptor");
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (root == NULL || !ova_rd_is_ovf(root, "Envelope"))
        return ova_rd_fail(r, OVA_E_FORMAT, root,
                           "the root element is not an OVF Envelope (namespace " OVA_OVF1_NS " or " OVA_OVF2_NS ")");
    const xmlNode *vs = NULL;
    ova_status st = find_system(r, root, &vs);
    if (st == OVA_OK)
        st = read_envelope_lists(r, root);
    if (st == OVA_OK)
        st = read_system(r, vs);
    return st;
}

ova_status ova_import_desc_parse(const char *xml, size_t len, const char *name, ova_import_desc **out,
                                 ova_err *err)
{
    *out = NULL;
    /* a member name comes from the archive: quoted, it cannot drive the terminal a message goes to */
    char qname[512];
    name = ova_quote_text(qname, sizeof qname, name != NULL ? name : "<ovf>", 200);
    if (xml == NULL)
        return ova_err_set(err, OVA_E_USAGE, "%s: no descriptor text", name);
    if (len > OVA_IMPORT_MAX_OVF_BYTES)
        return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: descriptor of %zu bytes is larger than the limit of %zu bytes",
                           name, len, (size_t)OVA_IMPORT_MAX_OVF_BYTES);
    ova_import_desc *d = calloc(1, sizeof *d);
    if (d == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory reading the OVF descriptor", name);
    ova_rd r = { .name = name, .d = d, .err = err };
    ova_status st = set_str(&r, &d->vm.vmx_path, name);
    if (st != OVA_OK) {
        ova_import_desc_free(&d);
        return st;
    }

    xmlInitParser();
    /* no network, no entity substitution, no libxml2 chatter on stderr */
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, name, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        const xmlError *e = xmlGetLastError();
        char raw[256], msg[1024];
        snprintf(raw, sizeof raw, "%s", e != NULL && e->message != NULL ? e->message : "(no message)");
        raw[strcspn(raw, "\n")] = '\0';
        ova_quote_text(msg, sizeof msg, raw, sizeof raw); /* libxml2 quotes the input in its messages */
        st = ova_err_set(err, OVA_E_FORMAT, "%s: line %d: not well-formed XML: %s", name, e != NULL ? e->line : 0,
                         msg);
    } else {
        st = parse_doc(&r, doc);
        xmlFreeDoc(doc);
    }
    if (st != OVA_OK) {
        ova_import_desc_free(&d);
        return st;
    }
    *out = d;
    return OVA_OK;
}

ova_status ova_import_name_disk(ova_import_desc *d, size_t device, const char *file_name, ova_err *err)
{
    if (d == NULL || file_name == NULL || device >= d->vm.n_devices || d->vm.devices[device].kind != OVA_DEV_DISK)
        return ova_err_set(err, OVA_E_USAGE, "ova_import_name_disk: device %zu is not a disk of the VM", device);
    ova_device *dev = &d->vm.devices[device];
    char *a = strdup(file_name), *b = strdup(file_name);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", d->vm.vmx_path);
    }
    free(dev->file_name);
    free(dev->path);
    dev->file_name = a;
    dev->path = b;
    return OVA_OK;
}

void ova_import_desc_free(ova_import_desc **dp)
{
    if (dp == NULL || *dp == NULL)
        return;
    ova_import_desc *d = *dp;
    ova_vm_clear(&d->vm);
    free(d->device_disk);
    for (size_t i = 0; i < d->n_files; i++) {
        free(d->files[i].id);
        free(d->files[i].href);
    }
    free(d->files);
    for (size_t i = 0; i < d->n_disks; i++) {
        free(d->disks[i].disk_id);
        free(d->disks[i].format);
    }
    free(d->disks);
    for (size_t i = 0; i < d->n_warnings; i++)
        free(d->warnings[i]);
    free(d->warnings);
    free(d);
    *dp = NULL;
}
