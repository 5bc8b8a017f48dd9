/* text.h - small string tests the layers share; not API. */
#ifndef OVATOOL_UTIL_TEXT_H
#define OVATOOL_UTIL_TEXT_H

#include <stdbool.h>

/* Whether s ends with suffix, ignoring ASCII case: file kinds are told by
 * their extension, which Windows-made VMs and OVAs write in any case. */
bool ova_ends_with_ci(const char *s, const char *suffix);

#endif
