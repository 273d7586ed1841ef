/* Limits on what an untrusted input may make us allocate, checked before the allocation; each
 * refusal names the file and the limit (its config key under `limits:`). The defaults leave wide
 * room above the real data (at most ~45 slices x ~20 coils x 768 x 396 complex64, headers of
 * ~20 kB, CSVs of ~16,000 rows and file lists of ~1,000 names). No MPI here. */
#ifndef FMR_LIMITS_H
#define FMR_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_limits {
  size_t kspace_slices;         /* limits.kspace_slices: slices of one volume */
  size_t kspace_coils;          /* limits.kspace_coils: receiver coils */
  size_t kspace_dim;            /* limits.kspace_dim: H, W and stored reconstruction h, w */
  size_t kspace_slice_elements; /* limits.kspace_slice_elements: coils x H x W (one slice buffer) */
  size_t kspace_elements;       /* limits.kspace_elements: slices x coils x H x W */
  size_t header_bytes;          /* limits.header_bytes: the ismrmrd_header string */
  size_t csv_line_bytes;        /* limits.csv_line_bytes: one CSV record (after unquoting) */
  size_t csv_rows;              /* limits.csv_rows: data rows of an annotation CSV */
  size_t list_names;            /* limits.list_names: lines naming volumes in a file list */
  size_t probe_seconds;         /* limits.probe_seconds: wall time of one input probe */
} fmr_limits;

#define FMR_LIMIT_KSPACE_SLICES 1024
#define FMR_LIMIT_KSPACE_COILS 256
#define FMR_LIMIT_KSPACE_DIM 4096
#define FMR_LIMIT_KSPACE_SLICE_ELEMENTS ((size_t)1 << 26)  /* 512 MiB of complex64 */
#define FMR_LIMIT_KSPACE_ELEMENTS ((size_t)1 << 31)        /* 16 GiB of complex64 */
#define FMR_LIMIT_HEADER_BYTES ((size_t)4 << 20)           /* 4 MiB */
#define FMR_LIMIT_CSV_LINE_BYTES ((size_t)64 << 10)        /* 64 KiB */
#define FMR_LIMIT_CSV_ROWS ((size_t)10000000)
#define FMR_LIMIT_LIST_NAMES ((size_t)1000000)
#define FMR_LIMIT_PROBE_SECONDS ((size_t)120)

/* The defaults above. */
void fmr_limits_default(fmr_limits *l);

/* `l` itself, or the defaults when l is NULL (for the entry points that take optional limits). */
const fmr_limits *fmr_limits_or_default(const fmr_limits *l);

#ifdef __cplusplus
}
#endif
#endif
