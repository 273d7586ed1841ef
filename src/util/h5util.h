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

/* Files built wholly in memory and written out by us. HDF5 1.10 handles a failed write badly: a
 * file whose flush or close meets a full disk stays half-open, leaks its driver and can crash the
 * library at exit (seen with the sec2 driver and with the core driver's backing store alike). So
 * the writers build the file with the core driver and no backing store (nothing of it touches
 * the disk) and write its image with fmr_write_file, whose failures are plain errno values.
 * The image is taken from the driver as it closes (file image callbacks), not copied out with
 * H5Fget_file_image: that copies a file the size of the volume's float stack, and HDF5 1.10.8's
 * copy of a version-2 superblock carries a wrong checksum (no reader opens it). */
typedef struct fmr__h5_image {
  void *live;  /* the driver's image while the file is open */
  void *kept;  /* the image the driver let go of at its close: ours to write and free */
  /* Optional, the caller's: memory the image lives in instead of malloc's while it fits (it moves
   * to the heap if the file outgrows it). Memory already resident: a fresh 20 MB buffer costs
   * ~5,000 page faults, ~50 ms on a VM. Never freed here; the driver zeroes what it grows into. */
  void *scratch;
  size_t scratch_bytes;
} fmr__h5_image;

/* Set fapl for an in-memory file whose image ends up in *img, growing in steps of `increment`
 * bytes. *img must be zeroed, outlive the file (the driver reaches it until the file closes) and
 * be released with fmr__h5_image_release. */
int fmr__h5_memory_fapl(hid_t fapl, size_t increment, fmr__h5_image *img);
/* Close the open in-memory file (*file becomes invalid whatever happens) and write its image to
 * path: FMR_EHDF5 for HDF5's failures, FMR_ESTORAGE (fmr_write_file) for the disk's, the message
 * naming path. On failure nothing is left at path. */
int fmr__h5_memory_save(hid_t *file, fmr__h5_image *img, const char *path, fmr_err *err);
/* Free what *img holds (after the file is closed). */
void fmr__h5_image_release(fmr__h5_image *img);

#endif
