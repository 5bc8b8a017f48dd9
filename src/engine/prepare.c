/* prepare.c - the MPI-free step before an export (prepare.h): VMX, lock
 * folders, disks and chains, device pairing, member names, output path,
 * mtime, unit size. */
#include "ovatool/prepare.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"
#include "engine/ova_writer.h"
#include "engine/plan.h"
#include "engine/unit.h"

void ova_prepare_opts_init(ova_prepare_opts *o)
{
    memset(o, 0, sizeof *o);
    o->mtime = -1;
}

typedef struct prep_ctx {
    const ova_prepare_opts *opts;
    ova_prepared *p;
    int lock_warned;
} prep_ctx;

#define logf_(c, level, ...) ova_logf((c)->opts->log, (c)->opts->log_ctx, level, __VA_ARGS__)

/* A running (or crashed) VM keeps a lock folder "<file>.lck" beside its VMX
 * and each file of its disks. Exporting it would copy disks mid-write:
 * refuse, or with force warn (once) that the OVA may be inconsistent. info
 * only records it, to show the VM's state. */
static ova_status check_lock(prep_ctx *c, const char *path, ova_err *err)
{
    char lck[4096];
    struct stat sb;
    if (path == NULL || (size_t)snprintf(lck, sizeof lck, "%s.lck", path) >= sizeof lck || stat(lck, &sb) != 0)
        return OVA_OK;
    if (c->p->lock[0] == '\0')
        memcpy(c->p->lock, lck, strlen(lck) + 1);
    if (c->opts->inspect)
        return OVA_OK;
    if (!c->opts->force)
        return ova_err_set(err, OVA_E_UNSUPPORTED,
                           "%s exists: the VM appears to be running (or did not shut down cleanly); "
                           "power it off, or use --force to export anyway",
                           lck);
    if (!c->lock_warned++)
        logf_(c, 1, "%s exists: the VM may be running; exporting anyway (--force), the OVA may be inconsistent",
              lck);
    return OVA_OK;
}

static ova_status check_extent_locks(prep_ctx *c, const ova_extent *x, size_t n, ova_err *err)
{
    ova_status st = OVA_OK;
    for (size_t i = 0; st == OVA_OK && i < n; i++)
        st = check_lock(c, x[i].path, err); /* NULL for ZERO extents: nothing to lock */
    return st;
}

/* Every file of a described disk: its extents, then each parent's
 * descriptor and extents (the descriptor itself was checked before). */
static ova_status check_disk_locks(prep_ctx *c, const ova_disk_info *d, ova_err *err)
{
    ova_status st = check_extent_locks(c, d->extents, d->n_extents, err);
    for (int l = 0; st == OVA_OK && d->parents != NULL && l < d->chain_depth; l++) {
        st = check_lock(c, d->parents[l].path, err);
        if (st == OVA_OK)
            st = check_extent_locks(c, d->parents[l].extents, d->parents[l].n_extents, err);
    }
    return st;
}

/* The controller a device sits on, NULL if the VMX declares none. */
static const ova_controller *find_controller(const ova_vm *vm, const ova_device *dev)
{
    for (size_t i = 0; i < vm->n_controllers; i++)
        if (vm->controllers[i].bus == dev->bus && vm->controllers[i].index == dev->ctrl_index)
            return &vm->controllers[i];
    return NULL;
}

/* The stream VMDK's ddb.adapterType: a descriptor knows ide, lsilogic and
 * buslogic (and legacyESX); SATA, NVMe and the other SCSI models are
 * written as lsilogic, as VMware does. */
static const char *adapter_type(const ova_device *dev, const ova_controller *ctrl)
{
    if (dev->bus == OVA_BUS_IDE)
        return "ide";
    if (dev->bus == OVA_BUS_SCSI && ctrl != NULL && ctrl->model == OVA_SCSI_BUSLOGIC)
        return "buslogic";
    return "lsilogic";
}

/* -o FILE, or -o DIR: then the OVA is named after the VM, as ovftool does,
 * with the same sanitising as member names (no '/', no leading '.', no
 * control characters; "vm" when nothing is left). */
