#include "fmr/util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fmr/util/error.h"

fmr_log_level fmr_log_threshold = FMR_LOG_INFO;
static int log_rank = -1;  /* set once at start-up, before any other thread could exist */

int fmr_log_parse_level(const char *name, fmr_log_level *out) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, names[i]) == 0) {
      *out = (fmr_log_level)i;
      return 0;
    }
  }
  return FMR_EINVAL;
}

void fmr_log_set_rank(int rank) { log_rank = rank; }

void fmr_log_write(fmr_log_level level, const char *file, int line, const char *fmt, ...) {
  static const char *const tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
  /* Logs are the one place wall-clock time is welcome: they never feed an output file. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char rank[24] = "";
  if (log_rank >= 0) snprintf(rank, sizeof rank, " rank %d", log_rank);
  fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s%s %s:%d: %s\n", tm.tm_year + 1900,
          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
          tags[level], rank, base, line, msg);
}
