/* The option tables: parsing of every type, defaults through the same converter, errors as usage
 * errors, and every registered command's table valid (its defaults parse, --help works). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr_test.h"

typedef struct args {
  int flag, choice;
  const char *str;
  size_t size, dims[2];
  uint64_t u64;
  double dbl;
} args;

static const char *const colours[] = {"red", "green", "blue", NULL};

static const fmr_opt opts[] = {
    {"--flag", NULL, FMR_OPT_FLAG, offsetof(args, flag), NULL, "a flag", NULL, 0, 0},
    {"--choice", NULL, FMR_OPT_CHOICE, offsetof(args, choice), "green", "a colour", colours, 0, 0},
    {"--str", "S", FMR_OPT_STRING, offsetof(args, str), NULL, "a string", NULL, 0, 0},
    {"--size", "N", FMR_OPT_SIZE, offsetof(args, size), "7", "a count", NULL, 2, 9},
    {"--dims", "HxW", FMR_OPT_DIMS, offsetof(args, dims), "320x320", "a frame", NULL, 1, 4096},
    {"--u64", "N", FMR_OPT_U64, offsetof(args, u64), "1", "a seed", NULL, 0, 0},
    {"--dbl", "X", FMR_OPT_DOUBLE, offsetof(args, dbl), "0.5", "a level", NULL, 0, 0},
};

static int dummy_main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static const fmr_command cmd = {"t", "[options] A [B]", "test", "A test command.", opts,
                                sizeof opts / sizeof *opts, 1, 2, dummy_main};

static int parse(args *a, const char *pos[FMR_MAX_POSITIONAL], size_t *npos, int argc,
                 const char **argv) {
  memset(a, 0, sizeof *a);
  return fmr_opts_parse(&cmd, argc, (char **)argv, a, pos, npos);
}

int main(void) {
  args a;
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;

  const char *defaults[] = {"t", "x"};
  CHECK_INT_EQ(parse(&a, pos, &npos, 2, defaults), 0);
  CHECK_INT_EQ(a.flag, 0);
  CHECK_INT_EQ(a.choice, 1);
  CHECK_UINT_EQ(a.size, 7);
  CHECK_UINT_EQ(a.dims[0], 320);
  CHECK_UINT_EQ(a.dims[1], 320);
  CHECK_UINT_EQ(a.u64, 1);
  CHECK_DBL_EQ(a.dbl, 0.5);
  CHECK(a.str == NULL);
  CHECK_UINT_EQ(npos, 1);
  CHECK_STR_EQ(pos[0], "x");

  const char *given[] = {"t", "--flag", "--choice=blue", "--str", "s p", "--size", "9",
                         "--dims", "640x368", "--u64=18446744073709551615", "--dbl", "1e-3",
                         "a", "--", "--b"};
  CHECK_INT_EQ(parse(&a, pos, &npos, 15, given), 0);
  CHECK_INT_EQ(a.flag, 1);
  CHECK_INT_EQ(a.choice, 2);
  CHECK_STR_EQ(a.str, "s p");
  CHECK_UINT_EQ(a.size, 9);
  CHECK_UINT_EQ(a.dims[0], 640);
  CHECK_UINT_EQ(a.dims[1], 368);
  CHECK(a.u64 == UINT64_MAX);
  CHECK_DBL_EQ(a.dbl, 1e-3);
  CHECK_UINT_EQ(npos, 2);
  CHECK_STR_EQ(pos[1], "--b"); /* after "--" an argument is positional */

  /* Every bad value, unknown option, missing value or positional is a usage error. */
  const char *bad[][3] = {
      {"t", "--size", "10"},    {"t", "--size", "1"},     {"t", "--size", "-3"},
      {"t", "--choice", "red "}, {"t", "--dims", "320x"},  {"t", "--dims", "0x5"},
      {"t", "--dbl", "nan"},    {"t", "--dbl", "-1"},     {"t", "--u64", "-1"},
      {"t", "--nope", "x"},     {"t", "--flag=1", "x"},   {"t", "x", "--str"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK_INT_EQ(parse(&a, pos, &npos, 3, bad[i]), FMR_EXIT_USAGE);
  const char *none[] = {"t"};
  CHECK_INT_EQ(parse(&a, pos, &npos, 1, none), FMR_EXIT_USAGE);
  const char *three[] = {"t", "a", "b", "c"};
  CHECK_INT_EQ(parse(&a, pos, &npos, 4, three), FMR_EXIT_USAGE);

  /* Every registered command: its defaults are valid (parse applies them before --help). */
  size_t n = 0;
  const fmr_command *const *cmds = fmr_commands(&n);
  CHECK(n >= 7);
  for (size_t i = 0; i < n; i++) {
    char big[1 << 14];
    _Alignas(max_align_t) char scratch[1024]; /* any command's args struct fits */
    const char *help[] = {cmds[i]->name, "--help"};
    FILE *saved = stdout;
    FILE *mem = fmemopen(big, sizeof big, "w");
    CHECK(mem != NULL);
    stdout = mem;
    int st = fmr_opts_parse(cmds[i], 2, (char **)help, scratch, pos, &npos);
    stdout = saved;
    fclose(mem);
    CHECK_INT_EQ(st, 1);
    CHECK(fmr_command_find(cmds[i]->name) == cmds[i]);
  }
  return fmr_test_end();
}
