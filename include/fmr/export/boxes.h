/* The box table (SPEC 11, boxes.csv and /boxes of dataset.h5): every annotation row of a processed
 * volume with its box in every frame a user meets. No MPI here.
 *
 * Frames (h x w pixels, row r from the top, column c from the left):
 *   fastMRI+ (the CSV's x, y): fastMRI's arrays with the rows flipped up/down (SPEC 4).
 *   native: fastMRI's arrays (reconstruction_rss as stored): row r <- fastMRI+ row h-1-r.
 *   image: the DICOM/mask/dataset.h5 frame, fastMRI's arrays after flip_up_down/flip_left_right.
 * A box covers columns [x, x+width) and rows [y, y+height) (SPEC 6); the image and native boxes
 * are that box clipped to the frame and mirrored into the frame. Millimetres: the outer corners of
 * the clipped image-frame box (pixel edges, half a pixel beyond the first and last pixel centres)
 * in the nominal DICOM patient coordinates (LPS) of fmr_dicom_geometry_of, the numbers the DICOM
 * writer formats into ImagePositionPatient/ImageOrientationPatient/PixelSpacing. */
/* In export/, not labels/: it needs the DICOM geometry, and dicom/ already includes labels/. */
#ifndef FMR_BOXES_H
#define FMR_BOXES_H

#include <stddef.h>

#include "fmr/dicom/dicom.h"
#include "fmr/labels/annotations.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  FMR_BOX_CLIPPED = 1,    /* part (or all) of a non-degenerate box lies outside the frame */
  FMR_BOX_DEGENERATE = 2, /* width or height <= 0: covers nothing */
  FMR_BOX_DUPLICATE = 4,  /* exact copy of an earlier row: counted once (SPEC 6) */
  FMR_BOX_BAD_SLICE = 8,  /* names a slice the volume does not have */
  FMR_BOX_OUTSIDE = 16    /* non-degenerate but entirely outside the frame (also CLIPPED) */
};

typedef struct fmr_box_row {
  long slice;
  size_t line;          /* CSV line (1-based, header = 1) */
  int label;            /* vocabulary index = mask bit */
  int study_level;      /* study-level row: no box, no frames, no millimetres */
  long x, y, width, height; /* the CSV's numbers (fastMRI+ frame); 0 for study-level rows */
  int has_box;          /* the clipped box is non-empty (and the slice exists): the fields below */
  long img_x, img_y, img_w, img_h; /* clipped, image frame */
  long nat_x, nat_y, nat_w, nat_h; /* clipped, native frame */
  double mm0[3], mm1[3];           /* LPS mm: outer corner at (img_y, img_x) and at
                                      (img_y + img_h, img_x + img_w), in pixel-edge terms */
  unsigned flags;       /* FMR_BOX_* */
} fmr_box_row;

/* Every row of `va->all` (NULL va: none) for the series `s` (slices, rows, cols, flips and the
 * geometry), sorted by slice then CSV line. *rows is malloc'd (NULL when *n = 0). */
int fmr_boxes_of_volume(const fmr_volume_annotations *va, const fmr_dicom_series *s,
                        fmr_box_row **rows, size_t *n, fmr_err *err);

/* One volume's rows to append to a table. */
typedef struct fmr_box_volume {
  const char *volume;
  const fmr_box_row *rows;
  size_t n;
} fmr_box_volume;

/* The CSV header, exactly (no line end): the column order of fmr_boxes_csv. */
extern const char *const FMR_BOXES_CSV_HEADER;

/* boxes.csv bytes (RFC 4180, CRLF) for `nvol` volumes in the order given (the caller passes them
 * sorted by name). Labels by vocabulary index. *text is malloc'd and NUL-terminated. */
int fmr_boxes_csv(const fmr_box_volume *vols, size_t nvol, const char *const *vocab, size_t nvocab,
                  char **text, size_t *len, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
