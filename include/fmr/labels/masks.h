/* Per-volume HDF5 label-mask files (SPEC 6). No MPI here. */
#ifndef FMR_MASKS_H
#define FMR_MASKS_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"

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

/* The OR of slice s's pixels (plane = h*w of them, pixel_bytes 1/2/4/8): the label bits present
 * on the slice, 0 for a slice without labels. */
uint64_t fmr_mask_slice_bits(const void *mask, size_t pixel_bytes, size_t plane, size_t s);

/* Write dataset "mask" (slices, h, w) with attributes naming the vocabulary (vlen string array
 * "labels"), frame, orientation and volume, gzip-compressed in per-slice chunks, of which only
 * the labelled slices' are stored: an unlabelled slice's chunk is never allocated and reads as
 * the fill value 0. Deterministic
 * bytes (no timestamps in object headers). The caller writes to a temporary name and renames.
 *
 * File layout (h5py: f["mask"][:], f["mask"].attrs["labels"]):
 *   /mask  (slices, h, w) uint8/16/32/64 little-endian; chunks (1, h, w); shuffle + gzip level 3;
 *          chunks of all-zero slices not stored (fill value 0).
 *   All attributes are on the dataset /mask (none on the root); strings are variable-length UTF-8
 *   (h5py returns str):
 *     labels           string[nvocab]  vocabulary in order; bit k of a pixel <-> labels[k]
 *                                      (zero-length when the vocabulary is empty)
 *     bit_order        string          "bit k (value 1 << k) of a pixel is set when ... labels[k]"
 *     frame            string          m->frame: "image" or "native"
 *     flip_up_down     uint8           0/1
 *     flip_left_right  uint8           0/1
 *     volume, anatomy  string
 *     format           string          "fastmri-regen-mask/1"
 * Format pinned to HDF5 1.8 objects (libver bounds v18..v18) and no object times, so the same
 * input gives byte-identical files. The HDF5 error stack is not printed; errors come back as
 * FMR_EHDF5 with the path and the innermost HDF5 message. FMR_EINVAL for slices/h/w of 0, a
 * pixel_bytes other than 1/2/4/8, or more labels than the pixel has bits. No MPI calls (default
 * file access property list). */
int fmr_masks_write(const char *path, const fmr_mask_file *m, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
