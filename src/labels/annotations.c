/* fastMRI+ annotation CSVs (SPEC 2.2) and their rasterization into label masks (SPEC 6).
 *
 * Records are read by the shared RFC 4180 reader (util/text.h), which reports every malformed row
 * as file:line and resumes at the next one. */
#include "fmr/labels/annotations.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fmr/input/filelist.h"
#include "fmr/util/limits.h"
#include "fmr/util/text.h"

#define NFIELDS 8
#define INT_LIMIT 1000000000LL /* coordinates and slices are pixels: anything larger is garbage */
#define QUOTE_MAX 64           /* bytes of a bad field quoted in a message */

static const char *const expected_header[NFIELDS] = {"file",  "slice",  "study_level", "x",
                                                     "y",     "width",  "height",      "label"};

/* ---- small containers ------------------------------------------------------------------------ */

/* Grow an array (util/text.h's fmr__grow; the short name keeps the many call sites readable). */
static int grow(void *pp, size_t *cap, size_t need, size_t elem) {
  return fmr__grow(pp, cap, need, elem);
}

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* Open-addressing map from a byte string to an index; the keys live with the caller, who
 * compares them through `eq`, so the map survives the caller's arrays being reallocated. */
typedef int (*key_eq)(const void *ctx, size_t val, const char *key, size_t len);
typedef struct hmap {
  size_t cap, n;
  uint64_t *hash;
  size_t *val; /* SIZE_MAX: empty */
} hmap;

/* 1 and *out = existing value when the key is present; 0 and *out = newval after inserting it. */
static int hmap_get_or_put(hmap *m, const char *key, size_t len, key_eq eq, const void *ctx,
                           size_t newval, size_t *out) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    uint64_t *nh = malloc(ncap * sizeof *nh);
    size_t *nv = malloc(ncap * sizeof *nv);
    if (!nh || !nv) {
      free(nh);
      free(nv);
      return FMR_ENOMEM;
    }
    for (size_t i = 0; i < ncap; i++) nv[i] = SIZE_MAX;
    for (size_t i = 0; i < m->cap; i++) {
      if (m->val[i] == SIZE_MAX) continue;
      size_t j = m->hash[i] & (ncap - 1);
      while (nv[j] != SIZE_MAX) j = (j + 1) & (ncap - 1);
      nh[j] = m->hash[i];
      nv[j] = m->val[i];
    }
    free(m->hash);
    free(m->val);
    m->hash = nh;
    m->val = nv;
    m->cap = ncap;
  }
  uint64_t h = hash_bytes(key, len);
  size_t j = h & (m->cap - 1);
  while (m->val[j] != SIZE_MAX) {
    if (m->hash[j] == h && eq(ctx, m->val[j], key, len)) {
      *out = m->val[j];
      return 1;
    }
    j = (j + 1) & (m->cap - 1);
  }
  m->hash[j] = h;
  m->val[j] = newval;
  m->n++;
  *out = newval;
  return 0;
}

static void hmap_free(hmap *m) {
  free(m->hash);
  free(m->val);
  m->hash = NULL;
  m->val = NULL;
  m->cap = m->n = 0;
}

/* ---- field checks ---------------------------------------------------------------------------- */

typedef struct field {
  const char *s;
  size_t n;
} field;

/* Optionally signed decimal; 0, or -1 not an integer, -2 out of range. */
static int parse_int(field f, long long *v) {
  return fmr_text_parse_int(f.s, f.n, -INT_LIMIT, INT_LIMIT, v);
}

/* A field's bytes for a message: printable ASCII as is, the rest as \xNN, long ones cut. */
static void quote_field(char *out, size_t out_size, field f) {
  fmr_text_quote(out, out_size, f.s, f.n, QUOTE_MAX);
}

/* ---- the parsed CSV -------------------------------------------------------------------------- */

