/* Times the core: microseconds per atom for one energy + force + virial evaluation, per thread count, median of
 * repeated runs, for one structure. usage: bench_core MODEL.nnp STRUCTURE.extxyz STEP REPS THREADS... */
#include "extxyz.h"
#include "nnp.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 6) return fprintf(stderr, "usage: bench_core MODEL.nnp STRUCTURE.extxyz STEP REPS THREADS...\n"), 2;
  nnp_error err;
  nnp_model *m;
  if (nnp_model_read(argv[1], &m, &err)) return fprintf(stderr, "%s\n", err.message), 1;
  xyz_reader *rd;
  xyz_error xe;
  xyz_frame fr;
  xyz_frame_init(&fr);
  if (xyz_reader_open(argv[2], &rd, &xe) || xyz_reader_next(rd, &fr, &xe) != 1)
    return fprintf(stderr, "%s\n", xe.message), 1;
  int *sp = malloc(sizeof(int) * fr.n_atoms);
  for (int i = 0; i < fr.n_atoms; ++i) sp[i] = nnp_model_species_index(m, fr.symbols[i]);
  nnp_cell_graph *cg;
  if (nnp_cell_graph_build(fr.n_atoms, sp, fr.positions, (const double(*)[3])fr.cell, fr.pbc, nnp_model_hyper(m)->r_cut,
                           &cg, &err))
    return fprintf(stderr, "%s\n", err.message), 1;
  const nnp_graph *g = nnp_cell_graph_view(cg);
  const double step = atof(argv[3]);
  const int reps = atoi(argv[4]);
  double *f = malloc(sizeof(double) * 3 * g->n_total), *t = malloc(sizeof(double) * (reps > 0 ? reps : 1));
  printf("# %d atoms (%d with ghosts), radial step %g A, median of %d runs\n# threads  us/atom  speed-up\n", fr.n_atoms,
         g->n_total, step, reps);
  double t1 = 0;
  for (int a = 5; a < argc; ++a) {
    const int threads = atoi(argv[a]);
    nnp_workspace *ws;
    if (nnp_workspace_create(m, threads, &ws, &err) || nnp_workspace_tabulate_radial(ws, step, &err))
      return fprintf(stderr, "%s\n", err.message), 1;
    nnp_result r = {0, {0}, NULL, f, NULL};
    nnp_compute(m, ws, g, &r, &err); /* warm-up: allocations, page faults */
    for (int k = 0; k < reps; ++k) {
      double t0 = now();
      if (nnp_compute(m, ws, g, &r, &err)) return fprintf(stderr, "%s\n", err.message), 1;
      t[k] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    double us = 1e6 * t[reps / 2] / fr.n_atoms;
    if (a == 5) t1 = us;
    printf("%9d %8.1f %9.2f\n", threads, us, t1 / us);
    nnp_workspace_free(ws);
  }
  nnp_cell_graph_free(cg);
  free(sp), free(f), free(t);
  xyz_frame_free(&fr);
  xyz_reader_close(rd);
  nnp_model_free(m);
  return 0;
}
