/* fuzz_member_reader.c - one OVF file's bytes across chunk members and
 * through gzip (validate.h: ova_member_reader_*, ova_member_file_size), as
 * `validate` and import read a disk another producer stored so.
 *
 * The input is multi-file (fuzz.h): the first part, "spec", is one line
 * "HREF CHUNKSIZE GZIP" (ovf:href, ovf:chunkSize, 1 for gzip); every
 * further part is a member of the archive under its own name (chunks are
 * HREF.000000000 ...). Contracts checked: reading in 7-byte and in 64 KiB
 * pieces gives the same outcome and the same bytes (on a failure, one
 * output a prefix of the other); a failure has a
 * message that names the file's member or stem; the tap sees, member by
 * member in reading order, exactly the stored bytes consumed (all of them
 * when the read succeeds); without gzip the bytes are the members joined;
 * ova_member_file_size agrees with the bytes read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ovatool/validate.h"

/* Output kept for the comparison; what is past it is only counted. */
#define KEEP ((size_t)4 << 20)

typedef struct tapped {
    uint64_t bytes;
    size_t last;
    size_t switches;
} tapped;

static ova_status tap(void *ctx, size_t member, const void *data, size_t n, ova_err *err)
{
    (void)data;
    (void)err;
    tapped *t = ctx;
    if (t->switches == 0 || member != t->last)
        t->switches++;
    t->last = member;
    t->bytes += n;
    return OVA_OK;
}

typedef struct outcome {
    ova_status st;
    unsigned char *out;
    uint64_t len;
    tapped t;
    char msg[OVA_ERR_MAX];
} outcome;

static void read_in(int fd, const ova_vmember *m, size_t n, const ova_ovf_file *spec, size_t piece, outcome *o)
{
    memset(o, 0, sizeof *o);
    o->out = malloc(KEEP);
    if (o->out == NULL)
        fuzz_fail("out of memory");
    unsigned char *buf = malloc(piece);
    if (buf == NULL)
        fuzz_fail("out of memory");
    ova_err err = { 0 };
    ova_member_reader *r;
    o->st = ova_member_reader_open(fd, m, n, spec, tap, &o->t, &r, &err);
    if (o->st == OVA_OK) {
        if (ova_member_reader_stored(r) == 0 && spec->chunk_size > 0)
            fuzz_fail("a chunked file of no stored bytes opened");
        for (size_t got = 1; got > 0 && o->st == OVA_OK;) {
            o->st = ova_member_reader_read(r, buf, piece, &got, &err);
            if (o->st == OVA_OK && got > piece)
                fuzz_fail("read %zu bytes into %zu", got, piece);
            if (o->st == OVA_OK && o->len < KEEP)
                memcpy(o->out + o->len, buf, got < KEEP - o->len ? got : (size_t)(KEEP - o->len));
            if (o->st == OVA_OK)
                o->len += got;
        }
        if (o->st == OVA_OK && o->t.bytes != ova_member_reader_stored(r))
            fuzz_fail("tap saw %llu stored bytes of %llu", (unsigned long long)o->t.bytes,
                      (unsigned long long)ova_member_reader_stored(r));
        const size_t *parts;
        if (o->t.switches > ova_member_reader_parts(r, &parts))
            fuzz_fail("tap saw members %zu times for %zu members", o->t.switches, ova_member_reader_parts(r, &parts));
        ova_member_reader_close(&r);
    }
    if (o->st != OVA_OK) {
        if (err.msg[0] == '\0')
            fuzz_fail("a failure without a message");
        if (strstr(err.msg, spec->href) == NULL && spec->href[0] != '\0')
            fuzz_fail("message \"%s\" does not name %s", err.msg, spec->href);
        snprintf(o->msg, sizeof o->msg, "%s", err.msg);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part parts[FUZZ_MAX_PARTS];
    size_t np = fuzz_split(data, size, "spec", parts);
    char line[128] = "";
    size_t ll = parts[0].len < sizeof line - 1 ? parts[0].len : sizeof line - 1;
    memcpy(line, parts[0].data, ll);
    line[ll] = '\0';
    char href[FUZZ_NAME_MAX + 1];
    unsigned long long chunk = 0;
    int gz = 0;
    if (sscanf(line, "%64s %llu %d", href, &chunk, &gz) != 3)
        return -1;

    /* members back to back in one memfd, as a tar's data would be */
    size_t total = 0;
    for (size_t i = 1; i < np; i++)
        total += parts[i].len;
    unsigned char *blob = malloc(total ? total : 1);
    if (blob == NULL)
        fuzz_fail("out of memory");
    ova_vmember m[FUZZ_MAX_PARTS];
    size_t n = 0, at = 0;
    for (size_t i = 1; i < np; i++, n++) {
        memset(&m[n], 0, sizeof m[n]);
        snprintf(m[n].name, sizeof m[n].name, "%s", parts[i].name);
        m[n].offset = at;
        m[n].size = parts[i].len;
        memcpy(blob + at, parts[i].data, parts[i].len);
        at += parts[i].len;
    }
    int fd = fuzz_memfd(blob, total);

    ova_ovf_file spec = { href, chunk, gz != 0 };
    outcome a, b;
    read_in(fd, m, n, &spec, 7, &a);
    read_in(fd, m, n, &spec, 65536, &b);
    /* a failed read may have handed over more or fewer bytes before it
     * failed (what a piece held when the stream broke is not returned):
     * then one output is a prefix of the other */
    uint64_t common = a.len < b.len ? a.len : b.len;
    if (a.st != b.st || (a.st == OVA_OK && a.len != b.len) ||
        memcmp(a.out, b.out, common < KEEP ? (size_t)common : KEEP) != 0)
        fuzz_fail("7-byte and 64 KiB reads differ (status %d/%d, %llu/%llu bytes)", (int)a.st, (int)b.st,
                  (unsigned long long)a.len, (unsigned long long)b.len);
    if (a.st == OVA_OK && !spec.gzip && a.len != a.t.bytes)
        fuzz_fail("without gzip, %llu bytes read from %llu stored", (unsigned long long)a.len,
                  (unsigned long long)a.t.bytes);
    uint64_t fsize = 0;
    ova_err err = { 0 };
    ova_status fst = ova_member_file_size(fd, m, n, &spec, &fsize, &err);
    if (fst != b.st || (fst == OVA_OK && fsize != b.len) || (fst != OVA_OK && err.msg[0] == '\0'))
        fuzz_fail("ova_member_file_size: status %d, %llu bytes; the read: status %d, %llu bytes", (int)fst,
                  (unsigned long long)fsize, (int)b.st, (unsigned long long)b.len);
    close(fd);
    free(a.out);
    free(b.out);
    free(blob);
    return 0;
}
