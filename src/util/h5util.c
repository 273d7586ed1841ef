/* HDF5 error handling shared by the modules that call HDF5. Contract: h5util.h. */
#include "util/h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/util/fsutil.h"

void fmr__h5_quiet_begin(fmr__h5_quiet *q) {
  q->saved = H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) >= 0;
  (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* failure only means HDF5 keeps printing */
}

void fmr__h5_quiet_end(const fmr__h5_quiet *q) {
  if (q->saved) (void)H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct h5_detail {
  char *buf;
  size_t size;
} h5_detail;

static herr_t walk_innermost(unsigned n, const H5E_error2_t *e, void *ctx) {
  h5_detail *d = ctx;
  if (n == 0 && e->desc && e->desc[0]) snprintf(d->buf, d->size, "%s", e->desc);
  return 0;
}

const char *fmr__h5_error_detail(char *buf, size_t size) {
  snprintf(buf, size, "no detail from HDF5");
  h5_detail d = {buf, size};
  (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_innermost, &d);
  (void)H5Eclear2(H5E_DEFAULT);
  return buf;
}

int fmr__h5_fail(fmr_err *err, int code, const char *path, const char *fmt, ...) {
  char what[256], detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  fmr__h5_error_detail(detail, sizeof detail);
  for (char *c = detail; *c; c++)
    if (*c == '\n') *c = ' '; /* one message, one line */
  return fmr_err_set(err, code, "%s: %s (HDF5: %s)", path, what, detail);
}

hid_t fmr__h5_stack_save(int rc) { return rc < 0 ? H5Eget_current_stack() : H5I_INVALID_HID; }

void fmr__h5_stack_restore(hid_t st) {
  if (st >= 0) (void)H5Eset_current_stack(st); /* also releases st */
}

/* Create attribute `name` of `type` over `space` on loc and write buf: the common part. */
static int attr_put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                    const void *buf) {
  hid_t attr = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attr < 0) return -1;
  int rc = H5Awrite(attr, mtype, buf) < 0 ? -1 : 0;
  hid_t st = fmr__h5_stack_save(rc);
  if (H5Aclose(attr) < 0) rc = -1;
  fmr__h5_stack_restore(st);
  return rc;
}

static hid_t utf8_type(void) {
  hid_t type = H5Tcopy(H5T_C_S1);
  if (type < 0) return type;
  if (H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) {
    hid_t st = fmr__h5_stack_save(-1);
    H5Tclose(type);
    fmr__h5_stack_restore(st);
    return H5I_INVALID_HID;
  }
  return type;
}

static int attr_strings(hid_t loc, const char *name, int rank, hsize_t n, const void *buf) {
  int rc = -1;
  hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
  if ((type = utf8_type()) < 0) goto done;
  if ((space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL)) < 0) goto done;
  rc = attr_put(loc, name, type, type, space, buf);
done:;
  hid_t st = fmr__h5_stack_save(rc);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  fmr__h5_stack_restore(st);
  return rc;
}

int fmr__h5_attr_str(hid_t loc, const char *name, const char *value) {
  const char *v = value ? value : "";
  return attr_strings(loc, name, 0, 1, &v);
}

int fmr__h5_attr_strs(hid_t loc, const char *name, const char *const *values, size_t n) {
  const char *none[1] = {""};
  return attr_strings(loc, name, 1, (hsize_t)n, n ? (const void *)values : (const void *)none);
}

int fmr__h5_attr_num(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *value) {
  hid_t space = H5Screate(H5S_SCALAR);
  if (space < 0) return -1;
  int rc = attr_put(loc, name, ftype, mtype, space, value);
  hid_t st = fmr__h5_stack_save(rc);
  H5Sclose(space);
  fmr__h5_stack_restore(st);
  return rc;
}

hid_t fmr__h5_dataset_create(hid_t loc, const char *name, hid_t type, int rank,
                             const hsize_t *dims, hid_t dcpl) {
  hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
  if (space < 0) return space;
  hid_t dset = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  hid_t st = fmr__h5_stack_save(dset < 0 ? -1 : 0);
  H5Sclose(space);
  fmr__h5_stack_restore(st);
  return dset;
}

