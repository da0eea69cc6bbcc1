/* A failed allocation leaves the trainer's workspace usable (the companion of test_alloc.c for train_passes.c). The
 * test links its own copy of train_passes.c, built with NNP_TRAIN_MALLOC = failing_malloc, which fails the k-th
 * request on demand, and checks for every k that:
 *   - the pass that meets the failure returns NNP_ERR_NOMEM with a message naming the training workspace;
 *   - the same workspace then gives bitwise the same energy, forces and parameter gradient as one that never failed
 *     (the passes are deterministic);
 *   - a workspace that served a small graph, then failed growing for a larger one, still serves the small graph and
 *     then the larger one (before the fix, a failed group kept its old capacity next to freed, NULL buffers, and the
 *     next call with a graph that fitted that capacity read them).
 * usage: test_train_alloc MODEL.nnp */
#include "check.h"
#include "nnp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *failing_malloc(size_t n);

static long n_requests, fail_at; /* fail_at: the request that fails (1-based), 0 for none */

void *failing_malloc(size_t n) {
  if (++n_requests == fail_at) return NULL;
  return malloc(n);
}

static tally T;

/* An open cluster of side^3 atoms 1.4 A apart on a grid, species alternating: every atom has neighbours. */
typedef struct {
  int n;
  int *species;
  double *positions, *direction; /* direction: v of nnp_train_gradient, fixed per cluster */
  nnp_cell_graph *graph;
  double energy, *forces, *grad; /* the reference */
} cluster;

static int cluster_make(cluster *c, int side, double cutoff, size_t n_params) {
  c->n = side * side * side;
  c->species = malloc((size_t)c->n * sizeof *c->species);
  c->positions = malloc(3 * (size_t)c->n * sizeof *c->positions);
  c->direction = malloc(3 * (size_t)c->n * sizeof *c->direction);
  c->forces = malloc(3 * (size_t)c->n * sizeof *c->forces);
  c->grad = calloc(n_params, sizeof *c->grad);
  for (int a = 0; a < c->n; ++a) {
    c->species[a] = a % 2;
    c->positions[3 * a + 0] = 1.4 * (a % side) + 0.05 * (a % 3);
    c->positions[3 * a + 1] = 1.4 * (a / side % side);
    c->positions[3 * a + 2] = 1.4 * (a / side / side) - 0.03 * (a % 5);
    for (int d = 0; d < 3; ++d) c->direction[3 * a + d] = 0.1 * ((a * 7 + d * 3) % 11) - 0.5;
  }
  const double cell[3][3] = {{0}};
  const int open[3] = {0, 0, 0};
  nnp_error err;
  if (nnp_cell_graph_build(c->n, c->species, c->positions, cell, open, cutoff, &c->graph, &err))
    return printf("cluster: %s\n", err.message), 1;
  return 0;
}

static void cluster_free(cluster *c) {
  nnp_cell_graph_free(c->graph);
  free(c->species), free(c->positions), free(c->direction), free(c->forces), free(c->grad);
}

/* Both passes on c with w: the status, and whether energy, forces and gradient equal c's reference bit for bit
 * (reference = 1: store them as c's reference instead). */
static nnp_status passes(const nnp_model *m, nnp_train_workspace *w, const nnp_train_radial *r, cluster *c,
                         int reference, int *same, nnp_error *err) {
  const size_t P = nnp_model_param_count(m);
  double energy = 0, *f = calloc(3 * (size_t)c->n, sizeof *f), *g = calloc(P, sizeof *g);
  const nnp_graph *view = nnp_cell_graph_view(c->graph);
  nnp_status st = nnp_train_forces(m, w, r, view, &energy, f, err);
  if (!st) st = nnp_train_gradient(m, w, r, view, c->direction, 1.0, 0.5, g, NULL, err);
  if (reference && !st) {
    c->energy = energy;
    memcpy(c->forces, f, 3 * (size_t)c->n * sizeof *f);
    memcpy(c->grad, g, P * sizeof *g);
  }
  *same = !st && energy == c->energy && !memcmp(f, c->forces, 3 * (size_t)c->n * sizeof *f) &&
          !memcmp(g, c->grad, P * sizeof *g);
  free(f), free(g);
  return st;
}

