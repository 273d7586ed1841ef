/* DICOM Segmentation (include/fmr/seg.h): the coded-concept table (built-in coverage of both real
 * vocabularies, parser errors), and a small SEG checked by the standard's validators and by
 * decoding its bits straight from the file:
 *   dciodvfy: no "Error" line; dcentvfy: the SEG and its images agree on patient/study/frame of
 *   reference; dcmdump: segments, frames, references, UIDs, dates; bytes identical on rerun. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fmr/labels/annotations.h"
#include "fmr/dicom/dicom.h"
#include "fmr/util/fsutil.h"
#include "fmr/labels/preview.h"
#include "fmr/dicom/seg.h"
#include "fmr_test.h"
#include "fmr_test_tools.h"

#define ROWS 40 /* not square: a rows/columns swap shows */
#define COLS 32
#define SLICES 5

/* ---- helpers ------------------------------------------------------------------------------- */

static int count_prefix(const char *out, const char *prefix) {
  int n = 0;
  size_t plen = strlen(prefix);
  for (const char *line = out; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len >= plen && !strncmp(line, prefix, plen)) {
      fprintf(stderr, "  %.*s\n", (int)len, line);
      n++;
    }
    line += len + (end ? 1 : 0);
  }
  return n;
}

#define CHECK_HAS(d, text)                                                         \
  do {                                                                             \
    fmr_test_checks++;                                                             \
    if (!strstr((d), (text))) FMR__FAIL("dump lacks \"%s\"", (text));              \
  } while (0)

static size_t count_str(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static int read_all(const char *path, unsigned char **data, size_t *len) {
  char *d = NULL;
  fmr_err err;
  if (fmr_read_file(path, 64u << 20, &d, len, &err)) return -1;
  *data = (unsigned char *)d;
  return 0;
}

/* ---- the coded-concept table ---------------------------------------------------------------- */

static fmr_annotations *load_csv(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/data/fastmri-plus/%s", FMR_SOURCE_DIR, name);
  char *data = NULL;
  size_t len = 0;
  fmr_err err;
  fmr_annotations *a = NULL;
  if (fmr_read_file(path, 64u << 20, &data, &len, &err) ||
      fmr_annotations_parse(path, data, len, &a, &err)) {
    FMR__FAIL("%s: %s", path, err.msg);
    a = NULL;
  }
  free(data);
  return a;
}

static void test_builtin_covers_both_vocabularies(void) {
  fmr_seg_codes *c = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_seg_codes_builtin(&c, &err), 0);
  if (!c) {
    fprintf(stderr, "%s\n", err.msg);
    return;
  }
  CHECK_UINT_EQ(strlen(fmr_seg_codes_sha256(c)), 64);
  const char *anat[2] = {"knee", "brain"}, *csv[2] = {"knee.csv", "brain.csv"};
  size_t expect[2] = {22, 30};
  for (int a = 0; a < 2; a++) {
    fmr_annotations *ann = load_csv(csv[a]);
    if (!ann) continue;
    CHECK_UINT_EQ(fmr_annotations_vocab_size(ann), expect[a]);
    for (size_t k = 0; k < fmr_annotations_vocab_size(ann); k++) {
      fmr_seg_concept cc;
      fmr_seg_codes_lookup(c, anat[a], fmr_annotations_vocab(ann, k), &cc);
      if (!cc.listed) FMR__FAIL("%s label \"%s\" is not in the table", anat[a],
                                fmr_annotations_vocab(ann, k));
      fmr_test_checks++;
      CHECK(cc.category.value && cc.category.value[0] && cc.type.meaning[0]);
    }
    fmr_annotations_free(&ann);
  }
  fmr_seg_concept cc;
  fmr_seg_codes_lookup(c, "knee", "Meniscus Tear", &cc);
  CHECK_STR_EQ(cc.type.value, "239720000");
  CHECK_STR_EQ(cc.type.meaning, "Tear of meniscus of knee");
  CHECK_STR_EQ(cc.category.value, "49755003");
  CHECK_STR_EQ(cc.basis, "exact");
  fmr_seg_codes_lookup(c, "brain", "Mass", &cc);
  CHECK_STR_EQ(cc.type.value, "4147007");
  CHECK_STR_EQ(cc.type.scheme, "SCT");
  fmr_seg_codes_lookup(c, "knee", "artifact", &cc);
  CHECK_STR_EQ(cc.category.meaning, "Physical object");
  /* Listed without a code: the generic fallback. */
  fmr_seg_codes_lookup(c, "knee", "Joint Bodies", &cc);
  CHECK_STR_EQ(cc.type.value, "52988006");
  CHECK_STR_EQ(cc.basis, "fallback");
  CHECK_INT_EQ(cc.listed, 1);
  /* Not listed at all, or listed for the other anatomy only. */
  fmr_seg_codes_lookup(c, "knee", "No such finding", &cc);
  CHECK_INT_EQ(cc.listed, 0);
  CHECK_STR_EQ(cc.basis, "fallback");
  CHECK_STR_EQ(cc.category.value, "49755003");
  fmr_seg_codes_lookup(c, "knee", "Mass", &cc);
  CHECK_INT_EQ(cc.listed, 0);
  fmr_seg_codes_free(&c);
  CHECK(c == NULL);
}