int fmr__h5_dataset_write(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                          hid_t dcpl, const void *data) {
  hid_t dset = fmr__h5_dataset_create(loc, name, type, rank, dims, dcpl);
  if (dset < 0) return -1;
  int rc = H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 ? -1 : 0;
  hid_t st = fmr__h5_stack_save(rc);
  if (H5Dclose(dset) < 0) rc = -1;
  fmr__h5_stack_restore(st);
  return rc;
}

/* The core driver's memory through these callbacks (H5Pset_file_image_callbacks): allocation as
 * usual, or in img->scratch while the file fits, except that the buffer freed at the file's
 * close is kept for fmr__h5_memory_save. An H5Fcreate over an existing file opens and closes it
 * once first; that image is dropped when the next one is kept. */
static void image_drop(fmr__h5_image *img, void *p) {
  if (p != img->scratch) free(p);
}

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)op;
  fmr__h5_image *img = udata;
  int scratch_free = img->scratch && img->live != img->scratch && img->kept != img->scratch;
  return img->live = scratch_free && size <= img->scratch_bytes ? img->scratch : malloc(size);
}

static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                          void *udata) {
  (void)op, (void)udata;
  return memcpy(dest, src, size);
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
  fmr__h5_image *img = udata;
  if (!ptr) return image_malloc(size, op, udata);
  void *p;
  if (ptr == img->scratch) {
    if (size <= img->scratch_bytes) return ptr;
    /* Outgrown: to the heap with everything so far (the file is no longer than the scratch). */
    if (!(p = malloc(size))) return NULL;
    memcpy(p, ptr, img->scratch_bytes);
  } else if (!(p = realloc(ptr, size))) {
    return NULL;
  }
  img->live = p;
  return p;
}

static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
  fmr__h5_image *img = udata;
  if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && ptr && ptr == img->live) {
    image_drop(img, img->kept);
    img->kept = ptr;
    img->live = NULL;
    return 0;
  }
  image_drop(img, ptr);
  return 0;
}

/* Property lists are copied with the callbacks; every copy shares the one caller-owned image. */
static void *image_udata_copy(void *udata) { return udata; }
static herr_t image_udata_free(void *udata) {
  (void)udata;
  return 0;
}

int fmr__h5_memory_fapl(hid_t fapl, size_t increment, fmr__h5_image *img) {
  H5FD_file_image_callbacks_t cb = {image_malloc, image_memcpy,     image_realloc, image_free,
                                    image_udata_copy, image_udata_free, img};
  return H5Pset_fapl_core(fapl, increment, 0) < 0 || H5Pset_file_image_callbacks(fapl, &cb) < 0
             ? -1
             : 0;
}

/* The file's length is its superblock's end-of-file address: the driver's buffer is rounded up
 * to its increment. Read by hand because no HDF5 call gives it after the close that settles it
 * (H5Fget_eoa, before, still counts space the close gives back). Versions 2 and 3 (what the
 * writers' pinned format bounds give): signature 8, version, sizes of offsets and lengths,
 * flags, then base, extension and end-of-file addresses, little-endian. */
static int image_length(const unsigned char *m, size_t size, size_t *len) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (size < 48 || memcmp(m, sig, 8) != 0 || (m[8] != 2 && m[8] != 3) || m[9] != 8) return -1;
  uint64_t eof = 0;
  for (int i = 7; i >= 0; i--) eof = eof << 8 | m[28 + i];
  if (eof < 48 || eof > size) return -1;
  *len = (size_t)eof;
  return 0;
}

int fmr__h5_memory_save(hid_t *file, fmr__h5_image *img, const char *path, fmr_err *err) {
  hsize_t size = 0;
  int rc = 0;
  if (H5Fget_filesize(*file, &size) < 0) rc = fmr__h5_fail(err, FMR_EHDF5, path, "file size");
  if (H5Fclose(*file) < 0 && !rc) rc = fmr__h5_fail(err, FMR_EHDF5, path, "close");
  *file = H5I_INVALID_HID;
  size_t len = 0;
  if (!rc && (!img->kept || image_length(img->kept, (size_t)size, &len) != 0))
    rc = fmr_err_set(err, FMR_EHDF5, "%s: HDF5 left no complete file image at close", path);
  if (!rc) rc = fmr_write_file(path, img->kept, len, err);
  return rc;
}

void fmr__h5_image_release(fmr__h5_image *img) {
  /* Not img->live: that is still the driver's (its file never closed), and leaks. */
  image_drop(img, img->kept);
  img->kept = NULL;
}
