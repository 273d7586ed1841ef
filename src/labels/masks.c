/* Per-volume HDF5 label-mask files (SPEC 6).
 *
 * Layout (read with h5py as f["mask"][:] and f["mask"].attrs[...]):
 *   /mask  (slices, h, w) uint8/16/32/64 little-endian, chunks of one slice, shuffle + gzip 3;
 *          only labelled slices' chunks are stored, the rest read as the fill value 0.
 *   Attributes of /mask (all strings are variable-length UTF-8, so h5py returns str):
 *     labels           string[nvocab]  the vocabulary; bit k of a pixel <-> labels[k]
 *     bit_order        string          how to read a pixel (see BIT_ORDER below)
 *     frame            string          "image" (as the DICOM images) or "native" (fastMRI arrays)
 *     flip_up_down     uint8           orientation of that frame relative to fastMRI's arrays
 *     flip_left_right  uint8
 *     volume, anatomy  string
 *     format           string          "fastmri-regen-mask/1"
 * Deterministic bytes: no object timestamps and a pinned file format (HDF5 1.8 objects), so the
 * same mask gives the same file. */
#include "fmr/labels/masks.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/h5util.h"

#define MASK_FORMAT "fastmri-regen-mask/1"
#define BIT_ORDER                                                                             \
  "bit k (value 1 << k) of a pixel is set when the pixel lies inside at least one box of "   \
  "labels[k]"
/* Level 3 is zlib's fastest matcher (levels 1-3): a knee volume's 14 labelled slices of uint32
 * compress in ~7 ms instead of level 4's ~19 ms, to 27 kB instead of 10 kB. */
#define GZIP_LEVEL 3

uint64_t fmr_mask_slice_bits(const void *mask, size_t pixel_bytes, size_t plane, size_t s) {
  uint64_t b = 0;
  /* One loop per width, so each vectorises. */
#define OR_LOOP(T)                                  \
  do {                                              \
    const T *p = (const T *)mask + s * plane;       \
    T acc = 0;                                      \
    for (size_t i = 0; i < plane; i++) acc |= p[i]; \
    b = acc;                                        \
  } while (0)
  switch (pixel_bytes) {
    case 1: OR_LOOP(uint8_t); break;
    case 2: OR_LOOP(uint16_t); break;
    case 4: OR_LOOP(uint32_t); break;
    default: OR_LOOP(uint64_t); break;
  }
#undef OR_LOOP
  return b;
}

static int h5fail(fmr_err *err, const char *path, const char *what) {
  return fmr__h5_fail(err, FMR_EHDF5, path, "cannot write mask: %s", what);
}

