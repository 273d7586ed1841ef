/* DICOM MR image series (SPEC 5.2, issue 3): three-slice series for a knee-like, a brain-like and
 * a sparse header, checked by the standard's validators and the tools users run on them:
 *   dciodvfy (dicom3tools): no line starting "Error" on any file; warnings are printed;
 *   dcentvfy (dicom3tools): no inconsistency across a series;
 *   dcmdump  (dcmtk):       key attribute values;
 *   dcm2niix:               exactly one 3-D NIfTI, cols x rows x slices voxels of the header's
 *                           size, no warning.
 * These are Debian packages dicom3tools, dcmtk and dcm2niix; a missing tool fails the test. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmr/dicom/dicom.h"
#include "fmr_test.h"
#include "fmr_test_tools.h"

#define ROWS 40 /* deliberately not square: a rows/columns swap shows */
#define COLS 32
#define SLICES 3

/* ---- helpers ----------------------------------------------------------------------------------- */

static int tool_present(const char *tool) {
  char cmd[256], out[256];
  snprintf(cmd, sizeof cmd, "command -v %s", tool);
  if (run(cmd, out, sizeof out) == 0) return 1;
  FMR__FAIL("%s not found: install the Debian package that provides it (dicom3tools, dcmtk, "
            "dcm2niix)",
            tool);
  return 0;
}

/* Print each line of `out` starting with `prefix`; return how many there were. */
static int count_lines(const char *out, const char *prefix, const char *label) {
  int n = 0;
  size_t plen = strlen(prefix);
  for (const char *line = out; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len >= plen && strncmp(line, prefix, plen) == 0) {
      fprintf(stderr, "  %s: %.*s\n", label, (int)len, line);
      n++;
    }
    line += len + (end ? 1 : 0);
  }
  return n;
}

/* The dciodvfy warnings README "DICOM conformance" explains; any other warning fails the test. */
static const char *const known_warnings[] = {
    "Retired Person Name form", /* PatientName is exactly the volume name (SPEC 5.2) */
    "attribute <Laterality>",   /* knee: paired body part, side unknown to fastMRI */
    NULL};

static int count_unknown_warnings(const char *out, const char *label) {
  int n = 0;
  for (const char *line = out; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len >= 7 && strncmp(line, "Warning", 7) == 0) {
      int known = 0;
      for (int i = 0; known_warnings[i] && !known; i++) {
        const char *hit = strstr(line, known_warnings[i]);
        known = hit && hit < line + len;
      }
      if (!known) {
        fprintf(stderr, "  %s: unexpected %.*s\n", label, (int)len, line);
        n++;
      }
    }
    line += len + (end ? 1 : 0);
  }
  return n;
}

/* dcmdump prints "(gggg,eeee) VR [value]" or "(gggg,eeee) VR (no value available)". */
#define CHECK_DUMP(d, text)                                                        \
  do {                                                                             \
    fmr_test_checks++;                                                             \
    if (!strstr((d), (text))) FMR__FAIL("dcmdump lacks \"%s\"", (text));           \
  } while (0)
#define CHECK_NOT_DUMP(d, text)                                                    \
  do {                                                                             \
    fmr_test_checks++;                                                             \
    if (strstr((d), (text))) FMR__FAIL("dcmdump should not have \"%s\"", (text));  \
  } while (0)

static void absent_header(fmr_header *h) {
  memset(h, 0, sizeof *h);
  fmr_space none = {-1, -1, -1, NAN, NAN, NAN};
  h->encoded = h->recon = none;
  h->e1_min = h->e1_max = h->e1_center = h->receiver_channels = h->echo_train_length = -1;
  h->field_strength_t = h->h1_frequency_hz = NAN;
  h->tr_ms = h->te_ms = h->ti_ms = h->flip_angle_deg = h->echo_spacing_ms = NAN;
}

