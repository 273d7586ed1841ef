/* The launch check against the environments Slurm 22.05 and Open MPI 4.1.4 really set (recorded
 * under the one-node Slurm of scripts/slurm-local.sh; see include/fmr/run/launch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/run/launch.h"
#include "fmr/util/log.h"
#include "fmr_test.h"

static const char *const all_vars[] = {
    "SLURM_JOB_ID",  "SLURM_STEP_ID",  "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS",
    "SLURM_NPROCS",  "SLURM_MPI_TYPE", "SLURM_PROCID",         "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",      "PMI_FD",         "PMIX_RANK",            "PMIX_SIZE"};

/* Start from a clean environment, then set "NAME=value" pairs. */
static void env(const char *const *pairs) {
  for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++) unsetenv(all_vars[i]);
  for (; pairs && *pairs; pairs++) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", *pairs);
    char *eq = strchr(buf, '=');
    if (!eq) continue;
    *eq = '\0';
    setenv(buf, eq + 1, 1);
  }
}

static int check(int world, fmr_err *err) {
  fmr_err_clear(err);
  return fmr_launch_check(world, err);
}

int main(void) {
  fmr_log_threshold = FMR_LOG_ERROR;
  fmr_err err;

  /* Plain command, mpirun on a workstation. */
  env(NULL);
  CHECK_INT_EQ(check(1, &err), 0);
  CHECK_INT_EQ(fmr_launch_precheck(1, &err), 0);
  env((const char *[]){"OMPI_COMM_WORLD_SIZE=4", "PMIX_RANK=0", NULL});
  CHECK_INT_EQ(check(4, &err), 0);

  /* srun --mpi=pmix -n 2 inside sbatch -n 2: the step's counts. */
  const char *srun_pmix[] = {"SLURM_JOB_ID=7", "SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=2",
                             "SLURM_NTASKS=2", "SLURM_NPROCS=2", "SLURM_PROCID=1",
                             "SLURM_MPI_TYPE=pmix", "PMIX_RANK=1", NULL};
  env(srun_pmix);
  CHECK_INT_EQ(fmr_launch_precheck(1, &err), 0);
  CHECK_INT_EQ(check(2, &err), 0);
  /* ... and the same step where MPI saw singletons: two copies, refused with how to launch. */
  CHECK_INT_EQ(check(1, &err), FMR_ECONFIG);
  CHECK(strstr(err.msg, "SLURM_STEP_NUM_TASKS=2") != NULL);
  CHECK(strstr(err.msg, "srun --mpi=pmix") != NULL);
  CHECK(strstr(err.msg, "mpirun") != NULL);

  /* srun -n 2 without --mpi (MpiDefault=none) and srun --mpi=pmi2: refused before MPI_Init. */
  env((const char *[]){"SLURM_JOB_ID=7", "SLURM_STEP_ID=1", "SLURM_STEP_NUM_TASKS=2",
                       "SLURM_NTASKS=2", "SLURM_PROCID=0", NULL});
  CHECK_INT_EQ(fmr_launch_precheck(1, &err), FMR_ECONFIG);
  CHECK(strstr(err.msg, "--mpi=none") != NULL);
  CHECK(strstr(err.msg, "srun --mpi=pmix") != NULL);
  CHECK_INT_EQ(fmr_launch_precheck(0, &err), 0); /* an MPI that starts from Slurm's PMI itself */
  env((const char *[]){"SLURM_JOB_ID=7", "SLURM_STEP_ID=2", "SLURM_STEP_NUM_TASKS=2",
                       "SLURM_NTASKS=2", "SLURM_MPI_TYPE=pmi2", "PMI_SIZE=2", "PMI_FD=11", NULL});
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_launch_precheck(1, &err), FMR_ECONFIG);
  CHECK(strstr(err.msg, "--mpi=pmi2") != NULL);
  /* With an MPI that does speak PMI-2, the PMI size decides. */
  CHECK_INT_EQ(check(2, &err), 0);
  CHECK_INT_EQ(check(1, &err), FMR_ECONFIG);
  CHECK(strstr(err.msg, "PMI_SIZE=2") != NULL);

  /* mpirun inside sbatch -n 2 (one node): SLURM_NTASKS is the job's, no step; any -np is fine. */
  const char *mpirun_in_job[] = {"SLURM_JOB_ID=4", "SLURM_NTASKS=2", "SLURM_NPROCS=2",
                                 "SLURM_PROCID=0", "OMPI_COMM_WORLD_SIZE=1", "PMIX_RANK=0", NULL};
  env(mpirun_in_job);
  CHECK_INT_EQ(fmr_launch_precheck(1, &err), 0);
  CHECK_INT_EQ(check(1, &err), 0);
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  CHECK_INT_EQ(check(2, &err), 0);
  setenv("OMPI_COMM_WORLD_SIZE", "3", 1); /* mpirun --oversubscribe -np 3 in a 2-task job */
  CHECK_INT_EQ(check(3, &err), 0);
  /* A binary of another MPI started by this mpirun: each rank a singleton. */
  CHECK_INT_EQ(check(1, &err), FMR_ECONFIG);
  CHECK(strstr(err.msg, "OMPI_COMM_WORLD_SIZE=3") != NULL);
  /* mpirun across nodes: ranks sit in orted's step (1 task per node); mpirun's count decides. */
  env((const char *[]){"SLURM_JOB_ID=4", "SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=2",
                       "SLURM_NTASKS=2", "OMPI_COMM_WORLD_SIZE=8", "PMIX_RANK=5", NULL});
  CHECK_INT_EQ(fmr_launch_precheck(1, &err), 0);
  CHECK_INT_EQ(check(8, &err), 0);

  /* The batch script's own shell: a singleton in a 2-task job is allowed (with a warning). */
  env((const char *[]){"SLURM_JOB_ID=4", "SLURM_NTASKS=2", "SLURM_NPROCS=2", "SLURM_PROCID=0",
                       NULL});
  CHECK_INT_EQ(fmr_launch_precheck(1, &err), 0);
  CHECK_INT_EQ(check(1, &err), 0);

  /* Garbage in a variable is not a count; a bad world size is a caller bug. */
  env((const char *[]){"SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=two", "SLURM_NTASKS=3", NULL});
  CHECK_INT_EQ(check(3, &err), 0);
  CHECK_INT_EQ(check(0, &err), FMR_EINVAL);
  env(NULL);
  return fmr_test_end();
}
