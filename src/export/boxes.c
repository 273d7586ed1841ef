/* The box table: one row per annotation row, in every frame (export/boxes.h). The frame rules
 * are SPEC 4/6; the millimetres come from fmr_dicom_geometry_of so the table and the DICOM files
 * cannot disagree. */
#include "fmr/export/boxes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/util/csvwrite.h"

const char *const FMR_BOXES_CSV_HEADER =
    "volume,slice,csv_line,label,label_bit,study_level,x,y,width,height,"
    "image_x,image_y,image_width,image_height,native_x,native_y,native_width,native_height,"
    "mm0_x,mm0_y,mm0_z,mm1_x,mm1_y,mm1_z,clipped,degenerate,duplicate,bad_slice,outside";

static int cmp_row(const void *pa, const void *pb) {
  const fmr_box_row *a = pa, *b = pb;
  if (a->slice != b->slice) return a->slice < b->slice ? -1 : 1;
  return (a->line > b->line) - (a->line < b->line);
}

/* Patient coordinates of a point at row u, column v of slice g (pixel centres at integers). */
static void to_mm(const fmr_dicom_geometry *g, double u, double v, double out[3]) {
  for (int k = 0; k < 3; k++)
    out[k] = g->position[k] + g->orientation[k] * g->pixel_spacing[1] * v +
             g->orientation[3 + k] * g->pixel_spacing[0] * u;
}

static void place(const fmr_box *b, const fmr_dicom_series *s, fmr_box_row *r) {
  long long h = (long long)s->rows, w = (long long)s->cols;
  long long x0 = b->x, y0 = b->y, x1 = (long long)b->x + b->width, y1 = (long long)b->y + b->height;
  if (b->width <= 0 || b->height <= 0) {
    r->flags |= FMR_BOX_DEGENERATE;
    return;
  }
  if (x0 < 0 || y0 < 0 || x1 > w || y1 > h) r->flags |= FMR_BOX_CLIPPED;
  long long c0 = x0 < 0 ? 0 : x0, c1 = x1 > w ? w : x1;
  long long r0 = y0 < 0 ? 0 : y0, r1 = y1 > h ? h : y1;
  if (c1 <= c0 || r1 <= r0) {
    r->flags |= FMR_BOX_OUTSIDE;
    return;
  }
  if (r->flags & FMR_BOX_BAD_SLICE) return;
  r->has_box = 1;
  /* fastMRI+ rows are native rows flipped; the image frame has them flipped iff flip_up_down. */
  r->nat_x = (long)c0;
  r->nat_y = (long)(h - r1);
  r->img_y = s->flip_ud ? (long)r0 : (long)(h - r1);
  r->img_x = s->flip_lr ? (long)(w - c1) : (long)c0;
  r->img_w = r->nat_w = (long)(c1 - c0);
  r->img_h = r->nat_h = (long)(r1 - r0);
}

int fmr_boxes_of_volume(const fmr_volume_annotations *va, const fmr_dicom_series *s,
                        fmr_box_row **rows, size_t *n, fmr_err *err) {
  *rows = NULL;
  *n = 0;
  if (!s) return fmr_err_set(err, FMR_EINVAL, "fmr_boxes_of_volume: no series");
  if (!va || va->nall == 0) return 0;
  fmr_box_row *out = calloc(va->nall, sizeof *out);
  if (!out) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the box table", va->name);
  for (size_t i = 0; i < va->nall; i++) {
    const fmr_row *row = &va->all[i];
    const fmr_box *b = &row->box;
    fmr_box_row *r = &out[i];
    r->slice = b->slice;
    r->line = b->line;
    r->label = b->label;
    r->study_level = row->study_level;
    if (row->duplicate) r->flags |= FMR_BOX_DUPLICATE;
    if (b->slice < 0 || (size_t)b->slice >= s->slices) r->flags |= FMR_BOX_BAD_SLICE;
    if (row->study_level) continue;
    r->x = b->x;
    r->y = b->y;
    r->width = b->width;
    r->height = b->height;
    place(b, s, r);
    if (!r->has_box) continue;
    fmr_dicom_geometry g;
    int rc = fmr_dicom_geometry_of(s, (size_t)b->slice, &g, err);
    if (rc) {
      free(out);
      return rc;
    }
    to_mm(&g, (double)r->img_y - 0.5, (double)r->img_x - 0.5, r->mm0);
    to_mm(&g, (double)(r->img_y + r->img_h) - 0.5, (double)(r->img_x + r->img_w) - 0.5, r->mm1);
  }
  qsort(out, va->nall, sizeof *out, cmp_row);
  *rows = out;
  *n = va->nall;
  return 0;
}