/* A fastMRI knee (Siemens Skyra, coronal PD turbo spin echo) as its ISMRMRD header reads. */
static void knee_header(fmr_header *h) {
  absent_header(h);
  h->encoded = (fmr_space){640, 368, 1, 280.0, 161.0, 3.0};
  h->recon = (fmr_space){320, 320, 1, 140.0, 140.0, 3.0};
  h->e1_min = 0, h->e1_max = 367, h->e1_center = 184;
  strcpy(h->measurement_id, "45160_24864282_24864291_1063");
  strcpy(h->patient_position, "FFS");
  strcpy(h->protocol_name, "COR PD FBK");
  strcpy(h->system_vendor, "SIEMENS");
  strcpy(h->system_model, "Skyra");
  h->field_strength_t = 2.89362;
  h->receiver_channels = 15;
  strcpy(h->institution_name, "NYU");
  h->h1_frequency_hz = 123251815;
  h->tr_ms = 2750, h->te_ms = 27, h->ti_ms = 100; /* TI present but not an IR protocol */
  h->flip_angle_deg = 140;
  h->echo_spacing_ms = 9.96;
  strcpy(h->sequence_type, "TurboSpinEcho");
}

/* A fastMRI brain (Siemens Aera 1.5 T, axial FLAIR). */
static void brain_header(fmr_header *h) {
  absent_header(h);
  h->encoded = (fmr_space){640, 320, 1, 440.0, 220.0, 5.0};
  h->recon = (fmr_space){320, 320, 1, 220.0, 220.0, 5.0};
  strcpy(h->measurement_id, "66027_0217211410_0217211419_3040");
  strcpy(h->patient_position, "HFS");
  strcpy(h->protocol_name, "AX FLAIR_FBB");
  strcpy(h->system_vendor, "SIEMENS");
  strcpy(h->system_model, "Aera");
  h->field_strength_t = 1.494;
  h->receiver_channels = 16;
  h->h1_frequency_hz = 63676408;
  h->tr_ms = 9000, h->te_ms = 81, h->ti_ms = 2500;
  h->flip_angle_deg = 150;
  strcpy(h->sequence_type, "TurboSpinEcho");
  h->echo_train_length = 16; /* as an ISMRMRD >= 1.4 converter writes it; fastMRI's lack it */
}

static void slice_pixels(size_t slice, int16_t *p) {
  for (size_t r = 0; r < ROWS; r++)
    for (size_t c = 0; c < COLS; c++)
      p[r * COLS + c] = (int16_t)((r * 37 + c * 11 + slice * 100) % 1025);
  p[0] = 0;
  p[1] = 1024;
}

static fmr_dicom_series series(const char *volume, const char *acq, const char *anatomy,
                               const fmr_header *h) {
  fmr_dicom_series s = {
      .volume = volume,
      .acquisition = acq,
      .anatomy = anatomy,
      .hdr = h,
      .uid_root = "2.25",
      .uid_namespace = "fastmri-regen-test",
      .date = "20200101",
      .time = "120000",
      .recon_source = "kspace",
      .undersampled = 0,
      .flip_ud = 1,
      .flip_lr = 0,
      .slices = SLICES,
      .rows = ROWS,
      .cols = COLS,
      .window_center = 1022.9020000000005,
      .window_width = 2045.804000000001,
      .tool_version = "0.1.0",
      .coils = 15,
  };
  return s;
}

