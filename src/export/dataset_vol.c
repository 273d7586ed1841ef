/* recon/<name>.h5, the per-volume file behind dataset.h5 and boxes.csv (export/dataset.h), and
 * the HDF5 types and attributes both files share (dataset_h5.h). */
#include "fmr/export/dataset.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "export/dataset_h5.h"
#include "fmr/labels/masks.h"
#include "util/h5util.h"

void fmr__box_rec_of(const fmr_box_row *r, fmr__box_rec *o) {
  memset(o, 0, sizeof *o);
  o->slice = r->slice;
  o->csv_line = r->line;
  o->label_bit = r->label;
  o->study_level = (uint8_t)(r->study_level != 0);
  o->x = r->x;
  o->y = r->y;
  o->width = r->width;
  o->height = r->height;
  o->has_box = (uint8_t)(r->has_box != 0);
  const long im[4] = {r->img_x, r->img_y, r->img_w, r->img_h};
  const long na[4] = {r->nat_x, r->nat_y, r->nat_w, r->nat_h};
  for (int k = 0; k < 4; k++) {
    o->image[k] = r->has_box ? im[k] : -1;
    o->native[k] = r->has_box ? na[k] : -1;
  }
  for (int k = 0; k < 3; k++) {
    o->mm0[k] = r->has_box ? r->mm0[k] : NAN;
    o->mm1[k] = r->has_box ? r->mm1[k] : NAN;
  }
  o->clipped = (r->flags & FMR_BOX_CLIPPED) != 0;
  o->degenerate = (r->flags & FMR_BOX_DEGENERATE) != 0;
  o->duplicate = (r->flags & FMR_BOX_DUPLICATE) != 0;
  o->bad_slice = (r->flags & FMR_BOX_BAD_SLICE) != 0;
  o->outside = (r->flags & FMR_BOX_OUTSIDE) != 0;
}

void fmr__box_row_of(const fmr__box_rec *o, fmr_box_row *r) {
  memset(r, 0, sizeof *r);
  r->slice = (long)o->slice;
  r->line = (size_t)o->csv_line;
  r->label = o->label_bit;
  r->study_level = o->study_level;
  r->x = (long)o->x;
  r->y = (long)o->y;
  r->width = (long)o->width;
  r->height = (long)o->height;
  r->has_box = o->has_box;
  if (r->has_box) {
    r->img_x = (long)o->image[0], r->img_y = (long)o->image[1];
    r->img_w = (long)o->image[2], r->img_h = (long)o->image[3];
    r->nat_x = (long)o->native[0], r->nat_y = (long)o->native[1];
    r->nat_w = (long)o->native[2], r->nat_h = (long)o->native[3];
    memcpy(r->mm0, o->mm0, sizeof r->mm0);
    memcpy(r->mm1, o->mm1, sizeof r->mm1);
  }
  r->flags = (o->clipped ? FMR_BOX_CLIPPED : 0) | (o->degenerate ? FMR_BOX_DEGENERATE : 0) |
             (o->duplicate ? FMR_BOX_DUPLICATE : 0) | (o->bad_slice ? FMR_BOX_BAD_SLICE : 0) |
             (o->outside ? FMR_BOX_OUTSIDE : 0);
}

static int insert_array(hid_t t, const char *name, size_t off, hid_t base, hsize_t n) {
  hid_t a = H5Tarray_create2(base, 1, &n);
  if (a < 0) return -1;
  herr_t e = H5Tinsert(t, name, off, a);
  H5Tclose(a);
  return e < 0 ? -1 : 0;
}

