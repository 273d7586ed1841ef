/* Reconstruction (SPEC 3) against an independent double-precision oracle: a naive O(N^2) inverse
 * DFT with numpy's shift convention written as generic rolls, plus hand-known cases where the answer
 * needs no oracle at all (a flat k-space is a centred peak; a centred forward DFT of a known image
 * comes back as that image, cropped). Odd sizes throughout, because that is where fftshift and
 * ifftshift differ. */
#include <complex.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fmr/util/error.h"
#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/recon/recon.h"
#include "fmr_test.h"

/* numpy.roll along one axis: y[i] = x[(i - s) mod n]. */
static size_t rolled_index(size_t i, long s, size_t n) {
  long j = ((long)i - s) % (long)n;
  return (size_t)(j < 0 ? j + (long)n : j);
}

/* y = roll(x, (sh, sw)) over an H x W plane. */
static void roll2(const double complex *x, double complex *y, size_t H, size_t W, long sh, long sw) {
  for (size_t i = 0; i < H; i++)
    for (size_t j = 0; j < W; j++)
      y[i * W + j] = x[rolled_index(i, sh, H) * W + rolled_index(j, sw, W)];
}

/* Naive 2-D DFT with orthonormal scaling; sign +1 is the inverse. */
static void dft2(const double complex *x, double complex *y, size_t H, size_t W, int sign) {
  const double pi = acos(-1.0);
  double complex *tmp = malloc(H * W * sizeof *tmp);
  for (size_t i = 0; i < H; i++)
    for (size_t l = 0; l < W; l++) {
      double complex s = 0;
      for (size_t j = 0; j < W; j++)
        s += x[i * W + j] * cexp(sign * 2.0 * pi * I * (double)(j * l) / (double)W);
      tmp[i * W + l] = s;
    }
  for (size_t k = 0; k < H; k++)
    for (size_t l = 0; l < W; l++) {
      double complex s = 0;
      for (size_t i = 0; i < H; i++)
        s += tmp[i * W + l] * cexp(sign * 2.0 * pi * I * (double)(i * k) / (double)H);
      y[k * W + l] = s / sqrt((double)H * (double)W);
    }
  free(tmp);
}

/* SPEC 3 in double: per coil fftshift(ifft2(ifftshift(k))), RSS, crop with (H-h)//2, (W-w)//2. */
static void reference(const float complex *k, size_t C, size_t H, size_t W, size_t h, size_t w,
                      double *out) {
  double complex *a = malloc(H * W * sizeof *a), *b = malloc(H * W * sizeof *b);
  double *sum = calloc(H * W, sizeof *sum);
  for (size_t c = 0; c < C; c++) {
    for (size_t i = 0; i < H * W; i++) a[i] = k[c * H * W + i];
    roll2(a, b, H, W, -(long)(H / 2), -(long)(W / 2)); /* ifftshift */
    dft2(b, a, H, W, +1);
    roll2(a, b, H, W, (long)(H / 2), (long)(W / 2)); /* fftshift */
    for (size_t i = 0; i < H * W; i++) sum[i] += creal(b[i]) * creal(b[i]) + cimag(b[i]) * cimag(b[i]);
  }
  size_t oh = (H - h) / 2, ow = (W - w) / 2;
  for (size_t o = 0; o < h; o++)
    for (size_t p = 0; p < w; p++) out[o * w + p] = sqrt(sum[(o + oh) * W + p + ow]);
  free(sum);
  free(b);
  free(a);
}

/* Deterministic pseudo-random numbers in [-1, 1) (xorshift), so failures reproduce. */
static double rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (double)(*s >> 11) / (double)(UINT64_C(1) << 52) - 1.0;
}

