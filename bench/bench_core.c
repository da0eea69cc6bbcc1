/* Times the core: microseconds per atom for one energy + force + virial evaluation, per thread count, median of
 * repeated runs, for one structure. usage: bench_core [--single] MODEL.nnp STRUCTURE.extxyz STEP REPS THREADS...
 * --single: float32 convolutions (nnp_workspace_set_precision) */
#include "bench_case.h"
#include "blas_threads.h"

#include <string.h>

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  tools_blas_single_threaded(); /* as the tools do (nnp.h, "Threads") */
  const int single = argc > 1 && strcmp(argv[1], "--single") == 0;
  if (single) --argc, ++argv;
  if (argc < 6)
    return fprintf(stderr, "usage: bench_core [--single] MODEL.nnp STRUCTURE.extxyz STEP REPS THREADS...\n"), 2;
  bench_case c;
  if (bench_case_load(&c, argv[1], argv[2])) return 1;
  const nnp_graph *g = c.graph;
  const double step = atof(argv[3]);
  const int reps = atoi(argv[4]) > 0 ? atoi(argv[4]) : 1;
  double *f = malloc(sizeof(double) * 3 * g->n_total), *t = malloc(sizeof(double) * reps),
         *tc = malloc(sizeof(double) * reps);
  printf("# %d atoms (%d with ghosts), radial step %g A, median of %d runs\n"
         "# threads  us/atom  speed-up  cpu_us/atom (process CPU time, all threads: on a shared machine the cost "
         "without the waits)\n",
         c.frame.n_atoms, g->n_total, step, reps);
  double t1 = 0;
  nnp_error err;
  for (int a = 5; a < argc; ++a) {
    const int threads = atoi(argv[a]);
    nnp_workspace *ws;
    if (nnp_workspace_create(c.model, threads, &ws, &err) || nnp_workspace_tabulate_radial(ws, step, &err) ||
        nnp_workspace_set_precision(ws, single ? NNP_PRECISION_SINGLE : NNP_PRECISION_DOUBLE, &err))
      return fprintf(stderr, "%s\n", err.message), 1;
    nnp_result r = {0, {0}, NULL, f, NULL};
    nnp_compute(c.model, ws, g, &r, &err); /* warm-up: allocations, page faults */
    for (int k = 0; k < reps; ++k) {
      double t0 = bench_now(), c0 = cpu_now();
      if (nnp_compute(c.model, ws, g, &r, &err)) return fprintf(stderr, "%s\n", err.message), 1;
      t[k] = bench_now() - t0;
      tc[k] = cpu_now() - c0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    qsort(tc, (size_t)reps, sizeof *tc, cmp);
    double us = 1e6 * t[reps / 2] / c.frame.n_atoms;
    if (a == 5) t1 = us;
    printf("%9d %8.1f %9.2f %12.1f\n", threads, us, t1 / us, 1e6 * tc[reps / 2] / c.frame.n_atoms);
    nnp_workspace_free(ws);
  }
  free(f), free(t), free(tc);
  bench_case_free(&c);
  return 0;
}
