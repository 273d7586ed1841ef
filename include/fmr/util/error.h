/* The one error vocabulary of fastmri-regen.
 *
 * Functions return 0 on success or a negative FMR_E* code, and fill a caller-provided fmr_err with a
 * message that carries its context (file, volume, slice) so the manifest can record it verbatim.
 * Nothing in the library exits or aborts on bad input: a failed volume is data. */
#ifndef FMR_ERROR_H
#define FMR_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message) */
#define FMR_ERRNO_MAP(X)                                                          \
  X(EINVAL, -1, "invalid argument")                                               \
  X(ENOMEM, -2, "out of memory")                                                  \
  X(EIO, -3, "input/output error")                                                \
  X(ENOENT, -4, "file not found")                                                 \
  X(ECONFIG, -5, "configuration error")                                           \
  X(EFORMAT, -6, "malformed input file")                                          \
  X(EHDF5, -7, "HDF5 error")                                                      \
  X(EXML, -8, "ISMRMRD header error")                                             \
  X(ENUMERIC, -9, "numeric error (NaN, Inf or empty image)")                      \
  X(EDICOM, -10, "DICOM error")                                                   \
  X(ECSV, -11, "annotation CSV error")                                            \
  X(EFFT, -12, "FFT planning error")                                              \
  X(ERANGE, -13, "value out of range")                                            \
  X(EINTR, -14, "interrupted")                                                    \
  X(EMPI, -15, "MPI error")                                                       \
  X(EMASK, -16, "mask error")                                                     \
  X(ESTORAGE, -17, "output storage failure")

enum {
  FMR_OK = 0,
#define FMR__ERR_ENUM(name, value, msg) FMR_##name = (value),
  FMR_ERRNO_MAP(FMR__ERR_ENUM)
#undef FMR__ERR_ENUM
};

#define FMR_ERR_MSG_MAX 1024

typedef struct fmr_err {
  int code;                   /* 0 or an FMR_E* code */
  char msg[FMR_ERR_MSG_MAX];  /* human-readable, with file/volume/slice context */
} fmr_err;

/* The static message for a code ("unknown error" for anything else). */
const char *fmr_strerror(int code);

/* A signal's name for messages ("SIGTERM"), or "a signal" for one not named here. */
const char *fmr_signal_name(int sig);

/* Clear an error record (code 0, empty message). */
void fmr_err_clear(fmr_err *err);

/* Record an error and return its code, so callers can write `return fmr_err_set(err, ...)`.
 * err may be NULL. The message is printf-formatted and truncated to fit. */
int fmr_err_set(fmr_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with more context ("file.h5: " + old message); returns
 * err->code. Used when passing an error up through a layer that knows more (volume, slice). */
int fmr_err_prefix(fmr_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
