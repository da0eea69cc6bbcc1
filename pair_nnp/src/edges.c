/* From a graph to the edge lists an evaluation walks: input checks, edges within the pair cutoffs, their geometry,
 * the transposed list and whether the lists are symmetric. */
#include "workspace.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

nnp_status nnp_check_graph(const nnp_model *m, const nnp_graph *g, nnp_error *err) {
  if (!g || g->n_local < 0 || g->n_total < g->n_local || (g->n_total > 0 && (!g->species || !g->positions)) ||
      (g->n_local > 0 && (!g->neigh_offset || (g->neigh_offset[g->n_local] > 0 && !g->neigh_index))))
    return nnp_fail(err, NNP_ERR_ARGUMENT, "incomplete graph: counts, species, positions or neighbour lists missing");
  if (g->n_total > g->n_local && m->h.layers > 1 && !g->exchange)
    return nnp_fail(err, NNP_ERR_ARGUMENT,
                    "the graph has ghost atoms but no exchange callback; a %d-layer model needs one", m->h.layers);
  for (int i = 0; i < g->n_total; ++i) {
    int s = g->species[i];
    if (s >= m->h.n_species)
      return nnp_fail(err, NNP_ERR_SPECIES, "atom %d has species index %d but the model has %d species", i, s,
                      m->h.n_species);
    if (s < 0) continue;
    const double *x = g->positions + 3 * (size_t)i;
    if (!isfinite(x[0]) || !isfinite(x[1]) || !isfinite(x[2]))
      return nnp_fail(err, NNP_ERR_GEOMETRY, "atom %d has a non-finite position (%g, %g, %g)", i, x[0], x[1], x[2]);
  }
  return NNP_OK;
}

/* The first local atom of the k-th of nt contiguous ranges that hold about equal shares of the neighbour-list
 * entries (the edges' proxy, known before the edges are). */
