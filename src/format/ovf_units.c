/* ovf_units.c - the numbers of an OVF descriptor: plain decimals (ovf:size,
 * ovf:capacity) and DSP0004 programmatic units ("byte * 2^30"), read the
 * same way by `validate` and `import`. */
#include "format/ovf_units.h"

#include <string.h>

/* A plain decimal number (what ovf:size and ovf:capacity hold). */
bool ova_ovf_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ovf:capacityAllocationUnits: "byte", "byte * 2^N" or "byte * 10^N"
 * (blanks optional, DSP0004 programmatic units); absent means bytes. */
bool ova_ovf_parse_units(const char *s, uint64_t *mult)
{
    if (s == NULL) {
        *mult = 1;
        return true;
    }
    while (*s == ' ')
        s++;
    if (strncmp(s, "byte", 4) != 0)
        return false;
    s += 4;
    while (*s == ' ')
        s++;
    if (*s == '\0') {
        *mult = 1;
        return true;
    }
    if (*s++ != '*')
        return false;
    while (*s == ' ')
        s++;
    unsigned base;
    if (strncmp(s, "2^", 2) == 0) {
        base = 2;
        s += 2;
    } else if (strncmp(s, "10^", 3) == 0) {
        base = 10;
        s += 3;
    } else {
        return false;
    }
    char digits[8];
    size_t k = 0;
    while (*s >= '0' && *s <= '9' && k < sizeof digits - 1)
        digits[k++] = *s++;
    digits[k] = '\0';
    while (*s == ' ')
        s++;
    uint64_t e;
    if (*s != '\0' || !ova_ovf_parse_u64(digits, &e))
        return false;
    uint64_t v = 1;
    for (uint64_t i = 0; i < e; i++) {
        if (v > UINT64_MAX / base)
            return false;
        v *= base;
    }
    *mult = v;
    return true;
}
