/* Coordinator and workers over MPI. The only file that includes mpi.h.
 *
 * Protocol (all on a duplicate of MPI_COMM_WORLD, so no library traffic can match ours):
 *   start: rank 0 broadcasts a status word, then one JSON blob (config text, annotation CSV text,
 *          date/time, the task table). Every rank parses the same bytes, so they agree.
 *   work:  worker -> 0  TAG_DONE  {"interrupted": bool, "index": i | -1, "record": {...} | null}
 *          0 -> worker  TAG_TASK  int task index, or -1 for "stop"
 *   end:   rank 0 writes the manifest and the run report, then broadcasts the exit status. */
#include "fmr/run/sched.h"

#include <fftw3-mpi.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmr/labels/annotations.h"
#include "fmr/cmd/cmd.h"
#include "fmr/input/config.h"
#include "fmr/input/filelist.h"
#include "fmr/util/fsutil.h"
#include "fmr/recon/kspace.h"
#include "fmr/util/log.h"
#include "fmr/output/manifest.h"
#include "fmr/recon/recon.h"
#include "fmr/dicom/seg.h"
#include "fmr/dicom/uid.h"
#include "fmr/run/verify.h"
#include "fmr/pipeline/volume.h"

enum { TAG_DONE = 101, TAG_TASK = 102 };

#define MAX_CONFIG_BYTES (1u << 20)
#define MAX_CSV_BYTES (256u << 20)

/* The one piece of process-wide mutable state besides the log level: a signal handler can only
 * communicate through a volatile sig_atomic_t. */
static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int sig) { stop_requested = sig; }

static void install_signal_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

/* Everything a rank needs for the run, identical on every rank after start-up. */
typedef struct run_state {
  MPI_Comm comm;
  int rank, size;
  fmr_config cfg;
  int have_cfg;
  fmr_annotations *ann;
  json_t *tasks;  /* [{"name", "path", "rel", "reviewed", "lookup_error"}] */
  char config_sha[65], csv_sha[65], list_sha[65];
  char run_key[65]; /* SHA-256 over tool version, config text and CSV: what outputs depend on */
  char seg_codes_sha[65]; /* the SEG code table in use ("" when SEGs are off) */
  int have_list;
} run_state;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* SOURCE_DATE_EPOCH wins over the config (reproducible-builds convention); never the wall clock. */
static int resolve_date(fmr_config *cfg, fmr_err *err) {
  const char *sde = getenv("SOURCE_DATE_EPOCH");
  if (!sde || !*sde) return 0;
  char *end = NULL;
  long long v = strtoll(sde, &end, 10);
  if (*end != '\0' || v < 0)
    return fmr_err_set(err, FMR_ECONFIG, "SOURCE_DATE_EPOCH='%s' is not a non-negative integer",
                       sde);
  time_t t = (time_t)v;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return fmr_err_set(err, FMR_ECONFIG, "SOURCE_DATE_EPOCH out of range");
  char date[16], tod[16];
  strftime(date, sizeof date, "%Y%m%d", &tm);
  strftime(tod, sizeof tod, "%H%M%S", &tm);
  char *d = strdup(date), *tt = strdup(tod);
  if (!d || !tt) {
    free(d);
    free(tt);
    return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  }
  free(cfg->date);
  free(cfg->time);
  cfg->date = d;
  cfg->time = tt;
  return 0;
}

typedef struct task_sort {
  size_t index;
  unsigned long long work; /* k-space bytes: biggest first keeps the tail short */
  const char *name;
} task_sort;

static int cmp_task(const void *a, const void *b) {
  const task_sort *x = a, *y = b;
  if (x->work != y->work) return x->work < y->work ? 1 : -1;
  return strcmp(x->name, y->name);
}

static json_t *task_json(const char *name, const char *path, const char *rel, int reviewed,
                         const char *lookup_error) {
  return json_pack("{s:s, s:s?, s:s?, s:b, s:s?}", "name", name, "path", path, "rel", rel,
                   "reviewed", reviewed, "lookup_error", lookup_error);
}

/* An output directory inside an input directory would have its masks/<name>.h5 found as inputs on
 * the next run (and every such volume become ambiguous): refuse it up front. */
