// DICOM image writer over DCMTK's dcmdata: the only C++ that sees the attribute values. It encodes
// what src/dicom.c decided and decides nothing itself. Contract and ownership: dcmtk_adapter.h.
#include "dicom/dcmtk/dcmtk_adapter.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcwcache.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "dicom/dcmtk/dcmtk_common.h"
#include "dcmtk/ofstd/ofmem.h"
#include "fmr/util/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace {

// The same encoding as fmr__dcmtk_save (so the same bytes), but into memory and then one write(2)
// instead of DCMTK's buffered stdio stream: a slice's DICOM is a few hundred kB, and the pipeline
// writes one per slice.
int save_buffered(DcmFileFormat &file, const char *path, size_t npixels, char *msg,
                  size_t msg_size) {
  std::vector<unsigned char> out;
  std::vector<unsigned char> chunk(2 * npixels + (1u << 16));
  DcmOutputBufferStream stream(chunk.data(), static_cast<offile_off_t>(chunk.size()));
  DcmWriteCache wcache;
  file.transferInit();
  OFCondition cond = EC_StreamNotifyClient;
  while (cond == EC_StreamNotifyClient) {
    cond = file.write(stream, EXS_LittleEndianExplicit, EET_ExplicitLength, &wcache, EGL_recalcGL,
                      EPD_withoutPadding, 0, 0, 0, EWM_createNewMeta);
    if (cond == EC_StreamNotifyClient || cond.good()) {
      if (cond.good()) stream.flush();
      void *data = NULL;
      offile_off_t len = 0;
      stream.flushBuffer(data, len);
      const unsigned char *b = static_cast<const unsigned char *>(data);
      if (len > 0) out.insert(out.end(), b, b + len);
    }
  }
  file.transferEnd();
  if (cond.bad())
    return fmr__dcmtk_fail(msg, msg_size, FMR_EIO, "%s: cannot write: %s", path, cond.text());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    return fmr__dcmtk_fail(msg, msg_size, FMR_EIO, "%s: cannot write: %s", path,
                           std::strerror(errno));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      return fmr__dcmtk_fail(msg, msg_size, FMR_EIO, "%s: cannot write: %s", path,
                             std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0)
    return fmr__dcmtk_fail(msg, msg_size, FMR_EIO, "%s: cannot write: %s", path,
                           std::strerror(errno));
  return 0;
}

int write_image(const fmr__dcmtk_attr *attrs, size_t nattrs, const uint16_t *pixels,
                size_t npixels, const char *path, char *msg, size_t msg_size) {
  if ((!attrs && nattrs) || !pixels || npixels == 0 || !path)
    return fmr__dcmtk_fail(msg, msg_size, FMR_EINVAL,
                           "DICOM writer: missing attributes, pixels or path");
  // Without the dictionary DCMTK cannot name the meta-header elements; say why instead of
  // writing a file with UN elements.
  int rc = fmr__dcmtk_require_dictionary(msg, msg_size);
  if (rc) return rc;

  DcmFileFormat file;
  DcmDataset *ds = file.getDataset();
  bool have_class = false, have_instance = false;
  for (size_t k = 0; k < nattrs; k++) {
    rc = fmr__dcmtk_insert_attr(*ds, attrs[k], false, msg, msg_size);
    if (rc) return rc;
    DcmTagKey key(attrs[k].group, attrs[k].element);
    if (key == DCM_SOPClassUID && attrs[k].value[0]) have_class = true;
    if (key == DCM_SOPInstanceUID && attrs[k].value[0]) have_instance = true;
  }
  // DCMTK would otherwise invent a random SOPInstanceUID for the meta header.
  if (!have_class || !have_instance)
    return fmr__dcmtk_fail(msg, msg_size, FMR_EINVAL,
                           "%s: SOPClassUID and SOPInstanceUID are required", path);

  DcmElement *raw = NULL;
  OFCondition cond =
      DcmItem::newDicomElementWithVR(raw, DcmTag(DCM_PixelData, DcmVR(EVR_OW)));
  OFunique_ptr<DcmElement> pix(raw);
  if (cond.bad() || !pix)
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: cannot create Pixel Data: %s", path,
                           cond.text());
  cond = pix->putUint16Array(pixels, static_cast<unsigned long>(npixels));
  if (cond.bad())
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: cannot set %zu pixels: %s", path,
                           npixels, cond.text());
  cond = ds->insert(pix.get(), OFFalse);
  if (cond.bad())
    return fmr__dcmtk_fail(msg, msg_size, FMR_EDICOM, "%s: cannot insert Pixel Data: %s", path,
                           cond.text());
  pix.release();

  return save_buffered(file, path, npixels, msg, msg_size);
}

}  // namespace

extern "C" int fmr__dcmtk_write_image(const fmr__dcmtk_attr *attrs, size_t nattrs,
                                      const uint16_t *pixels, size_t npixels, const char *path,
                                      char *msg, size_t msg_size) {
  return fmr__dcmtk_guard(path, msg, msg_size, [&] {
    return write_image(attrs, nattrs, pixels, npixels, path, msg, msg_size);
  });
}
