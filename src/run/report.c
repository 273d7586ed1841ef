/* The run report and verify's printed report (report.h). */
#include "fmr/run/report.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmr/cmd/cmd.h"
#include "fmr/output/manifest.h"
#include "fmr/util/fsutil.h"

#define REPORTS_DIR ".fmr/reports"

static const char *status_name(fmr_status s) {
  return s == FMR_STATUS_OK ? "ok" : s == FMR_STATUS_MISSING ? "missing" : "failed";
}

static int is_report(const struct dirent *e) {
  size_t n = strlen(e->d_name);
  return strncmp(e->d_name, "shard-", 6) == 0 && n > 5 && strcmp(e->d_name + n - 5, ".json") == 0;
}

json_t *fmr_report_take_shards(const char *outdir) {
  json_t *all = json_array();
  char dir[PATH_MAX];
  fmr_err err;
  struct dirent **names = NULL;
  if (!all || fmr_path_join(dir, sizeof dir, outdir, REPORTS_DIR, &err)) return all;
  int n = scandir(dir, &names, is_report, alphasort);
  for (int i = 0; i < n; i++) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) < (int)sizeof path) {
      json_t *r = json_load_file(path, 0, NULL);
      if (r) json_array_append_new(all, r);
      unlink(path);
    }
    free(names[i]);
  }
  free(names);
  rmdir(dir);
  return all;
}

static json_t *stage_object(const fmr_stage_times *t) {
  json_t *o = json_object();
  for (int k = 0; o && k < FMR_NSTAGES; k++)
    json_object_set_new(o, fmr_stage_name((fmr_stage_id)k), json_real(t->seconds[k]));
  return o;
}

