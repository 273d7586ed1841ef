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
  return fmr_test_end();
}
