/* The job plan with no MPI (run/plan.h): task table and scheduling order, keys that change exactly
 * when their inputs change, and the serialisation round trip dispatch broadcasts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmr/run/plan.h"
#include "fmr_test.h"

static char root[64];

static void put(const char *rel, const char *text, size_t pad) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  for (size_t i = 0; i < pad; i++) fputc('x', f); /* input "files": only size and mtime matter */
  fclose(f);
}

static const char *CSV_BASE =
    "file,slice,study_level,x,y,width,height,label\n"
    "fileB,1,No,10,10,5,5,Meniscus Tear\n"
    "fileC,2,No,20,20,5,5,Effusion\n"
    "fileC,,Yes,,,,,Artifact\n";

static void write_config(const char *extra) {
  char text[2048];
  snprintf(text, sizeof text,
           "anatomy: knee\ninput:\n  dirs: [%s/in]\n  file_list: %s/list.csv\n"
           "  annotations: %s/ann.csv\n  all_files: true\noutput:\n  dir: %s/out\n%s",
           root, root, root, root, extra);
  put("run.yaml", text, 0);
}

static fmr_plan *build(void) {
  char cfg[512];
  snprintf(cfg, sizeof cfg, "%s/run.yaml", root);
  fmr_plan *p = NULL;
  fmr_err err;
  fmr_err_clear(&err);
  int rc = fmr_plan_build(cfg, &p, &err);
  if (rc) fprintf(stderr, "plan: %s\n", err.msg);
  CHECK_INT_EQ(rc, 0);
  return p;
}

/* Task keys by name, to compare plans whose order may differ. */
typedef struct keys {
  char name[8][16];
  char key[8][65];
  char run[65];
  size_t n;
} keys;

static keys keys_of(const fmr_plan *p) {
  keys k;
  memset(&k, 0, sizeof k);
  snprintf(k.run, sizeof k.run, "%s", fmr_plan_key(p));
  for (size_t i = 0; i < fmr_plan_ntasks(p) && i < 8; i++) {
    snprintf(k.name[i], sizeof k.name[i], "%s", fmr_plan_task(p, i)->name);
    snprintf(k.key[i], sizeof k.key[i], "%s", fmr_plan_task(p, i)->key);
    k.n++;
  }
  return k;
}

static const char *key_of(const keys *k, const char *name) {
  for (size_t i = 0; i < k->n; i++)
    if (strcmp(k->name[i], name) == 0) return k->key[i];
  return "";
}

/* Which of fileA..fileD changed key between two plans, as a string like "B" or "". */
static void changed(const keys *a, const keys *b, char *out) {
  static const char *const names[] = {"fileA", "fileB", "fileC", "fileD"};
  size_t n = 0;
  for (size_t i = 0; i < 4; i++)
    if (strcmp(key_of(a, names[i]), key_of(b, names[i])) != 0) out[n++] = names[i][4];
  out[n] = '\0';
}

/* Build a plan, and say which keys changed against `base`. */
static keys rebuild(const keys *base, char *diff) {
  fmr_plan *p = build();
  keys k;
  memset(&k, 0, sizeof k);
  if (p) k = keys_of(p);
  changed(base, &k, diff);
  fmr_plan_free(&p);
  return k;
}

