/* import_input.h - the files an import reads, whether they are members of
 * an OVA (one descriptor, offsets from the tar walk of src/validate) or
 * files beside an .ovf: a table of (name, descriptor, offset, size), and the
 * manifest's digests matched to it. */
#ifndef OVATOOL_IMPORT_INPUT_H
#define OVATOOL_IMPORT_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "ovatool/manifest.h"
#include "ovatool/status.h"
#include "ovatool/validate.h"

typedef struct ova_in_member {
    char *name;              /* member name, or the file's name beside the .ovf */
    char *path;              /* the file to open: the OVA, or the file beside the .ovf */
    int fd;                  /* borrowed from the input (OVA) or owned (folder) */
    bool own_fd;
    uint64_t off, size;
    bool listed;             /* in the manifest */
    ova_sha alg;
    unsigned char digest[64];
    bool part;               /* of a chunked or gzip file: read in order through the member reader */
    size_t part_disk;        /* then: the imported disk it belongs to */
} ova_in_member;

/* A chunked file as a whole: DSP0243 lets the manifest list it beside its
 * chunks (its digest is of the chunks joined). */
typedef struct ova_in_whole {
    char *name;              /* ovf:href */
    bool listed;
    ova_sha alg;
    unsigned char digest[64];
} ova_in_whole;

typedef struct ova_input {
    char *label;             /* the input's base name, for messages */
    bool is_ova;
    int fd;                  /* the OVA (-1 for a folder) */
    uint64_t total;          /* bytes of the OVA, or of the folder's files */
    ova_in_member *m;
    size_t n;
    ssize_t ovf, mf;         /* indexes, -1 when absent */
    char *dir;               /* folder of the .ovf (folder input) */
    ova_vmember *vm;         /* the tar walk's table (OVA; same order as m), for the member reader */
    size_t nv;
    ova_in_whole *whole;     /* the chunked files, for manifest lines naming them whole */
    size_t n_whole;
} ova_input;

/* Open path: an .ova is walked as tar (any tar problem is an error naming
 * it); an .ovf is taken with NAME.mf beside it when present. */
ova_status ova_input_open(const char *path, ova_input *in, ova_err *err);
/* Add the file href beside the .ovf (folder input; an OVA must hold it as a
 * member already: returns its index either way), or -1 with an error when
 * it is missing. href must be a plain file name. */
ova_status ova_input_file(ova_input *in, const char *href, size_t *index, ova_err *err);
/* A chunked file of the OVF (before ova_input_manifest): a manifest line
 * may name it whole; *index is its entry in in->whole. */
ova_status ova_input_add_whole(ova_input *in, const char *href, size_t *index, ova_err *err);
/* Read the manifest (if any) and attach each line's digest to its member
 * (or chunked file); a line naming neither is an error. Returns the lines
 * read. */
ova_status ova_input_manifest(ova_input *in, size_t *lines, ova_err *err);
void ova_input_close(ova_input *in);

#endif
