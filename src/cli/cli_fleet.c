/* cli_fleet.c - `ovatool export` with several VMs (a fleet): the --list
 * file, the run and the per-VM summary (README "Fleets"). */
#include "cli_fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_json.h"

void cli_fleet_list_free(cli_fleet_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = 0;
}

/* Append dir (ending in '/', or "") and path, unless path is absolute. */
static int add(cli_fleet_list *l, const char *dir, const char *path, size_t len)
{
    char **p = realloc(l->paths, (l->n + 1) * sizeof *p);
    if (p == NULL)
        return 0;
    l->paths = p;
    size_t dl = path[0] == '/' ? 0 : strlen(dir);
    char *s = malloc(dl + len + 1);
    if (s == NULL)
        return 0;
    memcpy(s, dir, dl);
    memcpy(s + dl, path, len);
    s[dl + len] = '\0';
    l->paths[l->n++] = s;
    return 1;
}

int cli_fleet_add(cli_fleet_list *l, const char *vmx)
{
    return add(l, "", vmx, strlen(vmx));
}

/* One VMX path per line; blank lines and lines whose first non-blank
 * character is '#' are skipped; blanks around a path are dropped (a path
 * cannot start or end with one); a relative path is relative to the list
 * file's folder, so a list can sit beside its VMs and be used from anywhere. */
const char *cli_fleet_read_list(const char *file, cli_fleet_list *l)
{
    static char why[4200];
    FILE *fp = fopen(file, "r");
    if (fp == NULL) {
        snprintf(why, sizeof why, "--list %s: %s", file, strerror(errno));
        return why;
    }
    /* the list's folder with its '/', "" for the current one */
    const char *slash = strrchr(file, '/');
    char *dir = strndup(file, slash != NULL ? (size_t)(slash - file) + 1 : 0);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    const char *err = dir == NULL ? "out of memory" : NULL;
    while (err == NULL && (got = getline(&line, &cap, fp)) >= 0) {
        char *s = line, *e = line + got;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e || *s == '#')
            continue;
        if (!add(l, dir, s, (size_t)(e - s)))
            err = "out of memory";
    }
    free(dir);
    if (err == NULL && ferror(fp))
        err = "read error";
    free(line);
    fclose(fp);
    if (err != NULL) {
        snprintf(why, sizeof why, "--list %s: %s", file, err);
        return why;
    }
    if (l->n == 0) {
        snprintf(why, sizeof why, "--list %s: no VMX file in it", file);
        return why;
    }
    return NULL;
}

static const char *status_word(ova_status st) { return st == OVA_OK ? "ok" : "failed"; }

