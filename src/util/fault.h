/* fault.h - test fault injection: a named point in the library fails on
 * purpose when a test armed it, so the tests can prove that a failure on
 * any rank, at any phase, ends the job cleanly.
 *
 * Compiled in only when OVATOOL_FAULTS is defined (CMake defines it with
 * the tests, OVATOOL_TESTS). Without it every call below is an empty static
 * inline and ova_fault() a constant false, so production code pays no
 * branch for its fault points.
 *
 * The library never arms a fault itself and never reads the environment:
 * the CLI arms from OVATOOL_TEST_FAIL_RANK (src/cli/cli_export.c).
 *
 * Points:
 *   "export.unit"     a compression thread fails its unit with an injected
 *                     read error (mpi_workers.c); in a fleet
 *                     (mpi_fleet_workers.c) only the rank's first unit, so
 *                     one VM fails and the others go on
 *   "export.plan"     a rank other than 0 finds no room to receive the plan
 *                     (mpi_export.c)
 *   "export.readers"  a rank fails to open its disk readers (mpi_export.c)
 *   "export.slow"     every unit takes a second longer on the rank, so that a
 *                     test's time limit stops the export at a known pace
 *                     (mpi_workers.c)
 *   "export.kill"     a rank other than 0 dies (SIGKILL) when it is granted
 *                     a unit of the plan's second half, like a lost node
 *                     (mpi_workers.c)
 *   "export.thread"   every compression thread of the rank fails to set up,
 *                     as when out of memory (mpi_workers.c); in a fleet
 *                     (mpi_fleet_workers.c) those threads take no units,
 *                     the other ranks' threads do the work, and with none
 *                     left every VM fails with the cause
 *   "export.dwrite"   a rank other than 0 fails to write a unit it holds into
 *                     the output (distributed writing, mpi_dwrite.c)
 *   "export.late"     rank 0's units take a second longer (as export.slow,
 *                     so the other ranks make the later ones) and its
 *                     writer fails before its first unit, once its service
 *                     loop has ended (every result in, the later units
 *                     still in their slots; mpi_write_loop.c): a failure
 *                     after the loop, with distributed writing units other
 *                     ranks still hold
 *   "export.spool"    rank 0's writer fails to read back a disk's spool as
 *                     it copies it into the OVA (--parallel-disks,
 *                     ova_writer.c): a failure with spools on disk
 *   "import.batch"    a grain batch fails with an injected read error on the
 *                     rank (import/grain_batch.c): a worker's failure, here
 *                     or on another rank
 *   "import.slow"     rank 0 sleeps 0.2 s after each 1 MiB it reads
 *                     (import/import_run.c), so a test's signal finds the
 *                     import mid-way
 *   "resume.kill.first", "resume.kill.boundary", "resume.kill.last",
 *   "resume.kill.finish"
 *                     a journaled export's rank 0 dies (SIGKILL): a few
 *                     units past its first durable point inside the first
 *                     disk; right at the durable point that ends the first
 *                     disk; a few units past its first durable point inside
 *                     the last disk; while writing the OVF and manifest,
 *                     before the rename (ova_writer.c)
 */
#ifndef OVATOOL_FAULT_H
#define OVATOOL_FAULT_H

#include <stdbool.h>

#ifdef OVATOOL_FAULTS

/* Arm point to fire on rank (the rank within the job the library runs, as
 * set by ova_fault_rank); rank < 0 fires on every rank. One point is armed
 * at a time; arming again replaces it. Call before the job starts. */
void ova_fault_arm(const char *point, int rank);

/* The caller's rank in the job now running (the engine sets it at start). */
void ova_fault_rank(int rank);

/* True when point is armed for this rank. Thread-safe (read-only once the
 * job runs). */
bool ova_fault(const char *point);

/* When point is armed for this rank, die at once by SIGKILL: a process
 * that cannot clean up, as after the OOM killer or a lost node. */
void ova_fault_kill(const char *point);

#else

static inline void ova_fault_arm(const char *point, int rank)
{
    (void)point;
    (void)rank;
}
static inline void ova_fault_rank(int rank) { (void)rank; }
static inline bool ova_fault(const char *point)
{
    (void)point;
    return false;
}
static inline void ova_fault_kill(const char *point) { (void)point; }

#endif
#endif
