/* io.h - opening the files ovatool reads (VMX, descriptors, extents), and
 * the one pread/pwrite loop every layer uses.
 *
 * Every source file is opened through ova_open_source(): a FIFO, a device
 * or a socket named as a disk must be refused, not waited on. open(2) of a
 * FIFO without O_NONBLOCK blocks until a writer appears (forever, for a
 * hostile VMX), so the file is opened with O_NONBLOCK, its type checked
 * with fstat before a single byte is read, and O_NONBLOCK cleared again.
 */
#ifndef OVATOOL_IO_H
#define OVATOOL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ovatool/status.h"

/* Open path read-only (O_CLOEXEC) if it is a regular file. what names the
 * file's role in messages and may be NULL:
 *   "PATH: not readable by user NAME (uid N); run as a user who can read it
 *    or fix its permissions"   (EACCES: every file an export reads comes here)
 *   "PATH: cannot open[ WHAT]: strerror"
 *   "PATH: [WHAT ]is a FIFO, not a regular file"
 * On success *fd is open and *sb (if not NULL) holds its fstat. */
ova_status ova_open_source(const char *path, const char *what, int *fd, struct stat *sb, ova_err *err);

/* ova_open_source() for a file that is only looked at, not read: *sb gets
 * its fstat (size, device and inode, which the readers check again later)
 * and the file is closed again. Same messages as ova_open_source(). */
ova_status ova_stat_source(const char *path, const char *what, struct stat *sb, ova_err *err);

/* The one pread loop: read n bytes at off, retrying short reads and EINTR.
 * Returns 0 when all n bytes were read or the file ended first (then
 * *done < n), else the errno of the failed pread; *done always holds the
 * bytes read. Callers word their own messages (a sparse extent's end is a
 * format problem, an OVA's an I/O one). */
int ova_pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *done);

/* pread exactly n bytes at off, naming path and the offset on failure or
 * at end of file ("what" says what was being read):
 *   "PATH: read of WHAT (N bytes at offset O) failed: strerror"   OVA_E_IO
 *   "PATH: unexpected end of file at offset O reading WHAT (file truncated?)"   OVA_E_FORMAT */
ova_status ova_pread_exact(int fd, void *buf, size_t n, uint64_t off, const char *path, const char *what,
                           ova_err *err);

/* The one pwrite loop: write n bytes at off, retrying short writes and
 * EINTR. Returns 0 when all n bytes were written, or when a pwrite took
 * nothing (then *done < n), else the errno of the failed pwrite; *done
 * always holds the bytes written. For callers that word a full disk their
 * own way (out_file.c); the others use ova_pwrite_exact. */
int ova_pwrite_all(int fd, const void *buf, size_t n, uint64_t off, size_t *done);

/* pwrite exactly n bytes at off, retrying short writes and EINTR:
 *   "PATH: write at offset O failed: strerror", "PATH: write at offset O wrote nothing"
 * (both OVA_E_IO). */
ova_status ova_pwrite_exact(int fd, const void *buf, size_t n, uint64_t off, const char *path, ova_err *err);
/* ova_pwrite_exact's verdict on an ova_pwrite_all of n bytes at off that
 * returned e and wrote done, for callers that look at e first. */
ova_status ova_pwrite_result(int e, size_t n, uint64_t off, size_t done, const char *path, ova_err *err);

/* bytes as "812 bytes", "4.0 MiB", "1.3 GiB" (powers of 1024, one
 * decimal) for messages. Returns out. */
const char *ova_size_text(uint64_t bytes, char out[32]);

/* "user NAME (uid N)" for the effective user (or "uid N" when it has no
 * name), for messages about permissions. Returns out. */
const char *ova_user_desc(char *out, size_t cap);

/* "a directory", "a FIFO", "a socket", "a character device", ... for a
 * file type that is not a regular file. */
const char *ova_file_kind(mode_t mode);

/* Copy at most max bytes of s (up to its NUL) into out (cap bytes, NUL
 * ended) for quoting in a message: control characters (C0, DEL, C1) and
 * bytes that are not valid UTF-8 become \xNN, so input text can never
 * drive the terminal the message is printed on. Returns out. */
char *ova_quote_text(char *out, size_t cap, const char *s, size_t max);

/* fsync the folder holding path (the folder part of path, or "."), so a
 * rename or a new name in it is durable. */
ova_status ova_fsync_folder(const char *path, ova_err *err);
/* The folder of path (as ova_fsync_folder), opened to be synced later:
 * a descriptor, or -1 with err set. Opened before a rename, so that
 * running out of descriptors shows while nothing is in place yet. */
int ova_open_folder(const char *path, ova_err *err);

/* A second descriptor of fd's file (path, for systems without /proc) opened
 * O_WRONLY | O_DIRECT, its own open file description so fd stays buffered;
 * -1 when the file system refuses O_DIRECT or the file cannot be reopened
 * as the very same inode. Writes through it must be aligned (4 KiB is safe). */
int ova_reopen_direct(int fd, const char *path);

#endif
