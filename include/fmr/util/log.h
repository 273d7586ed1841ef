/* One logging macro: level, rank, file:line, elapsed time, to stderr.
 * The level comes from the config (log.level) or FMR_LOG_LEVEL; it is the only mutable global. */
#ifndef FMR_LOG_H
#define FMR_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FMR_LOG_ERROR = 0, FMR_LOG_WARN, FMR_LOG_INFO, FMR_LOG_DEBUG } fmr_log_level;

extern fmr_log_level fmr_log_threshold;

/* Parse "error|warn|info|debug"; returns 0 or FMR_EINVAL. */
int fmr_log_parse_level(const char *name, fmr_log_level *out);
/* Set the rank printed in each line (-1: none). */
void fmr_log_set_rank(int rank);
void fmr_log_write(fmr_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define FMR_LOG(level, ...)                                                  \
  do {                                                                       \
    if ((level) <= fmr_log_threshold) fmr_log_write((level), __FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
