/* fastMRI+ annotation CSV parsing and rasterizing (SPEC 2.2, 6). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmr/labels/annotations.h"
#include "fmr/util/fsutil.h"
#include "fmr_test.h"

#define HEADER "file,slice,study_level,x,y,width,height,label\n"

static fmr_annotations *parse_str(const char *csv) {
  fmr_annotations *a = NULL;
  fmr_err err;
  fmr_err_clear(&err);
  int rc = fmr_annotations_parse("t.csv", csv, strlen(csv), &a, &err);
  CHECK_INT_EQ(rc, 0);
  if (rc) fprintf(stderr, "  parse: %s\n", err.msg);
  return a;
}

static const char *vocab_of(const fmr_annotations *a, int k) {
  return fmr_annotations_vocab(a, (size_t)k);
}

static void test_quoting_crlf_bom(void) {
  const char *csv =
      "\xEF\xBB\xBF"
      "file,slice,study_level,x,y,width,height,label\r\n"
      "vol1,0,No,1,2,3,4,\"Lesion, bone\"\r\n"
      "\"vol1\",1,no,1,2,3,4,\"say \"\"hi\"\"\"\r\n"
      "vol2,2,No,1,2,3,4,\"two\r\nlines\"\r\n"
      "vol2,3,NO,5,6,7,8,after\r\n"
      "\r\n"
      "vol3,0,YES,,,,,Study thing\r\n"
      "vol3,4,No,\"9\",10,11,12,after";
  fmr_annotations *a = parse_str(csv);
  if (!a) return;
  fmr_annotation_totals t;
  fmr_annotations_totals(a, &t);
  CHECK_UINT_EQ(t.rows, 6);
  CHECK_UINT_EQ(t.volumes, 3);
  CHECK_UINT_EQ(t.boxes, 5);
  CHECK_UINT_EQ(t.study_level, 1);
  CHECK_UINT_EQ(t.malformed, 0);
  CHECK_UINT_EQ(fmr_annotations_vocab_size(a), 5);
  const fmr_volume_annotations *v1 = fmr_annotations_find(a, "vol1");
  const fmr_volume_annotations *v2 = fmr_annotations_find(a, "vol2");
  const fmr_volume_annotations *v3 = fmr_annotations_find(a, "vol3");
  CHECK(v1 && v2 && v3);
  CHECK(fmr_annotations_find(a, "vol4") == NULL);
  if (!v1 || !v2 || !v3) goto done;
  CHECK_UINT_EQ(v1->nboxes, 2);
  CHECK_STR_EQ(vocab_of(a, v1->boxes[0].label), "Lesion, bone");
  CHECK_STR_EQ(vocab_of(a, v1->boxes[1].label), "say \"hi\"");
  CHECK_UINT_EQ(v1->boxes[0].line, 2);
  CHECK_UINT_EQ(v1->boxes[1].line, 3);
  CHECK_UINT_EQ(v2->nboxes, 2);
  CHECK_STR_EQ(vocab_of(a, v2->boxes[0].label), "two\r\nlines");
  CHECK_UINT_EQ(v2->boxes[0].line, 4);
  CHECK_UINT_EQ(v2->boxes[1].line, 6); /* the quoted line break counts as a line */
  CHECK_INT_EQ(v2->boxes[1].slice, 3);
  CHECK_INT_EQ(v2->boxes[1].x, 5);
  CHECK_INT_EQ(v2->boxes[1].y, 6);
  CHECK_INT_EQ(v2->boxes[1].width, 7);
  CHECK_INT_EQ(v2->boxes[1].height, 8);
  CHECK_UINT_EQ(v3->nboxes, 1);
  CHECK_UINT_EQ(v3->nstudy, 1);
  CHECK_UINT_EQ(v3->study_rows, 1);
  CHECK_STR_EQ(vocab_of(a, v3->study_labels[0]), "Study thing");
  CHECK_UINT_EQ(v3->boxes[0].line, 9); /* after a blank line */
  CHECK_INT_EQ(v3->boxes[0].x, 9);
  CHECK_STR_EQ(v3->csv, "t.csv");
  /* Volumes are listed sorted. */
  CHECK_UINT_EQ(fmr_annotations_nvolumes(a), 3);
  CHECK_STR_EQ(fmr_annotations_volume(a, 0)->name, "vol1");
  CHECK_STR_EQ(fmr_annotations_volume(a, 2)->name, "vol3");
  CHECK(fmr_annotations_volume(a, 3) == NULL);
