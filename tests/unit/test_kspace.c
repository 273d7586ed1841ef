/* The fastMRI HDF5 reader against small files written here with the HDF5 C API: good multi- and
 * single-coil layouts, chunked + gzip + shuffle, and every way a file can be wrong (missing datasets,
 * wrong rank/type/size, NaN, truncation, not HDF5 at all). Failures must be clean messages naming
 * the file, never crashes, and HDF5 must not print its error stack. */
#include <complex.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmr/util/error.h"
#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/recon/reconstruct.h"
#include "fmr_test.h"

static char tmpdir[] = "/tmp/fmr_test_kspace_XXXXXX";

static void path_of(const char *name, char *out, size_t size) {
  snprintf(out, size, "%s/%s", tmpdir, name);
}

/* The value every test file stores at (slice, coil, row, col), so reads can be checked exactly. */
static float complex kval(size_t s, size_t c, size_t i, size_t j) {
  return (float)(s * 1000 + c * 100 + i * 10 + j) + I * (float)(-(double)((s + 1) * (j + 1)));
}

static float rval(size_t s, size_t i, size_t j) { return (float)(s * 100 + i * 10 + j) * 0.5f; }

/* ---- writing test files ------------------------------------------------------------------------- */

static hid_t complex_file_type(hid_t member) {
  hid_t t = H5Tcreate(H5T_COMPOUND, 2 * H5Tget_size(member));
  H5Tinsert(t, "r", 0, member);
  H5Tinsert(t, "i", H5Tget_size(member), member);
  return t;
}

static hid_t complex_mem_type(void) {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(float complex));
  H5Tinsert(t, "r", 0, H5T_NATIVE_FLOAT);
  H5Tinsert(t, "i", sizeof(float), H5T_NATIVE_FLOAT);
  return t;
}

typedef struct vol_spec {
  int rank;            /* 3 or 4 */
  hsize_t dims[4];
  const hsize_t *chunk; /* NULL: contiguous */
  long nan_slice;      /* -1: none */
  hsize_t rh, rw;      /* stored reconstruction shape, 0: none */
  int esc;             /* also write reconstruction_esc */
  const char *header;  /* ismrmrd_header or NULL */
  int header_fixed;    /* fixed-length instead of variable-length string */
  int attrs;           /* root attributes acquisition, patient_id, max, norm */
  int swapped;         /* the file's compound stores i before r (HDF5 reorders on reading) */
} vol_spec;

static void write_string_dataset(hid_t loc, const char *name, const char *s, int fixed) {
  hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR);
  if (fixed) {
    H5Tset_size(type, strlen(s));
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hid_t d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
    H5Dclose(d);
  } else {
    H5Tset_size(type, H5T_VARIABLE);
    hid_t d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s);
    H5Dclose(d);
  }
  H5Sclose(space);
  H5Tclose(type);
}

static void write_string_attr(hid_t loc, const char *name, const char *s, int fixed) {
  hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR);
  H5Tset_size(type, fixed ? strlen(s) : H5T_VARIABLE);
  hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, type, fixed ? (const void *)s : (const void *)&s);
  H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
}

static void write_double_attr(hid_t loc, const char *name, hid_t ftype, double v) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
  H5Aclose(a);
  H5Sclose(space);
}

