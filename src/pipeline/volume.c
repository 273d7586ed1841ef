/* One volume end to end. The volume's float image stack is the only thing that grows with the slice
 * count (SPEC 5.1 scales per volume); k-space is streamed one slice at a time. */
#include "fmr/pipeline/volume.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmr/dicom/dicom.h"
#include "fmr/util/fsutil.h"
#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/util/log.h"
#include "fmr/output/manifest.h"
#include "fmr/labels/masks.h"
#include "fmr/labels/preview.h"
#include "fmr/recon/recon.h"
#include "fmr/recon/reconstruct.h"
#include "fmr/recon/scale.h"
#include "fmr/dicom/seg.h"
#include "fmr/dicom/uid.h"

struct fmr_volume_ctx {
  const fmr_config *cfg;
  const fmr_annotations *ann;
  char run_key[65];
  fmr_fft_cache *plans;
  const fmr_volume_hooks *hooks; /* of the fmr_volume_run call in progress; NULL otherwise */
  fmr_seg_codes *codes; /* SEG coded concepts (output.seg); NULL when off or unreadable */
  fmr_err codes_err;    /* why codes is NULL with output.seg on */
};

int fmr_volume_ctx_new(const fmr_config *cfg, const fmr_annotations *ann, const char *run_key,
                       fmr_volume_ctx **out, fmr_err *err) {
  *out = calloc(1, sizeof **out);
  if (!*out) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  fmr_volume_ctx *c = *out;
  c->cfg = cfg;
  c->ann = ann;
  if (fmr_fft_cache_new(cfg->fft_effort, &c->plans, err)) {
    free(c);
    *out = NULL;
    return err->code;
  }
  snprintf(c->run_key, sizeof c->run_key, "%s", run_key ? run_key : "");
  if (cfg->write_seg) {
    /* An unreadable override table fails every volume that would write a SEG, with the reason,
     * rather than this call: the scheduler creates the context on every rank after the start-up
     * agreement, where a failure on one rank would leave the others waiting. */
    fmr_err_clear(&c->codes_err);
    if (fmr_seg_codes_load(cfg->seg_codes, &c->codes, &c->codes_err) != 0)
      FMR_LOG(FMR_LOG_ERROR, "%s", c->codes_err.msg);
    /* The SEGs depend on the table too: a changed table must not reuse earlier outputs. */
    char keytext[200];
    snprintf(keytext, sizeof keytext, "%s\nseg-codes %s", c->run_key,
             c->codes ? fmr_seg_codes_sha256(c->codes) : "unreadable");
    fmr_sha256_hex(keytext, strlen(keytext), c->run_key);
  }
  return 0;
}

void fmr_volume_ctx_free(fmr_volume_ctx **ctx) {
  if (!ctx || !*ctx) return;
  fmr_fft_cache_free(&(*ctx)->plans);
  fmr_seg_codes_free(&(*ctx)->codes);
  free(*ctx);
  *ctx = NULL;
}

/* Outputs of the volume being processed: relative paths for the record, absolute for clean-up. */
typedef struct outputs {
  size_t n, cap;
  char **rel;
  char **kind;
} outputs;

static int outputs_add(outputs *o, const char *rel, const char *kind) {
  if (o->n == o->cap) {
    size_t cap = o->cap ? 2 * o->cap : 64;
    char **r = realloc(o->rel, cap * sizeof *r);
    if (!r) return FMR_ENOMEM;
    o->rel = r;
    char **k = realloc(o->kind, cap * sizeof *k);
    if (!k) return FMR_ENOMEM;
    o->kind = k;
    o->cap = cap;
  }
  o->rel[o->n] = strdup(rel);
  o->kind[o->n] = strdup(kind);
  if (!o->rel[o->n] || !o->kind[o->n]) {
    free(o->rel[o->n]);
    free(o->kind[o->n]);
    return FMR_ENOMEM;
  }
  o->n++;
  return 0;
}

static void outputs_remove_files(const outputs *o, const char *outdir) {
  char path[PATH_MAX];
  for (size_t i = 0; i < o->n; i++) {
    if (snprintf(path, sizeof path, "%s/%s", outdir, o->rel[i]) < (int)sizeof path) unlink(path);
  }
}

static void outputs_free(outputs *o) {
  for (size_t i = 0; i < o->n; i++) {
    free(o->rel[i]);
    free(o->kind[i]);
  }
  free(o->rel);
  free(o->kind);
  memset(o, 0, sizeof *o);
}

