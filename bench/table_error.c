/* Measures what tabulating the radial MLP costs in accuracy and buys in speed, for one model and one structure.
 * usage: table_error MODEL.nnp STRUCTURE.extxyz [STEP ...]   (prints max |dF| (eV/A), |dE| (eV), speed-up)
 *        table_error --profile MODEL.nnp STRUCTURE.extxyz STEP  (one tabulated evaluation only, for callgrind) */
#include "extxyz.h"
#include "nnp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double run(const nnp_model *m, nnp_workspace *ws, const nnp_graph *g, double *f, double *e, int reps) {
  nnp_result r = {0, {0}, NULL, f, NULL};
  nnp_error err;
  double t0 = now();
  for (int k = 0; k < reps; ++k)
    if (nnp_compute(m, ws, g, &r, &err)) {
      fprintf(stderr, "%s\n", err.message);
      exit(1);
    }
  *e = r.energy;
  return (now() - t0) / reps;
}

int main(int argc, char **argv) {
  int profile = argc > 1 && !strcmp(argv[1], "--profile");
  argv += profile, argc -= profile;
  if (argc < 3) return fprintf(stderr, "usage: table_error MODEL.nnp STRUCTURE.extxyz [STEP ...]\n"), 2;
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
  double *f0 = malloc(sizeof(double) * 3 * g->n_total), *f1 = malloc(sizeof(double) * 3 * g->n_total), e0, e1;
  nnp_workspace *ws;
  nnp_workspace_create(m, 1, &ws, &err);
  if (profile) {
    if (argc < 4 || nnp_workspace_tabulate_radial(ws, atof(argv[3]), &err)) return fprintf(stderr, "bad step\n"), 1;
    double t = run(m, ws, g, f1, &e1, 1);
    printf("%.1f us/atom\n", 1e6 * t / fr.n_atoms);
    return 0;
  }
  double t_exact = run(m, ws, g, f0, &e0, 2);
  printf("exact radial MLP: %.1f us/atom, E = %.10f eV\n", 1e6 * t_exact / fr.n_atoms, e0);
  printf("%10s %14s %14s %14s %10s %10s\n", "step (A)", "max|dF| eV/A", "max|F| eV/A", "|dE| eV", "speed-up",
         "us/atom");
  for (int k = 3; k < argc; ++k) {
    double step = atof(argv[k]);
    if (nnp_workspace_tabulate_radial(ws, step, &err)) return fprintf(stderr, "%s\n", err.message), 1;
    double t = run(m, ws, g, f1, &e1, 2), df = 0, fm = 0;
    for (int q = 0; q < 3 * g->n_local; ++q) df = fmax(df, fabs(f1[q] - f0[q])), fm = fmax(fm, fabs(f0[q]));
    printf("%10.4f %14.3e %14.3e %14.3e %10.2f %10.1f\n", step, df, fm, fabs(e1 - e0), t_exact / t,
           1e6 * t / fr.n_atoms);
  }
  nnp_workspace_free(ws);
  nnp_cell_graph_free(cg);
  free(sp), free(f0), free(f1);
  xyz_frame_free(&fr);
  xyz_reader_close(rd);
  nnp_model_free(m);
  return 0;
}