static void write_recon(hid_t f, const char *name, hsize_t slices, hsize_t rh, hsize_t rw) {
  hsize_t d[3] = {slices, rh, rw};
  float *buf = malloc(slices * rh * rw * sizeof *buf);
  for (size_t s = 0; s < slices; s++)
    for (size_t i = 0; i < rh; i++)
      for (size_t j = 0; j < rw; j++) buf[(s * rh + i) * rw + j] = rval(s, i, j);
  hid_t space = H5Screate_simple(3, d, NULL);
  hid_t ds = H5Dcreate2(f, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(ds);
  H5Sclose(space);
  free(buf);
}

/* Write a fastMRI-layout volume; returns the file handle still open so a test can add more. */
static hid_t write_volume_open(const char *path, const vol_spec *v) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  size_t slices = v->dims[0], coils = v->rank == 4 ? v->dims[1] : 1;
  size_t H = v->dims[v->rank - 2], W = v->dims[v->rank - 1];
  float complex *buf = malloc(slices * coils * H * W * sizeof *buf);
  for (size_t s = 0; s < slices; s++)
    for (size_t c = 0; c < coils; c++)
      for (size_t i = 0; i < H; i++)
        for (size_t j = 0; j < W; j++) {
          float complex x = kval(s, c, i, j);
          if ((long)s == v->nan_slice && c == coils - 1 && i == H / 2 && j == 1) x = NAN;
          buf[((s * coils + c) * H + i) * W + j] = x;
        }
  hid_t ftype = complex_file_type(H5T_IEEE_F32LE), mtype = complex_mem_type();
  if (v->swapped) {
    H5Tclose(ftype);
    ftype = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(ftype, "i", 0, H5T_IEEE_F32LE);
    H5Tinsert(ftype, "r", 4, H5T_IEEE_F32LE);
  }
  hid_t space = H5Screate_simple(v->rank, v->dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (v->chunk) {
    H5Pset_chunk(dcpl, v->rank, v->chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
  }
  hid_t ds = H5Dcreate2(f, "kspace", ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Tclose(mtype);
  H5Tclose(ftype);
  free(buf);
  if (v->rh) {
    write_recon(f, "reconstruction_rss", slices, v->rh, v->rw);
    if (v->esc) write_recon(f, "reconstruction_esc", slices, v->rh, v->rw);
  }
  if (v->header) write_string_dataset(f, "ismrmrd_header", v->header, v->header_fixed);
  if (v->attrs) {
    write_string_attr(f, "acquisition", "CORPD_FBK", 1);
    write_string_attr(f, "patient_id", "a1b2c3d4e5f60718293a4b5c6d7e8f90", 0);
    write_double_attr(f, "max", H5T_IEEE_F64LE, 0.000524);
    write_double_attr(f, "norm", H5T_IEEE_F32LE, 0.125);
  }
  return f;
}

static void write_volume(const char *path, const vol_spec *v) { H5Fclose(write_volume_open(path, v)); }

static const vol_spec multicoil = {4, {3, 2, 6, 5}, NULL, -1, 4, 4, 0, "<ismrmrdHeader/>", 0, 1, 0};

/* A file holding a multi-coil kspace plus one extra dataset `name` of type/dims given. */
static void write_with_extra(const char *path, const char *name, hid_t type, int rank,
                             const hsize_t *dims) {
  vol_spec v = multicoil;
  v.rh = 0;
  v.header = NULL;
  hid_t f = write_volume_open(path, &v);
  hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t ds = H5Dcreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
}

/* ---- helpers for checks ------------------------------------------------------------------------- */

static int open_quietly(const char *path, fmr_kspace **ks, fmr_err *err, long *printed) {
  char cap[256];
  path_of("stderr.txt", cap, sizeof cap);
  int fd = open(cap, O_CREAT | O_TRUNC | O_RDWR, 0600);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  fmr_err_clear(err);
  int rc = fmr_kspace_open(path, ks, err);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  struct stat st;
  fstat(fd, &st);
  *printed = (long)st.st_size;
  close(fd);
  return rc;
}

/* Open must fail with `code` and a message starting with the path and containing `needle`. */
#define EXPECT_OPEN_FAILS(path, code, needle)                                                   \
  do {                                                                                          \
    fmr_kspace *ks__ = (fmr_kspace *)1;                                                         \
    fmr_err err__;                                                                              \
    long printed__ = -1;                                                                        \
    int rc__ = open_quietly((path), &ks__, &err__, &printed__);                                \
    CHECK_INT_EQ(rc__, (code));                                                                 \
    CHECK(ks__ == NULL);                                                                        \
    CHECK_INT_EQ(printed__, 0);                                                                 \
    if (strncmp(err__.msg, (path), strlen(path)) != 0 || !strstr(err__.msg, (needle)))         \
      FMR__FAIL("message \"%s\" should start with the path and mention \"%s\"", err__.msg,       \
                (needle));                                                                      \
  } while (0)

/* ---- tests -------------------------------------------------------------------------------------- */

static void test_multicoil(void) {
  char path[256];
  path_of("multicoil.h5", path, sizeof path);
  write_volume(path, &multicoil);
  fmr_kspace *ks = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (!ks) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  const fmr_kspace_info *in = fmr_kspace_info_of(ks);
  CHECK_INT_EQ(in->multicoil, 1);
  CHECK_UINT_EQ(in->slices, 3);
  CHECK_UINT_EQ(in->coils, 2);
  CHECK_UINT_EQ(in->H, 6);
  CHECK_UINT_EQ(in->W, 5);
  CHECK_INT_EQ(in->has_rss, 1);
  CHECK_INT_EQ(in->has_esc, 0);
  CHECK_UINT_EQ(in->rec_h, 4);
  CHECK_UINT_EQ(in->rec_w, 4);
  CHECK_INT_EQ(in->has_mask, 0);
  CHECK_INT_EQ(in->undersampled, 0);
  CHECK_UINT_EQ(in->sampled_lines, 5);
  CHECK_STR_EQ(in->acquisition, "CORPD_FBK");
  CHECK_STR_EQ(in->patient_id, "a1b2c3d4e5f60718293a4b5c6d7e8f90");
  CHECK_DBL_EQ(in->max, 0.000524);
  CHECK_DBL_EQ(in->norm, 0.125);
  CHECK_STR_EQ(in->header_xml, "<ismrmrdHeader/>");
  CHECK_UINT_EQ(in->header_len, strlen("<ismrmrdHeader/>"));

  float complex buf[2 * 6 * 5];
  for (size_t s = 0; s < 3; s++) {
    CHECK_INT_EQ(fmr_kspace_read_slice(ks, s, buf, &err), 0);
    int bad = 0;
    for (size_t c = 0; c < 2; c++)
      for (size_t i = 0; i < 6; i++)
        for (size_t j = 0; j < 5; j++) bad += buf[(c * 6 + i) * 5 + j] != kval(s, c, i, j);
    CHECK_INT_EQ(bad, 0);
  }
  float rec[16];
  CHECK_INT_EQ(fmr_kspace_read_recon(ks, "reconstruction_rss", 2, rec, &err), 0);
  CHECK_DBL_EQ(rec[0], rval(2, 0, 0));
  CHECK_DBL_EQ(rec[15], rval(2, 3, 3));
  CHECK_INT_EQ(fmr_kspace_read_recon(ks, "reconstruction_esc", 0, rec, &err), FMR_EFORMAT);
  CHECK_INT_EQ(fmr_kspace_read_recon(ks, "kspace", 0, rec, &err), FMR_EINVAL);
  CHECK_INT_EQ(fmr_kspace_read_recon(ks, "reconstruction_rss", 3, rec, &err), FMR_EINVAL);
  CHECK_INT_EQ(fmr_kspace_read_slice(ks, 3, buf, &err), FMR_EINVAL);
  CHECK(strstr(err.msg, "slice 3") != NULL);
  fmr_kspace_close(&ks);
  CHECK(ks == NULL);
  fmr_kspace_close(&ks);
  fmr_kspace_close(NULL);
}

static void test_singlecoil_fixed_header(void) {
  char path[256];
  path_of("singlecoil.h5", path, sizeof path);
  const char *xml = "<?xml version=\"1.0\"?><ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\"/>";
  vol_spec v = {3, {2, 8, 6}, NULL, -1, 4, 4, 1, xml, 1, 0, 0};
  write_volume(path, &v);
  fmr_kspace *ks = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (!ks) return;
  const fmr_kspace_info *in = fmr_kspace_info_of(ks);
  CHECK_INT_EQ(in->multicoil, 0);
  CHECK_UINT_EQ(in->coils, 1);
  CHECK_UINT_EQ(in->H, 8);
  CHECK_UINT_EQ(in->W, 6);
  CHECK_INT_EQ(in->has_rss, 1);
  CHECK_INT_EQ(in->has_esc, 1);
  CHECK_STR_EQ(in->header_xml, xml); /* the fixed-length field's last character is kept */
  CHECK_STR_EQ(in->acquisition, "");
  CHECK_STR_EQ(in->patient_id, "");
  CHECK(isnan(in->max) && isnan(in->norm));
  float complex buf[8 * 6];
  CHECK_INT_EQ(fmr_kspace_read_slice(ks, 1, buf, &err), 0);
  CHECK(buf[3 * 6 + 4] == kval(1, 0, 3, 4));
  float rec[16];
  CHECK_INT_EQ(fmr_kspace_read_recon(ks, "reconstruction_esc", 1, rec, &err), 0);
  CHECK_DBL_EQ(rec[5], rval(1, 1, 1));
  fmr_kspace_close(&ks);
}

static void test_chunked_gzip(void) {
  char path[256];
  path_of("chunked.h5", path, sizeof path);
  /* chunks span two slices and are large enough that the reader has to size the chunk cache */
  static const hsize_t chunk[4] = {2, 1, 128, 160};
  vol_spec v = {4, {5, 2, 256, 160}, chunk, -1, 0, 0, 0, NULL, 0, 0, 0};
  write_volume(path, &v);
  fmr_kspace *ks = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (!ks) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK_UINT_EQ(fmr_kspace_info_of(ks)->header_len, 0);
  CHECK(fmr_kspace_info_of(ks)->header_xml == NULL);
  float complex *buf = malloc(2 * 256 * 160 * sizeof *buf);
  for (size_t s = 0; s < 5; s++) {
    CHECK_INT_EQ(fmr_kspace_read_slice(ks, s, buf, &err), 0);
    size_t bad = 0;
    for (size_t c = 0; c < 2; c++)
      for (size_t i = 0; i < 256; i++)
        for (size_t j = 0; j < 160; j++) bad += buf[(c * 256 + i) * 160 + j] != kval(s, c, i, j);
    CHECK_UINT_EQ(bad, 0);
  }
  free(buf);
  fmr_kspace_close(&ks);
}

static void test_nan(void) {
  char path[256];
  path_of("nan.h5", path, sizeof path);
  vol_spec v = multicoil;
  v.nan_slice = 1;
  write_volume(path, &v);
  fmr_kspace *ks = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (!ks) return;
  float complex buf[2 * 6 * 5];
  CHECK_INT_EQ(fmr_kspace_read_slice(ks, 0, buf, &err), 0);
  CHECK_INT_EQ(fmr_kspace_read_slice(ks, 1, buf, &err), FMR_ENUMERIC);
  char want[512];
  snprintf(want, sizeof want, "%s: slice 1: k-space holds NaN/Inf", path);
  CHECK_STR_EQ(err.msg, want);
  CHECK_INT_EQ(fmr_kspace_read_slice(ks, 2, buf, &err), 0);
  /* the raw read leaves the scan to its caller: the NaN arrives in the buffer */
  CHECK_INT_EQ(fmr_kspace_read_slice_raw(ks, 1, buf, &err), 0);
  int nonfinite = 0;
  for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++)
    nonfinite |= !isfinite(crealf(buf[i])) || !isfinite(cimagf(buf[i]));
  CHECK(nonfinite);
  CHECK_INT_EQ(fmr_kspace_read_slice_raw(ks, 3, buf, &err), FMR_EINVAL);
  fmr_kspace_close(&ks);
}

/* The byte ranges handed to the read-ahead: for contiguous storage, the raw bytes at the range are
 * exactly the slice HDF5 returns (little-endian float32 pairs, as stored), and the stored
 * reconstruction's range follows; for chunked storage, one range per chunk the slice touches, each
 * inside the file. */
static void test_slice_extents(void) {
  char path[256];
  fmr_err err;
  path_of("extents.h5", path, sizeof path);
  vol_spec v = multicoil;
  write_volume(path, &v);
  fmr_kspace *ks = NULL;
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (!ks) return;
  CHECK_STR_EQ(fmr_kspace_path(ks), path);
  fmr_kspace_extent ext[4];
  size_t n = 0;
  float complex want[2 * 6 * 5], raw[2 * 6 * 5];
  CHECK_INT_EQ(fmr_kspace_slice_extents(ks, 2, "reconstruction_rss", ext, 4, &n, &err), 0);
  CHECK_UINT_EQ(n, 2);
  CHECK_UINT_EQ(ext[0].length, sizeof want);
  CHECK_UINT_EQ(ext[1].length, 4 * 4 * sizeof(float));
  CHECK_INT_EQ(fmr_kspace_read_slice(ks, 2, want, &err), 0);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (f) {
    CHECK(fseek(f, (long)ext[0].offset, SEEK_SET) == 0);
    CHECK_UINT_EQ(fread(raw, 1, sizeof raw, f), sizeof raw);
    CHECK(memcmp(raw, want, sizeof raw) == 0);
    float rec_want[16], rec_raw[16];
    CHECK_INT_EQ(fmr_kspace_read_recon(ks, "reconstruction_rss", 2, rec_want, &err), 0);
    CHECK(fseek(f, (long)ext[1].offset, SEEK_SET) == 0);
    CHECK_UINT_EQ(fread(rec_raw, 1, sizeof rec_raw, f), sizeof rec_raw);
    CHECK(memcmp(rec_raw, rec_want, sizeof rec_raw) == 0);
    fclose(f);
  }
  /* too small an array: the count still says how many */
  CHECK_INT_EQ(fmr_kspace_slice_extents(ks, 0, NULL, ext, 0, &n, &err), 0);
  CHECK_UINT_EQ(n, 1);
  CHECK_INT_EQ(fmr_kspace_slice_extents(ks, 3, NULL, ext, 4, &n, &err), FMR_EINVAL);
  fmr_kspace_close(&ks);

  path_of("extents-chunked.h5", path, sizeof path);
  static const hsize_t chunk[4] = {2, 1, 128, 160};
  vol_spec c = {4, {5, 2, 256, 160}, chunk, -1, 0, 0, 0, NULL, 0, 0, 0};
  write_volume(path, &c);
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (!ks) return;
  struct stat st;
  CHECK(stat(path, &st) == 0);
  /* slice 3 lies in the second chunk row along slices: 2 coils x 2 row chunks x 1 column chunk */
  CHECK_INT_EQ(fmr_kspace_slice_extents(ks, 3, NULL, ext, 4, &n, &err), 0);
  CHECK_UINT_EQ(n, 4);
  for (size_t i = 0; i < n && i < 4; i++) {
    CHECK(ext[i].length > 0);
    CHECK(ext[i].offset + ext[i].length <= (uint64_t)st.st_size);
    for (size_t j = 0; j < i; j++) CHECK(ext[i].offset != ext[j].offset);
  }
  fmr_kspace_close(&ks);
}

/* The plain-read path (fmr_kspace_raw_slice) is offered only where the file's bytes are exactly
 * HDF5's answer (checked by reading them), and refused for chunked storage and for a compound that
 * stores i before r, whose bytes HDF5 reorders. */
static void test_raw_slice(void) {
  char path[256];
  fmr_err err;
  fmr_kspace *ks = NULL;
  fmr_kspace_extent e = {0, 0};
  float complex want[2 * 6 * 5], raw[2 * 6 * 5];
  path_of("raw.h5", path, sizeof path);
  write_volume(path, &multicoil);
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (!ks) return;
  CHECK_INT_EQ(fmr_kspace_raw_slice(ks, 2, &e), 1);
  CHECK_UINT_EQ(e.length, sizeof raw);
  CHECK_INT_EQ(fmr_kspace_read_slice(ks, 2, want, &err), 0);
  int fd = open(path, O_RDONLY);
  CHECK(fd >= 0);
  CHECK(pread(fd, raw, sizeof raw, (off_t)e.offset) == (ssize_t)sizeof raw);
  close(fd);
  CHECK(memcmp(raw, want, sizeof raw) == 0);
  CHECK_INT_EQ(fmr_kspace_raw_slice(ks, 3, &e), 0); /* out of range */
  fmr_kspace_close(&ks);

  static const hsize_t chunk[4] = {1, 1, 6, 5};
  vol_spec chunked = multicoil, swapped = multicoil;
  chunked.chunk = chunk;
  swapped.swapped = 1;
  const vol_spec *refused[2] = {&chunked, &swapped};
  for (int k = 0; k < 2; k++) {
    snprintf(path, sizeof path, "%s/raw-refused-%d.h5", tmpdir, k);
    write_volume(path, refused[k]);
    CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
    if (!ks) continue;
    CHECK_INT_EQ(fmr_kspace_raw_slice(ks, 0, &e), 0);
    CHECK_INT_EQ(fmr_kspace_read_slice(ks, 1, want, &err), 0);
    CHECK(want[7] == kval(1, 0, 1, 2)); /* HDF5 still reads it right */
    fmr_kspace_close(&ks);
  }
}

typedef struct collected {
  float *img;
  size_t plane, n;
} collected;

static int collect(void *ctx, size_t slice, const float *image, fmr_err *err) {
  (void)err;
  collected *c = ctx;
  memcpy(c->img + slice * c->plane, image, c->plane * sizeof *image);
  c->n++;
  return 0;
}

static int reconstruct_file(const char *path, fmr_fft_cache *plans, collected *c, fmr_err *err) {
  fmr_kspace *ks = NULL;
  int rc = fmr_kspace_open(path, &ks, err);
  if (rc) return rc;
  fmr_reconstruct_opts o = {FMR_SOURCE_KSPACE, 1, 0};
  fmr_reconstruct_result res;
  c->n = 0;
  rc = fmr_reconstruct_volume(ks, NULL, plans, &o, path, collect, c, &res, err);
  fmr_kspace_close(&ks);
  return rc;
}

/* The reconstruction reads plain-stored k-space on its read-ahead thread, straight into a second
 * transform buffer, and anything else through HDF5: the images are the same bits either way. A
 * file cut short after it was opened fails with the file named, rather than reconstructing what a
 * short plain read left in the buffer. */
static void test_reconstruct_read_paths(void) {
  enum { S = 6, C = 3, H = 48, W = 40, R = 24 };
  static const hsize_t chunk[4] = {1, 1, H, W};
  vol_spec plain = {4, {S, C, H, W}, NULL, -1, R, R, 0, "<ismrmrdHeader/>", 0, 1, 0};
  vol_spec chunked = plain, swapped = plain;
  chunked.chunk = chunk;
  swapped.swapped = 1;
  const vol_spec *specs[3] = {&plain, &chunked, &swapped};
  fmr_fft_cache *plans = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_fft_cache_new(FMR_FFT_ESTIMATE, &plans, &err), 0);
  collected got[3];
  char path[256];
  for (int k = 0; k < 3; k++) {
    got[k] = (collected){calloc(S * R * R, sizeof(float)), R * R, 0};
    snprintf(path, sizeof path, "%s/paths-%d.h5", tmpdir, k);
    write_volume(path, specs[k]);
    CHECK_INT_EQ(reconstruct_file(path, plans, &got[k], &err), 0);
    CHECK_UINT_EQ(got[k].n, S);
  }
  CHECK(memcmp(got[0].img, got[1].img, S * R * R * sizeof(float)) == 0);
  CHECK(memcmp(got[0].img, got[2].img, S * R * R * sizeof(float)) == 0);
  /* the slices differ, so a slice read into the wrong place would show */
  for (size_t k = 1; k < S; k++)
    CHECK(memcmp(got[0].img, got[0].img + k * R * R, R * R * sizeof(float)) != 0);

  /* Cut after open, inside slice 3: slices 0-2 arrive, then the error names the file. */
  path_of("paths-cut.h5", path, sizeof path);
  write_volume(path, &plain);
  fmr_kspace *ks = NULL;
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  fmr_kspace_extent e = {0, 0};
  if (ks && fmr_kspace_raw_slice(ks, 3, &e) == 1) {
    CHECK_INT_EQ(truncate(path, (off_t)(e.offset + e.length / 2)), 0);
    fmr_reconstruct_opts o = {FMR_SOURCE_KSPACE, 1, 0};
    fmr_reconstruct_result res;
    got[1].n = 0;
    int rc = fmr_reconstruct_volume(ks, NULL, plans, &o, path, collect, &got[1], &res, &err);
    CHECK(rc != 0);
    CHECK_UINT_EQ(got[1].n, 3);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(memcmp(got[0].img, got[1].img, 3 * R * R * sizeof(float)) == 0);
  } else {
    CHECK(!"a plain contiguous file should offer plain reads");
  }
  fmr_kspace_close(&ks);
  for (int k = 0; k < 3; k++) free(got[k].img);
  fmr_fft_cache_free(&plans);
}

/* The spare input buffer the slices are read ahead into stays mapped from one volume to the next
 * of the same shape (no fresh pages to fault in per volume) and is handed back as idle memory
 * with the input buffer; a volume of another shape releases it, so only one shape holds one. */
static void test_spare_kept(void) {
  enum { S = 4, C = 2, H = 32, W = 24, R = 16 };
  vol_spec a = {4, {S, C, H, W}, NULL, -1, R, R, 0, "<ismrmrdHeader/>", 0, 1, 0};
  vol_spec b = a;
  b.dims[3] = W + 8;
  char pa[256], pb[256];
  path_of("spare-a.h5", pa, sizeof pa);
  path_of("spare-b.h5", pb, sizeof pb);
  write_volume(pa, &a);
  write_volume(pb, &b);
  fmr_fft_cache *plans = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_fft_cache_new(FMR_FFT_ESTIMATE, &plans, &err), 0);
  collected c = {calloc(S * R * R, sizeof(float)), R * R, 0};
  fmr_reconstruct_opts o = {FMR_SOURCE_KSPACE, 1, 0};
  fmr_reconstruct_result res[3];
  const char *paths[3] = {pa, pa, pb};
  for (int k = 0; k < 3; k++) {
    fmr_kspace *ks = NULL;
    CHECK_INT_EQ(fmr_kspace_open(paths[k], &ks, &err), 0);
    c.n = 0;
    CHECK_INT_EQ(fmr_reconstruct_volume(ks, NULL, plans, &o, paths[k], collect, &c, &res[k], &err),
                 0);
    fmr_kspace_close(&ks);
  }
  size_t bytes = (size_t)C * H * W * 8;
  CHECK(res[0].idle_spare != NULL);
  CHECK_UINT_EQ(res[0].idle_spare_bytes, bytes);
  CHECK(res[0].idle != NULL && res[0].idle != res[0].idle_spare);
  /* the same two buffers for the second volume, in either role */
  CHECK(res[1].idle_spare == res[0].idle_spare || res[1].idle_spare == res[0].idle);
  CHECK(res[1].idle == res[0].idle || res[1].idle == res[0].idle_spare);
  CHECK(res[2].idle_spare != NULL);
  fmr_recon *ra = NULL;
  CHECK_INT_EQ(fmr_fft_cache_get(plans, C, H, W, &ra, &err), 0);
  size_t left = 1;
  CHECK(fmr_recon_idle_spare(ra, &left) == NULL); /* released when shape b was used */
  CHECK_UINT_EQ(left, 0);
  free(c.img);
  fmr_fft_cache_free(&plans);
}

