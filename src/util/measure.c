#include "fmr/util/measure.h"

#include <sys/resource.h>
#include <time.h>

double fmr_monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double fmr_peak_rss_mb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
  return (double)ru.ru_maxrss * 1024.0 / 1e6; /* Linux: ru_maxrss is in KiB */
}
