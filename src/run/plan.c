/* The job plan (plan.h). Everything a run decides before any volume is opened, with no MPI. */
#include "fmr/run/plan.h"

#include "fmr/output/store.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fmr/dicom/uid.h"
#include "fmr/input/filelist.h"
#include "fmr/recon/kspace.h"
#include "fmr/recon/recon.h"
#include "fmr/util/fsutil.h"
#include "fmr/util/log.h"

#define MAX_CONFIG_BYTES (1u << 20)
#define MAX_CSV_BYTES (256u << 20)
#define MAX_SEG_CODES_BYTES (1u << 20)

struct fmr_plan {
  fmr_config cfg;
  int have_cfg;
  char *config_text, *csv_text, *codes_text; /* codes_text NULL: built-in table (or SEGs off) */
  size_t config_len, csv_len, codes_len;
  fmr_annotations *ann;
  fmr_seg_codes *codes;
  char config_sha[65], csv_sha[65], list_sha[65], codes_sha[65];
  int have_list;
  char key[65];
  fmr_task *tasks;
  size_t ntasks;
  fmr_filelist_skip *skipped; /* rank 0 only: file-list lines that name no volume */
  size_t nskipped;
};

static char *dup_or_null(const char *s, int *oom) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *oom = 1;
  return d;
}

static void task_clear(fmr_task *t) {
  free(t->name);
  free(t->path);
  free(t->rel_path);
  free(t->lookup_error);
  memset(t, 0, sizeof *t);
}

void fmr_plan_free(fmr_plan **p) {
  if (!p || !*p) return;
  fmr_plan *q = *p;
  for (size_t i = 0; i < q->ntasks; i++) task_clear(&q->tasks[i]);
  free(q->tasks);
  for (size_t i = 0; i < q->nskipped; i++) free(q->skipped[i].text);
  free(q->skipped);
  fmr_seg_codes_free(&q->codes);
  fmr_annotations_free(&q->ann);
  if (q->have_cfg) fmr_config_free(&q->cfg);
  free(q->config_text);
  free(q->csv_text);
  free(q->codes_text);
  free(q);
  *p = NULL;
}