static void expect_parse_error(const char *text, const char *needle) {
  fmr_seg_codes *c = NULL;
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_seg_codes_parse("t.csv", text, strlen(text), &c, &err), FMR_ECONFIG);
  CHECK(c == NULL);
  if (!strstr(err.msg, needle)) FMR__FAIL("message \"%s\" lacks \"%s\"", err.msg, needle);
  fmr_test_checks++;
}

#define HDR "anatomy,label,category_value,category_scheme,category_meaning,type_value,type_scheme," \
            "type_meaning,basis,note\n"
#define FALLBACK "*,*,49755003,SCT,Morphologically Altered Structure,52988006,SCT,Lesion,fallback,\n"

static void test_parse(void) {
  /* Comments, CRLF, quoting with a comma and a doubled quote, a label for any anatomy. */
  const char *ok = "# comment\r\n" HDR "\r\n" FALLBACK
                   "*,\"Odd, \"\"quoted\"\" label\",1,SCT,Cat,2,SCT,\"Type, with comma\",broader,\r\n"
                   "brain,Mass,49755003,SCT,Morphologically Altered Structure,4147007,SCT,Mass,"
                   "exact,note\n";
  fmr_seg_codes *c = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_seg_codes_parse("t.csv", ok, strlen(ok), &c, &err), 0);
  if (c) {
    fmr_seg_concept cc;
    fmr_seg_codes_lookup(c, "knee", "Odd, \"quoted\" label", &cc);
    CHECK_INT_EQ(cc.listed, 1);
    CHECK_STR_EQ(cc.type.meaning, "Type, with comma");
    fmr_seg_codes_free(&c);
  }
  expect_parse_error(HDR "knee,Mass,,,,,,,fallback,\n", "t.csv: no fallback row");
  expect_parse_error(FALLBACK, "t.csv:1: header column 1");
  expect_parse_error(HDR FALLBACK "knee,X,1,SCT,,2,SCT,T,exact,\n", "t.csv:3: give all six");
  expect_parse_error(HDR FALLBACK "knee,X,,,,,,,exact,\n", "t.csv:3: a row without codes");
  expect_parse_error(HDR FALLBACK "knee,X,1,SCT,C,2,SCT,T,perhaps,\n", "t.csv:3: basis");
  expect_parse_error(HDR FALLBACK "foot,X,1,SCT,C,2,SCT,T,exact,\n", "t.csv:3: anatomy");
  expect_parse_error(HDR FALLBACK "knee,X,12345678901234567,SCT,C,2,SCT,T,exact,\n",
                     "t.csv:3: category_value");
  expect_parse_error(HDR FALLBACK "knee,X,1,SCT,C,2,SCT,a\\b,exact,\n", "t.csv:3: type_meaning");
  expect_parse_error(HDR FALLBACK "knee,X,1,SCT,C,2,SCT,T,exact\n", "t.csv:3: 9 fields");
  expect_parse_error(HDR FALLBACK "knee,\"X,1,SCT,C,2,SCT,T,exact,\n", "t.csv:3: bad quoting");
  expect_parse_error(HDR FALLBACK "knee,X,,,,,,,fallback,\nknee, X ,,,,,,,fallback,\n",
                     "t.csv:4: knee label \"X\" is listed twice");
  expect_parse_error(HDR "*,*,,,,,,,fallback,\n", "t.csv:2: the fallback row");
}

