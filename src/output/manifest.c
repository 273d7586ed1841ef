#include "fmr/output/manifest.h"

#include <fftw3.h>
#include <hdf5.h>
#include <libxml/xmlversion.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fmr/output/store.h"
#include "fmr/util/fsutil.h"

const char *fmr__dcmtk_version(void);

char *fmr_json_dumps(const json_t *j) {
  /* Fixed key order is insertion order (jansson >= 2.8 keeps it); reals print with %.17g, so the
   * text is a pure function of the values. */
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  if (!s) return NULL;
  size_t n = strlen(s);
  char *out = realloc(s, n + 2);
  if (!out) {
    free(s);
    return NULL;
  }
  out[n] = '\n';
  out[n + 1] = '\0';
  return out;
}

json_t *fmr_manifest_library_versions(void) {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  char hdf5[32];
  snprintf(hdf5, sizeof hdf5, "%u.%u.%u", maj, min, rel);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "hdf5", hdf5, "fftw", fftwf_version,
                   "dcmtk", fmr__dcmtk_version(), "libyaml", yaml_get_version_string(), "libxml2",
                   LIBXML_DOTTED_VERSION, "jansson", JANSSON_VERSION, "openssl",
                   OpenSSL_version(OPENSSL_VERSION));
}

static int cmp_records(const void *a, const void *b) {
  const fmr_record *ra = *(const fmr_record *const *)a, *rb = *(const fmr_record *const *)b;
  return strcmp(ra->name, rb->name);
}

const char *fmr_manifest_config_name(const fmr_config *cfg, const char *path, char *buf,
                                     size_t n) {
  /* config.c resolves a relative path as "<the config's directory>/<as written>". */
  const char *slash = cfg->path ? strrchr(cfg->path, '/') : NULL;
  size_t dlen = slash ? (size_t)(slash - cfg->path) + (slash == cfg->path) : 0;
  const char *shown = path;
  if (slash && strncmp(path, cfg->path, dlen) == 0 && path[dlen] == '/')
    shown = path + dlen + 1;
  else if (!slash && strncmp(path, "./", 2) == 0)
    shown = path + 2;
  else if (path[0] == '/') {
    /* Written absolute in the config: its name only, the manifest never shows a mount point. */
    const char *base = strrchr(path, '/');
    shown = base[1] ? base + 1 : path;
  }
  snprintf(buf, n, "%s", shown);
  return buf;
}

static int cmp_files(const void *a, const void *b) {
  return strcmp((*(const fmr_output_file *const *)a)->path,
                (*(const fmr_output_file *const *)b)->path);
}

/* BagIt-style checksum list, so `cd OUTDIR && sha256sum -c manifest-sha256.txt` works without us. */
static int write_checksums(const fmr_store *store, fmr_record *const *sorted, size_t n,
                           const fmr_output_file *extra, size_t nextra, fmr_err *err) {
  size_t count = nextra, total = 0;
  for (size_t i = 0; i < n; i++) count += sorted[i]->noutputs;
  const fmr_output_file **files = calloc(count ? count : 1, sizeof *files);
  if (!files) return fmr_err_set(err, FMR_ENOMEM, "checksums: out of memory");
  count = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < sorted[i]->noutputs; k++) {
      const fmr_output_file *f = &sorted[i]->outputs[k];
      if (strlen(f->sha256) != 64) continue;
      files[count++] = f;
      total += 64 + 2 + strlen(f->path) + 1;
    }
  for (size_t k = 0; k < nextra; k++)
    if (strlen(extra[k].sha256) == 64) {
      files[count++] = &extra[k];
      total += 64 + 2 + strlen(extra[k].path) + 1;
    }
  if (count) qsort(files, count, sizeof *files, cmp_files);
  char *text = malloc(total + 1);
  int rc = 0;
  if (!text) rc = fmr_err_set(err, FMR_ENOMEM, "checksums: out of memory");
  if (!rc) {
    size_t off = 0;
    for (size_t i = 0; i < count; i++)
      off += (size_t)sprintf(text + off, "%s  %s\n", files[i]->sha256, files[i]->path);
    text[off] = '\0';
    rc = fmr_store_write(store, "manifest-sha256.txt", text, off, err);
  }
  free(text);
  free(files);
  return rc;
}

