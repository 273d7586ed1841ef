/* The per-volume pipeline called serially, with no MPI: a synthetic file through fmr_volume_run,
 * checked against the files on disk (sha256sum), one pixel against an independent double-precision
 * reconstruction read straight from the HDF5 file, reuse, warnings, a manifest without absolute
 * paths, and storage faults: a real full tmpfs (root) and the LD_PRELOAD shim (tests/shim). */
#pragma GCC diagnostic ignored "-Wformat-truncation" /* short mkdtemp paths */
#include <complex.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmr/input/config.h"
#include "fmr/labels/annotations.h"
#include "fmr/output/manifest.h"
#include "fmr/output/store.h"
#include "fmr/pipeline/volume.h"
#include "fmr/synth/synth.h"
#include "fmr/util/fsutil.h"
#include "fmr_test_fs.h"

#define VOL "file1000001"
enum { SLICES = 3, COILS = 2, KH = 64, KW = 48, FH = 32, FW = 32 };

static char base[256];

typedef struct setup {
  fmr_config cfg;
  fmr_annotations *ann;
  fmr_seg_codes *codes; /* loaded once per run by the plan; here by the test */
  char input[512], outdir[512];
} setup;

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static void make_input(void) {
  char path[600];
  fmr_synth_opts o;
  fmr_synth_defaults("knee", &o);
  o.slices = SLICES;
  o.coils = COILS;
  o.H = KH;
  o.W = KW;
  o.h = FH;
  o.w = FW;
  fmr_err err;
  snprintf(path, sizeof path, "%s/in", base);
  CHECK_INT_EQ(fmr_mkdirs(path, &err), 0);
  snprintf(path, sizeof path, "%s/in/" VOL ".h5", base);
  CHECK_INT_EQ(fmr_synth_volume(path, VOL, &o, &err), 0);
  snprintf(path, sizeof path, "%s/knee.csv", base);
  /* One box drawn, one clipped to the frame, one degenerate, one on a slice the volume lacks. */
  write_text(path, "file,slice,study_level,x,y,width,height,label\n"
                   VOL ",1,No,5,6,10,8,Meniscus Tear\n"
                   VOL ",2,No,28,4,10,6,Meniscus Tear\n"
                   VOL ",0,No,3,3,0,5,Bone-Fracture\n"
                   VOL ",9,No,3,3,4,5,Bone-Fracture\n"
                   VOL ",0,Yes,,,,,Artifact\n");
}

static int load(setup *s, const char *outdir) {
  char path[600], yaml[2048], *csv = NULL;
  size_t len = 0;
  fmr_err err;
  memset(s, 0, sizeof *s);
  snprintf(s->outdir, sizeof s->outdir, "%s", outdir);
  snprintf(s->input, sizeof s->input, "%s/in/" VOL ".h5", base);
  snprintf(yaml, sizeof yaml,
           "anatomy: knee\ninput:\n  dirs: [in]\n  annotations: knee.csv\n  all_files: true\n"
           "output:\n  dir: %s\n",
           outdir);
  snprintf(path, sizeof path, "%s/config.yaml", base);
  write_text(path, yaml);
  int rc = fmr_config_parse(path, yaml, strlen(yaml), &s->cfg, &err);
  CHECK_INT_EQ(rc, 0);
  if (rc) {
    fprintf(stderr, "%s\n", err.msg);
    return rc;
  }
  rc = fmr_read_file(s->cfg.annotations, 1 << 20, &csv, &len, &err);
  if (!rc) rc = fmr_annotations_parse(s->cfg.annotations, csv, len, &s->ann, &err);
  if (!rc) rc = fmr_seg_codes_load(s->cfg.seg_codes, &s->codes, &err);
  free(csv);
  CHECK_INT_EQ(rc, 0);
  return rc;
}

static void unload(setup *s) {
  fmr_seg_codes_free(&s->codes);
  fmr_annotations_free(&s->ann);
  fmr_config_free(&s->cfg);
}

static fmr_task task_of(setup *s, const char *key) {
  fmr_task t;
  memset(&t, 0, sizeof t);
  t.name = VOL;
  t.path = s->input;
  t.rel_path = VOL ".h5";
  t.reviewed = 1;
  snprintf(t.key, sizeof t.key, "%s", key);
  return t;
}