static void check_against_reference(size_t C, size_t H, size_t W, size_t h, size_t w) {
  fmr_err err;
  fmr_err_clear(&err);
  fmr_recon *r = NULL;
  int rc = fmr_recon_new(C, H, W, FMR_FFT_ESTIMATE, 0, &r, &err);
  CHECK_INT_EQ(rc, 0);
  if (rc) return;
  float complex *k = malloc(C * H * W * sizeof *k);
  float *out = malloc(h * w * sizeof *out);
  double *ref = malloc(h * w * sizeof *ref);
  uint64_t seed = 0x9E3779B97F4A7C15u ^ (C * 1000003u + H * 1009u + W);
  for (size_t i = 0; i < C * H * W; i++) k[i] = (float)rnd(&seed) + (float)rnd(&seed) * I;
  reference(k, C, H, W, h, w, ref);

  /* The plan is reused: run twice, the second time on fresh input (the first run clobbers it). */
  for (int pass = 0; pass < 2; pass++) {
    float complex *in = fmr_recon_input(r);
    for (size_t i = 0; i < C * H * W; i++) in[i] = k[i];
    rc = fmr_recon_slice(r, h, w, out, &err);
    CHECK_INT_EQ(rc, 0);
    double num = 0, den = 0, maxdiff = 0;
    for (size_t i = 0; i < h * w; i++) {
      double d = (double)out[i] - ref[i];
      num += d * d;
      den += ref[i] * ref[i];
      if (fabs(d) > maxdiff) maxdiff = fabs(d);
    }
    double nmse = num / den;
    if (!(nmse < 1e-10))
      fprintf(stderr, "C=%zu H=%zu W=%zu h=%zu w=%zu: NMSE %g, max |diff| %g\n", C, H, W, h, w,
              nmse, maxdiff);
    CHECK(nmse < 1e-10);
  }
  free(ref);
  free(out);
  free(k);
  fmr_recon_free(&r);
  CHECK(r == NULL);
}

static void test_against_naive_dft(void) {
  check_against_reference(1, 5, 7, 5, 7);   /* odd, no crop, single coil */
  check_against_reference(3, 5, 7, 3, 4);   /* odd differences: offsets 1 and 1 */
  check_against_reference(2, 6, 4, 3, 3);   /* even H odd h: offsets 1 and 0 */
  check_against_reference(4, 9, 8, 4, 5);   /* offsets 2 and 1 */
  check_against_reference(1, 1, 1, 1, 1);
  check_against_reference(2, 1, 6, 1, 3);
  check_against_reference(4, 16, 12, 8, 6);
  check_against_reference(3, 15, 13, 15, 13);
  /* the crop-aware split: half the rows kept (2x readout oversampling), rows that wrap in the
   * buffer, every row-plan alignment class (W odd: rows start at 8 mod 16 bytes every other row) */
  check_against_reference(3, 32, 10, 16, 8);
  check_against_reference(2, 33, 11, 15, 9);
  check_against_reference(5, 20, 7, 9, 7);
}

/* synth's forward transform against the naive DFT with numpy's shifts: fmr_recon_forward must give
 * fftshift(fft2(ifftshift(x))) / sqrt(H*W) per coil, odd and even sizes. */
static void test_forward(void) {
  const size_t shapes[][3] = {{1, 5, 7}, {2, 6, 4}, {3, 9, 8}, {1, 1, 3}};
  for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
    size_t C = shapes[t][0], H = shapes[t][1], W = shapes[t][2];
    fmr_err err;
    fmr_recon *r = NULL;
    CHECK_INT_EQ(fmr_recon_forward_new(C, H, W, &r, &err), 0);
    if (!r) continue;
    double complex *x = malloc(H * W * sizeof *x), *a = malloc(H * W * sizeof *a),
                   *b = malloc(H * W * sizeof *b);
    float complex *buf = fmr_recon_input(r);
    uint64_t seed = 0xC0FFEEu + t;
    for (size_t i = 0; i < C * H * W; i++) buf[i] = (float)rnd(&seed) + (float)rnd(&seed) * I;
    float complex *copy = malloc(C * H * W * sizeof *copy);
    for (size_t i = 0; i < C * H * W; i++) copy[i] = buf[i];
    fmr_recon_forward(r);
    double maxdiff = 0;
    for (size_t c = 0; c < C; c++) {
      for (size_t i = 0; i < H * W; i++) x[i] = copy[c * H * W + i];
      roll2(x, a, H, W, -(long)(H / 2), -(long)(W / 2));
      dft2(a, b, H, W, -1);
      roll2(b, a, H, W, (long)(H / 2), (long)(W / 2));
      for (size_t i = 0; i < H * W; i++) {
        double d = cabs(a[i] - (double complex)buf[c * H * W + i]);
        if (d > maxdiff) maxdiff = d;
      }
    }
    CHECK(maxdiff < 1e-5);
    /* an inverse-only call on a forward transform is refused */
    float out[1];
    CHECK_INT_EQ(fmr_recon_slice(r, 1, 1, out, &err), FMR_EINVAL);
    free(copy);
    free(b);
    free(a);
    free(x);
    fmr_recon_free(&r);
  }
}

/* A flat k-space is the transform of a single peak: after the output fftshift it sits at
 * (H//2, W//2) with value sqrt(H*W). An output roll in the wrong direction moves it on odd sizes. */
