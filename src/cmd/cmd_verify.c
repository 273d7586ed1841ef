/* `fastmri-regen verify [--json] OUTDIR`: argument parsing only; the work is in run/dispatch.c and run/verify.c. */
#include <stdio.h>
#include <stddef.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr/run/dispatch.h"

typedef struct verify_args {
  int json;
} verify_args;

static const fmr_opt verify_opts[] = {
    {"--json", NULL, FMR_OPT_FLAG, offsetof(verify_args, json), NULL,
     "print the report as JSON (checked, missing, changed, unexpected, problems)", NULL, 0, 0},
};

const fmr_command fmr_cmd_verify_def = {
    "verify", "[--json] OUTDIR", "re-hash every output against the manifest (under mpirun)",
    "Re-hash every output listed in OUTDIR/manifest.json (spread over the ranks under mpirun) and "
    "report missing, changed and unexpected files.\n\n"
    "Exit status: 0 when everything matches, 1 otherwise (also when the manifest says the run is "
    "incomplete), 2 when OUTDIR has no readable manifest.",
    verify_opts, sizeof verify_opts / sizeof *verify_opts, 1, 1, fmr_cmd_verify};

int fmr_cmd_verify(int argc, char **argv) {
  verify_args a = {0};
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;
  int st = fmr_opts_parse(&fmr_cmd_verify_def, argc, argv, &a, pos, &npos);
  if (st) return st == 1 ? FMR_EXIT_OK : st;
  return fmr_dispatch_verify(&argc, &argv, pos[0], a.json);
}