static int calls = 0;
static void count_call(void *ctx) {
  (void)ctx;
  calls++;
}

/* The independent reconstruction (SPEC 3, 4), in double precision straight from the file:
 * x = fftshift(ifft2(ifftshift(k))) / sqrt(H*W) per coil (even sizes: the kernel is
 * exp(2 pi i (u - N/2)(n - N/2) / N)), RSS over coils, centre crop, rows flipped (flip_up_down). */
static void reference(const char *path, double *img /* SLICES*FH*FW */) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, "kspace", H5P_DEFAULT);
  hid_t ct = H5Tcreate(H5T_COMPOUND, 2 * sizeof(float));
  H5Tinsert(ct, "r", 0, H5T_NATIVE_FLOAT);
  H5Tinsert(ct, "i", sizeof(float), H5T_NATIVE_FLOAT);
  size_t n = (size_t)SLICES * COILS * KH * KW;
  float *k = malloc(2 * n * sizeof *k);
  CHECK(H5Dread(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, k) >= 0);
  H5Tclose(ct);
  H5Dclose(d);
  H5Fclose(f);
  double complex *tmp = malloc((size_t)KH * KW * sizeof *tmp);
  double *acc = calloc((size_t)KH * KW, sizeof *acc);
  for (int s = 0; s < SLICES; s++) {
    memset(acc, 0, (size_t)KH * KW * sizeof *acc);
    for (int c = 0; c < COILS; c++) {
      const float *kc = k + 2 * (((size_t)s * COILS + c) * KH * KW);
      /* along columns (W), then rows (H) */
      for (int u = 0; u < KH; u++)
        for (int x = 0; x < KW; x++) {
          double complex sum = 0;
          for (int v = 0; v < KW; v++) {
            double complex kv = kc[2 * (u * KW + v)] + I * kc[2 * (u * KW + v) + 1];
            sum += kv * cexp(2 * M_PI * I * (double)(v - KW / 2) * (double)(x - KW / 2) / KW);
          }
          tmp[u * KW + x] = sum;
        }
      for (int y = 0; y < KH; y++)
        for (int x = 0; x < KW; x++) {
          double complex sum = 0;
          for (int u = 0; u < KH; u++)
            sum += tmp[u * KW + x] * cexp(2 * M_PI * I * (double)(u - KH / 2) * (double)(y - KH / 2) / KH);
          sum /= sqrt((double)KH * KW);
          acc[y * KW + x] += creal(sum) * creal(sum) + cimag(sum) * cimag(sum);
        }
    }
    for (int r = 0; r < FH; r++)
      for (int col = 0; col < FW; col++) {
        int y = (FH - 1 - r) + (KH - FH) / 2, x = col + (KW - FW) / 2;
        img[((size_t)s * FH + r) * FW + col] = sqrt(acc[y * KW + x]);
      }
  }
  free(acc);
  free(tmp);
  free(k);
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* numpy's linear-interpolation percentile. */
static double percentile(const double *v, size_t n, double q) {
  double *s = malloc(n * sizeof *s);
  memcpy(s, v, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_dbl);
  double pos = q / 100.0 * (double)(n - 1);
  size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
  double p = s[lo] + (s[hi] - s[lo]) * (pos - (double)lo);
  free(s);
  return p;
}

/* Last rows*cols*2 bytes of the file: the pixel data (Explicit VR LE, no trailing padding). */
static int dicom_pixel(const char *path, int r, int c) {
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (!f) return -1;
  fseek(f, -(long)(FH * FW * 2) + (long)((r * FW + c) * 2), SEEK_END);
  unsigned char b[2] = {0, 0};
  CHECK_UINT_EQ(fread(b, 1, 2, f), 2);
  fclose(f);
  return (int16_t)(b[0] | b[1] << 8);
}

