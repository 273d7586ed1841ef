#include "fmr/util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fmr_read_file(const char *path, size_t max_bytes, char **data, size_t *len, fmr_err *err) {
  *data = NULL;
  *len = 0;
  int rc = 0;
  char *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return fmr_err_set(err, errno == ENOENT ? FMR_ENOENT : FMR_EIO, "%s: %s", path,
                             strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = fmr_err_set(err, FMR_EIO, "%s: not a regular file", path);
    goto done;
  }
  if ((size_t)st.st_size > max_bytes) {
    rc = fmr_err_set(err, FMR_ERANGE, "%s: %lld bytes is more than the %zu allowed", path,
                     (long long)st.st_size, max_bytes);
    goto done;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  size_t got = fread(buf, 1, (size_t)st.st_size, f);
  if (got != (size_t)st.st_size || ferror(f)) {
    rc = fmr_err_set(err, FMR_EIO, "%s: short read", path);
    goto done;
  }
  buf[got] = '\0';
  *data = buf;
  *len = got;
  buf = NULL;
done:
  free(buf);
  fclose(f);
  return rc;
}

int fmr_mkdirs(const char *path, fmr_err *err) {
  char tmp[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof tmp) return fmr_err_set(err, FMR_ERANGE, "%s: bad directory name", path);
  memcpy(tmp, path, n + 1);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
      return fmr_err_set(err, FMR_EIO, "%s: cannot create directory: %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
    return fmr_err_set(err, FMR_EIO, "%s: cannot create directory: %s", tmp, strerror(errno));
  struct stat st;
  if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
    return fmr_err_set(err, FMR_EIO, "%s: exists and is not a directory", tmp);
  return 0;
}

int fmr_path_join(char *out, size_t out_size, const char *a, const char *b, fmr_err *err) {
  size_t la = strlen(a);
  int slash = la > 0 && a[la - 1] != '/';
  int n = snprintf(out, out_size, "%s%s%s", a, slash ? "/" : "", b);
  if (n < 0 || (size_t)n >= out_size)
    return fmr_err_set(err, FMR_ERANGE, "%s/%s: path too long", a, b);
  return 0;
}

int fmr_tmp_path(const char *final_path, char *out, size_t out_size, fmr_err *err) {
  int n = snprintf(out, out_size, "%s%s", final_path, FMR_TMP_SUFFIX);
  if (n < 0 || (size_t)n >= out_size)
    return fmr_err_set(err, FMR_ERANGE, "%s: path too long", final_path);
  return 0;
}

static int fsync_path(const char *path, int directory) {
  int fd = open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  /* Some file systems refuse fsync on directories; durability there is best effort. */
  if (rc != 0 && directory && (errno == EINVAL || errno == EBADF)) rc = 0;
  close(fd);
  return rc;
}

int fmr_commit_file(const char *tmp_path, const char *final_path, fmr_err *err) {
  if (fsync_path(tmp_path, 0) != 0) {
    int e = errno;
    unlink(tmp_path);
    return fmr_err_set(err, FMR_EIO, "%s: fsync failed: %s", tmp_path, strerror(e));
  }
  if (rename(tmp_path, final_path) != 0) {
    int e = errno;
    unlink(tmp_path);
    return fmr_err_set(err, FMR_EIO, "%s: cannot rename into place: %s", final_path, strerror(e));
  }
  char dir[PATH_MAX];
  const char *slash = strrchr(final_path, '/');
  if (slash) {
    size_t n = (size_t)(slash - final_path);
    if (n == 0) n = 1;
    if (n < sizeof dir) {
      memcpy(dir, final_path, n);
      dir[n] = '\0';
      if (fsync_path(dir, 1) != 0)
        return fmr_err_set(err, FMR_EIO, "%s: fsync failed: %s", dir, strerror(errno));
    }
  }
  return 0;
}

int fmr_write_file_atomic(const char *path, const void *data, size_t len, fmr_err *err) {
  char tmp[PATH_MAX];
  int rc = fmr_tmp_path(path, tmp, sizeof tmp, err);
  if (rc) return rc;
  FILE *f = fopen(tmp, "wb");
  if (!f) return fmr_err_set(err, FMR_EIO, "%s: %s", tmp, strerror(errno));
  size_t put = fwrite(data, 1, len, f);
  int close_rc = fclose(f);
  if (put != len || close_rc != 0) {
    unlink(tmp);
    return fmr_err_set(err, FMR_EIO, "%s: write failed", tmp);
  }
  return fmr_commit_file(tmp, path, err);
}

static int walk_dir(const char *root, const char *rel, int (*skip_dir)(void *, const char *),
                    fmr_walk_fn visit, void *ctx, fmr_err *err) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel) >= (int)sizeof dir)
    return fmr_err_set(err, FMR_ERANGE, "%s/%s: path too long", root, rel);
  DIR *d = opendir(dir);
  if (!d) return fmr_err_set(err, FMR_EIO, "%s: cannot read directory: %s", dir, strerror(errno));
  int rc = 0;
  struct dirent *e;
  while (!rc && (e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char child[PATH_MAX], full[PATH_MAX];
    if (snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
            (int)sizeof child ||
        snprintf(full, sizeof full, "%s/%s", root, child) >= (int)sizeof full) {
      rc = fmr_err_set(err, FMR_ERANGE, "%s: path too long", dir);
      break;
    }
    struct stat sb;
    if (lstat(full, &sb) != 0) continue; /* vanished meanwhile */
    if (S_ISDIR(sb.st_mode)) {
      if (!skip_dir || !skip_dir(ctx, child)) rc = walk_dir(root, child, skip_dir, visit, ctx, err);
    } else {
      rc = visit(ctx, child, full);
    }
  }
  closedir(d);
  return rc;
}

int fmr_walk_files(const char *root, int (*skip_dir)(void *ctx, const char *rel), fmr_walk_fn visit,
                   void *ctx, fmr_err *err) {
  return walk_dir(root, "", skip_dir, visit, ctx, err);
}

static int remove_if_tmp(void *ctx, const char *rel, const char *full) {
  size_t n = strlen(rel), s = strlen(FMR_TMP_SUFFIX);
  if (n > s && strcmp(rel + n - s, FMR_TMP_SUFFIX) == 0 && unlink(full) == 0) ++*(size_t *)ctx;
  return 0;
}

int fmr_remove_tmp_files(const char *root, size_t *removed, fmr_err *err) {
  *removed = 0;
  return fmr_walk_files(root, NULL, remove_if_tmp, removed, err);
}