static void header_absent(fmr_header *h) {
  memset(h, 0, sizeof *h);
  fmr_space *sp[2] = {&h->encoded, &h->recon};
  for (int i = 0; i < 2; i++) {
    sp[i]->matrix_x = sp[i]->matrix_y = sp[i]->matrix_z = -1;
    sp[i]->fov_x = sp[i]->fov_y = sp[i]->fov_z = NAN;
  }
  h->e1_min = h->e1_max = h->e1_center = -1;
  h->field_strength_t = h->h1_frequency_hz = NAN;
  h->tr_ms = h->te_ms = h->ti_ms = h->flip_angle_deg = h->echo_spacing_ms = NAN;
  h->receiver_channels = -1;
}

/* A problem callback target: append to a JSON array of strings. */
static void add_problem(void *ctx, const char *msg) { json_array_append_new(ctx, json_string(msg)); }

/* Everything one run of do_volume learns; turned into the record afterwards. */
typedef struct vol_state {
  fmr_kspace_info info; /* copied scalars (header_xml not kept) */
  int have_info;
  size_t h, w;
  double nmse;          /* NaN when there is nothing to compare with */
  fmr_scaling scaling;
  int have_scaling;
  outputs out;
  json_t *labels;       /* {label: {boxes, pixels}} */
  json_t *study_labels; /* [label] */
  json_t *annotation;   /* counts */
  json_t *problems;     /* [string] */
} vol_state;

/* The image series' constants: the DICOM writer's input, and what the SEG references. */
static fmr_dicom_series series_of(const fmr_config *cfg, const fmr_volume_task *t,
                                  const vol_state *v, const fmr_header *hdr) {
  fmr_dicom_series s = {
      .volume = t->name,
      .acquisition = v->info.acquisition,
      .anatomy = cfg->anatomy,
      .hdr = hdr,
      .uid_root = cfg->uid_root,
      .uid_namespace = cfg->uid_namespace,
      .date = cfg->date,
      .time = cfg->time,
      .recon_source = fmr_config_source_name(cfg->source),
      .undersampled = v->info.undersampled,
      .flip_ud = cfg->flip_up_down,
      .flip_lr = cfg->flip_left_right,
      .slices = v->info.slices,
      .rows = v->h,
      .cols = v->w,
      .window_center = v->scaling.window_center,
      .window_width = v->scaling.window_width,
      .tool_version = FMR_VERSION,
      .coils = (int)v->info.coils,
  };
  return s;
}

static int write_dicom_series(fmr_volume_ctx *ctx, const fmr_volume_task *t, vol_state *v,
                              const fmr_header *hdr, const int16_t *pixels, fmr_err *err) {
  const fmr_config *cfg = ctx->cfg;
  char dir[PATH_MAX], rel[PATH_MAX], final_path[PATH_MAX], tmp[PATH_MAX];
  int rc = 0;
  if (snprintf(dir, sizeof dir, "%s/dicom/%s", cfg->output_dir, t->name) >= (int)sizeof dir)
    return fmr_err_set(err, FMR_ERANGE, "%s: output path too long", t->name);
  rc = fmr_mkdirs(dir, err);
  if (rc) return rc;
  fmr_dicom_series s = series_of(cfg, t, v, hdr);
  size_t plane = v->h * v->w;
  for (size_t sl = 0; sl < v->info.slices; sl++) {
    snprintf(rel, sizeof rel, "dicom/%s/%s_%03zu.dcm", t->name, t->name, sl);
    if (snprintf(final_path, sizeof final_path, "%s/%s", cfg->output_dir, rel) >=
        (int)sizeof final_path)
      return fmr_err_set(err, FMR_ERANGE, "%s: output path too long", t->name);
    rc = fmr_tmp_path(final_path, tmp, sizeof tmp, err);
    if (rc) return rc;
    rc = fmr_dicom_write_slice(&s, sl, pixels + sl * plane, tmp, err);
    if (rc) {
      unlink(tmp);
      return fmr_err_prefix(err, "slice %zu: ", sl);
    }
    rc = fmr_commit_file(tmp, final_path, err);
    if (rc) return rc;
    if (outputs_add(&v->out, rel, "dicom")) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  }
  return 0;
}

