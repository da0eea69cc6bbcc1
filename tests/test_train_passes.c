/* Tests of the core's training passes (pair_nnp/src/train_passes.c, docs/training.md).
 *
 * For G(theta) = a E + b <v, dE/dx> (v fixed, a direction in configuration space), nnp_train_gradient must give
 * dG/dtheta exactly: checked against central differences of G in every parameter, G computed independently
 *  - exact radial MLP: from nnp_compute's energy and forces (the plain core), at theta +- eps;
 *  - tables: from nnp_train_forces with tables rebuilt from theta +- eps, the gradient being nnp_train_gradient plus
 *    nnp_train_radial_backprop of its knot gradient.
 * On a periodic cell with many ghost images (the exchange path) and an open cluster, two species with three pair
 * cutoffs (three tables per layer), l_max 2, three layers, a two-layer radial MLP. Also: pass 1 equals nnp_compute;
 * the tables' error against the exact MLP at the default step (energy, forces, gradient); misuse is refused.
 * Prints "N passed, M failed"; exits non-zero on failure. */
#include "nnp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char *const names[2] = {"C", "O"};

/* The tensor family (product == 0) or the product family with the given correlation and message degree */
static nnp_model *make_model_of(unsigned seed, int channels, int product, int correlation, int message_l_max) {
  nnp_hyper h;
  nnp_error err;
  if (nnp_hyper_default(&h, 2, names, &err)) abort();
  h.r_cut = 3.0;
  h.pair_cutoff[0][0] = 3.0;
  h.pair_cutoff[0][1] = h.pair_cutoff[1][0] = 2.8;
  h.pair_cutoff[1][1] = 2.6;
  h.r_min = 0.5;
  h.l_max = 2, h.channels = channels, h.layers = 3, h.radial_basis = 4;
  h.n_radial_hidden = 2, h.radial_hidden[0] = 5, h.radial_hidden[1] = 4;
  h.readout_hidden = 3;
  h.avg_num_neighbors = 6.0;
  h.energy_shift[0] = -1.0, h.energy_shift[1] = -2.0;
  h.energy_scale[0] = 0.7, h.energy_scale[1] = 1.3;
  if (product) {
    h.interaction = NNP_INTERACTION_PRODUCT;
    h.correlation = correlation;
    h.message_l_max = message_l_max;
  }
  nnp_model *m = NULL;
  if (nnp_model_create_random(&h, seed, &m, &err)) abort();
  return m;
}

static nnp_model *make_model(unsigned seed, int channels) { return make_model_of(seed, channels, 0, 0, 0); }

static double uniform(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) * 0x1.0p-53;
}

/* n atoms at random in a box of side L (periodic or not), no two closer than 1 Angstrom (images included) */
static nnp_cell_graph *make_structure(int n, double L, int periodic, unsigned long long seed, double *v) {
  double x[3 * 16];
  int sp[16];
  unsigned long long s = seed;
  for (int i = 0; i < n; ++i) {
    for (int tries = 0;; ++tries) {
      for (int a = 0; a < 3; ++a) x[3 * i + a] = L * uniform(&s);
      int ok = 1;
      for (int j = 0; j < i && ok; ++j) {
        double r2 = 0;
        for (int a = 0; a < 3; ++a) {
          double d = x[3 * i + a] - x[3 * j + a];
          if (periodic) d -= L * round(d / L);
          r2 += d * d;
        }
        ok = r2 > 1.0;
      }
      if (ok || tries > 10000) break;
    }
    sp[i] = i % 2;
    for (int a = 0; a < 3; ++a) v[3 * i + a] = 2.0 * uniform(&s) - 1.0;
  }
  const double cell[3][3] = {{L, 0, 0}, {0, L, 0}, {0, 0, L}};
  const int pbc[3] = {periodic, periodic, periodic};
  nnp_cell_graph *g = NULL;
  nnp_error err;
  if (nnp_cell_graph_build(n, sp, x, cell, pbc, 3.0, &g, &err)) {
    printf("%s\n", err.message);
    abort();
  }
  return g;
}

/* v of every atom, ghosts taking their owner's row */
static void spread(const nnp_cell_graph *g, const double *v, double *v_total) {
  const nnp_graph *view = nnp_cell_graph_view(g);
  const int *owner = nnp_cell_graph_owner(g);
  for (int i = 0; i < view->n_total; ++i)
    for (int a = 0; a < 3; ++a) v_total[3 * i + a] = v[3 * owner[i] + a];
}

