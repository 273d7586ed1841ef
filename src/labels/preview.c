/* Contact sheets of the fastMRI+ boxes (include/fmr/preview.h): render to RGB, encode with libpng.
 *
 * Text uses a hand-rolled 5x7 bitmap font below: a minimal Debian has no font files and pulling in
 * FreeType/fontconfig for a caption and a legend would add two libraries and a font package to
 * every cluster node. Drawn at 2x it is legible, and fixed glyphs keep the bytes reproducible. */
#include "fmr/labels/preview.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT_W 5
#define FONT_H 7
#define TEXT_SCALE 2
#define CHAR_ADV ((FONT_W + 1) * TEXT_SCALE) /* one column of spacing between glyphs */
#define LINE_H ((FONT_H + 2) * TEXT_SCALE)
#define MARGIN 8
#define GAP 8
#define CAPTION_H LINE_H
#define SWATCH 12
#define MAX_GRID_COLS 6
/* A sheet is for checking by eye: zlib level 1 with the Up filter on every row. Level 3 took
 * 0.15 s against level 6's 0.30 s (adaptive filters) for a 36-slice knee sheet; level 1 takes
 * about 0.10 s for a file 17 % larger than level 3's (Z_RLE was no faster and larger still). */
#define PNG_LEVEL 1

static const uint8_t BACKGROUND[3] = {24, 24, 24};
static const uint8_t TEXT[3] = {235, 235, 235};

/* Label colours: hues spaced by the golden ratio (so the first few labels differ the most) with
 * saturation and value alternating, all far from grey so an outline never looks like anatomy.
 * Written out rather than computed so the PNG bytes cannot depend on libm. */
static const uint8_t PALETTE[FMR_PREVIEW_NCOLOURS][3] = {
    {255, 0, 0},    {0, 60, 204},   {186, 255, 89}, {204, 71, 187}, {0, 255, 212},
    {204, 110, 0},  {131, 89, 255}, {77, 204, 71},  {255, 0, 85},   {0, 128, 204},
    {241, 255, 89}, {176, 71, 204}, {0, 255, 127},  {204, 42, 0},   {89, 103, 255},
    {121, 204, 71}, {255, 0, 171},  {0, 196, 204},  {255, 213, 89}, {132, 71, 204},
    {0, 255, 42},   {204, 0, 26},   {89, 159, 255}, {166, 204, 71}, {254, 0, 255},
    {0, 204, 144},  {255, 158, 89}, {88, 71, 204},  {43, 255, 0},   {204, 0, 94},
    {89, 214, 255}, {204, 198, 71},
};

/* 5x7 glyphs for ASCII 32..126, one byte per row from the top, bit 4 = leftmost column (the
 * classic character-LCD shapes). Anything else is drawn as '?'. */
static const uint8_t FONT[95][FONT_H] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /*   */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* ! */
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}, /* # */
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* % */
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}, /* & */
    {0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}, /* ' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ) */
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, /* , */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* 9 */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, /* : */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* < */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* > */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}, /* @ */
    {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}, /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, /* C */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, /* Z */
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* \ */
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}, /* ] */
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, /* b */
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, /* c */
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, /* d */
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, /* e */
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, /* f */
    {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* g */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* h */
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* k */
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* l */
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* n */
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, /* o */
    {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}, /* p */
    {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}, /* q */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* r */
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, /* s */
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, /* w */
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* y */
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00}, /* ~ */
};

void fmr_preview_colour(size_t k, uint8_t rgb[3]) {
  memcpy(rgb, PALETTE[k % FMR_PREVIEW_NCOLOURS], 3);
}

/* ---- boxes ------------------------------------------------------------------------------------ */

/* Clip [a, a+len) to [0, n): inclusive bounds, 0 when nothing is left. */
static int clip_span(long a_in, long len, size_t n, size_t *lo, size_t *hi) {
  if (len <= 0) return 0;
  long long a = a_in, b = a + len; /* the CSV parser bounds both by 1e9 */
  if (a < 0) a = 0;
  if (b > (long long)n) b = (long long)n;
  if (b <= a) return 0;
  *lo = (size_t)a;
  *hi = (size_t)b - 1;
  return 1;
}

