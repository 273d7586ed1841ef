/* Dispatch (dispatch.h): the phases of a run over MPI. The only file that includes mpi.h.
 *
 * Work protocol, on a duplicate of MPI_COMM_WORLD (no library traffic can match ours):
 *   worker -> 0  TAG_DONE  "<kind> <index> <reused> <interrupted> <seconds> <stage seconds>...\n"
 *                "<payload>", one stage figure per fmr_stage_id, in its order
 *                kind 'H' hello (no payload), 'R' result (payload: fmr_record_encode text),
 *                'S' output storage fault (payload: the message), 'F' the worker's own fault
 *                (payload: the message; the worker leaves the loop and expects no answer),
 *                'N' notice of a signal, sent between slices (no answer expected)
 *   0 -> worker  TAG_TASK  int task index, or -1 for "stop"
 * Rank 0 answers between its own slices (fmr_volume_hooks.between_slices) and volumes, with
 * MPI_Iprobe: a worker never waits for a whole volume of rank 0's. */
#include "fmr/run/dispatch.h"

#include <fftw3-mpi.h>
#include <jansson.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fmr/cmd/cmd.h"
#include "fmr/dicom/uid.h"
#include "fmr/export/nifti.h"
#include "fmr/output/lock.h"
#include "fmr/output/manifest.h"
#include "fmr/output/store.h"
#include "fmr/output/record.h"
#include "fmr/pipeline/volume.h"
#include "fmr/run/dataset.h"
#include "fmr/run/launch.h"
#include "fmr/run/merge.h"
#include "fmr/run/plan.h"
#include "fmr/run/progress.h"
#include "fmr/run/survey.h"
#include "fmr/run/report.h"
#include "fmr/run/verify.h"
#include "fmr/util/fsutil.h"
#include "fmr/util/log.h"
#include "fmr/util/measure.h"

enum { TAG_DONE = 101, TAG_TASK = 102, TAG_VERIFY = 103 };

/* The one piece of process-wide mutable state besides the log level: a signal handler can only
 * communicate through a volatile sig_atomic_t. The first signal wins (it is the one we name). */
static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) {
  if (!stop_signal) stop_signal = sig;
}

static void install_signal_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  /* Ctrl-C and kill drain like Slurm's warning signal: finish the volume in hand, then stop. */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

/* PH_STORAGE is no phase: FMR_TEST_FAIL_PHASE=storage:<rank> makes that rank's first volume
 * report an output storage fault, as the pipeline does when the disk fills. */
typedef enum {
  PH_STARTUP,
  PH_PLAN,
  PH_WISDOM,
  PH_WORK,
  PH_GATHER,
  PH_DATASET,
  PH_MANIFEST,
  PH_EXIT,
  PH_STORAGE
} phase;
static const char *const phase_names[] = {"startup", "plan",     "wisdom", "work",   "gather",
                                          "dataset", "manifest", "exit",   "storage"};

typedef struct dispatch {
  MPI_Comm comm;
  int rank, size;
  const fmr_run_opts *opts;
  int fail_phase, fail_rank; /* FMR_TEST_FAIL_PHASE; -1: none */
  int stop_sig;              /* rank 0: the signal that stopped the run, on whichever rank */
} dispatch;

static void read_fail_injection(dispatch *d) {
  d->fail_phase = d->fail_rank = -1;
  const char *v = getenv("FMR_TEST_FAIL_PHASE");
  if (!v || !*v) return;
  const char *colon = strchr(v, ':');
  size_t len = colon ? (size_t)(colon - v) : strlen(v);
  for (int p = 0; p <= PH_STORAGE; p++)
    if (strlen(phase_names[p]) == len && strncmp(v, phase_names[p], len) == 0) d->fail_phase = p;
  d->fail_rank = colon ? atoi(colon + 1) : 0;
}

/* Tests only: does this rank fail in phase p? */
static int injected(const dispatch *d, phase p) {
  if (d->fail_phase != (int)p || d->fail_rank != d->rank) return 0;
  fprintf(stderr, "fastmri-regen: rank %d: injected failure in phase %s (FMR_TEST_FAIL_PHASE)\n",
          d->rank, phase_names[p]);
  return 1;
}

/* The end of every phase: every rank contributes its status, all get the highest. Collective.
 * Statuses are ordered by what the user must know first: 4 storage > 3 interrupted > 2 start-up >
 * 1 failed > 0. If the agreement itself fails, MPI is gone: this rank ends with what it knows. */
static int agree(const dispatch *d, phase p, int local) {
  int all = local;
  int rc = MPI_Allreduce(&local, &all, 1, MPI_INT, MPI_MAX, d->comm);
  if (rc != MPI_SUCCESS) {
    fprintf(stderr, "fastmri-regen: rank %d: MPI failed in the agreement after phase %s\n",
            d->rank, phase_names[p]);
    return local > FMR_EXIT_FAILED ? local : FMR_EXIT_FAILED;
  }
  if (all && !local)
    FMR_LOG(FMR_LOG_DEBUG, "phase %s failed on another rank: status %d", phase_names[p], all);
  return all;
}

/* Broadcast bytes from rank 0 (length first, then pieces: MPI counts are int). Collective. A rank
 * 0 with nothing to send (text NULL) sends length 0, which every receiver treats as a failure. */
static int bcast_bytes(const dispatch *d, char **text, size_t *len) {
  unsigned long long n = d->rank == 0 && *text ? (unsigned long long)*len : 0;
  if (MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, d->comm) != MPI_SUCCESS) return FMR_EMPI;
  char *buf = d->rank == 0 ? *text : malloc((size_t)n + 1);
  int rc = buf ? 0 : FMR_ENOMEM;
  /* A receiver without memory still takes part in every piece, into a scratch byte. */
  char scratch[1 << 16];
  for (unsigned long long off = 0; off < n;) {
    int piece = n - off > (1u << 30) ? (1 << 30) : (int)(n - off);
    if (!buf && piece > (int)sizeof scratch) piece = (int)sizeof scratch;
    if (MPI_Bcast(buf ? buf + off : scratch, piece, MPI_CHAR, 0, d->comm) != MPI_SUCCESS)
      rc = FMR_EMPI;
    off += (unsigned long long)piece;
  }
  if (d->rank != 0) {
    if (buf) buf[n] = '\0';
    *text = buf;
    *len = (size_t)n;
  }
  return rc ? rc : n ? 0 : FMR_EINVAL;
}

/* ---- FFTW wisdom -------------------------------------------------------------------------- */

/* Plan every distinct k-space shape once on rank 0 (fmr_plan_fft_shapes) and share FFTW's
 * wisdom, so every rank computes with the same plan (SPEC 8). Collective
 * (fftwf_mpi_broadcast_wisdom): every rank calls it, also after a local failure, then the phase
 * agreement tells everyone. One rank has nobody to share with: it plans each shape when its
 * first volume of that shape comes (the same planner call), and the survey's probe and open of
 * every input file (0.03 s for four, seconds for a full dataset) are skipped. */
static int share_fft_wisdom(const dispatch *d, const fmr_plan *plan) {
  int local = 0;
  size_t nshapes = 0;
  if (d->rank == 0 && d->size > 1 && plan) {
    fmr_err err;
    if (fmr_plan_fft_shapes(plan, &nshapes, &err)) {
      fprintf(stderr, "fastmri-regen: %s\n", err.msg);
      local = FMR_EXIT_USAGE;
    }
  }
  if (injected(d, PH_WISDOM)) local = FMR_EXIT_USAGE;
  fftwf_mpi_broadcast_wisdom(d->comm); /* returns nothing: the agreement below is the check */
  int all = agree(d, PH_WISDOM, local);
  if (!all && d->rank == 0 && d->size > 1)
    FMR_LOG(FMR_LOG_INFO, "FFTW plans for %zu k-space shape(s) made on rank 0 (%s) and shared",
            nshapes, fmr_config_effort_name(fmr_plan_config(plan)->fft_effort));
  return all;
}

