/* Reconstruction in fastMRI's convention (SPEC 3) and orientation (SPEC 4).
 *
 * The centring convention, spelled out once (numpy's, which is what fastMRI uses):
 *   ifftshift(x)[i] = x[(i + N/2) mod N]      (roll by -(N//2))       ifftshift_src
 *   fftshift(y)[i]  = y[(i - N/2) mod N]      (roll by  +(N//2))      fftshift_src
 * with N/2 the floor. The two differ for odd N, so neither can stand in for the other.
 *
 * Inverse (k-space -> image): only magnitudes leave this file (RSS or |x|), and a circular shift of
 * a DFT's input multiplies its output by a unit-modulus phase (the shift theorem, any N), so the
 * input ifftshift changes no magnitude and is not done at all: k-space is read straight into the
 * transform buffer. The output fftshift and the centre crop are index arithmetic on the transformed
 * buffer. The 2-D transform is split: along H (readout) for every column of every coil, then along
 * W only for the h rows the crop keeps, each row's coils combined while they are in cache.
 *
 * Forward (image -> k-space, for synth) is a plain 2-D plan with both shifts as copies: it is not
 * on the hot path, and its bytes are the synthetic inputs' bytes. */
#include <complex.h> /* before fftw3.h, so that fftwf_complex is float complex */

#include "fmr/recon/recon.h"

#include <fftw3.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/util/measure.h"

/* Row plans by row index mod ROW_PLANS: a row starts at byte offset 8*W*i, and 8*W*ROW_PLANS is a
 * multiple of 64, the largest SIMD alignment FFTW uses (AVX-512), so row i has the alignment of row
 * i % ROW_PLANS and may run that row's plan (checked with fftwf_alignment_of all the same). */
#define ROW_PLANS 8

struct fmr_recon {
  int forward;
  size_t coils, H, W;
  float complex *buf;  /* caller fills this with one slice, [coil][row][col] */
  float complex *work; /* forward only: the ifftshifted copy the 2-D plan runs on */
  float complex *own;  /* the buffer the plans were made on (freed with r) */
  float complex *spare; /* the other of the two inputs while a spare is held, else NULL */
  void *spare_map;     /* the spare's own mapping (fmr_recon_spare) */
  fftwf_plan cols;     /* inverse: along H, every column of every coil */
  fftwf_plan rows[ROW_PLANS]; /* inverse: along W, one row of every coil */
  fftwf_plan plan2d;   /* forward */
};

static size_t ifftshift_src(size_t i, size_t n) { return (i + n / 2) % n; }
static size_t fftshift_src(size_t i, size_t n) { return (i + n - n / 2) % n; }

static int check_shape(size_t coils, size_t H, size_t W, fmr_err *err) {
  if (coils == 0 || H == 0 || W == 0 || coils > INT_MAX || H > INT_MAX || W > INT_MAX ||
      H > (size_t)INT_MAX / W || coils > SIZE_MAX / (H * W) / sizeof(float complex) ||
      coils * H * W > (size_t)INT_MAX)
    return fmr_err_set(err, FMR_EINVAL, "recon: unsupported FFT size %zu coils x %zu x %zu", coils,
                       H, W);
  return 0;
}

static int alloc_recon(size_t coils, size_t H, size_t W, int forward, fmr_recon **out,
                       fmr_err *err) {
  fmr_recon *r = calloc(1, sizeof *r);
  if (!r) return fmr_err_set(err, FMR_ENOMEM, "recon: out of memory");
  r->forward = forward;
  r->coils = coils;
  r->H = H;
  r->W = W;
  /* fftwf_alloc_complex gives SIMD alignment; plans made on aligned buffers may use SIMD codelets,
   * and every rank then gets the same plan for the same shape. */
  r->buf = r->own = fftwf_alloc_complex(coils * H * W);
  fmr_advise_huge_pages(r->buf, coils * H * W * sizeof *r->buf);
  if (forward) r->work = fftwf_alloc_complex(coils * H * W);
  if (!r->buf || (forward && !r->work)) {
    fmr_recon_free(&r);
    return fmr_err_set(err, FMR_ENOMEM, "recon: out of memory for %zu x %zu x %zu complex buffers",
                       coils, H, W);
  }
  *out = r;
  return 0;
}

