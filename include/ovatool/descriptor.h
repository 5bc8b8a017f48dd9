/* descriptor.h - VMDK text descriptors (docs/formats.md section 2).
 *
 * A descriptor is either a small text .vmdk or the text embedded in a
 * sparse extent. This module parses the text only; opening extents is
 * disk.h's job.
 */
#ifndef OVATOOL_DESCRIPTOR_H
#define OVATOOL_DESCRIPTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovatool/status.h"

typedef enum ova_extent_type {
    OVA_EXTENT_FLAT = 0,    /* FLAT: raw data in a file at a sector offset */
    OVA_EXTENT_SPARSE,      /* SPARSE: hosted sparse (KDMV) extent */
    OVA_EXTENT_ZERO,        /* ZERO: reads as zeros, no file */
    OVA_EXTENT_VMFS,        /* VMFS: raw ESXi flat file, no offset */
    OVA_EXTENT_VMFSSPARSE,  /* VMFSSPARSE: COWD redo log */
    OVA_EXTENT_OTHER        /* anything else (RDM, raw, sesparse): refused by readers */
} ova_extent_type;

typedef enum ova_extent_access {
    OVA_ACCESS_RW = 0,
    OVA_ACCESS_RDONLY,
    OVA_ACCESS_NOACCESS
} ova_extent_access;

typedef struct ova_extent_desc {
    ova_extent_access access;
    uint64_t sectors;        /* size of the extent in 512-byte sectors */
    ova_extent_type type;
    char *type_name;         /* as written, e.g. "FLAT" */
    char *file_name;         /* as written (NULL for ZERO) */
    uint64_t offset;         /* sector offset in the file (FLAT only, else 0) */
} ova_extent_desc;

typedef struct ova_ddb_entry {
    char *key;               /* e.g. "ddb.adapterType", case as written */
    char *value;             /* unquoted */
} ova_ddb_entry;

typedef struct ova_descriptor {
    int version;             /* version= */
    uint32_t cid;            /* CID= (hex) */
    uint32_t parent_cid;     /* parentCID= (hex), 0xffffffff for a base disk */
    char *create_type;       /* createType=, unquoted */
    char *parent_hint;       /* parentFileNameHint=, NULL if absent */
    char *encoding;          /* encoding=, NULL if absent */
    ova_extent_desc *extents;
    size_t n_extents;
    ova_ddb_entry *ddb;
    size_t n_ddb;
    /* The first key that marks the disk as encrypted, as written, NULL if
     * none: a header key encryption.* (an encrypted hosted disk's descriptor
     * carries its key safe there) or ddb.keySafe / ddb.encryption.*.
     * Recorded, not refused: the parser also serves `validate`; describing a
     * disk refuses it. */
    char *encryption_key;
} ova_descriptor;

/* Parse descriptor text (len bytes; NUL bytes end the text, as in embedded
 * descriptors padded with NULs). name is used in messages: errors say
 * "NAME: line N: what is wrong". Requires version= and createType= and at
 * least one extent line. Keys are matched case-insensitively. */
ova_status ova_descriptor_parse(const char *text, size_t len, const char *name,
                                ova_descriptor **out, ova_err *err);

/* Free and set *d to NULL. Accepts NULL. */
void ova_descriptor_free(ova_descriptor **d);

/* Value of a ddb key (case-insensitive), or NULL. */
const char *ova_descriptor_ddb(const ova_descriptor *d, const char *key);

/* Sum of the extents' sectors. */
uint64_t ova_descriptor_sectors(const ova_descriptor *d);

/* d is a snapshot delta: it names a parent (a parentCID other than
 * ffffffff, or a parentFileNameHint). */
bool ova_descriptor_has_parent(const ova_descriptor *d);

#endif
