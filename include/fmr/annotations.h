/* fastMRI+ annotation CSVs (SPEC 2.2) and their rasterization into label masks (SPEC 6).
 * No MPI here. */
#ifndef FMR_ANNOTATIONS_H
#define FMR_ANNOTATIONS_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_box {
  long slice;
  long x, y, width, height;  /* target frame pixels: x column, y row, from the top-left */
  int label;                 /* index into the vocabulary (bit `label` of the mask) */
  size_t line;               /* line of the CSV the row came from (1-based, header is line 1) */
} fmr_box;

/* One volume's rows, in CSV order, exact duplicates already removed (and counted). */
typedef struct fmr_volume_annotations {
  const char *name;
  size_t nboxes;
  const fmr_box *boxes;        /* study-level rows excluded */
  size_t nstudy;
  const int *study_labels;     /* vocabulary indices of study-level labels, unique, sorted */
  size_t rows;                 /* rows in the CSV for this volume, duplicates included */
  size_t duplicates;           /* exact duplicate rows dropped */
  size_t trimmed;              /* labels that needed surrounding whitespace trimmed */
  size_t nproblems;
  const char *const *problems; /* "<csv>:<line>: <what>" for this volume's unreadable rows */
} fmr_volume_annotations;

typedef struct fmr_annotations fmr_annotations;

/* Parse a whole CSV held in memory (`path` is only used in messages). Malformed rows are collected
 * as problems with file:line and skipped; only an unreadable header fails the parse. */
int fmr_annotations_parse(const char *path, const char *data, size_t len, fmr_annotations **out,
                          fmr_err *err);
void fmr_annotations_free(fmr_annotations **a);

/* The vocabulary: sorted (bytewise) unique trimmed labels over the whole CSV. */
size_t fmr_annotations_vocab_size(const fmr_annotations *a);
const char *fmr_annotations_vocab(const fmr_annotations *a, size_t k);

/* Rows for one volume; NULL when the CSV has none (reviewed, no findings). */
const fmr_volume_annotations *fmr_annotations_find(const fmr_annotations *a, const char *volume);

/* Rows that could not be tied to any volume or could not be read at all. */
size_t fmr_annotations_nproblems(const fmr_annotations *a);
const char *fmr_annotations_problem(const fmr_annotations *a, size_t i);

/* Totals over the whole CSV. */
typedef struct fmr_annotation_totals {
  size_t rows, volumes, boxes, study_level, degenerate, duplicates, trimmed, malformed;
} fmr_annotation_totals;
void fmr_annotations_totals(const fmr_annotations *a, fmr_annotation_totals *out);

/* Bytes per mask pixel for a vocabulary of n labels: 1, 2, 4 or 8 (n <= 64), else 0. */
size_t fmr_mask_pixel_bytes(size_t nlabels);

typedef struct fmr_raster_stats {
  size_t drawn;      /* boxes that set at least one pixel */
  size_t degenerate; /* width or height <= 0: cover nothing */
  size_t clipped;    /* boxes partly outside the frame */
  size_t outside;    /* boxes entirely outside the frame (non-degenerate) */
  size_t bad_slice;  /* rows naming a slice the volume does not have */
} fmr_raster_stats;

/* OR every box of `va` into `mask` (slices*h*w pixels of pixel_bytes each, zeroed by the caller) in
 * the frame the boxes are expressed in (the flipped target frame). With native_frame, row r is
 * written to row h-1-r instead (fastMRI's unflipped arrays). `label_pixels`, if not NULL, has one
 * counter per vocabulary entry and receives the number of pixels set per label. Problems (bad slice)
 * are appended as "<volume>: <csv line>: ..." strings via `problem` if not NULL. */
int fmr_annotations_rasterize(const fmr_volume_annotations *va, size_t slices, size_t h, size_t w,
                              int native_frame, void *mask, size_t pixel_bytes,
                              uint64_t *label_pixels, fmr_raster_stats *stats,
                              void (*problem)(void *ctx, const char *msg), void *ctx,
                              fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
