/* YAML configuration: one table describes every key; one pass over the libyaml document tree checks
 * names, types and requirements and fills fmr_config. */
#include "fmr/input/config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fmr/util/text.h"

typedef enum { T_STRING, T_PATH, T_PATHLIST, T_BOOL, T_ENUM, T_SIZE } key_type;

typedef struct key_spec {
  const char *name;         /* dotted path, e.g. "input.dirs" */
  key_type type;
  size_t offset;            /* into fmr_config */
  int required;
  const char *def;          /* default as YAML text; NULL: none */
  const char *const *choices; /* T_ENUM: NULL-terminated; the value stored is the index */
  const char *help;
  unsigned long long lo, hi; /* T_SIZE: the accepted range */
} key_spec;

static const char *const anatomy_choices[] = {"knee", "brain", NULL};
static const char *const source_choices[] = {"kspace", "reconstruction_rss", "reconstruction_esc",
                                             NULL};
static const char *const effort_choices[] = {"estimate", "measure", "patient", NULL};
static const char *const frame_choices[] = {"image", "native", NULL};
static const char *const level_choices[] = {"error", "warn", "info", "debug", NULL};

#define OFF(field) offsetof(fmr_config, field)
/* A size under limits:, stored in fmr_config.limits (defaults equal fmr_limits_default's). */
#define LIMIT(key, field, def_text, max, help_text)                                             \
  {.name = key, .type = T_SIZE, .offset = OFF(limits.field), .def = def_text, .help = help_text, \
   .lo = 1, .hi = (max)}

/* The one description of the configuration. README "Configuration" mirrors it (`fastmri-regen run
 * --print-config-reference` prints this table). */
