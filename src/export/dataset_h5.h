/* HDF5 pieces shared by the per-volume writer (export/dataset_vol.c) and the collective builder
 * (run/dataset.c), so both files carry the same types and attributes. Library-internal. */
#ifndef FMR_EXPORT_DATASET_H5_H
#define FMR_EXPORT_DATASET_H5_H

#include <hdf5.h>

#include "fmr/export/dataset.h"

/* One box-table row as stored (numeric fields; the run-level table prefixes volume and label). */
typedef struct fmr__box_rec {
  int64_t slice;
  uint64_t csv_line;
  int32_t label_bit;
  uint8_t study_level;
  int64_t x, y, width, height;
  uint8_t has_box;
  int64_t image[4];  /* x, y, width, height */
  int64_t native[4];
  double mm0[3], mm1[3];
  uint8_t clipped, degenerate, duplicate, bad_slice, outside;
} fmr__box_rec;

void fmr__box_rec_of(const fmr_box_row *r, fmr__box_rec *out);
void fmr__box_row_of(const fmr__box_rec *r, fmr_box_row *out);

/* Insert the fmr__box_rec fields into compound `t` at byte offset `base`. Returns < 0 on error. */
int fmr__box_rec_insert(hid_t t, size_t base);

/* The volume's attributes onto obj (a file root or a group). Returns < 0 on error. Every rank
 * of a parallel file calls it with the same values (attribute writes are collective). */
int fmr__dataset_put_attrs(hid_t obj, const fmr_dataset_attrs *a);

/* Small attribute writers. */
int fmr__h5_attr_str(hid_t obj, const char *name, const char *value);
int fmr__h5_attr_u64(hid_t obj, const char *name, const uint64_t *v, size_t n);
int fmr__h5_attr_f64(hid_t obj, const char *name, double v);
int fmr__h5_attr_strs(hid_t obj, const char *name, const char *const *v, size_t n);

/* The settings that make both files byte-reproducible: HDF5 1.8 objects, no object times,
 * contiguous datasets. gcpl may be -1. Returns < 0 on error. */
int fmr__h5_reproducible(hid_t fapl, hid_t fcpl, hid_t gcpl, hid_t dcpl);

/* A dataset of `rank` dims with creation list dcpl (the caller closes it); < 0 on error. */
hid_t fmr__h5_create_dataset(hid_t loc, const char *name, hid_t ftype, int rank,
                             const hsize_t *dims, hid_t dcpl);

/* uint8/16/32/64 little-endian for a mask pixel of `bytes` (H5I_INVALID_HID-like -1 otherwise):
 * a predefined type, not to be closed. */
hid_t fmr__mask_file_type(size_t bytes);
hid_t fmr__mask_mem_type(size_t bytes);

#endif
