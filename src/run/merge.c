/* Committed records for `run --merge` (merge.h). */
#include "fmr/run/merge.h"

#include <string.h>

#include "fmr/output/store.h"

/* The store's reuse rule exactly: a record committed under the task's key whose outputs are all
 * still there with their sizes and SHA-256s, so a merge takes what a rerun would reuse. */
int fmr_merge_committed(const fmr_config *cfg, const fmr_task *task, fmr_record **out,
                        fmr_err *err) {
  *out = NULL;
  if (!task->path) return 0;
  fmr_store *s = NULL;
  int rc = fmr_store_open(cfg->output_dir, &s, err);
  if (rc) return rc;
  *out = fmr_store_reuse(s, task->name, task->key);
  fmr_store_free(&s);
  return 0;
}

int fmr_merge_failed(const json_t *shards, const fmr_task *task, fmr_record **out, fmr_err *err) {
  *out = NULL;
  for (size_t s = 0; s < json_array_size(shards); s++) {
    json_t *failed = json_object_get(json_array_get(shards, s), "failed");
    for (size_t i = 0; i < json_array_size(failed); i++) {
      json_t *r = json_array_get(failed, i);
      const char *name = json_string_value(json_object_get(r, "name"));
      if (name && strcmp(name, task->name) == 0) return fmr_record_from_json(r, out, err);
    }
  }
  return 0;
}