typedef struct vol {
  fmr_volume_annotations pub;
  char *name;
  fmr_box *boxes;
  size_t nboxes, capboxes;
  int *study;
  size_t nstudy, capstudy;
  fmr_row *all; /* every readable row (the public `all`) */
  size_t nall, capall;
  const char **problems;
  size_t nproblems, capproblems;
} vol;

struct fmr_annotations {
  char *csv;
  char **vocab;
  size_t nvocab;
  vol **vols; /* sorted by name once parsed */
  size_t nvols, capvols;
  char **all; /* every problem, in line order (owned) */
  size_t nall, capall;
  const char **global; /* the subset not tied to a volume */
  size_t nglobal, capglobal;
  fmr_annotation_totals totals;
};

/* Parse-time state that does not outlive fmr_annotations_parse. */
typedef struct parser {
  fmr_annotations *a;
  hmap vol_map;   /* name -> index in a->vols */
  hmap label_map; /* trimmed label -> provisional id (first appearance order) */
  char **labels;  /* provisional id -> label */
  size_t nlabels, caplabels;
  hmap row_map;   /* serialised 8 fields -> row key index, to find exact duplicates */
  char *keys;     /* serialised rows back to back */
  size_t keys_len, keys_cap;
  size_t *key_ofs; /* key i is keys[key_ofs[i] .. key_ofs[i+1]) */
  size_t nkeys, cap_key_ofs;
} parser;

static int vol_eq(const void *ctx, size_t val, const char *key, size_t len) {
  const fmr_annotations *a = ctx;
  const char *name = a->vols[val]->name;
  return strlen(name) == len && memcmp(name, key, len) == 0;
}

static int label_eq(const void *ctx, size_t val, const char *key, size_t len) {
  const parser *p = ctx;
  return strlen(p->labels[val]) == len && memcmp(p->labels[val], key, len) == 0;
}

static int row_eq(const void *ctx, size_t val, const char *key, size_t len) {
  const parser *p = ctx;
  size_t n = p->key_ofs[val + 1] - p->key_ofs[val];
  return n == len && memcmp(p->keys + p->key_ofs[val], key, len) == 0;
}

