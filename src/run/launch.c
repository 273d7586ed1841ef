/* Launch mistakes caught at start-up: see include/fmr/run/launch.h for what each launcher sets and
 * the rule derived from it. No MPI here: the caller passes the world size. */
#include "fmr/run/launch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/util/log.h"

#define HOW_TO_LAUNCH                                                                      \
  "launch it as one MPI job: `srun --mpi=pmix fastmri-regen run CONFIG` (inside sbatch or " \
  "salloc; `srun --mpi=list` must show pmix), or `mpirun fastmri-regen run CONFIG` inside the " \
  "allocation, or `mpirun -np N` on a workstation"

/* A positive count from the environment, or 0 when unset or not a number. */
static long env_count(const char *name) {
  const char *s = getenv(name);
  if (!s || !*s) return 0;
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end != '\0' || v <= 0) return 0;
  return v;
}

static int in_srun_step(void) {
  const char *step = getenv("SLURM_STEP_ID");
  return step && *step;
}

int fmr_launch_precheck(int pmix_only, fmr_err *err) {
  if (!pmix_only || !in_srun_step()) return 0;
  if (getenv("PMIX_RANK") || getenv("OMPI_COMM_WORLD_SIZE")) return 0; /* srun --mpi=pmix, mpirun */
  const char *type = getenv("SLURM_MPI_TYPE");
  return fmr_err_set(err, FMR_ECONFIG,
                     "started by srun without PMIx (--mpi=%s), which this Open MPI cannot start "
                     "from (MPI_Init would abort): %s",
                     type && *type ? type : "none", HOW_TO_LAUNCH);
}

static int mismatch(const char *var, long launched, int world, fmr_err *err) {
  return fmr_err_set(err, FMR_ECONFIG,
                     "the launcher started %ld processes (%s=%ld) but MPI sees a world of %d "
                     "rank(s), so they would run as separate copies on the same output directory; "
                     "%s",
                     launched, var, launched, world, HOW_TO_LAUNCH);
}

int fmr_launch_check(int world_size, fmr_err *err) {
  if (world_size <= 0) return fmr_err_set(err, FMR_EINVAL, "MPI world size %d", world_size);
  static const char *const mpi_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
  for (size_t i = 0; i < sizeof mpi_vars / sizeof mpi_vars[0]; i++) {
    long n = env_count(mpi_vars[i]);
    if (!n) continue;
    /* The MPI launcher decides: mpirun -np K inside a larger allocation is legitimate. */
    return n == world_size ? 0 : mismatch(mpi_vars[i], n, world_size, err);
  }
  if (in_srun_step()) {
    static const char *const step_vars[] = {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS",
                                            "SLURM_NPROCS"};
    for (size_t i = 0; i < sizeof step_vars / sizeof step_vars[0]; i++) {
      long n = env_count(step_vars[i]);
      if (!n) continue;
      return n == world_size ? 0 : mismatch(step_vars[i], n, world_size, err);
    }
    return 0;
  }
  long job_tasks = env_count("SLURM_NTASKS");
  if (world_size == 1 && job_tasks > 1)
    FMR_LOG(FMR_LOG_WARN,
            "running as a single rank in a Slurm allocation of %ld tasks: the other %ld idle; "
            "start it with `srun --mpi=pmix` (or mpirun) to use them",
            job_tasks, job_tasks - 1);
  return 0;
}
