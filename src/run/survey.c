/* `plan` (survey.h): metadata of every planned volume, and the report rank 0 prints. */
#include "fmr/run/survey.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fmr/input/filelist.h"
#include "fmr/labels/masks.h"
#include "fmr/output/manifest.h"
#include "fmr/output/store.h"
#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/recon/reconstruct.h"
#include "fmr/run/progress.h"

void fmr_survey_volume_of(const fmr_plan *plan, size_t i, int probe, fmr_survey_volume *out) {
  const fmr_config *cfg = fmr_plan_config(plan);
  const fmr_task *t = fmr_plan_task(plan, i);
  memset(out, 0, sizeof *out);
  if (!t->path) return;
  fmr_err err;
  fmr_err_clear(&err);
  fmr_kspace *ks = NULL;
  int rc = probe && cfg->probe ? fmr_kspace_probe(t->path, &cfg->limits, &err) : 0;
  if (!rc) rc = fmr_kspace_open_limited(t->path, &cfg->limits, &ks, &err);
  if (!rc) {
    const fmr_kspace_info *info = fmr_kspace_info_of(ks);
    fmr_header hdr;
    int have_hdr = 0;
    if (info->header_len > 0) {
      rc = fmr_header_parse_limited(info->header_xml, info->header_len, t->path, &cfg->limits,
                                    &hdr, &err);
      have_hdr = rc == 0;
    }
    size_t h = 0, w = 0;
    fmr_reconstruct_opts ropts = {cfg->source, cfg->flip_up_down, cfg->flip_left_right};
    if (!rc) rc = fmr_reconstruct_frame(info, have_hdr ? &hdr : NULL, &ropts, t->path, &h, &w, &err);
    if (!rc) {
      out->readable = 1;
      out->multicoil = info->multicoil;
      out->undersampled = info->undersampled;
      out->slices = (uint32_t)info->slices;
      out->coils = (uint32_t)info->coils;
      out->H = (uint32_t)info->H;
      out->W = (uint32_t)info->W;
      out->h = (uint32_t)h;
      out->w = (uint32_t)w;
      snprintf(out->acquisition, sizeof out->acquisition, "%s", info->acquisition);
    }
  }
  fmr_kspace_close(&ks);
  if (rc) {
    /* Messages name the input as the manifest does: relative to its input directory. */
    const char *msg = err.msg;
    size_t plen = strlen(t->path);
    /* Long messages are cut to the fixed field (ranks send these structs as bytes). */
    const char *rest = t->rel_path && strncmp(msg, t->path, plen) == 0 ? msg + plen : msg;
    const char *head = rest == msg ? "" : t->rel_path;
    size_t hl = strlen(head), rl = strlen(rest), cap = sizeof out->error - 1;
    if (hl > cap) hl = cap;
    if (rl > cap - hl) rl = cap - hl;
    memcpy(out->error, head, hl);
    memcpy(out->error + hl, rest, rl);
    out->error[hl + rl] = '\0';
  }
  /* output.dir is looked at only when it is this tool's: plan writes nothing anywhere. */
  char mark[PATH_MAX];
  struct stat sb;
  if (snprintf(mark, sizeof mark, "%s/%s", cfg->output_dir, FMR_STORE_MARK) < (int)sizeof mark &&
      stat(mark, &sb) == 0) {
    fmr_store *s = NULL;
    if (fmr_store_open(cfg->output_dir, &s, &err) == 0)
      out->reusable = fmr_store_would_reuse(s, t->name, t->key);
    fmr_store_free(&s);
  }
}

typedef struct tally {
  const char *key[64];
  size_t count[64];
  size_t n;
} tally;

static void tally_add(tally *t, const char *key) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->key[i], key) == 0) {
      t->count[i]++;
      return;
    }
  if (t->n < 64) {
    t->key[t->n] = key;
    t->count[t->n++] = 1;
  }
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A tally as "KEY N, KEY N" (text) or {KEY: N} (JSON), keys sorted. */
static json_t *tally_json(tally *t) {
  json_t *o = json_object();
  const char *sorted[64];
  memcpy(sorted, t->key, t->n * sizeof *sorted);
  qsort(sorted, t->n, sizeof *sorted, cmp_str);
  for (size_t i = 0; i < t->n; i++)
    for (size_t k = 0; k < t->n; k++)
      if (t->key[k] == sorted[i]) json_object_set_new(o, sorted[i], json_integer((json_int_t)t->count[k]));
  return o;
}

static void print_tally(FILE *f, const char *label, const json_t *o) {
  const char *k;
  json_t *v;
  int first = 1;
  fprintf(f, "  %-14s ", label);
  json_object_foreach((json_t *)o, k, v) {
    fprintf(f, "%s%s: %lld", first ? "" : ", ", k, (long long)json_integer_value(v));
    first = 0;
  }
  fprintf(f, "%s\n", first ? "-" : "");
}

