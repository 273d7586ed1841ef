/* The ISMRMRD XML header (SPEC 2.1) as typed fields.
 *
 * The header comes from an untrusted file, so the parser is configured to do nothing but read
 * elements: no entity substitution, no DTD loading, no network, libxml2's default size and depth
 * limits (no XML_PARSE_HUGE), and any DOCTYPE is refused as soon as the parser meets it, before a
 * single entity declaration is read. Real ISMRMRD headers never carry a DOCTYPE. */
#include "fmr/recon/header.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "fmr/util/text.h"

#define ISMRMRD_NS "http://www.ismrm.org/ISMRMRD"

/* Per-parse state reached from libxml2 callbacks through ctxt->_private: no globals. */
typedef struct parse_state {
  int doctype;           /* a DOCTYPE or entity declaration was seen (and parsing stopped) */
  int nerrors;
  char first_error[256]; /* libxml2's first message with its line, for our error */
} parse_state;

static void on_structured_error(void *ctx, xmlErrorPtr e) {
  xmlParserCtxtPtr ctxt = ctx;
  parse_state *st = ctxt ? ctxt->_private : NULL;
  if (!st || !e || e->level == XML_ERR_WARNING) return;
  if (st->nerrors++ > 0) return;
  char msg[200];
  snprintf(msg, sizeof msg, "%s", e->message ? e->message : "unknown error");
  size_t n = strlen(msg);
  while (n > 0 && isspace((unsigned char)msg[n - 1])) msg[--n] = '\0';
  snprintf(st->first_error, sizeof st->first_error, "line %d: %s", e->line, msg);
}

/* Refusing at the DOCTYPE (rather than after parsing) means entity declarations are never even
 * recorded: a billion-laughs or external-entity payload has nothing to expand. */
static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
                               const xmlChar *system_id) {
  (void)name;
  (void)external_id;
  (void)system_id;
  xmlParserCtxtPtr ctxt = ctx;
  parse_state *st = ctxt->_private;
  st->doctype = 1;
  xmlStopParser(ctxt);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content) {
  (void)name;
  (void)type;
  (void)public_id;
  (void)system_id;
  (void)content;
  xmlParserCtxtPtr ctxt = ctx;
  parse_state *st = ctxt->_private;
  st->doctype = 1;
  xmlStopParser(ctxt);
}

/* ---- element lookup ----------------------------------------------------------------------------- */

/* ISMRMRD elements, or elements of a document written without the namespace. */
static int in_ns(const xmlNode *n) {
  return n->ns == NULL || (n->ns->href && strcmp((const char *)n->ns->href, ISMRMRD_NS) == 0);
}

static const xmlNode *child(const xmlNode *parent, const char *name) {
  if (!parent) return NULL;
  for (const xmlNode *c = parent->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && in_ns(c) && strcmp((const char *)c->name, name) == 0)
      return c;
  return NULL;
}

/* Follow a path of element names, taking the first match at each level (ISMRMRD allows several
 * encodings and lists of TR/TE; the first is the one that describes the stored data). */
static const xmlNode *find(const xmlNode *root, const char *const *path) {
  const xmlNode *n = root;
  for (; n && *path; path++) n = child(n, *path);
  return n;
}

static void path_name(const char *const *path, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (; *path && used < size; path++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "/" : "", *path);
}

/* Text of an element with surrounding whitespace removed; NULL when the element is absent.
 * *owned must be xmlFree'd. */
static const char *text_of(const xmlNode *n, xmlChar **owned, size_t *len) {
  *owned = NULL;
  *len = 0;
  if (!n) return NULL;
  *owned = xmlNodeGetContent(n);
  if (!*owned) return "";
  fmr_text t = fmr_text_trim((const char *)*owned, strlen((const char *)*owned));
  *len = t.n;
  return t.s;
}

/* One number field. An empty element counts as absent (the value is simply not given); anything
 * else must be well-formed: a finite decimal (XML Schema syntax: no "nan", "inf", hex or blanks),
 * or for integers a non-negative one within int, since they are sizes, counts and k-space
 * indices and -1 is reserved to mean "absent". */
static int get_number(const xmlNode *root, const char *const *path, int integer, double *dout,
                      int *iout, const char *what, fmr_err *err) {
  xmlChar *owned;
  size_t len;
  const char *s = text_of(find(root, path), &owned, &len);
  int rc = 0;
  if (dout) *dout = NAN;
  if (iout) *iout = -1;
  if (s && len > 0) {
    long long iv = 0;
    double dv = 0;
    int ok = integer ? fmr_text_parse_int(s, len, 0, INT_MAX, &iv) == 0
                     : fmr_text_parse_decimal(s, len, &dv) == 0;
    if (ok && integer) *iout = (int)iv;
    if (ok && !integer) *dout = dv;
    if (!ok) {
      char name[160];
      path_name(path, name, sizeof name);
      rc = fmr_err_set(err, FMR_EXML, "%s: ISMRMRD header: %s: not a %s: \"%.*s\"", what, name,
                       integer ? "non-negative integer" : "number", len > 40 ? 40 : (int)len, s);
    }
  }
  xmlFree(owned);
  return rc;
}

