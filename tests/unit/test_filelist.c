/* File lists and the input-directory index (SPEC 2.3). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmr/input/filelist.h"
#include "fmr/util/fsutil.h"
#include "fmr_test.h"

static void test_name_valid(void) {
  CHECK(fmr_volume_name_valid("file1000001"));
  CHECK(fmr_volume_name_valid("file_brain_AXFLAIR_200_6002425"));
  CHECK(fmr_volume_name_valid("..x"));
  CHECK(fmr_volume_name_valid("a b"));
  CHECK(!fmr_volume_name_valid(""));
  CHECK(!fmr_volume_name_valid(NULL));
  CHECK(!fmr_volume_name_valid("."));
  CHECK(!fmr_volume_name_valid(".."));
  CHECK(!fmr_volume_name_valid("../x"));
  CHECK(!fmr_volume_name_valid("a/b"));
  CHECK(!fmr_volume_name_valid("/abs"));
  CHECK(!fmr_volume_name_valid("a\tb"));
  CHECK(!fmr_volume_name_valid(" a"));
  CHECK(!fmr_volume_name_valid("a "));
  CHECK(!fmr_volume_name_valid("a\x7f"));
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  CHECK(!fmr_volume_name_valid(longname));
  longname[252] = '\0';
  CHECK(fmr_volume_name_valid(longname));
}

static int parse(const char *text, fmr_filelist *fl, fmr_err *err) {
  return fmr_filelist_parse("l.csv", text, strlen(text), fl, err);
}

static void test_parse(void) {
  fmr_filelist fl;
  fmr_err err;
  fmr_err_clear(&err);
  const char *ok = "\xEF\xBB\xBF" "b\r\n\r\n  a  \n\t\nc\r\nb\na\n   \nd";
  CHECK_INT_EQ(parse(ok, &fl, &err), 0);
  CHECK_UINT_EQ(fl.n, 4);
  if (fl.n == 4) {
    CHECK_STR_EQ(fl.names[0], "b");
    CHECK_STR_EQ(fl.names[1], "a");
    CHECK_STR_EQ(fl.names[2], "c");
    CHECK_STR_EQ(fl.names[3], "d");
  }
  fmr_filelist_free(&fl);
  CHECK(fl.names == NULL && fl.n == 0);

  CHECK_INT_EQ(parse("", &fl, &err), 0);
  CHECK_UINT_EQ(fl.n, 0);
  fmr_filelist_free(&fl);

  static const struct {
    const char *text, *prefix;
  } bad[] = {
      {"a\nb\n../x\nc\n", "l.csv:3: invalid volume name \"../x\""},
      {"a\r\n\r\na/b\r\n", "l.csv:3: invalid volume name \"a/b\""},
      {"a\nfile\x01x\n", "l.csv:2: invalid volume name \"file\\x01x\""},
      {"..\n", "l.csv:1: invalid volume name \"..\""},
      {"ok\nwith\0nul\n", "l.csv:2: invalid volume name \"with\\x00nul\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t len = strlen(bad[i].text);
    if (i == 4) len = 12; /* the NUL is part of the input */
    fmr_err_clear(&err);
    int rc = fmr_filelist_parse("l.csv", bad[i].text, len, &fl, &err);
    CHECK_INT_EQ(rc, FMR_EINVAL);
    CHECK(fl.names == NULL && fl.n == 0);
    if (strncmp(err.msg, bad[i].prefix, strlen(bad[i].prefix)) != 0)
      FMR__FAIL("message \"%s\" does not start with \"%s\"", err.msg, bad[i].prefix);
  }

  /* Lines that are valid but not of fastMRI's plain form are skipped with their line, once. */
  const char *notes = "file1\nKnee data\n\nfile_brain_AXT2_2.x-1\n#comment\n(draft)\nfile1\n";
  CHECK_INT_EQ(parse(notes, &fl, &err), 0);
  CHECK_UINT_EQ(fl.n, 2);
  CHECK_UINT_EQ(fl.nskipped, 3);
  if (fl.nskipped == 3) {
    CHECK_UINT_EQ(fl.skipped[0].line, 2);
    CHECK_STR_EQ(fl.skipped[0].text, "Knee data");
    CHECK_UINT_EQ(fl.skipped[1].line, 5);
    CHECK_STR_EQ(fl.skipped[1].text, "#comment");
    CHECK_UINT_EQ(fl.skipped[2].line, 6);
  }
  CHECK_STR_EQ(fl.path, "l.csv");
  fmr_filelist_free(&fl);
  CHECK(fl.skipped == NULL && fl.nskipped == 0 && fl.path == NULL);
  CHECK(fmr_volume_name_plain("file1000001"));
  CHECK(fmr_volume_name_plain("file_brain_AXFLAIR_200_6002425"));
  CHECK(!fmr_volume_name_plain("Knee data"));
  CHECK(!fmr_volume_name_plain("-x"));
  CHECK(!fmr_volume_name_plain("a/b"));

  /* limits.list_names: the refusal names the file, the line and the limit. */
  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.list_names = 2;
  const char *three = "a\nb\n\nc\n";
  CHECK_INT_EQ(fmr_filelist_parse_limited("l.csv", three, strlen(three), &lim, &fl, &err),
               FMR_ERANGE);
  CHECK_STR_EQ(err.msg, "l.csv:4: more than 2 names (limits.list_names)");
  CHECK(fl.names == NULL && fl.n == 0);
  lim.list_names = 3;
  CHECK_INT_EQ(fmr_filelist_parse_limited("l.csv", three, strlen(three), &lim, &fl, &err), 0);
  CHECK_UINT_EQ(fl.n, 3);
  fmr_filelist_free(&fl);
}

