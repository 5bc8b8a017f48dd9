/* intake_rate.c - the limit of scaling out: how fast rank 0 takes in
 * compressed units through the real write path (receive, then
 * ova_writer_unit: SHA-256 on this thread, the file write on the writer's
 * own thread), when the other ranks send ready-made units as fast as MPI
 * carries them.
 *
 *   mpirun -n N intake_rate OUTFILE [MIB_PER_SENDER [UNIT_GRAINS [serial|distributed]]]
 *
 * Rank 0 runs the engine's threads: one receives (the service loop), one
 * hashes and hands bytes on (the write loop, ova_writer_unit), the
 * writer's I/O thread writes; received units wait between the first two
 * in a queue of at most 16. With "serial", one thread receives and hashes
 * in turn (how this tool measured before 2026-12-01), which shows what the
 * overlap is worth. With "distributed", the path of distributed writing
 * (engine/mpi_dwrite.c, the engine's own functions): each sender sends
 * rank 0 only its unit's header, rank 0 places the unit in the writer and
 * sends the sender its offset and the digest state, the sender hashes,
 * answers and pwrite()s its records into the same file; MB/s is then of
 * the compressed data written by everyone, so the two modes compare.
 *
 * Each sender compresses one unit (of the engine's multi-rank size, 512
 * grains = 32 MiB, or UNIT_GRAINS) of text-like grains once (libdeflate 6)
 * and sends it again and again, MIB_PER_SENDER (default 1024) of disk in
 * whole units; rank 0 writes them as consecutive units of one disk into a
 * real OVA at OUTFILE (removed at the end) and prints MB/s of compressed
 * data taken in. */
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovatool/codec.h"
#include "engine/mpi_engine.h"
#include "engine/ova_writer.h"
#include "engine/plan.h"
#include "engine/unit.h"
#include "ovatool/vm.h"

/* grains per unit: the engine's with several ranks, or the third argument */
static uint32_t UG = OVA_UNIT_GRAINS_MANY_RANKS;
#define UNIT_BYTES ((uint64_t)UG * OVA_GRAIN_SIZE)

/* One unit of records, built the way worker threads build them; 0 if the
 * codec fails. */
static size_t build_unit(unsigned char *blob, int seed)
{
    ova_unit_hdr *h = (ova_unit_hdr *)(void *)blob;
    memset(h, 0, sizeof *h);
    ova_codec *c = ova_codec_new(OVA_CODEC_LIBDEFLATE, 6);
    if (c == NULL)
        return 0;
    unsigned char grain[65536];
    unsigned char *rec = blob + sizeof *h;
    size_t used = 0;
    unsigned s = 12345u * (unsigned)seed;
    for (uint32_t g = 0; g < UG; g++) {
        for (int i = 0; i < 65536; i++) {
            s = s * 1103515245u + 12345u;
            grain[i] = (unsigned char)("etaoinshrdlu \n0123"[(s >> 16) % 18]);
        }
        size_t n = 0;
        if (ova_codec_compress(c, grain, sizeof grain, rec + used + OVA_GRAIN_MARKER_SIZE,
                               ova_grain_record_max() - OVA_GRAIN_MARKER_SIZE, &n) != OVA_OK) {
            ova_codec_free(&c);
            return 0;
        }
        h->rel[g] = (uint32_t)(1 + used / 512);
        used += ova_grain_record_finish(rec + used, (uint64_t)g * 128, (uint32_t)n);
    }
    ova_codec_free(&c);
    h->records_len = used;
    h->n_data = UG;
    h->n_grains = UG;
    return sizeof *h + used;
}

/* Received units on their way from the receiving thread to the hashing
 * one (rank 0), in unit order. */
#define QMAX 16
typedef struct intake_q {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *q[QMAX];
    long head, tail, total;
    ova_writer *w;
    int failed;
    ova_err err;
} intake_q;

/* The hashing thread: units off the queue into the writer, in order. */
static void *hash_loop(void *arg)
{
    intake_q *iq = arg;
    for (long u = 0; u < iq->total; u++) {
        pthread_mutex_lock(&iq->mu);
        while (iq->head == iq->tail)
            pthread_cond_wait(&iq->cv, &iq->mu);
        unsigned char *b = iq->q[iq->head % QMAX];
        iq->head++;
        pthread_cond_broadcast(&iq->cv);
        pthread_mutex_unlock(&iq->mu);
        ova_unit_hdr *h = (ova_unit_hdr *)(void *)b;
        if (ova_writer_unit(iq->w, h, b + sizeof *h, free, b, &iq->err) != OVA_OK) {
            iq->failed = 1;
            break;
        }
    }
    return NULL;
}

/* The receiving thread's hand-over: wait while the queue is full. */
static void enqueue(intake_q *iq, unsigned char *b)
{
    pthread_mutex_lock(&iq->mu);
    while (iq->tail - iq->head >= QMAX)
        pthread_cond_wait(&iq->cv, &iq->mu);
    iq->q[iq->tail % QMAX] = b;
    iq->tail++;
    pthread_cond_broadcast(&iq->cv);
    pthread_mutex_unlock(&iq->mu);
}

