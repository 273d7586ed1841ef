/* Fuzz target: the ISMRMRD XML header reader (SPEC 2.1), which must refuse hostile XML cleanly. */
#include <math.h>

#include "fmr/recon/header.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fmr_header h;
  fmr_err err;
  if (fmr_header_parse((const char *)data, size, "fuzz.xml", &h, &err) == 0) {
    /* Documented: numbers are finite or NaN for absent, integers non-negative or -1. */
    if (h.encoded.matrix_x < -1 || h.recon.matrix_y < -1 || h.e1_center < -1) __builtin_trap();
    if (isinf(h.tr_ms) || isinf(h.encoded.fov_x)) __builtin_trap();
  }
  return 0;
}
