/* cli_json.h - the one JSON writer of the command line (export --json,
 * info --json, validate --json): compact output, members in the order
 * written, commas placed by the writer, strings escaped by
 * ova_buf_put_json. Errors (out of memory, nesting deeper than
 * CLI_JSON_DEPTH, an unbalanced end) mark the buffer failed, which the
 * caller checks once with ova_buf_failed().
 *
 *   cli_json j;
 *   cli_json_init(&j, &b);
 *   cli_json_object(&j, NULL);
 *   cli_json_str(&j, "file", path);
 *   cli_json_array(&j, "disks");
 *   ...
 *   cli_json_end(&j);      (the array)
 *   cli_json_end(&j);      (the object)
 *
 * key is a member name inside an object and NULL for an array element or
 * the top-level value. */
#ifndef OVATOOL_CLI_JSON_H
#define OVATOOL_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/buf.h"

#define CLI_JSON_DEPTH 16

typedef struct cli_json {
    ova_buf *b;
    int depth;                     /* open objects and arrays */
    bool more[CLI_JSON_DEPTH + 1]; /* a value was written at that level: the next needs a comma */
    char close[CLI_JSON_DEPTH + 1]; /* '}' or ']' for each open level */
} cli_json;

void cli_json_init(cli_json *j, ova_buf *b);
/* open an object or array; close the innermost with cli_json_end */
void cli_json_object(cli_json *j, const char *key);
void cli_json_array(cli_json *j, const char *key);
void cli_json_end(cli_json *j);
/* a string; NULL writes null */
void cli_json_str(cli_json *j, const char *key, const char *v);
/* the first n bytes of v as a string (v need not end there) */
void cli_json_strn(cli_json *j, const char *key, const char *v, size_t n);
void cli_json_int(cli_json *j, const char *key, int64_t v);
void cli_json_uint(cli_json *j, const char *key, uint64_t v);
/* v with that many decimals ("%.*f"); null if it is not finite, which JSON
 * cannot carry */
void cli_json_double(cli_json *j, const char *key, double v, int decimals);
void cli_json_bool(cli_json *j, const char *key, bool v);

#endif