static void test_override_file(const char *tmp) {
  char path[512];
  snprintf(path, sizeof path, "%s/codes.csv", tmp);
  const char *text = HDR FALLBACK "knee,Meniscus Tear,1,99LOCAL,Local cat,2,99LOCAL,Local type,"
                                  "exact,\n";
  fmr_err err;
  CHECK_INT_EQ(fmr_write_file_atomic(path, text, strlen(text), &err), 0);
  fmr_seg_codes *c = NULL, *b = NULL;
  CHECK_INT_EQ(fmr_seg_codes_load(path, &c, &err), 0);
  CHECK_INT_EQ(fmr_seg_codes_load(NULL, &b, &err), 0);
  if (c && b) {
    fmr_seg_concept cc;
    fmr_seg_codes_lookup(c, "knee", "Meniscus Tear", &cc);
    CHECK_STR_EQ(cc.type.scheme, "99LOCAL");
    CHECK(strcmp(fmr_seg_codes_sha256(c), fmr_seg_codes_sha256(b)) != 0);
  }
  fmr_seg_codes_free(&c);
  fmr_seg_codes_free(&b);
  snprintf(path, sizeof path, "%s/missing.csv", tmp);
  CHECK(fmr_seg_codes_load(path, &c, &err) != 0);
  CHECK(strstr(err.msg, "missing.csv") != NULL);
}

/* ---- the Segmentation ----------------------------------------------------------------------- */

static void knee_header(fmr_header *h) {
  memset(h, 0, sizeof *h);
  h->encoded = (fmr_space){640, 368, 1, 280.0, 161.0, 3.0};
  h->recon = (fmr_space){320, 320, 1, 140.0, 140.0, 3.0};
  h->e1_min = h->e1_max = h->e1_center = h->receiver_channels = h->echo_train_length = -1;
  h->field_strength_t = h->h1_frequency_hz = NAN;
  h->tr_ms = h->te_ms = h->ti_ms = h->flip_angle_deg = h->echo_spacing_ms = NAN;
  strcpy(h->measurement_id, "45160_24864282_24864291_1063");
  strcpy(h->protocol_name, "COR PD FBK");
  strcpy(h->system_vendor, "SIEMENS");
}

static fmr_dicom_series series(const fmr_header *h) {
  fmr_dicom_series s = {
      .volume = "file1000001",
      .acquisition = "CORPD_FBK",
      .anatomy = "knee",
      .hdr = h,
      .uid_root = "2.25",
      .uid_namespace = "fastmri-regen-test",
      .date = "20200101",
      .time = "120000",
      .recon_source = "kspace",
      .flip_ud = 1,
      .slices = SLICES,
      .rows = ROWS,
      .cols = COLS,
      .window_center = 512,
      .window_width = 1024,
      .tool_version = "0.1.0",
  };
  return s;
}

/* The test mask: label 0 on slices 1 and 2, label 3 on slice 2 (overlapping label 0), label 5 on
 * slice 4 touching the last row and column; label 2 has no pixel. uint8 pixels, 8 labels. */
static void make_mask(uint8_t *m) {
  memset(m, 0, (size_t)SLICES * ROWS * COLS);
  for (int s = 1; s <= 2; s++)
    for (int r = 3; r < 9; r++)
      for (int c = 2; c < 12; c++) m[(s * ROWS + r) * COLS + c] |= 1u << 0;
  for (int r = 6; r < 20; r++)
    for (int c = 10; c < 15; c++) m[(2 * ROWS + r) * COLS + c] |= 1u << 3;
  for (int r = 30; r < ROWS; r++)
    for (int c = 25; c < COLS; c++) m[(4 * ROWS + r) * COLS + c] |= 1u << 5;
}

static const char *const VOCAB[8] = {"Alpha lesion", "Beta", "Gamma (absent)", "Delta\\tear",
                                     "Epsilon", "Meniscus Tear", "Eta", "Theta"};

