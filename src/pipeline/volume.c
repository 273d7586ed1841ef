/* One volume end to end: the flow. The volume's float image stack is the only thing that grows
 * with the slice count (SPEC 5.1 scales per volume); k-space is streamed one slice at a time.
 * What gets written is the writer table's business (writers.c), where it goes and how it is
 * committed the store's (output/store.c). */
#include "fmr/pipeline/volume.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <sys/stat.h>

#include "fmr/dicom/uid.h"
#include "fmr/output/manifest.h"
#include "fmr/recon/reconstruct.h"
#include "fmr/util/fsutil.h"
#include "fmr/util/log.h"
#include "fmr/util/measure.h"
#include "pipeline/pipeline.h"

struct fmr_volume_ctx {
  const fmr_config *cfg;
  const fmr_annotations *ann;
  fmr_store *store;
  fmr_fft_cache *plans;
  const fmr_seg_codes *codes; /* the plan's SEG coded concepts (output.seg); NULL when off */
  fmr_err codes_err;    /* why codes is NULL with output.seg on */
  fmr_stage_times last; /* the last volume's stages */
  /* The float stack, kept from one volume to the next. It is live for the whole of a volume (the
   * transforms fill it, the scaling and dataset writers read it), so keeping it raises no peak;
   * freeing it gave its pages back, and the next volume faulted them in again on the
   * transforming thread (on a VM with free page reporting, each a fault in the host too). */
  float *stack;
  size_t stack_cap; /* floats */
};

static const char *const stage_names[FMR_NSTAGES] = {
    [FMR_STAGE_READ] = "read",
    [FMR_STAGE_READ_WAIT] = "read_wait",
    [FMR_STAGE_TRANSFORM] = "transform",
    [FMR_STAGE_COMBINE_CROP] = "combine_crop",
    [FMR_STAGE_SCALE] = "scale",
    [FMR_STAGE_ANNOTATE] = "annotate",
    [FMR_STAGE_WRITE_IMAGES] = "write_images",
    [FMR_STAGE_WRITE_ANNOTATIONS] = "write_annotations",
    [FMR_STAGE_WRITE_TRAINING] = "write_training",
    [FMR_STAGE_HASH] = "hash",
    [FMR_STAGE_COMMIT] = "commit",
    [FMR_STAGE_COMMIT_WAIT] = "commit_wait",
};

const char *fmr_stage_name(fmr_stage_id s) {
  return s >= 0 && s < FMR_NSTAGES && stage_names[s] ? stage_names[s] : "unknown";
}

const fmr_stage_times *fmr_volume_last_times(const fmr_volume_ctx *ctx) { return &ctx->last; }

int fmr_volume_ctx_new(const fmr_config *cfg, const fmr_annotations *ann,
                       const fmr_seg_codes *codes, fmr_volume_ctx **out, fmr_err *err) {
  *out = calloc(1, sizeof **out);
  if (!*out) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  fmr_volume_ctx *c = *out;
  c->cfg = cfg;
  c->ann = ann;
  c->codes = codes;
  fmr_err_clear(&c->codes_err);
  if (cfg->write_seg && !codes)
    fmr_err_set(&c->codes_err, FMR_ECONFIG, "the SEG code table was not loaded");
  int rc = fmr_store_open(cfg->output_dir, &c->store, err);
  if (!rc) rc = fmr_fft_cache_new(cfg->fft_effort, &c->plans, err);
  if (rc) {
    fmr_volume_ctx_free(out);
    return rc;
  }
  return 0;
}

