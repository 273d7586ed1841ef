/* DICOM MR image series, SPEC 5.2: every attribute and its value is decided here; the DCMTK
 * adapter (src/dcmtk/dicom_writer.cc) only encodes the list.
 *
 * Decisions a reader of the files will want to know (also stated in the files themselves):
 * - ImageType DERIVED\SECONDARY\OTHER: the pixels are not the scanner's images but were made years
 *   later by this tool (SECONDARY), from raw k-space or the file's stored reconstruction through
 *   RSS, crop, flip and a per-volume percentile rescale (DERIVED); DerivationDescription says
 *   exactly how. OTHER: value 3 is required for MR and none of the map types applies.
 * - Geometry is nominal (the HDF5 files carry none): ImageOrientationPatient is the conventional
 *   display orientation of the acquisition plane for the fastMRI+ frame (rows flipped up/down from
 *   fastMRI's arrays), with each flip that differs from that frame negating the matching axis; the
 *   volume is centred on the origin and slice k sits at (k - (n-1)/2) * spacing along the plane's
 *   normal in that frame, so slice order in patient space does not depend on the flips.
 *   ImageComments says so.
 * - measurementID (about 28 characters) is kept whole in ClinicalTrialSeriesID (0012,0071), the
 *   standard LO identifier of a series within a research collection (as TCIA uses the Clinical
 *   Trial modules); StudyID (SH, 16) is its longest '_'-separated tail that fits, else its last 16
 *   characters (the volume name by the same rule when there is no measurementID).
 * - InversionTime is written only for inversion-recovery protocols, recognised by name (FLAIR,
 *   STIR, TIRM, MPRAGE/MP2RAGE, an "IR" word, "inversion"): fastMRI knee headers carry TI = 100 ms
 *   for plain PD/PDFS spin-echo series, where a TI would be false.
 * - Untrusted header text is reduced to printable ASCII ('?' for anything else, '/' for the value
 *   delimiter '\') and cut to the VR's maximum length, so no Specific Character Set is needed. */
#include "fmr/dicom/dicom.h"

#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dicom/dcmtk/dcmtk_adapter.h"
#include "fmr/util/text.h"

#define MR_IMAGE_STORAGE "1.2.840.10008.5.1.4.1.1.4"
#define DEFAULT_NAMESPACE "fastmri-regen"
#define MAX_ATTRS 96
#define ARENA_BYTES 16384
#define NOMINAL_MM 1.0

/* ---- the attribute list ---------------------------------------------------------------------- */

typedef struct attr_list {
  fmr__dcmtk_attr a[MAX_ATTRS];
  size_t n;
  char arena[ARENA_BYTES]; /* the values, so the list owns what it hands to the adapter */
  size_t used;
  int broken; /* a capacity too small or a non-finite geometry value: a bug, reported by build() */
} attr_list;

static void put(attr_list *l, uint16_t g, uint16_t e, const char *vr, const char *value) {
  size_t len = strlen(value);
  if (l->n >= MAX_ATTRS || len + 1 > ARENA_BYTES - l->used) {
    l->broken = 1;
    return;
  }
  char *copy = l->arena + l->used;
  memcpy(copy, value, len + 1);
  l->used += len + 1;
  fmr__dcmtk_attr *a = &l->a[l->n++];
  a->group = g;
  a->element = e;
  memcpy(a->vr, vr, 2);
  a->vr[2] = '\0';
  a->value = copy;
}

static size_t vr_max_len(const char *vr) {
  if (!strcmp(vr, "SH") || !strcmp(vr, "CS")) return 16;
  if (!strcmp(vr, "LO") || !strcmp(vr, "PN")) return 64;
  if (!strcmp(vr, "ST")) return 1024;
  return 10240; /* LT */
}

static void put_text(attr_list *l, uint16_t g, uint16_t e, const char *vr, const char *value) {
  char buf[10241];
  fmr_text_printable(value, vr_max_len(vr), buf); /* untrusted header text */
  put(l, g, e, vr, buf);
}

/* DS: present with a value when finite; otherwise empty (Type 2) or left out (type2 == 0). */
static void put_ds(attr_list *l, uint16_t g, uint16_t e, double v, int type2) {
  char ds[17];
  if (fmr_dicom_format_ds(v, ds) == 0)
    put(l, g, e, "DS", ds);
  else if (type2)
    put(l, g, e, "DS", "");
}

/* A multi-valued DS (up to 6 values, all finite by construction). */
static void put_ds_list(attr_list *l, uint16_t g, uint16_t e, const double *v, size_t n) {
  char buf[6 * 17 + 6] = "";
  for (size_t k = 0; k < n && k < 6; k++) {
    char ds[17];
    if (fmr_dicom_format_ds(v[k], ds)) {
      l->broken = 1;
      return;
    }
    if (k) strcat(buf, "\\");
    strcat(buf, ds);
  }
  put(l, g, e, "DS", buf);
}

