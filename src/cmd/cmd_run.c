/* `fastmri-regen run CONFIG.yaml`: argument parsing only; the work is in run/dispatch.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/cmd/cmd.h"
#include "fmr/input/config.h"
#include "fmr/run/dispatch.h"
#include "fmr/util/log.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: fastmri-regen run [--log-level error|warn|info|debug] [--shard I/N | --merge]\n"
          "                         CONFIG.yaml\n"
          "       fastmri-regen run --print-config-reference\n"
          "\n"
          "Run under mpirun/srun for several ranks (every rank reconstructs); without them it runs\n"
          "as one rank.\n"
          "  --shard I/N  process only shard I (0 <= I < N) of the volumes, in name order (job\n"
          "               arrays); shards may run at the same time on one output.dir\n"
          "  --merge      process nothing: write the manifest a single run would have written from\n"
          "               the shards' committed records (complete: false while some remain)\n"
          "Exit status: 0 all volumes ok, 1 some volumes failed or missing (or a rank failed),\n"
          "2 configuration or start-up error (nothing written), 3 interrupted by SIGTERM, SIGUSR1\n"
          "or SIGINT (rerun the same command to resume), 4 the output storage failed (fix it and\n"
          "rerun).\n");
}

/* "I/N" with 0 <= I < N. */
static int parse_shard(const char *s, size_t *index, size_t *count) {
  char *end = NULL;
  unsigned long i = strtoul(s, &end, 10);
  if (end == s || *end != '/') return -1;
  const char *c = end + 1;
  unsigned long n = strtoul(c, &end, 10);
  if (end == c || *end != '\0' || n == 0 || i >= n || s[0] == '-' || c[0] == '-') return -1;
  *index = i;
  *count = n;
  return 0;
}

int fmr_cmd_run(int argc, char **argv) {
  fmr_run_opts opts;
  memset(&opts, 0, sizeof opts);
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
    } else if (strcmp(argv[i], "--shard") == 0 && i + 1 < argc) {
      if (parse_shard(argv[++i], &opts.shard_index, &opts.shard_count) != 0) {
        fprintf(stderr, "fastmri-regen run: --shard wants I/N with 0 <= I < N, not '%s'\n",
                argv[i]);
        return FMR_EXIT_USAGE;
      }
    } else if (strcmp(argv[i], "--merge") == 0) {
      opts.merge = 1;
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
  if (opts.merge && opts.shard_count) {
    fprintf(stderr, "fastmri-regen run: --merge and --shard exclude each other\n");
    return FMR_EXIT_USAGE;
  }
  return fmr_dispatch_run(&argc, &argv, &opts);
}
