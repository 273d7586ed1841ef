/* What the run report and the logs measure about the process: elapsed time and memory. Never an
 * input to an output file (outputs are byte-identical whatever the machine). */
#ifndef FMR_MEASURE_H
#define FMR_MEASURE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on CLOCK_MONOTONIC: only differences mean anything. */
double fmr_monotonic_seconds(void);

/* This process's peak resident set size so far, in MB (10^6 bytes); 0 when unknown. */
double fmr_peak_rss_mb(void);

/* Ask for transparent huge pages on the page-aligned inside of a large buffer not yet touched
 * (a per-volume image stack, mask, transform buffer). First touches of ~100 MB of 4 KiB pages cost
 * ~27,000 page faults (0.3-0.4 s in this guest) on a rank's first volume; 2 MiB pages cost ~50.
 * A hint only: nothing changes where the kernel does not offer them (THP "never"). */
void fmr_advise_huge_pages(void *p, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
