/* fmr_kspace_probe (include/fmr/recon/kspace.h): an input's metadata read in another process, so
 * a file that makes the HDF5 library crash or hang fails alone instead of taking its rank (and the
 * job) down. HDF5 1.10.8 does both on crafted files (tests/fuzz/regressions/kspace).
 *
 * The helper is forked once and serves one probe after another over a socket; it is forked again
 * only after it crashed or was killed for hanging. A fork per volume cost more than the probe: it
 * made every page the rank then wrote copy-on-write, and the rank wrote its whole heap (k-space
 * buffer, image stack, mask, output images) again for every volume: ~28,000 page faults and 29 %
 * of a 4-volume knee run (bench/README.md).
 *
 * The helper is forked from an MPI rank: it must not call MPI, flush or close anything the parent
 * owns (a parent's HDF5 file open for writing would be flushed twice by H5close at exit), so it
 * keeps only its socket and standard streams open and leaves with _exit, which runs no atexit
 * handler. It holds no copy of the parent's descriptors (the run lock among them), and dies with
 * the parent (PR_SET_PDEATHSIG) or when the parent closes the socket. */
#define _GNU_SOURCE /* close_range */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/util/measure.h"
#include "recon/kspace_internal.h"

typedef struct verdict {
  int code;
  char msg[FMR_ERR_MSG_MAX];
} verdict;

/* Longest input path a probe takes (the helper's buffer). */
#define PROBE_PATH_MAX 4096

/* What the parent sends: the limits, then the path's length and bytes. */
typedef struct request {
  fmr_limits limits;
  uint32_t path_len;
} request;

/* The one helper of this process. Process-wide like the HDF5 library state it guards; used from
 * the thread that runs the pipeline only. pid -1: none running. */
static struct {
  pid_t pid;
  int fd;
} helper = {-1, -1};

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL); /* a dead peer is EPIPE, not SIGPIPE */
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len) {
    ssize_t r = read(fd, p, len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

static void probe_one(const char *path, const fmr_limits *lim, verdict *v) {
  /* Tests only (it.crash_containment): a real crash of the helper for inputs whose path contains
   * FMR_TEST_PROBE_CRASH. HDF5's own crash on the committed crafted file depends on the process's
   * memory layout, so a run-level test cannot count on it. */
  const char *crash = getenv("FMR_TEST_PROBE_CRASH");
  if (crash && *crash && strstr(path, crash)) raise(SIGSEGV);
  fmr_err err;
  memset(v, 0, sizeof *v);
  fmr_err_clear(&err);
  fmr_kspace *ks = NULL;
  int rc = fmr_kspace_open_limited(path, lim, &ks, &err);
  if (!rc) rc = fmr__kspace_touch(ks, &err);
  if (!rc) {
    const fmr_kspace_info *in = fmr_kspace_info_of(ks);
    fmr_header h;
    /* A header the parser refuses is the pipeline's business (it may be optional); only a crash
     * in libxml2 would matter here, and that ends the helper like any other. */
    if (in->header_len) (void)fmr_header_parse_limited(in->header_xml, in->header_len, path, lim,
                                                       &h, &err);
    fmr_err_clear(&err);
  }
  fmr_kspace_close(&ks);
  v->code = rc;
  if (rc) snprintf(v->msg, sizeof v->msg, "%s", err.msg);
}

static void serve(int fd) {
  for (;;) {
    request rq;
    char path[PROBE_PATH_MAX];
    if (read_all(fd, &rq, sizeof rq) != 0) _exit(0); /* the parent is done */
    if (rq.path_len >= sizeof path || read_all(fd, path, rq.path_len) != 0) _exit(3);
    path[rq.path_len] = '\0';
    verdict v;
    probe_one(path, &rq.limits, &v);
    if (write_all(fd, &v, sizeof v) != 0) _exit(3);
  }
}

/* Forget the helper: SIGKILL it first if asked, close the socket (a live helper reads end of
 * file and leaves), reap it. Returns what waitpid returned; *status gets its wait status. */
static pid_t helper_stop(int kill_it, int *status) {
  pid_t pid = helper.pid, w = -1;
  *status = 0;
  if (pid <= 0) return -1;
  if (kill_it) kill(pid, SIGKILL);
  close(helper.fd);
  do {
    w = waitpid(pid, status, 0);
  } while (w < 0 && errno == EINTR);
  helper.pid = -1;
  helper.fd = -1;
  return w;
}

static int helper_start(const char *path, fmr_err *err) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return fmr_err_set(err, FMR_EIO, "%s: cannot create the probe's socket: %s", path,
                       strerror(errno));
  pid_t parent = getpid();
  fflush(NULL); /* nothing buffered in the parent may be written twice */
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    return fmr_err_set(err, FMR_EIO, "%s: cannot start the input probe: %s", path, strerror(e));
  }
  if (pid == 0) {
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0); /* the parent died before the line above */
    int fd = sv[1];
    if (fd != 3) {
      if (dup2(fd, 3) < 0) _exit(3);
      fd = 3;
    }
    (void)close_range(4, ~0u, 0); /* sv[0], MPI's sockets, the run lock, open outputs */
    serve(fd); /* does not return */
  }
  close(sv[1]);
  helper.pid = pid;
  helper.fd = sv[0];
  return 0;
}