static char *dup_bytes(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* Record "<csv>:<line>: <what>" as a problem of volume v (or of the CSV when v is NULL). */
static int add_problem(fmr_annotations *a, vol *v, size_t line, const char *what) {
  size_t n = strlen(a->csv) + strlen(what) + 32;
  char *msg = malloc(n);
  if (!msg) return FMR_ENOMEM;
  snprintf(msg, n, "%s:%zu: %s", a->csv, line, what);
  if (grow(&a->all, &a->capall, a->nall + 1, sizeof *a->all)) {
    free(msg);
    return FMR_ENOMEM;
  }
  a->all[a->nall++] = msg;
  a->totals.malformed++;
  if (v) {
    if (grow(&v->problems, &v->capproblems, v->nproblems + 1, sizeof *v->problems))
      return FMR_ENOMEM;
    v->problems[v->nproblems++] = msg;
  } else {
    if (grow(&a->global, &a->capglobal, a->nglobal + 1, sizeof *a->global)) return FMR_ENOMEM;
    a->global[a->nglobal++] = msg;
  }
  return 0;
}

static int find_or_add_volume(parser *p, field name, vol **out) {
  fmr_annotations *a = p->a;
  size_t idx;
  int found = hmap_get_or_put(&p->vol_map, name.s, name.n, vol_eq, a, a->nvols, &idx);
  if (found < 0) return found;
  if (found) {
    *out = a->vols[idx];
    return 0;
  }
  /* The map already holds the new index: the volume must exist before anything can fail. */
  vol *v = NULL;
  if (grow(&a->vols, &a->capvols, a->nvols + 1, sizeof *a->vols) ||
      !(v = calloc(1, sizeof *v)) || !(v->name = dup_bytes(name.s, name.n))) {
    free(v);
    return FMR_ENOMEM;
  }
  a->vols[a->nvols++] = v;
  *out = v;
  return 0;
}

/* 1 when the row's 8 fields were seen before; otherwise remembers them and returns 0. */
static int seen_row(parser *p, const field *f) {
  size_t start = p->keys_len, need = 0;
  for (int i = 0; i < NFIELDS; i++) need += sizeof(size_t) + f[i].n;
  if (grow(&p->keys, &p->keys_cap, p->keys_len + need, 1) ||
      grow(&p->key_ofs, &p->cap_key_ofs, p->nkeys + 2, sizeof *p->key_ofs))
    return FMR_ENOMEM;
  /* Length-prefixed, so "a,b" + "c" and "a" + "b,c" cannot collide. */
  for (int i = 0; i < NFIELDS; i++) {
    memcpy(p->keys + p->keys_len, &f[i].n, sizeof f[i].n);
    p->keys_len += sizeof f[i].n;
    memcpy(p->keys + p->keys_len, f[i].s, f[i].n);
    p->keys_len += f[i].n;
  }
  p->key_ofs[p->nkeys] = start;
  p->key_ofs[p->nkeys + 1] = p->keys_len;
  size_t idx;
  int found = hmap_get_or_put(&p->row_map, p->keys + start, need, row_eq, p, p->nkeys, &idx);
  if (found < 0) return found;
  if (found) {
    p->keys_len = start;
    return 1;
  }
  p->nkeys++;
  return 0;
}

static int intern_label(parser *p, field lab, int *id) {
  size_t idx;
  int found = hmap_get_or_put(&p->label_map, lab.s, lab.n, label_eq, p, p->nlabels, &idx);
  if (found < 0) return found;
  if (!found) {
    char *s = NULL;
    if (grow(&p->labels, &p->caplabels, p->nlabels + 1, sizeof *p->labels) ||
        !(s = dup_bytes(lab.s, lab.n)))
      return FMR_ENOMEM;
    p->labels[p->nlabels++] = s;
  }
  if (idx > INT32_MAX) return FMR_ENOMEM;
  *id = (int)idx;
  return 0;
}

/* A CSV field that may name a volume: valid UTF-8 and a plain file name (filelist.h). */
static int name_ok(field f) {
  char name[256];
  if (f.n >= sizeof name || memchr(f.s, '\0', f.n) || !fmr_text_utf8_valid(f.s, f.n)) return 0;
  memcpy(name, f.s, f.n);
  name[f.n] = '\0';
  return fmr_volume_name_valid(name);
}

static const char *const coord_names[4] = {"x", "y", "width", "height"};

/* One well-formed-as-CSV record of 8 fields. Returns 0 or FMR_ENOMEM; faults become problems. */
static int take_row(parser *p, const field *f, size_t line) {
  fmr_annotations *a = p->a;
  char why[512], q[QUOTE_MAX * 4 + 8];
  vol *v = NULL;
  for (int i = 0; i < NFIELDS; i++) {
    if (memchr(f[i].s, '\0', f[i].n)) {
      if (i == 0) return add_problem(a, NULL, line, "file: NUL byte in the volume name");
      snprintf(why, sizeof why, "%s: NUL byte in the field", expected_header[i]);
      goto tied_problem;
    }
  }
  if (!name_ok(f[0])) {
    quote_field(q, sizeof q, f[0]);
    snprintf(why, sizeof why, "file: invalid volume name \"%s\"", q);
    return add_problem(a, NULL, line, why);
  }
  int rc = find_or_add_volume(p, f[0], &v);
  if (rc) return rc;
  v->pub.rows++;

  long long slice = 0, c[4] = {0, 0, 0, 0};
  int pr = parse_int(f[1], &slice);
  if (pr || slice < 0) {
    quote_field(q, sizeof q, f[1]);
    snprintf(why, sizeof why, "slice: %s \"%s\"",
             pr == -1 ? "not an integer" : pr == -2 ? "out of range" : "negative", q);
    goto tied_problem;
  }
  int study;
  if (f[2].n == 3 && strncasecmp(f[2].s, "yes", 3) == 0) {
    study = 1;
  } else if (f[2].n == 2 && strncasecmp(f[2].s, "no", 2) == 0) {
    study = 0;
  } else {
    quote_field(q, sizeof q, f[2]);
    snprintf(why, sizeof why, "study_level: expected Yes or No, got \"%s\"", q);
    goto tied_problem;
  }
  for (int i = 0; i < 4; i++) {
    field cf = f[3 + i];
    if (study && cf.n == 0) continue; /* study-level rows carry no box */
    pr = parse_int(cf, &c[i]);
    if (pr) {
      quote_field(q, sizeof q, cf);
      snprintf(why, sizeof why, "%s: %s \"%s\"", coord_names[i],
               pr == -1 ? "not an integer" : "out of range", q);
      goto tied_problem;
    }
  }
  fmr_text lt = fmr_text_trim(f[7].s, f[7].n);
  field lab = {lt.s, lt.n};
  if (lab.n == 0) {
    snprintf(why, sizeof why, "label: empty");
    goto tied_problem;
  }
  if (!fmr_text_utf8_valid(lab.s, lab.n)) {
    quote_field(q, sizeof q, lab);
    snprintf(why, sizeof why, "label: not valid UTF-8 \"%s\"", q);
    goto tied_problem;
  }

  if (lab.n != f[7].n) {
    v->pub.trimmed++;
    a->totals.trimmed++;
  }
  int dup = seen_row(p, f);
  if (dup < 0) return dup;
  int id; /* a duplicate's label is already interned: this adds nothing to the vocabulary */
  rc = intern_label(p, lab, &id);
  if (rc) return rc;
  if (grow(&v->all, &v->capall, v->nall + 1, sizeof *v->all)) return FMR_ENOMEM;
  v->all[v->nall++] = (fmr_row){
      {(long)slice, (long)c[0], (long)c[1], (long)c[2], (long)c[3], id, line}, study, dup};
  if (dup) {
    v->pub.duplicates++;
    a->totals.duplicates++;
    return 0;
  }
  if (study) {
    if (grow(&v->study, &v->capstudy, v->nstudy + 1, sizeof *v->study)) return FMR_ENOMEM;
    v->study[v->nstudy++] = id;
    v->pub.study_rows++;
    a->totals.study_level++;
    return 0;
  }
  if (grow(&v->boxes, &v->capboxes, v->nboxes + 1, sizeof *v->boxes)) return FMR_ENOMEM;
  fmr_box *b = &v->boxes[v->nboxes++];
  b->slice = (long)slice;
  b->x = (long)c[0];
  b->y = (long)c[1];
  b->width = (long)c[2];
  b->height = (long)c[3];
  b->label = id;
  b->line = line;
  a->totals.boxes++;
  if (b->width <= 0 || b->height <= 0) {
    v->pub.degenerate++;
    a->totals.degenerate++;
  }
  return 0;

tied_problem:
  if (!v && name_ok(f[0])) { /* a NUL byte found before the name was looked at */
    int rc2 = find_or_add_volume(p, f[0], &v);
    if (rc2) return rc2;
    v->pub.rows++;
  }
  return add_problem(a, v, line, why);
}

static int cmp_label_ptr(const void *pa, const void *pb) {
  return strcmp(**(char *const *const *)pa, **(char *const *const *)pb);
}

static int cmp_int(const void *pa, const void *pb) {
  int a = *(const int *)pa, b = *(const int *)pb;
  return (a > b) - (a < b);
}

static int cmp_vol(const void *pa, const void *pb) {
  return strcmp((*(vol *const *)pa)->name, (*(vol *const *)pb)->name);
}

/* Sort the vocabulary, renumber every label to its vocabulary index, sort the volumes, and fill
 * the public views. */
static int finish(parser *p) {
  fmr_annotations *a = p->a;
  int rc = 0;
  char ***order = NULL;
  int *remap = NULL;
  size_t nl = p->nlabels;
  order = malloc((nl ? nl : 1) * sizeof *order);
  remap = malloc((nl ? nl : 1) * sizeof *remap);
  a->vocab = malloc((nl ? nl : 1) * sizeof *a->vocab);
  if (!order || !remap || !a->vocab) {
    rc = FMR_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < nl; i++) order[i] = &p->labels[i];
  qsort(order, nl, sizeof *order, cmp_label_ptr);
  for (size_t k = 0; k < nl; k++) {
    size_t id = (size_t)(order[k] - p->labels);
    remap[id] = (int)k;
    a->vocab[k] = p->labels[id];
  }
  a->nvocab = nl;
  /* Ownership of the strings moved to a->vocab. */
  free(p->labels);
  p->labels = NULL;
  p->nlabels = 0;
  for (size_t i = 0; i < a->nvols; i++) {
    vol *v = a->vols[i];
    for (size_t j = 0; j < v->nboxes; j++) v->boxes[j].label = remap[v->boxes[j].label];
    for (size_t j = 0; j < v->nall; j++) v->all[j].box.label = remap[v->all[j].box.label];
    for (size_t j = 0; j < v->nstudy; j++) v->study[j] = remap[v->study[j]];
    if (v->nstudy > 1) qsort(v->study, v->nstudy, sizeof *v->study, cmp_int);
    size_t u = 0;
    for (size_t j = 0; j < v->nstudy; j++)
      if (u == 0 || v->study[u - 1] != v->study[j]) v->study[u++] = v->study[j];
    v->nstudy = u;
    v->pub.name = v->name;
    v->pub.csv = a->csv;
    v->pub.nboxes = v->nboxes;
    v->pub.boxes = v->boxes;
    v->pub.nstudy = v->nstudy;
    v->pub.study_labels = v->study;
    v->pub.nall = v->nall;
    v->pub.all = v->all;
    v->pub.nproblems = v->nproblems;
    v->pub.problems = v->problems;
  }
  if (a->nvols > 1) qsort(a->vols, a->nvols, sizeof *a->vols, cmp_vol);
  a->totals.volumes = a->nvols;
done:
  free(order);
  free(remap);
  return rc;
}

static int check_header(fmr_csv_reader *r, const char *path, fmr_err *err) {
  char why[256];
  size_t line = 1;
  int st = fmr_csv_reader_next(r, &line, why, sizeof why);
  if (st < 0) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
  if (st == FMR_CSV_EOF)
    return fmr_err_set(err, FMR_ECSV, "%s:1: empty file, expected the header", path);
  if (st == FMR_CSV_BAD) return fmr_err_set(err, FMR_ECSV, "%s:%zu: header: %s", path, line, why);
  int ok = line == 1 && fmr_csv_reader_nfields(r) == NFIELDS;
  for (size_t i = 0; ok && i < NFIELDS; i++) {
    fmr_text t = fmr_csv_reader_field(r, i);
    ok = t.n == strlen(expected_header[i]) && memcmp(t.s, expected_header[i], t.n) == 0;
  }
  if (!ok)
    return fmr_err_set(err, FMR_ECSV,
                       "%s:%zu: expected the header \"file,slice,study_level,x,y,width,height,"
                       "label\"",
                       path, line);
  return 0;
}

int fmr_annotations_parse(const char *path, const char *data, size_t len, fmr_annotations **out,
                          fmr_err *err) {
  return fmr_annotations_parse_limited(path, data, len, NULL, out, err);
}

int fmr_annotations_parse_limited(const char *path, const char *data, size_t len,
                                  const fmr_limits *limits, fmr_annotations **out, fmr_err *err) {
  int rc = 0;
  parser p;
  memset(&p, 0, sizeof p);
  fmr_csv_reader r;
  const fmr_limits *lim = fmr_limits_or_default(limits);
  *out = NULL;
  if (!path) path = "(csv)";
  fmr_csv_reader_init(&r, data, len, lim->csv_line_bytes, 0);
  if (!data && len) return fmr_err_set(err, FMR_EINVAL, "%s: no data", path);
  fmr_annotations *a = calloc(1, sizeof *a);
  if (!a || !(a->csv = strdup(path))) {
    free(a);
    return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
  }
  p.a = a;
  rc = check_header(&r, path, err);
  if (rc) goto done;
  for (;;) {
    char why[256];
    size_t line = 0;
    int st = fmr_csv_reader_next(&r, &line, why, sizeof why);
    if (st == FMR_CSV_EOF) break;
    if (st < 0) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
      goto done;
    }
    if (a->totals.rows >= lim->csv_rows) {
      rc = fmr_err_set(err, FMR_ERANGE, "%s:%zu: more than %zu data rows (limits.csv_rows)", path,
                       line, lim->csv_rows);
      goto done;
    }
    a->totals.rows++;
    if (st == FMR_CSV_BAD) {
      rc = add_problem(a, NULL, line, why);
    } else if (fmr_csv_reader_nfields(&r) != NFIELDS) {
      snprintf(why, sizeof why, "expected %d fields, got %zu", NFIELDS, fmr_csv_reader_nfields(&r));
      rc = add_problem(a, NULL, line, why);
    } else {
      field f[NFIELDS];
      for (int i = 0; i < NFIELDS; i++) {
        fmr_text t = fmr_csv_reader_field(&r, (size_t)i);
        f[i].s = t.s;
        f[i].n = t.n;
      }
      rc = take_row(&p, f, line);
    }
    if (rc) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s:%zu: out of memory", path, line);
      goto done;
    }
  }
  rc = finish(&p);
  if (rc) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  *out = a;
  a = NULL;