static void put_long(attr_list *l, uint16_t g, uint16_t e, const char *vr, long v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%ld", v);
  put(l, g, e, vr, buf);
}

/* ---- DS formatting ----------------------------------------------------------------------------- */

/* %g with q significant digits, except that an integer-valued rounding that fits is written
 * without an exponent ("2750", not "2.75e+03"): readers and people both prefer it. */
static void format_g(double v, int q, char *buf, size_t size) {
  char e[48];
  snprintf(e, sizeof e, "%.*e", q - 1, v);
  const char *x = strchr(e, 'e');
  int exp10 = x ? atoi(x + 1) : 0;
  if (exp10 >= q && exp10 < 17) {
    int n = snprintf(buf, size, "%.*g", exp10 + 1, v);
    if (n > 0 && n <= 16) return;
  }
  /* The caller checks the length; using the count keeps -Wformat-truncation quiet under -O0. */
  if (snprintf(buf, size, "%.*g", q, v) < 0) buf[0] = '\0';
}

int fmr_dicom_format_ds(double v, char out[17]) {
  out[0] = '\0';
  if (!isfinite(v)) return FMR_ERANGE;
  if (v == 0.0) {
    strcpy(out, "0");
    return 0;
  }
  /* %g and strtod follow LC_NUMERIC; a host program's setlocale() must not put commas into DS. */
  locale_t c_loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  locale_t old = c_loc ? uselocale(c_loc) : (locale_t)0;
  char buf[48];
  int q;
  /* The shortest form that reads back as v; if that is too long, the most digits that fit. */
  for (q = 1; q <= 17; q++) {
    format_g(v, q, buf, sizeof buf);
    if (strtod(buf, NULL) == v) break;
  }
  for (q = q > 16 ? 16 : q; strlen(buf) > 16 && q >= 1; q--) format_g(v, q, buf, sizeof buf);
  if (c_loc) {
    uselocale(old);
    freelocale(c_loc);
  }
  if (strlen(buf) > 16) return FMR_ERANGE; /* unreachable: "%.1g" is at most 7 characters */
  strcpy(out, buf);
  return 0;
}

/* ---- UIDs -------------------------------------------------------------------------------------- */

int fmr_dicom_uid(const fmr_dicom_series *s, fmr_dicom_uid_role role, size_t slice,
                  char out[FMR_UID_MAX], fmr_err *err) {
  static const char *const roles[] = {"study",      "series",       "frame-of-reference",
                                      "image",      "seg-series",   "seg-instance",
                                      "seg-dimensions"};
  if (!s || !s->volume || (unsigned)role >= sizeof roles / sizeof *roles)
    return fmr_err_set(err, FMR_EINVAL, "fmr_dicom_uid: bad series or role");
  const char *ns = s->uid_namespace && *s->uid_namespace ? s->uid_namespace : DEFAULT_NAMESPACE;
  long index = role == FMR_DICOM_UID_IMAGE ? (long)slice : -1;
  return fmr_uid_make(s->uid_root, ns, s->volume, roles[role], index, out, err);
}

/* ---- what the header and names say ------------------------------------------------------------- */

/* Case-insensitive substring search. */
static int contains(const char *hay, const char *needle) {
  if (!hay) return 0;
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t k = 0;
    while (k < n && hay[k] && toupper((unsigned char)hay[k]) == (unsigned char)needle[k]) k++;
    if (k == n) return 1;
  }
  return 0;
}

/* Some word of `s` (split at anything not alphanumeric) equals `word`, or ends with it when
 * suffix is set ("CORPDFS" ends with "FS"). */
static int has_word(const char *s, const char *word, int suffix) {
  if (!s) return 0;
  size_t wn = strlen(word);
  while (*s) {
    while (*s && !isalnum((unsigned char)*s)) s++;
    const char *start = s;
    while (*s && isalnum((unsigned char)*s)) s++;
    size_t len = (size_t)(s - start);
    if (len >= wn && (suffix || len == wn)) {
      const char *tail = start + len - wn;
      size_t k = 0;
      while (k < wn && toupper((unsigned char)tail[k]) == (unsigned char)word[k]) k++;
      if (k == wn) return 1;
    }
  }
  return 0;
}

typedef struct mr_names {
  const char *acq, *protocol, *seq;
} mr_names;

static int names_contain(const mr_names *m, const char *needle) {
  return contains(m->acq, needle) || contains(m->protocol, needle) || contains(m->seq, needle);
}

static int names_have_word(const mr_names *m, const char *word, int suffix) {
  return has_word(m->acq, word, suffix) || has_word(m->protocol, word, suffix) ||
         has_word(m->seq, word, suffix);
}

