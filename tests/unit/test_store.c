/* The output store: ownership of output.dir, the debris sweep (own folders only, no symlink
 * followed), staged writes, reuse, quarantine markers, and storage faults on a real full or
 * read-only tmpfs (root only; mounted and unmounted here). */
/* Test paths are short (mkdtemp under /tmp); truncation cannot happen. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmr/output/store.h"
#include "fmr/util/fsutil.h"
#include "fmr_test_fs.h"

static char base[256];

static void put_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static int exists(const char *path) {
  struct stat sb;
  return lstat(path, &sb) == 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_ownership(void) {
  char dir[512], path[600];
  fmr_store *s = NULL;
  fmr_err err;

  /* A new directory: created and marked. */
  snprintf(dir, sizeof dir, "%s/new/out", base);
  CHECK_INT_EQ(fmr_store_open(dir, &s, &err), 0);
  snprintf(path, sizeof path, "%s/" FMR_STORE_MARK, dir);
  CHECK(exists(path));
  fmr_store_free(&s);
  CHECK(s == NULL);
  /* Reopened: the mark is enough even with outputs in it. */
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  put_file(path, "{}\n");
  CHECK_INT_EQ(fmr_store_open(dir, &s, &err), 0);
  fmr_store_free(&s);

  /* An existing empty directory: taken. */
  snprintf(dir, sizeof dir, "%s/empty", base);
  CHECK_INT_EQ(mkdir(dir, 0777), 0);
  CHECK_INT_EQ(fmr_store_open(dir, &s, &err), 0);
  fmr_store_free(&s);

  /* Somebody's directory: refused, nothing created or removed in it. */
  snprintf(dir, sizeof dir, "%s/home", base);
  CHECK_INT_EQ(mkdir(dir, 0777), 0);
  snprintf(path, sizeof path, "%s/thesis.tex.fmr-tmp", dir);
  put_file(path, "mine\n");
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_store_open(dir, &s, &err), FMR_ECONFIG);
  CHECK(s == NULL);
  CHECK(strstr(err.msg, dir) != NULL);
  CHECK(strstr(err.msg, "not empty") != NULL);
  CHECK(exists(path));
  snprintf(path, sizeof path, "%s/.fmr", dir);
  CHECK(!exists(path));
  snprintf(path, sizeof path, "%s/thesis.tex.fmr-tmp", dir);
  CHECK(exists(path));

  /* A .fmr that is a symbolic link is no mark. */
  snprintf(path, sizeof path, "%s/.fmr", dir);
  CHECK_INT_EQ(symlink(base, path), 0);
  CHECK_INT_EQ(fmr_store_open(dir, &s, &err), FMR_ECONFIG);

  /* output.dir: / is refused at once, without walking anything. */
  double t0 = now();
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_store_open("/", &s, &err), FMR_ECONFIG);
  CHECK(now() - t0 < 1.0);
  CHECK(strstr(err.msg, "output.dir / is not empty") != NULL);
  CHECK(!exists("/.fmr"));

  /* A file where the directory should be. */
  snprintf(path, sizeof path, "%s/afile", base);
  put_file(path, "x");
  CHECK_INT_EQ(fmr_store_open(path, &s, &err), FMR_ECONFIG);
}

static void test_sweep(void) {
  char dir[512], path[700], outside[512];
  fmr_store *s = NULL;
  fmr_err err;
  snprintf(dir, sizeof dir, "%s/sweep", base);
  CHECK_INT_EQ(fmr_store_open(dir, &s, &err), 0);
  snprintf(outside, sizeof outside, "%s/outside", base);
  CHECK_INT_EQ(mkdir(outside, 0777), 0);
  snprintf(path, sizeof path, "%s/precious.h5.fmr-tmp", outside);
  put_file(path, "not ours\n");

  static const char *const dirs[] = {"masks", "dicom", "dicom/v1", "seg", "userstuff", ".fmr/records"};
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, dirs[i]);
    CHECK_INT_EQ(fmr_mkdirs(path, &err), 0);
  }
  static const char *const debris[] = {"masks/v1.h5.fmr-tmp", "dicom/v1/v1_000.dcm.fmr-tmp",
                                       "manifest.json.fmr-tmp", ".fmr/records/v1.json.fmr-tmp"};
  for (size_t i = 0; i < sizeof debris / sizeof *debris; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, debris[i]);
    put_file(path, "half\n");
  }
  static const char *const keep[] = {"masks/v1.h5", "userstuff/notes.fmr-tmp", "seg/v1.dcm"};
  for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, keep[i]);
    put_file(path, "keep\n");
  }
  /* A link inside masks/ to a folder outside, and preview/ itself a link outside. */
  snprintf(path, sizeof path, "%s/masks/escape", dir);
  CHECK_INT_EQ(symlink(outside, path), 0);
  snprintf(path, sizeof path, "%s/preview", dir);
  CHECK_INT_EQ(symlink(outside, path), 0);

  size_t removed = 0;
  CHECK_INT_EQ(fmr_store_sweep(s, &removed, &err), 0);
  CHECK_UINT_EQ(removed, 4);
  for (size_t i = 0; i < sizeof debris / sizeof *debris; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, debris[i]);
    CHECK(!exists(path));
  }
  for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, keep[i]);
    CHECK(exists(path));
  }
  snprintf(path, sizeof path, "%s/precious.h5.fmr-tmp", outside);
  CHECK(exists(path));
  fmr_store_free(&s);
}

