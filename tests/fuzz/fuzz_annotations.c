/* Fuzz target: the fastMRI+ annotation CSV parser (SPEC 2.2) and the rasterizer fed by it. */
#include <stdlib.h>
#include <string.h>

#include "fmr/labels/annotations.h"
#include "fuzz.h"

#define SLICES 4
#define FRAME 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fmr_annotations *a = NULL;
  fmr_err err;
  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.csv_line_bytes = 4096;
  lim.csv_rows = 20000;
  if (fmr_annotations_parse_limited("fuzz.csv", (const char *)data, size, &lim, &a, &err) != 0)
    return 0;
  fmr_annotation_totals t;
  fmr_annotations_totals(a, &t);
  size_t nvocab = fmr_annotations_vocab_size(a), pb = fmr_mask_pixel_bytes(nvocab);
  uint64_t *counts = calloc(nvocab ? nvocab : 1, sizeof *counts);
  unsigned char *mask = pb ? calloc((size_t)SLICES * FRAME * FRAME, pb) : NULL;
  size_t rows = 0;
  for (size_t i = 0; i < fmr_annotations_nvolumes(a); i++) {
    const fmr_volume_annotations *va = fmr_annotations_volume(a, i);
    /* The documented counting rule holds for every volume. */
    if (va->rows != va->nboxes + va->study_rows + va->duplicates + va->nproblems) __builtin_trap();
    if (fmr_annotations_find(a, va->name) != va) __builtin_trap();
    rows += va->rows;
    fmr_raster_stats st;
    fmr_annotations_box_stats(va, FRAME, FRAME, &st);
    if (mask && counts) {
      fmr_err rerr;
      (void)fmr_annotations_rasterize(va, SLICES, FRAME, FRAME, (int)(i & 1), mask, pb, counts,
                                      &st, NULL, NULL, &rerr);
    }
  }
  if (rows + fmr_annotations_nproblems(a) != t.rows) __builtin_trap();
  free(mask);
  free(counts);
  fmr_annotations_free(&a);
  return 0;
}
