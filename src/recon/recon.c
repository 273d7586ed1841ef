/* Reconstruction in fastMRI's convention (SPEC 3) and orientation (SPEC 4).
 *
 * The centring convention, spelled out once (numpy's, which is what fastMRI uses):
 *   ifftshift(x)[i] = x[(i + N/2) mod N]      (roll by -(N//2))
 *   fftshift(y)[i]  = y[(i - N/2) mod N]      (roll by  +(N//2))
 * with N/2 the floor. The two differ for odd N, so neither can stand in for the other. The input
 * roll is done while copying k-space into the plan's buffer; the output roll and the centre crop are
 * folded into the index mapping that reads the transformed buffer, so no full-size image is ever
 * copied just to move it. The forward transform (synth's) does both shifts as copies: it is not on
 * the hot path, and its bytes are the synthetic inputs' bytes. */
#include <complex.h> /* before fftw3.h, so that fftwf_complex is float complex */

#include "fmr/recon/recon.h"

#include <fftw3.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"

struct fmr_recon {
  int forward;
  size_t coils, H, W;
  float complex *in;   /* caller fills this with one slice, [coil][row][col] */
  float complex *work; /* the plan's in-place buffer: in after ifftshift, then the transform */
  fftwf_plan plan;
};

static size_t ifftshift_src(size_t i, size_t n) { return (i + n / 2) % n; }
static size_t fftshift_src(size_t i, size_t n) { return (i + n - n / 2) % n; }

int fmr_recon_new(size_t coils, size_t H, size_t W, fmr_fft_effort effort, int wisdom_only,
                  fmr_recon **out, fmr_err *err) {
  fmr_recon *r = NULL;
  int rc = 0;
  *out = NULL;
  if (coils == 0 || H == 0 || W == 0 || coils > INT_MAX || H > INT_MAX || W > INT_MAX ||
      H > (size_t)INT_MAX / W || coils > SIZE_MAX / (H * W) / sizeof(float complex))
    return fmr_err_set(err, FMR_EINVAL, "recon: unsupported FFT size %zu coils x %zu x %zu", coils,
                       H, W);
  unsigned flags;
  switch (effort) {
    case FMR_FFT_ESTIMATE: flags = FFTW_ESTIMATE; break;
    case FMR_FFT_MEASURE: flags = FFTW_MEASURE; break;
    case FMR_FFT_PATIENT: flags = FFTW_PATIENT; break;
    default: return fmr_err_set(err, FMR_EINVAL, "recon: unknown FFT effort %d", (int)effort);
  }
  if (wisdom_only) flags |= FFTW_WISDOM_ONLY;

  size_t n = coils * H * W;
  r = calloc(1, sizeof *r);
  if (!r) return fmr_err_set(err, FMR_ENOMEM, "recon: out of memory");
  r->coils = coils;
  r->H = H;
  r->W = W;
  /* fftwf_alloc_complex gives SIMD alignment; plans made on aligned buffers may use SIMD codelets,
   * and every rank then gets the same plan for the same shape. */
  r->in = fftwf_alloc_complex(n);
  r->work = fftwf_alloc_complex(n);
  if (!r->in || !r->work) {
    rc = fmr_err_set(err, FMR_ENOMEM, "recon: out of memory for %zu x %zu x %zu complex buffers",
                     coils, H, W);
    goto done;
  }
  int dims[2] = {(int)H, (int)W};
  int dist = (int)(H * W);
  /* FFTW's planner is not thread-safe; each rank runs one thread, so no lock is taken here.
   * MEASURE/PATIENT scribble on the buffer while planning; nothing is in it yet. */
  r->plan = fftwf_plan_many_dft(2, dims, (int)coils, r->work, NULL, 1, dist, r->work, NULL, 1,
                                dist, FFTW_BACKWARD, flags);
  if (!r->plan) {
    rc = wisdom_only
             ? fmr_err_set(err, FMR_EFFT, "recon: no FFTW wisdom for %zu coils x %zu x %zu (the "
                           "planner was told to use wisdom only)", coils, H, W)
             : fmr_err_set(err, FMR_EFFT, "recon: FFTW could not plan %zu coils x %zu x %zu",
                           coils, H, W);
    goto done;
  }

done:
  if (rc < 0) {
    fmr_recon_free(&r);
    return rc;
  }
  *out = r;
  return 0;
}

