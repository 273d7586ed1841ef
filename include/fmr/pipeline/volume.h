/* One volume end to end: read -> reconstruct -> orient -> scale -> DICOM -> masks -> record.
 * Plain C, no MPI: the scheduler calls it on whichever rank got the volume, and a test can call it
 * on one file. A failure is returned as a record with status "failed", never as a crash. */
#ifndef FMR_VOLUME_H
#define FMR_VOLUME_H

#include <jansson.h>
#include <stddef.h>

#include "fmr/labels/annotations.h"
#include "fmr/input/config.h"
#include "fmr/util/error.h"
#include "fmr/output/record.h"
#include "fmr/output/store.h"
#include "fmr/dicom/seg.h"
#include "fmr/dicom/uid.h"
#include "fmr/export/dataset.h"
#include "fmr/pipeline/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-worker state reused across volumes (FFTW plans by shape). */
typedef struct fmr_volume_ctx fmr_volume_ctx;

/* cfg, ann and codes (the plan's SEG code table; NULL when output.seg is off) are borrowed and
 * must outlive the context. Opens the output store on cfg->output_dir (fmr_store_open:
 * FMR_ECONFIG for a directory this tool does not own). */
int fmr_volume_ctx_new(const fmr_config *cfg, const fmr_annotations *ann,
                       const fmr_seg_codes *codes, fmr_volume_ctx **out, fmr_err *err);
void fmr_volume_ctx_free(fmr_volume_ctx **ctx);

/* Called by the pipeline between slices, so a rank that also coordinates can answer the others
 * while it reconstructs (SPEC 9, every task a worker). NULL fields are skipped. */
typedef struct fmr_volume_hooks {
  void (*between_slices)(void *ctx);
  void *ctx;
} fmr_volume_hooks;

/* Where a volume's time goes, for the run report (issue 12): one row per stage, in this order.
 * Not in the record or the manifest, which must not depend on the machine. */
typedef enum fmr_stage_id {
  FMR_STAGE_READ,              /* reads on the transforming thread (HDF5; see reconstruct.h) */
  FMR_STAGE_READ_WAIT,         /* waiting for the read-ahead thread to read the next slice */
  FMR_STAGE_TRANSFORM,         /* FFTW */
  FMR_STAGE_COMBINE_CROP,      /* root-sum-of-squares, crop, NMSE, orientation */
  FMR_STAGE_SCALE,             /* SPEC 5.1: the percentile and the 16-bit pixels */
  FMR_STAGE_ANNOTATE,          /* rasterising the boxes into the mask, label statistics */
  FMR_STAGE_WRITE_IMAGES,      /* encoding and writing the DICOM images */
  FMR_STAGE_WRITE_ANNOTATIONS, /* mask file, SEG, contact sheet */
  FMR_STAGE_WRITE_TRAINING,    /* recon/<name>.h5, NIfTI */
  FMR_STAGE_HASH,              /* SHA-256 of every output (on the committer thread) */
  FMR_STAGE_COMMIT,            /* fsync and rename into place (on the committer thread) */
  FMR_STAGE_COMMIT_WAIT,       /* the writers waiting for the committer at the volume's end */
  FMR_NSTAGES
} fmr_stage_id;

typedef struct fmr_stage_times {
  double seconds[FMR_NSTAGES];
} fmr_stage_times;

/* The stage's name in the run report ("read", "read_wait", ...). */
const char *fmr_stage_name(fmr_stage_id s);

/* Per-stage seconds of the last volume fmr_volume_run processed on ctx (all zero when it was
 * reused or missing). */
const fmr_stage_times *fmr_volume_last_times(const fmr_volume_ctx *ctx);

/* Process one planned volume. Returns 0 with *out set to its record (status ok, failed or missing:
 * a volume's failure is data), or a negative code when the run itself cannot go on: FMR_ESTORAGE
 * (the output storage failed: no space, quota, read-only, I/O error; err names the path and the
 * system's words; no temporary file and no record of the volume are left) or FMR_ENOMEM.
 * hooks may be NULL.
 * Resume: when the store holds a record committed under task->key and every output it lists still
 * has its size and SHA-256, that record is returned and *reused set. Otherwise the volume's old
 * files are removed and it is redone: every output staged and renamed into place through the
 * store, the record committed last; a failed volume keeps no outputs. */
int fmr_volume_run(fmr_volume_ctx *ctx, const fmr_task *task, const fmr_volume_hooks *hooks,
                   fmr_record **out, int *reused, fmr_err *err);

/* A processed volume's SPEC 11 attributes (recon/<name>.h5 and /volumes/<name> of dataset.h5)
 * from its record and the config: the one derivation, used by the writer of recon/<name>.h5 and by
 * the builder of dataset.h5 (which knows the volume only by its record). Strings borrow from r and
 * cfg, the series UID is written to uid. FMR_EINVAL when the record has no frame or k-space. */
int fmr_volume_dataset_attrs(const fmr_config *cfg, const fmr_record *r, char uid[FMR_UID_MAX],
                             fmr_dataset_attrs *a, fmr_err *err);

/* Where a volume's committed record lives, relative to output.dir (the store's layout). */
#define FMR_STATE_DIR FMR_STORE_STATE_DIR

#ifdef __cplusplus
}
#endif
#endif
