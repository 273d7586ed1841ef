/* The ISMRMRD XML header (SPEC 2.1) as typed fields.
 *
 * Parsed with libxml2 with entity substitution, DTD loading and network access all off, and a size
 * limit, so hostile XML (billion laughs, external entities) fails cleanly. Missing optional fields are
 * reported as absent: strings empty, numbers NaN, integers -1. */
#ifndef FMR_HEADER_H
#define FMR_HEADER_H

#include <stddef.h>

#include "fmr/util/error.h"
#include "fmr/util/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FMR_HEADER_MAX_BYTES FMR_LIMIT_HEADER_BYTES /* the default: real headers are ~10-20 kB */

typedef struct fmr_space {
  int matrix_x, matrix_y, matrix_z;  /* -1 when absent */
  double fov_x, fov_y, fov_z;        /* mm, NaN when absent */
} fmr_space;

typedef struct fmr_header {
  fmr_space encoded, recon;
  int e1_min, e1_max, e1_center;     /* encodingLimits/kspace_encoding_step_1, -1 when absent */
  char measurement_id[128];
  char patient_position[32];
  char protocol_name[128];
  char frame_of_reference_uid[128];
  char system_vendor[128];
  char system_model[128];
  double field_strength_t;           /* NaN when absent */
  int receiver_channels;             /* -1 when absent */
  char institution_name[128];
  double h1_frequency_hz;            /* NaN when absent */
  double tr_ms, te_ms, ti_ms;        /* first value of each list; NaN when absent */
  double flip_angle_deg;             /* NaN when absent */
  double echo_spacing_ms;            /* NaN when absent */
  char sequence_type[64];
  int echo_train_length;             /* encoding/echoTrainLength (ISMRMRD >= 1.4); -1 when absent
                                      * (fastMRI's headers predate it; 0 from memset also means
                                      * unknown to the DICOM writer) */
} fmr_header;

/* Parse `len` bytes of XML. `what` names the source in messages (e.g. the file path).
 * Any field may be missing; only unparseable/hostile XML or a wrong root element is an error. */
int fmr_header_parse(const char *xml, size_t len, const char *what, fmr_header *out, fmr_err *err);
/* The same with explicit limits (NULL: the defaults); longer than limits->header_bytes fails. */
int fmr_header_parse_limited(const char *xml, size_t len, const char *what,
                             const fmr_limits *limits, fmr_header *out, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