static void test_missing_and_wrong(void) {
  char path[256];
  hsize_t d3[3] = {3, 6, 5}, d4[4] = {3, 2, 6, 5};

  /* no kspace at all */
  path_of("nokspace.h5", path, sizeof path);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  write_recon(f, "reconstruction_rss", 2, 4, 4);
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "no 'kspace' dataset");

  /* kspace of the wrong rank, type, members or size */
  hid_t c32 = complex_file_type(H5T_IEEE_F32LE), c64 = complex_file_type(H5T_IEEE_F64LE);
  hid_t c32be = complex_file_type(H5T_IEEE_F32BE);
  hid_t reim = H5Tcreate(H5T_COMPOUND, 8);
  H5Tinsert(reim, "real", 0, H5T_IEEE_F32LE);
  H5Tinsert(reim, "imag", 4, H5T_IEEE_F32LE);
  struct {
    const char *file;
    hid_t type;
    int rank;
    hsize_t dims[5];
    int code;
    const char *needle;
  } cases[] = {
      {"rank2.h5", c32, 2, {6, 5}, FMR_EFORMAT, "rank 2"},
      {"rank5.h5", c32, 5, {1, 1, 1, 6, 5}, FMR_EFORMAT, "rank 5"},
      {"float.h5", H5T_IEEE_F32LE, 3, {3, 6, 5}, FMR_EFORMAT, "expected complex64"},
      {"reim.h5", reim, 3, {3, 6, 5}, FMR_EFORMAT, "expected complex64"},
      {"c128.h5", c64, 4, {3, 2, 6, 5}, FMR_EFORMAT, "little-endian float32"},
      {"bigendian.h5", c32be, 3, {3, 6, 5}, FMR_EFORMAT, "little-endian float32"},
      {"noslices.h5", c32, 3, {0, 6, 5}, FMR_EFORMAT, "empty"},
      {"coils.h5", c32, 4, {2, 300, 4, 4}, FMR_ERANGE, "out of range"},
      {"wide.h5", c32, 3, {1, 4, 5000}, FMR_ERANGE, "out of range"},
      {"slices.h5", c32, 3, {2000, 4, 4}, FMR_ERANGE, "out of range"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    path_of(cases[k].file, path, sizeof path);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t space = H5Screate_simple(cases[k].rank, cases[k].dims, NULL);
    hid_t ds = H5Dcreate2(f, "kspace", cases[k].type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(f);
    EXPECT_OPEN_FAILS(path, cases[k].code, cases[k].needle);
  }
  H5Tclose(reim);
  H5Tclose(c32be);
  H5Tclose(c64);

  /* kspace that is a group, or a soft link to the real dataset */
  path_of("group.h5", path, sizeof path);
  f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(H5Gcreate2(f, "kspace", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EHDF5, "'kspace' is not a readable dataset");
  path_of("softlink.h5", path, sizeof path);
  f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t space = H5Screate_simple(4, d4, NULL);
  H5Dclose(H5Dcreate2(f, "real_kspace", c32, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Sclose(space);
  H5Lcreate_soft("/real_kspace", f, "kspace", H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "soft link");

  /* raw data kept outside the file, and a compression filter this HDF5 lacks (LZF, as h5py
   * writes it, recorded as optional so that HDF5 lets us write it) */
  path_of("external.h5", path, sizeof path);
  char raw[256];
  path_of("external.raw", raw, sizeof raw);
  f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_external(dcpl, raw, 0, 3 * 2 * 6 * 5 * 8);
  space = H5Screate_simple(4, d4, NULL);
  H5Dclose(H5Dcreate2(f, "kspace", c32, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  H5Sclose(space);
  H5Pclose(dcpl);
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "external files");
  path_of("lzf.h5", path, sizeof path);
  f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 4, d4);
  H5Pset_filter(dcpl, 32000, H5Z_FLAG_OPTIONAL, 0, NULL);
  space = H5Screate_simple(4, d4, NULL);
  H5Dclose(H5Dcreate2(f, "kspace", c32, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  H5Sclose(space);
  H5Pclose(dcpl);
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "HDF5 filter 32000");
  H5Tclose(c32);

  /* stored reconstructions that do not match */
  hsize_t wrong_slices[3] = {2, 4, 4}, r2[2] = {4, 4};
  path_of("rss_slices.h5", path, sizeof path);
  write_with_extra(path, "reconstruction_rss", H5T_IEEE_F32LE, 3, wrong_slices);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "has 2 slices, 'kspace' has 3");
  path_of("rss_rank.h5", path, sizeof path);
  write_with_extra(path, "reconstruction_rss", H5T_IEEE_F32LE, 2, r2);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "rank 2");
  path_of("rss_f64.h5", path, sizeof path);
  write_with_extra(path, "reconstruction_esc", H5T_IEEE_F64LE, 3, d3);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "expected float32");
  path_of("rss_esc.h5", path, sizeof path);
  vol_spec v = multicoil;
  f = write_volume_open(path, &v);
  write_recon(f, "reconstruction_esc", 3, 4, 5);
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "'reconstruction_esc' images are 4 x 5");

  /* header and attributes of the wrong kind */
  path_of("hdr_int.h5", path, sizeof path);
  write_with_extra(path, "ismrmrd_header", H5T_STD_I32LE, 0, NULL);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "expected a string");
  path_of("hdr_two.h5", path, sizeof path);
  {
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 16);
    write_with_extra(path, "ismrmrd_header", st, 1, (hsize_t[]){2});
    H5Tclose(st);
  }
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "holds 2 values");
  path_of("acq_int.h5", path, sizeof path);
  v.rh = 0;
  v.attrs = 0;
  f = write_volume_open(path, &v);
  write_double_attr(f, "acquisition", H5T_STD_I32LE, 3);
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "attribute 'acquisition' has type integer");
  path_of("acq_long.h5", path, sizeof path);
  f = write_volume_open(path, &v);
  write_string_attr(f, "acquisition", "CORPD_FBK_CORPD_FBK_CORPD_FBK_CORPD_FBK_CORPD_FBK_CORPD_FBK_"
                                       "CORPD_FBK_CORPD_FBK", 0);
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "longer than 63 bytes");
  path_of("max_str.h5", path, sizeof path);
  f = write_volume_open(path, &v);
  write_string_attr(f, "max", "0.5", 1);
  H5Fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "expected a number");

  /* a header too large to be real is refused before the parser sees it */
  path_of("hdr_huge.h5", path, sizeof path);
  char *huge = malloc((size_t)FMR_HEADER_MAX_BYTES + 2);
  memset(huge, 'x', (size_t)FMR_HEADER_MAX_BYTES + 1);
  huge[FMR_HEADER_MAX_BYTES + 1] = '\0';
  v.header = huge;
  write_volume(path, &v);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "longer than");
  v.header_fixed = 1;
  path_of("hdr_huge_fixed.h5", path, sizeof path);
  write_volume(path, &v);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "longer than");
  free(huge);
}