static int is_inversion_recovery(const mr_names *m) {
  return names_contain(m, "FLAIR") || names_contain(m, "STIR") || names_contain(m, "TIRM") ||
         names_contain(m, "MPRAGE") || names_contain(m, "MP2RAGE") ||
         names_contain(m, "INVERSION") || names_have_word(m, "IR", 0);
}

/* ScanningSequence, SequenceVariant and ScanOptions (PS3.3 C.8.3.1) from the ISMRMRD
 * sequence_type and the series names; RM ("research mode") and NONE when nothing says. */
static void mr_sequence(const mr_names *m, int ir, char seq[32], char variant[32],
                        char options[32]) {
  const char *t = m->seq;
  int ep = contains(t, "EPI") || contains(t, "ECHOPLANAR");
  int se = !ep && (contains(t, "SPINECHO") || has_word(t, "SE", 0) || has_word(t, "TSE", 0) ||
                   has_word(t, "FSE", 0) || contains(t, "HASTE") || contains(t, "RARE"));
  int gr = !ep && !se &&
           (contains(t, "GRADIENT") || contains(t, "FLASH") || contains(t, "FISP") ||
            has_word(t, "GRE", 0) || contains(t, "SPGR") || contains(t, "FFE") ||
            contains(t, "MPRAGE"));
  int segmented = contains(t, "TURBO") || has_word(t, "TSE", 0) || has_word(t, "FSE", 0) ||
                  contains(t, "FASTSPINECHO") || contains(t, "HASTE") || contains(t, "RARE");
  int spoiled = contains(t, "FLASH") || contains(t, "SPGR") || contains(t, "SPOILED");
  int steady = contains(t, "FISP") || contains(t, "STEADY");

  seq[0] = variant[0] = options[0] = '\0';
  if (ep) strcat(seq, "EP");
  if (se) strcat(seq, "SE");
  if (gr) strcat(seq, "GR");
  if (ir) strcat(seq, seq[0] ? "\\IR" : "IR");
  if (!seq[0]) strcpy(seq, "RM");

  if (segmented) strcat(variant, "SK");
  if (ir) strcat(variant, variant[0] ? "\\MP" : "MP");
  if (spoiled) strcat(variant, variant[0] ? "\\SP" : "SP");
  if (steady) strcat(variant, variant[0] ? "\\SS" : "SS");
  if (!variant[0]) strcpy(variant, "NONE");

  /* Fat saturation is spelled in the acquisition/protocol names (CORPDFS_FBK, "PD FS"). */
  if (names_have_word(m, "FS", 1) || names_contain(m, "FATSAT") || names_contain(m, "FAT SAT"))
    strcpy(options, "FS");
}

/* PatientPosition defined terms (PS3.3 C.7.3.1.1.2); anything else is left empty. */
static int patient_position_valid(const char *p) {
  static const char *const terms[] = {"HFP",  "HFS",  "HFDR", "HFDL", "FFDR", "FFDL",
                                      "FFP",  "FFS",  "LFP",  "LFS",  "RFP",  "RFS",
                                      "AFDR", "AFDL", "PFDR", "PFDL"};
  for (size_t k = 0; k < sizeof terms / sizeof *terms; k++)
    if (!strcmp(p, terms[k])) return 1;
  return 0;
}

/* StudyID (SH, 16 characters) from the measurementID: the longest tail starting after a '_' that
 * fits, else the last 16 characters. Siemens IDs end <study>_<measurement>, which survives. */
static void derive_study_id(const char *mid, char out[17]) {
  size_t len = strlen(mid);
  if (len <= 16) {
    memcpy(out, mid, len + 1);
    return;
  }
  for (size_t k = 0; k < len; k++) {
    if (mid[k] == '_' && len - k - 1 <= 16 && len - k - 1 > 0) {
      memcpy(out, mid + k + 1, len - k);
      return;
    }
  }
  memcpy(out, mid + len - 16, 17);
}

static int valid_digits(const char *s, size_t min, size_t max) {
  size_t n = 0;
  while (s[n] >= '0' && s[n] <= '9') n++;
  return n >= min && n <= max && s[n] == '\0';
}

/* ---- geometry ---------------------------------------------------------------------------------- */

typedef struct plane {
  const char *name;
  double row[3], col[3]; /* LPS unit vectors in the fastMRI+ frame (flip_ud, no flip_lr) */
} plane;

/* Conventional display (radiological): patient right on the viewer's left; head up (coronal,
 * sagittal); anterior up (axial). */
static const plane PLANES[] = {
    {"coronal", {1, 0, 0}, {0, 0, -1}},
    {"axial", {1, 0, 0}, {0, 1, 0}},
    {"sagittal", {0, 1, 0}, {0, 0, -1}},
};

static int plane_from_name(const char *n) {
  if (!n) return -1;
  while (*n == ' ') n++;
  if (!strncasecmp(n, "COR", 3)) return 0;
  if (!strncasecmp(n, "AX", 2) || !strncasecmp(n, "TRA", 3)) return 1;
  if (!strncasecmp(n, "SAG", 3)) return 2;
  return -1;
}

