/* fmr_kspace_probe (include/fmr/recon/kspace.h): an input's metadata read in a child process, so
 * a file that makes the HDF5 library crash or hang fails alone instead of taking its rank (and the
 * job) down. HDF5 1.10.8 does both on crafted files (tests/fuzz/regressions/kspace).
 *
 * The child is forked from an MPI rank: it must not call MPI, flush or close anything the parent
 * owns (a parent's HDF5 file open for writing would be flushed twice by H5close at exit), so it
 * reports through a pipe and leaves with _exit, which runs no atexit handler. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "recon/kspace_internal.h"

typedef struct verdict {
  int code;
  char msg[FMR_ERR_MSG_MAX];
} verdict;

static void child(const char *path, const fmr_limits *lim, int fd) {
  /* Tests only (it.crash_containment): a real crash of the child for inputs whose path contains
   * FMR_TEST_PROBE_CRASH. HDF5's own crash on the committed crafted file depends on the process's
   * memory layout, so a run-level test cannot count on it. */
  const char *crash = getenv("FMR_TEST_PROBE_CRASH");
  if (crash && *crash && strstr(path, crash)) raise(SIGSEGV);
  verdict v;
  fmr_err err;
  memset(&v, 0, sizeof v);
  fmr_err_clear(&err);
  fmr_kspace *ks = NULL;
  int rc = fmr_kspace_open_limited(path, lim, &ks, &err);
  if (!rc) rc = fmr__kspace_touch(ks, &err);
  if (!rc) {
    const fmr_kspace_info *in = fmr_kspace_info_of(ks);
    fmr_header h;
    /* A header the parser refuses is the pipeline's business (it may be optional); only a crash
     * in libxml2 would matter here, and that ends the child like any other. */
    if (in->header_len) (void)fmr_header_parse_limited(in->header_xml, in->header_len, path, lim,
                                                       &h, &err);
    fmr_err_clear(&err);
  }
  fmr_kspace_close(&ks);
  v.code = rc;
  if (rc) snprintf(v.msg, sizeof v.msg, "%s", err.msg);
  const char *p = (const char *)&v;
  size_t left = sizeof v;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);
    p += w;
    left -= (size_t)w;
  }
  _exit(0);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
  }
}

int fmr_kspace_probe(const char *path, const fmr_limits *limits, fmr_err *err) {
  if (!path) return fmr_err_set(err, FMR_EINVAL, "fmr_kspace_probe: no path");
  const fmr_limits *lim = fmr_limits_or_default(limits);
  int fds[2] = {-1, -1};
  if (pipe(fds) != 0)
    return fmr_err_set(err, FMR_EIO, "%s: cannot create the probe's pipe: %s", path,
                       strerror(errno));
  fflush(NULL); /* nothing buffered in the parent may be written twice */
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    return fmr_err_set(err, FMR_EIO, "%s: cannot start the input probe: %s", path, strerror(e));
  }
  if (pid == 0) {
    close(fds[0]);
    child(path, lim, fds[1]); /* does not return */
  }
  close(fds[1]);

  verdict v;
  size_t got = 0;
  int timed_out = 0;
  double deadline = now_s() + (double)lim->probe_seconds;
  while (got < sizeof v) {
    double left = deadline - now_s();
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int pr = poll(&pfd, 1, left > 1000.0 ? 1000000 : (int)(left * 1000.0) + 1);
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) break;
    if (pr == 0) continue;
    ssize_t r = read(fds[0], (char *)&v + got, sizeof v - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* the child is gone without a verdict */
    got += (size_t)r;
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  pid_t w;
  do {
    w = waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);

  if (timed_out)
    return fmr_err_set(err, FMR_EHDF5, "%s: the HDF5 library did not finish reading its metadata "
                       "within %zu s (limits.probe_seconds); the probe was killed", path,
                       lim->probe_seconds);
  if (w == pid && WIFSIGNALED(status))
    return fmr_err_set(err, FMR_EHDF5, "%s: the HDF5 library crashed (%s) while reading its "
                       "metadata", path, signal_name(WTERMSIG(status)));
  if (got < sizeof v) {
    if (w == pid && WIFEXITED(status))
      return fmr_err_set(err, FMR_EHDF5, "%s: the input probe ended (status %d) without a "
                         "verdict while reading its metadata", path, WEXITSTATUS(status));
    return fmr_err_set(err, FMR_EHDF5, "%s: the input probe ended without a verdict while reading "
                       "its metadata", path);
  }
  if (v.code == 0) return 0;
  v.msg[sizeof v.msg - 1] = '\0';
  return fmr_err_set(err, v.code, "%s", v.msg);
}
