/* fastMRI+ file lists (SPEC 2.3) and resolving volume names to files under the input directories.
 * No MPI here. */
#ifndef FMR_FILELIST_H
#define FMR_FILELIST_H

#include <stddef.h>

#include "fmr/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if `name` may name a volume: non-empty, no '/', not "." or "..", no control characters. */
int fmr_volume_name_valid(const char *name);

typedef struct fmr_filelist {
  size_t n;
  char **names; /* in file order, duplicates removed */
} fmr_filelist;

/* Parse a file list held in memory. An invalid name fails with "<path>:<line>: ...". CRLF and
 * blank lines are accepted. */
int fmr_filelist_parse(const char *path, const char *data, size_t len, fmr_filelist *out,
                       fmr_err *err);
void fmr_filelist_free(fmr_filelist *fl);

typedef struct fmr_file_index fmr_file_index;

/* Walk each directory recursively (symlinked directories not followed) and index every
 * "<name>.h5". Deterministic: entries are visited in sorted order. */
int fmr_file_index_build(const char *const *dirs, size_t ndirs, fmr_file_index **out,
                         fmr_err *err);
void fmr_file_index_free(fmr_file_index **ix);

/* Look a volume up. Returns 0 and sets *path (absolute or as configured) and *rel (relative to its
 * input directory); FMR_ENOENT when absent; FMR_EINVAL when the name is found in more than one
 * place (message lists them). */
int fmr_file_index_find(const fmr_file_index *ix, const char *name, const char **path,
                        const char **rel, fmr_err *err);

/* Every indexed volume name, sorted (for runs over all files in the input directories). */
size_t fmr_file_index_count(const fmr_file_index *ix);
const char *fmr_file_index_name(const fmr_file_index *ix, size_t i);

#ifdef __cplusplus
}
#endif
#endif
