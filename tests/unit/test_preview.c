/* PNG contact sheets (include/fmr/preview.h): boxes moved into the image frame and clipped, the
 * outline drawn in the label's colour around an untouched interior, the DICOM window, the PNG
 * decoded back with libpng, and identical bytes on rerun. */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmr/util/fsutil.h"
#include "fmr/labels/preview.h"
#include "fmr_test.h"

#define ROWS 40
#define COLS 32
#define SLICES 3

static fmr_box box(long slice, long x, long y, long w, long h, int label) {
  fmr_box b = {slice, x, y, w, h, label, 0};
  return b;
}

static void test_boxes(void) {
  fmr_box boxes[] = {
      box(1, 4, 5, 6, 3, 2),     /* inside: rows 5..7, cols 4..9 */
      box(0, -3, -1, 5, 4, 0),   /* clipped at the top-left: rows 0..2, cols 0..1 */
      box(2, 28, 38, 10, 10, 1), /* clipped at the bottom-right: rows 38..39, cols 28..31 */
      box(1, 3, 3, 0, 5, 0),     /* zero width: dropped */
      box(7, 3, 3, 5, 5, 0),     /* no such slice: dropped */
      box(1, 40, 3, 5, 5, 0),    /* entirely outside: dropped */
  };
  fmr_volume_annotations va;
  memset(&va, 0, sizeof va);
  va.name = "file_test";
  va.boxes = boxes;
  va.nboxes = sizeof boxes / sizeof *boxes;
  fmr_preview_box *b = NULL;
  size_t n = 0;
  fmr_err err;
  CHECK_INT_EQ(fmr_preview_boxes(&va, SLICES, ROWS, COLS, 1, 0, &b, &n, &err), 0);
  CHECK_UINT_EQ(n, 3);
  if (n == 3) {
    CHECK_UINT_EQ(b[0].slice, 1);
    CHECK(b[0].row0 == 5 && b[0].row1 == 7 && b[0].col0 == 4 && b[0].col1 == 9);
    CHECK_INT_EQ(b[0].label, 2);
    CHECK(b[1].row0 == 0 && b[1].row1 == 2 && b[1].col0 == 0 && b[1].col1 == 1);
    CHECK(b[2].row0 == 38 && b[2].row1 == 39 && b[2].col0 == 28 && b[2].col1 == 31);
  }
  free(b);
  /* Images not flipped up/down: the boxes' rows mirror; flipped left/right: the columns do. */
  CHECK_INT_EQ(fmr_preview_boxes(&va, SLICES, ROWS, COLS, 0, 1, &b, &n, &err), 0);
  if (n == 3) {
    CHECK(b[0].row0 == ROWS - 1 - 7 && b[0].row1 == ROWS - 1 - 5);
    CHECK(b[0].col0 == COLS - 1 - 9 && b[0].col1 == COLS - 1 - 4);
  }
  free(b);
  CHECK_INT_EQ(fmr_preview_boxes(NULL, SLICES, ROWS, COLS, 1, 0, &b, &n, &err), 0);
  CHECK(n == 0 && b == NULL);
}

static const char *const VOCAB[3] = {"Alpha", "Beta", "Gamma label"};

/* Uniform slices at the window centre: grey 128 everywhere in a tile. */
static void make_input(fmr_preview_input *in, int16_t *px, const fmr_preview_box *boxes,
                       size_t nboxes) {
  for (size_t i = 0; i < (size_t)SLICES * ROWS * COLS; i++) px[i] = 100;
  memset(in, 0, sizeof *in);
  in->volume = "file_test";
  in->slices = SLICES;
  in->rows = ROWS;
  in->cols = COLS;
  in->pixels = px;
  in->window_center = 100;
  in->window_width = 200;
  in->boxes = boxes;
  in->nboxes = nboxes;
  in->nvocab = 3;
  in->vocab = VOCAB;
}

static int is(const uint8_t *p, const uint8_t rgb[3]) {
  return p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2];
}

