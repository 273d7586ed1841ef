/* Test driver for the ML-ready outputs (SPEC 11), used by tests/integration/test_ml_outputs.py
 * (the run's writer table and dataset phase call the same functions; it.ml_run checks the run):
 * it takes one synthetic volume through the library's own reconstruction, scaling, DICOM writer
 * and rasterizer, then writes the NIfTI pair and recon/<name>.h5; `build` runs the collective
 * dataset.h5/boxes.csv step under mpirun.
 *
 *   fmr_ml_tool volume OUT CSV ANATOMY FLIP_UD FLIP_LR REVIEWED KSPACE.h5
 *   fmr_ml_tool build  OUT CSV ANATOMY FLIP_UD FLIP_LR REVIEWED_NAMES(comma list) KSPACE.h5...
 */
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/dicom/dicom.h"
#include "fmr/export/boxes.h"
#include "fmr/export/dataset.h"
#include "fmr/export/nifti.h"
#include "fmr/labels/annotations.h"
#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/recon/reconstruct.h"
#include "fmr/recon/scale.h"
#include "fmr/run/dataset.h"
#include "fmr/util/fsutil.h"

typedef struct vol {
  char name[256], input[PATH_MAX], acquisition[64], uid[FMR_UID_MAX], file[PATH_MAX];
  fmr_header hdr;
  fmr_kspace_info info;
  size_t h, w;
  fmr_dataset_attrs attrs;
} vol;

static int fail(const fmr_err *e) {
  fprintf(stderr, "fmr_ml_tool: %s\n", e->msg);
  return 1;
}

static fmr_dicom_series series_of(const vol *v, const char *anatomy, int fud, int flr) {
  fmr_dicom_series s = {.volume = v->name, .acquisition = v->acquisition, .anatomy = anatomy,
                        .hdr = &v->hdr, .uid_root = "2.25", .date = "20200101",
                        .time = "000000", .recon_source = "kspace", .flip_ud = fud,
                        .flip_lr = flr, .slices = v->info.slices, .rows = v->h, .cols = v->w,
                        .window_center = 512, .window_width = 1024, .tool_version = "test",
                        .coils = (int)v->info.coils};
  return s;
}

/* What the record would hold: frame, k-space shape, acquisition, series UID. */
static int describe(const char *path, const char *anatomy, int fud, int flr, int reviewed,
                    fmr_kspace **ks_out, vol *v, fmr_err *err) {
  fmr_kspace *ks = NULL;
  int rc = fmr_kspace_open(path, &ks, err);
  if (rc) return rc;
  const fmr_kspace_info *info = fmr_kspace_info_of(ks);
  v->info = *info;
  v->info.header_xml = NULL;
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  snprintf(v->name, sizeof v->name, "%.*s", (int)(strlen(base) - 3), base);
  snprintf(v->input, sizeof v->input, "%s", base);
  snprintf(v->acquisition, sizeof v->acquisition, "%s", info->acquisition);
  /* Synthetic inputs always carry a header (the run handles files without one). */
  if (!info->header_len) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: no ismrmrd_header", path);
    goto done;
  }
  if ((rc = fmr_header_parse(info->header_xml, info->header_len, path, &v->hdr, err))) goto done;
  fmr_reconstruct_opts o = {FMR_SOURCE_KSPACE, fud, flr};
  if ((rc = fmr_reconstruct_frame(info, &v->hdr, &o, path, &v->h, &v->w, err))) goto done;
  fmr_dicom_series s = series_of(v, anatomy, fud, flr);
  if ((rc = fmr_dicom_uid(&s, FMR_DICOM_UID_SERIES, 0, v->uid, err))) goto done;
  fmr_dataset_attrs a = {.name = v->name, .input = v->input, .acquisition = v->acquisition,
                         .anatomy = anatomy, .series_uid = v->uid, .recon_source = "kspace",
                         .slices = info->slices, .h = v->h, .w = v->w,
                         .kspace_ndim = info->multicoil ? 4 : 3, .nmse = NAN,
                         .reviewed = reviewed, .zero_filled = info->undersampled,
                         .flip_ud = fud, .flip_lr = flr};
  size_t k = 0;
  a.kspace_shape[k++] = info->slices;
  if (info->multicoil) a.kspace_shape[k++] = info->coils;
  a.kspace_shape[k++] = info->H;
  a.kspace_shape[k++] = info->W;
  v->attrs = a;
done:
  if (rc || !ks_out)
    fmr_kspace_close(&ks);
  else
    *ks_out = ks;
  return rc;
}

