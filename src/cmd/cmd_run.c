/* `fastmri-regen run CONFIG.yaml`: argument parsing only; the work is in sched.c. */
#include <stdio.h>
#include <string.h>

#include "fmr/cmd/cmd.h"
#include "fmr/input/config.h"
#include "fmr/util/log.h"
#include "fmr/run/sched.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: fastmri-regen run [--log-level error|warn|info|debug] CONFIG.yaml\n"
          "       fastmri-regen run --print-config-reference\n"
          "\n"
          "Run under mpirun/srun for several ranks; without them it runs as one rank.\n"
          "Exit status: 0 all volumes ok, 1 some volumes failed or missing, 2 configuration or\n"
          "start-up error (nothing written), 3 interrupted (rerun the same command to resume).\n");
}

int fmr_cmd_run(int argc, char **argv) {
  fmr_run_opts opts = {NULL, NULL};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return FMR_EXIT_OK;
    } else if (strcmp(argv[i], "--print-config-reference") == 0) {
      fmr_config_print_reference(stdout);
      return FMR_EXIT_OK;
    } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
      fmr_log_level lvl;
      opts.log_level = argv[++i];
      if (fmr_log_parse_level(opts.log_level, &lvl) != 0) {
        fprintf(stderr, "fastmri-regen run: unknown log level '%s'\n", opts.log_level);
        return FMR_EXIT_USAGE;
      }
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "fastmri-regen run: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return FMR_EXIT_USAGE;
    } else if (!opts.config_path) {
      opts.config_path = argv[i];
    } else {
      fprintf(stderr, "fastmri-regen run: more than one config file given\n");
      return FMR_EXIT_USAGE;
    }
  }
  if (!opts.config_path) {
    usage(stderr);
    return FMR_EXIT_USAGE;
  }
  return fmr_sched_main(&argc, &argv, &opts);
}
