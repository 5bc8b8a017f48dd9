/* buf.h - a growable byte buffer for building text (OVF, manifest, JSON)
 * and small binary blobs (the broadcast plan).
 *
 * Allocation failure is sticky: after one failed append every later append
 * is a no-op and ova_buf_failed() reports it, so builders can append freely
 * and check once at the end.
 */
#ifndef OVATOOL_BUF_H
#define OVATOOL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ova_buf {
    char *data;   /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    bool failed;
} ova_buf;

#define OVA_BUF_INIT { NULL, 0, 0, false }

void ova_buf_free(ova_buf *b);
void ova_buf_reset(ova_buf *b);                 /* len = 0, keeps memory */
bool ova_buf_failed(const ova_buf *b);
void ova_buf_append(ova_buf *b, const void *p, size_t n);
void ova_buf_puts(ova_buf *b, const char *s);
void ova_buf_putc(ova_buf *b, char c);
void ova_buf_printf(ova_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append n bytes of value c. */
void ova_buf_fill(ova_buf *b, char c, size_t n);

/* Append s with the five XML special characters escaped (&amp; &lt; &gt;
 * &quot; &apos;) and control characters other than TAB/LF/CR dropped (XML 1.0
 * cannot carry them at all). Invalid UTF-8 bytes are replaced by U+FFFD so
 * the output is always well-formed. */
void ova_buf_put_xml(ova_buf *b, const char *s);

/* Value of a hexadecimal digit (either case), or -1. */
int ova_hex_digit(char c);

/* Append s as the body of a JSON string (without the surrounding quotes). */
void ova_buf_put_json(ova_buf *b, const char *s);

#endif