/* Reverse the rows and/or columns of every slice of a mask in place. */
static void flip_mask(void *mask, size_t slices, size_t h, size_t w, size_t pb, int rows,
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

/* "<output.dir>/<dir>/<volume><ext>": make the directory, give the relative and temporary paths. */
static int output_paths(const fmr_config *cfg, const char *dirname, const char *name,
                        const char *ext, char rel[PATH_MAX], char final_path[PATH_MAX],
                        char tmp[PATH_MAX], fmr_err *err) {
  char dir[PATH_MAX];
  if (snprintf(dir, PATH_MAX, "%s/%s", cfg->output_dir, dirname) >= PATH_MAX ||
      snprintf(rel, PATH_MAX, "%s/%s%s", dirname, name, ext) >= PATH_MAX ||
      snprintf(final_path, PATH_MAX, "%s/%s", cfg->output_dir, rel) >= PATH_MAX)
    return fmr_err_set(err, FMR_ERANGE, "%s: output path too long", name);
  int rc = fmr_mkdirs(dir, err);
  if (!rc) rc = fmr_tmp_path(final_path, tmp, PATH_MAX, err);
  return rc;
}

/* The HDF5 mask in the configured frame; `mask` (image frame) is left as it was. */
static int write_mask_file(const fmr_config *cfg, const fmr_volume_task *t, vol_state *v,
                           const void *mask, size_t pb, size_t nvocab, const char **vocab,
                           fmr_err *err) {
  size_t slices = v->info.slices, h = v->h, w = v->w;
  int native = cfg->mask_frame == FMR_MASK_FRAME_NATIVE;
  void *native_mask = NULL;
  char rel[PATH_MAX], final_path[PATH_MAX], tmp[PATH_MAX];
  int rc = output_paths(cfg, "masks", t->name, ".h5", rel, final_path, tmp, err);
  if (rc) goto done;
  if (native && (cfg->flip_up_down || cfg->flip_left_right)) {
    /* fastMRI's arrays: undo the flips the images got. */
    native_mask = malloc(slices * h * w * pb);
    if (!native_mask) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the mask", t->name);
      goto done;
    }
    memcpy(native_mask, mask, slices * h * w * pb);
    flip_mask(native_mask, slices, h, w, pb, cfg->flip_up_down, cfg->flip_left_right);
  }
  fmr_mask_file mf = {
      .volume = t->name,
      .anatomy = cfg->anatomy,
      .frame = native ? "native" : "image",
      .flip_ud = native ? 0 : cfg->flip_up_down,
      .flip_lr = native ? 0 : cfg->flip_left_right,
      .slices = slices,
      .h = h,
      .w = w,
      .pixel_bytes = pb,
      .mask = native_mask ? native_mask : mask,
      .nvocab = nvocab,
      .vocab = vocab,
  };
  rc = fmr_masks_write(tmp, &mf, err);
  if (rc) {
    unlink(tmp);
    goto done;
  }
  rc = fmr_commit_file(tmp, final_path, err);
  if (!rc && outputs_add(&v->out, rel, "mask"))
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
done:
  free(native_mask);
  return rc;
}

/* The DICOM Segmentation: only when some label has pixels (a SEG needs a frame). */
static int write_seg_file(fmr_volume_ctx *ctx, const fmr_volume_task *t, vol_state *v,
                          const fmr_dicom_series *series, const void *mask, size_t pb,
                          size_t nvocab, const char **vocab, fmr_err *err) {
  const fmr_config *cfg = ctx->cfg;
  fmr_seg_input in = {
      .series = series,
      .mask = mask,
      .pixel_bytes = pb,
      .nvocab = nvocab,
      .vocab = vocab,
      .codes = ctx->codes,
  };
  if (fmr_seg_count_segments(&in) == 0) return 0; /* no findings: no SEG, table or not */
  if (!ctx->codes)
    return fmr_err_set(err, FMR_ECONFIG, "%s: no SEG code table: %s", t->name, ctx->codes_err.msg);
  char rel[PATH_MAX], final_path[PATH_MAX], tmp[PATH_MAX];
  int rc = output_paths(cfg, "seg", t->name, ".dcm", rel, final_path, tmp, err);
  if (rc) return rc;
  rc = fmr_seg_write(&in, tmp, err);
  if (rc) {
    unlink(tmp);
    return rc;
  }
  rc = fmr_commit_file(tmp, final_path, err);
  if (!rc && outputs_add(&v->out, rel, "seg")) rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
  return rc;
}