/* Every string in j: none may be an absolute path or contain the test's base directory. */
static void no_absolute(const json_t *j, const char *where) {
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    if (s[0] == '/' || strstr(s, base) || strstr(s, " /tmp/"))
      FMR__FAIL("%s: absolute path in \"%s\"", where, s);
    fmr_test_checks++;
  } else if (json_is_array(j)) {
    for (size_t i = 0; i < json_array_size(j); i++) no_absolute(json_array_get(j, i), where);
  } else if (json_is_object(j)) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) no_absolute(v, where);
  }
}

static int has_warning(const fmr_record *r, const char *needle) {
  for (size_t i = 0; i < fmr_record_nwarnings(r); i++)
    if (strstr(fmr_record_warning(r, i), needle)) return 1;
  return 0;
}

static void test_volume(void) {
  char outdir[600], path[900];
  snprintf(outdir, sizeof outdir, "%s/out", base);
  setup s;
  if (load(&s, outdir)) return;
  fmr_volume_ctx *ctx = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_volume_ctx_new(&s.cfg, s.ann, s.codes, &ctx, &err), 0);
  fmr_task t = task_of(&s, "key-one");
  fmr_volume_hooks hooks = {count_call, NULL};
  fmr_record *r = NULL;
  int reused = -1;
  int rc = fmr_volume_run(ctx, &t, &hooks, &r, &reused, &err);
  CHECK_INT_EQ(rc, 0);
  if (rc || !r) {
    fprintf(stderr, "%s\n", err.msg);
    fmr_volume_ctx_free(&ctx);
    unload(&s);
    return;
  }
  if (r->error) fprintf(stderr, "record error: %s\n", r->error);
  CHECK_INT_EQ(fmr_record_status(r), FMR_STATUS_OK);
  CHECK_INT_EQ(reused, 0);
  CHECK_INT_EQ(calls, SLICES); /* between every slice */
  CHECK_UINT_EQ(r->slices, SLICES);
  CHECK_UINT_EQ(r->kspace_ndim, 4);
  CHECK_UINT_EQ(r->kspace_shape[1], COILS);
  CHECK_UINT_EQ(r->frame[0], FH);
  CHECK_UINT_EQ(r->frame[1], FW);
  CHECK_UINT_EQ(r->annotation.rows, 5);
  CHECK_UINT_EQ(r->annotation.degenerate, 1);
  CHECK_UINT_EQ(r->annotation.clipped, 1);
  CHECK_UINT_EQ(r->annotation.bad_slice, 1);
  CHECK_UINT_EQ(r->study_labels.n, 1);
  CHECK(has_warning(r, "degenerate"));
  CHECK(has_warning(r, "clipped"));
  CHECK(has_warning(r, "slices the volume does not have"));
  /* Outputs: 3 slices, the mask, the SEG, the sheet and recon/<v>.h5 (output.dataset and
   * output.boxes are on by default), each as on disk. */
  static const char *const kinds[] = {"dicom", "dicom", "dicom", "mask", "seg", "preview",
                                      "recon"};
  CHECK_UINT_EQ(fmr_record_noutputs(r), 7);
  for (size_t i = 0; i < fmr_record_noutputs(r) && i < 7; i++) {
    const fmr_output_file *o = fmr_record_output(r, i);
    CHECK_STR_EQ(o->kind, kinds[i]);
    snprintf(path, sizeof path, "%s/%s", outdir, o->path);
    struct stat sb;
    CHECK_INT_EQ(stat(path, &sb), 0);
    CHECK_UINT_EQ((uint64_t)sb.st_size, o->bytes);
    char sha[65];
    sha256sum(path, sha);
    CHECK_STR_EQ(o->sha256, sha);
  }
  CHECK_STR_EQ(fmr_record_output(r, 2)->path, "dicom/" VOL "/" VOL "_002.dcm");
  CHECK_INT_EQ(count_files(outdir, "*" FMR_TMP_SUFFIX), 0);
  snprintf(path, sizeof path, "%s/.fmr/records/" VOL ".json", outdir);
  struct stat sb;
  CHECK_INT_EQ(stat(path, &sb), 0);

  /* One pixel against the independent reconstruction and SPEC 5.1's scaling. */
  double *ref = malloc((size_t)SLICES * FH * FW * sizeof *ref);
  reference(s.input, ref);
  double p = percentile(ref, (size_t)SLICES * FH * FW, 99.9);
  CHECK_DBL_NEAR(r->p999, p, 1e-4 * p);
  float scale = (float)(1024.0 / p);
  int sl = 1, row = FH / 2, col = FW / 2 - 3;
  double want = (double)scale * ref[((size_t)sl * FH + row) * FW + col];
  want = want < 0 ? 0 : want > 4095 ? 4095 : want;
  snprintf(path, sizeof path, "%s/dicom/" VOL "/" VOL "_001.dcm", outdir);
  int got = dicom_pixel(path, row, col);
  CHECK(want >= 20.0); /* a pixel with a value, not background */
  CHECK(fabs((double)got - trunc(want)) <= 1.0);
  fprintf(stderr, "pixel (%d, %d, %d): %d, independent %.4f\n", sl, row, col, got, want);
  free(ref);

  /* Reuse under the same key: the same record, nothing rewritten. */
  fmr_record *again = NULL;
  calls = 0;
  CHECK_INT_EQ(fmr_volume_run(ctx, &t, &hooks, &again, &reused, &err), 0);
  CHECK_INT_EQ(reused, 1);
  CHECK_INT_EQ(calls, 0);
  char *a = fmr_record_encode(r), *b = again ? fmr_record_encode(again) : NULL;
  CHECK_STR_EQ(a, b);
  free(a);
  free(b);
  fmr_record_free(&again);
  /* Another key: redone. */
  fmr_task t2 = task_of(&s, "key-two");
  CHECK_INT_EQ(fmr_volume_run(ctx, &t2, NULL, &again, &reused, &err), 0);
  CHECK_INT_EQ(reused, 0);
  fmr_record_free(&again);

  /* Missing input: a record saying so. */
  fmr_task m = task_of(&s, "k");
  m.name = "file1000002";
  m.path = NULL;
  m.rel_path = NULL;
  m.lookup_error = "not found under input.dirs";
  fmr_record *mr = NULL;
  CHECK_INT_EQ(fmr_volume_run(ctx, &m, NULL, &mr, &reused, &err), 0);
  CHECK_INT_EQ(fmr_record_status(mr), FMR_STATUS_MISSING);

  /* The manifest: no absolute path anywhere (defect 2: CSV problems named the CSV's absolute
   * path), warnings counted in the totals. */
  fmr_record *recs[2] = {mr, r};
  fmr_run_inputs in = {.cfg = &s.cfg, .config_sha256 = "c", .annotations_sha256 = "a",
                       .ann = s.ann, .remaining = 0};
  CHECK_INT_EQ(fmr_manifest_write_records(&in, recs, 2, &err), 0);
  snprintf(path, sizeof path, "%s/manifest.json", outdir);
  json_t *man = json_load_file(path, 0, NULL);
  CHECK(man != NULL);
  no_absolute(man, "manifest");
  CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(man, "totals"), "warnings")),
               (json_int_t)fmr_record_nwarnings(r));
  json_t *vols = json_object_get(man, "volumes");
  CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(vols, 0), "name")), VOL);
  const char *problem =
      json_string_value(json_array_get(json_object_get(json_array_get(vols, 0), "annotation_problems"), 0));
  CHECK(problem && strstr(problem, "knee.csv:5:"));
  json_decref(man);
  /* No records at all: the manifest still writes (qsort got a NULL array here before). */
  CHECK_INT_EQ(fmr_manifest_write_records(&in, NULL, 0, &err), 0);

  fmr_record_free(&mr);
  fmr_record_free(&r);
  fmr_volume_ctx_free(&ctx);
  unload(&s);
}