static int set_date(fmr_config *cfg, const char *date, const char *tod, fmr_err *err) {
  char *d = strdup(date), *t = strdup(tod);
  if (!d || !t) {
    free(d);
    free(t);
    return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  }
  free(cfg->date);
  free(cfg->time);
  cfg->date = d;
  cfg->time = t;
  return 0;
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
  return set_date(cfg, date, tod, err);
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

/* ---- keys ----------------------------------------------------------------------------------- */

/* A growable text buffer for key material; `oom` sticks once set. */
typedef struct keybuf {
  char *s;
  size_t len, cap;
  int oom;
} keybuf;

static void kb_printf(keybuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kb_printf(keybuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap ? b->cap : 256);
    while (cap <= b->len + (size_t)n) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

/* Strings in key material are length-prefixed, so no choice of text can collide with another. */
static void kb_str(keybuf *b, const char *tag, const char *s) {
  if (s) kb_printf(b, "%s %zu:%s\n", tag, strlen(s), s);
  else kb_printf(b, "%s -\n", tag);
}

/* The run key hashes the settings that shape outputs (fmr_config_settings), not the config text:
 * a comment, log.level or limits.* change no output, and hashing the text redid every volume of a
 * job resubmitted with `log.level: debug`. Which volumes there are and what they hold (inputs,
 * list, annotation rows) are in the per-volume keys; the SEG code table by content, below. The
 * assertion makes a new config field a decision: a setting that changes outputs belongs in
 * fmr_config_settings. */
_Static_assert(sizeof(void *) != 8 || sizeof(fmr_config) == 248,
               "fmr_config changed: a new setting that changes outputs goes in fmr_config_settings "
               "(input/config.c); then update this size");

static int run_key(fmr_plan *p, fmr_err *err) {
  keybuf b = {0};
  kb_str(&b, "tool", "fastmri-regen " FMR_VERSION);
  json_t *settings = fmr_config_settings(&p->cfg);
  char *text = settings ? json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(settings);
  if (!text) b.oom = 1;
  kb_str(&b, "settings", text);
  free(text);
  size_t nv = fmr_annotations_vocab_size(p->ann);
  kb_printf(&b, "vocabulary %zu\n", nv);
  for (size_t k = 0; k < nv; k++) kb_str(&b, "label", fmr_annotations_vocab(p->ann, k));
  kb_str(&b, "seg-codes", p->codes ? p->codes_sha : NULL);
  kb_str(&b, "date", p->cfg.date);
  kb_str(&b, "time", p->cfg.time);
  if (b.oom) {
    free(b.s);
    return fmr_err_set(err, FMR_ENOMEM, "run key: out of memory");
  }
  fmr_sha256_hex(b.s, b.len, p->key);
  free(b.s);
  return 0;
}

/* The volume's own annotation rows, canonically: boxes in CSV order (labels by name), study-level
 * labels, the counts and problems its record reports. CSV line numbers of boxes are left out: rows
 * added for other volumes move them without changing this volume's outputs. */
static void annotation_material(keybuf *b, const fmr_annotations *ann, const char *name) {
  const fmr_volume_annotations *va = fmr_annotations_find(ann, name);
  if (!va) {
    kb_printf(b, "annotations none\n");
    return;
  }
  kb_printf(b, "annotations rows %zu duplicates %zu trimmed %zu study_rows %zu degenerate %zu\n",
            va->rows, va->duplicates, va->trimmed, va->study_rows, va->degenerate);
  for (size_t i = 0; i < va->nboxes; i++) {
    const fmr_box *x = &va->boxes[i];
    kb_printf(b, "box %ld %ld %ld %ld %ld ", x->slice, x->x, x->y, x->width, x->height);
    kb_str(b, "label", fmr_annotations_vocab(ann, (size_t)x->label));
  }
  for (size_t i = 0; i < va->nstudy; i++)
    kb_str(b, "study", fmr_annotations_vocab(ann, (size_t)va->study_labels[i]));
  for (size_t i = 0; i < va->nproblems; i++) kb_str(b, "problem", va->problems[i]);
}

static int task_key(const fmr_plan *p, fmr_task *t, fmr_err *err) {
  keybuf b = {0};
  kb_str(&b, "run", p->key);
  kb_str(&b, "name", t->name);
  kb_str(&b, "input", t->rel_path);
  kb_printf(&b, "identity %llu %lld\n", (unsigned long long)t->input_bytes,
            (long long)t->input_mtime_ns);
  kb_printf(&b, "reviewed %d\n", t->reviewed != 0);
  annotation_material(&b, p->ann, t->name);
  if (b.oom) {
    free(b.s);
    return fmr_err_set(err, FMR_ENOMEM, "%s: task key: out of memory", t->name);
  }
  fmr_sha256_hex(b.s, b.len, t->key);
  free(b.s);
  return 0;
}

/* ---- building ------------------------------------------------------------------------------- */

static int cmp_schedule(const void *a, const void *b) {
  const fmr_task *x = a, *y = b;
  if (x->work != y->work) return x->work < y->work ? 1 : -1; /* biggest first: a short tail */
  return strcmp(x->name, y->name);
}

static int add_task(fmr_plan *p, const fmr_file_index *ix, const char *name, int reviewed,
                    fmr_err *err) {
  fmr_task *t = &p->tasks[p->ntasks];
  memset(t, 0, sizeof *t);
  const char *path = NULL, *rel = NULL;
  fmr_err lerr;
  fmr_err_clear(&lerr);
  int oom = 0;
  int lrc = fmr_file_index_find(ix, name, &path, &rel, &lerr);
  t->name = dup_or_null(name, &oom);
  t->reviewed = reviewed;
  if (lrc) {
    t->lookup_error = dup_or_null(lerr.msg, &oom);
  } else {
    t->path = dup_or_null(path, &oom);
    t->rel_path = dup_or_null(rel, &oom);
    /* File size is a cheap, good proxy for the work; metadata-only HDF5 opens would cost a
     * second pass over thousands of files. */
    struct stat sb;
    if (stat(path, &sb) == 0) {
      t->input_bytes = (uint64_t)sb.st_size;
      t->input_mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + (int64_t)sb.st_mtim.tv_nsec;
      t->work = (uint64_t)sb.st_size;
    }
  }
  p->ntasks++;
  if (oom) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  return 0;
}

static int load_seg_codes(fmr_plan *p, fmr_err *err) {
  if (!p->cfg.write_seg) return 0;
  int rc;
  if (p->codes_text) rc = fmr_seg_codes_parse(p->cfg.seg_codes, p->codes_text, p->codes_len,
                                              &p->codes, err);
  else rc = fmr_seg_codes_builtin(&p->codes, err);
  if (!rc) snprintf(p->codes_sha, sizeof p->codes_sha, "%s", fmr_seg_codes_sha256(p->codes));
  return rc;
}

int fmr_plan_build(const char *config_path, fmr_plan **out, fmr_err *err) {
  *out = NULL;
  fmr_plan *p = calloc(1, sizeof *p);
  char *list_text = NULL;
  size_t list_len = 0;
  fmr_filelist fl = {0};
  fmr_file_index *ix = NULL;
  if (!p) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  int rc = fmr_read_file(config_path, MAX_CONFIG_BYTES, &p->config_text, &p->config_len, err);
  if (rc) goto done;
  rc = fmr_config_parse(config_path, p->config_text, p->config_len, &p->cfg, err);
  if (rc) goto done;
  p->have_cfg = 1;
  rc = resolve_date(&p->cfg, err);
  if (rc) goto done;
  /* A wrong output.dir (/, someone's home) is refused before the CSV, the list or any input is
   * read: within a second, nothing walked. */
  rc = fmr_store_check_owner(p->cfg.output_dir, err);
  if (rc) goto done;
  fmr_sha256_hex(p->config_text, p->config_len, p->config_sha);

  rc = fmr_read_file(p->cfg.annotations, MAX_CSV_BYTES, &p->csv_text, &p->csv_len, err);
  if (rc) goto done;
  fmr_sha256_hex(p->csv_text, p->csv_len, p->csv_sha);
  rc = fmr_annotations_parse_limited(p->cfg.annotations, p->csv_text, p->csv_len, &p->cfg.limits,
                                     &p->ann, err);
  if (rc) goto done;
  if (p->cfg.file_list) {
    rc = fmr_read_file(p->cfg.file_list, MAX_CSV_BYTES, &list_text, &list_len, err);
    if (rc) goto done;
    fmr_sha256_hex(list_text, list_len, p->list_sha);
    p->have_list = 1;
    rc = fmr_filelist_parse_limited(p->cfg.file_list, list_text, list_len, &p->cfg.limits, &fl,
                                    err);
    if (rc) goto done;
    /* Lines that name no volume are said once here and counted in the manifest; they are not
     * volumes, so they cannot be missing ones (the real knee list ends with "Knee data"). */
    for (size_t k = 0; k < fl.nskipped; k++)
      FMR_LOG(FMR_LOG_WARN, "%s:%zu: %s names no volume: skipped", p->cfg.file_list,
              fl.skipped[k].line, fl.skipped[k].text);
    p->skipped = fl.skipped;
    p->nskipped = fl.nskipped;
    fl.skipped = NULL;
    fl.nskipped = 0;
  }
  /* A broken code table would fail every volume with findings: refuse it before anything starts. */
  if (p->cfg.write_seg && p->cfg.seg_codes && *p->cfg.seg_codes) {
    rc = fmr_read_file(p->cfg.seg_codes, MAX_SEG_CODES_BYTES, &p->codes_text, &p->codes_len, err);
    if (rc) goto done;
  }
  rc = load_seg_codes(p, err);
  if (rc) goto done;
  rc = check_output_outside_inputs(&p->cfg, err);
  if (rc) goto done;
  rc = run_key(p, err);
  if (rc) goto done;

  rc = fmr_file_index_build((const char *const *)p->cfg.input_dirs, p->cfg.ninput_dirs, &ix, err);
  if (rc) goto done;
  size_t cap = fl.n + (p->cfg.all_files ? fmr_file_index_count(ix) : 0);
  p->tasks = calloc(cap ? cap : 1, sizeof *p->tasks);
  if (!p->tasks) {
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < fl.n && !rc; i++) rc = add_task(p, ix, fl.names[i], 1, err);
  if (p->cfg.all_files) {
    for (size_t i = 0; i < fmr_file_index_count(ix) && !rc; i++) {
      const char *name = fmr_file_index_name(ix, i);
      int listed = 0;
      for (size_t k = 0; k < fl.n && !listed; k++) listed = strcmp(fl.names[k], name) == 0;
      if (!listed) rc = add_task(p, ix, name, 0, err);
    }
  }
  for (size_t i = 0; i < p->ntasks && !rc; i++) rc = task_key(p, &p->tasks[i], err);
  if (rc) goto done;
  qsort(p->tasks, p->ntasks, sizeof *p->tasks, cmp_schedule);
done:
  fmr_file_index_free(&ix);
  fmr_filelist_free(&fl);
  free(list_text);
  if (rc) fmr_plan_free(&p);
  *out = p;
  return rc;
}

/* ---- bytes ---------------------------------------------------------------------------------- */

char *fmr_plan_serialize(const fmr_plan *p, size_t *len) {
  json_t *tasks = json_array();
  for (size_t i = 0; tasks && i < p->ntasks; i++) {
    const fmr_task *t = &p->tasks[i];
    if (json_array_append_new(
            tasks, json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:I, s:I, s:I, s:s}", "name", t->name,
                             "path", t->path, "rel", t->rel_path, "lookup_error", t->lookup_error,
                             "reviewed", t->reviewed, "bytes", (json_int_t)t->input_bytes,
                             "mtime_ns", (json_int_t)t->input_mtime_ns, "work",
                             (json_int_t)t->work, "key", t->key))) {
      json_decref(tasks);
      return NULL;
    }
  }
  json_t *j = tasks ? json_pack("{s:s%, s:s%, s:s, s:s, s:s, s:s, s:s?, s:s, s:o}", "config",
                                p->config_text, p->config_len, "csv", p->csv_text, p->csv_len,
                                "date", p->cfg.date, "time", p->cfg.time, "config_sha256",
                                p->config_sha, "csv_sha256", p->csv_sha, "list_sha256",
                                p->have_list ? p->list_sha : NULL, "key", p->key, "tasks", tasks)
                    : NULL;
  if (j && p->codes_text &&
      json_object_set_new(j, "seg_codes", json_stringn(p->codes_text, p->codes_len))) {
    json_decref(j);
    return NULL;
  }
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(j);
  if (text && len) *len = strlen(text);
  return text;
}

