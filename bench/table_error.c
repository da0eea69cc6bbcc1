/* Measures what tabulating the radial MLP costs in accuracy and buys in speed, for one model and one structure.
 * usage: table_error MODEL.nnp STRUCTURE.extxyz [STEP ...]   (prints max |dF| (eV/A), |dE| (eV), speed-up)
 *        table_error --profile MODEL.nnp STRUCTURE.extxyz STEP  (one tabulated evaluation only, for callgrind) */
#include "bench_case.h"
#include "blas_threads.h"

#include <math.h>
#include <string.h>

static double run(const nnp_model *m, nnp_workspace *ws, const nnp_graph *g, double *f, double *e, int reps) {
  nnp_result r = {0, {0}, NULL, f, NULL};
  nnp_error err;
  double t0 = bench_now();
  for (int k = 0; k < reps; ++k)
    if (nnp_compute(m, ws, g, &r, &err)) {
      fprintf(stderr, "%s\n", err.message);
      exit(1);
    }
  *e = r.energy;
  return (bench_now() - t0) / reps;
}

int main(int argc, char **argv) {
  tools_blas_single_threaded(); /* as the tools do (nnp.h, "Threads") */
  int profile = argc > 1 && !strcmp(argv[1], "--profile");
  argv += profile, argc -= profile;
  if (argc < 3) return fprintf(stderr, "usage: table_error MODEL.nnp STRUCTURE.extxyz [STEP ...]\n"), 2;
  bench_case c;
  if (bench_case_load(&c, argv[1], argv[2])) return 1;
  const nnp_graph *g = c.graph;
  const int n = c.frame.n_atoms;
  double *f0 = malloc(sizeof(double) * 3 * g->n_total), *f1 = malloc(sizeof(double) * 3 * g->n_total), e0, e1;
  nnp_error err;
  nnp_workspace *ws;
  if (nnp_workspace_create(c.model, 1, &ws, &err)) return fprintf(stderr, "%s\n", err.message), 1;
  if (profile) {
    if (argc < 4 || nnp_workspace_tabulate_radial(ws, atof(argv[3]), &err)) return fprintf(stderr, "bad step\n"), 1;
    printf("%.1f us/atom\n", 1e6 * run(c.model, ws, g, f1, &e1, 1) / n);
    return 0;
  }
  double t_exact = run(c.model, ws, g, f0, &e0, 2);
  printf("exact radial MLP: %.1f us/atom, E = %.10f eV\n", 1e6 * t_exact / n, e0);
  printf("%10s %14s %14s %14s %10s %10s\n", "step (A)", "max|dF| eV/A", "max|F| eV/A", "|dE| eV", "speed-up",
         "us/atom");
  for (int k = 3; k < argc; ++k) {
    double step = atof(argv[k]);
    if (nnp_workspace_tabulate_radial(ws, step, &err)) return fprintf(stderr, "%s\n", err.message), 1;
    double t = run(c.model, ws, g, f1, &e1, 2), df = 0, fm = 0;
    for (int q = 0; q < 3 * g->n_local; ++q) df = fmax(df, fabs(f1[q] - f0[q])), fm = fmax(fm, fabs(f0[q]));
    printf("%10.4f %14.3e %14.3e %14.3e %10.2f %10.1f\n", step, df, fm, fabs(e1 - e0), t_exact / t, 1e6 * t / n);
  }
  nnp_workspace_free(ws);
  free(f0), free(f1);
  bench_case_free(&c);
  return 0;
}