static void test_real_lists(void) {
  static const struct {
    const char *file;
    size_t n;
    const char *first;
    size_t nskipped, skip_line;
    const char *skip_text;
  } lists[] = {/* issue 13: the real knee list ends with the line "Knee data" (counted with
                * Python's re.fullmatch over the file: 1173 non-blank lines, one not a name) */
               {"knee_file_list.csv", 1172, "file1000000", 1, 1173, "Knee data"},
               {"brain_file_list.csv", 1001, "file_brain_AXFLAIR_200_6002425", 0, 0, NULL}};
  for (size_t i = 0; i < 2; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/data/fastmri-plus/%s", FMR_SOURCE_DIR, lists[i].file);
    char *data = NULL;
    size_t len = 0;
    fmr_err err;
    fmr_filelist fl = {0};
    CHECK_INT_EQ(fmr_read_file(path, (size_t)1 << 26, &data, &len, &err), 0);
    if (!data) continue;
    CHECK_INT_EQ(fmr_filelist_parse(path, data, len, &fl, &err), 0);
    CHECK_UINT_EQ(fl.n, lists[i].n);
    if (fl.n) CHECK_STR_EQ(fl.names[0], lists[i].first);
    CHECK_UINT_EQ(fl.nskipped, lists[i].nskipped);
    if (fl.nskipped && lists[i].skip_text) {
      CHECK_UINT_EQ(fl.skipped[0].line, lists[i].skip_line);
      CHECK_STR_EQ(fl.skipped[0].text, lists[i].skip_text);
      CHECK_STR_EQ(fl.path, path);
    }
    for (size_t k = 0; k < fl.n; k++) CHECK(strcmp(fl.names[k], "Knee data") != 0);
    fmr_filelist_free(&fl);
    free(data);
  }
}

/* ---- file index over a temporary tree -------------------------------------------------------- */

static char root[4096];

static void make_dir(const char *rel) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  if (mkdir(p, 0755) != 0) FMR__FAIL("mkdir %s: %s", p, strerror(errno));
}

static void make_file(const char *rel) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  FILE *f = fopen(p, "w");
  if (!f) {
    FMR__FAIL("create %s: %s", p, strerror(errno));
    return;
  }
  fputs("not really hdf5\n", f);
  if (fclose(f) != 0) FMR__FAIL("close %s", p);
}

