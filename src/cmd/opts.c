/* Table-driven command options (opts.h): one description per option feeds the parser, --help and
 * the man page. */
#include "fmr/cmd/opts.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/cmd/cmd.h"
#include "fmr/input/config.h"

static int parse_size(const char *s, size_t min, size_t max, size_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || (max && v > max) || v > SIZE_MAX) return -1;
  *out = (size_t)v;
  return 0;
}

/* One option's value into its destination; -1 when the text is not a valid value. */
static int convert(const fmr_opt *o, const char *v, void *args) {
  char *dst = (char *)args + o->offset;
  switch (o->type) {
    case FMR_OPT_FLAG: *(int *)(void *)dst = 1; return 0;
    case FMR_OPT_STRING:
      if (!v || !*v) return -1;
      *(const char **)(void *)dst = v;
      return 0;
    case FMR_OPT_CHOICE:
      for (int i = 0; v && o->choices[i]; i++)
        if (strcmp(v, o->choices[i]) == 0) {
          *(int *)(void *)dst = i;
          return 0;
        }
      return -1;
    case FMR_OPT_SIZE: return parse_size(v, o->min, o->max, (size_t *)(void *)dst);
    case FMR_OPT_U64: {
      if (!v || !*v || *v == '-' || *v == '+') return -1;
      char *end = NULL;
      errno = 0;
      unsigned long long x = strtoull(v, &end, 10);
      if (errno || *end) return -1;
      *(uint64_t *)(void *)dst = (uint64_t)x;
      return 0;
    }
    case FMR_OPT_DOUBLE: {
      if (!v || !*v) return -1;
      char *end = NULL;
      double x = strtod(v, &end);
      if (*end || !isfinite(x) || x < (double)o->min) return -1;
      *(double *)(void *)dst = x;
      return 0;
    }
    case FMR_OPT_DIMS: {
      const char *x = v ? strpbrk(v, "xX") : NULL;
      char first[32];
      size_t n = x ? (size_t)(x - v) : 0, *d = (size_t *)(void *)dst;
      if (!x || n == 0 || n >= sizeof first) return -1;
      memcpy(first, v, n);
      first[n] = '\0';
      return parse_size(first, o->min, o->max, &d[0]) || parse_size(x + 1, o->min, o->max, &d[1])
                 ? -1
                 : 0;
    }
  }
  return -1;
}

static void print_usage_line(const fmr_command *cmd, FILE *f) {
  fprintf(f, "usage: fastmri-regen %s %s\n", cmd->name, cmd->synopsis);
}

/* What a user types for the value, e.g. "estimate | measure | patient". */
static void print_arg(const fmr_opt *o, FILE *f) {
  if (o->type == FMR_OPT_CHOICE) {
    for (int i = 0; o->choices[i]; i++) fprintf(f, "%s%s", i ? "|" : "", o->choices[i]);
  } else if (o->arg) {
    fputs(o->arg, f);
  }
}

