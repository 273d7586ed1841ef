/* The one-run-per-directory lock with real processes: a forked holder keeps the lock while another
 * process tries; killing the holder (SIGKILL, so nothing is cleaned up) lets the next one take over. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmr/output/lock.h"
#include "fmr/util/fsutil.h"
#include "fmr/util/log.h"
#include "fmr_test.h"

/* Fork a process that takes the lock (with the given Slurm variables) and then waits to be killed.
 * Returns its pid once it holds the lock, or -1 if it could not take it. */
static pid_t spawn_holder(const char *outdir, const char *name, const char *job, const char *ajob,
                          const char *atask) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(fds[0]);
    if (job) setenv("SLURM_JOB_ID", job, 1);
    if (ajob) setenv("SLURM_ARRAY_JOB_ID", ajob, 1);
    if (atask) setenv("SLURM_ARRAY_TASK_ID", atask, 1);
    fmr_lock *lk = NULL;
    fmr_err err;
    fmr_err_clear(&err);
    int rc = fmr_lock_acquire(outdir, name, &lk, &err);
    char c = rc ? 'n' : 'y';
    if (write(fds[1], &c, 1) != 1) _exit(3);
    if (rc) _exit(1);
    for (;;) pause();
  }
  close(fds[1]);
  char c = 0;
  ssize_t n = read(fds[0], &c, 1);
  close(fds[0]);
  if (n != 1 || c != 'y') {
    waitpid(pid, NULL, 0);
    return -1;
  }
  return pid;
}

static void kill_holder(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* Try the lock in a separate process (so a lock of this process never hides the answer);
 * returns the rc and the message through a pipe. */
static int try_in_child(const char *outdir, const char *name, char *msg, size_t size) {
  int fds[2];
  msg[0] = '\0';
  if (pipe(fds) != 0) return -999;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    fmr_lock *lk = NULL;
    fmr_err err;
    fmr_err_clear(&err);
    int rc = fmr_lock_acquire(outdir, name, &lk, &err);
    char buf[FMR_ERR_MSG_MAX + 16];
    int n = snprintf(buf, sizeof buf, "%d|%s", rc, rc ? err.msg : "");
    if (write(fds[1], buf, (size_t)n) != n) _exit(3);
    fmr_lock_release(&lk);
    _exit(0);
  }
  close(fds[1]);
  char buf[FMR_ERR_MSG_MAX + 16];
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  waitpid(pid, NULL, 0);
  if (n <= 0) return -999;
  buf[n] = '\0';
  char *bar = strchr(buf, '|');
  if (!bar) return -999;
  snprintf(msg, size, "%s", bar + 1);
  return atoi(buf);
}

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static void test_whole_directory(const char *outdir) {
  char msg[FMR_ERR_MSG_MAX], pidtext[64], host[256] = "";
  gethostname(host, sizeof host - 1);
  pid_t holder = spawn_holder(outdir, NULL, "43", NULL, NULL);
  CHECK(holder > 0);
  snprintf(pidtext, sizeof pidtext, "pid %d,", (int)holder);

  /* The lock file names the holder (read independently of the module). */
  char path[4200];
  snprintf(path, sizeof path, "%.4000s/.fmr/run.lock", outdir);
  char *text = NULL;
  size_t len = 0;
  fmr_err err;
  CHECK_INT_EQ(fmr_read_file(path, 1 << 16, &text, &len, &err), 0);
  char want[64];
  snprintf(want, sizeof want, "\"pid\":%d,", (int)holder);
  CHECK(text && contains(text, want));
  CHECK(text && contains(text, "\"slurm_job_id\":\"43\""));
  free(text);

  /* A second whole-directory run and a shard both refuse at once, naming host, pid and job. */
  CHECK_INT_EQ(try_in_child(outdir, NULL, msg, sizeof msg), FMR_ECONFIG);
  CHECK(contains(msg, "in use by another run"));
  CHECK(contains(msg, pidtext));
  CHECK(contains(msg, host));
  CHECK(contains(msg, "Slurm job 43"));
  CHECK_INT_EQ(try_in_child(outdir, "shard-1-of-2", msg, sizeof msg), FMR_ECONFIG);
  CHECK(contains(msg, pidtext));

  /* The holder dies without cleaning up: the next run takes over and names it. */
  kill_holder(holder);
  fmr_lock *lk = NULL;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_lock_acquire(outdir, NULL, &lk, &err), 0);
  const char *note = fmr_lock_note(lk);
  CHECK(note && contains(note, "no longer running"));
  CHECK(note && contains(note, pidtext));
  fmr_lock_release(&lk);
  CHECK(lk == NULL);
  /* A clean release leaves nothing to take over. */
  CHECK_INT_EQ(fmr_lock_acquire(outdir, NULL, &lk, &err), 0);
  CHECK(fmr_lock_note(lk) == NULL);
  fmr_lock_release(&lk);
}

