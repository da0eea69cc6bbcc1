/* A failed allocation leaves the evaluation workspace usable. This test links its own copy of workspace.c, built with
 * NNP_WS_REALLOC = failing_realloc, which fails the k-th request on demand, and checks for every k that:
 *   - the evaluation that meets the failure returns NNP_ERR_NOMEM with a message that names the buffer;
 *   - the same workspace then evaluates the same graph to bitwise the same energy, forces and virial as a workspace
 *     that never failed (the passes are deterministic: same inputs, same operations, same order);
 *   - a workspace that served a small graph, then failed while growing for a larger one, still evaluates the small
 *     graph correctly (the failure case of a grow that freed the buffer first and kept the old capacity: that
 *     evaluation read a NULL buffer), and then the larger one.
 * usage: test_alloc MODEL.nnp */
#include "check.h"
#include "nnp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *failing_realloc(void *p, size_t n);

static long n_requests, fail_at; /* fail_at: the request that fails (1-based), 0 for none */

void *failing_realloc(void *p, size_t n) {
  if (++n_requests == fail_at) return NULL;
  return realloc(p, n);
}

static tally T;

/* An open cluster of side^3 atoms on a cubic grid 1.4 A apart, oxygen and hydrogen alternating (model species 0, 1):
 * no physics, but every atom has neighbours within the cutoff and none is closer than the model's r_min. */
typedef struct {
  int n;
  int *species;
  double *positions;
  nnp_cell_graph *graph;
  double energy, virial[6], *forces;
} cluster;

static int cluster_make(cluster *c, int side, double cutoff) {
  c->n = side * side * side;
  c->species = malloc((size_t)c->n * sizeof *c->species);
  c->positions = malloc(3 * (size_t)c->n * sizeof *c->positions);
  c->forces = malloc(3 * (size_t)c->n * sizeof *c->forces);
  for (int a = 0; a < c->n; ++a) {
    c->species[a] = a % 2;
    c->positions[3 * a + 0] = 1.4 * (a % side) + 0.05 * (a % 3);
    c->positions[3 * a + 1] = 1.4 * (a / side % side);
    c->positions[3 * a + 2] = 1.4 * (a / side / side) - 0.03 * (a % 5);
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
  free(c->species), free(c->positions), free(c->forces);
}

/* Evaluates c on ws: the status, and whether energy, forces and virial equal c's reference bit for bit. */
static nnp_status evaluate(const nnp_model *m, nnp_workspace *ws, const cluster *c, int *same, nnp_error *err) {
  double *f = calloc(3 * (size_t)c->n, sizeof *f);
  nnp_result r = {0, {0}, NULL, f, NULL};
  nnp_status st = nnp_compute(m, ws, nnp_cell_graph_view(c->graph), &r, err);
  *same = !st && r.energy == c->energy && !memcmp(r.virial, c->virial, sizeof r.virial);
  for (int q = 0; *same && q < 3 * c->n; ++q) *same = f[q] == c->forces[q];
  free(f);
  return st;
}

int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: test_alloc MODEL.nnp\n"), 2;
  nnp_model *m;
  nnp_error err;
  if (nnp_model_read(argv[1], &m, &err)) return printf("%s\n", err.message), 1;
  cluster small, large;
  if (cluster_make(&small, 2, nnp_model_hyper(m)->r_cut) || cluster_make(&large, 4, nnp_model_hyper(m)->r_cut))
    return 1;

  /* references from workspaces that never fail; the requests of a fresh evaluation counted on the way */
  long fresh_requests = 0;
  cluster *both[2] = {&small, &large};
  for (int k = 0; k < 2; ++k) {
    nnp_workspace *ws;
    if (nnp_workspace_create(m, 2, &ws, &err)) return printf("%s\n", err.message), 1;
    n_requests = 0;
    nnp_result r = {0, {0}, NULL, both[k]->forces, NULL};
    nnp_status st = nnp_compute(m, ws, nnp_cell_graph_view(both[k]->graph), &r, &err);
    CHECKF(&T, st == NNP_OK && isfinite(r.energy), "reference evaluation: %s", st ? err.message : "non-finite energy");
    both[k]->energy = r.energy;
    memcpy(both[k]->virial, r.virial, sizeof r.virial);
    if (k == 1) fresh_requests = n_requests;
    nnp_workspace_free(ws);
  }
  CHECKF(&T, fresh_requests > 20, "a fresh evaluation made only %ld workspace requests", fresh_requests);

  for (long k = 1; k <= fresh_requests; ++k) {
    /* a fresh workspace failing at its k-th request, then the same graph again */
    nnp_workspace *ws;
    if (nnp_workspace_create(m, 2, &ws, &err)) return printf("%s\n", err.message), 1;
    int same;
    n_requests = 0, fail_at = k;
    nnp_status st = evaluate(m, ws, &large, &same, &err);
    fail_at = 0;
    CHECKF(&T, st == NNP_ERR_NOMEM && strstr(err.message, "out of memory in the workspace"),
           "request %ld failing: status %d, '%s'", k, (int)st, st ? err.message : "");
    if (k == 1) printf("the message: %s\n", err.message);
    st = evaluate(m, ws, &large, &same, &err);
    CHECKF(&T, st == NNP_OK && same, "after request %ld failed, the same graph: %s", k,
           st ? err.message : "results differ from the reference");
    CHECKF(&T, nnp_workspace_memory(ws) > 0, "no memory reported");
    nnp_workspace_free(ws);

    /* a workspace that served the small graph fails at its k-th request growing for the large one */
    if (nnp_workspace_create(m, 2, &ws, &err)) return printf("%s\n", err.message), 1;
    st = evaluate(m, ws, &small, &same, &err);
    CHECKF(&T, st == NNP_OK && same, "small graph: %s", st ? err.message : "results differ from the reference");
    n_requests = 0, fail_at = k;
    st = evaluate(m, ws, &large, &same, &err);
    const long grow_requests = n_requests;
    fail_at = 0;
    if (k <= grow_requests) CHECKF(&T, st == NNP_ERR_NOMEM, "growing, request %ld failing: status %d", k, (int)st);
    st = evaluate(m, ws, &small, &same, &err);
    CHECKF(&T, st == NNP_OK && same, "small graph after a failed grow at request %ld: %s", k,
           st ? err.message : "results differ from the reference");
    st = evaluate(m, ws, &large, &same, &err);
    CHECKF(&T, st == NNP_OK && same, "large graph after a failed grow at request %ld: %s", k,
           st ? err.message : "results differ from the reference");
    nnp_workspace_free(ws);
  }
  cluster_free(&small), cluster_free(&large);
  nnp_model_free(m);
  printf("test_alloc: %d passed, %d failed (%ld workspace requests failed in turn)\n", T.passed, T.failed,
         fresh_requests);
  return T.failed != 0;
}