/* fmr_volume_run, plus the storage-fault injection for tests. */
static int run_volume(dispatch *d, fmr_volume_ctx *vctx, const fmr_task *t,
                      const fmr_volume_hooks *hooks, fmr_record **rec, int *reused, fmr_err *err) {
  int rc = fmr_volume_run(vctx, t, hooks, rec, reused, err);
  if (rc == 0 && injected(d, PH_STORAGE)) {
    d->fail_phase = -1; /* once */
    fmr_record_free(rec);
    rc = fmr_err_set(err, FMR_ESTORAGE, "dicom/%s: No space left on device (injected)", t->name);
  }
  return rc;
}

/* ---- the work loop ------------------------------------------------------------------------ */

/* Rank 0's view of the work. */
typedef struct coord {
  dispatch *d;
  const fmr_plan *plan;
  fmr_volume_ctx *vctx;
  size_t n, next, finished, processed;
  fmr_record **records;
  fmr_volume_timing *timing;
  int active;      /* workers not yet told to stop (or gone after their own fault) */
  int greeted;     /* workers whose first message (hello or fault) has been answered */
  int stop;        /* 0, or the status that stopped the hand-out */
  int stop_logged; /* the reason has been logged */
  double t_begin, busy_processed;
  int *done_by_rank;
  fmr_progress *progress; /* NULL when out of memory: the run goes on without it */
} coord;

static void stop_handout(coord *c, int status, const char *why, int from_rank) {
  if (status > c->stop) c->stop = status;
  if (c->stop_logged) return;
  c->stop_logged = 1;
  FMR_LOG(FMR_LOG_WARN, "%s (rank %d): no more volumes handed out; the volumes in progress finish",
          why, from_rank);
}

static void check_signal(coord *c) {
  if (stop_signal && c->stop < FMR_EXIT_INTERRUPTED) {
    if (!c->d->stop_sig) c->d->stop_sig = stop_signal;
    char why[64];
    snprintf(why, sizeof why, "received %s", fmr_signal_name(stop_signal));
    stop_handout(c, FMR_EXIT_INTERRUPTED, why, c->d->rank);
  }
}

static void record_result(coord *c, size_t idx, int rank, fmr_record *rec, int reused,
                          double seconds, const fmr_stage_times *stages) {
  if (idx >= c->n || c->records[idx]) {
    fmr_record_free(&rec);
    return;
  }
  c->records[idx] = rec;
  c->timing[idx].rank = rank;
  c->timing[idx].reused = reused;
  c->timing[idx].seconds = seconds;
  if (stages) c->timing[idx].stages = *stages;
  c->done_by_rank[rank]++;
  c->finished++;
  if (!reused) {
    c->processed++;
    c->busy_processed += seconds;
  }
  const fmr_task *t = fmr_plan_task(c->plan, idx);
  /* On a terminal the live progress line is the news; per-volume lines go to the debug level. */
  FMR_LOG(c->progress && isatty(STDERR_FILENO) ? FMR_LOG_DEBUG : FMR_LOG_INFO,
          "%s: %s%s in %.2f s (rank %d)", t->name,
          fmr_record_status(rec) == FMR_STATUS_OK ? "ok"
          : fmr_record_status(rec) == FMR_STATUS_MISSING ? "missing" : "failed",
          reused ? " (reused)" : "", seconds, rank);
  if (c->progress) {
    double now = fmr_monotonic_seconds();
    fmr_progress_volume(c->progress, t->work, rec->slices, fmr_record_status(rec), reused, now);
    fmr_progress_tick(c->progress, now);
  }
}

/* A missing file needs no worker: its record is made before the hand-out starts (not from
 * take_next, which also runs inside rank 0's own volume, between its slices). */
static void record_missing(coord *c) {
  for (size_t i = 0; i < c->n; i++) {
    const fmr_task *t = fmr_plan_task(c->plan, i);
    if (t->path) continue;
    fmr_record *rec = NULL;
    int reused = 0;
    fmr_err err;
    fmr_err_clear(&err);
    int rc = fmr_volume_run(c->vctx, t, NULL, &rec, &reused, &err);
    if (rc) {
      FMR_LOG(FMR_LOG_ERROR, "%s", err.msg);
      stop_handout(c, rc == FMR_ESTORAGE ? FMR_EXIT_STORAGE : FMR_EXIT_FAILED, err.msg, 0);
      return;
    }
    record_result(c, i, 0, rec, 0, 0.0, NULL);
  }
}

/* The next task for anyone, or -1. */
static long take_next(coord *c) {
  check_signal(c);
  while (c->next < c->n && !c->stop) {
    size_t i = c->next++;
    if (fmr_plan_task(c->plan, i)->path) return (long)i;
  }
  return -1;
}

/* Answer every worker message that is waiting; never blocks. Returns how many were answered. */
static int serve(coord *c) {
  int served = 0;
  if (c->progress) fmr_progress_tick(c->progress, fmr_monotonic_seconds()); /* the live line's clock */
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_DONE, c->d->comm, &flag, &st) != MPI_SUCCESS) {
      stop_handout(c, FMR_EXIT_FAILED, "MPI_Iprobe failed", 0);
      c->active = 0; /* nothing can be answered any more: go to the agreement */
      return served;
    }
    if (!flag) return served;
    int len = 0;
    char *text = NULL;
    if (MPI_Get_count(&st, MPI_CHAR, &len) == MPI_SUCCESS && len >= 0)
      text = malloc((size_t)len + 1);
    char scratch[1];
    /* Receive even without memory: an unreceived message would be probed for ever. */
    int rrc = MPI_Recv(text ? text : scratch, text ? len : 0, MPI_CHAR, st.MPI_SOURCE, TAG_DONE,
                       c->d->comm, MPI_STATUS_IGNORE);
    served++;
    char kind = '?';
    long idx = -1;
    int reused = 0, interrupted = 0, off = 0;
    double seconds = 0;
    fmr_stage_times stages = {{0}};
    if (rrc == MPI_SUCCESS && text) {
      text[len] = '\0';
      if (sscanf(text, "%c %ld %d %d %lf%n", &kind, &idx, &reused, &interrupted, &seconds, &off) <
          5)
        kind = '?';
      for (int k = 0; kind != '?' && k < FMR_NSTAGES; k++) {
        int used = 0;
        if (sscanf(text + off, " %lf%n", &stages.seconds[k], &used) < 1) kind = '?';
        off += used;
      }
      if (kind != '?' && text[off] == '\n') off++;
      else kind = '?';
    }
    const char *payload = text ? text + off : "";
    if (kind == 'H' || (kind == 'F' && idx < 0)) c->greeted++;
    char why[FMR_ERR_MSG_MAX + 64];
    if (interrupted) {
      if (!c->d->stop_sig) c->d->stop_sig = interrupted;
      snprintf(why, sizeof why, "rank %d received %s", st.MPI_SOURCE,
               fmr_signal_name(interrupted));
      stop_handout(c, FMR_EXIT_INTERRUPTED, why, st.MPI_SOURCE);
    }
    int answer = 1;
    if (kind == 'R') {
      fmr_record *rec = NULL;
      fmr_err err;
      if (fmr_record_decode(payload, strlen(payload), &rec, &err) == 0)
        record_result(c, (size_t)idx, st.MPI_SOURCE, rec, reused, seconds, &stages);
      else
        stop_handout(c, FMR_EXIT_FAILED, err.msg, st.MPI_SOURCE);
    } else if (kind == 'S') {
      snprintf(why, sizeof why, "output storage failed: %s", payload);
      FMR_LOG(FMR_LOG_ERROR, "rank %d: %s", st.MPI_SOURCE, why);
      stop_handout(c, FMR_EXIT_STORAGE, why, st.MPI_SOURCE);
    } else if (kind == 'F') {
      snprintf(why, sizeof why, "rank %d failed: %s", st.MPI_SOURCE, payload);
      stop_handout(c, FMR_EXIT_FAILED, why, st.MPI_SOURCE);
      answer = 0;
      c->active--;
    } else if (kind == 'N') {
      answer = 0; /* a notice (its signal is handled above), not a request */
    } else if (kind != 'H') {
      stop_handout(c, FMR_EXIT_FAILED, "unreadable message from a worker", st.MPI_SOURCE);
    }
    free(text);
    if (!answer) continue;
    int task = (int)take_next(c);
    if (MPI_Send(&task, 1, MPI_INT, st.MPI_SOURCE, TAG_TASK, c->d->comm) != MPI_SUCCESS) {
      stop_handout(c, FMR_EXIT_FAILED, "MPI_Send of a task failed", 0);
      task = -1; /* that worker is lost to us; count it out so the drain ends */
    }
    if (task < 0) c->active--;
  }
}