void fmr_volume_ctx_free(fmr_volume_ctx **ctx) {
  if (!ctx || !*ctx) return;
  free((*ctx)->stack);
  fmr_fft_cache_free(&(*ctx)->plans);
  fmr_store_free(&(*ctx)->store);
  free(*ctx);
  *ctx = NULL;
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

static int positive(double v) { return isfinite(v) && v > 0.0; }

/* What the input lacked and the DICOM writer will assume (its ImageComments say the same). */
static int input_warnings(const fmr_kspace_info *info, const fmr_header *hdr, fmr_record *r) {
  const fmr_space *rs = &hdr->recon;
  int rc = 0;
  if (info->header_len == 0) {
    rc = fmr_strlist_add(&r->warnings,
                         "no ISMRMRD header (dataset ismrmrd_header absent): no acquisition "
                         "parameters in the DICOM files; pixel spacing, slice thickness and "
                         "spacing 1 mm assumed");
  } else {
    if (!rc && !(positive(rs->fov_x) && rs->matrix_x > 0 && positive(rs->fov_y) && rs->matrix_y > 0))
      rc = fmr_strlist_add(&r->warnings,
                           "ISMRMRD header: no usable reconSpace field of view and matrix: pixel "
                           "spacing 1 mm assumed");
    if (!rc && !positive(rs->fov_z))
      rc = fmr_strlist_add(&r->warnings,
                           "ISMRMRD header: no usable reconSpace field of view z: slice thickness "
                           "and spacing 1 mm assumed");
  }
  if (!rc && !info->acquisition[0])
    rc = fmr_strlist_add(&r->warnings,
                         "root attribute acquisition missing or unreadable: the image plane is "
                         "taken from the protocol name or the anatomy");
  return rc ? FMR_ENOMEM : 0;
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

/* read -> reconstruct -> scale -> annotate -> write; the record is filled as facts are learnt. */
static int process(fmr_volume_ctx *ctx, const fmr_task *t, const fmr_volume_hooks *hooks,
                   fmr_record *r, fmr_err *err) {
  const fmr_config *cfg = ctx->cfg;
  fmr_kspace *ks = NULL;
  float *stack = NULL; /* ctx->stack while in use */
  int16_t *pixels = NULL, *pixels_owned = NULL;
  fmr__vol v;
  memset(&v, 0, sizeof v);
  v.cfg = cfg;
  v.task = t;
  v.store = ctx->store;
  v.ann = ctx->ann;
  v.codes = ctx->codes;
  v.codes_problem = ctx->codes_err.msg;
  v.rec = r;
  v.times = &ctx->last;
  double *sec = ctx->last.seconds;
  r->processed = 1;
  r->recon_source = strdup(fmr_config_source_name(cfg->source));
  if (!r->recon_source) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", t->name);

  /* The probe opens the file in a helper process first, so a file that crashes the HDF5 library
   * fails this volume alone instead of the job (input.probe). */
  int rc = cfg->probe ? fmr_kspace_probe(t->path, &cfg->limits, err) : 0;
  if (!rc) rc = fmr_kspace_open_limited(t->path, &cfg->limits, &ks, err);
  if (rc) goto done;
  const fmr_kspace_info *info = fmr_kspace_info_of(ks);
  v.info = *info;
  v.info.header_xml = NULL;
  r->have_kspace = 1;
  r->undersampled = info->undersampled;
  r->slices = info->slices;
  r->kspace_ndim = 0;
  r->kspace_shape[r->kspace_ndim++] = info->slices;
  if (info->multicoil) r->kspace_shape[r->kspace_ndim++] = info->coils;
  r->kspace_shape[r->kspace_ndim++] = info->H;
  r->kspace_shape[r->kspace_ndim++] = info->W;
  r->coils = info->coils;
  r->zero_filled = info->undersampled && cfg->source == FMR_SOURCE_KSPACE;
  if (!(r->acquisition = strdup(info->acquisition))) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", t->path);
    goto done;
  }

  header_absent(&v.hdr);
  if (info->header_len > 0) {
    rc = fmr_header_parse_limited(info->header_xml, info->header_len, t->path, &cfg->limits,
                                  &v.hdr, err);
    if (rc) goto done;
  }
  if (input_warnings(info, &v.hdr, r)) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", t->path);
    goto done;
  }
  fmr_reconstruct_opts ropts = {cfg->source, cfg->flip_up_down, cfg->flip_left_right};
  rc = fmr_reconstruct_frame(info, &v.hdr, &ropts, t->path, &v.h, &v.w, err);
  if (rc) goto done;
  r->have_frame = 1;
  r->frame[0] = v.h;
  r->frame[1] = v.w;
  size_t plane = v.h * v.w, slices = info->slices;
  /* Kept unless too small, or more than twice the size (one large volume does not pin its
   * memory for the rest of the run). */
  if (ctx->stack_cap < slices * plane || ctx->stack_cap / 2 > slices * plane) {
    free(ctx->stack);
    ctx->stack_cap = 0;
    ctx->stack = malloc(slices * plane * sizeof *ctx->stack);
    if (ctx->stack) {
      ctx->stack_cap = slices * plane;
      fmr_advise_huge_pages(ctx->stack, slices * plane * sizeof *ctx->stack);
    }
  }
  stack = ctx->stack;
  if (!stack) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for a %zu x %zu x %zu stack", t->path,
                     slices, v.h, v.w);
    goto done;
  }
  stack_sink sk = {stack, plane, hooks};
  fmr_reconstruct_result res;
  rc = fmr_reconstruct_volume(ks, &v.hdr, ctx->plans, &ropts, t->path, stack_put, &sk, &res, err);
  if (rc) goto done;
  r->nmse_vs_stored = res.nmse;
  sec[FMR_STAGE_READ] += res.timing.read;
  sec[FMR_STAGE_READ_WAIT] += res.timing.read_wait;
  sec[FMR_STAGE_TRANSFORM] += res.timing.transform;
  sec[FMR_STAGE_COMBINE_CROP] += res.timing.combine_crop;
  fmr_kspace_close(&ks); /* done with the input: release the file before the writes */
  v.idle[0] = res.idle;
  v.idle_left[0] = res.idle_bytes;
  v.idle[1] = res.idle_spare;
  v.idle_left[1] = res.idle_spare_bytes;

  pixels = fmr__vol_carve(&v, slices * plane * sizeof *pixels);
  if (!pixels) {
    pixels = pixels_owned = malloc(slices * plane * sizeof *pixels);
    fmr_advise_huge_pages(pixels, slices * plane * sizeof *pixels);
  }
  if (!pixels) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", t->path);
    goto done;
  }
  double t_scale = fmr_monotonic_seconds();
  rc = fmr_scale_volume(stack, slices * plane, pixels, &v.scaling, t->path, err);
  sec[FMR_STAGE_SCALE] += fmr_monotonic_seconds() - t_scale;
  if (rc) goto done;
  r->have_scaling = 1;
  r->percentile = 99.9;
  r->p999 = v.scaling.p999;
  r->scale = (double)v.scaling.s;
  r->window_center = v.scaling.window_center;
  r->window_width = v.scaling.window_width;
  /* dataset.h5 holds the float image (SPEC 11): the stack outlives the scaling only for it. */
  if (cfg->write_dataset) {
    v.recon = stack;
  } else {
    /* Not needed by any writer: its pages leave the resident set while the outputs are written. */
    free(ctx->stack);
    ctx->stack = stack = NULL;
    ctx->stack_cap = 0;
  }
  v.pixels = pixels;

  fmr_dicom_series s = {
      .volume = t->name,
      .acquisition = v.info.acquisition,
      .anatomy = cfg->anatomy,
      .hdr = &v.hdr,
      .uid_root = cfg->uid_root,
      .uid_namespace = cfg->uid_namespace,
      .date = cfg->date,
      .time = cfg->time,
      .recon_source = fmr_config_source_name(cfg->source),
      .undersampled = v.info.undersampled,
      .flip_ud = cfg->flip_up_down,
      .flip_lr = cfg->flip_left_right,
      .slices = v.info.slices,
      .rows = v.h,
      .cols = v.w,
      .window_center = v.scaling.window_center,
      .window_width = v.scaling.window_width,
      .tool_version = FMR_VERSION,
      .coils = (int)v.info.coils,
  };
  v.series = s;
  /* Only volumes in the fastMRI+ file list were reviewed: the others get no mask, SEG or sheet. */
  if (fmr__writers_need_annotations(cfg, t->reviewed)) {
    double t_ann = fmr_monotonic_seconds();
    rc = fmr__annotate(&v, err);
    sec[FMR_STAGE_ANNOTATE] += fmr_monotonic_seconds() - t_ann;
    if (rc) goto done;
  }
  rc = fmr__write_outputs(&v, err);
