/* SPEC 5.1: percentiles exactly as numpy 1.24 evaluates them, and the int16 scaling.
 * Expected values were computed with Debian 12's numpy 1.24.2 (np.percentile, default method) on the
 * same data; the generator below is reproduced in the comments in numpy terms. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/recon/scale.h"
#include "fmr_test.h"

/* numpy: k = np.arange(n, dtype=np.uint64); h = ((k * 2654435761) % 2**32).astype(np.uint32);
 *        a = h.astype(np.float32) * np.float32(scale / 4294967296.0) */
static float *hash_floats(size_t n, double scale) {
  float *a = malloc(n * sizeof *a);
  float f = (float)(scale / 4294967296.0);
  for (size_t k = 0; k < n; k++) a[k] = (float)(uint32_t)((uint32_t)k * 2654435761u) * f;
  return a;
}

/* Both float selections, which must agree to the bit: introselect over a copy, and the bucketed
 * one over the data as it is (which must leave the data unchanged). */
static double pct_f32(const float *v, size_t n, double q) {
  float *s = malloc(n * sizeof *s);
  memcpy(s, v, n * sizeof *s);
  double p = fmr_percentile_f32(s, n, q);
  memcpy(s, v, n * sizeof *s);
  double p2 = 0.0;
  CHECK_INT_EQ(fmr_percentile_f32_of(s, n, q, &p2), 0);
  CHECK_DBL_EQ(p2, p);
  CHECK(memcmp(s, v, n * sizeof *s) == 0);
  free(s);
  return p;
}

static double pct_i16(const int16_t *v, size_t n, double q) {
  int16_t *s = malloc(n * sizeof *s);
  memcpy(s, v, n * sizeof *s);
  double p = fmr_percentile_i16(s, n, q);
  free(s);
  return p;
}

/* A sort-based reference of the same formula, to check the selection on awkward inputs. */
static int cmp_f32(const void *x, const void *y) {
  float a = *(const float *)x, b = *(const float *)y;
  return (a > b) - (a < b);
}

static double ref_f32(const float *v, size_t n, double q) {
  float *s = malloc(n * sizeof *s);
  memcpy(s, v, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_f32);
  double f = (double)(n - 1) * (q / 100.0);
  size_t i = (size_t)floor(f);
  double t = f - floor(f);
  if (i > n - 1) i = n - 1;
  float lo = s[i], hi = s[i + 1 < n ? i + 1 : i];
  float d = hi - lo;
  free(s);
  return t >= 0.5 ? (double)hi - (double)d * (1.0 - t) : (double)lo + (double)d * t;
}

static void test_small_cases(void) {
  /* np.percentile([1,2,3,4], 50) = 2.5 (t = 0.5, upper branch) */
  float a[] = {4, 1, 3, 2};
  CHECK_DBL_EQ(pct_f32(a, 4, 50.0), 2.5);
  /* The t >= 0.5 branch matters: lo + d*t would give 623.4082946777344.
   * np.percentile(np.float32([276.8912048339844, 160.65200805664062, 969.9254150390625]), 75) */
  float b[] = {0x1.14e426p+8f, 0x1.414dd4p+7f, 0x1.e4f674p+9f};
  CHECK_DBL_EQ(pct_f32(b, 3, 75.0), 623.4083251953125);
  /* n = 1: every percentile is the value. */
  float c[] = {5.5f};
  CHECK_DBL_EQ(pct_f32(c, 1, 99.9), 5.5);
  CHECK_DBL_EQ(pct_f32(c, 1, 0.0), 5.5);
  /* duplicates: np.percentile(np.float32([2,2,2,1,1,3]), 50) = 2.0, (.., 90) = 2.5 */
  float d[] = {2, 2, 2, 1, 1, 3};
  CHECK_DBL_EQ(pct_f32(d, 6, 50.0), 2.0);
  CHECK_DBL_EQ(pct_f32(d, 6, 90.0), 2.5);
  /* NaN anywhere -> NaN; bad q or n -> NaN */
  float e[] = {1, 2, NAN, 4};
  CHECK(isnan(pct_f32(e, 4, 50.0)));
  CHECK(isnan(pct_f32(a, 4, 100.5)));
  CHECK(isnan(pct_f32(a, 4, -1.0)));
  CHECK(isnan(fmr_percentile_f32(a, 0, 50.0)));
}

