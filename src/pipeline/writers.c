/* The writer table: every output kind is one row {kind, config switch, applies-to, count, write};
 * the life cycle (path from the store, stage, write, commit + hash, record, fault
 * classification) is written once, in fmr__write_outputs. Adding a kind: one row in the store's
 * kind table (its path rule), one writer and one row here. */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/export/boxes.h"
#include "fmr/export/dataset.h"
#include "fmr/export/nifti.h"
#include "fmr/labels/masks.h"
#include "fmr/labels/preview.h"
#include "fmr/pipeline/volume.h"
#include "fmr/util/measure.h"
#include "pipeline/pipeline.h"

typedef enum { FOR_ALL = 0, FOR_REVIEWED } applies_to;

/* A volume's writers run on two threads at once: writing is a quarter of a volume's time on one
 * rank, and a rank's second core is idle while it writes. Debian's parallel HDF5 is not
 * thread-safe (HDF5 builds parallel or thread-safe, not both), so every writer that calls HDF5
 * runs on the volume's own thread (LANE_HDF5); DCMTK, libpng and zlib are safe on objects of
 * their own, so the other writers' files (LANE_ANY) go to whichever thread is free. NIfTI stays
 * with HDF5: nifticlib keeps global options. The threads share only what the writers read (the
 * volume), the list of LANE_ANY files and the committer, which has a lock. */
typedef enum { LANE_HDF5 = 0, LANE_ANY } lane_id;

typedef struct writer {
  const char *kind;     /* the store's kind: path rule and manifest name */
  int (*enabled)(const fmr_config *cfg); /* the config switch */
  applies_to to;        /* reviewed: only volumes in the fastMRI+ file list get one */
  int masked;           /* reads the annotation mask (and rows) of a reviewed volume */
  fmr_stage_id stage;   /* where the run report counts its writing time */
  lane_id lane;
  /* How many files this volume gets (0: none, e.g. a SEG without findings). */
  int (*count)(const fmr__vol *v, size_t *n, fmr_err *err);
  /* Write file `index` to `path` (a temporary the store renames into place). */
  int (*write)(const fmr__vol *v, size_t index, const char *path, fmr_err *err);
} writer;

/* ---- DICOM images: one per slice ----------------------------------------------------------- */

static int dicom_count(const fmr__vol *v, size_t *n, fmr_err *err) {
  (void)err;
  *n = v->info.slices;
  return 0;
}

static int dicom_write(const fmr__vol *v, size_t slice, const char *path, fmr_err *err) {
  int rc = fmr_dicom_write_slice(&v->series, slice, v->pixels + slice * v->h * v->w, path, err);
  return rc == FMR_ESTORAGE || !rc ? rc : fmr_err_prefix(err, "slice %zu: ", slice);
}

/* ---- HDF5 mask ------------------------------------------------------------------------------ */

static int one(const fmr__vol *v, size_t *n, fmr_err *err) {
  (void)v;
  (void)err;
  *n = 1;
  return 0;
}

/* The mask in the configured frame; v->mask (image frame) is left as it was. */
static int mask_write(const fmr__vol *v, size_t index, const char *path, fmr_err *err) {
  (void)index;
  const fmr_config *cfg = v->cfg;
  size_t slices = v->info.slices, h = v->h, w = v->w, pb = v->pb;
  int native = cfg->mask_frame == FMR_MASK_FRAME_NATIVE;
  void *native_mask = NULL;
  if (native && (cfg->flip_up_down || cfg->flip_left_right)) {
    /* fastMRI's arrays: undo the flips the images got. */
    native_mask = malloc(slices * h * w * pb);
    if (!native_mask)
      return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the mask", v->task->name);
    memcpy(native_mask, v->mask, slices * h * w * pb);
    fmr__flip_mask(native_mask, slices, h, w, pb, cfg->flip_up_down, cfg->flip_left_right);
  }
  fmr_mask_file mf = {
      .volume = v->task->name,
      .anatomy = cfg->anatomy,
      .frame = native ? "native" : "image",
      .flip_ud = native ? 0 : cfg->flip_up_down,
      .flip_lr = native ? 0 : cfg->flip_left_right,
      .slices = slices,
      .h = h,
      .w = w,
      .pixel_bytes = pb,
      .mask = native_mask ? native_mask : v->mask,
      .nvocab = v->nvocab,
      .vocab = v->vocab,
  };
  int rc = fmr_masks_write(path, &mf, err);
  free(native_mask);
  return rc;
}