int fmr__box_rec_insert(hid_t t, size_t b) {
#define INS(field, type) \
  if (H5Tinsert(t, #field, b + offsetof(fmr__box_rec, field), type) < 0) return -1
  INS(slice, H5T_NATIVE_INT64);
  INS(csv_line, H5T_NATIVE_UINT64);
  INS(label_bit, H5T_NATIVE_INT32);
  INS(study_level, H5T_NATIVE_UINT8);
  INS(x, H5T_NATIVE_INT64);
  INS(y, H5T_NATIVE_INT64);
  INS(width, H5T_NATIVE_INT64);
  INS(height, H5T_NATIVE_INT64);
  INS(has_box, H5T_NATIVE_UINT8);
  if (insert_array(t, "image", b + offsetof(fmr__box_rec, image), H5T_NATIVE_INT64, 4) ||
      insert_array(t, "native", b + offsetof(fmr__box_rec, native), H5T_NATIVE_INT64, 4) ||
      insert_array(t, "mm0", b + offsetof(fmr__box_rec, mm0), H5T_NATIVE_DOUBLE, 3) ||
      insert_array(t, "mm1", b + offsetof(fmr__box_rec, mm1), H5T_NATIVE_DOUBLE, 3))
    return -1;
  INS(clipped, H5T_NATIVE_UINT8);
  INS(degenerate, H5T_NATIVE_UINT8);
  INS(duplicate, H5T_NATIVE_UINT8);
  INS(bad_slice, H5T_NATIVE_UINT8);
  INS(outside, H5T_NATIVE_UINT8);
#undef INS
  return 0;
}

/* String attributes: util/h5util (variable-length UTF-8, so h5py gives str). */
int fmr__h5_attr_u64(hid_t obj, const char *name, const uint64_t *v, size_t n) {
  hsize_t dims = n;
  hid_t s = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, NULL);
  if (s < 0) return -1;
  hid_t a = H5Acreate2(obj, name, H5T_STD_U64LE, s, H5P_DEFAULT, H5P_DEFAULT);
  int rc = -1;
  if (a >= 0) {
    rc = H5Awrite(a, H5T_NATIVE_UINT64, v) < 0 ? -1 : 0;
    if (H5Aclose(a) < 0) rc = -1;
  }
  H5Sclose(s);
  return rc;
}

int fmr__h5_attr_f64(hid_t obj, const char *name, double v) {
  hid_t s = H5Screate(H5S_SCALAR);
  if (s < 0) return -1;
  hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
  int rc = -1;
  if (a >= 0) {
    rc = H5Awrite(a, H5T_NATIVE_DOUBLE, &v) < 0 ? -1 : 0;
    if (H5Aclose(a) < 0) rc = -1;
  }
  H5Sclose(s);
  return rc;
}

int fmr__dataset_put_attrs(hid_t obj, const fmr_dataset_attrs *a) {
  uint64_t frame[2] = {a->h, a->w}, slices = a->slices;
  uint64_t flags[4] = {(uint64_t)(a->reviewed != 0), (uint64_t)(a->zero_filled != 0),
                       (uint64_t)(a->flip_ud != 0), (uint64_t)(a->flip_lr != 0)};
  if (fmr__h5_attr_str(obj, "name", a->name) || fmr__h5_attr_str(obj, "input", a->input) ||
      fmr__h5_attr_str(obj, "anatomy", a->anatomy) ||
      fmr__h5_attr_str(obj, "acquisition", a->acquisition) ||
      fmr__h5_attr_str(obj, "series_uid", a->series_uid) ||
      fmr__h5_attr_str(obj, "recon_source", a->recon_source) ||
      fmr__h5_attr_str(obj, "frame_name", "image") ||
      fmr__h5_attr_u64(obj, "frame", frame, 2) || fmr__h5_attr_u64(obj, "slices", &slices, 1) ||
      fmr__h5_attr_u64(obj, "kspace_shape", a->kspace_shape,
                       a->kspace_ndim >= 1 && a->kspace_ndim <= 4 ? a->kspace_ndim : 1) ||
      fmr__h5_attr_f64(obj, "nmse_vs_stored", a->nmse) ||
      fmr__h5_attr_u64(obj, "reviewed", &flags[0], 1) ||
      fmr__h5_attr_u64(obj, "zero_filled", &flags[1], 1) ||
      fmr__h5_attr_u64(obj, "flip_up_down", &flags[2], 1) ||
      fmr__h5_attr_u64(obj, "flip_left_right", &flags[3], 1))
    return -1;
  return 0;
}

hid_t fmr__mask_file_type(size_t bytes) {
  return bytes == 1 ? H5T_STD_U8LE : bytes == 2 ? H5T_STD_U16LE : bytes == 4 ? H5T_STD_U32LE
                   : bytes == 8 ? H5T_STD_U64LE : (hid_t)-1;
}

hid_t fmr__mask_mem_type(size_t bytes) {
  return bytes == 1 ? H5T_NATIVE_UINT8 : bytes == 2 ? H5T_NATIVE_UINT16
       : bytes == 4 ? H5T_NATIVE_UINT32 : bytes == 8 ? H5T_NATIVE_UINT64 : (hid_t)-1;
}

int fmr__h5_reproducible(hid_t fapl, hid_t fcpl, hid_t gcpl, hid_t dcpl) {
  if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
      H5Pset_obj_track_times(fcpl, 0) < 0 || (gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) < 0) ||
      H5Pset_obj_track_times(dcpl, 0) < 0 || H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0)
    return -1;
  return 0;
}