done:
  fmr_annotations_free(&a);
  CHECK(a == NULL);
}

/* Every malformed row is reported with file:line, and the rows around it are still read. */
static void test_malformed(void) {
  const char *csv = HEADER
      "vol1,0,No,1,2,3,4,ok\n"                    /* 2 */
      "vol1,0,No,1,2,3,ok\n"                      /* 3: 7 fields */
      "vol1,0,No,1,2,3,4,a,b\n"                   /* 4: 9 fields */
      "vol1,0,No,1.5,2,3,4,ok\n"                  /* 5: x not an integer */
      "vol1,0,No,1,2, 3,4,ok\n"                   /* 6: width with a space */
      "vol1,-1,No,1,2,3,4,ok\n"                   /* 7: negative slice */
      "vol1,x,No,1,2,3,4,ok\n"                    /* 8: slice not an integer */
      "vol1,0,Maybe,1,2,3,4,ok\n"                 /* 9: study_level */
      "vol1,0,No,1,2,3,4,   \n"                   /* 10: empty label */
      "../x,0,No,1,2,3,4,ok\n"                    /* 11: invalid name */
      "a/b,0,No,1,2,3,4,ok\n"                     /* 12: invalid name */
      "vol1,0,No,1,2,3,4,bad\"quote\n"            /* 13: quote in an unquoted field */
      "vol1,0,No,1,2,3,4,\"closed\"x\n"           /* 14: text after a closing quote */
      "vol1,0,No,,2,3,4,ok\n"                     /* 15: empty x */
      "vol1,0,No,1,2,3,99999999999,ok\n"          /* 16: out of range */
      "\"v\x01\",0,No,1,2,3,4,ok\n"               /* 17: control character in the name */
      "vol1,3,No,1,2,3,4,ok\n"                    /* 18: fine */
      "vol1,4,No,1,2,3,4,\"never closed\n"        /* 19: unterminated quote */
      "vol1,5,No,1,2,3,4,ok\n"                    /* 20: read again after the stray quote */
      " vol1,0,No,1,2,3,4,ok\n";                  /* 21: a name with a space in front */
  fmr_annotations *a = parse_str(csv);
  if (!a) return;
  static const char *const want[] = {
      "t.csv:3: expected 8 fields, got 7",
      "t.csv:4: expected 8 fields, got 9",
      "t.csv:5: x: not an integer \"1.5\"",
      "t.csv:6: width: not an integer \" 3\"",
      "t.csv:7: slice: negative \"-1\"",
      "t.csv:8: slice: not an integer \"x\"",
      "t.csv:9: study_level: expected Yes or No, got \"Maybe\"",
      "t.csv:10: label: empty",
      "t.csv:11: file: invalid volume name \"../x\"",
      "t.csv:12: file: invalid volume name \"a/b\"",
      "t.csv:13: bad quoting: quote inside an unquoted field on line 13",
      "t.csv:14: bad quoting: character after a closing quote on line 14",
      "t.csv:15: x: not an integer \"\"",
      "t.csv:16: height: out of range \"99999999999\"",
      "t.csv:17: file: invalid volume name \"v\\x01\"",
      "t.csv:19: bad quoting: quoted field opened on line 19 is never closed",
      "t.csv:21: file: invalid volume name \" vol1\"",
  };
  size_t nwant = sizeof want / sizeof want[0];
  CHECK_UINT_EQ(fmr_annotations_nproblems_all(a), nwant);
  for (size_t i = 0; i < nwant && i < fmr_annotations_nproblems_all(a); i++)
    CHECK_STR_EQ(fmr_annotations_problem_all(a, i), want[i]);
  fmr_annotation_totals t;
  fmr_annotations_totals(a, &t);
  CHECK_UINT_EQ(t.rows, 20);
  CHECK_UINT_EQ(t.malformed, nwant);
  CHECK_UINT_EQ(t.boxes, 3);
  CHECK_UINT_EQ(t.volumes, 1);
  /* Rows that cannot be tied to a volume are the CSV's own problems. */
  CHECK_UINT_EQ(fmr_annotations_nproblems(a), 9);
  CHECK_STR_EQ(fmr_annotations_problem(a, 0), want[0]);
  const fmr_volume_annotations *v = fmr_annotations_find(a, "vol1");
  CHECK(v != NULL);
  if (v) {
    CHECK_UINT_EQ(v->nproblems, 8);
    CHECK_STR_EQ(v->problems[0], "t.csv:5: x: not an integer \"1.5\"");
    CHECK_UINT_EQ(v->nboxes, 3);
    CHECK_UINT_EQ(v->rows, v->nboxes + v->study_rows + v->duplicates + v->nproblems);
    if (v->nboxes == 3) {
      CHECK_UINT_EQ(v->boxes[1].line, 18);
      CHECK_UINT_EQ(v->boxes[2].line, 20);
      CHECK_INT_EQ(v->boxes[2].slice, 5);
    }
  }
  CHECK(fmr_annotations_find(a, "../x") == NULL);
  fmr_annotations_free(&a);
}

