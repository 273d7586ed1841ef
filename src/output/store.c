/* The output store (store.h). */
#include "fmr/output/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fmr/dicom/uid.h"
#include "fmr/output/manifest.h"
#include "fmr/util/fsutil.h"
#include "fmr/util/measure.h"

static const fmr_store_kind kinds[] = {
    {"dicom", "dicom", ".dcm", 1},
    {"mask", "masks", ".h5", 0},
    {"seg", "seg", ".dcm", 0},
    {"preview", "preview", ".png", 0},
    {"recon", "recon", ".h5", 0}, /* behind dataset.h5 and boxes.csv (export/dataset.h) */
    {"nifti", "nifti", ".nii.gz", 0},
    {"nifti_mask", "nifti", "_mask.nii.gz", 0},
};
#define NKINDS (sizeof kinds / sizeof *kinds)

const fmr_store_kind *fmr_store_kind_find(const char *name) {
  for (size_t i = 0; name && i < NKINDS; i++)
    if (strcmp(kinds[i].name, name) == 0) return &kinds[i];
  return NULL;
}

const char *fmr_store_kind_name(const char *k) {
  const fmr_store_kind *kind = fmr_store_kind_find(k);
  return kind ? kind->name : "other";
}

int fmr_store_path(const char *kind, const char *volume, size_t slice, char *rel, size_t n,
                   fmr_err *err) {
  const fmr_store_kind *k = fmr_store_kind_find(kind);
  if (!k) return fmr_err_set(err, FMR_EINVAL, "%s: no output kind \"%s\"", volume, kind);
  int len = k->per_slice ? snprintf(rel, n, "%s/%s/%s_%03zu%s", k->dir, volume, volume, slice, k->ext)
                         : snprintf(rel, n, "%s/%s%s", k->dir, volume, k->ext);
  if (len < 0 || (size_t)len >= n)
    return fmr_err_set(err, FMR_ERANGE, "%s: output path too long", volume);
  return 0;
}

struct fmr_store {
  char *root;
};

const char *fmr_store_root(const fmr_store *s) { return s->root; }

static int join(const fmr_store *s, const char *rel, char out[PATH_MAX], fmr_err *err) {
  return fmr_path_join(out, PATH_MAX, s->root, rel, err);
}

/* Is the directory empty? Reads at most its first real entry. */
static int dir_is_empty(const char *root, int *empty, fmr_err *err) {
  DIR *d = opendir(root);
  if (!d) return fmr_err_sys(err, errno, "%s: cannot read output.dir", root);
  struct dirent *e;
  *empty = 1;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      *empty = 0;
      break;
    }
  closedir(d);
  return 0;
}

static int write_mark(const fmr_store *s, fmr_err *err) {
  char path[PATH_MAX];
  int rc = join(s, FMR_STORE_STATE_DIR, path, err);
  if (rc) return rc;
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return fmr_err_sys(err, errno, "%s: cannot create directory", path);
  rc = join(s, FMR_STORE_MARK, path, err);
  if (rc) return rc;
  /* O_EXCL, not a rename: ranks opening the store at once must not race on one temporary. */
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return errno == EEXIST ? 0 : fmr_err_sys(err, errno, "%s", path);
  static const char text[] = "fastmri-regen output directory: written by fastmri-regen runs\n";
  ssize_t put = write(fd, text, sizeof text - 1);
  int e = put < 0 ? errno : ENOSPC;
  if (close(fd) != 0 && put == (ssize_t)(sizeof text - 1)) {
    put = -1;
    e = errno;
  }
  if (put != (ssize_t)(sizeof text - 1)) {
    unlink(path);
    return fmr_err_sys(err, e, "%s", path);
  }
  return 0;
}

