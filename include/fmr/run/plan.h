/* The job plan: config text + file list + annotation CSV + input index -> a typed task table and
 * the run key. No MPI here: rank 0 builds the plan, dispatch broadcasts its serialised bytes, every
 * other rank rebuilds the same plan from them, and a unit test can build one with no MPI at all.
 *
 * Keys. The plan's run key is SHA-256 over what every output depends on: tool version, config
 * text, the label vocabulary, the SEG code table and the DICOM date/time. Each task's key
 * (fmr_task.key) is SHA-256 over the run key and the volume's own inputs: its name, input path
 * (relative), input identity (size, mtime_ns when planned), `reviewed` and a canonical form of its
 * own annotation rows. So a change to one volume's inputs (its CSV rows, its place in the file
 * list) changes that volume's key only, and the store reuses a committed record only under the
 * same key. The manifest also pins the CSV and file list SHA-256s. */
#ifndef FMR_PLAN_H
#define FMR_PLAN_H

#include <stddef.h>

#include "fmr/dicom/seg.h"
#include "fmr/input/config.h"
#include "fmr/labels/annotations.h"
#include "fmr/output/manifest.h"
#include "fmr/pipeline/task.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_plan fmr_plan;

/* Read and check everything a run needs before anything is written: the config (with
 * SOURCE_DATE_EPOCH overriding its date), the annotation CSV, the file list, the SEG code table
 * (loaded once, here), the input index; refuse an output.dir inside an input directory. Tasks are
 * in scheduling order: largest input file first, ties by name. Reads only; writes nothing.
 * FMR_ECONFIG (and the reader's codes) with a message naming the file. */
int fmr_plan_build(const char *config_path, fmr_plan **out, fmr_err *err);

/* The plan as bytes (compact JSON; the config, CSV and SEG table texts travel inside, so a
 * receiver reads no file) and back. serialize returns malloc'd text, NULL when out of memory.
 * deserialize needs the config path only to resolve the config's relative paths the same way. */
char *fmr_plan_serialize(const fmr_plan *p, size_t *len);
int fmr_plan_deserialize(const char *config_path, const char *text, size_t len, fmr_plan **out,
                         fmr_err *err);

void fmr_plan_free(fmr_plan **p);

/* Keep only shard `index` of `count` (0 <= index < count): the volumes at positions
 * index, index + count, ... of the task names in byte order. By name, not by size, so a volume's
 * shard does not change with the data. Keys are unchanged: a shard's records are the single run's. */
int fmr_plan_shard(fmr_plan *p, size_t index, size_t count, fmr_err *err);

const fmr_config *fmr_plan_config(const fmr_plan *p);
const fmr_annotations *fmr_plan_annotations(const fmr_plan *p);
const fmr_seg_codes *fmr_plan_seg_codes(const fmr_plan *p); /* NULL when output.seg is off */
const char *fmr_plan_key(const fmr_plan *p);
size_t fmr_plan_ntasks(const fmr_plan *p);
const fmr_task *fmr_plan_task(const fmr_plan *p, size_t i); /* scheduling order */
/* Index of the task named `name`, or (size_t)-1. */
size_t fmr_plan_find(const fmr_plan *p, const char *name);

/* The run-level half of the manifest's inputs (config, SHA-256s, vocabulary). The caller sets
 * mpi_version and remaining. Pointers borrow from the plan. */
void fmr_plan_run_inputs(const fmr_plan *p, fmr_run_inputs *in);

/* mkdir -p output.dir, then remove the debris of a killed run (temporary files). Only for a run
 * that holds output.dir alone: a concurrent shard's temporary files are live (sweep = 0 skips it). */
int fmr_plan_prepare_output(const fmr_plan *p, int sweep, fmr_err *err);

/* Make the FFTW plans for every distinct k-space shape of the tasks once (this process's FFTW
 * wisdom then holds them; dispatch shares it so every rank uses the same plans, SPEC 8). Files
 * that cannot be opened are skipped: their volume reports the error. */
int fmr_plan_fft_shapes(const fmr_plan *p, size_t *nshapes, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