static void test_hash_data(void) {
  float *a = hash_floats(10007, 100.0);
  /* np.percentile(a, q) for a = hash_floats(10007, 100.0) */
  CHECK_DBL_EQ(pct_f32(a, 10007, 99.9), 99.89110749816895);
  CHECK_DBL_EQ(pct_f32(a, 10007, 0.1), 0.09297906945645809);
  CHECK_DBL_EQ(pct_f32(a, 10007, 50.0), 49.991092681884766);
  CHECK_DBL_EQ(pct_f32(a, 10007, 100.0), 99.99205017089844);
  CHECK_DBL_EQ(pct_f32(a, 10007, 0.0), 0.0);
  CHECK_DBL_EQ(pct_f32(a, 10007, 37.3), 37.28645993804931);
  free(a);
}

static void test_i16(void) {
  /* numpy on np.int16 data, t = 0.983 >= 0.5: 804.5860000000001 (lo + d*t gives 804.586). */
  int16_t v[] = {662, 71, 19, 108, 104, 209, 605, 17, 330, 450, 204, 418, 807, 482, 269, 539, 620, 665};
  CHECK_DBL_EQ(pct_i16(v, 18, 99.9), 804.5860000000001);
  CHECK_DBL_EQ(pct_i16(v, 18, 0.1), 17.034);
  CHECK_DBL_EQ(pct_i16(v, 18, 50.0), 374.0);
  int16_t one[] = {-7};
  CHECK_DBL_EQ(pct_i16(one, 1, 42.0), -7.0);
  /* numpy subtracts in int16: 32767 - (-32768) wraps to -1, so P(50) of [-32768, 32767] is
   * 32767 - (-1) * 0.5 = 32767.5, as numpy 1.24 computes it. */
  int16_t wrap[] = {32767, -32768};
  CHECK_DBL_EQ(pct_i16(wrap, 2, 50.0), 32767.5);
}

/* Selection against the sort-based reference on inputs that break naive quickselects. */
static void test_selection_patterns(void) {
  const size_t n = 50021;
  float *v = malloc(n * sizeof *v);
  const double qs[] = {0.0, 0.1, 1.0, 33.3, 50.0, 99.9, 100.0};
  for (int pattern = 0; pattern < 9; pattern++) {
    uint32_t x = 12345u;
    for (size_t k = 0; k < n; k++) {
      x = x * 1664525u + 1013904223u;
      switch (pattern) {
        case 0: v[k] = (float)(x >> 8); break;                         /* random */
        case 1: v[k] = (float)k; break;                                /* sorted */
        case 2: v[k] = (float)(n - k); break;                          /* reversed */
        case 3: v[k] = (float)(k < n / 2 ? k : n - k); break;          /* organ pipe */
        case 4: v[k] = (x >> 28) == 0 ? (float)(x >> 20) : 0.0f; break; /* mostly zeros */
        case 5: v[k] = (float)((x >> 16) % 3); break;                  /* three values */
        /* signs, -0 and +0, and values a hair apart in one 16-bit key bucket */
        case 6: v[k] = (float)((int32_t)(x >> 8) - (1 << 23)) * 1e-3f; break;
        case 7: v[k] = (x & 1) ? -0.0f : (x & 2) ? 0.0f : (x & 4) ? -1.0f : 1.0f; break;
        default: v[k] = 1.0f + (float)(x >> 25) * 0x1p-23f; break;
      }
    }
    for (size_t j = 0; j < sizeof qs / sizeof *qs; j++)
      CHECK_DBL_EQ(pct_f32(v, n, qs[j]), ref_f32(v, n, qs[j]));
  }
  free(v);
}