done:
  fmr_csv_reader_free(&r);
  free(p.key_ofs);
  free(p.keys);
  hmap_free(&p.row_map);
  for (size_t i = 0; i < p.nlabels; i++) free(p.labels[i]);
  free(p.labels);
  hmap_free(&p.label_map);
  hmap_free(&p.vol_map);
  fmr_annotations_free(&a);
  return rc;
}

void fmr_annotations_free(fmr_annotations **pa) {
  if (!pa || !*pa) return;
  fmr_annotations *a = *pa;
  for (size_t i = 0; i < a->nvols; i++) {
    vol *v = a->vols[i];
    free(v->name);
    free(v->boxes);
    free(v->study);
    free(v->all);
    free(v->problems);
    free(v);
  }
  free(a->vols);
  for (size_t i = 0; i < a->nvocab; i++) free(a->vocab[i]);
  free(a->vocab);
  for (size_t i = 0; i < a->nall; i++) free(a->all[i]);
  free(a->all);
  free(a->global);
  free(a->csv);
  free(a);
  *pa = NULL;
}

size_t fmr_annotations_vocab_size(const fmr_annotations *a) { return a ? a->nvocab : 0; }

const char *fmr_annotations_vocab(const fmr_annotations *a, size_t k) {
  return a && k < a->nvocab ? a->vocab[k] : NULL;
}

