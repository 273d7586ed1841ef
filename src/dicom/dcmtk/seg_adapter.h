/* The C face of the DICOM Segmentation writer (src/dcmtk/seg_writer.cc, C++ over DCMTK's dcmseg).
 * Library-internal (double-underscore names).
 *
 * Plain C types only: no DCMTK header, no C++ exception and no OFCondition crosses this line. The
 * C side (src/seg.c) decides which segments and frames exist and every value (UIDs, dates, codes,
 * DS strings); the adapter builds the dcmseg object from them in the order dcmseg expects and
 * writes the file. */
#ifndef FMR_SEG_ADAPTER_H
#define FMR_SEG_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "dicom/dcmtk/dcmtk_adapter.h" /* fmr__dcmtk_attr */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr__seg_code {
  const char *value, *scheme, *meaning;
} fmr__seg_code;

typedef struct fmr__seg_segment {
  const char *label;       /* SegmentLabel (LO) */
  const char *description; /* SegmentDescription (ST); NULL or "": absent */
  fmr__seg_code category;  /* SegmentedPropertyCategoryCodeSequence */
  fmr__seg_code type;      /* SegmentedPropertyTypeCodeSequence */
  uint16_t cielab[3];      /* RecommendedDisplayCIELabValue (DICOM-scaled L*, a*, b*) */
} fmr__seg_segment;

typedef struct fmr__seg_frame {
  uint16_t segment;             /* ReferencedSegmentNumber, 1-based */
  uint32_t position_index;      /* DimensionIndexValues[1]: the slice's place in the stack, 1.. */
  const char *position[3];      /* ImagePositionPatient, DS strings */
  const char *source_instance;  /* SOPInstanceUID of the image this frame was derived from */
  const uint8_t *pixels;        /* rows*cols bytes, 0 = outside, anything else = inside */
} fmr__seg_frame;

typedef struct fmr__seg_doc {
  uint16_t rows, cols;
  /* identity: every UID is given; the adapter generates none */
  const char *sop_instance_uid, *series_instance_uid, *study_instance_uid;
  const char *frame_of_reference_uid, *dimension_organization_uid;
  const char *patient_id;
  const char *series_number;   /* IS */
  const char *content_date;    /* DA, may be "" */
  const char *content_time;    /* TM, may be "" */
  /* Enhanced General Equipment (all non-empty) */
  const char *manufacturer, *model_name, *device_serial_number, *software_versions;
  /* Content Identification */
  const char *instance_number, *content_label, *content_description, *content_creator;
  /* the images */
  const char *source_series_uid, *source_sop_class_uid;
  /* shared functional groups, DS strings */
  const char *orientation[6];
  const char *pixel_spacing;   /* "row\\column" */
  const char *slice_thickness; /* also SpacingBetweenSlices */
  const fmr__seg_segment *segments;
  size_t nsegments;
  const fmr__seg_frame *frames;
  size_t nframes;
  /* Common Instance Reference: the SOPInstanceUIDs of the images the frames derive from, each
   * once, in slice order */
  const char *const *referenced;
  size_t nreferenced;
  /* Top-level attributes written last, replacing whatever dcmseg put there: the images' Patient/
   * Study/Frame of Reference values and the series/instance dates, so nothing dcmseg stamps by
   * itself (the current date and time) survives. String and single-number VRs only. */
  const fmr__dcmtk_attr *attrs;
  size_t nattrs;
} fmr__seg_doc;

/* Build the Segmentation described by `doc` and write it to `path` as a DICOM Part 10 file,
 * Explicit VR Little Endian, without dataset padding, with a file meta header made from the
 * dataset (MediaStorageSOPInstanceUID = SOPInstanceUID) and DCMTK's constant implementation UID.
 * Deterministic: same doc, same bytes.
 *
 * Ownership: everything in `doc` is borrowed for the call; the dcmseg document is owned inside the
 * call (OFunique_ptr) and freed before returning, segments and functional groups with it. The file
 * at `path` is created or truncated; on failure it may be left partial (the caller removes it).
 *
 * Returns 0, or FMR_EINVAL (bad argument), FMR_ENOMEM, FMR_EDICOM (dcmseg refused a value or the
 * object; the message names which), FMR_EIO (cannot write `path`), with a NUL-terminated reason in
 * msg[0..msg_size). Never throws. */
int fmr__dcmtk_write_seg(const fmr__seg_doc *doc, const char *path, char *msg, size_t msg_size);

#ifdef __cplusplus
}
#endif
#endif
