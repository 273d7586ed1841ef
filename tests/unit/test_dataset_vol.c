/* recon/<name>.h5 built in the caller's scratch memory (the pipeline's idle transform buffers)
 * is the same file, byte for byte, as one built in malloc'd memory: whatever the scratch held
 * before, and when the file outgrows a scratch too small for it. h5py/h5dump read these files in
 * the integration tests (it.ml_run, it.golden); here the question is only "the same bytes". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "fmr/export/dataset.h"
#include "fmr_test.h"
#include "util/h5util.h"

static char tmpdir[] = "/tmp/fmr-test-dsvol-XXXXXX";

enum { S = 3, H = 40, W = 24 };

static void write_one(const char *name, const float *recon, const uint8_t *mask,
                      const fmr_box_row *rows, size_t nrows, void *scratch, size_t bytes) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.h5", tmpdir, name);
  fmr_dataset_attrs a = {.name = "file1000001",
                         .input = "file1000001.h5",
                         .acquisition = "CORPD_FBK",
                         .anatomy = "knee",
                         .series_uid = "2.25.1234",
                         .recon_source = "kspace",
                         .slices = S,
                         .h = H,
                         .w = W,
                         .kspace_ndim = 4,
                         .kspace_shape = {S, 2, 2 * H, W},
                         .nmse = 1e-12,
                         .reviewed = 1,
                         .flip_ud = 1};
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_dataset_volume_write(path, &a, recon, mask, 1, rows, nrows, scratch, bytes,
                                        &err),
               0);
  if (err.msg[0]) fprintf(stderr, "%s\n", err.msg);
}

/* The driver's own path below the writers: an image that starts in the scratch and outgrows it
 * (4 KiB steps, 8 KiB of scratch, a 40 KiB dataset) moves to the heap with what it held. */
static void build_small_steps(const char *name, void *scratch, size_t bytes) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.h5", tmpdir, name);
  fmr__h5_image img = {.scratch = scratch, .scratch_bytes = bytes};
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  CHECK_INT_EQ(fmr__h5_memory_fapl(fapl, 4096, &img), 0);
  CHECK_INT_EQ(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18), 0);
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  CHECK_INT_EQ(H5Pset_obj_track_times(fcpl, 0), 0);
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  CHECK(file >= 0);
  static float v[10240];
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) v[i] = (float)i;
  hsize_t dims[1] = {sizeof v / sizeof v[0]};
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  CHECK_INT_EQ(H5Pset_obj_track_times(dcpl, 0), 0);
  CHECK_INT_EQ(fmr__h5_dataset_write(file, "v", H5T_NATIVE_FLOAT, 1, dims, dcpl, v), 0);
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr__h5_memory_save(&file, &img, path, &err), 0);
  fmr__h5_image_release(&img);
  H5Pclose(dcpl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
}

static void test_outgrown(void) {
  unsigned char *sc = malloc(8192);
  memset(sc, 0xC3, 8192);
  build_small_steps("steps-heap", NULL, 0);
  build_small_steps("steps-scratch", sc, 8192);
  CHECK(memcmp(sc, "\x89HDF\r\n\x1a\n", 8) == 0); /* it started there */
  char path[512];
  size_t n0 = 0, n1 = 0;
  snprintf(path, sizeof path, "%s/steps-heap.h5", tmpdir);
  unsigned char *f0 = fmr_test_slurp(path, &n0);
  snprintf(path, sizeof path, "%s/steps-scratch.h5", tmpdir);
  unsigned char *f1 = fmr_test_slurp(path, &n1);
  CHECK(n0 > 40000);
  CHECK_UINT_EQ(n1, n0);
  CHECK(f0 && f1 && n0 == n1 && memcmp(f0, f1, n0) == 0);
  free(f0);
  free(f1);
  free(sc);
}

int main(void) {
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  float *recon = malloc(S * H * W * sizeof *recon);
  uint8_t *mask = calloc(S * H * W, 1);
  for (size_t i = 0; i < (size_t)S * H * W; i++) recon[i] = (float)(i % 97) * 0.25f;
  for (size_t y = 5; y < 15; y++)
    for (size_t x = 3; x < 9; x++) mask[1 * H * W + y * W + x] = 1;
  fmr_box_row rows[1];
  memset(rows, 0, sizeof rows);
  rows[0].slice = 1;
  rows[0].has_box = 1;

  /* scratch filled with a pattern first: none of it may reach the file. The writer's first
   * allocation is 1 MB (its increment); a scratch smaller than that is not used. */
  size_t big = (size_t)1 << 20, small = 4096;
  unsigned char *sb = malloc(big), *ss = malloc(small);
  memset(sb, 0xA5, big);
  memset(ss, 0x5A, small);
  write_one("heap", recon, mask, rows, 1, NULL, 0);
  write_one("scratch", recon, mask, rows, 1, sb, big);
  write_one("small", recon, mask, rows, 1, ss, small);
  /* the scratch was used: it starts with the file's own first bytes (the HDF5 signature) */
  CHECK(memcmp(sb, "\x89HDF\r\n\x1a\n", 8) == 0);

  size_t n0 = 0, n1 = 0, n2 = 0;
  char path[512];
  snprintf(path, sizeof path, "%s/heap.h5", tmpdir);
  unsigned char *f0 = fmr_test_slurp(path, &n0);
  snprintf(path, sizeof path, "%s/scratch.h5", tmpdir);
  unsigned char *f1 = fmr_test_slurp(path, &n1);
  snprintf(path, sizeof path, "%s/small.h5", tmpdir);
  unsigned char *f2 = fmr_test_slurp(path, &n2);
  CHECK(n0 > (size_t)S * H * W * sizeof(float)); /* the float image is in it */
  CHECK_UINT_EQ(n1, n0);
  CHECK_UINT_EQ(n2, n0);
  CHECK(f0 && f1 && n1 == n0 && memcmp(f0, f1, n0) == 0);
  CHECK(f0 && f2 && n2 == n0 && memcmp(f0, f2, n0) == 0);

  free(f0);
  free(f1);
  free(f2);
  test_outgrown();
  free(sb);
  free(ss);
  free(mask);
  free(recon);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return fmr_test_end();
}
