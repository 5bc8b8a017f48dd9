/* status.c - status texts and the first-error-wins message recorder. */
#include "ovatool/status.h"

#include <stdio.h>
#include <string.h>

const char *ova_strstatus(ova_status st)
{
    switch (st) {
    case OVA_OK: return "success";
    case OVA_E_IO: return "I/O error";
    case OVA_E_FORMAT: return "malformed input";
    case OVA_E_UNSUPPORTED: return "unsupported input";
    case OVA_E_NOMEM: return "out of memory";
    case OVA_E_USAGE: return "usage error";
    case OVA_E_CODEC: return "compression error";
    case OVA_E_MPI: return "MPI error";
    case OVA_E_ABORTED: return "aborted";
    case OVA_E_INTERNAL: return "internal error";
    case OVA_E_STOPPED: return "stopped, resumable";
    }
    return "unknown error";
}

__attribute__((format(printf, 4, 0)))
static void err_vset(ova_err *err, ova_status st, const char *suffix, const char *fmt, va_list ap)
{
    if (err == NULL || err->status != OVA_OK)
        return;
    err->status = st;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (suffix != NULL && n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", suffix);
}

ova_status ova_err_set(ova_err *err, ova_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, st, NULL, fmt, ap);
    va_end(ap);
    return st;
}

ova_status ova_err_errno(ova_err *err, ova_status st, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, st, strerror(errnum), fmt, ap);
    va_end(ap);
    return st;
}

void ova_err_clear(ova_err *err)
{
    if (err != NULL) {
        err->status = OVA_OK;
        err->msg[0] = '\0';
    }
}