static int copy_hex(char dst[65], const json_t *v) {
  const char *s = json_string_value(v);
  if (!s || strlen(s) != 64) return -1;
  memcpy(dst, s, 65);
  return 0;
}

static int copy_text(char **dst, size_t *dlen, const json_t *v) {
  if (!json_is_string(v)) return -1;
  size_t n = json_string_length(v);
  *dst = malloc(n + 1);
  if (!*dst) return -1;
  memcpy(*dst, json_string_value(v), n);
  (*dst)[n] = '\0';
  *dlen = n;
  return 0;
}

int fmr_plan_deserialize(const char *config_path, const char *text, size_t len, fmr_plan **out,
                         fmr_err *err) {
  *out = NULL;
  json_error_t je;
  json_t *j = json_loadb(text, len, 0, &je);
  if (!j) return fmr_err_set(err, FMR_EINVAL, "plan: unreadable: %s", je.text);
  int rc = 0;
  fmr_plan *p = calloc(1, sizeof *p);
  json_t *tasks = json_object_get(j, "tasks");
  if (!p) {
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
    goto done;
  }
  if (copy_text(&p->config_text, &p->config_len, json_object_get(j, "config")) ||
      copy_text(&p->csv_text, &p->csv_len, json_object_get(j, "csv")) ||
      (json_is_string(json_object_get(j, "seg_codes")) &&
       copy_text(&p->codes_text, &p->codes_len, json_object_get(j, "seg_codes"))) ||
      copy_hex(p->config_sha, json_object_get(j, "config_sha256")) ||
      copy_hex(p->csv_sha, json_object_get(j, "csv_sha256")) ||
      copy_hex(p->key, json_object_get(j, "key")) || !json_is_array(tasks) ||
      !json_is_string(json_object_get(j, "date")) || !json_is_string(json_object_get(j, "time"))) {
    rc = fmr_err_set(err, FMR_EINVAL, "plan: malformed");
    goto done;
  }
  p->have_list = copy_hex(p->list_sha, json_object_get(j, "list_sha256")) == 0;
  rc = fmr_config_parse(config_path, p->config_text, p->config_len, &p->cfg, err);
  if (rc) goto done;
  p->have_cfg = 1;
  rc = set_date(&p->cfg, json_string_value(json_object_get(j, "date")),
                json_string_value(json_object_get(j, "time")), err);
  if (rc) goto done;
  rc = fmr_annotations_parse_limited(p->cfg.annotations, p->csv_text, p->csv_len, &p->cfg.limits,
                                     &p->ann, err);
  if (rc) goto done;
  rc = load_seg_codes(p, err);
  if (rc) goto done;
  size_t n = json_array_size(tasks);
  p->tasks = calloc(n ? n : 1, sizeof *p->tasks);
  if (!p->tasks) {
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_array_get(tasks, i);
    fmr_task *t = &p->tasks[p->ntasks++];
    int oom = 0;
    t->name = dup_or_null(json_string_value(json_object_get(o, "name")), &oom);
    t->path = dup_or_null(json_string_value(json_object_get(o, "path")), &oom);
    t->rel_path = dup_or_null(json_string_value(json_object_get(o, "rel")), &oom);
    t->lookup_error = dup_or_null(json_string_value(json_object_get(o, "lookup_error")), &oom);
    t->reviewed = json_is_true(json_object_get(o, "reviewed"));
    t->input_bytes = (uint64_t)json_integer_value(json_object_get(o, "bytes"));
    t->input_mtime_ns = (int64_t)json_integer_value(json_object_get(o, "mtime_ns"));
    t->work = (uint64_t)json_integer_value(json_object_get(o, "work"));
    if (oom) {
      rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
      goto done;
    }
    if (!t->name || copy_hex(t->key, json_object_get(o, "key"))) {
      rc = fmr_err_set(err, FMR_EINVAL, "plan: malformed task %zu", i);
      goto done;
    }
  }
done:
  json_decref(j);
  if (rc) fmr_plan_free(&p);
  *out = p;
  return rc;
}

