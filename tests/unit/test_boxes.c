/* The box table (export/boxes.h): every row in every frame, flags, order, millimetres, RFC 4180. */
#include <stdlib.h>
#include <string.h>

#include "fmr/export/boxes.h"
#include "fmr/util/csvwrite.h"
#include "fmr_test.h"

/* Rows out of order on purpose (sorting), a label needing quotes, a duplicate, a study-level
 * row, a degenerate, a clipped, an outside and a bad-slice box. Frame 8 x 10, 3 slices. */
static const char *CSV =
    "file,slice,study_level,x,y,width,height,label\n"
    "v,1,No,2,1,3,2,\"Bone, \"\"odd\"\" edema\"\n"   /* line 2 */
    "v,0,No,-2,6,4,5,Meniscus\n"                      /* line 3: clipped */
    "v,1,No,2,1,3,2,\"Bone, \"\"odd\"\" edema\"\n"   /* line 4: duplicate of 2 */
    "v,0,Yes,,,,,Study thing\n"                       /* line 5: study-level */
    "v,2,No,1,1,0,3,Meniscus\n"                       /* line 6: degenerate */
    "v,5,No,1,1,2,2,Meniscus\n"                       /* line 7: bad slice */
    "v,2,No,20,1,2,2,Meniscus\n"                      /* line 8: outside */
    "w,0,No,0,0,1,1,Meniscus\n";

static fmr_dicom_series series(int flip_ud, int flip_lr) {
  fmr_dicom_series s = {.volume = "v", .acquisition = "CORPD_FBK", .anatomy = "knee",
                        .flip_ud = flip_ud, .flip_lr = flip_lr, .slices = 3, .rows = 8,
                        .cols = 10};
  return s;
}