/* G = a E + b <v, dE/dx> = a E - b <v, F> with the plain core (exact radial MLP) */
static double objective_core(nnp_model *m, const nnp_cell_graph *g, const double *v, double a, double b) {
  const nnp_graph *view = nnp_cell_graph_view(g);
  double *f = calloc(3 * (size_t)view->n_total, sizeof *f);
  nnp_workspace *ws = NULL;
  nnp_error err;
  nnp_result res;
  memset(&res, 0, sizeof res);
  res.forces = f;
  if (nnp_workspace_create(m, 1, &ws, &err) || nnp_compute(m, ws, view, &res, &err)) {
    printf("%s\n", err.message);
    abort();
  }
  nnp_cell_graph_fold(g, f, 3);
  double G = a * res.energy;
  for (int q = 0; q < 3 * view->n_local; ++q) G -= b * v[q] * f[q];
  nnp_workspace_free(ws);
  free(f);
  return G;
}

/* The same through the training passes with radial functions of the given step, built from the current weights. */
static double objective_passes(nnp_model *m, const nnp_cell_graph *g, const double *v, double a, double b, double step,
                               double *forces_out) {
  const nnp_graph *view = nnp_cell_graph_view(g);
  double *f = calloc(3 * (size_t)view->n_total, sizeof *f), E = 0;
  nnp_train_workspace *w = NULL;
  nnp_train_radial *r = NULL;
  nnp_error err;
  if (nnp_train_workspace_create(m, &w, &err) || nnp_train_radial_build(m, step, &r, &err) ||
      nnp_train_forces(m, w, r, view, &E, f, &err)) {
    printf("%s\n", err.message);
    abort();
  }
  nnp_cell_graph_fold(g, f, 3);
  double G = a * E;
  for (int q = 0; q < 3 * view->n_local; ++q) G -= b * v[q] * f[q];
  if (forces_out) memcpy(forces_out, f, 3 * (size_t)view->n_local * sizeof *f);
  nnp_train_radial_free(r);
  nnp_train_workspace_free(w);
  free(f);
  return G;
}

/* dG/dtheta from the training passes (plus the knots' back-propagation with tables) into grad. */
static void gradient_passes(nnp_model *m, const nnp_cell_graph *g, const double *v, double a, double b, double step,
                            double *grad, double *energy) {
  const nnp_graph *view = nnp_cell_graph_view(g);
  double *vt = malloc(3 * (size_t)view->n_total * sizeof *vt);
  spread(g, v, vt);
  nnp_train_workspace *w = NULL;
  nnp_train_radial *r = NULL;
  nnp_error err;
  if (nnp_train_workspace_create(m, &w, &err) || nnp_train_radial_build(m, step, &r, &err)) abort();
  const size_t nk = nnp_train_radial_knot_size(r);
  double *knots = calloc(nk + 1, sizeof *knots);
  memset(grad, 0, nnp_model_param_count(m) * sizeof *grad);
  if (nnp_train_forces(m, w, r, view, energy, NULL, &err) ||
      nnp_train_gradient(m, w, r, view, vt, a, b, grad, nk ? knots : NULL, &err) ||
      nnp_train_radial_backprop(m, r, knots, grad, &err)) {
    printf("%s\n", err.message);
    abort();
  }
  free(knots);
  nnp_train_radial_free(r);
  nnp_train_workspace_free(w);
  free(vt);
}

/* Central differences of G in every parameter against the analytic gradient. Step eps = 1e-5 on weights of O(0.1-1):
 * the truncation error is eps^2 |G'''| / 6 ~ 1e-11 |G| and the round-off eps_mach |G| / eps ~ 2e-11 |G| (G of O(1)
 * here), so the FD values carry absolute errors of ~1e-10 against gradients of O(0.1-10). The bound 1e-7 on
 * max |g - fd| / max |fd| leaves a factor of ~100 above that; a wrong term in any parameter array (e.g. a missing
 * second-derivative or cross term) shows as O(1e-2..1). */
static void check_fd(tally *t, const char *what, nnp_model *m, const nnp_cell_graph *g, const double *v, double a,
                     double b, double step, size_t stride) {
  const size_t P = nnp_model_param_count(m);
  double *grad = malloc(P * sizeof *grad), *theta = nnp_model_params(m), E;
  gradient_passes(m, g, v, a, b, step, grad, &E);
  const double eps = 1e-5;
  double max_err = 0, max_fd = 0;
  size_t worst = 0;
  for (size_t q = 0; q < P; q += stride) {
    const double saved = theta[q];
    theta[q] = saved + eps;
    const double gp = step > 0 ? objective_passes(m, g, v, a, b, step, NULL) : objective_core(m, g, v, a, b);
    theta[q] = saved - eps;
    const double gm = step > 0 ? objective_passes(m, g, v, a, b, step, NULL) : objective_core(m, g, v, a, b);
    theta[q] = saved;
    const double fd = (gp - gm) / (2 * eps), e = fabs(fd - grad[q]);
    if (e > max_err) max_err = e, worst = q;
    if (fabs(fd) > max_fd) max_fd = fabs(fd);
  }
  printf("%s: %zu parameters, max |fd| %.3g, max |grad - fd| / max |fd| = %.2g (parameter %zu)\n", what, P, max_fd,
         max_err / max_fd, worst);
  CHECK(t, max_fd > 0 && max_err / max_fd < 1e-7);
  free(grad);
}