static void test_render(void) {
  static int16_t px[SLICES * ROWS * COLS];
  fmr_preview_box boxes[2] = {{1, 5, 4, 7, 9, 2}, {2, 0, 0, 39, 31, 0}};
  fmr_preview_input in;
  make_input(&in, px, boxes, 1);
  CHECK_UINT_EQ(fmr_preview_count_slices(&in), 1);
  uint8_t *rgb = NULL;
  size_t w = 0, h = 0;
  fmr_err err;
  CHECK_INT_EQ(fmr_preview_render(&in, &rgb, &w, &h, &err), 0);
  if (!rgb) return;
  /* The tile: the first grey-128 pixel in scan order is its top-left corner (text is lighter,
   * the background darker, the box does not touch the tile's edge). */
  const uint8_t grey[3] = {128, 128, 128};
  size_t tx = 0, ty = 0;
  int found = 0;
  for (size_t y = 0; y < h && !found; y++)
    for (size_t x = 0; x < w && !found; x++)
      if (is(rgb + (y * w + x) * 3, grey)) tx = x, ty = y, found = 1;
  CHECK(found);
  uint8_t col[3];
  fmr_preview_colour(2, col);
  size_t on = 0, inside_grey = 0, outside_grey = 0;
  for (size_t r = 0; r < ROWS; r++)
    for (size_t c = 0; c < COLS; c++) {
      const uint8_t *p = rgb + ((ty + r) * w + tx + c) * 3;
      int edge = (r == 5 || r == 7) ? (c >= 4 && c <= 9) : (r > 5 && r < 7 && (c == 4 || c == 9));
      int interior = r == 6 && c > 4 && c < 9;
      if (edge) on += is(p, col);
      else if (interior) inside_grey += is(p, grey);
      else outside_grey += is(p, grey);
    }
  CHECK_UINT_EQ(on, 6 + 6 + 2);
  CHECK_UINT_EQ(inside_grey, 4);
  CHECK_UINT_EQ(outside_grey, ROWS * COLS - 14 - 4);
  /* The legend's swatch for label 2 is somewhere below the tile, and label 0's is not (unused). */
  size_t swatch = 0, unused = 0;
  uint8_t col0[3];
  fmr_preview_colour(0, col0);
  for (size_t y = ty + ROWS; y < h; y++)
    for (size_t x = 0; x < w; x++) {
      swatch += is(rgb + (y * w + x) * 3, col);
      unused += is(rgb + (y * w + x) * 3, col0);
    }
  CHECK(swatch >= 100);
  CHECK_UINT_EQ(unused, 0);
  free(rgb);

  /* Two slices with boxes: two tiles side by side; a box covering the whole tile. */
  in.nboxes = 2;
  CHECK_UINT_EQ(fmr_preview_count_slices(&in), 2);
  size_t w2 = 0, h2 = 0;
  CHECK_INT_EQ(fmr_preview_render(&in, &rgb, &w2, &h2, &err), 0);
  CHECK(w2 > w);
  free(rgb);

  /* Nothing to draw, a box outside the volume, a label outside the vocabulary. */
  in.nboxes = 0;
  CHECK_UINT_EQ(fmr_preview_count_slices(&in), 0);
  CHECK_INT_EQ(fmr_preview_render(&in, &rgb, &w, &h, &err), FMR_EINVAL);
  fmr_preview_box bad = {0, 0, 0, ROWS, 3, 0};
  in.boxes = &bad;
  in.nboxes = 1;
  CHECK_INT_EQ(fmr_preview_render(&in, &rgb, &w, &h, &err), FMR_EINVAL);
  bad = (fmr_preview_box){0, 0, 0, 1, 1, 3};
  CHECK_INT_EQ(fmr_preview_render(&in, &rgb, &w, &h, &err), FMR_EINVAL);
  CHECK(rgb == NULL);
}

