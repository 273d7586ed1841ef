/* Mask files (SPEC 6): written by fmr_masks_write, read back with the plain HDF5 C API. */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fmr/util/fsutil.h"
#include "fmr/labels/masks.h"
#include "fmr_test.h"

enum { S = 3, H = 4, W = 5 };

static char dir[4096];

static void path_in_dir(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", dir, name);
}

static void fill(void *mask, size_t pb) {
  for (size_t i = 0; i < S * H * W; i++) {
    uint64_t v = (i * 2654435761u) % 7 == 0 ? ((uint64_t)1 << (i % (pb * 8))) | 1 : 0;
    memcpy((unsigned char *)mask + i * pb, &v, pb); /* little-endian host */
  }
}

static char *read_string_attr(hid_t obj, const char *name) {
  char *out = NULL;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return NULL;
  hid_t t = H5Aget_type(a);
  if (t >= 0 && H5Tis_variable_str(t) > 0 && H5Tget_cset(t) == H5T_CSET_UTF8) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    char *s = NULL;
    if (H5Aread(a, mt, &s) >= 0 && s) {
      out = strdup(s);
      H5free_memory(s);
    }
    H5Tclose(mt);
  }
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  return out;
}

static int read_u8_attr(hid_t obj, const char *name) {
  uint8_t v = 255;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  int ok = t >= 0 && H5Tequal(t, H5T_STD_U8LE) > 0 && H5Aread(a, H5T_NATIVE_UINT8, &v) >= 0;
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  return ok ? v : -1;
}

static void check_file(const char *path, const fmr_mask_file *m, hid_t want_type) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK(f >= 0);
  if (f < 0) return;
  hid_t d = H5Dopen2(f, "mask", H5P_DEFAULT);
  CHECK(d >= 0);
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
  CHECK(H5Tequal(t, want_type) > 0);
  hsize_t dims[3] = {0, 0, 0};
  CHECK_INT_EQ(H5Sget_simple_extent_ndims(sp), 3);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  CHECK_UINT_EQ(dims[0], m->slices);
  CHECK_UINT_EQ(dims[1], m->h);
  CHECK_UINT_EQ(dims[2], m->w);
  hsize_t chunk[3] = {0, 0, 0};
  CHECK_INT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
  CHECK_INT_EQ(H5Pget_chunk(dcpl, 3, chunk), 3);
  CHECK_UINT_EQ(chunk[0], 1);
  CHECK_UINT_EQ(chunk[1], m->h);
  CHECK_UINT_EQ(chunk[2], m->w);
  int nf = H5Pget_nfilters(dcpl), shuffle = 0, deflate = 0;
  for (int i = 0; i < nf; i++) {
    unsigned flags, cd[4];
    size_t ncd = 4;
    char nm[64];
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof nm, nm, NULL);
    if (id == H5Z_FILTER_SHUFFLE) shuffle = i + 1;
    if (id == H5Z_FILTER_DEFLATE) deflate = i + 1;
  }
  CHECK(shuffle && deflate && shuffle < deflate);

  size_t n = m->slices * m->h * m->w;
  void *back = calloc(n, m->pixel_bytes);
  hid_t mem = m->pixel_bytes == 1   ? H5T_NATIVE_UINT8
              : m->pixel_bytes == 2 ? H5T_NATIVE_UINT16
              : m->pixel_bytes == 4 ? H5T_NATIVE_UINT32
                                    : H5T_NATIVE_UINT64;
  CHECK(back && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
  CHECK(back && memcmp(back, m->mask, n * m->pixel_bytes) == 0);
  free(back);

  /* labels: vlen UTF-8 string array, vocabulary in order. */
  hid_t la = H5Aopen(d, "labels", H5P_DEFAULT);
  CHECK(la >= 0);
  if (la >= 0) {
    hid_t lt = H5Aget_type(la), ls = H5Aget_space(la);
    CHECK(H5Tis_variable_str(lt) > 0);
    CHECK_INT_EQ(H5Tget_cset(lt), H5T_CSET_UTF8);
    hssize_t nl = H5Sget_simple_extent_npoints(ls);
    CHECK_INT_EQ(nl, (long long)m->nvocab);
    if (nl > 0 && (size_t)nl == m->nvocab) {
      char **labels = calloc((size_t)nl, sizeof *labels);
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, H5T_VARIABLE);
      H5Tset_cset(mt, H5T_CSET_UTF8);
      CHECK(H5Aread(la, mt, labels) >= 0);
      for (size_t k = 0; k < m->nvocab; k++) CHECK_STR_EQ(labels[k], m->vocab[k]);
      H5Dvlen_reclaim(mt, ls, H5P_DEFAULT, labels);
      H5Tclose(mt);
      free(labels);
    }
    H5Sclose(ls);
    H5Tclose(lt);
    H5Aclose(la);
  }
  char *s = read_string_attr(d, "frame");
  CHECK_STR_EQ(s, m->frame);
  free(s);
  s = read_string_attr(d, "volume");
  CHECK_STR_EQ(s, m->volume);
  free(s);
  s = read_string_attr(d, "anatomy");
  CHECK_STR_EQ(s, m->anatomy);
  free(s);
  s = read_string_attr(d, "bit_order");
  CHECK(s && strstr(s, "labels[k]"));
  free(s);
  CHECK_INT_EQ(read_u8_attr(d, "flip_up_down"), m->flip_ud ? 1 : 0);
  CHECK_INT_EQ(read_u8_attr(d, "flip_left_right"), m->flip_lr ? 1 : 0);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Tclose(t);
  H5Dclose(d);
  H5Fclose(f);
}

