/* Volume records (record.h). Transitional representation: the record wraps the JSON object the
 * pipeline builds; the accessors are the contract the layers above rely on. */
#include "fmr/output/record.h"

#include <stdlib.h>
#include <string.h>

struct fmr_record {
  json_t *j;
  fmr_output_file *outs;
  size_t nouts;
};

static const char *kind_name(const char *k) {
  static const char *const kinds[] = {"dicom", "mask", "seg", "preview"};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (k && strcmp(k, kinds[i]) == 0) return kinds[i];
  return "other";
}

/* Steals j. NULL when out of memory (j is released). */
fmr_record *fmr__record_wrap(json_t *j);
fmr_record *fmr__record_wrap(json_t *j) {
  fmr_record *r = j ? calloc(1, sizeof *r) : NULL;
  if (!r) {
    json_decref(j);
    return NULL;
  }
  r->j = j;
  json_t *outs = json_object_get(j, "outputs");
  size_t n = json_array_size(outs);
  r->outs = calloc(n ? n : 1, sizeof *r->outs);
  if (!r->outs) {
    fmr_record_free(&r);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_array_get(outs, i);
    fmr_output_file *f = &r->outs[i];
    f->path = (char *)json_string_value(json_object_get(o, "path"));
    f->kind = kind_name(json_string_value(json_object_get(o, "kind")));
    f->bytes = (uint64_t)json_integer_value(json_object_get(o, "bytes"));
    const char *sha = json_string_value(json_object_get(o, "sha256"));
    snprintf(f->sha256, sizeof f->sha256, "%s", sha ? sha : "");
  }
  r->nouts = n;
  return r;
}

const char *fmr_record_name(const fmr_record *r) {
  return json_string_value(json_object_get(r->j, "name"));
}

fmr_status fmr_record_status(const fmr_record *r) {
  const char *s = json_string_value(json_object_get(r->j, "status"));
  if (s && strcmp(s, "ok") == 0) return FMR_STATUS_OK;
  if (s && strcmp(s, "missing") == 0) return FMR_STATUS_MISSING;
  return FMR_STATUS_FAILED;
}

const char *fmr_record_error(const fmr_record *r) {
  return json_string_value(json_object_get(r->j, "error"));
}

size_t fmr_record_noutputs(const fmr_record *r) { return r->nouts; }

const fmr_output_file *fmr_record_output(const fmr_record *r, size_t i) {
  return i < r->nouts ? &r->outs[i] : NULL;
}

json_t *fmr_record_to_json(const fmr_record *r) { return json_incref(r->j); }

int fmr_record_from_json(const json_t *j, fmr_record **out, fmr_err *err) {
  if (!json_is_object(j) || !json_is_string(json_object_get(j, "name")))
    return fmr_err_set(err, FMR_EINVAL, "record: not a volume record");
  *out = fmr__record_wrap(json_deep_copy(j));
  return *out ? 0 : fmr_err_set(err, FMR_ENOMEM, "record: out of memory");
}

char *fmr_record_encode(const fmr_record *r) {
  return json_dumps(r->j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

int fmr_record_decode(const char *text, size_t len, fmr_record **out, fmr_err *err) {
  json_error_t je;
  json_t *j = json_loadb(text, len, 0, &je);
  if (!j) return fmr_err_set(err, FMR_EINVAL, "record: unreadable message: %s", je.text);
  int rc = fmr_record_from_json(j, out, err);
  json_decref(j);
  return rc;
}

void fmr_record_free(fmr_record **r) {
  if (!r || !*r) return;
  json_decref((*r)->j);
  free((*r)->outs);
  free(*r);
  *r = NULL;
}
