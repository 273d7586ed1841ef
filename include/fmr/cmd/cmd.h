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

#include <stddef.h>

struct fmr_command;

/* Every subcommand's table (options, help, entry point), in the order `--help` lists them. */
const struct fmr_command *const *fmr_commands(size_t *n);
const struct fmr_command *fmr_command_find(const char *name);

int fmr_cmd_run(int argc, char **argv);
int fmr_cmd_synth(int argc, char **argv);
int fmr_cmd_recon(int argc, char **argv);
int fmr_cmd_version(int argc, char **argv);
int fmr_cmd_verify(int argc, char **argv);
int fmr_cmd_annotations(int argc, char **argv);
int fmr_cmd_help(int argc, char **argv);
int fmr_cmd_plan(int argc, char **argv);

extern const struct fmr_command fmr_cmd_run_def, fmr_cmd_plan_def, fmr_cmd_synth_def, fmr_cmd_recon_def,
    fmr_cmd_verify_def, fmr_cmd_annotations_def, fmr_cmd_version_def, fmr_cmd_help_def;

#ifdef __cplusplus
}
#endif
#endif