int fmr_store_check_owner(const char *root, fmr_err *err) {
  struct stat sb;
  if (!root || !*root) return fmr_err_set(err, FMR_ECONFIG, "output.dir is empty");
  if (stat(root, &sb) != 0)
    return errno == ENOENT ? 0 : fmr_err_sys(err, errno, "output.dir %s", root);
  if (!S_ISDIR(sb.st_mode))
    return fmr_err_set(err, FMR_ECONFIG, "output.dir %s exists and is not a directory", root);
  char state[PATH_MAX];
  int rc = fmr_path_join(state, sizeof state, root, FMR_STORE_STATE_DIR, err);
  if (rc) return rc;
  /* Emptiness first, then the state folder: a run creates .fmr/ before anything else and never
   * removes it, so a folder that was not empty a moment ago and has no .fmr/ now was not written
   * by a run. The other order raced shards starting together: .fmr/ absent, then created by
   * another shard, then seen as "not empty" (it.slurm's array job). */
  int empty = 0;
  rc = dir_is_empty(root, &empty, err);
  if (rc) return rc;
  if (!empty && !(lstat(state, &sb) == 0 && S_ISDIR(sb.st_mode)))
    return fmr_err_set(err, FMR_ECONFIG,
                       "output.dir %s is not empty and no fastmri-regen run wrote it (no "
                       FMR_STORE_STATE_DIR "/ in it): refusing to read, write or delete "
                       "anything there; choose a new or empty directory",
                       root);
  return 0;
}

int fmr_store_open(const char *root, fmr_store **out, fmr_err *err) {
  *out = NULL;
  struct stat sb;
  int rc = fmr_store_check_owner(root, err);
  if (rc) return rc;
  if (stat(root, &sb) != 0) {
    rc = fmr_mkdirs(root, err);
    if (rc) return rc;
  }
  fmr_store *s = calloc(1, sizeof *s);
  if (!s || !(s->root = strdup(root))) {
    free(s);
    return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  }
  rc = write_mark(s, err);
  if (rc) {
    fmr_store_free(&s);
    return rc;
  }
  *out = s;
  return 0;
}

void fmr_store_free(fmr_store **s) {
  if (!s || !*s) return;
  free((*s)->root);
  free(*s);
  *s = NULL;
}

static int is_tmp_name(const char *name) {
  size_t n = strlen(name), k = strlen(FMR_TMP_SUFFIX);
  return n > k && strcmp(name + n - k, FMR_TMP_SUFFIX) == 0;
}

static int remove_if_tmp(void *ctx, const char *rel, const char *full) {
  if (is_tmp_name(rel) && unlink(full) == 0) ++*(size_t *)ctx;
  return 0;
}

int fmr_store_sweep(fmr_store *s, size_t *removed, fmr_err *err) {
  *removed = 0;
  /* The top level: files only (manifest.json.fmr-tmp and the like), no descent. */
  DIR *d = opendir(s->root);
  if (!d) return fmr_err_sys(err, errno, "%s: cannot read directory", s->root);
  struct dirent *e;
  int dfd = dirfd(d);
  while ((e = readdir(d))) {
    struct stat sb;
    if (!is_tmp_name(e->d_name) || fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
        S_ISDIR(sb.st_mode))
      continue;
    if (unlinkat(dfd, e->d_name, 0) == 0) ++*removed;
  }
  closedir(d);
  /* The tool's own folders, each only when it is a real directory (a link is never entered). */
  const char *own[NKINDS + 1];
  for (size_t i = 0; i < NKINDS; i++) own[i] = kinds[i].dir;
  own[NKINDS] = FMR_STORE_STATE_DIR;
  for (size_t i = 0; i < NKINDS + 1; i++) {
    char path[PATH_MAX];
    struct stat sb;
    int rc = join(s, own[i], path, err);
    if (rc) return rc;
    if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
    rc = fmr_walk_files(path, NULL, remove_if_tmp, removed, err);
    if (rc) return rc;
  }
  return 0;
}


/* ---- staged writes ----------------------------------------------------------------------- */

static int mkdir_parent(const char *path, fmr_err *err) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path) return 0;
  size_t n = (size_t)(slash - path);
  if (n >= sizeof dir) return fmr_err_set(err, FMR_ERANGE, "%s: path too long", path);
  memcpy(dir, path, n);
  dir[n] = '\0';
  struct stat sb;
  if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) return 0;
  return fmr_mkdirs(dir, err);
}

int fmr_store_stage(const fmr_store *s, const char *rel, fmr_stage *st, fmr_err *err) {
  if (snprintf(st->rel, sizeof st->rel, "%s", rel) >= (int)sizeof st->rel)
    return fmr_err_set(err, FMR_ERANGE, "%s: path too long", rel);
  int rc = join(s, rel, st->final, err);
  if (!rc) rc = fmr_tmp_path(st->final, st->tmp, sizeof st->tmp, err);
  if (!rc) rc = mkdir_parent(st->final, err);
  st->hash_seconds = st->sync_seconds = 0;
  st->defer_dir_sync = 0;
  errno = 0; /* what abandon reads is the writer's */
  return rc;
}

