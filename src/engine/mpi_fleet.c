/* mpi_fleet.c - many VMs in one job (export_mpi.h, ova_export_fleet): rank
 * 0 prepares, checks and plans every VM, names the outputs, orders the
 * queue largest first and gives each VM a writer rank; the plans go to
 * every rank, and mpi_fleet_run.c does the work (each rank opens a VM's
 * readers at its first unit of it). Phases end in agreements (mpi_agree.h) only where the job itself
 * can fail; a VM's own failure stays that VM's. */
#include "ovatool/export_mpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "engine/fleet_names.h"
#include "engine/mpi_agree.h"
#include "engine/mpi_fleet.h"
#include "format/wire.h"
#include "engine/ova_target.h"
#include "engine/ova_writer.h"
#include "engine/unit.h"
#include "util/fault.h"
#include "util/log.h"

#define MAX_THREADS 1024

void ova_fleet_result_free(ova_fleet_result *r)
{
    free(r->vms);
    free(r->ranks);
    memset(r, 0, sizeof *r);
}

/* What rank 0 keeps of one VM while it plans. */
typedef struct planned {
    ova_prepared *prep;
    ova_check_result cr;
    ova_plan *plan;
    uint64_t work;     /* allocated bytes: what its units will read */
    uint64_t capacity;
} planned;

static void vm_failed(ova_fleet_vm *r, const ova_err *err)
{
    r->status = err->status != OVA_OK ? err->status : OVA_E_INTERNAL;
    snprintf(r->msg, sizeof r->msg, "%s", err->msg);
}

static void log_warn(void *ctx, const char *msg)
{
    ova_fleet *f = ctx;
    if (f->hooks.log != NULL)
        f->hooks.log(f->hooks.ctx, 1, msg);
}

/* Unique outputs (fleet_names.h): a VM whose name had to change is
 * prepared again for its new one (member names follow the OVA's name). */
static void name_outputs(planned *p, size_t n, const char *const *paths, const char *dir, ova_fleet_vm *res)
{
    char (*out)[OVA_FLEET_PATH_MAX] = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (out != NULL && p[i].prep != NULL)
            snprintf(out[i], sizeof out[i], "%s", p[i].prep->output);
    if (out != NULL)
        ova_fleet_names(dir, paths, out, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i].prep == NULL || (out != NULL && strcmp(out[i], p[i].prep->output) == 0))
            continue;
        ova_err e;
        ova_err_clear(&e);
        if (out == NULL)
            ova_err_set(&e, OVA_E_NOMEM, "%s: out of memory naming the OVAs", paths[i]);
        else if (out[i][0] == '\0')
            ova_err_set(&e, OVA_E_USAGE, "%s: no free output name in %s", paths[i], dir);
        if (e.status != OVA_OK || ova_prepared_set_output(p[i].prep, out[i], &e) != OVA_OK) {
            vm_failed(&res[i], &e);
            ova_prepared_free(&p[i].prep);
        }
    }
    free(out);
}