static void test_header(void) {
  fmr_annotations *a = NULL;
  fmr_err err;
  const char *bad = "file,slice,study,x,y,width,height,label\nvol1,0,No,1,2,3,4,ok\n";
  CHECK_INT_EQ(fmr_annotations_parse("h.csv", bad, strlen(bad), &a, &err), FMR_ECSV);
  CHECK(a == NULL);
  CHECK(strncmp(err.msg, "h.csv:1: ", 9) == 0);
  CHECK_INT_EQ(fmr_annotations_parse("h.csv", "", 0, &a, &err), FMR_ECSV);
  CHECK(strncmp(err.msg, "h.csv:1: ", 9) == 0);
  const char *spaced = "file, slice,study_level,x,y,width,height,label\n";
  CHECK_INT_EQ(fmr_annotations_parse("h.csv", spaced, strlen(spaced), &a, &err), FMR_ECSV);
  /* Header only: a valid, empty CSV. */
  const char *only = "\xEF\xBB\xBF" "file,slice,study_level,x,y,width,height,label";
  CHECK_INT_EQ(fmr_annotations_parse("h.csv", only, strlen(only), &a, &err), 0);
  CHECK_UINT_EQ(fmr_annotations_nvolumes(a), 0);
  CHECK(fmr_annotations_find(a, "vol1") == NULL);
  fmr_annotations_free(&a);
}