int fmr_masks_write(const char *path, const fmr_mask_file *m, fmr_err *err) {
  int rc = 0;
  hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, dset = H5I_INVALID_HID;
  const uint8_t flip_ud = m->flip_ud ? 1 : 0, flip_lr = m->flip_lr ? 1 : 0;
  fmr__h5_quiet quiet;
  fmr__h5_image image = {0};

  if (!path || !m || !m->volume || !m->frame || !m->mask ||
      (m->nvocab && !m->vocab))
    return fmr_err_set(err, FMR_EINVAL, "%s: mask file: missing argument", path ? path : "?");
  if (m->slices == 0 || m->h == 0 || m->w == 0)
    return fmr_err_set(err, FMR_EINVAL, "%s: mask of %zu x %zu x %zu has no pixels", path,
                       m->slices, m->h, m->w);
  hid_t mem_type, file_type;
  switch (m->pixel_bytes) {
    case 1:
      mem_type = H5T_NATIVE_UINT8, file_type = H5T_STD_U8LE;
      break;
    case 2:
      mem_type = H5T_NATIVE_UINT16, file_type = H5T_STD_U16LE;
      break;
    case 4:
      mem_type = H5T_NATIVE_UINT32, file_type = H5T_STD_U32LE;
      break;
    case 8:
      mem_type = H5T_NATIVE_UINT64, file_type = H5T_STD_U64LE;
      break;
    default:
      return fmr_err_set(err, FMR_EINVAL, "%s: mask pixels of %zu bytes are not supported", path,
                         m->pixel_bytes);
  }
  if (m->nvocab > m->pixel_bytes * 8)
    return fmr_err_set(err, FMR_EINVAL, "%s: %zu labels do not fit %zu-bit pixels", path,
                       m->nvocab, m->pixel_bytes * 8);
  for (size_t k = 0; k < m->nvocab; k++)
    if (!m->vocab[k])
      return fmr_err_set(err, FMR_EINVAL, "%s: label %zu is missing", path, k);

  /* The library's default is to print its error stack to stderr; we report through err instead
   * and put the caller's setting back on the way out. */
  fmr__h5_quiet_begin(&quiet);

  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0 || H5Zfilter_avail(H5Z_FILTER_SHUFFLE) <= 0) {
    rc = fmr_err_set(err, FMR_EHDF5, "%s: this HDF5 library lacks the gzip or shuffle filter",
                     path);
    goto done;
  }
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  fcpl = H5Pcreate(H5P_FILE_CREATE);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (fapl < 0 || fcpl < 0 || dcpl < 0) {
    rc = h5fail(err, path, "property lists");
    goto done;
  }
  /* Pin the object format so a newer library cannot silently change the bytes, and keep
   * modification times out of every object header (the root group via the fcpl).
   * Built in memory and written out by us (h5util.h, fmr__h5_memory_save): a full disk then
   * meets our write, never HDF5's. The file is the compressed mask, a few hundred kB at most:
   * 1 MB steps. */
  hsize_t chunk[3] = {1, (hsize_t)m->h, (hsize_t)m->w};
  if (fmr__h5_memory_fapl(fapl, (size_t)1 << 20, &image) < 0 ||
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
      H5Pset_obj_track_times(fcpl, 0) < 0 || H5Pset_obj_track_times(dcpl, 0) < 0 ||
      H5Pset_chunk(dcpl, 3, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
      H5Pset_deflate(dcpl, GZIP_LEVEL) < 0) {
    rc = h5fail(err, path, "property lists");
    goto done;
  }
  file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  if (file < 0) {
    rc = h5fail(err, path, "create");
    goto done;
  }
  hsize_t dims[3] = {(hsize_t)m->slices, (hsize_t)m->h, (hsize_t)m->w};
  space = H5Screate_simple(3, dims, NULL);
  if (space < 0) {
    rc = h5fail(err, path, "dataspace");
    goto done;
  }
  dset = H5Dcreate2(file, "mask", file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dset < 0) {
    rc = h5fail(err, path, "dataset");
    goto done;
  }
  /* Labelled slices only: a knee volume labels a few of its ~36, and shuffling and deflating
   * the rest's zeros was most of this writer's time. */
  {
    hsize_t one[3] = {1, dims[1], dims[2]};
    hid_t ms = H5Screate_simple(3, one, NULL);
    size_t plane = m->h * m->w;
    int bad = ms < 0;
    for (size_t s = 0; s < m->slices && !bad; s++) {
      if (!fmr_mask_slice_bits(m->mask, m->pixel_bytes, plane, s)) continue;
      hsize_t start[3] = {(hsize_t)s, 0, 0};
      bad = H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, one, NULL) < 0 ||
            H5Dwrite(dset, mem_type, ms, space, H5P_DEFAULT,
                     (const unsigned char *)m->mask + s * plane * m->pixel_bytes) < 0;
    }
    if (ms >= 0) (void)H5Sclose(ms);
    if (bad) {
      rc = h5fail(err, path, "write pixels");
      goto done;
    }
  }

  /* An empty vocabulary still gets a (zero-length) "labels" attribute: its absence would look
   * like a file from another tool. */
  if (fmr__h5_attr_strs(dset, "labels", m->vocab, m->nvocab) < 0 ||
      fmr__h5_attr_str(dset, "bit_order", BIT_ORDER) < 0 ||
      fmr__h5_attr_str(dset, "frame", m->frame) < 0 ||
      fmr__h5_attr_num(dset, "flip_up_down", H5T_STD_U8LE, H5T_NATIVE_UINT8, &flip_ud) < 0 ||
      fmr__h5_attr_num(dset, "flip_left_right", H5T_STD_U8LE, H5T_NATIVE_UINT8, &flip_lr) < 0 ||
      fmr__h5_attr_str(dset, "volume", m->volume) < 0 ||
      fmr__h5_attr_str(dset, "anatomy", m->anatomy) < 0 ||
      fmr__h5_attr_str(dset, "format", MASK_FORMAT) < 0) {
    rc = h5fail(err, path, "attributes");
    goto done;
  }
  if (H5Dclose(dset) < 0) {
    dset = H5I_INVALID_HID;
    rc = h5fail(err, path, "close dataset");
    goto done;
  }
  dset = H5I_INVALID_HID;
  rc = fmr__h5_memory_save(&file, &image, path, err);

done:
  /* Reverse order. The dataset and file are still open only after a failure, with nothing of
   * the file on disk: what fails to close then only leaks memory. */
  if (dset >= 0) (void)H5Dclose(dset);
  if (space >= 0) (void)H5Sclose(space);
  if (file >= 0) (void)H5Fclose(file);
  if (dcpl >= 0) (void)H5Pclose(dcpl);
  if (fcpl >= 0) (void)H5Pclose(fcpl);
  if (fapl >= 0) (void)H5Pclose(fapl);
  fmr__h5_image_release(&image);
  fmr__h5_quiet_end(&quiet);
  return rc;
}
