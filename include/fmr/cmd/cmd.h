/* Subcommands and the documented exit statuses (README "Exit status"). */
#ifndef FMR_CMD_H
#define FMR_CMD_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
  FMR_EXIT_OK = 0,          /* every volume ok */
  FMR_EXIT_FAILED = 1,      /* some volumes failed or are missing; the others are complete */
  FMR_EXIT_USAGE = 2,       /* configuration, usage or start-up error: nothing written */
  FMR_EXIT_INTERRUPTED = 3, /* SIGTERM/SIGUSR1/SIGINT: finished volumes recorded, rerun to resume */
  FMR_EXIT_STORAGE = 4      /* the output storage failed (no space, quota, read-only, I/O error):
                               finished volumes recorded where possible, rerun after fixing it */
};

int fmr_cmd_run(int argc, char **argv);
int fmr_cmd_synth(int argc, char **argv);
int fmr_cmd_recon(int argc, char **argv);
int fmr_cmd_version(int argc, char **argv);
int fmr_cmd_verify(int argc, char **argv);
int fmr_cmd_annotations(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
