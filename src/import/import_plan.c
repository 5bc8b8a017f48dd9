/* import_plan.c - before any data: the OVF read into the VM model, the
 * disks named and matched to their files, the output folder and names
 * checked (import_ctx.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import/import_ctx.h"
#include "import/import_tmp.h"
#include "util/io.h"

#define ULL(x) ((unsigned long long)(x))

void ova_imp_log(const imp_ctx *c, int warning, const char *fmt, ...)
{
    if (c->o->log == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->o->log(c->o->log_ctx, warning, line);
}

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] != '/' ? "/" : "", name);
    return s;
}

ova_status ova_imp_read_ovf(imp_ctx *c, ova_err *err)
{
    const ova_in_member *m = &c->in.m[c->in.ovf];
    if (m->size > OVA_IMPORT_MAX_OVF_BYTES)
        return ova_err_set(err, OVA_E_FORMAT, "%s: OVF descriptor of %llu bytes is larger than the limit of %zu",
                           m->name, ULL(m->size), (size_t)OVA_IMPORT_MAX_OVF_BYTES);
    char *xml = malloc((size_t)m->size + 1);
    if (xml == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", m->name);
    ova_status st = ova_pread_exact(m->fd, xml, (size_t)m->size, m->off, m->name, "the OVF descriptor", err);
    if (st == OVA_OK) {
        xml[m->size] = '\0';
        st = ova_import_desc_parse(xml, (size_t)m->size, m->name, &c->desc, err);
    }
    free(xml);
    return st;
}

ova_status ova_imp_open_reader(imp_ctx *c, imp_disk *x, ova_member_tap tap, void *tap_ctx, ova_member_reader **r,
                               ova_err *err)
{
    if (c->in.is_ova)
        return ova_member_reader_open(c->in.fd, c->in.vm, c->in.nv, &x->file, tap, tap_ctx, r, err);
    return ova_member_reader_open(c->in.m[x->member].fd, &x->one, 1, &x->file, tap, tap_ctx, r, err);
}

/* A chunked or gzip file: its members found and checked now (a chunk
 * missing or of the wrong size is named before anything is written), and
 * marked as parts, which the read takes in order through the reader. */
static ova_status plan_carried(imp_ctx *c, imp_disk *x, const ova_import_file *f, size_t *mi, ova_err *err)
{
    x->carried = true;
    x->file = (ova_ovf_file){ f->href, f->chunk_size, f->gzip };
    x->whole = -1;
    ova_status st;
    if (!c->in.is_ova) {
        /* beside an .ovf a chunk is a file of its own, which the reader
         * (one descriptor) does not take */
        if (f->chunk_size != 0)
            return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: split into chunks of %llu bytes (ovf:chunkSize): "
                               "imported from an OVA only, not from files beside an .ovf", f->href,
                               ULL(f->chunk_size));
        if ((st = ova_input_file(&c->in, f->href, mi, err)) != OVA_OK)
            return st;
        x->member = (ssize_t)*mi;
        snprintf(x->one.name, sizeof x->one.name, "%s", f->href);
        x->one.size = c->in.m[*mi].size;
    }
    ova_member_reader *r = NULL;
    if ((st = ova_imp_open_reader(c, x, NULL, NULL, &r, err)) != OVA_OK)
        return st;
    const size_t *parts;
    size_t np = ova_member_reader_parts(r, &parts);
    for (size_t k = 0; k < np; k++) {
        size_t i = c->in.is_ova ? parts[k] : *mi;
        for (size_t j = 0; j < c->n_disks; j++)
            if (c->in.m[i].part || (&c->disks[j] != x && c->disks[j].member == (ssize_t)i)) {
                ova_member_reader_close(&r);
                return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: the file is the disk of two devices", c->in.m[i].name);
            }
        c->in.m[i].part = true;
        c->in.m[i].part_disk = (size_t)(x - c->disks);
    }
    *mi = c->in.is_ova ? parts[0] : *mi;
    ova_member_reader_close(&r);
    size_t w;
    if (f->chunk_size != 0 && (st = ova_input_add_whole(&c->in, f->href, &w, err)) != OVA_OK)
        return st;
    if (f->chunk_size != 0)
        x->whole = (ssize_t)w;
    return OVA_OK;
}