/* The acquisition plane: from the acquisition name (CORPD_FBK, AXFLAIR), else the protocol name
 * ("COR PD FBK", "AX FLAIR_FBB"), else the anatomy's usual plane (fastMRI: coronal knees, axial
 * brains). */
static int choose_plane(const fmr_dicom_series *s, const fmr_header *h, const char **why) {
  int p = plane_from_name(s->acquisition);
  *why = "acquisition name";
  if (p < 0) {
    p = plane_from_name(h->protocol_name);
    *why = "protocol name";
  }
  if (p < 0) {
    *why = "anatomy";
    p = (s->anatomy && !strcmp(s->anatomy, "knee")) ? 0 : 1;
  }
  return p;
}

static int positive(double v) { return isfinite(v) && v > 0.0; }

/* ---- the slice --------------------------------------------------------------------------------- */

typedef struct spacing {
  double row, col, slice; /* mm: between rows, between columns, between slices */
  int row_nominal, col_nominal, slice_nominal;
} spacing;

static spacing voxel_spacing(const fmr_header *h) {
  spacing sp = {NOMINAL_MM, NOMINAL_MM, NOMINAL_MM, 1, 1, 1};
  const fmr_space *r = &h->recon;
  /* SPEC 5.2: reconSpace FOV / matrix; image rows run along x (the readout). */
  if (positive(r->fov_x) && r->matrix_x > 0) {
    sp.row = r->fov_x / r->matrix_x;
    sp.row_nominal = 0;
  }
  if (positive(r->fov_y) && r->matrix_y > 0) {
    sp.col = r->fov_y / r->matrix_y;
    sp.col_nominal = 0;
  }
  /* fastMRI is 2-D multi-slice: matrix z = 1 and FOV z is the slice thickness. A 3-D slab would
   * hold matrix z partitions. */
  if (positive(r->fov_z)) {
    sp.slice = r->fov_z / (r->matrix_z > 1 ? r->matrix_z : 1);
    sp.slice_nominal = 0;
  }
  return sp;
}

static void describe_derivation(const fmr_dicom_series *s, char *out, size_t size) {
  const char *src = s->recon_source ? s->recon_source : "kspace";
  char how[256];
  if (!strcmp(src, "kspace")) {
    if (s->coils == 1)
      snprintf(how, sizeof how, "magnitude of the centred orthonormal 2-D inverse FFT of the "
                                "single-coil k-space");
    else if (s->coils > 1)
      snprintf(how, sizeof how,
               "root-sum-of-squares over %d coils of the centred orthonormal 2-D inverse FFT of "
               "the k-space",
               s->coils);
    else
      snprintf(how, sizeof how, "centred orthonormal 2-D inverse FFT of the k-space, "
                                "root-sum-of-squares over coils");
  } else {
    snprintf(how, sizeof how, "the file's stored %.64s", src);
  }
  snprintf(out, size,
           "fastmri-regen %.32s: %s%s, centre-cropped to %zux%zu%s%s; scaled per volume by "
           "1024/P99.9, clamped to 0..1024 and truncated to integers",
           s->tool_version ? s->tool_version : "", how,
           s->undersampled ? " (zero-filled reconstruction of undersampled k-space)" : "",
           s->rows, s->cols, s->flip_ud ? ", rows flipped up/down" : "",
           s->flip_lr ? ", columns flipped left/right" : "");
}

static void describe_geometry(const char *plane_name, const char *why, const spacing *sp,
                              char *out, size_t size) {
  char dz[17];
  if (fmr_dicom_format_ds(sp->slice, dz)) strcpy(dz, "?");
  int n = snprintf(out, size,
                   "NOMINAL GEOMETRY: the source data carry no patient coordinates. Orientation "
                   "assumes the conventional %s display (plane from the %s) in the fastMRI+ "
                   "image frame, adjusted for the flips applied here; the volume is centred on "
                   "the origin with slices %s mm apart. For stacking and display only, not for "
                   "registration.",
                   plane_name, why, dz);
  if (n < 0 || (size_t)n >= size) return;
  if (sp->row_nominal || sp->col_nominal)
    n += snprintf(out + n, size - (size_t)n,
                  " Pixel spacing unknown (no reconSpace field of view): 1 mm assumed.");
  if (n < 0 || (size_t)n >= size) return;
  if (sp->slice_nominal)
    snprintf(out + n, size - (size_t)n,
             " Slice thickness and spacing unknown (no reconSpace field of view z): 1 mm "
             "assumed.");
}

/* Patient, General Study and Frame of Reference: shared by every object of the volume's study,
 * the images and the Segmentation (fmr_dicom_study_attrs), so dcentvfy finds them equal. */