static ova_status output_path(const char *output, const ova_vm *vm, char *out, size_t n, ova_err *err)
{
    struct stat sb;
    int len;
    if (stat(output, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char base[81];
        ova_member_base(vm->display_name, base);
        size_t ol = strlen(output);
        len = snprintf(out, n, "%s%s%s.ova", output, ol > 0 && output[ol - 1] == '/' ? "" : "/", base);
    } else {
        len = snprintf(out, n, "%s", output);
    }
    if (len < 0 || (size_t)len >= n)
        return ova_err_set(err, OVA_E_USAGE, "%s: output path too long", output);
    return OVA_OK;
}

static int64_t vmx_mtime(const char *vmx_path)
{
    struct stat sb;
    if (stat(vmx_path, &sb) == 0)
        return (int64_t)sb.st_mtime;
    return 0;
}

/* Describe every disk device in VMX order, checking the locks of all its
 * files, and pair it with its device and controller. */
static ova_status describe_disks(prep_ctx *c, ova_err *err)
{
    ova_prepared *p = c->p;
    const ova_vm *vm = p->vm;
    for (size_t i = 0; i < vm->n_devices; i++) {
        const ova_device *dev = &vm->devices[i];
        if (dev->kind != OVA_DEV_DISK)
            continue;
        ova_prepared_disk *pd = &p->disks[p->n_disks];
        ova_describe_opts dopts = { vm->vmx_dir, c->opts->confine, c->opts->log, c->opts->log_ctx };
        ova_status st = ova_disk_describe_ex(dev->path, &dopts, &pd->info, err);
        if (st != OVA_OK)
            return st;
        p->n_disks++; /* owned from here, freed with p */
        if ((st = check_disk_locks(c, pd->info, err)) != OVA_OK)
            return st;
        if (!c->opts->inspect && pd->info->chain_depth > 0)
            logf_(c, 1, "%s: %d snapshot level(s) flattened: the OVA holds the VM's current state only",
                  dev->path, pd->info->chain_depth);
        pd->device = dev;
        pd->controller = find_controller(vm, dev);
        pd->adapter = adapter_type(dev, pd->controller);
    }
    return OVA_OK;
}

/* A disk path written for another host: a Windows or UNC path (the model
 * already took the base name beside the VMX), or an absolute path that does
 * not exist here (/vmfs/volumes/... of an ESXi host, the home folder of the
 * machine the VM was copied from) while a file of its base name lies beside
 * the VMX. The rule is VMware's own when it opens a copied VM; the warning
 * says which file stood in, since a stale copy beside the VMX would
 * otherwise be exported without a word. */
static ova_status resolve_foreign(prep_ctx *c, ova_device *dev, ova_err *err)
{
    const char *vmx_dir = c->p->vm->vmx_dir;
    if (dev->kind != OVA_DEV_DISK)
        return OVA_OK;
    if (!dev->foreign_path && dev->file_name[0] == '/') {
        struct stat sb;
        if (stat(dev->path, &sb) == 0 || (errno != ENOENT && errno != ENOTDIR))
            return OVA_OK; /* it exists here (or opening it will say what is wrong) */
        const char *base = strrchr(dev->file_name, '/') + 1;
        char *beside = NULL;
        if (*base == '\0')
            return OVA_OK;
        if (asprintf(&beside, "%s%s%s", strcmp(vmx_dir, ".") == 0 ? "" : vmx_dir,
                     strcmp(vmx_dir, ".") == 0 || strcmp(vmx_dir, "/") == 0 ? "" : "/", base) < 0)
            return ova_err_set(err, OVA_E_NOMEM, "out of memory");
        if (stat(beside, &sb) != 0) {
            free(beside); /* nothing stands in: the error names the path as written */
            return OVA_OK;
        }
        free(dev->path);
        dev->path = beside;
        dev->foreign_path = true;
    }
    if (dev->foreign_path)
        logf_(c, 1, "%s: %s: fileName \"%s\" is a path on another host; using %s, the file of that name beside the VMX",
              c->opts->vmx_path, dev->key_prefix, dev->file_name, dev->path);
    return OVA_OK;
}

ova_status ova_prepared_set_output(ova_prepared *p, const char *output, ova_err *err)
{
    p->output[0] = '\0';
    if (output != NULL) {
        ova_status st = output_path(output, p->vm, p->output, sizeof p->output, err);
        if (st != OVA_OK)
            return st;
        ova_member_base(p->output, p->member_base);
    } else {
        ova_member_base(p->vm->display_name, p->member_base);
    }
    for (size_t i = 0; i < p->n_disks; i++)
        snprintf(p->disks[i].member, sizeof p->disks[i].member, "%s-disk%zu.vmdk", p->member_base, i + 1);
    return OVA_OK;
}

ova_status ova_prepare(const ova_prepare_opts *opts, ova_prepared **out, ova_err *err)
{
    *out = NULL;
    ova_prepared *p = calloc(1, sizeof *p);
    if (p == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    prep_ctx c = { opts, p, 0 };
    ova_status st = ova_vm_load(opts->vmx_path, &p->vm, err);
    if (st != OVA_OK)
        goto fail;
    /* what the OVA will lack (vm.h), for export and info alike */
    for (size_t i = 0; i < p->vm->n_warnings; i++)
        logf_(&c, 1, "%s", p->vm->warnings[i]);
    for (size_t i = 0; st == OVA_OK && i < p->vm->n_devices; i++)
        st = resolve_foreign(&c, &p->vm->devices[i], err);
    if (st != OVA_OK)
        goto fail;
    /* the VMX and every descriptor first: a running VM is refused before
     * any disk is described (a descriptor may name a file being written) */
    st = check_lock(&c, opts->vmx_path, err);
    for (size_t i = 0; st == OVA_OK && i < p->vm->n_devices; i++)
        if (p->vm->devices[i].kind == OVA_DEV_DISK)
            st = check_lock(&c, p->vm->devices[i].path, err);
    if (st != OVA_OK)
        goto fail;
    size_t nd = ova_vm_disk_count(p->vm);
    p->disks = calloc(nd ? nd : 1, sizeof *p->disks);
    if (p->disks == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = describe_disks(&c, err)) != OVA_OK)
        goto fail;
    if ((st = ova_prepared_set_output(p, opts->output, err)) != OVA_OK)
        goto fail;
    p->mtime = opts->mtime >= 0 ? opts->mtime : vmx_mtime(opts->vmx_path);
    *out = p;
    return OVA_OK;
fail:
    ova_prepared_free(&p);
    return st;
}

void ova_prepared_free(ova_prepared **pp)
{
    ova_prepared *p = *pp;
    if (p == NULL)
        return;
    for (size_t i = 0; p->disks != NULL && !p->infos_given && i < p->n_disks; i++)
        ova_disk_info_free(&p->disks[i].info);
    free(p->disks);
    ova_vm_free(&p->vm);
    free(p);
    *pp = NULL;
}

/* The unit size: the largest power of two of grains, up to a start size,
 * that still lets every thread of the busiest rank have a unit in flight
 * plus as many again for reordering, within that rank's own memory limit.
 * The size depends on one rank's threads, never on how many ranks joined:
 * every rank holds only its own threads' units (rank 0 also the results
 * waiting to be written, which its hold window bounds: mpi_export.c), so
 * a job of 64 ranks plans the same units as a job of 2.
 *
 * The start size depends on who compresses. Alone, rank 0's threads fill
 * a fresh result buffer per unit: at a whole grain table (512 grains,
 * 32 MiB) that buffer is over glibc's 32 MiB mmap ceiling, so its pages
 * fault in and are zeroed every time (170,000 faults for the 6 GiB
 * benchmark disk); at 64 grains (4 MiB) freed buffers are reused from the
 * heap (11,000 faults), peak memory halves (105 -> 48 MiB) and an export
 * takes 2-4% less CPU (A/B, 5 runs each). With other ranks, rank 0's limit
 * is its intake of messages, and 32 MiB units carry the same bytes in 8x
 * fewer messages: 15-20% more intake (intake_rate, 512 vs 64 grains);
 * remote threads reuse one buffer, so no faults there. */
void ova_prepare_unit_size(uint64_t mem_limit, int ranks, int rank_threads, uint32_t *unit_grains,
                           uint64_t *window)
{
    uint32_t g = ranks > 1 ? OVA_UNIT_GRAINS_MANY_RANKS : OVA_UNIT_GRAINS_ONE_RANK;
    uint64_t want = 2 * (uint64_t)(rank_threads > 0 ? rank_threads : 1);
    for (;;) {
        uint64_t w = mem_limit / ova_unit_max_size(g);
        if (w >= want || g == 16) {
            *unit_grains = g;
            *window = w < 2 ? 2 : w;
            return;
        }
        g /= 2;
    }
}
