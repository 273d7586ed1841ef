/* `fastmri-regen version`: the tool and library versions the manifest records. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr/output/manifest.h"

const fmr_command fmr_cmd_version_def = {
    "version", "", "print the version and the library versions",
    "Print the tool version and, as JSON, the versions of the libraries it runs with (what the "
    "manifest records). Also `fastmri-regen --version`.",
    NULL, 0, 0, 0, fmr_cmd_version};

int fmr_cmd_version(int argc, char **argv) {
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;
  char dummy;
  int st = fmr_opts_parse(&fmr_cmd_version_def, argc, argv, &dummy, pos, &npos);
  if (st) return st == 1 ? FMR_EXIT_OK : st;
  json_t *libs = fmr_manifest_library_versions();
  char *text = libs ? fmr_json_dumps(libs) : NULL;
  printf("fastmri-regen %s\n%s", FMR_VERSION, text ? text : "");
  free(text);
  json_decref(libs);
  return FMR_EXIT_OK;
}
