/* Config parsing: the table's defaults, relative paths, and errors that carry file:line:column. */
#include <stdlib.h>
#include <string.h>

#include "fmr/input/config.h"
#include "fmr_test.h"

static int parse(const char *text, fmr_config *cfg, fmr_err *err) {
  fmr_err_clear(err);
  return fmr_config_parse("/etc/fmr/run.yaml", text, strlen(text), cfg, err);
}

static void expect_error(const char *text, const char *needle) {
  fmr_config cfg;
  fmr_err err;
  int rc = parse(text, &cfg, &err);
  CHECK_INT_EQ(rc, FMR_ECONFIG);
  if (!strstr(err.msg, needle)) {
    fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, needle);
    CHECK(0);
  }
  fmr_config_free(&cfg);
}

static const char *minimal =
    "anatomy: knee\n"
    "input:\n"
    "  dirs: [data, /abs/dir]\n"
    "  file_list: lists/knee_file_list.csv\n"
    "  annotations: knee.csv\n"
    "output:\n"
    "  dir: out\n";

static void test_defaults_and_paths(void) {
  fmr_config cfg;
  fmr_err err;
  CHECK_INT_EQ(parse(minimal, &cfg, &err), 0);
  CHECK_STR_EQ(cfg.anatomy, "knee");
  CHECK_UINT_EQ(cfg.ninput_dirs, 2);
  CHECK_STR_EQ(cfg.input_dirs[0], "/etc/fmr/data");
  CHECK_STR_EQ(cfg.input_dirs[1], "/abs/dir");
  CHECK_STR_EQ(cfg.file_list, "/etc/fmr/lists/knee_file_list.csv");
  CHECK_STR_EQ(cfg.annotations, "/etc/fmr/knee.csv");
  CHECK_STR_EQ(cfg.output_dir, "/etc/fmr/out");
  CHECK_INT_EQ(cfg.source, FMR_SOURCE_KSPACE);
  CHECK_INT_EQ(cfg.flip_up_down, 1);
  CHECK_INT_EQ(cfg.flip_left_right, 0);
  CHECK_INT_EQ(cfg.write_dicom, 1);
  CHECK_INT_EQ(cfg.write_masks, 1);
  CHECK_INT_EQ(cfg.mask_frame, FMR_MASK_FRAME_IMAGE);
  CHECK_INT_EQ(cfg.write_seg, 1);
  CHECK_INT_EQ(cfg.write_preview, 1);
  CHECK(cfg.seg_codes == NULL); /* the built-in table */
  CHECK_INT_EQ(cfg.fft_effort, FMR_FFT_ESTIMATE);
  CHECK_STR_EQ(cfg.uid_root, "2.25");
  CHECK_STR_EQ(cfg.date, "20000101");
  CHECK_STR_EQ(cfg.log_level, "info");
  fmr_config_free(&cfg);
}

/* The annotation outputs can be switched off, and the SEG code table replaced (a path relative to
 * the config file). */
static void test_annotation_outputs(void) {
  char text[1024];
  snprintf(text, sizeof text, "%s  seg: false\n  preview: false\n  seg_codes: codes/seg.csv\n",
           minimal);
  fmr_config cfg;
  fmr_err err;
  CHECK_INT_EQ(parse(text, &cfg, &err), 0);
  CHECK_INT_EQ(cfg.write_seg, 0);
  CHECK_INT_EQ(cfg.write_preview, 0);
  CHECK_STR_EQ(cfg.seg_codes, "/etc/fmr/codes/seg.csv");
  fmr_config_free(&cfg);
  snprintf(text, sizeof text, "%s  seg: maybe\n", minimal);
  expect_error(text, "output.seg");
}

static void test_overrides(void) {
  char text[1024];
  snprintf(text, sizeof text,
           "%srecon:\n  source: reconstruction_rss\n  flip_up_down: false\n"
           "  flip_left_right: true\n  fft_effort: measure\noutput_extra: 1\n",
           minimal);
  /* The unknown top-level key is reported with its position (line 13, column 1). */
  expect_error(text, "run.yaml:13:1: unknown key 'output_extra'");

  snprintf(text, sizeof text,
           "%srecon:\n  source: reconstruction_rss\n  flip_up_down: false\n"
           "  flip_left_right: true\n  fft_effort: measure\nlog: {level: debug}\n",
           minimal);
  fmr_config cfg;
  fmr_err err;
  CHECK_INT_EQ(parse(text, &cfg, &err), 0);
  CHECK_INT_EQ(cfg.source, FMR_SOURCE_RSS);
  CHECK_INT_EQ(cfg.flip_up_down, 0);
  CHECK_INT_EQ(cfg.flip_left_right, 1);
  CHECK_INT_EQ(cfg.fft_effort, FMR_FFT_MEASURE);
  CHECK_STR_EQ(cfg.log_level, "debug");
  fmr_config_free(&cfg);
}

static void test_errors(void) {
  expect_error("anatomy: knee\n", "missing required key 'input.dirs'");
  expect_error("anatomy: elbow\ninput: {dirs: [a], file_list: b, annotations: c}\noutput: {dir: d}\n",
               "run.yaml:1:10: 'anatomy' must be one of knee | brain, not 'elbow'");
  expect_error(
      "anatomy: knee\ninput: {dirs: a, file_list: b, annotations: c}\noutput: {dir: d}\n",
      "run.yaml:2:15: 'input.dirs' must be a list");
  expect_error("anatomy: knee\ninput: {dirs: [a], file_list: b, annotations: c, colour: red}\n"
               "output: {dir: d}\n",
               "unknown key 'input.colour'");
  expect_error("anatomy: knee\ninput: {dirs: [a], file_list: b, annotations: c}\n"
               "output: {dir: d}\nrecon: {flip_up_down: yes please}\n",
               "'recon.flip_up_down' must be true or false");
  expect_error("anatomy: knee\ninput: {dirs: [a], annotations: c}\noutput: {dir: d}\n",
               "missing required key 'input.file_list'");
  expect_error("anatomy: knee\nanatomy: brain\n", "duplicate key 'anatomy'");
  expect_error("anatomy: [knee\n", "run.yaml:");
  expect_error("- a\n- b\n", "must be a mapping");
  expect_error("", "empty");
  expect_error("anatomy: knee\ninput: {dirs: [a], file_list: b, annotations: c}\n"
               "output: {dir: d}\ndicom: {date: 2020-01-01}\n",
               "'dicom.date' must be YYYYMMDD");
}

