/* LD_PRELOAD fault shim for the storage-fault tests: fails the Nth write, fsync or rename whose
 * file lies under a chosen directory, with a chosen errno, by calling nothing (the real call is not
 * made). Test-only; never linked into the tool.
 *
 *   FMR_FAILIO_OP     write | pwrite | fsync | rename   (which call to fail; HDF5's file
 *                     drivers write with pwrite, the tool's in-memory HDF5 files go out with write)
 *   FMR_FAILIO_N      1-based count of matching calls; the Nth fails
 *   FMR_FAILIO_ERRNO  ENOSPC | EDQUOT | EROFS | EIO | EFBIG  (default ENOSPC)
 *   FMR_FAILIO_UNDER  only calls on files whose path starts with this (default: every file)
 *   FMR_FAILIO_STICKY 1: every matching call from the Nth on fails (a disk that stays full)
 *   FMR_FAILIO_LOG    a file: each fsync under FMR_FAILIO_UNDER appends "<path>\t<main|thread>"
 *                     there, in call order, naming the calling thread (the process's first or
 *                     another); FMR_FAILIO_N=0 fails none. For tests of what is synced when, where
 *
 * Counting is per process. write() is matched through /proc/self/fd, so stdout and stderr are only
 * counted when FMR_FAILIO_UNDER is unset. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long seen = 0;

static int want(const char *op) {
  const char *want_op = getenv("FMR_FAILIO_OP");
  return want_op && strcmp(want_op, op) == 0;
}

static int chosen_errno(void) {
  const char *e = getenv("FMR_FAILIO_ERRNO");
  if (!e || strcmp(e, "ENOSPC") == 0) return ENOSPC;
  if (strcmp(e, "EDQUOT") == 0) return EDQUOT;
  if (strcmp(e, "EROFS") == 0) return EROFS;
  if (strcmp(e, "EIO") == 0) return EIO;
  if (strcmp(e, "EFBIG") == 0) return EFBIG;
  return atoi(e);
}

static int under(const char *path) {
  const char *dir = getenv("FMR_FAILIO_UNDER");
  return !dir || (path && strncmp(path, dir, strlen(dir)) == 0);
}

static int fd_path(int fd, char *path, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, size - 1);
  if (n <= 0) return -1;
  path[n] = '\0';
  return 0;
}

static int fd_under(int fd) {
  if (!getenv("FMR_FAILIO_UNDER")) return 1;
  char path[4096];
  return fd_path(fd, path, sizeof path) == 0 && under(path);
}

/* libc's own write inside dprintf is not interposed, so this does not count itself. */
static void log_call(int fd) {
  const char *log = getenv("FMR_FAILIO_LOG");
  char path[4096];
  if (!log || fd_path(fd, path, sizeof path) != 0 || !under(path)) return;
  int l = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (l < 0) return;
  dprintf(l, "%s\t%s\n", path, gettid() == getpid() ? "main" : "thread");
  close(l);
}

/* Count a matching call; 1 when this one must fail. */
static int strike(void) {
  const char *n = getenv("FMR_FAILIO_N");
  long target = n ? atol(n) : 1;
  const char *sticky = getenv("FMR_FAILIO_STICKY");
  seen++;
  return sticky && strcmp(sticky, "1") == 0 ? seen >= target : seen == target;
}

ssize_t write(int fd, const void *buf, size_t count) {
  static ssize_t (*real)(int, const void *, size_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  if (want("write") && fd > 2 && fd_under(fd) && strike()) {
    errno = chosen_errno();
    return -1;
  }
  return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
  static ssize_t (*real)(int, const void *, size_t, off_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  if (want("pwrite") && fd > 2 && fd_under(fd) && strike()) {
    errno = chosen_errno();
    return -1;
  }
  return real(fd, buf, count, offset);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  log_call(fd);
  if (want("fsync") && fd_under(fd) && strike()) {
    errno = chosen_errno();
    return -1;
  }
  return real(fd);
}

int rename(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  if (want("rename") && under(to) && strike()) {
    errno = chosen_errno();
    return -1;
  }
  return real(from, to);
}
