/* DICOM MR image series (SPEC 5.2). The attribute values are built here in C; src/dcmtk/ holds the
 * thin C++ adapter that hands them to DCMTK and writes the file. No MPI here. */
#ifndef FMR_DICOM_H
#define FMR_DICOM_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/error.h"
#include "fmr/header.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything constant across one volume's series. Strings are borrowed for the call. */
typedef struct fmr_dicom_series {
  const char *volume;         /* PatientName = PatientID = volume name */
  const char *acquisition;    /* root attribute (CORPD_FBK, AXT1, ...), "" when absent */
  const char *anatomy;        /* "knee" | "brain": nominal orientation and BodyPartExamined */
  const fmr_header *hdr;      /* parsed ISMRMRD header (absent fields stay empty) */
  const char *uid_root;       /* "2.25" or an organisational root */
  const char *uid_namespace;  /* namespace string hashed into every UID */
  const char *date;           /* YYYYMMDD for Study/Series/Content/Acquisition dates */
  const char *time;           /* HHMMSS */
  const char *recon_source;   /* "kspace" | "reconstruction_rss" | "reconstruction_esc" */
  int undersampled;           /* zero-filled reconstruction of undersampled k-space */
  int flip_ud, flip_lr;       /* orientation applied to the pixels (SPEC 4) */
  size_t slices, rows, cols;
  double window_center, window_width;
  const char *tool_version;   /* SoftwareVersions */
} fmr_dicom_series;

/* Write slice `slice` (rows*cols int16 pixels, row-major, already flipped) to `path` (the caller
 * writes to a temporary name and renames). Deterministic: same inputs, same bytes. */
int fmr_dicom_write_slice(const fmr_dicom_series *s, size_t slice, const int16_t *pixels,
                          const char *path, fmr_err *err);

/* Format a DS value into at most 16 characters with the most precision that fits. */
int fmr_dicom_format_ds(double v, char out[17]);

#ifdef __cplusplus
}
#endif
#endif
