/* mpi_agree.h - the end of every collective phase: all ranks learn whether
 * any rank failed, and rank 0, which tells the user, gets the failing
 * rank's own status and message (export and validate share it). */
#ifndef OVATOOL_MPI_AGREE_H
#define OVATOOL_MPI_AGREE_H

#include <mpi.h>

#include "ovatool/status.h"

/* Collective over comm. st is this rank's outcome of the phase and err
 * holds its message when st is not OVA_OK. Returns OVA_OK on every rank
 * when every rank passed OVA_OK; otherwise a failure on every rank:
 *  - the cause is the lowest rank whose status is neither OK nor
 *    OVA_E_ABORTED (a rank that only stopped because another failed is
 *    not the cause), else the lowest failing rank;
 *  - rank 0 returns the cause's status, and err becomes the cause's
 *    message, prefixed "rank R on HOST: " when the cause is another rank;
 *  - any other failing rank keeps its own status and message;
 *  - a rank that did not fail returns OVA_E_ABORTED ("stopped because
 *    rank R failed").
 * MPI errors abort the job (the communicator's handler), as everywhere. */
ova_status ova_mpi_agree(MPI_Comm comm, ova_status st, ova_err *err);

#endif