/* Run a volume into outdir; report "rc msg", the temporaries and records left. */
static int child(const char *outdir) {
  setup s;
  if (load(&s, outdir)) return 3;
  fmr_volume_ctx *ctx = NULL;
  fmr_err err;
  fmr_err_clear(&err);
  int rc = fmr_volume_ctx_new(&s.cfg, s.ann, s.codes, &ctx, &err);
  fmr_record *r = NULL;
  int reused = 0;
  fmr_task t = task_of(&s, "key");
  if (!rc) rc = fmr_volume_run(ctx, &t, NULL, &r, &reused, &err);
  printf("rc=%d status=%s\nmsg=%s\n", rc, r ? fmr_record_status_name(r->status) : "none", err.msg);
  fmr_record_free(&r);
  fmr_volume_ctx_free(&ctx);
  unload(&s);
  return 0;
}

static void after_fault(const char *outdir, const char *out, const char *words) {
  char want[64];
  snprintf(want, sizeof want, "rc=%d ", FMR_ESTORAGE);
  if (!strstr(out, want)) FMR__FAIL("expected FMR_ESTORAGE, got:\n%s", out);
  if (!strstr(out, words)) FMR__FAIL("expected \"%s\" in:\n%s", words, out);
  if (!strstr(out, outdir)) FMR__FAIL("expected the path (%s) in:\n%s", outdir, out);
  fmr_test_checks += 3;
  CHECK_INT_EQ(count_files(outdir, "*" FMR_TMP_SUFFIX), 0);
  CHECK_INT_EQ(count_files(outdir, VOL ".json"), 0);
  CHECK_INT_EQ(count_files(outdir, VOL ".h5"), 0);
}

