/* import_tmp.c - the temporary files' tag, and their removal from a signal
 * handler (import_tmp.h). */
#include "import/import_tmp.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ovatool/import_run.h"

static char g_tag[64];
static pthread_once_t g_tag_once = PTHREAD_ONCE_INIT;
/* The folder, complete before the flag is set (as ova_target.c's path). */
static char g_dir[PATH_MAX];
static volatile sig_atomic_t g_armed;

static void make_tag(void)
{
    static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[8];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* no entropy yet (early boot): the clock, mixed */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        uint64_t x = (uint64_t)t.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)t.tv_sec;
        memcpy(r, &x, sizeof r);
    }
    char s[9];
    for (size_t i = 0; i < sizeof r; i++)
        s[i] = set[r[i] % (sizeof set - 1)];
    s[8] = '\0';
    snprintf(g_tag, sizeof g_tag, ".import-%ld-%s.tmp", (long)getpid(), s);
}

const char *ova_import_tmp_tag(void)
{
    pthread_once(&g_tag_once, make_tag);
    return g_tag;
}

void ova_import_tmp_arm(const char *dir)
{
    ova_import_tmp_tag();
    g_armed = 0;
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof g_dir)
        return;
    memcpy(g_dir, dir, n + 1);
    g_armed = 1;
}

void ova_import_tmp_disarm(void) { g_armed = 0; }

/* getdents64's record (the kernel's linux_dirent64). */
struct dent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* One pass over the folder; the names it removed. */
static int remove_pass(int dfd, const char *tag, size_t tlen)
{
    _Alignas(8) char buf[4096];
    int removed = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (n <= 0)
            return removed;
        for (long pos = 0; pos < n;) {
            const struct dent64 *d = (const struct dent64 *)(void *)(buf + pos);
            size_t len = strlen(d->name);
            if (d->name[0] == '.' && len > tlen && memcmp(d->name + len - tlen, tag, tlen) == 0 &&
                unlinkat(dfd, d->name, 0) == 0)
                removed++;
            pos += d->reclen;
        }
    }
}

int ova_import_signal_cleanup(void)
{
    if (!g_armed)
        return 0;
    int dfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    size_t tlen = strlen(g_tag);
    int removed = 0;
    /* entries removed while the folder is listed may hide others from the
     * same pass on some file systems: again until a pass finds none */
    for (int pass = 0; pass < 4; pass++) {
        int r = remove_pass(dfd, g_tag, tlen);
        removed += r;
        if (r == 0 || lseek(dfd, 0, SEEK_SET) != 0)
            break;
    }
    close(dfd);
    return removed;
}
