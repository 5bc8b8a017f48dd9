/* intake_rate.c - the limit of scaling out: how fast rank 0 can take in
 * compressed units (receive + SHA-256 + write), when every other rank
 * sends ready-made blocks as fast as MPI carries them.
 *
 *   mpirun -n N intake_rate OUTFILE [MIB_PER_SENDER]
 *
 * Each sender builds one 32 MiB-of-disk unit of real grain records once
 * (random-ish text compressed with libdeflate, ~20% ratio) and sends it
 * repeatedly; rank 0 receives in any order, hashes and writes to OUTFILE,
 * which is removed at the end. Prints MB/s of compressed intake. */
#include <fcntl.h>
#include <mpi.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovatool/codec.h"
#include "ovatool/vmdk_stream.h"

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 2 || size < 2) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -n N (N >= 2) intake_rate OUTFILE [MIB_PER_SENDER]\n");
        MPI_Finalize();
        return 2;
    }
    long mib = argc > 2 ? atol(argv[2]) : 1024;
    size_t blob_cap = 512 * ova_grain_record_max();
    if (rank != 0) {
        /* one unit's worth of records from text-like grains */
        unsigned char *blob = malloc(blob_cap), grain[65536];
        ova_codec *c = ova_codec_new(OVA_CODEC_LIBDEFLATE, 6);
        size_t used = 0;
        unsigned s = 12345u * (unsigned)rank;
        for (int g = 0; g < 512; g++) {
            for (int i = 0; i < 65536; i++) {
                s = s * 1103515245u + 12345u;
                grain[i] = (unsigned char)("etaoinshrdlu \n0123"[(s >> 16) % 18]);
            }
            size_t n;
            ova_codec_compress(c, grain, sizeof grain, blob + used + 12, ova_grain_record_max() - 12, &n);
            used += ova_grain_record_finish(blob + used, (uint64_t)g * 128, (uint32_t)n);
        }
        long reps = (mib << 20) / (32l << 20);
        MPI_Send(&used, 1, MPI_UNSIGNED_LONG, 0, 1, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        for (long r = 0; r < reps; r++)
            MPI_Send(blob, (int)used, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
        free(blob);
        ova_codec_free(&c);
    } else {
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            perror(argv[1]);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        unsigned long used = 0;
        for (int r = 1; r < size; r++)
            MPI_Recv(&used, 1, MPI_UNSIGNED_LONG, r, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        long reps = (mib << 20) / (32l << 20), total = reps * (size - 1);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        unsigned long long bytes = 0;
        for (long i = 0; i < total; i++) {
            MPI_Status st;
            int count;
            MPI_Probe(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &st);
            MPI_Get_count(&st, MPI_BYTE, &count);
            unsigned char *b = malloc((size_t)count);
            MPI_Recv(b, count, MPI_BYTE, st.MPI_SOURCE, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            EVP_DigestUpdate(md, b, (size_t)count);
            if (write(fd, b, (size_t)count) != count) {
                perror("write");
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            free(b);
            bytes += (unsigned long long)count;
        }
        fsync(fd);
        double dt = MPI_Wtime() - t0;
        unsigned char dg[EVP_MAX_MD_SIZE];
        unsigned dl;
        EVP_DigestFinal_ex(md, dg, &dl);
        EVP_MD_CTX_free(md);
        close(fd);
        unlink(argv[1]);
        printf("senders=%d bytes=%llu seconds=%.3f intake_mb_s=%.1f\n", size - 1, bytes, dt, (double)bytes / dt / 1e6);
    }
    MPI_Finalize();
    return 0;
}
