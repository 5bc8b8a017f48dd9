/* cli_log.c - timestamped log lines and small argument parsers for the CLI. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

bool cli_quiet;

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if s does not start
 * one (a stray continuation byte, an overlong form, a surrogate, past
 * U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

void cli_buf_text(ova_buf *b, const char *s)
{
    static const char hx[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
    while (*p) {
        size_t n = utf8_len(p);
        /* C0 controls, DEL, C1 controls (U+0080-U+009F: 0x9b is CSI), bad UTF-8 */
        int bad = n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)) || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0);
        if (!bad) {
            ova_buf_append(b, p, n);
            p += n;
            continue;
        }
        for (size_t i = 0; i < (n ? n : 1); i++) {
            char e[4] = { '\\', 'x', hx[p[i] >> 4], hx[p[i] & 15] };
            ova_buf_append(b, e, sizeof e);
        }
        p += n ? n : 1;
    }
}

/* Every log line passes through cli_buf_text: messages quote file names and
 * file content (VMX values, descriptor lines, member names), and a line
 * must not carry terminal escapes or forge further lines. */
__attribute__((format(printf, 2, 0))) static void vlog(const char *level, const char *fmt, va_list ap);
static void vlog(const char *level, const char *fmt, va_list ap)
{
    char ts[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ova_buf safe = OVA_BUF_INIT;
    cli_buf_text(&safe, msg);
    fprintf(stderr, "[%s] ovatool: %s%s\n", ts, level, ova_buf_failed(&safe) || safe.data == NULL ? "" : safe.data);
    fflush(stderr);
    ova_buf_free(&safe);
}

void cli_info(const char *fmt, ...)
{
    if (cli_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog("", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("warning: ", fmt, ap);
    va_end(ap);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("error: ", fmt, ap);
    va_end(ap);
}

bool cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || s[0] == '-')
        return false;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return false;
    }
    if (*end == 'i' || *end == 'I')
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0' || v == 0 || (shift && v > (~0ull >> shift)))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

bool cli_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}
