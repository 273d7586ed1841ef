/* DICOM Segmentation objects of the fastMRI+ label masks (SPEC 6): one binary SEG per reviewed
 * volume with findings, referencing the volume's image series (include/fmr/dicom.h). The C side
 * here decides which segments and frames there are and every attribute value; src/dcmtk/
 * seg_writer.cc hands them to DCMTK's dcmseg. No MPI here.
 *
 * What a file holds (seg/<volume>.dcm):
 * - Segmentation Storage, BINARY, Explicit VR Little Endian; the images' Patient, Study and Frame
 *   of Reference attributes verbatim (fmr_dicom_study_attrs); its own series (SeriesNumber 2).
 * - One segment per vocabulary label with at least one mask pixel in the volume, numbered from 1
 *   in vocabulary order; SegmentLabel = the label text; SegmentAlgorithmType MANUAL (radiologists
 *   drew the boxes); category and type from the coded-concept table (fmr_seg_codes_*);
 *   RecommendedDisplayCIELabValue = the label's preview colour (include/fmr/preview.h).
 * - One frame per (segment, slice) where the segment has pixels: segments in order, slices in
 *   order within a segment. Per frame: ReferencedSegmentNumber, ImagePositionPatient of the
 *   slice, DimensionIndexValues (segment number, slice + 1), and the image of that slice as
 *   derivation source. Shared: ImageOrientationPatient, PixelSpacing, SliceThickness,
 *   SpacingBetweenSlices - all from fmr_dicom_geometry_of, so the SEG matches the images.
 * - Deterministic: UIDs from fmr_dicom_uid (roles seg-series, seg-instance, seg-dimensions), dates
 *   and times from the series (never the wall clock). */
#ifndef FMR_SEG_H
#define FMR_SEG_H

#include <stddef.h>

#include "fmr/dicom/dicom.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- coded concepts ------------------------------------------------------------------------- */

typedef struct fmr_seg_code {
  const char *value;   /* CodeValue (SH) */
  const char *scheme;  /* CodingSchemeDesignator (SH), e.g. "SCT" */
  const char *meaning; /* CodeMeaning (LO) */
} fmr_seg_code;

typedef struct fmr_seg_concept {
  fmr_seg_code category; /* SegmentedPropertyCategoryCodeSequence */
  fmr_seg_code type;     /* SegmentedPropertyTypeCodeSequence */
  const char *basis;     /* "exact", "broader" or "fallback" (see configs/seg-codes.csv) */
  int listed;            /* 0: the label is not in the table at all (fallback) */
} fmr_seg_concept;

/* The label -> coded concept table (configs/seg-codes.csv). Opaque; immutable once loaded, so one
 * table may be shared by any number of writers. */
typedef struct fmr_seg_codes fmr_seg_codes;

/* Parse a table held in memory (`name` only for messages: "<name>:<line>: <problem>"). Columns:
 * anatomy, label, category value/scheme/meaning, type value/scheme/meaning, basis, note; a header
 * row starting "anatomy,"; '#' comment lines and blank lines ignored; RFC 4180 quoting. Rules: a
 * `*,*` row with all six codes is required (the fallback); other rows have all six codes or
 * none (then basis must be "fallback"); codes are printable ASCII without '\', values and schemes
 * at most 16 characters, meanings at most 64; (anatomy, label) pairs are unique. FMR_ECONFIG on
 * any violation, FMR_ENOMEM. *out is owned by the caller (fmr_seg_codes_free). */
int fmr_seg_codes_parse(const char *name, const char *text, size_t len, fmr_seg_codes **out,
                        fmr_err *err);

/* The table compiled into the binary from configs/seg-codes.csv. */
int fmr_seg_codes_builtin(fmr_seg_codes **out, fmr_err *err);

/* Load `path` (NULL or "": the built-in table). */
int fmr_seg_codes_load(const char *path, fmr_seg_codes **out, fmr_err *err);

void fmr_seg_codes_free(fmr_seg_codes **codes);

/* SHA-256 (hex) of the table's text, for the run key: a changed table must redo the SEGs. */
const char *fmr_seg_codes_sha256(const fmr_seg_codes *codes);

/* The concept for `label` (trimmed vocabulary text) of `anatomy`: the row for (anatomy, label),
 * else ("*", label), else the fallback row. Strings point into the table. */
void fmr_seg_codes_lookup(const fmr_seg_codes *codes, const char *anatomy, const char *label,
                          fmr_seg_concept *out);

/* ---- the Segmentation ----------------------------------------------------------------------- */

typedef struct fmr_seg_input {
  const fmr_dicom_series *series; /* the image series the SEG annotates (UIDs, geometry, study,
                                     anatomy, date/time, tool version); slices/rows/cols give the
                                     mask's shape */
  const void *mask;               /* slices*rows*cols pixels in the image frame (as the DICOM) */
  size_t pixel_bytes;             /* 1, 2, 4 or 8; bit k <-> vocab[k] */
  size_t nvocab;
  const char *const *vocab;
  const fmr_seg_codes *codes;
} fmr_seg_input;

/* Number of vocabulary labels with at least one pixel in the mask: the SEG's segments. 0 means no
 * Segmentation is written for the volume (a SEG needs at least one frame). `codes` may be NULL
 * here; 0 also for a bad mask or shape. */
size_t fmr_seg_count_segments(const fmr_seg_input *in);

/* Write the Segmentation to `path` (the caller writes to a temporary name and renames). All
 * arguments are borrowed for the call. Fails with FMR_EINVAL on a bad argument or an empty mask
 * (fmr_seg_count_segments() == 0), FMR_EDICOM when DCMTK refuses the object, FMR_EIO when the
 * file cannot be written, FMR_ENOMEM; the message names the volume. A failed call may leave a
 * partial file at `path`. */
int fmr_seg_write(const fmr_seg_input *in, const char *path, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