/* ---- DICOM Segmentation: only when some label has pixels (a SEG needs a frame) --------------- */

static fmr_seg_input seg_input(const fmr__vol *v) {
  fmr_seg_input in = {
      .series = &v->series,
      .mask = v->mask,
      .pixel_bytes = v->pb,
      .nvocab = v->nvocab,
      .vocab = v->vocab,
      .codes = v->codes,
  };
  return in;
}

static int seg_count(const fmr__vol *v, size_t *n, fmr_err *err) {
  fmr_seg_input in = seg_input(v);
  *n = fmr_seg_count_segments(&in) > 0; /* no findings: no SEG, table or not */
  if (*n && !v->codes)
    return fmr_err_set(err, FMR_ECONFIG, "%s: no SEG code table: %s", v->task->name,
                       v->codes_problem ? v->codes_problem : "not loaded");
  return 0;
}

static int seg_write(const fmr__vol *v, size_t index, const char *path, fmr_err *err) {
  (void)index;
  fmr_seg_input in = seg_input(v);
  return fmr_seg_write(&in, path, err);
}

/* ---- PNG contact sheet: only when some box draws something ----------------------------------- */

static int preview_boxes(const fmr__vol *v, fmr_preview_box **boxes, size_t *n, fmr_err *err) {
  return fmr_preview_boxes(v->va, v->info.slices, v->h, v->w, v->cfg->flip_up_down,
                           v->cfg->flip_left_right, boxes, n, err);
}

static int preview_count(const fmr__vol *v, size_t *n, fmr_err *err) {
  fmr_preview_box *boxes = NULL;
  size_t nboxes = 0;
  int rc = preview_boxes(v, &boxes, &nboxes, err);
  free(boxes);
  *n = !rc && nboxes > 0;
  return rc;
}

static int preview_write(const fmr__vol *v, size_t index, const char *path, fmr_err *err) {
  (void)index;
  fmr_preview_box *boxes = NULL;
  size_t nboxes = 0;
  int rc = preview_boxes(v, &boxes, &nboxes, err);
  if (rc) return rc;
  fmr_preview_input in = {
      .volume = v->task->name,
      .slices = v->info.slices,
      .rows = v->h,
      .cols = v->w,
      .pixels = v->pixels,
      .window_center = v->scaling.window_center,
      .window_width = v->scaling.window_width,
      .boxes = boxes,
      .nboxes = nboxes,
      .nvocab = v->nvocab,
      .vocab = v->vocab,
  };
  rc = fmr_preview_write(&in, path, err);
  free(boxes);
  return rc;
}

/* ---- recon/<name>.h5: what dataset.h5 and boxes.csv are built from (export/dataset.h) -------- */

/* Every processed volume gets one, reviewed or not (its box table may be empty). The float stack
 * and the mask (reviewed volumes) only with output.dataset: boxes.csv alone needs neither. */
static int recon_write(const fmr__vol *v, size_t index, const char *path, fmr_err *err) {
  (void)index;
  fmr_dataset_attrs a;
  char uid[FMR_UID_MAX];
  int rc = fmr_volume_dataset_attrs(v->cfg, v->rec, uid, &a, err);
  if (rc) return rc;
  fmr_box_row *rows = NULL;
  size_t nrows = 0;
  rc = fmr_boxes_of_volume(fmr_annotations_find(v->ann, v->task->name), &v->series, &rows, &nrows,
                           err);
  int full = v->cfg->write_dataset;
  if (!rc)
    rc = fmr_dataset_volume_write(path, &a, full ? v->recon : NULL,
                                  full && v->task->reviewed ? v->mask : NULL, v->pb, rows, nrows,
                                  v->h5_scratch, v->h5_scratch_bytes, err);
  free(rows);
  return rc;
}