static int load_csv(const char *path, fmr_annotations **a, fmr_err *err) {
  char *data = NULL;
  size_t len = 0;
  int rc = fmr_read_file(path, 1u << 30, &data, &len, err);
  if (!rc) rc = fmr_annotations_parse(path, data, len, a, err);
  free(data);
  return rc;
}

typedef struct sink {
  float *stack;
  size_t plane;
} sink;

static int put(void *ctx, size_t slice, const float *img, fmr_err *err) {
  (void)err;
  sink *s = ctx;
  memcpy(s->stack + slice * s->plane, img, s->plane * sizeof *img);
  return 0;
}

static int flip_cols(void *mask, size_t slices, size_t h, size_t w, size_t pb) {
  unsigned char *m = mask, t[8];
  for (size_t r = 0; r < slices * h; r++)
    for (size_t a = 0, b = w - 1; a < b; a++, b--) {
      memcpy(t, m + (r * w + a) * pb, pb);
      memcpy(m + (r * w + a) * pb, m + (r * w + b) * pb, pb);
      memcpy(m + (r * w + b) * pb, t, pb);
    }
  return 0;
}

static int cmd_volume(char **argv) {
  const char *out = argv[0], *csv = argv[1], *anatomy = argv[2], *path = argv[6];
  int fud = atoi(argv[3]), flr = atoi(argv[4]), reviewed = atoi(argv[5]);
  fmr_err err;
  fmr_err_clear(&err);
  fmr_kspace *ks = NULL;
  fmr_annotations *ann = NULL;
  fmr_fft_cache *plans = NULL;
  static vol v;
  char p[PATH_MAX + 600];
  if (describe(path, anatomy, fud, flr, reviewed, &ks, &v, &err) || load_csv(csv, &ann, &err) ||
      fmr_fft_cache_new(FMR_FFT_ESTIMATE, &plans, &err))
    return fail(&err);
  size_t slices = v.info.slices, plane = v.h * v.w, n = slices * plane;
  float *stack = malloc(n * sizeof *stack);
  int16_t *px = malloc(n * sizeof *px);
  sink sk = {stack, plane};
  fmr_reconstruct_opts o = {FMR_SOURCE_KSPACE, fud, flr};
  fmr_reconstruct_result res;
  fmr_scaling sc;
  if (!stack || !px ||
      fmr_reconstruct_volume(ks, &v.hdr, plans, &o, path, put, &sk, &res, &err) ||
      fmr_scale_volume(stack, n, px, &sc, path, &err))
    return fail(&err);
  v.attrs.nmse = res.nmse;
  fmr_dicom_series s = series_of(&v, anatomy, fud, flr);
  s.window_center = sc.window_center;
  s.window_width = sc.window_width;
  snprintf(p, sizeof p, "%s/dicom/%s", out, v.name);
  if (fmr_mkdirs(p, &err)) return fail(&err);
  for (size_t k = 0; k < slices; k++) {
    snprintf(p, sizeof p, "%s/dicom/%s/%s_%03zu.dcm", out, v.name, v.name, k);
    if (fmr_dicom_write_slice(&s, k, px + k * plane, p, &err)) return fail(&err);
  }
  const fmr_volume_annotations *va = fmr_annotations_find(ann, v.name);
  size_t nvocab = fmr_annotations_vocab_size(ann), pb = fmr_mask_pixel_bytes(nvocab);
  void *mask = calloc(n, pb);
  if (!mask) return 1;
  if (fmr_annotations_rasterize(va, slices, v.h, v.w, !fud, mask, pb, NULL, NULL, NULL, NULL,
                                &err))
    return fail(&err);
  if (flr) flip_cols(mask, slices, v.h, v.w, pb);
  snprintf(p, sizeof p, "%s/nifti", out);
  if (fmr_mkdirs(p, &err)) return fail(&err);
  snprintf(p, sizeof p, "%s/nifti/%s.nii.gz", out, v.name);
  if (fmr_nifti_write_image(p, &s, px, &err)) return fail(&err);
  if (reviewed) {
    snprintf(p, sizeof p, "%s/nifti/%s_mask.nii.gz", out, v.name);
    if (fmr_nifti_write_mask(p, &s, mask, pb, &err)) return fail(&err);
  }
  fmr_box_row *rows = NULL;
  size_t nrows = 0;
  if (fmr_boxes_of_volume(va, &s, &rows, &nrows, &err)) return fail(&err);
  snprintf(p, sizeof p, "%s/recon", out);
  if (fmr_mkdirs(p, &err)) return fail(&err);
  snprintf(p, sizeof p, "%s/recon/%s.h5", out, v.name);
  if (fmr_dataset_volume_write(p, &v.attrs, stack, reviewed ? mask : NULL, pb, rows, nrows, NULL, 0,
                               &err))
    return fail(&err);
  free(rows);
  free(mask);
  free(px);
  free(stack);
  fmr_fft_cache_free(&plans);
  fmr_kspace_close(&ks);
  fmr_annotations_free(&ann);
  return 0;
}

