/* The run-level ML files (SPEC 11), built at the end of a run from the per-volume files
 * (export/dataset.h): dataset.h5 written collectively through HDF5's MPI-IO driver by every rank
 * of the run, and boxes.csv written by rank 0. MPI lives here (src/run/).
 *
 * Design (why the raw data goes through per-volume files):
 * - A worker holds a volume's float stack only while it processes the volume; the run is
 *   resumable volume by volume and may be killed at any point. If workers wrote straight into a
 *   shared dataset.h5, a killed run would leave a file whose completeness nobody can check, and a
 *   resumed run would have to keep a parallel HDF5 file open across restarts. Instead each worker
 *   writes recon/<name>.h5 (an ordinary per-volume output, in the manifest, checked by verify and
 *   reused on resume), and this step assembles dataset.h5 from them: always from scratch, under
 *   a temporary name, renamed into place by rank 0 only when every rank succeeded. A half-written
 *   dataset.h5 is never trusted: the rerun rebuilds it.
 * - Byte identity for any rank count: every object is created collectively, in sorted volume
 *   order, with shapes known before any data is read (from the records); contiguous layout with
 *   early allocation and no fill write, object time tracking off, libver bounds fixed at 1.8,
 *   collective metadata reads and writes. File addresses therefore depend only on the list of
 *   volumes, never on which rank wrote what; the raw bytes are the same whoever writes them.
 * - Raw data: volume i (in sorted order) is copied by rank i mod size with independent MPI-IO
 *   writes into its preallocated contiguous extent (no two ranks touch the same bytes, so no
 *   collective buffering is needed, and a rank with no volume still takes part in every
 *   collective call); rank 0 writes the small /slices and /boxes tables. The copy is a sequential
 *   read plus one large write per dataset, so the step is I/O-bound and scales with the ranks
 *   as far as the file system does.
 *
 * dataset.h5 (h5py: f["volumes/<name>/reconstruction"][:]):
 *   root attributes: format "fastmri-regen-dataset/1", anatomy, vocabulary (str[], bit k <->
 *     vocabulary[k]), tool_version, config_sha256
 *   /volumes/<name>            group; attributes as fmr_dataset_attrs (export/dataset.h)
 *   /volumes/<name>/reconstruction  float32 (slices, h, w), image frame, before int16 scaling
 *   /volumes/<name>/mask       uint8/16/32/64 (slices, h, w), image frame (reviewed volumes)
 *   /slices  compound (one row per slice of every volume, sorted by volume then slice):
 *            volume (fixed string), volume_index (uint32, order of /volumes), slice (uint32),
 *            label_bits (uint64, OR of the slice's mask pixels), boxes (uint32, drawn boxes)
 *   /boxes   compound (the box table, sorted by volume, slice, CSV line): volume, label (fixed
 *            strings) and the fields of export/boxes.h (image/native: x, y, width, height, -1
 *            when there is no box; mm0/mm1: LPS mm, NaN when there is none). */
#ifndef FMR_RUN_DATASET_H
#define FMR_RUN_DATASET_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "fmr/export/dataset.h"
#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmr_dataset_volume_in {
  fmr_dataset_attrs attrs;  /* name, shape and attributes (from the volume's record) */
  const char *file;         /* its recon/<name>.h5 (a path this process can open) */
  size_t mask_pixel_bytes;  /* 0: no mask (volume not reviewed) */
} fmr_dataset_volume_in;

typedef struct fmr_dataset_input {
  const char *dataset_path; /* <output.dir>/dataset.h5, or NULL: not built */
  const char *boxes_path;   /* <output.dir>/boxes.csv, or NULL: not written */
  size_t nvol;
  const fmr_dataset_volume_in *vols; /* the ok volumes, sorted by name; identical on every rank */
  size_t nvocab;
  const char *const *vocab;
  const char *anatomy, *tool_version, *config_sha256;
} fmr_dataset_input;

/* What rank 0 learns committing dataset.h5: its size and SHA-256, for the manifest (the commit
 * hashes it while the disk syncs it, and nobody reads it a second time). */
typedef struct fmr_dataset_output {
  int hashed; /* 1 when dataset.h5 was committed on this rank */
  uint64_t bytes;
  char sha256[65];
} fmr_dataset_output;

/* Collective over comm: every rank calls it with the same input. Writes each file under
 * <path>.fmr-tmp and renames it into place (rank 0) only when every rank succeeded; on failure
 * removes the temporaries. Returns the same status on every rank (an MPI_Allreduce of the ranks'
 * outcomes); err holds this rank's reason, or "another rank failed". FMR_ESTORAGE for write
 * failures of the output storage. */
int fmr_dataset_build(MPI_Comm comm, const fmr_dataset_input *in, fmr_dataset_output *out,
                      fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
