/* fastmri-regen synth: write a synthetic fastMRI-format dataset for the demo and the tests.
 *
 * Volume names come from the command line or a fastMRI+ file list, so the annotation CSVs line up
 * with the synthetic files; with --slices-from every volume gets enough slices for its boxes. Each
 * file is written under the temporary name of fsutil (FMR_TMP_SUFFIX) and committed (fsync, rename,
 * directory fsync) by the same code as every output, so a killed run never leaves a file that
 * looks complete. No MPI here. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fmr/input/filelist.h"
#include "fmr/labels/annotations.h"
#include "fmr/cmd/cmd.h"
#include "fmr/cmd/opts.h"
#include "fmr/util/error.h"
#include "fmr/util/fsutil.h"
#include "fmr/recon/kspace.h"
#include "fmr/synth/synth.h"

#define SYNTH_SLICE_MARGIN 2   /* slices beyond the last annotated one */
#define SYNTH_MIN_SLICES 4     /* fewest slices with --slices-from */
#define SYNTH_MAX_NAME 200     /* leaves room for ".h5" FMR_TMP_SUFFIX within NAME_MAX */
#define SYNTH_MAX_INPUT (256u << 20)

typedef struct synth_args {
  const char *out, *names, *list, *slices_from, *acquisition;
  int anatomy; /* index into anatomies */
  size_t count, slices, coils, size[2], frame[2];
  int singlecoil, undersampled, chunked, subdirs;
  double noise;
  uint64_t seed;
} synth_args;

static const char *const anatomies[] = {"knee", "brain", NULL};

#define STR_(x) #x
#define STR(x) STR_(x)
static const fmr_opt synth_opts[] = {
    {"--out", "DIR", FMR_OPT_STRING, offsetof(synth_args, out), NULL,
     "output directory (created if missing); required", NULL, 0, 0},
    {"--anatomy", NULL, FMR_OPT_CHOICE, offsetof(synth_args, anatomy), "knee",
     "header, acquisition names and default sizes of this anatomy", anatomies, 0, 0},
    {"--names", "a,b,c", FMR_OPT_STRING, offsetof(synth_args, names), NULL,
     "volume names (give this or --list)", NULL, 0, 0},
    {"--list", "FILE", FMR_OPT_STRING, offsetof(synth_args, list), NULL,
     "a fastMRI+ file list, one name per line (give this or --names)", NULL, 0, 0},
    {"--count", "N", FMR_OPT_SIZE, offsetof(synth_args, count), NULL,
     "with --list: only the first N names (default: all)", NULL, 1, 0},
    {"--slices", "N", FMR_OPT_SIZE, offsetof(synth_args, slices), NULL,
     "slices per volume (default 8); with --slices-from the minimum (default "
     STR(SYNTH_MIN_SLICES) ")", NULL, 1, FMR_KSPACE_MAX_SLICES},
    {"--slices-from", "CSV", FMR_OPT_STRING, offsetof(synth_args, slices_from), NULL,
     "per volume: its last slice with a box in this fastMRI+ CSV + 1 + " STR(SYNTH_SLICE_MARGIN),
     NULL, 0, 0},
    {"--coils", "N", FMR_OPT_SIZE, offsetof(synth_args, coils), NULL,
     "receiver coils (default 4)", NULL, 1, FMR_KSPACE_MAX_COILS},
    {"--single-coil", NULL, FMR_OPT_FLAG, offsetof(synth_args, singlecoil), NULL,
     "single-coil layout: kspace (slices, H, W), reconstruction_esc", NULL, 0, 0},
    {"--size", "HxW", FMR_OPT_DIMS, offsetof(synth_args, size), NULL,
     "k-space size (default knee 640x368, brain 640x320)", NULL, 1, FMR_KSPACE_MAX_DIM},
    {"--frame", "hxw", FMR_OPT_DIMS, offsetof(synth_args, frame), NULL,
     "reconstruction / target frame (default 320x320)", NULL, 1, FMR_KSPACE_MAX_DIM},
    {"--acquisition", "ACQ", FMR_OPT_STRING, offsetof(synth_args, acquisition), NULL,
     "root attribute `acquisition` (default knee CORPD_FBK, brain from the name "
     "file_brain_<ACQ>_..., else AXFLAIR)", NULL, 0, 0},
    {"--undersampled", NULL, FMR_OPT_FLAG, offsetof(synth_args, undersampled), NULL,
     "a test-style file: `mask`, 4x equispaced k-space, no stored reconstruction", NULL, 0, 0},
    {"--chunked", NULL, FMR_OPT_FLAG, offsetof(synth_args, chunked), NULL,
     "one chunk per slice, shuffle + gzip 1 (default contiguous)", NULL, 0, 0},
    {"--noise", "X", FMR_OPT_DOUBLE, offsetof(synth_args, noise), "0.01",
     "relative complex noise level", NULL, 0, 0},
    {"--seed", "N", FMR_OPT_U64, offsetof(synth_args, seed), "1",
     "random seed; volumes also differ by name", NULL, 0, 0},
    {"--subdirs", NULL, FMR_OPT_FLAG, offsetof(synth_args, subdirs), NULL,
     "alternate files between DIR/batch0 and DIR/batch1", NULL, 0, 0},
};

