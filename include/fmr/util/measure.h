/* What the run report and the logs measure about the process: elapsed time and memory. Never an
 * input to an output file (outputs are byte-identical whatever the machine). */
#ifndef FMR_MEASURE_H
#define FMR_MEASURE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on CLOCK_MONOTONIC: only differences mean anything. */
double fmr_monotonic_seconds(void);

/* This process's peak resident set size so far, in MB (10^6 bytes); 0 when unknown. */
double fmr_peak_rss_mb(void);

#ifdef __cplusplus
}
#endif
#endif
