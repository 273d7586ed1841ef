/* One run per output directory: flock(2) on <outdir>/.fmr/run.lock (+ one file per shard).
 * See include/fmr/output/lock.h for the rule between whole-directory runs and shards. */
#include "fmr/output/lock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "fmr/util/fsutil.h"
#include "fmr/util/log.h"

#define LOCK_DIR ".fmr"
#define RUN_LOCK "run.lock"
#define MAX_IDENTITY 4096

struct fmr_lock {
  int run_fd;   /* .fmr/run.lock: LOCK_EX for a whole-directory run, LOCK_SH for a shard */
  int shard_fd; /* .fmr/<name>.lock, LOCK_EX; -1 for a whole-directory run */
  int run_excl, shard_held; /* what we hold, so release clears only our own identity */
  char note[FMR_ERR_MSG_MAX];
};

static int valid_name(const char *name) {
  if (!*name || strlen(name) > 64 || strcmp(name, RUN_LOCK) == 0) return 0;
  for (const char *p = name; *p; p++)
    if (!(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') &&
        *p != '-' && *p != '_' && *p != '.')
      return 0;
  return name[0] != '.';
}

/* The errors of a file system that cannot lock at all, as opposed to a lock someone holds. */
static int locking_unsupported(int e) {
  return e == ENOLCK || e == ENOSYS || e == EOPNOTSUPP || e == EINVAL;
}

static json_t *identity_json(void) {
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "?");
  char started[32] = "";
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
  /* Array jobs: SLURM_JOB_ID is the task's own id; the array id + task id is what squeue shows. */
  return json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:s}", "host", host, "pid", (json_int_t)getpid(),
                   "slurm_job_id", getenv("SLURM_JOB_ID"), "slurm_array_job_id",
                   getenv("SLURM_ARRAY_JOB_ID"), "slurm_array_task_id",
                   getenv("SLURM_ARRAY_TASK_ID"), "started", started);
}

/* "host h, pid 12, Slurm job 40_3 (id 43), started ..." from a lock file's text; "" if empty. */
static void describe(const char *text, char *out, size_t size) {
  out[0] = '\0';
  if (!text || !*text) return;
  json_t *j = json_loads(text, 0, NULL);
  if (!json_is_object(j)) {
    snprintf(out, size, "unreadable identity '%.80s'", text);
    json_decref(j);
    return;
  }
  const char *host = json_string_value(json_object_get(j, "host"));
  json_int_t pid = json_integer_value(json_object_get(j, "pid"));
  const char *job = json_string_value(json_object_get(j, "slurm_job_id"));
  const char *ajob = json_string_value(json_object_get(j, "slurm_array_job_id"));
  const char *atask = json_string_value(json_object_get(j, "slurm_array_task_id"));
  const char *started = json_string_value(json_object_get(j, "started"));
  char slurm[160];
  if (ajob && atask) snprintf(slurm, sizeof slurm, "Slurm job %s_%s (id %s)", ajob, atask,
                              job ? job : "?");
  else if (job) snprintf(slurm, sizeof slurm, "Slurm job %s", job);
  else snprintf(slurm, sizeof slurm, "not a Slurm job");
  snprintf(out, size, "host %s, pid %lld, %s, started %s", host ? host : "?", (long long)pid,
           slurm, started ? started : "?");
  json_decref(j);
}

static int read_identity(int fd, char *buf, size_t size) {
  ssize_t n = pread(fd, buf, size - 1, 0);
  if (n < 0) n = 0;
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  return (int)n;
}

static int write_identity(int fd, const char *path, fmr_err *err) {
  json_t *id = identity_json();
  char *text = id ? json_dumps(id, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(id);
  if (!text) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
  size_t len = strlen(text);
  int rc = 0;
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text, len, 0) != (ssize_t)len ||
      pwrite(fd, "\n", 1, (off_t)len) != 1)
    rc = fmr_err_set(err, FMR_ESTORAGE, "%s: cannot write the lock holder: %s", path,
                     strerror(errno));
  free(text);
  return rc;
}

