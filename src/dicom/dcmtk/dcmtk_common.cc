// Helpers shared by the DCMTK writers. Contract: dcmtk_common.h.
#include "dicom/dcmtk/dcmtk_common.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "dcmtk/dcmdata/dcwcache.h"
#include "dcmtk/ofstd/ofmem.h"
#include "fmr/util/fsutil.h"

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
  // Encoded into memory and written with plain write(2) (fmr_write_file): DcmOutputFileStream
  // reports a full disk as "I/O suspension or premature end of stream" and ignores a failing
  // fclose, so a file cut short by ENOSPC could pass as written. The bytes are the same as
  // saveFile's: the same write() call with the same options on another stream.
  // EWM_createNewMeta: a fresh meta header from the dataset (MediaStorageSOP*UID = SOP*UID), with
  // no leftovers; group lengths recalculated; no trailing padding.
  std::vector<unsigned char> bytes;
  std::vector<unsigned char> chunk(1 << 20);
  DcmOutputBufferStream out(chunk.data(), static_cast<offile_off_t>(chunk.size()));
  DcmWriteCache wcache;
  auto drain = [&] {
    void *data = NULL;
    offile_off_t len = 0;
    out.flushBuffer(data, len);
    if (len > 0) {
      const unsigned char *p = static_cast<const unsigned char *>(data);
      bytes.insert(bytes.end(), p, p + len);
    }
  };
  file.transferInit();
  OFCondition cond;
  for (;;) {
    cond = file.write(out, EXS_LittleEndianExplicit, EET_ExplicitLength, &wcache, EGL_recalcGL,
                      EPD_withoutPadding, 0, 0, 0, EWM_createNewMeta);
    if (cond != EC_StreamNotifyClient) break;
    drain();
  }
  file.transferEnd();
  if (cond.good()) {
    out.flush();
    drain();
  }
  if (cond.bad())
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: cannot encode: %s", path, cond.text());
  fmr_err err;
  fmr_err_clear(&err);
  int rc = fmr_write_file(path, bytes.data(), bytes.size(), &err);
  if (rc) return fmr__dcmtk_fail(msg, msg_size, rc, "%s", err.msg);
  return 0;
}