static int check_output_outside_inputs(const fmr_config *cfg, fmr_err *err) {
  char out[PATH_MAX], in[PATH_MAX], probe[PATH_MAX];
  /* The output directory may not exist yet: resolve its deepest existing ancestor. */
  snprintf(probe, sizeof probe, "%s", cfg->output_dir);
  const char *rest = "";
  while (!realpath(probe, out)) {
    char *slash = strrchr(probe, '/');
    if (!slash || slash == probe) return 0;
    *slash = '\0';
    rest = cfg->output_dir + (slash - probe);
  }
  if (strlen(out) + strlen(rest) >= sizeof out) return 0;
  strcat(out, rest);
  for (size_t i = 0; i < cfg->ninput_dirs; i++) {
    if (!realpath(cfg->input_dirs[i], in)) continue; /* the index reports unreadable inputs */
    size_t n = strlen(in);
    if (strncmp(out, in, n) == 0 && (out[n] == '/' || out[n] == '\0' || n == 1))
      return fmr_err_set(err, FMR_ECONFIG,
                         "%s: output.dir (%s) lies inside input directory %s; choose a "
                         "directory outside the inputs",
                         cfg->path, cfg->output_dir, cfg->input_dirs[i]);
  }
  return 0;
}

/* Rank 0: read and check everything; build the blob every rank starts from. */
static int coordinator_prepare(run_state *st, const fmr_run_opts *opts, json_t **blob,
                               fmr_err *err) {
  char *cfg_text = NULL, *csv = NULL, *list_text = NULL;
  size_t cfg_len = 0, csv_len = 0, list_len = 0;
  fmr_filelist fl = {0};
  fmr_file_index *ix = NULL;
  json_t *tasks = NULL;
  task_sort *order = NULL;
  int rc = fmr_read_file(opts->config_path, MAX_CONFIG_BYTES, &cfg_text, &cfg_len, err);
  if (rc) goto done;
  rc = fmr_config_parse(opts->config_path, cfg_text, cfg_len, &st->cfg, err);
  if (rc) goto done;
  st->have_cfg = 1;
  rc = resolve_date(&st->cfg, err);
  if (rc) goto done;
  fmr_sha256_hex(cfg_text, cfg_len, st->config_sha);

  rc = fmr_read_file(st->cfg.annotations, MAX_CSV_BYTES, &csv, &csv_len, err);
  if (rc) goto done;
  fmr_sha256_hex(csv, csv_len, st->csv_sha);
  rc = fmr_annotations_parse(st->cfg.annotations, csv, csv_len, &st->ann, err);
  if (rc) goto done;
  if (st->cfg.file_list) {
    rc = fmr_read_file(st->cfg.file_list, MAX_CSV_BYTES, &list_text, &list_len, err);
    if (rc) goto done;
    fmr_sha256_hex(list_text, list_len, st->list_sha);
    st->have_list = 1;
    rc = fmr_filelist_parse(st->cfg.file_list, list_text, list_len, &fl, err);
    if (rc) goto done;
  }
  char keytext[512];
  snprintf(keytext, sizeof keytext, "fastmri-regen %s\nconfig %s\ncsv %s\ndate %s %s\n",
           FMR_VERSION, st->config_sha, st->csv_sha, st->cfg.date, st->cfg.time);
  fmr_sha256_hex(keytext, strlen(keytext), st->run_key);
  rc = fmr_file_index_build((const char *const *)st->cfg.input_dirs, st->cfg.ninput_dirs, &ix,
                            err);
  if (rc) goto done;

  tasks = json_array();
  for (size_t i = 0; i < fl.n; i++) {
    const char *path = NULL, *rel = NULL;
    fmr_err lerr;
    fmr_err_clear(&lerr);
    int lrc = fmr_file_index_find(ix, fl.names[i], &path, &rel, &lerr);
    json_array_append_new(tasks, task_json(fl.names[i], lrc ? NULL : path, lrc ? NULL : rel, 1,
                                           lrc ? lerr.msg : NULL));
  }
  if (st->cfg.all_files) {
    for (size_t i = 0; i < fmr_file_index_count(ix); i++) {
      const char *name = fmr_file_index_name(ix, i);
      int listed = 0;
      for (size_t k = 0; k < fl.n && !listed; k++) listed = strcmp(fl.names[k], name) == 0;
      if (listed) continue;
      const char *path = NULL, *rel = NULL;
      fmr_err lerr;
      fmr_err_clear(&lerr);
      int lrc = fmr_file_index_find(ix, name, &path, &rel, &lerr);
      json_array_append_new(tasks, task_json(name, lrc ? NULL : path, lrc ? NULL : rel, 0,
                                             lrc ? lerr.msg : NULL));
    }
  }

  /* Order: largest k-space first (file size is a cheap, good proxy; metadata-only HDF5 opens
   * would cost a second pass over thousands of files). Ties by name keep the order stable. */
  size_t n = json_array_size(tasks);
  order = calloc(n ? n : 1, sizeof *order);
  if (!order) {
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *t = json_array_get(tasks, i);
    const char *path = json_string_value(json_object_get(t, "path"));
    struct stat sb;
    order[i].index = i;
    order[i].name = json_string_value(json_object_get(t, "name"));
    order[i].work = path && stat(path, &sb) == 0 ? (unsigned long long)sb.st_size : 0;
  }
  qsort(order, n, sizeof *order, cmp_task);
  st->tasks = json_array();
  for (size_t i = 0; i < n; i++) json_array_append(st->tasks, json_array_get(tasks, order[i].index));

  rc = check_output_outside_inputs(&st->cfg, err);
  if (rc) goto done;
  /* A broken code table would fail every volume with findings: refuse it before anything starts. */
  if (st->cfg.write_seg) {
    fmr_seg_codes *codes = NULL;
    rc = fmr_seg_codes_load(st->cfg.seg_codes, &codes, err);
    if (rc) goto done;
    snprintf(st->seg_codes_sha, sizeof st->seg_codes_sha, "%s", fmr_seg_codes_sha256(codes));
    fmr_seg_codes_free(&codes);
  }
  rc = fmr_mkdirs(st->cfg.output_dir, err);
  if (rc) goto done;
  size_t debris = 0;
  rc = fmr_remove_tmp_files(st->cfg.output_dir, &debris, err);
  if (rc) goto done;
  if (debris) FMR_LOG(FMR_LOG_INFO, "removed %zu temporary files left by an earlier run", debris);

  *blob = json_pack("{s:s%, s:s%, s:s, s:s, s:s, s:O}", "config", cfg_text, cfg_len, "csv", csv,
                    csv_len, "date", st->cfg.date, "time", st->cfg.time, "run_key", st->run_key,
                    "tasks", st->tasks);
  if (!*blob) rc = fmr_err_set(err, FMR_ENOMEM, "cannot build the start-up message");
done:
  free(order);
  json_decref(tasks);
  fmr_file_index_free(&ix);
  fmr_filelist_free(&fl);
  free(list_text);
  free(csv);
  free(cfg_text);
  return rc;
}