hid_t fmr__h5_create_dataset(hid_t loc, const char *name, hid_t ftype, int rank,
                             const hsize_t *dims, hid_t dcpl) {
  hid_t s = H5Screate_simple(rank, dims, NULL);
  if (s < 0) return -1;
  hid_t d = H5Dcreate2(loc, name, ftype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Sclose(s);
  return d;
}

/* A contiguous dataset written whole. */
static int put_dataset(hid_t file, const char *name, hid_t ftype, hid_t mtype, int rank,
                       const hsize_t *dims, const void *buf, hid_t dcpl) {
  hid_t d = fmr__h5_create_dataset(file, name, ftype, rank, dims, dcpl);
  if (d < 0) return -1;
  int rc = H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
  return H5Dclose(d) < 0 ? -1 : rc;
}

/* The mask by slice (one chunk each), only its labelled slices written: the rest are never
 * allocated and read back as the fill value 0. A knee mask labels a few of ~36 slices, so this
 * keeps ~14 MB of zeros per volume out of the file, its write, its hash and the dataset.h5 copy
 * (which skips the same slices, see run/dataset.c). */
static int put_mask(hid_t file, hid_t ftype, hid_t mtype, const hsize_t *dims, const void *mask,
                    size_t pixel_bytes, const uint64_t *bits) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t chunk[3] = {1, dims[1], dims[2]};
  int rc = -1;
  if (dcpl < 0) return -1;
  hid_t d = -1, fs = -1, ms = -1;
  if (H5Pset_obj_track_times(dcpl, 0) < 0 || H5Pset_chunk(dcpl, 3, chunk) < 0 ||
      (d = fmr__h5_create_dataset(file, "mask", ftype, 3, dims, dcpl)) < 0 ||
      (fs = H5Dget_space(d)) < 0 || (ms = H5Screate_simple(3, chunk, NULL)) < 0)
    goto done;
  size_t plane = (size_t)(dims[1] * dims[2]) * pixel_bytes;
  rc = 0;
  for (hsize_t s = 0; s < dims[0] && !rc; s++) {
    if (!bits[s]) continue;
    hsize_t start[3] = {s, 0, 0};
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, chunk, NULL) < 0 ||
        H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, (const unsigned char *)mask + s * plane) < 0)
      rc = -1;
  }
done:
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0 && H5Dclose(d) < 0) rc = -1;
  H5Pclose(dcpl);
  return rc;
}