static int open_lock_file(const char *path, int *fd, fmr_err *err) {
  *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (*fd < 0)
    return fmr_err_set(err, errno == ENOSPC || errno == EROFS || errno == EDQUOT ? FMR_ESTORAGE
                                                                                 : FMR_ECONFIG,
                       "%s: cannot open the lock file: %s", path, strerror(errno));
  return 0;
}

/* Returns 1 locked, 0 held by someone else, <0 error (in err). */
static int try_flock(int fd, int how, const char *path, int *unlocked_ok, fmr_err *err) {
  *unlocked_ok = 0;
  if (flock(fd, how | LOCK_NB) == 0) return 1;
  int e = errno;
  if (e == EWOULDBLOCK) return 0;
  const char *policy = getenv("FMR_LOCK");
  if (locking_unsupported(e) && policy && strcmp(policy, "off") == 0) {
    FMR_LOG(FMR_LOG_WARN,
            "%s: the file system cannot lock (%s); FMR_LOCK=off: running WITHOUT the "
            "one-run-per-directory lock, so make sure no other run uses this directory",
            path, strerror(e));
    *unlocked_ok = 1;
    return 1;
  }
  if (locking_unsupported(e))
    return fmr_err_set(err, FMR_ECONFIG,
                       "%s: the file system cannot lock files (flock: %s), so two runs on this "
                       "output directory could not be kept apart. Mount it with locking (Lustre: "
                       "-o flock; NFSv3: run lockd/rpc.statd, or use NFSv4), choose an output.dir "
                       "on a file system that locks, or set FMR_LOCK=off if you are sure only one "
                       "run uses it",
                       path, strerror(e));
  return fmr_err_set(err, FMR_ECONFIG, "%s: flock: %s", path, strerror(e));
}

/* The shards that hold (or last held) their lock file, for the message refusing a full run. */
static void list_shards(const char *dir, char *out, size_t size) {
  out[0] = '\0';
  DIR *d = opendir(dir);
  if (!d) return;
  size_t used = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".lock") != 0 || strcmp(e->d_name, RUN_LOCK) == 0)
      continue;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char text[MAX_IDENTITY], who[512];
    read_identity(fd, text, sizeof text);
    close(fd);
    describe(text, who, sizeof who);
    if (!who[0]) continue; /* released cleanly */
    int n = snprintf(out + used, size - used, "%s%.*s (%s)", used ? "; " : "", (int)(len - 5),
                     e->d_name, who);
    if (n < 0 || (size_t)n >= size - used) break;
    used += (size_t)n;
  }
  closedir(d);
}

