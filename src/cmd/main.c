/* fastmri-regen: dispatch a subcommand; each lives in src/cmd_<name>.c. Nothing else happens here. */
#include <stdio.h>
#include <string.h>

#include "fmr/cmd/cmd.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: fastmri-regen <command> [options]\n"
          "\n"
          "commands:\n"
          "  run CONFIG.yaml     regenerate DICOM images, masks and the manifest (use under mpirun/srun)\n"
          "  synth [options]     write a synthetic fastMRI-format dataset (see synth --help)\n"
          "  verify OUTDIR       re-hash every output against the manifest (use under mpirun)\n"
          "  recon IN.h5 OUT.h5  reconstruct one volume to a float32 image stack (for inspection)\n"
          "  annotations CSV     summarise a fastMRI+ annotation CSV as JSON\n"
          "  version             print the version and library versions\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? FMR_EXIT_USAGE : 0;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "run") == 0) return fmr_cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "synth") == 0) return fmr_cmd_synth(argc - 1, argv + 1);
  if (strcmp(cmd, "recon") == 0) return fmr_cmd_recon(argc - 1, argv + 1);
  if (strcmp(cmd, "verify") == 0) return fmr_cmd_verify(argc - 1, argv + 1);
  if (strcmp(cmd, "annotations") == 0) return fmr_cmd_annotations(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
    return fmr_cmd_version(argc - 1, argv + 1);
  fprintf(stderr, "fastmri-regen: unknown command '%s'\n", cmd);
  usage(stderr);
  return FMR_EXIT_USAGE;
}
