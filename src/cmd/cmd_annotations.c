/* `fastmri-regen annotations CSV [--file-list LIST] [--frame HxW]`: parse a fastMRI+ annotation
 * CSV and print a JSON summary (totals, vocabulary, per-volume counts, problems) to stdout, so a
 * CSV can be checked before a run and the parser can be compared with an independent count. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/labels/annotations.h"
#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr/util/error.h"
#include "fmr/input/filelist.h"
#include "fmr/util/fsutil.h"

#define MAX_INPUT_BYTES ((size_t)1 << 30)

typedef struct annotations_args {
  const char *file_list;
  size_t frame[2];
} annotations_args;

static const fmr_opt annotations_opts[] = {
    {"--file-list", "LIST", FMR_OPT_STRING, offsetof(annotations_args, file_list), NULL,
     "also compare the CSV with a fastMRI+ file list", NULL, 0, 0},
    {"--frame", "HxW", FMR_OPT_DIMS, offsetof(annotations_args, frame), "320x320",
     "frame for the clipped/outside counts", NULL, 1, 65536},
};

const fmr_command fmr_cmd_annotations_def = {
    "annotations", "[options] CSV", "summarise a fastMRI+ annotation CSV as JSON",
    "Parse a fastMRI+ annotation CSV and print a JSON summary to stdout: totals, the label "
    "vocabulary, per-volume counts and every problem with its file:line, so a CSV can be checked "
    "before a run.",
    annotations_opts, sizeof annotations_opts / sizeof *annotations_opts, 1, 1,
    fmr_cmd_annotations};

/* json_object_set_new / json_array_append_new fail on a NULL value, so one check covers both an
 * allocation failure and a string jansson refused (invalid UTF-8). */
#define JSET(obj, key, val)                                  \
  do {                                                       \
    if (json_object_set_new((obj), (key), (val))) goto oom;  \
  } while (0)
#define JPUSH(arr, val)                                      \
  do {                                                       \
    if (json_array_append_new((arr), (val))) goto oom;       \
  } while (0)

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *jsize(size_t v) { return json_integer((json_int_t)v); }

