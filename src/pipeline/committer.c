/* The committer (pipeline.h): hashes, fsyncs and renames a volume's outputs on a thread of its own
 * while the writers go on with the next file. Committing is reading a file back for its SHA-256
 * and waiting for the disk, ~0.05 s of a knee volume's ~0.25 s of outputs, which the writers' own
 * work now hides. Jobs run strictly in the order queued, so the durability order is the one the
 * writer loop asks for (each file synced before its rename, a folder synced after its last file,
 * all of it before the record), only later.
 *
 * The thread calls the store and the file system only: no HDF5, DCMTK or libpng, which the
 * writers are using meanwhile. Without a thread (pthread_create failed) each job runs when
 * queued, which is the same order with no overlap. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmr/util/measure.h"
#include "pipeline/pipeline.h"

typedef struct job {
  int is_dir;       /* sync the folder of st.rel; else commit st */
  const char *kind; /* the output kind (a static string) */
  uint64_t order;   /* where the record lists it */
  fmr_stage st;
  int rc, committed; /* results */
  uint64_t bytes;
  char sha256[65];
} job;

struct fmr__committer {
  const fmr_store *store;
  int threaded;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job *jobs;
  size_t n, cap, next; /* jobs [0, next) are done */
  int quit, failed;
  fmr_err err; /* the first failure */
  double hash_seconds, sync_seconds;
};

/* Run one job (no lock held); after a failure (skip) nothing more is committed and a file's
 * temporary goes, as a failed commit's does. */
static int run_job(const fmr_store *store, job *j, int skip, fmr_err *e) {
  if (skip) {
    if (!j->is_dir) unlink(j->st.tmp);
    return 0;
  }
  if (j->is_dir) return fmr_store_sync_dir(store, j->st.rel, e);
  j->st.defer_dir_sync = 1;
  return fmr_store_commit(store, &j->st, &j->bytes, j->sha256, e);
}

/* Called with the lock held; runs jobs[next] and records its result. */
static void step(fmr__committer *c) {
  job j = c->jobs[c->next]; /* a copy: the array may be reallocated meanwhile */
  int skip = c->failed;
  fmr_err e;
  fmr_err_clear(&e);
  if (c->threaded) pthread_mutex_unlock(&c->mu);
  j.rc = run_job(c->store, &j, skip, &e);
  j.committed = !skip && !j.rc && !j.is_dir;
  if (c->threaded) pthread_mutex_lock(&c->mu);
  c->hash_seconds += j.st.hash_seconds;
  c->sync_seconds += j.st.sync_seconds;
  if (j.rc && !c->failed) {
    c->failed = 1;
    c->err = e;
  }
  c->jobs[c->next] = j;
  c->next++;
}

static void *committer_main(void *arg) {
  fmr__committer *c = arg;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    while (c->next == c->n && !c->quit) pthread_cond_wait(&c->cv, &c->mu);
    if (c->next == c->n) break; /* told to quit, and nothing left */
    step(c);
    pthread_cond_broadcast(&c->cv);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

fmr__committer *fmr__committer_start(const fmr_store *store) {
  fmr__committer *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->store = store;
  if (pthread_mutex_init(&c->mu, NULL) != 0) {
    free(c);
    return NULL;
  }
  if (pthread_cond_init(&c->cv, NULL) != 0) {
    pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
  }
  c->threaded = pthread_create(&c->thread, NULL, committer_main, c) == 0;
  return c;
}

/* Locked with or without the thread: a volume's two writing threads queue at once (writers.c).
 * Without the committer thread the job runs here, under the lock: jobs still run one at a time. */
static int queue(fmr__committer *c, const job *j, fmr_err *err) {
  pthread_mutex_lock(&c->mu);
  int rc = 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    job *a = realloc(c->jobs, cap * sizeof *a);
    if (!a) rc = fmr_err_set(err, FMR_ENOMEM, "out of memory for the output queue");
    else {
      c->jobs = a;
      c->cap = cap;
    }
  }
  if (!rc) {
    c->jobs[c->n++] = *j;
    if (c->threaded) pthread_cond_broadcast(&c->cv);
    else step(c);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int fmr__committer_file(fmr__committer *c, const fmr_stage *st, const char *kind, uint64_t order,
                        fmr_err *err) {
  job j;
  memset(&j, 0, sizeof j);
  j.kind = kind;
  j.order = order;
  j.st = *st;
  int rc = queue(c, &j, err);
  if (rc) unlink(st->tmp);
  return rc;
}

int fmr__committer_dir(fmr__committer *c, const char *rel, fmr_err *err) {
  job j;
  memset(&j, 0, sizeof j);
  j.is_dir = 1;
  snprintf(j.st.rel, sizeof j.st.rel, "%s", rel);
  return queue(c, &j, err);
}

int fmr__committer_failed(fmr__committer *c) {
  pthread_mutex_lock(&c->mu);
  int failed = c->failed;
  pthread_mutex_unlock(&c->mu);
  return failed;
}

static int cmp_order(const void *a, const void *b) {
  const job *x = a, *y = b;
  return (x->order > y->order) - (x->order < y->order);
}

int fmr__committer_finish(fmr__committer *c, fmr_record *rec, fmr_stage_times *times,
                          fmr_err *err) {
  double t0 = fmr_monotonic_seconds();
  if (c->threaded) {
    pthread_mutex_lock(&c->mu);
    c->quit = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
  }
  times->seconds[FMR_STAGE_COMMIT_WAIT] += fmr_monotonic_seconds() - t0;
  times->seconds[FMR_STAGE_HASH] += c->hash_seconds;
  times->seconds[FMR_STAGE_COMMIT] += c->sync_seconds;
  int rc = c->failed ? (*err = c->err, c->err.code) : 0;
  /* Every file that reached its name is listed, after a failure too: the caller removes them.
   * In the writers' order, not the queue's, which the writing threads interleave as they run. */
  if (c->n) qsort(c->jobs, c->n, sizeof *c->jobs, cmp_order);
  for (size_t i = 0; i < c->n; i++) {
    const job *j = &c->jobs[i];
    if (!j->committed) continue;
    if (fmr_record_add_output(rec, j->st.rel, j->kind, j->bytes, j->sha256) && !rc)
      rc = fmr_err_set(err, FMR_ENOMEM, "out of memory for the record");
  }
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c->jobs);
  free(c);
  return rc;
}