static const key_spec keys[] = {
    {"anatomy", T_ENUM, OFF(anatomy), 1, NULL, anatomy_choices,
     "knee | brain: which label vocabulary and nominal geometry apply", 0, 0},
    {"input.dirs", T_PATHLIST, OFF(input_dirs), 1, NULL, NULL,
     "directories searched recursively for <name>.h5", 0, 0},
    {"input.file_list", T_PATH, OFF(file_list), 0, NULL, NULL,
     "fastMRI+ file list (one volume name per line); required unless input.all_files", 0, 0},
    {"input.annotations", T_PATH, OFF(annotations), 1, NULL, NULL, "fastMRI+ annotation CSV", 0, 0},
    {"input.all_files", T_BOOL, OFF(all_files), 0, "false", NULL,
     "also process every <name>.h5 under input.dirs that the file list does not name "
     "(marked not reviewed, no masks)", 0, 0},
    {"input.probe", T_BOOL, OFF(probe), 0, "true", NULL,
     "open and check each input's metadata in a helper process first, so a file that "
     "crashes the HDF5 library fails alone", 0, 0},
    {"output.dir", T_PATH, OFF(output_dir), 1, NULL, NULL,
     "where dicom/, masks/ and manifest.json are written", 0, 0},
    {"output.dicom", T_BOOL, OFF(write_dicom), 0, "true", NULL, "write one DICOM file per slice", 0, 0},
    {"output.masks", T_BOOL, OFF(write_masks), 0, "true", NULL,
     "write one HDF5 label mask per reviewed volume", 0, 0},
    {"output.mask_frame", T_ENUM, OFF(mask_frame), 0, "image", frame_choices,
     "image: masks in the orientation of the DICOM images; native: fastMRI's unflipped arrays", 0, 0},
    {"output.seg", T_BOOL, OFF(write_seg), 0, "true", NULL,
     "write a DICOM Segmentation (seg/<volume>.dcm) per reviewed volume with findings", 0, 0},
    {"output.preview", T_BOOL, OFF(write_preview), 0, "true", NULL,
     "write a PNG contact sheet of the boxes (preview/<volume>.png) per reviewed volume with "
     "boxes", 0, 0},
    {"output.dataset", T_BOOL, OFF(write_dataset), 0, "true", NULL,
     "write dataset.h5: every volume's float reconstruction (before int16 scaling) and mask, "
     "built collectively with parallel HDF5 at the end of a complete run (SPEC 11)", 0, 0},
    {"output.boxes", T_BOOL, OFF(write_boxes), 0, "true", NULL,
     "write boxes.csv: every annotation row with its box in the CSV's, the image and the native "
     "frame and in millimetres (SPEC 11)", 0, 0},
    {"output.nifti", T_BOOL, OFF(write_nifti), 0, "false", NULL,
     "write nifti/<volume>.nii.gz per volume, nifti/<volume>_mask.nii.gz per reviewed volume and "
     "datalist.json (MONAI) (SPEC 11)", 0, 0},
    {"output.seg_codes", T_PATH, OFF(seg_codes), 0, NULL, NULL,
     "CSV of label -> SEG coded concepts replacing the built-in configs/seg-codes.csv", 0, 0},
    {"recon.source", T_ENUM, OFF(source), 0, "kspace", source_choices,
     "kspace: reconstruct from raw data; reconstruction_rss/_esc: use the stored image", 0, 0},
    {"recon.flip_up_down", T_BOOL, OFF(flip_up_down), 0, "true", NULL,
     "flip rows (the fastMRI+ labelling frame)", 0, 0},
    {"recon.flip_left_right", T_BOOL, OFF(flip_left_right), 0, "false", NULL, "flip columns", 0, 0},
    {"recon.fft_effort", T_ENUM, OFF(fft_effort), 0, "estimate", effort_choices,
     "FFTW planner effort; estimate is reproducible without wisdom", 0, 0},
    {"dicom.uid_root", T_STRING, OFF(uid_root), 0, "2.25", NULL,
     "UID root: 2.25 (UUID-derived) or your organisation's registered root", 0, 0},
    {"dicom.uid_namespace", T_STRING, OFF(uid_namespace), 0, "fastmri-regen", NULL,
     "string hashed into every UID; change it to mint a distinct set of UIDs", 0, 0},
    {"dicom.date", T_STRING, OFF(date), 0, "20000101", NULL,
     "YYYYMMDD written as study/series date when SOURCE_DATE_EPOCH is unset", 0, 0},
    {"dicom.time", T_STRING, OFF(time), 0, "000000", NULL,
     "HHMMSS written as study/series time when SOURCE_DATE_EPOCH is unset", 0, 0},
    {"log.level", T_ENUM, OFF(log_level), 0, "info", level_choices,
     "error | warn | info | debug (FMR_LOG_LEVEL overrides)", 0, 0},
    {.name = "log.progress_seconds", .type = T_SIZE, .offset = OFF(progress_seconds), .def = "30",
     .help = "in a pipe or a Slurm log: seconds between progress lines (on a terminal the progress "
             "is one live line)",
     .lo = 1, .hi = 86400},
    LIMIT("limits.kspace_slices", kspace_slices, "1024", 1u << 20, "most slices in one volume"),
    LIMIT("limits.kspace_coils", kspace_coils, "256", 1u << 16, "most receiver coils"),
    LIMIT("limits.kspace_dim", kspace_dim, "4096", 1u << 20,
          "largest k-space H or W and stored reconstruction h or w"),
    LIMIT("limits.kspace_slice_elements", kspace_slice_elements, "67108864", 1ull << 36,
          "most complex values in one slice (coils x H x W; 8 bytes each)"),
    LIMIT("limits.kspace_elements", kspace_elements, "2147483648", 1ull << 44,
          "most complex values in one volume (slices x coils x H x W)"),
    LIMIT("limits.header_bytes", header_bytes, "4194304", 1u << 30,
          "largest ismrmrd_header string in bytes"),
    LIMIT("limits.csv_line_bytes", csv_line_bytes, "65536", 1u << 30,
          "longest record of an annotation CSV or the SEG code table, in bytes"),
    LIMIT("limits.csv_rows", csv_rows, "10000000", 1ull << 40, "most data rows in an annotation CSV"),
    LIMIT("limits.list_names", list_names, "1000000", 1ull << 40,
          "most volume lines in a file list"),
    LIMIT("limits.probe_seconds", probe_seconds, "120", 86400,
          "wall time allowed to the input probe of one file before it is killed (input.probe)"),
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* Enum-typed fields are stored as ints; anatomy and log.level keep their string. */
static int stores_string(const key_spec *k) {
  return k->type == T_STRING || k->type == T_PATH ||
         (k->type == T_ENUM && (k->offset == OFF(anatomy) || k->offset == OFF(log_level)));
}

typedef struct parse_ctx {
  const char *path;
  char *dir; /* directory of the config file, for relative paths */
  yaml_document_t *doc;
  fmr_config *cfg;
  int seen[NKEYS];
  const yaml_node_t *where[NKEYS]; /* the value node of each key given, for later messages */
  fmr_err *err;
} parse_ctx;

static int err_at(parse_ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int err_at(parse_ctx *c, const yaml_node_t *n, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return fmr_err_set(c->err, FMR_ECONFIG, "%s:%zu:%zu: %s", c->path,
                     n ? (size_t)n->start_mark.line + 1 : 1,
                     n ? (size_t)n->start_mark.column + 1 : 1, what);
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static char *resolve_path(const parse_ctx *c, const char *v) {
  if (v[0] == '/' || !c->dir) return xstrdup(v);
  size_t n = strlen(c->dir) + strlen(v) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", c->dir, v);
  return p;
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null_scalar(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
  const char *v = scalar(n);
  return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

static int set_value(parse_ctx *c, const key_spec *k, const yaml_node_t *n) {
  void *field = (char *)c->cfg + k->offset;
  if (k->type == T_PATHLIST) {
    if (n->type != YAML_SEQUENCE_NODE)
      return err_at(c, n, "'%s' must be a list of directories", k->name);
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0) return err_at(c, n, "'%s' must name at least one directory", k->name);
    char **list = calloc(count, sizeof *list);
    if (!list) return fmr_err_set(c->err, FMR_ENOMEM, "%s: out of memory", c->path);
    c->cfg->input_dirs = list;
    for (size_t i = 0; i < count; i++) {
      yaml_node_t *item = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
      if (!item || item->type != YAML_SCALAR_NODE || is_null_scalar(item))
        return err_at(c, item ? item : n, "'%s' entries must be directory names", k->name);
      list[i] = resolve_path(c, scalar(item));
      if (!list[i]) return fmr_err_set(c->err, FMR_ENOMEM, "%s: out of memory", c->path);
      c->cfg->ninput_dirs = i + 1;
    }
    return 0;
  }
  if (n->type != YAML_SCALAR_NODE || is_null_scalar(n))
    return err_at(c, n, "'%s' must be a single value", k->name);
  const char *v = scalar(n);
  switch (k->type) {
    case T_BOOL: {
      int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      if (plain && strcmp(v, "true") == 0) {
        *(int *)field = 1;
      } else if (plain && strcmp(v, "false") == 0) {
        *(int *)field = 0;
      } else {
        return err_at(c, n, "'%s' must be true or false, not '%s'", k->name, v);
      }
      return 0;
    }
    case T_ENUM: {
      for (int i = 0; k->choices[i]; i++) {
        if (strcmp(v, k->choices[i]) == 0) {
          if (stores_string(k)) {
            free(*(char **)field);
            *(char **)field = xstrdup(v);
            if (!*(char **)field) return fmr_err_set(c->err, FMR_ENOMEM, "out of memory");
          } else {
            *(int *)field = i;
          }
          return 0;
        }
      }
      char allowed[256] = "";
      for (int i = 0; k->choices[i]; i++) {
        strncat(allowed, i ? " | " : "", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, k->choices[i], sizeof allowed - strlen(allowed) - 1);
      }
      return err_at(c, n, "'%s' must be one of %s, not '%s'", k->name, allowed, v);
    }
    case T_STRING:
    case T_PATH: {
      if (v[0] == '\0') return err_at(c, n, "'%s' must not be empty", k->name);
      char *s = k->type == T_PATH ? resolve_path(c, v) : xstrdup(v);
      if (!s) return fmr_err_set(c->err, FMR_ENOMEM, "out of memory");
      free(*(char **)field);
      *(char **)field = s;
      return 0;
    }
    case T_SIZE: {
      long long num = 0;
      int pr = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                   ? fmr_text_parse_int(v, strlen(v), (long long)k->lo, (long long)k->hi, &num)
                   : -1;
      if (pr)
        return err_at(c, n, "'%s' must be a whole number from %llu to %llu, not '%s'", k->name,
                      k->lo, k->hi, v);
      *(size_t *)field = (size_t)num;
      return 0;
    }
    default:
      return fmr_err_set(c->err, FMR_EINVAL, "internal: bad key type");
  }
}

/* Is `prefix` a section, i.e. a proper prefix (followed by '.') of some key? */
static int is_section(const char *prefix) {
  size_t n = strlen(prefix);
  for (size_t i = 0; i < NKEYS; i++)
    if (strncmp(keys[i].name, prefix, n) == 0 && keys[i].name[n] == '.') return 1;
  return 0;
}

static int walk_mapping(parse_ctx *c, const yaml_node_t *map, const char *prefix) {
  if (map->type != YAML_MAPPING_NODE)
    return err_at(c, map, "'%s' must be a mapping of keys", prefix[0] ? prefix : "(top level)");
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
    if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
      return err_at(c, kn, "keys must be plain names");
    char full[256];
    int len = snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", scalar(kn));
    if (len < 0 || (size_t)len >= sizeof full) return err_at(c, kn, "key too long");
    int found = 0;
    for (size_t i = 0; i < NKEYS; i++) {
      if (strcmp(keys[i].name, full) != 0) continue;
      found = 1;
      if (c->seen[i]) return err_at(c, kn, "duplicate key '%s'", full);
      c->seen[i] = 1;
      c->where[i] = vn;
      int rc = set_value(c, &keys[i], vn);
      if (rc) return rc;
    }
    if (found) continue;
    if (is_section(full)) {
      int rc = walk_mapping(c, vn, full);
      if (rc) return rc;
      continue;
    }
    return err_at(c, kn, "unknown key '%s'", full);
  }
  return 0;
}

static int apply_defaults(parse_ctx *c, const yaml_node_t *root) {
  for (size_t i = 0; i < NKEYS; i++) {
    const key_spec *k = &keys[i];
    if (c->seen[i]) continue;
    if (k->required) return err_at(c, root, "missing required key '%s'", k->name);
    if (!k->def) continue;
    yaml_node_t fake;
    memset(&fake, 0, sizeof fake);
    fake.type = YAML_SCALAR_NODE;
    fake.data.scalar.value = (yaml_char_t *)k->def;
    fake.data.scalar.length = strlen(k->def);
    fake.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
    int rc = set_value(c, k, &fake);
    if (rc) return rc;
  }
  return 0;
}

/* The value node of a key when the file gives it, else the root (a default is at fault). */
static const yaml_node_t *node_of(const parse_ctx *c, size_t offset, const yaml_node_t *root) {
  for (size_t i = 0; i < NKEYS; i++)
    if (keys[i].offset == offset && c->where[i]) return c->where[i];
  return root;
}

static int check_semantics(parse_ctx *c, const yaml_node_t *root) {
  fmr_config *cfg = c->cfg;
  char why[160];
  if (fmr_text_uid_root_check(cfg->uid_root, FMR_CONFIG_UID_ROOT_MAX, why, sizeof why))
    return err_at(c, node_of(c, OFF(uid_root), root), "'dicom.uid_root' \"%.64s%s\" %s", cfg->uid_root,
                  strlen(cfg->uid_root) > 64 ? "..." : "", why);
  if (!cfg->file_list && !cfg->all_files)
    return err_at(c, root, "missing required key 'input.file_list' (or set input.all_files: true)");
  if (strlen(cfg->date) != 8 || strspn(cfg->date, "0123456789") != 8)
    return err_at(c, node_of(c, OFF(date), root), "'dicom.date' must be YYYYMMDD, not '%s'", cfg->date);
  if (strlen(cfg->time) != 6 || strspn(cfg->time, "0123456789") != 6)
    return err_at(c, node_of(c, OFF(time), root), "'dicom.time' must be HHMMSS, not '%s'", cfg->time);
  return 0;
}

int fmr_config_parse(const char *path, const char *text, size_t len, fmr_config *cfg,
                     fmr_err *err) {
  memset(cfg, 0, sizeof *cfg);
  yaml_parser_t parser;
  yaml_document_t doc;
  int have_parser = 0, have_doc = 0, rc = 0;
  parse_ctx c;
  memset(&c, 0, sizeof c);
  c.path = path;
  c.cfg = cfg;
  c.err = err;
  c.doc = &doc;

  cfg->path = xstrdup(path);
  const char *slash = strrchr(path, '/');
  c.dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : xstrdup(".");
  if (!cfg->path || !c.dir) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  if (!yaml_parser_initialize(&parser)) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: cannot initialise the YAML parser", path);
    goto done;
  }
  have_parser = 1;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = fmr_err_set(err, FMR_ECONFIG, "%s:%zu:%zu: %s%s%s", path,
                     (size_t)parser.problem_mark.line + 1, (size_t)parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "invalid YAML",
                     parser.context ? " " : "", parser.context ? parser.context : "");
    goto done;
  }
  have_doc = 1;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) {
    rc = fmr_err_set(err, FMR_ECONFIG, "%s:1:1: the configuration is empty", path);
    goto done;
  }
  rc = walk_mapping(&c, root, "");
  if (!rc) rc = apply_defaults(&c, root);
  if (!rc) rc = check_semantics(&c, root);

done:
  if (have_doc) yaml_document_delete(&doc);
  if (have_parser) yaml_parser_delete(&parser);
  free(c.dir);
  if (rc) {
    fmr_config_free(cfg);
  }
  return rc;
}

