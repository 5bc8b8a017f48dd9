/* cores.c - finding this process's cores and pinning threads to them. */
#include "engine/cores.h"

#include <stdlib.h>

/* One bitmap per core that intersects the allowed cpuset, so threads can
 * be spread one per core. */
void ova_cores_find(ova_cores *c)
{
    c->sets = NULL;
    c->n = 0;
    hwloc_topology_init(&c->topo);
    if (hwloc_topology_load(c->topo) != 0)
        return;
    hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(c->topo, allowed, HWLOC_CPUBIND_PROCESS) != 0)
        hwloc_bitmap_copy(allowed, hwloc_topology_get_allowed_cpuset(c->topo));
    int n = hwloc_get_nbobjs_by_type(c->topo, HWLOC_OBJ_CORE);
    c->sets = calloc(n > 0 ? (size_t)n : 1, sizeof *c->sets);
    for (int i = 0; c->sets && i < n; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(c->topo, HWLOC_OBJ_CORE, i);
        if (core == NULL || !hwloc_bitmap_intersects(core->cpuset, allowed))
            continue;
        hwloc_bitmap_t set = hwloc_bitmap_dup(core->cpuset);
        hwloc_bitmap_and(set, set, allowed);
        c->sets[c->n++] = set;
    }
    hwloc_bitmap_free(allowed);
}

void ova_cores_pin(const ova_cores *c, int i)
{
    if (c->n == 0)
        return;
    hwloc_bitmap_t set = hwloc_bitmap_dup(c->sets[i % c->n]);
    hwloc_bitmap_singlify(set);
    hwloc_set_cpubind(c->topo, set, HWLOC_CPUBIND_THREAD); /* best effort: unpinned still works */
    hwloc_bitmap_free(set);
}

void ova_cores_free(ova_cores *c)
{
    for (int i = 0; i < c->n; i++)
        hwloc_bitmap_free(c->sets[i]);
    free(c->sets);
    c->sets = NULL;
    c->n = 0;
    hwloc_topology_destroy(c->topo);
}