static void test_seg(const char *tmp) {
  fmr_header h;
  knee_header(&h);
  fmr_dicom_series s = series(&h);
  uint8_t *mask = malloc((size_t)SLICES * ROWS * COLS);
  fmr_seg_codes *codes = NULL;
  fmr_err err;
  char path[512], path2[512], cmd[8192], out[1 << 16], uid[FMR_UID_MAX];
  if (!mask || fmr_seg_codes_builtin(&codes, &err)) {
    FMR__FAIL("setup");
    goto done;
  }
  make_mask(mask);
  fmr_seg_input in = {&s, mask, 1, 8, VOCAB, codes};
  CHECK_UINT_EQ(fmr_seg_count_segments(&in), 3);
  /* Counting needs no code table; writing does. */
  fmr_seg_input nocodes = in;
  nocodes.codes = NULL;
  CHECK_UINT_EQ(fmr_seg_count_segments(&nocodes), 3);
  snprintf(path, sizeof path, "%s/nocodes.dcm", tmp);
  CHECK_INT_EQ(fmr_seg_write(&nocodes, path, &err), FMR_EINVAL);

  snprintf(path, sizeof path, "%s/seg.dcm", tmp);
  snprintf(path2, sizeof path2, "%s/seg2.dcm", tmp);
  CHECK_INT_EQ(fmr_seg_write(&in, path, &err), 0);
  if (err.code) fprintf(stderr, "%s\n", err.msg);
  sleep(1); /* a wall-clock date or time anywhere would now differ */
  CHECK_INT_EQ(fmr_seg_write(&in, path2, &err), 0);
  unsigned char *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  if (!read_all(path, &a, &na) && !read_all(path2, &b, &nb)) {
    CHECK_UINT_EQ(na, nb);
    CHECK(na == nb && memcmp(a, b, na) == 0);
  }
  free(b);

  /* dciodvfy: no error; the one known warning is PatientName being exactly the volume name. */
  snprintf(cmd, sizeof cmd, "dciodvfy '%s'", path);
  run(cmd, out, sizeof out);
  CHECK_INT_EQ(count_prefix(out, "Error"), 0);
  CHECK_INT_EQ(count_prefix(out, "Warning") - (int)count_str(out, "Retired Person Name form"), 0);

  /* The images of the referenced slices, written by the image writer: dcentvfy must find the
   * SEG's patient, study and frame of reference identical to theirs. */
  int16_t px[ROWS * COLS];
  for (int i = 0; i < ROWS * COLS; i++) px[i] = (int16_t)(i % 1000);
  char imgs[1024] = "";
  for (size_t sl = 0; sl < SLICES; sl++) {
    char ip[512];
    snprintf(ip, sizeof ip, "%s/img%zu.dcm", tmp, sl);
    CHECK_INT_EQ(fmr_dicom_write_slice(&s, sl, px, ip, &err), 0);
    strcat(imgs, " '");
    strcat(imgs, ip);
    strcat(imgs, "'");
  }
  snprintf(cmd, sizeof cmd, "dcentvfy%s '%s'", imgs, path);
  CHECK_INT_EQ(run(cmd, out, sizeof out), 0);
  CHECK_INT_EQ(count_prefix(out, "Error") + count_prefix(out, "Warning"), 0);

  const char *d = dump(path);
  CHECK_HAS(d, "(0008,0016) UI =SegmentationStorage");
  CHECK_HAS(d, "(0062,0001) CS [BINARY]");
  CHECK_HAS(d, "(0028,0008) IS [4]"); /* label 0: slices 1, 2; label 3: slice 2; label 5: 4 */
  CHECK_HAS(d, "(0062,0005) LO [Alpha lesion]");
  CHECK_HAS(d, "(0062,0005) LO [Delta/tear]"); /* '\' is the value delimiter */
  CHECK_HAS(d, "(0062,0005) LO [Meniscus Tear]");
  CHECK(!strstr(d, "Gamma"));
  CHECK_UINT_EQ(count_str(d, "(0062,0004) US "), 3);
  CHECK_HAS(d, "(0062,0004) US 3");
  CHECK_HAS(d, "(0062,0008) CS [MANUAL]");
  CHECK_HAS(d, "(0008,0100) SH [239720000]"); /* Meniscus Tear: from the table */
  CHECK_HAS(d, "(0062,0013) CS [YES]");       /* labels 0 and 3 overlap on slice 2 */
  CHECK_HAS(d, "(0020,0011) IS [2]");
  CHECK_HAS(d, "(0008,0023) DA [20200101]");
  CHECK_HAS(d, "(0008,0033) TM [120000]");
  CHECK_HAS(d, "(0008,0012) DA [20200101]");
  CHECK_HAS(d, "(0070,0080) CS [FASTMRI_PLUS]");
  CHECK_HAS(d, "(0010,0020) LO [file1000001]");
  CHECK_HAS(d, "(0008,1030) LO [COR PD FBK]");
  CHECK_HAS(d, "(0018,0015) CS [KNEE]");
  /* No date of today anywhere (a time stamp dcmseg made itself). */
  char today[16];
  time_t now = time(NULL);
  struct tm tmv;
  gmtime_r(&now, &tmv);
  strftime(today, sizeof today, "[%Y%m%d]", &tmv);
  CHECK(!strstr(d, today));
  /* Frames in order: (segment 1, slice 1), (1, 2), (2, 2), (3, 4). */
  const char *p = d;
  const char *want[4] = {"UL 1\\2", "UL 1\\3", "UL 2\\3", "UL 3\\5"};
  for (int f = 0; f < 4; f++) {
    p = strstr(p, "(0020,9157) ");
    fmr_test_checks++;
    if (!p || strncmp(p + 12, want[f], strlen(want[f]))) {
      FMR__FAIL("frame %d DimensionIndexValues: want %s", f, want[f]);
      break;
    }
    p++;
  }
  /* UIDs: the roles of fmr_dicom_uid, shared with the images. */
  char line[256];
  CHECK_INT_EQ(fmr_dicom_uid(&s, FMR_DICOM_UID_SEG_INSTANCE, 0, uid, &err), 0);
  snprintf(line, sizeof line, "(0008,0018) UI [%s]", uid);
  CHECK_HAS(d, line);
  snprintf(line, sizeof line, "(0002,0003) UI [%s]", uid);
  CHECK_HAS(d, line);
  CHECK_INT_EQ(fmr_dicom_uid(&s, FMR_DICOM_UID_SEG_SERIES, 0, uid, &err), 0);
  snprintf(line, sizeof line, "(0020,000e) UI [%s]", uid);
  CHECK_HAS(d, line);
  CHECK_INT_EQ(fmr_dicom_uid(&s, FMR_DICOM_UID_FRAME, 0, uid, &err), 0);
  snprintf(line, sizeof line, "(0020,0052) UI [%s]", uid);
  CHECK_HAS(d, line);
  CHECK_INT_EQ(fmr_dicom_uid(&s, FMR_DICOM_UID_SEG_DIMENSIONS, 0, uid, &err), 0);
  snprintf(line, sizeof line, "(0020,9164) UI [%s]", uid);
  CHECK_HAS(d, line);
  CHECK_INT_EQ(fmr_dicom_uid(&s, FMR_DICOM_UID_SERIES, 0, uid, &err), 0);
  snprintf(line, sizeof line, "UI [%s]", uid); /* ReferencedSeriesSequence */
  CHECK_HAS(d, line);
  for (size_t sl = 0; sl < SLICES; sl++) {
    CHECK_INT_EQ(fmr_dicom_uid(&s, FMR_DICOM_UID_IMAGE, sl, uid, &err), 0);
    snprintf(line, sizeof line, "(0008,1155) UI [%s]", uid);
    /* slice 2 is referenced by two frames and once in the Common Instance Reference */
    size_t want_n = sl == 1 || sl == 4 ? 2 : sl == 2 ? 3 : 0;
    CHECK_UINT_EQ(count_str(d, line), want_n);
  }
  /* Geometry: exactly the image writer's strings. */
  snprintf(cmd, sizeof cmd, "dcmdump +P 0020,0032 +P 0020,0037 +P 0028,0030 '%s/img4.dcm'", tmp);
  run(cmd, out, sizeof out);
  for (char *ln = strtok(out, "\n"); ln; ln = strtok(NULL, "\n")) {
    char *q = strstr(ln, "DS [");
    char *e = q ? strchr(q, ']') : NULL;
    if (!e) continue;
    e[1] = '\0';
    CHECK_HAS(d, q);
  }

  /* The bits, decoded from the file: Pixel Data is its last element, frames packed back to back,
   * pixel i of the object in bit i % 8 of byte i / 8 (PS3.5 8.1.1). */
  size_t plane = ROWS * COLS, nbytes = (4 * plane + 7) / 8;
  if (a && na > nbytes) {
    const unsigned char *pix = a + na - nbytes;
    int frame_slice[4] = {1, 2, 2, 4}, frame_bit[4] = {0, 0, 3, 5};
    size_t bad = 0;
    for (int f = 0; f < 4; f++)
      for (size_t i = 0; i < plane; i++) {
        size_t bit = (size_t)f * plane + i;
        int got = (pix[bit / 8] >> (bit % 8)) & 1;
        int want_bit = (mask[(size_t)frame_slice[f] * plane + i] >> frame_bit[f]) & 1;
        bad += got != want_bit;
      }
    CHECK_UINT_EQ(bad, 0);
  }
  free(a);

  /* RecommendedDisplayCIELabValue of label 0 is the palette's pure red: CIE L*a*b* (D50)
   * 54.29, 80.80, 69.89, scaled onto 0..65535 (PS3.3 C.10.7.1.1). */
  uint8_t rgb[3];
  fmr_preview_colour(0, rgb);
  CHECK(rgb[0] == 255 && rgb[1] == 0 && rgb[2] == 0);
  p = strstr(d, "(0062,000d) US ");
  unsigned L = 0, A = 0, B = 0;
  CHECK(p && sscanf(p + 15, "%u\\%u\\%u", &L, &A, &B) == 3);
  CHECK_DBL_NEAR(L * 100.0 / 65535.0, 54.29, 0.1);
  CHECK_DBL_NEAR(A * 255.0 / 65535.0 - 128.0, 80.80, 0.2);
  CHECK_DBL_NEAR(B * 255.0 / 65535.0 - 128.0, 69.89, 0.2);

  /* An empty mask gets no SEG. */
  memset(mask, 0, (size_t)SLICES * ROWS * COLS);
  CHECK_UINT_EQ(fmr_seg_count_segments(&in), 0);
  snprintf(path, sizeof path, "%s/empty.dcm", tmp);
  CHECK_INT_EQ(fmr_seg_write(&in, path, &err), FMR_EINVAL);
  CHECK(strstr(err.msg, "file1000001") != NULL);
  /* Labels beyond the pixel's bits are refused. */
  in.nvocab = 9;
  CHECK_INT_EQ(fmr_seg_write(&in, path, &err), FMR_EINVAL);

done:
  fmr_seg_codes_free(&codes);
  free(mask);
}