static int cmp_find(const void *key, const void *elem) {
  return strcmp((const char *)key, (*(vol *const *)elem)->name);
}

const fmr_volume_annotations *fmr_annotations_find(const fmr_annotations *a, const char *volume) {
  if (!a || !volume || !a->nvols) return NULL;
  vol *const *v = bsearch(volume, a->vols, a->nvols, sizeof *a->vols, cmp_find);
  return v ? &(*v)->pub : NULL;
}

size_t fmr_annotations_nvolumes(const fmr_annotations *a) { return a ? a->nvols : 0; }

const fmr_volume_annotations *fmr_annotations_volume(const fmr_annotations *a, size_t i) {
  return a && i < a->nvols ? &a->vols[i]->pub : NULL;
}

size_t fmr_annotations_nproblems(const fmr_annotations *a) { return a ? a->nglobal : 0; }

const char *fmr_annotations_problem(const fmr_annotations *a, size_t i) {
  return a && i < a->nglobal ? a->global[i] : NULL;
}

size_t fmr_annotations_nproblems_all(const fmr_annotations *a) { return a ? a->nall : 0; }

const char *fmr_annotations_problem_all(const fmr_annotations *a, size_t i) {
  return a && i < a->nall ? a->all[i] : NULL;
}

void fmr_annotations_totals(const fmr_annotations *a, fmr_annotation_totals *out) {
  if (a) {
    *out = a->totals;
  } else {
    memset(out, 0, sizeof *out);
  }
}

