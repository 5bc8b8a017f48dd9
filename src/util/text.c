/* text.c - small string tests the layers share (text.h). */
#include "util/text.h"

#include <string.h>
#include <strings.h>

bool ova_ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}
