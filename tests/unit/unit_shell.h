/* unit_shell.h - what the unit tests that build disks with qemu-img share:
 * running a shell command in the test's scratch folder, naming a file in
 * it, asking whether a tool is installed. */
#ifndef OVATOOL_UNIT_SHELL_H
#define OVATOOL_UNIT_SHELL_H

#include <stdarg.h>

/* Run "cd DIR && ( CMD )" with system(); quiet sends its stdout to
 * /dev/null. Returns system()'s status (0: the command succeeded). */
int unit_run(const char *dir, int quiet, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* DIR/NAME, in one of a few rotating buffers (valid until four more
 * calls); fails the test when the path does not fit. */
const char *unit_path(const char *dir, const char *name);

/* cmd is on PATH. */
int unit_have(const char *cmd);

#endif
