/* Cost of the training passes relative to one energy+force evaluation, on the first frame of an extxyz file.
 *
 *   bench_train_passes FILE.extxyz [l_max channels layers radial_hidden...]     (default: 2 16 3 16)
 *
 * One thread, CPU time (insensitive to other jobs on a shared machine), median of 7 repetitions of each:
 *   core E+F         nnp_compute, energy and forces (exact radial MLP and 0.01 A tables; tables in float32: what
 *                    float32 training could at best gain on pass 1)
 *   core dE/dtheta   nnp_compute_param_gradient (exact MLP; what the old trainer ran three times per structure)
 *   pass 1           nnp_train_forces (energy and forces, the forward kept)
 *   pass 2           nnp_train_gradient (the exact loss gradient: tangent sweep + two-adjoint reverse)
 *   knots            nnp_train_radial_build + nnp_train_radial_backprop (once per optimiser step, not per structure)
 * Species H and O, r_cut 5, radial_basis 8, readout_hidden 16, random weights. */
#include "blas_threads.h"
#include "extxyz.h"
#include "nnp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The reader's next frame as 1 (read), 0 (end of file) or -1 (an error, in err). */
static inline int next_frame(xyz_reader *r, xyz_frame *f, nnp_error *err) {
  int got = 0;
  return xyz_reader_next(r, f, &got, err) ? -1 : got;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

#define REPS 7
static double median(double *t) {
  qsort(t, REPS, sizeof *t, cmp);
  return t[REPS / 2];
}

static void die(const char *what, const char *msg) {
  fprintf(stderr, "bench_train_passes: %s: %s\n", what, msg);
  exit(1);
}

int main(int argc, char **argv) {
  tools_blas_single_threaded(); /* as the tools do (nnp.h, "Threads") */
  if (argc < 2) die("usage", "bench_train_passes FILE.extxyz [l_max channels layers radial_hidden...]");
  xyz_reader *rd = NULL;
  xyz_frame f;
  nnp_error xerr;
  xyz_frame_init(&f);
  if (xyz_reader_open(argv[1], &rd, &xerr) || next_frame(rd, &f, &xerr) != 1) die(argv[1], xerr.message);
  const char *names[2] = {"H", "O"};
  nnp_hyper h;
  nnp_error err;
  nnp_hyper_default(&h, 2, names, &err);
  h.l_max = argc > 2 ? atoi(argv[2]) : 2;
  h.channels = argc > 3 ? atoi(argv[3]) : 16;
  h.layers = argc > 4 ? atoi(argv[4]) : 3;
  h.n_radial_hidden = argc > 5 ? argc - 5 : 1;
  h.radial_hidden[0] = 16;
  for (int k = 5; k < argc && k - 5 < 8; ++k) h.radial_hidden[k - 5] = atoi(argv[k]);
  h.avg_num_neighbors = 40;
  h.energy_scale[0] = h.energy_scale[1] = 1.0;
  nnp_model *m = NULL;
  if (nnp_model_create_random(&h, 1, &m, &err)) die("model", err.message);
  int *sp = malloc((size_t)f.n_atoms * sizeof *sp);
  for (int i = 0; i < f.n_atoms; ++i) sp[i] = nnp_model_species_index(m, f.symbols[i]);
  nnp_cell_graph *g = NULL;
  if (nnp_cell_graph_build(f.n_atoms, sp, f.positions, f.cell, f.pbc, h.r_cut, &g, &err)) die("graph", err.message);
  const nnp_graph *view = nnp_cell_graph_view(g);
  const size_t P = nnp_model_param_count(m), n3 = 3 * (size_t)view->n_total;
  double *forces = malloc(n3 * sizeof *forces), *v = malloc(n3 * sizeof *v), *grad = malloc(P * sizeof *grad), E;
  for (size_t q = 0; q < n3; ++q) v[q] = 0.1 * ((double)(q % 7) - 3.0);
  nnp_workspace *ws = NULL;
  nnp_train_workspace *tw = NULL;
  nnp_train_radial *exact = NULL, *tab = NULL;
  if (nnp_workspace_create(m, 1, &ws, &err) || nnp_train_workspace_create(m, &tw, &err) ||
      nnp_train_radial_build(m, 0.0, &exact, &err) || nnp_train_radial_build(m, 0.01, &tab, &err))
    die("set-up", err.message);
  double *knots = calloc(nnp_train_radial_knot_size(tab) + 1, sizeof *knots);
  nnp_result res;
  memset(&res, 0, sizeof res);
  res.forces = forces;
  double t_core[REPS], t_core_tab[REPS], t_pg[REPS], t_p1[REPS], t_p2[REPS], t_p1e[REPS], t_p2e[REPS], t_kn[REPS],
      t_core_f32[REPS];
  for (int r = 0; r < REPS; ++r) {
    double t0 = cpu_now();
    if (nnp_workspace_tabulate_radial(ws, 0.0, &err) || nnp_compute(m, ws, view, &res, &err)) die("core", err.message);
    double t1 = cpu_now();
    if (nnp_compute_param_gradient(m, ws, view, &res, &E, grad, &err)) die("core", err.message);
    double t2 = cpu_now();
    if (nnp_workspace_tabulate_radial(ws, 0.01, &err)) die("core", err.message);
    double t3 = cpu_now();
    if (nnp_compute(m, ws, view, &res, &err)) die("core", err.message);
    double t4 = cpu_now();
    if (nnp_train_forces(m, tw, tab, view, &E, forces, &err)) die("pass 1", err.message);
    double t5 = cpu_now();
    if (nnp_train_gradient(m, tw, tab, view, v, 0.3, -0.7, grad, knots, &err)) die("pass 2", err.message);
    double t6 = cpu_now();
    if (nnp_train_forces(m, tw, exact, view, &E, forces, &err)) die("pass 1", err.message);
    double t7 = cpu_now();
    if (nnp_train_gradient(m, tw, exact, view, v, 0.3, -0.7, grad, NULL, &err)) die("pass 2", err.message);
    double t8 = cpu_now();
    nnp_train_radial_free(tab);
    tab = NULL;
    if (nnp_train_radial_build(m, 0.01, &tab, &err) || nnp_train_radial_backprop(m, tab, knots, grad, &err))
      die("knots", err.message);
    double t9 = cpu_now();
    if (nnp_workspace_set_precision(ws, NNP_PRECISION_SINGLE, &err) || nnp_compute(m, ws, view, &res, &err) ||
        nnp_workspace_set_precision(ws, NNP_PRECISION_DOUBLE, &err))
      die("core float32", err.message);
    t_core_f32[r] = cpu_now() - t9;
    t_core[r] = t1 - t0, t_pg[r] = t2 - t1, t_core_tab[r] = t4 - t3, t_p1[r] = t5 - t4, t_p2[r] = t6 - t5;
    t_p1e[r] = t7 - t6, t_p2e[r] = t8 - t7, t_kn[r] = t9 - t8;
  }
  const double ef = median(t_core);
  printf("%d atoms, %d ghosts, l_max %d, %d channels, %d layers, radial_hidden", f.n_atoms,
         view->n_total - view->n_local, h.l_max, h.channels, h.layers);
  for (int k = 0; k < h.n_radial_hidden; ++k) printf(" %d", h.radial_hidden[k]);
  printf(", %zu parameters; CPU seconds, median of %d, and / core E+F (exact MLP)\n", P, REPS);
  printf("  core E+F, exact MLP              %8.4f  1.00\n", ef);
  printf("  core E+F, tables 0.01 A          %8.4f  %.2f\n", median(t_core_tab), median(t_core_tab) / ef);
  printf("  core E+F, tables, float32        %8.4f  %.2f\n", median(t_core_f32), median(t_core_f32) / ef);
  printf("  core E+F+dE/dtheta, exact MLP    %8.4f  %.2f  (old trainer: 3 per structure)\n", median(t_pg),
         median(t_pg) / ef);
  printf("  pass 1 (E+F), tables             %8.4f  %.2f\n", median(t_p1), median(t_p1) / ef);
  printf("  pass 2 (exact gradient), tables  %8.4f  %.2f\n", median(t_p2), median(t_p2) / ef);
  printf("  pass 1 (E+F), exact MLP          %8.4f  %.2f\n", median(t_p1e), median(t_p1e) / ef);
  printf("  pass 2 (exact gradient), exact   %8.4f  %.2f\n", median(t_p2e), median(t_p2e) / ef);
  printf("  tables: build + knot backprop    %8.4f  %.2f  (once per optimiser step)\n", median(t_kn),
         median(t_kn) / ef);
  printf("  per structure: old 3 x E+F+dE/dtheta = %.2f, new pass 1 + pass 2 (tables) = %.2f: %.2fx\n",
         3 * median(t_pg) / ef, (median(t_p1) + median(t_p2)) / ef, 3 * median(t_pg) / (median(t_p1) + median(t_p2)));
  nnp_train_radial_free(tab);
  nnp_train_radial_free(exact);
  nnp_train_workspace_free(tw);
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  nnp_model_free(m);
  xyz_reader_close(rd);
  xyz_frame_free(&f);
  free(sp), free(forces), free(v), free(grad), free(knots);
  return 0;
}