int fmr_recon_forward_new(size_t coils, size_t H, size_t W, fmr_recon **out, fmr_err *err) {
  fmr_recon *r = NULL;
  *out = NULL;
  if (coils == 0 || H == 0 || W == 0 || coils > INT_MAX || H > INT_MAX || W > INT_MAX ||
      H > (size_t)INT_MAX / W || coils > SIZE_MAX / (H * W) / sizeof(float complex))
    return fmr_err_set(err, FMR_EINVAL, "recon: unsupported FFT size %zu coils x %zu x %zu", coils,
                       H, W);
  r = calloc(1, sizeof *r);
  if (!r) return fmr_err_set(err, FMR_ENOMEM, "recon: out of memory");
  r->forward = 1;
  r->coils = coils;
  r->H = H;
  r->W = W;
  r->in = fftwf_alloc_complex(coils * H * W);
  r->work = fftwf_alloc_complex(coils * H * W);
  if (!r->in || !r->work) {
    fmr_recon_free(&r);
    return fmr_err_set(err, FMR_ENOMEM, "recon: out of memory for %zu x %zu x %zu complex buffers",
                       coils, H, W);
  }
  /* One batched in-place plan for all coils; ESTIMATE is deterministic and never touches the
   * buffer while planning. */
  int n[2] = {(int)H, (int)W};
  int dist = (int)(H * W);
  r->plan = fftwf_plan_many_dft(2, n, (int)coils, r->work, NULL, 1, dist, r->work, NULL, 1, dist,
                                  FFTW_FORWARD, FFTW_ESTIMATE);
  if (!r->plan) {
    fmr_recon_free(&r);
    return fmr_err_set(err, FMR_EFFT, "recon: FFTW could not plan a forward %zu x %zu x %zu FFT",
                       coils, H, W);
  }
  *out = r;
  return 0;
}

void fmr_recon_forward(fmr_recon *r) {
  const size_t C = r->coils, H = r->H, W = r->W, HW = H * W;
  for (size_t c = 0; c < C; c++)
    for (size_t i = 0; i < H; i++) {
      const float complex *src = r->in + c * HW + ifftshift_src(i, H) * W;
      float complex *dst = r->work + c * HW + i * W;
      for (size_t j = 0; j < W; j++) dst[j] = src[ifftshift_src(j, W)];
    }
  fftwf_execute(r->plan);
  /* Scaled in double and rounded once, as numpy's float64 `/ sqrt(H*W)` then astype(complex64). */
  const double kscale = 1.0 / sqrt((double)HW);
  for (size_t c = 0; c < C; c++)
    for (size_t i = 0; i < H; i++) {
      const float complex *src = r->work + c * HW + fftshift_src(i, H) * W;
      float complex *dst = r->in + c * HW + i * W;
      for (size_t j = 0; j < W; j++) {
        const float complex v = src[fftshift_src(j, W)];
        dst[j] = CMPLXF((float)((double)crealf(v) * kscale), (float)((double)cimagf(v) * kscale));
      }
    }
}

float complex *fmr_recon_input(fmr_recon *r) { return r->in; }

const char *fmr_recon_source_dataset(fmr_recon_source s) {
  switch (s) {
    case FMR_SOURCE_RSS: return "reconstruction_rss";
    case FMR_SOURCE_ESC: return "reconstruction_esc";
    default: return NULL;
  }
}

/* dst[i] = src[(i + s) mod n] for i in [0, n): a roll as two contiguous copies. */
static void roll_copy(float complex *dst, const float complex *src, size_t n, size_t s) {
  memcpy(dst, src + s, (n - s) * sizeof *dst);
  memcpy(dst + (n - s), src, s * sizeof *dst);
}

