/* The collective builder of dataset.h5 and the writer of boxes.csv (run/dataset.h: the design is
 * argued there). */
#include "fmr/run/dataset.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export/dataset_h5.h"
#include "fmr/output/store.h"
#include "fmr/util/fsutil.h"
#include "util/h5util.h"

#define DATASET_FORMAT "fastmri-regen-dataset/1"

/* What rank 0 reads from the per-volume files and the others learn the size of. */
typedef struct tables {
  fmr_box_row **rows; /* per volume */
  size_t *nrows;
  uint64_t total_rows;
  uint64_t *label_bits; /* per slice of every volume, in /slices order */
  uint32_t *slice_boxes;
  uint64_t total_slices;
} tables;

static void tables_free(tables *t, size_t nvol) {
  if (t->rows)
    for (size_t i = 0; i < nvol; i++) free(t->rows[i]);
  free(t->rows);
  free(t->nrows);
  free(t->label_bits);
  free(t->slice_boxes);
  memset(t, 0, sizeof *t);
}

static int read_u_dataset(hid_t file, const char *name, hid_t mtype, size_t n, void *buf) {
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t s = H5Dget_space(d);
  int rc = (s >= 0 && H5Sget_simple_extent_npoints(s) == (hssize_t)n &&
            H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)
               ? 0
               : -1;
  if (s >= 0) H5Sclose(s);
  H5Dclose(d);
  return rc;
}

/* Rank 0: every volume's box table and slice table, checked against the expected shapes. */
static int read_tables(const fmr_dataset_input *in, tables *t, fmr_err *err) {
  char detail[512];
  t->rows = calloc(in->nvol ? in->nvol : 1, sizeof *t->rows);
  t->nrows = calloc(in->nvol ? in->nvol : 1, sizeof *t->nrows);
  for (size_t i = 0; i < in->nvol; i++) t->total_slices += in->vols[i].attrs.slices;
  t->label_bits = calloc(t->total_slices ? t->total_slices : 1, sizeof *t->label_bits);
  t->slice_boxes = calloc(t->total_slices ? t->total_slices : 1, sizeof *t->slice_boxes);
  if (!t->rows || !t->nrows || !t->label_bits || !t->slice_boxes)
    return fmr_err_set(err, FMR_ENOMEM, "out of memory for the dataset tables");
  size_t at = 0;
  for (size_t i = 0; i < in->nvol; i++) {
    const fmr_dataset_volume_in *v = &in->vols[i];
    int rc = fmr_dataset_volume_read_boxes(v->file, &t->rows[i], &t->nrows[i], err);
    if (rc) return rc;
    t->total_rows += t->nrows[i];
    hid_t f = H5Fopen(v->file, H5F_ACC_RDONLY, H5P_DEFAULT);
    int bad = f < 0 ||
              read_u_dataset(f, "slice_label_bits", H5T_NATIVE_UINT64, v->attrs.slices,
                             t->label_bits + at) < 0 ||
              read_u_dataset(f, "slice_boxes", H5T_NATIVE_UINT32, v->attrs.slices,
                             t->slice_boxes + at) < 0;
    if (f >= 0) H5Fclose(f);
    if (bad)
      return fmr_err_set(err, FMR_EHDF5, "%s: slice table unreadable or not %zu slices: %s",
                         v->file, v->attrs.slices, fmr__h5_error_detail(detail, sizeof detail));
    at += v->attrs.slices;
  }
  return 0;
}