/* The PNG contact sheet: only when some box draws something. */
static int write_preview_file(const fmr_config *cfg, const fmr_volume_task *t, vol_state *v,
                              const fmr_volume_annotations *va, const int16_t *pixels,
                              size_t nvocab, const char **vocab, fmr_err *err) {
  fmr_preview_box *boxes = NULL;
  size_t nboxes = 0;
  int rc = fmr_preview_boxes(va, v->info.slices, v->h, v->w, cfg->flip_up_down,
                             cfg->flip_left_right, &boxes, &nboxes, err);
  if (rc || nboxes == 0) goto done;
  fmr_preview_input in = {
      .volume = t->name,
      .slices = v->info.slices,
      .rows = v->h,
      .cols = v->w,
      .pixels = pixels,
      .window_center = v->scaling.window_center,
      .window_width = v->scaling.window_width,
      .boxes = boxes,
      .nboxes = nboxes,
      .nvocab = nvocab,
      .vocab = vocab,
  };
  char rel[PATH_MAX], final_path[PATH_MAX], tmp[PATH_MAX];
  rc = output_paths(cfg, "preview", t->name, ".png", rel, final_path, tmp, err);
  if (rc) goto done;
  rc = fmr_preview_write(&in, tmp, err);
  if (rc) {
    unlink(tmp);
    goto done;
  }
  rc = fmr_commit_file(tmp, final_path, err);
  if (!rc && outputs_add(&v->out, rel, "preview"))
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
done:
  free(boxes);
  return rc;
}

/* Everything made from the volume's fastMRI+ rows: the label statistics of the record, and the
 * HDF5 mask, the DICOM Segmentation and the PNG sheet as configured. The mask is rasterised once,
 * in the frame of the images (what the SEG and the sheet need). */
static int write_annotations(fmr_volume_ctx *ctx, const fmr_volume_task *t, vol_state *v,
                             const fmr_header *hdr, const int16_t *pixels, fmr_err *err) {
  const fmr_config *cfg = ctx->cfg;
  const fmr_annotations *ann = ctx->ann;
  size_t nvocab = fmr_annotations_vocab_size(ann);
  size_t pb = fmr_mask_pixel_bytes(nvocab);
  if (pb == 0)
    return fmr_err_set(err, FMR_EMASK, "%s: %zu labels do not fit a 64-bit mask pixel",
                       cfg->annotations, nvocab);
  size_t slices = v->info.slices, h = v->h, w = v->w;
  int rc = 0;
  void *mask = NULL;
  uint64_t *label_pixels = NULL;
  size_t *label_boxes = NULL;
  const char **vocab = NULL;

  mask = calloc(slices * h * w, pb);
  label_pixels = calloc(nvocab ? nvocab : 1, sizeof *label_pixels);
  label_boxes = calloc(nvocab ? nvocab : 1, sizeof *label_boxes);
  vocab = calloc(nvocab ? nvocab : 1, sizeof *vocab);
  if (!mask || !label_pixels || !label_boxes || !vocab) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the mask", t->name);
    goto done;
  }
  for (size_t k = 0; k < nvocab; k++) vocab[k] = fmr_annotations_vocab(ann, k);

  /* The boxes live in the fastMRI+ frame: fastMRI's rows flipped up/down. The images' frame
   * differs from it by !flip_up_down (rows) and flip_left_right (columns). */
  const fmr_volume_annotations *va = fmr_annotations_find(ann, t->name);
  fmr_raster_stats st;
  memset(&st, 0, sizeof st);
  if (va) {
    rc = fmr_annotations_rasterize(va, slices, h, w, !cfg->flip_up_down, mask, pb, label_pixels,
                                   &st, add_problem, v->problems, err);
    if (rc) goto done;
    for (size_t i = 0; i < va->nboxes; i++)
      if (va->boxes[i].label >= 0 && (size_t)va->boxes[i].label < nvocab)
        label_boxes[va->boxes[i].label]++;
    for (size_t i = 0; i < va->nstudy; i++)
      json_array_append_new(v->study_labels,
                            json_string(fmr_annotations_vocab(ann, (size_t)va->study_labels[i])));
    for (size_t i = 0; i < va->nproblems; i++)
      json_array_append_new(v->problems, json_string(va->problems[i]));
  }
  if (cfg->flip_left_right) flip_mask(mask, slices, h, w, pb, 0, 1);
  for (size_t k = 0; k < nvocab; k++) {
    if (!label_boxes[k] && !label_pixels[k]) continue;
    json_object_set_new(v->labels, vocab[k],
                        json_pack("{s:I, s:I}", "boxes", (json_int_t)label_boxes[k], "pixels",
                                  (json_int_t)label_pixels[k]));
  }
  json_object_set_new(v->annotation, "rows", json_integer(va ? (json_int_t)va->rows : 0));
  json_object_set_new(v->annotation, "boxes", json_integer(va ? (json_int_t)va->nboxes : 0));
  json_object_set_new(v->annotation, "drawn", json_integer((json_int_t)st.drawn));
  json_object_set_new(v->annotation, "duplicates",
                      json_integer(va ? (json_int_t)va->duplicates : 0));
  json_object_set_new(v->annotation, "degenerate", json_integer((json_int_t)st.degenerate));
  json_object_set_new(v->annotation, "clipped", json_integer((json_int_t)st.clipped));
  json_object_set_new(v->annotation, "outside", json_integer((json_int_t)st.outside));
  json_object_set_new(v->annotation, "bad_slice", json_integer((json_int_t)st.bad_slice));
  json_object_set_new(v->annotation, "trimmed_labels",
                      json_integer(va ? (json_int_t)va->trimmed : 0));

  if (cfg->write_masks) {
    rc = write_mask_file(cfg, t, v, mask, pb, nvocab, vocab, err);
    if (rc) goto done;
  }
  if (cfg->write_seg) {
    fmr_dicom_series series = series_of(cfg, t, v, hdr);
    rc = write_seg_file(ctx, t, v, &series, mask, pb, nvocab, vocab, err);
    if (rc) goto done;
  }
  if (cfg->write_preview) {
    rc = write_preview_file(cfg, t, v, va, pixels, nvocab, vocab, err);
    if (rc) goto done;
  }
