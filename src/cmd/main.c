/* fastmri-regen: dispatch a subcommand through the registry (commands.c). Nothing else happens here. */
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"

static void usage(FILE *f) {
  size_t n = 0;
  const fmr_command *const *cmds = fmr_commands(&n);
  fputs("usage: fastmri-regen <command> [options]\n"
        "\n"
        "Regenerate the fastMRI+ dataset (DICOM images, label masks, SEG, previews, manifest) from\n"
        "raw fastMRI k-space. Run under mpirun or srun for several ranks.\n"
        "\n"
        "commands:\n",
        f);
  for (size_t i = 0; i < n; i++) fprintf(f, "  %-12s %s\n", cmds[i]->name, cmds[i]->summary);
  fputs("\n`fastmri-regen <command> --help` lists a command's options with their defaults;\n"
        "`fastmri-regen help --man` prints the manual page (installed as fastmri-regen(1)).\n"
        "`fastmri-regen --version` prints the version and library versions.\n",
        f);
}

int main(int argc, char **argv) {
#ifdef __GLIBC__
  /* The per-volume buffers (a k-space slice of up to 28 MB, the image, pixel and mask volumes) are
   * above glibc's default mmap threshold, so each was mapped and unmapped per volume and every
   * volume page-faulted them in afresh (the guest's fault path was 13 % of a run's profile,
   * bench/README.md). From the heap, and not trimmed back, the next volume reuses their pages; the
   * peak RSS is unchanged. 32 MB is the largest threshold glibc accepts on 64-bit. */
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
  /* One heap for every thread. By default each thread (read-ahead, writer lane, committer, new
   * with every volume) may get an arena of its own, and with the trim threshold above each arena
   * keeps its freed pages: a 4-volume knee run peaked at 136 MB that way and at 117 MB with one
   * arena, in the same time (the helper threads allocate little while the transforms run). */
  mallopt(M_ARENA_MAX, 1);
#endif
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? FMR_EXIT_USAGE : FMR_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) return fmr_cmd_version(argc - 1, argv + 1);
  const fmr_command *cmd = fmr_command_find(argv[1]);
  if (!cmd) {
    fprintf(stderr, "fastmri-regen: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return FMR_EXIT_USAGE;
  }
  return cmd->main(argc - 1, argv + 1);
}
