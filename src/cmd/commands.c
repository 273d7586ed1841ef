/* The registry of subcommands: main dispatches through it, `--help` lists it, the man page is made
 * from it. A new command is one table in its cmd_<name>.c and one line here. */
#include <string.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"

static const fmr_command *const commands[] = {
    &fmr_cmd_run_def,    &fmr_cmd_plan_def,        &fmr_cmd_verify_def,      &fmr_cmd_synth_def, &fmr_cmd_recon_def,
    &fmr_cmd_annotations_def, &fmr_cmd_version_def, &fmr_cmd_help_def,
};

const fmr_command *const *fmr_commands(size_t *n) {
  *n = sizeof commands / sizeof *commands;
  return commands;
}

const fmr_command *fmr_command_find(const char *name) {
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (strcmp(commands[i]->name, name) == 0) return commands[i];
  return NULL;
}
