/* grow.c - doubling realloc with overflow checks (grow.h). */
#include "util/grow.h"

#include <stdint.h>
#include <stdlib.h>

void *ova_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap && p != NULL)
        return p;
    if (elem == 0)
        return NULL;
    /* a first allocation of at least 256 bytes: byte buffers should not
     * start at 16, and 16 elements are enough for a list's usual length */
    size_t nc = *cap;
    if (nc == 0)
        nc = elem < 16 ? 256 / elem : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return NULL;
        nc *= 2;
    }
    if (nc > SIZE_MAX / elem)
        return NULL;
    void *q = realloc(p, nc * elem);
    if (q != NULL)
        *cap = nc;
    return q;
}