int fmr_recon_new(size_t coils, size_t H, size_t W, fmr_fft_effort effort, int wisdom_only,
                  fmr_recon **out, fmr_err *err) {
  fmr_recon *r = NULL;
  int rc = 0;
  *out = NULL;
  if ((rc = check_shape(coils, H, W, err)) != 0) return rc;
  unsigned flags;
  switch (effort) {
    case FMR_FFT_ESTIMATE: flags = FFTW_ESTIMATE; break;
    case FMR_FFT_MEASURE: flags = FFTW_MEASURE; break;
    case FMR_FFT_PATIENT: flags = FFTW_PATIENT; break;
    default: return fmr_err_set(err, FMR_EINVAL, "recon: unknown FFT effort %d", (int)effort);
  }
  if (wisdom_only) flags |= FFTW_WISDOM_ONLY;
  if ((rc = alloc_recon(coils, H, W, 0, &r, err)) != 0) return rc;

  const int iH = (int)H, iW = (int)W, iC = (int)coils, HW = (int)(H * W);
  /* FFTW's planner is not thread-safe; only the thread that owns r plans, and the prefetcher of
   * reconstruct.c never calls FFTW. MEASURE/PATIENT scribble on the buffer while planning; nothing
   * is in it yet. */
  fftwf_iodim col_dim = {iH, iW, iW};
  fftwf_iodim col_loops[2] = {{iC, HW, HW}, {iW, 1, 1}};
  r->cols = fftwf_plan_guru_dft(1, &col_dim, 2, col_loops, r->buf, r->buf,
                                FFTW_BACKWARD, flags);
  int ok = r->cols != NULL;
  fftwf_iodim row_dim = {iW, 1, 1};
  fftwf_iodim row_loop = {iC, HW, HW};
  for (size_t k = 0; k < ROW_PLANS && k < H && ok; k++) {
    float complex *row = r->buf + k * W;
    r->rows[k] = fftwf_plan_guru_dft(1, &row_dim, 1, &row_loop, row, row, FFTW_BACKWARD, flags);
    ok = r->rows[k] != NULL;
  }
  if (!ok) {
    rc = wisdom_only
             ? fmr_err_set(err, FMR_EFFT, "recon: no FFTW wisdom for %zu coils x %zu x %zu (the "
                           "planner was told to use wisdom only)", coils, H, W)
             : fmr_err_set(err, FMR_EFFT, "recon: FFTW could not plan %zu coils x %zu x %zu",
                           coils, H, W);
    fmr_recon_free(&r);
    return rc;
  }
  *out = r;
  return 0;
}

int fmr_recon_forward_new(size_t coils, size_t H, size_t W, fmr_recon **out, fmr_err *err) {
  fmr_recon *r = NULL;
  int rc = 0;
  *out = NULL;
  if ((rc = check_shape(coils, H, W, err)) != 0) return rc;
  if ((rc = alloc_recon(coils, H, W, 1, &r, err)) != 0) return rc;
  /* One batched in-place plan for all coils; ESTIMATE is deterministic and never touches the
   * buffer while planning. */
  int n[2] = {(int)H, (int)W};
  int dist = (int)(H * W);
  r->plan2d = fftwf_plan_many_dft(2, n, (int)coils, r->work, NULL, 1, dist, r->work, NULL, 1, dist,
                                  FFTW_FORWARD, FFTW_ESTIMATE);
  if (!r->plan2d) {
    fmr_recon_free(&r);
    return fmr_err_set(err, FMR_EFFT, "recon: FFTW could not plan a forward %zu x %zu x %zu FFT",
                       coils, H, W);
  }
  *out = r;
  return 0;
}
/* re + im*i exactly, for any value. CMPLXF would do, but glibc defines it for GCC only (clang-14
 * builds the fuzzers); C11 6.2.5 guarantees a complex is laid out as an array {re, im}. */
static inline float complex complex_of(float re, float im) {
  union {
    float complex z;
    float part[2];
  } u;
  u.part[0] = re;
  u.part[1] = im;
  return u.z;
}


void fmr_recon_forward(fmr_recon *r) {
  const size_t C = r->coils, H = r->H, W = r->W, HW = H * W;
  for (size_t c = 0; c < C; c++)
    for (size_t i = 0; i < H; i++) {
      const float complex *src = r->buf + c * HW + ifftshift_src(i, H) * W;
      float complex *dst = r->work + c * HW + i * W;
      for (size_t j = 0; j < W; j++) dst[j] = src[ifftshift_src(j, W)];
    }
  fftwf_execute(r->plan2d);
  /* Scaled in double and rounded once, as numpy's float64 `/ sqrt(H*W)` then astype(complex64). */
  const double kscale = 1.0 / sqrt((double)HW);
  for (size_t c = 0; c < C; c++)
    for (size_t i = 0; i < H; i++) {
      const float complex *src = r->work + c * HW + fftshift_src(i, H) * W;
      float complex *dst = r->buf + c * HW + i * W;
      for (size_t j = 0; j < W; j++) {
        const float complex v = src[fftshift_src(j, W)];
        dst[j] = complex_of((float)((double)crealf(v) * kscale), (float)((double)cimagf(v) * kscale));
      }
    }
}