int fmr_kspace_probe(const char *path, const fmr_limits *limits, fmr_err *err) {
  if (!path) return fmr_err_set(err, FMR_EINVAL, "fmr_kspace_probe: no path");
  size_t plen = strlen(path);
  if (plen >= PROBE_PATH_MAX) return fmr_err_set(err, FMR_ERANGE, "%.200s...: path too long", path);
  const fmr_limits *lim = fmr_limits_or_default(limits);
  int status = 0;
  if (helper.pid > 0 && waitpid(helper.pid, &status, WNOHANG) == helper.pid) {
    /* Gone since the last probe (killed from outside), and reaped: start another. */
    close(helper.fd);
    helper.pid = -1;
    helper.fd = -1;
  }
  int rc = helper.pid > 0 ? 0 : helper_start(path, err);
  if (rc) return rc;
  request rq;
  memset(&rq, 0, sizeof rq);
  rq.limits = *lim;
  rq.path_len = (uint32_t)plen;
  int sent = write_all(helper.fd, &rq, sizeof rq) == 0 && write_all(helper.fd, path, plen) == 0;

  verdict v;
  size_t got = 0;
  int timed_out = 0;
  double deadline = fmr_monotonic_seconds() + (double)lim->probe_seconds;
  while (sent && got < sizeof v) {
    double left = deadline - fmr_monotonic_seconds();
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    struct pollfd pfd = {helper.fd, POLLIN, 0};
    int pr = poll(&pfd, 1, left > 1000.0 ? 1000000 : (int)(left * 1000.0) + 1);
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) break;
    if (pr == 0) continue;
    ssize_t r = read(helper.fd, (char *)&v + got, sizeof v - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* the helper is gone without a verdict */
    got += (size_t)r;
  }
  if (got == sizeof v) {
    if (v.code == 0) return 0;
    v.msg[sizeof v.msg - 1] = '\0';
    return fmr_err_set(err, v.code, "%s", v.msg);
  }
  /* No verdict: the helper crashed, hung or broke the protocol. It is not asked again. */
  pid_t pid = helper.pid;
  pid_t w = helper_stop(1, &status);
  if (timed_out)
    return fmr_err_set(err, FMR_EHDF5, "%s: the HDF5 library did not finish reading its metadata "
                       "within %zu s (limits.probe_seconds); the probe was killed", path,
                       lim->probe_seconds);
  if (w == pid && WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
    return fmr_err_set(err, FMR_EHDF5, "%s: the HDF5 library crashed (%s) while reading its "
                       "metadata", path, fmr_signal_name(WTERMSIG(status)));
  if (w == pid && WIFEXITED(status))
    return fmr_err_set(err, FMR_EHDF5, "%s: the input probe ended (status %d) without a "
                       "verdict while reading its metadata", path, WEXITSTATUS(status));
  return fmr_err_set(err, FMR_EHDF5, "%s: the input probe ended without a verdict while reading "
                     "its metadata", path);
}

void fmr_kspace_probe_stop(void) {
  int status;
  (void)helper_stop(0, &status);
}
