/* Helpers shared by the unit tests that check files with external tools (dcmdump, dciodvfy,
 * dcentvfy, dcm2niix): run a command and capture its output, dump a DICOM file. */
#ifndef FMR_TEST_TOOLS_H
#define FMR_TEST_TOOLS_H

#include <stdio.h>
#include <sys/wait.h>

#include "fmr_test.h"

/* Run a shell command, capture stdout+stderr (up to cap bytes), return the exit status. */
static int run(const char *cmd, char *out, size_t cap) {
  char full[4608];
  if (snprintf(full, sizeof full, "%s 2>&1", cmd) >= (int)sizeof full) return -1;
  FILE *p = popen(full, "r");
  if (!p) return -1;
  size_t n = 0;
  int c;
  while ((c = fgetc(p)) != EOF)
    if (n + 1 < cap) out[n++] = (char)c;
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* dcmdump with the meta header and long values; the text stays valid until the next call. */
static char *dump(const char *path) {
  static char out[1 << 18];
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "dcmdump -M +L '%s'", path);
  if (run(cmd, out, sizeof out) != 0) FMR__FAIL("dcmdump %s failed:\n%.2000s", path, out);
  return out;
}

#endif
