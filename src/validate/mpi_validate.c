/* mpi_validate.c - `ovatool validate` over MPI: rank 0 checks the metadata,
 * every rank inflates the grains of its share of grain-table groups, and
 * the grain problems are gathered to rank 0 in a rank-independent order. */
#include "ovatool/validate_mpi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/mpi_agree.h"
#include "util/io.h"

/* Agree on a status: the failing rank's message goes to rank 0 and every
 * rank returns a failure (engine/mpi_agree.h). */
static ova_status agree(MPI_Comm comm, int rank, ova_status st, ova_err *err)
{
    (void)rank;
    return ova_mpi_agree(comm, st, err);
}

ova_status ova_validate_mpi(const char *path, const ova_validate_opts *o, MPI_Comm user_comm,
                            ova_validation *v, ova_err *err)
{
    MPI_Comm comm;
    int rank = 0, size = 1;
    if (MPI_Comm_dup(user_comm, &comm) != MPI_SUCCESS)
        return ova_err_set(err, OVA_E_MPI, "MPI_Comm_dup failed");
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);

    ova_status st = OVA_OK;
    if (rank == 0)
        st = ova_validate_meta(path, o, v, err);
    st = agree(comm, rank, st, err);
    if (st != OVA_OK || !o->deep)
        goto verdict;

    /* the sound disks' facts go to every rank (a few hundred bytes each) */
    uint64_t nd = rank == 0 ? v->n_disks : 0;
    MPI_Bcast(&nd, 1, MPI_UINT64_T, 0, comm);
    ova_vdisk *disks = rank == 0 ? v->disks : NULL;
    if (rank != 0 && nd > 0) {
        disks = calloc((size_t)nd, sizeof *disks);
        if (disks == NULL)
            st = ova_err_set(err, OVA_E_NOMEM, "out of memory for %llu disk records", (unsigned long long)nd);
    }
    st = agree(comm, rank, st, err);
    if (st != OVA_OK) {
        if (rank != 0)
            free(disks);
        goto verdict;
    }
    if (nd > 0)
        MPI_Bcast(disks, (int)(nd * sizeof *disks), MPI_BYTE, 0, comm);

    ova_deep_result r = { 0 };
    int fd = -1;
    bool any = false;
    for (uint64_t i = 0; i < nd; i++)
        any = any || disks[i].sound;
    if (any) /* st is OVA_OK here; a FIFO is refused, not waited on */
        st = ova_open_source(path, NULL, &fd, NULL, err);
    for (uint64_t i = 0; i < nd && st == OVA_OK; i++)
        st = ova_validate_deep_disk(fd, &disks[i], i, (unsigned)rank, (unsigned)size, &r, err);
    if (fd >= 0)
        close(fd);
    if (rank != 0)
        free(disks);
    st = agree(comm, rank, st, err);
    if (st != OVA_OK) {
        ova_deep_result_free(&r);
        goto verdict;
    }

    /* gather: counts, then the kept problems (at most 100 per rank) */
    uint64_t sums[2] = { r.count, r.inflated }, tot[2] = { 0, 0 };
    MPI_Reduce(sums, tot, 2, MPI_UINT64_T, MPI_SUM, 0, comm);
    int bytes = (int)(r.n * sizeof(ova_deep_problem));
    int *counts = NULL, *displs = NULL;
    ova_deep_problem *all = NULL;
    int failed = 0;
    if (rank == 0) {
        counts = calloc((size_t)size, sizeof *counts);
        displs = calloc((size_t)size, sizeof *displs);
        failed = counts == NULL || displs == NULL;
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, comm);
    if (failed) {
        free(counts);
        free(displs);
        ova_deep_result_free(&r);
        st = ova_err_set(err, rank == 0 ? OVA_E_NOMEM : OVA_E_ABORTED, "out of memory gathering grain problems");
        goto verdict;
    }
    MPI_Gather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    if (rank == 0) {
        int total = 0;
        for (int i = 0; i < size; i++) {
            displs[i] = total;
            total += counts[i];
        }
        all = malloc(total > 0 ? (size_t)total : 1);
        failed = all == NULL;
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, comm);
    if (!failed)
        MPI_Gatherv(r.probs, bytes, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, comm);
    if (rank == 0 && !failed) {
        size_t n_all = 0;
        for (int i = 0; i < size; i++)
            n_all += (size_t)counts[i] / sizeof(ova_deep_problem);
        ova_validate_merge_deep(v, all, n_all, tot[0], tot[1]);
    }
    if (failed)
        st = ova_err_set(err, rank == 0 ? OVA_E_NOMEM : OVA_E_ABORTED, "out of memory gathering grain problems");
    free(all);
    free(counts);
    free(displs);
    ova_deep_result_free(&r);

verdict:
    if (st == OVA_OK) {
        /* every rank learns the verdict (problems, and the risks a target
         * or --strict judges), so all exit with the same code */
        uint64_t facts[3] = { 0, 0, 0 };
        if (rank == 0) {
            facts[0] = v->problems.count;
            facts[1] = v->risks.count;
            facts[2] = v->risk_importers;
        }
        MPI_Bcast(facts, 3, MPI_UINT64_T, 0, comm);
        if (rank != 0) {
            v->problems.count = facts[0];
            v->risks.count = facts[1];
            v->risk_importers = (unsigned)facts[2];
        }
    }
    MPI_Comm_free(&comm);
    return st;
}