static int write_boxes_csv(const fmr_dataset_input *in, const tables *t, fmr_err *err) {
  fmr_box_volume *bv = calloc(in->nvol ? in->nvol : 1, sizeof *bv);
  if (!bv) return fmr_err_set(err, FMR_ENOMEM, "out of memory for boxes.csv");
  for (size_t i = 0; i < in->nvol; i++)
    bv[i] = (fmr_box_volume){in->vols[i].attrs.name, t->rows[i], t->nrows[i]};
  char *text = NULL;
  size_t len = 0;
  int rc = fmr_boxes_csv(bv, in->nvol, in->vocab, in->nvocab, &text, &len, err);
  free(bv);
  if (rc) return rc;
  rc = fmr_write_file_atomic(in->boxes_path, text, len, err);
  free(text);
  if (rc) rc = fmr_err_set(err, FMR_ESTORAGE, "%s", err->msg);
  return rc;
}

/* ---- dataset.h5 ----------------------------------------------------------------------------- */

typedef struct layout {
  size_t nv, nl;               /* fixed string sizes: longest volume name, longest label */
  size_t slice_size, box_size; /* bytes per record in memory */
  size_t box_rec_at;           /* offset of the fmr__box_rec part */
} layout;

static hid_t fixed_string(size_t n) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return -1;
  if (H5Tset_size(t, n) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

/* /slices: volume, volume_index, slice, label_bits, boxes, packed (file = memory layout). */
static hid_t slice_type(const layout *l, int file) {
  hid_t t = H5Tcreate(H5T_COMPOUND, l->slice_size), s = fixed_string(l->nv);
  size_t o = l->nv;
  int bad = t < 0 || s < 0 || H5Tinsert(t, "volume", 0, s) < 0 ||
            H5Tinsert(t, "volume_index", o, file ? H5T_STD_U32LE : H5T_NATIVE_UINT32) < 0 ||
            H5Tinsert(t, "slice", o + 4, file ? H5T_STD_U32LE : H5T_NATIVE_UINT32) < 0 ||
            H5Tinsert(t, "label_bits", o + 8, file ? H5T_STD_U64LE : H5T_NATIVE_UINT64) < 0 ||
            H5Tinsert(t, "boxes", o + 16, file ? H5T_STD_U32LE : H5T_NATIVE_UINT32) < 0;
  if (s >= 0) H5Tclose(s);
  if (bad && t >= 0) H5Tclose(t);
  return bad ? -1 : t;
}

static hid_t box_type(const layout *l, int file) {
  hid_t t = H5Tcreate(H5T_COMPOUND, l->box_size), sv = fixed_string(l->nv),
        sl = fixed_string(l->nl);
  int bad = t < 0 || sv < 0 || sl < 0 || H5Tinsert(t, "volume", 0, sv) < 0 ||
            H5Tinsert(t, "label", l->nv, sl) < 0 || fmr__box_rec_insert(t, l->box_rec_at) < 0 ||
            (file && H5Tpack(t) < 0);
  if (sv >= 0) H5Tclose(sv);
  if (sl >= 0) H5Tclose(sl);
  if (bad && t >= 0) H5Tclose(t);
  return bad ? -1 : t;
}

/* The copy buffer: a few MB used again for every volume and slab. A buffer of the whole volume,
 * allocated per volume, was pages faulted in fresh each time (on a VM, the dearest part of the
 * copy); a slab this size also stays in the cache between its read and its write. */
#define COPY_SLAB_BYTES ((size_t)4 << 20)

typedef struct copy_buf {
  void *p;
  size_t size;
} copy_buf;

/* Room for at least one slice of `plane_bytes`; 0 or FMR_ENOMEM. */
static int copy_buf_fit(copy_buf *b, size_t plane_bytes) {
  size_t want = plane_bytes > COPY_SLAB_BYTES ? plane_bytes : COPY_SLAB_BYTES;
  if (b->size >= plane_bytes) return 0;
  void *q = realloc(b->p, want);
  if (!q) return FMR_ENOMEM;
  b->p = q;
  b->size = want;
  return 0;
}

/* Copy one (slices, h, w) dataset of a per-volume file into its preallocated place (independent
 * writes), a slab of whole slices at a time; with `only`, just the slices s with only[s] != 0,
 * one at a time. */
static int copy_slices(hid_t src, const char *name, hid_t dst, hid_t mtype, size_t bytes,
                       size_t slices, size_t h, size_t w, const uint64_t *only, copy_buf *b) {
  size_t plane = h * w * bytes;
  if (copy_buf_fit(b, plane)) return FMR_ENOMEM;
  size_t per = only ? 1 : b->size / plane;
  hid_t sd = -1, ss = -1, ds = -1, ms = -1;
  hsize_t dims[3] = {0, 0, 0}, ms_rows = 0;
  int rc = FMR_EHDF5;
  if ((sd = H5Dopen2(src, name, H5P_DEFAULT)) < 0 || (ss = H5Dget_space(sd)) < 0 ||
      H5Sget_simple_extent_ndims(ss) != 3 || H5Sget_simple_extent_dims(ss, dims, NULL) != 3 ||
      dims[0] != slices || dims[1] != h || dims[2] != w || (ds = H5Dget_space(dst)) < 0)
    goto done;
  rc = 0;
  for (size_t s0 = 0; s0 < slices && !rc; s0 += per) {
    if (only && !only[s0]) continue;
    hsize_t start[3] = {s0, 0, 0}, count[3] = {slices - s0 < per ? slices - s0 : per, h, w};
    /* One memory space per slab shape: every slab but a shorter last one has the same. */
    if (ms < 0 || count[0] != ms_rows) {
      if (ms >= 0) H5Sclose(ms);
      ms_rows = count[0];
      ms = H5Screate_simple(3, count, NULL);
    }
    if (ms < 0 ||
        H5Sselect_hyperslab(ss, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(sd, mtype, ms, ss, H5P_DEFAULT, b->p) < 0)
      rc = FMR_EHDF5;
    else if (H5Sselect_hyperslab(ds, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
             H5Dwrite(dst, mtype, ms, ds, H5P_DEFAULT, b->p) < 0)
      rc = FMR_ESTORAGE;
  }
done:
  if (ms >= 0) H5Sclose(ms);
  if (ds >= 0) H5Sclose(ds);
  if (ss >= 0) H5Sclose(ss);
  if (sd >= 0) H5Dclose(sd);
  return rc;
}

/* The mask of the labelled slices only (slice_label_bits != 0): the others are all zero and are
 * left unwritten, so they read as the zeros a fresh file holds there (contiguous, allocated
 * early, never filled: the same bytes as writing them). recon/<name>.h5 stores only those slices
 * too (export/dataset_vol.c). */
static int copy_mask_slices(hid_t src, hid_t dst, hid_t mtype, size_t bytes, size_t slices,
                            size_t h, size_t w, copy_buf *b) {
  uint64_t *bits = malloc((slices ? slices : 1) * sizeof *bits);
  if (!bits) return FMR_ENOMEM;
  int rc = read_u_dataset(src, "slice_label_bits", H5T_NATIVE_UINT64, slices, bits) < 0
               ? FMR_EHDF5
               : copy_slices(src, "mask", dst, mtype, bytes, slices, h, w, bits, b);
  free(bits);
  return rc;
}

static int build_h5(MPI_Comm comm, int rank, int size, const fmr_dataset_input *in,
                    const char *tmp, const tables *t, uint64_t total_rows, fmr_err *err) {
  int rc = 0, local = 0;
  char detail[512];
  hid_t fapl = -1, fcpl = -1, gcpl = -1, dcpl = -1, file = -1, vgroup = -1;
  hid_t *recon = NULL, *mask = NULL;
  hid_t st_f = -1, st_m = -1, bt_f = -1, bt_m = -1, dslices = -1, dboxes = -1;
  unsigned char *sbuf = NULL, *bbuf = NULL;
  layout l = {1, 1, 0, 0, 0};
  for (size_t i = 0; i < in->nvol; i++)
    if (strlen(in->vols[i].attrs.name) > l.nv) l.nv = strlen(in->vols[i].attrs.name);
  for (size_t k = 0; k < in->nvocab; k++)
    if (strlen(in->vocab[k]) > l.nl) l.nl = strlen(in->vocab[k]);
  l.slice_size = l.nv + 20;
  l.box_rec_at = (l.nv + l.nl + 7) / 8 * 8;
  l.box_size = l.box_rec_at + sizeof(fmr__box_rec);

  recon = calloc(in->nvol ? in->nvol : 1, sizeof *recon);
  mask = calloc(in->nvol ? in->nvol : 1, sizeof *mask);
  if (!recon || !mask) {
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < in->nvol; i++) recon[i] = mask[i] = -1;

  fapl = H5Pcreate(H5P_FILE_ACCESS);
  fcpl = H5Pcreate(H5P_FILE_CREATE);
  gcpl = H5Pcreate(H5P_GROUP_CREATE);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (fapl < 0 || fcpl < 0 || gcpl < 0 || dcpl < 0 ||
      H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
      H5Pset_all_coll_metadata_ops(fapl, 1) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0 ||
      fmr__h5_reproducible(fapl, fcpl, gcpl, dcpl) < 0 ||
      H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
      H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) {
    rc = fmr_err_set(err, FMR_EHDF5, "dataset.h5: property lists: %s",
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }
  file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
  if (file < 0) {
    rc = fmr_err_set(err, FMR_ESTORAGE, "%s: cannot create: %s", tmp,
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }

  /* Collective creation, in sorted volume order: addresses depend on the volume list only. */
  hsize_t nslices = t ? t->total_slices : 0;
  if (!t)
    for (size_t i = 0; i < in->nvol; i++) nslices += in->vols[i].attrs.slices;
  hsize_t nrows = total_rows;
  if (fmr__h5_attr_str(file, "format", DATASET_FORMAT) < 0 ||
      fmr__h5_attr_str(file, "anatomy", in->anatomy) < 0 ||
      fmr__h5_attr_strs(file, "vocabulary", in->vocab, in->nvocab) < 0 ||
      fmr__h5_attr_str(file, "tool_version", in->tool_version) < 0 ||
      fmr__h5_attr_str(file, "config_sha256", in->config_sha256) < 0 ||
      (vgroup = H5Gcreate2(file, "volumes", H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0) {
    rc = fmr_err_set(err, FMR_ESTORAGE, "%s: root: %s", tmp,
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }
  for (size_t i = 0; i < in->nvol; i++) {
    const fmr_dataset_volume_in *v = &in->vols[i];
    hsize_t dims[3] = {v->attrs.slices, v->attrs.h, v->attrs.w};
    hid_t g = H5Gcreate2(vgroup, v->attrs.name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    int bad = g < 0 || fmr__dataset_put_attrs(g, &v->attrs) < 0 ||
              (recon[i] = fmr__h5_create_dataset(g, "reconstruction", H5T_IEEE_F32LE, 3, dims, dcpl)) < 0 ||
              (v->mask_pixel_bytes &&
               (mask[i] = fmr__h5_create_dataset(g, "mask", fmr__mask_file_type(v->mask_pixel_bytes), 3,
                                         dims, dcpl)) < 0);
    if (g >= 0) H5Gclose(g);
    if (bad) {
      rc = fmr_err_set(err, FMR_ESTORAGE, "%s: /volumes/%s: %s", tmp, v->attrs.name,
                       fmr__h5_error_detail(detail, sizeof detail));
      goto done;
    }
  }
  if ((st_f = slice_type(&l, 1)) < 0 || (st_m = slice_type(&l, 0)) < 0 ||
      (bt_f = box_type(&l, 1)) < 0 || (bt_m = box_type(&l, 0)) < 0 ||
      (dslices = fmr__h5_create_dataset(file, "slices", st_f, 1, &nslices, dcpl)) < 0 ||
      (dboxes = fmr__h5_create_dataset(file, "boxes", bt_f, 1, &nrows, dcpl)) < 0) {
    rc = fmr_err_set(err, FMR_ESTORAGE, "%s: tables: %s", tmp,
                     fmr__h5_error_detail(detail, sizeof detail));
    goto done;
  }

  /* Independent raw writes: volume i by rank i mod size; the tables by rank 0. A failure here is
   * this rank's alone, so it is remembered and every rank still reaches the collective close. */
  copy_buf cb = {NULL, 0};
  for (size_t i = (size_t)rank; i < in->nvol && !local; i += (size_t)size) {
    const fmr_dataset_volume_in *v = &in->vols[i];
    hid_t src = H5Fopen(v->file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (src < 0) {
      local = fmr_err_set(err, FMR_EHDF5, "%s: cannot open: %s", v->file,
                          fmr__h5_error_detail(detail, sizeof detail));
      break;
    }
    local = copy_slices(src, "reconstruction", recon[i], H5T_NATIVE_FLOAT, 4, v->attrs.slices,
                        v->attrs.h, v->attrs.w, NULL, &cb);
    if (!local && v->mask_pixel_bytes)
      local = copy_mask_slices(src, mask[i], fmr__mask_mem_type(v->mask_pixel_bytes),
                               v->mask_pixel_bytes, v->attrs.slices, v->attrs.h, v->attrs.w, &cb);
    H5Fclose(src);
    if (local)
      fmr_err_set(err, local, "%s: copying into %s failed (%s): %s", v->file, tmp,
                  local == FMR_EHDF5 ? "reading it, or not the recorded shape" : "writing",
                  fmr__h5_error_detail(detail, sizeof detail));
  }
  free(cb.p);
  if (rank == 0 && !local) {
    sbuf = calloc(nslices ? nslices : 1, l.slice_size);
    bbuf = calloc(nrows ? nrows : 1, l.box_size);
    if (!sbuf || !bbuf) {
      local = fmr_err_set(err, FMR_ENOMEM, "out of memory for the dataset tables");
      goto close;
    }
    size_t at = 0, br = 0;
    for (size_t i = 0; i < in->nvol; i++) {
      const char *name = in->vols[i].attrs.name;
      for (size_t s = 0; s < in->vols[i].attrs.slices; s++, at++) {
        unsigned char *r = sbuf + at * l.slice_size;
        uint32_t vi = (uint32_t)i, sl = (uint32_t)s;
        memcpy(r, name, strlen(name));
        memcpy(r + l.nv, &vi, 4);
        memcpy(r + l.nv + 4, &sl, 4);
        memcpy(r + l.nv + 8, &t->label_bits[at], 8);
        memcpy(r + l.nv + 16, &t->slice_boxes[at], 4);
      }
      for (size_t j = 0; j < t->nrows[i]; j++, br++) {
        unsigned char *r = bbuf + br * l.box_size;
        const fmr_box_row *b = &t->rows[i][j];
        memcpy(r, name, strlen(name));
        if (b->label >= 0 && (size_t)b->label < in->nvocab)
          memcpy(r + l.nv, in->vocab[b->label], strlen(in->vocab[b->label]));
        fmr__box_rec rec;
        fmr__box_rec_of(b, &rec);
        memcpy(r + l.box_rec_at, &rec, sizeof rec);
      }
    }
    if ((nslices && H5Dwrite(dslices, st_m, H5S_ALL, H5S_ALL, H5P_DEFAULT, sbuf) < 0) ||
        (nrows && H5Dwrite(dboxes, bt_m, H5S_ALL, H5S_ALL, H5P_DEFAULT, bbuf) < 0))
      local = fmr_err_set(err, FMR_ESTORAGE, "%s: writing the tables: %s", tmp,
                          fmr__h5_error_detail(detail, sizeof detail));
  }
close:
  rc = local;
done:
  /* Every close below is collective on a parallel file; all ranks reach it. */
  if (dboxes >= 0) H5Dclose(dboxes);
  if (dslices >= 0) H5Dclose(dslices);
  if (bt_m >= 0) H5Tclose(bt_m);
  if (bt_f >= 0) H5Tclose(bt_f);
  if (st_m >= 0) H5Tclose(st_m);
  if (st_f >= 0) H5Tclose(st_f);
  for (size_t i = 0; recon && i < in->nvol; i++) {
    if (recon[i] >= 0) H5Dclose(recon[i]);
    if (mask[i] >= 0) H5Dclose(mask[i]);
  }
  if (vgroup >= 0) H5Gclose(vgroup);
  if (file >= 0 && H5Fclose(file) < 0 && !rc)
    rc = fmr_err_set(err, FMR_ESTORAGE, "%s: close failed: %s", tmp,
                     fmr__h5_error_detail(detail, sizeof detail));
  if (dcpl >= 0) H5Pclose(dcpl);
  if (gcpl >= 0) H5Pclose(gcpl);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (fapl >= 0) H5Pclose(fapl);
  free(sbuf);
  free(bbuf);
  free(recon);
  free(mask);
  return rc;
}

/* The same status on every rank: the most negative code wins (all FMR_E* are negative). */
static int agree(MPI_Comm comm, int rc, fmr_err *err) {
  int all = 0;
  if (MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
    return fmr_err_set(err, FMR_EMPI, "dataset build: MPI_Allreduce failed");
  if (all && !rc) fmr_err_set(err, all, "dataset build: another rank failed");
  return all;
}

int fmr_dataset_build(MPI_Comm comm, const fmr_dataset_input *in, fmr_dataset_output *out,
                      fmr_err *err) {
  int rank = 0, size = 1, rc = 0;
  tables t;
  memset(&t, 0, sizeof t);
  char tmp[4096] = "";
  if (out) memset(out, 0, sizeof *out);
  fmr__h5_quiet q;
  fmr__h5_quiet_begin(&q);
  if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS) {
    rc = fmr_err_set(err, FMR_EMPI, "dataset build: bad communicator");
    goto done;
  }
  if (!in || (in->nvol && !in->vols) || (in->nvocab && !in->vocab))
    rc = fmr_err_set(err, FMR_EINVAL, "fmr_dataset_build: bad input");
  if (!rc && rank == 0) rc = read_tables(in, &t, err);
  if ((rc = agree(comm, rc, err))) goto done;
  uint64_t total_rows = t.total_rows;
  if (MPI_Bcast(&total_rows, 1, MPI_UINT64_T, 0, comm) != MPI_SUCCESS) {
    rc = fmr_err_set(err, FMR_EMPI, "dataset build: MPI_Bcast failed");
    goto done;
  }
  if (in->boxes_path && rank == 0) rc = write_boxes_csv(in, &t, err);
  if ((rc = agree(comm, rc, err))) goto done;
  if (in->dataset_path) {
    if (fmr_tmp_path(in->dataset_path, tmp, sizeof tmp, err)) rc = err->code;
    if ((rc = agree(comm, rc, err))) goto done;
    rc = build_h5(comm, rank, size, in, tmp, rank == 0 ? &t : NULL, total_rows, err);
    rc = agree(comm, rc, err);
    if (rank == 0) {
      if (rc)
        unlink(tmp);
      else if (fmr_commit_file_hashed(tmp, in->dataset_path, 1, out ? &out->bytes : NULL,
                                      out ? out->sha256 : NULL, NULL, NULL, err))
        rc = fmr_err_set(err, FMR_ESTORAGE, "%s", err->msg);
      else if (out)
        out->hashed = 1;
    }
    rc = agree(comm, rc, err);
  }
done:
  fmr__h5_quiet_end(&q);
  tables_free(&t, in ? in->nvol : 0);
  return rc;
}