static int get_double(const xmlNode *root, const char *const *path, double *out, const char *what,
                      fmr_err *err) {
  return get_number(root, path, 0, out, NULL, what, err);
}

static int get_int(const xmlNode *root, const char *const *path, int *out, const char *what,
                   fmr_err *err) {
  return get_number(root, path, 1, NULL, out, what, err);
}

/* Copy a string field, cutting an over-long value at a UTF-8 character boundary: these fields are
 * descriptive, and a volume should not fail because an institution name is long. */
static void get_string(const xmlNode *root, const char *const *path, char *dst, size_t cap) {
  xmlChar *owned;
  size_t len;
  const char *s = text_of(find(root, path), &owned, &len);
  dst[0] = '\0';
  if (s) {
    if (len > cap - 1) {
      len = cap - 1;
      while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
  }
  xmlFree(owned);
}

#define P(...) ((const char *const[]){__VA_ARGS__, NULL})

static int get_space(const xmlNode *root, const char *which, fmr_space *sp, const char *what,
                     fmr_err *err) {
  int rc;
  if ((rc = get_int(root, P("encoding", which, "matrixSize", "x"), &sp->matrix_x, what, err)) < 0 ||
      (rc = get_int(root, P("encoding", which, "matrixSize", "y"), &sp->matrix_y, what, err)) < 0 ||
      (rc = get_int(root, P("encoding", which, "matrixSize", "z"), &sp->matrix_z, what, err)) < 0 ||
      (rc = get_double(root, P("encoding", which, "fieldOfView_mm", "x"), &sp->fov_x, what, err)) <
          0 ||
      (rc = get_double(root, P("encoding", which, "fieldOfView_mm", "y"), &sp->fov_y, what, err)) <
          0 ||
      (rc = get_double(root, P("encoding", which, "fieldOfView_mm", "z"), &sp->fov_z, what, err)) <
          0)
    return rc;
  return 0;
}

static int extract(const xmlNode *root, fmr_header *h, const char *what, fmr_err *err) {
  int rc;
  if ((rc = get_space(root, "encodedSpace", &h->encoded, what, err)) < 0) return rc;
  if ((rc = get_space(root, "reconSpace", &h->recon, what, err)) < 0) return rc;
#define E1(f) P("encoding", "encodingLimits", "kspace_encoding_step_1", f)
  if ((rc = get_int(root, E1("minimum"), &h->e1_min, what, err)) < 0 ||
      (rc = get_int(root, E1("maximum"), &h->e1_max, what, err)) < 0 ||
      (rc = get_int(root, E1("center"), &h->e1_center, what, err)) < 0)
    return rc;
#undef E1
  /* Optional since ISMRMRD 1.4; the turbo factor of a TSE, written to DICOM EchoTrainLength. */
  if ((rc = get_int(root, P("encoding", "echoTrainLength"), &h->echo_train_length, what, err)) < 0)
    return rc;

  get_string(root, P("measurementInformation", "measurementID"), h->measurement_id,
             sizeof h->measurement_id);
  get_string(root, P("measurementInformation", "patientPosition"), h->patient_position,
             sizeof h->patient_position);
  get_string(root, P("measurementInformation", "protocolName"), h->protocol_name,
             sizeof h->protocol_name);
  get_string(root, P("measurementInformation", "frameOfReferenceUID"), h->frame_of_reference_uid,
             sizeof h->frame_of_reference_uid);
  get_string(root, P("acquisitionSystemInformation", "systemVendor"), h->system_vendor,
             sizeof h->system_vendor);
  get_string(root, P("acquisitionSystemInformation", "systemModel"), h->system_model,
             sizeof h->system_model);
  get_string(root, P("acquisitionSystemInformation", "institutionName"), h->institution_name,
             sizeof h->institution_name);
  get_string(root, P("sequenceParameters", "sequence_type"), h->sequence_type,
             sizeof h->sequence_type);

  if ((rc = get_double(root, P("acquisitionSystemInformation", "systemFieldStrength_T"),
                       &h->field_strength_t, what, err)) < 0 ||
      (rc = get_int(root, P("acquisitionSystemInformation", "receiverChannels"),
                    &h->receiver_channels, what, err)) < 0 ||
      (rc = get_double(root, P("experimentalConditions", "H1resonanceFrequency_Hz"),
                       &h->h1_frequency_hz, what, err)) < 0 ||
      (rc = get_double(root, P("sequenceParameters", "TR"), &h->tr_ms, what, err)) < 0 ||
      (rc = get_double(root, P("sequenceParameters", "TE"), &h->te_ms, what, err)) < 0 ||
      (rc = get_double(root, P("sequenceParameters", "TI"), &h->ti_ms, what, err)) < 0 ||
      (rc = get_double(root, P("sequenceParameters", "flipAngle_deg"), &h->flip_angle_deg, what,
                       err)) < 0 ||
      (rc = get_double(root, P("sequenceParameters", "echo_spacing"), &h->echo_spacing_ms, what,
                       err)) < 0)
    return rc;
  return 0;
}

static void header_clear(fmr_header *h) {
  memset(h, 0, sizeof *h);
  fmr_space absent = {-1, -1, -1, NAN, NAN, NAN};
  h->encoded = h->recon = absent;
  h->e1_min = h->e1_max = h->e1_center = -1;
  h->receiver_channels = h->echo_train_length = -1;
  h->field_strength_t = h->h1_frequency_hz = NAN;
  h->tr_ms = h->te_ms = h->ti_ms = h->flip_angle_deg = h->echo_spacing_ms = NAN;
}

int fmr_header_parse(const char *xml, size_t len, const char *what, fmr_header *out, fmr_err *err) {
  return fmr_header_parse_limited(xml, len, what, NULL, out, err);
}

int fmr_header_parse_limited(const char *xml, size_t len, const char *what,
                             const fmr_limits *limits, fmr_header *out, fmr_err *err) {
  xmlParserCtxtPtr ctxt = NULL;
  size_t max = fmr_limits_or_default(limits)->header_bytes;
  xmlDocPtr doc = NULL;
  parse_state st = {0, 0, ""};
  int rc = 0;
  if (!what) what = "ismrmrd_header";
  if (!out) return fmr_err_set(err, FMR_EINVAL, "%s: fmr_header_parse: no output", what);
  header_clear(out);
  if (!xml || len == 0) return fmr_err_set(err, FMR_EXML, "%s: ISMRMRD header is empty", what);
  if (len > max || len > INT_MAX)
    return fmr_err_set(err, FMR_EXML, "%s: ISMRMRD header is %zu bytes, more than the %zu-byte "
                       "limit (limits.header_bytes)", what, len, max < INT_MAX ? max : INT_MAX);

  xmlInitParser();
  /* libxml2 reports some errors through the thread's generic handlers even with a structured
   * handler on the context; route those to the same place for this parse, then put them back. */
  xmlStructuredErrorFunc saved_serror = xmlStructuredError;
  void *saved_sctx = xmlStructuredErrorContext;

  ctxt = xmlNewParserCtxt();
  if (!ctxt) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: cannot create an XML parser", what);
    goto done;
  }
  ctxt->_private = &st;
  ctxt->sax->serror = on_structured_error;
  ctxt->sax->internalSubset = on_internal_subset;
  ctxt->sax->entityDecl = on_entity_decl;
  xmlSetStructuredErrorFunc(ctxt, on_structured_error);

  /* Deliberately absent: XML_PARSE_NOENT (entity substitution), XML_PARSE_DTDLOAD/DTDATTR/DTDVALID
   * (DTD fetching), XML_PARSE_HUGE (lifts the size and depth limits), XML_PARSE_XINCLUDE. */
  int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
  doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL, options);

  if (st.doctype) {
    rc = fmr_err_set(err, FMR_EXML, "%s: ISMRMRD header has a DOCTYPE or entity declarations, "
                     "which are refused (possible entity-expansion or external-entity attack)",
                     what);
    goto done;
  }
  if (!doc || !ctxt->wellFormed) {
    const char *why = st.first_error[0] ? st.first_error : "not well-formed XML";
    rc = fmr_err_set(err, FMR_EXML, "%s: ISMRMRD header is not valid XML: %s", what, why);
    goto done;
  }
  /* Belt and braces: a DTD must not have slipped past the callbacks. */
  if (doc->intSubset || doc->extSubset) {
    rc = fmr_err_set(err, FMR_EXML, "%s: ISMRMRD header has a DOCTYPE, which is refused", what);
    goto done;
  }
  const xmlNode *root = xmlDocGetRootElement(doc);
  if (!root || strcmp((const char *)root->name, "ismrmrdHeader") != 0 || !in_ns(root)) {
    const char *ns = root && root->ns && root->ns->href ? (const char *)root->ns->href : "";
    rc = fmr_err_set(err, FMR_EXML, "%s: ISMRMRD header: root element is <%s>%s%s, expected "
                     "<ismrmrdHeader> in namespace " ISMRMRD_NS, what,
                     root ? (const char *)root->name : "", ns[0] ? " in namespace " : "", ns);
    goto done;
  }
  rc = extract(root, out, what, err);

done:
  if (ctxt) xmlSetStructuredErrorFunc(saved_sctx, saved_serror);
  if (doc) xmlFreeDoc(doc);
  if (ctxt) xmlFreeParserCtxt(ctxt);
  if (rc < 0) header_clear(out);
  return rc;
}
