/* `fastmri-regen plan CONFIG.yaml`: argument parsing only; the work is in run/dispatch.c (spread
 * over the ranks) and run/survey.c (what is read and reported). */
#include <stddef.h>
#include <stdio.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr/run/dispatch.h"

typedef struct plan_args {
  int json;
  int probe;
} plan_args;

static const fmr_opt plan_opts[] = {
    {"--json", NULL, FMR_OPT_FLAG, offsetof(plan_args, json), NULL,
     "print the report as JSON, for scripts", NULL, 0, 0},
    {"--probe", NULL, FMR_OPT_FLAG, offsetof(plan_args, probe), NULL,
     "read each input's metadata in the probe's helper process first (input.probe), so a file "
     "that crashes the HDF5 library is reported instead of ending plan (the helper is forked "
     "again only after a crash or a hang)", NULL, 0, 0},
};

const fmr_command fmr_cmd_plan_def = {
    "plan", "[--json] [--probe] CONFIG.yaml", "what a run would do, from metadata only (writes nothing)",
    "Read the config, the file list, the annotation CSV and every input's HDF5 metadata (spread "
    "over the ranks under mpirun or srun) and report what `run` would do: volumes by acquisition, "
    "shape and coil count; missing files; .h5 files under input.dirs the list does not name; CSV "
    "rows naming no listed volume; file-list lines skipped; k-space bytes to read; outputs and disk "
    "space per kind; how many volumes a resume would reuse; an estimate of core-hours from the "
    "benchmark's cost per k-space value. Nothing is written, output.dir included. The inputs are "
    "opened in-process unless --probe (run always probes when input.probe is on).\n\n"
    "Exit status: 0, or 2 when the configuration or its inputs are unusable.",
    plan_opts, sizeof plan_opts / sizeof *plan_opts, 1, 1, fmr_cmd_plan};

int fmr_cmd_plan(int argc, char **argv) {
  plan_args a = {0};
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;
  int st = fmr_opts_parse(&fmr_cmd_plan_def, argc, argv, &a, pos, &npos);
  if (st) return st == 1 ? FMR_EXIT_OK : st;
  return fmr_dispatch_plan(&argc, &argv, pos[0], a.json, a.probe);
}
