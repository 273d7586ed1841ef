// DICOM Segmentation writer over DCMTK's dcmseg (Debian 12: DCMTK 3.6.7, binary and fractional
// SEG). It builds what src/seg.c decided, in the order dcmseg expects (as dcmqi's
// Itk2DicomConverter does): document, identity, dimensions, shared groups, segments, frames,
// references; then it writes the dataset, overlays the C side's top-level attributes and saves.
// Contract and ownership: seg_adapter.h.
//
// Determinism: dcmseg stamps the current date and time (ContentDate/Time at creation) and would
// generate UIDs for anything left empty. Every UID is set here from the C side's values, and the
// overlay replaces every date/time after writeDataset(), so no wall-clock value can survive; the
// file is saved through DcmFileFormat (rather than DcmSegmentation::saveFile) for exactly that
// chance to patch the dataset, with a meta header rebuilt from it.
#include "dicom/dcmtk/seg_adapter.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "dcmtk/dcmfg/fgderimg.h"
#include "dcmtk/dcmfg/fgfracon.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmiod/iodreferences.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"
#include "dicom/dcmtk/dcmtk_common.h"
#include "dcmtk/ofstd/ofmem.h"
#include "fmr/util/error.h"

namespace {

// A dcmseg call failed: name the step and DCMTK's reason.
#define SEG_CHECK(step)                                                                     \
  do {                                                                                      \
    OFCondition c__ = (step);                                                               \
    if (c__.bad())                                                                          \
      return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: %s: %s", path, #step,          \
                             c__.text());                                                   \
  } while (0)

const char *nz(const char *s) { return s ? s : ""; }

int write_seg(const fmr__seg_doc *d, const char *path, char *msg, size_t msg_size) {
  if (!d || !path || !d->segments || !d->nsegments || !d->frames || !d->nframes ||
      (!d->referenced && d->nreferenced) || d->nsegments > 65535 || d->rows == 0 || d->cols == 0 || (!d->attrs && d->nattrs))
    return fmr__dcmtk_fail(msg, msg_size, FMR_EINVAL,
                           "SEG writer: missing segments, frames or size");
  int rc = fmr__dcmtk_require_dictionary(msg, msg_size);
  if (rc) return rc;

  // 1. The document. createBinarySegmentation allocates it; from here the unique_ptr owns it
  //    (and, through it, every segment added below).
  IODGeneralEquipmentModule::EquipmentInfo eq(nz(d->manufacturer), nz(d->model_name),
                                              nz(d->device_serial_number),
                                              nz(d->software_versions));
  ContentIdentificationMacro ci(nz(d->instance_number), nz(d->content_label),
                                nz(d->content_description), nz(d->content_creator));
  DcmSegmentation *raw_doc = NULL;
  OFCondition cond = DcmSegmentation::createBinarySegmentation(raw_doc, d->rows, d->cols, eq, ci);
  OFunique_ptr<DcmSegmentation> seg(raw_doc);
  if (cond.bad() || !seg)
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: cannot create the Segmentation: %s",
                           path, cond.bad() ? cond.text() : "no object");

  // 2. Identity: given, never generated.
  SEG_CHECK(seg->getSOPCommon().setSOPInstanceUID(nz(d->sop_instance_uid)));
  SEG_CHECK(seg->getStudy().setStudyInstanceUID(nz(d->study_instance_uid)));
  SEG_CHECK(seg->getSeries().setSeriesInstanceUID(nz(d->series_instance_uid)));
  SEG_CHECK(seg->getSeries().setSeriesNumber(nz(d->series_number)));
  SEG_CHECK(seg->getFrameOfReference().setFrameOfReferenceUID(nz(d->frame_of_reference_uid)));
  SEG_CHECK(seg->getPatient().setPatientID(nz(d->patient_id)));
  // createBinarySegmentation stamped the current date and time: replace them (the overlay does it
  // again after writing, for anything dcmseg stamps later).
  if (d->content_date && d->content_date[0])
    SEG_CHECK(seg->getGeneralImage().setContentDate(d->content_date));
  if (d->content_time && d->content_time[0])
    SEG_CHECK(seg->getGeneralImage().setContentTime(d->content_time));

  // 3. Dimensions: segment, then position in the stack (what viewers sort frames by).
  IODMultiframeDimensionModule &dims = seg->getDimensions();
  SEG_CHECK(dims.addDimensionIndex(DCM_ReferencedSegmentNumber, nz(d->dimension_organization_uid),
                                   DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"));
  SEG_CHECK(dims.addDimensionIndex(DCM_ImagePositionPatient, nz(d->dimension_organization_uid),
                                   DCM_PlanePositionSequence, "ImagePositionPatient"));

  // 4. Shared functional groups: copied by addForAllFrames, so stack objects suffice.
  FGPixelMeasures measures;
  SEG_CHECK(measures.setPixelSpacing(nz(d->pixel_spacing)));
  SEG_CHECK(measures.setSliceThickness(nz(d->slice_thickness)));
  SEG_CHECK(measures.setSpacingBetweenSlices(nz(d->slice_thickness)));
  SEG_CHECK(seg->addForAllFrames(measures));
  FGPlaneOrientationPatient orient;
  SEG_CHECK(orient.setImageOrientationPatient(nz(d->orientation[0]), nz(d->orientation[1]),
                                              nz(d->orientation[2]), nz(d->orientation[3]),
                                              nz(d->orientation[4]), nz(d->orientation[5])));
  SEG_CHECK(seg->addForAllFrames(orient));

  // 5. Segments, numbered 1.. in the order given.
  for (size_t k = 0; k < d->nsegments; k++) {
    const fmr__seg_segment &s = d->segments[k];
    CodeSequenceMacro category(nz(s.category.value), nz(s.category.scheme),
                               nz(s.category.meaning));
    CodeSequenceMacro type(nz(s.type.value), nz(s.type.scheme), nz(s.type.meaning));
    DcmSegment *raw_segment = NULL;
    cond = DcmSegment::create(raw_segment, nz(s.label), category, type, DcmSegTypes::SAT_MANUAL);
    OFunique_ptr<DcmSegment> segment(raw_segment);
    if (cond.bad() || !segment)
      return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: segment %zu \"%s\": %s", path,
                             k + 1, nz(s.label), cond.bad() ? cond.text() : "no object");
    if (s.description && s.description[0])
      SEG_CHECK(segment->setSegmentDescription(s.description));
    SEG_CHECK(segment->setRecommendedDisplayCIELabValue(s.cielab[0], s.cielab[1], s.cielab[2]));
    Uint16 number = 0;
    SEG_CHECK(seg->addSegment(segment.get(), number));
    segment.release();  // the document owns it once added
    if (number != k + 1)
      return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM,
                             "%s: segment \"%s\" got number %u, expected %zu", path, nz(s.label),
                             number, k + 1);
  }

  // 6. Frames. addFrame copies the pixels and every functional group, so one set of groups is
  //    refilled per frame; it adds the Segment Identification group itself.
  FGPlanePosPatient position;
  FGFrameContent content;
  FGDerivationImage derivation;
  const CodeSequenceMacro derivation_code("113076", "DCM", "Segmentation");
  const CodeSequenceMacro purpose("121322", "DCM", "Source image for image processing operation");
  OFVector<FGBase *> groups;
  groups.push_back(&position);
  groups.push_back(&content);
  groups.push_back(&derivation);
  for (size_t f = 0; f < d->nframes; f++) {
    const fmr__seg_frame &fr = d->frames[f];
    if (!fr.pixels || !fr.source_instance || fr.segment == 0 || fr.segment > d->nsegments)
      return fmr__dcmtk_fail(msg, msg_size, FMR_EINVAL,
                             "%s: frame %zu: bad segment or no pixels", path, f);
    SEG_CHECK(position.setImagePositionPatient(nz(fr.position[0]), nz(fr.position[1]),
                                               nz(fr.position[2])));
    SEG_CHECK(content.setDimensionIndexValues(fr.segment, 0));
    SEG_CHECK(content.setDimensionIndexValues(fr.position_index, 1));
    derivation.clearData();
    DerivationImageItem *item = NULL;  // owned by `derivation`
    SEG_CHECK(derivation.addDerivationImageItem(derivation_code, "", item));
    OFunique_ptr<SourceImageItem> source(new SourceImageItem());
    source->getPurposeOfReferenceCode() = purpose;
    SEG_CHECK(source->getImageSOPInstanceReference().setReferencedSOPClassUID(
        nz(d->source_sop_class_uid)));
    SEG_CHECK(source->getImageSOPInstanceReference().setReferencedSOPInstanceUID(
        fr.source_instance));
    item->getSourceImageItems().push_back(source.release());  // owned by `item`
    // addFrame takes a non-const pointer but only reads (and packs) the pixels.
    SEG_CHECK(seg->addFrame(const_cast<Uint8 *>(fr.pixels), fr.segment, groups));
  }

  // 7. Common Instance Reference: every image a frame derives from, once.
  IODReferences refs;
  for (size_t k = 0; k < d->nreferenced; k++) {
    OFunique_ptr<IODImageReference> ref(
        new IODImageReference(nz(d->patient_id), nz(d->study_instance_uid),
                              nz(d->source_series_uid), nz(d->referenced[k]),
                              nz(d->source_sop_class_uid)));
    if (!refs.add(ref.get()))
      return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: cannot reference image %s", path,
                             nz(d->referenced[k]));
    ref.release();  // `refs` owns it
  }
  if (seg->getCommonInstanceReference().addReferences(refs, nz(d->study_instance_uid)) !=
      refs.size())
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: cannot add the image references",
                           path);

  // 8. Write, overlay, save. dcmseg's dimension check runs before the per-frame groups are in
  //    the dataset, so it only logs that it cannot check; the values are ours and dciodvfy checks
  //    the written file in the tests.
  seg->setCheckDimensionsOnWrite(OFFalse);
  DcmFileFormat file;
  DcmDataset *ds = file.getDataset();
  SEG_CHECK(seg->writeDataset(*ds));
  for (size_t k = 0; k < d->nattrs; k++) {
    // Replace what dcmseg wrote.
    rc = fmr__dcmtk_insert_attr(*ds, d->attrs[k], true, msg, msg_size);
    if (rc) return rc;
  }
  return fmr__dcmtk_save(file, path, msg, msg_size);
}

}  // namespace

extern "C" int fmr__dcmtk_write_seg(const fmr__seg_doc *doc, const char *path, char *msg,
                                    size_t msg_size) {
  return fmr__dcmtk_guard(path, msg, msg_size,
                          [&] { return write_seg(doc, path, msg, msg_size); });
}
