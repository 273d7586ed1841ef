/* An RFC 4180 CSV writer into a growing memory buffer. No MPI here. */
#ifndef FMR_CSVWRITE_H
#define FMR_CSVWRITE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Records end with CRLF (RFC 4180 2.1). A field is quoted when it contains a comma, a double
 * quote, CR, LF or a space (leading/trailing spaces would otherwise be trimmed by many readers),
 * and quotes are doubled; empty fields are written bare. An
 * allocation failure sets `failed` and makes every later call a no-op: check it once at the end. */
typedef struct fmr_csv {
  char *data;
  size_t len, cap;
  size_t fields; /* fields in the record being written */
  int failed;
} fmr_csv;

void fmr_csv_init(fmr_csv *c);
void fmr_csv_field(fmr_csv *c, const char *s);
void fmr_csv_fieldf(fmr_csv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fmr_csv_end_record(fmr_csv *c);
void fmr_csv_free(fmr_csv *c);

#ifdef __cplusplus
}
#endif
#endif
