/* cli_json.c - the command line's JSON writer (cli_json.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_json.h"

void cli_json_init(cli_json *j, ova_buf *b)
{
    memset(j, 0, sizeof *j);
    j->b = b;
}

/* The comma before a value (unless it is the first at its level) and the
 * key when there is one. */
static void value_start(cli_json *j, const char *key)
{
    if (j->more[j->depth])
        ova_buf_putc(j->b, ',');
    j->more[j->depth] = true;
    if (key != NULL) {
        ova_buf_putc(j->b, '"');
        ova_buf_put_json(j->b, key);
        ova_buf_puts(j->b, "\":");
    }
}

static void open_level(cli_json *j, const char *key, char open, char close)
{
    value_start(j, key);
    if (j->depth >= CLI_JSON_DEPTH) {
        j->b->failed = true; /* deeper than any output of ovatool: a bug, reported as a failure */
        return;
    }
    ova_buf_putc(j->b, open);
    j->depth++;
    j->more[j->depth] = false;
    j->close[j->depth] = close;
}

void cli_json_object(cli_json *j, const char *key)
{
    open_level(j, key, '{', '}');
}

void cli_json_array(cli_json *j, const char *key)
{
    open_level(j, key, '[', ']');
}

void cli_json_end(cli_json *j)
{
    if (j->depth == 0) {
        j->b->failed = true;
        return;
    }
    ova_buf_putc(j->b, j->close[j->depth]);
    j->depth--;
}

void cli_json_str(cli_json *j, const char *key, const char *v)
{
    value_start(j, key);
    if (v == NULL) {
        ova_buf_puts(j->b, "null");
        return;
    }
    ova_buf_putc(j->b, '"');
    ova_buf_put_json(j->b, v);
    ova_buf_putc(j->b, '"');
}

void cli_json_strn(cli_json *j, const char *key, const char *v, size_t n)
{
    /* ova_buf_put_json takes a C string */
    char *t = strndup(v != NULL ? v : "", v != NULL ? n : 0);
    if (t == NULL) {
        j->b->failed = true;
        value_start(j, key);
        return;
    }
    cli_json_str(j, key, t);
    free(t);
}

void cli_json_int(cli_json *j, const char *key, int64_t v)
{
    value_start(j, key);
    ova_buf_printf(j->b, "%lld", (long long)v);
}

void cli_json_uint(cli_json *j, const char *key, uint64_t v)
{
    value_start(j, key);
    ova_buf_printf(j->b, "%llu", (unsigned long long)v);
}

void cli_json_double(cli_json *j, const char *key, double v, int decimals)
{
    value_start(j, key);
    if (isfinite(v))
        ova_buf_printf(j->b, "%.*f", decimals, v);
    else
        ova_buf_puts(j->b, "null");
}

void cli_json_bool(cli_json *j, const char *key, bool v)
{
    value_start(j, key);
    ova_buf_puts(j->b, v ? "true" : "false");
}
