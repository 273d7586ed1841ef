/* fastMRI+ file lists (SPEC 2.3) and resolving volume names to files under the input directories.
 * No MPI here. */
#ifndef FMR_FILELIST_H
#define FMR_FILELIST_H

#include <stddef.h>

#include "fmr/util/error.h"
#include "fmr/util/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if `name` may name a volume: non-empty, no '/', not "." or "..", no control characters
 * (bytes < 0x20 or 0x7f), no leading or trailing space, at most 252 bytes (so "<name>.h5" fits a
 * directory entry). */
int fmr_volume_name_valid(const char *name);

/* 1 if a valid name also has the plain form of fastMRI's names (file1000001,
 * file_brain_AXFLAIR_200_6002425): ASCII letters, digits, '_', '-' and '.', starting with a letter
 * or digit. Text such as the real knee list's last line "Knee data" has not. */
int fmr_volume_name_plain(const char *name);

/* A line of a file list that names no volume (valid, but not of the plain form): skipped, not
 * counted as missing (issue 13). */
typedef struct fmr_filelist_skip {
  size_t line; /* 1-based */
  char *text;  /* the trimmed line, escaped for messages (fmr_text_quote) */
} fmr_filelist_skip;

typedef struct fmr_filelist {
  size_t n;
  char **names; /* in file order, duplicates removed */
  char *path;   /* the file as given to the parser, for messages about skipped lines */
  size_t nskipped;
  fmr_filelist_skip *skipped; /* in line order */
} fmr_filelist;

/* Parse a file list held in memory: one name per line, surrounding whitespace trimmed, CRLF, blank
 * lines and a UTF-8 BOM accepted, repeated names dropped (the first occurrence keeps its place).
 * A line that is a valid name but not of the plain form is recorded in `skipped` and is not a
 * name. The first invalid name (a '/', "..", control characters, NUL) fails the parse with
 * FMR_EINVAL "<path>:<line>: invalid volume name ...". More than limits->list_names non-blank
 * lines fail with FMR_ERANGE naming the limit. limits NULL: the defaults. On failure *out is left
 * empty. */
int fmr_filelist_parse(const char *path, const char *data, size_t len, fmr_filelist *out,
                       fmr_err *err);
int fmr_filelist_parse_limited(const char *path, const char *data, size_t len,
                               const fmr_limits *limits, fmr_filelist *out, fmr_err *err);
void fmr_filelist_free(fmr_filelist *fl);

typedef struct fmr_file_index fmr_file_index;

/* Walk each directory recursively (symlinked directories not followed) and index every
 * "<name>.h5". Deterministic: entries are visited in sorted order. Regular files and symlinks to
 * regular files count; names ending in ".H5" or other suffixes do not. The same file reached twice
 * (a symlink to it, nested input directories) counts once, at the first path the walk met. A
 * missing or unreadable directory, at the top or below, fails the build with its path in the
 * message (a volume could hide in it). Note: an output directory inside an input directory would
 * make every volume with a mask file ambiguous; the config must keep them apart. */
int fmr_file_index_build(const char *const *dirs, size_t ndirs, fmr_file_index **out,
                         fmr_err *err);
void fmr_file_index_free(fmr_file_index **ix);

/* Look a volume up. Returns 0 and sets *path (input directory as configured, trailing slashes
 * dropped, + "/" + rel) and *rel (relative to its input directory); FMR_ENOENT when absent;
 * FMR_EINVAL when the name is found in more than one place (message lists every path). The strings
 * belong to the index. */
int fmr_file_index_find(const fmr_file_index *ix, const char *name, const char **path,
                        const char **rel, fmr_err *err);

/* Every indexed volume name, sorted (for runs over all files in the input directories). */
size_t fmr_file_index_count(const fmr_file_index *ix);
const char *fmr_file_index_name(const fmr_file_index *ix, size_t i);

#ifdef __cplusplus
}
#endif
#endif
