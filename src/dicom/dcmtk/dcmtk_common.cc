// Helpers shared by the DCMTK writers. Contract: dcmtk_common.h.
#include "dicom/dcmtk/dcmtk_common.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "dcmtk/ofstd/ofmem.h"

int fmr__dcmtk_fail(char *msg, size_t msg_size, int code, const char *fmt, ...) {
  if (msg && msg_size) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
  }
  return code;
}

bool fmr__dcmtk_vr_supported(const char *vr) {
  static const char *const ok[] = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT",
                                   "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT", "US",
                                   "SS", "UL", "SL", "FL", "FD"};
  for (const char *v : ok)
    if (std::strcmp(v, vr) == 0) return true;
  return false;
}

int fmr__dcmtk_insert_attr(DcmDataset &ds, const fmr__dcmtk_attr &a, bool replace, char *msg,
                           size_t msg_size) {
  if (!fmr__dcmtk_vr_supported(a.vr) || !a.value)
    return fmr__dcmtk_fail(msg, msg_size, FMR_EINVAL,
                           "(%04X,%04X): unsupported VR \"%.2s\" or no value", a.group, a.element,
                           a.vr);
  DcmTag tag(a.group, a.element, DcmVR(a.vr));
  DcmElement *raw = NULL;
  OFCondition cond = DcmItem::newDicomElementWithVR(raw, tag);
  OFunique_ptr<DcmElement> elem(raw);
  if (cond.bad() || !elem)
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "(%04X,%04X) %s: cannot create element: %s",
                           a.group, a.element, a.vr, cond.text());
  cond = elem->putString(a.value);
  if (cond.bad())
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM,
                           "(%04X,%04X) %s: cannot set value \"%s\": %s", a.group, a.element,
                           a.vr, a.value, cond.text());
  cond = ds.insert(elem.get(), replace ? OFTrue : OFFalse);
  if (cond.bad())
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "(%04X,%04X): cannot insert%s: %s",
                           a.group, a.element, replace ? "" : " (given twice?)", cond.text());
  elem.release();  // the dataset owns it now
  return 0;
}

int fmr__dcmtk_require_dictionary(char *msg, size_t msg_size) {
  if (dcmDataDict.isDictionaryLoaded()) return 0;
  return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM,
                         "DCMTK data dictionary not loaded "
                         "(Debian: /usr/share/libdcmtk17/dicom.dic; check DCMDICTPATH)");
}

int fmr__dcmtk_save(DcmFileFormat &file, const char *path, char *msg, size_t msg_size) {
  // EWM_createNewMeta: a fresh meta header from the dataset (MediaStorageSOP*UID = SOP*UID), with
  // no leftovers; group lengths recalculated; no trailing padding.
  OFCondition cond = file.saveFile(path, EXS_LittleEndianExplicit, EET_ExplicitLength,
                                   EGL_recalcGL, EPD_withoutPadding, 0, 0, EWM_createNewMeta);
  if (cond.bad())
    return fmr__dcmtk_fail(msg, msg_size, FMR_EIO, "%s: cannot write: %s", path, cond.text());
  return 0;
}
