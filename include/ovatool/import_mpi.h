/* import_mpi.h - `ovatool import` over MPI ranks (src/import/mpi_import.c).
 * Apart from import_run.h so that only its callers need <mpi.h>. */
#ifndef OVATOOL_IMPORT_MPI_H
#define OVATOOL_IMPORT_MPI_H

#include <mpi.h>

#include "ovatool/import_run.h"
#include "ovatool/status.h"

/* Collective over comm. Rank 0 runs ova_import(): it reads the input, and
 * its threads and every thread of the other ranks inflate and write the
 * grain batches (each rank opens the input and the output's temporary
 * files by name: the same paths must reach the same files on every rank).
 * The output does not depend on the rank count. Returns the same status on
 * every rank; r and err are filled on rank 0. */
ova_status ova_import_mpi(const ova_import_opts *o, MPI_Comm comm, ova_import_result *r, ova_err *err);

#endif
