/* cores.h - the cores this process may run on, for one pinned compression
 * thread per core (hwloc). */
#ifndef OVATOOL_CORES_H
#define OVATOOL_CORES_H

#include <hwloc.h>
#include <stdbool.h>

typedef struct ova_cores {
    hwloc_topology_t topo;
    hwloc_bitmap_t *sets;      /* each allowed core's allowed PUs */
    int n;                     /* 0 when the topology could not be read */
} ova_cores;

/* Find the cores of this process's cpuset (from mpirun, srun or cgroups).
 * Never fails: without a topology n is 0 and pinning does nothing. */
void ova_cores_find(ova_cores *c);

/* Bind the calling thread to one PU of core i % n (best effort: an
 * unpinned thread still works). Does nothing when n is 0. */
void ova_cores_pin(const ova_cores *c, int i);

void ova_cores_free(ova_cores *c);

#endif