static void write_mask(const char *path, hid_t ftype, hid_t mtype, const void *values, hsize_t n) {
  vol_spec v = multicoil;
  hid_t f = write_volume_open(path, &v);
  hid_t space = H5Screate_simple(1, &n, NULL);
  hid_t ds = H5Dcreate2(f, "mask", ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
}

static void test_mask(void) {
  char path[256];
  fmr_kspace *ks = NULL;
  fmr_err err;

  /* numpy bool as h5py stores it: an int8 enum FALSE/TRUE */
  hid_t boolean = H5Tenum_create(H5T_NATIVE_SCHAR);
  signed char fv = 0, tv = 1;
  H5Tenum_insert(boolean, "FALSE", &fv);
  H5Tenum_insert(boolean, "TRUE", &tv);
  const signed char bools[5] = {1, 1, 0, 1, 0};
  path_of("mask_bool.h5", path, sizeof path);
  write_mask(path, boolean, boolean, bools, 5);
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (ks) {
    CHECK_INT_EQ(fmr_kspace_info_of(ks)->has_mask, 1);
    CHECK_INT_EQ(fmr_kspace_info_of(ks)->undersampled, 1);
    CHECK_UINT_EQ(fmr_kspace_info_of(ks)->sampled_lines, 3);
  }
  fmr_kspace_close(&ks);
  H5Tclose(boolean);

  const float ones[5] = {1, 1, 1, 1, 1};
  path_of("mask_float.h5", path, sizeof path);
  write_mask(path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, ones, 5);
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (ks) {
    CHECK_INT_EQ(fmr_kspace_info_of(ks)->has_mask, 1);
    CHECK_INT_EQ(fmr_kspace_info_of(ks)->undersampled, 0);
    CHECK_UINT_EQ(fmr_kspace_info_of(ks)->sampled_lines, 5);
  }
  fmr_kspace_close(&ks);

  const unsigned char bytes[5] = {0, 0, 7, 0, 0};
  path_of("mask_u8.h5", path, sizeof path);
  write_mask(path, H5T_STD_U8LE, H5T_NATIVE_UCHAR, bytes, 5);
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (ks) CHECK_UINT_EQ(fmr_kspace_info_of(ks)->sampled_lines, 1);
  fmr_kspace_close(&ks);

  path_of("mask_len.h5", path, sizeof path);
  write_mask(path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, ones, 4);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "expected (5,)");

  const float with_nan[5] = {1, NAN, 1, 1, 1};
  path_of("mask_nan.h5", path, sizeof path);
  write_mask(path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, with_nan, 5);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "NaN");
}

