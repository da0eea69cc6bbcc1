/* A minimal check tally shared by the C tests that count passes and failures. */
#ifndef NNP_TESTS_CHECK_H
#define NNP_TESTS_CHECK_H

#include <stdio.h>

typedef struct {
  int passed, failed;
} tally;

static inline void tally_check(tally *t, int ok, const char *file, int line, const char *what) {
  if (ok) {
    t->passed++;
  } else {
    t->failed++;
    printf("FAIL (%s:%d): %s\n", file, line, what);
  }
}
#define CHECK(t, cond) tally_check((t), (cond), __FILE__, __LINE__, #cond)

/* CHECK with a printf-style description of what failed */
#define CHECKF(t, cond, ...)                                                                                           \
  do {                                                                                                                 \
    char what_[1024]; /* room for a message and an nnp_error message (512) */                                          \
    snprintf(what_, sizeof what_, __VA_ARGS__);                                                                        \
    tally_check((t), (cond), __FILE__, __LINE__, what_);                                                               \
  } while (0)

#endif