/* A file this large is fsynced on a helper thread while this one reads it back for the hash, so
 * the disk and the CPU work at once: dataset.h5 of four knee volumes (118 MB) took 0.06-0.08 s to
 * fsync and 0.1 s to hash, one after the other, at the end of a run with nothing else to do.
 * Below it a thread costs more than the overlap gains (a DICOM slice syncs in under 1 ms). */
#define SYNC_ALONGSIDE_BYTES ((off_t)4 << 20)

typedef struct fsync_job {
  const char *path;
  int rc, e;
} fsync_job;

static void *fsync_main(void *arg) {
  fsync_job *j = arg;
  j->rc = fmr_fsync_file(j->path);
  j->e = errno;
  return NULL;
}

int fmr_commit_file_hashed(const char *tmp, const char *final, int dir_sync, uint64_t *bytes,
                           char sha256[65], double *hash_seconds, double *sync_seconds,
                           fmr_err *err) {
  char sha[65];
  uint64_t n = 0;
  struct stat sb;
  fsync_job j = {tmp, 0, 0};
  pthread_t th;
  int alongside = stat(tmp, &sb) == 0 && sb.st_size >= SYNC_ALONGSIDE_BYTES &&
                  pthread_create(&th, NULL, fsync_main, &j) == 0;
  double t0 = fmr_monotonic_seconds();
  int rc = fmr_sha256_file(tmp, sha, &n, err);
  int e = errno;
  double t1 = fmr_monotonic_seconds();
  if (alongside) pthread_join(th, NULL);
  if (hash_seconds) *hash_seconds = t1 - t0;
  if (rc) {
    unlink(tmp);
    return fmr_errno_is_storage(e) ? fmr_err_sys(err, e, "%s", final) : rc;
  }
  if (alongside && j.rc) {
    unlink(tmp);
    return fmr_err_sys(err, j.e, "%s: fsync", final);
  }
  rc = alongside ? fmr_rename_into_place(tmp, final, dir_sync, err)
       : dir_sync ? fmr_commit_file(tmp, final, err)
                  : fmr_commit_file_nodirsync(tmp, final, err);
  if (sync_seconds) *sync_seconds = fmr_monotonic_seconds() - t1;
  if (rc) return rc;
  if (bytes) *bytes = n;
  if (sha256) memcpy(sha256, sha, 65);
  return 0;
}

int fmr_store_commit(const fmr_store *s, fmr_stage *st, uint64_t *bytes, char sha256[65],
                     fmr_err *err) {
  (void)s;
  return fmr_commit_file_hashed(st->tmp, st->final, !st->defer_dir_sync, bytes, sha256,
                                &st->hash_seconds, &st->sync_seconds, err);
}

int fmr_store_sync_dir(const fmr_store *s, const char *rel, fmr_err *err) {
  char path[PATH_MAX];
  int rc = join(s, rel, path, err);
  return rc ? rc : fmr_sync_parent_dir(path, err);
}

int fmr_store_abandon(const fmr_store *s, fmr_stage *st, int rc, fmr_err *err) {
  (void)s;
  int e = errno;
  if (rc == FMR_ESTORAGE) {
    /* Name the output, not its temporary. */
    char *msg = fmr_path_replace(err->msg, st->tmp, st->final);
    if (msg) {
      snprintf(err->msg, sizeof err->msg, "%s", msg);
      free(msg);
    }
  } else if (fmr_errno_is_storage(e)) {
    rc = fmr_err_sys(err, e, "%s", st->final);
  } else {
    /* A library that lost errno on the way out (HDF5, libpng): ask the file system. */
    struct statvfs vfs;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", st->final);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = '\0';
    if (statvfs(dir, &vfs) == 0) {
      if (vfs.f_flag & ST_RDONLY) rc = fmr_err_sys(err, EROFS, "%s", st->final);
      else if (vfs.f_bavail == 0) rc = fmr_err_sys(err, ENOSPC, "%s", st->final);
    }
  }
  unlink(st->tmp);
  return rc;
}

