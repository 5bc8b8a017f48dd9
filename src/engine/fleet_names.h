/* fleet_names.h - unique OVA names for a fleet (fleet.h states the rule;
 * fleet_names.c applies it). MPI-free, so the unit tests call it. */
#ifndef OVATOOL_FLEET_NAMES_H
#define OVATOOL_FLEET_NAMES_H

#include <stddef.h>

#define OVA_FLEET_PATH_MAX 4096

/* n VMs, vmx[i] their VMX paths, exported to the folder dir. On entry
 * out[i] is DIR/<VM name>.ova as -o DIR names one VM, or "" for a VM left
 * out (it failed before). On return every out[i] not "" differs from all
 * the others: a name two or more VMs share is replaced, for each of them,
 * by DIR/<VMX base name>.ova (the file name without .vmx, sanitised like a
 * VM name), and a name that is still taken gets -2, -3, ... in list order.
 * out[i] becomes "" when no name fits in OVA_FLEET_PATH_MAX bytes. */
void ova_fleet_names(const char *dir, const char *const *vmx, char (*out)[OVA_FLEET_PATH_MAX], size_t n);

#endif