static void test_flat_kspace_peak(void) {
  const size_t sizes[][2] = {{5, 7}, {4, 6}, {7, 4}, {3, 3}, {1, 5}};
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
    size_t H = sizes[t][0], W = sizes[t][1];
    fmr_err err;
    fmr_recon *r = NULL;
    CHECK_INT_EQ(fmr_recon_new(1, H, W, FMR_FFT_ESTIMATE, 0, &r, &err), 0);
    if (!r) continue;
    float complex *in = fmr_recon_input(r);
    for (size_t i = 0; i < H * W; i++) in[i] = 1.0f;
    float out[64];
    CHECK_INT_EQ(fmr_recon_slice(r, H, W, out, &err), 0);
    for (size_t i = 0; i < H; i++)
      for (size_t j = 0; j < W; j++) {
        double want = i == H / 2 && j == W / 2 ? sqrt((double)(H * W)) : 0.0;
        CHECK_DBL_NEAR(out[i * W + j], want, 1e-5);
      }
    fmr_recon_free(&r);
  }
}

/* The centred forward DFT of an image comes back as |image|; cropping must pick rows
 * [(H-h)//2, ...) and columns [(W-w)//2, ...) of it, checked pixel by pixel. */
static void test_roundtrip_crop(void) {
  const size_t C = 2, H = 9, W = 7, h = 4, w = 4; /* offsets 2 and 1 */
  double complex *x = malloc(H * W * sizeof *x), *a = malloc(H * W * sizeof *a),
                 *b = malloc(H * W * sizeof *b);
  fmr_err err;
  fmr_recon *r = NULL;
  CHECK_INT_EQ(fmr_recon_new(C, H, W, FMR_FFT_ESTIMATE, 0, &r, &err), 0);
  float complex *in = fmr_recon_input(r);
  for (size_t c = 0; c < C; c++) {
    /* coil c sees the image times (c+1) with a coil-dependent phase; RSS = |img| sqrt(1 + 4) */
    for (size_t i = 0; i < H; i++)
      for (size_t j = 0; j < W; j++)
        x[i * W + j] = (double)(c + 1) * (1.0 + (double)(i * W + j)) * cexp(I * 0.3 * (double)(c + i));
    roll2(x, a, H, W, -(long)(H / 2), -(long)(W / 2));
    dft2(a, b, H, W, -1);
    roll2(b, a, H, W, (long)(H / 2), (long)(W / 2));
    for (size_t i = 0; i < H * W; i++) in[c * H * W + i] = (float complex)a[i];
  }
  float out[16];
  CHECK_INT_EQ(fmr_recon_slice(r, h, w, out, &err), 0);
  for (size_t o = 0; o < h; o++)
    for (size_t p = 0; p < w; p++) {
      double want = (1.0 + (double)((o + 2) * W + (p + 1))) * sqrt(5.0);
      CHECK_DBL_NEAR(out[o * w + p], want, want * 1e-5);
    }
  fmr_recon_free(&r);
  free(b);
  free(a);
  free(x);
}

static void test_orient(void) {
  const float in[6] = {1, 2, 3, 4, 5, 6}; /* 2 x 3 */
  float out[6];
  const float none[6] = {1, 2, 3, 4, 5, 6}, ud[6] = {4, 5, 6, 1, 2, 3},
              lr[6] = {3, 2, 1, 6, 5, 4}, both[6] = {6, 5, 4, 3, 2, 1};
  const float *want[4] = {none, lr, ud, both};
  for (int f = 0; f < 4; f++) {
    fmr_orient(in, 2, 3, f >> 1, f & 1, out);
    for (int i = 0; i < 6; i++) CHECK_DBL_EQ(out[i], want[f][i]);
  }
  /* odd height: the middle row stays */
  const float in3[3] = {7, 8, 9};
  float out3[3];
  fmr_orient(in3, 3, 1, 1, 0, out3);
  CHECK_DBL_EQ(out3[0], 9);
  CHECK_DBL_EQ(out3[1], 8);
  CHECK_DBL_EQ(out3[2], 7);
}

