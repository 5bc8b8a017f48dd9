/* fleet_names.c - unique OVA names for a fleet (fleet_names.h). Clones
 * share display names, so names made from them collide; the VMX file's
 * name is what tells them apart, and list order settles what is left, so
 * the same list always gives the same names. */
#include "engine/fleet_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/ova_writer.h"

static int taken(char (*out)[OVA_FLEET_PATH_MAX], size_t n, size_t self, const char *name)
{
    for (size_t j = 0; j < n; j++)
        if (j != self && out[j][0] != '\0' && strcmp(out[j], name) == 0)
            return 1;
    return 0;
}

/* DIR/BASE.ova, or DIR/BASE-S.ova for S > 1; 0 if it does not fit. */
static int join(char *o, const char *dir, const char *base, int s)
{
    size_t dl = strlen(dir);
    const char *sep = dl > 0 && dir[dl - 1] == '/' ? "" : "/";
    int len = s > 1 ? snprintf(o, OVA_FLEET_PATH_MAX, "%s%s%s-%d.ova", dir, sep, base, s)
                    : snprintf(o, OVA_FLEET_PATH_MAX, "%s%s%s.ova", dir, sep, base);
    return len >= 0 && len < OVA_FLEET_PATH_MAX;
}

void ova_fleet_names(const char *dir, const char *const *vmx, char (*out)[OVA_FLEET_PATH_MAX], size_t n)
{
    /* first find every clash, then rename: renaming one VM must not hide
     * that another shared its name */
    unsigned char *clash = calloc(n ? n : 1, 1);
    for (size_t i = 0; i < n && clash != NULL; i++)
        if (out[i][0] != '\0')
            clash[i] = (unsigned char)taken(out, n, i, out[i]);
    /* and give up every clashing name before choosing new ones: a VM not
     * renamed yet must not keep its old name from an earlier one (clones
     * whose display name is their VMX file's name would be numbered in
     * reverse: /a/web.vmx -> web-2.ova, /b/web.vmx -> web.ova) */
    for (size_t i = 0; i < n && clash != NULL; i++)
        if (clash[i])
            out[i][0] = '\0';
    for (size_t i = 0; i < n && clash != NULL; i++) {
        if (!clash[i])
            continue;
        const char *b = strrchr(vmx[i], '/');
        b = b != NULL ? b + 1 : vmx[i];
        char stem[OVA_FLEET_PATH_MAX];
        snprintf(stem, sizeof stem, "%s", b);
        size_t sl = strlen(stem);
        if (sl > 4 && strcasecmp(stem + sl - 4, ".vmx") == 0)
            stem[sl - 4] = '\0';
        char base[81];
        ova_member_base(stem, base);
        char name[OVA_FLEET_PATH_MAX];
        for (int s = 1; s < 1000000; s++) {
            if (!join(name, dir, base, s))
                break;
            if (!taken(out, n, i, name)) {
                memcpy(out[i], name, sizeof name);
                break;
            }
        }
    }
    if (clash == NULL) /* out of memory: leave every clashing VM out rather than overwrite */
        for (size_t i = 0; i < n; i++)
            if (out[i][0] != '\0' && taken(out, n, i, out[i]))
                out[i][0] = '\0';
    free(clash);
}