/* ---- views ---------------------------------------------------------------------------------- */

static int cmp_name_ptr(const void *a, const void *b) {
  return strcmp((*(const fmr_task *const *)a)->name, (*(const fmr_task *const *)b)->name);
}

int fmr_plan_shard(fmr_plan *p, size_t index, size_t count, fmr_err *err) {
  if (count == 0 || index >= count)
    return fmr_err_set(err, FMR_EINVAL, "shard %zu/%zu: need 0 <= i < N", index, count);
  const fmr_task **byname = calloc(p->ntasks ? p->ntasks : 1, sizeof *byname);
  char *keep = calloc(p->ntasks ? p->ntasks : 1, 1);
  if (!byname || !keep) {
    free(byname);
    free(keep);
    return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < p->ntasks; i++) byname[i] = &p->tasks[i];
  qsort(byname, p->ntasks, sizeof *byname, cmp_name_ptr);
  for (size_t i = index; i < p->ntasks; i += count) keep[byname[i] - p->tasks] = 1;
  size_t n = 0;
  for (size_t i = 0; i < p->ntasks; i++) {
    if (keep[i]) p->tasks[n++] = p->tasks[i]; /* scheduling order is kept */
    else task_clear(&p->tasks[i]);
  }
  p->ntasks = n;
  free(byname);
  free(keep);
  return 0;
}