/* The record would carry the NMSE; here it comes from the volume step's recon/<name>.h5. */
static double stored_nmse(const char *path) {
  double v = NAN;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return v;
  hid_t a = H5Aopen(f, "nmse_vs_stored", H5P_DEFAULT);
  if (a >= 0) {
    if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) v = NAN;
    H5Aclose(a);
  }
  H5Fclose(f);
  return v;
}

static int cmp_vol(const void *a, const void *b) {
  return strcmp(((const vol *)a)->name, ((const vol *)b)->name);
}

static int cmd_build(int argc, char **argv) {
  const char *out = argv[0], *csv = argv[1], *anatomy = argv[2], *reviewed = argv[5];
  int fud = atoi(argv[3]), flr = atoi(argv[4]), nvol = argc - 6, rc = 0;
  fmr_err err;
  fmr_err_clear(&err);
  fmr_annotations *ann = NULL;
  if (load_csv(csv, &ann, &err)) return fail(&err);
  vol *vols = calloc((size_t)nvol, sizeof *vols);
  fmr_dataset_volume_in *in = calloc((size_t)nvol, sizeof *in);
  size_t nvocab = fmr_annotations_vocab_size(ann);
  const char **vocab = calloc(nvocab + 1, sizeof *vocab);
  const char **names = calloc((size_t)nvol + 1, sizeof *names);
  for (size_t k = 0; k < nvocab; k++) vocab[k] = fmr_annotations_vocab(ann, k);
  for (int i = 0; i < nvol; i++) {
    const char *path = argv[6 + i];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(strlen(base) - 3), base);
    char list[4096];
    snprintf(list, sizeof list, ",%s,", reviewed);
    char key[260];
    snprintf(key, sizeof key, ",%s,", name);
    if (describe(path, anatomy, fud, flr, strstr(list, key) != NULL, NULL, &vols[i], &err))
      return fail(&err);
  }
  qsort(vols, (size_t)nvol, sizeof *vols, cmp_vol);
  size_t nrev = 0;
  for (int i = 0; i < nvol; i++) {
    snprintf(vols[i].file, sizeof vols[i].file, "%s/recon/%s.h5", out, vols[i].name);
    vols[i].attrs.name = vols[i].name; /* re-point after the sort */
    vols[i].attrs.input = vols[i].input;
    vols[i].attrs.acquisition = vols[i].acquisition;
    vols[i].attrs.series_uid = vols[i].uid;
    vols[i].attrs.nmse = stored_nmse(vols[i].file); /* as the volume step measured it */
    in[i].attrs = vols[i].attrs;
    in[i].file = vols[i].file;
    in[i].mask_pixel_bytes = vols[i].attrs.reviewed ? fmr_mask_pixel_bytes(nvocab) : 0;
    if (vols[i].attrs.reviewed) names[nrev++] = vols[i].name;
  }
  char dpath[PATH_MAX], bpath[PATH_MAX];
  snprintf(dpath, sizeof dpath, "%s/dataset.h5", out);
  snprintf(bpath, sizeof bpath, "%s/boxes.csv", out);
  fmr_dataset_input din = {.dataset_path = dpath, .boxes_path = bpath, .nvol = (size_t)nvol,
                           .vols = in, .nvocab = nvocab, .vocab = vocab, .anatomy = anatomy,
                           .tool_version = "test", .config_sha256 = "0"};
  rc = fmr_dataset_build(MPI_COMM_WORLD, &din, NULL, &err);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rc) {
    fprintf(stderr, "rank %d: %s\n", rank, err.msg);
  } else if (rank == 0) {
    char *text = NULL, path[PATH_MAX];
    snprintf(path, sizeof path, "%s/datalist.json", out);
    if (fmr_datalist_json(names, nrev, &text, &err) ||
        fmr_write_file_atomic(path, text, strlen(text), &err))
      rc = fail(&err);
    free(text);
  }
  free(names);
  free(vocab);
  free(in);
  free(vols);
  fmr_annotations_free(&ann);
  return rc ? 1 : 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rc = 2;
  if (argc == 9 && !strcmp(argv[1], "volume"))
    rc = cmd_volume(argv + 2);
  else if (argc >= 9 && !strcmp(argv[1], "build"))
    rc = cmd_build(argc - 2, argv + 2);
  else
    fprintf(stderr, "usage: see the top of tests/mpi/fmr_ml_tool.c\n");
  MPI_Finalize();
  return rc;
}
