/* fastmri-regen synth: write a synthetic fastMRI-format dataset for the demo and the tests.
 *
 * Volume names come from the command line or a fastMRI+ file list, so the annotation CSVs line up
 * with the synthetic files; with --slices-from every volume gets enough slices for its boxes. Each
 * file is written to "<name>.h5.tmp" and renamed into place, so a killed run never leaves a file
 * that looks complete. No MPI here. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fmr/input/filelist.h"
#include "fmr/labels/annotations.h"
#include "fmr/cmd/cmd.h"
#include "fmr/util/error.h"
#include "fmr/util/fsutil.h"
#include "fmr/recon/kspace.h"
#include "fmr/synth/synth.h"

#define SYNTH_SLICE_MARGIN 2   /* slices beyond the last annotated one */
#define SYNTH_MIN_SLICES 4     /* fewest slices with --slices-from */
#define SYNTH_MAX_NAME 200     /* leaves room for ".h5.tmp" within NAME_MAX */
#define SYNTH_MAX_INPUT (256u << 20)

static void usage(FILE *f) {
  fprintf(f,
          "usage: fastmri-regen synth --out DIR [options]\n"
          "\n"
          "Write synthetic volumes in the fastMRI HDF5 layout (kspace, reconstruction_rss,\n"
          "ismrmrd_header, root attributes), one <name>.h5 per volume.\n"
          "\n"
          "  --out DIR            output directory (created if missing)\n"
          "  --anatomy A          knee (default) or brain\n"
          "  --names a,b,c        volume names, or:\n"
          "  --list FILE          a fastMRI+ file list (one name per line) ...\n"
          "  --count N            ... of which the first N names (default: all)\n"
          "  --slices N           slices per volume (default 8); with --slices-from, the minimum\n"
          "                       (default %d)\n"
          "  --slices-from CSV    per volume: last slice with a box in this fastMRI+ CSV + 1 + %d\n"
          "  --coils N            receiver coils (default 4)\n"
          "  --single-coil        single-coil layout (kspace (slices, H, W), reconstruction_esc)\n"
          "  --size HxW           k-space size (default knee 640x368, brain 640x320)\n"
          "  --frame hxw          reconstruction / target frame (default 320x320)\n"
          "  --acquisition ACQ    root attribute `acquisition` (default knee CORPD_FBK, brain from\n"
          "                       the name file_brain_<ACQ>_..., else AXFLAIR)\n"
          "  --undersampled       test-style file: `mask`, 4x equispaced k-space, no recon\n"
          "  --chunked            one chunk per slice, shuffle + gzip 1 (default contiguous)\n"
          "  --noise X            relative complex noise level (default 0.01)\n"
          "  --seed N             seed (default 1); volumes also differ by name\n"
          "  --subdirs            alternate files between DIR/batch0 and DIR/batch1\n"
          "\n"
          "Prints one line per file written. Exit status: 0 ok, %d some file failed, %d usage.\n",
          SYNTH_MIN_SLICES, SYNTH_SLICE_MARGIN, FMR_EXIT_FAILED, FMR_EXIT_USAGE);
}

/* SPEC 2.3 through the file list's own rule (a plain name of fastMRI's form), short enough for
 * the temporary suffix. */
static int name_valid(const char *name) {
  return strlen(name) <= SYNTH_MAX_NAME && fmr_volume_name_plain(name);
}

typedef struct name_list {
  size_t n, cap;
  char **v;
} name_list;

static void names_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

/* Append a copy of s[0..len); a repeated name is skipped (it would overwrite the same file). */
static int names_add(name_list *l, const char *s, size_t len) {
  for (size_t i = 0; i < l->n; i++)
    if (strlen(l->v[i]) == len && memcmp(l->v[i], s, len) == 0) return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) return FMR_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  char *c = malloc(len + 1);
  if (!c) return FMR_ENOMEM;
  memcpy(c, s, len);
  c[len] = '\0';
  l->v[l->n++] = c;
  return 0;
}

/* The first `count` names of a file list, read by the run's own parser (SPEC 2.3); lines that
 * name no volume (the knee list's "Knee data") are skipped as a run skips them. */