done:
  free(vocab);
  free(label_boxes);
  free(label_pixels);
  free(mask);
  return rc;
}

/* The reconstruction loop's sink: the volume's float stack (SPEC 5.1 scales over all of it). */
typedef struct stack_sink {
  float *stack;
  size_t plane;
  const fmr_volume_hooks *hooks;
} stack_sink;

static int stack_put(void *ctx, size_t slice, const float *image, fmr_err *err) {
  (void)err;
  stack_sink *sk = ctx;
  memcpy(sk->stack + slice * sk->plane, image, sk->plane * sizeof *image);
  if (sk->hooks && sk->hooks->between_slices) sk->hooks->between_slices(sk->hooks->ctx);
  return 0;
}

static int do_volume(fmr_volume_ctx *ctx, const fmr_volume_task *t, vol_state *v, fmr_err *err) {
  const fmr_config *cfg = ctx->cfg;
  fmr_kspace *ks = NULL;
  float *stack = NULL;
  int16_t *pixels = NULL;
  fmr_header hdr;
  int rc = fmr_kspace_open(t->path, &ks, err);
  if (rc) goto done;
  const fmr_kspace_info *info = fmr_kspace_info_of(ks);
  v->info = *info;
  v->info.header_xml = NULL;
  v->have_info = 1;

  header_absent(&hdr);
  if (info->header_len > 0) {
    rc = fmr_header_parse(info->header_xml, info->header_len, t->path, &hdr, err);
    if (rc) goto done;
  }
  fmr_reconstruct_opts ropts = {cfg->source, cfg->flip_up_down, cfg->flip_left_right};
  rc = fmr_reconstruct_frame(info, &hdr, &ropts, t->path, &v->h, &v->w, err);
  if (rc) goto done;
  size_t plane = v->h * v->w, slices = info->slices;
  stack = malloc(slices * plane * sizeof *stack);
  if (!stack) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for a %zu x %zu x %zu stack", t->path,
                     slices, v->h, v->w);
    goto done;
  }
  stack_sink sk = {stack, plane, ctx->hooks};
  fmr_reconstruct_result res;
  rc = fmr_reconstruct_volume(ks, &hdr, ctx->plans, &ropts, t->path, stack_put, &sk, &res, err);
  if (rc) goto done;
  v->nmse = res.nmse;
  fmr_kspace_close(&ks); /* done with the input: release the file before the writes */

  pixels = malloc(slices * plane * sizeof *pixels);
  if (!pixels) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", t->path);
    goto done;
  }
  rc = fmr_scale_volume(stack, slices * plane, pixels, &v->scaling, t->path, err);
  if (rc) goto done;
  v->have_scaling = 1;
  free(stack);
  stack = NULL;

  if (cfg->write_dicom) {
    rc = write_dicom_series(ctx, t, v, &hdr, pixels, err);
    if (rc) goto done;
  }
  /* Only volumes in the fastMRI+ file list were reviewed: the others get no mask, SEG or sheet. */
  if (t->reviewed && (cfg->write_masks || cfg->write_seg || cfg->write_preview)) {
    rc = write_annotations(ctx, t, v, &hdr, pixels, err);
    if (rc) goto done;
  }