static int read_file(const char *path, unsigned char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 1 << 16, n = 0;
  unsigned char *b = malloc(cap);
  size_t got;
  while ((got = fread(b + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) b = realloc(b, cap *= 2);
  }
  fclose(f);
  *data = b;
  *len = n;
  return 0;
}

/* ---- the series checks ------------------------------------------------------------------------- */

static int warnings_total = 0;

/* Write the series into dir/<volume>/ and run every validator over it. */
static void write_and_validate(const char *tmp, const fmr_dicom_series *s, double dx, double dy,
                               double dz) {
  char dir[512], path[SLICES][600], cmd[4096], out[1 << 16];
  fmr_err err;
  snprintf(dir, sizeof dir, "%s/%s", tmp, s->volume);
  CHECK_INT_EQ(mkdir(dir, 0755), 0);
  int16_t px[ROWS * COLS];
  for (size_t k = 0; k < SLICES; k++) {
    slice_pixels(k, px);
    snprintf(path[k], sizeof path[k], "%s/%s_%03zu.dcm", dir, s->volume, k);
    fmr_err_clear(&err);
    int rc = fmr_dicom_write_slice(s, k, px, path[k], &err);
    CHECK_INT_EQ(rc, 0);
    if (rc) {
      fprintf(stderr, "  %s\n", err.msg);
      return;
    }
  }

  /* dciodvfy: errors fail, warnings are listed. */
  for (size_t k = 0; k < SLICES; k++) {
    snprintf(cmd, sizeof cmd, "dciodvfy '%s'", path[k]);
    CHECK_INT_EQ(run(cmd, out, sizeof out), 0); /* non-zero when it finds errors */
    if (k == 0) fprintf(stderr, "dciodvfy %s:\n%s", path[k], out);
    char label[64];
    snprintf(label, sizeof label, "dciodvfy %s[%zu]", s->volume, k);
    int errors = count_lines(out, "Error", label);
    fmr_test_checks++;
    if (errors) FMR__FAIL("dciodvfy: %d errors in %s", errors, path[k]);
    warnings_total += count_lines(out, "Warning", label);
    int unknown = count_unknown_warnings(out, label);
    fmr_test_checks++;
    if (unknown) FMR__FAIL("dciodvfy: %d unexplained warnings in %s", unknown, path[k]);
  }

  /* dcentvfy over the series: entity-level attributes agree between the files. */
  snprintf(cmd, sizeof cmd, "dcentvfy '%s' '%s' '%s'", path[0], path[1], path[2]);
  CHECK_INT_EQ(run(cmd, out, sizeof out), 0);
  fprintf(stderr, "dcentvfy %s: %s\n", s->volume, out[0] ? out : "(no output)");
  fmr_test_checks++;
  if (strstr(out, "Error") || strstr(out, "nconsisten"))
    FMR__FAIL("dcentvfy reports inconsistencies in %s:\n%s", s->volume, out);

  /* dcm2niix: one volume, cols x rows x slices, the header's voxel size, no warning. */
  char nii_dir[600];
  snprintf(nii_dir, sizeof nii_dir, "%s/nii_%s", tmp, s->volume);
  CHECK_INT_EQ(mkdir(nii_dir, 0755), 0);
  snprintf(cmd, sizeof cmd, "dcm2niix -z n -b n -o '%s' -f out '%s'", nii_dir, dir);
  int st = run(cmd, out, sizeof out);
  fprintf(stderr, "dcm2niix %s:\n%s", s->volume, out);
  CHECK_INT_EQ(st, 0);
  /* Geometry must convert silently. Tolerated, because they are not about geometry and follow
   * from the source data: dcm2niix's Siemens slice-timing heuristic looks for the vendor's private
   * CSA header, which a regenerated image does not have ("Siemens MoCo? Bogus slice timing");
   * a header without protocol name or vendor gives "Empty protocol name" and "Unable to determine
   * manufacturer". */
  static const char *const tolerated[] = {"Warning: Siemens MoCo? Bogus slice timing",
                                          "Warning: Empty protocol name",
                                          "Warning: Unable to determine manufacturer"};
  int bad = 0;
  for (const char *line = out; *line;) {
    const char *end = strchr(line, '\n');
    size_t llen = end ? (size_t)(end - line) : strlen(line);
    int ok = 1;
    if (strstr(line, "Warning") == line || strstr(line, "Error") == line ||
        strstr(line, "Unable") == line || strstr(line, "check voxel size")) {
      ok = 0;
      for (size_t k = 0; k < sizeof tolerated / sizeof *tolerated; k++)
        if (strncmp(line, tolerated[k], strlen(tolerated[k])) == 0) ok = 1;
    }
    if (!ok) {
      fprintf(stderr, "  dcm2niix %s: %.*s\n", s->volume, (int)llen, line);
      bad++;
    }
    line += llen + (end ? 1 : 0);
  }
  fmr_test_checks++;
  if (bad) FMR__FAIL("dcm2niix: %d unexpected warnings for %s", bad, s->volume);
  int nii = 0;
  DIR *d = opendir(nii_dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)))
      if (strstr(e->d_name, ".nii")) nii++;
    closedir(d);
  }
  CHECK_INT_EQ(nii, 1);
  char nii_path[700];
  snprintf(nii_path, sizeof nii_path, "%s/out.nii", nii_dir);
  unsigned char *hdr = NULL;
  size_t len = 0;
  CHECK_INT_EQ(read_file(nii_path, &hdr, &len), 0);
  if (hdr && len >= 348) {
    int16_t dim[8];
    float pixdim[8];
    memcpy(dim, hdr + 40, sizeof dim);
    memcpy(pixdim, hdr + 76, sizeof pixdim);
    CHECK_INT_EQ(dim[0], 3);
    CHECK_INT_EQ(dim[1], COLS);
    CHECK_INT_EQ(dim[2], ROWS);
    CHECK_INT_EQ(dim[3], SLICES);
    CHECK_DBL_NEAR(pixdim[1], dy, 1e-5); /* NIfTI i runs along columns: column spacing */
    CHECK_DBL_NEAR(pixdim[2], dx, 1e-5);
    CHECK_DBL_NEAR(pixdim[3], dz, 1e-5);
  }
  free(hdr);
}