static void test_truncated(void) {
  char path[256];
  const hsize_t chunk[4] = {1, 2, 64, 40};
  vol_spec contiguous = {4, {4, 2, 64, 40}, NULL, -1, 32, 32, 0, "<ismrmrdHeader/>", 0, 1, 0};
  vol_spec chunked = contiguous;
  chunked.chunk = chunk;
  const vol_spec *specs[2] = {&contiguous, &chunked};
  const double keep[3] = {0.9, 0.5, 0.01};
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < 3; k++) {
      snprintf(path, sizeof path, "%s/trunc_%d_%d.h5", tmpdir, s, k);
      write_volume(path, specs[s]);
      struct stat st;
      stat(path, &st);
      CHECK_INT_EQ(truncate(path, (off_t)((double)st.st_size * keep[k])), 0);
      EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "not a readable HDF5 file");
    }
  path_of("empty.h5", path, sizeof path);
  close(open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600));
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "not a readable HDF5 file");
}

static void test_not_hdf5(void) {
  char path[256];
  path_of("text.h5", path, sizeof path);
  FILE *f = fopen(path, "w");
  fputs("this is not an HDF5 file\n", f);
  fclose(f);
  EXPECT_OPEN_FAILS(path, FMR_EFORMAT, "not a readable HDF5 file");
  path_of("does_not_exist.h5", path, sizeof path);
  EXPECT_OPEN_FAILS(path, FMR_ENOENT, "No such file");
  EXPECT_OPEN_FAILS(tmpdir, FMR_EIO, "not a regular file");
}

