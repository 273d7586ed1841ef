/* Between kspace.c and kspace_probe.c only. */
#ifndef FMR_KSPACE_INTERNAL_H
#define FMR_KSPACE_INTERNAL_H

#include "fmr/recon/kspace.h"

/* Read one row of the first and last slice of kspace and of each stored reconstruction. */
int fmr__kspace_touch(fmr_kspace *ks, fmr_err *err);

#endif
