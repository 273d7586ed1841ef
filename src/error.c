#include "fmr/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *fmr_strerror(int code) {
  switch (code) {
    case FMR_OK:
      return "success";
#define FMR__ERR_CASE(name, value, msg) \
  case FMR_##name:                      \
    return msg;
      FMR_ERRNO_MAP(FMR__ERR_CASE)
#undef FMR__ERR_CASE
    default:
      return "unknown error";
  }
}

void fmr_err_clear(fmr_err *err) {
  if (err) {
    err->code = 0;
    err->msg[0] = '\0';
  }
}

int fmr_err_set(fmr_err *err, int code, const char *fmt, ...) {
  if (!err) return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

int fmr_err_prefix(fmr_err *err, const char *fmt, ...) {
  if (!err) return FMR_EINVAL;
  char prefix[FMR_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  char old[FMR_ERR_MSG_MAX];
  memcpy(old, err->msg, sizeof old);
  snprintf(err->msg, sizeof err->msg, "%s%s", prefix, old);
  return err->code;
}
