/* fault.c - test fault injection (fault.h); empty unless OVATOOL_FAULTS. */
#include "util/fault.h"

#ifdef OVATOOL_FAULTS

#include <signal.h>
#include <string.h>

static char g_point[64];
static int g_rank = -1;   /* the rank the point fires on; < 0: every rank */
static int g_me;          /* this process's rank in the running job */

void ova_fault_arm(const char *point, int rank)
{
    g_point[0] = '\0';
    if (point != NULL && strlen(point) < sizeof g_point)
        strcpy(g_point, point);
    g_rank = rank;
}

void ova_fault_rank(int rank) { g_me = rank; }

bool ova_fault(const char *point)
{
    return g_point[0] != '\0' && strcmp(g_point, point) == 0 && (g_rank < 0 || g_rank == g_me);
}

void ova_fault_kill(const char *point)
{
    if (ova_fault(point))
        raise(SIGKILL);
}

#else

/* ISO C wants a translation unit to declare something */
typedef int ova_fault_unused;

#endif