/* ---- NIfTI pairs (output.nifti): the DICOM pixels and the image-frame mask ------------------- */

static int nifti_write(const fmr__vol *v, size_t index, const char *path, fmr_err *err) {
  (void)index;
  return fmr_nifti_write_image(path, &v->series, v->pixels, err);
}

static int nifti_mask_write(const fmr__vol *v, size_t index, const char *path, fmr_err *err) {
  (void)index;
  return fmr_nifti_write_mask(path, &v->series, v->mask, v->pb, err);
}

/* ---- the table and the life cycle ------------------------------------------------------------ */

static int on_dicom(const fmr_config *c) { return c->write_dicom; }
static int on_masks(const fmr_config *c) { return c->write_masks; }
static int on_seg(const fmr_config *c) { return c->write_seg; }
static int on_preview(const fmr_config *c) { return c->write_preview; }
static int on_recon(const fmr_config *c) { return c->write_dataset || c->write_boxes; }
static int on_nifti(const fmr_config *c) { return c->write_nifti; }

static const writer writers[] = {
    {"dicom", on_dicom, FOR_ALL, 0, FMR_STAGE_WRITE_IMAGES, LANE_ANY, dicom_count, dicom_write},
    {"mask", on_masks, FOR_REVIEWED, 1, FMR_STAGE_WRITE_ANNOTATIONS, LANE_HDF5, one, mask_write},
    {"seg", on_seg, FOR_REVIEWED, 1, FMR_STAGE_WRITE_ANNOTATIONS, LANE_ANY, seg_count,
     seg_write},
    {"preview", on_preview, FOR_REVIEWED, 1, FMR_STAGE_WRITE_ANNOTATIONS, LANE_ANY,
     preview_count, preview_write},
    {"recon", on_recon, FOR_ALL, 1, FMR_STAGE_WRITE_TRAINING, LANE_HDF5, one, recon_write},
    {"nifti", on_nifti, FOR_ALL, 0, FMR_STAGE_WRITE_TRAINING, LANE_HDF5, one, nifti_write},
    {"nifti_mask", on_nifti, FOR_REVIEWED, 1, FMR_STAGE_WRITE_TRAINING, LANE_HDF5, one,
     nifti_mask_write},
};

static int wanted(const writer *wr, const fmr_config *cfg, int reviewed) {
  return wr->enabled(cfg) && (wr->to == FOR_ALL || reviewed);
}

int fmr__writers_need_annotations(const fmr_config *cfg, int reviewed) {
  for (size_t i = 0; i < sizeof writers / sizeof *writers; i++)
    if (reviewed && writers[i].masked && wanted(&writers[i], cfg, reviewed)) return 1;
  return 0;
}

/* One fsync per folder, not per file: a folder's files are renamed in one after another, then
 * the folder is synced once when the next output goes elsewhere (36 DICOM files, one sync), and
 * always before the record that makes them count is committed; each lane keeps its own folder.
 * Hashing, syncing and renaming run on the committer's thread, in this order, while the next
 * file is written. */
static int sync_pending(fmr__committer *c, char pending[PATH_MAX], fmr_err *err) {
  if (!pending[0]) return 0;
  int rc = fmr__committer_dir(c, pending, err);
  pending[0] = '\0';
  return rc;
}

static size_t dir_len(const char *rel) {
  const char *slash = strrchr(rel, '/');
  return slash ? (size_t)(slash - rel) : 0;
}

/* One file to write: writers[writer], its file `file`. */
typedef struct item {
  size_t writer, file;
} item;

/* The LANE_ANY files, whole-volume files first (a SEG, a sheet: one item is a volume's work),
 * then per-slice files in table order. The helper thread takes from the front, the volume's
 * thread from the back once its HDF5 files are done, so the large items start first and the
 * two threads end within one small file of each other. */
