/* fuzz.h - shared pieces of the fuzz targets (tests/fuzz/README.md).
 *
 * Every target is one C file defining LLVMFuzzerTestOneInput. Built with
 * -DOVATOOL_FUZZ=ON and clang it links libFuzzer; in every other build it
 * links regress_main.c, which runs it over the seed corpus and the saved
 * regressions (ctest fuzz.regress.<target>).
 *
 * The rules every target follows: no leaks, no files left behind, nothing
 * that depends on the time, the environment or files outside the scratch
 * folder, and abort() (a finding) whenever a documented contract of the
 * library does not hold. */
#ifndef OVATOOL_FUZZ_H
#define OVATOOL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a broken contract and abort: libFuzzer saves the input as a crash. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The process's scratch folder: made on first use (under $TMPDIR, else
 * /dev/shm, else /tmp), emptied by the targets after each input, removed at
 * exit. */
const char *fuzz_dir(void);

/* Write n bytes to fuzz_dir()/name (a plain name, no '/'); returns the
 * malloc'd path. Aborts if the scratch folder cannot be written. */
char *fuzz_write(const char *name, const void *data, size_t n);

/* Unlink and free a path from fuzz_write(); accepts NULL. */
void fuzz_remove(char *path);

/* An anonymous in-memory file holding the bytes (for the fd APIs); close()
 * it when done. Aborts on failure. */
int fuzz_memfd(const void *data, size_t n);

/* Multi-file inputs: the bytes of the first file, then for every further
 * file the separator line FUZZ_FILE_SEP NAME '\n' and its bytes (the '\n'
 * before the separator belongs to the separator, so binary files keep their
 * exact length; tests/fuzz/make_corpus.sh packs seeds so). Names are 1-64
 * bytes of [A-Za-z0-9._-] not starting with '.'; a part with another name,
 * or a name seen before, is dropped. */
#define FUZZ_FILE_SEP "\n#FUZZFILE "
#define FUZZ_MAX_PARTS 8
#define FUZZ_NAME_MAX 64

typedef struct fuzz_part {
    char name[FUZZ_NAME_MAX + 1];
    const uint8_t *data;
    size_t len;
} fuzz_part;

/* Split data into parts; the first is named first_name. Returns the count. */
size_t fuzz_split(const uint8_t *data, size_t size, const char *first_name, fuzz_part parts[FUZZ_MAX_PARTS]);

/* Disk inputs: 1 if every file name that the descriptor in these bytes
 * (text, or embedded in a KDMV sparse file) could make the library open -
 * extent file names and parentFileNameHint - stays inside the scratch
 * folder: no '/', and '\\' only in a Windows absolute hint (of which only
 * the last component is looked up). Inputs that would reach other files are
 * skipped, so a run depends on nothing but the input. */
int fuzz_disk_names_local(const uint8_t *data, size_t size);

/* Describe the disk at path (ova_disk_describe_ex, with the scratch folder
 * as the VM's; again with confine where a path led outside), check it and
 * read it through ova_disk_reader: the first 192 KiB in chunks that cross
 * grain boundaries (compared with one read of the same range), windows
 * spread over the capacity, and the end. Returns what happened; why (may be
 * NULL) gets the first error message. DECLINED: describe understood the
 * disk and refused it on purpose (OVA_E_UNSUPPORTED: encrypted, a raw
 * device), which a sound VMDK stream may legitimately be; REFUSED: any
 * other describe failure. */
enum { FUZZ_DISK_REFUSED = 0, FUZZ_DISK_READ_FAILED = 1, FUZZ_DISK_OK = 2, FUZZ_DISK_DECLINED = 3 };
int fuzz_disk_exercise(const char *path, char *why, size_t why_cap);

/* A problem list as the CLI will print it: no line holds a control
 * character (they would reach the terminal), as many lines come out as
 * the list says it kept, and it kept no more than it counted. */
struct ova_vlist;
void fuzz_check_problem_lines(const struct ova_vlist *l);

#endif
