/* File-system helpers for the store and pipeline tests: a real small tmpfs (root only), the
 * SHA-256 of a file by sha256sum (an oracle independent of the code), and counting files. */
#ifndef FMR_TEST_FS_H
#define FMR_TEST_FS_H

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmr_test_tools.h"

/* Mount a tmpfs of `size` (e.g. "1m") on the new directory dir. 0 when mounted; 1 when not root
 * (the caller skips, saying so under `what`); -1 (a counted failure) when mount failed. */
static int mount_tmpfs(const char *dir, const char *size, const char *what) {
  char cmd[1024], out[1024];
  if (geteuid() != 0) {
    fprintf(stderr, "%s: not root, cannot mount a tmpfs: SKIPPED\n", what);
    return 1;
  }
  CHECK_INT_EQ(mkdir(dir, 0777), 0);
  snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=%s tmpfs '%s'", size, dir);
  if (run(cmd, out, sizeof out) != 0) {
    FMR__FAIL("%s: %s", cmd, out);
    return -1;
  }
  return 0;
}

static void sha256sum(const char *path, char out[65]) {
  char cmd[1024], text[256];
  snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
  CHECK_INT_EQ(run(cmd, text, sizeof text), 0);
  memcpy(out, text, 64);
  out[64] = '\0';
}

/* Files below dir whose name matches the shell pattern. */
static int count_files(const char *dir, const char *pattern) {
  char cmd[1024], out[256];
  snprintf(cmd, sizeof cmd, "find '%s' -name '%s' | wc -l", dir, pattern);
  return run(cmd, out, sizeof out) == 0 ? atoi(out) : -1;
}

#endif
