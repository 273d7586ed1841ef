/* Reconstruction in fastMRI's convention (SPEC 3) and orientation (SPEC 4).
 *
 * x = fftshift(ifft2(ifftshift(k))) with orthonormal scaling 1/sqrt(H*W), per coil; multi-coil
 * images are combined by root-sum-of-squares, single-coil by magnitude; then a centre crop to (h, w)
 * with offsets (H-h)//2, (W-w)//2. Computed in single precision with FFTW plans made once per shape
 * and reused for every slice. The centring convention lives here and nowhere else. No MPI here. */
#ifndef FMR_RECON_H
#define FMR_RECON_H

#include <complex.h>
#include <stddef.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_recon fmr_recon;

/* Where the image comes from: k-space, or a reconstruction stored in the file (SPEC 3). */
typedef enum { FMR_SOURCE_KSPACE = 0, FMR_SOURCE_RSS, FMR_SOURCE_ESC } fmr_recon_source;

/* The stored dataset a source names ("reconstruction_rss" / "reconstruction_esc"); NULL for
 * k-space. */
const char *fmr_recon_source_dataset(fmr_recon_source s);

/* FFTW planner effort; the default (ESTIMATE) is deterministic without wisdom. */
typedef enum { FMR_FFT_ESTIMATE = 0, FMR_FFT_MEASURE, FMR_FFT_PATIENT } fmr_fft_effort;

/* Plan the inverse transform for `coils` images of H x W: along H for every column, then along W
 * one row at a time (only the rows a crop keeps are transformed). The plans depend only on
 * (coils, H, W), so planning a shape once on one process and sharing FFTW's wisdom covers them.
 * With wisdom_only, planning fails (FMR_EFFT) unless FFTW already holds wisdom for this shape, so
 * every rank uses one plan. */
int fmr_recon_new(size_t coils, size_t H, size_t W, fmr_fft_effort effort, int wisdom_only,
                  fmr_recon **out, fmr_err *err);

/* The input buffer (coils*H*W, [coil][row][col], FFTW-aligned) to fill with one slice of k-space,
 * e.g. by fmr_kspace_read_slice. Owned by r. The transform runs in place in it. */
float complex *fmr_recon_input(fmr_recon *r);

/* A second input buffer, for reading the next slice while this one is transformed: NULL when it
 * cannot be had (then read into fmr_recon_input as usual). fmr_recon_take_spare makes the spare,
 * once filled, the input (the old input becomes the spare); fmr_recon_release_spare returns its
 * memory (kept until then, from one volume to the next). Inverse plans only. */
float complex *fmr_recon_spare(fmr_recon *r);
void fmr_recon_take_spare(fmr_recon *r);
void fmr_recon_release_spare(fmr_recon *r);

/* The input buffer's memory (*bytes of it, FFTW-aligned), idle between volumes: the caller's to
 * use for anything until the next fmr_recon_input. Its pages are resident from the slices last
 * read into it, so memory carved from it costs neither page faults nor peak RSS. */
void *fmr_recon_idle_buffer(fmr_recon *r, size_t *bytes);
/* The spare likewise (NULL, 0 bytes, when none is held): idle between volumes, resident once a
 * volume was read ahead into it. */
void *fmr_recon_idle_spare(fmr_recon *r, size_t *bytes);

/* Reconstruct the slice currently in the input buffer into out (h*w floats, row-major), cropped and
 * not flipped. h <= H and w <= W, else FMR_EINVAL. The input buffer is clobbered. FMR_ENUMERIC when
 * a pixel is not finite (NaN/Inf k-space, or values too large for float32). */
int fmr_recon_slice(fmr_recon *r, size_t h, size_t w, float *out, fmr_err *err);

/* Seconds spent in the two kinds of work of one slice (added to, not reset). */
typedef struct fmr_recon_times {
  double transform; /* FFTW */
  double combine;   /* RSS / magnitude, crop, scaling */
} fmr_recon_times;

/* fmr_recon_slice, adding its seconds to *times (which may be NULL). */
int fmr_recon_slice_timed(fmr_recon *r, size_t h, size_t w, float *out, fmr_recon_times *times,
                          fmr_err *err);

/* The forward centred transform, k = fftshift(fft2(ifftshift(x))) / sqrt(H*W) per coil, for making
 * k-space (synth). Planned with FFTW_ESTIMATE on its own; fill fmr_recon_input with the coil images,
 * then fmr_recon_forward leaves the k-space in that same buffer. Only for a fmr_recon made here. */
int fmr_recon_forward_new(size_t coils, size_t H, size_t W, fmr_recon **out, fmr_err *err);
void fmr_recon_forward(fmr_recon *r);

void fmr_recon_free(fmr_recon **r);

struct fmr_kspace_info;
struct fmr_header;

/* The target frame (SPEC 3): the stored reconstruction's shape when the file has one (rss, else
 * esc); otherwise reconSpace matrix x -> rows, y -> columns, each clamped to the image size H, W.
 * hdr may be NULL (then only a stored reconstruction can give the frame). FMR_EFORMAT when neither
 * gives one. `what` names the file in messages. */
int fmr_recon_target_frame(const struct fmr_kspace_info *info, const struct fmr_header *hdr,
                           const char *what, size_t *h, size_t *w, fmr_err *err);

/* Copy a h x w image applying the SPEC 4 flips: row r <- h-1-r (flip_ud), column c <- w-1-c
 * (flip_lr). in and out must not overlap. */
void fmr_orient(const float *in, size_t h, size_t w, int flip_ud, int flip_lr, float *out);

#ifdef __cplusplus
}
#endif
#endif