static void check_common(const char *d, const char *volume, size_t slice) {
  char line[256];
  CHECK_DUMP(d, "(0002,0010) UI =LittleEndianExplicit");
  CHECK_DUMP(d, "(0008,0016) UI =MRImageStorage");
  CHECK_DUMP(d, "(0002,0002) UI =MRImageStorage");
  snprintf(line, sizeof line, "(0010,0010) PN [%s]", volume); /* SPEC 5.2: exactly the name */
  CHECK_DUMP(d, line);
  snprintf(line, sizeof line, "(0010,0020) LO [%s]", volume);
  CHECK_DUMP(d, line);
  CHECK_DUMP(d, "(0010,0030) DA (no value available)");
  CHECK_DUMP(d, "(0010,0040) CS (no value available)");
  CHECK_DUMP(d, "(0012,0062) CS [YES]");
  snprintf(line, sizeof line, "(0020,0013) IS [%zu]", slice + 1);
  CHECK_DUMP(d, line);
  CHECK_DUMP(d, "(0028,0100) US 16");
  CHECK_DUMP(d, "(0028,0101) US 12");
  CHECK_DUMP(d, "(0028,0102) US 11");
  CHECK_DUMP(d, "(0028,0103) US 1");
  CHECK_DUMP(d, "(0028,0004) CS [MONOCHROME2]");
  CHECK_DUMP(d, "(0028,0010) US 40");
  CHECK_DUMP(d, "(0028,0011) US 32");
  CHECK_DUMP(d, "(0028,0106) SS 0");
  CHECK_DUMP(d, "(0028,0107) SS 1024");
  CHECK_DUMP(d, "(0028,1051) DS [2045.804]");
  CHECK_DUMP(d, "(0028,1050) DS [1022.902]");
  CHECK_DUMP(d, "(0008,0008) CS [DERIVED\\SECONDARY\\OTHER]");
  CHECK_DUMP(d, "(0008,0020) DA [20200101]");
  CHECK_NOT_DUMP(d, "(0028,0034)"); /* no PixelAspectRatio */

  /* MediaStorageSOPInstanceUID equals SOPInstanceUID, and both are the documented UID. */
  fmr_dicom_series s = {.volume = volume, .uid_root = "2.25", .uid_namespace = "fastmri-regen-test"};
  char uid[FMR_UID_MAX];
  fmr_err err;
  CHECK_INT_EQ(fmr_dicom_uid(&s, FMR_DICOM_UID_IMAGE, slice, uid, &err), 0);
  snprintf(line, sizeof line, "(0002,0003) UI [%s]", uid);
  CHECK_DUMP(d, line);
  snprintf(line, sizeof line, "(0008,0018) UI [%s]", uid);
  CHECK_DUMP(d, line);
  CHECK_INT_EQ(fmr_dicom_uid(&s, FMR_DICOM_UID_FRAME, 0, uid, &err), 0);
  snprintf(line, sizeof line, "(0020,0052) UI [%s]", uid);
  CHECK_DUMP(d, line);
}