done:
  free(pixels);
  free(stack);
  fmr_kspace_close(&ks);
  return rc;
}


/* ---- resume --------------------------------------------------------------------------------- */

static int state_path(const fmr_config *cfg, const char *name, char *out, size_t n) {
  return snprintf(out, n, "%s/" FMR_STATE_DIR "/records/%s.json", cfg->output_dir, name) <
         (int)n;
}

/* The input file's identity: rehashing terabytes of k-space on every rerun would cost more than
 * the reconstruction; size plus nanosecond mtime catches replaced or rewritten files. */
static json_t *input_identity(const char *path) {
  struct stat sb;
  if (!path || stat(path, &sb) != 0) return NULL;
  return json_pack("{s:I, s:I}", "bytes", (json_int_t)sb.st_size, "mtime_ns",
                   (json_int_t)sb.st_mtim.tv_sec * 1000000000 + (json_int_t)sb.st_mtim.tv_nsec);
}

/* Every output listed in the record still exists with its size and SHA-256. */
static int outputs_intact(const fmr_config *cfg, const json_t *record) {
  json_t *outs = json_object_get(record, "outputs");
  if (!json_is_array(outs)) return 0;
  for (size_t i = 0; i < json_array_size(outs); i++) {
    json_t *o = json_array_get(outs, i);
    const char *rel = json_string_value(json_object_get(o, "path"));
    const char *sha = json_string_value(json_object_get(o, "sha256"));
    json_int_t bytes = json_integer_value(json_object_get(o, "bytes"));
    char path[PATH_MAX], got[65];
    uint64_t got_bytes = 0;
    fmr_err err;
    if (!rel || !sha || snprintf(path, sizeof path, "%s/%s", cfg->output_dir, rel) >= (int)sizeof path)
      return 0;
    struct stat sb;
    if (stat(path, &sb) != 0 || sb.st_size != bytes) return 0;
    if (fmr_sha256_file(path, got, &got_bytes, &err) != 0 || strcmp(got, sha) != 0) return 0;
  }
  return 1;
}

static json_t *try_reuse(const fmr_volume_ctx *ctx, const fmr_volume_task *t) {
  char path[PATH_MAX];
  if (!state_path(ctx->cfg, t->name, path, sizeof path)) return NULL;
  json_t *state = json_load_file(path, 0, NULL);
  if (!state) return NULL;
  json_t *record = NULL, *id = input_identity(t->path);
  const char *key = json_string_value(json_object_get(state, "run_key"));
  json_t *rec = json_object_get(state, "record");
  if (id && key && strcmp(key, ctx->run_key) == 0 && json_equal(id, json_object_get(state, "input")) &&
      json_is_object(rec) && outputs_intact(ctx->cfg, rec))
    record = json_incref(rec);
  json_decref(id);
  json_decref(state);
  return record;
}

/* Before redoing a volume, nothing of an earlier attempt may survive to be mistaken for this one. */
static void remove_previous(const fmr_config *cfg, const char *name) {
  char path[PATH_MAX];
  if (state_path(cfg, name, path, sizeof path)) unlink(path);
  if (snprintf(path, sizeof path, "%s/masks/%s.h5", cfg->output_dir, name) < (int)sizeof path)
    unlink(path);
  if (snprintf(path, sizeof path, "%s/masks/%s.h5" FMR_TMP_SUFFIX, cfg->output_dir, name) <
      (int)sizeof path)
    unlink(path);
  static const char *const others[][2] = {{"seg", ".dcm"}, {"preview", ".png"}};
  for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
    if (snprintf(path, sizeof path, "%s/%s/%s%s", cfg->output_dir, others[i][0], name,
                 others[i][1]) < (int)sizeof path)
      unlink(path);
    if (snprintf(path, sizeof path, "%s/%s/%s%s" FMR_TMP_SUFFIX, cfg->output_dir, others[i][0],
                 name, others[i][1]) < (int)sizeof path)
      unlink(path);
  }
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s/dicom/%s", cfg->output_dir, name) >= (int)sizeof dir) return;
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) unlink(path);
  }
  closedir(d);
}

/* Crash quarantine. A worker that dies inside a library (a crafted file can segfault HDF5 1.10) or
 * is killed by the OOM killer takes the MPI job with it; the rerun would meet the same volume and
 * die again. A marker counts the runs that started the volume and never finished it: after
 * FMR_MAX_ATTEMPTS such runs the volume is recorded as failed instead of being tried again. */
#define FMR_MAX_ATTEMPTS 3

