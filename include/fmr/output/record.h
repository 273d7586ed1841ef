/* A volume's record: what the pipeline learned and wrote for one volume, as a C struct. This file
 * and record.c are the one place that turns it into JSON (the manifest's per-volume entry, the
 * committed resume record, the message a worker sends to rank 0) and back. No MPI here.
 *
 * The struct is plain data, like fmr_task: the pipeline fills it field by field, everything else
 * reads it through the accessors. Strings are owned (malloc'd) by the record. */
#ifndef FMR_RECORD_H
#define FMR_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FMR_STATUS_OK = 0, FMR_STATUS_FAILED, FMR_STATUS_MISSING } fmr_status;

/* One written file, path relative to output.dir. */
typedef struct fmr_output_file {
  char *path;
  const char *kind; /* static string from the store's kind table: "dicom", "mask", "seg", ... */
  uint64_t bytes;
  char sha256[65];
} fmr_output_file;

/* A growable list of owned strings. */
typedef struct fmr_strlist {
  size_t n, cap;
  char **v;
} fmr_strlist;

/* Append a copy of s (0 or FMR_ENOMEM). */
int fmr_strlist_add(fmr_strlist *l, const char *s);
/* Append a printf-formatted string (0 or FMR_ENOMEM). */
int fmr_strlist_addf(fmr_strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fmr_strlist_free(fmr_strlist *l);

typedef struct fmr_label_count {
  char *label;
  uint64_t boxes, pixels;
} fmr_label_count;

/* The volume's fastMRI+ rows as rasterised into its frame (SPEC 6). */
typedef struct fmr_annotation_counts {
  uint64_t rows, boxes, drawn, duplicates, degenerate, clipped, outside, bad_slice, trimmed_labels;
} fmr_annotation_counts;

struct fmr_record {
  char *name;
  char *anatomy;
  char *input; /* relative to its input directory; NULL when the file was not found */
  fmr_status status;
  char *error; /* NULL when ok */
  int reviewed;

  /* A volume a worker opened (or tried to) has the fields below; a missing or quarantined one
   * has only the ones above, its outputs and its warnings. */
  int processed;
  int have_kspace; /* the k-space file was readable: */
  int undersampled;
  uint64_t slices;
  size_t kspace_ndim;
  uint64_t kspace_shape[4];
  uint64_t coils;
  char *acquisition;
  int have_frame;
  uint64_t frame[2]; /* rows, columns */
  char *recon_source;
  int zero_filled;
  double nmse_vs_stored; /* NaN: nothing to compare with (JSON null) */
  int have_scaling;
  double percentile, p999, scale, window_center, window_width;
  fmr_label_count *labels; /* in vocabulary order */
  size_t nlabels;
  fmr_strlist study_labels;
  int have_annotation; /* annotation counts present (reviewed and an annotation output on) */
  fmr_annotation_counts annotation;
  fmr_strlist annotation_problems;

  fmr_output_file *outputs;
  size_t noutputs, capoutputs;
  /* What the pipeline had to assume or skip (issue 11: warnings are data). */
  fmr_strlist warnings;
};
typedef struct fmr_record fmr_record;

/* A new empty record for a volume (status ok, no outputs); NULL when out of memory. */
fmr_record *fmr_record_new(const char *name, const char *anatomy, const char *input, int reviewed);

/* Set status and error message (error copied; NULL for none). 0 or FMR_ENOMEM. */
int fmr_record_set_status(fmr_record *r, fmr_status status, const char *error);

/* Append an output (path copied). 0 or FMR_ENOMEM. */
int fmr_record_add_output(fmr_record *r, const char *path, const char *kind, uint64_t bytes,
                          const char *sha256);
/* Append a label count (label copied). 0 or FMR_ENOMEM. */
int fmr_record_add_label(fmr_record *r, const char *label, uint64_t boxes, uint64_t pixels);

/* Drop every output (a failed volume keeps none). */
void fmr_record_clear_outputs(fmr_record *r);

/* The fields every layer above the pipeline needs. */
const char *fmr_record_name(const fmr_record *r);
fmr_status fmr_record_status(const fmr_record *r);
const char *fmr_record_status_name(fmr_status s); /* "ok", "failed", "missing" */
const char *fmr_record_error(const fmr_record *r); /* NULL when ok */
size_t fmr_record_noutputs(const fmr_record *r);
const fmr_output_file *fmr_record_output(const fmr_record *r, size_t i);
size_t fmr_record_nwarnings(const fmr_record *r);
const char *fmr_record_warning(const fmr_record *r, size_t i);

/* The end-of-run summary of warnings (issue 11: a summary, not one line per occurrence): one
 * line per kind of warning, "<volumes> volume(s): <the warning with its numbers as N>", most
 * frequent first, ties by text. A malloc'd string ("" when there are none); NULL: no memory. */
char *fmr_record_warnings_summary(fmr_record *const *records, size_t n);

/* A static kind name for k ("other" for an unknown one): fmr_output_file.kind is never owned. */
const char *fmr_record_kind(const char *k);

/* JSON, keys in the manifest's fixed order. to_json returns a new reference (NULL: no memory). */
json_t *fmr_record_to_json(const fmr_record *r);
int fmr_record_from_json(const json_t *j, fmr_record **out, fmr_err *err);

/* Compact text for messages between ranks (one line of JSON) and back. */
char *fmr_record_encode(const fmr_record *r);
int fmr_record_decode(const char *text, size_t len, fmr_record **out, fmr_err *err);

void fmr_record_free(fmr_record **r);

#ifdef __cplusplus
}
#endif
#endif
