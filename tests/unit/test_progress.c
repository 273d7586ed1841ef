/* Progress and summary: the ETA counts only work still to do at the rate of processed volumes
 * (reused ones take no time), lines say what an operator needs, the summary table adds up. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fmr/cmd/cmd.h"
#include "fmr/output/record.h"
#include "fmr/run/progress.h"
#include "fmr_test.h"

static const char sha[] = "0000000000000000000000000000000000000000000000000000000000000000";

static fmr_record *rec(const char *name, fmr_status st, const char *k1, uint64_t b1, const char *k2,
                       uint64_t b2) {
  fmr_record *r = fmr_record_new(name, "knee", NULL, 1);
  CHECK(r != NULL);
  CHECK_INT_EQ(fmr_record_set_status(r, st, st == FMR_STATUS_OK ? NULL : "boom"), 0);
  if (k1) CHECK_INT_EQ(fmr_record_add_output(r, "dicom/x.dcm", k1, b1, sha), 0);
  if (k2) CHECK_INT_EQ(fmr_record_add_output(r, "masks/x.h5", k2, b2, sha), 0);
  return r;
}

int main(void) {
  char buf[4096];
  FILE *mem = fmemopen(buf, sizeof buf, "w");
  fmr_progress_opts live = {mem, 1, 10.0};
  fmr_progress *p = NULL;
  /* 10 volumes of 100 bytes of k-space; 4 reused at once, then 2 processed in 20 s. */
  CHECK_INT_EQ(fmr_progress_new(10, 1000, &live, 0.0, &p), 0);
  CHECK(isnan(fmr_progress_eta(p, 0.0)));
  for (int i = 0; i < 4; i++) fmr_progress_volume(p, 100, 30, FMR_STATUS_OK, 1, 0.1);
  CHECK(isnan(fmr_progress_eta(p, 0.1))); /* nothing processed yet: no rate to speak of */
  fmr_progress_volume(p, 100, 30, FMR_STATUS_OK, 0, 10.0);
  fmr_progress_volume(p, 100, 30, FMR_STATUS_FAILED, 0, 20.0);
  /* 200 bytes in 20 s = 10 B/s; 400 bytes left -> 40 s (a rate over all 6 would say 13 s). */
  CHECK_DBL_NEAR(fmr_progress_eta(p, 20.0), 40.0, 1e-9);
  fmr_progress_tick(p, 20.0);
  fflush(mem);
  CHECK(strstr(buf, "\r\033[K6/10 volumes, 1 failed, 3.0 slices/s, 0 MB/s of k-space, 40 s to go") != NULL);
  fmr_progress_finish(p);
  fclose(mem);
  fmr_progress_free(&p);
  CHECK(p == NULL);

  char d[32];
  fmr_format_duration(3723.0, d, sizeof d);
  CHECK_STR_EQ(d, "1h 02m 03s");
  fmr_format_duration(250.0, d, sizeof d);
  CHECK_STR_EQ(d, "4m 10s");
  fmr_format_bytes(1234567890ull, d, sizeof d);
  CHECK_STR_EQ(d, "1.2 GB");
  fmr_format_bytes(800, d, sizeof d);
  CHECK_STR_EQ(d, "800 B");

  fmr_summary s;
  memset(&s, 0, sizeof s);
  fmr_record *a = rec("a", FMR_STATUS_OK, "dicom", 1000, "mask", 500);
  fmr_record *b = rec("b", FMR_STATUS_FAILED, NULL, 0, NULL, 0);
  fmr_record *c = rec("c", FMR_STATUS_OK, "dicom", 2000, NULL, 0);
  fmr_summary_add(&s, a, 1);
  fmr_summary_add(&s, b, 7);
  fmr_summary_add(&s, c, 1);
  CHECK_UINT_EQ(s.ok, 2);
  CHECK_UINT_EQ(s.failed, 1);
  CHECK_UINT_EQ(s.slices, 2);
  CHECK_UINT_EQ(s.nkinds, 2);
  CHECK_STR_EQ(s.kinds[0].kind, "dicom");
  CHECK_UINT_EQ(s.kinds[0].files, 2);
  CHECK_UINT_EQ(s.kinds[0].bytes, 3000);
  s.planned = 3;
  s.wall_seconds = 2.0;
  s.ranks = 2;
  s.exit_status = FMR_EXIT_FAILED;
  s.manifest = "out/manifest.json";
  const char *w = "12 volume(s): box clipped to the frame\n"
                  "3 volume(s): no ISMRMRD header: 1 mm pixel spacing assumed\n";
  mem = fmemopen(buf, sizeof buf, "w");
  fmr_summary_print(&s, w, mem);
  fclose(mem);
  CHECK(strstr(buf, "3 planned: 2 ok, 1 failed, 0 missing") != NULL);
  CHECK(strstr(buf, "dicom      2 files, 3.0 kB") != NULL);
  CHECK(strstr(buf, "exit status  1: some volumes failed") != NULL);
  CHECK(strstr(buf, "warnings     12 volume(s): box clipped") != NULL);
  CHECK(strstr(buf, "3 volume(s): no ISMRMRD header") != NULL);
  CHECK(strstr(buf, "1.0 slices/s") != NULL);
  fmr_record_free(&a);
  fmr_record_free(&b);
  fmr_record_free(&c);
  return fmr_test_end();
}