/* Millimetres to 0.1 micrometre: far below any voxel, and stable text ("-0.0000" is "0.0000"). */
static void mm_field(fmr_csv *c, double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.4f", v);
  fmr_csv_field(c, strcmp(buf, "-0.0000") ? buf : "0.0000");
}

static void flag_field(fmr_csv *c, unsigned flags, unsigned bit) {
  fmr_csv_field(c, (flags & bit) ? "1" : "0");
}

int fmr_boxes_csv(const fmr_box_volume *vols, size_t nvol, const char *const *vocab, size_t nvocab,
                  char **text, size_t *len, fmr_err *err) {
  fmr_csv c;
  fmr_csv_init(&c);
  *text = NULL;
  *len = 0;
  for (const char *h = FMR_BOXES_CSV_HEADER, *e; h; h = e ? e + 1 : NULL) {
    e = strchr(h, ',');
    char name[32];
    size_t k = e ? (size_t)(e - h) : strlen(h);
    snprintf(name, sizeof name, "%.*s", (int)k, h);
    fmr_csv_field(&c, name);
  }
  fmr_csv_end_record(&c);
  for (size_t v = 0; v < nvol; v++) {
    for (size_t i = 0; i < vols[v].n; i++) {
      const fmr_box_row *r = &vols[v].rows[i];
      if (r->label < 0 || (size_t)r->label >= nvocab) {
        fmr_csv_free(&c);
        return fmr_err_set(err, FMR_EINVAL, "%s: CSV line %zu: label %d outside the vocabulary",
                           vols[v].volume, r->line, r->label);
      }
      fmr_csv_field(&c, vols[v].volume);
      fmr_csv_fieldf(&c, "%ld", r->slice);
      fmr_csv_fieldf(&c, "%zu", r->line);
      fmr_csv_field(&c, vocab[r->label]);
      fmr_csv_fieldf(&c, "%d", r->label);
      fmr_csv_field(&c, r->study_level ? "1" : "0");
      if (r->study_level) {
        for (int k = 0; k < 4; k++) fmr_csv_field(&c, "");
      } else {
        fmr_csv_fieldf(&c, "%ld", r->x);
        fmr_csv_fieldf(&c, "%ld", r->y);
        fmr_csv_fieldf(&c, "%ld", r->width);
        fmr_csv_fieldf(&c, "%ld", r->height);
      }
      const long box[8] = {r->img_x, r->img_y, r->img_w, r->img_h,
                           r->nat_x, r->nat_y, r->nat_w, r->nat_h};
      for (int k = 0; k < 8; k++) {
        if (r->has_box)
          fmr_csv_fieldf(&c, "%ld", box[k]);
        else
          fmr_csv_field(&c, "");
      }
      for (int k = 0; k < 6; k++) {
        if (r->has_box)
          mm_field(&c, k < 3 ? r->mm0[k] : r->mm1[k - 3]);
        else
          fmr_csv_field(&c, "");
      }
      flag_field(&c, r->flags, FMR_BOX_CLIPPED);
      flag_field(&c, r->flags, FMR_BOX_DEGENERATE);
      flag_field(&c, r->flags, FMR_BOX_DUPLICATE);
      flag_field(&c, r->flags, FMR_BOX_BAD_SLICE);
      flag_field(&c, r->flags, FMR_BOX_OUTSIDE);
      fmr_csv_end_record(&c);
    }
  }
  if (c.failed) {
    fmr_csv_free(&c);
    return fmr_err_set(err, FMR_ENOMEM, "out of memory for boxes.csv");
  }
  *text = c.data ? c.data : strdup("");
  *len = c.len;
  if (!*text) return fmr_err_set(err, FMR_ENOMEM, "out of memory for boxes.csv");
  return 0;
}
