/* What a run tells people, outside the manifest: the run report (timings, ranks, host: everything
 * the manifest must not depend on) and verify's printed report. No MPI here. */
#ifndef FMR_REPORT_H
#define FMR_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "fmr/output/record.h"
#include "fmr/pipeline/volume.h"
#include "fmr/run/plan.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_volume_timing {
  int rank;       /* which rank processed it */
  int reused;     /* its committed record was reused */
  double seconds; /* wall time on that rank */
  fmr_stage_times stages; /* where that time went (zero when reused) */
} fmr_volume_timing;

typedef struct fmr_run_summary {
  int ranks;
  double wall_seconds;
  const char *stopped_by;    /* "SIGTERM", "SIGUSR1", "SIGINT", or NULL */
  int storage_fault;         /* stopped by an output storage fault */
  size_t shard_index, shard_count; /* shard_count 0: not a shard */
  int merge;
  json_t *shards;            /* a merge: the shards' reports (fmr_report_take_shards), borrowed */
  const double *max_wait;    /* per rank: longest wait for rank 0's answer (NULL: unknown) */
  const double *peak_rss_mb; /* per rank: peak resident set, MB (NULL: unknown) */
} fmr_run_summary;

/* A merge folds the shards' reports into its own: read every <output.dir>/.fmr/reports/shard-*.json
 * (sorted by name), remove them, return them as a new array. They describe runs that are over;
 * output.dir keeps one report. Shard reports also carry their failed volumes' records ("failed"),
 * which have no committed record. */
json_t *fmr_report_take_shards(const char *outdir);

/* Write the run report: <output.dir>/run-report.json, or for a shard
 * <output.dir>/.fmr/reports/shard-<i>-of-<N>.json (shards may share output.dir). records[i] and
 * timing[i] belong to the plan's task i; records[i] NULL: not done. A merge embeds s->shards. */
int fmr_report_write_run(const fmr_plan *p, fmr_record *const *records,
                         const fmr_volume_timing *timing, const fmr_run_summary *s, fmr_err *err);

/* Print verify's report (one line per problem, sorted by path, then totals; or JSON) and return
 * the exit status: FMR_EXIT_FAILED when any problem or the manifest is incomplete, else 0.
 * complete/remaining are the manifest's. */
int fmr_report_verify(const char *outdir, const json_t *expected, const json_t *problems,
                      int complete, size_t remaining, int json_out);

/* The manifest's "complete" and "remaining" (a manifest without them counts as complete). */
int fmr_report_manifest_state(const char *outdir, int *complete, size_t *remaining, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