static void test_scale_volume(void) {
  /* numpy: b = hash_floats(4099, 300.0); p = np.percentile(b, 99.9); s = np.float32(1024.0 / p)
   *        pix = np.trunc(np.clip(s * b, 0, 1024)).astype(np.int16)
   *        w = 2.0 * (np.percentile(pix, 99.9) - np.percentile(pix, 0.1)) */
  const size_t n = 4099;
  float *b = hash_floats(n, 300.0);
  int16_t *pix = malloc(n * sizeof *pix);
  fmr_scaling sc;
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_scale_volume(b, n, pix, &sc, "hash", &err), 0);
  CHECK_DBL_EQ(sc.p999, 299.6386811523438);
  CHECK_DBL_EQ(sc.s, 3.4174492359161377);
  long long sum = 0, n1024 = 0;
  for (size_t k = 0; k < n; k++) {
    sum += pix[k];
    n1024 += pix[k] == 1024;
  }
  CHECK_INT_EQ(sum, 2099034);
  CHECK_INT_EQ(n1024, 5);
  const int16_t first[] = {0, 633, 242, 875, 484, 92};
  for (int k = 0; k < 6; k++) CHECK_INT_EQ(pix[k], first[k]);
  CHECK_INT_EQ(pix[4000], 139);
  CHECK_DBL_EQ(sc.window_width, 2045.804000000001);
  CHECK_DBL_EQ(sc.window_center, 1022.9020000000005);
  /* The window's counting shortcut agrees with the general int16 percentile. */
  CHECK_DBL_EQ(sc.window_width, 2.0 * (pct_i16(pix, n, 99.9) - pct_i16(pix, n, 0.1)));

  /* Clamp and truncation. numpy: P(99.9) = 2.0000000001134595 (f = 999.0000000000001 reaches a
   * hair into the 1000), s = np.float32(1024 / p) = 512.0, pixels [0, 0, 1023, 1024, ...]. */
  float c[1001];
  for (int k = 0; k < 1001; k++) c[k] = 2.0f;
  c[0] = -1.0f;           /* clamps to 0 */
  c[1] = 0.0019f;         /* 512 * 0.0019 = 0.97 -> 0 */
  c[2] = 1.99999f;        /* 1023.99 -> 1023 */
  c[3] = 1000.0f;         /* clamps to 1024 */
  int16_t cp[1001];
  CHECK_INT_EQ(fmr_scale_volume(c, 1001, cp, &sc, "clamp", &err), 0);
  CHECK_DBL_EQ(sc.p999, 2.0000000001134595);
  CHECK_DBL_EQ(sc.s, 512.0);
  CHECK_INT_EQ(cp[0], 0);
  CHECK_INT_EQ(cp[1], 0);
  CHECK_INT_EQ(cp[2], 1023);
  CHECK_INT_EQ(cp[3], 1024);
  CHECK_INT_EQ(cp[500], 1024);

  /* Failures: all zero (p = 0), negative, NaN, Inf. Each names the volume. */
  float z[16] = {0};
  CHECK_INT_EQ(fmr_scale_volume(z, 16, cp, &sc, "file_zero", &err), FMR_ENUMERIC);
  CHECK(strstr(err.msg, "file_zero") != NULL);
  for (int k = 0; k < 16; k++) z[k] = -1.0f;
  CHECK_INT_EQ(fmr_scale_volume(z, 16, cp, &sc, "file_neg", &err), FMR_ENUMERIC);
  z[3] = NAN;
  CHECK_INT_EQ(fmr_scale_volume(z, 16, cp, &sc, "file_nan", &err), FMR_ENUMERIC);
  CHECK(strstr(err.msg, "file_nan") != NULL && strstr(err.msg, "NaN") != NULL);
  for (int k = 0; k < 16; k++) z[k] = 1.0f;
  z[5] = INFINITY;
  CHECK_INT_EQ(fmr_scale_volume(z, 16, cp, &sc, "file_inf", &err), FMR_ENUMERIC);
  CHECK_INT_EQ(fmr_scale_volume(z, 0, cp, &sc, "file_empty", &err), FMR_EINVAL);
  free(pix);
  free(b);
}

int main(void) {
  test_small_cases();
  test_hash_data();
  test_i16();
  test_selection_patterns();
  test_scale_volume();
  return fmr_test_end();
}
