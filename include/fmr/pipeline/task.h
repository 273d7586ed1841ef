/* One unit of work: a volume as the job plan knows it before any worker opens it. Made by the job
 * plan (run/plan.h) on rank 0, broadcast, and consumed by the per-volume pipeline. No MPI here. */
#ifndef FMR_TASK_H
#define FMR_TASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_task {
  char *name;         /* volume name (SPEC 1) */
  char *path;         /* the input file; NULL when it was not found */
  char *rel_path;     /* relative to its input directory (what records and messages show) */
  char *lookup_error; /* why path is NULL ("not found under input.dirs", "ambiguous: ...") */
  int reviewed;       /* named in the fastMRI+ file list */
  uint64_t input_bytes;     /* input identity when planned: size ... */
  int64_t input_mtime_ns;   /* ... and modification time (rehashing TB of k-space would cost more
                               than the reconstruction) */
  uint64_t work;            /* scheduling weight (k-space bytes; 0 when unknown) */
  char key[65];             /* SHA-256 hex over everything this volume's outputs depend on: the
                               plan's run key plus the volume's own inputs (identity, reviewed, its
                               annotation rows). A committed record is reused only under the same
                               key. */
} fmr_task;

#ifdef __cplusplus
}
#endif
#endif