void fmr_config_free(fmr_config *cfg) {
  if (!cfg) return;
  for (size_t i = 0; i < NKEYS; i++) {
    if (keys[i].type == T_PATHLIST) continue;
    if (stores_string(&keys[i])) free(*(char **)((char *)cfg + keys[i].offset));
  }
  for (size_t i = 0; i < cfg->ninput_dirs; i++) free(cfg->input_dirs[i]);
  free(cfg->input_dirs);
  free(cfg->path);
  memset(cfg, 0, sizeof *cfg);
}

const char *fmr_config_source_name(fmr_recon_source s) {
  return (unsigned)s < 3 ? source_choices[s] : "?";
}

const char *fmr_config_effort_name(fmr_fft_effort e) {
  return (unsigned)e < 3 ? effort_choices[e] : "?";
}

void fmr_config_print_reference(void *file) {
  FILE *f = file;
  for (size_t i = 0; i < NKEYS; i++) {
    const key_spec *k = &keys[i];
    fprintf(f, "%-22s %-9s %-10s %s\n", k->name,
            k->type == T_BOOL ? "bool" : k->type == T_PATHLIST ? "paths" : k->type == T_PATH ? "path"
                                     : k->type == T_ENUM   ? "choice"
                                     : k->type == T_SIZE   ? "size"
                                                           : "string",
            k->required ? "(required)" : k->def ? k->def : "-", k->help);
  }
}

json_t *fmr_config_settings(const fmr_config *cfg) {
  return json_pack(
      "{s:s, s:{s:b}, s:{s:b, s:b, s:s, s:b, s:b, s:b, s:b, s:b}, s:{s:s, s:b, s:b, s:s}, "
      "s:{s:s, s:s, s:s, s:s}}",
      "anatomy", cfg->anatomy, "input", "all_files", cfg->all_files, "output", "dicom",
      cfg->write_dicom, "masks", cfg->write_masks, "mask_frame",
      cfg->mask_frame == FMR_MASK_FRAME_NATIVE ? "native" : "image", "seg", cfg->write_seg,
      "preview", cfg->write_preview, "dataset", cfg->write_dataset, "boxes", cfg->write_boxes,
      "nifti", cfg->write_nifti, "recon", "source", fmr_config_source_name(cfg->source),
      "flip_up_down", cfg->flip_up_down, "flip_left_right", cfg->flip_left_right, "fft_effort",
      fmr_config_effort_name(cfg->fft_effort), "dicom", "uid_root", cfg->uid_root,
      "uid_namespace", cfg->uid_namespace, "date", cfg->date, "time", cfg->time);
}
