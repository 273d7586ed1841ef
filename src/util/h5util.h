/* HDF5 error handling shared by the modules that call HDF5 (kspace, synth, masks, cmd_recon).
 * Library-internal (double-underscore names); not installed.
 *
 * HDF5 prints its whole error stack to stderr by default; in a batch of thousands of files that is
 * noise, and the useful line is the innermost description, which goes into our message instead. */
#ifndef FMR_H5UTIL_H
#define FMR_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

#include "fmr/util/error.h"

/* The caller's automatic error handler, saved while printing is off. */
typedef struct fmr__h5_quiet {
  H5E_auto2_t func;
  void *data;
  int saved;
} fmr__h5_quiet;

/* Switch HDF5's automatic error printing off, saving the previous handler in *q. */
void fmr__h5_quiet_begin(fmr__h5_quiet *q);

/* Restore the handler saved by fmr__h5_quiet_begin, so that other modules (and the caller) keep
 * their setting. */
void fmr__h5_quiet_end(const fmr__h5_quiet *q);

/* The most specific message on HDF5's error stack (e.g. "truncated file: eof = ..."), or "no detail
 * from HDF5", into buf[0..size); then clear the stack so the next failure starts afresh. Returns
 * buf. */
const char *fmr__h5_error_detail(char *buf, size_t size);

/* Record an HDF5 failure as `code` (FMR_EHDF5, or FMR_EIO for an output the caller writes):
 * "<path>: <what> (HDF5: <innermost HDF5 message>)" on one line; `what` is printf-formatted. */
int fmr__h5_fail(fmr_err *err, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Every successful HDF5 call clears the error stack, so a helper that fails keeps the failure's
 * stack across its own clean-up for fmr__h5_fail to read: save with rc < 0, restore after. */
hid_t fmr__h5_stack_save(int rc);
void fmr__h5_stack_restore(hid_t saved);

/* Attribute writers: each returns 0 or -1, releases what it opened and keeps the failure's error
 * stack. Strings are variable-length UTF-8 (h5py reads them as str); NULL is written as "". */
int fmr__h5_attr_str(hid_t loc, const char *name, const char *value);
/* A 1-D attribute of n strings (n may be 0). */
int fmr__h5_attr_strs(hid_t loc, const char *name, const char *const *values, size_t n);
/* A scalar number stored as ftype, read from *value as mtype. */
int fmr__h5_attr_num(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *value);

/* Dataset writers, same conventions. fmr__h5_dataset_create returns the open dataset (or a
 * negative id); fmr__h5_dataset_write creates and writes a whole dataset of rank `rank` (0 is a
 * scalar) from `data` as `type` and closes it. */
hid_t fmr__h5_dataset_create(hid_t loc, const char *name, hid_t type, int rank,
                             const hsize_t *dims, hid_t dcpl);
int fmr__h5_dataset_write(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                          hid_t dcpl, const void *data);

#endif