static void test_knee(const char *tmp) {
  fmr_header h;
  knee_header(&h);
  fmr_dicom_series s = series("file1000001", "CORPD_FBK", "knee", &h);
  write_and_validate(tmp, &s, 0.4375, 0.4375, 3.0);
  char path[600];
  for (size_t k = 0; k < SLICES; k++) {
    snprintf(path, sizeof path, "%s/file1000001/file1000001_%03zu.dcm", tmp, k);
    const char *d = dump(path);
    check_common(d, "file1000001", k);
    if (k != 0) continue;
    CHECK_DUMP(d, "(0018,0084) DS [123.251815]");
    CHECK_DUMP(d, "(0018,0087) DS [2.89362]");
    CHECK_DUMP(d, "(0018,0080) DS [2750]");
    CHECK_DUMP(d, "(0018,0081) DS [27]");
    CHECK_NOT_DUMP(d, "(0018,0082)"); /* TI 100 in the header, but not inversion recovery */
    CHECK_DUMP(d, "(0018,0091) IS (no value available)"); /* no echoTrainLength: Type 2 empty */
    CHECK_DUMP(d, "(0018,1314) DS [140]");
    CHECK_DUMP(d, "(0018,0020) CS [SE]");
    CHECK_DUMP(d, "(0018,0021) CS [SK]");
    CHECK_DUMP(d, "(0018,0023) CS [2D]");
    CHECK_DUMP(d, "(0018,0024) SH [TurboSpinEcho]");
    CHECK_DUMP(d, "(0018,5100) CS [FFS]");
    CHECK_DUMP(d, "(0008,1030) LO [COR PD FBK]");
    CHECK_DUMP(d, "(0008,0070) LO [SIEMENS]");
    CHECK_DUMP(d, "(0008,1090) LO [Skyra]");
    CHECK_DUMP(d, "(0008,0080) LO [NYU]");
    CHECK_DUMP(d, "(0020,0010) SH [24864291_1063]");
    CHECK_DUMP(d, "(0012,0071) LO [45160_24864282_24864291_1063]");
    CHECK_DUMP(d, "(0028,0030) DS [0.4375\\0.4375]");
    CHECK_DUMP(d, "(0018,0050) DS [3]");
    CHECK_DUMP(d, "(0018,0088) DS [3]");
    CHECK_DUMP(d, "(0020,0037) DS [1\\0\\0\\0\\0\\-1]");
    /* slice 0 of 3: centre at -3 mm along +y; top-left pixel half the image away */
    CHECK_DUMP(d, "(0020,0032) DS [-6.78125\\-3\\8.53125]");
    CHECK_DUMP(d, "(0018,0015) CS [KNEE]");
  }
  snprintf(path, sizeof path, "%s/file1000001/file1000001_002.dcm", tmp);
  CHECK_DUMP(dump(path), "(0020,0032) DS [-6.78125\\3\\8.53125]");

  /* A fat-saturated knee says so in ScanOptions; an up/down-unflipped frame flips the column
   * direction but keeps the slice order. */
  s.acquisition = "CORPDFS_FBK";
  s.flip_ud = 0;
  snprintf(path, sizeof path, "%s/knee_fs.dcm", tmp);
  int16_t px[ROWS * COLS];
  slice_pixels(0, px);
  fmr_err err;
  CHECK_INT_EQ(fmr_dicom_write_slice(&s, 0, px, path, &err), 0);
  const char *d = dump(path);
  CHECK_DUMP(d, "(0018,0022) CS [FS]");
  CHECK_DUMP(d, "(0020,0037) DS [1\\0\\0\\0\\0\\1]");
  CHECK_DUMP(d, "(0020,0032) DS [-6.78125\\-3\\-8.53125]");
}

