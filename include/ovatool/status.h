/* status.h - status codes and error messages shared by the whole library.
 *
 * Library functions never print and never exit. They return an ova_status
 * and, when they fail, describe the failure in a caller-supplied ova_err:
 * a message that names the file and what is wrong with it, so the CLI can
 * print it as is, from whichever rank hit it.
 */
#ifndef OVATOOL_STATUS_H
#define OVATOOL_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum ova_status {
    OVA_OK = 0,
    OVA_E_IO,          /* a system call on a file failed (errno in the message) */
    OVA_E_FORMAT,      /* an input file is malformed */
    OVA_E_UNSUPPORTED, /* an input is valid but not something we export */
    OVA_E_NOMEM,       /* allocation failed */
    OVA_E_USAGE,       /* the caller asked for something impossible */
    OVA_E_CODEC,       /* the compressor failed */
    OVA_E_MPI,         /* an MPI call failed */
    OVA_E_ABORTED,     /* another rank failed; this one stopped */
    OVA_E_INTERNAL,    /* a bug: ovatool broke one of its own rules (the message says which) */
    OVA_E_STOPPED      /* a journaled export stopped on request at a durable point: resumable */
} ova_status;

/* Room for one message: long enough for two paths and an explanation. */
#define OVA_ERR_MAX 2048

typedef struct ova_err {
    ova_status status;
    char msg[OVA_ERR_MAX];
} ova_err;

/* Short constant text for a status ("I/O error", ...). Never NULL. */
const char *ova_strstatus(ova_status st);

/* Record a failure in err (may be NULL) and return st, so callers can write
 * `return ova_err_set(err, OVA_E_FORMAT, "%s: line %d: ...", path, line);`.
 * The first failure wins: a message already present is kept, because the
 * first error is the cause and later ones are usually consequences. */
ova_status ova_err_set(ova_err *err, ova_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ova_err_set, appending ": strerror(errnum)". */
ova_status ova_err_errno(ova_err *err, ova_status st, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clear err so it can be reused. */
void ova_err_clear(ova_err *err);

#endif
