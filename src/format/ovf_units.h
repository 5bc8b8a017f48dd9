/* ovf_units.h - what validate and import share in reading an OVF: the
 * envelope namespaces, numbers and allocation units; not API. */
#ifndef OVATOOL_FORMAT_OVF_UNITS_H
#define OVATOOL_FORMAT_OVF_UNITS_H

#include <stdbool.h>
#include <stdint.h>

/* The envelope's namespace: DSP0243 1.x, and 2.x, which moved it to one of
 * its own (the elements and attributes both readers use kept their names). */
#define OVA_OVF1_NS "http://schemas.dmtf.org/ovf/envelope/1"
#define OVA_OVF2_NS "http://schemas.dmtf.org/ovf/envelope/2"

/* A plain decimal number without sign or blanks; false if s is NULL, empty,
 * not all digits or above UINT64_MAX. */
bool ova_ovf_parse_u64(const char *s, uint64_t *out);

/* A programmatic unit: "byte", "byte * 2^N" or "byte * 10^N" (blanks
 * optional); NULL means bytes. *mult gets the bytes per unit; false if the
 * text is not such a unit or the multiplier overflows 64 bits. */
bool ova_ovf_parse_units(const char *s, uint64_t *mult);

#endif