static void test_table_and_keys(void) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/in", root);
  CHECK_INT_EQ(mkdir(dir, 0777), 0);
  put("in/fileA.h5", "", 100);
  put("in/fileB.h5", "", 300);
  put("in/fileC.h5", "", 300);
  put("in/fileD.h5", "", 200);
  put("list.csv", "fileB\nfileC\nfileA\nfileZ\n", 0);
  put("ann.csv", CSV_BASE, 0);
  write_config("");
  unsetenv("SOURCE_DATE_EPOCH");

  fmr_plan *p = build();
  if (!p) return;
  /* Largest first, ties by name; the missing file (size 0) last. */
  CHECK_UINT_EQ(fmr_plan_ntasks(p), 5);
  const char *order[] = {"fileB", "fileC", "fileD", "fileA", "fileZ"};
  for (size_t i = 0; i < 5; i++) CHECK_STR_EQ(fmr_plan_task(p, i)->name, order[i]);
  CHECK_INT_EQ(fmr_plan_task(p, 0)->reviewed, 1);
  CHECK_INT_EQ(fmr_plan_task(p, 2)->reviewed, 0); /* fileD: all_files, not listed */
  CHECK_UINT_EQ(fmr_plan_task(p, 0)->input_bytes, 300);
  CHECK_STR_EQ(fmr_plan_task(p, 0)->rel_path, "fileB.h5");
  CHECK(fmr_plan_task(p, 4)->path == NULL);
  CHECK(fmr_plan_task(p, 4)->lookup_error != NULL);
  CHECK_UINT_EQ(strlen(fmr_plan_key(p)), 64);
  keys k0 = keys_of(p);
  for (size_t i = 0; i < k0.n; i++)
    for (size_t j = i + 1; j < k0.n; j++) CHECK(strcmp(k0.key[i], k0.key[j]) != 0);

  /* Serialisation round trip: same tasks, keys and bytes again. */
  size_t len = 0;
  char *text = fmr_plan_serialize(p, &len);
  CHECK(text != NULL);
  char cfg[512];
  snprintf(cfg, sizeof cfg, "%s/run.yaml", root);
  fmr_plan *q = NULL;
  fmr_err err;
  CHECK_INT_EQ(fmr_plan_deserialize(cfg, text, len, &q, &err), 0);
  if (q) {
    keys kq = keys_of(q);
    CHECK_STR_EQ(kq.run, k0.run);
    CHECK_UINT_EQ(kq.n, k0.n);
    for (size_t i = 0; i < k0.n; i++) {
      CHECK_STR_EQ(kq.name[i], k0.name[i]);
      CHECK_STR_EQ(kq.key[i], k0.key[i]);
    }
    CHECK_INT_EQ(fmr_plan_task(q, 2)->reviewed, 0);
    CHECK_INT_EQ((long long)fmr_plan_task(q, 1)->input_mtime_ns,
                 (long long)fmr_plan_task(p, 1)->input_mtime_ns);
    CHECK_STR_EQ(fmr_plan_config(q)->date, fmr_plan_config(p)->date);
    CHECK_UINT_EQ(fmr_annotations_vocab_size(fmr_plan_annotations(q)),
                  fmr_annotations_vocab_size(fmr_plan_annotations(p)));
    size_t len2 = 0;
    char *again = fmr_plan_serialize(q, &len2);
    CHECK(again && len2 == len && memcmp(again, text, len) == 0);
    free(again);
    fmr_plan_free(&q);
  }
  CHECK(fmr_plan_deserialize(cfg, "{\"tasks\": 1}", 12, &q, &err) != 0);
  free(text);

  /* Shards: by name order, disjoint, together the whole table. */
  char seen[5] = {0};
  for (size_t s = 0; s < 2; s++) {
    fmr_plan *sp = build();
    CHECK_INT_EQ(fmr_plan_shard(sp, s, 2, &err), 0);
    CHECK_UINT_EQ(fmr_plan_ntasks(sp), s == 0 ? 3 : 2);
    for (size_t i = 0; i < fmr_plan_ntasks(sp); i++) {
      const fmr_task *t = fmr_plan_task(sp, i);
      size_t at = fmr_plan_find(p, t->name);
      CHECK(at != (size_t)-1);
      if (at < 5) seen[at]++;
      CHECK_STR_EQ(t->key, fmr_plan_task(p, at)->key);
    }
    if (s == 1) { /* sorted names A B C D Z: shard 1 holds B and D */
      CHECK(fmr_plan_find(sp, "fileB") != (size_t)-1);
      CHECK(fmr_plan_find(sp, "fileD") != (size_t)-1);
    }
    CHECK(fmr_plan_shard(sp, 2, 2, &err) != 0);
    fmr_plan_free(&sp);
  }
  for (size_t i = 0; i < 5; i++) CHECK_INT_EQ(seen[i], 1);
  fmr_plan_free(&p);

  char diff[8];
  keys k;
  /* Defect 1: removing a name from the list changes that volume's key (reviewed), no other. */
  put("list.csv", "fileC\nfileA\nfileZ\n", 0);
  p = build();
  k = keys_of(p);
  changed(&k0, &k, diff);
  CHECK_STR_EQ(diff, "B");
  CHECK_STR_EQ(k.run, k0.run);
  CHECK_INT_EQ(fmr_plan_task(p, fmr_plan_find(p, "fileB"))->reviewed, 0);
  fmr_plan_free(&p);
  /* Reordering the list changes nothing. */
  put("list.csv", "fileA\nfileZ\nfileC\nfileB\n", 0);
  k = rebuild(&k0, diff);
  CHECK_STR_EQ(diff, "");
  put("list.csv", "fileB\nfileC\nfileA\nfileZ\n", 0);

  /* One volume's annotation rows change: that volume's key only. */
  char csv[1024];
  snprintf(csv, sizeof csv, "%sfileC,3,No,1,1,2,2,Effusion\n", CSV_BASE);
  put("ann.csv", csv, 0);
  k = rebuild(&k0, diff);
  CHECK_STR_EQ(diff, "C");
  CHECK_STR_EQ(k.run, k0.run);
  /* A study-level label alone changes it too. */
  snprintf(csv, sizeof csv, "%sfileB,,Yes,,,,,Artifact\n", CSV_BASE);
  put("ann.csv", csv, 0);
  k = rebuild(&k0, diff);
  CHECK_STR_EQ(diff, "B");
  /* A new label anywhere changes the vocabulary (mask bits): every key. */
  snprintf(csv, sizeof csv, "%sfileZ,1,No,1,1,2,2,Zzz New Label\n", CSV_BASE);
  put("ann.csv", csv, 0);
  k = rebuild(&k0, diff);
  CHECK_STR_EQ(diff, "ABCD");
  CHECK(strcmp(k.run, k0.run) != 0);
  put("ann.csv", CSV_BASE, 0);

  /* The input file is rewritten (size): its key only. */
  put("in/fileD.h5", "", 201);
  k = rebuild(&k0, diff);
  CHECK_STR_EQ(diff, "D");
  put("in/fileD.h5", "", 200);
  p = build();
  k0 = keys_of(p); /* fileD was rewritten: its mtime is new */
  fmr_plan_free(&p);
  /* Same size, new mtime: its key only. */
  struct timespec ts[2] = {{0, UTIME_NOW}, {12345, 678}};
  snprintf(dir, sizeof dir, "%s/in/fileA.h5", root);
  CHECK_INT_EQ(utimensat(AT_FDCWD, dir, ts, 0), 0);
  p = build();
  keys k1 = keys_of(p);
  changed(&k0, &k1, diff);
  CHECK_STR_EQ(diff, "A");
  fmr_plan_free(&p);

  /* Dates and config text: the run key and so every key. */
  setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  p = build();
  k = keys_of(p);
  CHECK_STR_EQ(fmr_plan_config(p)->date, "20231114");
  changed(&k1, &k, diff);
  CHECK_STR_EQ(diff, "ABCD");
  fmr_plan_free(&p);
  unsetenv("SOURCE_DATE_EPOCH");
  setenv("SOURCE_DATE_EPOCH", "nope", 1);
  {
    fmr_plan *bad = NULL;
    snprintf(cfg, sizeof cfg, "%s/run.yaml", root);
    CHECK(fmr_plan_build(cfg, &bad, &err) != 0);
    CHECK(strstr(err.msg, "SOURCE_DATE_EPOCH") != NULL);
  }
  unsetenv("SOURCE_DATE_EPOCH");
  write_config("recon:\n  flip_left_right: true\n");
  k = rebuild(&k1, diff);
  CHECK_STR_EQ(diff, "ABCD");

  /* The SEG code table is part of the run key; a broken one is refused at planning. */
  write_config("");
  p = build();
  keys kseg = keys_of(p);
  CHECK(fmr_plan_seg_codes(p) != NULL);
  fmr_plan_free(&p);
  {
    /* "output:" twice is a YAML error: write the switch into the one output mapping instead. */
    char ytext[2048];
    snprintf(ytext, sizeof ytext,
             "anatomy: knee\ninput:\n  dirs: [%s/in]\n  file_list: %s/list.csv\n"
             "  annotations: %s/ann.csv\n  all_files: true\noutput:\n  dir: %s/out\n"
             "  seg_codes: %s/codes.csv\n",
             root, root, root, root, root);
    put("run.yaml", ytext, 0);
    put("codes.csv", "anatomy,label\nnot,a table\n", 0);
    fmr_plan *bad = NULL;
    CHECK(fmr_plan_build(cfg, &bad, &err) != 0);
    CHECK(strstr(err.msg, "codes.csv") != NULL);
  }
  (void)kseg;

  /* An output directory inside an input directory is refused. */
  {
    char ytext[2048];
    snprintf(ytext, sizeof ytext,
             "anatomy: knee\ninput:\n  dirs: [%s/in]\n  file_list: %s/list.csv\n"
             "  annotations: %s/ann.csv\noutput:\n  dir: %s/in/out\n",
             root, root, root, root);
    put("run.yaml", ytext, 0);
    fmr_plan *bad = NULL;
    CHECK(fmr_plan_build(cfg, &bad, &err) != 0);
    CHECK(strstr(err.msg, "inside input directory") != NULL);
  }
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/fmr-test-plan-XXXXXX");
  if (!mkdtemp(root)) return 1;
  test_table_and_keys();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return fmr_test_end();
}