/* Pass 1 against the plain core (exact MLP): same energy and forces up to summation order. */
static void check_pass1(tally *t, nnp_model *m, const nnp_cell_graph *g) {
  const nnp_graph *view = nnp_cell_graph_view(g);
  const size_t n3 = 3 * (size_t)view->n_total;
  double *f1 = calloc(n3, sizeof *f1), *f2 = calloc(n3, sizeof *f2), E1 = 0, f_max = 0, df = 0;
  nnp_workspace *ws = NULL;
  nnp_train_workspace *w = NULL;
  nnp_train_radial *r = NULL;
  nnp_error err;
  nnp_result res;
  memset(&res, 0, sizeof res);
  res.forces = f2;
  CHECK(t, nnp_workspace_create(m, 1, &ws, &err) == NNP_OK && nnp_compute(m, ws, view, &res, &err) == NNP_OK);
  CHECK(t, nnp_train_workspace_create(m, &w, &err) == NNP_OK && nnp_train_radial_build(m, 0.0, &r, &err) == NNP_OK);
  CHECK(t, nnp_train_forces(m, w, r, view, &E1, f1, &err) == NNP_OK);
  for (size_t q = 0; q < n3; ++q) f_max = fmax(f_max, fabs(f2[q])), df = fmax(df, fabs(f1[q] - f2[q]));
  printf("pass 1 vs nnp_compute: energy %.15g vs %.15g, max force difference %.2g of %.3g\n", E1, res.energy, df,
         f_max);
  /* the same arithmetic in another summation order: a few ulps per term */
  CHECK(t, fabs(E1 - res.energy) <= 1e-12 * (1 + fabs(res.energy)) && df <= 1e-12 * (1 + f_max));
  /* misuse: pass 2 with other radial functions than pass 1's, and before any pass 1 */
  nnp_train_radial *r2 = NULL;
  double *vt = calloc(n3, sizeof *vt), *grad = calloc(nnp_model_param_count(m), sizeof *grad);
  CHECK(t, nnp_train_radial_build(m, 0.0, &r2, &err) == NNP_OK);
  CHECK(t, nnp_train_gradient(m, w, r2, view, vt, 1, 1, grad, NULL, &err) == NNP_ERR_ARGUMENT);
  printf("  expected error: %s\n", err.message);
  nnp_train_workspace *fresh = NULL;
  CHECK(t, nnp_train_workspace_create(m, &fresh, &err) == NNP_OK);
  CHECK(t, nnp_train_gradient(m, fresh, r, view, vt, 1, 1, grad, NULL, &err) == NNP_ERR_ARGUMENT);
  vt[4] = NAN;
  CHECK(t, nnp_train_gradient(m, w, r, view, vt, 1, 1, grad, NULL, &err) == NNP_ERR_ARGUMENT);
  printf("  expected error: %s\n", err.message);
  nnp_train_radial *bad = NULL;
  CHECK(t, nnp_train_radial_build(m, 1e-7, &bad, &err) == NNP_ERR_ARGUMENT && !bad);
  CHECK(t, nnp_train_radial_build(m, -1, &bad, &err) == NNP_ERR_ARGUMENT && !bad);
  printf("  expected error: %s\n", err.message);
  nnp_train_workspace_free(fresh);
  nnp_train_radial_free(r2);
  nnp_train_radial_free(r);
  nnp_train_workspace_free(w);
  nnp_workspace_free(ws);
  free(vt);
  free(grad);
  free(f1);
  free(f2);
}