/* Workers: rebuild the same state from the blob. */
static int worker_prepare(run_state *st, const fmr_run_opts *opts, const json_t *blob,
                          fmr_err *err) {
  const char *cfg_text = json_string_value(json_object_get(blob, "config"));
  size_t cfg_len = json_string_length(json_object_get(blob, "config"));
  int rc = fmr_config_parse(opts->config_path, cfg_text, cfg_len, &st->cfg, err);
  if (rc) return rc;
  st->have_cfg = 1;
  free(st->cfg.date);
  free(st->cfg.time);
  st->cfg.date = strdup(json_string_value(json_object_get(blob, "date")));
  st->cfg.time = strdup(json_string_value(json_object_get(blob, "time")));
  if (!st->cfg.date || !st->cfg.time) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  json_t *csv = json_object_get(blob, "csv");
  rc = fmr_annotations_parse(st->cfg.annotations, json_string_value(csv), json_string_length(csv),
                             &st->ann, err);
  if (rc) return rc;
  st->tasks = json_incref(json_object_get(blob, "tasks"));
  snprintf(st->run_key, sizeof st->run_key, "%s",
           json_string_value(json_object_get(blob, "run_key")));
  return 0;
}

static void fill_task(const json_t *t, fmr_volume_task *out) {
  out->name = json_string_value(json_object_get(t, "name"));
  out->path = json_string_value(json_object_get(t, "path"));
  out->rel_path = json_string_value(json_object_get(t, "rel"));
  out->reviewed = json_is_true(json_object_get(t, "reviewed"));
  out->lookup_error = json_string_value(json_object_get(t, "lookup_error"));
}