int fmr_store_write(const fmr_store *s, const char *rel, const void *data, size_t len,
                    fmr_err *err) {
  fmr_stage st;
  int rc = fmr_store_stage(s, rel, &st, err);
  if (!rc) rc = fmr_write_file(st.tmp, data, len, err);
  if (!rc) rc = fmr_commit_file(st.tmp, st.final, err);
  return rc;
}

/* ---- volumes ----------------------------------------------------------------------------- */

static int record_rel(const char *name, char rel[PATH_MAX], fmr_err *err) {
  if (snprintf(rel, PATH_MAX, FMR_STORE_STATE_DIR "/records/%s.json", name) >= PATH_MAX)
    return fmr_err_set(err, FMR_ERANGE, "%s: record path too long", name);
  return 0;
}

int fmr_store_check(const char *root, const char *rel, uint64_t bytes, const char *sha256,
                    char *detail, size_t detail_size) {
  char path[PATH_MAX], got[65];
  fmr_err err;
  char dummy[1];
  if (!detail) {
    detail = dummy;
    detail_size = sizeof dummy;
  }
  if (fmr_path_join(path, sizeof path, root, rel, &err)) {
    snprintf(detail, detail_size, "%s", err.msg);
    return FMR_STORE_CHANGED;
  }
  struct stat sb;
  if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    snprintf(detail, detail_size, "%s", errno == ENOENT ? "no such file" : "not a regular file");
    return FMR_STORE_MISSING;
  }
  uint64_t got_bytes = (uint64_t)sb.st_size;
  if (got_bytes == bytes) {
    if (fmr_sha256_file(path, got, &got_bytes, &err) != 0) {
      snprintf(detail, detail_size, "%s", err.msg);
      return FMR_STORE_MISSING;
    }
    if (got_bytes == bytes && strcmp(got, sha256) == 0) return FMR_STORE_INTACT;
  } else {
    /* A size mismatch is enough; still say what the file is now. */
    if (fmr_sha256_file(path, got, &got_bytes, &err) != 0) snprintf(got, sizeof got, "?");
  }
  snprintf(detail, detail_size, "%llu bytes, sha256 %.16s..., manifest says %llu bytes, %.16s...",
           (unsigned long long)got_bytes, got, (unsigned long long)bytes, sha256);
  return FMR_STORE_CHANGED;
}

fmr_record *fmr_store_reuse(const fmr_store *s, const char *name, const char *key) {
  char rel[PATH_MAX], path[PATH_MAX];
  fmr_err err;
  if (!key || !*key || record_rel(name, rel, &err) || join(s, rel, path, &err)) return NULL;
  json_t *state = json_load_file(path, 0, NULL);
  if (!state) return NULL;
  fmr_record *r = NULL;
  const char *stored = json_string_value(json_object_get(state, "key"));
  if (stored && strcmp(stored, key) == 0 &&
      fmr_record_from_json(json_object_get(state, "record"), &r, &err) == 0) {
    for (size_t i = 0; r && i < r->noutputs; i++)
      if (fmr_store_check(s->root, r->outputs[i].path, r->outputs[i].bytes, r->outputs[i].sha256,
                          NULL, 0) != FMR_STORE_INTACT)
        fmr_record_free(&r);
  }
  json_decref(state);
  return r;
}

int fmr_store_would_reuse(const fmr_store *s, const char *name, const char *key) {
  char rel[PATH_MAX], path[PATH_MAX];
  fmr_err err;
  if (!key || !*key || record_rel(name, rel, &err) || join(s, rel, path, &err)) return 0;
  json_t *state = json_load_file(path, 0, NULL);
  if (!state) return 0;
  fmr_record *r = NULL;
  const char *stored = json_string_value(json_object_get(state, "key"));
  int yes = stored && strcmp(stored, key) == 0 &&
            fmr_record_from_json(json_object_get(state, "record"), &r, &err) == 0;
  for (size_t i = 0; yes && i < r->noutputs; i++) {
    struct stat sb;
    yes = join(s, r->outputs[i].path, path, &err) == 0 && stat(path, &sb) == 0 &&
          (uint64_t)sb.st_size == r->outputs[i].bytes;
  }
  fmr_record_free(&r);
  json_decref(state);
  return yes;
}

