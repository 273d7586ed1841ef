/* fastMRI+ file lists (SPEC 2.3) and the index of "<name>.h5" files under the input directories. */
#include "fmr/input/filelist.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fmr/util/text.h"

/* A volume name becomes "<name>.h5", which must fit in one directory entry (NAME_MAX 255). */
#define NAME_LIMIT 252

int fmr_volume_name_valid(const char *name) {
  if (!name || !name[0]) return 0;
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
  /* " file1000001" would silently become a volume of its own in the CSV. */
  if (name[0] == ' ' || name[strlen(name) - 1] == ' ') return 0;
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++, n++) {
    if (*p == '/' || *p < 0x20 || *p == 0x7f) return 0;
  }
  return n <= NAME_LIMIT;
}

int fmr_volume_name_plain(const char *name) {
  if (!fmr_volume_name_valid(name)) return 0;
  unsigned char c0 = (unsigned char)name[0];
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9')))
    return 0;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    unsigned char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    if (!ok) return 0;
  }
  return 1;
}

/* Exact-match set of names for removing duplicates in O(n). */
typedef struct name_set {
  size_t cap;
  const char **slot;
} name_set;

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* 1 when inserted, 0 when already present, FMR_ENOMEM. The set only borrows the strings. */
static int name_set_add(name_set *s, const char *name, size_t used) {
  if ((used + 1) * 2 > s->cap) {
    size_t ncap = s->cap ? s->cap * 2 : 64;
    const char **nslot = calloc(ncap, sizeof *nslot);
    if (!nslot) return FMR_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->slot[i]) continue;
      size_t j = hash_bytes(s->slot[i], strlen(s->slot[i])) & (ncap - 1);
      while (nslot[j]) j = (j + 1) & (ncap - 1);
      nslot[j] = s->slot[i];
    }
    free(s->slot);
    s->slot = nslot;
    s->cap = ncap;
  }
  size_t j = hash_bytes(name, strlen(name)) & (s->cap - 1);
  while (s->slot[j]) {
    if (strcmp(s->slot[j], name) == 0) return 0;
    j = (j + 1) & (s->cap - 1);
  }
  s->slot[j] = name;
  return 1;
}

static int add_skip(fmr_filelist *fl, size_t *cap, size_t line, const char *s, size_t n) {
  if (fl->nskipped == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    fmr_filelist_skip *ns = realloc(fl->skipped, ncap * sizeof *ns);
    if (!ns) return FMR_ENOMEM;
    fl->skipped = ns;
    *cap = ncap;
  }
  char q[256];
  fmr_text_quote(q, sizeof q, s, n, 64);
  char *t = strdup(q);
  if (!t) return FMR_ENOMEM;
  fl->skipped[fl->nskipped].line = line;
  fl->skipped[fl->nskipped].text = t;
  fl->nskipped++;
  return 0;
}

int fmr_filelist_parse(const char *path, const char *data, size_t len, fmr_filelist *out,
                       fmr_err *err) {
  return fmr_filelist_parse_limited(path, data, len, NULL, out, err);
}

