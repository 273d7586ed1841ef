/* Default input limits (include/fmr/util/limits.h). */
#include "fmr/util/limits.h"

static const fmr_limits defaults = {
    FMR_LIMIT_KSPACE_SLICES,  FMR_LIMIT_KSPACE_COILS, FMR_LIMIT_KSPACE_DIM,
    FMR_LIMIT_KSPACE_SLICE_ELEMENTS, FMR_LIMIT_KSPACE_ELEMENTS, FMR_LIMIT_HEADER_BYTES,
    FMR_LIMIT_CSV_LINE_BYTES, FMR_LIMIT_CSV_ROWS,     FMR_LIMIT_LIST_NAMES,
    FMR_LIMIT_PROBE_SECONDS,
};

void fmr_limits_default(fmr_limits *l) { *l = defaults; }

const fmr_limits *fmr_limits_or_default(const fmr_limits *l) { return l ? l : &defaults; }
