#include "numbers.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int tool_parse_int(const char *s, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno == ERANGE || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int tool_parse_real(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}
