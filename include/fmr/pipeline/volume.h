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
#include "fmr/pipeline/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the coordinator knows about a volume before any worker opens it. */
typedef struct fmr_volume_task {
  const char *name;
  const char *path;      /* NULL when the file was not found */
  const char *rel_path;  /* relative to its input directory; NULL when not found */
  int reviewed;          /* named in the fastMRI+ file list */
  const char *lookup_error; /* why path is NULL ("not found ...", "ambiguous ...") */
} fmr_volume_task;

/* Per-worker state reused across volumes (FFTW plans by shape). */
typedef struct fmr_volume_ctx fmr_volume_ctx;

/* cfg and ann are borrowed and must outlive the context. run_key identifies everything besides the
 * input file that decides the outputs (config text, annotation CSV, tool version): a volume's
 * earlier outputs are reused only under the same key. */
int fmr_volume_ctx_new(const fmr_config *cfg, const fmr_annotations *ann, const char *run_key,
                       fmr_volume_ctx **out, fmr_err *err);
void fmr_volume_ctx_free(fmr_volume_ctx **ctx);

/* Process one volume and return its manifest record (a new JSON object; the caller owns it), or
 * NULL only when out of memory.
 * Resume: when <output.dir>/.fmr/records/<name>.json was written under the same run key for the
 * same input file (size and mtime) and every output it lists still has its recorded size and
 * SHA-256, that record is returned as is and *reused is set. Otherwise the volume's old outputs
 * are removed and it is redone: each output is written under a temporary name and renamed into
 * place, then the record is committed last; on failure the partial outputs are removed. */
json_t *fmr_volume_process(fmr_volume_ctx *ctx, const fmr_volume_task *task, int *reused);

/* Called by the pipeline between slices, so a rank that also coordinates can answer the others
 * while it reconstructs (SPEC 9, every task a worker). NULL fields are skipped. */
typedef struct fmr_volume_hooks {
  void (*between_slices)(void *ctx);
  void *ctx;
} fmr_volume_hooks;

/* Process one planned volume. Returns 0 with *out set to its record (status ok, failed or missing:
 * a volume's failure is data), or a negative code when the run itself cannot go on: FMR_ESTORAGE
 * (the output storage failed: no space, quota, read-only, I/O error; err names the path and the
 * system's words) or FMR_ENOMEM. hooks may be NULL. *reused as for fmr_volume_process. */
int fmr_volume_run(fmr_volume_ctx *ctx, const fmr_task *task, const fmr_volume_hooks *hooks,
                   fmr_record **out, int *reused, fmr_err *err);

/* Where a volume's committed record lives, relative to output.dir. */
#define FMR_STATE_DIR ".fmr"

/* A record for a volume no worker could process (missing file): status "missing". */
json_t *fmr_volume_record_missing(const fmr_config *cfg, const fmr_volume_task *task);

#ifdef __cplusplus
}
#endif
#endif