static int attempts_path(const fmr_config *cfg, const char *name, char *out, size_t n) {
  return snprintf(out, n, "%s/" FMR_STATE_DIR "/attempts/%s", cfg->output_dir, name) < (int)n;
}

static int read_attempts(const fmr_config *cfg, const char *name) {
  char path[PATH_MAX];
  if (!attempts_path(cfg, name, path, sizeof path)) return 0;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0;
  if (fscanf(f, "%d", &n) != 1) n = 0;
  fclose(f);
  return n;
}

static void write_attempts(const fmr_config *cfg, const char *name, int n) {
  char path[PATH_MAX], dir[PATH_MAX], text[32];
  fmr_err err;
  snprintf(dir, sizeof dir, "%s/" FMR_STATE_DIR "/attempts", cfg->output_dir);
  if (!attempts_path(cfg, name, path, sizeof path) || fmr_mkdirs(dir, &err)) return;
  int len = snprintf(text, sizeof text, "%d\n", n);
  /* Best effort: without the marker the only loss is the quarantine. */
  if (fmr_write_file_atomic(path, text, (size_t)len, &err))
    FMR_LOG(FMR_LOG_WARN, "%s: %s", name, err.msg);
}

static void clear_attempts(const fmr_config *cfg, const char *name) {
  char path[PATH_MAX];
  if (attempts_path(cfg, name, path, sizeof path)) unlink(path);
}

/* Commit the record last: it is what makes the volume's outputs count as complete. */
static int commit_state(const fmr_volume_ctx *ctx, const fmr_volume_task *t, json_t *record,
                        fmr_err *err) {
  char path[PATH_MAX], dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/" FMR_STATE_DIR "/records", ctx->cfg->output_dir);
  int rc = fmr_mkdirs(dir, err);
  if (rc) return rc;
  if (!state_path(ctx->cfg, t->name, path, sizeof path))
    return fmr_err_set(err, FMR_ERANGE, "%s: state path too long", t->name);
  json_t *state = json_pack("{s:s, s:o, s:O}", "run_key", ctx->run_key, "input",
                            input_identity(t->path), "record", record);
  char *text = state ? fmr_json_dumps(state) : NULL;
  json_decref(state);
  if (!text) return fmr_err_set(err, FMR_ENOMEM, "%s: cannot serialise the record", t->name);
  rc = fmr_write_file_atomic(path, text, strlen(text), err);
  free(text);
  return rc;
}

static json_t *record_base(const fmr_config *cfg, const fmr_volume_task *t, const char *status,
                           const char *error) {
  return json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:b}", "name", t->name, "anatomy", cfg->anatomy,
                   "input", t->rel_path, "status", status, "error", error, "reviewed",
                   t->reviewed);
}

