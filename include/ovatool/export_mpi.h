/* export_mpi.h - the export itself, collective over an MPI communicator
 * (src/engine/mpi_export.c). Apart from export.h so that the rest of the
 * library, which shares the options and results, does not pull in <mpi.h>.
 */
#ifndef OVATOOL_EXPORT_MPI_H
#define OVATOOL_EXPORT_MPI_H

#include <mpi.h>

#include "ovatool/export.h"
#include "ovatool/status.h"

/* Run the export (export.h says how). Returns OVA_OK on every rank, or an
 * error on every rank. hooks may be NULL. */
ova_status ova_export(const ova_export_opts *opts, MPI_Comm comm, const ova_export_hooks *hooks,
                      ova_export_stats *stats, ova_err *err);

#endif
