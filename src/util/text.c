/* Text from untrusted files (include/fmr/util/text.h).
 *
 * The CSV reader is hand-written (RFC 4180). Debian's libcsv (libcsv-dev) was considered: it
 * reports neither line numbers nor where a record starts, trims spaces from unquoted fields by
 * default, and after a strict-mode quoting error the parser must be torn down and restarted with
 * no way to say which line was bad or to resume at the next one. We need every malformed row
 * reported as file:line while the rest of the file is still read. */
#include "fmr/util/text.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fmr_text_is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

fmr_text fmr_text_trim(const char *s, size_t n) {
  while (n && fmr_text_is_space((unsigned char)s[0])) s++, n--;
  while (n && fmr_text_is_space((unsigned char)s[n - 1])) n--;
  return (fmr_text){s, n};
}

void fmr_text_quote(char *out, size_t out_size, const char *s, size_t n, size_t max_in) {
  size_t o = 0, i = 0;
  if (out_size == 0) return;
  for (; i < n && i < max_in && o + 5 < out_size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      snprintf(out + o, out_size - o, "\\x%02x", c);
      o += 4;
    } else {
      out[o++] = (char)c;
    }
  }
  if (i < n && o + 4 < out_size) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o < out_size ? o : out_size - 1] = '\0';
}

void fmr_text_printable(const char *in, size_t max, char *out) {
  size_t n = 0;
  const char *v = in ? in : "";
  while (*v == ' ') v++;
  for (; *v && n < max; v++) {
    unsigned char c = (unsigned char)*v;
    out[n++] = c < 0x20 || c > 0x7e ? '?' : c == '\\' ? '/' : (char)c;
  }
  while (n > 0 && out[n - 1] == ' ') n--;
  out[n] = '\0';
}

int fmr_text_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i];
    size_t k;
    unsigned min, cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return 0;
    }
    if (n - i <= k) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((p[i + j] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (p[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += k + 1;
  }
  return 1;
}

int fmr_text_parse_int(const char *s, size_t n, long long lo, long long hi, long long *out) {
  size_t i = 0;
  int neg = 0;
  if (n && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == n) return -1;
  /* Stop accumulating once past any bound: long digit strings are still checked for syntax but
   * cannot overflow. */
  unsigned long long acc = 0;
  int big = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    if (acc > (unsigned long long)LLONG_MAX / 10) big = 1;
    if (!big) acc = acc * 10 + (unsigned long long)(s[i] - '0');
  }
  if (big || acc > (unsigned long long)LLONG_MAX) return -2;
  long long v = neg ? -(long long)acc : (long long)acc;
  if (v < lo || v > hi) return -2;
  *out = v;
  return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int fmr_text_parse_decimal(const char *s, size_t n, double *out) {
  size_t i = 0, digits = 0;
  if (i < n && (s[i] == '+' || s[i] == '-')) i++;
  while (i < n && is_digit(s[i])) i++, digits++;
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && is_digit(s[i])) i++, digits++;
  }
  if (digits == 0) return -1;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t ed = 0;
    while (i < n && is_digit(s[i])) i++, ed++;
    if (ed == 0) return -1;
  }
  if (i != n) return -1;
  char buf[64];
  if (n >= sizeof buf) return -1; /* no real header writes a 64-character number */
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *end = NULL;
  errno = 0;
  double v = strtod(buf, &end);
  if (end != buf + n) return -1;
  if (!isfinite(v) || errno == ERANGE) return -2;
  *out = v;
  return 0;
}

int fmr_text_uid_root_check(const char *root, size_t max_len, char *why, size_t why_size) {
  size_t len = root ? strlen(root) : 0;
  if (len == 0) {
    snprintf(why, why_size, "is empty");
    return -1;
  }
  size_t comp_no = 1;
  for (const char *c = root;; comp_no++) {
    const char *start = c;
    while (is_digit(*c)) c++;
    size_t comp = (size_t)(c - start);
    if (*c != '\0' && *c != '.') {
      snprintf(why, why_size, "has '%c' at character %zu: only digits and dots are allowed",
               (unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f ? *c : '?',
               (size_t)(c - root) + 1);
      return -1;
    }
    if (comp == 0) {
      snprintf(why, why_size, "has an empty component %zu", comp_no);
      return -1;
    }
    if (comp > 1 && start[0] == '0') {
      snprintf(why, why_size, "has a leading zero in component %zu", comp_no);
      return -1;
    }
    if (*c == '\0') break;
    c++;
  }
  if (len > max_len) {
    snprintf(why, why_size, "is %zu characters, more than the %zu that leave room for the "
             "generated suffix within DICOM's 64", len, max_len);
    return -1;
  }
  return 0;
}

/* ---- RFC 4180 records ------------------------------------------------------------------------- */

int fmr__grow(void *pp, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2 / elem) return FMR_ENOMEM;
    ncap *= 2;
  }
  void *old;
  memcpy(&old, pp, sizeof old);
  void *np = realloc(old, ncap * elem);
  if (!np) return FMR_ENOMEM;
  memcpy(pp, &np, sizeof np);
  *cap = ncap;
  return 0;
}

void fmr_csv_reader_init(fmr_csv_reader *r, const char *data, size_t len, size_t max_record, int comment) {
  memset(r, 0, sizeof *r);
  r->data = data ? data : "";
  r->len = data ? len : 0;
  r->line = 1;
  r->max_record = max_record;
  r->comment = comment;
  if (r->len >= 3 && memcmp(r->data, "\xEF\xBB\xBF", 3) == 0) r->pos = 3; /* spreadsheet exports */
}

