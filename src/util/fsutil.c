#include "fmr/util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fmr_errno_is_storage(int e) {
  switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EROFS:
    case EIO:
    case EFBIG:
      return 1;
    default:
      return 0;
  }
}

int fmr_err_sys(fmr_err *err, int e, const char *fmt, ...) {
  char what[FMR_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return fmr_err_set(err, fmr_errno_is_storage(e) ? FMR_ESTORAGE : FMR_EIO, "%s: %s", what,
                     strerror(e));
}

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
  for (char *p = tmp + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
      return fmr_err_sys(err, errno, "%s: cannot create directory", tmp);
    *p = c;
    if (!c) break;
  }
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

char *fmr_path_replace(const char *text, const char *from, const char *to) {
  size_t lf = strlen(from), lt = strlen(to), count = 0;
  if (lf == 0) return strdup(text);
  for (const char *p = strstr(text, from); p; p = strstr(p + lf, from)) count++;
  size_t n = strlen(text) + count * lt + 1;
  char *out = malloc(n), *o = out;
  if (!out) return NULL;
  const char *p = text;
  for (const char *q = strstr(p, from); q; q = strstr(p, from)) {
    memcpy(o, p, (size_t)(q - p));
    o += q - p;
    memcpy(o, to, lt);
    o += lt;
    p = q + lf;
  }
  strcpy(o, p);
  return out;
}

int fmr_tmp_path(const char *final_path, char *out, size_t out_size, fmr_err *err) {
  int n = snprintf(out, out_size, "%s%s", final_path, FMR_TMP_SUFFIX);
  if (n < 0 || (size_t)n >= out_size)
    return fmr_err_set(err, FMR_ERANGE, "%s: path too long", final_path);
  return 0;
}

int fmr_write_file(const char *path, const void *data, size_t len, fmr_err *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return fmr_err_sys(err, errno, "%s", path);
  const unsigned char *p = data;
  int rc = 0;
  while (len > 0) {
    ssize_t put = write(fd, p, len);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) {
      /* A zero-byte write on a regular file means the device took nothing: no space. */
      rc = fmr_err_sys(err, put < 0 ? errno : ENOSPC, "%s", path);
      break;
    }
    p += put;
    len -= (size_t)put;
  }
  if (close(fd) != 0 && !rc) rc = fmr_err_sys(err, errno, "%s", path);
  if (rc) unlink(path);
  return rc;
}

static int fsync_path(const char *path, int directory) {
  int fd = open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  /* Some file systems refuse fsync on directories; durability there is best effort. */
  if (rc != 0 && directory && (errno == EINVAL || errno == EBADF)) rc = 0;
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

int fmr_fsync_file(const char *path) { return fsync_path(path, 0); }

int fmr_rename_into_place(const char *tmp_path, const char *final_path, int dir_sync,
                          fmr_err *err) {
  if (rename(tmp_path, final_path) != 0) {
    int e = errno;
    unlink(tmp_path);
    return fmr_err_sys(err, e, "%s: cannot rename into place", final_path);
  }
  return dir_sync ? fmr_sync_parent_dir(final_path, err) : 0;
}

int fmr_commit_file_nodirsync(const char *tmp_path, const char *final_path, fmr_err *err) {
  if (fsync_path(tmp_path, 0) != 0) {
    int e = errno;
    unlink(tmp_path);
    return fmr_err_sys(err, e, "%s: fsync", final_path);
  }
  return fmr_rename_into_place(tmp_path, final_path, 0, err);
}

int fmr_commit_file(const char *tmp_path, const char *final_path, fmr_err *err) {
  int rc = fmr_commit_file_nodirsync(tmp_path, final_path, err);
  return rc ? rc : fmr_sync_parent_dir(final_path, err);
}

int fmr_sync_parent_dir(const char *final_path, fmr_err *err) {
  char dir[PATH_MAX];
  const char *slash = strrchr(final_path, '/');
  if (slash) {
    size_t n = (size_t)(slash - final_path);
    if (n == 0) n = 1;
    if (n < sizeof dir) {
      memcpy(dir, final_path, n);
      dir[n] = '\0';
      if (fsync_path(dir, 1) != 0) return fmr_err_sys(err, errno, "%s: fsync", dir);
    }
  }
  return 0;
}

int fmr_write_file_atomic(const char *path, const void *data, size_t len, fmr_err *err) {
  char tmp[PATH_MAX];
  int rc = fmr_tmp_path(path, tmp, sizeof tmp, err);
  if (!rc) rc = fmr_write_file(tmp, data, len, err);
  if (!rc) rc = fmr_commit_file(tmp, path, err);
  return rc;
}

/* dfd is an open directory (consumed); rel its path below the root, for messages and visit. */
static int walk_dir(int dfd, const char *root, const char *rel,
                    int (*skip_dir)(void *, const char *), fmr_walk_fn visit, void *ctx,
                    fmr_err *err) {
  DIR *d = fdopendir(dfd);
  if (!d) {
    int e = errno;
    close(dfd);
    return fmr_err_sys(err, e, "%s/%s: cannot read directory", root, rel);
  }
  int rc = 0;
  struct dirent *e;
  while (!rc && (e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char child[PATH_MAX], full[PATH_MAX];
    if (snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
            (int)sizeof child ||
        snprintf(full, sizeof full, "%s/%s", root, child) >= (int)sizeof full) {
      rc = fmr_err_set(err, FMR_ERANGE, "%s/%s: path too long", root, rel);
      break;
    }
    struct stat sb;
    if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) continue; /* vanished */
    if (S_ISDIR(sb.st_mode)) {
      if (skip_dir && skip_dir(ctx, child)) continue;
      /* O_NOFOLLOW: a directory swapped for a link since the fstatat is not entered either. */
      int cfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0) {
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) continue;
        rc = fmr_err_sys(err, errno, "%s: cannot read directory", full);
        break;
      }
      rc = walk_dir(cfd, root, child, skip_dir, visit, ctx, err);
    } else {
      rc = visit(ctx, child, full);
    }
  }
  closedir(d);
  return rc;
}

int fmr_walk_files(const char *root, int (*skip_dir)(void *ctx, const char *rel), fmr_walk_fn visit,
                   void *ctx, fmr_err *err) {
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fmr_err_sys(err, errno, "%s: cannot read directory", root);
  return walk_dir(fd, root, "", skip_dir, visit, ctx, err);
}