int fmr_opts_parse(const fmr_command *cmd, int argc, char **argv, void *args,
                   const char *pos[FMR_MAX_POSITIONAL], size_t *npos) {
  *npos = 0;
  for (size_t k = 0; k < cmd->nopts; k++) {
    const fmr_opt *o = &cmd->opts[k];
    if (o->def && o->type != FMR_OPT_FLAG && convert(o, o->def, args) != 0) {
      /* A table error, caught by the unit test that parses every command's defaults. */
      fprintf(stderr, "fastmri-regen %s: built-in default '%s' of %s is invalid\n", cmd->name,
              o->def, o->name);
      return FMR_EXIT_USAGE;
    }
  }
  int options_done = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (options_done || a[0] != '-' || a[1] == '\0') {
      if (*npos >= cmd->max_pos || *npos >= FMR_MAX_POSITIONAL) {
        fprintf(stderr, "fastmri-regen %s: unexpected argument '%s'\n", cmd->name, a);
        print_usage_line(cmd, stderr);
        return FMR_EXIT_USAGE;
      }
      pos[(*npos)++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      options_done = 1;
      continue;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fmr_opts_print_help(cmd, stdout);
      return 1;
    }
    const fmr_opt *o = NULL;
    const char *v = NULL;
    for (size_t k = 0; k < cmd->nopts && !o; k++) {
      size_t n = strlen(cmd->opts[k].name);
      if (strncmp(a, cmd->opts[k].name, n) != 0) continue;
      if (a[n] == '\0') o = &cmd->opts[k];
      else if (a[n] == '=' && cmd->opts[k].type != FMR_OPT_FLAG) {
        o = &cmd->opts[k];
        v = a + n + 1;
      }
    }
    if (!o) {
      fprintf(stderr, "fastmri-regen %s: unknown option '%s' (see fastmri-regen %s --help)\n",
              cmd->name, a, cmd->name);
      return FMR_EXIT_USAGE;
    }
    if (o->type != FMR_OPT_FLAG && !v) {
      if (i + 1 >= argc) {
        fprintf(stderr, "fastmri-regen %s: %s needs a value (", cmd->name, o->name);
        print_arg(o, stderr);
        fputs(")\n", stderr);
        return FMR_EXIT_USAGE;
      }
      v = argv[++i];
    }
    if (convert(o, v, args) != 0) {
      fprintf(stderr, "fastmri-regen %s: bad value '%s' for %s (expected ", cmd->name, v ? v : "",
              o->name);
      print_arg(o, stderr);
      if (o->type == FMR_OPT_SIZE || o->type == FMR_OPT_DIMS) {
        if (o->max) fprintf(stderr, ", %zu..%zu", o->min, o->max);
        else fprintf(stderr, ", at least %zu", o->min);
      }
      fputs(")\n", stderr);
      return FMR_EXIT_USAGE;
    }
  }
  if (*npos < cmd->min_pos) {
    fprintf(stderr, "fastmri-regen %s: missing argument\n", cmd->name);
    print_usage_line(cmd, stderr);
    return FMR_EXIT_USAGE;
  }
  return 0;
}

/* Word-wrap text to `width` columns, keeping its paragraph breaks. */
static void print_wrapped(const char *s, size_t width, FILE *f) {
  size_t col = 0;
  while (*s) {
    if (*s == '\n') {
      fputc('\n', f);
      col = 0;
      s++;
      continue;
    }
    if (*s == ' ') {
      s++;
      continue;
    }
    size_t n = strcspn(s, " \n");
    if (col && col + 1 + n > width) {
      fputc('\n', f);
      col = 0;
    } else if (col) {
      fputc(' ', f);
      col++;
    }
    fwrite(s, 1, n, f);
    col += n;
    s += n;
  }
  if (col) fputc('\n', f);
}

void fmr_opts_print_help(const fmr_command *cmd, FILE *f) {
  print_usage_line(cmd, f);
  fputc('\n', f);
  print_wrapped(cmd->description, 78, f);
  if (cmd->nopts == 0) return;
  fputs("\noptions:\n", f);
  for (size_t k = 0; k < cmd->nopts; k++) {
    const fmr_opt *o = &cmd->opts[k];
    char left[64];
    FILE *m = fmemopen(left, sizeof left, "w");
    if (m) {
      fprintf(m, "%s", o->name);
      if (o->type != FMR_OPT_FLAG) {
        fputc(' ', m);
        print_arg(o, m);
      }
      fclose(m);
    } else {
      snprintf(left, sizeof left, "%s", o->name);
    }
    left[sizeof left - 1] = '\0';
    fprintf(f, "  %-24s %s", left, o->help);
    if (o->def) fprintf(f, " (default: %s)", o->def);
    fputc('\n', f);
  }
  fprintf(f, "  %-24s %s\n", "-h, --help", "this text");
}

/* roff needs a backslash escaped and a leading dot or quote protected. */
static void roff_text(const char *s, FILE *f) {
  int bol = 1;
  for (; *s; s++) {
    if (bol && (*s == '.' || *s == '\'')) fputs("\\&", f);
    if (*s == '\\') fputs("\\e", f);
    else if (*s == '-') fputs("\\-", f);
    else fputc(*s, f);
    bol = *s == '\n';
  }
}

