/* vmx.h - reading VMware .vmx configuration files.
 *
 * A VMX is a list of `key = "value"` lines. This module turns it into a
 * key/value table: keys compared case-insensitively, values with their
 * `|XX` hex escapes decoded and converted to UTF-8 from the file's
 * `.encoding`, the last of duplicate keys winning. Interpreting the keys
 * (disks, NICs, ...) is vm.h's job.
 */
#ifndef OVATOOL_VMX_H
#define OVATOOL_VMX_H

#include <stdbool.h>
#include <stddef.h>

#include "ovatool/limits.h"
#include "ovatool/status.h"

typedef struct ova_vmx_entry {
    char *key;    /* lower-cased */
    char *value;  /* decoded, UTF-8 */
    int line;     /* 1-based line of the (last) definition, for messages */
} ova_vmx_entry;

typedef struct ova_vmx {
    char *path;              /* for messages; may be "<memory>" */
    ova_vmx_entry *entries;  /* in order of first appearance */
    size_t n_entries;
    /* Private to vmx.c: hash index into entries (1-based, 0 = empty slot),
     * so lookups stay fast on huge files. NULL means "scan entries". */
    size_t *slots;
    size_t n_slots;
} ova_vmx;

/* Parse VMX text of len bytes. name is used in messages (NULL: "<memory>"). */
ova_status ova_vmx_parse(const char *text, size_t len, const char *name, ova_vmx **out, ova_err *err);

/* Read and parse a regular file (a FIFO, device or folder is refused before
 * anything is read); files over OVA_VMX_MAX_SIZE and lines over
 * OVA_VMX_MAX_LINE (limits.h) are refused. */
ova_status ova_vmx_load(const char *path, ova_vmx **out, ova_err *err);

/* Free and set *vmx to NULL. Accepts NULL. */
void ova_vmx_free(ova_vmx **vmx);

/* Value of key (any case), or NULL if absent. */
const char *ova_vmx_get(const ova_vmx *vmx, const char *key);

/* The entry for key (any case), or NULL if absent: gives the line for messages. */
const ova_vmx_entry *ova_vmx_find(const ova_vmx *vmx, const char *key);

/* Like ova_vmx_get, with printf-style key construction ("scsi%d:%d.fileName"). */
const char *ova_vmx_getf(const ova_vmx *vmx, const char *keyfmt, ...) __attribute__((format(printf, 2, 3)));

/* VMware boolean: true/false/yes/no/on/off/1/0/t/f/y/n in any case, and an
 * empty value counts as true. Returns def when the key is absent or the value
 * is not a boolean. */
bool ova_vmx_bool(const ova_vmx *vmx, const char *key, bool def);

/* Parse a VMware boolean string; returns false if it is not one. */
bool ova_vmx_parse_bool(const char *s, bool *out);

#endif