/* Broadcast a string from rank 0 (length first). */
static int bcast_text(run_state *st, char **text) {
  unsigned long long len = st->rank == 0 && *text ? strlen(*text) : 0;
  if (MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, st->comm) != MPI_SUCCESS) return FMR_EMPI;
  if (st->rank != 0) {
    *text = malloc(len + 1);
    if (!*text) return FMR_ENOMEM;
    (*text)[len] = '\0';
  }
  /* MPI counts are int: send in pieces so a large CSV never overflows one. */
  for (unsigned long long off = 0; off < len;) {
    int piece = len - off > (1u << 30) ? (1 << 30) : (int)(len - off);
    if (MPI_Bcast(*text + off, piece, MPI_CHAR, 0, st->comm) != MPI_SUCCESS) return FMR_EMPI;
    off += (unsigned long long)piece;
  }
  return 0;
}

typedef struct volume_timing {
  int rank;
  int reused;
  double seconds;
} volume_timing;

/* Plan every distinct k-space shape once on rank 0 and share FFTW's wisdom, so every rank computes
 * with the same plan (SPEC 8). With the default estimating planner the plans would agree anyway;
 * sharing always keeps one code path and makes a measuring planner safe. */
static int share_fft_wisdom(run_state *st, fmr_err *err) {
  int rc = 0;
  size_t nshapes = 0;
  if (st->rank == 0) {
    size_t n = json_array_size(st->tasks);
    size_t (*shapes)[3] = calloc(n ? n : 1, sizeof *shapes);
    if (!shapes) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
      const char *path = json_string_value(json_object_get(json_array_get(st->tasks, i), "path"));
      if (!path) continue;
      fmr_kspace *ks = NULL;
      fmr_err kerr;
      if (fmr_kspace_open(path, &ks, &kerr)) continue; /* its worker will report the error */
      const fmr_kspace_info *info = fmr_kspace_info_of(ks);
      size_t c = info->coils, H = info->H, W = info->W;
      fmr_kspace_close(&ks);
      int seen = 0;
      for (size_t k = 0; k < nshapes && !seen; k++)
        seen = shapes[k][0] == c && shapes[k][1] == H && shapes[k][2] == W;
      if (seen) continue;
      shapes[nshapes][0] = c;
      shapes[nshapes][1] = H;
      shapes[nshapes][2] = W;
      nshapes++;
      fmr_recon *r = NULL;
      rc = fmr_recon_new(c, H, W, st->cfg.fft_effort, 0, &r, err);
      fmr_recon_free(&r);
    }
    free(shapes);
  }
  int ok = rc == 0;
  MPI_Bcast(&ok, 1, MPI_INT, 0, st->comm);
  if (!ok) return rc ? rc : fmr_err_set(err, FMR_EFFT, "FFT planning failed on rank 0");
  fftwf_mpi_broadcast_wisdom(st->comm);
  if (st->rank == 0)
    FMR_LOG(FMR_LOG_INFO, "FFTW plans for %zu k-space shape(s) made on rank 0 (%s) and shared",
            nshapes, fmr_config_effort_name(st->cfg.fft_effort));
  return 0;
}

static int send_done(run_state *st, long index, int reused, json_t *record) {
  json_t *msg = json_pack("{s:b, s:I, s:b, s:o?}", "interrupted", stop_requested != 0, "index",
                          (json_int_t)index, "reused", reused, "record", record);
  char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(msg);
  if (!text) return FMR_ENOMEM;
  int rc = MPI_Send(text, (int)strlen(text), MPI_CHAR, 0, TAG_DONE, st->comm);
  free(text);
  return rc == MPI_SUCCESS ? 0 : FMR_EMPI;
}

