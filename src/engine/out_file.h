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
 * Once a direct write has succeeded, a full staging block is written on a
 * thread of its own while the next is filled in a second buffer (two
 * blocks, 16 MiB, in all), so the device is not idle during the copy; the
 * file's bytes and every error are as with one buffer (an error of the
 * write in flight comes from the next call).
 *
 * One thread at a time; the write-behind queue's thread owns it while it
 * runs.
 *
 * The write-behind queue (ova_out_queue, below) puts those writes on a
 * thread of their own: the writer hashes bytes on its thread, in order,
 * and hands them over with their file offset, so hashing the next unit
 * overlaps writing the last one. */
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

/* Word a full file system (ENOSPC, EDQUOT) in the user's terms from now
 * on: "FOLDER: disk full after writing X of about Y (FILE: strerror)",
 * X the bytes written so far and Y expected, the OVA's estimated size
 * (0: unknown, and "of about" is left out). folder is copied. */
void ova_out_file_set_space(ova_out_file *f, const char *folder, uint64_t expected);

/* Write n bytes at offset off. */
ova_status ova_out_file_pwrite(ova_out_file *f, const void *buf, size_t n, uint64_t off, ova_err *err);

/* Put every staged byte into the file; later writes go through the page
 * cache. Call before writing through fd directly, fsync and close. */
ova_status ova_out_file_flush(ova_out_file *f, ova_err *err);

/* Make every byte written so far durable, and go on writing: staged bytes
 * in whole blocks go out directly, the unaligned tail through fd (and stays
 * staged, to be written again with what follows it), then fdatasync. The
 * resume journal's durable points (journal.h) rest on this. */
ova_status ova_out_file_sync(ova_out_file *f, ova_err *err);

/* Before the first write: the file already holds off bytes that stay (a
 * resumed export, journal.h). The stage starts with the block they end in,
 * read back from the file, so its direct write keeps them. */
ova_status ova_out_file_resume_at(ova_out_file *f, uint64_t off, ova_err *err);

/* 1 while writes bypass the page cache. */
int ova_out_file_direct(const ova_out_file *f);

/* Close the second descriptor and free. Accepts NULL. */
void ova_out_file_close(ova_out_file **f);

/* ---- the write-behind queue ---- */

/* Bytes waiting for the write thread at most (one job may exceed it): the
 * memory this overlap costs on rank 0, on top of the unit window. */
#define OVA_OUT_QUEUE_MAX (64u << 20)

typedef struct ova_out_queue ova_out_queue;

/* Start the thread that writes queued jobs into f with
 * ova_out_file_pwrite. f must stay open until ova_out_queue_stop. name
 * (borrowed) is the output named in messages. */
ova_status ova_out_queue_start(ova_out_file *f, const char *name, ova_out_queue **out, ova_err *err);

/* Hand len bytes at file offset off to the write thread; release(arg)
 * (may be NULL) runs once they are written or dropped, also when this call
 * fails. Blocks while OVA_OUT_QUEUE_MAX bytes wait. After a write failed,
 * jobs are refused with that failure. */
ova_status ova_out_queue_put(ova_out_queue *q, const void *buf, size_t len, uint64_t off, void (*release)(void *),
                             void *arg, ova_err *err);

/* As ova_out_queue_put; with hash set, the write thread first passes the
 * bytes to the queue's hash (ova_out_queue_set_hash), in queue order: a
 * spooled disk (--parallel-disks, ova_writer.c) has its digest computed on
 * its own thread, beside the other disks'. A failed hash fails the queue. */
ova_status ova_out_queue_put_ex(ova_out_queue *q, const void *buf, size_t len, uint64_t off, int hash,
                                void (*release)(void *), void *arg, ova_err *err);

/* Bytes waiting at most from now on, instead of OVA_OUT_QUEUE_MAX (one
 * job may still exceed it): a VM's spools share one such budget. */
void ova_out_queue_limit(ova_out_queue *q, size_t max);

/* The function (nonzero: failure) jobs put with hash set go through, and
 * its context; NULL: none. Change it only while the queue is drained. */
void ova_out_queue_set_hash(ova_out_queue *q, int (*hash)(void *ctx, const void *p, size_t n), void *ctx);

/* Wait until every queued byte is in the file; the first write error, if any. */
ova_status ova_out_queue_drain(ova_out_queue *q, ova_err *err);

/* Stop the thread and free; with drop set, queued jobs are released
 * unwritten. Accepts NULL. */
void ova_out_queue_stop(ova_out_queue **q, int drop);

#endif