int fmr_filelist_parse_limited(const char *path, const char *data, size_t len,
                               const fmr_limits *limits, fmr_filelist *out, fmr_err *err) {
  int rc = 0;
  fmr_filelist fl;
  memset(&fl, 0, sizeof fl);
  size_t cap = 0, skip_cap = 0, nlines = 0;
  name_set seen = {0, NULL};
  char *name = NULL;
  const size_t max_names = fmr_limits_or_default(limits)->list_names;
  memset(out, 0, sizeof *out);
  if (!path) path = "(file list)";
  if (!data) len = 0;
  fl.path = strdup(path);
  if (!fl.path) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
  size_t pos = 0, line = 0;
  if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* spreadsheet exports add a BOM */
  while (pos < len) {
    line++;
    const char *eol = memchr(data + pos, '\n', len - pos);
    size_t end = eol ? (size_t)(eol - data) : len;
    fmr_text t = fmr_text_trim(data + pos, end - pos);
    pos = eol ? end + 1 : len;
    if (t.n == 0) continue;
    if (++nlines > max_names) {
      rc = fmr_err_set(err, FMR_ERANGE, "%s:%zu: more than %zu names (limits.list_names)", path,
                       line, max_names);
      goto done;
    }
    name = malloc(t.n + 1);
    if (!name) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s:%zu: out of memory", path, line);
      goto done;
    }
    memcpy(name, t.s, t.n);
    name[t.n] = '\0';
    if (memchr(t.s, '\0', t.n) || !fmr_volume_name_valid(name)) {
      char q[256];
      fmr_text_quote(q, sizeof q, t.s, t.n, SIZE_MAX);
      rc = fmr_err_set(err, FMR_EINVAL,
                       "%s:%zu: invalid volume name \"%s\" (must be a plain file name without "
                       "'/', control characters, \".\" or \"..\", at most %d bytes)",
                       path, line, q, NAME_LIMIT);
      goto done;
    }
    if (!fmr_volume_name_plain(name)) { /* e.g. "Knee data": a note, not a volume */
      free(name);
      name = NULL;
      if (add_skip(&fl, &skip_cap, line, t.s, t.n)) {
        rc = fmr_err_set(err, FMR_ENOMEM, "%s:%zu: out of memory", path, line);
        goto done;
      }
      continue;
    }
    int added = name_set_add(&seen, name, fl.n);
    if (added < 0) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s:%zu: out of memory", path, line);
      goto done;
    }
    if (!added) { /* a repeated name is harmless: the first occurrence decides the order */
      free(name);
      name = NULL;
      continue;
    }
    if (fl.n == cap) {
      size_t ncap = cap ? cap * 2 : 256;
      char **nn = realloc(fl.names, ncap * sizeof *nn);
      if (!nn) {
        rc = fmr_err_set(err, FMR_ENOMEM, "%s:%zu: out of memory", path, line);
        goto done;
      }
      fl.names = nn;
      cap = ncap;
    }
    fl.names[fl.n++] = name;
    name = NULL;
  }
  *out = fl;
  memset(&fl, 0, sizeof fl);
done:
  free(name);
  free(seen.slot);
  fmr_filelist_free(&fl);
  return rc;
}

void fmr_filelist_free(fmr_filelist *fl) {
  if (!fl) return;
  for (size_t i = 0; i < fl->n; i++) free(fl->names[i]);
  free(fl->names);
  for (size_t i = 0; i < fl->nskipped; i++) free(fl->skipped[i].text);
  free(fl->skipped);
  free(fl->path);
  memset(fl, 0, sizeof *fl);
}

/* ---- file index ------------------------------------------------------------------------------ */

typedef struct index_entry {
  char *name; /* stem */
  char *path; /* input dir + "/" + rel */
  char *rel;  /* relative to its input directory */
  size_t order; /* walk order, so ties sort deterministically */
  dev_t dev;
  ino_t ino;
} index_entry;

typedef struct unique_name {
  const char *name;
  size_t first, count; /* range in entries[] (distinct files only) */
} unique_name;

struct fmr_file_index {
  size_t nentries, cap;
  index_entry *entries;
  size_t nnames;
  unique_name *names;
};

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join3(const char *a, const char *sep, const char *b) {
  size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
  char *s = malloc(la + ls + lb + 1);
  if (!s) return NULL;
  memcpy(s, a, la);
  memcpy(s + la, sep, ls);
  memcpy(s + la + ls, b, lb + 1);
  return s;
}

static int index_add(fmr_file_index *ix, const char *stem, const char *path, const char *rel,
                     const struct stat *st, fmr_err *err) {
  if (ix->nentries == ix->cap) {
    size_t ncap = ix->cap ? ix->cap * 2 : 256;
    index_entry *ne = realloc(ix->entries, ncap * sizeof *ne);
    if (!ne) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
    ix->entries = ne;
    ix->cap = ncap;
  }
  index_entry *e = &ix->entries[ix->nentries];
  e->name = strdup(stem);
  e->path = strdup(path);
  e->rel = strdup(rel);
  e->order = ix->nentries;
  e->dev = st->st_dev;
  e->ino = st->st_ino;
  if (!e->name || !e->path || !e->rel) {
    free(e->name);
    free(e->path);
    free(e->rel);
    return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
  }
  ix->nentries++;
  return 0;
}