static void test_stage_reuse(void) {
  char dir[512], path[700], sha[65], oracle[65], rel[256];
  fmr_store *s = NULL;
  fmr_err err;
  snprintf(dir, sizeof dir, "%s/stage", base);
  CHECK_INT_EQ(fmr_store_open(dir, &s, &err), 0);

  CHECK_INT_EQ(fmr_store_path("dicom", "vol", 7, rel, sizeof rel, &err), 0);
  CHECK_STR_EQ(rel, "dicom/vol/vol_007.dcm");
  CHECK_INT_EQ(fmr_store_path("mask", "vol", 7, rel, sizeof rel, &err), 0);
  CHECK_STR_EQ(rel, "masks/vol.h5");
  CHECK_INT_EQ(fmr_store_path("seg", "vol", 0, rel, sizeof rel, &err), 0);
  CHECK_STR_EQ(rel, "seg/vol.dcm");
  CHECK_INT_EQ(fmr_store_path("preview", "vol", 0, rel, sizeof rel, &err), 0);
  CHECK_STR_EQ(rel, "preview/vol.png");
  CHECK_INT_EQ(fmr_store_path("hologram", "vol", 0, rel, sizeof rel, &err), FMR_EINVAL);

  fmr_stage st;
  CHECK_INT_EQ(fmr_store_stage(s, "dicom/vol/vol_000.dcm", &st, &err), 0);
  CHECK(strstr(st.tmp, FMR_TMP_SUFFIX) != NULL);
  CHECK_INT_EQ(fmr_write_file(st.tmp, "slice zero\n", 11, &err), 0);
  uint64_t bytes = 0;
  CHECK_INT_EQ(fmr_store_commit(s, &st, &bytes, sha, &err), 0);
  CHECK(!exists(st.tmp));
  CHECK_UINT_EQ(bytes, 11);
  sha256sum(st.final, oracle);
  CHECK_STR_EQ(sha, oracle);

  /* A file large enough to be fsynced on a helper thread while it is hashed: the same hash, the
   * same bytes, nothing left under the temporary name. */
  {
    size_t n = (size_t)6 << 20;
    unsigned char *big = malloc(n);
    CHECK(big != NULL);
    for (size_t i = 0; big && i < n; i++) big[i] = (unsigned char)(i * 2654435761u >> 13);
    CHECK_INT_EQ(fmr_store_stage(s, "recon/vol.h5", &st, &err), 0);
    CHECK_INT_EQ(fmr_write_file(st.tmp, big, n, &err), 0);
    char big_sha[65];
    uint64_t big_bytes = 0;
    CHECK_INT_EQ(fmr_store_commit(s, &st, &big_bytes, big_sha, &err), 0);
    CHECK(!exists(st.tmp));
    CHECK_UINT_EQ(big_bytes, n);
    sha256sum(st.final, oracle);
    CHECK_STR_EQ(big_sha, oracle);
    /* Outside the store, onto a folder that is not there: an error naming the file, and neither
     * name left behind. */
    char tmp2[PATH_MAX + 16], final2[PATH_MAX + 16];
    snprintf(tmp2, sizeof tmp2, "%s/big" FMR_TMP_SUFFIX, dir);
    snprintf(final2, sizeof final2, "%s/no-such-folder/big.h5", dir);
    CHECK_INT_EQ(fmr_write_file(tmp2, big, n, &err), 0);
    fmr_err_clear(&err);
    CHECK(fmr_commit_file_hashed(tmp2, final2, 1, &big_bytes, big_sha, NULL, NULL, &err) != 0);
    CHECK(strstr(err.msg, "big.h5") != NULL);
    CHECK(!exists(tmp2));
    CHECK(!exists(final2));
    free(big);
  }

  /* A writer failure that is not the storage's: its code, no temporary left. */
  CHECK_INT_EQ(fmr_store_stage(s, "masks/vol.h5", &st, &err), 0);
  put_file(st.tmp, "partial");
  fmr_err_set(&err, FMR_EMASK, "vol: bad mask");
  CHECK_INT_EQ(fmr_store_abandon(s, &st, FMR_EMASK, &err), FMR_EMASK);
  CHECK(!exists(st.tmp));

  /* Commit a record; reuse it only under the same key and while the output is intact. */
  fmr_record *r = fmr_record_new("vol", "knee", "vol.h5", 1);
  CHECK_INT_EQ(fmr_record_add_output(r, "dicom/vol/vol_000.dcm", "dicom", bytes, sha), 0);
  CHECK_INT_EQ(fmr_store_commit_record(s, "key-1", r, &err), 0);
  fmr_record *back = fmr_store_reuse(s, "vol", "key-1");
  CHECK(back != NULL);
  if (back) CHECK_STR_EQ(fmr_record_output(back, 0)->sha256, sha);
  fmr_record_free(&back);
  CHECK(fmr_store_reuse(s, "vol", "key-2") == NULL);
  put_file(st.final, "slice ZERO\n"); /* same size, other bytes */
  snprintf(path, sizeof path, "%s/dicom/vol/vol_000.dcm", dir);
  put_file(path, "slice ZERO\n");
  CHECK(fmr_store_reuse(s, "vol", "key-1") == NULL);
  char detail[256];
  CHECK_INT_EQ(fmr_store_check(dir, "dicom/vol/vol_000.dcm", bytes, sha, detail, sizeof detail),
               FMR_STORE_CHANGED);
  CHECK_INT_EQ(fmr_store_check(dir, "dicom/vol/vol_999.dcm", bytes, sha, detail, sizeof detail),
               FMR_STORE_MISSING);

  /* forget removes the record and every file at the volume's paths. */
  snprintf(path, sizeof path, "%s/masks/vol.h5", dir);
  put_file(path, "old mask");
  snprintf(path, sizeof path, "%s/dicom/vol/vol_041.dcm", dir);
  put_file(path, "a slice an earlier attempt had");
  CHECK_INT_EQ(fmr_store_forget(s, "vol", &err), 0);
  CHECK(!exists(path));
  snprintf(path, sizeof path, "%s/masks/vol.h5", dir);
  CHECK(!exists(path));
  snprintf(path, sizeof path, "%s/.fmr/records/vol.json", dir);
  CHECK(!exists(path));
  fmr_record_free(&r);

  /* Quarantine markers. */
  CHECK_INT_EQ(fmr_store_attempts(s, "vol"), 0);
  CHECK_INT_EQ(fmr_store_set_attempts(s, "vol", 2, &err), 0);
  CHECK_INT_EQ(fmr_store_attempts(s, "vol"), 2);
  CHECK_INT_EQ(fmr_store_clear_attempts(s, "vol", &err), 0);
  CHECK_INT_EQ(fmr_store_attempts(s, "vol"), 0);
  fmr_store_free(&s);
}

