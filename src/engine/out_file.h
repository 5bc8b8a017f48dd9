/* out_file.h - the OVA's bytes on their way to the file, with O_DIRECT
 * where the file system takes it.
 *
 * Why: the OVA is written once and not read again by us, so the page cache
 * only costs CPU (a kernel copy of every byte plus page allocation, 7% of
 * all CPU time of a 2-core export in a perf profile of the benchmark) and
 * evicts the source disks' pages. With O_DIRECT the same bytes are copied
 * once into an aligned staging buffer and DMAed from there.
 *
 * Writes are positioned, as the writer's are: mostly appends, plus tar
 * headers filled in behind the stream. The staging buffer holds the
 * aligned block the stream is in; a write inside it is merged, a write
 * below it (already in the file) goes through the ordinary descriptor, and
 * a gap above it is filled with zeros (nothing has been written there yet).
 * If the file system refuses O_DIRECT (at open, or EINVAL on the first
 * write: tmpfs before Linux 6.6, some FUSE file systems), everything goes
 * through the page cache instead, with the same bytes in the file.
 *
 * One thread at a time; the writer's I/O thread owns it while it runs. */
#ifndef OVATOOL_OUT_FILE_H
#define OVATOOL_OUT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/status.h"

/* Direct writes go out in pieces of this size, aligned to OVA_OUT_ALIGN. */
#define OVA_OUT_STAGE (8u << 20)
#define OVA_OUT_ALIGN 4096u

typedef struct ova_out_file ova_out_file;

/* fd: the file, open for writing (the caller keeps it and closes it after
 * ova_out_file_close). path: its name, for messages. Unless want_direct is
 * 0, the file is opened a second time with O_DIRECT through
 * /proc/self/fd (so it is fd's file even if its name now leads elsewhere;
 * without /proc by name, not following a link, checked to be fd's file). */
ova_status ova_out_file_open(int fd, const char *path, int want_direct, ova_out_file **out, ova_err *err);

/* Write n bytes at offset off. */
ova_status ova_out_file_pwrite(ova_out_file *f, const void *buf, size_t n, uint64_t off, ova_err *err);

/* Put every staged byte into the file; later writes go through the page
 * cache. Call before writing through fd directly, fsync and close. */
ova_status ova_out_file_flush(ova_out_file *f, ova_err *err);

/* pwrite all n bytes at off through fd (retrying short and interrupted
 * writes) or say which file and offset failed. */
ova_status ova_pwrite_full(int fd, const void *buf, size_t n, uint64_t off, const char *path, ova_err *err);

/* 1 while writes bypass the page cache. */
int ova_out_file_direct(const ova_out_file *f);

/* Close the second descriptor and free. Accepts NULL. */
void ova_out_file_close(ova_out_file **f);

#endif
