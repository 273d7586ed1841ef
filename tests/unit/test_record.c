/* Volume records: struct -> JSON -> struct round trips, the manifest's key order, and refusal of
 * malformed records. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/output/record.h"
#include "fmr_test.h"

static fmr_record *full_record(void) {
  fmr_record *r = fmr_record_new("file1000001", "knee", "batch0/file1000001.h5", 1);
  CHECK(r != NULL);
  r->processed = 1;
  r->have_kspace = 1;
  r->undersampled = 0;
  r->slices = 3;
  r->kspace_ndim = 4;
  r->kspace_shape[0] = 3;
  r->kspace_shape[1] = 4;
  r->kspace_shape[2] = 640;
  r->kspace_shape[3] = 368;
  r->coils = 4;
  r->acquisition = strdup("CORPD_FBK");
  r->have_frame = 1;
  r->frame[0] = 320;
  r->frame[1] = 320;
  r->recon_source = strdup("kspace");
  r->zero_filled = 0;
  r->nmse_vs_stored = 1.25e-7;
  r->have_scaling = 1;
  r->percentile = 99.9;
  r->p999 = 0.000123456789;
  r->scale = (double)(float)(1024.0 / 0.000123456789);
  r->window_center = 812.0;
  r->window_width = 1624.0;
  CHECK_INT_EQ(fmr_record_add_label(r, "Meniscus Tear", 2, 311), 0);
  CHECK_INT_EQ(fmr_record_add_label(r, "Bone-Fracture", 1, 40), 0);
  CHECK_INT_EQ(fmr_strlist_add(&r->study_labels, "Artifact"), 0);
  r->have_annotation = 1;
  fmr_annotation_counts a = {5, 4, 3, 1, 1, 1, 0, 1, 0};
  r->annotation = a;
  CHECK_INT_EQ(fmr_strlist_add(&r->annotation_problems, "knee.csv:7: slice 9 is out of range"), 0);
  CHECK_INT_EQ(fmr_record_add_output(r, "dicom/file1000001/file1000001_000.dcm", "dicom", 205158,
                                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
               0);
  CHECK_INT_EQ(fmr_record_add_output(r, "masks/file1000001.h5", "mask", 9000,
                                     "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"),
               0);
  CHECK_INT_EQ(fmr_strlist_addf(&r->warnings, "%d boxes clipped to the frame", 1), 0);
  return r;
}

static void check_keys(const json_t *j, const char *const *keys, size_t n) {
  size_t i = 0;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)j, key, v) {
    (void)v;
    if (i < n) CHECK_STR_EQ(key, keys[i]);
    i++;
  }
  CHECK_UINT_EQ(i, n);
}

static void test_round_trip(void) {
  fmr_record *r = full_record();
  json_t *j = fmr_record_to_json(r);
  CHECK(j != NULL);
  /* Today's manifest order, plus the new warnings at the end. */
  static const char *const keys[] = {"name", "anatomy", "input", "status", "error", "reviewed",
                                     "undersampled", "slices", "kspace_shape", "coils",
                                     "acquisition", "frame", "recon_source", "zero_filled",
                                     "nmse_vs_stored", "scaling", "labels", "study_labels",
                                     "annotation", "annotation_problems", "outputs", "warnings"};
  check_keys(j, keys, sizeof keys / sizeof *keys);
  CHECK_STR_EQ(json_string_value(json_object_get(j, "status")), "ok");
  CHECK(json_is_null(json_object_get(j, "error")));
  CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(j, "kspace_shape"), 1)), 4);
  /* Labels keep vocabulary order, not alphabetical. */
  const char *first = NULL, *key;
  json_t *v;
  json_object_foreach(json_object_get(j, "labels"), key, v) {
    (void)v;
    if (!first) first = key;
  }
  CHECK_STR_EQ(first, "Meniscus Tear");

  char *text = fmr_record_encode(r);
  CHECK(text != NULL);
  fmr_record *back = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_record_decode(text, strlen(text), &back, &err), 0);
  CHECK(back != NULL);
  if (back) {
    CHECK_STR_EQ(back->name, "file1000001");
    CHECK_STR_EQ(back->input, "batch0/file1000001.h5");
    CHECK_INT_EQ(back->reviewed, 1);
    CHECK_UINT_EQ(back->kspace_ndim, 4);
    CHECK_UINT_EQ(back->kspace_shape[3], 368);
    CHECK_DBL_EQ(back->nmse_vs_stored, 1.25e-7);
    CHECK_DBL_EQ(back->p999, 0.000123456789);
    CHECK_DBL_EQ(back->scale, r->scale);
    CHECK_UINT_EQ(back->nlabels, 2);
    CHECK_UINT_EQ(back->labels[1].pixels, 40);
    CHECK_UINT_EQ(back->annotation.bad_slice, 1);
    CHECK_UINT_EQ(fmr_record_noutputs(back), 2);
    CHECK_STR_EQ(fmr_record_output(back, 1)->kind, "mask");
    CHECK_UINT_EQ(fmr_record_output(back, 0)->bytes, 205158);
    CHECK_UINT_EQ(fmr_record_nwarnings(back), 1);
    CHECK_STR_EQ(fmr_record_warning(back, 0), "1 boxes clipped to the frame");
    /* Text identical after the round trip: the manifest and committed records agree. */
    char *again = fmr_record_encode(back);
    CHECK_STR_EQ(again, text);
    free(again);
  }
  fmr_record_free(&back);
  free(text);
  json_decref(j);
  fmr_record_free(&r);
  CHECK(r == NULL);
}