int fmr_lock_acquire(const char *outdir, const char *name, fmr_lock **out, fmr_err *err) {
  *out = NULL;
  if (name && !valid_name(name))
    return fmr_err_set(err, FMR_EINVAL, "lock name '%s' is not [A-Za-z0-9._-]+", name);
  char dir[PATH_MAX], run_path[PATH_MAX], shard_path[PATH_MAX] = "";
  int rc = fmr_path_join(dir, sizeof dir, outdir, LOCK_DIR, err);
  if (!rc) rc = fmr_path_join(run_path, sizeof run_path, dir, RUN_LOCK, err);
  if (!rc && name) {
    char file[80];
    snprintf(file, sizeof file, "%s.lock", name);
    rc = fmr_path_join(shard_path, sizeof shard_path, dir, file, err);
  }
  if (!rc) rc = fmr_mkdirs(dir, err);
  if (rc) return rc;
  fmr_lock *lk = calloc(1, sizeof *lk);
  if (!lk) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  lk->run_fd = lk->shard_fd = -1;
  char text[MAX_IDENTITY], who[512], others[2048];
  int unlocked = 0;

  rc = open_lock_file(run_path, &lk->run_fd, err);
  if (rc) goto done;
  int got = try_flock(lk->run_fd, name ? LOCK_SH : LOCK_EX, run_path, &unlocked, err);
  if (got < 0) {
    rc = got;
    goto done;
  }
  read_identity(lk->run_fd, text, sizeof text);
  describe(text, who, sizeof who);
  if (!got) {
    if (who[0]) {
      rc = fmr_err_set(err, FMR_ECONFIG,
                       "output directory %s is in use by another run (%s; lock %s): wait for it "
                       "to finish or cancel it, then rerun to resume",
                       outdir, who, run_path);
    } else {
      list_shards(dir, others, sizeof others);
      rc = fmr_err_set(err, FMR_ECONFIG,
                       "output directory %s is in use by shards of a sharded run (%s): a full run "
                       "or a merge waits until every shard has finished (lock %s)",
                       outdir, others[0] ? others : "holders unknown", run_path);
    }
    goto done;
  }
  /* Holding run.lock (either way) proves no whole-directory run is alive: an identity in it is a
   * dead run's. A shard clears it too (every shard holding it shared agrees it is stale). */
  if (who[0])
    snprintf(lk->note, sizeof lk->note,
             "took over the lock of output directory %s from a run that is no longer running (%s)",
             outdir, who);

  if (!name) {
    lk->run_excl = !unlocked;
    if (!unlocked) rc = write_identity(lk->run_fd, run_path, err);
    goto done;
  }
  if (who[0] && !unlocked && ftruncate(lk->run_fd, 0) != 0) {
    rc = fmr_err_set(err, FMR_ESTORAGE, "%s: cannot clear the stale holder: %s", run_path,
                     strerror(errno));
    goto done;
  }
  rc = open_lock_file(shard_path, &lk->shard_fd, err);
  if (rc) goto done;
  got = try_flock(lk->shard_fd, LOCK_EX, shard_path, &unlocked, err);
  if (got < 0) {
    rc = got;
    goto done;
  }
  read_identity(lk->shard_fd, text, sizeof text);
  describe(text, who, sizeof who);
  if (!got) {
    rc = fmr_err_set(err, FMR_ECONFIG,
                     "%s of output directory %s is already running (%s; lock %s): wait for it to "
                     "finish or cancel it, then rerun to resume",
                     name, outdir, who[0] ? who : "holder unknown", shard_path);
    goto done;
  }
  lk->shard_held = !unlocked;
  if (who[0]) {
    size_t used = strlen(lk->note);
    snprintf(lk->note + used, sizeof lk->note - used,
             "%stook over the lock of %s of output directory %s from a run that is no longer "
             "running (%s)",
             used ? "; " : "", name, outdir, who);
  }
  if (!unlocked) rc = write_identity(lk->shard_fd, shard_path, err);
done:
  if (rc) {
    fmr_lock_release(&lk);
    return rc;
  }
  if (lk->note[0]) FMR_LOG(FMR_LOG_WARN, "%s", lk->note);
  *out = lk;
  return 0;
}

const char *fmr_lock_note(const fmr_lock *lock) {
  return lock && lock->note[0] ? lock->note : NULL;
}

void fmr_lock_release(fmr_lock **lock) {
  if (!lock || !*lock) return;
  fmr_lock *lk = *lock;
  /* Clear the identity while still holding the lock, so nobody reads a live-looking holder.
   * A failure here only leaves a stale identity, which the next run takes over. */
  int fd = lk->shard_held ? lk->shard_fd : lk->run_excl ? lk->run_fd : -1;
  if (fd >= 0 && ftruncate(fd, 0) != 0)
    FMR_LOG(FMR_LOG_DEBUG, "cannot clear the lock holder: %s", strerror(errno));
  if (lk->shard_fd >= 0) close(lk->shard_fd);
  if (lk->run_fd >= 0) close(lk->run_fd);
  free(lk);
  *lock = NULL;
}