static void test_window(void) {
  static int16_t px[SLICES * ROWS * COLS];
  fmr_preview_box b = {0, 1, 1, 2, 2, 1};
  fmr_preview_input in;
  make_input(&in, px, &b, 1);
  /* Below the window black, above it white (DICOM linear VOI). */
  for (size_t i = 0; i < (size_t)ROWS * COLS; i++) px[i] = (int16_t)(i < ROWS * COLS / 2 ? -5 : 300);
  uint8_t *rgb = NULL;
  size_t w = 0, h = 0;
  fmr_err err;
  CHECK_INT_EQ(fmr_preview_render(&in, &rgb, &w, &h, &err), 0);
  size_t black = 0, white = 0;
  const uint8_t k0[3] = {0, 0, 0}, k255[3] = {255, 255, 255};
  for (size_t i = 0; rgb && i < w * h; i++) {
    black += is(rgb + 3 * i, k0);
    white += is(rgb + 3 * i, k255);
  }
  CHECK_UINT_EQ(black, ROWS * COLS / 2 - 4); /* the 2x2 box outline lies in the black half */
  CHECK_UINT_EQ(white, ROWS * COLS / 2);
  free(rgb);
}

/* Decode a PNG with libpng's simplified API into RGB. */
static uint8_t *decode(const char *path, size_t *w, size_t *h) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path)) return NULL;
  img.format = PNG_FORMAT_RGB;
  uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
  if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
    png_image_free(&img);
    free(buf);
    return NULL;
  }
  *w = img.width;
  *h = img.height;
  return buf;
}

static void test_png(const char *tmp) {
  static int16_t px[SLICES * ROWS * COLS];
  fmr_preview_box boxes[2] = {{1, 5, 4, 7, 9, 2}, {2, 10, 10, 20, 20, 1}};
  fmr_preview_input in;
  make_input(&in, px, boxes, 2);
  for (size_t i = 0; i < (size_t)SLICES * ROWS * COLS; i++) px[i] = (int16_t)(i % 211);
  char p1[512], p2[512];
  snprintf(p1, sizeof p1, "%s/a.png", tmp);
  snprintf(p2, sizeof p2, "%s/b.png", tmp);
  fmr_err err;
  CHECK_INT_EQ(fmr_preview_write(&in, p1, &err), 0);
  sleep(1); /* a time stamp (tIME) would now differ */
  CHECK_INT_EQ(fmr_preview_write(&in, p2, &err), 0);
  char *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  CHECK_INT_EQ(fmr_read_file(p1, 64u << 20, &a, &na, &err), 0);
  CHECK_INT_EQ(fmr_read_file(p2, 64u << 20, &b, &nb, &err), 0);
  CHECK(a && b && na == nb && memcmp(a, b, na) == 0);
  if (a) {
    CHECK(memcmp(a, "\x89PNG\r\n\x1a\n", 8) == 0);
    int has_time = 0;
    for (size_t i = 0; i + 4 <= na; i++) has_time |= memcmp(a + i, "tIME", 4) == 0;
    CHECK(!has_time);
  }
  free(a);
  free(b);
  uint8_t *rgb = NULL, *dec = NULL;
  size_t w = 0, h = 0, dw = 0, dh = 0;
  CHECK_INT_EQ(fmr_preview_render(&in, &rgb, &w, &h, &err), 0);
  dec = decode(p1, &dw, &dh);
  CHECK(dec != NULL);
  CHECK(dw == w && dh == h);
  CHECK(dec && rgb && dw == w && dh == h && memcmp(dec, rgb, w * h * 3) == 0);
  free(dec);
  free(rgb);
  /* An unwritable path fails cleanly. */
  CHECK_INT_EQ(fmr_preview_write(&in, "/nonexistent-dir/x.png", &err), FMR_EIO);
}

int main(void) {
  test_boxes();
  test_render();
  test_window();
  char tmp[] = "/tmp/fmr-test-preview-XXXXXX";
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  test_png(tmp);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return fmr_test_end();
}
