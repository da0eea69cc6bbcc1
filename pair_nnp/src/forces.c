/* Forces and virials from the edge gradients. */
#include "workspace.h"

#include <omp.h>
#include <string.h>

/* Edge e's share of the virial, -r (x) g symmetrised, in Voigt order xx yy zz xy xz yz (eV). */
static void edge_virial(const nnp_workspace *ws, int64_t e, double w[6]) {
  static const int va[6] = {0, 1, 2, 0, 0, 1}, vb[6] = {0, 1, 2, 1, 2, 2};
  const double *gv = ws->edge_g + 3 * (size_t)e, *rv = ws->edge_r + 4 * (size_t)e;
  for (int v = 0; v < 6; ++v) w[v] = -0.5 * (rv[va[v]] * gv[vb[v]] + rv[vb[v]] * gv[va[v]]);
}

/* The global virial, summed over fixed blocks of edges and then over the blocks in order, so that the sum does not
 * depend on the thread count. */
static void global_virial(const nnp_workspace *ws, int64_t n_edges, double virial[6]) {
  const int64_t n_blocks = (n_edges + VIRIAL_BLOCK - 1) / VIRIAL_BLOCK;
  double *part = ws->block_virial;
#pragma omp parallel for schedule(static) num_threads(ws->n_threads)
  for (int64_t b = 0; b < n_blocks; ++b) {
    double w[6], *p = part + 6 * (size_t)b;
    memset(p, 0, 6 * sizeof *p);
    const int64_t end = (b + 1) * VIRIAL_BLOCK < n_edges ? (b + 1) * VIRIAL_BLOCK : n_edges;
    for (int64_t e = b * VIRIAL_BLOCK; e < end; ++e) {
      edge_virial(ws, e, w);
      for (int v = 0; v < 6; ++v) p[v] += w[v];
    }
  }
  memset(virial, 0, 6 * sizeof *virial);
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int v = 0; v < 6; ++v) virial[v] += part[6 * (size_t)b + v];
}

/* Forces and per-atom virials from the edge gradients, per atom: what it receives along its own edges, then what it
 * sends along the transposed list, each in edge order. Each edge's virial is split half to either end. */
void nnp_assemble_forces_virial(const nnp_workspace *ws, const nnp_graph *g, nnp_result *res) {
  global_virial(ws, ws->edge_offset[g->n_local], res->virial);
  if (!res->forces && !res->atom_virial) return;
#pragma omp parallel for schedule(static) num_threads(ws->n_threads)
  for (int i = 0; i < g->n_total; ++i) {
    double f[3] = {0, 0, 0}, vir[6] = {0, 0, 0, 0, 0, 0}, w[6];
    const int64_t out_end = i < g->n_local ? ws->edge_offset[i + 1] : 0;
    for (int64_t e = i < g->n_local ? ws->edge_offset[i] : 0; e < out_end; ++e) {
      const double *gv = ws->edge_g + 3 * (size_t)e;
      for (int a = 0; a < 3; ++a) f[a] += gv[a];
      if (res->atom_virial) {
        edge_virial(ws, e, w);
        for (int v = 0; v < 6; ++v) vir[v] += 0.5 * w[v];
      }
    }
    for (int64_t k = ws->in_offset[i]; k < ws->in_offset[i + 1]; ++k) {
      const int64_t e = ws->in_edge[k];
      const double *gv = ws->edge_g + 3 * (size_t)e;
      for (int a = 0; a < 3; ++a) f[a] -= gv[a];
      if (res->atom_virial) {
        edge_virial(ws, e, w);
        for (int v = 0; v < 6; ++v) vir[v] += 0.5 * w[v];
      }
    }
    if (res->forces) memcpy(res->forces + 3 * (size_t)i, f, sizeof f);
    if (res->atom_virial) memcpy(res->atom_virial + 6 * (size_t)i, vir, sizeof vir);
  }
}
