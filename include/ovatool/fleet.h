/* fleet.h - many VMs in one export job (ova_export_fleet, export_mpi.h):
 * the per-VM and per-rank results. MPI-free, like export.h.
 *
 * Every VM is exported to DIR/<name>.ova (opts->output must be a folder);
 * two VMs whose names would give the same file are both named after their
 * VMX file instead (DIR/<VMX base name>.ova), and when even those collide,
 * the later ones in the list get "-2", "-3", ... (src/engine/fleet_names.c).
 * Each VM succeeds or fails on its own.
 */
#ifndef OVATOOL_FLEET_H
#define OVATOOL_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "ovatool/status.h"

#define OVA_FLEET_HOST_MAX 256

/* One VM of the fleet, in the order the caller listed them. */
typedef struct ova_fleet_vm {
    const char *vmx;           /* the caller's path */
    ova_status status;         /* OVA_OK: its OVA is complete; else nothing of it is left */
    char msg[OVA_ERR_MAX];     /* why it failed ("" on success) */
    char output[4096];         /* its OVA ("" when it failed before a name was chosen) */
    uint64_t bytes_in;         /* virtual bytes of its disks */
    uint64_t bytes_read;       /* bytes read from its files (all ranks) */
    uint64_t bytes_out;        /* size of its OVA */
    uint64_t units;
    uint64_t grains_data;
    uint64_t grains_stored;
    uint64_t bytes_stored;
    double seconds;            /* from its writer opening the OVA to its rename into place */
    int writer_rank;           /* the rank that wrote and hashed it, -1 none */
    char writer_host[OVA_FLEET_HOST_MAX];
    int order;                 /* its place in the work queue (largest first), -1 if never queued */
} ova_fleet_vm;

/* What one rank did. */
typedef struct ova_fleet_rank {
    int rank;
    char host[OVA_FLEET_HOST_MAX];
    int threads;
    uint64_t units;            /* units it compressed */
    uint64_t bytes_read;       /* bytes it read for them */
    uint64_t bytes_compressed; /* bytes of grain records it produced */
    uint64_t vms_written;      /* VMs it was the writer of */
    uint64_t rss_kb;           /* its peak resident memory */
} ova_fleet_rank;

typedef struct ova_fleet_result {
    ova_fleet_vm *vms;         /* n_vms entries */
    size_t n_vms;
    ova_fleet_rank *ranks;     /* n_ranks entries (rank 0 only; elsewhere NULL) */
    int n_ranks;
    int threads_total;
    uint32_t unit_grains;
    uint64_t window;           /* units in flight per VM */
    size_t failed;             /* VMs that failed */
    double seconds;            /* the whole job */
} ova_fleet_result;

void ova_fleet_result_free(ova_fleet_result *r);

#endif
