/* One volume's reconstruction loop (see reconstruct.h). The per-slice arithmetic is recon.c's; this
 * file decides where each slice comes from, what it is compared with, and hands it on oriented. */
#define _GNU_SOURCE /* mincore */
#include "fmr/recon/reconstruct.h"
#include "fmr/util/measure.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
  /* Only the shape in use holds a spare input buffer (fmr_recon_spare): a run over many shapes
   * would otherwise keep one per cached shape. */
  fmr_recon *hit = NULL;
  for (size_t i = 0; i < PLAN_CACHE; i++) {
    plan_entry *p = &c->plans[i];
    if (!p->recon) continue;
    if (p->coils == coils && p->H == H && p->W == W) hit = p->recon;
    else fmr_recon_release_spare(p->recon);
  }
  if (hit) {
    *out = hit;
    return 0;
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

/* ---- read-ahead ------------------------------------------------------------------------------
 * While slice s is transformed, a thread reads slice s+1. HDF5 here is not thread-safe, so the
 * thread never calls it (nor FFTW); it only pread()s byte ranges looked up on the calling thread:
 *  - k-space stored as one plain block (fmr_kspace_raw_slice: the fastMRI files) is read straight
 *    into the transform's spare input buffer, which then becomes the input (fmr_recon_take_spare):
 *    the read leaves the transforming thread altogether. The bytes are the ones HDF5 would give.
 *    A read that comes up short fails the volume (pf_wait): HDF5 would have read zeros.
 *  - anything else (chunked, compressed; the stored image compared with) is only pulled into the
 *    page cache through a small scratch buffer, skipping pages mincore() says are cached, so the
 *    HDF5 read of s+1 is a copy from memory.
 * Nothing the thread does can change a result; if it cannot start, slices are read as before. */
#define PF_SCRATCH ((size_t)1 << 20)

typedef struct prefetch {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int fd;
  const unsigned char *map; /* the file mapped read-only, for mincore only (never touched) */
  size_t map_len, page;
  unsigned char *scratch, *vec;
  size_t vec_cap;
  fmr_kspace_extent *job, *todo; /* posted ranges / the ones being read */
  size_t njob, cap;
  size_t job_slice, done; /* done: slices [0, done) are in the page cache as far as we know */
  float complex *dst;      /* posted: read job_raw into here (NULL: no raw read) */
  fmr_kspace_extent job_raw;
  int raw_rc;              /* slice done - 1 into dst: pf_read_into's result */
  int posted, quit;
} prefetch;

/* All of [off, off+len) into dst: 0, else the errno of a failed read, or -1 when the file ends
 * first. */
static int pf_read_into(prefetch *pf, unsigned char *dst, uint64_t off, uint64_t len) {
  while (len > 0) {
    size_t n = len < ((size_t)1 << 30) ? (size_t)len : (size_t)1 << 30;
    ssize_t got = pread(pf->fd, dst, n, (off_t)off);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno ? errno : EIO;
    if (got == 0) return -1;
    dst += got;
    off += (uint64_t)got;
    len -= (uint64_t)got;
  }
  return 0;
}

static void pf_read_range(prefetch *pf, uint64_t off, uint64_t len) {
  while (len > 0) {
    size_t n = len < PF_SCRATCH ? (size_t)len : PF_SCRATCH;
    ssize_t got = pread(pf->fd, pf->scratch, n, (off_t)off);
    if (got <= 0) return; /* EOF or error: the HDF5 read will report what matters */
    off += (uint64_t)got;
    len -= (uint64_t)got;
  }
}

/* Read the pages of [off, off+len) that are not cached, in runs. */
static void pf_fetch(prefetch *pf, uint64_t off, uint64_t len) {
  if (off >= pf->map_len) return;
  if (len > pf->map_len - off) len = pf->map_len - off;
  uint64_t first = off / pf->page, last = (off + len + pf->page - 1) / pf->page;
  size_t npages = (size_t)(last - first);
  if (npages > pf->vec_cap) {
    unsigned char *v = realloc(pf->vec, npages);
    if (!v) {
      pf_read_range(pf, off, len);
      return;
    }
    pf->vec = v;
    pf->vec_cap = npages;
  }
  if (mincore((void *)(pf->map + first * pf->page), npages * pf->page, pf->vec) != 0) {
    pf_read_range(pf, off, len);
    return;
  }
  size_t i = 0;
  while (i < npages) {
    if (pf->vec[i] & 1) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < npages && !(pf->vec[j] & 1)) j++;
    pf_read_range(pf, (first + i) * pf->page, (uint64_t)(j - i) * pf->page);
    i = j;
  }
}

