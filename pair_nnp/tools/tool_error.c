/* The tools' error convention (tool_error.h). */
#include "tool_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

nnp_status tool_fail(nnp_error *err, nnp_status status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return status;
}

nnp_status tool_prefix(nnp_error *err, nnp_status status, const char *prefix) {
  const size_t n = strlen(prefix);
  if (err && !(strncmp(err->message, prefix, n) == 0 && err->message[n] == ':')) {
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "%.200s: %.300s", prefix, err->message);
    memcpy(err->message, msg, sizeof msg);
  }
  return status;
}

void tool_notice(const char *program, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", program);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}