done:
  fmr__annotate_release(&v);
  free(pixels_owned);
  fmr_kspace_close(&ks);
  return rc;
}

void *fmr__vol_carve(fmr__vol *v, size_t bytes) {
  /* 64-byte pieces: what malloc's would be for SIMD loops over them, and cache lines apart. */
  size_t need = (bytes + 63) & ~(size_t)63;
  if (need < bytes) return NULL;
  for (int i = 0; i < 2; i++) {
    if (!v->idle[i] || need > v->idle_left[i]) continue;
    void *p = v->idle[i];
    v->idle[i] += need;
    v->idle_left[i] -= need;
    return memset(p, 0, bytes);
  }
  return NULL;
}

void *fmr__vol_carve_rest(fmr__vol *v, size_t *bytes) {
  int i = v->idle_left[1] > v->idle_left[0];
  void *p = v->idle_left[i] ? v->idle[i] : NULL;
  *bytes = p ? v->idle_left[i] : 0;
  v->idle[i] = NULL;
  v->idle_left[i] = 0;
  return p;
}

int fmr_volume_dataset_attrs(const fmr_config *cfg, const fmr_record *r, char uid[FMR_UID_MAX],
                             fmr_dataset_attrs *a, fmr_err *err) {
  if (!r->have_kspace || !r->have_frame || r->kspace_ndim < 3 || r->kspace_ndim > 4)
    return fmr_err_set(err, FMR_EINVAL, "%s: the record has no frame or k-space shape", r->name);
  /* The series UID depends on the UID root, namespace and volume name only (SPEC 5.2). */
  fmr_dicom_series s = {.volume = r->name, .uid_root = cfg->uid_root,
                        .uid_namespace = cfg->uid_namespace};
  int rc = fmr_dicom_uid(&s, FMR_DICOM_UID_SERIES, 0, uid, err);
  if (rc) return rc;
  memset(a, 0, sizeof *a);
  a->name = r->name;
  a->input = r->input ? r->input : "";
  a->acquisition = r->acquisition ? r->acquisition : "";
  a->anatomy = r->anatomy ? r->anatomy : cfg->anatomy;
  a->series_uid = uid;
  a->recon_source = r->recon_source ? r->recon_source : fmr_config_source_name(cfg->source);
  a->slices = (size_t)r->slices;
  a->h = (size_t)r->frame[0];
  a->w = (size_t)r->frame[1];
  a->kspace_ndim = r->kspace_ndim;
  memcpy(a->kspace_shape, r->kspace_shape, sizeof a->kspace_shape);
  a->nmse = r->nmse_vs_stored;
  a->reviewed = r->reviewed;
  a->zero_filled = r->zero_filled;
  a->flip_ud = cfg->flip_up_down;
  a->flip_lr = cfg->flip_left_right;
  return 0;
}

