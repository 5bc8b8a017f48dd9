/* test_prepare.c - the step export, info and the writer share (prepare.h),
 * on a VM whose disks qemu-img makes: an IDE flat disk and a SCSI
 * (buslogic) disk at the top of a 2-level snapshot chain. Lock folders
 * beside an extent or a chain parent are refused as beside the VMX (info
 * once missed those), warned about once with force, recorded with inspect. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"
#include "unit_shell.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/unit.h"
#include "ovatool/export.h"
#include "ovatool/prepare.h"

static char g_dir[PATH_MAX];
static int g_have_qemu;

#define P(name) unit_path(g_dir, (name))

/* What the log callback was given. */
typedef struct logged {
    int warnings;
    char last[OVA_ERR_MAX];
    char all[8192];
} logged;

static void log_cb(void *ctx, int level, const char *msg)
{
    logged *l = ctx;
    if (level > 0)
        l->warnings++;
    snprintf(l->last, sizeof l->last, "%s", msg);
    size_t n = strlen(l->all);
    snprintf(l->all + n, sizeof l->all - n, "%s\n", msg);
}

static void opts_for(ova_prepare_opts *o, logged *l)
{
    ova_prepare_opts_init(o);
    o->vmx_path = P("vm.vmx");
    o->log = log_cb;
    o->log_ctx = l;
    memset(l, 0, sizeof *l);
}

static ova_prepared *prepare_ok(const ova_prepare_opts *o)
{
    ova_prepared *p = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (ova_prepare(o, &p, &err) != OVA_OK)
        fail_msg("ova_prepare: %s", err.msg);
    return p;
}

/* A lock folder beside path: refused plainly, one warning with force, a
 * record and no warning with inspect. */
