/* `run --merge`: the committed record of a volume, read without processing anything. No MPI here.
 * TRANSITIONAL: the output store owns the layout of committed records; the lead replaces
 * fmr_merge_committed with the store's lookup when both branches meet. */
#ifndef FMR_MERGE_H
#define FMR_MERGE_H

#include <jansson.h>

#include "fmr/input/config.h"
#include "fmr/output/record.h"
#include "fmr/pipeline/task.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The record committed for `task` in output.dir, if it was made from the same inputs (the task's
 * key where the store records one, and the same input identity) and its outputs exist with their
 * recorded sizes; else 0 with *out NULL. Errors only for out of memory. */
int fmr_merge_committed(const fmr_config *cfg, const fmr_task *task, fmr_record **out,
                        fmr_err *err);

/* A failed volume's record from the shards' reports (fmr_report_take_shards), or 0 with *out
 * NULL. */
int fmr_merge_failed(const json_t *shards, const fmr_task *task, fmr_record **out, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
