/* Command options as data (STYLE 17): each subcommand describes its options once, in a table that
 * drives parsing, `--help` and the man page, so the three cannot disagree. A default is written as
 * the text a user would type, and parsing applies it through the same converter as a given value. */
#ifndef FMR_OPTS_H
#define FMR_OPTS_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  FMR_OPT_FLAG,   /* int: 1 when given */
  FMR_OPT_STRING, /* const char *: the argument as given */
  FMR_OPT_CHOICE, /* int: index into choices */
  FMR_OPT_SIZE,   /* size_t in [min, max] */
  FMR_OPT_U64,    /* uint64_t */
  FMR_OPT_DOUBLE, /* double, finite and >= min */
  FMR_OPT_DIMS    /* size_t[2] from "HxW", each in [min, max] */
} fmr_opt_type;

typedef struct fmr_opt {
  const char *name;            /* "--out" */
  const char *arg;             /* "DIR" in help; NULL for flags */
  fmr_opt_type type;
  size_t offset;               /* offsetof(args struct, field) */
  const char *def;             /* default as typed ("knee", "0.01"); NULL: none */
  const char *help;            /* one or two sentences */
  const char *const *choices;  /* FMR_OPT_CHOICE: NULL-terminated */
  size_t min, max;             /* FMR_OPT_SIZE / FMR_OPT_DIMS (max 0: no upper bound);
                                  FMR_OPT_DOUBLE uses min */
} fmr_opt;

typedef struct fmr_command {
  const char *name;        /* "synth" */
  const char *synopsis;    /* after "fastmri-regen <name> " */
  const char *summary;     /* one line for the command list */
  const char *description; /* paragraphs for --help and the man page ("\n\n" between them) */
  const fmr_opt *opts;
  size_t nopts;
  size_t min_pos, max_pos; /* positional arguments accepted */
  int (*main)(int argc, char **argv);
} fmr_command;

#define FMR_MAX_POSITIONAL 4

/* Parse argv[1..] (argv[0] is the command name) into args (a struct the table's offsets point
 * into; defaults are applied first) and the positional arguments. Returns 0 to go on, 1 when
 * --help was printed to stdout, or FMR_EXIT_USAGE after printing the problem and the usage line
 * to stderr. */
int fmr_opts_parse(const fmr_command *cmd, int argc, char **argv, void *args,
                   const char *pos[FMR_MAX_POSITIONAL], size_t *npos);

/* `fastmri-regen <cmd> --help`. */
void fmr_opts_print_help(const fmr_command *cmd, FILE *f);

/* The whole manual page (roff, section 1) from the command tables and the config reference. */
void fmr_opts_print_man(const fmr_command *const *cmds, size_t n, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