static void *pf_main(void *arg) {
  prefetch *pf = arg;
  pthread_mutex_lock(&pf->mu);
  for (;;) {
    while (!pf->posted && !pf->quit) pthread_cond_wait(&pf->cv, &pf->mu);
    if (pf->quit) break;
    fmr_kspace_extent *t = pf->todo;
    pf->todo = pf->job;
    pf->job = t;
    size_t n = pf->njob, slice = pf->job_slice;
    float complex *dst = pf->dst;
    fmr_kspace_extent raw = pf->job_raw;
    pf->posted = 0;
    pthread_mutex_unlock(&pf->mu);
    int raw_rc = dst ? pf_read_into(pf, (unsigned char *)dst, raw.offset, raw.length) : 0;
    for (size_t k = 0; k < n; k++) {
      const fmr_kspace_extent *x = &pf->todo[k];
      if (dst && x->offset >= raw.offset && x->offset - raw.offset < raw.length) continue; /* read */
      pf_fetch(pf, x->offset, x->length);
    }
    pthread_mutex_lock(&pf->mu);
    pf->raw_rc = raw_rc;
    pf->done = slice + 1;
    pthread_cond_broadcast(&pf->cv);
  }
  pthread_mutex_unlock(&pf->mu);
  return NULL;
}

/* NULL when read-ahead is not possible here (then the loop reads without it). */
static prefetch *pf_start(const char *path) {
  prefetch *pf = calloc(1, sizeof *pf);
  if (!pf) return NULL;
  pf->fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  long page = sysconf(_SC_PAGESIZE);
  if (pf->fd < 0 || fstat(pf->fd, &st) != 0 || st.st_size <= 0 || page <= 0) goto fail;
  pf->page = (size_t)page;
  pf->map_len = (size_t)st.st_size;
  void *m = mmap(NULL, pf->map_len, PROT_READ, MAP_SHARED, pf->fd, 0);
  if (m == MAP_FAILED) goto fail;
  pf->map = m;
  if (!(pf->scratch = malloc(PF_SCRATCH))) goto fail;
  if (pthread_mutex_init(&pf->mu, NULL) != 0) goto fail;
  if (pthread_cond_init(&pf->cv, NULL) != 0) {
    pthread_mutex_destroy(&pf->mu);
    goto fail;
  }
  if (pthread_create(&pf->thread, NULL, pf_main, pf) != 0) {
    pthread_cond_destroy(&pf->cv);
    pthread_mutex_destroy(&pf->mu);
    goto fail;
  }
  return pf;
fail:
  if (pf->map) munmap((void *)pf->map, pf->map_len);
  if (pf->fd >= 0) close(pf->fd);
  free(pf->scratch);
  free(pf);
  return NULL;
}

static void pf_stop(prefetch *pf) {
  if (!pf) return;
  pthread_mutex_lock(&pf->mu);
  pf->quit = 1;
  pthread_cond_broadcast(&pf->cv);
  pthread_mutex_unlock(&pf->mu);
  pthread_join(pf->thread, NULL);
  pthread_cond_destroy(&pf->cv);
  pthread_mutex_destroy(&pf->mu);
  munmap((void *)pf->map, pf->map_len);
  close(pf->fd);
  free(pf->job);
  free(pf->todo);
  free(pf->vec);
  free(pf->scratch);
  free(pf);
}

/* Hand slice s's ranges to the thread (HDF5 lookups here, on the calling thread). A failure only
 * means no read-ahead for this slice. */
static void pf_post(prefetch *pf, fmr_kspace *ks, size_t s, const char *compare,
                    float complex *spare) {
  size_t n = 0;
  fmr_err e;
  pthread_mutex_lock(&pf->mu);
  pf->dst = spare && fmr_kspace_raw_slice(ks, s, &pf->job_raw) ? spare : NULL;
  /* the thread swaps job and todo only while posted, which is 0 here: job is ours */
  int ok = fmr_kspace_slice_extents(ks, s, compare, pf->job, pf->cap, &n, &e) == 0;
  if (ok && n > pf->cap) {
    fmr_kspace_extent *a = realloc(pf->job, n * sizeof *a);
    fmr_kspace_extent *b = realloc(pf->todo, n * sizeof *b);
    if (a) pf->job = a;
    if (b) pf->todo = b;
    ok = a && b;
    if (ok) {
      pf->cap = n;
      ok = fmr_kspace_slice_extents(ks, s, compare, pf->job, pf->cap, &n, &e) == 0 && n <= pf->cap;
    }
  }
  pf->njob = ok ? n : 0;
  pf->job_slice = s;
  pf->posted = 1;
  pthread_cond_broadcast(&pf->cv);
  pthread_mutex_unlock(&pf->mu);
}

