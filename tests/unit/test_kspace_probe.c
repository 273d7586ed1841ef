/* fmr_kspace_probe: a file that crashes or hangs HDF5 1.10.8 becomes a per-volume error and the
 * calling process carries on; a good file passes; an ordinary bad file gives open's own message.
 * Also prints what one probe costs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fmr/recon/kspace.h"
#include "fmr_test.h"

static char good[1024], crash[1024], hang[1024];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void expect_contains(const char *msg, const char *needle) {
  if (!strstr(msg, needle)) FMR__FAIL("message \"%s\" lacks \"%s\"", msg, needle);
}

static void test_good(void) {
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_kspace_probe(good, NULL, &err), 0);
  /* and the same file opens in this process afterwards */
  fmr_kspace *ks = NULL;
  CHECK_INT_EQ(fmr_kspace_open(good, &ks, &err), 0);
  fmr_kspace_close(&ks);
}

static void test_crash(void) {
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_kspace_probe(crash, NULL, &err), FMR_EHDF5);
  CHECK(strncmp(err.msg, crash, strlen(crash)) == 0);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan's own SEGV handler reports and exits instead of letting the signal kill the child. */
  expect_contains(err.msg, "while reading its metadata");
#else
  expect_contains(err.msg, ": the HDF5 library crashed (SIGSEGV) while reading its metadata");
#endif
  /* The parent survived and its HDF5 still works. */
  fmr_kspace *ks = NULL;
  CHECK_INT_EQ(fmr_kspace_open(good, &ks, &err), 0);
  fmr_kspace_close(&ks);
}

static void test_hang(void) {
  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.probe_seconds = 2;
  fmr_err err;
  fmr_err_clear(&err);
  double t0 = now_ms();
  CHECK_INT_EQ(fmr_kspace_probe(hang, &lim, &err), FMR_EHDF5);
  double ms = now_ms() - t0;
  expect_contains(err.msg, "did not finish reading its metadata within 2 s (limits.probe_seconds)");
  CHECK(ms >= 1900 && ms < 10000);
}

static void test_ordinary_errors(void) {
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_kspace_probe("/nonexistent/x.h5", NULL, &err), FMR_ENOENT);
  expect_contains(err.msg, "/nonexistent/x.h5: No such file or directory");
  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.kspace_coils = 1; /* mc.h5 has 2 */
  CHECK_INT_EQ(fmr_kspace_probe(good, &lim, &err), FMR_ERANGE);
  expect_contains(err.msg, "limits.kspace_coils");
}

static long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

/* The probe's process is forked once, not per probe: a fork per probe would make every page the
 * caller writes afterwards copy-on-write, and a rank rewrites its whole heap for every volume.
 * 64 MB written after each of 5 probes: 16,384 pages, so 5 forks would cost >= 80,000 faults. */
static void test_no_copy_on_write(void) {
  fmr_err err;
  CHECK_INT_EQ(fmr_kspace_probe(good, NULL, &err), 0); /* the helper exists from here */
  const size_t bytes = (size_t)64 << 20;
  volatile unsigned char *buf = malloc(bytes);
  CHECK(buf != NULL);
  if (!buf) return;
  for (size_t i = 0; i < bytes; i += 4096) buf[i] = 1;
  long before = minor_faults();
  for (int k = 0; k < 5; k++) {
    CHECK_INT_EQ(fmr_kspace_probe(good, NULL, &err), 0);
    for (size_t i = 0; i < bytes; i += 4096) buf[i] = (unsigned char)(k + 2);
  }
  long faults = minor_faults() - before;
  printf("5 probes with 64 MB rewritten after each: %ld page faults\n", faults);
  CHECK(faults < 2000);
  free((void *)buf);
}

/* SIGKILL this process's children (the helper); how many there were. */
static int kill_children(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int n = 0, pid;
  while (fscanf(f, "%d", &pid) == 1) {
    kill(pid, SIGKILL);
    n++;
  }
  fclose(f);
  struct timespec ts = {0, 50000000};
  nanosleep(&ts, NULL); /* dead, and not yet reaped: the probe finds out */
  return n;
}

/* A crash or a hang ends the helper; the next probe gets a new one. */
static void test_recovers(void) {
  fmr_err err;
  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.probe_seconds = 2;
  CHECK_INT_EQ(fmr_kspace_probe(crash, NULL, &err), FMR_EHDF5);
  CHECK_INT_EQ(fmr_kspace_probe(good, NULL, &err), 0);
  CHECK_INT_EQ(fmr_kspace_probe(hang, &lim, &err), FMR_EHDF5);
  CHECK_INT_EQ(fmr_kspace_probe(good, NULL, &err), 0);
  /* Stopped on purpose, or killed from outside: the next probe starts another. */
  fmr_kspace_probe_stop();
  CHECK_INT_EQ(fmr_kspace_probe(good, NULL, &err), 0);
  CHECK_INT_EQ(kill_children(), 1);
  CHECK_INT_EQ(fmr_kspace_probe(good, NULL, &err), 0);
  CHECK_INT_EQ(fmr_kspace_probe("/nonexistent/x.h5", NULL, &err), FMR_ENOENT);
}

static void test_cost(void) {
  fmr_err err;
  const int n = 20;
  double t0 = now_ms();
  for (int i = 0; i < n; i++) CHECK_INT_EQ(fmr_kspace_probe(good, NULL, &err), 0);
  double probe = (now_ms() - t0) / n;
  t0 = now_ms();
  for (int i = 0; i < n; i++) {
    fmr_kspace *ks = NULL;
    CHECK_INT_EQ(fmr_kspace_open(good, &ks, &err), 0);
    fmr_kspace_close(&ks);
  }
  double open = (now_ms() - t0) / n;
  t0 = now_ms();
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    int st;
    waitpid(pid, &st, 0);
  }
  double forks = (now_ms() - t0) / n;
  printf("probe: %.2f ms per file (helper: open + checks + 2-row reads); open alone %.2f ms; "
         "fork + _exit + wait alone %.2f ms\n", probe, open, forks);
}

int main(void) {
  snprintf(good, sizeof good, "%s/tests/fuzz/corpus/kspace/mc.h5", FMR_SOURCE_DIR);
  snprintf(crash, sizeof crash, "%s/tests/fuzz/hdf5-faults/global-heap-bad-index.h5",
           FMR_SOURCE_DIR);
  snprintf(hang, sizeof hang, "%s/tests/fuzz/hdf5-faults/global-heap-hang.h5", FMR_SOURCE_DIR);
  test_good();
  test_crash();
  test_hang();
  test_ordinary_errors();
  test_no_copy_on_write();
  test_recovers();
  test_cost();
  return fmr_test_end();
}