static void test_shim(const char *self) {
  static const struct {
    const char *op, *n, *errno_name, *words, *under; /* under: below the output folder */
  } cases[] = {
      {"write", "4", "EIO", "Input/output error", NULL},
      {"fsync", "3", "EDQUOT", "Disk quota exceeded", NULL},
      /* The DICOM folder's one fsync, after its SLICES files (the attempts marker's file and
       * folder come first): the volume still fails as a storage fault, nothing kept. */
      {"fsync", "6", "EIO", "Input/output error", NULL},
      {"rename", "5", "ENOSPC", "No space left on device", NULL},
      {"write", "1", "EROFS", "Read-only file system", NULL},
      /* The mask file's one write (HDF5 builds it in memory): the HDF5 lane's failure. */
      {"write", "1", "EIO", "Input/output error", "/masks/"},
      /* And the volume's dataset file's (recon/, export/dataset_vol.c), the same lane's next. */
      {"write", "1", "ENOSPC", "No space left on device", "/recon/"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char outdir[600], cmd[2048], out[4096];
    snprintf(outdir, sizeof outdir, "%s/shim%zu", base, i);
    const char *under = cases[i].under ? cases[i].under : "";
    snprintf(cmd, sizeof cmd,
             /* ASan (FMR_SANITIZE) wants its runtime first; the shim only wraps libc calls. */
             "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=1 "
             "LD_PRELOAD='%s' FMR_FAILIO_OP=%s FMR_FAILIO_N=%s FMR_FAILIO_ERRNO=%s "
             "FMR_FAILIO_UNDER='%s%s' '%s' --child '%s' '%s'",
             FMR_FAILIO_SHIM, cases[i].op, cases[i].n, cases[i].errno_name, outdir, under, self,
             base, outdir);
    CHECK_INT_EQ(run(cmd, out, sizeof out), 0);
    after_fault(outdir, out, cases[i].words);
  }
}

/* What is synced, in order: every output once, each output folder once after its last file (not
 * once per file: 36 DICOM files, one folder fsync), all of them before the volume's record. */
static void test_sync_order(const char *self) {
  char outdir[600], log[700], cmd[2048], out[4096];
  snprintf(outdir, sizeof outdir, "%s/syncs", base);
  snprintf(log, sizeof log, "%s/syncs.log", base);
  snprintf(cmd, sizeof cmd,
           "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 "
           "LD_PRELOAD='%s' FMR_FAILIO_OP=fsync FMR_FAILIO_N=0 FMR_FAILIO_LOG='%s' "
           "FMR_FAILIO_UNDER='%s' '%s' --child '%s' '%s'",
           FMR_FAILIO_SHIM, log, outdir, self, base, outdir);
  CHECK_INT_EQ(run(cmd, out, sizeof out), 0);
  CHECK(strstr(out, "rc=0 status=ok") != NULL);
  FILE *f = fopen(log, "r");
  CHECK(f != NULL);
  if (!f) return;
  char line[4096], dicom_dir[700], rec[700];
  snprintf(dicom_dir, sizeof dicom_dir, "%s/dicom/" VOL, outdir);
  snprintf(rec, sizeof rec, "%s/" FMR_STORE_STATE_DIR "/records/" VOL ".json" FMR_TMP_SUFFIX,
           outdir);
  char state[700]; /* the store's own files (attempt markers, records) are the volume thread's */
  snprintf(state, sizeof state, "%s/" FMR_STORE_STATE_DIR, outdir);
  int n = 0, dicom_files = 0, dicom_dir_at = -1, dicom_dir_syncs = 0, last_file_at = -1;
  int record_at = -1, folders = 0, last_folder_at = -1, outputs_on_main = 0, record_on_main = 0;
  const char *kinds[] = {"/masks", "/seg", "/preview", "/recon"};
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *tab = strchr(line, '\t');
    int on_main = tab && strcmp(tab + 1, "main") == 0;
    if (tab) *tab = '\0';
    if (strcmp(line, rec) == 0) record_on_main = on_main;
    else if (strncmp(line, state, strlen(state)) != 0) outputs_on_main += on_main;
    if (strcmp(line, dicom_dir) == 0) {
      dicom_dir_syncs++;
      dicom_dir_at = n;
    } else if (strncmp(line, dicom_dir, strlen(dicom_dir)) == 0) {
      dicom_files++;
      last_file_at = n;
    } else if (strcmp(line, rec) == 0) {
      record_at = n;
    }
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
      char d[700];
      snprintf(d, sizeof d, "%s%s", outdir, kinds[k]);
      if (strcmp(line, d) == 0) folders++, last_folder_at = n;
    }
    n++;
  }
  fclose(f);
  CHECK_INT_EQ(dicom_files, SLICES);
  CHECK_INT_EQ(dicom_dir_syncs, 1);
  CHECK(dicom_dir_at > last_file_at);
  CHECK_INT_EQ(folders, 4); /* masks, seg, preview, recon: once each */
  CHECK(record_at > dicom_dir_at && record_at > last_folder_at);
  /* The outputs are synced by the committer's thread while the writers go on; the record, which
   * waits for all of them, by the volume's own thread. */
  CHECK_INT_EQ(outputs_on_main, 0);
  CHECK_INT_EQ(record_on_main, 1);
}