static void serve_hook(void *ctx) { (void)serve(ctx); }

/* Rank 0: hand out work and do work. Returns rank 0's own status for the agreement. */
static int coordinator_work(dispatch *d, coord *c) {
  c->active = d->size - 1;
  c->t_begin = fmr_monotonic_seconds();
  uint64_t total_work = 0;
  for (size_t i = 0; i < c->n; i++) total_work += fmr_plan_task(c->plan, i)->work;
  fmr_progress_opts popts = {stderr, isatty(STDERR_FILENO),
                             (double)fmr_plan_config(c->plan)->progress_seconds};
  if (fmr_progress_new(c->n, total_work, &popts, c->t_begin, &c->progress))
    c->progress = NULL;
  fmr_volume_hooks hooks = {serve_hook, c};
  int local = 0;
  if (injected(d, PH_WORK)) {
    local = FMR_EXIT_FAILED;
    stop_handout(c, FMR_EXIT_FAILED, "injected failure", 0);
  }
  if (!c->stop) record_missing(c);
  /* The largest volumes go to the workers first: rank 0 is slowed by answering, so it takes its
   * first volume only after every worker has one (or has failed). */
  while (c->greeted < d->size - 1 && c->active > 0) {
    if (!serve(c)) {
      check_signal(c);
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  }
  for (;;) {
    /* Rank 0 takes a volume only when no worker waits: serve() has just answered them all. */
    serve(c);
    long i = take_next(c);
    if (i < 0) break;
    const fmr_task *t = fmr_plan_task(c->plan, (size_t)i);
    fmr_record *rec = NULL;
    int reused = 0;
    fmr_err err;
    fmr_err_clear(&err);
    double t0 = fmr_monotonic_seconds();
    int rc = run_volume(d, c->vctx, t, &hooks, &rec, &reused, &err);
    if (rc == FMR_ESTORAGE) {
      char why[FMR_ERR_MSG_MAX + 32];
      snprintf(why, sizeof why, "output storage failed: %s", err.msg);
      FMR_LOG(FMR_LOG_ERROR, "rank 0: %s", why);
      stop_handout(c, FMR_EXIT_STORAGE, why, 0);
    } else if (rc) {
      FMR_LOG(FMR_LOG_ERROR, "%s", err.msg);
      stop_handout(c, FMR_EXIT_FAILED, err.msg, 0);
      local = FMR_EXIT_FAILED;
    } else {
      record_result(c, (size_t)i, 0, rec, reused, fmr_monotonic_seconds() - t0,
                    fmr_volume_last_times(c->vctx));
    }
  }
  /* Drain: every worker comes back once more and is told to stop. */
  while (c->active > 0) {
    if (!serve(c)) {
      check_signal(c);
      struct timespec ts = {0, 2000000};
      nanosleep(&ts, NULL);
    }
  }
  return local > c->stop ? local : c->stop;
}

static int send_done(const dispatch *d, char kind, long index, int reused, double seconds,
                     const fmr_stage_times *stages, const char *payload) {
  size_t plen = payload ? strlen(payload) : 0;
  char head[128 + 24 * FMR_NSTAGES];
  int hlen = snprintf(head, sizeof head, "%c %ld %d %d %.6f", kind, index, reused,
                      (int)stop_signal, seconds);
  for (int k = 0; k < FMR_NSTAGES; k++)
    hlen += snprintf(head + hlen, sizeof head - (size_t)hlen, " %.6f",
                     stages ? stages->seconds[k] : 0.0);
  hlen += snprintf(head + hlen, sizeof head - (size_t)hlen, "\n");
  char *msg = malloc((size_t)hlen + plen + 1);
  if (!msg) return FMR_ENOMEM;
  memcpy(msg, head, (size_t)hlen);
  if (plen) memcpy(msg + hlen, payload, plen);
  msg[(size_t)hlen + plen] = '\0';
  int rc = MPI_Send(msg, (int)((size_t)hlen + plen), MPI_CHAR, 0, TAG_DONE, d->comm);
  free(msg);
  return rc == MPI_SUCCESS ? 0 : FMR_EMPI;
}

/* Between a worker's slices: tell rank 0 of a signal at once (kind 'N', no answer expected), so
 * the hand-out stops now rather than when this volume ends. A small eager send: it never waits. */
typedef struct worker_notice {
  const dispatch *d;
  int sent;
} worker_notice;

static void worker_hook(void *ctx) {
  worker_notice *w = ctx;
  if (!stop_signal || w->sent) return;
  w->sent = 1;
  FMR_LOG(FMR_LOG_INFO, "received %s: finishing this volume, then stopping",
          fmr_signal_name(stop_signal));
  if (send_done(w->d, 'N', -1, 0, 0, NULL, NULL))
    FMR_LOG(FMR_LOG_WARN, "could not tell rank 0 of the signal");
}

/* A worker: ask, process, report, until told to stop. Returns this rank's status. */
static int worker_work(dispatch *d, const fmr_plan *plan, fmr_volume_ctx *vctx, int *done,
                       double *max_wait) {
  if (injected(d, PH_WORK) || !vctx) {
    /* Tell rank 0, so it stops handing out work and does not wait for us. */
    (void)send_done(d, 'F', -1, 0, 0, NULL, vctx ? "injected failure" : "no volume context");
    return FMR_EXIT_FAILED;
  }
  int local = 0;
  if (send_done(d, 'H', -1, 0, 0, NULL, NULL)) return FMR_EXIT_FAILED;
  worker_notice notice = {d, 0};
  fmr_volume_hooks hooks = {worker_hook, &notice};
  for (;;) {
    int next = -1;
    /* How long rank 0 kept us waiting (it answers between its own slices): the run report shows
     * the longest wait per rank. */
    double asked = fmr_monotonic_seconds();
    int rrc = MPI_Recv(&next, 1, MPI_INT, 0, TAG_TASK, d->comm, MPI_STATUS_IGNORE);
    if (fmr_monotonic_seconds() - asked > *max_wait) *max_wait = fmr_monotonic_seconds() - asked;
    if (rrc != MPI_SUCCESS) {
      fprintf(stderr, "fastmri-regen: rank %d: MPI_Recv from rank 0 failed\n", d->rank);
      return FMR_EXIT_FAILED;
    }
    if (next < 0) return local;
    const fmr_task *t = fmr_plan_task(plan, (size_t)next);
    fmr_record *rec = NULL;
    int reused = 0;
    fmr_err err;
    fmr_err_clear(&err);
    double t0 = fmr_monotonic_seconds();
    int rc = t ? run_volume(d, vctx, t, &hooks, &rec, &reused, &err)
               : fmr_err_set(&err, FMR_EINVAL, "task %d is not in the plan", next);
    double secs = fmr_monotonic_seconds() - t0;
    worker_hook(&notice); /* a signal during the last slice or while waiting */
    char *text = rc ? NULL : fmr_record_encode(rec);
    fmr_record_free(&rec);
    int src;
    if (rc == FMR_ESTORAGE) {
      FMR_LOG(FMR_LOG_ERROR, "output storage failed: %s", err.msg);
      local = FMR_EXIT_STORAGE;
      src = send_done(d, 'S', next, 0, secs, NULL, err.msg);
    } else if (rc || !text) {
      const char *why = rc ? err.msg : "out of memory for the record";
      fprintf(stderr, "fastmri-regen: rank %d: %s\n", d->rank, why);
      (void)send_done(d, 'F', next, 0, secs, NULL, why);
      free(text);
      return FMR_EXIT_FAILED;
    } else {
      src = send_done(d, 'R', next, reused, secs, fmr_volume_last_times(vctx), text);
      (*done)++;
    }
    free(text);
    if (src) {
      fprintf(stderr, "fastmri-regen: rank %d: MPI_Send to rank 0 failed\n", d->rank);
      return FMR_EXIT_FAILED;
    }
  }
}

/* ---- the run -------------------------------------------------------------------------------- */

static int merge_records(const fmr_plan *plan, fmr_volume_ctx *vctx, fmr_record **records,
                         json_t *shards) {
  const fmr_config *cfg = fmr_plan_config(plan);
  for (size_t i = 0; i < fmr_plan_ntasks(plan); i++) {
    const fmr_task *t = fmr_plan_task(plan, i);
    fmr_err err;
    fmr_err_clear(&err);
    int rc = t->path ? fmr_merge_committed(cfg, t, &records[i], &err) : 0;
    if (!rc && !records[i] && t->path) rc = fmr_merge_failed(shards, t, &records[i], &err);
    if (!rc && !t->path) {
      /* A missing file's record needs no processing: the pipeline makes it from the task. */
      int reused = 0;
      rc = vctx ? fmr_volume_run(vctx, t, NULL, &records[i], &reused, &err)
                : fmr_err_set(&err, FMR_EINVAL, "no volume context");
    }
    if (rc) {
      FMR_LOG(FMR_LOG_ERROR, "%s: %s", t->name, err.msg);
      return FMR_EXIT_FAILED;
    }
  }
  return 0;
}

/* ---- dataset: the run-level ML files (SPEC 11, run/dataset.h) ------------------------------ */

enum { RUN_DATASET, RUN_BOXES, RUN_DATALIST, NRUN_FILES };
static const char *const run_file_rel[NRUN_FILES] = {"dataset.h5", "boxes.csv", "datalist.json"};
static const char *const run_file_kind[NRUN_FILES] = {"dataset", "boxes", "datalist"};

/* What the phase made, for the manifest's top-level "outputs" (rank 0). */
typedef struct run_files {
  char rel[NRUN_FILES][32];
  fmr_output_file f[NRUN_FILES];
  size_t n;
} run_files;

static int cmp_record_name(const void *a, const void *b) {
  return strcmp(fmr_record_name(*(fmr_record *const *)a), fmr_record_name(*(fmr_record *const *)b));
}

static int has_output(const fmr_record *r, const char *kind) {
  for (size_t i = 0; i < fmr_record_noutputs(r); i++)
    if (strcmp(fmr_record_output(r, i)->kind, kind) == 0) return 1;
  return 0;
}

/* Rank 0: the facts every rank needs, one JSON array of the ok volumes' records sorted by name
 * (each has its recon/<name>.h5); "null" when the run is not complete: nothing is built. */
static char *dataset_facts(const fmr_plan *plan, fmr_record *const *records) {
  size_t n = fmr_plan_ntasks(plan), nok = 0;
  for (size_t i = 0; i < n; i++)
    if (!records[i]) return strdup("null");
  fmr_record **ok = calloc(n ? n : 1, sizeof *ok);
  json_t *arr = json_array();
  char *text = NULL;
  if (!ok || !arr) goto done;
  for (size_t i = 0; i < n; i++)
    if (fmr_record_status(records[i]) == FMR_STATUS_OK && has_output(records[i], "recon"))
      ok[nok++] = records[i];
  if (nok) qsort(ok, nok, sizeof *ok, cmp_record_name);
  for (size_t i = 0; i < nok; i++)
    if (json_array_append_new(arr, fmr_record_to_json(ok[i]))) goto done;
  text = json_dumps(arr, JSON_COMPACT);
done:
  json_decref(arr);
  free(ok);
  return text;
}

/* Every rank: the builder's input from the facts. Strings borrow from recs and plan. */
typedef struct dataset_in {
  fmr_record **recs;
  size_t n;
  fmr_dataset_volume_in *vols;
  char (*uid)[FMR_UID_MAX];
  char (*file)[PATH_MAX];
  const char **vocab;
  char dataset_path[PATH_MAX], boxes_path[PATH_MAX];
  fmr_dataset_input in;
} dataset_in;

static void dataset_in_free(dataset_in *x) {
  for (size_t i = 0; x->recs && i < x->n; i++) fmr_record_free(&x->recs[i]);
  free(x->recs);
  free(x->vols);
  free(x->uid);
  free(x->file);
  free(x->vocab);
}

static int dataset_input(const fmr_plan *plan, const json_t *facts, dataset_in *x, fmr_err *err) {
  const fmr_config *cfg = fmr_plan_config(plan);
  const fmr_annotations *ann = fmr_plan_annotations(plan);
  size_t n = json_array_size(facts), nvocab = fmr_annotations_vocab_size(ann);
  x->recs = calloc(n ? n : 1, sizeof *x->recs);
  x->vols = calloc(n ? n : 1, sizeof *x->vols);
  x->uid = calloc(n ? n : 1, sizeof *x->uid);
  x->file = calloc(n ? n : 1, sizeof *x->file);
  x->vocab = calloc(nvocab ? nvocab : 1, sizeof *x->vocab);
  if (!x->recs || !x->vols || !x->uid || !x->file || !x->vocab)
    return fmr_err_set(err, FMR_ENOMEM, "dataset: out of memory");
  for (size_t k = 0; k < nvocab; k++) x->vocab[k] = fmr_annotations_vocab(ann, k);
  for (size_t i = 0; i < n; i++) {
    int rc = fmr_record_from_json(json_array_get(facts, i), &x->recs[i], err);
    if (rc) return rc;
    x->n = i + 1;
    const fmr_record *r = x->recs[i];
    fmr_dataset_volume_in *v = &x->vols[i];
    rc = fmr_volume_dataset_attrs(cfg, r, x->uid[i], &v->attrs, err);
    if (!rc) rc = fmr_path_join(x->file[i], PATH_MAX, cfg->output_dir, "recon", err);
    if (rc) return rc;
    size_t len = strlen(x->file[i]);
    if (snprintf(x->file[i] + len, PATH_MAX - len, "/%s.h5", r->name) >= (int)(PATH_MAX - len))
      return fmr_err_set(err, FMR_ERANGE, "%s: path too long", r->name);
    v->file = x->file[i];
    /* As the writer of recon/<name>.h5 (pipeline/writers.c): a mask only for dataset.h5. */
    v->mask_pixel_bytes = r->reviewed && cfg->write_dataset ? fmr_mask_pixel_bytes(nvocab) : 0;
  }
  fmr_run_inputs ri;
  fmr_plan_run_inputs(plan, &ri);
  int rc = fmr_path_join(x->dataset_path, PATH_MAX, cfg->output_dir, run_file_rel[RUN_DATASET], err);
  if (!rc) rc = fmr_path_join(x->boxes_path, PATH_MAX, cfg->output_dir, run_file_rel[RUN_BOXES], err);
  if (rc) return rc;
  fmr_dataset_input in = {
      .dataset_path = cfg->write_dataset ? x->dataset_path : NULL,
      .boxes_path = cfg->write_boxes ? x->boxes_path : NULL,
      .nvol = x->n,
      .vols = x->vols,
      .nvocab = nvocab,
      .vocab = x->vocab,
      .anatomy = cfg->anatomy,
      .tool_version = FMR_VERSION,
      .config_sha256 = ri.config_sha256,
  };
  x->in = in;
  return 0;
}

/* Rank 0: list a written run file for the manifest (hashed once, here). */
static int run_file_add(const fmr_config *cfg, int which, const fmr_dataset_output *known,
                        run_files *rf, fmr_err *err) {
  char path[PATH_MAX];
  int rc = fmr_path_join(path, sizeof path, cfg->output_dir, run_file_rel[which], err);
  fmr_output_file *f = &rf->f[rf->n];
  if (!rc && known && known->hashed) {
    f->bytes = known->bytes; /* hashed by its commit (fmr_dataset_build) */
    memcpy(f->sha256, known->sha256, sizeof known->sha256);
  } else if (!rc) {
    rc = fmr_sha256_file(path, f->sha256, &f->bytes, err);
  }
  if (rc) return rc;
  snprintf(rf->rel[rf->n], sizeof rf->rel[rf->n], "%s", run_file_rel[which]);
  f->path = rf->rel[rf->n];
  f->kind = run_file_kind[which];
  rf->n++;
  return 0;
}

/* Rank 0, with output.nifti: datalist.json over the reviewed volumes, through the store. */
static int write_datalist(const fmr_config *cfg, const dataset_in *x, fmr_err *err) {
  const char **names = calloc(x->n ? x->n : 1, sizeof *names);
  size_t k = 0;
  char *text = NULL;
  fmr_store *store = NULL;
  if (!names) return fmr_err_set(err, FMR_ENOMEM, "datalist: out of memory");
  for (size_t i = 0; i < x->n; i++)
    if (x->recs[i]->reviewed) names[k++] = x->recs[i]->name;
  int rc = fmr_datalist_json(names, k, &text, err);
  if (!rc) rc = fmr_store_open(cfg->output_dir, &store, err);
  if (!rc) rc = fmr_store_write(store, run_file_rel[RUN_DATALIST], text, strlen(text), err);
  fmr_store_free(&store);
  free(text);
  free(names);
  return rc;
}

/* A run file this run did not (successfully) rebuild must not pass for one of this run. */
static void remove_stale_run_files(const fmr_config *cfg, const run_files *rf) {
  for (int w = 0; w < NRUN_FILES; w++) {
    int made = 0;
    for (size_t i = 0; i < rf->n; i++) made |= strcmp(rf->rel[i], run_file_rel[w]) == 0;
    char path[PATH_MAX];
    fmr_err err;
    if (made || fmr_path_join(path, sizeof path, cfg->output_dir, run_file_rel[w], &err)) continue;
    if (unlink(path) == 0)
      FMR_LOG(FMR_LOG_INFO, "%s removed: not (re)built by this run", run_file_rel[w]);
  }
}

/* The dataset phase: only after a complete run (every volume has a record, nothing stopped it)
 * and with output.dataset or output.boxes, every rank builds dataset.h5 and boxes.csv from the
 * per-volume recon/<name>.h5 (collective), always afresh: the per-volume files are reused outputs,
 * an old dataset.h5 never is. Rank 0 then writes datalist.json (output.nifti) and hashes the
 * files into rf. Not for a shard: the merge builds them. Returns the phase's agreed status. */
static int dataset_phase(const dispatch *d, const fmr_plan *plan, fmr_record *const *records,
                         int status, run_files *rf) {
  const fmr_config *cfg = fmr_plan_config(plan);
  if (d->opts->shard_count) return 0;
  int local = 0;
  if (!status && (cfg->write_dataset || cfg->write_boxes || cfg->write_nifti)) {
    char *text = NULL;
    size_t len = 0;
    if (d->rank == 0) {
      text = dataset_facts(plan, records);
      len = text ? strlen(text) : 0;
    }
    json_t *facts = NULL;
    dataset_in x;
    memset(&x, 0, sizeof x);
    fmr_err err;
    fmr_err_clear(&err);
    if (bcast_bytes(d, &text, &len) || !(facts = json_loadb(text, len, JSON_DECODE_ANY, NULL))) {
      fprintf(stderr, "fastmri-regen: rank %d: dataset facts broadcast failed\n", d->rank);
      local = FMR_EXIT_FAILED;
    }
    free(text);
    /* Every rank knows from the same facts whether the collective build happens. */
    int build = !local && json_is_array(facts) && (cfg->write_dataset || cfg->write_boxes);
    fmr_dataset_output built = {0};
    if (!local && json_is_array(facts) && dataset_input(plan, facts, &x, &err)) {
      FMR_LOG(FMR_LOG_ERROR, "dataset: %s", err.msg);
      local = FMR_EXIT_FAILED;
    }
    /* The build's HDF5 calls are collective and must be the same on every rank: it starts only
     * when every rank has its input. */
    int ready = agree(d, PH_DATASET, local);
    if (ready > local) local = ready;
    if (build && !local) {
      double t = fmr_monotonic_seconds();
      int brc = fmr_dataset_build(d->comm, &x.in, &built, &err);
      if (brc) {
        FMR_LOG(FMR_LOG_ERROR, "dataset.h5/boxes.csv not built: %s", err.msg);
        local = brc == FMR_ESTORAGE ? FMR_EXIT_STORAGE : FMR_EXIT_FAILED;
      }
      if (!brc && d->rank == 0)
        FMR_LOG(FMR_LOG_INFO, "%s%s%s of %zu volumes built in %.2f s (%d rank(s))",
                cfg->write_dataset ? "dataset.h5" : "",
                cfg->write_dataset && cfg->write_boxes ? " and " : "",
                cfg->write_boxes ? "boxes.csv" : "", x.n, fmr_monotonic_seconds() - t, d->size);
    }
    if (d->rank == 0 && !local && json_is_array(facts)) {
      int rc = 0;
      if (cfg->write_dataset) rc = run_file_add(cfg, RUN_DATASET, &built, rf, &err);
      if (!rc && cfg->write_boxes) rc = run_file_add(cfg, RUN_BOXES, NULL, rf, &err);
      if (!rc && cfg->write_nifti) rc = write_datalist(cfg, &x, &err);
      if (!rc && cfg->write_nifti) rc = run_file_add(cfg, RUN_DATALIST, NULL, rf, &err);
      if (rc) {
        FMR_LOG(FMR_LOG_ERROR, "%s", err.msg);
        local = rc == FMR_ESTORAGE ? FMR_EXIT_STORAGE : FMR_EXIT_FAILED;
        rf->n = 0;
      }
    }
    dataset_in_free(&x);
    json_decref(facts);
  }
  if (injected(d, PH_DATASET)) local = FMR_EXIT_FAILED;
  int all = agree(d, PH_DATASET, local);
  /* Listed only when every rank's part succeeded; otherwise not left to pass for complete. */
  if (all) rf->n = 0;
  if (d->rank == 0) remove_stale_run_files(cfg, rf);
  return all;
}

static const char *mpi_version(char *buf) {
  int len = 0;
  if (MPI_Get_library_version(buf, &len) != MPI_SUCCESS) return "unknown";
  char *comma = strchr(buf, ',');
  if (comma) *comma = '\0'; /* keep "Open MPI vX.Y.Z"; the rest names the build host and date */
  return buf;
}

static void final_log(const dispatch *d, const fmr_plan *plan, fmr_record *const *records,
                      int status) {
  const fmr_run_opts *opts = d->opts;
  size_t n = fmr_plan_ntasks(plan), ok = 0, failed = 0, missing = 0, remaining = 0;
  for (size_t i = 0; i < n; i++) {
    if (!records[i]) remaining++;
    else if (fmr_record_status(records[i]) == FMR_STATUS_OK) ok++;
    else if (fmr_record_status(records[i]) == FMR_STATUS_MISSING) missing++;
    else failed++;
  }
  const char *dir = fmr_plan_config(plan)->output_dir;
  char shard[64] = "";
  if (opts->shard_count)
    snprintf(shard, sizeof shard, "--shard %zu/%zu ", opts->shard_index, opts->shard_count);
  if (remaining) {
    const char *why = status == FMR_EXIT_STORAGE ? "the output storage failed"
                      : d->stop_sig              ? fmr_signal_name(d->stop_sig)
                                                 : "a rank failed";
    FMR_LOG(FMR_LOG_WARN,
            "stopped (%s): %zu of %zu volumes remain (%zu ok, %zu failed, %zu missing); "
            "resume with the same command: fastmri-regen run %s%s",
            why, remaining, n, ok, failed, missing, opts->merge ? "--merge " : shard,
            opts->config_path);
  } else if (opts->shard_count) {
    FMR_LOG(FMR_LOG_INFO, "shard %zu/%zu: %zu volumes: %zu ok, %zu failed, %zu missing; when every "
            "shard is done: fastmri-regen run --merge %s", opts->shard_index, opts->shard_count, n,
            ok, failed, missing, opts->config_path);
  } else {
    FMR_LOG(FMR_LOG_INFO, "%zu volumes: %zu ok, %zu failed, %zu missing; manifest %s/manifest.json",
            n, ok, failed, missing, dir);
  }
}

/* Rank 0: the table an operator reads at the end of a run (issue 13), after the last log line. */
static void print_summary(const dispatch *d, const fmr_plan *plan, fmr_record *const *records,
                          const fmr_volume_timing *timing, int status, double wall) {
  fmr_summary s;
  memset(&s, 0, sizeof s);
  size_t n = fmr_plan_ntasks(plan), ndone = 0;
  fmr_record **done = calloc(n ? n : 1, sizeof *done);
  for (size_t i = 0; i < n; i++) {
    if (!records[i]) {
      s.remaining++;
      continue;
    }
    if (done) done[ndone++] = records[i];
    fmr_summary_add(&s, records[i], records[i]->slices);
    if (timing[i].reused) s.reused++;
    else if (fmr_record_status(records[i]) == FMR_STATUS_OK)
      s.kspace_bytes += fmr_plan_task(plan, i)->work;
  }
  fmr_run_inputs in;
  fmr_plan_run_inputs(plan, &in);
  char manifest[PATH_MAX];
  snprintf(manifest, sizeof manifest, "%s/manifest.json", fmr_plan_config(plan)->output_dir);
  s.planned = n;
  s.skipped_lines = in.nskipped;
  s.wall_seconds = wall;
  s.ranks = d->size;
  s.manifest = d->opts->shard_count ? NULL : manifest;
  s.exit_status = status;
  char *warnings = done ? fmr_record_warnings_summary(done, ndone) : NULL;
  fmr_summary_print(&s, warnings, stderr);
  free(warnings);
  free(done);
}

/* Rank 0, manifest phase: the manifest (not for a shard: shards share output.dir and the merge
 * writes it) and the run report. Returns the status they add. */
static int write_outputs(const dispatch *d, const fmr_plan *plan, fmr_record *const *records,
                         const fmr_volume_timing *timing, const double *waits,
                         const double *rss, int status, double t0, json_t *shards,
                         const run_files *rf) {
  int local = 0;
  size_t n = fmr_plan_ntasks(plan), remaining = 0, failed = 0;
  fmr_err err;
  fmr_err_clear(&err);
  for (size_t i = 0; i < n; i++) {
    remaining += records[i] == NULL;
    failed += records[i] && fmr_record_status(records[i]) != FMR_STATUS_OK;
  }
  if (!d->opts->shard_count) {
    fmr_record **done = calloc(n ? n : 1, sizeof *done);
    size_t ndone = 0;
    for (size_t i = 0; done && i < n; i++)
      if (records[i]) done[ndone++] = records[i];
    fmr_run_inputs in;
    fmr_plan_run_inputs(plan, &in);
    char mpiv[MPI_MAX_LIBRARY_VERSION_STRING];
    in.mpi_version = mpi_version(mpiv);
    in.remaining = remaining;
    in.run_outputs = rf->f;
    in.nrun_outputs = rf->n;
    int mrc = done ? fmr_manifest_write_records(&in, done, ndone, &err)
                   : fmr_err_set(&err, FMR_ENOMEM, "manifest: out of memory");
    free(done);
    if (mrc) {
      FMR_LOG(FMR_LOG_ERROR, "manifest not written: %s", err.msg);
      local = FMR_EXIT_STORAGE;
    }
  }
  fmr_run_summary s = {d->size, fmr_monotonic_seconds() - t0,
                       d->stop_sig ? fmr_signal_name(d->stop_sig) : NULL,
                       status == FMR_EXIT_STORAGE, d->opts->shard_index, d->opts->shard_count,
                       d->opts->merge, shards, waits, rss};
  if (fmr_report_write_run(plan, records, timing, &s, &err))
    FMR_LOG(FMR_LOG_WARN, "run report not written: %s", err.msg);
  /* Some failed, or (a merge before every shard ran) some are not done yet. */
  if (!local && !status && (failed || remaining)) local = FMR_EXIT_FAILED;
  final_log(d, plan, records, status > local ? status : local);
  print_summary(d, plan, records, timing, status > local ? status : local, fmr_monotonic_seconds() - t0);
  return local;
}

static int run(dispatch *d) {
  const fmr_run_opts *opts = d->opts;
  fmr_plan *plan = NULL;
  fmr_volume_ctx *vctx = NULL;
  fmr_record **records = NULL;
  fmr_volume_timing *timing = NULL;
  int *done_by_rank = NULL;
  double *waits = NULL; /* rank 0: each worker's longest wait for an answer */
  double *rss = NULL;   /* rank 0: each rank's peak resident set (MB) at the gather */
  json_t *shards = NULL;
  fmr_lock *lock = NULL; /* rank 0: from before the first write until after the manifest */
  char *text = NULL;
  size_t len = 0;
  double t0 = fmr_monotonic_seconds();
  fmr_err err;
  fmr_err_clear(&err);

  /* startup: rank 0 reads and checks everything. */
  int local = 0;
  if (d->rank == 0) {
    if (fmr_plan_build(opts->config_path, &plan, &err) ||
        (opts->shard_count &&
         fmr_plan_shard(plan, opts->shard_index, opts->shard_count, &err))) {
      fprintf(stderr, "fastmri-regen: %s\n", err.msg);
      local = FMR_EXIT_USAGE;
    }
  }
  if (injected(d, PH_STARTUP)) local = FMR_EXIT_USAGE;
  int status = agree(d, PH_STARTUP, local);
  if (status) goto done;

  /* plan: the same bytes on every rank. */
  local = 0;
  if (d->rank == 0) {
    text = fmr_plan_serialize(plan, &len);
    if (!text) local = FMR_EXIT_USAGE;
  }
  int brc = bcast_bytes(d, &text, &len);
  if (brc) {
    fprintf(stderr, "fastmri-regen: rank %d: plan broadcast failed: %s\n", d->rank,
            fmr_strerror(brc));
    local = FMR_EXIT_USAGE;
  } else if (d->rank != 0 && fmr_plan_deserialize(opts->config_path, text, len, &plan, &err)) {
    fprintf(stderr, "fastmri-regen: rank %d: %s\n", d->rank, err.msg);
    local = FMR_EXIT_USAGE;
  }
  if (injected(d, PH_PLAN)) local = FMR_EXIT_USAGE;
  status = agree(d, PH_PLAN, local);
  if (status) goto done;
  if (!opts->log_level && !getenv("FMR_LOG_LEVEL"))
    fmr_log_parse_level(fmr_plan_config(plan)->log_level, &fmr_log_threshold);

  /* wisdom (not for a merge: it reconstructs nothing). */
  if (!opts->merge) {
    status = share_fft_wisdom(d, plan);
    if (status) goto done;
  }

  /* work: output.dir first (a failure is a start-up error: nothing was written). */
  const fmr_config *cfg = fmr_plan_config(plan);
  size_t n = fmr_plan_ntasks(plan);
  local = 0;
  if (d->rank == 0) {
    /* Order matters (SPEC 9): the ownership check reads nothing but output.dir's first entry; the
     * lock is taken before anything else is written or deleted; only a run that holds output.dir
     * alone (a full run or a merge: exclusive lock) sweeps a killed run's debris — a shard holds it
     * shared, and another shard's temporary files are live. */
    char lock_name[64];
    if (opts->shard_count)
      snprintf(lock_name, sizeof lock_name, "shard-%zu-of-%zu", opts->shard_index,
               opts->shard_count);
    int sweep = opts->shard_count == 0;
    if (fmr_plan_prepare_output(plan, 0, &err) ||
        fmr_lock_acquire(cfg->output_dir, opts->shard_count ? lock_name : NULL, &lock, &err) ||
        (sweep && fmr_plan_prepare_output(plan, 1, &err))) {
      fprintf(stderr, "fastmri-regen: %s\n", err.msg);
      local = FMR_EXIT_USAGE;
    }
    records = calloc(n ? n : 1, sizeof *records);
    timing = calloc(n ? n : 1, sizeof *timing);
    done_by_rank = calloc((size_t)d->size, sizeof *done_by_rank);
    waits = calloc((size_t)d->size, sizeof *waits);
    rss = calloc((size_t)d->size, sizeof *rss);
    if (!records || !timing || !done_by_rank || !waits || !rss) local = FMR_EXIT_USAGE;
  }
  status = agree(d, PH_WORK, local);
  if (status) goto done;
  if (fmr_volume_ctx_new(cfg, fmr_plan_annotations(plan), fmr_plan_seg_codes(plan), &vctx, &err)) {
    fprintf(stderr, "fastmri-regen: rank %d: %s\n", d->rank, err.msg);
    vctx = NULL;
  }
  int mine = 0;         /* volumes this rank finished, for the gather */
  double max_wait = 0;  /* a worker's longest wait for rank 0's answer */
  if (opts->merge) {
    local = d->rank == 0 ? (shards = fmr_report_take_shards(cfg->output_dir),
                            merge_records(plan, vctx, records, shards))
                         : 0;
    if (injected(d, PH_WORK)) local = FMR_EXIT_FAILED;
  } else if (d->rank == 0) {
    if (d->size == 1 || !vctx) {
      FMR_LOG(FMR_LOG_INFO, "%zu volumes, %d rank(s), output in %s", n, d->size, cfg->output_dir);
    } else {
      FMR_LOG(FMR_LOG_INFO, "%zu volumes, %d ranks (all reconstruct), output in %s", n, d->size,
              cfg->output_dir);
    }
    coord c = {.d = d, .plan = plan, .vctx = vctx, .n = n, .records = records, .timing = timing,
               .done_by_rank = done_by_rank};
    if (!vctx) stop_handout(&c, FMR_EXIT_FAILED, "no volume context", 0);
    local = coordinator_work(d, &c);
    fmr_progress_finish(c.progress);
    fmr_progress_free(&c.progress);
    mine = done_by_rank[0];
  } else {
    local = worker_work(d, plan, vctx, &mine, &max_wait);
  }
  status = agree(d, PH_WORK, local);

  /* gather: every rank's count of finished volumes (rank 0 must hold a record for each), its
   * longest wait for an answer and its peak memory. */
  local = 0;
  enum { NSTATS = 3 };
  double stats[NSTATS] = {(double)mine, max_wait, fmr_peak_rss_mb()};
  double *all = d->rank == 0 ? calloc(NSTATS * (size_t)d->size, sizeof *all) : NULL;
  if (d->rank == 0 && !all) local = FMR_EXIT_FAILED;
  int grc = MPI_Gather(stats, NSTATS, MPI_DOUBLE, all, NSTATS, MPI_DOUBLE, 0, d->comm);
  if (grc != MPI_SUCCESS) local = FMR_EXIT_FAILED;
  for (int r = 0; all && grc == MPI_SUCCESS && r < d->size; r++) {
    if (r > 0 && !opts->merge && (int)all[NSTATS * r] != done_by_rank[r]) {
      FMR_LOG(FMR_LOG_ERROR, "rank %d finished %d volumes but rank 0 holds %d of its records", r,
              (int)all[NSTATS * r], done_by_rank[r]);
      local = FMR_EXIT_FAILED;
    }
    if (r > 0) waits[r] = all[NSTATS * r + 1];
    rss[r] = all[NSTATS * r + 2];
  }
  free(all);
  if (injected(d, PH_GATHER)) local = FMR_EXIT_FAILED;
  int gstatus = agree(d, PH_GATHER, local);
  if (gstatus > status) status = gstatus;

  /* dataset: the run-level ML files, from the per-volume ones, when the run is complete. */
  run_files rf;
  memset(&rf, 0, sizeof rf);
  int dstatus = dataset_phase(d, plan, records, status, &rf);
  if (dstatus > status) status = dstatus;

  /* manifest: what is done, said truthfully (complete: false and remaining when cut short). */
  local = 0;
  if (d->rank == 0)
    local = write_outputs(d, plan, records, timing, waits, rss, status, t0, shards, &rf);
  if (injected(d, PH_MANIFEST)) local = FMR_EXIT_FAILED;
  int mstatus = agree(d, PH_MANIFEST, local);
  if (mstatus > status) status = mstatus;

done:
  /* exit: one status for every rank. */
  local = status;
  if (injected(d, PH_EXIT) && local < FMR_EXIT_FAILED) local = FMR_EXIT_FAILED;
  status = agree(d, PH_EXIT, local);
  if (status) fprintf(stderr, "fastmri-regen: rank %d: exit status %d\n", d->rank, status);
  if (records)
    for (size_t i = 0; i < fmr_plan_ntasks(plan); i++) fmr_record_free(&records[i]);
  free(records);
  free(timing);
  free(done_by_rank);
  free(waits);
  free(rss);
  json_decref(shards);
  fmr_lock_release(&lock);
  fmr_volume_ctx_free(&vctx);
  free(text);
  fmr_plan_free(&plan);
  return status;
}

/* The one teardown of every command. Nothing is left to agree on: a failure here changes no
 * output and no exit status, so the results are deliberately ignored. */
static void mpi_finish(MPI_Comm *comm) {
  if (comm && *comm != MPI_COMM_NULL) (void)MPI_Comm_free(comm);
  (void)MPI_Finalize();
}

/* Initialise MPI and the communicator every phase uses. FMR_EXIT_USAGE when MPI cannot start. */
static int mpi_start(int *argc, char ***argv, MPI_Comm *comm, int *rank, int *size) {
  fmr_err err;
  fmr_err_clear(&err);
#ifdef OPEN_MPI
  const int pmix_only = 1; /* Debian's Open MPI starts under srun only through PMIx */
#else
  const int pmix_only = 0;
#endif
  /* Open MPI's MPI_Init aborts with exit 1 when srun gave it no PMIx: catch that launch mistake
   * first, so it is the start-up status with a message that says how to launch. */
  if (fmr_launch_precheck(pmix_only, &err)) {
    fprintf(stderr, "fastmri-regen: %s\n", err.msg);
    return FMR_EXIT_USAGE;
  }
#ifdef OPEN_MPI
  /* Started without mpirun or srun, Open MPI's singleton MPI_Init forks an orted (for
   * MPI_Comm_spawn, which we never call) that probes hwloc and X11 first, and its cm messaging
   * layer loads Omni-Path's libpsm2, whose constructor sleeps: 0.2 s each, for one rank that talks
   * to nobody. Isolated and on ob1, the singleton starts in half the time. Launched runs keep the
   * site's choice (the interconnect matters there); a user's own setting always wins. */
  if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK")) {
    setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
    setenv("OMPI_MCA_pml", "ob1", 0);
  }
#endif
  if (MPI_Init(argc, argv) != MPI_SUCCESS) {
    fprintf(stderr, "fastmri-regen: MPI_Init failed: check how the job was launched "
                    "(mpirun, or srun --mpi=pmix)\n");
    return FMR_EXIT_USAGE;
  }
  /* Errors become values we report, not aborts from inside the MPI library. */
  if (MPI_Comm_dup(MPI_COMM_WORLD, comm) != MPI_SUCCESS ||
      MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
      MPI_Comm_rank(*comm, rank) != MPI_SUCCESS || MPI_Comm_size(*comm, size) != MPI_SUCCESS) {
    fprintf(stderr, "fastmri-regen: cannot set up the MPI communicator\n");
    mpi_finish(NULL);
    return FMR_EXIT_USAGE;
  }
  /* N single-rank copies started by a launcher that did not give them one MPI world (SPEC 9).
   * Every rank sees the same launcher variables and decides alike, so no collective is needed. */
  if (fmr_launch_check(*size, &err)) {
    if (*rank == 0) fprintf(stderr, "fastmri-regen: %s\n", err.msg);
    mpi_finish(comm);
    return FMR_EXIT_USAGE;
  }
  return 0;
}

