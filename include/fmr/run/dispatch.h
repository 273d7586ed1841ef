/* Dispatch: the only module that talks MPI (dispatch.c is the only file including mpi.h).
 *
 * Every rank reconstructs (SPEC 9): rank 0 builds the job plan, broadcasts it, and hands volumes
 * out dynamically (largest first) to whichever rank asks, answering between the slices of its own
 * volumes; it takes a volume itself only when no worker is waiting. Records travel to rank 0 as
 * fmr_record_encode text; rank 0 writes the manifest and the run report.
 *
 * Phases, each ending in an agreement (MPI_Allreduce, MAX, of every rank's status), so a failure
 * on any rank in any phase ends every rank with the same exit status (fmr/cmd/cmd.h), never a hang:
 *   startup   rank 0 reads and checks config, CSV, list, inputs ........ fails: 2, nothing written
 *   plan      the plan's bytes broadcast, every rank rebuilds it ......... fails: 2, nothing written
 *   wisdom    FFTW plans made once on rank 0, wisdom shared (SPEC 8) ..... fails: 2, nothing written
 *   work      output.dir prepared (fails: 2), then the work loop. A rank's own fault (out of memory,
 *             MPI) stops the hand-out: 1; a signal: 3; an output storage fault: 4. The manifest is
 *             then written with what is done ("complete": false, "remaining").
 *   gather    every rank's count of finished volumes checked against rank 0's records ..... 1
 *   manifest  rank 0 writes manifest and run report (a failed write: 4) ............. else 1
 *   exit      the final status, the highest any rank reported
 * FMR_TEST_FAIL_PHASE=<phase>:<rank> (tests only) makes that rank fail in that phase. */
#ifndef FMR_DISPATCH_H
#define FMR_DISPATCH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_run_opts {
  const char *config_path;
  const char *log_level; /* NULL: config's log.level, or FMR_LOG_LEVEL */
  size_t shard_index, shard_count; /* --shard i/N; shard_count 0: the whole plan */
  int merge;                       /* --merge: no processing, the manifest from committed records */
} fmr_run_opts;

/* `run`: initialise MPI (a binary started without a launcher is one rank), run the phases above on
 * a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, finalise MPI. Collective over all ranks.
 * Returns the exit status from fmr/cmd/cmd.h, the same on every rank. */
int fmr_dispatch_run(int *argc, char ***argv, const fmr_run_opts *opts);

/* `plan CONFIG`: what a run would do, from metadata only, spread over the ranks (run/survey.h);
 * rank 0 prints the report (JSON with json_out); probe reads each input through the input probe.
 * Writes nothing. Collective. 0, or 2 when the configuration or its inputs are unusable. */
int fmr_dispatch_plan(int *argc, char ***argv, const char *config_path, int json_out, int probe);

/* `verify OUTDIR`: rank 0 loads the manifest, every rank re-hashes its share of the outputs (round
 * robin), rank 0 adds unexpected files and prints the report. Collective. Returns 0 when everything
 * matches and the manifest is complete, FMR_EXIT_FAILED on any difference or an incomplete run,
 * FMR_EXIT_USAGE when there is no readable manifest. */
int fmr_dispatch_verify(int *argc, char ***argv, const char *outdir, int json_out);

#ifdef __cplusplus
}
#endif
#endif
