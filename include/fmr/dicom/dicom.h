/* DICOM MR image series (SPEC 5.2). The attribute values are built here in C; src/dcmtk/ holds the
 * thin C++ adapter that hands them to DCMTK and writes the file. No MPI here. */
#ifndef FMR_DICOM_H
#define FMR_DICOM_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"
#include "fmr/recon/header.h"
#include "fmr/dicom/uid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything constant across one volume's series. Strings are borrowed for the call. */
typedef struct fmr_dicom_series {
  const char *volume;         /* PatientName = PatientID = volume name, exactly (SPEC 5.2) */
  const char *acquisition;    /* root attribute (CORPD_FBK, AXT1, ...), "" when absent */
  const char *anatomy;        /* "knee" | "brain": nominal orientation and BodyPartExamined */
  const fmr_header *hdr;      /* parsed ISMRMRD header (absent fields stay empty) */
  const char *uid_root;       /* "2.25" or an organisational root */
  const char *uid_namespace;  /* namespace string hashed into every UID; NULL: "fastmri-regen" */
  const char *date;           /* YYYYMMDD for Study/Series/Content/Acquisition dates; NULL: empty */
  const char *time;           /* HHMMSS; NULL: empty. Anything else fails with FMR_EINVAL */
  const char *recon_source;   /* "kspace" | "reconstruction_rss" | "reconstruction_esc" */
  int undersampled;           /* zero-filled reconstruction of undersampled k-space */
  int flip_ud, flip_lr;       /* orientation applied to the pixels (SPEC 4) */
  size_t slices, rows, cols;
  double window_center, window_width;
  const char *tool_version;   /* SoftwareVersions */
  int coils;                  /* k-space coils (1: single-coil) for DerivationDescription; 0 unknown */
} fmr_dicom_series;

/* Which UID of a series: every UID written derives from (uid_root, uid_namespace, volume, role). */
typedef enum {
  FMR_DICOM_UID_STUDY,   /* role "study": StudyInstanceUID */
  FMR_DICOM_UID_SERIES,  /* role "series": SeriesInstanceUID */
  FMR_DICOM_UID_FRAME,   /* role "frame-of-reference": FrameOfReferenceUID, one per volume */
  FMR_DICOM_UID_IMAGE,   /* role "image", index = slice: SOPInstanceUID of that slice's file */
  /* The volume's DICOM Segmentation (src/seg.c): its own series in the images' study. */
  FMR_DICOM_UID_SEG_SERIES,     /* role "seg-series": the Segmentation's SeriesInstanceUID */
  FMR_DICOM_UID_SEG_INSTANCE,   /* role "seg-instance": its SOPInstanceUID */
  FMR_DICOM_UID_SEG_DIMENSIONS  /* role "seg-dimensions": its DimensionOrganizationUID */
} fmr_dicom_uid_role;

/* The UID the image writer uses for `role` (slice only for FMR_DICOM_UID_IMAGE), so that other
 * objects (e.g. a Segmentation) can reference the image series without rewriting the rule; the
 * SEG roles mint the Segmentation's own UIDs by the same rule. */
int fmr_dicom_uid(const fmr_dicom_series *s, fmr_dicom_uid_role role, size_t slice,
                  char out[FMR_UID_MAX], fmr_err *err);

/* The nominal geometry of one slice, exactly as the image writer writes it (values before DS
 * formatting with fmr_dicom_format_ds), so that a Segmentation cannot disagree with the images. */
typedef struct fmr_dicom_geometry {
  double position[3];      /* ImagePositionPatient: centre of the top-left pixel, mm (LPS) */
  double orientation[6];   /* ImageOrientationPatient: row direction, then column direction */
  double pixel_spacing[2]; /* PixelSpacing: between rows \ between columns, mm */
  double slice_thickness;  /* SliceThickness = SpacingBetweenSlices, mm */
  double slice_location;   /* SliceLocation: signed distance of the slice from the volume centre */
} fmr_dicom_geometry;

/* Geometry of slice `slice` of the series (FMR_EINVAL when slice >= s->slices). */
int fmr_dicom_geometry_of(const fmr_dicom_series *s, size_t slice, fmr_dicom_geometry *g,
                          fmr_err *err);

/* Visit the Patient, General Study and Frame of Reference attributes every image file of the
 * series carries (PatientName/ID, de-identification, Study UID/date/time/ID/description, Frame of
 * Reference UID, ...), in no particular order, so that another object of the same study (the
 * Segmentation) carries exactly the same values: dcentvfy compares them across objects. `vr` is
 * the two-letter VR, `value` the DICOM string form ("" = present but empty); both are borrowed for
 * the duration of the callback. Fails like fmr_dicom_write_slice on a bad date, time or UID root. */
typedef void (*fmr_dicom_attr_fn)(void *ctx, uint16_t group, uint16_t element, const char *vr,
                                  const char *value);
int fmr_dicom_study_attrs(const fmr_dicom_series *s, fmr_dicom_attr_fn visit, void *ctx,
                          fmr_err *err);

/* Write slice `slice` (rows*cols int16 pixels, row-major, already flipped) to `path` (the caller
 * writes to a temporary name and renames). Deterministic: same inputs, same bytes. */
int fmr_dicom_write_slice(const fmr_dicom_series *s, size_t slice, const int16_t *pixels,
                          const char *path, fmr_err *err);

/* Format a DS value into at most 16 characters with the most precision that fits: the shortest
 * decimal that reads back as v when that fits, else the longest %g form that does; "-0" becomes
 * "0". Independent of the process locale. Returns 0, or FMR_ERANGE for NaN/Inf (out = ""). */
int fmr_dicom_format_ds(double v, char out[17]);

#ifdef __cplusplus
}
#endif
#endif
