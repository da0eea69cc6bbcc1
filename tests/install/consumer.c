/* A program outside the project that uses the installed library (tests/install/test_install.sh). */
#include <nnp.h>
#include <stdio.h>
int main(void) {
  const char *sp[] = {"O", "H"};
  nnp_hyper h; nnp_model *m; nnp_error err;
  nnp_hyper_default(&h, 2, sp, &err);
  h.channels = 4; h.l_max = 1;
  if (nnp_model_create_random(&h, 1, &m, &err)) return 1;
  printf("params %zu\n", nnp_model_param_count(m));
  nnp_model_free(m);
  return 0;
}