/* NAME-disk1, NAME-disk2, ... as export names the members of NAME.ova. */
ova_status ova_imp_plan_disks(imp_ctx *c, ova_err *err)
{
    ova_import_desc *d = c->desc;
    c->disks = calloc(d->vm.n_devices ? d->vm.n_devices : 1, sizeof *c->disks);
    if (c->disks == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    for (size_t i = 0; i < d->vm.n_devices; i++) {
        size_t k = d->device_disk[i];
        if (k == SIZE_MAX)
            continue;
        imp_disk *x = &c->disks[c->n_disks++];
        x->disk = k;
        x->device = i;
        x->member = -1;
        x->capacity = d->disks[k].capacity;
        snprintf(x->base, sizeof x->base, "%s-disk%zu", c->name, c->n_disks);
        char file[160];
        snprintf(file, sizeof file, "%s.vmdk", x->base);
        ova_status st = ova_import_name_disk(d, i, file, err);
        if (st != OVA_OK)
            return st;
        if (d->disks[k].file == SIZE_MAX)
            continue; /* a blank disk */
        const ova_import_file *f = &d->files[d->disks[k].file];
        size_t mi;
        if (f->chunk_size != 0 || f->gzip) {
            if ((st = plan_carried(c, x, f, &mi, err)) != OVA_OK)
                return st;
        } else if ((st = ova_input_file(&c->in, f->href, &mi, err)) != OVA_OK) {
            return st;
        }
        for (size_t j = 0; j + 1 < c->n_disks; j++)
            if (c->disks[j].member == (ssize_t)mi || (!x->carried && c->in.m[mi].part))
                return ova_err_set(err, OVA_E_UNSUPPORTED, "%s: the file is the disk of two devices", f->href);
        x->member = (ssize_t)mi;
    }
    return OVA_OK;
}

/* Every file import would write; an existing one is refused without
 * overwrite. The dry run reports them. */
ova_status ova_imp_check_targets(imp_ctx *c, ova_import_result *r, ova_err *err)
{
    struct stat sb;
    const char *dir = c->o->out_dir;
    if (stat(dir, &sb) != 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: no such folder (the folder of -o)", dir);
    if (!S_ISDIR(sb.st_mode))
        return ova_err_set(err, OVA_E_USAGE, "%s: not a folder: import writes NAME.vmx and its disks into a folder",
                           dir);
    if (access(dir, W_OK | X_OK) != 0)
        return ova_err_errno(err, OVA_E_IO, errno, "%s: not writable", dir);
    char vmx[100];
    snprintf(vmx, sizeof vmx, "%s.vmx", c->name);
    if ((c->vmx_final = path_in(dir, vmx)) == NULL || (r->vm_name = strdup(c->name)) == NULL ||
        (r->vmx_path = strdup(c->vmx_final)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    char tmp[160];
    snprintf(tmp, sizeof tmp, ".%s%s", vmx, ova_import_tmp_tag());
    if ((c->vmx_tmp = path_in(dir, tmp)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    if (!c->o->overwrite && lstat(c->vmx_final, &sb) == 0)
        return ova_err_set(err, OVA_E_USAGE, "%s exists; use --overwrite to replace it", c->vmx_final);
    if ((r->disks = calloc(c->n_disks ? c->n_disks : 1, sizeof *r->disks)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    r->n_disks = c->n_disks;
    for (size_t i = 0; i < c->n_disks; i++) {
        imp_disk *x = &c->disks[i];
        ova_import_disk_result *dr = &r->disks[i];
        dr->capacity = x->capacity;
        if (x->member >= 0 && (dr->member = strdup(x->carried ? x->file.href : c->in.m[x->member].name)) == NULL)
            return ova_err_set(err, OVA_E_NOMEM, "out of memory");
        ova_status st = ova_disk_out_names(c->o->disk_format, dir, x->base, x->capacity, &dr->files, &dr->n_files,
                                           err);
        if (st != OVA_OK)
            return st;
        for (size_t f = 0; f < dr->n_files; f++)
            if (!c->o->overwrite && lstat(dr->files[f], &sb) == 0)
                return ova_err_set(err, OVA_E_USAGE, "%s exists; use --overwrite to replace it", dr->files[f]);
    }
    return OVA_OK;
}