/* Wait until slice s has been read ahead: 1 when it was read whole into the spare buffer, 0 when
 * it is for HDF5 to read, else an error naming the file. HDF5 reads past the end of a file as
 * zeros, so a file cut short after it was opened must be caught here. */
static int pf_wait(prefetch *pf, size_t s, const char *what, fmr_err *err) {
  pthread_mutex_lock(&pf->mu);
  while (pf->done < s + 1 || pf->posted) pthread_cond_wait(&pf->cv, &pf->mu);
  int have = pf->dst != NULL, e = pf->raw_rc;
  pthread_mutex_unlock(&pf->mu);
  if (have && e)
    return fmr_err_set(err, FMR_EIO, "%s: slice %zu: %s", what, s,
                       e < 0 ? "the file ends inside this slice (was it changed while being read?)"
                             : strerror(e));
  return have;
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
  prefetch *pf = NULL;
  res->slices = info->slices;
  res->nmse = NAN;
  res->compared_with = NULL;
  res->timing = (fmr_reconstruct_timing){0};
  res->idle = res->idle_spare = NULL;
  res->idle_bytes = res->idle_spare_bytes = 0;
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
  float complex *spare = NULL;
  if (recon && (pf = pf_start(fmr_kspace_path(ks))) != NULL) {
    /* Slice 0 is read here, into the warm input buffer, while the thread faults in the spare
     * with slice 1: waiting for a fresh buffer's first pages would be the one wait left. */
    spare = fmr_recon_spare(recon);
    pf_post(pf, ks, 0, compare_ds, NULL);
  }
  for (size_t s = 0; s < info->slices; s++) {
    double tw = fmr_monotonic_seconds();
    int have = 0; /* slice s is in the input buffer already */
    if (pf) {
      if ((have = pf_wait(pf, s, what, err)) < 0) {
        rc = have;
        goto done;
      }
      if (have) fmr_recon_take_spare(recon); /* the old input is the spare again */
      if (s + 1 < info->slices)
        pf_post(pf, ks, s + 1, compare_ds, spare ? fmr_recon_spare(recon) : NULL);
    }
    double t0 = fmr_monotonic_seconds();
    res->timing.read_wait += t0 - tw;
    /* k-space goes straight into the transform buffer; its NaN/Inf scan is the transform's own
     * finiteness check of the output (see name_nonfinite). */
    rc = !recon  ? fmr_kspace_read_recon(ks, source_ds, s, plane_buf, err)
         : !have ? fmr_kspace_read_slice_raw(ks, s, fmr_recon_input(recon), err)
                 : 0;
    if (!rc && compare_ds) rc = fmr_kspace_read_recon(ks, compare_ds, s, stored, err);
    double t1 = fmr_monotonic_seconds();
    res->timing.read += t1 - t0;
    if (rc) goto done;
    if (recon) {
      rc = fmr_recon_slice_timed(recon, h, w, plane_buf, &rt, err);
      if (rc == FMR_ENUMERIC) rc = name_nonfinite(ks, recon, s, what, err);
      else if (rc) fmr_err_prefix(err, "%s: slice %zu: ", what, s);
      if (rc) goto done;
    }
    double t2 = fmr_monotonic_seconds();
    if (compare_ds) {
      for (size_t i = 0; i < plane; i++) {
        double d = (double)plane_buf[i] - (double)stored[i];
        num += d * d;
        den += (double)stored[i] * (double)stored[i];
      }
    }
    fmr_orient(plane_buf, h, w, opts->flip_ud, opts->flip_lr, oriented);
    res->timing.combine_crop += fmr_monotonic_seconds() - t2;
    rc = sink(sink_ctx, s, oriented, err);
    if (rc) goto done;
  }
  if (compare_ds && den > 0.0) {
    res->nmse = num / den;
    res->compared_with = compare_ds;
  }
done:
  pf_stop(pf);
  if (!rc && recon) {
    res->idle = fmr_recon_idle_buffer(recon, &res->idle_bytes);
    res->idle_spare = fmr_recon_idle_spare(recon, &res->idle_spare_bytes);
  }
  res->timing.transform = rt.transform;
  res->timing.combine_crop += rt.combine;
  free(stored);
  free(oriented);
  free(plane_buf);
  return rc;
}