static int put_patient_study(const fmr_dicom_series *s, const fmr_header *h, const char *date,
                             const char *time, attr_list *l, fmr_err *err) {
  int rc = 0;
  char uid[FMR_UID_MAX], buf[128];

  /* Patient: the volume name is the only identity fastMRI has; nothing invented. SPEC 5.2 wants
   * PatientName to equal the volume name exactly, so no "^" is appended (dciodvfy would prefer the
   * explicit family-name form; the two are the same name in DICOM's PN rules). */
  fmr_text_printable(s->volume, 63, buf);
  for (char *c = buf; *c; c++)
    if (*c == '^' || *c == '=') *c = '_'; /* PN component and group delimiters */
  put(l, 0x0010, 0x0010, "PN", buf);
  put_text(l, 0x0010, 0x0020, "LO", s->volume);
  put(l, 0x0010, 0x0030, "DA", ""); /* PatientBirthDate: unknown, Type 2 */
  put(l, 0x0010, 0x0040, "CS", ""); /* PatientSex: unknown, Type 2 */
  put(l, 0x0012, 0x0062, "CS", "YES");
  put_text(l, 0x0012, 0x0063, "LO", "fastMRI public release: de-identified by NYU Langone Health");

  /* General Study */
  if ((rc = fmr_dicom_uid(s, FMR_DICOM_UID_STUDY, 0, uid, err))) return rc;
  put(l, 0x0020, 0x000D, "UI", uid);
  put(l, 0x0008, 0x0020, "DA", date);
  put(l, 0x0008, 0x0030, "TM", time);
  put(l, 0x0008, 0x0090, "PN", "");
  put(l, 0x0008, 0x0050, "SH", "");
  char mid[65], study_id[17];
  fmr_text_printable(h->measurement_id, 64, mid); /* as it will be written */
  /* Without a measurementID the volume name stands in, so the StudyID DICOMDIR needs is there. */
  if (mid[0])
    derive_study_id(mid, study_id);
  else {
    fmr_text_printable(s->volume, 64, buf);
    derive_study_id(buf, study_id);
  }
  put_text(l, 0x0020, 0x0010, "SH", study_id);
  if (h->protocol_name[0]) put_text(l, 0x0008, 0x1030, "LO", h->protocol_name);

  /* Frame of Reference: one per volume; the nominal geometry is its only content. */
  if ((rc = fmr_dicom_uid(s, FMR_DICOM_UID_FRAME, 0, uid, err))) return rc;
  put(l, 0x0020, 0x0052, "UI", uid);
  put(l, 0x0020, 0x1040, "LO", "");
  return 0;
}

/* Patient, Study, Series, Frame of Reference and Equipment: the same in every file of the volume
 * (dcentvfy checks exactly that). */
static int put_entities(const fmr_dicom_series *s, const fmr_header *h, const char *date,
                        const char *time, attr_list *l, fmr_err *err) {
  int rc = 0;
  char uid[FMR_UID_MAX], buf[128];
  if ((rc = put_patient_study(s, h, date, time, l, err))) return rc;
  char mid[65];
  fmr_text_printable(h->measurement_id, 64, mid); /* as it will be written */

  /* General Series */
  put(l, 0x0008, 0x0060, "CS", "MR");
  if ((rc = fmr_dicom_uid(s, FMR_DICOM_UID_SERIES, 0, uid, err))) return rc;
  put(l, 0x0020, 0x000E, "UI", uid);
  put(l, 0x0020, 0x0011, "IS", "1");
  if (*date) put(l, 0x0008, 0x0021, "DA", date);
  if (*time) put(l, 0x0008, 0x0031, "TM", time);
  if (s->acquisition && s->acquisition[0])
    put_text(l, 0x0008, 0x103E, "LO", s->acquisition);
  else if (h->protocol_name[0])
    put_text(l, 0x0008, 0x103E, "LO", h->protocol_name);
  if (h->protocol_name[0]) put_text(l, 0x0018, 0x1030, "LO", h->protocol_name);
  if (s->anatomy && !strcmp(s->anatomy, "knee")) {
    put(l, 0x0018, 0x0015, "CS", "KNEE");
    put(l, 0x0020, 0x0060, "CS", ""); /* Laterality: paired body part, side unknown (Type 2C) */
  } else if (s->anatomy && !strcmp(s->anatomy, "brain")) {
    put(l, 0x0018, 0x0015, "CS", "BRAIN");
  }
  put(l, 0x0018, 0x5100, "CS",
      patient_position_valid(h->patient_position) ? h->patient_position : "");

  /* Clinical Trial Series: the whole measurementID (see the top of the file). */
  if (mid[0]) {
    put(l, 0x0012, 0x0060, "LO", ""); /* ClinicalTrialCoordinatingCenterName, Type 2 */
    put(l, 0x0012, 0x0071, "LO", mid);
  }

  /* General Equipment */
  put_text(l, 0x0008, 0x0070, "LO", h->system_vendor);
  if (h->institution_name[0]) put_text(l, 0x0008, 0x0080, "LO", h->institution_name);
  if (h->system_model[0]) put_text(l, 0x0008, 0x1090, "LO", h->system_model);
  if (s->tool_version && s->tool_version[0]) {
    snprintf(buf, sizeof buf, "fastmri-regen %.40s", s->tool_version);
    put_text(l, 0x0018, 0x1020, "LO", buf);
  }
  return 0;
}

