/* Reading one fastMRI HDF5 volume (SPEC 2.1), one slice at a time.
 *
 * The file is untrusted: every dataset's presence, type, rank and size is checked when the volume is
 * opened, and every read reports the file and slice on failure. Plain serial HDF5 calls (the library
 * is the parallel build, but each volume is read by one rank). No MPI here. */
#ifndef FMR_KSPACE_H
#define FMR_KSPACE_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"
#include "fmr/util/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default upper bounds that turn "absurd sizes" into a clear error before any allocation
 * (limits.* in the config; include/fmr/util/limits.h). */
#define FMR_KSPACE_MAX_SLICES FMR_LIMIT_KSPACE_SLICES
#define FMR_KSPACE_MAX_COILS FMR_LIMIT_KSPACE_COILS
#define FMR_KSPACE_MAX_DIM FMR_LIMIT_KSPACE_DIM

typedef struct fmr_kspace_info {
  int multicoil;          /* 1: kspace is (slices, coils, H, W); 0: (slices, H, W) */
  size_t slices, coils;   /* coils is 1 for single-coil */
  size_t H, W;            /* readout x phase-encode */
  int has_rss, has_esc;   /* reconstruction_rss / reconstruction_esc present */
  size_t rec_h, rec_w;    /* shape of the stored reconstruction (0 when none) */
  int has_mask;           /* a `mask` dataset is present */
  int undersampled;       /* mask present and at least one phase-encode line not sampled */
  size_t sampled_lines;   /* lines set in `mask` (W when there is no mask) */
  char acquisition[64];   /* root attribute, "" when absent */
  char patient_id[128];   /* root attribute, "" when absent */
  double max, norm;       /* root attributes, NaN when absent */
  char *header_xml;       /* ismrmrd_header bytes, NUL-terminated (owned by the fmr_kspace) */
  size_t header_len;      /* 0 when the dataset is absent */
} fmr_kspace_info;

typedef struct fmr_kspace fmr_kspace;

/* Open `path` and validate its layout. On failure *out is NULL and err names path and problem. */
int fmr_kspace_open(const char *path, fmr_kspace **out, fmr_err *err);
/* The same with explicit limits (NULL: the defaults): a shape beyond limits->kspace_slices,
 * kspace_coils, kspace_dim, kspace_slice_elements or kspace_elements, or an ismrmrd_header longer
 * than limits->header_bytes, fails with FMR_ERANGE / FMR_EFORMAT naming the file and the limit's
 * key, before anything is allocated for it. */
int fmr_kspace_open_limited(const char *path, const fmr_limits *limits, fmr_kspace **out,
                            fmr_err *err);

/* Contain a crash of the HDF5 library on a hostile file (issue 11): in a helper process (forked
 * at the first probe and reused for the next ones; it never touches MPI, holds none of the
 * caller's descriptors and leaves with _exit), open and validate `path` as
 * fmr_kspace_open_limited does, parse its header, and read one row of the first and last slice
 * of kspace and of each stored reconstruction. Returns the helper's verdict: 0 when the file can be
 * opened and read, else its error (the same message fmr_kspace_open_limited gives). A helper
 * killed by a signal becomes FMR_EHDF5 "<path>: the HDF5 library crashed (SIGSEGV) while reading
 * its metadata"; one still running after limits->probe_seconds is killed and becomes FMR_EHDF5
 * "<path>: the HDF5 library did not finish reading its metadata within N s". The parent's own
 * HDF5 state is untouched. limits NULL: the defaults. Not collective; safe to call from an MPI
 * rank (see README "Bad input and faults" for Open MPI's fork warning). */
int fmr_kspace_probe(const char *path, const fmr_limits *limits, fmr_err *err);
/* End the probe's helper now (it also ends with the process). The next probe starts another. */
void fmr_kspace_probe_stop(void);

/* Borrowed view of the metadata, valid until fmr_kspace_close. */
const fmr_kspace_info *fmr_kspace_info_of(const fmr_kspace *ks);

/* Read slice `slice` of kspace into buf, which holds coils*H*W complex values laid out
 * [coil][row][col] (row-major, as stored). Rejects NaN/Inf values with the slice in the message. */
int fmr_kspace_read_slice(fmr_kspace *ks, size_t slice, float complex *buf, fmr_err *err);

/* fmr_kspace_read_slice without the NaN/Inf scan, for a caller whose next pass over the data finds
 * non-finite values anyway (the reconstruction: NaN/Inf reach every pixel through the transform)
 * and then calls fmr_kspace_read_slice to name the cause. */
int fmr_kspace_read_slice_raw(fmr_kspace *ks, size_t slice, float complex *buf, fmr_err *err);

/* Where slice `slice` of kspace (and, when `recon` names one, of that stored reconstruction) lies in
 * the file: byte ranges, for reading them into the page cache ahead of the HDF5 read. Up to cap
 * ranges go to out; *n is set to how many there are (may exceed cap: then call again with more).
 * Storage without file offsets (compact, unallocated) gives no ranges. */
typedef struct fmr_kspace_extent {
  uint64_t offset, length;
} fmr_kspace_extent;
int fmr_kspace_slice_extents(fmr_kspace *ks, size_t slice, const char *recon,
                             fmr_kspace_extent *out, size_t cap, size_t *n, fmr_err *err);

/* 1 when slice `slice` of kspace may be read with a plain read of ext's bytes, giving exactly what
 * fmr_kspace_read_slice_raw gives (contiguous, unconverted storage: the fastMRI files); 0 when
 * only the HDF5 read will do. For a reader thread, which must not call HDF5. A plain read that
 * comes up short means the file changed after it was opened (HDF5 would read zeros there). */
int fmr_kspace_raw_slice(const fmr_kspace *ks, size_t slice, fmr_kspace_extent *ext);

/* The path the volume was opened from. */
const char *fmr_kspace_path(const fmr_kspace *ks);

/* Read slice `slice` of a stored reconstruction ("reconstruction_rss" or "reconstruction_esc") into
 * buf (rec_h*rec_w floats). */
int fmr_kspace_read_recon(fmr_kspace *ks, const char *dataset, size_t slice, float *buf,
                          fmr_err *err);

/* Close the file and free everything; *ks becomes NULL. Safe on NULL. */
void fmr_kspace_close(fmr_kspace **ks);

#ifdef __cplusplus
}
#endif
#endif
