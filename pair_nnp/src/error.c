/* Status codes and readable messages. */
#include "nnp_internal.h"

#include <stdarg.h>
#include <stdio.h>

#define NNP_STRINGIFY2(x) #x
#define NNP_STRINGIFY(x)  NNP_STRINGIFY2(x)

/* CMake passes the project's version: the header's must be the same */
#if defined(NNP_PROJECT_VERSION_MAJOR) &&                                                                              \
    (NNP_PROJECT_VERSION_MAJOR != NNP_VERSION_MAJOR || NNP_PROJECT_VERSION_MINOR != NNP_VERSION_MINOR ||               \
     NNP_PROJECT_VERSION_PATCH != NNP_VERSION_PATCH)
#error "the NNP_VERSION_* macros of nnp.h differ from the version in CMakeLists.txt"
#endif

const char *nnp_version(void) {
  return NNP_STRINGIFY(NNP_VERSION_MAJOR) "." NNP_STRINGIFY(NNP_VERSION_MINOR) "." NNP_STRINGIFY(NNP_VERSION_PATCH);
}

int nnp_abi_version(void) { return NNP_ABI_VERSION; }

const char *nnp_status_string(nnp_status status) {
  switch (status) {
  case NNP_OK:
    return "success";
  case NNP_ERR_ARGUMENT:
    return "invalid argument";
  case NNP_ERR_IO:
    return "input/output error";
  case NNP_ERR_FORMAT:
    return "damaged or inconsistent model file";
  case NNP_ERR_VERSION:
    return "unsupported model file version";
  case NNP_ERR_CHECKSUM:
    return "model file checksum mismatch";
  case NNP_ERR_SPECIES:
    return "unknown species";
  case NNP_ERR_GEOMETRY:
    return "invalid geometry";
  case NNP_ERR_NOMEM:
    return "out of memory";
  case NNP_ERR_EXCHANGE:
    return "feature exchange failed";
  case NNP_ERR_NUMERIC:
    return "non-finite result";
  }
  return "unknown status";
}

nnp_status nnp_fail(nnp_error *err, nnp_status status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return status;
}
