/* Synthetic volumes: option checks, failure cleanup, byte-identical reruns, and a round trip through
 * the project's own reader, header parser and reconstruction (the contract between synth and the
 * pipeline). The numpy oracle lives in tests/integration/test_synth.py. */
#include <complex.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmr/util/error.h"
#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/recon/recon.h"
#include "fmr/synth/synth.h"
#include "fmr_test.h"

static char tmpdir[] = "/tmp/fmr-test-synth-XXXXXX";

static char *tmp_path(const char *name) {
  static char buf[4][512];
  static int next = 0;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
  return p;
}

static void small(fmr_synth_opts *o, const char *anatomy) {
  fmr_synth_defaults(anatomy, o);
  o->slices = 3;
  o->coils = 3;
  o->H = 33;
  o->W = 27;
  o->h = 16;
  o->w = 15;
}

static void test_defaults(void) {
  fmr_synth_opts o;
  fmr_synth_defaults("knee", &o);
  CHECK_STR_EQ(o.anatomy, "knee");
  CHECK_UINT_EQ(o.H, 640);
  CHECK_UINT_EQ(o.W, 368);
  CHECK_UINT_EQ(o.h, 320);
  CHECK_UINT_EQ(o.w, 320);
  CHECK_UINT_EQ(o.coils, 4);
  CHECK_INT_EQ(o.singlecoil, 0);
  CHECK_DBL_EQ(o.noise, 0.01);
  CHECK_UINT_EQ(o.seed, 1);
  CHECK(o.acquisition == NULL);
  fmr_synth_defaults("brain", &o);
  CHECK_STR_EQ(o.anatomy, "brain");
  CHECK_UINT_EQ(o.W, 320);
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_synth_check(&o, &err), 0);
}

static void test_bad_options(void) {
  fmr_synth_opts o;
  fmr_err err;
  const char *path = tmp_path("bad.h5");
/* Each bad option fails both the check and the write, naming the path and writing nothing. */
#define EXPECT_BAD(stmt, want)                                                  \
  do {                                                                          \
    small(&o, "knee");                                                          \
    stmt;                                                                       \
    fmr_err_clear(&err);                                                        \
    CHECK_INT_EQ(fmr_synth_volume(path, "file1", &o, &err), (want));            \
    CHECK(strstr(err.msg, path) != NULL);                                       \
    CHECK(access(path, F_OK) != 0);                                             \
    fmr_err_clear(&err);                                                        \
    CHECK_INT_EQ(fmr_synth_check(&o, &err), (want));                            \
  } while (0)
  EXPECT_BAD(o.anatomy = "foot", FMR_EINVAL);
  EXPECT_BAD(o.slices = 0, FMR_ERANGE);
  EXPECT_BAD(o.slices = FMR_KSPACE_MAX_SLICES + 1, FMR_ERANGE);
  EXPECT_BAD(o.coils = 0, FMR_ERANGE);
  EXPECT_BAD(o.singlecoil = 1, FMR_EINVAL); /* with 3 coils */
  EXPECT_BAD(o.H = 0, FMR_ERANGE);
  EXPECT_BAD(o.W = FMR_KSPACE_MAX_DIM + 1, FMR_ERANGE);
  EXPECT_BAD(o.h = o.H + 1, FMR_ERANGE);
  EXPECT_BAD(o.w = 0, FMR_ERANGE);
  EXPECT_BAD((o.coils = 256, o.H = 4096, o.W = 4096), FMR_ERANGE);
  EXPECT_BAD(o.noise = -0.1, FMR_ERANGE);
  EXPECT_BAD(o.noise = NAN, FMR_ERANGE);
  EXPECT_BAD(o.acquisition = "AX FLAIR", FMR_EINVAL);
  EXPECT_BAD(o.acquisition = "", FMR_EINVAL);
#undef EXPECT_BAD
  small(&o, "knee");
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_synth_volume(path, "", &o, &err), FMR_EINVAL);
  /* An unwritable path: an HDF5 error naming it, nothing left behind. */
  const char *nodir = tmp_path("no/such/dir/x.h5");
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_synth_volume(nodir, "file1", &o, &err), FMR_EHDF5);
  CHECK(strstr(err.msg, nodir) != NULL);
}

static void test_deterministic(void) {
  fmr_synth_opts o;
  small(&o, "knee");
  fmr_err err;
  fmr_err_clear(&err);
  const char *a = tmp_path("a.h5"), *b = tmp_path("b.h5"), *c = tmp_path("c.h5");
  CHECK_INT_EQ(fmr_synth_volume(a, "file1000001", &o, &err), 0);
  CHECK_INT_EQ(fmr_synth_volume(b, "file1000001", &o, &err), 0);
  o.seed = 2;
  CHECK_INT_EQ(fmr_synth_volume(c, "file1000001", &o, &err), 0);
  size_t la = 0, lb = 0, lc = 0;
  unsigned char *ba = fmr_test_slurp(a, &la), *bb = fmr_test_slurp(b, &lb),
                *bc = fmr_test_slurp(c, &lc);
  CHECK(ba && bb && bc);
  CHECK_UINT_EQ(la, lb);
  CHECK(la == lb && ba && bb && memcmp(ba, bb, la) == 0);
  CHECK(la != lc || (ba && bc && memcmp(ba, bc, la) != 0));
  free(ba);
  free(bb);
  free(bc);
  remove(a);
  remove(b);
  remove(c);
}