int fmr_dispatch_run(int *argc, char ***argv, const fmr_run_opts *opts) {
  dispatch d;
  memset(&d, 0, sizeof d);
  d.opts = opts;
  int rc = mpi_start(argc, argv, &d.comm, &d.rank, &d.size);
  if (rc) return rc;
  fftwf_mpi_init();
  fmr_log_set_rank(d.size > 1 ? d.rank : -1);
  const char *env_level = getenv("FMR_LOG_LEVEL");
  if (opts->log_level) fmr_log_parse_level(opts->log_level, &fmr_log_threshold);
  else if (env_level) fmr_log_parse_level(env_level, &fmr_log_threshold);
  read_fail_injection(&d);
  install_signal_handlers();

  int status = run(&d);

  fftwf_mpi_cleanup();
  mpi_finish(&d.comm);
  return status;
}

/* ---- plan ----------------------------------------------------------------------------------- */

/* `plan`: rank 0 plans, every rank surveys the volumes i with i mod size == rank (metadata only),
 * rank 0 gathers the fixed-size facts and prints the report. Collective; phases agree as in run. */
static int survey(dispatch *d, const char *config_path, int json_out, int probe) {
  fmr_plan *plan = NULL;
  fmr_survey_volume *vols = NULL, *mine = NULL, *packed = NULL;
  char *text = NULL;
  size_t len = 0;
  int *counts = NULL, *displs = NULL;
  fmr_err err;
  fmr_err_clear(&err);
  int local = 0;
  if (d->rank == 0 && fmr_plan_build(config_path, &plan, &err)) {
    fprintf(stderr, "fastmri-regen plan: %s\n", err.msg);
    local = FMR_EXIT_USAGE;
  }
  int status = agree(d, PH_STARTUP, local);
  if (status) goto done;
  local = 0;
  if (d->rank == 0 && !(text = fmr_plan_serialize(plan, &len))) local = FMR_EXIT_USAGE;
  if (bcast_bytes(d, &text, &len) ||
      (d->rank != 0 && fmr_plan_deserialize(config_path, text, len, &plan, &err)))
    local = FMR_EXIT_USAGE;
  status = agree(d, PH_PLAN, local);
  if (status) goto done;

  size_t n = fmr_plan_ntasks(plan), size = (size_t)d->size, rank = (size_t)d->rank;
  size_t nmine = n > rank ? (n - rank + size - 1) / size : 0;
  mine = calloc(nmine ? nmine : 1, sizeof *mine);
  local = mine ? 0 : FMR_EXIT_FAILED;
  for (size_t i = rank, k = 0; mine && i < n; i += size, k++) fmr_survey_volume_of(plan, i, probe, &mine[k]);
  if (d->rank == 0) {
    vols = calloc(n ? n : 1, sizeof *vols);
    packed = calloc(n ? n : 1, sizeof *packed);
    counts = calloc(size, sizeof *counts);
    displs = calloc(size, sizeof *displs);
    if (!vols || !packed || !counts || !displs) local = FMR_EXIT_FAILED;
    for (size_t r = 0, off = 0; counts && displs && r < size; r++) {
      size_t c = n > r ? (n - r + size - 1) / size : 0;
      counts[r] = (int)(c * sizeof *vols);
      displs[r] = (int)off;
      off += c * sizeof *vols;
    }
  }
  status = agree(d, PH_WORK, local);
  if (status) goto done;
  local = 0;
  if (MPI_Gatherv(mine, (int)(nmine * sizeof *mine), MPI_BYTE, packed, counts, displs, MPI_BYTE, 0,
                  d->comm) != MPI_SUCCESS)
    local = FMR_EXIT_FAILED;
  if (d->rank == 0 && !local) {
    /* Gathered rank by rank; back into task order. */
    for (size_t r = 0, k = 0; r < size; r++)
      for (size_t i = r; i < n; i += size) vols[i] = packed[k++];
    if (fmr_survey_report(plan, vols, json_out, d->size, stdout, &err)) {
      fprintf(stderr, "fastmri-regen plan: %s\n", err.msg);
      local = FMR_EXIT_FAILED;
    }
  }
  status = agree(d, PH_GATHER, local);
done:
  free(counts);
  free(displs);
  free(packed);
  free(mine);
  free(vols);
  free(text);
  fmr_plan_free(&plan);
  return status;
}