static void test_full_disk(const char *self) {
  char mnt[600], cmd[2048], out[4096];
  snprintf(mnt, sizeof mnt, "%s/tmpfs", base);
  if (mount_tmpfs(mnt, "1m", "test_full_disk") != 0) return;
  /* Fill it but for a few pages, so the disk fills up part-way through the volume. */
  snprintf(cmd, sizeof cmd,
           "mkdir '%s/out' && dd if=/dev/zero of='%s/reserve' bs=4k count=3 2>/dev/null; "
           "dd if=/dev/zero of='%s/filler' bs=4k 2>/dev/null; rm '%s/reserve'",
           mnt, mnt, mnt, mnt);
  run(cmd, out, sizeof out);
  char outdir[700];
  snprintf(outdir, sizeof outdir, "%s/out", mnt);
  snprintf(cmd, sizeof cmd, "'%s' --child '%s' '%s'", self, base, outdir);
  CHECK_INT_EQ(run(cmd, out, sizeof out), 0);
  after_fault(outdir, out, "No space left on device");
  fprintf(stderr, "full disk: %s", out);
  snprintf(cmd, sizeof cmd, "umount '%s'", mnt);
  CHECK_INT_EQ(run(cmd, out, sizeof out), 0);
}

int main(int argc, char **argv) {
  (void)dump;
  if (argc == 4 && strcmp(argv[1], "--child") == 0) {
    snprintf(base, sizeof base, "%s", argv[2]);
    return child(argv[3]);
  }
  char self[512];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';
  snprintf(base, sizeof base, "/tmp/fmr-test-volume-XXXXXX");
  if (!mkdtemp(base)) return 1;
  make_input();
  test_volume();
  test_shim(self);
  test_sync_order(self);
  test_full_disk(self);
  char cmd[700], out[256];
  snprintf(cmd, sizeof cmd, "umount '%s/tmpfs' 2>/dev/null; rm -rf '%s'", base, base);
  run(cmd, out, sizeof out);
  return fmr_test_end();
}
