/* fastMRI+ annotation CSVs (SPEC 2.2) and their rasterization into label masks (SPEC 6).
 * No MPI here. */
#ifndef FMR_ANNOTATIONS_H
#define FMR_ANNOTATIONS_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"
#include "fmr/util/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_box {
  long slice;
  long x, y, width, height;  /* target frame pixels: x column, y row, from the top-left */
  int label;                 /* index into the vocabulary (bit `label` of the mask) */
  size_t line;               /* line of the CSV the row came from (1-based, header is line 1) */
} fmr_box;

/* A readable row as the box table (export/boxes.h) lists it: study-level coordinates are 0. */
typedef struct fmr_row {
  fmr_box box;
  int study_level, duplicate;
} fmr_row;

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
  /* Added after the first draft of this header: */
  const char *csv;             /* the path given to fmr_annotations_parse (for messages) */
  size_t study_rows;           /* study-level rows kept (duplicates excluded) */
  size_t degenerate;           /* boxes with width or height <= 0 */
  /* Every readable row in CSV order, study-level rows and exact duplicates included (flagged;
   * study-level coordinates are 0), for the per-row box table. */
  size_t nall;
  const fmr_row *all;
} fmr_volume_annotations;
/* Counting rules, per volume and in the totals:
 * - rows = boxes + study_rows + duplicates + nproblems: every CSV row naming the volume.
 * - A row is tied to a volume when it has 8 fields and a valid volume name; its other faults
 *   (non-integer or negative slice, non-integer coordinate, study_level not Yes/No, empty label,
 *   invalid UTF-8, NUL byte) make it a problem of that volume. Rows with bad quoting, the wrong
 *   number of fields or an invalid name are problems of the CSV only (fmr_annotations_problem).
 *   Every malformed row gives exactly one problem message.
 * - Exact duplicate: all 8 fields identical as read (after unquoting, before trimming); the first
 *   occurrence is kept.
 * - trimmed counts well-formed rows, duplicates included, whose label had surrounding ASCII
 *   whitespace (space, \t, \r, \n, \v, \f).
 * - Numbers are optionally signed decimal integers without spaces, |v| <= 1e9. Study-level rows
 *   must have a valid slice; their coordinates may be empty, and are otherwise checked and
 *   ignored. */

typedef struct fmr_annotations fmr_annotations;

/* Parse a whole CSV held in memory (`path` is only used in messages). Malformed rows are collected
 * as problems with file:line and skipped; only an unreadable header fails the parse. */
int fmr_annotations_parse(const char *path, const char *data, size_t len, fmr_annotations **out,
                          fmr_err *err);
/* The same with explicit limits (NULL: the defaults): a record longer than limits->csv_line_bytes
 * is a problem of that row ("record longer than N bytes (limits.csv_line_bytes)"); more than
 * limits->csv_rows data rows fails the parse with FMR_ERANGE naming the file, line and limit. */
int fmr_annotations_parse_limited(const char *path, const char *data, size_t len,
                                  const fmr_limits *limits, fmr_annotations **out, fmr_err *err);
void fmr_annotations_free(fmr_annotations **a);

/* The vocabulary: sorted (bytewise) unique trimmed labels over the whole CSV. */
size_t fmr_annotations_vocab_size(const fmr_annotations *a);
const char *fmr_annotations_vocab(const fmr_annotations *a, size_t k);

/* Rows for one volume; NULL when the CSV has none (reviewed, no findings). */
const fmr_volume_annotations *fmr_annotations_find(const fmr_annotations *a, const char *volume);

/* Every volume with rows, sorted by name (bytewise). */
size_t fmr_annotations_nvolumes(const fmr_annotations *a);
const fmr_volume_annotations *fmr_annotations_volume(const fmr_annotations *a, size_t i);

/* Rows that could not be tied to any volume or could not be read at all. */
size_t fmr_annotations_nproblems(const fmr_annotations *a);
const char *fmr_annotations_problem(const fmr_annotations *a, size_t i);

/* Every problem of the CSV (tied to a volume or not) in line order; one per malformed row. */
size_t fmr_annotations_nproblems_all(const fmr_annotations *a);
const char *fmr_annotations_problem_all(const fmr_annotations *a, size_t i);

/* Totals over the whole CSV: rows = every data row (blank lines excepted, malformed included);
 * study_level = study-level rows kept; malformed = problems of every kind (one per row). */
typedef struct fmr_annotation_totals {
  size_t rows, volumes, boxes, study_level, degenerate, duplicates, trimmed, malformed;
} fmr_annotation_totals;
void fmr_annotations_totals(const fmr_annotations *a, fmr_annotation_totals *out);

/* Bytes per mask pixel for a vocabulary of n labels: 1, 2, 4 or 8 (n <= 64), else 0; n = 0 -> 1. */
size_t fmr_mask_pixel_bytes(size_t nlabels);

typedef struct fmr_raster_stats {
  size_t drawn;      /* boxes with a non-empty part inside the frame (on an existing slice) */
  size_t degenerate; /* width or height <= 0: cover nothing */
  size_t clipped;    /* boxes partly outside the frame */
  size_t outside;    /* boxes entirely outside the frame (non-degenerate) */
  size_t bad_slice;  /* rows naming a slice the volume does not have */
} fmr_raster_stats;

/* OR every box of `va` into `mask` (slices*h*w pixels of pixel_bytes each, zeroed by the caller) in
 * the frame the boxes are expressed in (the flipped target frame). With native_frame, row r is
 * written to row h-1-r instead (fastMRI's unflipped arrays). A box covers columns [x, x+width) and
 * rows [y, y+height) clipped to the frame, and sets bit `label` of each pixel it covers.
 * `label_pixels`, if not NULL, has one counter per vocabulary entry; label_pixels[k] is INCREASED
 * by the number of pixels whose bit k this call turned on, so with a zeroed mask and zeroed
 * counters it ends as the number of mask pixels with bit k set (overlapping boxes of one label
 * count each pixel once). `stats` (if not NULL) is overwritten. A box naming a slice < 0 or
 * >= slices draws nothing, is counted in bad_slice and reported through `problem` (if not NULL)
 * as "<volume>: <csv>:<line>: slice S is out of range (the volume has N slices)"; it is not an
 * error. va == NULL (no rows) draws nothing. Fails with FMR_EINVAL, leaving the mask untouched,
 * on a pixel_bytes other than 1/2/4/8, a label whose bit does not fit the pixel, or sizes that
 * overflow. */
int fmr_annotations_rasterize(const fmr_volume_annotations *va, size_t slices, size_t h, size_t w,
                              int native_frame, void *mask, size_t pixel_bytes,
                              uint64_t *label_pixels, fmr_raster_stats *stats,
                              void (*problem)(void *ctx, const char *msg), void *ctx,
                              fmr_err *err);

/* The frame-dependent counts of rasterize (drawn, degenerate, clipped, outside) without a mask
 * or slice count (bad_slice is 0), e.g. to summarise a CSV for a nominal frame. */
void fmr_annotations_box_stats(const fmr_volume_annotations *va, size_t h, size_t w,
                               fmr_raster_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