static int worker_loop(run_state *st, fmr_volume_ctx *vctx) {
  long index = -1;
  int reused = 0;
  json_t *record = NULL;
  for (;;) {
    int rc = send_done(st, index, reused, record);
    record = NULL;
    if (rc) return rc;
    int next = -1;
    if (MPI_Recv(&next, 1, MPI_INT, 0, TAG_TASK, st->comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      return FMR_EMPI;
    if (next < 0) return 0;
    fmr_volume_task t;
    fill_task(json_array_get(st->tasks, (size_t)next), &t);
    double t0 = now_seconds();
    record = fmr_volume_process(vctx, &t, &reused);
    FMR_LOG(FMR_LOG_INFO, "%s: %s%s in %.2f s", t.name,
            json_string_value(json_object_get(record, "status")), reused ? " (reused)" : "",
            now_seconds() - t0);
    index = next;
  }
}

/* Rank 0 with helpers: hand out tasks until done or asked to stop. Polls with Iprobe and a short
 * sleep rather than a blocking receive, so it neither burns a core nor misses a signal. */
static int coordinator_loop(run_state *st, json_t **records, volume_timing *timing,
                            int *interrupted) {
  size_t n = json_array_size(st->tasks), next = 0, finished = 0;
  int active = st->size - 1;
  double *started = calloc(n ? n : 1, sizeof *started);
  if (!started) return FMR_ENOMEM;
  double t_begin = now_seconds(), last_progress = t_begin;
  while (active > 0) {
    int flag = 0;
    MPI_Status status;
    if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_DONE, st->comm, &flag, &status) != MPI_SUCCESS) {
      free(started);
      return FMR_EMPI;
    }
    if (!flag) {
      struct timespec ts = {0, 2000000};
      nanosleep(&ts, NULL);
      continue;
    }
    int len = 0;
    MPI_Get_count(&status, MPI_CHAR, &len);
    char *text = malloc((size_t)len + 1);
    if (!text) {
      free(started);
      return FMR_ENOMEM;
    }
    MPI_Recv(text, len, MPI_CHAR, status.MPI_SOURCE, TAG_DONE, st->comm, MPI_STATUS_IGNORE);
    text[len] = '\0';
    json_t *msg = json_loads(text, 0, NULL);
    free(text);
    if (msg) {
      json_int_t idx = json_integer_value(json_object_get(msg, "index"));
      json_t *rec = json_object_get(msg, "record");
      if (idx >= 0 && (size_t)idx < n && json_is_object(rec)) {
        records[idx] = json_incref(rec);
        finished++;
        timing[idx].rank = status.MPI_SOURCE;
        timing[idx].reused = json_is_true(json_object_get(msg, "reused"));
        timing[idx].seconds = now_seconds() - started[idx];
      }
      if (json_is_true(json_object_get(msg, "interrupted"))) *interrupted = 1;
      json_decref(msg);
    }
    if (stop_requested) *interrupted = 1;
    /* Progress at most every 10 s, from rank 0 only, between messages: it never holds up a worker. */
    double t_now = now_seconds();
    if (finished && (t_now - last_progress >= 10.0 || finished == n)) {
      double per = (t_now - t_begin) / (double)finished;
      FMR_LOG(FMR_LOG_INFO, "progress: %zu/%zu volumes in %.0f s, about %.0f s to go", finished, n,
              t_now - t_begin, per * (double)(n - finished));
      last_progress = t_now;
    }
    /* Missing files need no worker: record them here and move on. */
    while (next < n && !*interrupted) {
      fmr_volume_task t;
      fill_task(json_array_get(st->tasks, next), &t);
      if (t.path) break;
      records[next] = fmr_volume_record_missing(&st->cfg, &t);
      next++;
    }
    int task = -1;
    if (next < n && !*interrupted) {
      task = (int)next;
      started[next] = now_seconds();
      next++;
    }
    MPI_Send(&task, 1, MPI_INT, status.MPI_SOURCE, TAG_TASK, st->comm);
    if (task < 0) active--;
  }
  free(started);
  return 0;
}

static int serial_loop(run_state *st, fmr_volume_ctx *vctx, json_t **records,
                       volume_timing *timing, int *interrupted) {
  size_t n = json_array_size(st->tasks);
  for (size_t i = 0; i < n; i++) {
    if (stop_requested) {
      *interrupted = 1;
      break;
    }
    fmr_volume_task t;
    fill_task(json_array_get(st->tasks, i), &t);
    double t0 = now_seconds();
    records[i] = fmr_volume_process(vctx, &t, &timing[i].reused);
    timing[i].rank = 0;
    timing[i].seconds = now_seconds() - t0;
    FMR_LOG(FMR_LOG_INFO, "%s: %s%s in %.2f s", t.name,
            json_string_value(json_object_get(records[i], "status")),
            timing[i].reused ? " (reused)" : "", timing[i].seconds);
  }
  return 0;
}