static void check_lock_refused(const char *path)
{
    char lck[PATH_MAX + 8];
    snprintf(lck, sizeof lck, "%s.lck", path);
    assert_int_equal(mkdir(lck, 0755), 0);

    ova_prepare_opts o;
    logged l;
    opts_for(&o, &l);
    ova_prepared *p = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_prepare(&o, &p, &err), OVA_E_UNSUPPORTED);
    assert_null(p);
    if (strstr(err.msg, lck) == NULL || strstr(err.msg, "--force") == NULL)
        fail_msg("refusal does not name %s: %s", lck, err.msg);

    opts_for(&o, &l);
    o.force = true;
    p = prepare_ok(&o);
    assert_string_equal(p->lock, lck);
    /* the lock warning (once) and the flattening warning */
    assert_int_equal(l.warnings, 2);
    assert_non_null(strstr(l.all, "exporting anyway (--force)"));
    ova_prepared_free(&p);

    opts_for(&o, &l);
    o.inspect = true;
    p = prepare_ok(&o);
    assert_string_equal(p->lock, lck);
    assert_int_equal(l.warnings, 0);
    ova_prepared_free(&p);

    assert_int_equal(rmdir(lck), 0);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_prepare.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    g_have_qemu = system("command -v qemu-img >/dev/null 2>&1 && command -v qemu-io >/dev/null 2>&1") == 0;
    if (!g_have_qemu)
        return 0;
    /* base <- mid <- top (twoGbMaxExtentSparse: its extent is another file) */
    char cmd[PATH_MAX + 2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && qemu-img create -q -f vmdk -o subformat=monolithicSparse base.vmdk 8M && "
             "qemu-io -f vmdk -c 'write -P 0x5a 1M 3M' base.vmdk >/dev/null && "
             "qemu-img create -q -f vmdk -o subformat=monolithicSparse -b base.vmdk -F vmdk mid.vmdk && "
             "qemu-io -f vmdk -c 'write -P 0x33 2M 1M' mid.vmdk >/dev/null && "
             "qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b mid.vmdk -F vmdk top.vmdk && "
             "qemu-img create -q -f vmdk -o subformat=monolithicFlat flat.vmdk 4M && "
             "printf '%%s\\n' 'displayName = \"My VM:1\"' 'guestOS = \"ubuntu-64\"' 'virtualHW.version = \"19\"' "
             "'scsi0.present = \"TRUE\"' 'scsi0.virtualDev = \"buslogic\"' "
             "'scsi0:0.present = \"TRUE\"' 'scsi0:0.fileName = \"top.vmdk\"' "
             "'ide0:0.present = \"TRUE\"' 'ide0:0.fileName = \"flat.vmdk\"' > vm.vmx",
             g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void t_chain_and_pairing(void **state)
{
    (void)state;
    if (!g_have_qemu)
        OVA_SKIP("qemu-img/qemu-io not found: no VM to prepare\n");
    ova_prepare_opts o;
    logged l;
    opts_for(&o, &l);
    o.output = P("out.ova");
    ova_prepared *p = prepare_ok(&o);
    assert_int_equal(p->n_disks, 2);
    /* VMX device order: IDE before SCSI */
    const ova_prepared_disk *ide = &p->disks[0], *top = &p->disks[1];
    assert_string_equal(ide->device->key_prefix, "ide0:0");
    assert_string_equal(ide->adapter, "ide");
    assert_int_equal(ide->info->chain_depth, 0);
    assert_string_equal(top->device->key_prefix, "scsi0:0");
    assert_non_null(top->controller);
    assert_int_equal(top->controller->model, OVA_SCSI_BUSLOGIC);
    assert_string_equal(top->adapter, "buslogic");
    /* the chain: top -> mid -> base */
    assert_int_equal(top->info->chain_depth, 2);
    assert_string_equal(top->info->create_type, "twoGbMaxExtentSparse");
    assert_non_null(strstr(top->info->parents[0].path, "mid.vmdk"));
    assert_non_null(strstr(top->info->parents[1].path, "base.vmdk"));
    assert_true(top->info->allocated >= 3u << 20);
    /* names, output and mtime */
    assert_string_equal(p->output, P("out.ova"));
    assert_string_equal(p->member_base, "out");
    assert_string_equal(ide->member, "out-disk1.vmdk");
    assert_string_equal(top->member, "out-disk2.vmdk");
    struct stat sb;
    assert_int_equal(stat(P("vm.vmx"), &sb), 0);
    assert_true(p->mtime == (int64_t)sb.st_mtime);
    assert_string_equal(p->lock, "");
    /* the flattening is the one warning */
    assert_int_equal(l.warnings, 1);
    assert_non_null(strstr(l.last, "2 snapshot level(s) flattened"));
    ova_prepared_free(&p);
    assert_null(p);

    /* inspect (info): no export warnings; an explicit mtime wins */
    opts_for(&o, &l);
    o.inspect = true;
    o.mtime = 1234;
    p = prepare_ok(&o);
    assert_int_equal(l.warnings, 0);
    assert_true(p->mtime == 1234);
    assert_string_equal(p->output, "");
    assert_string_equal(p->member_base, "My_VM_1");
    ova_prepared_free(&p);
}

static void t_locks(void **state)
{
    (void)state;
    if (!g_have_qemu)
        OVA_SKIP("qemu-img/qemu-io not found: no VM to prepare\n");
    ova_prepare_opts o;
    logged l;
    opts_for(&o, &l);
    o.inspect = true;
    ova_prepared *p = prepare_ok(&o);
    const ova_disk_info *top = p->disks[1].info, *flat = p->disks[0].info;
    assert_int_equal(top->n_extents, 1);
    char top_extent[PATH_MAX], parent[PATH_MAX], parent_extent[PATH_MAX], flat_extent[PATH_MAX];
    snprintf(top_extent, sizeof top_extent, "%s", top->extents[0].path);
    snprintf(parent, sizeof parent, "%s", top->parents[0].path);
    snprintf(parent_extent, sizeof parent_extent, "%s", top->parents[1].extents[0].path);
    snprintf(flat_extent, sizeof flat_extent, "%s", flat->extents[0].path);
    ova_prepared_free(&p);
    /* the extent of twoGbMaxExtentSparse and monolithicFlat is another file */
    assert_null(strstr(top_extent, "top.vmdk"));
    assert_non_null(strstr(flat_extent, "flat-flat.vmdk"));

    check_lock_refused(P("vm.vmx"));
    check_lock_refused(P("top.vmdk"));
    check_lock_refused(top_extent);    /* beside an extent: the divergence bug */
    check_lock_refused(parent);        /* beside a chain parent */
    check_lock_refused(parent_extent); /* beside a parent's extent (base.vmdk is its own) */
    check_lock_refused(flat_extent);
}

static void t_output_dir(void **state)
{
    (void)state;
    if (!g_have_qemu)
        OVA_SKIP("qemu-img/qemu-io not found: no VM to prepare\n");
    ova_prepare_opts o;
    logged l;
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/My_VM_1.ova", g_dir);
    /* -o DIR and -o DIR/: DIR/<VM name>.ova, the name sanitised */
    for (int slash = 0; slash < 2; slash++) {
        char dir[PATH_MAX + 2];
        snprintf(dir, sizeof dir, "%s%s", g_dir, slash ? "/" : "");
        opts_for(&o, &l);
        o.output = dir;
        ova_prepared *p = prepare_ok(&o);
        assert_string_equal(p->output, want);
        assert_string_equal(p->member_base, "My_VM_1");
        assert_string_equal(p->disks[1].member, "My_VM_1-disk2.vmdk");
        ova_prepared_free(&p);
    }
    /* a path too long for any output is a usage error */
    char *huge = malloc(5000);
    assert_non_null(huge);
    memset(huge, 'a', 4999);
    huge[4999] = '\0';
    opts_for(&o, &l);
    o.output = huge;
    ova_prepared *p = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_prepare(&o, &p, &err), OVA_E_USAGE);
    assert_null(p);
    free(huge);
}

