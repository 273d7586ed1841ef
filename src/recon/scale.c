/* Percentiles and int16 scaling, SPEC 5.1.
 *
 * The percentile reproduces numpy 1.24's default ("linear", Hyndman-Fan type 7) evaluation step by
 * step, because the fastMRI+ labels were drawn on pixels scaled with it and a one-ulp difference in
 * P(99.9) moves pixels. Selection instead of a sort: only the i-th and (i+1)-th order statistics are
 * needed, and the volume stacks are millions of voxels. */
#include "fmr/recon/scale.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many elements selection finishes with an insertion sort. */
#define SELECT_SMALL 16
/* Pixels are clamped to [0, PIXEL_MAX] (SPEC 5.1). */
#define PIXEL_MAX 1024

/* numpy's virtual index for the linear method: f = (n-1)*q/100 split into i = floor(f) and t.
 * Returns -1 for a q outside [0, 100] (numpy raises; callers answer NaN). */
static int virtual_index(size_t n, double q, size_t *i, double *t) {
  if (!(q >= 0.0 && q <= 100.0)) return -1;
  double f = (double)(n - 1) * (q / 100.0);
  double fi = floor(f);
  *t = f - fi;
  *i = (size_t)fi;
  if (*i > n - 1) *i = n - 1; /* f rounded up past the last index: numpy clamps to the maximum */
  return 0;
}

/* numpy's _lerp: the branch on t keeps the result exact at both ends. `d` was computed in the
 * input type by the caller. */
static double lerp(double lo, double hi, double d, double t) {
  return t >= 0.5 ? hi - d * (1.0 - t) : lo + d * t;
}

/* Introselect on a[0..n): after the call a[k] holds the k-th smallest, nothing before it is greater
 * and nothing after it is smaller. Three-way partitioning keeps runs of equal values (zero
 * background, clamped pixels) linear; the depth budget bounds the worst case by falling back to a
 * heapsort of what is left. The element type must have no NaN (callers scan first). */
#define FMR__DEFINE_SELECT(NAME, T)                                                   \
  static void NAME##_swap(T *a, size_t x, size_t y) {                                 \
    T tmp = a[x];                                                                     \
    a[x] = a[y];                                                                      \
    a[y] = tmp;                                                                       \
  }                                                                                   \
  static void NAME##_sift(T *a, size_t root, size_t n) {                              \
    for (;;) {                                                                        \
      size_t child = 2 * root + 1;                                                    \
      if (child >= n) return;                                                         \
      if (child + 1 < n && a[child] < a[child + 1]) child++;                          \
      if (!(a[root] < a[child])) return;                                              \
      NAME##_swap(a, root, child);                                                    \
      root = child;                                                                   \
    }                                                                                 \
  }                                                                                   \
  static void NAME##_heapsort(T *a, size_t n) {                                       \
    for (size_t r = n / 2; r-- > 0;) NAME##_sift(a, r, n);                            \
    for (size_t end = n; end-- > 1;) {                                                \
      NAME##_swap(a, 0, end);                                                         \
      NAME##_sift(a, 0, end);                                                         \
    }                                                                                 \
  }                                                                                   \
  static void NAME##_insertion(T *a, size_t n) {                                      \
    for (size_t x = 1; x < n; x++) {                                                  \
      T v = a[x];                                                                     \
      size_t y = x;                                                                   \
      while (y > 0 && v < a[y - 1]) {                                                 \
        a[y] = a[y - 1];                                                              \
        y--;                                                                          \
      }                                                                               \
      a[y] = v;                                                                       \
    }                                                                                 \
  }                                                                                   \
  static T NAME##_median3(T x, T y, T z) {                                            \
    if (x < y) return y < z ? y : (x < z ? z : x);                                    \
    return x < z ? x : (y < z ? z : y);                                               \
  }                                                                                   \
  static void NAME(T *a, size_t n, size_t k) {                                        \
    size_t l = 0, r = n;                                                              \
    int budget = 0;                                                                   \
    for (size_t m = n; m > 1; m >>= 1) budget += 2;                                   \
    while (r - l > SELECT_SMALL) {                                                    \
      if (budget-- == 0) {                                                            \
        NAME##_heapsort(a + l, r - l);                                                \
        return;                                                                       \
      }                                                                               \
      T p = NAME##_median3(a[l], a[l + (r - l) / 2], a[r - 1]);                       \
      size_t lt = l, x = l, gt = r;                                                   \
      while (x < gt) {                                                                \
        if (a[x] < p)                                                                 \
          NAME##_swap(a, lt++, x++);                                                  \
        else if (p < a[x])                                                            \
          NAME##_swap(a, x, --gt);                                                    \
        else                                                                          \
          x++;                                                                        \
      }                                                                               \
      /* [l,lt) < p, [lt,gt) == p, [gt,r) > p */                                      \
      if (k < lt)                                                                     \
        r = lt;                                                                       \
      else if (k >= gt)                                                               \
        l = gt;                                                                       \
      else                                                                            \
        return;                                                                       \
    }                                                                                 \
    NAME##_insertion(a + l, r - l);                                                   \
  }                                                                                   \
  /* The (k+1)-th smallest once a[k] is the k-th: the minimum of what lies above. */  \
  static T NAME##_next(const T *a, size_t n, size_t k) {                              \
    if (k + 1 >= n) return a[k];                                                      \
    T m = a[k + 1];                                                                   \
    for (size_t x = k + 2; x < n; x++)                                                \
      if (a[x] < m) m = a[x];                                                         \
    return m;                                                                         \
  }