/* Messages name files as the user named them, never by where they are mounted (SPEC 7): the
 * input by its path relative to its input directory, the CSV and the SEG table as the config
 * names them, outputs relative to output.dir. */
static int rewrite_paths(const fmr_config *cfg, const fmr_task *t, fmr_record *r) {
  char csv[PATH_MAX], codes[PATH_MAX], outdir[PATH_MAX];
  const char *from[4], *to[4];
  size_t n = 0;
  if (t->path && t->rel_path) {
    from[n] = t->path;
    to[n++] = t->rel_path;
  }
  if (cfg->annotations) {
    from[n] = cfg->annotations;
    to[n++] = fmr_manifest_config_name(cfg, cfg->annotations, csv, sizeof csv);
  }
  if (cfg->seg_codes) {
    from[n] = cfg->seg_codes;
    to[n++] = fmr_manifest_config_name(cfg, cfg->seg_codes, codes, sizeof codes);
  }
  snprintf(outdir, sizeof outdir, "%s/", cfg->output_dir);
  from[n] = outdir;
  to[n++] = "";
  char **fields[1] = {&r->error};
  fmr_strlist *lists[2] = {&r->annotation_problems, &r->warnings};
  for (size_t k = 0; k < n; k++) {
    for (size_t f = 0; f < 1; f++) {
      if (!*fields[f] || !strstr(*fields[f], from[k])) continue;
      char *s = fmr_path_replace(*fields[f], from[k], to[k]);
      if (!s) return FMR_ENOMEM;
      free(*fields[f]);
      *fields[f] = s;
    }
    for (size_t l = 0; l < 2; l++)
      for (size_t i = 0; i < lists[l]->n; i++) {
        if (!strstr(lists[l]->v[i], from[k])) continue;
        char *s = fmr_path_replace(lists[l]->v[i], from[k], to[k]);
        if (!s) return FMR_ENOMEM;
        free(lists[l]->v[i]);
        lists[l]->v[i] = s;
      }
  }
  return 0;
}

/* Crash quarantine. A worker that dies inside a library (a crafted file can segfault HDF5 1.10) or
 * is killed by the OOM killer takes the MPI job with it; the rerun would meet the same volume and
 * die again. A marker counts the runs that started the volume and never finished it: after
 * FMR_MAX_ATTEMPTS such runs the volume is recorded as failed instead of being tried again. */
#define FMR_MAX_ATTEMPTS 3

