/* A picture per reviewed volume for checking the fastMRI+ labels by eye (preview/<volume>.png): a
 * contact sheet of the slices that carry boxes, each box outlined in its label's colour, with a
 * legend. Same orientation as the DICOM images. No MPI here.
 *
 * Sheet layout (all sizes in pixels; text is a built-in 5x7 font drawn at 2x):
 *   - a title line: the volume name and how many slices are shown;
 *   - the tiles in a grid, row-major in slice order, ceil(sqrt(n)) per row (at most 6): each tile
 *     is the slice at 1:1 (cols x rows pixels) under a caption "slice S" (S from 0, as in the
 *     fastMRI+ CSV and the DICOM file names); grey levels from the int16 pixels through the
 *     volume's window (DICOM linear VOI function: the same window as the DICOM files);
 *   - every box drawn as a 1-pixel outline of its clipped rectangle [x, x+width) x [y, y+height),
 *     i.e. on the first and last covered rows and columns, in CSV order (a later box draws over an
 *     earlier one where outlines cross);
 *   - a legend: one line per label drawn on the sheet, in vocabulary order: a colour swatch, the
 *     bit number and the label text.
 * A volume whose boxes draw nothing (reviewed without findings, only study-level labels, only
 * zero-size or out-of-frame boxes) gets no sheet: fmr_preview_count_slices() is 0. The PNG is
 * 8-bit RGB, no ancillary chunks (no tIME), zlib level 6, adaptive filtering: same input, same
 * bytes. */
#ifndef FMR_PREVIEW_H
#define FMR_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/labels/annotations.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the fixed label palette; label k uses entry k % FMR_PREVIEW_NCOLOURS. */
#define FMR_PREVIEW_NCOLOURS 32

/* The colour (sRGB, 8 bits per channel) of vocabulary label (bit) k. The Segmentation uses the
 * same colour as each segment's RecommendedDisplayCIELabValue. */
void fmr_preview_colour(size_t k, uint8_t rgb[3]);

/* A box in the image frame, clipped: rows row0..row1 and columns col0..col1, inclusive. */
typedef struct fmr_preview_box {
  size_t slice;
  size_t row0, col0, row1, col1;
  int label; /* vocabulary index */
} fmr_preview_box;

/* The boxes of `va` that draw something on a slices x h x w volume, in CSV order, moved from the
 * fastMRI+ frame (rows flipped up/down from fastMRI's arrays) into the image frame given by the
 * flips applied to the images: with flip_ud = 0 row r becomes h-1-r; with flip_lr column c
 * becomes w-1-c. Degenerate, out-of-frame and bad-slice boxes are dropped. *out is malloc'd (NULL
 * when *n is 0); va == NULL gives none. FMR_ENOMEM. */
int fmr_preview_boxes(const fmr_volume_annotations *va, size_t slices, size_t h, size_t w,
                      int flip_ud, int flip_lr, fmr_preview_box **out, size_t *n, fmr_err *err);

typedef struct fmr_preview_input {
  const char *volume;            /* title */
  size_t slices, rows, cols;
  const int16_t *pixels;         /* slices*rows*cols, the DICOM images' pixels (image frame) */
  double window_center, window_width; /* the volume's VOI window; width < 1 or NaN: min..max */
  const fmr_preview_box *boxes;  /* image frame (fmr_preview_boxes) */
  size_t nboxes;
  size_t nvocab;
  const char *const *vocab;      /* legend texts; label k <-> vocab[k] */
} fmr_preview_input;

/* Number of slices the sheet shows (slices with at least one box); 0: no sheet. */
size_t fmr_preview_count_slices(const fmr_preview_input *in);

/* Render the sheet into a malloc'd RGB buffer (*rgb, width*height*3 bytes, row-major). FMR_EINVAL
 * when there is nothing to show or an argument is bad (a box outside the volume, a label outside
 * the vocabulary), FMR_ENOMEM. */
int fmr_preview_render(const fmr_preview_input *in, uint8_t **rgb, size_t *width, size_t *height,
                       fmr_err *err);

/* Render and write the sheet as a PNG file at `path` (the caller writes to a temporary name and
 * renames). FMR_EIO when the file cannot be written (a partial file may be left). */
int fmr_preview_write(const fmr_preview_input *in, const char *path, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