static void test_geometry_matches_writer(void) {
  fmr_header h;
  knee_header(&h);
  fmr_dicom_series s = series(&h);
  fmr_dicom_geometry g0, g4;
  fmr_err err;
  CHECK_INT_EQ(fmr_dicom_geometry_of(&s, 0, &g0, &err), 0);
  CHECK_INT_EQ(fmr_dicom_geometry_of(&s, 4, &g4, &err), 0);
  CHECK_INT_EQ(fmr_dicom_geometry_of(&s, 5, &g4, &err), FMR_EINVAL);
  CHECK_DBL_EQ(g0.pixel_spacing[0], 140.0 / 320.0);
  CHECK_DBL_EQ(g0.slice_thickness, 3.0);
  /* Consecutive slices 3 mm apart along the normal of the orientation. */
  double r[3] = {g0.orientation[0], g0.orientation[1], g0.orientation[2]};
  double c[3] = {g0.orientation[3], g0.orientation[4], g0.orientation[5]};
  double n[3] = {r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]};
  double step = 0;
  for (int k = 0; k < 3; k++) step += (g4.position[k] - g0.position[k]) * n[k];
  CHECK_DBL_NEAR(fabs(step), 12.0, 1e-9);
  CHECK_DBL_NEAR(g4.slice_location - g0.slice_location, 12.0, 1e-9);
}

int main(void) {
  test_builtin_covers_both_vocabularies();
  test_parse();
  test_geometry_matches_writer();
  char tmp[] = "/tmp/fmr-test-seg-XXXXXX";
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  test_override_file(tmp);
  char out[256];
  if (run("command -v dciodvfy && command -v dcentvfy && command -v dcmdump", out,
          sizeof out) != 0)
    FMR__FAIL("dciodvfy, dcentvfy or dcmdump not found: install dicom3tools and dcmtk");
  else
    test_seg(tmp);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return fmr_test_end();
}