/* The nominal geometry of one slice (see the top of the file); the one computation behind the
 * images' Image Plane module and the Segmentation's functional groups (fmr_dicom_geometry_of). */
static void plane_geometry(const fmr_dicom_series *s, const fmr_header *h, size_t slice,
                           fmr_dicom_geometry *g, const plane **pl_out, const char **why,
                           spacing *sp_out) {
  spacing sp = voxel_spacing(h);
  const plane *pl = &PLANES[choose_plane(s, h, why)];
  double row[3], col[3], nrm[3], pos[3];
  for (int k = 0; k < 3; k++) {
    row[k] = s->flip_lr ? -pl->row[k] : pl->row[k];
    col[k] = s->flip_ud ? pl->col[k] : -pl->col[k];
  }
  /* The slice axis is the normal of the unflipped-convention frame, so flips never reverse the
   * slice order in patient space. */
  nrm[0] = pl->row[1] * pl->col[2] - pl->row[2] * pl->col[1];
  nrm[1] = pl->row[2] * pl->col[0] - pl->row[0] * pl->col[2];
  nrm[2] = pl->row[0] * pl->col[1] - pl->row[1] * pl->col[0];
  double offset = ((double)slice - ((double)s->slices - 1.0) / 2.0) * sp.slice;
  for (int k = 0; k < 3; k++) {
    /* Top-left pixel centre: the slice centre minus half the image along rows and columns. */
    pos[k] = nrm[k] * offset - row[k] * sp.col * ((double)s->cols - 1.0) / 2.0 -
             col[k] * sp.row * ((double)s->rows - 1.0) / 2.0;
  }
  for (int k = 0; k < 3; k++) {
    g->position[k] = pos[k];
    g->orientation[k] = row[k];
    g->orientation[3 + k] = col[k];
  }
  g->pixel_spacing[0] = sp.row;
  g->pixel_spacing[1] = sp.col;
  g->slice_thickness = sp.slice;
  g->slice_location = offset;
  *pl_out = pl;
  *sp_out = sp;
}

/* Image Plane: the nominal geometry (see the top of the file) and the note saying so. */
static void put_plane(const fmr_dicom_series *s, const fmr_header *h, size_t slice,
                      attr_list *l) {
  char note[1024];
  fmr_dicom_geometry g;
  const plane *pl = NULL;
  const char *why = "";
  spacing sp;
  plane_geometry(s, h, slice, &g, &pl, &why, &sp);
  put_ds_list(l, 0x0020, 0x0032, g.position, 3);
  put_ds_list(l, 0x0020, 0x0037, g.orientation, 6);
  put_ds_list(l, 0x0028, 0x0030, g.pixel_spacing, 2);
  /* Nominal like the rest of the geometry when the header lacks FOV z (said in ImageComments):
   * an empty SliceThickness makes dcm2niix guess the voxel size. */
  put_ds(l, 0x0018, 0x0050, g.slice_thickness, 1);
  put_ds(l, 0x0018, 0x0088, g.slice_thickness, 0);
  put_ds(l, 0x0020, 0x1041, g.slice_location, 0);
  describe_geometry(pl->name, why, &sp, note, sizeof note);
  put_text(l, 0x0020, 0x4000, "LT", note);
}