static void t_missing_vmx(void **state)
{
    (void)state;
    ova_prepare_opts o;
    logged l;
    opts_for(&o, &l);
    o.vmx_path = P("nothing.vmx");
    ova_prepared *p = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_not_equal(ova_prepare(&o, &p, &err), OVA_OK);
    assert_null(p);
    assert_non_null(strstr(err.msg, "nothing.vmx"));
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(P(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* What VMs from the field bring, through the log callback for export and
 * info alike: a partially encrypted VM with a vTPM, a SCSI tape left out,
 * a Windows path and an ESXi path replaced by the files beside the VMX. */
static void t_field_warnings(void **state)
{
    (void)state;
    if (!g_have_qemu)
        OVA_SKIP("qemu-img/qemu-io not found: no VM to prepare\n");
    write_file("field.vmx", "displayName = \"field\"\n"
                            "encryption.type = \"partial\"\nencryption.keySafe = \"k\"\nencryption.data = \"d\"\n"
                            "vtpm.present = \"TRUE\"\n"
                            "scsi0.present = \"TRUE\"\n"
                            "scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"E:\\VMs\\field\\flat.vmdk\"\n"
                            "scsi0:1.present = \"TRUE\"\nscsi0:1.deviceType = \"scsi-passthru\"\n"
                            "scsi0:1.fileName = \"/dev/sg2\"\n"
                            "scsi0:2.present = \"TRUE\"\n"
                            "scsi0:2.fileName = \"/vmfs/volumes/datastore1/field/base.vmdk\"\n");
    for (int inspect = 0; inspect < 2; inspect++) {
        ova_prepare_opts o;
        logged l;
        opts_for(&o, &l);
        o.vmx_path = P("field.vmx");
        o.inspect = inspect != 0;
        ova_prepared *p = prepare_ok(&o);
        assert_int_equal(p->n_disks, 2);
        assert_string_equal(p->disks[0].info->path, P("flat.vmdk"));
        assert_string_equal(p->disks[1].info->path, P("base.vmdk"));
        assert_true(p->disks[1].device->foreign_path);
        assert_int_equal(l.warnings, 4);
        const char *want[] = {
            "the VM is partially encrypted (encryption.type \"partial\")",
            "scsi0:1: SCSI passthrough device (/dev/sg2) left out: not a disk",
            "scsi0:0: fileName \"E:\\VMs\\field\\flat.vmdk\" is a path on another host; using ",
            "scsi0:2: fileName \"/vmfs/volumes/datastore1/field/base.vmdk\" is a path on another host; using ",
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            if (strstr(l.all, want[i]) == NULL)
                fail_msg("(inspect %d) no \"%s\" in the log:\n%s", inspect, want[i], l.all);
        assert_non_null(strstr(l.all, P("base.vmdk")));
        ova_prepared_free(&p);
    }
    /* an absolute path with nothing of its name beside the VMX: the error names it as written */
    write_file("gone.vmx", "scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\n"
                           "scsi0:0.fileName = \"/vmfs/volumes/datastore1/field/gone.vmdk\"\n");
    ova_prepare_opts o;
    logged l;
    opts_for(&o, &l);
    o.vmx_path = P("gone.vmx");
    ova_prepared *p = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_not_equal(ova_prepare(&o, &p, &err), OVA_OK);
    assert_null(p);
    if (strstr(err.msg, "/vmfs/volumes/datastore1/field/gone.vmdk") == NULL)
        fail_msg("error does not name the path: %s", err.msg);
    assert_int_equal(l.warnings, 0);
}

static void t_unit_size(void **state)
{
    (void)state;
    uint32_t g;
    uint64_t w;
    /* alone: 4 MiB units; with other ranks: a whole grain table */
    ova_prepare_unit_size(512ull << 20, 1, 2, &g, &w);
    assert_int_equal(g, 64);
    assert_true(w >= 4);
    ova_prepare_unit_size(512ull << 20, 2, 2, &g, &w);
    assert_int_equal(g, 512);
    assert_true(w >= 4);
    /* a small limit with many threads: smaller units, never below 16 grains */
    ova_prepare_unit_size(8ull << 20, 4, 64, &g, &w);
    assert_int_equal(g, 16);
    assert_true(w >= 2);
}

/* Issue 13: units by one rank's memory, never shrunk because more ranks
 * joined. 8 and 64 ranks of 16 threads with the default limit (512 MiB,
 * ova_export_opts_init) plan units of at least 8 MiB, the same size, and
 * each rank's window holds two units per thread of its own. */
static void t_unit_size_many_ranks(void **state)
{
    (void)state;
    ova_export_opts o;
    ova_export_opts_init(&o);
    uint32_t g8, g64;
    uint64_t w8, w64;
    ova_prepare_unit_size(o.mem_limit, 8, 16, &g8, &w8);
    ova_prepare_unit_size(o.mem_limit, 64, 16, &g64, &w64);
    assert_true((uint64_t)g8 * OVA_GRAIN_SIZE >= (8u << 20));
    assert_true((uint64_t)g64 * OVA_GRAIN_SIZE >= (8u << 20));
    assert_int_equal(g8, g64);
    assert_int_equal(w8, w64);
    assert_true(w64 >= 2 * 16);
    assert_true(w64 * ova_unit_max_size(g64) <= o.mem_limit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_chain_and_pairing), cmocka_unit_test(t_locks),
        cmocka_unit_test(t_output_dir),        cmocka_unit_test(t_missing_vmx),
        cmocka_unit_test(t_unit_size),         cmocka_unit_test(t_unit_size_many_ranks),
        cmocka_unit_test(t_field_warnings),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