size_t fmr_mask_pixel_bytes(size_t nlabels) {
  if (nlabels <= 8) return 1;
  if (nlabels <= 16) return 2;
  if (nlabels <= 32) return 4;
  if (nlabels <= 64) return 8;
  return 0;
}

/* ---- rasterizing ----------------------------------------------------------------------------- */

/* The part of box b inside an h x w frame: rows [r0, r1), columns [c0, c1). */
typedef enum { BOX_DEGENERATE, BOX_OUTSIDE, BOX_CLIPPED, BOX_INSIDE } box_kind;

static box_kind clip_box(const fmr_box *b, long long h, long long w, long long *r0, long long *r1,
                         long long *c0, long long *c1) {
  if (b->width <= 0 || b->height <= 0) return BOX_DEGENERATE;
  long long x0 = b->x, x1 = (long long)b->x + b->width;
  long long y0 = b->y, y1 = (long long)b->y + b->height;
  *c0 = x0 < 0 ? 0 : x0;
  *c1 = x1 > w ? w : x1;
  *r0 = y0 < 0 ? 0 : y0;
  *r1 = y1 > h ? h : y1;
  if (*c0 >= *c1 || *r0 >= *r1) return BOX_OUTSIDE;
  if (*c0 != x0 || *c1 != x1 || *r0 != y0 || *r1 != y1) return BOX_CLIPPED;
  return BOX_INSIDE;
}

