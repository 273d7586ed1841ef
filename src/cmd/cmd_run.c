/* `fastmri-regen run CONFIG.yaml`: argument parsing only; the work is in sched.c. */
#include <stdio.h>
#include <stddef.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr/input/config.h"
#include "fmr/util/log.h"
#include "fmr/run/sched.h"

typedef struct run_args {
  int log_level; /* index into levels; -1: the config's log.level or FMR_LOG_LEVEL */
  int print_reference;
} run_args;

static const char *const levels[] = {"error", "warn", "info", "debug", NULL};

static const fmr_opt run_opts[] = {
    {"--log-level", NULL, FMR_OPT_CHOICE, offsetof(run_args, log_level), NULL,
     "log threshold, over the config's log.level and FMR_LOG_LEVEL", levels, 0, 0},
    {"--print-config-reference", NULL, FMR_OPT_FLAG, offsetof(run_args, print_reference), NULL,
     "print every config key with its type, default and meaning, and exit", NULL, 0, 0},
};

const fmr_command fmr_cmd_run_def = {
    "run", "[options] CONFIG.yaml", "regenerate images, masks and the manifest (under mpirun/srun)",
    "Run the pipeline described by CONFIG.yaml: every volume of the fastMRI+ file list is "
    "reconstructed and written as DICOM, with label masks, SEG and previews for reviewed volumes, "
    "and a manifest.json with the SHA-256 of every file. Run under mpirun or srun for several "
    "ranks; without them it runs as one rank. A rerun resumes: volumes whose outputs are recorded "
    "and intact are not redone.\n\n"
    "Exit status: 0 all volumes ok, 1 some volumes failed or missing, 2 configuration or start-up "
    "error (nothing written), 3 interrupted (rerun the same command to resume), 4 the output "
    "storage failed.",
    run_opts, sizeof run_opts / sizeof *run_opts, 0, 1, fmr_cmd_run};

int fmr_cmd_run(int argc, char **argv) {
  run_args a = {-1, 0};
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;
  int st = fmr_opts_parse(&fmr_cmd_run_def, argc, argv, &a, pos, &npos);
  if (st) return st == 1 ? FMR_EXIT_OK : st;
  if (a.print_reference) {
    fmr_config_print_reference(stdout);
    return FMR_EXIT_OK;
  }
  if (npos != 1) {
    fprintf(stderr, "fastmri-regen run: give one CONFIG.yaml (see fastmri-regen run --help)\n");
    return FMR_EXIT_USAGE;
  }
  fmr_run_opts opts = {pos[0], a.log_level >= 0 ? levels[a.log_level] : NULL};
  return fmr_sched_main(&argc, &argv, &opts);
}