FMR__DEFINE_SELECT(select_f32, float)
FMR__DEFINE_SELECT(select_i16, int16_t)

double fmr_percentile_f32(float *scratch, size_t n, double q) {
  size_t i;
  double t;
  if (!scratch || n == 0 || virtual_index(n, q, &i, &t)) return NAN;
  /* Selection orders nothing sensibly around NaN; numpy answers NaN for any NaN. */
  for (size_t x = 0; x < n; x++)
    if (isnan(scratch[x])) return NAN;
  select_f32(scratch, n, i);
  float lo = scratch[i];
  float hi = select_f32_next(scratch, n, i);
  float d = hi - lo; /* float32 subtraction, as numpy does it on float32 data */
  return lerp((double)lo, (double)hi, (double)d, t);
}

/* Floats as unsigned keys in the same order (the usual IEEE trick: flip every bit of a negative,
 * the sign bit of a positive). Only -0 < +0 differs from float order, and the two are equal values,
 * so the order statistics' values are the same. NaN gets a key too; callers select nothing then. */
static uint32_t order_key(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

#define BUCKET_BITS 16
#define NBUCKETS ((size_t)1 << BUCKET_BITS)

/* The bucket (top BUCKET_BITS of the key) holding the k-th smallest, and how many lie below it. */
static size_t bucket_of_rank(const size_t *hist, size_t k, size_t *below) {
  size_t acc = 0;
  for (size_t b = 0; b < NBUCKETS; b++) {
    if (acc + hist[b] > k) {
      *below = acc;
      return b;
    }
    acc += hist[b];
  }
  *below = acc;
  return NBUCKETS - 1; /* unreachable for k < n */
}

/* The k-th and (k+1)-th smallest of v without reordering it: one counting pass over the keys' top
 * 16 bits, then selection among the few values of one bucket. The volume's P(99.9) is the scaling
 * step's only order statistic; a full introselect over a copy of the stack cost ~8x this. The
 * counting pass also finds NaN (*nan set, nothing selected): no separate pass over the stack. */
static int kth_pair_f32(const float *v, size_t n, size_t k, float *lo, float *hi, int *nan) {
  size_t *hist = calloc(NBUCKETS, sizeof *hist);
  if (!hist) return FMR_ENOMEM;
  int any_nan = 0;
  for (size_t x = 0; x < n; x++) {
    any_nan |= isnan(v[x]) != 0;
    hist[order_key(v[x]) >> (32 - BUCKET_BITS)]++;
  }
  *nan = any_nan;
  if (any_nan) {
    free(hist);
    return 0;
  }
  size_t below = 0, below_next = 0;
  size_t b = bucket_of_rank(hist, k, &below);
  size_t b_next = k + 1 < n ? bucket_of_rank(hist, k + 1, &below_next) : b;
  size_t m = hist[b];
  free(hist);
  float *in = malloc((m ? m : 1) * sizeof *in);
  if (!in) return FMR_ENOMEM;
  size_t j = 0;
  float next_min = 0.0f;
  int have_next = 0;
  for (size_t x = 0; x < n; x++) {
    size_t kb = order_key(v[x]) >> (32 - BUCKET_BITS);
    if (kb == b) {
      in[j++] = v[x];
    } else if (kb == b_next && (!have_next || v[x] < next_min)) {
      next_min = v[x];
      have_next = 1;
    }
  }
  select_f32(in, m, k - below);
  *lo = in[k - below];
  /* The (k+1)-th is in the same bucket, or it is the smallest of the next non-empty one. */
  *hi = b_next == b ? select_f32_next(in, m, k - below) : next_min;
  free(in);
  return 0;
}

int fmr_percentile_f32_of(const float *v, size_t n, double q, double *p) {
  size_t i;
  double t;
  *p = NAN;
  if (!v || n == 0 || virtual_index(n, q, &i, &t)) return 0;
  float lo, hi;
  int nan = 0;
  if (kth_pair_f32(v, n, i, &lo, &hi, &nan)) return FMR_ENOMEM;
  if (nan) return 0;
  float d = hi - lo; /* float32 subtraction, as numpy does it on float32 data */
  *p = lerp((double)lo, (double)hi, (double)d, t);
  return 0;
}

/* numpy subtracts int16 arrays in int16: the difference wraps. Done by hand because converting an
 * out-of-range int to int16_t is implementation-defined. Pixels never come close (0..1024). */
static int16_t sub_i16_wrapping(int16_t hi, int16_t lo) {
  int d = (int)hi - (int)lo;
  if (d > INT16_MAX) d -= 65536;
  if (d < INT16_MIN) d += 65536;
  return (int16_t)d;
}

double fmr_percentile_i16(int16_t *scratch, size_t n, double q) {
  size_t i;
  double t;
  if (!scratch || n == 0 || virtual_index(n, q, &i, &t)) return NAN;
  select_i16(scratch, n, i);
  int16_t lo = scratch[i];
  int16_t hi = select_i16_next(scratch, n, i);
  return lerp((double)lo, (double)hi, (double)sub_i16_wrapping(hi, lo), t);
}

/* The k-th smallest pixel from a histogram of the values 0..PIXEL_MAX. */
static int16_t hist_kth(const size_t *hist, size_t k) {
  size_t below = 0;
  for (int v = 0; v <= PIXEL_MAX; v++) {
    below += hist[v];
    if (below > k) return (int16_t)v;
  }
  return PIXEL_MAX; /* unreachable when the counts sum to more than k */
}

/* fmr_percentile_i16 for pixels known to lie in 0..PIXEL_MAX: a counting pass instead of a
 * selection, same order statistics, same arithmetic (the unit test cross-checks the two). */
static double hist_percentile(const size_t *hist, size_t n, double q) {
  size_t i;
  double t;
  if (n == 0 || virtual_index(n, q, &i, &t)) return NAN;
  int16_t lo = hist_kth(hist, i);
  int16_t hi = i + 1 < n ? hist_kth(hist, i + 1) : lo;
  return lerp((double)lo, (double)hi, (double)sub_i16_wrapping(hi, lo), t);
}

int fmr_scale_volume(const float *img, size_t n, int16_t *pixels, fmr_scaling *out,
                     const char *what, fmr_err *err) {
  int rc = 0;
  size_t *hist = NULL;
  if (!what) what = "(volume)";
  if (!img || !pixels || !out || n == 0) {
    rc = fmr_err_set(err, FMR_EINVAL, "%s: empty image stack", what);
    goto done;
  }

  /* SPEC 2.1: NaN/Inf voxels mean a corrupt volume. NaN would also make P NaN; an Inf below the
   * 99.9th percentile would silently become 1024, so both fail here with the count. */
  size_t bad = 0, first_bad = 0;
  for (size_t x = 0; x < n; x++) {
    if (!isfinite(img[x])) {
      if (bad == 0) first_bad = x;
      bad++;
    }
  }
  if (bad) {
    rc = fmr_err_set(err, FMR_ENUMERIC,
                     "%s: %zu of %zu image voxels are NaN or infinite (first at voxel %zu); "
                     "refusing to scale",
                     what, bad, n, first_bad);
    goto done;
  }

  double p = NAN;
  if (fmr_percentile_f32_of(img, n, 99.9, &p)) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for a %zu-voxel percentile", what, n);
    goto done;
  }

  double scale = 1024.0 / p;
  float s = (float)scale; /* rounded to float32 before the multiply, as numpy does */
  if (!(p > 0.0) || !isfinite(p) || !isfinite(scale) || !isfinite(s)) {
    rc = fmr_err_set(err, FMR_ENUMERIC,
                     "%s: the 99.9th percentile of the image is %g, so the volume cannot be "
                     "scaled to 0..1024 (all-zero or degenerate image)",
                     what, p);
    goto done;
  }

  hist = calloc(PIXEL_MAX + 1, sizeof *hist);
  if (!hist) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", what);
    goto done;
  }
  for (size_t x = 0; x < n; x++) {
    float y = s * img[x];
    if (y < 0.0f) y = 0.0f;
    if (y > (float)PIXEL_MAX) y = (float)PIXEL_MAX;
    int16_t v = (int16_t)truncf(y);
    pixels[x] = v;
    hist[v]++;
  }

  double width = 2.0 * (hist_percentile(hist, n, 99.9) - hist_percentile(hist, n, 0.1));
  out->p999 = p;
  out->s = s;
  out->window_width = width;
  out->window_center = width / 2.0;

done:
  free(hist);
  return rc;
}
