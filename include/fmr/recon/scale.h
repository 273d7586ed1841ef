/* Percentiles and int16 scaling, exactly as SPEC 5.1 (numpy 1.24 "linear" percentile).
 * Compiled with -ffp-contract=off: an FMA would change the last bit. No MPI here. */
#ifndef FMR_SCALE_H
#define FMR_SCALE_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* P(q) of n floats by selection. `scratch` holds a copy of the data and is reordered.
 * Returns NaN if any value is NaN; n must be > 0. */
double fmr_percentile_f32(float *scratch, size_t n, double q);
/* The same value as fmr_percentile_f32, from v left as it is (a counting pass, then selection
 * within one bucket): *p is NaN when any value is NaN or n is 0. FMR_ENOMEM, else 0. */
int fmr_percentile_f32_of(const float *v, size_t n, double q, double *p);
/* The same over int16 values (d = hi - lo in integer arithmetic). */
double fmr_percentile_i16(int16_t *scratch, size_t n, double q);

typedef struct fmr_scaling {
  double p999;           /* P(99.9) of the float stack */
  float s;               /* (float)(1024.0 / p999) */
  double window_center;  /* WindowWidth / 2 */
  double window_width;   /* 2 * (P(99.9) - P(0.1)) over the int16 pixels */
} fmr_scaling;

/* Scale a volume's float stack (n voxels) into int16 pixels (same order), SPEC 5.1.
 * Fails with FMR_ENUMERIC when P(99.9) is 0, negative or not finite. `what` names the volume. */
int fmr_scale_volume(const float *img, size_t n, int16_t *pixels, fmr_scaling *out,
                     const char *what, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
