/* cli_progress.c - showing export progress: a redrawn bar on a terminal,
 * plain timestamped lines (no carriage returns, no colours) in batch logs. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "ovatool/export.h"

void cli_progress_init(cli_progress *p, double secs)
{
    p->enabled = secs > 0 && !cli_quiet;
    p->tty = p->enabled && isatty(STDERR_FILENO);
    p->bar_shown = 0;
    p->out_what = "OVA";
}

void cli_progress_break(void *ctx)
{
    cli_progress *p = ctx;
    if (p != NULL && p->bar_shown) {
        fputc('\n', stderr);
        fflush(stderr);
        p->bar_shown = 0;
    }
}

void cli_progress_cb(void *ctx, const ova_progress *g)
{
    cli_progress *p = ctx;
    if (!p->enabled)
        return;
    double pct = g->total ? 100.0 * (double)g->done / (double)g->total : 100.0;
    double rate = g->seconds > 0 ? (double)g->done / g->seconds : 0;
    double left = rate > 0 ? (double)(g->total - g->done) / rate : 0;
    if (p->tty) {
        char bar[31];
        int fill = (int)(pct * 30 / 100);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %5.1f%%  %.2f/%.2f GiB  %7.1f MiB/s  ETA %3.0f s ", bar, pct,
                (double)g->done / 1073741824.0, (double)g->total / 1073741824.0, rate / 1048576.0, left);
        fflush(stderr);
        p->bar_shown = 1;
        if (g->final)
            cli_progress_break(p);
        return;
    }
    if (g->final)
        return; /* the summary line follows */
    cli_info("progress: %.2f of %.2f GiB (%.1f%%), %.1f MiB/s, %.0f s left, %s %.1f MiB so far",
             (double)g->done / 1073741824.0, (double)g->total / 1073741824.0, pct, rate / 1048576.0, left,
             p->out_what, (double)g->out_bytes / 1048576.0);
}
