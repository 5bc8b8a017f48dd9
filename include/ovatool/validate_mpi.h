/* validate_mpi.h - `ovatool validate` over MPI ranks (src/validate/mpi_validate.c).
 * Apart from validate.h so that the rest of the validator's API (and the
 * unit tests and fuzz targets that use it) does not pull in <mpi.h>.
 */
#ifndef OVATOOL_VALIDATE_MPI_H
#define OVATOOL_VALIDATE_MPI_H

#include <mpi.h>

#include "ovatool/status.h"
#include "ovatool/validate.h"

/* Collective over comm: rank 0 runs the metadata checks; with o->deep the
 * sound disks' grain tables are shared out (rank r inflates the grains of
 * grain-table groups g with g % size == r) and the grain problems gathered
 * to rank 0, sorted by disk and LBA, so the result does not depend on the
 * rank count. Returns the same status on every rank; v is complete on rank
 * 0; elsewhere only the verdict is set: v->problems.count, v->risks.count and
 * v->risk_importers. */
ova_status ova_validate_mpi(const char *path, const ova_validate_opts *o, MPI_Comm comm,
                            ova_validation *v, ova_err *err);

#endif
