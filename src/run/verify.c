#include "fmr/run/verify.h"

#include <stdio.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fmr/output/store.h"
#include "fmr/util/fsutil.h"

static int cmp_path(const void *a, const void *b) {
  const char *x = json_string_value(json_object_get(*(json_t *const *)a, "path"));
  const char *y = json_string_value(json_object_get(*(json_t *const *)b, "path"));
  return strcmp(x ? x : "", y ? y : "");
}

int fmr_verify_expected(const char *outdir, json_t **expected, fmr_err *err) {
  char path[PATH_MAX];
  *expected = NULL;
  int rc = fmr_path_join(path, sizeof path, outdir, "manifest.json", err);
  if (rc) return rc;
  json_error_t jerr;
  json_t *m = json_load_file(path, 0, &jerr);
  if (!m)
    return fmr_err_set(err, FMR_EFORMAT, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
  json_t *vols = json_object_get(m, "volumes");
  if (!json_is_array(vols)) {
    json_decref(m);
    return fmr_err_set(err, FMR_EFORMAT, "%s: no \"volumes\" array", path);
  }
  /* The run's own files (dataset.h5, boxes.csv, datalist.json: top-level "outputs") are checked
   * like every volume's. */
  json_t *run_outs = json_object_get(m, "outputs");
  size_t n = json_array_size(run_outs);
  for (size_t i = 0; i < json_array_size(vols); i++)
    n += json_array_size(json_object_get(json_array_get(vols, i), "outputs"));
  json_t **list = calloc(n ? n : 1, sizeof *list);
  if (!list) {
    json_decref(m);
    return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t j = 0; j < json_array_size(run_outs); j++) list[k++] = json_array_get(run_outs, j);
  for (size_t i = 0; i < json_array_size(vols); i++) {
    json_t *outs = json_object_get(json_array_get(vols, i), "outputs");
    for (size_t j = 0; j < json_array_size(outs); j++) list[k++] = json_array_get(outs, j);
  }
  if (n) qsort(list, n, sizeof *list, cmp_path);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, json_pack("{s:O, s:O, s:O}", "path", json_object_get(list[i], "path"),
                                         "bytes", json_object_get(list[i], "bytes"), "sha256",
                                         json_object_get(list[i], "sha256")));
  free(list);
  /* An interrupted or stopped run (SPEC 7): intact files do not make the output complete. The
   * entry travels with the others, so every rank's check reports it the same way. */
  json_t *complete = json_object_get(m, "complete");
  if (json_is_false(complete)) {
    json_int_t remaining = json_integer_value(json_object_get(m, "remaining"));
    json_t *e = json_pack("{s:s, s:I}", "path", "manifest.json", "incomplete", remaining);
    size_t at = 0;
    while (at < json_array_size(arr) &&
           strcmp(json_string_value(json_object_get(json_array_get(arr, at), "path")),
                  "manifest.json") < 0)
      at++;
    json_array_insert_new(arr, at, e);
  }
  json_decref(m);
  *expected = arr;
  return 0;
}

json_t *fmr_verify_check(const char *outdir, const json_t *entry) {
  const char *rel = json_string_value(json_object_get(entry, "path"));
  const char *sha = json_string_value(json_object_get(entry, "sha256"));
  json_int_t bytes = json_integer_value(json_object_get(entry, "bytes"));
  const json_t *incomplete = json_object_get(entry, "incomplete");
  if (incomplete) {
    char detail[128];
    snprintf(detail, sizeof detail, "%lld volumes still to do",
             (long long)json_integer_value(incomplete));
    return json_pack("{s:s, s:s, s:s}", "path", rel ? rel : "manifest.json", "problem",
                     "incomplete", "detail", detail);
  }
  if (!rel || !sha || bytes < 0)
    return json_pack("{s:s, s:s, s:s}", "path", rel ? rel : "?", "problem", "changed", "detail",
                     "malformed manifest entry");
  char detail[256];
  int st = fmr_store_check(outdir, rel, (uint64_t)bytes, sha, detail, sizeof detail);
  if (st == FMR_STORE_INTACT) return NULL;
  return json_pack("{s:s, s:s, s:s}", "path", rel, "problem",
                   st == FMR_STORE_MISSING ? "missing" : "changed", "detail", detail);
}

static int is_expected(const json_t *expected, const char *rel) {
  size_t lo = 0, hi = json_array_size(expected);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *p = json_string_value(json_object_get(json_array_get(expected, mid), "path"));
    int c = strcmp(p ? p : "", rel);
    if (c == 0) return 1;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return 0;
}

typedef struct unexpected_ctx {
  const json_t *expected;
  json_t *problems;
} unexpected_ctx;

static int skip_state(void *ctx, const char *rel) {
  (void)ctx;
  return strcmp(rel, FMR_STORE_STATE_DIR) == 0;
}

static int check_listed(void *ctx, const char *rel, const char *full) {
  (void)full;
  unexpected_ctx *u = ctx;
  if (strcmp(rel, "manifest.json") == 0 || strcmp(rel, "manifest-sha256.txt") == 0 ||
      strcmp(rel, "run-report.json") == 0)
    return 0;
  if (!is_expected(u->expected, rel))
    json_array_append_new(u->problems, json_pack("{s:s, s:s, s:s}", "path", rel, "problem",
                                                 "unexpected", "detail", "not in the manifest"));
  return 0;
}

int fmr_verify_unexpected(const char *outdir, const json_t *expected, json_t *problems,
                          fmr_err *err) {
  unexpected_ctx u = {expected, problems};
  return fmr_walk_files(outdir, skip_state, check_listed, &u, err);
}