static void test_brain(const char *tmp) {
  fmr_header h;
  brain_header(&h);
  fmr_dicom_series s = series("file_brain_AXFLAIR_200_6002425", "AXFLAIR", "brain", &h);
  s.coils = 16;
  write_and_validate(tmp, &s, 0.6875, 0.6875, 5.0);
  char path[600];
  snprintf(path, sizeof path, "%s/%s/%s_001.dcm", tmp, s.volume, s.volume);
  const char *d = dump(path);
  check_common(d, s.volume, 1);
  CHECK_DUMP(d, "(0018,0084) DS [63.676408]");
  CHECK_DUMP(d, "(0018,0087) DS [1.494]");
  CHECK_DUMP(d, "(0018,0082) DS [2500]");
  CHECK_DUMP(d, "(0018,0091) IS [16]");
  CHECK_DUMP(d, "(0018,0020) CS [SE\\IR]");
  CHECK_DUMP(d, "(0018,0021) CS [SK\\MP]");
  CHECK_DUMP(d, "(0018,5100) CS [HFS]");
  CHECK_DUMP(d, "(0020,0037) DS [1\\0\\0\\0\\1\\0]");
  CHECK_DUMP(d, "(0020,0032) DS [-10.65625\\-13.40625\\0]");
  CHECK_DUMP(d, "(0028,0030) DS [0.6875\\0.6875]");
  CHECK_DUMP(d, "(0018,0050) DS [5]");
  CHECK_DUMP(d, "(0020,0010) SH [0217211419_3040]");
  CHECK_DUMP(d, "(0018,0015) CS [BRAIN]");
  CHECK_NOT_DUMP(d, "(0020,0060)"); /* no Laterality for an unpaired organ */
}

static void test_sparse(const char *tmp) {
  fmr_header h;
  absent_header(&h);
  fmr_dicom_series s = series("file_sparse", "", "knee", &h);
  s.recon_source = "reconstruction_rss";
  s.coils = 0;
  write_and_validate(tmp, &s, 1.0, 1.0, 1.0);
  char path[600];
  snprintf(path, sizeof path, "%s/file_sparse/file_sparse_000.dcm", tmp);
  const char *d = dump(path);
  check_common(d, "file_sparse", 0);
  CHECK_DUMP(d, "(0018,0020) CS [RM]");
  CHECK_DUMP(d, "(0018,0021) CS [NONE]");
  CHECK_DUMP(d, "(0018,0080) DS (no value available)");
  CHECK_DUMP(d, "(0018,0050) DS [1]"); /* nominal, like the rest of the geometry */
  CHECK_DUMP(d, "(0020,0010) SH [file_sparse]"); /* no measurementID: from the volume name */
  CHECK_DUMP(d, "(0008,0070) LO (no value available)");
  CHECK_NOT_DUMP(d, "(0018,0084)");
  CHECK_NOT_DUMP(d, "(0012,0071)");
  CHECK_DUMP(d, "(0020,0037) DS [1\\0\\0\\0\\0\\-1]"); /* knee anatomy: coronal */
  CHECK_DUMP(d, "1 mm assumed");

  /* No header at all behaves like the sparse one; single-coil, undersampled brain. */
  fmr_dicom_series n = series("file_noheader", "AXT2", "brain", NULL);
  n.coils = 1;
  n.undersampled = 1;
  write_and_validate(tmp, &n, 1.0, 1.0, 1.0);
}

static void test_determinism(const char *tmp) {
  fmr_header h;
  knee_header(&h);
  fmr_dicom_series s = series("file1000002", "CORPD_FBK", "knee", &h);
  int16_t px[ROWS * COLS];
  slice_pixels(1, px);
  char a[600], b[600];
  snprintf(a, sizeof a, "%s/det_a.dcm", tmp);
  snprintf(b, sizeof b, "%s/det_b.dcm", tmp);
  fmr_err err;
  CHECK_INT_EQ(fmr_dicom_write_slice(&s, 1, px, a, &err), 0);
  CHECK_INT_EQ(fmr_dicom_write_slice(&s, 1, px, b, &err), 0);
  unsigned char *da = NULL, *db = NULL;
  size_t la = 0, lb = 0;
  CHECK_INT_EQ(read_file(a, &da, &la), 0);
  CHECK_INT_EQ(read_file(b, &db, &lb), 0);
  CHECK_UINT_EQ(la, lb);
  CHECK(da && db && la == lb && memcmp(da, db, la) == 0);
  /* The pixels are stored as given. */
  CHECK(la > sizeof px && da && memcmp(da + la - sizeof px, px, sizeof px) == 0);
  free(da);
  free(db);

  /* Bad arguments fail cleanly with the volume named. */
  CHECK_INT_EQ(fmr_dicom_write_slice(&s, SLICES, px, a, &err), FMR_EINVAL);
  CHECK(strstr(err.msg, "file1000002") != NULL);
  s.date = "2020-01-01";
  CHECK_INT_EQ(fmr_dicom_write_slice(&s, 0, px, a, &err), FMR_EINVAL);
  s.date = "20200101";
  s.uid_root = "1.02";
  CHECK_INT_EQ(fmr_dicom_write_slice(&s, 0, px, a, &err), FMR_EINVAL);
  s.uid_root = "2.25";
  CHECK_INT_EQ(fmr_dicom_write_slice(&s, 0, px, "/nonexistent-dir/x.dcm", &err), FMR_EIO);
  CHECK(strstr(err.msg, "/nonexistent-dir/x.dcm") != NULL);
}

