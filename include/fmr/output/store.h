/* The output store: the one owner of output.dir's layout and of every write into it.
 *
 *   dicom/<v>/<v>_<slice:03d>.dcm   masks/<v>.h5   seg/<v>.dcm   preview/<v>.png   (the kind table)
 *   .fmr/fastmri-regen              the mark that this tool owns the directory (SPEC 9)
 *   .fmr/records/<v>.json           a volume's committed record, under the key it was made with
 *   .fmr/attempts/<v>               runs that started the volume and died (crash quarantine)
 *   manifest.json, manifest-sha256.txt, run-report.json
 *
 * Every output is staged: written under "<path>.fmr-tmp", fsync'd, renamed into place, directory
 * fsync'd; a volume counts as done only when its record is committed, last. A failure of the
 * storage itself (no space, quota, read-only, I/O error, on any write, fsync, rename or mkdir) is
 * FMR_ESTORAGE with "<path>: <the system's words>", never a volume's failure. No MPI here. */
#ifndef FMR_STORE_H
#define FMR_STORE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "fmr/output/record.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FMR_STORE_STATE_DIR ".fmr"
#define FMR_STORE_MARK ".fmr/fastmri-regen"

/* One row per output kind: where its files live. Adding a kind is one row here and one writer in
 * the pipeline's writer table (pipeline/writers.c). */
typedef struct fmr_store_kind {
  const char *name; /* the manifest's "kind" */
  const char *dir;  /* folder under output.dir */
  const char *ext;
  int per_slice;    /* <dir>/<v>/<v>_<slice:03d><ext> rather than <dir>/<v><ext> */
} fmr_store_kind;

const fmr_store_kind *fmr_store_kind_find(const char *name); /* NULL when unknown */
/* The kind table's static string for k, or "other". */
const char *fmr_store_kind_name(const char *k);

/* The path of an output relative to output.dir (slice ignored unless the kind is per slice). */
int fmr_store_path(const char *kind, const char *volume, size_t slice, char *rel, size_t n,
                   fmr_err *err);

typedef struct fmr_store fmr_store;

/* Open output.dir (created when it does not exist). A non-empty directory without the mark of an
 * earlier run (.fmr/) is refused with FMR_ECONFIG before anything in it is read, written or
 * deleted: only its top level is listed, and only until its first entry. The mark is written at
 * first use. */
int fmr_store_open(const char *root, fmr_store **out, fmr_err *err);
/* The same ownership test alone, reading nothing but root's first entry and writing nothing: 0
 * when root is absent, empty or this tool's; FMR_ECONFIG otherwise. The plan calls it before it
 * reads anything else, so a wrong output.dir is refused at once. */
int fmr_store_check_owner(const char *root, fmr_err *err);
void fmr_store_free(fmr_store **s);
const char *fmr_store_root(const fmr_store *s);

/* Remove the temporary files a killed run left: only in the tool's own folders (the kinds' and
 * .fmr/) and at the top level, never following a symbolic link. */
int fmr_store_sweep(fmr_store *s, size_t *removed, fmr_err *err);

/* ---- staged writes ----------------------------------------------------------------------- */

typedef struct fmr_stage {
  char rel[PATH_MAX];   /* relative to output.dir */
  char final[PATH_MAX]; /* where it goes */
  char tmp[PATH_MAX];   /* where the writer writes */
  double hash_seconds;  /* set by fmr_store_commit: reading the file back for its SHA-256 */
  double sync_seconds;  /* set by fmr_store_commit: fsync, rename, fsync of the folder */
  int defer_dir_sync;   /* set by the caller: leave the folder's fsync to fmr_store_sync_dir */
} fmr_stage;

/* Make the folder and the names for writing `rel`; the writer then writes st->tmp. */
int fmr_store_stage(const fmr_store *s, const char *rel, fmr_stage *st, fmr_err *err);
/* Hash the staged file once, fsync (a large file on a helper thread while it is hashed), rename
 * into place, fsync the folder. bytes/sha256 may be NULL. On failure nothing is left at either
 * name. With st->defer_dir_sync the folder is not synced: the caller calls fmr_store_sync_dir
 * once for the folder after its last file, before the record that makes them count. */
int fmr_store_commit(const fmr_store *s, fmr_stage *st, uint64_t *bytes, char sha256[65],
                     fmr_err *err);
int fmr_store_sync_dir(const fmr_store *s, const char *rel, fmr_err *err);
/* The same for a temporary outside the staging (dataset.h5): tmp is committed onto final, the
 * folder synced if dir_sync; the seconds spent hashing and after the hash may be NULL. */
int fmr_commit_file_hashed(const char *tmp, const char *final, int dir_sync, uint64_t *bytes,
                           char sha256[65], double *hash_seconds, double *sync_seconds,
                           fmr_err *err);
/* The writer failed with rc: remove the temporary and return rc, or FMR_ESTORAGE (message
 * "<path>: <strerror>") when the storage is at fault (the writer's errno, or a full or read-only
 * file system). Call it right after the writer, before anything else can change errno. */
int fmr_store_abandon(const fmr_store *s, fmr_stage *st, int rc, fmr_err *err);
/* A whole buffer, staged and committed (manifest, checksums, run report, records). */
int fmr_store_write(const fmr_store *s, const char *rel, const void *data, size_t len,
                    fmr_err *err);

/* ---- volumes ----------------------------------------------------------------------------- */

/* The committed record of `name` if it was made under `key` and every output it lists still has
 * its size and SHA-256; else NULL. */
fmr_record *fmr_store_reuse(const fmr_store *s, const char *name, const char *key);
/* The same test without hashing: the record is there under `key` and its outputs have their sizes
 * (what `plan` reports a resume would reuse; cheap enough for thousands of volumes). */
int fmr_store_would_reuse(const fmr_store *s, const char *name, const char *key);
/* Commit a volume's record under key: what makes its outputs count as complete. */
int fmr_store_commit_record(const fmr_store *s, const char *key, const fmr_record *r,
                            fmr_err *err);
/* Before a volume is redone: remove its record and every file of every kind at its paths
 * (committed or temporary), so nothing of an earlier attempt can pass for this one. */
int fmr_store_forget(const fmr_store *s, const char *name, fmr_err *err);
/* Remove the files a record lists (a volume that failed part-way keeps none). */
void fmr_store_remove_outputs(const fmr_store *s, const fmr_record *r);

/* Crash quarantine: how many runs started `name` and never finished it. */
int fmr_store_attempts(const fmr_store *s, const char *name);
int fmr_store_set_attempts(const fmr_store *s, const char *name, int n, fmr_err *err);
int fmr_store_clear_attempts(const fmr_store *s, const char *name, fmr_err *err);

/* ---- checking ---------------------------------------------------------------------------- */

enum { FMR_STORE_INTACT = 0, FMR_STORE_MISSING = 1, FMR_STORE_CHANGED = 2 };
/* Is <root>/<rel> there with `bytes` bytes and SHA-256 `sha256`? detail (may be NULL) says why
 * not. Used by the reuse check and by `verify`. */
int fmr_store_check(const char *root, const char *rel, uint64_t bytes, const char *sha256,
                    char *detail, size_t detail_size);

#ifdef __cplusplus
}
#endif
#endif