void fmr_csv_reader_free(fmr_csv_reader *r) {
  free(r->buf);
  free(r->fofs);
  r->buf = NULL;
  r->fofs = NULL;
  r->bcap = r->fcap = r->blen = r->nf = 0;
}

size_t fmr_csv_reader_nfields(const fmr_csv_reader *r) { return r->nf; }

fmr_text fmr_csv_reader_field(const fmr_csv_reader *r, size_t i) {
  if (i >= r->nf) return (fmr_text){"", 0};
  return (fmr_text){r->buf + r->fofs[i], r->fofs[i + 1] - r->fofs[i]};
}

static int at_eol(const fmr_csv_reader *r) { return r->data[r->pos] == '\n' || r->data[r->pos] == '\r'; }

/* Consume one line end: CRLF, LF or a lone CR. */
static void eat_eol(fmr_csv_reader *r) {
  if (r->data[r->pos] == '\r' && r->pos + 1 < r->len && r->data[r->pos + 1] == '\n') r->pos++;
  r->pos++;
  r->line++;
}

/* Resynchronise after a bad record: drop the rest of the physical line. */
static void skip_line(fmr_csv_reader *r) {
  while (r->pos < r->len && !at_eol(r)) r->pos++;
  if (r->pos < r->len) eat_eol(r);
}

/* 0, FMR_ENOMEM, or 1 when the record outgrows the limit. */
static int buf_put(fmr_csv_reader *r, char c) {
  if (r->max_record && r->blen >= r->max_record) return 1;
  if (r->blen == r->bcap && fmr__grow(&r->buf, &r->bcap, r->blen + 1, 1)) return FMR_ENOMEM;
  r->buf[r->blen++] = c;
  return 0;
}

static int field_start(fmr_csv_reader *r) {
  if (fmr__grow(&r->fofs, &r->fcap, r->nf + 2, sizeof *r->fofs)) return FMR_ENOMEM;
  r->fofs[r->nf++] = r->blen;
  return 0;
}

static int record_done(fmr_csv_reader *r) {
  r->fofs[r->nf] = r->blen; /* room reserved by field_start */
  return FMR_CSV_OK;
}

static int too_long(fmr_csv_reader *r, char *why, size_t why_size) {
  snprintf(why, why_size, "record longer than %zu bytes (limits.csv_line_bytes)", r->max_record);
  skip_line(r);
  return FMR_CSV_BAD;
}

int fmr_csv_reader_next(fmr_csv_reader *r, size_t *rec_line, char *why, size_t why_size) {
  for (;;) { /* blank lines and comments are not records */
    while (r->pos < r->len && at_eol(r)) eat_eol(r);
    if (r->pos < r->len && r->comment && r->data[r->pos] == r->comment) {
      skip_line(r);
      continue;
    }
    break;
  }
  if (r->pos >= r->len) return FMR_CSV_EOF;
  *rec_line = r->line;
  r->blen = 0;
  r->nf = 0;
  for (;;) {
    if (field_start(r)) return FMR_ENOMEM;
    if (r->pos < r->len && r->data[r->pos] == '"') {
      size_t qpos = r->pos, qline = r->line;
      r->pos++;
      for (;;) {
        if (r->pos >= r->len) {
          snprintf(why, why_size, "bad quoting: quoted field opened on line %zu is never closed",
                   qline);
          /* Resume on the line after the opening quote, so one stray quote costs one row. */
          r->pos = qpos;
          r->line = qline;
          skip_line(r);
          return FMR_CSV_BAD;
        }
        char c = r->data[r->pos];
        int put;
        if (c == '"') {
          if (r->pos + 1 < r->len && r->data[r->pos + 1] == '"') {
            if ((put = buf_put(r, '"')) < 0) return put;
            if (put) return too_long(r, why, why_size);
            r->pos += 2;
            continue;
          }
          r->pos++;
          break;
        }
        if (c == '\n' || (c == '\r' && !(r->pos + 1 < r->len && r->data[r->pos + 1] == '\n')))
          r->line++;
        if ((put = buf_put(r, c)) < 0) return put;
        if (put) return too_long(r, why, why_size);
        r->pos++;
      }
      if (r->pos >= r->len) return record_done(r);
      char c = r->data[r->pos];
      if (c == ',') {
        r->pos++;
        continue;
      }
      if (c == '\n' || c == '\r') {
        eat_eol(r);
        return record_done(r);
      }
      snprintf(why, why_size, "bad quoting: character after a closing quote on line %zu", r->line);
      skip_line(r);
      return FMR_CSV_BAD;
    }
    for (;;) {
      if (r->pos >= r->len) return record_done(r);
      char c = r->data[r->pos];
      if (c == ',') {
        r->pos++;
        break;
      }
      if (c == '\n' || c == '\r') {
        eat_eol(r);
        return record_done(r);
      }
      if (c == '"') {
        snprintf(why, why_size, "bad quoting: quote inside an unquoted field on line %zu", r->line);
        skip_line(r);
        return FMR_CSV_BAD;
      }
      int put = buf_put(r, c);
      if (put < 0) return put;
      if (put) return too_long(r, why, why_size);
      r->pos++;
    }
  }
}
