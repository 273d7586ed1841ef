/* `fastmri-regen run CONFIG.yaml`: argument parsing only; the work is in run/dispatch.c. */
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr/input/config.h"
#include "fmr/util/log.h"
#include "fmr/run/dispatch.h"

typedef struct run_args {
  int log_level; /* index into levels; -1: the config's log.level or FMR_LOG_LEVEL */
  int print_reference;
  const char *shard;
  int merge;
} run_args;

static const char *const levels[] = {"error", "warn", "info", "debug", NULL};

static const fmr_opt run_opts[] = {
    {"--log-level", NULL, FMR_OPT_CHOICE, offsetof(run_args, log_level), NULL,
     "log threshold, over the config's log.level and FMR_LOG_LEVEL", levels, 0, 0},
    {"--shard", "I/N", FMR_OPT_STRING, offsetof(run_args, shard), NULL,
     "process only shard I (0 <= I < N) of the volumes, in name order (job arrays); shards may "
     "run at the same time on one output.dir", NULL, 0, 0},
    {"--merge", NULL, FMR_OPT_FLAG, offsetof(run_args, merge), NULL,
     "process nothing: write the manifest a single run would have written from the shards' "
     "committed records (complete: false while some remain)", NULL, 0, 0},
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
  run_args a = {-1, 0, NULL, 0};
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
  fmr_run_opts opts = {pos[0], a.log_level >= 0 ? levels[a.log_level] : NULL, 0, 0, a.merge};
  if (a.shard && parse_shard(a.shard, &opts.shard_index, &opts.shard_count) != 0) {
    fprintf(stderr, "fastmri-regen run: --shard wants I/N with 0 <= I < N, not '%s'\n", a.shard);
    return FMR_EXIT_USAGE;
  }
  if (opts.merge && opts.shard_count) {
    fprintf(stderr, "fastmri-regen run: --merge and --shard exclude each other\n");
    return FMR_EXIT_USAGE;
  }
  return fmr_dispatch_run(&argc, &argv, &opts);
}
