/* Per-volume HDF5 label-mask files (SPEC 6). No MPI here. */
#ifndef FMR_MASKS_H
#define FMR_MASKS_H

#include <stddef.h>

#include "fmr/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_mask_file {
  const char *volume;
  const char *anatomy;
  const char *frame;          /* "image" (same orientation as the DICOM) or "native" (fastMRI) */
  int flip_ud, flip_lr;       /* orientation of the image frame relative to fastMRI's arrays */
  size_t slices, h, w;
  size_t pixel_bytes;         /* 1, 2, 4 or 8 -> uint8/16/32/64 */
  const void *mask;           /* slices*h*w pixels */
  size_t nvocab;
  const char *const *vocab;   /* label k <-> bit k */
} fmr_mask_file;

/* Write dataset "mask" (slices, h, w) with attributes naming the vocabulary (vlen string array
 * "labels"), frame, orientation and volume, gzip-compressed in per-slice chunks. Deterministic bytes
 * (no timestamps in object headers). The caller writes to a temporary name and renames. */
int fmr_masks_write(const char *path, const fmr_mask_file *m, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