static void print_json(const ova_export_opts *o, const ova_fleet_result *r)
{
    ova_buf b = OVA_BUF_INIT;
    cli_json j;
    cli_json_init(&j, &b);
    cli_json_object(&j, NULL);
    cli_json_bool(&j, "fleet", true);
    cli_json_bool(&j, "dry_run", o->dry_run);
    cli_json_uint(&j, "vms_total", r->n_vms);
    cli_json_uint(&j, "vms_failed", r->failed);
    cli_json_double(&j, "seconds", r->seconds, 3);
    cli_json_int(&j, "ranks", r->n_ranks);
    cli_json_int(&j, "threads", r->threads_total);
    cli_json_str(&j, "codec", ova_codec_name(o->codec));
    cli_json_int(&j, "level", o->level);
    cli_json_uint(&j, "unit_grains", r->unit_grains);
    cli_json_uint(&j, "window", r->window);
    cli_json_uint(&j, "mem_limit", o->mem_limit);
    cli_json_array(&j, "vms");
    for (size_t i = 0; i < r->n_vms; i++) {
        const ova_fleet_vm *v = &r->vms[i];
        cli_json_object(&j, NULL);
        cli_json_str(&j, "vmx", v->vmx);
        cli_json_str(&j, "status", status_word(v->status));
        if (v->status != OVA_OK)
            cli_json_str(&j, "error", v->msg);
        cli_json_str(&j, "output", v->output);
        cli_json_uint(&j, "bytes_in", v->bytes_in);
        cli_json_uint(&j, "bytes_read", v->bytes_read);
        cli_json_uint(&j, "bytes_out", v->bytes_out);
        cli_json_uint(&j, "units", v->units);
        cli_json_uint(&j, "grains_written", v->grains_data);
        cli_json_uint(&j, "grains_stored", v->grains_stored);
        cli_json_double(&j, "seconds", v->seconds, 3);
        cli_json_int(&j, "queue_order", v->order);
        cli_json_int(&j, "writer_rank", v->writer_rank);
        cli_json_str(&j, "writer_host", v->writer_host);
        cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_array(&j, "rank_work");
    for (int i = 0; i < r->n_ranks; i++) {
        const ova_fleet_rank *k = &r->ranks[i];
        cli_json_object(&j, NULL);
        cli_json_int(&j, "rank", k->rank);
        cli_json_str(&j, "host", k->host);
        cli_json_int(&j, "threads", k->threads);
        cli_json_uint(&j, "units", k->units);
        cli_json_uint(&j, "bytes_read", k->bytes_read);
        cli_json_uint(&j, "bytes_compressed", k->bytes_compressed);
        cli_json_uint(&j, "vms_written", k->vms_written);
        cli_json_uint(&j, "rss_kb", k->rss_kb);
        cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_end(&j);
    ova_buf_putc(&b, '\n');
    if (!ova_buf_failed(&b))
        fputs(b.data, stdout);
    fflush(stdout);
    ova_buf_free(&b);
}

int cli_fleet_run(const ova_export_opts *o, const cli_fleet_list *l, const ova_export_hooks *hooks,
                  cli_progress *prog, int json, MPI_Comm comm)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    ova_fleet_result r;
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_export_fleet(o, (const char *const *)l->paths, l->n, comm, hooks, &r, &err);
    if (rank == 0) {
        cli_progress_break(prog);
        for (size_t i = 0; i < r.n_vms; i++) {
            const ova_fleet_vm *v = &r.vms[i];
            if (v->status != OVA_OK)
                cli_error("%s: not exported: %s", v->vmx, v->msg[0] ? v->msg : ova_strstatus(v->status));
            else if (o->dry_run)
                cli_info("%s: every check passed; would write %s", v->vmx, v->output);
            else
                cli_info("%s: wrote %s: %.1f MiB from %.2f GiB of disk, %.1f s; written by rank %d on %s", v->vmx,
                         v->output, (double)v->bytes_out / 1048576.0, (double)v->bytes_in / 1073741824.0,
                         v->seconds, v->writer_rank, v->writer_host);
        }
        for (int i = 0; i < r.n_ranks && !o->dry_run; i++)
            cli_info("rank %d on %s: %llu unit(s) compressed, %.1f MiB read, %.1f MiB out, %llu VM(s) written",
                     r.ranks[i].rank, r.ranks[i].host, (unsigned long long)r.ranks[i].units,
                     (double)r.ranks[i].bytes_read / 1048576.0, (double)r.ranks[i].bytes_compressed / 1048576.0,
                     (unsigned long long)r.ranks[i].vms_written);
        if (r.n_vms == 0 && st != OVA_OK)
            cli_error("%s", err.msg);
        else if (r.failed > 0)
            cli_error("%zu of %zu VM(s) failed, %zu exported (%.1f s)", r.failed, r.n_vms, r.n_vms - r.failed,
                      r.seconds);
        else
            cli_info("%s %zu VM(s) in %.1f s", o->dry_run ? "checked" : "exported", r.n_vms, r.seconds);
        if (json)
            print_json(o, &r);
    }
    ova_fleet_result_free(&r);
    return st == OVA_OK ? EXIT_OK : EXIT_FAIL;
}