int fmr_store_commit_record(const fmr_store *s, const char *key, const fmr_record *r,
                            fmr_err *err) {
  char rel[PATH_MAX];
  int rc = record_rel(r->name, rel, err);
  if (rc) return rc;
  json_t *rj = fmr_record_to_json(r);
  json_t *state = rj ? json_pack("{s:s, s:o}", "key", key, "record", rj) : NULL;
  char *text = state ? fmr_json_dumps(state) : NULL;
  json_decref(state);
  if (!text) return fmr_err_set(err, FMR_ENOMEM, "%s: cannot serialise the record", r->name);
  rc = fmr_store_write(s, rel, text, strlen(text), err);
  free(text);
  return rc;
}

static int unlink_visit(void *ctx, const char *rel, const char *full) {
  (void)ctx;
  (void)rel;
  unlink(full);
  return 0;
}

/* unlink path and its temporary: ENOENT is the common case and fine; anything else the storage's. */
static int unlink_both(const char *path, fmr_err *err) {
  char tmp[PATH_MAX];
  if (unlink(path) != 0 && errno != ENOENT && fmr_errno_is_storage(errno))
    return fmr_err_sys(err, errno, "%s: cannot remove", path);
  if (fmr_tmp_path(path, tmp, sizeof tmp, err) == 0 && unlink(tmp) != 0 && errno != ENOENT &&
      fmr_errno_is_storage(errno))
    return fmr_err_sys(err, errno, "%s: cannot remove", tmp);
  return 0;
}

int fmr_store_forget(const fmr_store *s, const char *name, fmr_err *err) {
  char rel[PATH_MAX], path[PATH_MAX];
  int rc = record_rel(name, rel, err);
  if (!rc) rc = join(s, rel, path, err);
  if (!rc) rc = unlink_both(path, err);
  for (size_t i = 0; !rc && i < NKINDS; i++) {
    const fmr_store_kind *k = &kinds[i];
    if (k->per_slice) {
      /* Every file in the volume's folder, whatever slice count an earlier attempt had. */
      if (snprintf(rel, sizeof rel, "%s/%s", k->dir, name) >= (int)sizeof rel) continue;
      rc = join(s, rel, path, err);
      struct stat sb;
      if (!rc && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        rc = fmr_walk_files(path, NULL, unlink_visit, NULL, err);
    } else {
      rc = fmr_store_path(k->name, name, 0, rel, sizeof rel, err);
      if (!rc) rc = join(s, rel, path, err);
      if (!rc) rc = unlink_both(path, err);
    }
  }
  return rc;
}

void fmr_store_remove_outputs(const fmr_store *s, const fmr_record *r) {
  char path[PATH_MAX];
  fmr_err err;
  for (size_t i = 0; i < r->noutputs; i++)
    if (join(s, r->outputs[i].path, path, &err) == 0) unlink(path);
}

static int attempts_rel(const char *name, char rel[PATH_MAX], fmr_err *err) {
  if (snprintf(rel, PATH_MAX, FMR_STORE_STATE_DIR "/attempts/%s", name) >= PATH_MAX)
    return fmr_err_set(err, FMR_ERANGE, "%s: attempts path too long", name);
  return 0;
}

int fmr_store_attempts(const fmr_store *s, const char *name) {
  char rel[PATH_MAX], path[PATH_MAX];
  fmr_err err;
  if (attempts_rel(name, rel, &err) || join(s, rel, path, &err)) return 0;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0;
  if (fscanf(f, "%d", &n) != 1) n = 0;
  fclose(f);
  return n;
}

int fmr_store_set_attempts(const fmr_store *s, const char *name, int n, fmr_err *err) {
  char rel[PATH_MAX], text[32];
  int rc = attempts_rel(name, rel, err);
  if (rc) return rc;
  int len = snprintf(text, sizeof text, "%d\n", n);
  return fmr_store_write(s, rel, text, (size_t)len, err);
}

int fmr_store_clear_attempts(const fmr_store *s, const char *name, fmr_err *err) {
  char rel[PATH_MAX], path[PATH_MAX];
  int rc = attempts_rel(name, rel, err);
  if (!rc) rc = join(s, rel, path, err);
  if (!rc && unlink(path) != 0 && errno != ENOENT && fmr_errno_is_storage(errno))
    rc = fmr_err_sys(err, errno, "%s: cannot remove", path);
  return rc;
}
