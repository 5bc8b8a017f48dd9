/* cli_mpi.c - MPI start-up for the commands that run on ranks.
 *
 * Started without a launcher (no mpirun, no srun with PMI), Open MPI 4.1
 * makes a singleton: it forks an orted helper for MPI-2 dynamics and
 * probes every high-speed transport, 0.3 s on these machines before the
 * first byte is read (measured with the demo VM: 0.50 s -> 0.19 s in all).
 * A singleton talks to nobody, so ovatool asks for neither: no helper
 * daemon, and the ob1 messaging layer (loopback only). Only defaults:
 * an OMPI_MCA_* value already in the environment wins, and under a
 * launcher nothing is changed. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static int launched(void)
{
    /* mpirun (ORTE/PRRTE), srun with PMIx or PMI-2 */
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]) != NULL)
            return 1;
    return 0;
}

int cli_mpi_init(int *argc, char ***argv, int required)
{
    if (!launched()) {
        setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
        setenv("OMPI_MCA_pml", "ob1", 0);
    }
    int provided = 0;
    if (MPI_Init_thread(argc, argv, required, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "ovatool: MPI_Init_thread failed\n");
        return -1;
    }
    return provided;
}
