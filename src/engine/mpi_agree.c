/* mpi_agree.c - agreeing on a phase's outcome (mpi_agree.h). */
#include "engine/mpi_agree.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

ova_status ova_mpi_agree(MPI_Comm comm, ova_status st, ova_err *err)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* one MIN finds the cause: real failures rank below "stopped because
     * another failed", which rank below success */
    int mine = st == OVA_OK ? INT_MAX : st == OVA_E_ABORTED ? size + rank : rank, key = INT_MAX;
    MPI_Allreduce(&mine, &key, 1, MPI_INT, MPI_MIN, comm);
    if (key == INT_MAX)
        return OVA_OK;
    int cause = key >= size ? key - size : key;
    int code = (int)st;
    MPI_Bcast(&code, 1, MPI_INT, cause, comm);
    if (cause != 0) {
        char msg[OVA_ERR_MAX];
        if (rank == cause) {
            char host[MPI_MAX_PROCESSOR_NAME] = "";
            int hl = 0;
            MPI_Get_processor_name(host, &hl);
            /* the rank and host prefix may cut the end of a long message */
            int k = snprintf(msg, sizeof msg, "rank %d on %.64s: ", rank, host);
            if (k < 0 || (size_t)k >= sizeof msg)
                k = 0;
            const char *own = err != NULL && err->msg[0] ? err->msg : ova_strstatus(st);
            snprintf(msg + k, sizeof msg - (size_t)k, "%s", own);
            MPI_Send(msg, (int)sizeof msg, MPI_CHAR, 0, 0, comm);
        } else if (rank == 0) {
            MPI_Recv(msg, (int)sizeof msg, MPI_CHAR, cause, 0, comm, MPI_STATUS_IGNORE);
            msg[sizeof msg - 1] = '\0';
            ova_err_clear(err);
            return ova_err_set(err, (ova_status)code, "%s", msg);
        }
    }
    if (rank == 0 && rank == cause)
        return st;
    if (code == (int)OVA_E_STOPPED) /* not a failure: every rank says the export stopped on request */
        return ova_err_set(err, OVA_E_STOPPED, "stopped at a durable point with rank %d", cause);
    if (st != OVA_OK)
        return st;
    return ova_err_set(err, OVA_E_ABORTED, "stopped because rank %d failed", cause);
}