static void test_trim_duplicates_vocab(void) {
  const char *csv = HEADER
      "vol1,0,No,1,2,3,4,Joint Effusion \n"
      "vol1,0,No,1,2,3,4,Joint Effusion\n"   /* not a duplicate: the raw label differs */
      "vol1,0,No,1,2,3,4,Joint Effusion \n"  /* exact duplicate of line 2 */
      "vol1,1,No,1,2,3,4,artifact\n"
      "vol1,1,No,1,2,3,4,Soft Tissue Lesion\n"
      "vol2,0,Yes,,,,,Zebra\n"
      "vol2,0,Yes,,,,,Zebra\n"               /* duplicate study-level row */
      "vol2,0,Yes,,,,, Alpha\n"
      "vol2,0,yes,,,,,Zebra \n"              /* same label again, different raw row */
      "vol2,1,No,0,0,5,0,Soft Tissue Lesion\n"; /* degenerate */
  fmr_annotations *a = parse_str(csv);
  if (!a) return;
  /* Bytewise order: uppercase before lowercase, study-level labels included. */
  static const char *const vocab[] = {"Alpha", "Joint Effusion", "Soft Tissue Lesion", "Zebra",
                                      "artifact"};
  CHECK_UINT_EQ(fmr_annotations_vocab_size(a), 5);
  for (size_t k = 0; k < 5; k++) CHECK_STR_EQ(fmr_annotations_vocab(a, k), vocab[k]);
  CHECK(fmr_annotations_vocab(a, 5) == NULL);
  fmr_annotation_totals t;
  fmr_annotations_totals(a, &t);
  CHECK_UINT_EQ(t.rows, 10);
  CHECK_UINT_EQ(t.duplicates, 2);
  CHECK_UINT_EQ(t.trimmed, 4);
  CHECK_UINT_EQ(t.boxes, 5);
  CHECK_UINT_EQ(t.study_level, 3);
  CHECK_UINT_EQ(t.degenerate, 1);
  const fmr_volume_annotations *v1 = fmr_annotations_find(a, "vol1");
  const fmr_volume_annotations *v2 = fmr_annotations_find(a, "vol2");
  if (v1 && v2) {
    CHECK_UINT_EQ(v1->rows, 5);
    CHECK_UINT_EQ(v1->nboxes, 4);
    CHECK_UINT_EQ(v1->duplicates, 1);
    CHECK_UINT_EQ(v1->trimmed, 2);
    CHECK_INT_EQ(v1->boxes[0].label, 1);
    CHECK_INT_EQ(v1->boxes[1].label, 1);
    CHECK_INT_EQ(v1->boxes[2].label, 4);
    CHECK_INT_EQ(v1->boxes[3].label, 2);
    CHECK_UINT_EQ(v1->boxes[2].line, 5);
    CHECK_UINT_EQ(v2->rows, 5);
    CHECK_UINT_EQ(v2->duplicates, 1);
    CHECK_UINT_EQ(v2->study_rows, 3);
    CHECK_UINT_EQ(v2->nstudy, 2); /* unique, sorted */
    CHECK_INT_EQ(v2->study_labels[0], 0);
    CHECK_INT_EQ(v2->study_labels[1], 3);
    CHECK_UINT_EQ(v2->degenerate, 1);
  } else {
    CHECK(!"vol1 and vol2 present");
  }
  fmr_annotations_free(&a);
}

typedef struct problems_seen {
  int n;
  char last[FMR_ERR_MSG_MAX];
} problems_seen;

static void on_problem(void *ctx, const char *msg) {
  problems_seen *p = ctx;
  p->n++;
  snprintf(p->last, sizeof p->last, "%s", msg);
}

