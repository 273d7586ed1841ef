/* `fastmri-regen help [COMMAND] [--man]`: the command list, one command's options, or the man page. */
#include <stdio.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"

typedef struct help_args {
  int man;
} help_args;

static const fmr_opt help_opts[] = {
    {"--man", NULL, FMR_OPT_FLAG, offsetof(help_args, man), NULL,
     "print the manual page (roff) made from every command's option table", NULL, 0, 0},
};

const fmr_command fmr_cmd_help_def = {
    "help", "[--man] [COMMAND]", "the options of a command, or the manual page",
    "Print the options of COMMAND with their defaults (the same as `fastmri-regen COMMAND --help`), "
    "or with --man the whole manual page, which `cmake --install` installs as fastmri-regen(1).",
    help_opts, sizeof help_opts / sizeof *help_opts, 0, 1, fmr_cmd_help};

int fmr_cmd_help(int argc, char **argv) {
  help_args a = {0};
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;
  int st = fmr_opts_parse(&fmr_cmd_help_def, argc, argv, &a, pos, &npos);
  if (st) return st == 1 ? FMR_EXIT_OK : st;
  size_t n = 0;
  const fmr_command *const *cmds = fmr_commands(&n);
  if (a.man) {
    fmr_opts_print_man(cmds, n, stdout);
    return FMR_EXIT_OK;
  }
  if (npos == 0) {
    for (size_t i = 0; i < n; i++) printf("%-12s %s\n", cmds[i]->name, cmds[i]->summary);
    return FMR_EXIT_OK;
  }
  const fmr_command *c = fmr_command_find(pos[0]);
  if (!c) {
    fprintf(stderr, "fastmri-regen help: unknown command '%s'\n", pos[0]);
    return FMR_EXIT_USAGE;
  }
  fmr_opts_print_help(c, stdout);
  return FMR_EXIT_OK;
}
