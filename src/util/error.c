#include "fmr/util/error.h"

#include <signal.h>
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
  /* Truncating concatenation by hand: snprintf("%s%s") trips -Wformat-truncation. */
  size_t plen = strlen(prefix), olen = strlen(err->msg);
  if (plen > sizeof err->msg - 1) plen = sizeof err->msg - 1;
  if (olen > sizeof err->msg - 1 - plen) olen = sizeof err->msg - 1 - plen;
  memmove(err->msg + plen, err->msg, olen);
  memcpy(err->msg, prefix, plen);
  err->msg[plen + olen] = '\0';
  return err->code;
}

const char *fmr_signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    case SIGKILL: return "SIGKILL";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    default: return "a signal";
  }
}
