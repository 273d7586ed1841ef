/* The transform floors of one volume, timed in turn in one process (bench/run.sh builds and runs
 * this; it links FFTW only, not fastmri-regen):
 *   naive: one in-place 2-D plan over the coils per slice (fftwf_plan_many_dft), as before issue 12;
 *   crop:  along H for every column, then along W only for the h rows the crop keeps (guru plans,
 *          the same split src/recon/recon.c uses).
 * Usage: fftfloor COILS H W h SLICES REPS estimate|measure|patient
 * Prints one JSON object: seconds per volume (median over REPS volumes of SLICES slices each). */
#define _POSIX_C_SOURCE 200809L
#include <complex.h>

#include <fftw3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void fill(float complex *buf, size_t n) {
  unsigned long s = 12345;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ul + 1442695040888963407ul;
    buf[i] = (float)(s >> 40) * 1e-7f + I * (float)((s >> 20) & 0xfffff) * 1e-7f;
  }
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: fftfloor COILS H W h SLICES REPS estimate|measure|patient\n");
    return 2;
  }
  int C = atoi(argv[1]), H = atoi(argv[2]), W = atoi(argv[3]), h = atoi(argv[4]);
  int S = atoi(argv[5]), reps = atoi(argv[6]);
  unsigned flags = strcmp(argv[7], "patient") == 0   ? FFTW_PATIENT
                   : strcmp(argv[7], "measure") == 0 ? FFTW_MEASURE
                                                     : FFTW_ESTIMATE;
  if (C <= 0 || H <= 0 || W <= 0 || h <= 0 || h > H || S <= 0 || reps <= 0 || reps > 64) {
    fprintf(stderr, "fftfloor: bad sizes\n");
    return 2;
  }
  size_t n = (size_t)C * H * W;
  float complex *buf = fftwf_alloc_complex(n);
  if (!buf) return 1;
  int dims[2] = {H, W}, HW = H * W;
  fftwf_plan p2 = fftwf_plan_many_dft(2, dims, C, buf, NULL, 1, HW, buf, NULL, 1, HW, FFTW_BACKWARD,
                                      flags);
  fftwf_iodim cd = {H, W, W}, cl[2] = {{C, HW, HW}, {W, 1, 1}};
  fftwf_plan pc = fftwf_plan_guru_dft(1, &cd, 2, cl, buf, buf, FFTW_BACKWARD, flags);
  fftwf_iodim rd = {W, 1, 1}, rl = {C, HW, HW};
  fftwf_plan pr[8] = {0};
  for (int k = 0; k < 8 && k < H; k++)
    pr[k] = fftwf_plan_guru_dft(1, &rd, 1, &rl, buf + (size_t)k * W, buf + (size_t)k * W,
                                FFTW_BACKWARD, flags);
  if (!p2 || !pc || !pr[0]) return 1;
  double naive[64], crop[64];
  int oh = (H - h) / 2;
  /* In turn, volume by volume, so a change in the machine's load hits both alike. */
  for (int r = 0; r < reps; r++) {
    double tn = 0, tc = 0;
    for (int s = 0; s < S; s++) {
      fill(buf, n);
      double t0 = now();
      fftwf_execute(p2);
      tn += now() - t0;
      fill(buf, n);
      t0 = now();
      fftwf_execute(pc);
      for (int o = 0; o < h; o++) {
        int i = (o + oh + H - H / 2) % H;
        fftwf_execute_dft(pr[i % 8], buf + (size_t)i * W, buf + (size_t)i * W);
      }
      tc += now() - t0;
    }
    naive[r] = tn;
    crop[r] = tc;
  }
  qsort(naive, (size_t)reps, sizeof *naive, cmp);
  qsort(crop, (size_t)reps, sizeof *crop, cmp);
  printf("{\"coils\": %d, \"H\": %d, \"W\": %d, \"h\": %d, \"slices\": %d, \"reps\": %d, "
         "\"effort\": \"%s\", \"naive_s\": %.4f, \"crop_s\": %.4f}\n",
         C, H, W, h, S, reps, argv[7], naive[reps / 2], crop[reps / 2]);
  fftwf_destroy_plan(p2);
  fftwf_destroy_plan(pc);
  for (int k = 0; k < 8; k++)
    if (pr[k]) fftwf_destroy_plan(pr[k]);
  fftwf_free(buf);
  return 0;
}