/* A whole decimal number in [lo, hi], else -1. */
static long number(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || v < lo || v > hi ? -1 : v;
}

/* Every rank checks the same arguments, so all of them stop here together. */
static int usage(int rank, const char *msg)
{
    if (rank == 0)
        fprintf(stderr, "intake_rate: %s\n"
                        "usage: mpirun -n N (N >= 2) intake_rate OUTFILE [MIB_PER_SENDER [UNIT_GRAINS [serial|distributed]]]\n",
                msg);
    MPI_Finalize();
    return 2;
}

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 2 || argc > 5 || size < 2)
        return usage(rank, "needs an output file and at least one sender");
    if (argc > 4 && strcmp(argv[4], "serial") != 0 && strcmp(argv[4], "distributed") != 0)
        return usage(rank, "the fourth argument can only be \"serial\" or \"distributed\"");
    int serial = argc > 4 && strcmp(argv[4], "serial") == 0;
    int distributed = argc > 4 && !serial;
    /* distributed: the engine state mpi_dwrite.c's functions read */
    static ova_engine E;
    E.comm = MPI_COMM_WORLD;
    E.rank = rank;
    E.size = size;
    E.dw_fd = -1;
    E.dwrite = distributed;
    long mib = argc > 2 ? number(argv[2], 1, 1L << 30) : 1024;
    if (mib < 0)
        return usage(rank, "MIB_PER_SENDER must be a number from 1 to 2^30");
    if (argc > 3) {
        long ug = number(argv[3], 1, OVA_GT_ENTRIES);
        if (ug < 0 || (ug & (ug - 1)) != 0)
            return usage(rank, "UNIT_GRAINS must be a power of two up to 512");
        UG = (uint32_t)ug;
    }
    long reps = (mib << 20) / (long)UNIT_BYTES; /* units per sender */
    if (reps < 1) {
        char msg[120];
        snprintf(msg, sizeof msg, "MIB_PER_SENDER must hold at least one unit of %u grains (%u MiB)", UG, UG / 16);
        return usage(rank, msg);
    }
    size_t blob_max = ova_unit_max_size(UG);
    if (rank != 0) {
        unsigned char *blob = malloc(blob_max);
        size_t len = blob != NULL ? build_unit(blob, rank) : 0;
        if (len == 0) {
            fprintf(stderr, "intake_rate: rank %d could not build its unit\n", rank);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        char path[4096] = "";
        if (distributed) {
            MPI_Bcast(path, (int)sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
            E.dw_path = path;
            if ((E.dw_fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
                fprintf(stderr, "intake_rate: rank %d: %s: %s\n", rank, path, strerror(errno));
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        }
        /* distributed: one worker thread (this one) and the rank's holder
         * thread, with the engine's two buffers */
        ova_worker wk = { &E, NULL, 0, NULL, 0, 0, NULL };
        pthread_t holder;
        if (distributed) {
            E.unit_max = blob_max;
            E.n_threads = E.dw_workers = 1;
            pthread_mutex_init(&E.mu, NULL);
            pthread_cond_init(&E.dw_cv, NULL);
            if ((E.held = calloc(OVA_DWRITE_HELD_PER_THREAD, sizeof *E.held)) == NULL ||
                pthread_create(&holder, NULL, ova_dwrite_holder_main, &E) != 0) {
                fprintf(stderr, "intake_rate: rank %d cannot start its holder thread\n", rank);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        }
        MPI_Barrier(MPI_COMM_WORLD);
        for (long r = 0; r < reps; r++) {
            if (!distributed) {
                MPI_Send(blob, (int)len, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
                continue;
            }
            /* the unit "compressed" again into the next buffer */
            if ((wk.blob = ova_dwrite_buffer(&wk)) == NULL) {
                fprintf(stderr, "intake_rate: rank %d: out of memory\n", rank);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            memcpy(wk.blob, blob, len);
            /* units go round the senders in rank order (rank 0 receives them so) */
            ((ova_unit_hdr *)(void *)wk.blob)->unit = (uint64_t)(r * (size - 1) + rank - 1);
            ova_dwrite_deliver(&wk);
        }
        if (distributed) {
            ova_dwrite_worker_done(&E);
            pthread_join(holder, NULL);
            if (E.local_err.status != OVA_OK) {
                fprintf(stderr, "intake_rate: rank %d: %s\n", rank, E.local_err.msg);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            free(wk.spare);
            free(E.held);
            close(E.dw_fd);
            MPI_Barrier(MPI_COMM_WORLD); /* every record in the file before rank 0 finishes it */
        }
        free(blob);
        MPI_Finalize();
        return 0;
    }

    /* rank 0: a VM with one disk of total units, written through ova_writer */
    long total = reps * (size - 1);
    ova_controller ctrl = { OVA_BUS_SCSI, 0, OVA_SCSI_LSILOGIC };
    ova_device dev = { OVA_DEV_DISK, OVA_BUS_SCSI, 0, 0, "intake.vmdk", "intake.vmdk", "scsi0:0", false, NULL, OVA_CDROM_IMAGE, true };
    ova_vm vm = { .display_name = "intake", .guest_os = "other-64", .num_vcpus = 1, .memory_mb = 256,
                  .hw_version = 14, .controllers = &ctrl, .n_controllers = 1, .devices = &dev, .n_devices = 1 };
    ova_disk_info *d = calloc(1, sizeof *d);
    ova_disk_info **disks = calloc(1, sizeof *disks);
    if (d == NULL || disks == NULL || (d->path = strdup("intake.vmdk")) == NULL ||
        (d->create_type = strdup("monolithicFlat")) == NULL ||
        (d->extents = calloc(1, sizeof *d->extents)) == NULL) {
        fprintf(stderr, "intake_rate: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    d->capacity = (uint64_t)total * UNIT_BYTES;
    d->n_extents = 1;
    d->extents[0] = (ova_extent){ .type = OVA_EXTENT_ZERO, .start = 0, .size = d->capacity };
    disks[0] = d;
    ova_plan *plan = NULL;
    ova_err err;
    ova_err_clear(&err);
    ova_writer *w = NULL;
    ova_writer_opts wo = { OVA_SHA256, 0, 0, distributed, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0,
                           distributed };
    /* the writer takes a prepared export (prepare.h): this one by hand */
    ova_prepared_disk pd = { .info = d, .device = &dev, .controller = &ctrl, .adapter = "lsilogic" };
    ova_prepared prep = { .vm = &vm, .disks = &pd, .n_disks = 1 };
    if (strlen(argv[1]) >= sizeof prep.output) {
        fprintf(stderr, "intake_rate: output path too long\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    strcpy(prep.output, argv[1]);
    ova_member_base(prep.output, prep.member_base);
    snprintf(pd.member, sizeof pd.member, "%s-disk1.vmdk", prep.member_base);
    if (ova_plan_new(disks, 1, UG, &plan, &err) != OVA_OK ||
        ova_writer_open(&prep, plan, &wo, &w, &err) != OVA_OK) {
        fprintf(stderr, "intake_rate: %s\n", err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (distributed) {
        char path[4096];
        snprintf(path, sizeof path, "%s", ova_writer_partial_path(w));
        MPI_Bcast(path, (int)sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
        E.writer = w;
    }
    intake_q iq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { NULL }, 0, 0, total, w, 0, { 0 } };
    ova_err_clear(&iq.err);
    pthread_t hasher;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (!serial && !distributed && pthread_create(&hasher, NULL, hash_loop, &iq) != 0) {
        fprintf(stderr, "intake_rate: cannot start the hashing thread\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    unsigned long long bytes = 0;
    for (long u = 0; u < total; u++) {
        MPI_Status st;
        int count;
        /* distributed: the holder knows its unit by the number it sent, so
         * units are taken round the senders in rank order */
        MPI_Probe(distributed ? (int)(u % (size - 1)) + 1 : MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &st);
        MPI_Get_count(&st, MPI_BYTE, &count);
        if (count < (int)sizeof(ova_unit_hdr) || (size_t)count > blob_max) {
            fprintf(stderr, "intake_rate: unit of %d bytes from rank %d\n", count, st.MPI_SOURCE);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        unsigned char *b = malloc((size_t)count);
        if (b == NULL) {
            fprintf(stderr, "intake_rate: out of memory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MPI_Recv(b, count, MPI_BYTE, st.MPI_SOURCE, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        ova_unit_hdr *h = (ova_unit_hdr *)(void *)b;
        h->unit = (uint64_t)u;
        bytes += h->records_len;
        if (distributed) {
            ova_status ds = ova_dwrite_place(&E, b, st.MPI_SOURCE, &err);
            free(b);
            if (ds != OVA_OK) {
                fprintf(stderr, "intake_rate: %s\n", err.msg);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        } else if (!serial) {
            enqueue(&iq, b);
        } else if (ova_writer_unit(w, h, b + sizeof *h, free, b, &err) != OVA_OK) {
            fprintf(stderr, "intake_rate: %s\n", err.msg);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    if (!serial && !distributed) {
        pthread_join(hasher, NULL);
        if (iq.failed) {
            fprintf(stderr, "intake_rate: %s\n", iq.err.msg);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    if (distributed)
        MPI_Barrier(MPI_COMM_WORLD);
    if (ova_writer_finish(&w, &err) != OVA_OK) {
        fprintf(stderr, "intake_rate: %s\n", err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double dt = MPI_Wtime() - t0;
    unlink(argv[1]);
    ova_plan_free(&plan);
    printf("senders=%d unit_grains=%u mode=%s bytes=%llu seconds=%.3f intake_mb_s=%.1f\n", size - 1, UG,
           serial ? "serial" : distributed ? "distributed" : "overlap", bytes, dt, (double)bytes / dt / 1e6);
    MPI_Finalize();
    return 0;
}
