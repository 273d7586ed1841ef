/* NIfTI-1 image/label pairs (SPEC 11, output.nifti) and the MONAI datalist. Written with
 * nifticlib (Debian libnifti2-dev: niftiio + znz), gzip through zlib's gzopen, whose header
 * carries no timestamp, so the same input gives the same bytes. No MPI here.
 *
 * Voxel order and affine are the ones dcm2niix gives our DICOM series (checked by
 * it.ml_outputs): i runs along a DICOM row (columns), j up the image (DICOM rows reversed), k is
 * the slice index (InstanceNumber - 1); the sform and qform (code 1, scanner) map voxel centres to
 * RAS millimetres of the nominal geometry (fmr_dicom_geometry_of). */
#ifndef FMR_NIFTI_H
#define FMR_NIFTI_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/dicom/dicom.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The voxel-to-RAS affine of the series (row-major 4x4). */
int fmr_nifti_affine(const fmr_dicom_series *s, double affine[4][4], fmr_err *err);

/* The int16 DICOM pixels (slices x rows x cols, image frame, as written to the DICOM files) to
 * `path` (gzip-compressed whatever its name: the caller writes <name>.nii.gz via a temporary). */
int fmr_nifti_write_image(const char *path, const fmr_dicom_series *s, const int16_t *pixels,
                          fmr_err *err);

/* The SPEC 6 mask in the image frame (pixel_bytes 1/2/4/8 -> uint8/16/32/64). */
int fmr_nifti_write_mask(const char *path, const fmr_dicom_series *s, const void *mask,
                         size_t pixel_bytes, fmr_err *err);

/* datalist.json bytes: {"training": [{"image": "nifti/<n>.nii.gz", "label":
 * "nifti/<n>_mask.nii.gz"}, ...]} for the `n` reviewed volumes in `names` (sorted by the caller),
 * paths relative to output.dir, two-space indent, trailing newline. *text is malloc'd. */
int fmr_datalist_json(const char *const *names, size_t n, char **text, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