typedef struct shared_items {
  pthread_mutex_t mu;
  const item *v;
  size_t front, back; /* [front, back) are still to take */
} shared_items;

static const item *take(shared_items *q, int from_back) {
  pthread_mutex_lock(&q->mu);
  const item *it = q->front < q->back ? &q->v[from_back ? --q->back : q->front++] : NULL;
  pthread_mutex_unlock(&q->mu);
  return it;
}

/* One thread's share of a volume's outputs. */
typedef struct lane {
  const fmr__vol *v;
  fmr__committer *c;
  const item *own; /* the HDF5 files (the volume's thread only) */
  size_t nown;
  shared_items *any;
  int from_back;
  atomic_int *stop; /* set by the first thread that fails: the other stops at its next file */
  fmr_stage_times times;
  int rc;
  uint64_t failed_at; /* the order of the file that failed, for choosing between the threads */
  fmr_err err;
  char pending[PATH_MAX]; /* the folder whose sync is due when the next file goes elsewhere */
} lane;

static uint64_t order_of(const item *it) { return ((uint64_t)it->writer << 32) | it->file; }

static int write_item(lane *l, const item *it) {
  const fmr__vol *v = l->v;
  const writer *wr = &writers[it->writer];
  fmr_err *err = &l->err;
  fmr_stage st;
  char rel[PATH_MAX];
  int rc = fmr_store_path(wr->kind, v->task->name, it->file, rel, sizeof rel, err);
  if (!rc && l->pending[0] &&
      (dir_len(l->pending) != dir_len(rel) || strncmp(l->pending, rel, dir_len(rel)) != 0))
    rc = sync_pending(l->c, l->pending, err);
  if (!rc) rc = fmr_store_stage(v->store, rel, &st, err);
  if (rc) return rc;
  st.defer_dir_sync = 1;
  double t0 = fmr_monotonic_seconds();
  rc = wr->write(v, it->file, st.tmp, err);
  l->times.seconds[wr->stage] += fmr_monotonic_seconds() - t0;
  if (rc) return fmr_store_abandon(v->store, &st, rc, err);
  /* The record lists a volume's files in table order, whichever thread committed first. */
  rc = fmr__committer_file(l->c, &st, wr->kind, order_of(it), err);
  if (rc) return rc;
  snprintf(l->pending, PATH_MAX, "%s", rel);
  return 0;
}

static void run_lane(lane *l) {
  size_t i = 0;
  for (;;) {
    const item *it = i < l->nown ? &l->own[i++] : take(l->any, l->from_back);
    /* fmr__committer_finish or the other thread says why */
    if (!it || atomic_load(l->stop) || fmr__committer_failed(l->c)) break;
    l->rc = write_item(l, it);
    if (l->rc) {
      l->failed_at = order_of(it);
      break;
    }
  }
  if (!l->rc && (l->rc = sync_pending(l->c, l->pending, &l->err)) != 0) l->failed_at = UINT64_MAX;
  if (l->rc) atomic_store(l->stop, 1);
}

static void *lane_main(void *arg) {
  run_lane(arg);
  return NULL;
}

/* Every file this volume gets: the HDF5 ones in table order, the others in shared_items order. */
static int list_items(const fmr__vol *v, item **own, size_t *nown, item **any, size_t *nany,
                      fmr_err *err) {
  size_t nw = sizeof writers / sizeof *writers, counts[sizeof writers / sizeof *writers];
  size_t total = 0;
  *own = *any = NULL;
  *nown = *nany = 0;
  for (size_t i = 0; i < nw; i++) {
    counts[i] = 0;
    if (!wanted(&writers[i], v->cfg, v->task->reviewed)) continue;
    int rc = writers[i].count(v, &counts[i], err);
    if (rc) return rc;
    total += counts[i];
  }
  *own = malloc((total ? total : 1) * sizeof **own);
  *any = malloc((total ? total : 1) * sizeof **any);
  if (!*own || !*any) {
    free(*own);
    free(*any);
    *own = *any = NULL;
    return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", v->task->name);
  }
  for (int pass = 0; pass < 2; pass++) /* LANE_ANY: single files first, then files per slice */
    for (size_t i = 0; i < nw; i++) {
      int hdf5 = writers[i].lane == LANE_HDF5;
      if (hdf5 ? pass == 1 : (counts[i] > 1) != pass) continue;
      for (size_t k = 0; k < counts[i]; k++) {
        item it = {i, k};
        if (hdf5) (*own)[(*nown)++] = it;
        else (*any)[(*nany)++] = it;
      }
    }
  return 0;
}