/* Queue order: the most work first, so the last VMs to finish are small. */
typedef struct qkey { uint64_t work, capacity; size_t index; } qkey;
static int by_work(const void *a, const void *b)
{
    const qkey *x = a, *y = b;
    if (x->work != y->work)
        return x->work > y->work ? -1 : 1;
    if (x->capacity != y->capacity)
        return x->capacity > y->capacity ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Writers spread over hosts: queue position q goes to host q % H (hosts in
 * the order of their lowest rank) and there to its (q / H)-th rank, round
 * robin, so consecutive VMs are written on different hosts. by_host lists
 * the ranks host after host; first[h] is where host h starts in it. */
typedef struct host_map {
    int *by_host, *first, n_hosts;
} host_map;

static int host_map_make(host_map *m, const char *hosts, int size)
{
    int *hid = calloc((size_t)size, sizeof *hid);
    m->by_host = calloc((size_t)size, sizeof *m->by_host);
    m->first = calloc((size_t)size + 1, sizeof *m->first);
    m->n_hosts = 0;
    if (hid == NULL || m->by_host == NULL || m->first == NULL) {
        free(hid);
        return 0;
    }
    for (int r = 0; r < size; r++) { /* a host's id: that of its lowest rank's first sighting */
        hid[r] = -1;
        for (int s = 0; s < r && hid[r] < 0; s++)
            if (strcmp(hosts + (size_t)s * OVA_FLEET_HOST_MAX, hosts + (size_t)r * OVA_FLEET_HOST_MAX) == 0)
                hid[r] = hid[s];
        if (hid[r] < 0)
            hid[r] = m->n_hosts++;
    }
    int k = 0;
    for (int h = 0; h < m->n_hosts; h++) {
        m->first[h] = k;
        for (int r = 0; r < size; r++)
            if (hid[r] == h)
                m->by_host[k++] = r;
    }
    m->first[m->n_hosts] = k;
    free(hid);
    return 1;
}

static int writer_of(const host_map *m, size_t q)
{
    size_t h = q % (size_t)m->n_hosts;
    size_t on = (size_t)(m->first[h + 1] - m->first[h]);
    return m->by_host[m->first[h] + (int)((q / (size_t)m->n_hosts) % on)];
}

static void host_map_free(host_map *m)
{
    free(m->by_host);
    free(m->first);
}

/* rank 0: every VM prepared, named, checked and planned; the queue. */
static ova_status plan0(ova_fleet *f, const char *hosts, ova_buf *packed, ova_err *err)
{
    const ova_export_opts *o = f->opts;
    ova_fleet_result *res = f->res;
    size_t n = res->n_vms;
    struct stat sb;
    if (o->output == NULL || stat(o->output, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ova_err_set(err, OVA_E_USAGE, "%s: with several VMs, -o must name an existing folder",
                           o->output != NULL ? o->output : "(none)");
    ova_prepare_unit_size(o->mem_limit, f->size, f->threads_max, &f->unit_grains, &f->window);
    planned *p = calloc(n ? n : 1, sizeof *p);
    qkey *keys = calloc(n ? n : 1, sizeof *keys);
    if (p == NULL || keys == NULL) {
        free(p);
        free(keys);
        return ova_err_set(err, OVA_E_NOMEM, "out of memory planning %zu VMs", n);
    }
    for (size_t i = 0; i < n; i++) {
        ova_prepare_opts po;
        ova_prepare_opts_init(&po);
        po.vmx_path = f->paths[i];
        po.output = o->output;
        po.mtime = o->mtime;
        po.force = o->force;
        po.confine = o->confine;
        po.log = f->hooks.log;
        po.log_ctx = f->hooks.ctx;
        ova_err e;
        ova_err_clear(&e);
        if (ova_prepare(&po, &p[i].prep, &e) != OVA_OK)
            vm_failed(&res->vms[i], &e);
    }
    name_outputs(p, n, f->paths, o->output, res->vms);
    size_t n_q = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].prep == NULL)
            continue;
        ova_err e;
        ova_err_clear(&e);
        snprintf(res->vms[i].output, sizeof res->vms[i].output, "%s", p[i].prep->output);
        ova_check_opts co = { f->paths[i], o->overwrite, o->codec, o->level, f->hooks.log, f->hooks.ctx };
        for (size_t d = 0; d < p[i].prep->n_disks; d++) {
            p[i].work += p[i].prep->disks[d].info->allocated;
            p[i].capacity += p[i].prep->disks[d].info->capacity;
        }
        if (ova_prepare_check(p[i].prep, &co, &p[i].cr, &e) != OVA_OK ||
            ova_plan_from_prepared(p[i].prep, f->unit_grains, &p[i].plan, &e) != OVA_OK) {
            vm_failed(&res->vms[i], &e);
            ova_prepared_free(&p[i].prep);
            continue;
        }
        ova_target_report_leftovers(p[i].prep->output, log_warn, f);
        res->vms[i].bytes_in = p[i].capacity;
        res->vms[i].units = ova_plan_units(p[i].plan);
        if (o->dry_run && f->hooks.preview != NULL) {
            ova_export_preview pv = { p[i].prep, &p[i].cr, ova_plan_units(p[i].plan), f->unit_grains, f->size,
                                      f->threads_total };
            f->hooks.preview(f->hooks.ctx, &pv);
        }
        keys[n_q++] = (qkey){ p[i].work, p[i].capacity, i };
    }
    ova_status st = OVA_OK;
    int packfail = 0;
    host_map hm = { NULL, NULL, 0 };
    if (!o->dry_run) {
        qsort(keys, n_q, sizeof *keys, by_work);
        f->q = calloc(n_q ? n_q : 1, sizeof *f->q);
        if (f->q == NULL || !host_map_make(&hm, hosts, f->size))
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory planning %zu VMs", n);
    }
    if (st == OVA_OK && !o->dry_run) {
        f->n_q = n_q;
        ova_wire_put64(packed, n_q);
        ova_wire_put64(packed, f->unit_grains);
        ova_wire_put64(packed, f->window);
        for (size_t q = 0; q < n_q; q++) {
            size_t i = keys[q].index;
            ova_fleet_qvm *v = &f->q[q];
            v->index = i;
            v->writer = writer_of(&hm, q);
            snprintf(v->output, sizeof v->output, "%s", p[i].prep->output);
            v->plan = p[i].plan;
            p[i].plan = NULL;
            v->n_units = ova_plan_units(v->plan);
            res->vms[i].order = (int)q;
            res->vms[i].writer_rank = v->writer;
            snprintf(res->vms[i].writer_host, sizeof res->vms[i].writer_host, "%s",
                     hosts + (size_t)v->writer * OVA_FLEET_HOST_MAX);
            ova_buf plan = OVA_BUF_INIT;
            ova_plan_pack(v->plan, &plan);
            ova_wire_put64(packed, i);
            ova_wire_put64(packed, (uint64_t)v->writer);
            ova_wire_put64(packed, strlen(v->output));
            ova_buf_append(packed, v->output, strlen(v->output));
            ova_wire_put64(packed, plan.len);
            ova_buf_append(packed, plan.data, plan.len);
            packfail |= ova_buf_failed(&plan);
            ova_buf_free(&plan);
        }
        if (packfail || ova_buf_failed(packed))
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory packing the plans");
        else if (packed->len > INT_MAX)
            st = ova_err_set(err, OVA_E_UNSUPPORTED,
                             "the fleet's plans are %zu bytes, more than one MPI broadcast carries (%d): "
                             "export fewer VMs at a time", packed->len, INT_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        ova_plan_free(&p[i].plan);
        ova_prepared_free(&p[i].prep);
    }
    host_map_free(&hm);
    free(p);
    free(keys);
    return st;
}

/* The other ranks: the queue from rank 0's bytes. Every length is checked. */
/* one field of the queue; 0 when the bytes ran out */
static int get64(ova_wire *r, uint64_t *v)
{
    *v = ova_wire_get64(r);
    return !r->bad;
}

static ova_status unpack(ova_fleet *f, const ova_buf *packed, ova_err *err)
{
    ova_wire r = { (const unsigned char *)packed->data, packed->len, 0 };
    uint64_t nq, ug, win;
    if (!get64(&r, &nq) || !get64(&r, &ug) || !get64(&r, &win) || nq > f->res->n_vms || ug == 0 || win == 0)
        return ova_err_set(err, OVA_E_INTERNAL, "the fleet plan from rank 0 is malformed");
    f->unit_grains = (uint32_t)ug;
    f->window = win;
    f->q = calloc(nq ? nq : 1, sizeof *f->q);
    if (f->q == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory for the fleet plan");
    for (size_t q = 0; q < nq; q++) {
        ova_fleet_qvm *v = &f->q[q];
        uint64_t idx, wr, ol, pl;
        if (!get64(&r, &idx) || !get64(&r, &wr) || !get64(&r, &ol) || idx >= f->res->n_vms ||
            wr >= (uint64_t)f->size || ol >= sizeof v->output || r.left < ol)
            return ova_err_set(err, OVA_E_INTERNAL, "the fleet plan from rank 0 is malformed");
        v->index = (size_t)idx;
        v->writer = (int)wr;
        memcpy(v->output, ova_wire_take(&r, (size_t)ol), (size_t)ol);
        const unsigned char *pp;
        if (!get64(&r, &pl) || r.left < pl || (pp = ova_wire_take(&r, (size_t)pl)) == NULL)
            return ova_err_set(err, OVA_E_INTERNAL, "the fleet plan from rank 0 is malformed");
        ova_status st = ova_plan_unpack(pp, (size_t)pl, &v->plan, err);
        if (st != OVA_OK)
            return st;
        v->n_units = ova_plan_units(v->plan);
        f->n_q = q + 1;
    }
    return OVA_OK;
}

/* Phase 1: the plans to every rank (three agreements, as mpi_export.c's
 * phase_plan: rank 0's planning, every rank's room, every rank's unpacking). */
static ova_status phase_plan(ova_fleet *f, const char *hosts, ova_err *err)
{
    ova_buf packed = OVA_BUF_INIT;
    ova_status st = f->rank == 0 ? plan0(f, hosts, &packed, err) : OVA_OK;
    if ((st = ova_mpi_agree(f->comm, st, err)) != OVA_OK || f->opts->dry_run)
        goto out;
    uint64_t len = packed.len;
    MPI_Bcast(&len, 1, MPI_UINT64_T, 0, f->comm);
    if (f->rank != 0) {
        ova_buf_fill(&packed, 0, (size_t)len);
        if (ova_buf_failed(&packed))
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory receiving the fleet plan (%llu bytes)",
                             (unsigned long long)len);
    }
    if ((st = ova_mpi_agree(f->comm, st, err)) != OVA_OK)
        goto out;
    MPI_Bcast(packed.data, (int)len, MPI_BYTE, 0, f->comm);
    if (f->rank != 0)
        st = unpack(f, &packed, err);
    st = ova_mpi_agree(f->comm, st, err);
out:
    ova_buf_free(&packed);
    return st;
}

/* What each rank did, gathered on rank 0. */
typedef struct rank_work {
    uint64_t units, bytes_read, bytes_compressed, vms_written, rss_kb, threads;
    char host[OVA_FLEET_HOST_MAX];
} rank_work;

static void gather_work(ova_fleet *f)
{
    rank_work mine;
    memset(&mine, 0, sizeof mine);
    mine.units = atomic_load(&f->units);
    mine.bytes_read = atomic_load(&f->bytes_read);
    mine.bytes_compressed = atomic_load(&f->bytes_compressed);
    mine.vms_written = atomic_load(&f->vms_written);
    mine.threads = (uint64_t)f->n_threads;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    mine.rss_kb = (uint64_t)ru.ru_maxrss;
    snprintf(mine.host, sizeof mine.host, "%.255s", f->host);
    rank_work *all = f->rank == 0 ? calloc((size_t)f->size, sizeof *all) : NULL;
    ova_fleet_rank *ranks = f->rank == 0 ? calloc((size_t)f->size, sizeof *ranks) : NULL;
    int ok = f->rank != 0 || (all != NULL && ranks != NULL);
    MPI_Bcast(&ok, 1, MPI_INT, 0, f->comm);
    if (ok)
        MPI_Gather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, 0, f->comm);
    if (f->rank == 0 && ok) {
        for (int r = 0; r < f->size; r++) {
            ranks[r] = (ova_fleet_rank){ r, "", (int)all[r].threads, all[r].units, all[r].bytes_read,
                                         all[r].bytes_compressed, all[r].vms_written, all[r].rss_kb };
            memcpy(ranks[r].host, all[r].host, sizeof ranks[r].host);
            ranks[r].host[sizeof ranks[r].host - 1] = '\0';
        }
        f->res->ranks = ranks;
        f->res->n_ranks = f->size;
        ranks = NULL;
    }
    free(all);
    free(ranks);
}