int fmr_manifest_write_records(const fmr_run_inputs *in, fmr_record *const *records, size_t n,
                               fmr_err *err) {
  const fmr_config *cfg = in->cfg;
  int rc = 0;
  json_t *m = NULL, *vols = NULL;
  char *text = NULL;
  fmr_store *store = NULL;
  fmr_record **sorted = calloc(n ? n : 1, sizeof *sorted);
  if (!sorted) return fmr_err_set(err, FMR_ENOMEM, "manifest: out of memory");
  if (n) memcpy(sorted, records, n * sizeof *sorted);
  /* qsort's array may not be NULL even for no elements (C11 7.22.5): guard the empty run. */
  if (n) qsort(sorted, n, sizeof *sorted, cmp_records);

  size_t ok = 0, failed = 0, missing = 0, outputs = 0, warnings = 0;
  json_int_t bytes = 0;
  vols = json_array();
  for (size_t i = 0; vols && i < n; i++) {
    fmr_status st = sorted[i]->status;
    if (st == FMR_STATUS_OK) ok++;
    else if (st == FMR_STATUS_MISSING) missing++;
    else failed++;
    outputs += sorted[i]->noutputs;
    for (size_t k = 0; k < sorted[i]->noutputs; k++) bytes += (json_int_t)sorted[i]->outputs[k].bytes;
    warnings += sorted[i]->warnings.n;
    json_t *v = fmr_record_to_json(sorted[i]);
    if (!v || json_array_append_new(vols, v)) {
      rc = fmr_err_set(err, FMR_ENOMEM, "manifest: out of memory");
      goto done;
    }
  }

  json_t *vocab = json_array();
  for (size_t k = 0; k < fmr_annotations_vocab_size(in->ann); k++)
    json_array_append_new(vocab, json_string(fmr_annotations_vocab(in->ann, k)));
  /* Rows name the CSV as the config does, not where it is mounted (SPEC 7). */
  char csv_name[PATH_MAX];
  fmr_manifest_config_name(cfg, cfg->annotations, csv_name, sizeof csv_name);
  json_t *problems = json_array();
  for (size_t k = 0; k < fmr_annotations_nproblems(in->ann); k++) {
    char *p = fmr_path_replace(fmr_annotations_problem(in->ann, k), cfg->annotations, csv_name);
    json_array_append_new(problems, p ? json_string(p) : NULL);
    free(p);
  }
  /* The whole CSV's counts (every volume, processed or not), so a reader sees the release's quirks
   * next to the vocabulary they shaped. */
  fmr_annotation_totals at;
  fmr_annotations_totals(in->ann, &at);
  json_t *csv_totals = json_pack(
      "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rows", (json_int_t)at.rows, "volumes",
      (json_int_t)at.volumes, "boxes", (json_int_t)at.boxes, "study_level",
      (json_int_t)at.study_level, "degenerate", (json_int_t)at.degenerate, "duplicates",
      (json_int_t)at.duplicates, "trimmed_labels", (json_int_t)at.trimmed, "malformed",
      (json_int_t)at.malformed);
  json_t *libs = fmr_manifest_library_versions();
  if (in->mpi_version) json_object_set_new(libs, "mpi", json_string(in->mpi_version));

  /* Stable core first (format, volumes' shape is fixed by SPEC 7), then run-level facts. */
  m = json_pack("{s:s, s:b, s:I, s:{s:s, s:s, s:o}, s:{s:s, s:o}, s:{s:s, s:s, s:s?, s:s?, s:s, s:o, s:o, s:o}, "
                "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
                "format", FMR_MANIFEST_FORMAT, "complete", in->remaining == 0, "remaining",
                (json_int_t)in->remaining, "tool", "name", "fastmri-regen", "version",
                FMR_VERSION, "libraries", libs, "config", "sha256", in->config_sha256,
                "settings", fmr_config_settings(cfg), "annotations", "anatomy", cfg->anatomy,
                "csv_sha256", in->annotations_sha256, "file_list_sha256", in->file_list_sha256,
                "seg_codes_sha256", in->seg_codes_sha256,
                "bit_order", "bit k of a mask pixel set <=> vocabulary[k] present", "vocabulary",
                vocab, "csv_totals", csv_totals, "unreadable_rows", problems, "totals", "volumes",
                (json_int_t)n, "ok",
                (json_int_t)ok, "failed", (json_int_t)failed, "missing", (json_int_t)missing,
                "outputs", (json_int_t)outputs, "bytes", bytes, "warnings",
                (json_int_t)warnings, "skipped_lines", (json_int_t)in->nskipped);
  if (!m) {
    rc = fmr_err_set(err, FMR_ENOMEM, "manifest: cannot build JSON");
    goto done;
  }
  /* Lines of the file list that name no volume (the real knee list ends with "Knee data"): said
   * once, with the file as the config names it, and never counted as missing volumes. */
  if (cfg->file_list) {
    char list_name[PATH_MAX];
    fmr_manifest_config_name(cfg, cfg->file_list, list_name, sizeof list_name);
    json_t *sk = json_array();
    for (size_t k = 0; sk && k < in->nskipped; k++)
      json_array_append_new(sk, json_pack("{s:I, s:s}", "line", (json_int_t)in->skipped[k].line,
                                          "text", in->skipped[k].text));
    json_object_set_new(m, "file_list", json_pack("{s:s, s:o}", "path", list_name, "skipped", sk));
  }
  json_t *ro = json_array();
  for (size_t k = 0; ro && k < in->nrun_outputs; k++) {
    const fmr_output_file *o = &in->run_outputs[k];
    json_array_append_new(ro, json_pack("{s:s, s:s, s:I, s:s}", "path", o->path, "kind", o->kind,
                                        "bytes", (json_int_t)o->bytes, "sha256", o->sha256));
  }
  json_object_set_new(m, "outputs", ro);
  json_object_set_new(m, "volumes", vols);
  vols = NULL;
  if (!json_is_array(json_object_get(m, "volumes"))) {
    rc = fmr_err_set(err, FMR_ENOMEM, "manifest: cannot build JSON");
    goto done;
  }
  text = fmr_json_dumps(m);
  if (!text) {
    rc = fmr_err_set(err, FMR_ENOMEM, "manifest: cannot serialise JSON");
    goto done;
  }
  rc = fmr_store_open(cfg->output_dir, &store, err);
  if (rc) goto done;
  /* The checksum list first: the manifest's arrival marks the run's output as complete. */
  rc = write_checksums(store, sorted, n, in->run_outputs, in->nrun_outputs, err);
  if (!rc) rc = fmr_store_write(store, "manifest.json", text, strlen(text), err);
done:
  fmr_store_free(&store);
  free(text);
  json_decref(m);
  json_decref(vols);
  free(sorted);
  return rc;
}