int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: test_train_alloc MODEL.nnp\n"), 2;
  nnp_model *m;
  nnp_error err;
  if (nnp_model_read(argv[1], &m, &err)) return printf("%s\n", err.message), 1;
  const size_t P = nnp_model_param_count(m);
  nnp_train_radial *radial; /* exact radial MLP (step 0): no knot gradient to carry */
  if (nnp_train_radial_build(m, 0.0, &radial, &err)) return printf("%s\n", err.message), 1;
  cluster small, large;
  if (cluster_make(&small, 2, nnp_model_hyper(m)->r_cut, P) || cluster_make(&large, 4, nnp_model_hyper(m)->r_cut, P))
    return 1;

  long fresh_requests = 0;
  cluster *both[2] = {&small, &large};
  for (int k = 0; k < 2; ++k) {
    nnp_train_workspace *w;
    int same;
    if (nnp_train_workspace_create(m, &w, &err)) return printf("%s\n", err.message), 1;
    n_requests = 0;
    nnp_status st = passes(m, w, radial, both[k], 1, &same, &err);
    CHECKF(&T, st == NNP_OK && isfinite(both[k]->energy), "reference passes: %s",
           st ? err.message : "non-finite energy");
    if (k == 1) fresh_requests = n_requests;
    nnp_train_workspace_free(w);
  }
  CHECKF(&T, fresh_requests >= 30, "fresh passes made only %ld training-workspace requests", fresh_requests);

  for (long k = 1; k <= fresh_requests; ++k) {
    nnp_train_workspace *w;
    int same;
    if (nnp_train_workspace_create(m, &w, &err)) return printf("%s\n", err.message), 1;
    n_requests = 0, fail_at = k;
    nnp_status st = passes(m, w, radial, &large, 0, &same, &err);
    fail_at = 0;
    CHECKF(&T, st == NNP_ERR_NOMEM && strstr(err.message, "out of memory in the training workspace"),
           "request %ld failing: status %d, '%s'", k, (int)st, st ? err.message : "");
    if (k == 1) printf("the message: %s\n", err.message);
    st = passes(m, w, radial, &large, 0, &same, &err);
    CHECKF(&T, st == NNP_OK && same, "after request %ld failed, the same graph: %s", k,
           st ? err.message : "results differ from the reference");
    nnp_train_workspace_free(w);

    if (nnp_train_workspace_create(m, &w, &err)) return printf("%s\n", err.message), 1;
    st = passes(m, w, radial, &small, 0, &same, &err);
    CHECKF(&T, st == NNP_OK && same, "small graph: %s", st ? err.message : "results differ from the reference");
    n_requests = 0, fail_at = k;
    st = passes(m, w, radial, &large, 0, &same, &err);
    const long grow_requests = n_requests;
    fail_at = 0;
    if (k <= grow_requests) CHECKF(&T, st == NNP_ERR_NOMEM, "growing, request %ld failing: status %d", k, (int)st);
    st = passes(m, w, radial, &small, 0, &same, &err);
    CHECKF(&T, st == NNP_OK && same, "small graph after a failed grow at request %ld: %s", k,
           st ? err.message : "results differ from the reference");
    st = passes(m, w, radial, &large, 0, &same, &err);
    CHECKF(&T, st == NNP_OK && same, "large graph after a failed grow at request %ld: %s", k,
           st ? err.message : "results differ from the reference");
    nnp_train_workspace_free(w);
  }
  cluster_free(&small), cluster_free(&large);
  nnp_train_radial_free(radial);
  nnp_model_free(m);
  printf("test_train_alloc: %d passed, %d failed (%ld training-workspace requests failed in turn)\n", T.passed,
         T.failed, fresh_requests);
  return T.failed != 0;
}
