/* util/text: the shared helpers every parser relies on, on their edge cases. */
#include <math.h>
#include <string.h>

#include "fmr/util/text.h"
#include "fmr_test.h"

static int pi(const char *s, long long lo, long long hi, long long *v) {
  return fmr_text_parse_int(s, strlen(s), lo, hi, v);
}

static void test_numbers(void) {
  long long v = 0;
  CHECK_INT_EQ(pi("42", 0, 100, &v), 0);
  CHECK_INT_EQ(v, 42);
  CHECK_INT_EQ(pi("-7", -10, 10, &v), 0);
  CHECK_INT_EQ(v, -7);
  CHECK_INT_EQ(pi("+0007", 0, 10, &v), 0);
  CHECK_INT_EQ(v, 7);
  CHECK_INT_EQ(pi("101", 0, 100, &v), -2);
  CHECK_INT_EQ(pi("9223372036854775807", 0, 9223372036854775807LL, &v), 0);
  CHECK_INT_EQ(pi("9223372036854775808", 0, 9223372036854775807LL, &v), -2);
  CHECK_INT_EQ(pi("123456789012345678901234567890", 0, 10, &v), -2);
  static const char *const not_int[] = {"", "-", "+", " 1", "1 ", "0x10", "1.0", "1e3", "١"};
  for (size_t i = 0; i < sizeof not_int / sizeof not_int[0]; i++)
    CHECK_INT_EQ(pi(not_int[i], -100, 100, &v), -1);
  double d = 0;
  CHECK_INT_EQ(fmr_text_parse_decimal("2.5e-1", 6, &d), 0);
  CHECK_DBL_EQ(d, 0.25);
  CHECK_INT_EQ(fmr_text_parse_decimal(".5", 2, &d), 0);
  CHECK_DBL_EQ(d, 0.5);
  CHECK_INT_EQ(fmr_text_parse_decimal("1e999", 5, &d), -2);
  static const char *const not_num[] = {"nan", "inf", "0x1p3", "1e", ".", "1.2.3", " 1", "e5"};
  for (size_t i = 0; i < sizeof not_num / sizeof not_num[0]; i++)
    CHECK_INT_EQ(fmr_text_parse_decimal(not_num[i], strlen(not_num[i]), &d), -1);
}

static void test_uid_root(void) {
  char why[160];
  CHECK_INT_EQ(fmr_text_uid_root_check("2.25", 43, why, sizeof why), 0);
  CHECK_INT_EQ(fmr_text_uid_root_check("0.1.0", 43, why, sizeof why), 0);
  CHECK_INT_EQ(fmr_text_uid_root_check("1.01", 43, why, sizeof why), -1);
  CHECK_STR_EQ(why, "has a leading zero in component 2");
  CHECK_INT_EQ(fmr_text_uid_root_check("1.2 ", 43, why, sizeof why), -1);
  CHECK_STR_EQ(why, "has ' ' at character 4: only digits and dots are allowed");
  CHECK_INT_EQ(fmr_text_uid_root_check("", 43, why, sizeof why), -1);
  CHECK_INT_EQ(fmr_text_uid_root_check("12345", 4, why, sizeof why), -1);
  CHECK(strstr(why, "is 5 characters, more than the 4") != NULL);
}

static void test_trim_quote_printable(void) {
  fmr_text t = fmr_text_trim(" \t\r\nab c\v\f ", 11);
  CHECK_UINT_EQ(t.n, 4);
  CHECK(memcmp(t.s, "ab c", 4) == 0);
  char q[64];
  fmr_text_quote(q, sizeof q, "a\"b\\\x01\xff", 6, 64);
  CHECK_STR_EQ(q, "a\\x22b\\x5c\\x01\\xff");
  fmr_text_quote(q, sizeof q, "abcdefgh", 8, 3);
  CHECK_STR_EQ(q, "abc...");
  fmr_text_quote(q, 8, "abcdefghijkl", 12, 64); /* the buffer, not the input, is the bound */
  CHECK(strlen(q) < 8);
  char out[8];
  fmr_text_printable("  a\\b\x01\xe9 long text  ", 7, out);
  CHECK_STR_EQ(out, "a/b?? l"); /* 7 characters: cut, then trailing spaces dropped */
  CHECK(fmr_text_utf8_valid("\xc3\xa9", 2));
  CHECK(!fmr_text_utf8_valid("\xc0\xaf", 2)); /* overlong '/' */
  CHECK(!fmr_text_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
}

static void test_csv(void) {
  const char *data = "\xEF\xBB\xBF# comment\r\na,\"b,\"\"c\"\"\",d\r\n\r\n\"multi\nline\",x\n"
                     "bad\"q,1\nlong field here,2\nlast";
  fmr_csv_reader r;
  fmr_csv_reader_init(&r, data, strlen(data), 12, '#');
  char why[128];
  size_t line = 0;
  CHECK_INT_EQ(fmr_csv_reader_next(&r, &line, why, sizeof why), FMR_CSV_OK);
  CHECK_UINT_EQ(line, 2);
  CHECK_UINT_EQ(fmr_csv_reader_nfields(&r), 3);
  fmr_text f = fmr_csv_reader_field(&r, 1);
  CHECK(f.n == 5 && memcmp(f.s, "b,\"c\"", 5) == 0);
  CHECK_INT_EQ(fmr_csv_reader_next(&r, &line, why, sizeof why), FMR_CSV_OK);
  CHECK_UINT_EQ(line, 4);
  f = fmr_csv_reader_field(&r, 0);
  CHECK(f.n == 10 && memcmp(f.s, "multi\nline", 10) == 0);
  CHECK_INT_EQ(fmr_csv_reader_next(&r, &line, why, sizeof why), FMR_CSV_BAD);
  CHECK_UINT_EQ(line, 6);
  CHECK(strstr(why, "quote inside an unquoted field") != NULL);
  CHECK_INT_EQ(fmr_csv_reader_next(&r, &line, why, sizeof why), FMR_CSV_BAD);
  CHECK_UINT_EQ(line, 7);
  CHECK_STR_EQ(why, "record longer than 12 bytes (limits.csv_line_bytes)");
  CHECK_INT_EQ(fmr_csv_reader_next(&r, &line, why, sizeof why), FMR_CSV_OK);
  CHECK_UINT_EQ(line, 8);
  CHECK_INT_EQ(fmr_csv_reader_next(&r, &line, why, sizeof why), FMR_CSV_EOF);
  fmr_csv_reader_free(&r);
}

int main(void) {
  test_numbers();
  test_uid_root();
  test_trim_quote_printable();
  test_csv();
  return fmr_test_end();
}