static void test_storage_faults(void) {
  char mnt[512], cmd[700], out[1024];
  snprintf(mnt, sizeof mnt, "%s/tmpfs", base);
  if (mount_tmpfs(mnt, "1m", "test_storage_faults") != 0) return;
  fmr_store *s = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_store_open(mnt, &s, &err), 0);
  size_t big = 3u << 20;
  char *data = calloc(1, big);
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_store_write(s, "masks/huge.h5", data, big, &err), FMR_ESTORAGE);
  CHECK(strstr(err.msg, "No space left on device") != NULL);
  CHECK(strstr(err.msg, "masks/huge.h5") != NULL);
  CHECK_INT_EQ(count_files(mnt, "*" FMR_TMP_SUFFIX), 0);

  /* A staged file cut short: the writer saw ENOSPC in errno; abandon says so. */
  fmr_stage st;
  CHECK_INT_EQ(fmr_store_stage(s, "seg/v.dcm", &st, &err), 0);
  fmr_err_clear(&err);
  int rc = fmr_write_file(st.tmp, data, big, &err);
  CHECK_INT_EQ(rc, FMR_ESTORAGE);
  CHECK_INT_EQ(fmr_store_abandon(s, &st, rc, &err), FMR_ESTORAGE);
  CHECK(strstr(err.msg, st.final) != NULL);
  CHECK(strstr(err.msg, FMR_TMP_SUFFIX) == NULL);
  CHECK_INT_EQ(count_files(mnt, "*" FMR_TMP_SUFFIX), 0);

  /* Read-only: the system's words again. */
  snprintf(cmd, sizeof cmd, "mount -o remount,ro '%s'", mnt);
  CHECK_INT_EQ(run(cmd, out, sizeof out), 0);
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_store_write(s, "manifest.json", "{}\n", 3, &err), FMR_ESTORAGE);
  CHECK(strstr(err.msg, "Read-only file system") != NULL);
  CHECK_INT_EQ(fmr_store_set_attempts(s, "v", 1, &err), FMR_ESTORAGE);
  fmr_store_free(&s);
  free(data);
  snprintf(cmd, sizeof cmd, "umount '%s'", mnt);
  CHECK_INT_EQ(run(cmd, out, sizeof out), 0);
}

int main(void) {
  (void)dump;
  snprintf(base, sizeof base, "/tmp/fmr-test-store-XXXXXX");
  if (!mkdtemp(base)) {
    perror("mkdtemp");
    return 1;
  }
  test_ownership();
  test_sweep();
  test_stage_reuse();
  test_storage_faults();
  char cmd[300], out[256];
  snprintf(cmd, sizeof cmd, "umount '%s/tmpfs' 2>/dev/null; rm -rf '%s'", base, base);
  run(cmd, out, sizeof out);
  return fmr_test_end();
}