/* MR Image: sequence description and timing in the header's units (ms, T, Hz -> MHz). */
static void put_mr(const fmr_dicom_series *s, const fmr_header *h, attr_list *l) {
  mr_names names = {s->acquisition, h->protocol_name, h->sequence_type};
  int ir = is_inversion_recovery(&names);
  char seq[32], variant[32], options[32];
  mr_sequence(&names, ir, seq, variant, options);
  put(l, 0x0018, 0x0020, "CS", seq);
  put(l, 0x0018, 0x0021, "CS", variant);
  put(l, 0x0018, 0x0022, "CS", options);
  const fmr_space *enc = &h->encoded;
  put(l, 0x0018, 0x0023, "CS", enc->matrix_z == 1 ? "2D" : enc->matrix_z > 1 ? "3D" : "");
  if (h->sequence_type[0]) put_text(l, 0x0018, 0x0024, "SH", h->sequence_type);
  put_ds(l, 0x0018, 0x0080, positive(h->tr_ms) ? h->tr_ms : NAN, 1);
  put_ds(l, 0x0018, 0x0081, h->te_ms >= 0.0 ? h->te_ms : NAN, 1);
  if (ir) put_ds(l, 0x0018, 0x0082, h->ti_ms >= 0.0 ? h->ti_ms : NAN, 1);
  /* EchoTrainLength (Type 2): ISMRMRD >= 1.4 encoding/echoTrainLength when the header has it
   * (fastMRI's do not); empty rather than a guess, and never 0 (dciodvfy warns on zero). */
  if (h->echo_train_length > 0)
    put_long(l, 0x0018, 0x0091, "IS", h->echo_train_length);
  else
    put(l, 0x0018, 0x0091, "IS", "");
  if (positive(h->h1_frequency_hz)) {
    put_ds(l, 0x0018, 0x0084, h->h1_frequency_hz / 1e6, 0); /* ImagingFrequency in MHz */
    put(l, 0x0018, 0x0085, "SH", "1H");                      /* the H1 resonance was used */
  }
  if (positive(h->field_strength_t)) put_ds(l, 0x0018, 0x0087, h->field_strength_t, 0);
  if (h->flip_angle_deg >= 0.0) put_ds(l, 0x0018, 0x1314, h->flip_angle_deg, 0);
}

/* Image Pixel and VOI LUT. */
static void put_pixels(const fmr_dicom_series *s, const int16_t *pixels, attr_list *l) {
  int16_t lo = pixels[0], hi = pixels[0];
  for (size_t k = 1; k < s->rows * s->cols; k++) {
    if (pixels[k] < lo) lo = pixels[k];
    if (pixels[k] > hi) hi = pixels[k];
  }
  put(l, 0x0028, 0x0002, "US", "1");
  put(l, 0x0028, 0x0004, "CS", "MONOCHROME2");
  put_long(l, 0x0028, 0x0010, "US", (long)s->rows);
  put_long(l, 0x0028, 0x0011, "US", (long)s->cols);
  put(l, 0x0028, 0x0100, "US", "16");
  put(l, 0x0028, 0x0101, "US", "12");
  put(l, 0x0028, 0x0102, "US", "11");
  put(l, 0x0028, 0x0103, "US", "1");
  put_long(l, 0x0028, 0x0106, "SS", lo); /* the slice's true range, not a nominal 0..1024 */
  put_long(l, 0x0028, 0x0107, "SS", hi);
  put(l, 0x0028, 0x0301, "CS", "NO");
  put(l, 0x0028, 0x2110, "CS", "00");
  /* The standard requires a window width of at least 1; a degenerate volume gets no window. */
  if (isfinite(s->window_center) && isfinite(s->window_width) && s->window_width >= 1.0) {
    put_ds(l, 0x0028, 0x1050, s->window_center, 0);
    put_ds(l, 0x0028, 0x1051, s->window_width, 0);
  }
}

static int build(const fmr_dicom_series *s, const fmr_header *h, size_t slice,
                 const int16_t *pixels, attr_list *l, fmr_err *err) {
  int rc = 0;
  char uid[FMR_UID_MAX], derivation[1024];
  const char *date = s->date ? s->date : "";
  const char *time = s->time ? s->time : "";
  if (*date && !valid_digits(date, 8, 8))
    return fmr_err_set(err, FMR_EINVAL, "%s: DICOM date \"%s\" is not YYYYMMDD", s->volume, date);
  if (*time && !valid_digits(time, 6, 6))
    return fmr_err_set(err, FMR_EINVAL, "%s: DICOM time \"%s\" is not HHMMSS", s->volume, time);

  /* SOP Common */
  put(l, 0x0008, 0x0016, "UI", MR_IMAGE_STORAGE);
  if ((rc = fmr_dicom_uid(s, FMR_DICOM_UID_IMAGE, slice, uid, err))) return rc;
  put(l, 0x0008, 0x0018, "UI", uid);
  if (*date) put(l, 0x0008, 0x0012, "DA", date); /* InstanceCreationDate */
  if (*time) put(l, 0x0008, 0x0013, "TM", time);

  if ((rc = put_entities(s, h, date, time, l, err))) return rc;

  /* General Image / General Acquisition */
  put_long(l, 0x0020, 0x0013, "IS", (long)slice + 1);
  put(l, 0x0020, 0x0012, "IS", "1");
  if (*date) put(l, 0x0008, 0x0022, "DA", date);
  if (*time) put(l, 0x0008, 0x0032, "TM", time);
  put(l, 0x0008, 0x0023, "DA", date);
  put(l, 0x0008, 0x0033, "TM", time);
  put(l, 0x0008, 0x0008, "CS", "DERIVED\\SECONDARY\\OTHER");
  describe_derivation(s, derivation, sizeof derivation);
  put_text(l, 0x0008, 0x2111, "ST", derivation);

  put_plane(s, h, slice, l);
  put_mr(s, h, l);
  put_pixels(s, pixels, l);

  if (l->broken)
    return fmr_err_set(err, FMR_EDICOM, "%s: slice %zu: internal error building the attributes",
                       s->volume, slice);
  return 0;
}

