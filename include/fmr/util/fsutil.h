/* Small file-system helpers under the output store (output/store.h) and every other writer: whole
 * file reads, mkdir -p, the write-to-temporary-then-rename discipline (SPEC 9) so a killed run
 * never leaves a file that looks complete but is not, the one directory walker, and the one
 * classification of storage faults. No MPI here. */
#ifndef FMR_FSUTIL_H
#define FMR_FSUTIL_H

#include <stddef.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Suffix of every temporary file; `verify` and resume treat such files as debris. */
#define FMR_TMP_SUFFIX ".fmr-tmp"

/* 1 when errno value e means the storage itself failed (SPEC 9: no space, quota, read-only file
 * system, I/O error, file too large), not the data being written. */
int fmr_errno_is_storage(int e);

/* Record a failed system call: code FMR_ESTORAGE when fmr_errno_is_storage(e), else FMR_EIO; the
 * message is the formatted text followed by ": " and strerror(e) (the system's own words). */
int fmr_err_sys(fmr_err *err, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Read a whole file (at most max_bytes) into a NUL-terminated malloc'd buffer. */
int fmr_read_file(const char *path, size_t max_bytes, char **data, size_t *len, fmr_err *err);

/* mkdir -p (mode 0777 & ~umask). */
int fmr_mkdirs(const char *path, fmr_err *err);

/* "<final>" + FMR_TMP_SUFFIX into out (out_size bytes). */
int fmr_tmp_path(const char *final_path, char *out, size_t out_size, fmr_err *err);

/* Create or truncate `path` and write len bytes with write(2), checking every write and the
 * close. On failure `path` is removed; storage faults come back as FMR_ESTORAGE (fmr_err_sys). */
int fmr_write_file(const char *path, const void *data, size_t len, fmr_err *err);

/* fsync the temporary, rename it onto final_path, fsync the directory. On failure the temporary
 * is removed. */
int fmr_commit_file(const char *tmp_path, const char *final_path, fmr_err *err);
/* The same without the directory's fsync, for a caller that commits many files into one folder
 * and then calls fmr_sync_parent_dir once, before anything that says the files are complete. */
int fmr_commit_file_nodirsync(const char *tmp_path, const char *final_path, fmr_err *err);
/* The two halves of fmr_commit_file_nodirsync, for a caller that fsyncs on another thread:
 * fsync one file (0, or -1 with errno set); rename tmp onto final (tmp removed on failure), then
 * fsync the folder if dir_sync. */
int fmr_fsync_file(const char *path);
int fmr_rename_into_place(const char *tmp_path, const char *final_path, int dir_sync,
                          fmr_err *err);
/* fsync the folder holding `path` (best effort where the file system refuses directory fsync). */
int fmr_sync_parent_dir(const char *path, fmr_err *err);

/* Write a buffer atomically (temporary + write + fsync + rename + directory fsync). */
int fmr_write_file_atomic(const char *path, const void *data, size_t len, fmr_err *err);

/* Join a and b with one '/' into out; FMR_ERANGE if it does not fit. */
int fmr_path_join(char *out, size_t out_size, const char *a, const char *b, fmr_err *err);

/* A malloc'd copy of text with every occurrence of `from` replaced by `to` (NULL: no memory). Used
 * to make messages name paths as the user named them, never by where they are mounted. */
char *fmr_path_replace(const char *text, const char *from, const char *to);

/* Visit every non-directory entry below root in readdir order, never following a symbolic link
 * (a link is visited as an entry, its target never read). `rel` is the path relative to root.
 * skip_dir, if not NULL, prunes directories for which it returns 1. A non-zero return from visit
 * stops the walk and is returned. */
typedef int (*fmr_walk_fn)(void *ctx, const char *rel, const char *full);
int fmr_walk_files(const char *root, int (*skip_dir)(void *ctx, const char *rel), fmr_walk_fn visit,
                   void *ctx, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
