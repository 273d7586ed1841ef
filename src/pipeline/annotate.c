/* The volume's fastMRI+ rows as the record and the annotation writers see them: the mask,
 * rasterised once in the frame of the images (what the SEG and the sheet need), the label
 * statistics, study labels, problems and the box warnings. */
#include <stdlib.h>
#include <string.h>

#include "fmr/labels/masks.h"
#include "fmr/util/measure.h"
#include "pipeline/pipeline.h"

static void add_problem(void *ctx, const char *msg) {
  /* Out of memory here only loses a message; the counts in the record still show the row. */
  (void)fmr_strlist_add(ctx, msg);
}

/* Reverse the rows and/or columns of every slice of a mask in place. */
void fmr__flip_mask(void *mask, size_t slices, size_t h, size_t w, size_t pb, int rows,
                      int cols) {
  unsigned char *m = mask, tmpx[8];
  size_t row_bytes = w * pb;
  for (size_t s = 0; s < slices; s++) {
    unsigned char *sl = m + s * h * row_bytes;
    if (rows) {
      for (size_t a = 0, b = h - 1; a < b; a++, b--)
        for (size_t i = 0; i < row_bytes; i++) {
          unsigned char c = sl[a * row_bytes + i];
          sl[a * row_bytes + i] = sl[b * row_bytes + i];
          sl[b * row_bytes + i] = c;
        }
    }
    if (cols) {
      for (size_t r = 0; r < h; r++) {
        unsigned char *row = sl + r * row_bytes;
        for (size_t a = 0, b = w - 1; a < b; a++, b--) {
          memcpy(tmpx, row + a * pb, pb);
          memcpy(row + a * pb, row + b * pb, pb);
          memcpy(row + b * pb, tmpx, pb);
        }
      }
    }
  }
}

static int box_warnings(fmr_record *r, size_t slices) {
  const fmr_annotation_counts *a = &r->annotation;
  int rc = 0;
  if (!rc && a->degenerate)
    rc = fmr_strlist_addf(&r->warnings, "%llu degenerate boxes (width or height <= 0) cover nothing",
                          (unsigned long long)a->degenerate);
  if (!rc && a->clipped)
    rc = fmr_strlist_addf(&r->warnings, "%llu boxes clipped to the %llu x %llu frame",
                          (unsigned long long)a->clipped, (unsigned long long)r->frame[0],
                          (unsigned long long)r->frame[1]);
  if (!rc && a->outside)
    rc = fmr_strlist_addf(&r->warnings, "%llu boxes lie entirely outside the frame: nothing drawn",
                          (unsigned long long)a->outside);
  if (!rc && a->bad_slice)
    rc = fmr_strlist_addf(&r->warnings,
                          "%llu rows name slices the volume does not have (it has %zu): nothing "
                          "drawn for them",
                          (unsigned long long)a->bad_slice, slices);
  return rc ? FMR_ENOMEM : 0;
}

int fmr__annotate(fmr__vol *v, fmr_err *err) {
  const fmr_config *cfg = v->cfg;
  const fmr_annotations *ann = v->ann;
  fmr_record *r = v->rec;
  size_t nvocab = fmr_annotations_vocab_size(ann);
  size_t pb = fmr_mask_pixel_bytes(nvocab);
  if (pb == 0)
    return fmr_err_set(err, FMR_EMASK, "%s: %zu labels do not fit a 64-bit mask pixel",
                       cfg->annotations, nvocab);
  size_t slices = v->info.slices, h = v->h, w = v->w;
  int rc = 0;
  uint64_t *label_pixels = NULL;
  size_t *label_boxes = NULL;
  v->pb = pb;
  v->nvocab = nvocab;
  v->mask = fmr__vol_carve(v, slices * h * w * pb);
  v->mask_carved = v->mask != NULL;
  if (!v->mask) {
    v->mask = calloc(slices * h * w, pb);
    fmr_advise_huge_pages(v->mask, slices * h * w * pb);
  }
  label_pixels = calloc(nvocab ? nvocab : 1, sizeof *label_pixels);
  label_boxes = calloc(nvocab ? nvocab : 1, sizeof *label_boxes);
  v->vocab = calloc(nvocab ? nvocab : 1, sizeof *v->vocab);
  if (!v->mask || !label_pixels || !label_boxes || !v->vocab) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the mask", v->task->name);
    goto done;
  }
  for (size_t k = 0; k < nvocab; k++) v->vocab[k] = fmr_annotations_vocab(ann, k);

  /* The boxes live in the fastMRI+ frame: fastMRI's rows flipped up/down. The images' frame
   * differs from it by !flip_up_down (rows) and flip_left_right (columns). */
  const fmr_volume_annotations *va = fmr_annotations_find(ann, v->task->name);
  v->va = va;
  fmr_raster_stats st;
  memset(&st, 0, sizeof st);
  if (va) {
    rc = fmr_annotations_rasterize(va, slices, h, w, !cfg->flip_up_down, v->mask, pb, label_pixels,
                                   &st, add_problem, &r->annotation_problems, err);
    if (rc) goto done;
    for (size_t i = 0; i < va->nboxes; i++)
      if (va->boxes[i].label >= 0 && (size_t)va->boxes[i].label < nvocab)
        label_boxes[va->boxes[i].label]++;
    for (size_t i = 0; i < va->nstudy && !rc; i++)
      rc = fmr_strlist_add(&r->study_labels,
                           fmr_annotations_vocab(ann, (size_t)va->study_labels[i]));
    for (size_t i = 0; i < va->nproblems && !rc; i++)
      rc = fmr_strlist_add(&r->annotation_problems, va->problems[i]);
    if (rc) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", v->task->name);
      goto done;
    }
  }
  if (cfg->flip_left_right) fmr__flip_mask(v->mask, slices, h, w, pb, 0, 1);
  for (size_t k = 0; k < nvocab; k++) {
    if (!label_boxes[k] && !label_pixels[k]) continue;
    if (fmr_record_add_label(r, v->vocab[k], label_boxes[k], label_pixels[k])) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", v->task->name);
      goto done;
    }
  }
  r->have_annotation = 1;
  fmr_annotation_counts *a = &r->annotation;
  a->rows = va ? va->rows : 0;
  a->boxes = va ? va->nboxes : 0;
  a->drawn = st.drawn;
  a->duplicates = va ? va->duplicates : 0;
  a->degenerate = st.degenerate;
  a->clipped = st.clipped;
  a->outside = st.outside;
  a->bad_slice = st.bad_slice;
  a->trimmed_labels = va ? va->trimmed : 0;
  if (box_warnings(r, slices)) rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", v->task->name);
done:
  free(label_boxes);
  free(label_pixels);
  return rc;
}

void fmr__annotate_release(fmr__vol *v) {
  if (!v->mask_carved) free(v->mask);
  free(v->vocab);
  v->mask = NULL;
  v->vocab = NULL;
}