int fmr_survey_report(const fmr_plan *plan, const fmr_survey_volume *vols, int json_out, int ranks,
                      FILE *f, fmr_err *err) {
  const fmr_config *cfg = fmr_plan_config(plan);
  const fmr_annotations *ann = fmr_plan_annotations(plan);
  size_t n = fmr_plan_ntasks(plan), listed = 0, unlisted_tasks = 0, found = 0, readable = 0;
  size_t reusable = 0, slices = 0;
  uint64_t kspace = 0, values = 0, dicom = 0, masks = 0;
  size_t ndicom = 0, nmasks = 0;
  tally acq = {0}, shape = {0}, coils = {0};
  char (*shape_text)[64] = calloc(n ? n : 1, sizeof *shape_text);
  char (*coil_text)[16] = calloc(n ? n : 1, sizeof *coil_text);
  json_t *missing = json_array(), *unreadable = json_array(), *not_listed = json_array();
  fmr_file_index *ix = NULL;
  int rc = 0;
  if (!shape_text || !coil_text || !missing || !unreadable || !not_listed) {
    rc = fmr_err_set(err, FMR_ENOMEM, "plan: out of memory");
    goto done;
  }
  size_t pb = fmr_mask_pixel_bytes(fmr_annotations_vocab_size(ann));
  for (size_t i = 0; i < n; i++) {
    const fmr_task *t = fmr_plan_task(plan, i);
    const fmr_survey_volume *v = &vols[i];
    if (t->reviewed) listed++;
    else unlisted_tasks++;
    if (!t->path) {
      json_array_append_new(missing, json_pack("{s:s, s:s}", "name", t->name, "why",
                                               t->lookup_error ? t->lookup_error : "not found"));
      continue;
    }
    found++;
    if (v->reusable) reusable++;
    if (!v->readable) {
      json_array_append_new(unreadable, json_pack("{s:s, s:s}", "name", t->name, "why", v->error));
      continue;
    }
    readable++;
    uint64_t vv = (uint64_t)v->slices * v->coils * v->H * v->W;
    values += vv;
    kspace += vv * 8;
    slices += v->slices;
    uint64_t plane = (uint64_t)v->h * v->w;
    /* Sizes as the writers make them: a DICOM slice is its int16 pixels plus about 1.4 kB of
     * header; a mask is at most its pixels (it is compressed); the dataset holds float32. */
    if (cfg->write_dicom) {
      dicom += v->slices * (plane * 2 + 1400);
      ndicom += v->slices;
    }
    if (cfg->write_masks && t->reviewed) {
      masks += v->slices * plane * pb;
      nmasks++;
    }
    snprintf(shape_text[i], sizeof shape_text[i], "%ux%ux%ux%u -> %ux%u", v->slices, v->coils,
             v->H, v->W, v->h, v->w);
    snprintf(coil_text[i], sizeof coil_text[i], "%u", v->coils);
    tally_add(&acq, v->acquisition[0] ? v->acquisition : "(none)");
    tally_add(&shape, shape_text[i]);
    tally_add(&coils, coil_text[i]);
  }
  /* .h5 files the list does not name (processed only with input.all_files). */
  rc = fmr_file_index_build((const char *const *)cfg->input_dirs, cfg->ninput_dirs, &ix, err);
  if (rc) goto done;
  for (size_t i = 0; i < fmr_file_index_count(ix); i++) {
    const char *name = fmr_file_index_name(ix, i);
    size_t k = fmr_plan_find(plan, name);
    if (k == (size_t)-1 || !fmr_plan_task(plan, k)->reviewed)
      json_array_append_new(not_listed, json_string(name));
  }
  /* CSV rows for volumes the list does not name: boxes nobody will see in this run. */
  size_t rows_unmatched = 0, vols_unmatched = 0;
  for (size_t i = 0; i < fmr_annotations_nvolumes(ann); i++) {
    const fmr_volume_annotations *va = fmr_annotations_volume(ann, i);
    size_t k = fmr_plan_find(plan, va->name);
    if (k == (size_t)-1 || !fmr_plan_task(plan, k)->reviewed) {
      rows_unmatched += va->rows;
      vols_unmatched++;
    }
  }
  fmr_run_inputs in;
  fmr_plan_run_inputs(plan, &in);
  double core_hours = (double)values * FMR_SURVEY_SECONDS_PER_VALUE / 3600.0;
  json_t *outputs = json_object();
  if (cfg->write_dicom)
    json_object_set_new(outputs, "dicom", json_pack("{s:I, s:I}", "files", (json_int_t)ndicom,
                                                    "bytes", (json_int_t)dicom));
  if (cfg->write_masks)
    json_object_set_new(outputs, "mask", json_pack("{s:I, s:I, s:s}", "files", (json_int_t)nmasks,
                                                   "bytes", (json_int_t)masks, "bound", "at most"));
  if (cfg->write_seg)
    json_object_set_new(outputs, "seg", json_pack("{s:s}", "files", "one per reviewed volume with findings"));
  if (cfg->write_preview)
    json_object_set_new(outputs, "preview", json_pack("{s:s}", "files", "one per reviewed volume with boxes"));
  json_t *skipped = json_array();
  for (size_t k = 0; k < in.nskipped; k++)
    json_array_append_new(skipped, json_pack("{s:I, s:s}", "line", (json_int_t)in.skipped[k].line,
                                             "text", in.skipped[k].text));
  json_t *rep = json_pack(
      "{s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
      "s:{s:I, s:I}, s:{s:I, s:I}, s:o, s:{s:I, s:I}, s:{s:f, s:f, s:f}}",
      "anatomy", cfg->anatomy, "output_dir", cfg->output_dir, "volumes", "planned", (json_int_t)n,
      "listed", (json_int_t)listed, "unlisted_processed", (json_int_t)unlisted_tasks, "found",
      (json_int_t)found, "readable", (json_int_t)readable, "slices", (json_int_t)slices,
      "by_acquisition", tally_json(&acq), "by_shape", tally_json(&shape), "by_coils",
      tally_json(&coils), "missing", missing, "unreadable", unreadable, "skipped_lines", skipped,
      "not_listed_files", not_listed, "csv_rows_unmatched", "rows", (json_int_t)rows_unmatched,
      "volumes", (json_int_t)vols_unmatched, "kspace", "bytes", (json_int_t)kspace, "values",
      (json_int_t)values, "outputs", outputs, "resume", "reusable", (json_int_t)reusable,
      "to_process", (json_int_t)(readable > reusable ? readable - reusable : 0), "estimate",
      "seconds_per_value", FMR_SURVEY_SECONDS_PER_VALUE, "core_hours", core_hours,
      "wall_hours_at_ranks", core_hours / (ranks > 0 ? ranks : 1));
  missing = unreadable = not_listed = NULL;
  if (!rep) {
    rc = fmr_err_set(err, FMR_ENOMEM, "plan: out of memory");
    goto done;
  }
  if (json_out) {
    char *text = fmr_json_dumps(rep);
    if (text) fputs(text, f);
    free(text);
  } else {
    char b1[32], b2[32];
    fprintf(f, "plan for %s: %s, output %s\n", cfg->path, cfg->anatomy, cfg->output_dir);
    fprintf(f, "  %-14s %zu planned: %zu in the file list, %zu more with input.all_files\n",
            "volumes", n, listed, unlisted_tasks);
    fprintf(f, "  %-14s %zu found, %zu readable, %zu slices\n", "inputs", found, readable, slices);
    print_tally(f, "acquisition", json_object_get(rep, "by_acquisition"));
    print_tally(f, "shape", json_object_get(rep, "by_shape"));
    print_tally(f, "coils", json_object_get(rep, "by_coils"));
    json_t *a;
    size_t k;
    fprintf(f, "  %-14s %zu\n", "missing", json_array_size(json_object_get(rep, "missing")));
    json_array_foreach(json_object_get(rep, "missing"), k, a) {
      if (k == 10) {
        fprintf(f, "  %-14s ... (--json lists all)\n", "");
        break;
      }
      fprintf(f, "  %-14s %s: %s\n", "", json_string_value(json_object_get(a, "name")),
              json_string_value(json_object_get(a, "why")));
    }
    json_array_foreach(json_object_get(rep, "unreadable"), k, a)
      fprintf(f, "  %-14s %s\n", k ? "" : "unreadable", json_string_value(json_object_get(a, "why")));
    for (size_t s = 0; s < in.nskipped; s++)
      fprintf(f, "  %-14s %s:%zu: %s names no volume\n", s ? "" : "skipped", cfg->file_list,
              in.skipped[s].line, in.skipped[s].text);
    fprintf(f, "  %-14s %zu .h5 file(s) under input.dirs the list does not name%s\n", "not listed",
            json_array_size(json_object_get(rep, "not_listed_files")),
            cfg->all_files ? " (processed as not reviewed: input.all_files)" : " (not processed)");
    fprintf(f, "  %-14s %zu row(s) for %zu volume(s) the list does not name\n", "CSV rows",
            rows_unmatched, vols_unmatched);
    fmr_format_bytes(kspace, b1, sizeof b1);
    fprintf(f, "  %-14s %s to read\n", "k-space", b1);
    fmr_format_bytes(dicom, b1, sizeof b1);
    fmr_format_bytes(masks, b2, sizeof b2);
    fprintf(f, "  %-14s dicom %zu files, about %s; masks %zu files (compressed; %s unpacked)\n",
            "outputs", ndicom, b1, nmasks, b2);
    if (cfg->write_seg || cfg->write_preview)
      fprintf(f, "  %-14s seg and preview: one file per reviewed volume with findings\n", "");
    fprintf(f, "  %-14s %zu of %zu readable volumes would be reused, %zu processed\n", "resume",
            reusable, readable, readable > reusable ? readable - reusable : 0);
    fprintf(f, "  %-14s %.3g core-hours (%.2g s per k-space value, bench/); %.3g h on %d rank%s\n",
            "estimate", core_hours, FMR_SURVEY_SECONDS_PER_VALUE,
            core_hours / (ranks > 0 ? ranks : 1), ranks, ranks == 1 ? "" : "s");
  }
  json_decref(rep);
done:
  json_decref(missing);
  json_decref(unreadable);
  json_decref(not_listed);
  fmr_file_index_free(&ix);
  free(shape_text);
  free(coil_text);
  return rc;
}
