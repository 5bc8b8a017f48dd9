/* tar.c - ustar member headers for the OVA archive, with GNU base-256 sizes. */
#include "format/tar.h"

#include <string.h>

/* Field offsets and sizes of the ustar header (docs/formats.md section 5.2). */
#define F_NAME 0
#define F_NAME_LEN 100
#define F_MODE 100
#define F_UID 108
#define F_GID 116
#define F_SIZE 124
#define F_SIZE_LEN 12
#define F_MTIME 136
#define F_MTIME_LEN 12
#define F_CHKSUM 148
#define F_CHKSUM_LEN 8
#define F_TYPEFLAG 156
#define F_MAGIC 257
#define F_VERSION 263
#define F_UNAME 265
#define F_GNAME 297
#define F_DEVMAJOR 329
#define F_DEVMINOR 337

/* Write value as n zero-padded octal digits (no terminator). Callers make
 * sure it fits; higher digits would be dropped. Done by hand rather than
 * with snprintf so no truncation can hide in a format width. */
static void octal_digits(unsigned char *dst, size_t n, uint64_t value)
{
    for (size_t i = n; i > 0; i--) {
        dst[i - 1] = (unsigned char)('0' + (value & 7));
        value >>= 3;
    }
}

/* A numeric field: len-1 octal digits and a NUL. */
static void put_octal(unsigned char *field, size_t len, uint64_t value)
{
    octal_digits(field, len - 1, value);
    field[len - 1] = '\0';
}

/* Largest value that len-1 octal digits can hold. */
static uint64_t octal_max(size_t len)
{
    return (UINT64_C(1) << (3 * (len - 1))) - 1;
}

/* Byte sum of the header with the checksum field read as blanks, which is
 * how the checksum is defined (unsigned bytes; signed for old writers). */
static unsigned long header_sum(const unsigned char hdr[OVA_TAR_BLOCK], int as_signed)
{
    long sum = 0;
    for (size_t i = 0; i < OVA_TAR_BLOCK; i++) {
        unsigned char c = (i >= F_CHKSUM && i < F_CHKSUM + F_CHKSUM_LEN) ? ' ' : hdr[i];
        /* some historic tars summed signed chars; readers accept both */
        sum += as_signed ? (long)(signed char)c : (long)c;
    }
    return (unsigned long)sum;
}

/* Parse an octal numeric field: optional leading blanks, at least one
 * digit, then only NUL/blank terminators up to the end of the field. A
 * field filled with digits and no terminator is accepted, as GNU tar does. */
static int parse_octal(const unsigned char *field, size_t len, uint64_t *value)
{
    size_t i = 0;
    while (i < len && field[i] == ' ')
        i++;
    size_t start = i;
    uint64_t v = 0;
    while (i < len && field[i] >= '0' && field[i] <= '7') {
        if (v > (UINT64_MAX >> 3))
            return 0;
        v = (v << 3) | (uint64_t)(field[i] - '0');
        i++;
    }
    if (i == start)
        return 0;
    for (; i < len; i++)
        if (field[i] != '\0' && field[i] != ' ')
            return 0;
    *value = v;
    return 1;
}

static int name_ok(const char *name, const char **why)
{
    size_t n = strlen(name);
    if (n == 0) {
        *why = "is empty";
        return 0;
    }
    if (n >= F_NAME_LEN) {
        /* the name field needs its NUL; longer names would need GNU 'L'
         * records, which some OVA readers mishandle */
        *why = "is 100 bytes or longer";
        return 0;
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        *why = "is not a file name";
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p == '/') {
            *why = "contains '/' (OVA members live at the top level)";
            return 0;
        }
        if (*p < 0x20 || *p == 0x7f) {
            *why = "contains a control character";
            return 0;
        }
    }
    return 1;
}

ova_status ova_tar_header(unsigned char hdr[OVA_TAR_BLOCK], const char *name, uint64_t size,
                          int64_t mtime, ova_err *err)
{
    const char *why = NULL;
    if (hdr == NULL || name == NULL)
        return ova_err_set(err, OVA_E_USAGE, "tar member: no header buffer or no name");
    if (!name_ok(name, &why))
        return ova_err_set(err, OVA_E_USAGE, "tar member name \"%.120s\" %s", name, why);

    memset(hdr, 0, OVA_TAR_BLOCK);
    memcpy(hdr + F_NAME, name, strlen(name));
    memcpy(hdr + F_MODE, "0000644", 8);
    put_octal(hdr + F_UID, 8, 0);
    put_octal(hdr + F_GID, 8, 0);

    if (size <= OVA_TAR_OCTAL_MAX) {
        put_octal(hdr + F_SIZE, F_SIZE_LEN, size);
    } else {
        /* GNU base-256: flag byte 0x80, then the value big-endian in the
         * remaining 11 bytes; PAX would be rejected by vSphere/VirtualBox */
        unsigned char *f = hdr + F_SIZE;
        f[0] = 0x80;
        uint64_t v = size;
        for (size_t i = F_SIZE_LEN - 1; i >= 1; i--) {
            f[i] = (unsigned char)(v & 0xff);
            v >>= 8;
        }
    }

    /* mtime has no base-256 form here: clamp rather than fail, any valid
     * value will do for an OVA */
    uint64_t mt = mtime < 0 ? 0 : (uint64_t)mtime;
    if (mt > octal_max(F_MTIME_LEN))
        mt = octal_max(F_MTIME_LEN);
    put_octal(hdr + F_MTIME, F_MTIME_LEN, mt);

    hdr[F_TYPEFLAG] = '0';
    memcpy(hdr + F_MAGIC, "ustar", 6); /* includes the NUL: POSIX "ustar\0" */
    memcpy(hdr + F_VERSION, "00", 2);
    memcpy(hdr + F_UNAME, "root", 4);
    memcpy(hdr + F_GNAME, "root", 4);
    put_octal(hdr + F_DEVMAJOR, 8, 0);
    put_octal(hdr + F_DEVMINOR, 8, 0);

    /* checksum last: 6 octal digits, NUL, blank (the historic layout every
     * reader accepts); the sum of 512 bytes is at most 130560, 6 digits */
    octal_digits(hdr + F_CHKSUM, 6, header_sum(hdr, 0));
    hdr[F_CHKSUM + 6] = '\0';
    hdr[F_CHKSUM + 7] = ' ';
    return OVA_OK;
}

int ova_tar_parse_size(const unsigned char hdr[OVA_TAR_BLOCK], uint64_t *size)
{
    if (hdr == NULL || size == NULL)
        return 0;
    const unsigned char *f = hdr + F_SIZE;
    if (f[0] & 0x80) {
        /* base-256: bit 6 of the first byte is the sign; a negative size is
         * meaningless. The first byte's low 6 bits are the top of the value. */
        if (f[0] & 0x40)
            return 0;
        uint64_t v = f[0] & 0x3f;
        for (size_t i = 1; i < F_SIZE_LEN; i++) {
            if (v > (UINT64_MAX >> 8))
                return 0;
            v = (v << 8) | f[i];
        }
        *size = v;
        return 1;
    }
    return parse_octal(f, F_SIZE_LEN, size);
}

int ova_tar_checksum_ok(const unsigned char hdr[OVA_TAR_BLOCK])
{
    if (hdr == NULL)
        return 0;
    uint64_t stored;
    if (!parse_octal(hdr + F_CHKSUM, F_CHKSUM_LEN, &stored))
        return 0;
    return stored == header_sum(hdr, 0) || stored == header_sum(hdr, 1);
}
