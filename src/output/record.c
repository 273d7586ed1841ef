/* Volume records (record.h): the struct <-> JSON in the manifest's key order, the one place. */
#include "fmr/output/record.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/output/store.h"

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int fmr_strlist_add(fmr_strlist *l, const char *s) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 8;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) return FMR_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  char *c = strdup(s);
  if (!c) return FMR_ENOMEM;
  l->v[l->n++] = c;
  return 0;
}

int fmr_strlist_addf(fmr_strlist *l, const char *fmt, ...) {
  char buf[FMR_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return fmr_strlist_add(l, buf);
}

void fmr_strlist_free(fmr_strlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

fmr_record *fmr_record_new(const char *name, const char *anatomy, const char *input,
                           int reviewed) {
  fmr_record *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->name = strdup(name ? name : "");
  r->anatomy = strdup(anatomy ? anatomy : "");
  r->input = dup_or_null(input);
  r->reviewed = reviewed != 0;
  r->nmse_vs_stored = NAN;
  if (!r->name || !r->anatomy || (input && !r->input)) fmr_record_free(&r);
  return r;
}

int fmr_record_set_status(fmr_record *r, fmr_status status, const char *error) {
  char *e = dup_or_null(error);
  if (error && !e) return FMR_ENOMEM;
  free(r->error);
  r->error = e;
  r->status = status;
  return 0;
}

const char *fmr_record_kind(const char *k) { return fmr_store_kind_name(k); }

int fmr_record_add_output(fmr_record *r, const char *path, const char *kind, uint64_t bytes,
                          const char *sha256) {
  if (r->noutputs == r->capoutputs) {
    size_t cap = r->capoutputs ? 2 * r->capoutputs : 64;
    fmr_output_file *o = realloc(r->outputs, cap * sizeof *o);
    if (!o) return FMR_ENOMEM;
    r->outputs = o;
    r->capoutputs = cap;
  }
  fmr_output_file *f = &r->outputs[r->noutputs];
  f->path = strdup(path);
  if (!f->path) return FMR_ENOMEM;
  f->kind = fmr_record_kind(kind);
  f->bytes = bytes;
  snprintf(f->sha256, sizeof f->sha256, "%s", sha256 ? sha256 : "");
  r->noutputs++;
  return 0;
}

int fmr_record_add_label(fmr_record *r, const char *label, uint64_t boxes, uint64_t pixels) {
  fmr_label_count *l = realloc(r->labels, (r->nlabels + 1) * sizeof *l);
  if (!l) return FMR_ENOMEM;
  r->labels = l;
  l[r->nlabels].label = strdup(label);
  if (!l[r->nlabels].label) return FMR_ENOMEM;
  l[r->nlabels].boxes = boxes;
  l[r->nlabels].pixels = pixels;
  r->nlabels++;
  return 0;
}

void fmr_record_clear_outputs(fmr_record *r) {
  for (size_t i = 0; i < r->noutputs; i++) free(r->outputs[i].path);
  r->noutputs = 0;
}

const char *fmr_record_name(const fmr_record *r) { return r->name; }
fmr_status fmr_record_status(const fmr_record *r) { return r->status; }
const char *fmr_record_error(const fmr_record *r) { return r->error; }
size_t fmr_record_noutputs(const fmr_record *r) { return r->noutputs; }
const fmr_output_file *fmr_record_output(const fmr_record *r, size_t i) {
  return i < r->noutputs ? &r->outputs[i] : NULL;
}
size_t fmr_record_nwarnings(const fmr_record *r) { return r->warnings.n; }
const char *fmr_record_warning(const fmr_record *r, size_t i) {
  return i < r->warnings.n ? r->warnings.v[i] : NULL;
}

const char *fmr_record_status_name(fmr_status s) {
  return s == FMR_STATUS_OK ? "ok" : s == FMR_STATUS_MISSING ? "missing" : "failed";
}

/* ---- warnings summary ------------------------------------------------------------------- */

typedef struct warn_kind {
  char *text; /* the warning with every run of digits as "N" */
  size_t volumes;
  size_t last; /* the last volume counted: a volume counts once per kind */
} warn_kind;

static char *warning_shape(const char *w) {
  char *out = malloc(strlen(w) + 1), *o = out;
  if (!out) return NULL;
  for (const char *p = w; *p;) {
    if (*p >= '0' && *p <= '9') {
      *o++ = 'N';
      while (*p >= '0' && *p <= '9') p++;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

static int cmp_kinds(const void *a, const void *b) {
  const warn_kind *x = a, *y = b;
  if (x->volumes != y->volumes) return x->volumes < y->volumes ? 1 : -1;
  return strcmp(x->text, y->text);
}

char *fmr_record_warnings_summary(fmr_record *const *records, size_t n) {
  warn_kind *kinds = NULL;
  size_t nk = 0, len = 1;
  char *out = NULL;
  int bad = 0;
  for (size_t i = 0; i < n && !bad; i++) {
    const fmr_record *r = records[i];
    for (size_t k = 0; k < r->warnings.n && !bad; k++) {
      char *shape = warning_shape(r->warnings.v[k]);
      if (!shape) {
        bad = 1;
        break;
      }
      size_t j = 0;
      while (j < nk && strcmp(kinds[j].text, shape) != 0) j++;
      if (j < nk) {
        free(shape);
        if (kinds[j].last != i) kinds[j].volumes++;
        kinds[j].last = i;
        continue;
      }
      warn_kind *nkinds = realloc(kinds, (nk + 1) * sizeof *kinds);
      if (!nkinds) {
        free(shape);
        bad = 1;
        break;
      }
      kinds = nkinds;
      kinds[nk].text = shape;
      kinds[nk].volumes = 1;
      kinds[nk].last = i;
      nk++;
    }
  }
  if (!bad) {
    if (nk) qsort(kinds, nk, sizeof *kinds, cmp_kinds);
    for (size_t j = 0; j < nk; j++) len += strlen(kinds[j].text) + 48;
    out = malloc(len);
  }
  if (out) {
    size_t off = 0;
    out[0] = '\0';
    for (size_t j = 0; j < nk; j++)
      off += (size_t)snprintf(out + off, len - off, "%zu volume%s: %s\n", kinds[j].volumes,
                              kinds[j].volumes == 1 ? "" : "s", kinds[j].text);
  }
  for (size_t j = 0; j < nk; j++) free(kinds[j].text);
  free(kinds);
  return out;
}

/* ---- to JSON ------------------------------------------------------------------------------- */

static json_t *strlist_json(const fmr_strlist *l) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < l->n; i++)
    if (json_array_append_new(a, json_string(l->v[i]))) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static json_t *uint_json(uint64_t v) { return json_integer((json_int_t)v); }

/* set_new that remembers a failure (a NULL value or no memory) instead of checking each call. */
static void put(json_t *o, const char *key, json_t *v, int *bad) {
  if (!v || json_object_set_new(o, key, v)) *bad = 1;
}

json_t *fmr_record_to_json(const fmr_record *r) {
  int bad = 0;
  json_t *o = json_object();
  if (!o) return NULL;
  put(o, "name", json_string(r->name), &bad);
  put(o, "anatomy", json_string(r->anatomy), &bad);
  put(o, "input", r->input ? json_string(r->input) : json_null(), &bad);
  put(o, "status", json_string(fmr_record_status_name(r->status)), &bad);
  put(o, "error", r->error ? json_string(r->error) : json_null(), &bad);
  put(o, "reviewed", json_boolean(r->reviewed), &bad);
  if (r->processed) {
    if (r->have_kspace) {
      put(o, "undersampled", json_boolean(r->undersampled), &bad);
      put(o, "slices", uint_json(r->slices), &bad);
      json_t *shape = json_array();
      for (size_t i = 0; shape && i < r->kspace_ndim && i < 4; i++)
        json_array_append_new(shape, uint_json(r->kspace_shape[i]));
      put(o, "kspace_shape", shape, &bad);
      put(o, "coils", uint_json(r->coils), &bad);
      put(o, "acquisition", json_string(r->acquisition ? r->acquisition : ""), &bad);
    }
    if (r->have_frame)
      put(o, "frame", json_pack("[I, I]", (json_int_t)r->frame[0], (json_int_t)r->frame[1]), &bad);
    put(o, "recon_source", json_string(r->recon_source ? r->recon_source : ""), &bad);
    put(o, "zero_filled", json_boolean(r->zero_filled), &bad);
    put(o, "nmse_vs_stored", isfinite(r->nmse_vs_stored) ? json_real(r->nmse_vs_stored) : json_null(),
        &bad);
    if (r->have_scaling)
      put(o, "scaling",
          json_pack("{s:f, s:f, s:f, s:f, s:f}", "percentile", r->percentile, "p999", r->p999,
                    "scale", r->scale, "window_center", r->window_center, "window_width",
                    r->window_width),
          &bad);
    json_t *labels = json_object();
    for (size_t i = 0; labels && i < r->nlabels; i++)
      put(labels, r->labels[i].label,
          json_pack("{s:I, s:I}", "boxes", (json_int_t)r->labels[i].boxes, "pixels",
                    (json_int_t)r->labels[i].pixels),
          &bad);
    put(o, "labels", labels, &bad);
    put(o, "study_labels", strlist_json(&r->study_labels), &bad);
    json_t *ann = json_object();
    if (ann && r->have_annotation) {
      const fmr_annotation_counts *a = &r->annotation;
      put(ann, "rows", uint_json(a->rows), &bad);
      put(ann, "boxes", uint_json(a->boxes), &bad);
      put(ann, "drawn", uint_json(a->drawn), &bad);
      put(ann, "duplicates", uint_json(a->duplicates), &bad);
      put(ann, "degenerate", uint_json(a->degenerate), &bad);
      put(ann, "clipped", uint_json(a->clipped), &bad);
      put(ann, "outside", uint_json(a->outside), &bad);
      put(ann, "bad_slice", uint_json(a->bad_slice), &bad);
      put(ann, "trimmed_labels", uint_json(a->trimmed_labels), &bad);
    }
    put(o, "annotation", ann, &bad);
    put(o, "annotation_problems", strlist_json(&r->annotation_problems), &bad);
  }
  json_t *outs = json_array();
  for (size_t i = 0; outs && i < r->noutputs; i++) {
    const fmr_output_file *f = &r->outputs[i];
    json_t *e = json_pack("{s:s, s:s, s:I, s:s}", "path", f->path, "kind", f->kind, "bytes",
                          (json_int_t)f->bytes, "sha256", f->sha256);
    if (!e || json_array_append_new(outs, e)) bad = 1;
  }
  put(o, "outputs", outs, &bad);
  put(o, "warnings", strlist_json(&r->warnings), &bad);
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* ---- from JSON ----------------------------------------------------------------------------- */

/* Read helpers: each records the first problem in *why and returns a neutral value. */
typedef struct reader {
  const char *why;
} reader;

static const char *get_str(reader *rd, const json_t *o, const char *key, int nullable) {
  const json_t *v = json_object_get(o, key);
  if (json_is_string(v)) return json_string_value(v);
  if (nullable && (!v || json_is_null(v))) return NULL;
  if (!rd->why) rd->why = key;
  return NULL;
}

static uint64_t get_uint(reader *rd, const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  if (json_is_integer(v) && json_integer_value(v) >= 0) return (uint64_t)json_integer_value(v);
  if (!rd->why) rd->why = key;
  return 0;
}

static double get_real(reader *rd, const json_t *o, const char *key, int nullable) {
  const json_t *v = json_object_get(o, key);
  if (json_is_number(v)) return json_number_value(v);
  if (nullable && json_is_null(v)) return NAN;
  if (!rd->why) rd->why = key;
  return NAN;
}

static int get_bool(reader *rd, const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  if (json_is_boolean(v)) return json_is_true(v);
  if (!rd->why) rd->why = key;
  return 0;
}

static int get_strlist(reader *rd, const json_t *o, const char *key, fmr_strlist *l) {
  const json_t *a = json_object_get(o, key);
  if (!a) return 0; /* records committed before the field existed */
  if (!json_is_array(a)) {
    if (!rd->why) rd->why = key;
    return 0;
  }
  for (size_t i = 0; i < json_array_size(a); i++) {
    const char *s = json_string_value(json_array_get(a, i));
    if (!s) {
      if (!rd->why) rd->why = key;
      return 0;
    }
    if (fmr_strlist_add(l, s)) return FMR_ENOMEM;
  }
  return 0;
}

static int parse(reader *rd, const json_t *j, fmr_record *r) {
  const char *status = get_str(rd, j, "status", 0);
  if (status && strcmp(status, "ok") == 0) r->status = FMR_STATUS_OK;
  else if (status && strcmp(status, "missing") == 0) r->status = FMR_STATUS_MISSING;
  else if (status && strcmp(status, "failed") == 0) r->status = FMR_STATUS_FAILED;
  else if (!rd->why) rd->why = "status";
  const char *error = get_str(rd, j, "error", 1);
  if (error && !(r->error = strdup(error))) return FMR_ENOMEM;
  r->reviewed = get_bool(rd, j, "reviewed");
  r->processed = json_object_get(j, "recon_source") != NULL;
  if (r->processed) {
    r->have_kspace = json_object_get(j, "slices") != NULL;
    if (r->have_kspace) {
      r->undersampled = get_bool(rd, j, "undersampled");
      r->slices = get_uint(rd, j, "slices");
      const json_t *shape = json_object_get(j, "kspace_shape");
      r->kspace_ndim = json_array_size(shape);
      if (!json_is_array(shape) || r->kspace_ndim < 3 || r->kspace_ndim > 4) {
        if (!rd->why) rd->why = "kspace_shape";
        r->kspace_ndim = 0;
      }
      for (size_t i = 0; i < r->kspace_ndim; i++) {
        json_int_t v = json_integer_value(json_array_get(shape, i));
        if (v < 0 && !rd->why) rd->why = "kspace_shape";
        r->kspace_shape[i] = v < 0 ? 0 : (uint64_t)v;
      }
      r->coils = get_uint(rd, j, "coils");
      const char *acq = get_str(rd, j, "acquisition", 0);
      if (acq && !(r->acquisition = strdup(acq))) return FMR_ENOMEM;
    }
    const json_t *frame = json_object_get(j, "frame");
    if (frame) {
      r->have_frame = 1;
      if (!json_is_array(frame) || json_array_size(frame) != 2) {
        if (!rd->why) rd->why = "frame";
      } else {
        for (size_t i = 0; i < 2; i++) {
          json_int_t v = json_integer_value(json_array_get(frame, i));
          r->frame[i] = v < 0 ? 0 : (uint64_t)v;
        }
      }
    }
    const char *src = get_str(rd, j, "recon_source", 0);
    if (src && !(r->recon_source = strdup(src))) return FMR_ENOMEM;
    r->zero_filled = get_bool(rd, j, "zero_filled");
    r->nmse_vs_stored = get_real(rd, j, "nmse_vs_stored", 1);
    const json_t *sc = json_object_get(j, "scaling");
    if (sc) {
      r->have_scaling = 1;
      r->percentile = get_real(rd, sc, "percentile", 0);
      r->p999 = get_real(rd, sc, "p999", 0);
      r->scale = get_real(rd, sc, "scale", 0);
      r->window_center = get_real(rd, sc, "window_center", 0);
      r->window_width = get_real(rd, sc, "window_width", 0);
    }
    const json_t *labels = json_object_get(j, "labels");
    if (!json_is_object(labels)) {
      if (!rd->why) rd->why = "labels";
    } else {
      const char *key;
      const json_t *v;
      json_object_foreach((json_t *)labels, key, v) {
        if (fmr_record_add_label(r, key, get_uint(rd, v, "boxes"), get_uint(rd, v, "pixels")))
          return FMR_ENOMEM;
      }
    }
    if (get_strlist(rd, j, "study_labels", &r->study_labels)) return FMR_ENOMEM;
    const json_t *ann = json_object_get(j, "annotation");
    if (!json_is_object(ann)) {
      if (!rd->why) rd->why = "annotation";
    } else if (json_object_size(ann) > 0) {
      r->have_annotation = 1;
      fmr_annotation_counts *a = &r->annotation;
      a->rows = get_uint(rd, ann, "rows");
      a->boxes = get_uint(rd, ann, "boxes");
      a->drawn = get_uint(rd, ann, "drawn");
      a->duplicates = get_uint(rd, ann, "duplicates");
      a->degenerate = get_uint(rd, ann, "degenerate");
      a->clipped = get_uint(rd, ann, "clipped");
      a->outside = get_uint(rd, ann, "outside");
      a->bad_slice = get_uint(rd, ann, "bad_slice");
      a->trimmed_labels = get_uint(rd, ann, "trimmed_labels");
    }
    if (get_strlist(rd, j, "annotation_problems", &r->annotation_problems)) return FMR_ENOMEM;
  }
  const json_t *outs = json_object_get(j, "outputs");
  if (!json_is_array(outs)) {
    if (!rd->why) rd->why = "outputs";
  } else {
    for (size_t i = 0; i < json_array_size(outs); i++) {
      const json_t *e = json_array_get(outs, i);
      const char *path = get_str(rd, e, "path", 0);
      const char *kind = get_str(rd, e, "kind", 0);
      uint64_t bytes = get_uint(rd, e, "bytes");
      const char *sha = get_str(rd, e, "sha256", 0);
      if (sha && strlen(sha) != 64 && !rd->why) rd->why = "sha256";
      if (!path || !kind || !sha) break;
      if (fmr_record_add_output(r, path, kind, bytes, sha)) return FMR_ENOMEM;
    }
  }
  if (get_strlist(rd, j, "warnings", &r->warnings)) return FMR_ENOMEM;
  return 0;
}

int fmr_record_from_json(const json_t *j, fmr_record **out, fmr_err *err) {
  *out = NULL;
  if (!json_is_object(j) || !json_is_string(json_object_get(j, "name")))
    return fmr_err_set(err, FMR_EINVAL, "record: not a volume record");
  reader rd = {NULL};
  const char *anatomy = get_str(&rd, j, "anatomy", 0);
  const char *input = get_str(&rd, j, "input", 1);
  fmr_record *r = fmr_record_new(json_string_value(json_object_get(j, "name")), anatomy, input, 0);
  if (!r) return fmr_err_set(err, FMR_ENOMEM, "record: out of memory");
  if (parse(&rd, j, r)) {
    fmr_record_free(&r);
    return fmr_err_set(err, FMR_ENOMEM, "record: out of memory");
  }
  if (rd.why) {
    int rc = fmr_err_set(err, FMR_EINVAL, "record %s: missing or malformed \"%s\"", r->name,
                         rd.why);
    fmr_record_free(&r);
    return rc;
  }
  *out = r;
  return 0;
}

char *fmr_record_encode(const fmr_record *r) {
  json_t *j = fmr_record_to_json(r);
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(j);
  return s;
}

int fmr_record_decode(const char *text, size_t len, fmr_record **out, fmr_err *err) {
  json_error_t je;
  *out = NULL;
  json_t *j = json_loadb(text, len, 0, &je);
  if (!j) return fmr_err_set(err, FMR_EINVAL, "record: unreadable message: %s", je.text);
  int rc = fmr_record_from_json(j, out, err);
  json_decref(j);
  return rc;
}

void fmr_record_free(fmr_record **rp) {
  if (!rp || !*rp) return;
  fmr_record *r = *rp;
  free(r->name);
  free(r->anatomy);
  free(r->input);
  free(r->error);
  free(r->acquisition);
  free(r->recon_source);
  for (size_t i = 0; i < r->nlabels; i++) free(r->labels[i].label);
  free(r->labels);
  fmr_strlist_free(&r->study_labels);
  fmr_strlist_free(&r->annotation_problems);
  fmr_record_clear_outputs(r);
  free(r->outputs);
  fmr_strlist_free(&r->warnings);
  free(r);
  *rp = NULL;
}