int fmr_volume_run(fmr_volume_ctx *ctx, const fmr_task *task, const fmr_volume_hooks *hooks,
                   fmr_record **out, int *reused, fmr_err *err) {
  const fmr_config *cfg = ctx->cfg;
  const fmr_store *store = ctx->store;
  fmr_err verr, cerr;
  fmr_err_clear(&verr);
  fmr_err_clear(&cerr);
  *out = NULL;
  *reused = 0;
  ctx->last = (fmr_stage_times){{0}};
  fmr_record *r = NULL;
  int rc = 0;
  if (!task->path) {
    r = fmr_record_new(task->name, cfg->anatomy, task->rel_path, task->reviewed);
    if (!r || fmr_record_set_status(r, FMR_STATUS_MISSING,
                                    task->lookup_error ? task->lookup_error
                                                       : "not found under input.dirs"))
      goto nomem;
    *out = r;
    return 0;
  }
  r = fmr_store_reuse(store, task->name, task->key);
  if (r) {
    /* A run killed between committing the record and clearing its marker left the marker. */
    if (fmr_store_clear_attempts(store, task->name, &cerr))
      FMR_LOG(FMR_LOG_WARN, "%s: %s", task->name, cerr.msg);
    *reused = 1;
    *out = r;
    return 0;
  }
  /* Before redoing a volume, nothing of an earlier attempt may survive to be mistaken for it. */
  rc = fmr_store_forget(store, task->name, err);
  if (rc) return rc;
  r = fmr_record_new(task->name, cfg->anatomy, task->rel_path, task->reviewed);
  if (!r) goto nomem;
  int attempts = fmr_store_attempts(store, task->name);
  if (attempts >= FMR_MAX_ATTEMPTS) {
    char msg[FMR_ERR_MSG_MAX];
    snprintf(msg, sizeof msg,
             "%s: %d earlier runs died while processing this volume (a crash or the OOM killer); "
             "not tried again: delete " FMR_STORE_STATE_DIR "/attempts/%s in output.dir to retry",
             task->rel_path ? task->rel_path : task->name, attempts, task->name);
    if (fmr_record_set_status(r, FMR_STATUS_FAILED, msg)) goto nomem;
    *out = r;
    return 0;
  }
  rc = fmr_store_set_attempts(store, task->name, attempts + 1, &cerr);
  if (rc == FMR_ESTORAGE) {
    *err = cerr;
    fmr_record_free(&r);
    return rc;
  }
  /* Otherwise best effort: without the marker the only loss is the quarantine. */
  if (rc) FMR_LOG(FMR_LOG_WARN, "%s: %s", task->name, cerr.msg);

  rc = process(ctx, task, hooks, r, &verr);
#ifdef __GLIBC__
  /* The outputs' buffers are free again but glibc keeps their pages; the next volume's read-ahead
   * buffer would stack on top of them and set the peak. */
  malloc_trim(0);
#endif
  if (rc) {
    /* Nothing half-written may look complete: a failed volume keeps none of its outputs. */
    fmr_store_remove_outputs(store, r);
    fmr_record_clear_outputs(r);
  }
  if (rc == FMR_ESTORAGE) {
    /* Not the volume's fault: no record, no marker; the run stops and a rerun redoes it. */
    (void)fmr_store_clear_attempts(store, task->name, &cerr);
    fmr_record_free(&r);
    *err = verr;
    return rc;
  }
  if (rc) {
    FMR_LOG(FMR_LOG_WARN, "%s: failed: %s", task->name, verr.msg);
    if (fmr_record_set_status(r, FMR_STATUS_FAILED, verr.msg)) goto nomem;
  }
  if (rewrite_paths(cfg, task, r)) goto nomem;
  if (!rc) {
    rc = fmr_store_commit_record(store, task->key, r, &cerr);
    if (rc == FMR_ESTORAGE) {
      fmr_store_remove_outputs(store, r);
      (void)fmr_store_clear_attempts(store, task->name, &cerr);
      fmr_record_free(&r);
      *err = cerr;
      return rc;
    }
    /* Outputs without a committed record would be redone anyway; say why the rerun will. */
    if (rc) FMR_LOG(FMR_LOG_WARN, "%s: %s", task->name, cerr.msg);
  }
  /* Finished, well or badly, without dying. */
  if (fmr_store_clear_attempts(store, task->name, &cerr))
    FMR_LOG(FMR_LOG_WARN, "%s: %s", task->name, cerr.msg);
  *out = r;
  return 0;
nomem:
  fmr_record_free(&r);
  return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the record", task->name);
}

/* ---- transitional JSON API (run/sched.c until the dispatch rewrite) ------------------------ */