/* The series' header, or one with every field missing when there is none. */
static const fmr_header *series_header(const fmr_dicom_series *s, fmr_header *absent) {
  const fmr_header *h = s->hdr;
  if (!h) {
    /* No header at all reads like one with every field missing. */
    memset(absent, 0, sizeof *absent);
    absent->encoded.matrix_x = absent->encoded.matrix_y = absent->encoded.matrix_z = -1;
    absent->encoded.fov_x = absent->encoded.fov_y = absent->encoded.fov_z = NAN;
    absent->recon = absent->encoded;
    absent->e1_min = absent->e1_max = absent->e1_center = absent->receiver_channels = -1;
    absent->echo_train_length = -1;
    absent->field_strength_t = absent->h1_frequency_hz = absent->tr_ms = absent->te_ms = NAN;
    absent->ti_ms = absent->flip_angle_deg = absent->echo_spacing_ms = NAN;
    h = absent;
  }
  return h;
}

int fmr_dicom_write_slice(const fmr_dicom_series *s, size_t slice, const int16_t *pixels,
                          const char *path, fmr_err *err) {
  int rc = 0;
  attr_list *l = NULL;
  if (!s || !s->volume || !pixels || !path) {
    rc = fmr_err_set(err, FMR_EINVAL, "fmr_dicom_write_slice: missing argument");
    goto done;
  }
  if (slice >= s->slices || s->rows == 0 || s->cols == 0 || s->rows > 65535 || s->cols > 65535) {
    rc = fmr_err_set(err, FMR_EINVAL, "%s: slice %zu of %zu, %zux%zu pixels: out of range",
                     s->volume, slice, s->slices, s->rows, s->cols);
    goto done;
  }
  if (strlen(s->volume) > 64) {
    rc = fmr_err_set(err, FMR_EINVAL, "%s: volume name longer than 64 characters (PatientID)",
                     s->volume);
    goto done;
  }
  fmr_header absent;
  const fmr_header *h = series_header(s, &absent);
  l = calloc(1, sizeof *l);
  if (!l) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", s->volume);
    goto done;
  }
  rc = build(s, h, slice, pixels, l, err);
  if (rc) goto done;
  char msg[FMR_ERR_MSG_MAX];
  rc = fmr__dcmtk_write_image(l->a, l->n, (const uint16_t *)pixels, s->rows * s->cols, path, msg,
                              sizeof msg);
  if (rc) rc = fmr_err_set(err, rc, "%s: slice %zu: %s", s->volume, slice, msg);

done:
  free(l);
  return rc;
}

int fmr_dicom_geometry_of(const fmr_dicom_series *s, size_t slice, fmr_dicom_geometry *g,
                          fmr_err *err) {
  if (!s || !g) return fmr_err_set(err, FMR_EINVAL, "fmr_dicom_geometry_of: missing argument");
  if (slice >= s->slices)
    return fmr_err_set(err, FMR_EINVAL, "%s: slice %zu of %zu: out of range",
                       s->volume ? s->volume : "?", slice, s->slices);
  fmr_header absent;
  const plane *pl = NULL;
  const char *why = "";
  spacing sp;
  plane_geometry(s, series_header(s, &absent), slice, g, &pl, &why, &sp);
  return 0;
}

int fmr_dicom_study_attrs(const fmr_dicom_series *s, fmr_dicom_attr_fn visit, void *ctx,
                          fmr_err *err) {
  int rc = 0;
  attr_list *l = NULL;
  if (!s || !s->volume || !visit) {
    rc = fmr_err_set(err, FMR_EINVAL, "fmr_dicom_study_attrs: missing argument");
    goto done;
  }
  const char *date = s->date ? s->date : "";
  const char *time = s->time ? s->time : "";
  if ((*date && !valid_digits(date, 8, 8)) || (*time && !valid_digits(time, 6, 6))) {
    rc = fmr_err_set(err, FMR_EINVAL, "%s: DICOM date/time \"%s\" \"%s\" is not YYYYMMDD HHMMSS",
                     s->volume, date, time);
    goto done;
  }
  l = calloc(1, sizeof *l);
  if (!l) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", s->volume);
    goto done;
  }
  fmr_header absent;
  rc = put_patient_study(s, series_header(s, &absent), date, time, l, err);
  if (rc) goto done;
  if (l->broken) {
    rc = fmr_err_set(err, FMR_EDICOM, "%s: internal error building the study attributes",
                     s->volume);
    goto done;
  }
  for (size_t k = 0; k < l->n; k++)
    visit(ctx, l->a[k].group, l->a[k].element, l->a[k].vr, l->a[k].value);
done:
  free(l);
  return rc;
}