const fmr_config *fmr_plan_config(const fmr_plan *p) { return &p->cfg; }
const fmr_annotations *fmr_plan_annotations(const fmr_plan *p) { return p->ann; }
const fmr_seg_codes *fmr_plan_seg_codes(const fmr_plan *p) { return p->codes; }
const char *fmr_plan_key(const fmr_plan *p) { return p->key; }
size_t fmr_plan_ntasks(const fmr_plan *p) { return p->ntasks; }
const fmr_task *fmr_plan_task(const fmr_plan *p, size_t i) {
  return i < p->ntasks ? &p->tasks[i] : NULL;
}

size_t fmr_plan_find(const fmr_plan *p, const char *name) {
  for (size_t i = 0; i < p->ntasks; i++)
    if (strcmp(p->tasks[i].name, name) == 0) return i;
  return (size_t)-1;
}

void fmr_plan_run_inputs(const fmr_plan *p, fmr_run_inputs *in) {
  memset(in, 0, sizeof *in);
  in->cfg = &p->cfg;
  in->config_sha256 = p->config_sha;
  in->annotations_sha256 = p->csv_sha;
  in->file_list_sha256 = p->have_list ? p->list_sha : NULL;
  in->seg_codes_sha256 = p->codes ? p->codes_sha : NULL;
  in->ann = p->ann;
  in->skipped = p->skipped;
  in->nskipped = p->nskipped;
}