static void make_link(const char *target, const char *rel) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  if (symlink(target, p) != 0) FMR__FAIL("symlink %s: %s", p, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void test_index(void) {
  snprintf(root, sizeof root, "/tmp/fmr-test-filelist-XXXXXX");
  if (!mkdtemp(root)) {
    FMR__FAIL("mkdtemp: %s", strerror(errno));
    return;
  }
  make_dir("d1");
  make_dir("d1/sub");
  make_dir("d1/sub/deeper");
  make_dir("d1/dir.h5"); /* a directory with the suffix is walked, not indexed */
  make_dir("d2");
  make_dir("d2/batch");
  make_dir("d3");
  make_file("d1/x2.h5");
  make_file("d1/sub/x1.h5");
  make_file("d1/sub/deeper/x3.h5");
  make_file("d1/dir.h5/inner.h5");
  make_file("d1/notes.txt");
  make_file("d1/upper.H5");
  make_file("d1/.h5");
  make_file("d2/x1.h5");        /* same stem as d1/sub/x1.h5: ambiguous */
  make_file("d2/batch/z.h5");
  make_file("d2/y.h5");
  make_link("../d2/y.h5", "d1/linked.h5");  /* a symlinked file counts */
  make_link("../d2/batch", "d1/linkdir");   /* a symlinked directory is not followed */
  make_link("../d2/y.h5", "d3/y.h5");       /* the same file twice is not ambiguous */
  make_link("nowhere.h5", "d3/dangling.h5");

  char d1[4200], d2[4200], d3[4200], d1slash[4200];
  snprintf(d1, sizeof d1, "%s/d1", root);
  snprintf(d1slash, sizeof d1slash, "%s/d1//", root);
  snprintf(d2, sizeof d2, "%s/d2", root);
  snprintf(d3, sizeof d3, "%s/d3", root);
  const char *dirs[3] = {d1slash, d2, d3};
  fmr_file_index *ix = NULL;
  fmr_err err;
  fmr_err_clear(&err);
  int rc = fmr_file_index_build(dirs, 3, &ix, &err);
  CHECK_INT_EQ(rc, 0);
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
    goto cleanup;
  }
  static const char *const names[] = {"inner", "linked", "x1", "x2", "x3", "y", "z"};
  CHECK_UINT_EQ(fmr_file_index_count(ix), 7);
  for (size_t i = 0; i < 7; i++) CHECK_STR_EQ(fmr_file_index_name(ix, i), names[i]);
  CHECK(fmr_file_index_name(ix, 7) == NULL);

  const char *path = NULL, *rel = NULL;
  char want[4300];
  CHECK_INT_EQ(fmr_file_index_find(ix, "x3", &path, &rel, &err), 0);
  snprintf(want, sizeof want, "%s/sub/deeper/x3.h5", d1);
  CHECK_STR_EQ(path, want);
  CHECK_STR_EQ(rel, "sub/deeper/x3.h5");
  CHECK_INT_EQ(fmr_file_index_find(ix, "z", &path, &rel, &err), 0);
  CHECK_STR_EQ(rel, "batch/z.h5");
  CHECK_INT_EQ(fmr_file_index_find(ix, "inner", &path, &rel, &err), 0);
  CHECK_STR_EQ(rel, "dir.h5/inner.h5");
  CHECK_INT_EQ(fmr_file_index_find(ix, "linked", &path, &rel, &err), 0);
  CHECK_STR_EQ(rel, "linked.h5");
  CHECK_INT_EQ(fmr_file_index_find(ix, "y", &path, &rel, &err), 0);
  snprintf(want, sizeof want, "%s/y.h5", d2);
  CHECK_STR_EQ(path, want);

  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_file_index_find(ix, "x1", &path, &rel, &err), FMR_EINVAL);
  CHECK(path == NULL && rel == NULL);
  snprintf(want, sizeof want, "%s/sub/x1.h5", d1);
  if (!strstr(err.msg, want)) FMR__FAIL("\"%s\" lacks %s", err.msg, want);
  snprintf(want, sizeof want, "%s/x1.h5", d2);
  if (!strstr(err.msg, want)) FMR__FAIL("\"%s\" lacks %s", err.msg, want);
  if (!strstr(err.msg, "ambiguous")) FMR__FAIL("\"%s\" lacks 'ambiguous'", err.msg);

  CHECK_INT_EQ(fmr_file_index_find(ix, "missing", &path, &rel, &err), FMR_ENOENT);
  CHECK_INT_EQ(fmr_file_index_find(ix, "upper", &path, &rel, &err), FMR_ENOENT);
  CHECK_INT_EQ(fmr_file_index_find(ix, "dangling", &path, &rel, &err), FMR_ENOENT);
  fmr_file_index_free(&ix);
  CHECK(ix == NULL);

  /* A missing input directory is named in the error. */
  char nodir[4200];
  snprintf(nodir, sizeof nodir, "%s/absent", root);
  const char *bad[2] = {d2, nodir};
  fmr_err_clear(&err);
  rc = fmr_file_index_build(bad, 2, &ix, &err);
  CHECK(rc < 0);
  CHECK(ix == NULL);
  if (!strstr(err.msg, nodir)) FMR__FAIL("\"%s\" does not name %s", err.msg, nodir);

  /* An unreadable directory too (root reads everything, so only checked for other users). */
  if (geteuid() != 0) {
    char locked[4200];
    snprintf(locked, sizeof locked, "%s/d2/batch", root);
    if (chmod(locked, 0) == 0) {
      const char *one[1] = {d2};
      fmr_err_clear(&err);
      CHECK(fmr_file_index_build(one, 1, &ix, &err) < 0);
      if (!strstr(err.msg, locked)) FMR__FAIL("\"%s\" does not name %s", err.msg, locked);
      CHECK(chmod(locked, 0755) == 0);
    }
  }

  /* No directories: an empty index. */
  CHECK_INT_EQ(fmr_file_index_build(NULL, 0, &ix, &err), 0);
  CHECK_UINT_EQ(fmr_file_index_count(ix), 0);
  CHECK_INT_EQ(fmr_file_index_find(ix, "x", &path, &rel, &err), FMR_ENOENT);
  fmr_file_index_free(&ix);

cleanup:
  fmr_file_index_free(&ix);
  if (nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) FMR__FAIL("cleanup of %s", root);
}

int main(void) {
  test_name_valid();
  test_parse();
  test_real_lists();
  test_index();
  return fmr_test_end();
}