int fmr__write_outputs(fmr__vol *v, fmr_err *err) {
  item *own = NULL, *anyv = NULL;
  size_t nown = 0, nany = 0;
  int rc = list_items(v, &own, &nown, &anyv, &nany, err);
  if (rc) return rc;
  fmr__committer *c = fmr__committer_start(v->store);
  if (!c) {
    free(own);
    free(anyv);
    return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", v->task->name);
  }
  /* The HDF5 files are built in the idle memory left (the other writers read the pixels and the
   * mask carved before it). */
  v->h5_scratch = fmr__vol_carve_rest(v, &v->h5_scratch_bytes);
  shared_items q = {.v = anyv, .front = 0, .back = nany};
  int have_mu = pthread_mutex_init(&q.mu, NULL) == 0;
  atomic_int stop = 0;
  enum { NLANES = 2 };
  lane lanes[NLANES];
  memset(lanes, 0, sizeof lanes);
  for (int i = 0; i < NLANES; i++) {
    lanes[i].v = v;
    lanes[i].c = c;
    lanes[i].any = &q;
    lanes[i].stop = &stop;
    fmr_err_clear(&lanes[i].err);
  }
  lanes[0].own = own; /* the volume's thread: its HDF5 files, then the others from the back */
  lanes[0].nown = nown;
  lanes[0].from_back = 1;
  /* Without a second thread (or lock) the volume's thread writes everything: the same files. */
  pthread_t th;
  int threaded = have_mu && nany > 0 && pthread_create(&th, NULL, lane_main, &lanes[1]) == 0;
  if (!have_mu) {
    /* take() needs the lock: give every file to the volume's thread instead. */
    for (size_t i = 0; i < nany; i++) own[nown++] = anyv[i];
    lanes[0].nown = nown;
    q.back = 0;
  }
  run_lane(&lanes[0]);
  if (threaded) pthread_join(th, NULL);
  if (have_mu) pthread_mutex_destroy(&q.mu);
  free(own);
  free(anyv);

  /* The volume's failure: the storage's if a thread met it, else the one of the file first in
   * table order, so that the same fault gives the same message whichever thread met it. */
  int fi = -1;
  for (int i = 0; i < NLANES; i++) {
    for (int k = 0; k < FMR_NSTAGES; k++) v->times->seconds[k] += lanes[i].times.seconds[k];
    if (!lanes[i].rc) continue;
    if (fi < 0) {
      fi = i;
      continue;
    }
    int si = lanes[i].rc == FMR_ESTORAGE, sf = lanes[fi].rc == FMR_ESTORAGE;
    if (si != sf ? si : lanes[i].failed_at < lanes[fi].failed_at) fi = i;
  }
  if (fi >= 0) {
    rc = lanes[fi].rc;
    *err = lanes[fi].err;
  }
  fmr_err cerr;
  fmr_err_clear(&cerr);
  int crc = fmr__committer_finish(c, v->rec, v->times, &cerr);
  /* A fault of the storage stops the run, whichever side met it first. */
  if (crc && (!rc || (crc == FMR_ESTORAGE && rc != FMR_ESTORAGE))) {
    rc = crc;
    *err = cerr;
  }
  return rc; /* a failed volume's outputs are removed by the caller */
}
