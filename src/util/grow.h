/* grow.h - the one growth rule for arrays that are appended to.
 *
 * Every list ovatool builds while parsing (VMX entries, descriptor extents
 * and DDB lines, devices, tar members, OVF references, ...) grows the same
 * way: double the capacity until it holds what is needed. Done in one
 * place, the size arithmetic is overflow-checked once, for every caller,
 * instead of (or not) in each copy; sizes come from hostile files.
 */
#ifndef OVATOOL_GROW_H
#define OVATOOL_GROW_H

#include <stddef.h>

/* Make p (an array of *cap elements of elem bytes, or NULL with *cap 0)
 * hold at least need (>= 1) elements: double *cap (from 16 elements, or
 * 256 bytes for small elements) until it does, and realloc. Returns the
 * array, moved or not; NULL, with p and *cap unchanged and p still valid,
 * when memory runs out or the byte size would overflow size_t.
 *
 *     ova_device *d = ova_grow(vm->devices, &cap, vm->n_devices + 1, sizeof *d);
 *     if (d == NULL) return nomem(b);
 *     vm->devices = d;
 *
 * It returns the pointer rather than taking a void ** so that no T * is
 * ever written through a void ** (which C's aliasing rules do not allow). */
void *ova_grow(void *p, size_t *cap, size_t need, size_t elem);

#endif
