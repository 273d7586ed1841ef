/* `fastmri-regen recon`: reconstruct one volume into a float32 image stack, for inspection and as
 * the hook for the reconstruction oracle test. Same reader, reconstruction and orientation as a run,
 * one slice of k-space in memory at a time; no scaling, no DICOM. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr/util/error.h"
#include "fmr/util/fsutil.h"
#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fmr/util/log.h"
#include "fmr/recon/recon.h"
#include "fmr/recon/reconstruct.h"
#include "util/h5util.h"

typedef struct recon_args {
  int source; /* index into sources: also the fmr_recon_source value */
  int flip_ud, flip_lr;
  int effort; /* index into efforts: also the fmr_fft_effort value */
  const char *in, *out;
} recon_args;

static const char *const sources[] = {"kspace", "reconstruction_rss", "reconstruction_esc", NULL};
static const char *const efforts[] = {"estimate", "measure", "patient", NULL};

static const fmr_opt recon_opts[] = {
    {"--source", NULL, FMR_OPT_CHOICE, offsetof(recon_args, source), "kspace",
     "reconstruct from k-space, or take a stored reconstruction as it is", sources, 0, 0},
    {"--flip-ud", NULL, FMR_OPT_FLAG, offsetof(recon_args, flip_ud), NULL,
     "flip rows (the fastMRI+ frame); off here, unlike run's recon.flip_up_down", NULL, 0, 0},
    {"--flip-lr", NULL, FMR_OPT_FLAG, offsetof(recon_args, flip_lr), NULL, "flip columns", NULL,
     0, 0},
    {"--fft-effort", NULL, FMR_OPT_CHOICE, offsetof(recon_args, effort), "estimate",
     "FFTW planner effort", efforts, 0, 0},
};

const fmr_command fmr_cmd_recon_def = {
    "recon", "[options] IN.h5 OUT.h5", "reconstruct one volume to a float32 image stack",
    "Reconstruct one fastMRI volume (SPEC 3) with the same loop as run into OUT.h5: dataset "
    "'reconstruction' float32 (slices, h, w) in the target frame, attributes source, flip_ud, "
    "flip_lr, undersampled and, when a stored reconstruction of the same frame exists, "
    "nmse_vs_stored.",
    recon_opts, sizeof recon_opts / sizeof *recon_opts, 2, 2, fmr_cmd_recon};

/* 0: run; 1: help was printed; FMR_EXIT_USAGE: bad arguments (reported). */
static int parse_args(int argc, char **argv, recon_args *a) {
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;
  memset(a, 0, sizeof *a);
  int st = fmr_opts_parse(&fmr_cmd_recon_def, argc, argv, a, pos, &npos);
  if (st) return st;
  a->in = pos[0];
  a->out = pos[1];
  return 0;
}

/* ---- the output file ---------------------------------------------------------------------------- */

typedef struct out_file {
  hid_t file, dset, fspace, mspace;
} out_file;

static int write_int_attr(hid_t obj, const char *name, int v) {
  return fmr__h5_attr_num(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, &v);
}

