/* `fastmri-regen verify [--json] OUTDIR`: argument parsing only; the work is in run/dispatch.c and run/verify.c. */
#include <stdio.h>
#include <string.h>

#include "fmr/cmd/cmd.h"
#include "fmr/run/dispatch.h"

int fmr_cmd_verify(int argc, char **argv) {
  const char *outdir = NULL;
  int json_out = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      json_out = 1;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf("usage: fastmri-regen verify [--json] OUTDIR\n"
             "Re-hash every output listed in OUTDIR/manifest.json (in parallel under mpirun) and\n"
             "report missing, changed and unexpected files. Exit 0 when all match, 1 otherwise,\n"
             "2 when OUTDIR has no readable manifest. An incomplete run (manifest complete: false) is\n"
             "reported and exits 1.\n");
      return FMR_EXIT_OK;
    } else if (argv[i][0] == '-' || outdir) {
      fprintf(stderr, "fastmri-regen verify: unexpected argument '%s'\n", argv[i]);
      return FMR_EXIT_USAGE;
    } else {
      outdir = argv[i];
    }
  }
  if (!outdir) {
    fprintf(stderr, "usage: fastmri-regen verify [--json] OUTDIR\n");
    return FMR_EXIT_USAGE;
  }
  return fmr_dispatch_verify(&argc, &argv, outdir, json_out);
}