float complex *fmr_recon_input(fmr_recon *r) { return r->buf; }

/* Its own mapping, not the heap: from malloc it would move glibc's mmap threshold and keep later
 * buffers on the heap. Kept from one volume to the next (fmr_fft_cache releases it when another
 * shape is used): mapped anew for every volume, its 28 MB (a knee slice) cost ~7,000 page faults
 * each time, ~70 ms on a VM. Between volumes it is idle memory the writers build files in
 * (fmr_recon_idle_spare), so keeping it adds nothing to the peak. Advised for huge pages, 2 MiB
 * aligned: faulted in once now, and the read-ahead of slice 1 into it waited 40 ms for 4 KiB
 * pages against 4 ms for huge ones (a THP fault can stall in compaction, but once a run). */
#define HUGE_ALIGN ((size_t)2 << 20)

float complex *fmr_recon_spare(fmr_recon *r) {
  if (!r || r->forward) return NULL;
  if (r->spare) return r->spare;
  size_t bytes = r->coils * r->H * r->W * sizeof *r->buf;
  size_t len = bytes + HUGE_ALIGN;
  unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return NULL;
  uintptr_t up = ((uintptr_t)m + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1);
  unsigned char *a = (unsigned char *)up;
  if (a > m) munmap(m, (size_t)(a - m));
  size_t tail = (size_t)(m + len - (a + bytes));
  if (tail) munmap(a + bytes, tail);
  /* The plans run on whichever buffer is the input: it must be aligned as the one they were made
   * on (a mapping is page-aligned, so it is). */
  if (fftwf_alignment_of((float *)a) != fftwf_alignment_of((float *)r->own)) {
    munmap(a, bytes);
    return NULL;
  }
  fmr_advise_huge_pages(a, bytes);
  r->spare_map = a;
  r->spare = (float complex *)a;
  return r->spare;
}

void fmr_recon_take_spare(fmr_recon *r) {
  if (!r || !r->spare) return;
  float complex *t = r->buf;
  r->buf = r->spare;
  r->spare = t;
}

void *fmr_recon_idle_buffer(fmr_recon *r, size_t *bytes) {
  *bytes = r ? r->coils * r->H * r->W * sizeof *r->buf : 0;
  return r ? r->buf : NULL;
}

void *fmr_recon_idle_spare(fmr_recon *r, size_t *bytes) {
  *bytes = r && r->spare ? r->coils * r->H * r->W * sizeof *r->buf : 0;
  return r ? r->spare : NULL;
}

void fmr_recon_release_spare(fmr_recon *r) {
  if (!r || !r->spare_map) return;
  r->buf = r->own;
  munmap(r->spare_map, r->coils * r->H * r->W * sizeof *r->buf);
  r->spare_map = NULL;
  r->spare = NULL;
}

const char *fmr_recon_source_dataset(fmr_recon_source s) {
  switch (s) {
    case FMR_SOURCE_RSS: return "reconstruction_rss";
    case FMR_SOURCE_ESC: return "reconstruction_esc";
    default: return NULL;
  }
}

/* dst[p] (=, or += when !first) |src[p] * scale|^2 for p < n: a contiguous span of a cropped row.
 * Four values at a time with GCC/clang vector types, since GCC at -O2 leaves the loop scalar; every
 * lane does what the scalar tail does, in the same order (scale, squares, their sum, the add), and
 * -ffp-contract=off keeps it from fusing, so the bits are the scalar loop's. */
typedef float fmr_v4 __attribute__((vector_size(16)));