/* Write, then read back with fmr_kspace / fmr_header / fmr_recon. */
static void round_trip(const char *anatomy, const char *name, int singlecoil, int undersampled,
                       int chunked, const char *want_acq) {
  fmr_synth_opts o;
  small(&o, anatomy);
  if (singlecoil) {
    o.singlecoil = 1;
    o.coils = 1;
  }
  o.undersampled = undersampled;
  o.chunked = chunked;
  const char *path = tmp_path("rt.h5");
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_synth_volume(path, name, &o, &err), 0);
  if (err.code) fprintf(stderr, "%s\n", err.msg);

  fmr_kspace *ks = NULL;
  fmr_recon *r = NULL;
  float *mine = NULL, *stored = NULL;
  CHECK_INT_EQ(fmr_kspace_open(path, &ks, &err), 0);
  if (!ks) {
    fprintf(stderr, "%s\n", err.msg);
    goto done;
  }
  const fmr_kspace_info *in = fmr_kspace_info_of(ks);
  CHECK_INT_EQ(in->multicoil, !singlecoil);
  CHECK_UINT_EQ(in->slices, o.slices);
  CHECK_UINT_EQ(in->coils, o.coils);
  CHECK_UINT_EQ(in->H, o.H);
  CHECK_UINT_EQ(in->W, o.W);
  CHECK_INT_EQ(in->has_rss, !undersampled);
  CHECK_INT_EQ(in->has_esc, singlecoil && !undersampled);
  CHECK_INT_EQ(in->has_mask, undersampled);
  CHECK_INT_EQ(in->undersampled, undersampled);
  CHECK_STR_EQ(in->acquisition, want_acq);
  CHECK_UINT_EQ(strlen(in->patient_id), 64);
  CHECK(undersampled ? isnan(in->max) : in->max > 0);

  fmr_header hdr;
  CHECK_INT_EQ(fmr_header_parse(in->header_xml, in->header_len, path, &hdr, &err), 0);
  CHECK_INT_EQ(hdr.encoded.matrix_x, (int)o.H);
  CHECK_INT_EQ(hdr.encoded.matrix_y, (int)o.W);
  CHECK_INT_EQ(hdr.recon.matrix_x, (int)o.h);
  CHECK_INT_EQ(hdr.recon.matrix_y, (int)o.w);
  CHECK_INT_EQ(hdr.e1_max, (int)o.W - 1);
  CHECK_INT_EQ(hdr.e1_center, (int)o.W / 2);
  CHECK_INT_EQ(hdr.receiver_channels, (int)o.coils);
  CHECK_STR_EQ(hdr.patient_position, strcmp(anatomy, "knee") == 0 ? "FFS" : "HFS");
  CHECK_STR_EQ(hdr.system_vendor, "SIEMENS");
  CHECK_DBL_EQ(hdr.h1_frequency_hz, 123251815.0);
  CHECK(hdr.recon.fov_x > 0 && hdr.recon.fov_z > 0 && hdr.tr_ms > 0 && hdr.te_ms > 0);

  size_t h = 0, w = 0;
  CHECK_INT_EQ(fmr_recon_target_frame(in, &hdr, path, &h, &w, &err), 0);
  CHECK_UINT_EQ(h, o.h);
  CHECK_UINT_EQ(w, o.w);
  if (undersampled) goto done;
  CHECK_INT_EQ(fmr_recon_new(o.coils, o.H, o.W, FMR_FFT_ESTIMATE, 0, &r, &err), 0);
  mine = malloc(o.h * o.w * sizeof *mine);
  stored = malloc(o.h * o.w * sizeof *stored);
  if (!r || !mine || !stored) goto done;
  double num = 0.0, den = 0.0;
  for (size_t s = 0; s < o.slices; s++) {
    CHECK_INT_EQ(fmr_kspace_read_slice(ks, s, fmr_recon_input(r), &err), 0);
    CHECK_INT_EQ(fmr_recon_slice(r, o.h, o.w, mine, &err), 0);
    CHECK_INT_EQ(fmr_kspace_read_recon(ks, "reconstruction_rss", s, stored, &err), 0);
    for (size_t i = 0; i < o.h * o.w; i++) {
      double d = (double)mine[i] - (double)stored[i];
      num += d * d;
      den += (double)stored[i] * (double)stored[i];
    }
  }
  CHECK(den > 0);
  double e = num / den;
  if (!(e < 1e-10)) fprintf(stderr, "%s: NMSE %g\n", name, e);
  CHECK(e < 1e-10);
done:
  free(stored);
  free(mine);
  fmr_recon_free(&r);
  fmr_kspace_close(&ks);
  remove(path);
}

int main(void) {
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_defaults();
  test_bad_options();
  test_deterministic();
  round_trip("knee", "file1000001", 0, 0, 0, "CORPD_FBK");
  round_trip("knee", "file1000002", 1, 0, 1, "CORPD_FBK");
  round_trip("knee", "file1000003", 0, 1, 0, "CORPD_FBK");
  round_trip("brain", "file_brain_AXT1POST_201_6002717", 0, 0, 1, "AXT1POST");
  round_trip("brain", "not_a_brain_name", 0, 0, 0, "AXFLAIR");
  rmdir(tmpdir);
  return fmr_test_end();
}