static void roff_paragraphs(const char *s, FILE *f) {
  const char *p = s;
  while (*p) {
    const char *e = strstr(p, "\n\n");
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char *para = strndup(p, n);
    if (!para) return;
    fputs(".PP\n", f);
    roff_text(para, f);
    fputc('\n', f);
    free(para);
    p += n;
    while (*p == '\n') p++;
  }
}

void fmr_opts_print_man(const fmr_command *const *cmds, size_t n, FILE *f) {
  fprintf(f, ".TH FASTMRI-REGEN 1 \"\" \"fastmri-regen %s\" \"User Commands\"\n", FMR_VERSION);
  fputs(".SH NAME\nfastmri\\-regen \\- regenerate the fastMRI+ dataset from raw fastMRI k-space\n"
        ".SH SYNOPSIS\n",
        f);
  for (size_t i = 0; i < n; i++) {
    fprintf(f, ".B fastmri\\-regen %s\n", cmds[i]->name);
    roff_text(cmds[i]->synopsis, f);
    fputs("\n.br\n", f);
  }
  fputs(".SH DESCRIPTION\n", f);
  roff_paragraphs("A batch pipeline over MPI: rank 0 plans the run from a YAML config and the "
                  "fastMRI+ file lists, every rank reconstructs volumes (centred inverse FFT, "
                  "root-sum-of-squares, centre crop, flip), writes DICOM images, label masks, DICOM "
                  "Segmentations and previews, and rank 0 writes a manifest with the SHA-256 of every "
                  "file. Same inputs and config give byte-identical outputs for any rank count.\n\n"
                  "Run it under mpirun or srun for several ranks; without them it is one rank.",
                  f);
  fputs(".SH COMMANDS\n", f);
  for (size_t i = 0; i < n; i++) {
    const fmr_command *c = cmds[i];
    fprintf(f, ".SS %s\n", c->name);
    roff_paragraphs(c->description, f);
    for (size_t k = 0; k < c->nopts; k++) {
      const fmr_opt *o = &c->opts[k];
      fputs(".TP\n.B ", f);
      roff_text(o->name, f);
      if (o->type != FMR_OPT_FLAG) {
        fputs(" \\fI", f);
        char arg[128];
        FILE *m = fmemopen(arg, sizeof arg, "w");
        if (m) {
          print_arg(o, m);
          fclose(m);
          arg[sizeof arg - 1] = '\0';
          roff_text(arg, f);
        }
        fputs("\\fR", f);
      }
      fputc('\n', f);
      roff_text(o->help, f);
      if (o->def) {
        fputs(" Default: ", f);
        roff_text(o->def, f);
        fputc('.', f);
      }
      fputc('\n', f);
    }
  }
  fputs(".SH CONFIGURATION\nThe YAML keys of \\fBrun\\fR, with their types and defaults:\n.PP\n.nf\n"
        ".ft CR\n",
        f);
  char *ref = NULL;
  size_t reflen = 0;
  FILE *m = open_memstream(&ref, &reflen);
  if (m) {
    fmr_config_print_reference(m);
    fclose(m);
    if (ref) roff_text(ref, f);
    free(ref);
  }
  fputs(".ft\n.fi\n", f);
  fputs(".SH EXIT STATUS\n"
        ".TP\n0\nevery volume ok\n"
        ".TP\n1\nsome volumes failed or are missing; the others are complete\n"
        ".TP\n2\nconfiguration, usage or start-up error; nothing written\n"
        ".TP\n3\ninterrupted (SIGTERM, SIGUSR1, SIGINT): finished volumes recorded; rerun the same "
        "command to resume\n"
        ".TP\n4\nthe output storage failed (no space, quota, read-only, I/O error); rerun after "
        "fixing it\n"
        ".SH ENVIRONMENT\n"
        ".TP\nSOURCE_DATE_EPOCH\nthe DICOM study date and time (seconds since 1970), over the "
        "config's dicom.date/time\n"
        ".TP\nFMR_LOG_LEVEL\nerror, warn, info or debug, over the config's log.level\n"
        ".SH SEE ALSO\n\\fBmpirun\\fR(1), \\fBsrun\\fR(1), \\fBsbatch\\fR(1); the README of the "
        "source tree.\n",
        f);
}