int fmr_preview_boxes(const fmr_volume_annotations *va, size_t slices, size_t h, size_t w,
                      int flip_ud, int flip_lr, fmr_preview_box **out, size_t *n, fmr_err *err) {
  *out = NULL;
  *n = 0;
  if (!va || va->nboxes == 0 || h == 0 || w == 0) return 0;
  fmr_preview_box *b = malloc(va->nboxes * sizeof *b);
  if (!b) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the preview boxes", va->name);
  size_t m = 0;
  for (size_t i = 0; i < va->nboxes; i++) {
    const fmr_box *x = &va->boxes[i];
    size_t r0, r1, c0, c1;
    if (x->slice < 0 || (unsigned long)x->slice >= slices || x->label < 0) continue;
    if (!clip_span(x->y, x->height, h, &r0, &r1) || !clip_span(x->x, x->width, w, &c0, &c1))
      continue;
    /* The boxes' frame is fastMRI's arrays flipped up/down; undo what the images did not do. */
    if (!flip_ud) {
      size_t t = h - 1 - r1;
      r1 = h - 1 - r0;
      r0 = t;
    }
    if (flip_lr) {
      size_t t = w - 1 - c1;
      c1 = w - 1 - c0;
      c0 = t;
    }
    b[m++] = (fmr_preview_box){(size_t)x->slice, r0, c0, r1, c1, x->label};
  }
  if (m == 0) {
    free(b);
    return 0;
  }
  *out = b;
  *n = m;
  return 0;
}

/* ---- rendering -------------------------------------------------------------------------------- */

typedef struct canvas {
  uint8_t *rgb;
  size_t w, h;
} canvas;

static void set_px(canvas *c, size_t x, size_t y, const uint8_t rgb[3]) {
  if (x < c->w && y < c->h) memcpy(c->rgb + (y * c->w + x) * 3, rgb, 3);
}

static void fill_rect(canvas *c, size_t x, size_t y, size_t w, size_t h, const uint8_t rgb[3]) {
  for (size_t j = 0; j < h; j++)
    for (size_t i = 0; i < w; i++) set_px(c, x + i, y + j, rgb);
}

/* Draw printable ASCII text with its top-left corner at (x, y). */
static void draw_text(canvas *c, size_t x, size_t y, const char *s, const uint8_t rgb[3]) {
  for (; *s; s++, x += CHAR_ADV) {
    unsigned char ch = (unsigned char)*s;
    const uint8_t *g = FONT[(ch >= 32 && ch <= 126 ? ch : '?') - 32];
    for (int r = 0; r < FONT_H; r++)
      for (int k = 0; k < FONT_W; k++)
        if (g[r] & (0x10 >> k))
          fill_rect(c, x + (size_t)k * TEXT_SCALE, y + (size_t)r * TEXT_SCALE, TEXT_SCALE,
                    TEXT_SCALE, rgb);
  }
}

static size_t text_width(const char *s) { return strlen(s) * CHAR_ADV; }

