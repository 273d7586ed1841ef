/* Text from untrusted files, handled one way everywhere: trimming, quoting in messages, cleaning
 * for DICOM values, strict number syntax, UID roots, and one RFC 4180 CSV record reader with a
 * record-length limit (the annotation CSVs and the SEG code table). No MPI here. */
#ifndef FMR_TEXT_H
#define FMR_TEXT_H

#include <stddef.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed run of bytes (not NUL-terminated). */
typedef struct fmr_text {
  const char *s;
  size_t n;
} fmr_text;

/* ASCII white space: space, \t, \n, \v, \f, \r. Locale-independent, unlike isspace(). */
int fmr_text_is_space(int c);

/* s[0..n) without surrounding ASCII white space. */
fmr_text fmr_text_trim(const char *s, size_t n);

/* s[0..n) for an error message: printable ASCII as is, every other byte and '"' and '\' as \xNN;
 * at most max_in input bytes, then "...". Always NUL-terminated (out_size >= 1). */
void fmr_text_quote(char *out, size_t out_size, const char *s, size_t n, size_t max_in);

/* Untrusted text for a DICOM string value: printable ASCII kept, other bytes '?', the value
 * delimiter '\' becomes '/', surrounding spaces dropped, cut to max characters. out: max + 1. */
void fmr_text_printable(const char *in, size_t max, char *out);

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF). */
int fmr_text_utf8_valid(const char *s, size_t n);

/* An optionally signed decimal integer, digits only (no blanks, no "0x"), within [lo, hi].
 * 0 and *out set; -1 not an integer; -2 out of range. */
int fmr_text_parse_int(const char *s, size_t n, long long lo, long long hi, long long *out);

/* A decimal number as XML Schema writes one: [sign] digits [. digits] [(e|E) [sign] digits]; no
 * "nan", "inf", hex floats or blanks (which strtod alone would take). 0 and *out set; -1 not a
 * number; -2 not finite as a double. */
int fmr_text_parse_decimal(const char *s, size_t n, double *out);

/* A DICOM UID root: dot-separated numeric components, none empty, each "0" or without a leading
 * zero, at most max_len characters. 0 when valid; otherwise -1 and `why` says what is wrong. */
int fmr_text_uid_root_check(const char *root, size_t max_len, char *why, size_t why_size);

/* Grow the array whose pointer is at `pp` (elem-byte items, capacity *cap) to hold `need` items,
 * doubling. The pointer is moved with memcpy so one helper serves every element type without
 * aliasing a T ** as a void **. 0 or FMR_ENOMEM (the array is then unchanged). Shared by the
 * parsers that build arrays of unknown length. */
int fmr__grow(void *pp, size_t *cap, size_t need, size_t elem);

/* ---- RFC 4180 records ------------------------------------------------------------------------- */

/* Reads records from a buffer: quoted fields, doubled quotes, quoted line breaks, CRLF/LF/CR line
 * ends, a leading UTF-8 BOM. Blank lines (and, with a comment character, lines starting with it)
 * are not records. A record longer than max_record bytes, or with bad quoting, is reported and
 * skipped, and reading resumes on the next line, so one bad row costs one row. */
typedef struct fmr_csv_reader {
  const char *data;
  size_t len, pos;
  size_t line;       /* physical line of data[pos], 1-based */
  size_t max_record; /* bytes of one record's fields; 0: no limit */
  int comment;       /* a line starting with this character is skipped; 0: none */
  char *buf;         /* unquoted bytes of the current record's fields */
  size_t blen, bcap;
  size_t *fofs;      /* field i is buf[fofs[i] .. fofs[i+1]) */
  size_t nf, fcap;
} fmr_csv_reader;

enum { FMR_CSV_EOF = 0, FMR_CSV_OK = 1, FMR_CSV_BAD = 2 };

void fmr_csv_reader_init(fmr_csv_reader *r, const char *data, size_t len, size_t max_record,
                         int comment);
/* The next record: FMR_CSV_OK (fields readable until the next call), FMR_CSV_BAD (`why` says what
 * is wrong; the reader is past it), FMR_CSV_EOF, or FMR_ENOMEM. *rec_line is the line the record
 * starts on. */
int fmr_csv_reader_next(fmr_csv_reader *r, size_t *rec_line, char *why, size_t why_size);
size_t fmr_csv_reader_nfields(const fmr_csv_reader *r);
fmr_text fmr_csv_reader_field(const fmr_csv_reader *r, size_t i);
void fmr_csv_reader_free(fmr_csv_reader *r);

#ifdef __cplusplus
}
#endif
#endif
