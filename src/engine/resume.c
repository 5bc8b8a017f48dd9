/* resume.c - starting, continuing or refusing a journaled export
 * (resume.h). */
#include "engine/resume.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ova_target.h"
#include "format/vmdk_stream.h"
#include "ovatool/version.h"
#include "util/log.h"

void ova_resume_clear(ova_resume *r)
{
    free(r->partial_path);
    free(r->journal_path);
    ova_journal_free(&r->journal);
    memset(r, 0, sizeof *r);
}

uint64_t ova_resume_unit_at(const ova_plan *plan, size_t d, uint64_t grain)
{
    if (d >= plan->n_disks)
        return ova_plan_units(plan);
    uint64_t lo = plan->first_unit[d], hi = plan->first_unit[d + 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, first;
        size_t dd;
        uint32_t n;
        ova_plan_unit(plan, mid, &dd, &first, &n);
        if (first < grain)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* What this export's bytes depend on, now. */
static ova_status deps_now(const ova_export_opts *o, const ova_prepared *prep, const ova_plan *plan,
                           ova_journal_deps *d, ova_err *err)
{
    ova_target t;
    ova_target_init(&t);
    ova_status st = ova_target_inputs(&t, o->vmx_path, plan, err);
    const char **paths = st == OVA_OK ? calloc(t.n_inputs ? t.n_inputs : 1, sizeof *paths) : NULL;
    if (st == OVA_OK && paths == NULL)
        st = ova_err_set(err, OVA_E_NOMEM, "out of memory");
    for (size_t i = 0; st == OVA_OK && i < t.n_inputs; i++)
        paths[i] = t.inputs[i].path;
    if (st == OVA_OK)
        st = ova_journal_stat_sources(d, paths, t.n_inputs, err);
    free(paths);
    ova_target_free(&t);
    if (st != OVA_OK)
        return st;
    d->tool_version = strdup(OVATOOL_VERSION);
    d->capacity = calloc(plan->n_disks ? plan->n_disks : 1, sizeof *d->capacity);
    if (d->tool_version == NULL || d->capacity == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    d->n_disks = plan->n_disks;
    for (size_t i = 0; i < plan->n_disks; i++)
        d->capacity[i] = plan->disks[i]->capacity;
    d->codec = (uint32_t)o->codec;
    d->level = (uint32_t)o->level;
    d->store_incompressible = o->store_incompressible;
    d->sha = (uint32_t)o->sha;
    d->target_hw = (uint32_t)o->target_hw;
    d->mtime = prep->mtime;
    return OVA_OK;
}

/* Does a running export hold the partial output's lock (ova_target.h)? */
static int partial_in_use(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy;
}

static char *with_suffix(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    char *s = malloc(a + b + 1);
    if (s != NULL) {
        memcpy(s, path, a);
        memcpy(s + a, suffix, b + 1);
    }
    return s;
}

ova_status ova_resume_setup(const ova_export_opts *o, const ova_prepared *prep, const ova_plan *plan,
                            void (*log)(void *ctx, int level, const char *msg), void *log_ctx, ova_resume *r,
                            ova_err *err)
{
    memset(r, 0, sizeof *r);
    const char *out = prep->output;
    r->partial_path = with_suffix(out, ".partial");
    r->journal_path = with_suffix(out, ".journal");
    if (r->partial_path == NULL || r->journal_path == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    struct stat sb, pb;
    int have_journal = lstat(r->journal_path, &sb) == 0;
    int have_partial = lstat(r->partial_path, &pb) == 0;

    if (have_partial && partial_in_use(r->partial_path))
        return ova_err_set(err, OVA_E_USAGE,
                           "%s: another export to %s is running now (it holds this partial output's lock); wait "
                           "for it, or stop it (with --resume it stops at a durable point) and run again",
                           r->partial_path, out);
    if (have_journal && !o->resume) {
        if (!o->overwrite)
            return ova_err_set(err, OVA_E_USAGE,
                               "%s: a resumable export to %s exists (partial output %s, %llu bytes); run the same "
                               "command with --resume to continue it, or with --overwrite to discard it and start "
                               "over",
                               r->journal_path, out, r->partial_path,
                               have_partial ? (unsigned long long)pb.st_size : 0ull);
        /* --overwrite: the earlier export's files go */
        if (unlink(r->journal_path) != 0 && errno != ENOENT)
            return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot remove", r->journal_path);
        if (have_partial && unlink(r->partial_path) != 0 && errno != ENOENT)
            return ova_err_errno(err, OVA_E_IO, errno, "%s: cannot remove", r->partial_path);
        ova_logf(log, log_ctx, 1, "%s: discarded the resumable export found there and %s (--overwrite)",
                 r->journal_path, r->partial_path);
        return OVA_OK;
    }
    if (!o->resume) {
        if (have_partial)
            ova_logf(log, log_ctx, 1,
                     "%s: left by a journaled export to %s that stopped before its first durable point; it can be "
                     "deleted (--resume would start over in it)",
                     r->partial_path, out);
        return OVA_OK;
    }

    /* --resume: a journaled export, continued when there is a journal */
    if ((r->journal = calloc(1, sizeof *r->journal)) == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "out of memory");
    ova_status st = deps_now(o, prep, plan, &r->journal->deps, err);
    if (st != OVA_OK || !have_journal)
        return st;
    if (!have_partial)
        return ova_err_set(err, OVA_E_USAGE,
                           "%s: the resumable export's partial output %s is missing; nothing can be continued "
                           "(run with --overwrite instead of --resume to discard the journal and start over)",
                           r->journal_path, r->partial_path);
    ova_journal *saved = NULL;
    if ((st = ova_journal_load(r->journal_path, &saved, err)) != OVA_OK)
        return st;
    if ((st = ova_journal_match(&saved->deps, &r->journal->deps, r->journal_path, err)) != OVA_OK) {
        ova_journal_free(&saved);
        return st;
    }
    /* the saved point, with this run's dependencies (the same, checked) */
    ova_journal_deps_clear(&saved->deps);
    saved->deps = r->journal->deps;
    memset(&r->journal->deps, 0, sizeof r->journal->deps);
    ova_journal_free(&r->journal);
    r->journal = saved;
    const ova_journal_point *p = &saved->pt;
    r->first_unit = ova_resume_unit_at(plan, p->disk, p->grain);
    for (size_t i = 0; i < p->disk && i < plan->n_disks; i++)
        r->done_bytes += plan->disks[i]->capacity;
    if (p->disk < plan->n_disks) {
        uint64_t b = p->grain * (uint64_t)OVA_GRAIN_SIZE;
        r->done_bytes += b < plan->disks[p->disk]->capacity ? b : plan->disks[p->disk]->capacity;
    }
    if (p->disk < plan->n_disks)
        ova_logf(log, log_ctx, 0, "resuming the export to %s from %s: disk %u of %zu at %.2f GiB, %llu bytes of "
                 "output durable (unit %llu of %llu)", out, r->journal_path, p->disk + 1, plan->n_disks,
                 (double)p->grain * OVA_GRAIN_SIZE / 1073741824.0, (unsigned long long)p->pos,
                 (unsigned long long)r->first_unit, (unsigned long long)ova_plan_units(plan));
    else
        ova_logf(log, log_ctx, 0, "resuming the export to %s from %s: every disk is written (%llu bytes), only the "
                 "OVF, manifest and end remain", out, r->journal_path, (unsigned long long)p->pos);
    return OVA_OK;
}
