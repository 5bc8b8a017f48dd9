/* log.h - the library's one way to say something: a callback.
 *
 * The library never prints (status.h); what it has to tell a user that is
 * not an error (a warning, a note) goes to a log callback its caller gives
 * (level 0 note, 1 warning), and the CLI decides where it goes. This is the
 * one place that formats such a message and hands it on.
 */
#ifndef OVATOOL_UTIL_LOG_H
#define OVATOOL_UTIL_LOG_H

#include <stdarg.h>

typedef void (*ova_log_fn)(void *ctx, int level, const char *msg);

/* Format the message (cut at OVA_ERR_MAX bytes, as error messages are) and
 * pass it to fn; nothing when fn is NULL. */
void ova_logf(ova_log_fn fn, void *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ova_vlogf(ova_log_fn fn, void *ctx, int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