static void count_kind(fmr_raster_stats *st, box_kind k) {
  switch (k) {
    case BOX_DEGENERATE:
      st->degenerate++;
      break;
    case BOX_OUTSIDE:
      st->outside++;
      break;
    case BOX_CLIPPED:
      st->clipped++;
      st->drawn++;
      break;
    case BOX_INSIDE:
      st->drawn++;
      break;
  }
}

/* Frame sizes beyond this are not images; keeps every index product far from overflow. */
#define FRAME_LIMIT ((size_t)1 << 20)

void fmr_annotations_box_stats(const fmr_volume_annotations *va, size_t h, size_t w,
                               fmr_raster_stats *stats) {
  memset(stats, 0, sizeof *stats);
  if (!va) return;
  if (h > FRAME_LIMIT) h = FRAME_LIMIT;
  if (w > FRAME_LIMIT) w = FRAME_LIMIT;
  for (size_t i = 0; i < va->nboxes; i++) {
    long long r0, r1, c0, c1;
    count_kind(stats, clip_box(&va->boxes[i], (long long)h, (long long)w, &r0, &r1, &c0, &c1));
  }
}

/* Set `bit` on n consecutive pixels; returns how many did not have it yet. */
static uint64_t set_run(unsigned char *row, size_t n, size_t pixel_bytes, uint64_t bit) {
  uint64_t added = 0;
  switch (pixel_bytes) {
    case 1: {
      uint8_t *p = (uint8_t *)row, b = (uint8_t)bit;
      for (size_t i = 0; i < n; i++) {
        added += !(p[i] & b);
        p[i] |= b;
      }
      break;
    }
    case 2: {
      uint16_t *p = (uint16_t *)(void *)row, b = (uint16_t)bit;
      for (size_t i = 0; i < n; i++) {
        added += !(p[i] & b);
        p[i] |= b;
      }
      break;
    }
    case 4: {
      uint32_t *p = (uint32_t *)(void *)row, b = (uint32_t)bit;
      for (size_t i = 0; i < n; i++) {
        added += !(p[i] & b);
        p[i] |= b;
      }
      break;
    }
    default: {
      uint64_t *p = (uint64_t *)(void *)row;
      for (size_t i = 0; i < n; i++) {
        added += !(p[i] & bit);
        p[i] |= bit;
      }
      break;
    }
  }
  return added;
}

