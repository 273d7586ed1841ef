/* `fastmri-regen version`: the tool and library versions the manifest records. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmr/cmd/cmd.h"
#include "fmr/output/manifest.h"

int fmr_cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  json_t *libs = fmr_manifest_library_versions();
  char *text = libs ? fmr_json_dumps(libs) : NULL;
  printf("fastmri-regen %s\n%s", FMR_VERSION, text ? text : "");
  free(text);
  json_decref(libs);
  return FMR_EXIT_OK;
}
