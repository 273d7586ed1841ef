/* What an operator watches: a progress line while the run goes, and a summary table at its end.
 * Rank 0 feeds it from the records it gathers; nothing here waits for a worker. No MPI here.
 *
 * On a terminal the progress is one live line rewritten in place; in a pipe or a Slurm log it is a
 * timestamped log line every `every_seconds`. The ETA counts only work still to do, at the rate of
 * volumes actually processed (a resumed run's reused volumes take no time and would make it lie). */
#ifndef FMR_PROGRESS_H
#define FMR_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fmr/output/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_progress fmr_progress;

typedef struct fmr_progress_opts {
  FILE *out;            /* where the live line goes (stderr); log lines go through FMR_LOG */
  int live;             /* 1: rewrite one line in place (out is a terminal) */
  double every_seconds; /* log mode: at most one line per this many seconds */
} fmr_progress_opts;

/* total: planned volumes; total_work: their k-space bytes (0 when unknown: ETA by volume count). */
int fmr_progress_new(size_t total, uint64_t total_work, const fmr_progress_opts *opts, double now,
                     fmr_progress **out);
void fmr_progress_free(fmr_progress **p);

/* A volume finished: its k-space bytes (its share of total_work), slices, and how. */
void fmr_progress_volume(fmr_progress *p, uint64_t work, size_t slices, fmr_status status,
                         int reused, double now);

/* Print if due (cheap to call often). */
void fmr_progress_tick(fmr_progress *p, double now);

/* Seconds still to go (NaN before the first processed volume). */
double fmr_progress_eta(const fmr_progress *p, double now);

/* Clear the live line before other output follows it. */
void fmr_progress_finish(fmr_progress *p);

/* The end-of-run table. Fill counts, then add every record. */
#define FMR_SUMMARY_KINDS 12
#define FMR_SUMMARY_WARNINGS 5
typedef struct fmr_summary {
  size_t planned, ok, failed, missing, reused, remaining, skipped_lines, slices;
  uint64_t kspace_bytes;
  struct {
    const char *kind;
    size_t files;
    uint64_t bytes;
  } kinds[FMR_SUMMARY_KINDS];
  size_t nkinds;
  double wall_seconds;
  int ranks;
  const char *manifest; /* path as the user gave output.dir */
  int exit_status;
} fmr_summary;

void fmr_summary_add(fmr_summary *s, const fmr_record *r, size_t slices);

/* warnings: fmr_record_warnings_summary's text (one line per kind, most frequent first; NULL or
 * "" for none), of which the first FMR_SUMMARY_WARNINGS lines are shown. */
void fmr_summary_print(const fmr_summary *s, const char *warnings, FILE *f);

/* "1h 02m 03s", "4m 10s", "12 s" */
void fmr_format_duration(double seconds, char *buf, size_t n);

/* "1.2 GB", "340 MB", "12 kB", "800 B" (decimal units, as df -H) */
void fmr_format_bytes(uint64_t bytes, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