static int names_from_list(const char *path, size_t count, name_list *l, fmr_err *err) {
  char *data = NULL;
  size_t len = 0;
  fmr_filelist fl = {0};
  int rc = fmr_read_file(path, SYNTH_MAX_INPUT, &data, &len, err);
  if (!rc) rc = fmr_filelist_parse(path, data, len, &fl, err);
  for (size_t i = 0; !rc && i < fl.n && l->n < count; i++) {
    if (!name_valid(fl.names[i])) {
      rc = fmr_err_set(err, FMR_EINVAL, "%s: \"%s\" is longer than %d bytes", path,
                       fl.names[i], SYNTH_MAX_NAME);
    } else if (names_add(l, fl.names[i], strlen(fl.names[i]))) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
    }
  }
  fmr_filelist_free(&fl);
  free(data);
  return rc;
}

static int names_from_arg(const char *arg, name_list *l, fmr_err *err) {
  for (const char *p = arg;;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char name[SYNTH_MAX_NAME + 1];
    if (n == 0 || n > SYNTH_MAX_NAME)
      return fmr_err_set(err, FMR_EINVAL, "--names: empty or over-long name in '%s'", arg);
    memcpy(name, p, n);
    name[n] = '\0';
    if (!name_valid(name))
      return fmr_err_set(err, FMR_EINVAL, "--names: '%s' is not a valid volume name", name);
    if (names_add(l, p, n)) return fmr_err_set(err, FMR_ENOMEM, "--names: out of memory");
    if (!e) return 0;
    p = e + 1;
  }
}

/* Digits only (no sign, no blanks), within [lo, hi]. */
static int parse_size(const char *s, size_t lo, size_t hi, size_t *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = (size_t)v;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = (uint64_t)v;
  return 0;
}

/* "640x368" */
static int parse_dims(const char *s, size_t *a, size_t *b) {
  const char *x = s ? strchr(s, 'x') : NULL;
  if (!x || x == s) return -1;
  char first[32];
  size_t n = (size_t)(x - s);
  if (n >= sizeof first) return -1;
  memcpy(first, s, n);
  first[n] = '\0';
  if (parse_size(first, 1, FMR_KSPACE_MAX_DIM, a) || parse_size(x + 1, 1, FMR_KSPACE_MAX_DIM, b))
    return -1;
  return 0;
}

