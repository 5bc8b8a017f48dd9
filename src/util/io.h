/* io.h - opening the files ovatool reads (VMX, descriptors, extents).
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
#include <sys/stat.h>

#include "ovatool/status.h"

/* Open path read-only (O_CLOEXEC) if it is a regular file. what names the
 * file's role in messages and may be NULL:
 *   "PATH: cannot open[ WHAT]: strerror"
 *   "PATH: [WHAT ]is a FIFO, not a regular file"
 * On success *fd is open and *sb (if not NULL) holds its fstat. */
ova_status ova_open_source(const char *path, const char *what, int *fd, struct stat *sb, ova_err *err);

/* "a directory", "a FIFO", "a socket", "a character device", ... for a
 * file type that is not a regular file. */
const char *ova_file_kind(mode_t mode);

/* Copy at most max bytes of s (up to its NUL) into out (cap bytes, NUL
 * ended) for quoting in a message: control characters (C0, DEL, C1) and
 * bytes that are not valid UTF-8 become \xNN, so input text can never
 * drive the terminal the message is printed on. Returns out. */
char *ova_quote_text(char *out, size_t cap, const char *s, size_t max);

#endif