/* DICOM's linear VOI function (PS3.3 C.11.2.1.2.1) onto 0..255, rounded. */
static uint8_t window_grey(double x, double c, double w) {
  double lo = c - 0.5 - (w - 1.0) / 2.0, hi = c - 0.5 + (w - 1.0) / 2.0;
  if (x <= lo) return 0;
  if (x > hi) return 255;
  double y = ((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0;
  return (uint8_t)(y < 0.0 ? 0.0 : y > 255.0 ? 255.0 : floor(y + 0.5));
}

/* Mark the slices that carry a box; returns how many. */
static size_t shown_slices(const fmr_preview_input *in, unsigned char *shown) {
  size_t n = 0;
  for (size_t i = 0; i < in->nboxes; i++) {
    size_t s = in->boxes[i].slice;
    if (s < in->slices && !shown[s]) {
      shown[s] = 1;
      n++;
    }
  }
  return n;
}

size_t fmr_preview_count_slices(const fmr_preview_input *in) {
  if (!in || !in->boxes || in->slices == 0) return 0;
  unsigned char *shown = calloc(in->slices, 1);
  if (!shown) return 0;
  size_t n = shown_slices(in, shown);
  free(shown);
  return n;
}

int fmr_preview_render(const fmr_preview_input *in, uint8_t **rgb_out, size_t *width,
                       size_t *height, fmr_err *err) {
  int rc = 0;
  unsigned char *shown = NULL, *present = NULL;
  size_t *order = NULL;
  canvas cv = {NULL, 0, 0};
  *rgb_out = NULL;
  *width = *height = 0;
  if (!in || !in->pixels || !in->volume || in->slices == 0 || in->rows == 0 || in->cols == 0 ||
      (in->nvocab && !in->vocab) || (in->nboxes && !in->boxes)) {
    rc = fmr_err_set(err, FMR_EINVAL, "preview: missing argument");
    goto done;
  }
  for (size_t i = 0; i < in->nboxes; i++) {
    const fmr_preview_box *b = &in->boxes[i];
    if (b->slice >= in->slices || b->row0 > b->row1 || b->row1 >= in->rows ||
        b->col0 > b->col1 || b->col1 >= in->cols || b->label < 0 ||
        (size_t)b->label >= in->nvocab) {
      rc = fmr_err_set(err, FMR_EINVAL, "%s: preview box %zu lies outside the volume or vocabulary",
                       in->volume, i);
      goto done;
    }
  }
  shown = calloc(in->slices, 1);
  present = calloc(in->nvocab ? in->nvocab : 1, 1);
  if (!shown || !present) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the preview", in->volume);
    goto done;
  }
  size_t n = shown_slices(in, shown);
  if (n == 0) {
    rc = fmr_err_set(err, FMR_EINVAL, "%s: no box to show: no preview", in->volume);
    goto done;
  }
  order = malloc(n * sizeof *order);
  if (!order) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the preview", in->volume);
    goto done;
  }
  for (size_t s = 0, k = 0; s < in->slices; s++)
    if (shown[s]) order[k++] = s;
  for (size_t i = 0; i < in->nboxes; i++) present[in->boxes[i].label] = 1;

  /* Geometry of the sheet. */
  size_t gcols = 1;
  while (gcols * gcols < n) gcols++;
  if (gcols > MAX_GRID_COLS) gcols = MAX_GRID_COLS;
  size_t grows = (n + gcols - 1) / gcols;
  size_t tile_w = in->cols, tile_h = CAPTION_H + in->rows;
  char title[256];
  snprintf(title, sizeof title, "%.160s: %zu slice%s with boxes", in->volume, n,
           n == 1 ? "" : "s");
  size_t content_w = gcols * tile_w + (gcols - 1) * GAP;
  if (text_width(title) > content_w) content_w = text_width(title);
  size_t nlegend = 0;
  char line[128];
  for (size_t k = 0; k < in->nvocab; k++) {
    if (!present[k]) continue;
    nlegend++;
    snprintf(line, sizeof line, "%2zu %.100s", k, in->vocab[k]);
    size_t lw = SWATCH + GAP + text_width(line);
    if (lw > content_w) content_w = lw;
  }
  cv.w = 2 * MARGIN + content_w;
  cv.h = MARGIN + LINE_H + GAP + grows * tile_h + (grows - 1) * GAP + GAP + nlegend * LINE_H +
         MARGIN;
  if (cv.w > 65535 || cv.h > 65535 || cv.w * cv.h > ((size_t)1 << 28)) {
    rc = fmr_err_set(err, FMR_EINVAL, "%s: preview sheet of %zu x %zu pixels is too large",
                     in->volume, cv.w, cv.h);
    goto done;
  }
  cv.rgb = malloc(cv.w * cv.h * 3);
  if (!cv.rgb) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for a %zu x %zu preview", in->volume,
                     cv.w, cv.h);
    goto done;
  }
  fill_rect(&cv, 0, 0, cv.w, cv.h, BACKGROUND);
  draw_text(&cv, MARGIN, MARGIN, title, TEXT);

  /* The window: the DICOM files' own; without a usable one, the volume's range. */
  double wc = in->window_center, ww = in->window_width;
  if (!isfinite(wc) || !isfinite(ww) || ww < 1.0) {
    size_t total = in->slices * in->rows * in->cols;
    int16_t lo = in->pixels[0], hi = in->pixels[0];
    for (size_t i = 1; i < total; i++) {
      if (in->pixels[i] < lo) lo = in->pixels[i];
      if (in->pixels[i] > hi) hi = in->pixels[i];
    }
    ww = (double)hi - (double)lo + 1.0;
    wc = (double)lo + ww / 2.0;
    if (ww < 2.0) ww = 2.0;
  }

  size_t plane = in->rows * in->cols;
  size_t grid_y = MARGIN + LINE_H + GAP;
  for (size_t t = 0; t < n; t++) {
    size_t s = order[t];
    size_t x0 = MARGIN + (t % gcols) * (tile_w + GAP);
    size_t y0 = grid_y + (t / gcols) * (tile_h + GAP);
    char caption[32];
    snprintf(caption, sizeof caption, "slice %zu", s);
    draw_text(&cv, x0, y0, caption, TEXT);
    size_t iy = y0 + CAPTION_H;
    const int16_t *px = in->pixels + s * plane;
    for (size_t r = 0; r < in->rows; r++) {
      uint8_t *dst = cv.rgb + ((iy + r) * cv.w + x0) * 3;
      for (size_t c = 0; c < in->cols; c++) {
        uint8_t g = window_grey((double)px[r * in->cols + c], wc, ww);
        dst[3 * c] = dst[3 * c + 1] = dst[3 * c + 2] = g;
      }
    }
    for (size_t i = 0; i < in->nboxes; i++) {
      const fmr_preview_box *b = &in->boxes[i];
      if (b->slice != s) continue;
      uint8_t col[3];
      fmr_preview_colour((size_t)b->label, col);
      for (size_t c = b->col0; c <= b->col1; c++) {
        set_px(&cv, x0 + c, iy + b->row0, col);
        set_px(&cv, x0 + c, iy + b->row1, col);
      }
      for (size_t r = b->row0; r <= b->row1; r++) {
        set_px(&cv, x0 + b->col0, iy + r, col);
        set_px(&cv, x0 + b->col1, iy + r, col);
      }
    }
  }

  size_t ly = grid_y + grows * tile_h + (grows - 1) * GAP + GAP;
  for (size_t k = 0; k < in->nvocab; k++) {
    if (!present[k]) continue;
    uint8_t col[3];
    fmr_preview_colour(k, col);
    fill_rect(&cv, MARGIN, ly + (LINE_H - SWATCH) / 2 - 1, SWATCH, SWATCH, col);
    snprintf(line, sizeof line, "%2zu %.100s", k, in->vocab[k]);
    draw_text(&cv, MARGIN + SWATCH + GAP, ly, line, TEXT);
    ly += LINE_H;
  }
  *rgb_out = cv.rgb;
  cv.rgb = NULL;
  *width = cv.w;
  *height = cv.h;