/* Issue 11: a bad UID root passed validation and then failed every volume. It must be a
 * configuration error at the key's own line:column, before anything is written. */
static void test_uid_root(void) {
  static const char *const head =
      "anatomy: knee\ninput: {dirs: [a], file_list: b, annotations: c}\noutput: {dir: d}\n";
  char text[512];
  static const struct {
    const char *root, *needle;
  } bad[] = {
      {"\"2.2v all_files: x\"", "run.yaml:4:19: 'dicom.uid_root' \"2.2v all_files: x\" has 'v'"},
      {"1.02.3", "leading zero in component 2"},
      {"1..3", "empty component 2"},
      {"\"1.2.\"", "empty component 3"},
      {"\".1\"", "empty component 1"},
      {"1.2.840.10008.999999999.999999999.999999999.99", "more than the 43"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(text, sizeof text, "%sdicom: {uid_root: %s}\n", head, bad[i].root);
    expect_error(text, bad[i].needle);
  }
  /* 43 characters: exactly room for 20 digits of a 64-bit hash after the dot. */
  static const char *const good[] = {"2.25", "1.2.840.10008", "0.0",
                                     "1.2.840.10008.999999999.999999999.9999999"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    fmr_config cfg;
    fmr_err err;
    snprintf(text, sizeof text, "%sdicom: {uid_root: %s}\n", head, good[i]);
    CHECK_INT_EQ(parse(text, &cfg, &err), 0);
    if (cfg.uid_root) CHECK_STR_EQ(cfg.uid_root, good[i]);
    fmr_config_free(&cfg);
  }
}

/* limits: the config defaults are the library's, every key can be set, bad values say the range. */
static void test_limits(void) {
  fmr_config cfg;
  fmr_err err;
  fmr_limits def;
  fmr_limits_default(&def);
  CHECK_INT_EQ(parse(minimal, &cfg, &err), 0);
  CHECK(memcmp(&cfg.limits, &def, sizeof def) == 0);
  CHECK_INT_EQ(cfg.probe, 1);
  fmr_config_free(&cfg);
  char text[1024];
  snprintf(text, sizeof text,
           "%slimits:\n  kspace_slices: 50\n  kspace_coils: 32\n  kspace_dim: 1024\n"
           "  kspace_slice_elements: 1000000\n  kspace_elements: 40000000\n"
           "  header_bytes: 65536\n  csv_line_bytes: 200\n  csv_rows: 20000\n"
           "  list_names: 3000\n",
           minimal);
  CHECK_INT_EQ(parse(text, &cfg, &err), 0);
  CHECK_UINT_EQ(cfg.limits.kspace_slices, 50);
  CHECK_UINT_EQ(cfg.limits.kspace_coils, 32);
  CHECK_UINT_EQ(cfg.limits.kspace_dim, 1024);
  CHECK_UINT_EQ(cfg.limits.kspace_slice_elements, 1000000);
  CHECK_UINT_EQ(cfg.limits.kspace_elements, 40000000);
  CHECK_UINT_EQ(cfg.limits.header_bytes, 65536);
  CHECK_UINT_EQ(cfg.limits.csv_line_bytes, 200);
  CHECK_UINT_EQ(cfg.limits.csv_rows, 20000);
  CHECK_UINT_EQ(cfg.limits.list_names, 3000);
  fmr_config_free(&cfg);
  snprintf(text, sizeof text, "%slimits: {kspace_slices: 0}\n", minimal);
  expect_error(text, "run.yaml:8:25: 'limits.kspace_slices' must be a whole number from 1 to");
  snprintf(text, sizeof text, "%slimits: {csv_rows: 1e6}\n", minimal);
  expect_error(text, "'limits.csv_rows' must be a whole number");
  snprintf(text, sizeof text, "%slimits: {csv_rows: \"100\"}\n", minimal);
  expect_error(text, "'limits.csv_rows' must be a whole number");
  snprintf(text, sizeof text, "%slimits: {rows: 5}\n", minimal);
  expect_error(text, "unknown key 'limits.rows'");
}

/* The documented examples in configs/ must stay valid as keys evolve. */
static void test_shipped_configs(void) {
  static const char *const names[] = {"knee.yaml", "brain.yaml", "demo-knee.yaml",
                                      "demo-brain.yaml"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/%s", FMR_SOURCE_DIR, names[i]);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) continue;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    fmr_config cfg;
    fmr_err err;
    fmr_err_clear(&err);
    int rc = fmr_config_parse(path, text, n, &cfg, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    if (!rc) {
      CHECK_STR_EQ(cfg.anatomy, strstr(names[i], "brain") ? "brain" : "knee");
      fmr_config_free(&cfg);
    }
  }
}

int main(void) {
  test_shipped_configs();
  test_defaults_and_paths();
  test_overrides();
  test_annotation_outputs();
  test_errors();
  test_uid_root();
  test_limits();
  return fmr_test_end();
}