int fmr_report_write_run(const fmr_plan *p, fmr_record *const *records,
                         const fmr_volume_timing *timing, const fmr_run_summary *s, fmr_err *err) {
  const fmr_config *cfg = fmr_plan_config(p);
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
  size_t n = fmr_plan_ntasks(p), done = 0, reused = 0;
  fmr_stage_times totals = {{0}};
  int nranks = s->ranks > 0 ? s->ranks : 1;
  size_t *per_vol = calloc((size_t)nranks, sizeof *per_vol);
  size_t *per_reused = calloc((size_t)nranks, sizeof *per_reused);
  double *per_busy = calloc((size_t)nranks, sizeof *per_busy);
  json_t *vols = json_array(), *ranks = json_array(), *rep = NULL;
  char *text = NULL;
  int rc = 0;
  if (!per_vol || !per_reused || !per_busy || !vols || !ranks) {
    rc = fmr_err_set(err, FMR_ENOMEM, "run report: out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    const char *name = fmr_plan_task(p, i)->name;
    if (!records[i]) {
      json_array_append_new(vols, json_pack("{s:s, s:s}", "name", name, "state", "not started"));
      continue;
    }
    done++;
    reused += timing[i].reused != 0;
    int r = timing[i].rank >= 0 && timing[i].rank < nranks ? timing[i].rank : 0;
    per_vol[r]++;
    per_reused[r] += timing[i].reused != 0;
    per_busy[r] += timing[i].seconds;
    json_t *vol = json_pack("{s:s, s:s, s:b, s:i, s:f}", "name", name, "state",
                            status_name(fmr_record_status(records[i])), "reused",
                            timing[i].reused, "rank", timing[i].rank, "seconds",
                            timing[i].seconds);
    if (vol && !timing[i].reused) {
      json_t *st = stage_object(&timing[i].stages);
      if (st) json_object_set_new(vol, "stages", st);
      for (int k = 0; k < FMR_NSTAGES; k++) totals.seconds[k] += timing[i].stages.seconds[k];
    }
    json_array_append_new(vols, vol);
  }
  for (int r = 0; r < nranks; r++)
    json_array_append_new(ranks, json_pack("{s:i, s:I, s:I, s:f, s:f, s:f}", "rank", r, "volumes",
                                           (json_int_t)per_vol[r], "reused",
                                           (json_int_t)per_reused[r], "busy_seconds", per_busy[r],
                                           "max_wait_seconds", s->max_wait ? s->max_wait[r] : 0.0,
                                           "peak_rss_mb",
                                           s->peak_rss_mb ? s->peak_rss_mb[r] : 0.0));
  rep = json_pack("{s:s, s:s, s:i, s:f, s:b, s:s?, s:b, s:I, s:I, s:I, s:I, s:O, s:O}", "format",
                  "fastmri-regen-run-report/1", "host", host, "ranks", nranks, "wall_seconds",
                  s->wall_seconds, "interrupted", s->stopped_by != NULL, "stopped_by",
                  s->stopped_by, "storage_fault", s->storage_fault, "volumes", (json_int_t)n,
                  "processed", (json_int_t)done, "reused", (json_int_t)reused, "remaining",
                  (json_int_t)(n - done), "per_rank", ranks, "schedule", vols);
  /* Summed over the volumes this run processed: where the run's compute time went. */
  if (rep) json_object_set_new(rep, "stage_seconds", stage_object(&totals));
  if (rep && s->shard_count)
    json_object_set_new(rep, "shard", json_pack("[I, I]", (json_int_t)s->shard_index,
                                                (json_int_t)s->shard_count));
  if (rep && s->merge) json_object_set(rep, "shards", s->shards ? s->shards : json_array());
  /* A failed volume has no committed record; the merge takes it from the shard's report. */
  for (size_t i = 0; rep && s->shard_count && i < n; i++) {
    if (!records[i] || fmr_record_status(records[i]) == FMR_STATUS_OK) continue;
    json_t *failed = json_object_get(rep, "failed");
    if (!failed) json_object_set_new(rep, "failed", failed = json_array());
    json_array_append_new(failed, fmr_record_to_json(records[i]));
  }
  text = rep ? fmr_json_dumps(rep) : NULL;
  if (!text) {
    rc = fmr_err_set(err, FMR_ENOMEM, "run report: out of memory");
    goto done;
  }
  char path[PATH_MAX], name[80];
  if (s->shard_count) {
    char dir[PATH_MAX];
    snprintf(name, sizeof name, "shard-%zu-of-%zu.json", s->shard_index, s->shard_count);
    rc = fmr_path_join(dir, sizeof dir, cfg->output_dir, REPORTS_DIR, err);
    if (!rc) rc = fmr_mkdirs(dir, err);
    if (!rc) rc = fmr_path_join(path, sizeof path, dir, name, err);
  } else {
    rc = fmr_path_join(path, sizeof path, cfg->output_dir, "run-report.json", err);
  }
  if (!rc) rc = fmr_write_file_atomic(path, text, strlen(text), err);
done:
  free(text);
  json_decref(rep);
  json_decref(vols);
  json_decref(ranks);
  free(per_vol);
  free(per_reused);
  free(per_busy);
  return rc;
}

int fmr_report_manifest_state(const char *outdir, int *complete, size_t *remaining, fmr_err *err) {
  char path[PATH_MAX];
  int rc = fmr_path_join(path, sizeof path, outdir, "manifest.json", err);
  if (rc) return rc;
  json_error_t je;
  json_t *m = json_load_file(path, 0, &je);
  if (!m) return fmr_err_set(err, FMR_EFORMAT, "%s: %s", path, je.text);
  json_t *c = json_object_get(m, "complete");
  *complete = !json_is_false(c);
  *remaining = (size_t)json_integer_value(json_object_get(m, "remaining"));
  json_decref(m);
  return 0;
}

static int cmp_problem(const void *a, const void *b) {
  const char *x = json_string_value(json_object_get(*(json_t *const *)a, "path"));
  const char *y = json_string_value(json_object_get(*(json_t *const *)b, "path"));
  return strcmp(x ? x : "", y ? y : "");
}

int fmr_report_verify(const char *outdir, const json_t *expected, const json_t *problems,
                      int complete, size_t remaining, int json_out) {
  size_t n = json_array_size(problems);
  json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
  json_t *list = json_array();
  if (!sorted || !list) {
    free(sorted);
    json_decref(list);
    fprintf(stderr, "fastmri-regen verify: out of memory\n");
    return FMR_EXIT_FAILED;
  }
  for (size_t i = 0; i < n; i++) sorted[i] = json_array_get(problems, i);
  qsort(sorted, n, sizeof *sorted, cmp_problem);
  size_t missing = 0, changed = 0, unexpected = 0;
  for (size_t i = 0; i < n; i++) {
    const char *kind = json_string_value(json_object_get(sorted[i], "problem"));
    if (!kind) kind = "?";
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
    json_t *rep = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "outdir", outdir,
                            "complete", complete, "remaining", (json_int_t)remaining, "checked",
                            (json_int_t)checked, "missing", (json_int_t)missing, "changed",
                            (json_int_t)changed, "unexpected", (json_int_t)unexpected,
                            "problems", list);
    char *out = rep ? fmr_json_dumps(rep) : NULL;
    if (out) fputs(out, stdout);
    free(out);
    json_decref(rep);
  } else {
    json_decref(list);
    if (!complete)
      printf("incomplete: the run that wrote this manifest stopped with %zu volume(s) still to "
             "do; rerun it to finish\n",
             remaining);
    printf("%zu files checked: %zu missing, %zu changed, %zu unexpected\n", checked, missing,
           changed, unexpected);
  }
  return n || !complete ? FMR_EXIT_FAILED : FMR_EXIT_OK;
}