static int write_double_attr(hid_t obj, const char *name, double v) {
  return fmr__h5_attr_num(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static int out_create(out_file *o, const char *tmp, size_t slices, size_t h, size_t w,
                      fmr_err *err) {
  hid_t dcpl = H5I_INVALID_HID;
  int rc = 0;
  o->file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (o->file < 0) return fmr__h5_fail(err, FMR_EIO, tmp, "cannot create the output file");
  hsize_t dims[3] = {slices, h, w}, plane = h * w;
  o->fspace = H5Screate_simple(3, dims, NULL);
  o->mspace = H5Screate_simple(1, &plane, NULL);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  /* No modification times in object headers: the same input gives the same bytes. */
  if (o->fspace < 0 || o->mspace < 0 || dcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0) {
    rc = fmr__h5_fail(err, FMR_EIO, tmp, "cannot set up the output dataset");
    goto done;
  }
  o->dset = H5Dcreate2(o->file, "reconstruction", H5T_IEEE_F32LE, o->fspace, H5P_DEFAULT, dcpl,
                       H5P_DEFAULT);
  if (o->dset < 0) rc = fmr__h5_fail(err, FMR_EIO, tmp, "cannot create the dataset 'reconstruction'");
done:
  if (dcpl >= 0) H5Pclose(dcpl);
  return rc;
}

static int out_write_slice(out_file *o, const char *tmp, size_t slice, size_t h, size_t w,
                           const float *img, fmr_err *err) {
  hsize_t start[3] = {slice, 0, 0}, count[3] = {1, h, w};
  if (H5Sselect_hyperslab(o->fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      H5Dwrite(o->dset, H5T_NATIVE_FLOAT, o->mspace, o->fspace, H5P_DEFAULT, img) < 0) {
    return fmr__h5_fail(err, FMR_EIO, tmp, "slice %zu: cannot write", slice);
  }
  return 0;
}

/* Close everything; returns -1 if the final flush failed (the file is then not to be trusted). */
static int out_close(out_file *o) {
  int rc = 0;
  if (o->dset >= 0 && H5Dclose(o->dset) < 0) rc = -1;
  if (o->mspace >= 0) H5Sclose(o->mspace);
  if (o->fspace >= 0) H5Sclose(o->fspace);
  if (o->file >= 0 && H5Fclose(o->file) < 0) rc = -1;
  o->file = o->dset = o->fspace = o->mspace = H5I_INVALID_HID;
  return rc;
}

/* ---- the command -------------------------------------------------------------------------------- */

typedef struct slice_writer {
  out_file *o;
  const char *tmp;
  size_t h, w;
} slice_writer;

static int write_slice(void *ctx, size_t slice, const float *image, fmr_err *err) {
  slice_writer *sw = ctx;
  return out_write_slice(sw->o, sw->tmp, slice, sw->h, sw->w, image, err);
}

/* The same loop as `run` (fmr_reconstruct_volume), streamed into an HDF5 file slice by slice. */
static int reconstruct(const recon_args *a, fmr_err *err) {
  fmr_kspace *ks = NULL;
  fmr_fft_cache *plans = NULL;
  out_file o = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
  char tmp[4096];
  int created = 0, rc;

  if ((rc = fmr_kspace_open(a->in, &ks, err)) < 0) goto done;
  const fmr_kspace_info *info = fmr_kspace_info_of(ks);
  fmr_header hdr;
  int have_hdr = 0;
  if (info->header_len > 0) {
    if ((rc = fmr_header_parse(info->header_xml, info->header_len, a->in, &hdr, err)) < 0)
      goto done;
    have_hdr = 1;
  }
  fmr_reconstruct_opts ropts = {(fmr_recon_source)a->source, a->flip_ud, a->flip_lr};
  size_t h, w;
  if ((rc = fmr_reconstruct_frame(info, have_hdr ? &hdr : NULL, &ropts, a->in, &h, &w, err)) < 0)
    goto done;
  if (ropts.source == FMR_SOURCE_KSPACE) {
    if ((rc = fmr_fft_cache_new((fmr_fft_effort)a->effort, &plans, err)) < 0) goto done;
    if (info->undersampled)
      FMR_LOG(FMR_LOG_WARN, "%s: undersampled k-space (%zu of %zu lines): zero-filled "
              "reconstruction", a->in, info->sampled_lines, info->W);
  }
  if ((rc = fmr_tmp_path(a->out, tmp, sizeof tmp, err)) < 0) goto done;
  created = 1;
  if ((rc = out_create(&o, tmp, info->slices, h, w, err)) < 0) goto done;

  slice_writer sw = {&o, tmp, h, w};
  fmr_reconstruct_result res;
  rc = fmr_reconstruct_volume(ks, have_hdr ? &hdr : NULL, plans, &ropts, a->in, write_slice, &sw,
                              &res, err);
  if (rc < 0) goto done;
  if (fmr__h5_attr_str(o.dset, "source", sources[a->source]) < 0 ||
      write_int_attr(o.dset, "flip_ud", a->flip_ud) < 0 ||
      write_int_attr(o.dset, "flip_lr", a->flip_lr) < 0 ||
      write_int_attr(o.dset, "undersampled", info->undersampled) < 0 ||
      (res.compared_with && fmr__h5_attr_str(o.dset, "compared_with", res.compared_with) < 0) ||
      (res.compared_with && write_double_attr(o.dset, "nmse_vs_stored", res.nmse) < 0)) {
    rc = fmr__h5_fail(err, FMR_EIO, tmp, "cannot write the attributes");
    goto done;
  }
  if (out_close(&o) < 0) {
    rc = fmr__h5_fail(err, FMR_EIO, tmp, "cannot flush the output file");
    goto done;
  }
  fmr_kspace_close(&ks);
  rc = fmr_commit_file(tmp, a->out, err);
  created = 0; /* committed, or removed by fmr_commit_file */
  if (rc == 0 && res.compared_with)
    FMR_LOG(FMR_LOG_INFO, "%s: NMSE against %s: %.3g", a->in, res.compared_with, res.nmse);
  if (rc == 0)
    FMR_LOG(FMR_LOG_INFO, "%s: seconds: read %.3f, wait for read %.3f, transform %.3f, combine and "
            "crop %.3f", a->in, res.timing.read, res.timing.read_wait, res.timing.transform,
            res.timing.combine_crop);

done:
  (void)out_close(&o);
  if (created) unlink(tmp);
  fmr_fft_cache_free(&plans);
  fmr_kspace_close(&ks);
  return rc;
}

int fmr_cmd_recon(int argc, char **argv) {
  recon_args a;
  int st = parse_args(argc, argv, &a);
  if (st == 1) return FMR_EXIT_OK;
  if (st != 0) return st;

  /* HDF5 would print its error stack for every failed call; our messages carry what matters. */
  fmr__h5_quiet quiet;
  fmr__h5_quiet_begin(&quiet);

  fmr_err err;
  fmr_err_clear(&err);
  int rc = reconstruct(&a, &err);
  fmr__h5_quiet_end(&quiet);
  if (rc < 0) {
    fprintf(stderr, "fastmri-regen recon: %s\n", err.msg[0] ? err.msg : fmr_strerror(rc));
    return FMR_EXIT_FAILED;
  }
  return FMR_EXIT_OK;
}