/* Limits from the config (limits.*): each refusal names the file and the limit's key. The same
 * file opens under the defaults, so the refusal is the limit's doing. */
static void expect_limited(const char *path, const fmr_limits *lim, int code, const char *needle) {
  fmr_kspace *ks = (fmr_kspace *)1;
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_kspace_open_limited(path, lim, &ks, &err), code);
  CHECK(ks == NULL);
  if (strncmp(err.msg, path, strlen(path)) != 0 || !strstr(err.msg, needle))
    FMR__FAIL("message \"%s\" should start with the path and mention \"%s\"", err.msg, needle);
}

static void test_limits(void) {
  char path[256];
  path_of("limits.h5", path, sizeof path);
  vol_spec v = multicoil; /* kspace (3, 2, 6, 5), recon 4 x 4, header "<ismrmrdHeader/>" */
  write_volume(path, &v);
  fmr_kspace *ks = NULL;
  fmr_err err;
  fmr_limits lim;
  fmr_limits_default(&lim);
  CHECK_INT_EQ(fmr_kspace_open_limited(path, &lim, &ks, &err), 0);
  fmr_kspace_close(&ks);
  lim.kspace_slices = 2;
  expect_limited(path, &lim, FMR_ERANGE, "at most 2 slices, 256 coils, 4096 x 4096; limits.kspace_slices");
  fmr_limits_default(&lim);
  lim.kspace_coils = 1;
  expect_limited(path, &lim, FMR_ERANGE, "limits.kspace_coils");
  fmr_limits_default(&lim);
  lim.kspace_dim = 5; /* H = 6 */
  expect_limited(path, &lim, FMR_ERANGE, "limits.kspace_dim");
  fmr_limits_default(&lim);
  lim.kspace_slice_elements = 59; /* 2 x 6 x 5 = 60 */
  expect_limited(path, &lim, FMR_ERANGE,
                 "holds 60 complex values per slice, more than the limit of 59 "
                 "(limits.kspace_slice_elements)");
  lim.kspace_slice_elements = 60;
  CHECK_INT_EQ(fmr_kspace_open_limited(path, &lim, &ks, &err), 0);
  fmr_kspace_close(&ks);
  fmr_limits_default(&lim);
  lim.kspace_elements = 179; /* 3 x 60 = 180 */
  expect_limited(path, &lim, FMR_ERANGE, "holds 180 complex values in all, more than the limit of "
                                         "179 (limits.kspace_elements)");
  fmr_limits_default(&lim);
  lim.header_bytes = 10; /* "<ismrmrdHeader/>" is 16 */
  expect_limited(path, &lim, FMR_EFORMAT, "longer than 10 bytes");
  fmr_limits_default(&lim);
  lim.kspace_dim = 6; /* kspace fits, but not a check the recon (4 x 4) needs: still opens */
  CHECK_INT_EQ(fmr_kspace_open_limited(path, &lim, &ks, &err), 0);
  fmr_kspace_close(&ks);
}

static void remove_tree(void) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void) {
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_multicoil();
  test_singlecoil_fixed_header();
  test_chunked_gzip();
  test_nan();
  test_slice_extents();
  test_raw_slice();
  test_reconstruct_read_paths();
  test_spare_kept();
  test_missing_and_wrong();
  test_mask();
  test_truncated();
  test_not_hdf5();
  test_limits();
  /* every handle of every open, failed or not, was released (a leaked one keeps its file open) */
  CHECK_INT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
  remove_tree();
  return fmr_test_end();
}