/* Depth-first over one directory; `dir` is the filesystem path, `rel` the same relative to the
 * input directory ("" at the top). Names are sorted so the walk does not depend on readdir
 * order. */
static int walk_dir(fmr_file_index *ix, const char *dir, const char *rel, fmr_err *err) {
  int rc = 0;
  size_t n = 0, cap = 0;
  char **names = NULL;
  char *child = NULL, *child_rel = NULL;
  DIR *d = opendir(dir[0] ? dir : "/");
  if (!d) return fmr_err_set(err, errno == ENOENT ? FMR_ENOENT : FMR_EIO,
                             "%s: cannot read input directory: %s", dir, strerror(errno));
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno) {
        rc = fmr_err_set(err, FMR_EIO, "%s: cannot read input directory: %s", dir,
                         strerror(errno));
        goto done;
      }
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      char **nn = realloc(names, ncap * sizeof *nn);
      if (!nn) {
        rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", dir);
        goto done;
      }
      names = nn;
      cap = ncap;
    }
    names[n] = strdup(de->d_name);
    if (!names[n]) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", dir);
      goto done;
    }
    n++;
  }
  if (n > 1) qsort(names, n, sizeof *names, cmp_cstr);
  for (size_t i = 0; i < n; i++) {
    child = join3(dir, "/", names[i]);
    child_rel = rel[0] ? join3(rel, "/", names[i]) : strdup(names[i]);
    if (!child || !child_rel) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", dir);
      goto done;
    }
    struct stat st;
    if (lstat(child, &st) != 0) {
      /* Vanished between readdir and lstat: as if it had never been there. */
      if (errno != ENOENT) {
        rc = fmr_err_set(err, FMR_EIO, "%s: %s", child, strerror(errno));
        goto done;
      }
    } else if (S_ISDIR(st.st_mode)) {
      rc = walk_dir(ix, child, child_rel, err);
      if (rc) goto done;
    } else {
      size_t ln = strlen(names[i]);
      int h5 = ln > 3 && strcmp(names[i] + ln - 3, ".h5") == 0;
      /* A symlinked file counts (datasets are often assembled from links); a symlinked
       * directory does not, so the walk cannot loop or escape the input directory. */
      if (h5 && S_ISLNK(st.st_mode) && (stat(child, &st) != 0 || !S_ISREG(st.st_mode))) h5 = 0;
      if (h5 && S_ISREG(st.st_mode)) {
        names[i][ln - 3] = '\0';
        if (fmr_volume_name_valid(names[i])) {
          rc = index_add(ix, names[i], child, child_rel, &st, err);
          if (rc) goto done;
        }
      }
    }
    free(child);
    free(child_rel);
    child = child_rel = NULL;
  }
done:
  free(child);
  free(child_rel);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  closedir(d);
  return rc;
}

static int cmp_entry(const void *pa, const void *pb) {
  const index_entry *a = pa, *b = pb;
  int c = strcmp(a->name, b->name);
  if (c) return c;
  return a->order < b->order ? -1 : a->order > b->order;
}

