/* log.c - format a message for a log callback (log.h). */
#include "util/log.h"

#include <stdio.h>

#include "ovatool/status.h"

void ova_vlogf(ova_log_fn fn, void *ctx, int level, const char *fmt, va_list ap)
{
    if (fn == NULL)
        return;
    char msg[OVA_ERR_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fn(ctx, level, msg);
}

void ova_logf(ova_log_fn fn, void *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ova_vlogf(fn, ctx, level, fmt, ap);
    va_end(ap);
}