json_t *fmr_volume_record_missing(const fmr_config *cfg, const fmr_volume_task *t) {
  json_t *r = record_base(cfg, t, "missing",
                          t->lookup_error ? t->lookup_error : "not found under input.dirs");
  if (r) json_object_set_new(r, "outputs", json_array());
  return r;
}

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *fmr_volume_process(fmr_volume_ctx *ctx, const fmr_volume_task *t, int *reused) {
  const fmr_config *cfg = ctx->cfg;
  *reused = 0;
  if (!t->path) return fmr_volume_record_missing(cfg, t);
  json_t *previous = try_reuse(ctx, t);
  if (previous) {
    /* A run killed between committing the record and clearing its marker left the marker. */
    clear_attempts(cfg, t->name);
    *reused = 1;
    return previous;
  }
  remove_previous(cfg, t->name);
  fmr_err err;
  fmr_err_clear(&err);
  int attempts = read_attempts(cfg, t->name);
  if (attempts >= FMR_MAX_ATTEMPTS) {
    char msg[FMR_ERR_MSG_MAX];
    snprintf(msg, sizeof msg,
             "%s: %d earlier runs died while processing this volume (a crash or the OOM killer); "
             "not tried again: delete " FMR_STATE_DIR "/attempts/%s in output.dir to retry",
             t->rel_path ? t->rel_path : t->name, attempts, t->name);
    json_t *r = record_base(cfg, t, "failed", msg);
    json_object_set_new(r, "outputs", json_array());
    return r;
  }
  write_attempts(cfg, t->name, attempts + 1);
  vol_state v;
  memset(&v, 0, sizeof v);
  v.nmse = NAN;
  v.labels = json_object();
  v.study_labels = json_array();
  v.annotation = json_object();
  v.problems = json_array();

  int rc = do_volume(ctx, t, &v, &err);
  json_t *outs = json_array();
  if (!rc) {
    for (size_t i = 0; i < v.out.n && !rc; i++) {
      char path[PATH_MAX], sha[65];
      uint64_t bytes = 0;
      snprintf(path, sizeof path, "%s/%s", cfg->output_dir, v.out.rel[i]);
      rc = fmr_sha256_file(path, sha, &bytes, &err);
      if (!rc)
        json_array_append_new(outs, json_pack("{s:s, s:s, s:I, s:s}", "path", v.out.rel[i], "kind",
                                              v.out.kind[i], "bytes", (json_int_t)bytes, "sha256",
                                              sha));
    }
  }
  if (rc) {
    /* Nothing half-written may look complete: a failed volume keeps none of its outputs. */
    outputs_remove_files(&v.out, cfg->output_dir);
    json_array_clear(outs);
    FMR_LOG(FMR_LOG_WARN, "%s: failed: %s", t->name, err.msg);
  }

  /* Messages name the input by its path relative to its input directory, as the record does: the
   * manifest must not change with where a site mounts the data. */
  if (rc && t->rel_path) {
    size_t plen = strlen(t->path);
    if (strncmp(err.msg, t->path, plen) == 0) {
      char msg[FMR_ERR_MSG_MAX];
      snprintf(msg, sizeof msg, "%s%s", t->rel_path, err.msg + plen);
      memcpy(err.msg, msg, sizeof msg);
    }
  }
  json_t *r = record_base(cfg, t, rc ? "failed" : "ok", rc ? err.msg : NULL);
  if (v.have_info) {
    json_object_set_new(r, "undersampled", json_boolean(v.info.undersampled));
    json_object_set_new(r, "slices", json_integer((json_int_t)v.info.slices));
    json_t *shape = json_array();
    json_array_append_new(shape, json_integer((json_int_t)v.info.slices));
    if (v.info.multicoil) json_array_append_new(shape, json_integer((json_int_t)v.info.coils));
    json_array_append_new(shape, json_integer((json_int_t)v.info.H));
    json_array_append_new(shape, json_integer((json_int_t)v.info.W));
    json_object_set_new(r, "kspace_shape", shape);
    json_object_set_new(r, "coils", json_integer((json_int_t)v.info.coils));
    json_object_set_new(r, "acquisition", json_string(v.info.acquisition));
  }
  if (v.h)
    json_object_set_new(r, "frame", json_pack("[I, I]", (json_int_t)v.h, (json_int_t)v.w));
  json_object_set_new(r, "recon_source", json_string(fmr_config_source_name(cfg->source)));
  json_object_set_new(r, "zero_filled",
                      json_boolean(v.have_info && v.info.undersampled &&
                                   cfg->source == FMR_SOURCE_KSPACE));
  json_object_set_new(r, "nmse_vs_stored", real_or_null(v.nmse));
  if (v.have_scaling)
    json_object_set_new(r, "scaling",
                        json_pack("{s:f, s:f, s:f, s:f, s:f}", "percentile", 99.9, "p999",
                                  v.scaling.p999, "scale", (double)v.scaling.s, "window_center",
                                  v.scaling.window_center, "window_width",
                                  v.scaling.window_width));
  json_object_set_new(r, "labels", v.labels);
  json_object_set_new(r, "study_labels", v.study_labels);
  json_object_set_new(r, "annotation", v.annotation);
  json_object_set_new(r, "annotation_problems", v.problems);
  json_object_set_new(r, "outputs", outs);
  if (!rc && commit_state(ctx, t, r, &err) != 0) {
    /* Outputs without a committed record would be redone anyway; say why the rerun will. */
    FMR_LOG(FMR_LOG_WARN, "%s: %s", t->name, err.msg);
  }
  clear_attempts(cfg, t->name); /* finished, well or badly, without dying */
  outputs_free(&v.out);
  return r;
}

fmr_record *fmr__record_wrap(json_t *j);

/* The typed entry point over the JSON-building pipeline above. */
int fmr_volume_run(fmr_volume_ctx *ctx, const fmr_task *task, const fmr_volume_hooks *hooks,
                   fmr_record **out, int *reused, fmr_err *err) {
  fmr_volume_task t = {task->name, task->path, task->rel_path, task->reviewed, task->lookup_error};
  ctx->hooks = hooks;
  json_t *j = fmr_volume_process(ctx, &t, reused);
  ctx->hooks = NULL;
  *out = fmr__record_wrap(j);
  return *out ? 0 : fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the record", task->name);
}
