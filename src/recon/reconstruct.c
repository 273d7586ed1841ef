/* One volume's reconstruction loop (see reconstruct.h). The per-slice arithmetic is recon.c's; this
 * file decides where each slice comes from, what it is compared with, and hands it on oriented. */
#include "fmr/recon/reconstruct.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#define PLAN_CACHE 8

typedef struct plan_entry {
  size_t coils, H, W;
  fmr_recon *recon;
} plan_entry;

struct fmr_fft_cache {
  fmr_fft_effort effort;
  plan_entry plans[PLAN_CACHE];
  size_t next_evict;
};

int fmr_fft_cache_new(fmr_fft_effort effort, fmr_fft_cache **out, fmr_err *err) {
  *out = calloc(1, sizeof **out);
  if (!*out) return fmr_err_set(err, FMR_ENOMEM, "out of memory");
  (*out)->effort = effort;
  return 0;
}

void fmr_fft_cache_free(fmr_fft_cache **cache) {
  if (!cache || !*cache) return;
  for (size_t i = 0; i < PLAN_CACHE; i++) fmr_recon_free(&(*cache)->plans[i].recon);
  free(*cache);
  *cache = NULL;
}

/* The fastMRI volumes come in a handful of shapes, so a small cache keeps planning out of the
 * per-volume cost; round-robin eviction is enough for a list that is not pathological. */
int fmr_fft_cache_get(fmr_fft_cache *c, size_t coils, size_t H, size_t W, fmr_recon **out,
                      fmr_err *err) {
  for (size_t i = 0; i < PLAN_CACHE; i++) {
    plan_entry *p = &c->plans[i];
    if (p->recon && p->coils == coils && p->H == H && p->W == W) {
      *out = p->recon;
      return 0;
    }
  }
  plan_entry *slot = NULL;
  for (size_t i = 0; i < PLAN_CACHE && !slot; i++)
    if (!c->plans[i].recon) slot = &c->plans[i];
  if (!slot) {
    slot = &c->plans[c->next_evict];
    c->next_evict = (c->next_evict + 1) % PLAN_CACHE;
    fmr_recon_free(&slot->recon);
  }
  int rc = fmr_recon_new(coils, H, W, c->effort, 0, &slot->recon, err);
  if (rc) return rc;
  slot->coils = coils;
  slot->H = H;
  slot->W = W;
  *out = slot->recon;
  return 0;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int fmr_reconstruct_frame(const fmr_kspace_info *info, const fmr_header *hdr,
                          const fmr_reconstruct_opts *opts, const char *what, size_t *h, size_t *w,
                          fmr_err *err) {
  int rc = fmr_recon_target_frame(info, hdr, what, h, w, err);
  if (rc) return rc;
  const char *ds = fmr_recon_source_dataset(opts->source);
  if (!ds && (*h > info->H || *w > info->W))
    return fmr_err_set(err, FMR_EFORMAT,
                       "%s: the stored reconstruction's %zu x %zu frame is larger than the %zu x %zu "
                       "k-space image; set recon.source: reconstruction_rss for this data",
                       what, *h, *w, info->H, info->W);
  if (ds && !(opts->source == FMR_SOURCE_RSS ? info->has_rss : info->has_esc))
    return fmr_err_set(err, FMR_EFORMAT, "%s: recon.source is %s but the file has no such dataset",
                       what, ds);
  return 0;
}

/* The slice's reconstruction came out non-finite: NaN/Inf in the k-space (found by reading the slice
 * again with the scan the fast path skips), or finite values too large for float32. */
static int name_nonfinite(fmr_kspace *ks, fmr_recon *recon, size_t s, const char *what,
                          fmr_err *err) {
  int rc = fmr_kspace_read_slice(ks, s, fmr_recon_input(recon), err);
  if (rc) return rc;
  return fmr_err_set(err, FMR_ENUMERIC, "%s: slice %zu: reconstructed image holds Inf (k-space "
                     "values too large for float32)", what, s);
}

int fmr_reconstruct_volume(fmr_kspace *ks, const fmr_header *hdr, fmr_fft_cache *plans,
                           const fmr_reconstruct_opts *opts, const char *what, fmr_slice_sink sink,
                           void *sink_ctx, fmr_reconstruct_result *res, fmr_err *err) {
  const fmr_kspace_info *info = fmr_kspace_info_of(ks);
  float *plane_buf = NULL, *oriented = NULL, *stored = NULL;
  fmr_recon *recon = NULL;
  res->slices = info->slices;
  res->nmse = NAN;
  res->compared_with = NULL;
  res->timing = (fmr_reconstruct_timing){0};
  int rc = fmr_reconstruct_frame(info, hdr, opts, what, &res->h, &res->w, err);
  if (rc) return rc;
  const size_t h = res->h, w = res->w, plane = h * w;
  const char *source_ds = fmr_recon_source_dataset(opts->source);
  const char *compare_ds = NULL; /* stored image of the same frame our k-space result is compared with */
  if (!source_ds) {
    if (info->has_rss && info->rec_h == h && info->rec_w == w) compare_ds = "reconstruction_rss";
    else if (info->has_esc && info->rec_h == h && info->rec_w == w)
      compare_ds = "reconstruction_esc";
    rc = fmr_fft_cache_get(plans, info->coils, info->H, info->W, &recon, err);
    if (rc) return fmr_err_prefix(err, "%s: ", what);
  }
  plane_buf = malloc(plane * sizeof *plane_buf);
  oriented = malloc(plane * sizeof *oriented);
  if (compare_ds) stored = malloc(plane * sizeof *stored);
  if (!plane_buf || !oriented || (compare_ds && !stored)) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for a %zu x %zu image", what, h, w);
    goto done;
  }
  double num = 0.0, den = 0.0;
  fmr_recon_times rt = {0.0, 0.0};
  for (size_t s = 0; s < info->slices; s++) {
    double t0 = now_seconds();
    /* k-space goes straight into the transform buffer; its NaN/Inf scan is the transform's own
     * finiteness check of the output (see name_nonfinite). */
    rc = recon ? fmr_kspace_read_slice_raw(ks, s, fmr_recon_input(recon), err)
               : fmr_kspace_read_recon(ks, source_ds, s, plane_buf, err);
    if (!rc && compare_ds) rc = fmr_kspace_read_recon(ks, compare_ds, s, stored, err);
    double t1 = now_seconds();
    res->timing.read += t1 - t0;
    if (rc) goto done;
    if (recon) {
      rc = fmr_recon_slice_timed(recon, h, w, plane_buf, &rt, err);
      if (rc == FMR_ENUMERIC) rc = name_nonfinite(ks, recon, s, what, err);
      else if (rc) fmr_err_prefix(err, "%s: slice %zu: ", what, s);
      if (rc) goto done;
    }
    double t2 = now_seconds();
    if (compare_ds) {
      for (size_t i = 0; i < plane; i++) {
        double d = (double)plane_buf[i] - (double)stored[i];
        num += d * d;
        den += (double)stored[i] * (double)stored[i];
      }
    }
    fmr_orient(plane_buf, h, w, opts->flip_ud, opts->flip_lr, oriented);
    res->timing.combine_crop += now_seconds() - t2;
    rc = sink(sink_ctx, s, oriented, err);
    if (rc) goto done;
  }
  if (compare_ds && den > 0.0) {
    res->nmse = num / den;
    res->compared_with = compare_ds;
  }
done:
  res->timing.transform = rt.transform;
  res->timing.combine_crop += rt.combine;
  free(stored);
  free(oriented);
  free(plane_buf);
  return rc;
}
