/* Committed records for `run --merge` (merge.h). */
#include "fmr/run/merge.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fmr/pipeline/volume.h"

static int outputs_present(const fmr_config *cfg, const fmr_record *r) {
  for (size_t i = 0; i < fmr_record_noutputs(r); i++) {
    const fmr_output_file *o = fmr_record_output(r, i);
    char path[PATH_MAX];
    struct stat sb;
    if (snprintf(path, sizeof path, "%s/%s", cfg->output_dir, o->path) >= (int)sizeof path ||
        stat(path, &sb) != 0 || (uint64_t)sb.st_size != o->bytes)
      return 0;
  }
  return 1;
}

int fmr_merge_committed(const fmr_config *cfg, const fmr_task *task, fmr_record **out,
                        fmr_err *err) {
  *out = NULL;
  char path[PATH_MAX];
  if (!task->path || snprintf(path, sizeof path, "%s/" FMR_STATE_DIR "/records/%s.json",
                              cfg->output_dir, task->name) >= (int)sizeof path)
    return 0;
  json_t *state = json_load_file(path, 0, NULL);
  if (!state) return 0;
  json_t *id = json_object_get(state, "input");
  const char *key = json_string_value(json_object_get(state, "key"));
  int same = (!key || strcmp(key, task->key) == 0) &&
             (json_int_t)task->input_bytes == json_integer_value(json_object_get(id, "bytes")) &&
             (json_int_t)task->input_mtime_ns ==
                 json_integer_value(json_object_get(id, "mtime_ns"));
  int rc = 0;
  if (same) rc = fmr_record_from_json(json_object_get(state, "record"), out, err);
  if (rc == FMR_EINVAL) rc = 0; /* an unreadable record counts as not done */
  if (*out && !outputs_present(cfg, *out)) fmr_record_free(out);
  json_decref(state);
  return rc;
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
