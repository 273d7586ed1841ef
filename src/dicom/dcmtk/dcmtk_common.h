// Helpers shared by the DCMTK writers (dicom_writer.cc, seg_writer.cc). C++ only and
// library-internal (double-underscore names); nothing here crosses the C boundary.
#ifndef FMR_DCMTK_COMMON_H
#define FMR_DCMTK_COMMON_H

#include <cstddef>
#include <new>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dicom/dcmtk/dcmtk_adapter.h" /* fmr__dcmtk_attr */
#include "fmr/util/error.h"

// printf into the caller's buffer, always NUL-terminated, silently truncated. Returns `code`.
int fmr__dcmtk_fail(char *msg, size_t msg_size, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// The VRs the C side may ask for: strings and single numbers, never sequences or bulk data (pixel
// data is added separately), so a typo cannot produce an element DCMTK would write as UN/OB.
bool fmr__dcmtk_vr_supported(const char *vr);

// Insert one top-level element with the VR the C side chose. With `replace` an element already in
// the dataset is replaced; without it, a second one is an error. Ownership: `a` is borrowed; the
// dataset owns the new element. Returns 0 or FMR_EINVAL/FMR_EDICOM with a reason in msg.
int fmr__dcmtk_insert_attr(DcmDataset &ds, const fmr__dcmtk_attr &a, bool replace, char *msg,
                           size_t msg_size);

// 0 if DCMTK's data dictionary is loaded, else FMR_EDICOM with the reason in msg: without it
// DCMTK cannot name the meta-header elements, and would write a file with UN elements.
int fmr__dcmtk_require_dictionary(char *msg, size_t msg_size);

// Save `file` at `path` as Explicit VR Little Endian: a fresh meta header from the dataset
// (MediaStorageSOP*UID = SOP*UID), group lengths recalculated, no trailing padding. Returns 0,
// FMR_EDICOM (cannot encode) or fmr_write_file's code (FMR_ESTORAGE for a full, read-only or
// failing disk, the message "<path>: <the system's words>").
int fmr__dcmtk_save(DcmFileFormat &file, const char *path, char *msg, size_t msg_size);

// The extern "C" entry points: clear msg, run `body` (which returns 0 or a negative FMR_E* code),
// and turn any C++ exception into a code and a message naming `path`, so none crosses into C.
template <class Body>
int fmr__dcmtk_guard(const char *path, char *msg, size_t msg_size, Body &&body) {
  if (msg && msg_size) msg[0] = '\0';
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fmr__dcmtk_fail(msg, msg_size, FMR_ENOMEM, "%s: out of memory in DCMTK",
                           path ? path : "(null)");
  } catch (...) {
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: unexpected C++ exception in DCMTK",
                           path ? path : "(null)");
  }
}

#endif