static void test_rasterize(void) {
  const char *csv = HEADER
      "v,0,No,1,2,3,2,A\n"        /* 2: rows 2-3, cols 1-3 */
      "v,0,No,2,3,2,2,A\n"        /* 3: overlaps line 2 */
      "v,1,No,-1,-1,2,2,B\n"      /* 4: clipped to (0,0) */
      "v,1,No,4,3,5,1,B\n"        /* 5: x + width = 9 > 6: clipped */
      "v,1,No,0,0,0,3,B\n"        /* 6: degenerate */
      "v,1,No,10,0,2,2,B\n"       /* 7: outside */
      "v,1,No,0,4,6,1,C\n"        /* 8: ends exactly at the frame edge: inside */
      "v,5,No,0,0,1,1,C\n";       /* 9: no slice 5 */
  fmr_annotations *a = parse_str(csv);
  if (!a) return;
  const fmr_volume_annotations *v = fmr_annotations_find(a, "v");
  CHECK(v != NULL);
  if (!v) goto done;
  enum { S = 2, H = 5, W = 6 };
  uint8_t m[S * H * W];
  memset(m, 0, sizeof m);
  uint64_t lp[3] = {0, 0, 0};
  fmr_raster_stats st;
  problems_seen ps = {0, ""};
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_annotations_rasterize(v, S, H, W, 0, m, 1, lp, &st, on_problem, &ps, &err), 0);
  static const char *const want0 =
      "......"
      "......"
      ".AAA.."
      ".AAA.."
      "..AA..";
  static const char *const want1 =
      "B....."
      "......"
      "......"
      "....BB"
      "CCCCCC";
  for (int r = 0; r < H; r++)
    for (int c = 0; c < W; c++) {
      int e0 = want0[r * W + c] == 'A' ? 1 : 0;
      int e1 = want1[r * W + c] == 'B' ? 2 : want1[r * W + c] == 'C' ? 4 : 0;
      if (m[r * W + c] != e0 || m[H * W + r * W + c] != e1) {
        CHECK_INT_EQ(m[r * W + c], e0);
        CHECK_INT_EQ(m[H * W + r * W + c], e1);
        fprintf(stderr, "  at row %d col %d\n", r, c);
      }
    }
  CHECK_UINT_EQ(lp[0], 8); /* 6 + 4 - 2 overlapping pixels */
  CHECK_UINT_EQ(lp[1], 3);
  CHECK_UINT_EQ(lp[2], 6);
  CHECK_UINT_EQ(st.drawn, 5);
  CHECK_UINT_EQ(st.clipped, 2);
  CHECK_UINT_EQ(st.degenerate, 1);
  CHECK_UINT_EQ(st.outside, 1);
  CHECK_UINT_EQ(st.bad_slice, 1);
  CHECK_INT_EQ(ps.n, 1);
  CHECK_STR_EQ(ps.last, "v: t.csv:9: slice 5 is out of range (the volume has 2 slices)");

  /* The frame-only counts agree, bad slices aside. */
  fmr_raster_stats bs;
  fmr_annotations_box_stats(v, H, W, &bs);
  CHECK_UINT_EQ(bs.drawn, 6);
  CHECK_UINT_EQ(bs.clipped, 2);
  CHECK_UINT_EQ(bs.degenerate, 1);
  CHECK_UINT_EQ(bs.outside, 1);
  CHECK_UINT_EQ(bs.bad_slice, 0);

  /* Native frame: row r goes to row h-1-r. */
  uint8_t n[S * H * W];
  memset(n, 0, sizeof n);
  CHECK_INT_EQ(fmr_annotations_rasterize(v, S, H, W, 1, n, 1, NULL, NULL, NULL, NULL, &err), 0);
  int same = 1;
  for (int s = 0; s < S; s++)
    for (int r = 0; r < H; r++)
      for (int c = 0; c < W; c++)
        same &= n[(s * H + (H - 1 - r)) * W + c] == m[(s * H + r) * W + c];
  CHECK(same);

  /* Wider pixels put the same bits in the same places. */
  uint16_t m16[S * H * W];
  uint32_t m32[S * H * W];
  uint64_t m64[S * H * W];
  memset(m16, 0, sizeof m16);
  memset(m32, 0, sizeof m32);
  memset(m64, 0, sizeof m64);
  CHECK_INT_EQ(fmr_annotations_rasterize(v, S, H, W, 0, m16, 2, NULL, NULL, NULL, NULL, &err), 0);
  CHECK_INT_EQ(fmr_annotations_rasterize(v, S, H, W, 0, m32, 4, NULL, NULL, NULL, NULL, &err), 0);
  CHECK_INT_EQ(fmr_annotations_rasterize(v, S, H, W, 0, m64, 8, NULL, NULL, NULL, NULL, &err), 0);
  same = 1;
  for (int i = 0; i < S * H * W; i++) same &= m16[i] == m[i] && m32[i] == m[i] && m64[i] == m[i];
  CHECK(same);
  CHECK_INT_EQ(fmr_annotations_rasterize(v, S, H, W, 0, m, 3, NULL, NULL, NULL, NULL, &err),
               FMR_EINVAL);
done:
  fmr_annotations_free(&a);
}