int fmr_file_index_build(const char *const *dirs, size_t ndirs, fmr_file_index **out,
                         fmr_err *err) {
  int rc = 0;
  char *top = NULL;
  *out = NULL;
  fmr_file_index *ix = calloc(1, sizeof *ix);
  if (!ix) return fmr_err_set(err, FMR_ENOMEM, "file index: out of memory");
  for (size_t i = 0; i < ndirs; i++) {
    if (!dirs[i] || !dirs[i][0]) {
      rc = fmr_err_set(err, FMR_EINVAL, "input directory %zu: empty path", i + 1);
      goto done;
    }
    top = strdup(dirs[i]);
    if (!top) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", dirs[i]);
      goto done;
    }
    /* "data/" and "data" must give the same paths. */
    size_t lt = strlen(top);
    while (lt > 1 && top[lt - 1] == '/') top[--lt] = '\0';
    struct stat st;
    if (stat(top, &st) != 0) {
      rc = fmr_err_set(err, errno == ENOENT ? FMR_ENOENT : FMR_EIO,
                       "%s: cannot read input directory: %s", dirs[i], strerror(errno));
      goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
      rc = fmr_err_set(err, FMR_EINVAL, "%s: input directory is not a directory", dirs[i]);
      goto done;
    }
    rc = walk_dir(ix, strcmp(top, "/") == 0 ? "" : top, "", err);
    if (rc) goto done;
    free(top);
    top = NULL;
  }
  if (ix->nentries > 1) qsort(ix->entries, ix->nentries, sizeof *ix->entries, cmp_entry);
  /* Group by stem. The same file reached twice (a symlink to it, or nested input directories) is
   * one file, not an ambiguity: keep the first path the walk met. */
  ix->names = malloc((ix->nentries ? ix->nentries : 1) * sizeof *ix->names);
  if (!ix->names) {
    rc = fmr_err_set(err, FMR_ENOMEM, "file index: out of memory");
    goto done;
  }
  size_t w = 0;
  for (size_t i = 0; i < ix->nentries;) {
    size_t j = i;
    size_t first = w;
    while (j < ix->nentries && strcmp(ix->entries[j].name, ix->entries[i].name) == 0) {
      int same = 0;
      for (size_t k = first; k < w && !same; k++)
        same = ix->entries[k].dev == ix->entries[j].dev && ix->entries[k].ino == ix->entries[j].ino;
      if (same) {
        free(ix->entries[j].name);
        free(ix->entries[j].path);
        free(ix->entries[j].rel);
      } else {
        ix->entries[w++] = ix->entries[j];
      }
      j++;
    }
    ix->names[ix->nnames].name = ix->entries[first].name;
    ix->names[ix->nnames].first = first;
    ix->names[ix->nnames].count = w - first;
    ix->nnames++;
    i = j;
  }
  ix->nentries = w;
  *out = ix;
  ix = NULL;
done:
  free(top);
  fmr_file_index_free(&ix);
  return rc;
}

void fmr_file_index_free(fmr_file_index **pix) {
  if (!pix || !*pix) return;
  fmr_file_index *ix = *pix;
  for (size_t i = 0; i < ix->nentries; i++) {
    free(ix->entries[i].name);
    free(ix->entries[i].path);
    free(ix->entries[i].rel);
  }
  free(ix->entries);
  free(ix->names);
  free(ix);
  *pix = NULL;
}

static int cmp_key_name(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const unique_name *)elem)->name);
}

int fmr_file_index_find(const fmr_file_index *ix, const char *name, const char **path,
                        const char **rel, fmr_err *err) {
  if (path) *path = NULL;
  if (rel) *rel = NULL;
  if (!ix || !name) return fmr_err_set(err, FMR_EINVAL, "file index: invalid argument");
  const unique_name *u =
      ix->nnames ? bsearch(name, ix->names, ix->nnames, sizeof *ix->names, cmp_key_name) : NULL;
  if (!u) return fmr_err_set(err, FMR_ENOENT, "%s.h5: not found under the input directories", name);
  if (u->count > 1) {
    fmr_err_set(err, FMR_EINVAL, "%s.h5: ambiguous, found %zu times:", name, u->count);
    for (size_t k = 0; k < u->count && err; k++) {
      size_t used = strlen(err->msg);
      snprintf(err->msg + used, sizeof err->msg - used, " %s", ix->entries[u->first + k].path);
    }
    return FMR_EINVAL;
  }
  if (path) *path = ix->entries[u->first].path;
  if (rel) *rel = ix->entries[u->first].rel;
  return 0;
}

size_t fmr_file_index_count(const fmr_file_index *ix) { return ix ? ix->nnames : 0; }

const char *fmr_file_index_name(const fmr_file_index *ix, size_t i) {
  return ix && i < ix->nnames ? ix->names[i].name : NULL;
}