int fmr_annotations_rasterize(const fmr_volume_annotations *va, size_t slices, size_t h, size_t w,
                              int native_frame, void *mask, size_t pixel_bytes,
                              uint64_t *label_pixels, fmr_raster_stats *stats,
                              void (*problem)(void *ctx, const char *msg), void *ctx,
                              fmr_err *err) {
  fmr_raster_stats st;
  memset(&st, 0, sizeof st);
  if (stats) *stats = st;
  if (!va) return 0;
  const char *csv = va->csv ? va->csv : "(csv)";
  if (pixel_bytes != 1 && pixel_bytes != 2 && pixel_bytes != 4 && pixel_bytes != 8)
    return fmr_err_set(err, FMR_EINVAL, "%s: mask pixels of %zu bytes are not supported",
                       va->name, pixel_bytes);
  if (h > FRAME_LIMIT || w > FRAME_LIMIT || slices > FRAME_LIMIT)
    return fmr_err_set(err, FMR_EINVAL, "%s: mask of %zu x %zu x %zu is too large", va->name,
                       slices, h, w);
  if (va->nboxes && !mask)
    return fmr_err_set(err, FMR_EINVAL, "%s: no mask buffer", va->name);
  /* Check every label first so a failure leaves the mask as it was. */
  for (size_t i = 0; i < va->nboxes; i++) {
    int label = va->boxes[i].label;
    if (label < 0 || (size_t)label >= pixel_bytes * 8)
      return fmr_err_set(err, FMR_EINVAL,
                         "%s: %s:%zu: label index %d does not fit a %zu-bit mask pixel", va->name,
                         csv, va->boxes[i].line, label, pixel_bytes * 8);
  }
  unsigned char *m = mask;
  for (size_t i = 0; i < va->nboxes; i++) {
    const fmr_box *b = &va->boxes[i];
    if (b->slice < 0 || (unsigned long)b->slice >= slices) {
      st.bad_slice++;
      if (problem) {
        char msg[FMR_ERR_MSG_MAX];
        snprintf(msg, sizeof msg,
                 "%s: %s:%zu: slice %ld is out of range (the volume has %zu slices)", va->name,
                 csv, b->line, b->slice, slices);
        problem(ctx, msg);
      }
      continue;
    }
    long long r0, r1, c0, c1;
    box_kind k = clip_box(b, (long long)h, (long long)w, &r0, &r1, &c0, &c1);
    count_kind(&st, k);
    if (k == BOX_DEGENERATE || k == BOX_OUTSIDE) continue;
    uint64_t bit = (uint64_t)1 << b->label;
    uint64_t added = 0;
    for (long long r = r0; r < r1; r++) {
      size_t row = native_frame ? h - 1 - (size_t)r : (size_t)r;
      unsigned char *p = m + (((size_t)b->slice * h + row) * w + (size_t)c0) * pixel_bytes;
      added += set_run(p, (size_t)(c1 - c0), pixel_bytes, bit);
    }
    if (label_pixels) label_pixels[b->label] += added;
  }
  if (stats) *stats = st;
  return 0;
}