int fmr_cmd_annotations(int argc, char **argv) {
  int status = FMR_EXIT_USAGE;
  const char *csv_path = NULL, *list_path = NULL;
  size_t fh = 0, fw = 0;
  char *csv = NULL, *list_text = NULL;
  size_t csv_len = 0, list_len = 0;
  fmr_annotations *ann = NULL;
  fmr_filelist fl = {0};
  json_t *root = NULL;
  char **sorted = NULL;
  fmr_err err;
  fmr_err_clear(&err);

  annotations_args a = {0};
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;
  int pst = fmr_opts_parse(&fmr_cmd_annotations_def, argc, argv, &a, pos, &npos);
  if (pst) {
    status = pst == 1 ? FMR_EXIT_OK : pst;
    goto done;
  }
  csv_path = pos[0];
  list_path = a.file_list;
  fh = a.frame[0];
  fw = a.frame[1];

  if (fmr_read_file(csv_path, MAX_INPUT_BYTES, &csv, &csv_len, &err) ||
      fmr_annotations_parse(csv_path, csv, csv_len, &ann, &err) ||
      (list_path && fmr_read_file(list_path, MAX_INPUT_BYTES, &list_text, &list_len, &err)) ||
      (list_path && fmr_filelist_parse(list_path, list_text, list_len, &fl, &err))) {
    fprintf(stderr, "fastmri-regen annotations: %s\n", err.msg);
    goto done;
  }

  fmr_annotation_totals t;
  fmr_annotations_totals(ann, &t);
  root = json_object();
  if (!root) goto oom;
  /* Each container is attached to root as soon as it exists, so root owns it whatever fails. */
  json_t *totals, *vocab, *vols, *problems, *list_obj = NULL;
  JSET(root, "csv", json_string(csv_path));
  JSET(root, "frame", json_pack("{s:I, s:I}", "h", (json_int_t)fh, "w", (json_int_t)fw));
  JSET(root, "totals", totals = json_object());
  JSET(root, "vocabulary", vocab = json_array());
  if (list_path) JSET(root, "file_list", list_obj = json_object());
  JSET(root, "volumes", vols = json_object());
  JSET(root, "problems", problems = json_array());

  size_t clipped = 0, outside = 0;
  for (size_t i = 0; i < fmr_annotations_nvolumes(ann); i++) {
    const fmr_volume_annotations *va = fmr_annotations_volume(ann, i);
    fmr_raster_stats st;
    fmr_annotations_box_stats(va, fh, fw, &st);
    clipped += st.clipped;
    outside += st.outside;
    json_t *v, *sl;
    JSET(vols, va->name, v = json_object());
    JSET(v, "rows", jsize(va->rows));
    JSET(v, "boxes", jsize(va->nboxes));
    JSET(v, "study_level", jsize(va->study_rows));
    JSET(v, "duplicates", jsize(va->duplicates));
    JSET(v, "degenerate", jsize(va->degenerate));
    JSET(v, "clipped", jsize(st.clipped));
    JSET(v, "outside", jsize(st.outside));
    JSET(v, "trimmed", jsize(va->trimmed));
    JSET(v, "malformed", jsize(va->nproblems));
    JSET(v, "study_labels", sl = json_array());
    for (size_t k = 0; k < va->nstudy; k++)
      JPUSH(sl, json_string(fmr_annotations_vocab(ann, (size_t)va->study_labels[k])));
  }
  JSET(totals, "rows", jsize(t.rows));
  JSET(totals, "volumes", jsize(t.volumes));
  JSET(totals, "boxes", jsize(t.boxes));
  JSET(totals, "study_level", jsize(t.study_level));
  JSET(totals, "degenerate", jsize(t.degenerate));
  JSET(totals, "duplicates", jsize(t.duplicates));
  JSET(totals, "trimmed", jsize(t.trimmed));
  JSET(totals, "malformed", jsize(t.malformed));
  JSET(totals, "clipped", jsize(clipped));
  JSET(totals, "outside", jsize(outside));
  for (size_t k = 0; k < fmr_annotations_vocab_size(ann); k++)
    JPUSH(vocab, json_string(fmr_annotations_vocab(ann, k)));
  for (size_t i = 0; i < fmr_annotations_nproblems_all(ann); i++)
    JPUSH(problems, json_string(fmr_annotations_problem_all(ann, i)));

  if (list_obj) {
    /* Sorted copy of the list so each annotated volume is one bsearch. */
    sorted = malloc((fl.n ? fl.n : 1) * sizeof *sorted);
    if (!sorted) goto oom;
    if (fl.n) memcpy(sorted, fl.names, fl.n * sizeof *sorted);
    qsort(sorted, fl.n, sizeof *sorted, cmp_str);
    size_t nvol = fmr_annotations_nvolumes(ann), without = 0, not_listed = 0;
    for (size_t i = 0; i < fl.n; i++)
      if (!fmr_annotations_find(ann, fl.names[i])) without++;
    for (size_t i = 0; i < nvol; i++) {
      const char *name = fmr_annotations_volume(ann, i)->name;
      if (!bsearch(&name, sorted, fl.n, sizeof *sorted, cmp_str)) not_listed++;
    }
    json_t *unlisted;
    JSET(list_obj, "path", json_string(list_path));
    JSET(list_obj, "listed", jsize(fl.n));
    JSET(list_obj, "listed_without_rows", jsize(without));
    JSET(list_obj, "with_rows_not_listed", jsize(not_listed));
    JSET(list_obj, "not_listed", unlisted = json_array());
    json_t *skipped;
    JSET(list_obj, "skipped", skipped = json_array());
    for (size_t i = 0; i < fl.nskipped; i++) {
      json_t *sk = json_object();
      JPUSH(skipped, sk);
      JSET(sk, "line", jsize(fl.skipped[i].line));
      JSET(sk, "text", json_string(fl.skipped[i].text));
    }
    for (size_t i = 0; i < nvol; i++) {
      const char *name = fmr_annotations_volume(ann, i)->name;
      if (!bsearch(&name, sorted, fl.n, sizeof *sorted, cmp_str))
        JPUSH(unlisted, json_string(name));
    }
  }

  if (json_dumpf(root, stdout, JSON_INDENT(2)) || fputc('\n', stdout) == EOF || fflush(stdout)) {
    fprintf(stderr, "fastmri-regen annotations: cannot write to stdout\n");
    goto done;
  }
  status = FMR_EXIT_OK;
  goto done;
oom:
  fprintf(stderr, "fastmri-regen annotations: out of memory (or a string that is not UTF-8)\n");
done:
  free(sorted);
  json_decref(root);
  fmr_filelist_free(&fl);
  fmr_annotations_free(&ann);
  free(list_text);
  free(csv);
  return status;
}
