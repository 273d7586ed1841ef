/* RFC 4180 output: the annotation reader (labels/annotations.c) reads the same dialect back. */
#include "fmr/util/csvwrite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fmr_csv_init(fmr_csv *c) { memset(c, 0, sizeof *c); }

void fmr_csv_free(fmr_csv *c) {
  free(c->data);
  memset(c, 0, sizeof *c);
}

static void put(fmr_csv *c, const char *s, size_t n) {
  if (c->failed) return;
  if (c->len + n + 1 > c->cap) {
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < c->len + n + 1) {
      if (cap > ((size_t)-1) / 2) {
        c->failed = 1;
        return;
      }
      cap *= 2;
    }
    char *d = realloc(c->data, cap);
    if (!d) {
      c->failed = 1;
      return;
    }
    c->data = d;
    c->cap = cap;
  }
  memcpy(c->data + c->len, s, n);
  c->len += n;
  c->data[c->len] = '\0';
}

void fmr_csv_field(fmr_csv *c, const char *s) {
  if (!s) s = "";
  if (c->fields++) put(c, ",", 1);
  if (!strpbrk(s, ",\"\r\n ")) {
    put(c, s, strlen(s));
    return;
  }
  put(c, "\"", 1);
  for (const char *q; (q = strchr(s, '"')); s = q + 1) {
    put(c, s, (size_t)(q - s) + 1);
    put(c, "\"", 1);
  }
  put(c, s, strlen(s));
  put(c, "\"", 1);
}

void fmr_csv_fieldf(fmr_csv *c, const char *fmt, ...) {
  char buf[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof buf) {
    c->failed = 1; /* only numbers come through here: a bug, not data */
    return;
  }
  fmr_csv_field(c, buf);
}

void fmr_csv_end_record(fmr_csv *c) {
  put(c, "\r\n", 2);
  c->fields = 0;
}
