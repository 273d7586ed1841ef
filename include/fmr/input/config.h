/* The run configuration (SPEC 10): YAML -> a typed struct, validated in one pass against one table
 * of keys (name, type, default, help). Unknown keys, wrong types and missing required keys are
 * errors with file:line:column. Relative paths are resolved against the config file's directory.
 * No MPI here: rank 0 reads the bytes, every rank parses the same bytes. */
#ifndef FMR_CONFIG_H
#define FMR_CONFIG_H

#include <stddef.h>

#include "fmr/util/error.h"
#include "fmr/util/limits.h"
#include "fmr/recon/recon.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest UID root that leaves the 20 digits of a 64-bit hash within DICOM's 64 characters
 * (src/dicom/uid.c keeps at least 64 bits). */
#define FMR_CONFIG_UID_ROOT_MAX 43

typedef enum { FMR_MASK_FRAME_IMAGE = 0, FMR_MASK_FRAME_NATIVE } fmr_mask_frame;

typedef struct fmr_config {
  char *path;               /* the config file as given */
  char *anatomy;            /* "knee" | "brain" */
  /* input */
  size_t ninput_dirs;
  char **input_dirs;
  char *file_list;          /* NULL when input.all_files and no list */
  char *annotations;
  int all_files;            /* process every <name>.h5 under input.dirs, listed or not */
  int probe;                /* input.probe: check each input in a child process first */
  /* output */
  char *output_dir;
  int write_dicom;
  int write_masks;
  fmr_mask_frame mask_frame;
  int write_seg;            /* DICOM Segmentation per reviewed volume with findings */
  int write_preview;        /* PNG contact sheet per reviewed volume with boxes */
  int write_dataset;        /* dataset.h5 (SPEC 11): float reconstructions and masks of the run */
  int write_boxes;          /* boxes.csv (SPEC 11): every annotation row in every frame */
  int write_nifti;          /* nifti/<v>.nii.gz (+ _mask) per volume and datalist.json */
  char *seg_codes;          /* label -> coded concept table overriding the built-in; NULL: built-in */
  /* recon */
  fmr_recon_source source;
  int flip_up_down;
  int flip_left_right;
  fmr_fft_effort fft_effort;
  /* dicom */
  char *uid_root;
  char *uid_namespace;
  char *date;               /* YYYYMMDD used when SOURCE_DATE_EPOCH is unset */
  char *time;               /* HHMMSS */
  /* log */
  char *log_level;
  size_t progress_seconds;  /* a pipe or log: seconds between progress lines */
  /* limits (include/fmr/util/limits.h) */
  fmr_limits limits;
} fmr_config;

/* Parse `len` bytes of YAML read from `path`. On error *cfg is left empty (free is still safe) and
 * err holds "<path>:<line>:<column>: <problem>". dicom.uid_root is checked here (digits and dots,
 * no leading zeros, at most FMR_CONFIG_UID_ROOT_MAX characters) so a bad root is a configuration
 * error before anything is written, not a failure of every volume. */
int fmr_config_parse(const char *path, const char *text, size_t len, fmr_config *cfg, fmr_err *err);
void fmr_config_free(fmr_config *cfg);

/* The settings that shape outputs, as a new jansson object (NULL: out of memory): the manifest
 * lists them (config.settings, beside the config text's SHA-256) and the run key hashes them.
 * Everything else in a config (paths, log.*, input.probe, limits.*, comments) changes no byte of
 * any output: paths say where a run happens, not what it computes. A new setting that does
 * change outputs goes here. */
struct json_t *fmr_config_settings(const fmr_config *cfg);

/* Names for enum values, as written in the YAML. */
const char *fmr_config_source_name(fmr_recon_source s);
const char *fmr_config_effort_name(fmr_fft_effort e);

/* Print every key with its type, default and help, as documented in the README. */
void fmr_config_print_reference(void *file /* FILE* */);

#ifdef __cplusplus
}
#endif
#endif