static void test_format_ds(void) {
  char ds[17];
  CHECK_INT_EQ(fmr_dicom_format_ds(123.251815, ds), 0);
  CHECK_STR_EQ(ds, "123.251815");
  CHECK_INT_EQ(fmr_dicom_format_ds(0.4375, ds), 0);
  CHECK_STR_EQ(ds, "0.4375");
  CHECK_INT_EQ(fmr_dicom_format_ds(1.0 / 3.0, ds), 0);
  CHECK_STR_EQ(ds, "0.33333333333333");
  CHECK_INT_EQ(fmr_dicom_format_ds(-1.0 / 3.0, ds), 0);
  CHECK_STR_EQ(ds, "-0.3333333333333");
  CHECK_INT_EQ(fmr_dicom_format_ds(2045.804000000001, ds), 0);
  CHECK_STR_EQ(ds, "2045.804");
  CHECK_INT_EQ(fmr_dicom_format_ds(123456789012345678.0, ds), 0);
  CHECK_STR_EQ(ds, "1.2345678901e+17");
  CHECK_INT_EQ(fmr_dicom_format_ds(1e-20 / 3.0, ds), 0);
  CHECK_STR_EQ(ds, "3.3333333333e-21");
  CHECK_INT_EQ(fmr_dicom_format_ds(-0.0, ds), 0);
  CHECK_STR_EQ(ds, "0");
  CHECK_INT_EQ(fmr_dicom_format_ds(-1e308, ds), 0);
  CHECK(strlen(ds) <= 16);
  CHECK_INT_EQ(fmr_dicom_format_ds(NAN, ds), FMR_ERANGE);
  CHECK_INT_EQ(fmr_dicom_format_ds(INFINITY, ds), FMR_ERANGE);
  CHECK_INT_EQ(fmr_dicom_format_ds(-25190233921700572.0, ds), 0); /* 17 digits + sign */
  CHECK_STR_EQ(ds, "-2.519023392e+16");
  CHECK_INT_EQ(fmr_dicom_format_ds(2750.0, ds), 0);
  CHECK_STR_EQ(ds, "2750");
  /* Every DS is at most 16 characters and keeps at least 9 significant digits (the worst case
   * is a negative number with a three-digit exponent: "-1.01595037e+101"). */
  double v = 1.234567890123e-7;
  for (int k = 0; k < 300; k++, v *= -7.3) {
    CHECK_INT_EQ(fmr_dicom_format_ds(v, ds), 0);
    CHECK(strlen(ds) <= 16);
    CHECK(fabs(strtod(ds, NULL) - v) <= fabs(v) * 5e-9);
  }
}

int main(void) {
  test_format_ds();
  int have = tool_present("dciodvfy") & tool_present("dcentvfy") & tool_present("dcmdump") &
             tool_present("dcm2niix");
  char tmp[] = "/tmp/fmr_test_dicom_XXXXXX";
  if (have && mkdtemp(tmp)) {
    test_knee(tmp);
    test_brain(tmp);
    test_sparse(tmp);
    test_determinism(tmp);
    fprintf(stderr, "dciodvfy warnings over all files: %d\n", warnings_total);
    char cmd[600], out[256];
    if (getenv("FMR_TEST_KEEP")) {
      fprintf(stderr, "kept %s\n", tmp);
    } else {
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
      (void)run(cmd, out, sizeof out);
    }
  }
  return fmr_test_end();
}
