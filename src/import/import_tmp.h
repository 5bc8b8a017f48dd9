/* import_tmp.h - the names of an import's temporary files, and their
 * removal from a signal handler.
 *
 * Every file an import writes (each extent, a descriptor, the VMX) is
 * created in the output folder as ".NAME" plus this process's tag and
 * renamed into place once the whole VM is complete. A failure removes them
 * (ova_disk_out_free, ova_import). But when a rank dies, mpirun (or srun)
 * sends the other ranks SIGTERM and SIGKILL soon after, and rank 0 may then
 * be waiting for the dead rank's answer, where its graceful stop (checked
 * between reads) never comes. So the signal handler removes the files
 * itself: it lists the folder and unlinks every name that ends in the tag,
 * with system calls only (async-signal-safe), which needs no table of
 * files however many extents there are. The tag holds the process id and
 * random characters, so it names this import's files and nobody else's:
 * two imports into one shared folder from two hosts (or two containers
 * where both are pid 1) never take each other's names.
 */
#ifndef OVATOOL_IMPORT_TMP_H
#define OVATOOL_IMPORT_TMP_H

/* ".import-PID-XXXXXXXX.tmp": the same for the whole process. */
const char *ova_import_tmp_tag(void);

/* From now on a signal removes the files in dir whose names end in the
 * tag (dir as the import names it; longer than PATH_MAX: not armed). */
void ova_import_tmp_arm(const char *dir);

/* No more: the files are being renamed into place, or are gone. */
void ova_import_tmp_disarm(void);

#endif
