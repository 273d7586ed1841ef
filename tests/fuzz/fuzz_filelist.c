/* Fuzz target: the fastMRI+ file-list parser (SPEC 2.3), with a small name limit so the limit's
 * refusal is reached too. */
#include <string.h>

#include "fmr/input/filelist.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fmr_filelist fl;
  fmr_err err;
  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.list_names = 5000;
  if (fmr_filelist_parse_limited("fuzz.csv", (const char *)data, size, &lim, &fl, &err) == 0) {
    /* Every name the parser accepts must satisfy the rules it documents. */
    for (size_t i = 0; i < fl.n; i++)
      if (!fmr_volume_name_plain(fl.names[i]) || memchr(fl.names[i], '/', strlen(fl.names[i])))
        __builtin_trap();
    fmr_filelist_free(&fl);
  }
  return 0;
}
