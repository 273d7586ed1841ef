/* A volume's record: what the pipeline learned and wrote for one volume, as a C struct. This file
 * and record.c are the one place that turns it into JSON (the manifest's per-volume entry, the
 * committed resume record, the message a worker sends to rank 0) and back. No MPI here. */
#ifndef FMR_RECORD_H
#define FMR_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FMR_STATUS_OK = 0, FMR_STATUS_FAILED, FMR_STATUS_MISSING } fmr_status;

/* One written file, path relative to output.dir. */
typedef struct fmr_output_file {
  char *path;
  const char *kind; /* static string from the writer table: "dicom", "mask", "seg", ... */
  uint64_t bytes;
  char sha256[65];
} fmr_output_file;

typedef struct fmr_record fmr_record; /* fields in record.c's struct; accessors below */

/* The fields every layer above the pipeline needs. */
const char *fmr_record_name(const fmr_record *r);
fmr_status fmr_record_status(const fmr_record *r);
const char *fmr_record_error(const fmr_record *r); /* NULL when ok */
size_t fmr_record_noutputs(const fmr_record *r);
const fmr_output_file *fmr_record_output(const fmr_record *r, size_t i);

/* JSON, keys in the manifest's fixed order. to_json returns a new reference (NULL: no memory). */
json_t *fmr_record_to_json(const fmr_record *r);
int fmr_record_from_json(const json_t *j, fmr_record **out, fmr_err *err);

/* Compact text for messages between ranks (one line of JSON) and back. */
char *fmr_record_encode(const fmr_record *r);
int fmr_record_decode(const char *text, size_t len, fmr_record **out, fmr_err *err);

void fmr_record_free(fmr_record **r);

#ifdef __cplusplus
}
#endif
#endif
