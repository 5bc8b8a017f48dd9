/* export_mpi.h - the export itself, collective over an MPI communicator
 * (src/engine/mpi_export.c). Apart from export.h so that the rest of the
 * library, which shares the options and results, does not pull in <mpi.h>.
 */
#ifndef OVATOOL_EXPORT_MPI_H
#define OVATOOL_EXPORT_MPI_H

#include <mpi.h>

#include "ovatool/export.h"
#include "ovatool/fleet.h"
#include "ovatool/status.h"

/* Run the export (export.h says how). Returns OVA_OK on every rank, or an
 * error on every rank. hooks may be NULL. */
ova_status ova_export(const ova_export_opts *opts, MPI_Comm comm, const ova_export_hooks *hooks,
                      ova_export_stats *stats, ova_err *err);

/* Export a fleet: n_vms VMX files, each to its own OVA in the folder
 * opts->output (fleet.h names them), in one collective job over comm.
 * All ranks' threads take units from one queue spanning every VM (largest
 * VM first); each VM's OVA is written and hashed by its own writer rank,
 * spread over the hosts, and results go from the compressing thread
 * straight to that writer. opts->vmx_path is ignored. A VM that fails (its
 * VMX, a disk, a read on any rank, its output) is reported in res->vms and
 * its partial output removed; the others go on. Returns OVA_OK when every
 * VM succeeded, else the first failed VM's status, on every rank; a failure
 * of the job itself (MPI, memory for the plans) fails every VM. res is
 * filled on rank 0 (vms on every rank); release it with
 * ova_fleet_result_free. With opts->dry_run, hooks->preview is called once
 * per VM that passed every check. */
ova_status ova_export_fleet(const ova_export_opts *opts, const char *const *vmx_paths, size_t n_vms, MPI_Comm comm,
                            const ova_export_hooks *hooks, ova_fleet_result *res, ova_err *err);

#endif
