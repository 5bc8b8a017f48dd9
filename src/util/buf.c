/* buf.c - growable byte buffer with XML and JSON escaping helpers. */
#include "ovatool/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

void ova_buf_free(ova_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void ova_buf_reset(ova_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

bool ova_buf_failed(const ova_buf *b) { return b->failed; }

/* Make room for n more bytes plus a terminating NUL. */
static bool reserve(ova_buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return true;
    char *p = ova_grow(b->data, &b->cap, need, 1);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    return true;
}

void ova_buf_append(ova_buf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ova_buf_puts(ova_buf *b, const char *s) { ova_buf_append(b, s, strlen(s)); }

void ova_buf_putc(ova_buf *b, char c) { ova_buf_append(b, &c, 1); }

void ova_buf_fill(ova_buf *b, char c, size_t n)
{
    if (!reserve(b, n))
        return;
    memset(b->data + b->len, c, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ova_buf_printf(ova_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    /* U+FFFE and U+FFFF are not XML characters either */
    if (cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return n;
}

void ova_buf_put_xml(ova_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        switch (c) {
        case '&': ova_buf_puts(b, "&amp;"); p++; continue;
        case '<': ova_buf_puts(b, "&lt;"); p++; continue;
        case '>': ova_buf_puts(b, "&gt;"); p++; continue;
        case '"': ova_buf_puts(b, "&quot;"); p++; continue;
        case '\'': ova_buf_puts(b, "&apos;"); p++; continue;
        default: break;
        }
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            p++; /* not representable in XML 1.0 */
            continue;
        }
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            ova_buf_puts(b, "\xEF\xBF\xBD");
            p++;
            continue;
        }
        ova_buf_append(b, p, n);
        p += n;
    }
}

void ova_buf_put_json(ova_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            ova_buf_putc(b, '\\');
            ova_buf_putc(b, (char)c);
            p++;
        } else if (c < 0x20) {
            ova_buf_printf(b, "\\u%04x", c);
            p++;
        } else {
            size_t n = utf8_seq_len(p);
            if (n == 0) {
                ova_buf_puts(b, "\\ufffd");
                p++;
            } else {
                ova_buf_append(b, p, n);
                p += n;
            }
        }
    }
}

int ova_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