const fmr_command fmr_cmd_synth_def = {
    "synth", "--out DIR (--names a,b | --list FILE) [options]",
    "write a synthetic fastMRI-format dataset",
    "Write synthetic volumes in the fastMRI HDF5 layout (kspace, reconstruction_rss, "
    "ismrmrd_header, root attributes), one <name>.h5 per volume, named after real fastMRI+ "
    "volumes so the annotation CSVs line up. Prints one line per file written.\n\n"
    "Exit status: 0 ok, 1 some file failed, 2 usage.",
    synth_opts, sizeof synth_opts / sizeof *synth_opts, 0, 0, fmr_cmd_synth};

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

  synth_args a = {0};
  a.count = SIZE_MAX;
  const char *pos[FMR_MAX_POSITIONAL];
  size_t npos = 0;
  int st = fmr_opts_parse(&fmr_cmd_synth_def, argc, argv, &a, pos, &npos);
  if (st) {
    rc = st == 1 ? FMR_EXIT_OK : st;
    goto done;
  }
  const char *out = a.out, *anatomy = anatomies[a.anatomy], *names_arg = a.names, *list = a.list;
  const char *slices_from = a.slices_from, *acquisition = a.acquisition;
  size_t count = a.count, slices = a.slices, coils = a.coils;
  size_t H = a.size[0], W = a.size[1], h = a.frame[0], w = a.frame[1];
  int singlecoil = a.singlecoil, undersampled = a.undersampled, chunked = a.chunked;
  int subdirs = a.subdirs, have_count = a.count != SIZE_MAX;
  int have_size = H != 0, have_frame = h != 0;
  double noise = a.noise;
  uint64_t seed = a.seed;

  if (!out) {
    fprintf(stderr, "fastmri-regen synth: --out DIR is required (see fastmri-regen synth --help)\n");
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

  if (fmr_mkdirs(out, &err) != 0) {
    fprintf(stderr, "fastmri-regen synth: %s\n", err.msg);
    rc = FMR_EXIT_FAILED;
    goto done;
  }
  size_t failed = 0;
  for (size_t k = 0; k < names.n; k++) {
    const char *name = names.v[k];
    char sub[32] = "";
    if (subdirs) snprintf(sub, sizeof sub, "/batch%zu", k % 2);
    size_t plen = strlen(out) + strlen(sub) + strlen(name) + 16 + sizeof FMR_TMP_SUFFIX;
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
    if (subdirs && fmr_mkdirs(final_path, &err) != 0) {
      fprintf(stderr, "fastmri-regen synth: %s\n", err.msg);
      failed++;
      continue;
    }
    snprintf(final_path, plen, "%s%s/%s.h5", out, sub, name);
    snprintf(tmp_path, plen, "%s" FMR_TMP_SUFFIX, final_path);
    o.slices = slices_from ? slices_for(ann, name, min_slices) : min_slices;
    fmr_err_clear(&err);
    if (fmr_synth_volume(tmp_path, name, &o, &err) != 0) {
      fprintf(stderr, "fastmri-regen synth: %s: %s\n", name, err.msg);
      failed++;
      continue;
    }
    if (fmr_commit_file(tmp_path, final_path, &err) != 0) { /* removes the temporary */
      fprintf(stderr, "fastmri-regen synth: %s: %s\n", name, err.msg);
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
