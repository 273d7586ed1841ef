/* `fastmri-regen annotations CSV [--file-list LIST] [--frame HxW]`: parse a fastMRI+ annotation
 * CSV and print a JSON summary (totals, vocabulary, per-volume counts, problems) to stdout, so a
 * CSV can be checked before a run and the parser can be compared with an independent count. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/labels/annotations.h"
#include "fmr/cmd/cmd.h"
#include "fmr/util/error.h"
#include "fmr/input/filelist.h"
#include "fmr/util/fsutil.h"

#define MAX_INPUT_BYTES ((size_t)1 << 30)

static void usage(FILE *f) {
  fputs("usage: fastmri-regen annotations CSV [--file-list LIST] [--frame HxW]\n"
        "  Parse a fastMRI+ annotation CSV and print a JSON summary to stdout.\n"
        "  --file-list LIST  also compare with a fastMRI+ file list\n"
        "  --frame HxW       frame for the clipped/outside counts (default 320x320)\n",
        f);
}

static int parse_frame(const char *s, size_t *h, size_t *w) {
  char *end = NULL;
  unsigned long a = strtoul(s, &end, 10);
  if (end == s || (*end != 'x' && *end != 'X')) return -1;
  const char *s2 = end + 1;
  unsigned long b = strtoul(s2, &end, 10);
  if (end == s2 || *end || a == 0 || b == 0 || a > 65536 || b > 65536) return -1;
  if (s[0] == '-' || s[0] == '+' || s2[0] == '-' || s2[0] == '+') return -1;
  *h = a;
  *w = b;
  return 0;
}

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
  size_t fh = 320, fw = 320;
  char *csv = NULL, *list_text = NULL;
  size_t csv_len = 0, list_len = 0;
  fmr_annotations *ann = NULL;
  fmr_filelist fl = {0};
  json_t *root = NULL;
  char **sorted = NULL;
  fmr_err err;
  fmr_err_clear(&err);

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *val = NULL;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      status = FMR_EXIT_OK;
      goto done;
    }
    if (strncmp(arg, "--file-list", 11) == 0 || strncmp(arg, "--frame", 7) == 0) {
      size_t n = strncmp(arg, "--file-list", 11) == 0 ? 11 : 7;
      if (arg[n] == '=') {
        val = arg + n + 1;
      } else if (arg[n] == '\0' && i + 1 < argc) {
        val = argv[++i];
      } else if (arg[n] == '\0') {
        fprintf(stderr, "fastmri-regen annotations: %s needs a value\n", arg);
        usage(stderr);
        goto done;
      }
      if (val && n == 11) {
        list_path = val;
        continue;
      }
      if (val && n == 7) {
        if (parse_frame(val, &fh, &fw)) {
          fprintf(stderr, "fastmri-regen annotations: --frame wants HxW (e.g. 320x320), got '%s'\n",
                  val);
          goto done;
        }
        continue;
      }
    }
    if (arg[0] == '-' && arg[1]) {
      fprintf(stderr, "fastmri-regen annotations: unknown option '%s'\n", arg);
      usage(stderr);
      goto done;
    }
    if (csv_path) {
      fprintf(stderr, "fastmri-regen annotations: one CSV only ('%s' and '%s')\n", csv_path, arg);
      usage(stderr);
      goto done;
    }
    csv_path = arg;
  }
  if (!csv_path) {
    usage(stderr);
    goto done;
  }

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
