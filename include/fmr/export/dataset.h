/* The per-volume file behind dataset.h5 and boxes.csv (SPEC 11): recon/<name>.h5, written by the
 * worker that made the volume (serial HDF5, no MPI here), an output of the volume like its DICOM
 * files. The collective builder (run/dataset.h) assembles the run-level files from these, so a
 * rerun can always rebuild them from recorded, intact per-volume outputs.
 *
 * recon/<name>.h5 (h5py: f["reconstruction"][:]):
 *   /reconstruction  float32 (slices, h, w), image frame (SPEC 4), before the int16 scaling of
 *                    SPEC 5.1 (absent when written without one: output.dataset off)
 *   /mask            uint8/16/32/64 (slices, h, w), image frame, SPEC 6 (reviewed volumes)
 *   /boxes           the volume's box table (export/boxes.h), FMR_DATASET_BOX_FIELDS
 *   /slice_label_bits uint64 (slices): OR of the mask pixels of each slice
 *   /slice_boxes     uint32 (slices): rows of the box table that draw on the slice (duplicates
 *                    not counted)
 *   root attributes: the volume's attributes (fmr_dataset_attrs, as in dataset.h5)
 * Contiguous layout, HDF5 1.8 objects, no object times: the same volume gives the same bytes. */
#ifndef FMR_EXPORT_DATASET_H
#define FMR_EXPORT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/export/boxes.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The attributes of one volume (SPEC 11), the same on recon/<name>.h5 and /volumes/<name>. */
typedef struct fmr_dataset_attrs {
  const char *name;
  const char *input;        /* input path relative to its input directory */
  const char *acquisition;  /* "" when absent */
  const char *anatomy;
  const char *series_uid;   /* the DICOM SeriesInstanceUID (fmr_dicom_uid, FMR_DICOM_UID_SERIES) */
  const char *recon_source; /* "kspace" | "reconstruction_rss" | "reconstruction_esc" */
  size_t slices, h, w;      /* the frame: reconstruction and mask are (slices, h, w) */
  size_t kspace_ndim;       /* 3 (single-coil) or 4 */
  uint64_t kspace_shape[4];
  double nmse;              /* against the stored reconstruction; NaN when none */
  int reviewed, zero_filled;
  int flip_ud, flip_lr;     /* SPEC 4: the image frame */
} fmr_dataset_attrs;

/* Write recon/<name>.h5 to `path` (the caller writes to a temporary name and renames). recon
 * (slices*h*w floats) may be NULL; mask NULL for volumes not reviewed (pixel_bytes then ignored).
 * rows: the volume's box table (fmr_boxes_of_volume). scratch (scratch_bytes, may be NULL): the
 * caller's memory to build the file in, used during the call only; the bytes written are the
 * same either way. */
int fmr_dataset_volume_write(const char *path, const fmr_dataset_attrs *a, const float *recon,
                             const void *mask, size_t pixel_bytes, const fmr_box_row *rows,
                             size_t nrows, void *scratch, size_t scratch_bytes, fmr_err *err);

/* Read a volume's box table back (for boxes.csv and /boxes). *rows malloc'd. */
int fmr_dataset_volume_read_boxes(const char *path, fmr_box_row **rows, size_t *n, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
