/* HDF5 error handling shared by the modules that call HDF5 (kspace, synth, masks, cmd_recon).
 * Library-internal (double-underscore names); not installed.
 *
 * HDF5 prints its whole error stack to stderr by default; in a batch of thousands of files that is
 * noise, and the useful line is the innermost description, which goes into our message instead. */
#ifndef FMR_H5UTIL_H
#define FMR_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

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

#endif
