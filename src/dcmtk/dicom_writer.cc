// DICOM image writer over DCMTK's dcmdata: the only C++ that sees the attribute values. It encodes
// what src/dicom.c decided and decides nothing itself. Contract and ownership: dcmtk_adapter.h.
#include "dcmtk/dcmtk_adapter.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "dcmtk/ofstd/ofmem.h"
#include "fmr/error.h"

namespace {

// printf into the caller's buffer, always NUL-terminated, silently truncated.
int fail(char *msg, size_t msg_size, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int fail(char *msg, size_t msg_size, int code, const char *fmt, ...) {
  if (msg && msg_size) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
  }
  return code;
}

// The VRs the C side may ask for: strings and single numbers, never sequences or bulk data (pixel
// data is added separately), so a typo cannot produce an element DCMTK would write as UN/OB.
bool vr_supported(const char *vr) {
  static const char *const ok[] = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT",
                                   "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT", "US",
                                   "SS", "UL", "SL", "FL", "FD"};
  for (const char *v : ok)
    if (std::strcmp(v, vr) == 0) return true;
  return false;
}

int put_attr(DcmDataset &ds, const fmr__dcmtk_attr &a, char *msg, size_t msg_size) {
  if (!vr_supported(a.vr) || !a.value)
    return fail(msg, msg_size, FMR_EINVAL, "(%04X,%04X): unsupported VR \"%.2s\" or no value",
                a.group, a.element, a.vr);
  DcmVR vr(a.vr);
  DcmTag tag(a.group, a.element, vr);
  DcmElement *raw = NULL;
  OFCondition cond = DcmItem::newDicomElementWithVR(raw, tag);
  OFunique_ptr<DcmElement> elem(raw);
  if (cond.bad() || !elem)
    return fail(msg, msg_size, FMR_EDICOM, "(%04X,%04X) %s: cannot create element: %s", a.group,
                a.element, a.vr, cond.text());
  cond = elem->putString(a.value);
  if (cond.bad())
    return fail(msg, msg_size, FMR_EDICOM, "(%04X,%04X) %s: cannot set value \"%s\": %s",
                a.group, a.element, a.vr, a.value, cond.text());
  cond = ds.insert(elem.get(), OFFalse);
  if (cond.bad())
    return fail(msg, msg_size, FMR_EDICOM, "(%04X,%04X): cannot insert (given twice?): %s",
                a.group, a.element, cond.text());
  elem.release();  // the dataset owns it now
  return 0;
}

int write_image(const fmr__dcmtk_attr *attrs, size_t nattrs, const uint16_t *pixels,
                size_t npixels, const char *path, char *msg, size_t msg_size) {
  if ((!attrs && nattrs) || !pixels || npixels == 0 || !path)
    return fail(msg, msg_size, FMR_EINVAL, "DICOM writer: missing attributes, pixels or path");
  // Without the dictionary DCMTK cannot name the meta-header elements; say why instead of
  // writing a file with UN elements.
  if (!dcmDataDict.isDictionaryLoaded())
    return fail(msg, msg_size, FMR_EDICOM,
                "DCMTK data dictionary not loaded (Debian: /usr/share/libdcmtk17/dicom.dic; "
                "check DCMDICTPATH)");

  DcmFileFormat file;
  DcmDataset *ds = file.getDataset();
  bool have_class = false, have_instance = false;
  for (size_t k = 0; k < nattrs; k++) {
    int rc = put_attr(*ds, attrs[k], msg, msg_size);
    if (rc) return rc;
    DcmTagKey key(attrs[k].group, attrs[k].element);
    if (key == DCM_SOPClassUID && attrs[k].value[0]) have_class = true;
    if (key == DCM_SOPInstanceUID && attrs[k].value[0]) have_instance = true;
  }
  // DCMTK would otherwise invent a random SOPInstanceUID for the meta header.
  if (!have_class || !have_instance)
    return fail(msg, msg_size, FMR_EINVAL, "%s: SOPClassUID and SOPInstanceUID are required",
                path);

  DcmElement *raw = NULL;
  OFCondition cond =
      DcmItem::newDicomElementWithVR(raw, DcmTag(DCM_PixelData, DcmVR(EVR_OW)));
  OFunique_ptr<DcmElement> pix(raw);
  if (cond.bad() || !pix)
    return fail(msg, msg_size, FMR_EDICOM, "%s: cannot create Pixel Data: %s", path, cond.text());
  cond = pix->putUint16Array(pixels, static_cast<unsigned long>(npixels));
  if (cond.bad())
    return fail(msg, msg_size, FMR_EDICOM, "%s: cannot set %zu pixels: %s", path, npixels,
                cond.text());
  cond = ds->insert(pix.get(), OFFalse);
  if (cond.bad())
    return fail(msg, msg_size, FMR_EDICOM, "%s: cannot insert Pixel Data: %s", path, cond.text());
  pix.release();

  // EWM_createNewMeta: a fresh meta header from the dataset (MediaStorageSOP*UID = SOP*UID), with
  // no leftovers; group lengths recalculated; no trailing padding.
  cond = file.saveFile(path, EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL,
                       EPD_withoutPadding, 0, 0, EWM_createNewMeta);
  if (cond.bad()) return fail(msg, msg_size, FMR_EIO, "%s: cannot write: %s", path, cond.text());
  return 0;
}

}  // namespace

extern "C" int fmr__dcmtk_write_image(const fmr__dcmtk_attr *attrs, size_t nattrs,
                                      const uint16_t *pixels, size_t npixels, const char *path,
                                      char *msg, size_t msg_size) {
  if (msg && msg_size) msg[0] = '\0';
  try {
    return write_image(attrs, nattrs, pixels, npixels, path, msg, msg_size);
  } catch (const std::bad_alloc &) {
    return fail(msg, msg_size, FMR_ENOMEM, "%s: out of memory in DCMTK", path ? path : "(null)");
  } catch (...) {
    return fail(msg, msg_size, FMR_EDICOM, "%s: unexpected C++ exception in DCMTK",
                path ? path : "(null)");
  }
}
