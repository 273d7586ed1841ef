/* HDF5 error handling shared by the modules that call HDF5. Contract: h5util.h. */
#include "util/h5util.h"

#include <stdio.h>

void fmr__h5_quiet_begin(fmr__h5_quiet *q) {
  q->saved = H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) >= 0;
  (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* failure only means HDF5 keeps printing */
}

void fmr__h5_quiet_end(const fmr__h5_quiet *q) {
  if (q->saved) (void)H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct h5_detail {
  char *buf;
  size_t size;
} h5_detail;

static herr_t walk_innermost(unsigned n, const H5E_error2_t *e, void *ctx) {
  h5_detail *d = ctx;
  if (n == 0 && e->desc && e->desc[0]) snprintf(d->buf, d->size, "%s", e->desc);
  return 0;
}

const char *fmr__h5_error_detail(char *buf, size_t size) {
  snprintf(buf, size, "no detail from HDF5");
  h5_detail d = {buf, size};
  (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_innermost, &d);
  (void)H5Eclear2(H5E_DEFAULT);
  return buf;
}