/* Tables (default training step, 0.01 A) against the exact MLP: energy, forces and the loss gradient. */
static void table_error(tally *t, nnp_model *m, const nnp_cell_graph *g, const double *v) {
  const nnp_graph *view = nnp_cell_graph_view(g);
  const size_t P = nnp_model_param_count(m), n3 = 3 * (size_t)view->n_local;
  double *fe = malloc(n3 * sizeof *fe), *ft = malloc(n3 * sizeof *ft);
  double *ge = malloc(P * sizeof *ge), *gt = malloc(P * sizeof *gt), Ee, Et;
  objective_passes(m, g, v, 1, 1, 0.0, fe);
  objective_passes(m, g, v, 1, 1, 0.01, ft);
  gradient_passes(m, g, v, 1.0, 1.0, 0.0, ge, &Ee);
  gradient_passes(m, g, v, 1.0, 1.0, 0.01, gt, &Et);
  double df = 0, f_max = 0, dg = 0, gmax = 0;
  for (size_t q = 0; q < n3; ++q) df = fmax(df, fabs(fe[q] - ft[q])), f_max = fmax(f_max, fabs(fe[q]));
  for (size_t q = 0; q < P; ++q) dg = fmax(dg, fabs(ge[q] - gt[q])), gmax = fmax(gmax, fabs(ge[q]));
  printf("tables (step 0.01 A) vs exact MLP: energy %.2g eV (of %.3g), max force %.2g eV/A (of %.3g), "
         "max gradient %.2g (of %.3g)\n",
         fabs(Ee - Et), fabs(Ee), df, f_max, dg, gmax);
  /* cubic Hermite: error O(h^4) in R and O(h^3) in dR/dr; with h = 0.01 A and the radial functions varying over
   * ~0.1-1 A that is ~1e-6 relative in the derivatives at most; the bounds leave a factor of ~10 */
  CHECK(t, fabs(Ee - Et) < 1e-6 * (1 + fabs(Ee)) && df < 1e-5 * (1 + f_max) && dg < 1e-5 * (1 + gmax));
  free(fe);
  free(ft);
  free(ge);
  free(gt);
}

int main(void) {
  tally t = {0, 0};
  nnp_model *m = make_model(3, 3);
  double v_cell[3 * 16], v_open[3 * 16];
  nnp_cell_graph *cell = make_structure(6, 3.6, 1, 7, v_cell); /* ghosts: images within 3 A of a 3.6 A cell */
  nnp_cell_graph *open = make_structure(7, 3.2, 0, 9, v_open);
  check_pass1(&t, m, cell);
  check_fd(&t, "exact MLP, periodic cell", m, cell, v_cell, 0.8, -1.7, 0.0, 1);
  check_fd(&t, "exact MLP, open cluster", m, open, v_open, -0.3, 2.1, 0.0, 1);
  check_fd(&t, "tables 0.01 A, periodic cell", m, cell, v_cell, 0.8, -1.7, 0.01, 1);
  check_fd(&t, "tables 0.05 A, open cluster", m, open, v_open, -0.3, 2.1, 0.05, 1);
  table_error(&t, m, cell, v_cell);
  /* 8 channels: the kernels compiled for a fixed channel count and the generated tangent and reverse kernels of
   * tp_codegen.py (3 channels above take the generic ones); every 7th or 5th parameter, which samples every array */
  nnp_model *m8 = make_model(4, 8);
  check_fd(&t, "8 channels, tables 0.01 A, periodic cell, every 7th", m8, cell, v_cell, 0.5, 1.2, 0.01, 7);
  check_fd(&t, "8 channels, exact MLP, open cluster, every 5th", m8, open, v_open, -0.3, 2.1, 0.0, 5);
  nnp_model_free(m8);
  /* the product family (docs/model.md): layer step 3 is nonlinear in the messages (products of the atomic basis), so
   * the reverse sweep carries their second derivatives; correlation 3 with invariant messages, correlation 4 with
   * vector messages, correlation 2 with l = 2 messages */
  const int product_cases[3][2] = {{3, 0}, {4, 1}, {2, 2}};
  for (int k = 0; k < 3; ++k) {
    nnp_model *mp = make_model_of(5 + k, 3, 1, product_cases[k][0], product_cases[k][1]);
    char what[128];
    snprintf(what, sizeof what, "product family, correlation %d, messages l <= %d, exact MLP, periodic cell",
             product_cases[k][0], product_cases[k][1]);
    if (k == 0) check_pass1(&t, mp, cell);
    check_fd(&t, what, mp, cell, v_cell, 0.8, -1.7, 0.0, k == 0 ? 1 : 3);
    if (k == 1)
      check_fd(&t, "product family, correlation 4, open cluster, tables 0.05 A", mp, open, v_open, -0.3, 2.1, 0.05, 3);
    nnp_model_free(mp);
  }
  nnp_cell_graph_free(cell);
  nnp_cell_graph_free(open);
  nnp_model_free(m);
  printf("%d passed, %d failed\n", t.passed, t.failed);
  return t.failed ? 1 : 0;
}
