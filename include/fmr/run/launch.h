/* Launch mistakes, caught at start-up (SPEC 9). MPI-free: the caller passes what MPI said.
 *
 * What the launchers set, as seen under Slurm 22.05 + Open MPI 4.1.4 (PMIx 4) here:
 *   srun --mpi=pmix -n N (a job step)   SLURM_STEP_ID, SLURM_STEP_NUM_TASKS=N, SLURM_NTASKS=N (the
 *                                       step's), PMIX_RANK; world size N.
 *   srun -n N / srun --mpi=pmi2 -n N    the same SLURM_* (pmi2 adds PMI_SIZE=N, SLURM_MPI_TYPE=pmi2),
 *                                       no PMIX_RANK: Open MPI aborts inside MPI_Init (exit 1) with
 *                                       "OMPI was not built with SLURM's PMI support".
 *   mpirun -np K inside an allocation   OMPI_COMM_WORLD_SIZE=K, PMIX_RANK; SLURM_NTASKS is still the
 *                                       job's (any K is legitimate, also K != SLURM_NTASKS); on one
 *                                       node no SLURM_STEP_ID (ranks are forked by mpirun), on several
 *                                       the ranks sit in orted's step (SLURM_STEP_NUM_TASKS = nodes).
 *   the batch script itself             SLURM_NTASKS = the job's tasks, no SLURM_STEP_ID: one
 *                                       singleton process.
 * So the rule, in order (the first launcher that says how many it started decides):
 *   1. OMPI_COMM_WORLD_SIZE (Open MPI's mpirun/orted) must equal the world size;
 *   2. else PMI_SIZE (MPICH/Intel hydra, srun --mpi=pmi2) or PMIX_SIZE (PRRTE) must equal it;
 *   3. else inside an srun step (SLURM_STEP_ID set), SLURM_STEP_NUM_TASKS (or SLURM_NTASKS, or
 *      SLURM_NPROCS) must equal it: srun started that many copies;
 *   4. else (a plain command, also the batch script's own shell) nothing to compare. */
#ifndef FMR_RUN_LAUNCH_H
#define FMR_RUN_LAUNCH_H

#ifdef __cplusplus
extern "C" {
#endif

#include "fmr/util/error.h"

/* Before MPI_Init. pmix_only: the MPI library can be started by srun only through PMIx (Debian's
 * Open MPI 4.1: pass 1 when built against Open MPI). Inside an srun step that provides no PMIx and
 * was not started by mpirun, MPI_Init would abort with exit 1 and a misleading message: return
 * FMR_ECONFIG saying how to launch instead. 0 otherwise. */
int fmr_launch_precheck(int pmix_only, fmr_err *err);

/* After MPI_Init, with MPI_Comm_size(MPI_COMM_WORLD): FMR_ECONFIG when the launcher started a
 * different number of processes than MPI sees (N independent single-rank copies), with a message
 * saying how to launch (srun --mpi=pmix, or mpirun inside the allocation); 0 otherwise. Logs a
 * warning (never refuses) for one rank alone in a Slurm allocation of several tasks. */
int fmr_launch_check(int world_size, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