static int write_run_report(run_state *st, json_t *const *records, const volume_timing *timing,
                            double wall, int interrupted, fmr_err *err) {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  json_t *vols = json_array();
  size_t n = json_array_size(st->tasks), done = 0, reused = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_object_get(json_array_get(st->tasks, i), "name"));
    if (!records[i]) {
      json_array_append_new(vols, json_pack("{s:s, s:s}", "name", name, "state", "not started"));
      continue;
    }
    done++;
    reused += timing[i].reused != 0;
    json_array_append_new(vols, json_pack("{s:s, s:s, s:b, s:i, s:f}", "name", name, "state",
                                          json_string_value(json_object_get(records[i], "status")),
                                          "reused", timing[i].reused, "rank", timing[i].rank,
                                          "seconds", timing[i].seconds));
  }
  json_t *rep = json_pack("{s:s, s:s, s:i, s:f, s:b, s:I, s:I, s:I, s:o}", "format",
                          "fastmri-regen-run-report/1", "host", host, "ranks", st->size,
                          "wall_seconds", wall, "interrupted", interrupted, "volumes",
                          (json_int_t)n, "processed", (json_int_t)done, "reused",
                          (json_int_t)reused, "schedule", vols);
  char *text = rep ? fmr_json_dumps(rep) : NULL;
  json_decref(rep);
  if (!text) return fmr_err_set(err, FMR_ENOMEM, "run report: out of memory");
  char path[PATH_MAX];
  int rc = fmr_path_join(path, sizeof path, st->cfg.output_dir, "run-report.json", err);
  if (!rc) rc = fmr_write_file_atomic(path, text, strlen(text), err);
  free(text);
  return rc;
}

static int run(run_state *st, const fmr_run_opts *opts) {
  fmr_err err;
  fmr_err_clear(&err);
  json_t *blob = NULL, **records = NULL;
  volume_timing *timing = NULL;
  fmr_volume_ctx *vctx = NULL;
  char *blob_text = NULL;
  int exit_code = FMR_EXIT_USAGE;
  double t0 = now_seconds();

  /* Start-up: rank 0 decides; everyone learns the outcome before anything is written. */
  int start_rc = 0;
  if (st->rank == 0) {
    start_rc = coordinator_prepare(st, opts, &blob, &err);
    if (start_rc) fprintf(stderr, "fastmri-regen: %s\n", err.msg);
    else blob_text = json_dumps(blob, JSON_COMPACT);
    if (!start_rc && !blob_text) start_rc = FMR_ENOMEM;
  }
  MPI_Bcast(&start_rc, 1, MPI_INT, 0, st->comm);
  if (start_rc) goto done;
  if (bcast_text(st, &blob_text)) {
    fprintf(stderr, "fastmri-regen: rank %d: start-up broadcast failed\n", st->rank);
    goto done; /* collective failure: every rank sees it */
  }
  int prep_rc = 0;
  if (st->rank != 0) {
    blob = json_loads(blob_text, 0, NULL);
    prep_rc = blob ? worker_prepare(st, opts, blob, &err) : FMR_ENOMEM;
    if (prep_rc) fprintf(stderr, "fastmri-regen: rank %d: %s\n", st->rank, err.msg);
  }
  int any_fail = 0;
  MPI_Allreduce(&prep_rc, &any_fail, 1, MPI_INT, MPI_MIN, st->comm);
  if (any_fail) goto done;
  if (!opts->log_level && !getenv("FMR_LOG_LEVEL"))
    fmr_log_parse_level(st->cfg.log_level, &fmr_log_threshold);

  int wrc = share_fft_wisdom(st, &err);
  if (wrc) {
    if (st->rank == 0) fprintf(stderr, "fastmri-regen: %s\n", err.msg);
    goto done;
  }

  size_t n = json_array_size(st->tasks);
  int interrupted = 0;
  if (fmr_volume_ctx_new(&st->cfg, st->ann, st->run_key, &vctx, &err)) goto done;
  if (st->rank == 0) {
    records = calloc(n ? n : 1, sizeof *records);
    timing = calloc(n ? n : 1, sizeof *timing);
    if (!records || !timing) goto done;
    FMR_LOG(FMR_LOG_INFO, "%zu volumes, %d rank(s), output in %s", n, st->size,
            st->cfg.output_dir);
    if (st->size == 1) serial_loop(st, vctx, records, timing, &interrupted);
    else coordinator_loop(st, records, timing, &interrupted);
  } else {
    worker_loop(st, vctx);
  }

  if (st->rank == 0) {
    json_t *arr = json_array();
    size_t failed = 0, remaining = 0;
    for (size_t i = 0; i < n; i++) {
      remaining += records[i] == NULL;
      if (!records[i]) continue;
      json_array_append(arr, records[i]);
      const char *s = json_string_value(json_object_get(records[i], "status"));
      if (!s || strcmp(s, "ok") != 0) failed++;
    }
    fmr_run_inputs in = {
        .cfg = &st->cfg,
        .config_sha256 = st->config_sha,
        .annotations_sha256 = st->csv_sha,
        .file_list_sha256 = st->have_list ? st->list_sha : NULL,
        .seg_codes_sha256 = st->seg_codes_sha[0] ? st->seg_codes_sha : NULL,
        .ann = st->ann,
        .remaining = remaining,
    };
    char mpiv[MPI_MAX_LIBRARY_VERSION_STRING];
    int mpivlen = 0;
    MPI_Get_library_version(mpiv, &mpivlen);
    char *nl = strchr(mpiv, ',');
    if (nl) *nl = '\0'; /* keep "Open MPI vX.Y.Z"; the rest names the build host and date */
    in.mpi_version = mpiv;
    int mrc = fmr_manifest_write(&in, arr, &err);
    json_decref(arr);
    if (mrc) {
      fprintf(stderr, "fastmri-regen: %s\n", err.msg);
      exit_code = FMR_EXIT_FAILED;
    } else {
      exit_code = interrupted ? FMR_EXIT_INTERRUPTED : failed ? FMR_EXIT_FAILED : FMR_EXIT_OK;
    }
    if (write_run_report(st, records, timing, now_seconds() - t0, interrupted, &err))
      FMR_LOG(FMR_LOG_WARN, "%s", err.msg);
    FMR_LOG(FMR_LOG_INFO, "%zu volumes: %zu not ok%s; manifest %s/manifest.json", n, failed,
            interrupted ? " (interrupted)" : "", st->cfg.output_dir);
  }
done:
  MPI_Bcast(&exit_code, 1, MPI_INT, 0, st->comm);
  if (records)
    for (size_t i = 0; i < json_array_size(st->tasks); i++) json_decref(records[i]);
  free(records);
  free(timing);
  fmr_volume_ctx_free(&vctx);
  free(blob_text);
  json_decref(blob);
  return exit_code;
}