static int same_bytes(const char *a, const char *b) {
  char *da = NULL, *db = NULL;
  size_t la = 0, lb = 0;
  fmr_err err;
  int same = fmr_read_file(a, (size_t)1 << 26, &da, &la, &err) == 0 &&
             fmr_read_file(b, (size_t)1 << 26, &db, &lb, &err) == 0 && la == lb &&
             memcmp(da, db, la) == 0;
  free(da);
  free(db);
  return same;
}

static const char *const vocab10[10] = {"Alpha", "Beta", "Gamma", "Delta", "Epsilon",
                                        "Zeta",  "Eta",  "Theta", "Iota",  "Kappa \xce\xba"};

static void test_widths(void) {
  static const size_t widths[4] = {1, 2, 4, 8};
  hid_t types[4] = {H5T_STD_U8LE, H5T_STD_U16LE, H5T_STD_U32LE, H5T_STD_U64LE};
  for (int i = 0; i < 4; i++) {
    uint64_t buf[S * H * W];
    fill(buf, widths[i]);
    fmr_mask_file m = {"file1000001", "knee", i % 2 ? "native" : "image", i % 2 ? 0 : 1, i == 2,
                       S, H, W, widths[i], buf, widths[i] == 1 ? 8 : 10, vocab10};
    char path[4200];
    char name[32];
    snprintf(name, sizeof name, "w%zu.h5", widths[i]);
    path_in_dir(path, sizeof path, name);
    fmr_err err;
    fmr_err_clear(&err);
    int rc = fmr_masks_write(path, &m, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc) {
      fprintf(stderr, "  %s\n", err.msg);
      continue;
    }
    check_file(path, &m, types[i]);
  }
}

static void test_deterministic(void) {
  uint16_t buf[S * H * W];
  fill(buf, 2);
  fmr_mask_file m = {"file_brain_AXFLAIR_200_6002425", "brain", "image", 1, 0, S, H, W, 2, buf,
                     10, vocab10};
  char a[4200], b[4200];
  path_in_dir(a, sizeof a, "det-a.h5");
  path_in_dir(b, sizeof b, "det-b.h5");
  fmr_err err;
  CHECK_INT_EQ(fmr_masks_write(a, &m, &err), 0);
  /* Across a second boundary, so a timestamp anywhere in the file would show. */
  struct timespec pause = {1, 100000000};
  nanosleep(&pause, NULL);
  CHECK_INT_EQ(fmr_masks_write(b, &m, &err), 0);
  CHECK(same_bytes(a, b));
  /* Overwriting an existing file gives the same bytes too. */
  CHECK_INT_EQ(fmr_masks_write(a, &m, &err), 0);
  CHECK(same_bytes(a, b));
}

static void test_edges(void) {
  uint8_t buf[S * H * W];
  memset(buf, 0, sizeof buf);
  char p[4200];
  fmr_err err;
  /* An empty vocabulary still has a (zero-length) labels attribute. */
  fmr_mask_file m = {"v", "knee", "image", 1, 0, S, H, W, 1, buf, 0, NULL};
  path_in_dir(p, sizeof p, "empty-vocab.h5");
  CHECK_INT_EQ(fmr_masks_write(p, &m, &err), 0);
  check_file(p, &m, H5T_STD_U8LE);

  fmr_mask_file bad = m;
  bad.pixel_bytes = 3;
  CHECK_INT_EQ(fmr_masks_write(p, &bad, &err), FMR_EINVAL);
  bad = m;
  bad.slices = 0;
  CHECK_INT_EQ(fmr_masks_write(p, &bad, &err), FMR_EINVAL);
  bad = m;
  bad.nvocab = 9;
  bad.vocab = vocab10;
  CHECK_INT_EQ(fmr_masks_write(p, &bad, &err), FMR_EINVAL); /* 9 labels in 8-bit pixels */
  /* An unwritable path is a plain I/O error naming the path and the cause, not a crash: the file
   * is built in memory and only the write meets the missing folder. */
  char nowhere[4300];
  snprintf(nowhere, sizeof nowhere, "%s/no/such/dir/m.h5", dir);
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_masks_write(nowhere, &m, &err), FMR_EIO);
  CHECK(strstr(err.msg, nowhere) != NULL);
  CHECK(strstr(err.msg, "No such file or directory") != NULL);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/fmr-test-masks-XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_widths();
  test_deterministic();
  test_edges();
  static const char *const files[] = {"w1.h5", "w2.h5", "w4.h5", "w8.h5", "det-a.h5",
                                      "det-b.h5", "empty-vocab.h5"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char p[4200];
    path_in_dir(p, sizeof p, files[i]);
    unlink(p);
  }
  if (rmdir(dir) != 0) FMR__FAIL("cannot remove %s", dir);
  return fmr_test_end();
}
