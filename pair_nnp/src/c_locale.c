/* Model files and baseline lines hold numbers in the C locale ("0.5", never "0,5"), whatever LC_NUMERIC the host
 * process has set: strtod and printf follow the calling thread's locale, so the functions that read or write such
 * numbers run inside a C-locale scope that switches only the calling thread (uselocale, POSIX 2008) and restores it.
 * No process-wide setting is touched, so other threads and the caller keep their locale. */
#include "nnp_internal.h"

nnp_c_locale nnp_c_locale_enter(void) {
  nnp_c_locale scope = {(locale_t)0, (locale_t)0};
  /* the whole C locale: glibc hands out its static C locale object for exactly this request, without allocating */
  scope.c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
  if (scope.c) scope.saved = uselocale(scope.c);
  return scope;
}

void nnp_c_locale_leave(nnp_c_locale scope) {
  if (!scope.c) return;
  uselocale(scope.saved);
  freelocale(scope.c);
}