ova_status ova_export_fleet(const ova_export_opts *opts, const char *const *vmx_paths, size_t n_vms,
                            MPI_Comm user_comm, const ova_export_hooks *hooks, ova_fleet_result *res, ova_err *err)
{
    ova_fleet F;
    ova_fleet *f = &F;
    memset(f, 0, sizeof *f);
    memset(res, 0, sizeof *res);
    f->opts = opts;
    f->paths = vmx_paths;
    f->res = res;
    if (hooks != NULL)
        f->hooks = *hooks;
    clock_gettime(CLOCK_MONOTONIC, &f->t0);
    MPI_Comm_dup(user_comm, &f->comm);
    MPI_Comm_rank(f->comm, &f->rank);
    MPI_Comm_size(f->comm, &f->size);
    int hl = 0;
    MPI_Get_processor_name(f->host, &hl);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv_grant, NULL);
    pthread_cond_init(&f->cv_write, NULL);
    pthread_mutex_init(&f->rd_mu, NULL);
    ova_fault_rank(f->rank);

    res->vms = calloc(n_vms ? n_vms : 1, sizeof *res->vms);
    ova_status st = res->vms != NULL ? OVA_OK : ova_err_set(err, OVA_E_NOMEM, "out of memory for %zu VMs", n_vms);
    for (size_t i = 0; res->vms != NULL && i < n_vms; i++) {
        res->vms[i].vmx = vmx_paths[i];
        res->vms[i].status = OVA_OK;
        res->vms[i].writer_rank = -1;
        res->vms[i].order = -1;
    }
    res->n_vms = res->vms != NULL ? n_vms : 0;

    ova_cores_find(&f->cores);
    f->n_threads = opts->threads > 0 ? opts->threads : (f->cores.n > 0 ? f->cores.n : 1);
    if (f->n_threads > MAX_THREADS)
        f->n_threads = MAX_THREADS;
    MPI_Allreduce(&f->n_threads, &f->threads_total, 1, MPI_INT, MPI_SUM, f->comm);
    /* units are sized by the busiest rank's threads and memory, never by the job's total (prepare.h) */
    MPI_Allreduce(&f->n_threads, &f->threads_max, 1, MPI_INT, MPI_MAX, f->comm);
    f->remote_threads = f->threads_total - f->n_threads;
    res->threads_total = f->threads_total;

    /* every rank's host, for spreading the writers */
    char mine[OVA_FLEET_HOST_MAX];
    snprintf(mine, sizeof mine, "%.255s", f->host);
    char *hosts = f->rank == 0 ? calloc((size_t)f->size, OVA_FLEET_HOST_MAX) : NULL;
    if (f->rank == 0 && hosts == NULL && st == OVA_OK)
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory for the host names");
    if ((st = ova_mpi_agree(f->comm, st, err)) == OVA_OK) {
        MPI_Gather(mine, OVA_FLEET_HOST_MAX, MPI_CHAR, hosts, OVA_FLEET_HOST_MAX, MPI_CHAR, 0, f->comm);
        st = phase_plan(f, hosts, err);
    }
    res->unit_grains = f->unit_grains;
    res->window = f->window;
    if (st == OVA_OK && !opts->dry_run) {
        uint64_t total = 0;
        for (size_t q = 0; q < f->n_q; q++)
            for (size_t d = 0; d < f->q[q].plan->n_disks; d++)
                total += f->q[q].plan->disks[d]->capacity;
        f->total_bytes = total;
        f->unit_max = ova_unit_max_size(f->unit_grains);
        if (f->rank == 0)
            ova_logf(f->hooks.log, f->hooks.ctx, 0,
                     "exporting %zu VM(s) of %zu, %.2f GiB; %d rank(s), %d compression thread(s); units of %u "
                     "grains, %llu in flight per VM; %s level %d; output folder %s",
                     f->n_q, n_vms, (double)total / 1073741824.0, f->size, f->threads_total, f->unit_grains,
                     (unsigned long long)f->window, ova_codec_name(opts->codec), opts->level, opts->output);
        st = ova_fleet_run(f, err);
    }
    if (st == OVA_OK) /* every rank, a dry run too: the summary's per-rank part */
        gather_work(f);

    /* the verdict: the job's own failure fails every VM not failed already */
    if (f->rank == 0) {
        for (size_t i = 0; i < res->n_vms; i++) {
            ova_fleet_vm *r = &res->vms[i];
            if (st != OVA_OK && r->status == OVA_OK) {
                r->status = st;
                snprintf(r->msg, sizeof r->msg, "%s", err->msg);
            }
            if (r->status != OVA_OK)
                res->failed++;
        }
    }
    res->seconds = ova_engine_seconds(&f->t0);
    if (st == OVA_OK) {
        int64_t v[2] = { (int64_t)res->failed, OVA_OK };
        for (size_t i = 0; f->rank == 0 && i < res->n_vms && v[1] == OVA_OK; i++)
            v[1] = res->vms[i].status;
        MPI_Bcast(v, 2, MPI_INT64_T, 0, f->comm);
        if (v[0] > 0)
            st = ova_err_set(err, (ova_status)v[1], "%lld of %zu VMs failed", (long long)v[0], n_vms);
    }

    for (size_t q = 0; q < f->n_q; q++) {
        ova_fleet_qvm *v = &f->q[q];
        for (size_t d = 0; v->readers != NULL && d < v->plan->n_disks; d++)
            ova_disk_reader_close(&v->readers[d]);
        free(v->readers);
        ova_plan_free(&v->plan);
    }
    free(f->q);
    free(f->slots);
    free(hosts);
    ova_cores_free(&f->cores);
    pthread_cond_destroy(&f->cv_grant);
    pthread_cond_destroy(&f->cv_write);
    pthread_mutex_destroy(&f->mu);
    pthread_mutex_destroy(&f->rd_mu);
    MPI_Comm_free(&f->comm);
    return st;
}
