/* Small file-system helpers shared by every writer: whole-file reads, mkdir -p, and the
 * write-to-temporary-then-rename discipline (SPEC 9) so a killed run never leaves a file that looks
 * complete but is not. No MPI here. */
#ifndef FMR_FSUTIL_H
#define FMR_FSUTIL_H

#include <stddef.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Suffix of every temporary file; `verify` and resume treat such files as debris. */
#define FMR_TMP_SUFFIX ".fmr-tmp"

/* Read a whole file (at most max_bytes) into a NUL-terminated malloc'd buffer. */
int fmr_read_file(const char *path, size_t max_bytes, char **data, size_t *len, fmr_err *err);

/* mkdir -p (mode 0777 & ~umask). */
int fmr_mkdirs(const char *path, fmr_err *err);

/* "<final>" + FMR_TMP_SUFFIX into out (out_size bytes). */
int fmr_tmp_path(const char *final_path, char *out, size_t out_size, fmr_err *err);

/* fsync the temporary, rename it onto final_path, fsync the directory. On failure the temporary
 * is removed. */
int fmr_commit_file(const char *tmp_path, const char *final_path, fmr_err *err);

/* Write a buffer atomically (temporary + fsync + rename). */
int fmr_write_file_atomic(const char *path, const void *data, size_t len, fmr_err *err);

/* Join a and b with one '/' into out; FMR_ERANGE if it does not fit. */
int fmr_path_join(char *out, size_t out_size, const char *a, const char *b, fmr_err *err);

/* Visit every non-directory entry below root (symlinks not followed), in readdir order. `rel` is
 * the path relative to root. skip_dir, if not NULL, prunes directories for which it returns 1.
 * A non-zero return from visit stops the walk and is returned. */
typedef int (*fmr_walk_fn)(void *ctx, const char *rel, const char *full);
int fmr_walk_files(const char *root, int (*skip_dir)(void *ctx, const char *rel), fmr_walk_fn visit,
                   void *ctx, fmr_err *err);

/* Remove every temporary (FMR_TMP_SUFFIX) file below root: the debris of a killed run. Returns the
 * number removed through *removed. */
int fmr_remove_tmp_files(const char *root, size_t *removed, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