/* "--opt value" or "--opt=value": 1 when argv[*i] is `opt`, with *val set (NULL if missing). */
static int match_opt(int argc, char **argv, int *i, const char *opt, const char **val) {
  size_t n = strlen(opt);
  const char *a = argv[*i];
  if (strncmp(a, opt, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  *val = *i + 1 < argc ? argv[++*i] : NULL;
  return 1;
}

/* mkdir -p */
static int make_dirs(const char *dir, fmr_err *err) {
  size_t n = strlen(dir);
  char *p = malloc(n + 1);
  if (!p) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", dir);
  memcpy(p, dir, n + 1);
  int rc = 0;
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      rc = fmr_err_set(err, FMR_EIO, "%s: cannot create directory: %s", p, strerror(errno));
      break;
    }
    p[i] = c;
  }
  struct stat st;
  if (rc == 0 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
    rc = fmr_err_set(err, FMR_EIO, "%s: not a directory", dir);
  free(p);
  return rc;
}

/* Slices for a volume: enough to hold its last annotated box, at least `min`. */
static size_t slices_for(const fmr_annotations *ann, const char *name, size_t min) {
  const fmr_volume_annotations *va = ann ? fmr_annotations_find(ann, name) : NULL;
  long last = -1;
  if (va)
    for (size_t i = 0; i < va->nboxes; i++)
      if (va->boxes[i].slice > last) last = va->boxes[i].slice;
  size_t want = last >= 0 ? (size_t)last + 1 + SYNTH_SLICE_MARGIN : 0;
  return want > min ? want : min;
}

int fmr_cmd_synth(int argc, char **argv) {
  int rc = FMR_EXIT_USAGE;
  fmr_err err;
  fmr_err_clear(&err);
  name_list names = {0};
  fmr_annotations *ann = NULL;
  char *csv = NULL, *final_path = NULL, *tmp_path = NULL;

  const char *out = NULL, *anatomy = "knee", *names_arg = NULL, *list = NULL, *slices_from = NULL;
  const char *acquisition = NULL;
  size_t count = SIZE_MAX, slices = 0, coils = 0, H = 0, W = 0, h = 0, w = 0;
  int singlecoil = 0, undersampled = 0, chunked = 0, subdirs = 0, have_count = 0;
  double noise = -1.0;
  uint64_t seed = 1;
  int have_size = 0, have_frame = 0;

  for (int i = 1; i < argc; i++) {
    const char *v = NULL, *a = argv[i];
    int bad = 0;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      rc = FMR_EXIT_OK;
      goto done;
    } else if (match_opt(argc, argv, &i, "--out", &v)) {
      bad = !v || !*v;
      out = v;
    } else if (match_opt(argc, argv, &i, "--anatomy", &v)) {
      bad = !v || (strcmp(v, "knee") != 0 && strcmp(v, "brain") != 0);
      anatomy = v;
    } else if (match_opt(argc, argv, &i, "--names", &v)) {
      bad = !v;
      names_arg = v;
    } else if (match_opt(argc, argv, &i, "--list", &v)) {
      bad = !v || !*v;
      list = v;
    } else if (match_opt(argc, argv, &i, "--count", &v)) {
      bad = parse_size(v, 1, SIZE_MAX, &count) != 0;
      have_count = 1;
    } else if (match_opt(argc, argv, &i, "--slices", &v)) {
      bad = parse_size(v, 1, FMR_KSPACE_MAX_SLICES, &slices) != 0;
    } else if (match_opt(argc, argv, &i, "--slices-from", &v)) {
      bad = !v || !*v;
      slices_from = v;
    } else if (match_opt(argc, argv, &i, "--coils", &v)) {
      bad = parse_size(v, 1, FMR_KSPACE_MAX_COILS, &coils) != 0;
    } else if (match_opt(argc, argv, &i, "--size", &v)) {
      bad = parse_dims(v, &H, &W) != 0;
      have_size = 1;
    } else if (match_opt(argc, argv, &i, "--frame", &v)) {
      bad = parse_dims(v, &h, &w) != 0;
      have_frame = 1;
    } else if (match_opt(argc, argv, &i, "--acquisition", &v)) {
      bad = !v || !*v;
      acquisition = v;
    } else if (match_opt(argc, argv, &i, "--noise", &v)) {
      char *end = NULL;
      noise = v ? strtod(v, &end) : -1.0;
      bad = !v || !*v || *end || !isfinite(noise) || noise < 0.0;
    } else if (match_opt(argc, argv, &i, "--seed", &v)) {
      bad = parse_u64(v, &seed) != 0;
    } else if (strcmp(a, "--single-coil") == 0) {
      singlecoil = 1;
    } else if (strcmp(a, "--undersampled") == 0) {
      undersampled = 1;
    } else if (strcmp(a, "--chunked") == 0) {
      chunked = 1;
    } else if (strcmp(a, "--subdirs") == 0) {
      subdirs = 1;
    } else {
      fprintf(stderr, "fastmri-regen synth: unknown option '%s'\n", a);
      usage(stderr);
      goto done;
    }
    if (bad) {
      fprintf(stderr, "fastmri-regen synth: bad or missing value for %s\n", a);
      goto done;
    }
  }
  if (!out) {
    fprintf(stderr, "fastmri-regen synth: --out DIR is required\n");
    usage(stderr);
    goto done;
  }
  if (!names_arg == !list) {
    fprintf(stderr, "fastmri-regen synth: give exactly one of --names and --list\n");
    goto done;
  }
  if (have_count && !list) {
    fprintf(stderr, "fastmri-regen synth: --count goes with --list\n");
    goto done;
  }
  if (singlecoil && coils > 1) {
    fprintf(stderr, "fastmri-regen synth: --single-coil with --coils %zu\n", coils);
    goto done;
  }

  fmr_synth_opts o;
  fmr_synth_defaults(anatomy, &o);
  if (have_size) {
    o.H = H;
    o.W = W;
  }
  if (have_frame) {
    o.h = h;
    o.w = w;
  }
  if (coils) o.coils = coils;
  if (singlecoil) {
    o.singlecoil = 1;
    o.coils = 1;
  }
  if (noise >= 0.0) o.noise = noise;
  o.seed = seed;
  o.undersampled = undersampled;
  o.chunked = chunked;
  o.acquisition = acquisition;
  size_t min_slices = slices ? slices : (slices_from ? SYNTH_MIN_SLICES : o.slices);
  o.slices = min_slices;
  if (fmr_synth_check(&o, &err) != 0) { /* before anything is written */
    fprintf(stderr, "fastmri-regen %s\n", err.msg); /* the message starts with "synth: " */
    goto done;
  }

  if ((names_arg ? names_from_arg(names_arg, &names, &err)
                 : names_from_list(list, count, &names, &err)) != 0) {
    fprintf(stderr, "fastmri-regen synth: %s\n", err.msg);
    goto done;
  }
  if (names.n == 0) {
    fprintf(stderr, "fastmri-regen synth: no volume names in %s\n", list ? list : "--names");
    goto done;
  }
  if (slices_from) {
    size_t len = 0;
    if (fmr_read_file(slices_from, SYNTH_MAX_INPUT, &csv, &len, &err) != 0 ||
        fmr_annotations_parse(slices_from, csv, len, &ann, &err) != 0) {
      fprintf(stderr, "fastmri-regen synth: %s\n", err.msg);
      goto done;
    }
  }

  if (make_dirs(out, &err) != 0) {
    fprintf(stderr, "fastmri-regen synth: %s\n", err.msg);
    rc = FMR_EXIT_FAILED;
    goto done;
  }
  size_t failed = 0;
  for (size_t k = 0; k < names.n; k++) {
    const char *name = names.v[k];
    char sub[32] = "";
    if (subdirs) snprintf(sub, sizeof sub, "/batch%zu", k % 2);
    size_t plen = strlen(out) + strlen(sub) + strlen(name) + 16;
    free(final_path);
    free(tmp_path);
    final_path = malloc(plen);
    tmp_path = malloc(plen);
    if (!final_path || !tmp_path) {
      fprintf(stderr, "fastmri-regen synth: out of memory\n");
      rc = FMR_EXIT_FAILED;
      goto done;
    }
    snprintf(final_path, plen, "%s%s", out, sub);
    if (subdirs && make_dirs(final_path, &err) != 0) {
      fprintf(stderr, "fastmri-regen synth: %s\n", err.msg);
      failed++;
      continue;
    }
    snprintf(final_path, plen, "%s%s/%s.h5", out, sub, name);
    snprintf(tmp_path, plen, "%s.tmp", final_path);
    o.slices = slices_from ? slices_for(ann, name, min_slices) : min_slices;
    fmr_err_clear(&err);
    if (fmr_synth_volume(tmp_path, name, &o, &err) != 0) {
      fprintf(stderr, "fastmri-regen synth: %s: %s\n", name, err.msg);
      failed++;
      continue;
    }
    if (rename(tmp_path, final_path) != 0) {
      fprintf(stderr, "fastmri-regen synth: %s: cannot rename to %s: %s\n", tmp_path, final_path,
              strerror(errno));
      remove(tmp_path);
      failed++;
      continue;
    }
    if (o.singlecoil)
      printf("%s: %zu x %zu x %zu single-coil%s%s\n", final_path, o.slices, o.H, o.W,
             o.undersampled ? ", undersampled" : "", o.chunked ? ", chunked" : "");
    else
      printf("%s: %zu x %zu x %zu x %zu%s%s\n", final_path, o.slices, o.coils, o.H, o.W,
             o.undersampled ? ", undersampled" : "", o.chunked ? ", chunked" : "");
    fflush(stdout);
  }
  rc = failed ? FMR_EXIT_FAILED : FMR_EXIT_OK;

done:
  free(tmp_path);
  free(final_path);
  fmr_annotations_free(&ann);
  free(csv);
  names_free(&names);
  return rc;
}