done:
  free(cv.rgb);
  free(order);
  free(present);
  free(shown);
  return rc;
}

/* ---- PNG ----------------------------------------------------------------------------------- */

/* libpng reports errors by longjmp; the handler keeps the message for fmr_err. */
typedef struct png_ctx {
  char msg[256];
} png_ctx;

static void png_error_fn(png_structp png, png_const_charp text) {
  png_ctx *c = png_get_error_ptr(png);
  if (c) snprintf(c->msg, sizeof c->msg, "%s", text ? text : "libpng error");
  png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp text) {
  (void)png;
  (void)text; /* warnings do not change the file; nothing to report */
}

/* Encode; every resource is acquired before setjmp so the longjmp path only has to release. */
static int write_png(const char *path, const uint8_t *rgb, size_t w, size_t h, const char *volume,
                     fmr_err *err) {
  png_ctx ctx = {""};
  FILE *f = fopen(path, "wb");
  if (!f) return fmr_err_set(err, FMR_EIO, "%s: cannot create %s", volume, path);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_error_fn,
                                            png_warning_fn);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_write_struct(png ? &png : NULL, NULL);
    fclose(f);
    return fmr_err_set(err, FMR_ENOMEM, "%s: cannot initialise libpng", volume);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return fmr_err_set(err, FMR_EIO, "%s: %s: PNG: %s", volume, path, ctx.msg);
  }
  png_init_io(png, f);
  /* Fixed settings: the bytes depend on the pixels and the libpng/zlib versions only. */
  png_set_compression_level(png, PNG_LEVEL);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
  png_write_info(png, info);
  for (size_t y = 0; y < h; y++) png_write_row(png, rgb + y * w * 3);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  if (fclose(f) != 0) return fmr_err_set(err, FMR_EIO, "%s: cannot write %s", volume, path);
  return 0;
}

int fmr_preview_write(const fmr_preview_input *in, const char *path, fmr_err *err) {
  uint8_t *rgb = NULL;
  size_t w = 0, h = 0;
  if (!path) return fmr_err_set(err, FMR_EINVAL, "preview: no path");
  int rc = fmr_preview_render(in, &rgb, &w, &h, err);
  if (!rc) rc = write_png(path, rgb, w, h, in->volume, err);
  free(rgb);
  return rc;
}