int fmr_plan_prepare_output(const fmr_plan *p, int sweep, fmr_err *err) {
  fmr_store *s = NULL;
  int rc = fmr_store_open(p->cfg.output_dir, &s, err); /* refuses a directory that is not ours */
  size_t debris = 0;
  if (!rc && sweep) rc = fmr_store_sweep(s, &debris, err);
  if (!rc && debris)
    FMR_LOG(FMR_LOG_INFO, "removed %zu temporary files left by an earlier run", debris);
  fmr_store_free(&s);
  return rc;
}

int fmr_plan_fft_shapes(const fmr_plan *p, size_t *nshapes, fmr_err *err) {
  *nshapes = 0;
  size_t (*shapes)[3] = calloc(p->ntasks ? p->ntasks : 1, sizeof *shapes);
  if (!shapes) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t i = 0; i < p->ntasks && !rc; i++) {
    if (!p->tasks[i].path) continue;
    fmr_kspace *ks = NULL;
    fmr_err kerr;
    /* A file that crashes the HDF5 library must not take rank 0 down before any work starts: the
     * probe opens it in a child first. Its volume reports the problem. */
    if (p->cfg.probe && fmr_kspace_probe(p->tasks[i].path, &p->cfg.limits, &kerr)) continue;
    if (fmr_kspace_open_limited(p->tasks[i].path, &p->cfg.limits, &ks, &kerr)) continue;
    const fmr_kspace_info *info = fmr_kspace_info_of(ks);
    size_t c = info->coils, H = info->H, W = info->W;
    fmr_kspace_close(&ks);
    int seen = 0;
    for (size_t k = 0; k < *nshapes && !seen; k++)
      seen = shapes[k][0] == c && shapes[k][1] == H && shapes[k][2] == W;
    if (seen) continue;
    shapes[*nshapes][0] = c;
    shapes[*nshapes][1] = H;
    shapes[*nshapes][2] = W;
    (*nshapes)++;
    fmr_recon *r = NULL;
    rc = fmr_recon_new(c, H, W, p->cfg.fft_effort, 0, &r, err);
    fmr_recon_free(&r);
  }
  free(shapes);
  return rc;
}