int fmr_dataset_volume_write(const char *path, const fmr_dataset_attrs *a, const float *recon,
                             const void *mask, size_t pixel_bytes, const fmr_box_row *rows,
                             size_t nrows, void *scratch, size_t scratch_bytes, fmr_err *err) {
  int rc = 0;
  hid_t fapl = -1, fcpl = -1, dcpl = -1, file = -1, mtype = -1, ftype = -1;
  uint64_t *bits = NULL;
  uint32_t *counts = NULL;
  fmr__box_rec *recs = NULL;
  fmr__h5_quiet q;
  fmr__h5_image image = {.scratch = scratch, .scratch_bytes = scratch ? scratch_bytes : 0};
  char detail[512];
  if (!path || !a || !a->name || a->slices == 0 || a->h == 0 || a->w == 0 ||
      (mask && fmr__mask_file_type(pixel_bytes) < 0) || (nrows && !rows))
    return fmr_err_set(err, FMR_EINVAL, "fmr_dataset_volume_write: bad arguments");
  fmr__h5_quiet_begin(&q);
  bits = calloc(a->slices, sizeof *bits);
  counts = calloc(a->slices, sizeof *counts);
  recs = calloc(nrows ? nrows : 1, sizeof *recs);
  if (!bits || !counts || !recs) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", a->name);
    goto done;
  }
  size_t plane = a->h * a->w;
  if (mask)
    for (size_t s = 0; s < a->slices; s++)
      bits[s] = fmr_mask_slice_bits(mask, pixel_bytes, plane, s);
  for (size_t i = 0; i < nrows; i++) {
    fmr__box_rec_of(&rows[i], &recs[i]);
    if (rows[i].has_box && !(rows[i].flags & FMR_BOX_DUPLICATE) && rows[i].slice >= 0 &&
        (size_t)rows[i].slice < a->slices)
      counts[rows[i].slice]++;
  }

  fapl = H5Pcreate(H5P_FILE_ACCESS);
  fcpl = H5Pcreate(H5P_FILE_CREATE);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  /* Built in memory and written out by us (util/h5util.h, fmr__h5_memory_save): a full disk
   * then meets our write, never HDF5's. The driver grows its image by reallocating in steps of
   * the increment: at 1 MB, 20 times for a knee volume's 20 MB. An increment of the file's
   * expected size makes it one allocation. */
  size_t labelled = 0;
  for (size_t s = 0; mask && s < a->slices; s++) labelled += bits[s] != 0;
  size_t expect = (recon ? a->slices * plane * sizeof(float) : 0) + labelled * plane * pixel_bytes +
                  nrows * sizeof(fmr__box_rec) + a->slices * 16 + ((size_t)1 << 16);
  size_t increment = (expect + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
  if (fapl < 0 || fcpl < 0 || dcpl < 0 || fmr__h5_reproducible(fapl, fcpl, -1, dcpl) < 0 ||
      fmr__h5_memory_fapl(fapl, increment, &image) < 0) {
    rc = fmr_err_set(err, FMR_EHDF5, "%s: property lists: %s", path,
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }
  file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  if (file < 0) {
    rc = fmr_err_set(err, FMR_EHDF5, "%s: cannot create: %s", path,
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }
  hsize_t dims[3] = {a->slices, a->h, a->w}, nb = nrows;
  mtype = H5Tcreate(H5T_COMPOUND, sizeof(fmr__box_rec));
  if (mtype < 0 || fmr__box_rec_insert(mtype, 0) < 0 || (ftype = H5Tcopy(mtype)) < 0 ||
      H5Tpack(ftype) < 0 || fmr__dataset_put_attrs(file, a) < 0 ||
      (recon && put_dataset(file, "reconstruction", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims,
                            recon, dcpl) < 0) ||
      (mask && put_mask(file, fmr__mask_file_type(pixel_bytes), fmr__mask_mem_type(pixel_bytes),
                        dims, mask, pixel_bytes, bits) < 0) ||
      put_dataset(file, "boxes", ftype, mtype, 1, &nb, recs, dcpl) < 0 ||
      put_dataset(file, "slice_label_bits", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, dims, bits,
                  dcpl) < 0 ||
      put_dataset(file, "slice_boxes", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, dims, counts,
                  dcpl) < 0) {
    rc = fmr_err_set(err, FMR_EHDF5, "%s: write failed: %s", path,
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }
  rc = fmr__h5_memory_save(&file, &image, path, err);
done:
  if (ftype >= 0) H5Tclose(ftype);
  if (mtype >= 0) H5Tclose(mtype);
  if (file >= 0) H5Fclose(file); /* after a failure: nothing of it is on disk */
  if (dcpl >= 0) H5Pclose(dcpl);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (fapl >= 0) H5Pclose(fapl);
  fmr__h5_image_release(&image);
  fmr__h5_quiet_end(&q);
  free(recs);
  free(counts);
  free(bits);
  return rc;
}

int fmr_dataset_volume_read_boxes(const char *path, fmr_box_row **rows, size_t *n, fmr_err *err) {
  int rc = 0;
  hid_t file = -1, d = -1, s = -1, mtype = -1;
  fmr__box_rec *recs = NULL;
  fmr__h5_quiet q;
  char detail[512];
  *rows = NULL;
  *n = 0;
  fmr__h5_quiet_begin(&q);
  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0 || (d = H5Dopen2(file, "boxes", H5P_DEFAULT)) < 0 ||
      (s = H5Dget_space(d)) < 0) {
    rc = fmr_err_set(err, FMR_EHDF5, "%s: cannot read /boxes: %s", path,
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }
  hssize_t count = H5Sget_simple_extent_npoints(s);
  recs = calloc(count > 0 ? (size_t)count : 1, sizeof *recs);
  *rows = calloc(count > 0 ? (size_t)count : 1, sizeof **rows);
  if (count < 0 || !recs || !*rows) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  mtype = H5Tcreate(H5T_COMPOUND, sizeof(fmr__box_rec));
  if (mtype < 0 || fmr__box_rec_insert(mtype, 0) < 0 ||
      (count > 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, recs) < 0)) {
    rc = fmr_err_set(err, FMR_EHDF5, "%s: cannot read /boxes: %s", path,
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }
  for (hssize_t i = 0; i < count; i++) fmr__box_row_of(&recs[i], &(*rows)[i]);
  *n = (size_t)count;
done:
  if (rc) {
    free(*rows);
    *rows = NULL;
  }
  if (mtype >= 0) H5Tclose(mtype);
  if (s >= 0) H5Sclose(s);
  if (d >= 0) H5Dclose(d);
  if (file >= 0) H5Fclose(file);
  fmr__h5_quiet_end(&q);
  free(recs);
  return rc;
}