int fmr_dispatch_plan(int *argc, char ***argv, const char *config_path, int json_out, int probe) {
  dispatch d;
  memset(&d, 0, sizeof d);
  int rc = mpi_start(argc, argv, &d.comm, &d.rank, &d.size);
  if (rc) return rc;
  fmr_log_set_rank(d.size > 1 ? d.rank : -1);
  read_fail_injection(&d);
  int status = survey(&d, config_path, json_out, probe);
  mpi_finish(&d.comm);
  return status;
}

/* ---- verify --------------------------------------------------------------------------------- */

/* Collective: every rank checks its round-robin share (neighbouring files, one volume's slices,
 * spread over ranks); rank 0 gathers the problems by point-to-point messages. */
static int verify(const dispatch *d, const char *outdir, int json_out) {
  fmr_err err;
  fmr_err_clear(&err);
  json_t *expected = NULL, *problems = json_array();
  char *text = NULL;
  size_t len = 0;
  int complete = 1;
  size_t remaining = 0;
  int local = problems ? 0 : FMR_EXIT_USAGE;
  if (d->rank == 0 && !local) {
    if (fmr_verify_expected(outdir, &expected, &err) ||
        fmr_report_manifest_state(outdir, &complete, &remaining, &err)) {
      fprintf(stderr, "fastmri-regen verify: %s\n", err.msg);
      local = FMR_EXIT_USAGE;
    } else {
      text = json_dumps(expected, JSON_COMPACT);
      len = text ? strlen(text) : 0;
      if (!text) local = FMR_EXIT_USAGE;
    }
  }
  if (bcast_bytes(d, &text, &len)) local = FMR_EXIT_USAGE;
  if (d->rank != 0 && !local) {
    expected = json_loadb(text, len, 0, NULL);
    if (!expected) local = FMR_EXIT_USAGE;
  }
  free(text);
  text = NULL;
  int status = agree(d, PH_STARTUP, local);
  if (status) goto done;

  local = 0;
  for (size_t i = (size_t)d->rank; i < json_array_size(expected); i += (size_t)d->size) {
    json_t *p = fmr_verify_check(outdir, json_array_get(expected, i));
    if (p) json_array_append_new(problems, p);
  }
  if (d->rank != 0) {
    text = json_dumps(problems, JSON_COMPACT);
    /* Always send (an empty list without memory): rank 0 waits for one message per rank. */
    const char *msg = text ? text : "null";
    if (MPI_Send(msg, (int)strlen(msg), MPI_CHAR, 0, TAG_VERIFY, d->comm) != MPI_SUCCESS ||
        !text)
      local = FMR_EXIT_FAILED;
    free(text);
  } else {
    for (int r = 1; r < d->size; r++) {
      MPI_Status st;
      int n = 0;
      if (MPI_Probe(r, TAG_VERIFY, d->comm, &st) != MPI_SUCCESS ||
          MPI_Get_count(&st, MPI_CHAR, &n) != MPI_SUCCESS) {
        local = FMR_EXIT_FAILED;
        break;
      }
      char *buf = malloc((size_t)n + 1);
      char scratch[1];
      if (MPI_Recv(buf ? buf : scratch, buf ? n : 0, MPI_CHAR, r, TAG_VERIFY, d->comm,
                   MPI_STATUS_IGNORE) != MPI_SUCCESS ||
          !buf) {
        free(buf);
        local = FMR_EXIT_FAILED;
        continue;
      }
      buf[n] = '\0';
      json_t *more = json_loads(buf, 0, NULL);
      free(buf);
      if (!json_is_array(more)) local = FMR_EXIT_FAILED;
      else json_array_extend(problems, more);
      json_decref(more);
    }
    if (fmr_verify_unexpected(outdir, expected, problems, &err)) {
      fprintf(stderr, "fastmri-regen verify: %s\n", err.msg);
      local = FMR_EXIT_FAILED;
    }
    int r = fmr_report_verify(outdir, expected, problems, complete, remaining, json_out);
    if (r > local) local = r;
  }
  status = agree(d, PH_EXIT, local);
done:
  json_decref(expected);
  json_decref(problems);
  return status;
}

int fmr_dispatch_verify(int *argc, char ***argv, const char *outdir, int json_out) {
  dispatch d;
  memset(&d, 0, sizeof d);
  int rc = mpi_start(argc, argv, &d.comm, &d.rank, &d.size);
  if (rc) return rc;
  d.fail_phase = d.fail_rank = -1;
  int status = verify(&d, outdir, json_out);
  mpi_finish(&d.comm);
  return status;
}