static void test_errors(void) {
  fmr_err err;
  fmr_recon *r = NULL;
  CHECK_INT_EQ(fmr_recon_new(0, 4, 4, FMR_FFT_ESTIMATE, 0, &r, &err), FMR_EINVAL);
  CHECK(r == NULL);
  CHECK_INT_EQ(fmr_recon_new(1, 0, 4, FMR_FFT_ESTIMATE, 0, &r, &err), FMR_EINVAL);
  CHECK_INT_EQ(fmr_recon_new(1, 4, 4, (fmr_fft_effort)42, 0, &r, &err), FMR_EINVAL);
  CHECK_INT_EQ(fmr_recon_new(2, 6, 5, FMR_FFT_ESTIMATE, 0, &r, &err), 0);
  CHECK(((uintptr_t)fmr_recon_input(r) % 16) == 0);
  float out[64];
  CHECK_INT_EQ(fmr_recon_slice(r, 7, 5, out, &err), FMR_EINVAL);
  CHECK(strstr(err.msg, "7 x 5") != NULL);
  CHECK_INT_EQ(fmr_recon_slice(r, 6, 6, out, &err), FMR_EINVAL);
  CHECK_INT_EQ(fmr_recon_slice(r, 0, 5, out, &err), FMR_EINVAL);
  /* finite input whose image overflows float32 */
  float complex *in = fmr_recon_input(r);
  for (size_t i = 0; i < 2 * 6 * 5; i++) in[i] = 3e38f;
  CHECK_INT_EQ(fmr_recon_slice(r, 6, 5, out, &err), FMR_ENUMERIC);
  fmr_recon_free(&r);
  fmr_recon_free(&r); /* safe twice */
  fmr_recon_free(NULL);
}

/* wisdom_only refuses a shape FFTW has never planned, and accepts it once it has been measured. */
static void test_wisdom_only(void) {
  fmr_err err;
  fmr_recon *r = NULL;
  CHECK_INT_EQ(fmr_recon_new(3, 11, 13, FMR_FFT_MEASURE, 1, &r, &err), FMR_EFFT);
  CHECK(r == NULL);
  CHECK(strstr(err.msg, "wisdom") != NULL);
  CHECK_INT_EQ(fmr_recon_new(3, 11, 13, FMR_FFT_MEASURE, 0, &r, &err), 0);
  fmr_recon_free(&r);
  CHECK_INT_EQ(fmr_recon_new(3, 11, 13, FMR_FFT_MEASURE, 1, &r, &err), 0);
  if (r) {
    float complex *in = fmr_recon_input(r);
    for (size_t i = 0; i < 3 * 11 * 13; i++) in[i] = 1.0f;
    float out[11 * 13];
    CHECK_INT_EQ(fmr_recon_slice(r, 11, 13, out, &err), 0);
    CHECK_DBL_NEAR(out[5 * 13 + 6], sqrt(3.0 * 11 * 13), 1e-3);
  }
  fmr_recon_free(&r);
}

static void test_target_frame(void) {
  fmr_kspace_info info;
  memset(&info, 0, sizeof info);
  info.H = 640;
  info.W = 368;
  fmr_header hdr;
  memset(&hdr, 0, sizeof hdr);
  hdr.recon.matrix_x = 320;
  hdr.recon.matrix_y = 320;
  fmr_err err;
  size_t h, w;

  /* stored reconstruction wins over reconSpace */
  info.has_rss = 1;
  info.rec_h = 320;
  info.rec_w = 316;
  CHECK_INT_EQ(fmr_recon_target_frame(&info, &hdr, "f.h5", &h, &w, &err), 0);
  CHECK_UINT_EQ(h, 320);
  CHECK_UINT_EQ(w, 316);
  info.has_rss = 0;
  info.has_esc = 1;
  CHECK_INT_EQ(fmr_recon_target_frame(&info, NULL, "f.h5", &h, &w, &err), 0);
  CHECK_UINT_EQ(w, 316);

  /* reconSpace fallback, x -> rows, y -> columns, clamped to the image */
  info.has_esc = 0;
  info.rec_h = info.rec_w = 0;
  hdr.recon.matrix_x = 320;
  hdr.recon.matrix_y = 300;
  CHECK_INT_EQ(fmr_recon_target_frame(&info, &hdr, "f.h5", &h, &w, &err), 0);
  CHECK_UINT_EQ(h, 320);
  CHECK_UINT_EQ(w, 300);
  hdr.recon.matrix_x = 700;
  hdr.recon.matrix_y = 400;
  CHECK_INT_EQ(fmr_recon_target_frame(&info, &hdr, "f.h5", &h, &w, &err), 0);
  CHECK_UINT_EQ(h, 640);
  CHECK_UINT_EQ(w, 368);

  /* neither: a clear error naming the file */
  CHECK_INT_EQ(fmr_recon_target_frame(&info, NULL, "f.h5", &h, &w, &err), FMR_EFORMAT);
  CHECK(strncmp(err.msg, "f.h5: ", 6) == 0);
  hdr.recon.matrix_x = -1;
  CHECK_INT_EQ(fmr_recon_target_frame(&info, &hdr, "f.h5", &h, &w, &err), FMR_EFORMAT);
}

int main(void) {
  test_against_naive_dft();
  test_forward();
  test_flat_kspace_peak();
  test_roundtrip_crop();
  test_orient();
  test_errors();
  test_wisdom_only();
  test_target_frame();
  return fmr_test_end();
}
