/* Minimal typed asserts for the C unit tests: each prints both values and the location, counts the
 * failure and carries on, so one run shows every broken expectation. main() returns fmr_test_end(). */
#ifndef FMR_TEST_H
#define FMR_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fmr_test_failures = 0;
static int fmr_test_checks = 0;

#define FMR__FAIL(...)                                            \
  do {                                                            \
    fmr_test_failures++;                                          \
    fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);         \
    fprintf(stderr, __VA_ARGS__);                                 \
    fputc('\n', stderr);                                          \
  } while (0)

#define CHECK(cond)                                       \
  do {                                                    \
    fmr_test_checks++;                                    \
    if (!(cond)) FMR__FAIL("%s", #cond);                  \
  } while (0)

#define CHECK_INT_EQ(a, b)                                                                     \
  do {                                                                                         \
    fmr_test_checks++;                                                                         \
    long long fmr__a = (long long)(a), fmr__b = (long long)(b);                                \
    if (fmr__a != fmr__b) FMR__FAIL("%s == %s: %lld != %lld", #a, #b, fmr__a, fmr__b);         \
  } while (0)

#define CHECK_UINT_EQ(a, b)                                                                    \
  do {                                                                                         \
    fmr_test_checks++;                                                                         \
    unsigned long long fmr__a = (unsigned long long)(a), fmr__b = (unsigned long long)(b);     \
    if (fmr__a != fmr__b) FMR__FAIL("%s == %s: %llu != %llu", #a, #b, fmr__a, fmr__b);         \
  } while (0)

#define CHECK_STR_EQ(a, b)                                                                     \
  do {                                                                                         \
    fmr_test_checks++;                                                                         \
    const char *fmr__a = (a), *fmr__b = (b);                                                   \
    if (!fmr__a || !fmr__b || strcmp(fmr__a, fmr__b) != 0)                                     \
      FMR__FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, fmr__a ? fmr__a : "(null)",              \
                fmr__b ? fmr__b : "(null)");                                                   \
  } while (0)

#define CHECK_DBL_NEAR(a, b, tol)                                                              \
  do {                                                                                         \
    fmr_test_checks++;                                                                         \
    double fmr__a = (double)(a), fmr__b = (double)(b);                                         \
    if (!(fabs(fmr__a - fmr__b) <= (tol)))                                                     \
      FMR__FAIL("%s ~= %s: %.17g vs %.17g (tol %g)", #a, #b, fmr__a, fmr__b, (double)(tol));   \
  } while (0)

/* Exact double equality, printing both with full precision (NaN == NaN here). */
#define CHECK_DBL_EQ(a, b)                                                                     \
  do {                                                                                         \
    fmr_test_checks++;                                                                         \
    double fmr__a = (double)(a), fmr__b = (double)(b);                                         \
    if (!(fmr__a == fmr__b || (isnan(fmr__a) && isnan(fmr__b))))                              \
      FMR__FAIL("%s == %s: %.17g != %.17g", #a, #b, fmr__a, fmr__b);                           \
  } while (0)

static inline int fmr_test_end(void) {
  fprintf(stderr, "%d checks, %d failed\n", fmr_test_checks, fmr_test_failures);
  return fmr_test_failures ? 1 : 0;
}

/* A whole file into memory (malloc'd; NULL, *len 0, when it cannot be read). */
static inline unsigned char *fmr_test_slurp(const char *path, size_t *len) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
  *len = b && n > 0 ? fread(b, 1, (size_t)n, f) : 0;
  fclose(f);
  return b;
}

#endif