static int split_atoms(const nnp_graph *g, int k, int nt) {
  if (k <= 0 || g->n_local == 0) return 0; /* neigh_offset may be NULL without local atoms */
  if (k >= nt) return g->n_local;
  const int64_t *off = g->neigh_offset;
  const int64_t target = off[0] + (off[g->n_local] - off[0]) * k / nt;
  int lo = 0, hi = g->n_local; /* first i with off[i] >= target */
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (off[mid] < target)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The calling OpenMP thread's range of local atoms. Every pass over receivers splits them the same way, so a
 * thread reads the edges it wrote itself (nnp_build_edges, edge_geometry) and the neighbours of its atoms stay in its
 * own core's cache. Static contiguous ranges beat dynamic hand-outs of smaller blocks even though the adjoint's cost
 * is uneven between ranges (edges from ghosts are cheaper); a dynamic hand-out pays only where cores run at
 * different speeds (docs/performance.md, "Measurements behind the evaluation code"). */
void nnp_thread_atoms(const nnp_graph *g, int *lo, int *hi) {
  const int nt = omp_get_num_threads(), id = omp_get_thread_num();
  *lo = split_atoms(g, id, nt);
  *hi = split_atoms(g, id + 1, nt);
}

/* Harmonics and (for the exact radial MLP) the radial basis of every edge: the same for all layers and passes. */
static void edge_geometry(nnp_workspace *ws, const nnp_graph *g) {
  const nnp_model *m = ws->model;
  const int nsh = NNP_NSH(m->h.l_max), nb = m->h.radial_basis;
#pragma omp parallel num_threads(ws->n_threads)
  {
    int lo, hi;
    nnp_thread_atoms(g, &lo, &hi);
    for (int64_t e = ws->edge_offset[lo]; e < ws->edge_offset[hi]; ++e) {
      const double *rv = ws->edge_r + 4 * (size_t)e;
      nnp_sph(m->h.l_max, rv, ws->edge_Y + (size_t)e * nsh, ws->edge_dY + 3 * (size_t)e * nsh);
      if (!ws->n_tables)
        nnp_bessel_basis(nb, nnp_radial_frequencies(&m->h), m->h.envelope_p, ws->edge_rc[e], rv[3],
                         ws->edge_b + 2 * (size_t)e * nb, ws->edge_b + (2 * (size_t)e + 1) * nb);
    }
  }
}

/* The transposed edge list: a counting sort of the edges by sender, stable, so each sender's edges come in edge
 * order. */
static void transpose_edges(nnp_workspace *ws, int n_total, int64_t n_edges) {
  int64_t *off = ws->in_offset;
  memset(off, 0, ((size_t)n_total + 1) * sizeof *off);
  for (int64_t e = 0; e < n_edges; ++e) ++off[ws->edge_j[e] + 1];
  for (int j = 0; j < n_total; ++j) off[j + 1] += off[j];
  for (int64_t e = 0; e < n_edges; ++e) {
    ws->in_pos[e] = off[ws->edge_j[e]]++; /* off[j] ends at j's end... */
    ws->in_edge[ws->in_pos[e]] = e;
  }
  memmove(off + 1, off, (size_t)n_total * sizeof *off); /* ...so shift back by one */
  off[0] = 0;
}

/* Whether every edge between two local atoms has its reverse, exactly once: true for the full neighbour lists of
 * LAMMPS and nnp_cell_graph_build, not for half lists or hand-made ones. Local i's local senders (marked, and
 * duplicates caught) must be exactly the receivers of its transposed list, which are all local. Each thread has its
 * own row of marks, all -1 between uses (set when the row is allocated): it unmarks what it marked after each atom,
 * so a call costs the thread's own edges, not a refill of a row as long as all local atoms. */
static int edges_paired(nnp_workspace *ws, const nnp_graph *g) {
  const int n_local = g->n_local;
  int ok = 1;
#pragma omp parallel reduction(&& : ok) num_threads(ws->n_threads)
  {
    int lo, hi, *mark = ws->mark + (size_t)omp_get_thread_num() * n_local;
    nnp_thread_atoms(g, &lo, &hi);
    for (int i = lo; i < hi; ++i) {
      int64_t n_out = 0;
      for (int64_t e = ws->edge_offset[i]; e < ws->edge_offset[i + 1]; ++e) {
        const int j = ws->edge_j[e];
        if (j >= n_local) continue;
        if (mark[j] == i) ok = 0;
        mark[j] = i;
        ++n_out;
      }
      if (n_out != ws->in_offset[i + 1] - ws->in_offset[i]) ok = 0;
      for (int64_t k = ws->in_offset[i]; k < ws->in_offset[i + 1]; ++k)
        if (mark[ws->edge_i[ws->in_edge[k]]] != i) ok = 0;
      for (int64_t e = ws->edge_offset[i]; e < ws->edge_offset[i + 1]; ++e)
        if (ws->edge_j[e] < n_local) mark[ws->edge_j[e]] = -1;
    }
  }
  return ok;
}
/* Walks atom i's neighbour list; with fill, writes its edges from slot e. Returns the number of edges, or -1 for a
 * neighbour index out of range, -2 for a pair closer than r_min (then *bad_j and *bad_r2 say which). */
static int atom_edges(nnp_workspace *ws, const nnp_graph *g, int i, int fill, int64_t e, int *bad_j, double *bad_r2) {
  const nnp_model *m = ws->model;
  const int si = g->species[i];
  if (si < 0) return 0;
  const double rmin2 = m->h.r_min * m->h.r_min, *xi = g->positions + 3 * (size_t)i;
  int n = 0;
  for (int64_t q = g->neigh_offset[i]; q < g->neigh_offset[i + 1]; ++q) {
    const int j = g->neigh_index[q];
    if (j < 0 || j >= g->n_total) return *bad_j = j, -1;
    const int sj = g->species[j];
    if (sj < 0 || j == i) continue;
    const double *xj = g->positions + 3 * (size_t)j;
    const double d[3] = {xj[0] - xi[0], xj[1] - xi[1], xj[2] - xi[2]};
    const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2], rc = m->h.pair_cutoff[si][sj];
    if (r2 >= rc * rc) continue;
    if (r2 < rmin2) return *bad_j = j, *bad_r2 = r2, -2;
    if (fill) {
      const size_t k = (size_t)(e + n);
      ws->edge_i[k] = i;
      ws->edge_j[k] = j;
      ws->edge_r[4 * k + 0] = d[0];
      ws->edge_r[4 * k + 1] = d[1];
      ws->edge_r[4 * k + 2] = d[2];
      ws->edge_r[4 * k + 3] = sqrt(r2);
      ws->edge_rc[k] = rc;
      ws->edge_kind[k] = ws->kind_of_pair[si][sj];
    }
    ++n;
  }
  return n;
}

