/* MONAI's datalist (export/nifti.h): the pairs of the reviewed volumes, in the caller's order. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fmr/export/nifti.h"

int fmr_datalist_json(const char *const *names, size_t n, char **text, fmr_err *err) {
  *text = NULL;
  json_t *root = json_object(), *training = json_array();
  int rc = 0;
  if (!root || !training || json_object_set_new(root, "training", training)) {
    json_decref(training);
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory for datalist.json");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    char image[1100], label[1100];
    if (strlen(names[i]) > 1000) {
      rc = fmr_err_set(err, FMR_ERANGE, "%.64s...: volume name too long", names[i]);
      goto done;
    }
    snprintf(image, sizeof image, "nifti/%s.nii.gz", names[i]);
    snprintf(label, sizeof label, "nifti/%s_mask.nii.gz", names[i]);
    if (json_array_append_new(training, json_pack("{s:s, s:s}", "image", image, "label", label))) {
      rc = fmr_err_set(err, FMR_ENOMEM, "out of memory for datalist.json");
      goto done;
    }
  }
  char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  size_t len = s ? strlen(s) : 0;
  char *t = s ? malloc(len + 2) : NULL;
  if (!t) {
    free(s);
    rc = fmr_err_set(err, FMR_ENOMEM, "out of memory for datalist.json");
    goto done;
  }
  memcpy(t, s, len);
  t[len] = '\n';
  t[len + 1] = '\0';
  free(s);
  *text = t;
done:
  json_decref(root);
  return rc;
}