static void test_shards(const char *outdir) {
  char msg[FMR_ERR_MSG_MAX], pid1[64], pid2[64];
  pid_t s1 = spawn_holder(outdir, "shard-1-of-2", "51", "50", "1");
  CHECK(s1 > 0);
  snprintf(pid1, sizeof pid1, "pid %d,", (int)s1);
  /* Another shard runs beside it. */
  pid_t s2 = spawn_holder(outdir, "shard-2-of-2", "52", "50", "2");
  CHECK(s2 > 0);
  snprintf(pid2, sizeof pid2, "pid %d,", (int)s2);
  /* The same shard twice: refused, naming the array task. */
  CHECK_INT_EQ(try_in_child(outdir, "shard-1-of-2", msg, sizeof msg), FMR_ECONFIG);
  CHECK(contains(msg, "already running"));
  CHECK(contains(msg, pid1));
  CHECK(contains(msg, "Slurm job 50_1 (id 51)"));
  /* A full run or merge while shards run: refused, naming both shards. */
  CHECK_INT_EQ(try_in_child(outdir, NULL, msg, sizeof msg), FMR_ECONFIG);
  CHECK(contains(msg, "shards"));
  CHECK(contains(msg, pid1));
  CHECK(contains(msg, pid2));
  CHECK(contains(msg, "shard-2-of-2"));
  kill_holder(s2);
  /* Still refused while shard 1 runs. */
  CHECK_INT_EQ(try_in_child(outdir, NULL, msg, sizeof msg), FMR_ECONFIG);
  CHECK(contains(msg, pid1));
  kill_holder(s1);
  /* Shard 1 died: rerunning it takes over and names the dead one. */
  fmr_lock *lk = NULL;
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_lock_acquire(outdir, "shard-1-of-2", &lk, &err), 0);
  const char *note = fmr_lock_note(lk);
  CHECK(note && contains(note, pid1));
  CHECK(note && contains(note, "shard-1-of-2"));
  fmr_lock_release(&lk);
  /* Every shard gone: the merge (whole directory) gets it. */
  CHECK_INT_EQ(fmr_lock_acquire(outdir, NULL, &lk, &err), 0);
  fmr_lock_release(&lk);
}

static void test_bad_names(const char *outdir) {
  fmr_lock *lk = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_lock_acquire(outdir, "../x", &lk, &err), FMR_EINVAL);
  CHECK_INT_EQ(fmr_lock_acquire(outdir, "", &lk, &err), FMR_EINVAL);
  CHECK_INT_EQ(fmr_lock_acquire(outdir, "run.lock", &lk, &err), FMR_EINVAL);
  CHECK(lk == NULL);
}

int main(void) {
  fmr_log_threshold = FMR_LOG_ERROR;
  char tmpl[] = "/tmp/fmr-lock-XXXXXX";
  char *base = mkdtemp(tmpl);
  CHECK(base != NULL);
  if (!base) return fmr_test_end();
  char outdir[4096];
  /* The output directory does not exist yet: the lock creates it (and .fmr/). */
  snprintf(outdir, sizeof outdir, "%s/out/knee", base);
  test_whole_directory(outdir);
  test_shards(outdir);
  test_bad_names(outdir);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  CHECK_INT_EQ(system(cmd), 0);
  return fmr_test_end();
}