int fmr_sched_main(int *argc, char ***argv, const fmr_run_opts *opts) {
  if (MPI_Init(argc, argv) != MPI_SUCCESS) {
    fprintf(stderr, "fastmri-regen: MPI_Init failed\n");
    return FMR_EXIT_USAGE;
  }
  fftwf_mpi_init();
  run_state st;
  memset(&st, 0, sizeof st);
  MPI_Comm_dup(MPI_COMM_WORLD, &st.comm);
  /* Errors become values we report, not aborts from inside the MPI library. */
  MPI_Comm_set_errhandler(st.comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(st.comm, &st.rank);
  MPI_Comm_size(st.comm, &st.size);
  fmr_log_set_rank(st.size > 1 ? st.rank : -1);
  const char *env_level = getenv("FMR_LOG_LEVEL");
  if (opts->log_level) fmr_log_parse_level(opts->log_level, &fmr_log_threshold);
  else if (env_level) fmr_log_parse_level(env_level, &fmr_log_threshold);
  install_signal_handlers();

  int exit_code = run(&st, opts);

  fmr_annotations_free(&st.ann);
  json_decref(st.tasks);
  if (st.have_cfg) fmr_config_free(&st.cfg);
  MPI_Comm_free(&st.comm);
  fftwf_mpi_cleanup();
  MPI_Finalize();
  return exit_code;
}

static int cmp_problem(const void *a, const void *b) {
  const char *x = json_string_value(json_object_get(*(json_t *const *)a, "path"));
  const char *y = json_string_value(json_object_get(*(json_t *const *)b, "path"));
  return strcmp(x ? x : "", y ? y : "");
}

static int verify(MPI_Comm comm, int rank, int size, const char *outdir, int json_out) {
  fmr_err err;
  fmr_err_clear(&err);
  json_t *expected = NULL, *problems = json_array();
  char *text = NULL;
  int status = 0;
  if (rank == 0) {
    status = fmr_verify_expected(outdir, &expected, &err);
    if (status) fprintf(stderr, "fastmri-regen verify: %s\n", err.msg);
    else text = json_dumps(expected, JSON_COMPACT);
  }
  MPI_Bcast(&status, 1, MPI_INT, 0, comm);
  if (status) {
    json_decref(problems);
    return FMR_EXIT_USAGE;
  }
  run_state st;
  memset(&st, 0, sizeof st);
  st.comm = comm;
  st.rank = rank;
  if (bcast_text(&st, &text)) {
    free(text);
    json_decref(problems);
    return FMR_EXIT_USAGE;
  }
  if (rank != 0) expected = json_loads(text, 0, NULL);
  free(text);
  text = NULL;
  /* Round-robin over the sorted list: neighbouring files (one volume's slices) spread over ranks. */
  for (size_t i = (size_t)rank; i < json_array_size(expected); i += (size_t)size) {
    json_t *p = fmr_verify_check(outdir, json_array_get(expected, i));
    if (p) json_array_append_new(problems, p);
  }
  if (rank != 0) {
    text = json_dumps(problems, JSON_COMPACT);
    MPI_Send(text, (int)strlen(text), MPI_CHAR, 0, TAG_DONE, comm);
    free(text);
  } else {
    for (int r = 1; r < size; r++) {
      MPI_Status stt;
      int len = 0;
      MPI_Probe(r, TAG_DONE, comm, &stt);
      MPI_Get_count(&stt, MPI_CHAR, &len);
      char *buf = malloc((size_t)len + 1);
      if (!buf) break;
      MPI_Recv(buf, len, MPI_CHAR, r, TAG_DONE, comm, MPI_STATUS_IGNORE);
      buf[len] = '\0';
      json_t *more = json_loads(buf, 0, NULL);
      free(buf);
      json_array_extend(problems, more);
      json_decref(more);
    }
    if (fmr_verify_unexpected(outdir, expected, problems, &err))
      fprintf(stderr, "fastmri-regen verify: %s\n", err.msg);
    size_t n = json_array_size(problems);
    json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    for (size_t i = 0; sorted && i < n; i++) sorted[i] = json_array_get(problems, i);
    if (sorted) qsort(sorted, n, sizeof *sorted, cmp_problem);
    size_t missing = 0, changed = 0, unexpected = 0;
    json_t *list = json_array();
    for (size_t i = 0; sorted && i < n; i++) {
      const char *kind = json_string_value(json_object_get(sorted[i], "problem"));
      missing += strcmp(kind, "missing") == 0;
      changed += strcmp(kind, "changed") == 0;
      unexpected += strcmp(kind, "unexpected") == 0;
      json_array_append(list, sorted[i]);
      if (!json_out)
        printf("%s: %s (%s)\n", kind, json_string_value(json_object_get(sorted[i], "path")),
               json_string_value(json_object_get(sorted[i], "detail")));
    }
    free(sorted);
    size_t checked = json_array_size(expected);
    if (json_out) {
      json_t *rep = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "outdir", outdir, "checked",
                              (json_int_t)checked, "missing", (json_int_t)missing, "changed",
                              (json_int_t)changed, "unexpected", (json_int_t)unexpected,
                              "problems", list);
      char *out = fmr_json_dumps(rep);
      if (out) fputs(out, stdout);
      free(out);
      json_decref(rep);
    } else {
      json_decref(list);
      printf("%zu files checked: %zu missing, %zu changed, %zu unexpected\n", checked, missing,
             changed, unexpected);
    }
    status = n ? FMR_EXIT_FAILED : FMR_EXIT_OK;
  }
  json_decref(expected);
  json_decref(problems);
  MPI_Bcast(&status, 1, MPI_INT, 0, comm);
  return status;
}

int fmr_sched_verify(int *argc, char ***argv, const char *outdir, int json_out) {
  if (MPI_Init(argc, argv) != MPI_SUCCESS) {
    fprintf(stderr, "fastmri-regen: MPI_Init failed\n");
    return FMR_EXIT_USAGE;
  }
  MPI_Comm comm;
  int rank = 0, size = 1;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int status = verify(comm, rank, size, outdir, json_out);
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return status;
}
