/* fuzz_util.c - scratch files, multi-file inputs and the disk exerciser
 * shared by the fuzz targets (fuzz.h). */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovatool/descriptor.h"
#include "ovatool/disk.h"
#include "ovatool/limits.h"
#include "ovatool/validate.h"
#include "disk/sparse.h"

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FUZZ CONTRACT BROKEN: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- scratch folder ---------------------------------------------------- */

static char scratch[4096];

static void scratch_remove(void)
{
    if (scratch[0] != '\0')
        rmdir(scratch); /* the targets remove their files after each input */
}

const char *fuzz_dir(void)
{
    if (scratch[0] != '\0')
        return scratch;
    const char *base = getenv("TMPDIR");
    struct stat sb;
    if (base == NULL || base[0] == '\0')
        base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                                                                  : "/tmp";
    int n = snprintf(scratch, sizeof scratch, "%s/ovatool-fuzz.XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof scratch || mkdtemp(scratch) == NULL)
        fuzz_fail("cannot make a scratch folder under %s: %s", base, strerror(errno));
    atexit(scratch_remove);
    return scratch;
}

char *fuzz_write(const char *name, const void *data, size_t n)
{
    const char *dir = fuzz_dir();
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(len);
    if (path == NULL)
        fuzz_fail("out of memory");
    snprintf(path, len, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fuzz_fail("%s: cannot create: %s", path, strerror(errno));
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fuzz_fail("%s: cannot write: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    if (close(fd) != 0)
        fuzz_fail("%s: cannot close: %s", path, strerror(errno));
    return path;
}

void fuzz_remove(char *path)
{
    if (path == NULL)
        return;
    if (unlink(path) != 0 && errno != ENOENT)
        fuzz_fail("%s: cannot remove: %s", path, strerror(errno));
    free(path);
}

int fuzz_memfd(const void *data, size_t n)
{
    int fd = memfd_create("ovatool-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        fuzz_fail("memfd_create: %s", strerror(errno));
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fuzz_fail("memfd write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return fd;
}

/* ---- multi-file inputs ------------------------------------------------- */

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > FUZZ_NAME_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* The next separator at or after from, or NULL. */
static const uint8_t *next_sep(const uint8_t *from, const uint8_t *end)
{
    size_t sl = sizeof FUZZ_FILE_SEP - 1;
    for (const uint8_t *p = from; (size_t)(end - p) >= sl; p++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (p == NULL || (size_t)(end - p) < sl)
            return NULL;
        if (memcmp(p, FUZZ_FILE_SEP, sl) == 0)
            return p;
    }
    return NULL;
}

size_t fuzz_split(const uint8_t *data, size_t size, const char *first_name, fuzz_part parts[FUZZ_MAX_PARTS])
{
    const uint8_t *end = data + size, *p = data;
    size_t n = 0;
    const char *name = first_name;
    size_t name_len = strlen(first_name);
    for (;;) {
        const uint8_t *sep = next_sep(p, end);
        const uint8_t *stop = sep ? sep : end;
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            if (strlen(parts[i].name) == name_len && memcmp(parts[i].name, name, name_len) == 0)
                dup = true;
        if (n < FUZZ_MAX_PARTS && name_ok(name, name_len) && !dup) {
            memcpy(parts[n].name, name, name_len);
            parts[n].name[name_len] = '\0';
            parts[n].data = p;
            parts[n].len = (size_t)(stop - p);
            n++;
        }
        if (sep == NULL)
            break;
        /* the name runs to the end of the separator line */
        const uint8_t *ns = sep + sizeof FUZZ_FILE_SEP - 1;
        const uint8_t *nl = memchr(ns, '\n', (size_t)(end - ns));
        if (nl == NULL)
            break; /* a separator without its line end: no more files */
        name = (const char *)ns;
        name_len = (size_t)(nl - ns);
        p = nl + 1;
    }
    return n;
}

/* ---- disk inputs ------------------------------------------------------- */

static bool windows_absolute(const char *h)
{
    return (((h[0] >= 'A' && h[0] <= 'Z') || (h[0] >= 'a' && h[0] <= 'z')) && h[1] == ':') ||
           (h[0] == '\\' && h[1] == '\\');
}

static bool local_name(const char *s, bool hint)
{
    if (s == NULL)
        return true;
    if (strchr(s, '/') != NULL)
        return false;
    if (strchr(s, '\\') != NULL && !(hint && windows_absolute(s)))
        return false;
    return true;
}

int fuzz_disk_names_local(const uint8_t *data, size_t size)
{
    char *text = NULL;
    size_t len = 0;
    ova_err err = { 0 };
    if (size >= 4 && memcmp(data, "KDMV", 4) == 0) {
        int fd = fuzz_memfd(data, size);
        ova_sparse_header h;
        ova_status st = ova_sparse_read_header(fd, "filter", size, &h, &err);
        if (st == OVA_OK && h.desc_offset != 0)
            st = ova_sparse_read_descriptor(fd, "filter", &h, OVA_DESC_MAX_SIZE, &text, &len, &err);
        close(fd);
        if (st != OVA_OK || text == NULL)
            return 1; /* the library stops before it reads any name */
    } else if (size >= 4 && memcmp(data, "COWD", 4) == 0) {
        return 1;
    } else if (size > OVA_DESC_MAX_SIZE) {
        return 1;
    }
    ova_descriptor *d = NULL;
    ova_status st = text ? ova_descriptor_parse(text, len, "filter", &d, &err)
                         : ova_descriptor_parse((const char *)data, size, "filter", &d, &err);
    free(text);
    if (st != OVA_OK)
        return 1;
    int ok = local_name(d->parent_hint, true);
    for (size_t i = 0; i < d->n_extents; i++)
        if (!local_name(d->extents[i].file_name, false))
            ok = 0;
    ova_descriptor_free(&d);
    return ok;
}

/* Read [off, off + len) as one call; zero ranges become zero bytes. The
 * first failure's message goes to why. */
static bool read_range(ova_disk_reader *r, uint64_t off, size_t len, uint8_t *buf, char *why, size_t why_cap)
{
    bool zero = false;
    uint64_t nread = 0;
    ova_err err = { 0 };
    if (ova_disk_read(r, off, len, buf, &zero, &nread, &err) != OVA_OK) {
        if (err.msg[0] == '\0')
            fuzz_fail("ova_disk_read failed without a message");
        if (why[0] == '\0')
            snprintf(why, why_cap, "read of %zu bytes at %llu: %s", len, (unsigned long long)off, err.msg);
        return false;
    }
    if (zero)
        memset(buf, 0, len);
    return true;
}

#define FIRST_SPAN ((size_t)192 << 10)
#define ODD_CHUNK ((size_t)65536 + 4 * 512) /* crosses grain and sector boundaries */
#define WINDOWS 4
#define WINDOW ((size_t)68 << 10)

/* Static: a large malloc per input costs ASan an mmap and a TLB flush. */
static uint8_t one[FIRST_SPAN], pieces[FIRST_SPAN];

/* Warnings of describe (paths outside the folder): counted, never printed. */
static void count_warning(void *ctx, int level, const char *msg)
{
    (void)level;
    if (msg == NULL)
        fuzz_fail("describe logged a NULL message");
    (*(unsigned *)ctx)++;
}

int fuzz_disk_exercise(const char *path, char *why, size_t why_cap)
{
    char scratch_why[OVA_ERR_MAX + 64];
    if (why == NULL || why_cap == 0) {
        why = scratch_why;
        why_cap = sizeof scratch_why;
    }
    why[0] = '\0';
    /* as `ovatool export` describes a disk: the scratch folder is the VM's,
     * paths outside it are warnings */
    unsigned warnings = 0;
    ova_describe_opts loose = { fuzz_dir(), false, count_warning, &warnings };
    ova_disk_info *d = NULL;
    ova_err err = { 0 };
    ova_status st = ova_disk_describe_ex(path, &loose, &d, &err);
    if (st != OVA_OK && err.msg[0] == '\0')
        fuzz_fail("describe failed without a message");
    /* --confine refuses those paths: where there were any, it must fail
     * (only then: a second describe of every input costs 40% of the speed) */
    if (warnings > 0) {
        ova_describe_opts confined = { fuzz_dir(), true, NULL, NULL };
        ova_disk_info *dc = NULL;
        ova_err errc = { 0 };
        ova_status stc = ova_disk_describe_ex(path, &confined, &dc, &errc);
        if (stc == OVA_OK)
            fuzz_fail("describe with confine accepted a disk that warned about %u path(s) outside the folder",
                      warnings);
        if (errc.msg[0] == '\0')
            fuzz_fail("describe with confine failed without a message");
        ova_disk_info_free(&dc);
    }
    if (st != OVA_OK) {
        snprintf(why, why_cap, "%s", err.msg);
        return st == OVA_E_UNSUPPORTED ? FUZZ_DISK_DECLINED : FUZZ_DISK_REFUSED;
    }
    /* what describe yields must be good enough for a reader (disk.h) */
    ova_err cerr = { 0 };
    if (ova_disk_info_check(d, &cerr) != OVA_OK)
        fuzz_fail("ova_disk_describe gave a description ova_disk_info_check refuses: %s", cerr.msg);
    if (d->chain_depth < 0 || d->chain_depth > OVA_CHAIN_MAX)
        fuzz_fail("chain depth %d", d->chain_depth);
    if (d->allocated > d->capacity)
        fuzz_fail("allocated %llu > capacity %llu", (unsigned long long)d->allocated,
                  (unsigned long long)d->capacity);

    ova_disk_reader *r = NULL;
    if (ova_disk_reader_open(d, &r, &err) != OVA_OK) {
        snprintf(why, why_cap, "reader: %s", err.msg);
        ova_disk_info_free(&d);
        return FUZZ_DISK_READ_FAILED;
    }
    uint64_t cap = d->capacity;
    bool ok = true;

    /* the first span: chunked reads must give what one read gives */
    size_t span = cap < FIRST_SPAN ? (size_t)cap : FIRST_SPAN;
    bool whole = read_range(r, 0, span, one, why, why_cap);
    bool chunks = true;
    for (size_t at = 0; at < span && chunks;) {
        size_t n = span - at < ODD_CHUNK ? span - at : ODD_CHUNK;
        chunks = read_range(r, at, n, pieces + at, why, why_cap);
        at += n;
    }
    if (whole && chunks && memcmp(one, pieces, span) != 0)
        fuzz_fail("reading the first %zu bytes in one call and in chunks gives different bytes", span);
    ok = whole && chunks;

    /* windows spread over the capacity, and the last bytes */
    for (unsigned k = 1; k <= WINDOWS; k++) {
        uint64_t off = cap / (WINDOWS + 1) * k / 512 * 512;
        size_t n = cap - off < WINDOW ? (size_t)(cap - off) : WINDOW;
        if (n > 0 && !read_range(r, off, n, one, why, why_cap))
            ok = false;
    }
    size_t tail = cap < 4096 ? (size_t)cap : 4096;
    if (!read_range(r, cap - tail, tail, one, why, why_cap))
        ok = false;

    ova_disk_reader_close(&r);
    ova_disk_info_free(&d);
    return ok ? FUZZ_DISK_OK : FUZZ_DISK_READ_FAILED;
}

void fuzz_check_problem_lines(const struct ova_vlist *l)
{
    size_t pos = 0, len, lines = 0;
    const char *s;
    while ((s = ova_vlist_next(l, &pos, &len)) != NULL) {
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                fuzz_fail("problem line %zu holds control character 0x%02x", lines + 1, (unsigned char)s[i]);
        lines++;
    }
    if (lines != l->kept || l->kept > l->count)
        fuzz_fail("problem list: %zu lines, kept %zu, count %llu", lines, l->kept, (unsigned long long)l->count);
}
