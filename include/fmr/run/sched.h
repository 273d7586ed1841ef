/* The scheduling layer: the only module that talks MPI (sched.c is the only file including mpi.h).
 *
 * Rank 0 is the coordinator: it reads the config, the file list and the annotation CSV, resolves
 * every volume name to a file, broadcasts what workers need, and hands volumes out dynamically
 * (largest k-space first; an idle worker asks for the next). With one rank it does the work itself.
 * Workers return one JSON record per volume; rank 0 gathers them and writes the manifest. */
#ifndef FMR_SCHED_H
#define FMR_SCHED_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_run_opts {
  const char *config_path;
  const char *log_level; /* NULL: config's log.level, or FMR_LOG_LEVEL */
} fmr_run_opts;

/* Initialise MPI (a binary started without mpirun is one rank), run the job on a duplicate of
 * MPI_COMM_WORLD, finalise MPI. Collective over all ranks. Returns the exit status from
 * fmr/cmd.h, the same on every rank. */
int fmr_sched_main(int *argc, char ***argv, const fmr_run_opts *opts);

/* `verify OUTDIR`: rank 0 loads the manifest, every rank re-hashes its share of the outputs, rank 0
 * adds unexpected files and prints one line per problem (and JSON with json_out). Collective.
 * Returns 0 when everything matches, FMR_EXIT_FAILED on any difference, FMR_EXIT_USAGE when there
 * is no readable manifest. */
int fmr_sched_verify(int *argc, char ***argv, const char *outdir, int json_out);

#ifdef __cplusplus
}
#endif
#endif