static void add_squares(float *restrict dst, const float complex *restrict src, size_t n,
                        float scale, int first) {
  const float *f = (const float *)src;
  size_t p = 0;
  for (; p + 4 <= n; p += 4) {
    fmr_v4 a, b, d;
    memcpy(&a, f + 2 * p, sizeof a); /* re0 im0 re1 im1 */
    memcpy(&b, f + 2 * p + 4, sizeof b);
    a *= scale;
    b *= scale;
    a *= a;
    b *= b;
    fmr_v4 m = __builtin_shufflevector(a, b, 0, 2, 4, 6) + __builtin_shufflevector(a, b, 1, 3, 5, 7);
    if (first) {
      d = m;
    } else {
      memcpy(&d, dst + p, sizeof d);
      d += m;
    }
    memcpy(dst + p, &d, sizeof d);
  }
  for (; p < n; p++) {
    const float re = crealf(src[p]) * scale, im = cimagf(src[p]) * scale;
    const float m = re * re + im * im;
    dst[p] = first ? m : dst[p] + m;
  }
}

int fmr_recon_slice(fmr_recon *r, size_t h, size_t w, float *out, fmr_err *err) {
  return fmr_recon_slice_timed(r, h, w, out, NULL, err);
}

int fmr_recon_slice_timed(fmr_recon *r, size_t h, size_t w, float *out, fmr_recon_times *times,
                          fmr_err *err) {
  if (!r || !out || r->forward) return fmr_err_set(err, FMR_EINVAL, "recon: no plan/output");
  const size_t C = r->coils, H = r->H, W = r->W, HW = H * W;
  if (h == 0 || w == 0 || h > H || w > W)
    return fmr_err_set(err, FMR_EINVAL, "recon: target frame %zu x %zu does not fit in the %zu x "
                       "%zu image", h, w, H, W);
  float complex *buf = r->buf;
  double t0 = fmr_monotonic_seconds(), t_fft = 0.0;
  fftwf_execute_dft(r->cols, buf, buf);
  double t1 = fmr_monotonic_seconds();
  t_fft += t1 - t0;

  /* Output pixel (o, p) is cropped pixel (o + oh, p + ow) of fftshift(x), which is
   * x[fftshift_src(o + oh, H)][fftshift_src(p + ow, W)]. Along a row the source column runs from
   * q0 and wraps at most once, hence the two spans. */
  const float scale = (float)(1.0 / sqrt((double)H * (double)W));
  const size_t oh = (H - h) / 2, ow = (W - w) / 2;
  const size_t q0 = fftshift_src(ow, W);
  const size_t span1 = W - q0 < w ? W - q0 : w;
  int finite = 1;
  for (size_t o = 0; o < h; o++) {
    const size_t i = fftshift_src(o + oh, H);
    float complex *rowbuf = buf + i * W;
    double ta = fmr_monotonic_seconds();
    const size_t k = i % ROW_PLANS;
    if (fftwf_alignment_of((float *)rowbuf) != fftwf_alignment_of((float *)(buf + k * W)))
      return fmr_err_set(err, FMR_EFFT, "recon: row %zu is not aligned like its plan's row", i);
    fftwf_execute_dft(r->rows[k], rowbuf, rowbuf);
    double tb = fmr_monotonic_seconds();
    t_fft += tb - ta;
    float *dst = out + o * w;
    /* Coils are summed in order, starting from the first coil's value rather than 0 + it, so a
     * single coil gives exactly |x|. */
    for (size_t c = 0; c < C; c++) {
      const float complex *row = rowbuf + c * HW;
      add_squares(dst, row + q0, span1, scale, c == 0);
      add_squares(dst + span1, row, w - span1, scale, c == 0);
    }
    for (size_t p = 0; p < w; p++) {
      dst[p] = sqrtf(dst[p]);
      finite &= isfinite(dst[p]) != 0;
    }
  }
  if (times) {
    times->transform += t_fft;
    times->combine += fmr_monotonic_seconds() - t0 - t_fft;
  }
  /* NaN/Inf in k-space reach every pixel through the transform; finite k-space can still overflow
   * float32 in the sum of squares. The caller tells the two apart (it can re-read the slice). */
  if (!finite)
    return fmr_err_set(err, FMR_ENUMERIC, "reconstructed image holds NaN/Inf (k-space holds NaN/Inf "
                       "or values too large for float32)");
  return 0;
}

void fmr_recon_free(fmr_recon **pr) {
  if (!pr || !*pr) return;
  fmr_recon *r = *pr;
  if (r->cols) fftwf_destroy_plan(r->cols);
  for (size_t k = 0; k < ROW_PLANS; k++)
    if (r->rows[k]) fftwf_destroy_plan(r->rows[k]);
  if (r->plan2d) fftwf_destroy_plan(r->plan2d);
  if (r->work) fftwf_free(r->work);
  fmr_recon_release_spare(r);
  if (r->own) fftwf_free(r->own);
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
