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
  const json_t *ra = *(const json_t *const *)a, *rb = *(const json_t *const *)b;
  const char *na = json_string_value(json_object_get(ra, "name"));
  const char *nb = json_string_value(json_object_get(rb, "name"));
  return strcmp(na ? na : "", nb ? nb : "");
}

/* The effective settings, without paths: paths depend on where a run happens, not on what it
 * computes (the config's SHA-256 pins the exact text). */
static json_t *config_json(const fmr_config *cfg) {
  return json_pack(
      "{s:s, s:{s:b}, s:{s:b, s:b, s:s, s:b, s:b}, s:{s:s, s:b, s:b, s:s}, s:{s:s, s:s, s:s, "
      "s:s}}",
      "anatomy", cfg->anatomy, "input", "all_files", cfg->all_files, "output", "dicom",
      cfg->write_dicom, "masks", cfg->write_masks, "mask_frame",
      cfg->mask_frame == FMR_MASK_FRAME_NATIVE ? "native" : "image", "seg", cfg->write_seg,
      "preview", cfg->write_preview, "recon", "source",
      fmr_config_source_name(cfg->source), "flip_up_down", cfg->flip_up_down, "flip_left_right",
      cfg->flip_left_right, "fft_effort", fmr_config_effort_name(cfg->fft_effort), "dicom",
      "uid_root", cfg->uid_root, "uid_namespace", cfg->uid_namespace, "date", cfg->date, "time",
      cfg->time);
}

static int cmp_lines(const void *a, const void *b) {
  /* Lines are "<64 hex>  <path>": order by path. */
  return strcmp(*(const char *const *)a + 66, *(const char *const *)b + 66);
}

/* BagIt-style checksum list, so `cd OUTDIR && sha256sum -c manifest-sha256.txt` works without us. */
static int write_checksums(const fmr_config *cfg, json_t *const *sorted, size_t n, fmr_err *err) {
  size_t count = 0, cap = 0, total = 0;
  char **lines = NULL;
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    json_t *outs = json_object_get(sorted[i], "outputs");
    for (size_t k = 0; k < json_array_size(outs); k++) {
      json_t *o = json_array_get(outs, k);
      const char *sha = json_string_value(json_object_get(o, "sha256"));
      const char *path = json_string_value(json_object_get(o, "path"));
      if (!sha || !path || strlen(sha) != 64) continue;
      if (count == cap) {
        cap = cap ? 2 * cap : 1024;
        char **nl = realloc(lines, cap * sizeof *nl);
        if (!nl) {
          rc = fmr_err_set(err, FMR_ENOMEM, "checksums: out of memory");
          break;
        }
        lines = nl;
      }
      size_t len = 64 + 2 + strlen(path) + 2;
      lines[count] = malloc(len);
      if (!lines[count]) {
        rc = fmr_err_set(err, FMR_ENOMEM, "checksums: out of memory");
        break;
      }
      snprintf(lines[count], len, "%s  %s\n", sha, path);
      total += len - 1;
      count++;
    }
  }
  char *text = NULL;
  if (!rc) {
    qsort(lines, count, sizeof *lines, cmp_lines);
    text = malloc(total + 1);
    if (!text) rc = fmr_err_set(err, FMR_ENOMEM, "checksums: out of memory");
  }
  if (!rc) {
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
      size_t l = strlen(lines[i]);
      memcpy(text + off, lines[i], l);
      off += l;
    }
    text[off] = '\0';
    char path[PATH_MAX];
    rc = fmr_path_join(path, sizeof path, cfg->output_dir, "manifest-sha256.txt", err);
    if (!rc) rc = fmr_write_file_atomic(path, text, off, err);
  }
  free(text);
  for (size_t i = 0; i < count; i++) free(lines[i]);
  free(lines);
  return rc;
}

int fmr_manifest_write(const fmr_run_inputs *in, json_t *records, fmr_err *err) {
  const fmr_config *cfg = in->cfg;
  int rc = 0;
  json_t *m = NULL, *vols = NULL;
  char *text = NULL;
  size_t n = json_array_size(records);
  json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
  if (!sorted) return fmr_err_set(err, FMR_ENOMEM, "manifest: out of memory");
  for (size_t i = 0; i < n; i++) sorted[i] = json_array_get(records, i);
  qsort(sorted, n, sizeof *sorted, cmp_records);

  size_t ok = 0, failed = 0, missing = 0, outputs = 0;
  json_int_t bytes = 0;
  vols = json_array();
  for (size_t i = 0; i < n; i++) {
    const char *st = json_string_value(json_object_get(sorted[i], "status"));
    if (st && strcmp(st, "ok") == 0) ok++;
    else if (st && strcmp(st, "missing") == 0) missing++;
    else failed++;
    json_t *outs = json_object_get(sorted[i], "outputs");
    for (size_t k = 0; k < json_array_size(outs); k++) {
      outputs++;
      bytes += json_integer_value(json_object_get(json_array_get(outs, k), "bytes"));
    }
    json_array_append(vols, sorted[i]);
  }

  json_t *vocab = json_array();
  for (size_t k = 0; k < fmr_annotations_vocab_size(in->ann); k++)
    json_array_append_new(vocab, json_string(fmr_annotations_vocab(in->ann, k)));
  json_t *problems = json_array();
  for (size_t k = 0; k < fmr_annotations_nproblems(in->ann); k++)
    json_array_append_new(problems, json_string(fmr_annotations_problem(in->ann, k)));
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
                "s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
                "format", FMR_MANIFEST_FORMAT, "complete", in->remaining == 0, "remaining",
                (json_int_t)in->remaining, "tool", "name", "fastmri-regen", "version",
                FMR_VERSION, "libraries", libs, "config", "sha256", in->config_sha256,
                "settings", config_json(cfg), "annotations", "anatomy", cfg->anatomy,
                "csv_sha256", in->annotations_sha256, "file_list_sha256", in->file_list_sha256,
                "seg_codes_sha256", in->seg_codes_sha256,
                "bit_order", "bit k of a mask pixel set <=> vocabulary[k] present", "vocabulary",
                vocab, "csv_totals", csv_totals, "unreadable_rows", problems, "totals", "volumes",
                (json_int_t)n, "ok",
                (json_int_t)ok, "failed", (json_int_t)failed, "missing", (json_int_t)missing,
                "outputs", (json_int_t)outputs, "bytes", bytes, "volumes", vols);
  vols = NULL;
  if (!m) {
    rc = fmr_err_set(err, FMR_ENOMEM, "manifest: cannot build JSON");
    goto done;
  }
  text = fmr_json_dumps(m);
  if (!text) {
    rc = fmr_err_set(err, FMR_ENOMEM, "manifest: cannot serialise JSON");
    goto done;
  }
  /* The checksum list first: the manifest's arrival marks the run's output as complete. */
  rc = write_checksums(cfg, sorted, n, err);
  if (rc) goto done;
  char path[PATH_MAX];
  rc = fmr_path_join(path, sizeof path, cfg->output_dir, "manifest.json", err);
  if (!rc) rc = fmr_write_file_atomic(path, text, strlen(text), err);
done:
  free(text);
  json_decref(m);
  json_decref(vols);
  free(sorted);
  return rc;
}
