/* Internals shared by the per-volume pipeline's files: volume.c (the flow), writers.c (the table
 * of output kinds and their one life cycle), annotate.c (the record's label statistics and the
 * mask they come from). Library-internal: double-underscore names. No MPI here. */
#ifndef FMR_PIPELINE_INTERNAL_H
#define FMR_PIPELINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/dicom/dicom.h"
#include "fmr/dicom/seg.h"
#include "fmr/input/config.h"
#include "fmr/labels/annotations.h"
#include "fmr/output/record.h"
#include "fmr/output/store.h"
#include "fmr/pipeline/task.h"
#include "fmr/pipeline/volume.h"
#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/recon/scale.h"
#include "fmr/util/error.h"

/* One volume between reconstruction and its record: what every writer reads. */
typedef struct fmr__vol {
  const fmr_config *cfg;
  const fmr_task *task;
  const fmr_store *store;
  fmr_kspace_info info; /* scalars only (header_xml not kept) */
  fmr_header hdr;
  size_t h, w;
  const int16_t *pixels; /* slices*h*w, image frame */
  const float *recon;    /* slices*h*w, image frame, before scaling; NULL unless output.dataset */
  fmr_scaling scaling;
  fmr_dicom_series series;
  /* Annotations (reviewed volumes with an annotation output on; else mask is NULL). */
  const fmr_annotations *ann;
  const fmr_volume_annotations *va; /* NULL: no rows */
  void *mask;                       /* slices*h*w pixels of pb bytes, image frame */
  size_t pb, nvocab;
  const char **vocab;
  const fmr_seg_codes *codes;       /* NULL when unreadable */
  const char *codes_problem;        /* why codes is NULL */
  fmr_record *rec;
  fmr_stage_times *times; /* where the writers add their seconds */
  /* What is left of the transform's two idle input buffers (fmr_reconstruct_result.idle and
   * .idle_spare), for the volume's own buffers: see fmr__vol_carve. */
  unsigned char *idle[2];
  size_t idle_left[2];
  int mask_carved; /* mask is in idle: not freed */
  /* The rest of the idle memory, for the HDF5 writers' in-memory files (one at a time, each
   * written out before the next is built): NULL when none is left. */
  void *h5_scratch;
  size_t h5_scratch_bytes;
} fmr__vol;

/* bytes from v's idle transform buffers, zeroed, or NULL when they do not fit (then malloc).
 * Each buffer is 27 MB of pages already resident for a knee volume: the 16-bit pixels and the
 * mask (21 MB) carved from them, and the recon/ file built in the rest (fmr__vol_carve_rest), do
 * not add to the peak RSS or cost page faults while the writers run at once. */
void *fmr__vol_carve(fmr__vol *v, size_t bytes);
/* The larger of what is left of the idle buffers, not zeroed (*bytes of it; NULL when none). */
void *fmr__vol_carve_rest(fmr__vol *v, size_t *bytes);

/* Rasterise the volume's rows into v->mask and put the label statistics, study labels, problems
 * and box warnings into v->rec. */
int fmr__annotate(fmr__vol *v, fmr_err *err);
void fmr__annotate_release(fmr__vol *v);
/* Reverse the rows and/or columns of every slice of a slices x h x w mask (pb bytes a pixel). */
void fmr__flip_mask(void *mask, size_t slices, size_t h, size_t w, size_t pb, int rows, int cols);

/* Does some enabled writer need the annotation mask (image frame) for this volume? */
int fmr__writers_need_annotations(const fmr_config *cfg, int reviewed);
/* The committer (committer.c): a volume's outputs hashed, fsynced and renamed into place on a thread
 * of their own, in the order queued, while the writers write the next ones. */
typedef struct fmr__committer fmr__committer;
/* NULL only when out of memory. Without a thread (pthread_create failed) jobs run as queued. */
fmr__committer *fmr__committer_start(const fmr_store *store);
/* Queue the staged file (written and closed) for fmr_store_commit with its folder's sync left to
 * a folder job; order is where fmr__committer_finish lists it. On failure (out of memory) the
 * temporary is removed. Callable from several threads. */
int fmr__committer_file(fmr__committer *c, const fmr_stage *st, const char *kind, uint64_t order,
                        fmr_err *err);
/* Queue the fsync of the folder of output `rel`, after its last file. */
int fmr__committer_dir(fmr__committer *c, const char *rel, fmr_err *err);
/* Has a queued job failed? Then queue no more: fmr__committer_finish returns the failure. */
int fmr__committer_failed(fmr__committer *c);
/* Wait for every job and free c; list each file that reached its name in rec, in `order`
 * (after a failure too, so that the caller removes them); add the seconds to times. Returns the
 * first failure (FMR_ESTORAGE for the storage). */
int fmr__committer_finish(fmr__committer *c, fmr_record *rec, fmr_stage_times *times,
                          fmr_err *err);

/* Write every enabled output kind, committing each file and listing it in v->rec. On failure the
 * files written so far stay listed (the caller removes them); FMR_ESTORAGE for the storage. */
int fmr__write_outputs(fmr__vol *v, fmr_err *err);

#endif