static void test_missing_and_failed(void) {
  fmr_record *r = fmr_record_new("file_brain_AXT1_201_6002717", "brain", NULL, 0);
  CHECK_INT_EQ(fmr_record_set_status(r, FMR_STATUS_MISSING, "not found under input.dirs"), 0);
  json_t *j = fmr_record_to_json(r);
  static const char *const keys[] = {"name",     "anatomy", "input",   "status",
                                     "error",    "reviewed", "outputs", "warnings"};
  check_keys(j, keys, sizeof keys / sizeof *keys);
  CHECK(json_is_null(json_object_get(j, "input")));
  CHECK_STR_EQ(json_string_value(json_object_get(j, "status")), "missing");
  fmr_record *back = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_record_from_json(j, &back, &err), 0);
  CHECK_INT_EQ(fmr_record_status(back), FMR_STATUS_MISSING);
  CHECK(back->input == NULL);
  CHECK_INT_EQ(back->processed, 0);
  json_t *j2 = fmr_record_to_json(back);
  CHECK(json_equal(j, j2));
  json_decref(j2);
  fmr_record_free(&back);
  json_decref(j);

  /* A volume that failed after opening: processed fields, no scaling, empty annotation. */
  CHECK_INT_EQ(fmr_record_set_status(r, FMR_STATUS_FAILED, "x.h5: bad"), 0);
  r->processed = 1;
  r->recon_source = strdup("kspace");
  j = fmr_record_to_json(r);
  CHECK(json_is_null(json_object_get(j, "nmse_vs_stored")));
  CHECK(json_object_get(j, "scaling") == NULL);
  CHECK_UINT_EQ(json_object_size(json_object_get(j, "annotation")), 0);
  CHECK_INT_EQ(fmr_record_from_json(j, &back, &err), 0);
  CHECK_STR_EQ(fmr_record_error(back), "x.h5: bad");
  CHECK(isnan(back->nmse_vs_stored));
  CHECK_INT_EQ(back->have_annotation, 0);
  fmr_record_free(&back);
  json_decref(j);
  fmr_record_free(&r);
}

static void test_malformed(void) {
  fmr_err err;
  fmr_record *r = NULL;
  static const char *const bad[] = {
      "[]",
      "{\"name\": 3}",
      "{\"name\": \"a\", \"anatomy\": \"knee\", \"input\": null, \"status\": \"great\", "
      "\"error\": null, \"reviewed\": false, \"outputs\": []}",
      "{\"name\": \"a\", \"anatomy\": \"knee\", \"input\": null, \"status\": \"ok\", "
      "\"error\": null, \"reviewed\": false, \"outputs\": [{\"path\": \"x\", \"kind\": \"dicom\", "
      "\"bytes\": -1, \"sha256\": \"00\"}]}",
      "{\"name\": \"a\", \"anatomy\": \"knee\", \"input\": null, \"status\": \"ok\", "
      "\"error\": null, \"reviewed\": \"yes\", \"outputs\": []}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    fmr_err_clear(&err);
    CHECK_INT_EQ(fmr_record_decode(bad[i], strlen(bad[i]), &r, &err), FMR_EINVAL);
    CHECK(r == NULL);
    CHECK(err.msg[0] != '\0');
  }
  /* An unknown kind stays readable, as "other". */
  const char *ok = "{\"name\": \"a\", \"anatomy\": \"knee\", \"input\": null, \"status\": \"ok\", "
                   "\"error\": null, \"reviewed\": false, \"outputs\": [{\"path\": \"x\", \"kind\": "
                   "\"hologram\", \"bytes\": 1, \"sha256\": "
                   "\"0000000000000000000000000000000000000000000000000000000000000000\"}]}";
  CHECK_INT_EQ(fmr_record_decode(ok, strlen(ok), &r, &err), 0);
  CHECK_STR_EQ(fmr_record_output(r, 0)->kind, "other");
  fmr_record_free(&r);
}

static void test_summary(void) {
  fmr_record *a = fmr_record_new("a", "knee", "a.h5", 1), *b = fmr_record_new("b", "knee", "b.h5", 1),
             *c = fmr_record_new("c", "knee", "c.h5", 0);
  fmr_strlist_add(&a->warnings, "2 boxes clipped to the 320 x 320 frame");
  fmr_strlist_add(&a->warnings, "no ISMRMRD header");
  fmr_strlist_add(&b->warnings, "1 boxes clipped to the 320 x 368 frame");
  fmr_record *recs[3] = {a, b, c};
  char *s = fmr_record_warnings_summary(recs, 3);
  CHECK_STR_EQ(s, "2 volumes: N boxes clipped to the N x N frame\n1 volume: no ISMRMRD header\n");
  free(s);
  s = fmr_record_warnings_summary(recs + 2, 1);
  CHECK_STR_EQ(s, "");
  free(s);
  fmr_record_free(&a);
  fmr_record_free(&b);
  fmr_record_free(&c);
}

int main(void) {
  test_summary();
  test_round_trip();
  test_missing_and_failed();
  test_malformed();
  return fmr_test_end();
}