/* High label indices land on the right bit of each pixel width; too high ones are refused. */
static void test_pixel_bits(void) {
  fmr_box box = {0, 0, 0, 1, 1, 0, 2};
  fmr_volume_annotations va;
  memset(&va, 0, sizeof va);
  va.name = "hand";
  va.nboxes = 1;
  va.boxes = &box;
  fmr_err err;
  static const int label[4] = {7, 15, 31, 63};
  static const size_t bytes[4] = {1, 2, 4, 8};
  for (int i = 0; i < 4; i++) {
    uint64_t pix[2] = {0, 0};
    uint64_t lp[64];
    memset(lp, 0, sizeof lp);
    box.label = label[i];
    CHECK_INT_EQ(fmr_annotations_rasterize(&va, 1, 1, 2, 0, pix, bytes[i], lp, NULL, NULL, NULL,
                                           &err),
                 0);
    uint64_t got = 0;
    memcpy(&got, pix, bytes[i]);
    CHECK_UINT_EQ(got, (uint64_t)1 << label[i]);
    CHECK_UINT_EQ(lp[label[i]], 1);
    box.label = label[i] + 1;
    uint64_t before = pix[0];
    if (i < 3) {
      CHECK_INT_EQ(fmr_annotations_rasterize(&va, 1, 1, 2, 0, pix, bytes[i], NULL, NULL, NULL,
                                             NULL, &err),
                   FMR_EINVAL);
      CHECK_UINT_EQ(pix[0], before); /* untouched */
    }
  }
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(0), 1);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(1), 1);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(8), 1);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(9), 2);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(16), 2);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(17), 4);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(22), 4);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(30), 4);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(32), 4);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(33), 8);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(64), 8);
  CHECK_UINT_EQ(fmr_mask_pixel_bytes(65), 0);
  /* No rows: nothing to do, not an error. */
  fmr_raster_stats st;
  CHECK_INT_EQ(fmr_annotations_rasterize(NULL, 1, 1, 1, 0, NULL, 1, NULL, &st, NULL, NULL, &err),
               0);
  CHECK_UINT_EQ(st.drawn, 0);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Parse time of one real CSV: best of three, so a busy machine does not fail the test. */
static double best_parse_ms(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/data/fastmri-plus/%s", FMR_SOURCE_DIR, name);
  char *data = NULL;
  size_t len = 0;
  fmr_err err;
  double best = 1e9;
  if (fmr_read_file(path, (size_t)1 << 30, &data, &len, &err)) return best;
  for (int i = 0; i < 3; i++) {
    fmr_annotations *a = NULL;
    double t0 = now_ms();
    int rc = fmr_annotations_parse(path, data, len, &a, &err);
    double t = now_ms() - t0;
    fmr_annotations_free(&a);
    if (rc == 0 && t < best) best = t;
  }
  free(data);
  return best;
}

typedef struct real_expect {
  const char *csv;
  size_t rows, volumes, vocab, boxes, study, degenerate, duplicates, trimmed, clipped;
} real_expect;

static void test_real_csv(const real_expect *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/data/fastmri-plus/%s", FMR_SOURCE_DIR, e->csv);
  char *data = NULL;
  size_t len = 0;
  fmr_err err;
  int rc = fmr_read_file(path, (size_t)1 << 30, &data, &len, &err);
  CHECK_INT_EQ(rc, 0);
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
    return;
  }
  fmr_annotations *a = NULL;
  rc = fmr_annotations_parse(path, data, len, &a, &err);
  CHECK_INT_EQ(rc, 0);
  if (rc) {
    free(data);
    return;
  }
  fmr_annotation_totals t;
  fmr_annotations_totals(a, &t);
  CHECK_UINT_EQ(t.rows, e->rows);
  CHECK_UINT_EQ(t.volumes, e->volumes);
  CHECK_UINT_EQ(fmr_annotations_vocab_size(a), e->vocab);
  CHECK_UINT_EQ(t.boxes, e->boxes);
  CHECK_UINT_EQ(t.study_level, e->study);
  CHECK_UINT_EQ(t.degenerate, e->degenerate);
  CHECK_UINT_EQ(t.duplicates, e->duplicates);
  CHECK_UINT_EQ(t.trimmed, e->trimmed);
  CHECK_UINT_EQ(t.malformed, 0);
  size_t clipped = 0, outside = 0, sum_rows = 0;
  for (size_t i = 0; i < fmr_annotations_nvolumes(a); i++) {
    const fmr_volume_annotations *v = fmr_annotations_volume(a, i);
    fmr_raster_stats st;
    fmr_annotations_box_stats(v, 320, 320, &st);
    clipped += st.clipped;
    outside += st.outside;
    sum_rows += v->rows;
    CHECK(fmr_annotations_find(a, v->name) == v);
    if (i) CHECK(strcmp(fmr_annotations_volume(a, i - 1)->name, v->name) < 0);
  }
  CHECK_UINT_EQ(clipped, e->clipped);
  CHECK_UINT_EQ(outside, 0);
  CHECK_UINT_EQ(sum_rows, e->rows);
  for (size_t k = 1; k < fmr_annotations_vocab_size(a); k++)
    CHECK(strcmp(fmr_annotations_vocab(a, k - 1), fmr_annotations_vocab(a, k)) < 0);
  fmr_annotations_free(&a);
  free(data);
}

