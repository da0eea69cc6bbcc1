/* nnp.h, "Threads": the library never changes BLAS's thread count; the programs that own their process do. */
#include "blas_threads.h"

/* weak: resolved when the program links OpenBLAS, NULL with another BLAS */
void openblas_set_num_threads(int) __attribute__((weak));

void tools_blas_single_threaded(void) {
  if (openblas_set_num_threads) openblas_set_num_threads(1);
}
