/* Synthetic fastMRI-format volumes for the demo and the tests (SPEC 2.1 layout). No MPI here. */
#ifndef FMR_SYNTH_H
#define FMR_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_synth_opts {
  const char *anatomy;  /* "knee" | "brain": phantom shape and header values */
  size_t slices;
  size_t coils;         /* 1 with singlecoil */
  int singlecoil;       /* kspace (slices, H, W) + reconstruction_esc + reconstruction_rss */
  size_t H, W;          /* k-space size (readout oversampled 2x: H = 2 * h typically) */
  size_t h, w;          /* stored reconstruction / target frame size */
  int undersampled;     /* test-style file: `mask` dataset, masked k-space, no reconstructions */
  int chunked;          /* chunked + shuffle + gzip datasets instead of contiguous */
  double noise;         /* relative noise level (0 for none) */
  uint64_t seed;
  const char *acquisition; /* root `acquisition` attribute; NULL: knee CORPD_FBK, brain from the
                              name (file_brain_<ACQ>_...) when it is a known one, else AXFLAIR */
} fmr_synth_opts;

/* Fill opts with defaults for an anatomy (multi-coil, 640 x 368 knee / 640 x 320 brain, frame 320). */
void fmr_synth_defaults(const char *anatomy, fmr_synth_opts *o);

/* Validate options without writing anything (what fmr_synth_volume checks first): FMR_EINVAL or
 * FMR_ERANGE with a message naming the bad option. */
int fmr_synth_check(const fmr_synth_opts *o, fmr_err *err);

/* Write one volume named `name` to `path`. Deterministic for the same name, options and seed. On
 * failure the partly written `path` is removed. Callers wanting atomic files write to a temporary
 * name and rename it (cmd_synth does). */
int fmr_synth_volume(const char *path, const char *name, const fmr_synth_opts *o, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
