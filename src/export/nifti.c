/* NIfTI pairs through nifticlib (export/nifti.h). nifticlib picks compression from the file name,
 * and ours end in the temporary suffix, so the file is opened here with znzopen (gzip forced) and
 * handed to nifti_image_write_hdr_img2, which then writes header, extender and data into it. */
#include "fmr/export/nifti.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nifti1_io.h>

int fmr_nifti_affine(const fmr_dicom_series *s, double a[4][4], fmr_err *err) {
  fmr_dicom_geometry g0, g1;
  int rc = fmr_dicom_geometry_of(s, 0, &g0, err);
  if (rc) return rc;
  const double *row = g0.orientation, *col = g0.orientation + 3;
  double dr = g0.pixel_spacing[0], dc = g0.pixel_spacing[1], step[3];
  if (s->slices > 1) {
    if ((rc = fmr_dicom_geometry_of(s, 1, &g1, err))) return rc;
    for (int k = 0; k < 3; k++) step[k] = g1.position[k] - g0.position[k];
  } else {
    /* One slice: the normal of the image plane, as a DICOM reader would take it. */
    step[0] = (row[1] * col[2] - row[2] * col[1]) * g0.slice_thickness;
    step[1] = (row[2] * col[0] - row[0] * col[2]) * g0.slice_thickness;
    step[2] = (row[0] * col[1] - row[1] * col[0]) * g0.slice_thickness;
  }
  double rows1 = (double)s->rows - 1.0;
  for (int k = 0; k < 3; k++) {
    double sign = k < 2 ? -1.0 : 1.0; /* LPS -> RAS */
    a[k][0] = sign * row[k] * dc;
    a[k][1] = -sign * col[k] * dr; /* j runs up the image: DICOM rows reversed */
    a[k][2] = sign * step[k];
    a[k][3] = sign * (g0.position[k] + col[k] * dr * rows1);
  }
  a[3][0] = a[3][1] = a[3][2] = 0.0;
  a[3][3] = 1.0;
  return 0;
}

static int write_volume(const char *path, const fmr_dicom_series *s, const void *vox,
                        size_t bytes, int datatype, fmr_err *err) {
  int rc = 0;
  nifti_image *nim = NULL;
  void *data = NULL;
  double a[4][4];
  if (!path || !s || !vox || s->slices == 0 || s->rows == 0 || s->cols == 0 ||
      s->rows > 32767 || s->cols > 32767 || s->slices > 32767)
    return fmr_err_set(err, FMR_EINVAL, "fmr_nifti_write: bad arguments");
  if ((rc = fmr_nifti_affine(s, a, err))) return rc;
  size_t plane = s->rows * s->cols, row_bytes = s->cols * bytes;
  data = malloc(s->slices * plane * bytes);
  if (!data) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for the NIfTI", s->volume);
  for (size_t k = 0; k < s->slices; k++)
    for (size_t j = 0; j < s->rows; j++)
      memcpy((char *)data + (k * plane + j * s->cols) * bytes,
             (const char *)vox + (k * plane + (s->rows - 1 - j) * s->cols) * bytes, row_bytes);

  nifti_set_debug_level(0); /* errors come back as values, not on stderr */
  int dims[8] = {3, (int)s->cols, (int)s->rows, (int)s->slices, 1, 1, 1, 1};
  nim = nifti_make_new_nim(dims, datatype, 0);
  if (!nim) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: nifti_make_new_nim failed", s->volume);
    goto done;
  }
  nim->data = data;
  nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
  free(nim->fname);
  free(nim->iname);
  nim->fname = strdup(path);
  nim->iname = strdup(path);
  if (!nim->fname || !nim->iname) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", s->volume);
    goto done;
  }
  mat44 m;
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) m.m[r][c] = (float)a[r][c];
  nim->qform_code = nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
  nim->qto_xyz = nim->sto_xyz = m;
  float dx, dy, dz;
  nifti_mat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x,
                         &nim->qoffset_y, &nim->qoffset_z, &dx, &dy, &dz, &nim->qfac);
  nim->dx = nim->pixdim[1] = dx;
  nim->dy = nim->pixdim[2] = dy;
  nim->dz = nim->pixdim[3] = dz;
  nim->xyz_units = NIFTI_UNITS_MM;
  snprintf(nim->descrip, sizeof nim->descrip, "fastmri-regen %s", s->volume);

  znzFile fp = znzopen(path, "wb", 1);
  if (znz_isnull(fp)) {
    rc = fmr_err_set(err, FMR_EIO, "%s: cannot create", path);
    goto done;
  }
  /* write_opts 3: write the data and leave the file open, so a failure shows as NULL and the
   * close (which flushes gzip) can be checked too. */
  znzFile out = nifti_image_write_hdr_img2(nim, 3, "wb", fp, NULL);
  if (znz_isnull(out)) {
    rc = fmr_err_set(err, FMR_EIO, "%s: NIfTI write failed", path);
    goto done;
  }
  if (znzclose(out) != 0) rc = fmr_err_set(err, FMR_EIO, "%s: NIfTI close failed", path);
done:
  if (nim) {
    nim->data = NULL; /* ours */
    nifti_image_free(nim);
  }
  free(data);
  return rc;
}

int fmr_nifti_write_image(const char *path, const fmr_dicom_series *s, const int16_t *pixels,
                          fmr_err *err) {
  return write_volume(path, s, pixels, 2, NIFTI_TYPE_INT16, err);
}

int fmr_nifti_write_mask(const char *path, const fmr_dicom_series *s, const void *mask,
                         size_t pixel_bytes, fmr_err *err) {
  int type = pixel_bytes == 1   ? NIFTI_TYPE_UINT8
             : pixel_bytes == 2 ? NIFTI_TYPE_UINT16
             : pixel_bytes == 4 ? NIFTI_TYPE_UINT32
             : pixel_bytes == 8 ? NIFTI_TYPE_UINT64
                                : 0;
  if (!type) return fmr_err_set(err, FMR_EINVAL, "fmr_nifti_write_mask: pixel of %zu bytes",
                                pixel_bytes);
  return write_volume(path, s, mask, pixel_bytes, type, err);
}