static void test_real(void) {
  static const real_expect knee = {"knee.csv", 16167, 974, 22, 16149, 13, 1, 5, 1311, 6};
  static const real_expect brain = {"brain.csv", 8213, 997, 30, 7570, 642, 2, 1, 0, 0};
  test_real_csv(&knee);
  test_real_csv(&brain);
  double ms = best_parse_ms("knee.csv") + best_parse_ms("brain.csv");
#if defined(__SANITIZE_ADDRESS__)
  double limit = 1000;
#else
  double limit = 100;
#endif
  if (!(ms < limit)) FMR__FAIL("parsing both real CSVs took %.1f ms (limit %.0f)", ms, limit);
  fprintf(stderr, "parsed knee.csv + brain.csv in %.1f ms\n", ms);

  /* The five knee duplicates are all in file1001706; the one that stays is the first. */
  char path[4096];
  snprintf(path, sizeof path, "%s/data/fastmri-plus/knee.csv", FMR_SOURCE_DIR);
  char *data = NULL;
  size_t len = 0;
  fmr_err err;
  fmr_annotations *a = NULL;
  if (fmr_read_file(path, (size_t)1 << 30, &data, &len, &err) == 0 &&
      fmr_annotations_parse("knee.csv", data, len, &a, &err) == 0) {
    const fmr_volume_annotations *v = fmr_annotations_find(a, "file1001706");
    CHECK(v != NULL);
    if (v) CHECK_UINT_EQ(v->duplicates, 5);
    size_t k;
    for (k = 0; k < fmr_annotations_vocab_size(a); k++)
      if (strcmp(fmr_annotations_vocab(a, k), "Joint Effusion") == 0) break;
    CHECK(k < fmr_annotations_vocab_size(a));
    CHECK_STR_EQ(fmr_annotations_vocab(a, fmr_annotations_vocab_size(a) - 1), "artifact");
  } else {
    CHECK(!"knee.csv parsed");
  }
  fmr_annotations_free(&a);
  free(data);
}

/* limits.csv_line_bytes makes an over-long record one problem (the rest is read); limits.csv_rows
 * refuses the file with the line and the limit. */
static void test_limits(void) {
  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.csv_line_bytes = 40;
  char csv[512];
  snprintf(csv, sizeof csv, "file,slice,study_level,x,y,width,height,label\n"
                            "f1,1,No,1,2,3,4,A\n"
                            "f1,1,No,1,2,3,4,%s\n"
                            "f2,0,No,1,2,3,4,B\n",
           "a label far longer than forty bytes in all");
  fmr_annotations *a = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_annotations_parse_limited("l.csv", csv, strlen(csv), &lim, &a, &err), 0);
  CHECK_UINT_EQ(fmr_annotations_nproblems(a), 1);
  if (fmr_annotations_nproblems(a) == 1)
    CHECK_STR_EQ(fmr_annotations_problem(a, 0),
                 "l.csv:3: record longer than 40 bytes (limits.csv_line_bytes)");
  CHECK_UINT_EQ(fmr_annotations_nvolumes(a), 2);
  fmr_annotations_free(&a);
  fmr_limits_default(&lim);
  lim.csv_rows = 2;
  CHECK_INT_EQ(fmr_annotations_parse_limited("l.csv", csv, strlen(csv), &lim, &a, &err),
               FMR_ERANGE);
  CHECK_STR_EQ(err.msg, "l.csv:4: more than 2 data rows (limits.csv_rows)");
  CHECK(a == NULL);
  lim.csv_rows = 3;
  CHECK_INT_EQ(fmr_annotations_parse_limited("l.csv", csv, strlen(csv), &lim, &a, &err), 0);
  fmr_annotations_free(&a);
}

int main(void) {
  test_limits();
  test_quoting_crlf_bom();
  test_malformed();
  test_header();
  test_trim_duplicates_vocab();
  test_rasterize();
  test_pixel_bits();
  test_real();
  return fmr_test_end();
}
