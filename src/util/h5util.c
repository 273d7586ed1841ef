/* HDF5 error handling shared by the modules that call HDF5. Contract: h5util.h. */
#include "util/h5util.h"

#include <stdarg.h>
#include <stdio.h>

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