int fmr_recon_slice(fmr_recon *r, size_t h, size_t w, float *out, fmr_err *err) {
  if (!r || !out || r->forward) return fmr_err_set(err, FMR_EINVAL, "recon: no plan/output");
  const size_t C = r->coils, H = r->H, W = r->W;
  if (h == 0 || w == 0 || h > H || w > W)
    return fmr_err_set(err, FMR_EINVAL, "recon: target frame %zu x %zu does not fit in the %zu x "
                       "%zu image", h, w, H, W);

  /* ifftshift: work row i <- in row (i + H/2) mod H, rolled by W/2 within the row. */
  for (size_t c = 0; c < C; c++) {
    const float complex *src = r->in + c * H * W;
    float complex *dst = r->work + c * H * W;
    for (size_t i = 0; i < H; i++)
      roll_copy(dst + i * W, src + ifftshift_src(i, H) * W, W, W / 2);
  }

  fftwf_execute(r->plan);

  /* Output pixel (o, p) is cropped pixel (o + oh, p + ow) of fftshift(x), which is x[(o + oh - H/2)
   * mod H][(p + ow - W/2) mod W]. Along a row the source column runs from q0 and wraps at most once,
   * hence the two spans. */
  const float scale = (float)(1.0 / sqrt((double)H * (double)W));
  const size_t oh = (H - h) / 2, ow = (W - w) / 2;
  const size_t q0 = fftshift_src(ow, W);
  const size_t span1 = W - q0 < w ? W - q0 : w;
  for (size_t c = 0; c < C; c++) {
    const float complex *img = r->work + c * H * W;
    for (size_t o = 0; o < h; o++) {
      const float complex *row = img + fftshift_src(o + oh, H) * W;
      float *dst = out + o * w;
      /* Coils are summed in order, starting from the first coil's value rather than 0 + it, so a
       * single coil gives exactly |x|. */
      for (size_t p = 0; p < w; p++) {
        const float complex v = row[p < span1 ? q0 + p : p - span1];
        const float re = crealf(v) * scale, im = cimagf(v) * scale;
        const float m = re * re + im * im;
        dst[p] = c == 0 ? m : dst[p] + m;
      }
    }
  }
  int finite = 1;
  for (size_t i = 0; i < h * w; i++) {
    out[i] = sqrtf(out[i]);
    finite &= isfinite(out[i]) != 0;
  }
  /* Finite k-space can still overflow float32 in the sum of squares. */
  if (!finite)
    return fmr_err_set(err, FMR_ENUMERIC, "reconstructed image holds Inf (k-space values too large "
                       "for float32)");
  return 0;
}

void fmr_recon_free(fmr_recon **pr) {
  if (!pr || !*pr) return;
  fmr_recon *r = *pr;
  if (r->plan) fftwf_destroy_plan(r->plan);
  fftwf_free(r->work);
  fftwf_free(r->in);
  free(r);
  *pr = NULL;
}

int fmr_recon_target_frame(const fmr_kspace_info *info, const fmr_header *hdr, const char *what,
                           size_t *h, size_t *w, fmr_err *err) {
  if (!what) what = "volume";
  *h = *w = 0;
  if (!info) return fmr_err_set(err, FMR_EINVAL, "%s: no volume information", what);
  /* The labels were drawn on the stored reconstruction; its shape is the frame even when it is not
   * what reconSpace says. */
  if ((info->has_rss || info->has_esc) && info->rec_h > 0 && info->rec_w > 0) {
    *h = info->rec_h;
    *w = info->rec_w;
    return 0;
  }
  if (hdr && hdr->recon.matrix_x > 0 && hdr->recon.matrix_y > 0) {
    *h = (size_t)hdr->recon.matrix_x < info->H ? (size_t)hdr->recon.matrix_x : info->H;
    *w = (size_t)hdr->recon.matrix_y < info->W ? (size_t)hdr->recon.matrix_y : info->W;
    if (*h > 0 && *w > 0) return 0;
  }
  return fmr_err_set(err, FMR_EFORMAT, "%s: cannot tell the target frame: no stored reconstruction "
                     "and no reconSpace matrixSize x/y in the ISMRMRD header", what);
}

void fmr_orient(const float *in, size_t h, size_t w, int flip_ud, int flip_lr, float *out) {
  for (size_t r = 0; r < h; r++) {
    const float *src = in + (flip_ud ? h - 1 - r : r) * w;
    float *dst = out + r * w;
    if (flip_lr)
      for (size_t c = 0; c < w; c++) dst[c] = src[w - 1 - c];
    else
      memcpy(dst, src, w * sizeof *dst);
  }
}
