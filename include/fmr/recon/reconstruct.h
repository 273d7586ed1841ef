/* One volume's reconstruction loop: read -> centred inverse FFT -> combine -> crop -> orient, slice
 * by slice, the same code for `run`, `recon` and the tests. The centred FFT itself lives in
 * recon.h; this module owns the FFTW plan cache (plans made once per shape and reused) and the order
 * of the per-slice steps. k-space is streamed: only one slice is in memory at a time, and each
 * oriented image is handed to a caller's sink. No MPI here. */
#ifndef FMR_RECONSTRUCT_H
#define FMR_RECONSTRUCT_H

#include <stddef.h>

#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/recon/recon.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* FFTW plans by k-space shape (coils, H, W). One cache per process and thread of work. */
typedef struct fmr_fft_cache fmr_fft_cache;

int fmr_fft_cache_new(fmr_fft_effort effort, fmr_fft_cache **out, fmr_err *err);
void fmr_fft_cache_free(fmr_fft_cache **cache);

/* The plan for one shape, made on first use (the cache owns it; valid until the cache is freed or
 * evicts it, which happens only when more than a handful of shapes are in use). */
int fmr_fft_cache_get(fmr_fft_cache *cache, size_t coils, size_t H, size_t W, fmr_recon **out,
                      fmr_err *err);

typedef struct fmr_reconstruct_opts {
  fmr_recon_source source; /* k-space, or a stored reconstruction taken as it is */
  int flip_ud, flip_lr;    /* SPEC 4 */
} fmr_reconstruct_opts;

/* Seconds spent per stage, summed over the slices (for the run report and bench/). */
typedef struct fmr_reconstruct_timing {
  double read;         /* reads on the calling thread: HDF5 reads of k-space not read ahead (all
                        * of it when chunked or converted, else slice 0), the stored image, the
                        * comparison */
  double read_wait;    /* waiting for the read-ahead thread: its plain read of a slice into the
                        * spare transform buffer, or its pass over the slice's pages */
  double transform;    /* FFTW (the centring shifts are index arithmetic) */
  double combine_crop; /* RSS / magnitude, crop, scaling by 1/sqrt(HW), NMSE, orientation */
} fmr_reconstruct_timing;

typedef struct fmr_reconstruct_result {
  size_t slices, h, w;       /* the target frame (SPEC 3) */
  double nmse;               /* against the stored reconstruction of the same frame; NaN if none */
  const char *compared_with; /* that dataset's name, or NULL */
  fmr_reconstruct_timing timing;
  /* The transform's input buffer, idle once the volume is done (fmr_recon_idle_buffer): the
   * caller's memory until the next fmr_reconstruct_volume or fmr_fft_cache_free on the same
   * cache. NULL (0 bytes) when no transform ran or the volume failed. */
  void *idle;
  size_t idle_bytes;
  /* The spare input buffer the slices were read ahead into (fmr_recon_idle_spare), idle likewise;
   * NULL (0 bytes) when there is none. */
  void *idle_spare;
  size_t idle_spare_bytes;
} fmr_reconstruct_result;

/* The frame the volume is reconstructed to, after checking that the source can give it. hdr may
 * be NULL. Messages name `what` (the file). */
int fmr_reconstruct_frame(const fmr_kspace_info *info, const fmr_header *hdr,
                          const fmr_reconstruct_opts *opts, const char *what, size_t *h, size_t *w,
                          fmr_err *err);

/* Called once per slice, in slice order, with the oriented h x w image (valid during the call
 * only). A non-zero return stops the loop and is returned. */
typedef int (*fmr_slice_sink)(void *ctx, size_t slice, const float *image, fmr_err *err);

/* Reconstruct every slice of ks into sink. plans is required when opts->source is k-space. *res is
 * filled (frame first, so a sink may rely on it from slice 0; NMSE and timing at the end). */
int fmr_reconstruct_volume(fmr_kspace *ks, const fmr_header *hdr, fmr_fft_cache *plans,
                           const fmr_reconstruct_opts *opts, const char *what, fmr_slice_sink sink,
                           void *sink_ctx, fmr_reconstruct_result *res, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