static void test_rows(void) {
  fmr_annotations *a = NULL;
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_annotations_parse("t.csv", CSV, strlen(CSV), &a, &err), 0);
  if (!a) return;
  const fmr_volume_annotations *va = fmr_annotations_find(a, "v");
  CHECK(va != NULL);
  fmr_dicom_series s = series(1, 0);
  fmr_box_row *r = NULL;
  size_t n = 0;
  CHECK_INT_EQ(fmr_boxes_of_volume(va, &s, &r, &n, &err), 0);
  CHECK_UINT_EQ(n, 7);
  if (n != 7) goto done;
  /* Sorted by slice, then line. */
  static const size_t lines[7] = {3, 5, 2, 4, 6, 8, 7};
  for (size_t i = 0; i < n; i++) CHECK_UINT_EQ(r[i].line, lines[i]);
  /* Line 3: x -2..2, y 6..11 in an 8 x 10 frame: clipped to cols [0,2), rows [6,8). */
  CHECK_UINT_EQ(r[0].flags, FMR_BOX_CLIPPED);
  CHECK_INT_EQ(r[0].has_box, 1);
  CHECK_INT_EQ(r[0].img_x, 0);
  CHECK_INT_EQ(r[0].img_y, 6);
  CHECK_INT_EQ(r[0].img_w, 2);
  CHECK_INT_EQ(r[0].img_h, 2);
  CHECK_INT_EQ(r[0].nat_y, 0); /* native rows [8-8, 8-6) */
  CHECK_INT_EQ(r[0].x, -2);
  CHECK_INT_EQ(r[0].height, 5);
  /* Line 5: study-level, no box. */
  CHECK_INT_EQ(r[1].study_level, 1);
  CHECK_INT_EQ(r[1].has_box, 0);
  CHECK_UINT_EQ(r[1].flags, 0);
  /* Line 2 and its duplicate 4. Coronal knee, 1 mm nominal spacing: row direction (1,0,0),
   * column direction (0,0,-1); slice 1 of 3 is centred: top-left pixel at (-4.5, 0, 3.5). */
  CHECK_UINT_EQ(r[2].flags, 0);
  CHECK_UINT_EQ(r[3].flags, FMR_BOX_DUPLICATE);
  CHECK_INT_EQ(r[2].img_x, 2);
  CHECK_INT_EQ(r[2].img_y, 1);
  CHECK_INT_EQ(r[2].nat_y, 5);
  CHECK_DBL_NEAR(r[2].mm0[0], -3.0, 1e-12);
  CHECK_DBL_NEAR(r[2].mm0[1], 0.0, 1e-12);
  CHECK_DBL_NEAR(r[2].mm0[2], 3.0, 1e-12);
  CHECK_DBL_NEAR(r[2].mm1[0], 0.0, 1e-12);
  CHECK_DBL_NEAR(r[2].mm1[2], 1.0, 1e-12);
  CHECK_UINT_EQ(r[4].flags, FMR_BOX_DEGENERATE);
  CHECK_UINT_EQ(r[5].flags, FMR_BOX_CLIPPED | FMR_BOX_OUTSIDE);
  CHECK_UINT_EQ(r[6].flags, FMR_BOX_BAD_SLICE);
  CHECK_INT_EQ(r[6].has_box, 0);

  /* The CSV text: header, quoting, empty fields for what does not exist, CRLF. */
  const char *vocab[3];
  size_t nv = fmr_annotations_vocab_size(a);
  CHECK_UINT_EQ(nv, 3);
  for (size_t k = 0; k < nv && k < 3; k++) vocab[k] = fmr_annotations_vocab(a, k);
  fmr_box_volume vol = {"v", r, n};
  char *text = NULL;
  size_t len = 0;
  CHECK_INT_EQ(fmr_boxes_csv(&vol, 1, vocab, nv, &text, &len, &err), 0);
  if (text) {
    CHECK_UINT_EQ(strlen(text), len);
    CHECK(strncmp(text, "volume,slice,csv_line,label,", 28) == 0);
    CHECK(strstr(text, "\r\nv,1,2,\"Bone, \"\"odd\"\" edema\",0,0,2,1,3,2,2,1,3,2,2,5,3,2,"
                       "-3.0000,0.0000,3.0000,0.0000,0.0000,1.0000,0,0,0,0,0\r\n") != NULL);
    CHECK(strstr(text, "\r\nv,0,5,\"Study thing\",2,1,,,,,,,,,,,,,,,,,,,0,0,0,0,0\r\n") != NULL);
    CHECK(strstr(text, "\r\nv,5,7,Meniscus,1,0,1,1,2,2,,,,,,,,,,,,,,,0,0,0,1,0\r\n") != NULL);
    free(text);
  }
  free(r);

  /* Image frame without the up/down flip, with a left/right flip: rows and columns mirrored. */
  s = series(0, 1);
  CHECK_INT_EQ(fmr_boxes_of_volume(va, &s, &r, &n, &err), 0);
  if (n == 7) {
    CHECK_INT_EQ(r[2].img_y, 5); /* rows [1,3) -> [5,7) */
    CHECK_INT_EQ(r[2].img_x, 5); /* cols [2,5) -> [5,8) */
    CHECK_INT_EQ(r[2].nat_y, 5);
    CHECK_INT_EQ(r[2].nat_x, 2);
  }
done:
  free(r);
  fmr_annotations_free(&a);
}

static void test_csv_quoting(void) {
  fmr_csv c;
  fmr_csv_init(&c);
  fmr_csv_field(&c, "plain");
  fmr_csv_field(&c, "a,b");
  fmr_csv_field(&c, "say \"x\"");
  fmr_csv_field(&c, "");
  fmr_csv_field(&c, "two\nlines");
  fmr_csv_end_record(&c);
  CHECK(!c.failed);
  CHECK_STR_EQ(c.data, "plain,\"a,b\",\"say \"\"x\"\"\",,\"two\nlines\"\r\n");
  fmr_csv_free(&c);
}

int main(void) {
  test_rows();
  test_csv_quoting();
  return fmr_test_end();
}