/* Edges of all local atoms in two parallel passes (count, then fill at the prefix sums), so the edge order is that
 * of the atoms and their neighbour lists whatever the thread count. The edge buffers are reserved between the two,
 * for the edges found rather than for the list entries, which lists with a skin make several times as many. */
nnp_status nnp_build_edges(nnp_workspace *ws, const nnp_graph *g, int want_grad, nnp_error *err) {
  const nnp_model *m = ws->model;
  const int nl = g->n_local;
  if (nl > 0 && g->neigh_offset[0] < 0)
    return nnp_fail(err, NNP_ERR_ARGUMENT, "the first neighbour offset is negative (%lld)",
                    (long long)g->neigh_offset[0]);
  for (int i = 0; i < nl; ++i) {
    const int64_t d = g->neigh_offset[i + 1] - g->neigh_offset[i];
    if (d < 0) return nnp_fail(err, NNP_ERR_ARGUMENT, "neighbour offsets decrease at atom %d", i);
    /* an ignored atom's list is never read, so only the others have to fit an atom's int-sized edge count */
    if (d > NNP_MAX_NEIGHBOURS_PER_ATOM && g->species[i] >= 0)
      return nnp_fail(err, NNP_ERR_ARGUMENT,
                      "atom %d has %lld neighbour-list entries, more than the %d one atom may have "
                      "(NNP_MAX_NEIGHBOURS_PER_ATOM)",
                      i, (long long)d, NNP_MAX_NEIGHBOURS_PER_ATOM);
  }
  int first_bad = nl;
  ws->edge_offset[0] = 0;
#pragma omp parallel reduction(min : first_bad) num_threads(ws->n_threads)
  {
    int lo, hi;
    nnp_thread_atoms(g, &lo, &hi);
    for (int i = lo; i < hi; ++i) {
      int j;
      double r2;
      const int n = atom_edges(ws, g, i, 0, 0, &j, &r2);
      ws->edge_offset[i + 1] = n > 0 ? n : 0;
      if (n < 0 && i < first_bad) first_bad = i;
    }
  }
  if (first_bad < nl) {
    int j = 0;
    double r2 = 0;
    const int i = first_bad, si = g->species[i];
    if (atom_edges(ws, g, i, 0, 0, &j, &r2) == -1)
      return nnp_fail(err, NNP_ERR_ARGUMENT, "neighbour %d of atom %d is outside 0..%d", j, i, g->n_total - 1);
    const double *xi = g->positions + 3 * (size_t)i;
    return nnp_fail(err, NNP_ERR_GEOMETRY,
                    "atoms %d (%s, at %.3f %.3f %.3f) and %d (%s) are %.4f Angstrom apart, closer than the %.4f "
                    "Angstrom this model was trained for (r_min)",
                    i, m->h.species[si], xi[0], xi[1], xi[2], j, m->h.species[g->species[j]], sqrt(r2), m->h.r_min);
  }
  size_t max_deg = 0;
  for (int i = 0; i < nl; ++i) {
    max_deg = (size_t)ws->edge_offset[i + 1] > max_deg ? (size_t)ws->edge_offset[i + 1] : max_deg;
    ws->edge_offset[i + 1] += ws->edge_offset[i];
  }
  const int64_t n_edges = ws->edge_offset[nl];
  nnp_status st = nnp_ws_reserve_edges(ws, n_edges ? (size_t)n_edges : 1, max_deg, want_grad, err);
  if (st) return st;
#pragma omp parallel num_threads(ws->n_threads)
  {
    int lo, hi;
    nnp_thread_atoms(g, &lo, &hi);
    for (int i = lo; i < hi; ++i) {
      int j;
      double r2;
      atom_edges(ws, g, i, 1, ws->edge_offset[i], &j, &r2);
    }
  }
  transpose_edges(ws, g->n_total, n_edges);
  ws->paired = edges_paired(ws, g);
  st = nnp_ws_reserve_edge_dx(ws, nl, g->n_total, err);
  if (st) return st;
  edge_geometry(ws, g);
  return NNP_OK;
}
