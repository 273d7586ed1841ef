/* The C face of the DCMTK adapter (src/dcmtk/, C++). Library-internal (double-underscore names).
 *
 * Plain C types only: no DCMTK header, no C++ exception and no OFCondition crosses this line. The
 * C side (src/dicom.c) decides every attribute and its value; the adapter only encodes them, so
 * the DICOM content can be read and tested without C++. */
#ifndef FMR_DCMTK_ADAPTER_H
#define FMR_DCMTK_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One data element of the top-level dataset. */
typedef struct fmr__dcmtk_attr {
  uint16_t group, element;
  /* Two-letter VR written as given; the data dictionary is not consulted, so an element whose
   * dictionary VR is ambiguous (US or SS) gets the one the caller chose. Supported: the string VRs
   * (AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT) and US, SS, UL, SL, FL, FD. */
  char vr[3];
  /* The value in DICOM string form, multiple values separated by '\\'; "" writes a zero-length
   * element (Type 2 "present but empty"). Numeric VRs are parsed from decimal text. Borrowed. */
  const char *value;
} fmr__dcmtk_attr;

/* Write one single-frame image as a DICOM Part 10 file at `path`: the dataset holds `attrs` (any
 * order; DCMTK keeps them sorted) plus Pixel Data (7FE0,0010) as OW from `npixels` 16-bit values,
 * encoded Explicit VR Little Endian without dataset padding. The file meta header is built from the
 * dataset's SOPClassUID/SOPInstanceUID (both must be among attrs) plus DCMTK's constant
 * implementation UID and version name, so the bytes depend on the arguments only: no time stamp,
 * no generated UID.
 *
 * Ownership: everything is borrowed for the duration of the call; DCMTK copies what it keeps and
 * frees it before returning. The file at `path` is created or truncated; on failure it may be left
 * partial and the caller removes it (it writes to a temporary name anyway).
 *
 * Returns 0, or a negative FMR_E* code (FMR_EINVAL bad argument or attribute, FMR_ENOMEM,
 * FMR_EDICOM a DCMTK error, FMR_EIO the file could not be written) with a NUL-terminated reason in
 * msg[0..msg_size) naming the element or the path. Never throws. Safe to call from one thread per
 * dataset; DCMTK's data dictionary is loaded (once, by DCMTK) on first use. */
int fmr__dcmtk_write_image(const fmr__dcmtk_attr *attrs, size_t nattrs, const uint16_t *pixels,
                           size_t npixels, const char *path, char *msg, size_t msg_size);

#ifdef __cplusplus
}
#endif
#endif
