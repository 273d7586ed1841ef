/* Fuzz target: the YAML configuration loader (SPEC 10), every key, type and semantic check. */
#include "fmr/input/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fmr_config cfg;
  fmr_err err;
  fmr_err_clear(&err);
  if (fmr_config_parse("/fuzz/run.yaml", (const char *)data, size, &cfg, &err) == 0)
    fmr_config_free(&cfg);
  else
    fmr_config_free(&cfg); /* documented as safe after a failure */
  return 0;
}
