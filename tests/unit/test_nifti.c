/* NIfTI pairs and datalist (export/nifti.h): voxel order, affine, datatypes, byte-identical
 * rewrites. The comparison with dcm2niix + nibabel on real DICOM output is it.ml_outputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nifti1_io.h>

#include "fmr/export/nifti.h"
#include "fmr/util/fsutil.h"
#include "fmr_test.h"

static fmr_dicom_series series(void) {
  fmr_dicom_series s = {.volume = "v", .acquisition = "CORPD_FBK", .anatomy = "knee",
                        .flip_ud = 1, .slices = 3, .rows = 8, .cols = 10};
  return s;
}

static int same_bytes(const char *a, const char *b) {
  char *x = NULL, *y = NULL;
  size_t nx = 0, ny = 0;
  fmr_err err;
  int same = fmr_read_file(a, 1 << 24, &x, &nx, &err) == 0 &&
             fmr_read_file(b, 1 << 24, &y, &ny, &err) == 0 && nx == ny && nx > 0 &&
             memcmp(x, y, nx) == 0;
  free(x);
  free(y);
  return same;
}

static void test_image_and_mask(void) {
  fmr_dicom_series s = series();
  fmr_err err;
  fmr_err_clear(&err);
  int16_t px[3 * 8 * 10];
  uint16_t mask[3 * 8 * 10];
  for (int i = 0; i < 240; i++) {
    px[i] = (int16_t)(i * 3 - 100);
    mask[i] = (uint16_t)(i % 7 == 0 ? 1u << 9 : 0);
  }
  char dir[] = "/tmp/fmr-nifti-XXXXXX";
  if (!mkdtemp(dir)) return;
  char a[64], b[64], m[64];
  snprintf(a, sizeof a, "%s/a.fmr-tmp", dir); /* a temporary name: still gzip */
  snprintf(b, sizeof b, "%s/b.nii.gz", dir);
  snprintf(m, sizeof m, "%s/m.nii.gz", dir);
  CHECK_INT_EQ(fmr_nifti_write_image(a, &s, px, &err), 0);
  sleep(1); /* a timestamp anywhere in the bytes would now differ */
  CHECK_INT_EQ(fmr_nifti_write_image(b, &s, px, &err), 0);
  CHECK(same_bytes(a, b));
  CHECK_INT_EQ(fmr_nifti_write_mask(m, &s, mask, 2, &err), 0);
  CHECK_INT_EQ(fmr_nifti_write_mask(m, &s, mask, 3, &err), FMR_EINVAL);

  nifti_image *im = nifti_image_read(b, 1);
  CHECK(im != NULL);
  if (im) {
    CHECK_INT_EQ(im->datatype, NIFTI_TYPE_INT16);
    CHECK_INT_EQ(im->nx, 10);
    CHECK_INT_EQ(im->ny, 8);
    CHECK_INT_EQ(im->nz, 3);
    const int16_t *d = im->data;
    int bad = 0;
    for (int k = 0; k < 3; k++)
      for (int j = 0; j < 8; j++)
        for (int i = 0; i < 10; i++)
          bad += d[i + 10 * (j + 8 * k)] != px[k * 80 + (7 - j) * 10 + i];
    CHECK_INT_EQ(bad, 0);
    /* Coronal, 1 mm nominal: i along patient left (RAS x -1), j up the image (superior, +z),
     * k along the normal (0,1,0) LPS = posterior = RAS y -1. */
    CHECK_DBL_NEAR(im->sto_xyz.m[0][0], -1.0, 1e-6);
    CHECK_DBL_NEAR(im->sto_xyz.m[2][1], 1.0, 1e-6);
    CHECK_DBL_NEAR(im->sto_xyz.m[1][2], -1.0, 1e-6);
    CHECK_INT_EQ(im->sform_code, NIFTI_XFORM_SCANNER_ANAT);
    CHECK_INT_EQ(im->qform_code, NIFTI_XFORM_SCANNER_ANAT);
    CHECK_DBL_NEAR(im->qto_xyz.m[2][1], 1.0, 1e-5);
    nifti_image_free(im);
  }
  im = nifti_image_read(m, 1);
  CHECK(im != NULL);
  if (im) {
    CHECK_INT_EQ(im->datatype, NIFTI_TYPE_UINT16);
    const uint16_t *d = im->data;
    CHECK_UINT_EQ(d[0 + 10 * 7], mask[0]); /* DICOM row 0 is NIfTI j = rows-1 */
    nifti_image_free(im);
  }
  unlink(a);
  unlink(b);
  unlink(m);
  rmdir(dir);
}

static void test_datalist(void) {
  const char *names[2] = {"file1", "file2"};
  char *t = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_datalist_json(names, 2, &t, &err), 0);
  CHECK_STR_EQ(t, "{\n  \"training\": [\n    {\n      \"image\": \"nifti/file1.nii.gz\",\n"
                  "      \"label\": \"nifti/file1_mask.nii.gz\"\n    },\n    {\n"
                  "      \"image\": \"nifti/file2.nii.gz\",\n"
                  "      \"label\": \"nifti/file2_mask.nii.gz\"\n    }\n  ]\n}\n");
  free(t);
  CHECK_INT_EQ(fmr_datalist_json(NULL, 0, &t, &err), 0);
  CHECK_STR_EQ(t, "{\n  \"training\": []\n}\n");
  free(t);
}

int main(void) {
  test_image_and_mask();
  test_datalist();
  return fmr_test_end();
}
