/* `plan`: what a run would do, from metadata only. Each volume is surveyed on its own (the HDF5
 * metadata and header, through the probe when input.probe is on), so dispatch can spread the
 * volumes over ranks; rank 0 then prints the report. Reads only: nothing is written anywhere, and
 * output.dir is only looked at when it already carries this tool's mark. No MPI here. */
#ifndef FMR_SURVEY_H
#define FMR_SURVEY_H

#include <stdint.h>
#include <stdio.h>

#include "fmr/run/plan.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One volume's facts, fixed-size so ranks can send them as bytes. */
typedef struct fmr_survey_volume {
  int readable;          /* metadata read and checked */
  int reusable;          /* a committed record under its key with its outputs in place */
  int multicoil, undersampled;
  uint32_t slices, coils, H, W, h, w;
  char acquisition[64];
  char error[256];       /* why not readable (probe or open message) */
} fmr_survey_volume;

/* Survey task i of the plan. Never fails: problems land in out->error. With probe (and
 * input.probe), the metadata is read in the probe's helper process first (fmr_kspace_probe): a
 * file that crashes HDF5 is then reported instead of ending the survey. */
void fmr_survey_volume_of(const fmr_plan *plan, size_t i, int probe, fmr_survey_volume *out);

/* Seconds one core spends per k-space value (coils x H x W x slices) for a whole volume with every
 * default output: measured by bench/ (bench/README.md: about 2.2 s for 36 x 15 x 640 x 368 on the
 * reference machine, 1 rank). An estimate for planning allocations, not a promise. */
#define FMR_SURVEY_SECONDS_PER_VALUE 1.7e-8

/* The report: counts by anatomy, acquisition, shape and coils; missing files; .h5 files under the
 * input directories the list does not name; CSV rows naming no listed volume; k-space bytes;
 * outputs and disk space per kind; what a resume would reuse; core-hours. Text or JSON. */
int fmr_survey_report(const fmr_plan *plan, const fmr_survey_volume *vols, int json, int ranks,
                      FILE *f, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
