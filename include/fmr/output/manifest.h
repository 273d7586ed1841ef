/* The manifest (SPEC 7): run-level facts plus one record per volume, written once by rank 0 with
 * keys in a fixed order and volumes sorted by name. Nothing in it depends on the rank count, the
 * schedule, the host or the wall clock. No MPI here. */
#ifndef FMR_MANIFEST_H
#define FMR_MANIFEST_H

#include <jansson.h>

#include "fmr/labels/annotations.h"
#include "fmr/input/config.h"
#include "fmr/input/filelist.h"
#include "fmr/output/record.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FMR_MANIFEST_FORMAT "fastmri-regen-manifest/1"

typedef struct fmr_run_inputs {
  const fmr_config *cfg;
  const char *config_sha256;
  const char *annotations_sha256;
  const char *file_list_sha256;    /* NULL when there is no list */
  const char *seg_codes_sha256;    /* SEG coded-concept table in use; NULL when SEGs are off */
  const fmr_annotations *ann;
  const char *mpi_version;         /* MPI_Get_library_version, passed in by the scheduler */
  size_t remaining;                /* planned volumes without a record (interrupted or stopped run):
                                      0 writes "complete": true (SPEC 7) */
  const fmr_filelist_skip *skipped; /* file-list lines that name no volume (issue 13) */
  size_t nskipped;
  const fmr_output_file *run_outputs; /* files of the run as a whole (dataset.h5, boxes.csv,
                                         datalist.json), listed and verified like a volume's */
  size_t nrun_outputs;
} fmr_run_inputs;

/* Library versions as a JSON object (HDF5, FFTW, DCMTK, libyaml, libxml2, jansson, OpenSSL, MPI). */
json_t *fmr_manifest_library_versions(void);

/* Build and atomically write <output.dir>/manifest.json and manifest-sha256.txt through the store.
 * records: n volume records in any order (sorted by name here); borrowed. The totals count
 * volumes by status, outputs, bytes and warnings. */
int fmr_manifest_write_records(const fmr_run_inputs *in, fmr_record *const *records, size_t n,
                               fmr_err *err);

/* A path from the config as the config names it (SPEC 7: no absolute path in the manifest):
 * relative to the config file's directory as written there; a path written absolute shows only
 * its file name. Written into buf (n bytes), which is returned. */
const char *fmr_manifest_config_name(const fmr_config *cfg, const char *path, char *buf,
                                     size_t n);

/* Serialise JSON deterministically (fixed key order as inserted, 2-space indent, trailing newline)
 * into a malloc'd string. */
char *fmr_json_dumps(const json_t *j);

#ifdef __cplusplus
}
#endif
#endif
