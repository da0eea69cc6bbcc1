/* Evaluation: the forward pass through all layers, then the hand-written adjoint pass that yields edge gradients
 * (hence forces and virials) and, for training, parameter gradients. docs/model.md has the equations.
 *
 * Parallel layout: OpenMP threads split atoms, and every sum lands in a row its thread owns, added in an order that
 * does not depend on the thread count, so results are bitwise the same for any number of threads. Work done per
 * receiver (messages, edge gradients) walks the receiver's edges. What flows back to a sender (its force, its
 * feature adjoint) is gathered per sender through the transposed edge list, in edge order; for the feature adjoint,
 * a local sender j of edge i <- j whose lists are symmetric gets it instead at its own edge j <- i (same r, same
 * radial weights), so only edges from ghosts go through a per-edge buffer. Streaming such a buffer for every edge
 * made two threads contend for memory bandwidth (1.4x on two cores). */
#include "nnp_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define VIRIAL_BLOCK 4096 /* edges per partial sum of the global virial */

typedef struct {
  double *tape, *R, *Rdot, *dR, *dYv, *mlp_scratch, *tp, *grad;
} thread_scratch;

struct nnp_workspace {
  const nnp_model *model;
  int n_threads;
  size_t cap_total, cap_local, cap_edges, cap_edges_b, cap_deg;
  int *edge_offset, *edge_i, *edge_j; /* edges of receiver i: edge_offset[i] .. edge_offset[i+1]; i <- j */
  int *in_offset, *in_edge;           /* edges whose sender is j: in_edge[in_offset[j] .. in_offset[j+1]] */
  int *in_pos;                        /* in_edge[in_pos[e]] == e */
  int *mark;                          /* n_threads x cap_local, for the symmetry check */
  int paired;                         /* every local-local edge has its reverse: see conv_adjoint */
  size_t cap_dx_edges;
  double *edge_dx; /* feature adjoints of the edges from unpaired senders, in transposed order */
  double *edge_r;  /* [E][4]: x_j - x_i and its length */
  double *edge_rc, *edge_g;
  double *block_virial; /* [n_edges / VIRIAL_BLOCK + 1][6] */
  /* per-edge quantities every layer and pass reuses: harmonics Y [E][nsh], dY/dr [E][nsh][3], and (exact radial
   * MLP only) the basis b and db/dr [E][2][N_b] */
  double *edge_Y, *edge_dY, *edge_b;
  double *h, *x, *msg, *pre, *dh_a, *dh_b, *dx, *dmsg, *dpre, *atom_e;
  double *comb_store, *comb_scratch; /* layer step 3's forward state and adjoint scratch (product family) */
  double *wt;                        /* transposed radial weights of every layer */
  size_t *wt_offset;
  thread_scratch *thr;
  double *thr_block;
  size_t thr_block_size;
  /* radial tables: tables[t * n_kinds + kind], kind = distinct pair cutoff; none when n_tables == 0 */
  int n_kinds, n_tables;
  int kind_of_pair[NNP_MAX_SPECIES][NNP_MAX_SPECIES];
  nnp_radial_table *tables;
  int *edge_kind;
  /* float32 evaluation (nnp_workspace_set_precision): the features and message adjoints the convolution reads, and
   * per thread its table rows, edge gradients and feature adjoints (thr_f_size floats each) */
  int single;
  float *xf, *dmsgf, *thr_f;
  size_t thr_f_size;
  size_t grown_bytes; /* held by the buffers GROW manages */
};

static void free_tables(nnp_workspace *ws) {
  for (int k = 0; k < ws->n_tables; ++k) nnp_radial_table_free(&ws->tables[k]);
  free(ws->tables);
  ws->tables = NULL;
  ws->n_tables = 0;
}

static void ws_release_buffers(nnp_workspace *ws) {
  free(ws->edge_offset);
  free(ws->edge_i);
  free(ws->edge_j);
  free(ws->in_offset);
  free(ws->in_edge);
  free(ws->in_pos);
  free(ws->mark);
  free(ws->edge_dx);
  free(ws->edge_r);
  free(ws->edge_rc);
  free(ws->edge_g);
  free(ws->block_virial);
  free(ws->edge_Y);
  free(ws->edge_dY);
  free(ws->edge_b);
  free(ws->h);
  free(ws->x);
  free(ws->msg);
  free(ws->pre);
  free(ws->dh_a);
  free(ws->dh_b);
  free(ws->dx);
  free(ws->dmsg);
  free(ws->dpre);
  free(ws->atom_e);
  free(ws->comb_store);
  free(ws->comb_scratch);
  free(ws->thr_block);
  free(ws->edge_kind);
  free(ws->xf);
  free(ws->dmsgf);
}

/* What the heap holds for a block (its usable size; glibc). Elsewhere 0: nnp_workspace_memory then counts only the
 * workspace's fixed part. */
#if defined(__GLIBC__)
#include <malloc.h>
static size_t heap_bytes(void *p) { return p ? malloc_usable_size(p) : 0; }
#else
static size_t heap_bytes(void *p) { return 0; }
#endif

size_t nnp_workspace_memory(const nnp_workspace *ws) {
  if (!ws) return 0;
  size_t bytes = sizeof *ws + ws->grown_bytes + heap_bytes(ws->wt) + heap_bytes(ws->wt_offset) + heap_bytes(ws->thr) +
                 heap_bytes(ws->thr_f) + heap_bytes(ws->tables);
  for (int k = 0; k < ws->n_tables; ++k) bytes += heap_bytes(ws->tables[k].coef) + heap_bytes(ws->tables[k].coef_f);
  return bytes;
}

void nnp_workspace_free(nnp_workspace *ws) {
  if (!ws) return;
  ws_release_buffers(ws);
  free_tables(ws);
  free(ws->wt);
  free(ws->wt_offset);
  free(ws->thr);
  free(ws->thr_f);
  free(ws);
}

/* The core splits work among its own OpenMP threads and calls BLAS inside them, so BLAS should not start threads of
 * its own; that is a process-wide setting, left to the program (nnp.h, "Threads"). */
nnp_status nnp_workspace_create(const nnp_model *m, int n_threads, nnp_workspace **out, nnp_error *err) {
  if (!m || !out) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_workspace_create: NULL argument");
  nnp_workspace *ws = calloc(1, sizeof *ws);
  if (!ws) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory allocating a workspace");
  ws->model = m;
  ws->n_threads = n_threads > 0 ? n_threads : omp_get_max_threads();
  ws->thr = calloc((size_t)ws->n_threads, sizeof *ws->thr);
  const int K = m->h.n_radial_hidden;
  ws->wt_offset = calloc((size_t)m->h.layers * (K + 1), sizeof *ws->wt_offset);
  size_t total = 0;
  for (int t = 0; t < m->h.layers; ++t)
    for (int k = 0; k <= K; ++k) {
      const nnp_layer *ly = &m->layers[t];
      size_t off = k < K ? ly->radial[k] : ly->radial_out;
      const nnp_param_array *a = NULL;
      for (int q = 0; q < m->n_arrays; ++q)
        if (m->arrays[q].offset == off) a = &m->arrays[q];
      ws->wt_offset[t * (K + 1) + k] = total;
      total += a->size;
    }
  ws->wt = malloc(total * sizeof *ws->wt);
  int max_pc = 0, max_msg = 0;
  for (int t = 0; t < m->h.layers; ++t) {
    if (m->layers[t].n_paths * m->h.channels > max_pc) max_pc = m->layers[t].n_paths * m->h.channels;
    if (m->layers[t].msg_width > max_msg) max_msg = m->layers[t].msg_width;
  }
  ws->thr_f_size = 3 * (size_t)max_pc + (size_t)(max_msg > 2 * m->feature_width ? max_msg : 2 * m->feature_width) + 16;
  ws->thr_f = malloc(ws->thr_f_size * (size_t)ws->n_threads * sizeof *ws->thr_f);
  double kinds[NNP_MAX_SPECIES * NNP_MAX_SPECIES];
  for (int a = 0; a < m->h.n_species; ++a)
    for (int b = 0; b < m->h.n_species; ++b) {
      int k = 0;
      while (k < ws->n_kinds && kinds[k] != m->h.pair_cutoff[a][b]) ++k;
      if (k == ws->n_kinds) kinds[ws->n_kinds++] = m->h.pair_cutoff[a][b];
      ws->kind_of_pair[a][b] = k;
    }
  if (!ws->thr || !ws->wt_offset || !ws->wt || !ws->thr_f) {
    nnp_workspace_free(ws);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory allocating a workspace");
  }
  *out = ws;
  return NNP_OK;
}

static const double *const *layer_wt(const nnp_workspace *ws, int t, const double *buf[NNP_MAX_RADIAL_LAYERS + 1]);

/* The forward products want (in x out) weights; the model stores (out x in). Refreshed every call because a
 * trainer changes the parameters between calls. */
static void refresh_transposed_weights(nnp_workspace *ws) {
  const nnp_model *m = ws->model;
  const int K = m->h.n_radial_hidden;
  for (int t = 0; t < m->h.layers; ++t) {
    const nnp_layer *ly = &m->layers[t];
    int in = m->h.radial_basis;
    for (int k = 0; k <= K; ++k) {
      int out = k < K ? m->h.radial_hidden[k] : ly->n_paths * m->h.channels;
      const double *W = m->params + (k < K ? ly->radial[k] : ly->radial_out);
      double *Wt = ws->wt + ws->wt_offset[t * (K + 1) + k];
      for (int a = 0; a < out; ++a)
        for (int b = 0; b < in; ++b) Wt[(size_t)b * out + a] = W[(size_t)a * in + b];
      in = out;
    }
  }
}

nnp_status nnp_workspace_tabulate_radial(nnp_workspace *ws, double step, nnp_error *err) {
  if (!ws || !(step >= 0.0) || (step > 0.0 && step < 1e-5))
    return nnp_fail(err, NNP_ERR_ARGUMENT, "radial table step must be 0 (exact) or at least 1e-5 Angstrom");
  free_tables(ws);
  if (step == 0.0) return NNP_OK;
  const nnp_model *m = ws->model;
  refresh_transposed_weights(ws);
  ws->tables = calloc((size_t)m->h.layers * ws->n_kinds, sizeof *ws->tables);
  if (!ws->tables) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory tabulating the radial functions");
  ws->n_tables = m->h.layers * ws->n_kinds;
  for (int t = 0; t < m->h.layers; ++t)
    for (int a = 0; a < m->h.n_species; ++a)
      for (int b = 0; b < m->h.n_species; ++b) {
        nnp_radial_table *tab = &ws->tables[t * ws->n_kinds + ws->kind_of_pair[a][b]];
        if (tab->coef) continue;
        const double *wt_buf[NNP_MAX_RADIAL_LAYERS + 1];
        nnp_status st =
            nnp_radial_table_build(m, &m->layers[t], layer_wt(ws, t, wt_buf), m->h.pair_cutoff[a][b], step, tab, err);
        if (st) {
          free_tables(ws);
          return st;
        }
      }
  return NNP_OK;
}

double nnp_workspace_radial_table_error(const nnp_workspace *ws) {
  double worst = 0.0;
  for (int k = 0; ws && k < ws->n_tables; ++k)
    worst = worst > ws->tables[k].rel_error ? worst : ws->tables[k].rel_error;
  return worst;
}

nnp_status nnp_workspace_set_precision(nnp_workspace *ws, nnp_precision precision, nnp_error *err) {
  if (!ws || (precision != NNP_PRECISION_DOUBLE && precision != NNP_PRECISION_SINGLE))
    return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_workspace_set_precision: NULL workspace or unknown precision %d",
                    (int)precision);
  if (precision == NNP_PRECISION_SINGLE)
    for (int t = 0; t < ws->model->h.layers; ++t)
      if (ws->model->layers[t].tp_kernel < 0)
        return nnp_fail(err, NNP_ERR_ARGUMENT,
                        "single precision is implemented for layers with a generated kernel (tensor family, l_max <= "
                        "2); layer %d of this model (l_max %d, %s family) has none",
                        t, ws->model->h.l_max,
                        ws->model->h.interaction == NNP_INTERACTION_PRODUCT ? "product" : "tensor");
  ws->single = precision == NNP_PRECISION_SINGLE;
  return NNP_OK;
}

/* Whether the convolutions run in float32: asked for, and with tables (checked at every evaluation) */
static int ws_single(const nnp_workspace *ws) { return ws->single && ws->n_tables; }

static int max_paths_x_channels(const nnp_model *m) {
  int best = 0;
  for (int t = 0; t < m->h.layers; ++t)
    if (m->layers[t].n_paths * m->h.channels > best) best = m->layers[t].n_paths * m->h.channels;
  return best;
}

static int max_width(const nnp_model *m, int msg) {
  int best = 0;
  for (int t = 0; t < m->h.layers; ++t) {
    int w = msg ? m->layers[t].msg_width : m->layers[t].pre_width;
    if (w > best) best = w;
  }
  return best;
}

static size_t combine_store_total(const nnp_model *m) {
  size_t s = 0;
  for (int t = 0; t < m->h.layers; ++t) s += nnp_combine_store_width(m, t);
  return s;
}

static size_t msg_stride_total(const nnp_model *m, int msg) {
  size_t s = 0;
  for (int t = 0; t < m->h.layers; ++t) s += (size_t)(msg ? m->layers[t].msg_width : m->layers[t].pre_width);
  return s;
}

/* ws->grown_bytes follows what the grown buffers hold (nnp_workspace_memory) */
#define GROW(ptr, count)                                                                                               \
  do {                                                                                                                 \
    ws->grown_bytes -= heap_bytes(ptr);                                                                                \
    free(ptr);                                                                                                         \
    (ptr) = malloc((size_t)(count) * sizeof *(ptr) + 1);                                                               \
    if (!(ptr)) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory in the workspace");                                 \
    ws->grown_bytes += heap_bytes(ptr);                                                                                \
  } while (0)

/* Capacity to allocate when n items no longer fit. Under MD the atom and edge counts wander a little at every
 * neighbour-list rebuild; growing to the exact count reallocated (and page-faulted in) hundreds of megabytes of
 * buffers at most rebuilds of a 100k-atom box, 25% of the time on two ranks. */
static size_t with_headroom(size_t n) { return n + n / 8 + 64; }

static nnp_status ws_reserve_atoms(nnp_workspace *ws, size_t n_local, size_t n_total, nnp_error *err) {
  const nnp_model *m = ws->model;
  const size_t F = (size_t)m->feature_width, T = (size_t)m->h.layers;
  if (n_total > ws->cap_total) {
    n_total = with_headroom(n_total);
    GROW(ws->h, (T + 1) * n_total * F);
    GROW(ws->x, n_total * F);
    GROW(ws->dh_a, n_total * F);
    GROW(ws->dh_b, n_total * F);
    GROW(ws->dx, n_total * F);
    GROW(ws->xf, n_total * F);
    GROW(ws->in_offset, n_total + 1);
    ws->cap_total = n_total;
  }
  if (n_local > ws->cap_local || !ws->edge_offset) {
    n_local = with_headroom(n_local);
    GROW(ws->edge_offset, n_local + 1);
    GROW(ws->msg, n_local * msg_stride_total(m, 1));
    GROW(ws->pre, n_local * msg_stride_total(m, 0));
    GROW(ws->dmsg, n_local * (size_t)max_width(m, 1));
    GROW(ws->dmsgf, n_local * (size_t)max_width(m, 1));
    GROW(ws->dpre, n_local * (size_t)max_width(m, 0));
    GROW(ws->atom_e, n_local);
    GROW(ws->comb_store, n_local * combine_store_total(m));
    GROW(ws->comb_scratch, n_local * nnp_combine_scratch_width(m));
    GROW(ws->mark, n_local * (size_t)ws->n_threads);
    ws->cap_local = n_local;
  }
  return NNP_OK;
}

static nnp_status ws_reserve_edges(nnp_workspace *ws, size_t n_edges, size_t max_deg, int want_grad, nnp_error *err) {
  const nnp_model *m = ws->model;
  if (n_edges > ws->cap_edges || !ws->edge_j) {
    n_edges = with_headroom(n_edges);
    GROW(ws->edge_i, n_edges);
    GROW(ws->edge_j, n_edges);
    GROW(ws->in_edge, n_edges);
    GROW(ws->in_pos, n_edges);
    GROW(ws->edge_r, 4 * n_edges);
    GROW(ws->edge_rc, n_edges);
    GROW(ws->edge_g, 3 * n_edges);
    GROW(ws->block_virial, 6 * (n_edges / VIRIAL_BLOCK + 1));
    GROW(ws->edge_kind, n_edges);
    GROW(ws->edge_Y, (size_t)NNP_NSH(m->h.l_max) * n_edges);
    GROW(ws->edge_dY, 3 * (size_t)NNP_NSH(m->h.l_max) * n_edges);
    ws->cap_edges = n_edges;
  }
  const size_t n_basis_edges = ws->n_tables ? 0 : ws->cap_edges; /* cached for the exact radial MLP only */
  if (n_basis_edges > ws->cap_edges_b || !ws->edge_b) {
    GROW(ws->edge_b, 2 * (size_t)m->h.radial_basis * n_basis_edges);
    ws->cap_edges_b = n_basis_edges;
  }
  const size_t PC = (size_t)max_paths_x_channels(m), nsh = (size_t)NNP_NSH(m->h.l_max);
  int maxw = m->h.radial_basis;
  for (int k = 0; k < m->h.n_radial_hidden; ++k) maxw = m->h.radial_hidden[k] > maxw ? m->h.radial_hidden[k] : maxw;
  size_t deg = max_deg ? max_deg : 1;
  size_t tape = nnp_mlp_tape_size(m, (int)(2 * deg));
  const size_t tp = NNP_TP_SCRATCH(m->h.channels);
  size_t per = tape + 2 * deg * PC + deg * PC + nsh + 2 * deg * (size_t)maxw + (size_t)m->h.readout_hidden + tp +
               (want_grad ? m->n_params : 0);
  if (deg > ws->cap_deg || per > ws->thr_block_size || !ws->thr_block) {
    GROW(ws->thr_block, per * (size_t)ws->n_threads);
    ws->thr_block_size = per;
    ws->cap_deg = deg;
  }
  for (int t = 0; t < ws->n_threads; ++t) {
    double *p = ws->thr_block + (size_t)t * ws->thr_block_size;
    thread_scratch *s = &ws->thr[t];
    s->tape = p, p += tape;
    s->R = p, p += deg * PC;
    s->Rdot = p, p += deg * PC;
    s->dR = p, p += deg * PC;
    s->dYv = p, p += nsh;
    s->mlp_scratch = p, p += 2 * deg * (size_t)maxw + (size_t)m->h.readout_hidden;
    s->tp = p, p += tp;
    s->grad = want_grad ? p : NULL;
  }
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */

static nnp_status check_inputs(const nnp_model *m, const nnp_graph *g, nnp_error *err) {
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
  const int *off = g->neigh_offset;
  const long long target = off[0] + (long long)(off[g->n_local] - off[0]) * k / nt;
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
 * thread reads the edges it wrote itself (build_edges, edge_geometry) and the neighbours of its atoms stay in its
 * own core's cache. Measured on two cores, 1536 water atoms: dynamic chunks of 4 atoms cost 30%; blocks of 48 to 190
 * atoms dealt out dynamically 13% and statically (8 per thread) 3%, although they even out the adjoint's cost, which
 * differs 15% between the two halves (edges from ghosts are cheaper). A dynamic hand-out pays only where cores run
 * at different speeds. */
static void thread_atoms(const nnp_graph *g, int *lo, int *hi) {
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
    thread_atoms(g, &lo, &hi);
    for (int e = ws->edge_offset[lo]; e < ws->edge_offset[hi]; ++e) {
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
static void transpose_edges(nnp_workspace *ws, int n_total, int n_edges) {
  int *off = ws->in_offset;
  memset(off, 0, ((size_t)n_total + 1) * sizeof *off);
  for (int e = 0; e < n_edges; ++e) ++off[ws->edge_j[e] + 1];
  for (int j = 0; j < n_total; ++j) off[j + 1] += off[j];
  for (int e = 0; e < n_edges; ++e) {
    ws->in_pos[e] = off[ws->edge_j[e]]++; /* off[j] ends at j's end... */
    ws->in_edge[ws->in_pos[e]] = e;
  }
  memmove(off + 1, off, (size_t)n_total * sizeof *off); /* ...so shift back by one */
  off[0] = 0;
}

/* Whether every edge between two local atoms has its reverse, exactly once: true for the full neighbour lists of
 * LAMMPS and nnp_cell_graph_build, not for half lists or hand-made ones. Local i's local senders (marked, and
 * duplicates caught) must be exactly the receivers of its transposed list, which are all local. */
static int edges_paired(nnp_workspace *ws, const nnp_graph *g) {
  const int n_local = g->n_local;
  int ok = 1;
#pragma omp parallel reduction(&& : ok) num_threads(ws->n_threads)
  {
    int lo, hi, *mark = ws->mark + (size_t)omp_get_thread_num() * n_local;
    thread_atoms(g, &lo, &hi);
    for (int j = 0; j < n_local; ++j) mark[j] = -1;
    for (int i = lo; i < hi; ++i) {
      int n_out = 0;
      for (int e = ws->edge_offset[i]; e < ws->edge_offset[i + 1]; ++e) {
        const int j = ws->edge_j[e];
        if (j >= n_local) continue;
        if (mark[j] == i) ok = 0;
        mark[j] = i;
        ++n_out;
      }
      if (n_out != ws->in_offset[i + 1] - ws->in_offset[i]) ok = 0;
      for (int k = ws->in_offset[i]; k < ws->in_offset[i + 1]; ++k)
        if (mark[ws->edge_i[ws->in_edge[k]]] != i) ok = 0;
    }
  }
  return ok;
}

/* Room for the feature adjoints of the edges whose senders are not paired (all of them when the lists are not
 * symmetric), F doubles each. */
static nnp_status reserve_edge_dx(nnp_workspace *ws, int n_local, int n_total, nnp_error *err) {
  const int first = ws->paired ? n_local : 0;
  const size_t n = (size_t)(ws->in_offset[n_total] - ws->in_offset[first]);
  if (n > ws->cap_dx_edges || !ws->edge_dx) {
    const size_t cap = with_headroom(n);
    GROW(ws->edge_dx, cap * (size_t)ws->model->feature_width);
    ws->cap_dx_edges = cap;
  }
  return NNP_OK;
}

/* Walks atom i's neighbour list; with fill, writes its edges from slot e. Returns the number of edges, or -1 for a
 * neighbour index out of range, -2 for a pair closer than r_min (then *bad_j and *bad_r2 say which). */
static int atom_edges(nnp_workspace *ws, const nnp_graph *g, int i, int fill, int e, int *bad_j, double *bad_r2) {
  const nnp_model *m = ws->model;
  const int si = g->species[i];
  if (si < 0) return 0;
  const double rmin2 = m->h.r_min * m->h.r_min, *xi = g->positions + 3 * (size_t)i;
  int n = 0;
  for (int q = g->neigh_offset[i]; q < g->neigh_offset[i + 1]; ++q) {
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
 * of the atoms and their neighbour lists whatever the thread count. */
static nnp_status build_edges(nnp_workspace *ws, const nnp_graph *g, int want_grad, nnp_error *err) {
  const nnp_model *m = ws->model;
  const int nl = g->n_local;
  size_t n_cand = nl ? (size_t)g->neigh_offset[nl] : 0;
  size_t max_deg = 0;
  for (int i = 0; i < nl; ++i) {
    if (g->neigh_offset[i + 1] < g->neigh_offset[i])
      return nnp_fail(err, NNP_ERR_ARGUMENT, "neighbour offsets decrease at atom %d", i);
    size_t d = (size_t)(g->neigh_offset[i + 1] - g->neigh_offset[i]);
    if (d > max_deg) max_deg = d;
  }
  nnp_status st = ws_reserve_edges(ws, n_cand ? n_cand : 1, max_deg, want_grad, err);
  if (st) return st;
  int first_bad = nl;
  ws->edge_offset[0] = 0;
#pragma omp parallel reduction(min : first_bad) num_threads(ws->n_threads)
  {
    int lo, hi;
    thread_atoms(g, &lo, &hi);
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
  for (int i = 0; i < nl; ++i) ws->edge_offset[i + 1] += ws->edge_offset[i];
#pragma omp parallel num_threads(ws->n_threads)
  {
    int lo, hi;
    thread_atoms(g, &lo, &hi);
    for (int i = lo; i < hi; ++i) {
      int j;
      double r2;
      atom_edges(ws, g, i, 1, ws->edge_offset[i], &j, &r2);
    }
  }
  const int e = ws->edge_offset[nl];
  transpose_edges(ws, g->n_total, e);
  ws->paired = edges_paired(ws, g);
  st = reserve_edge_dx(ws, nl, g->n_total, err);
  if (st) return st;
  edge_geometry(ws, g);
  return NNP_OK;
}

/* Radial basis (and its r-derivative when tangent) of a receiver's edges into the tape's input rows. */
static void edge_basis(const nnp_model *m, const nnp_workspace *ws, int e0, int n, int tangent, nnp_mlp_tape *tape) {
  const int nb = m->h.radial_basis;
  for (int k = 0; k < n; ++k) {
    const double *b = ws->edge_b + 2 * (size_t)(e0 + k) * nb;
    memcpy(tape->act[0] + (size_t)k * nb, b, (size_t)nb * sizeof *b);
    if (tangent) memcpy(tape->act[0] + (size_t)(n + k) * nb, b + nb, (size_t)nb * sizeof *b);
  }
}

static const double *const *layer_wt(const nnp_workspace *ws, int t, const double *buf[NNP_MAX_RADIAL_LAYERS + 1]) {
  const int K = ws->model->h.n_radial_hidden;
  for (int k = 0; k <= K; ++k) buf[k] = ws->wt + ws->wt_offset[t * (K + 1) + k];
  return buf;
}

/* The radial table of edge e in layer t */
static const nnp_radial_table *edge_table(const nnp_workspace *ws, int t, int e) {
  return &ws->tables[t * ws->n_kinds + ws->edge_kind[e]];
}

/* Asks for the rows edge e will read while the previous edge computes: its table interval, its sender's features
 * and (adjoint, paired senders) its sender's message adjoint. They are scattered over L2 and L3 (a table row alone
 * is 4 P C values), so each would otherwise start with a miss the hardware prefetcher cannot foresee. */
static inline void prefetch_bytes(const void *p, size_t n) {
  const char *c = p;
  for (size_t q = 0; q < n; q += 64) __builtin_prefetch(c + q);
}

static void prefetch_edge(const nnp_workspace *ws, int t, int e, int single, const void *dmsg_row, size_t msg_bytes) {
  const nnp_radial_table *tab = edge_table(ws, t, e);
  int k = (int)((ws->edge_r[4 * (size_t)e + 3] - tab->r_lo) * tab->inv_step);
  k = k < 0 ? 0 : k >= tab->n_intervals ? tab->n_intervals - 1 : k;
  const size_t row = 4 * (size_t)tab->width, F = (size_t)ws->model->feature_width, j = (size_t)ws->edge_j[e];
  if (single) {
    prefetch_bytes(tab->coef_f + (size_t)k * row, row * sizeof(float));
    prefetch_bytes(ws->xf + j * F, F * sizeof(float));
  } else {
    prefetch_bytes(tab->coef + (size_t)k * row, row * sizeof(double));
    prefetch_bytes(ws->x + j * F, F * sizeof(double));
  }
  if (dmsg_row) prefetch_bytes(dmsg_row, msg_bytes);
}

/* float32 copies of n rows of width w (the convolution's inputs in single precision) */
static void rows_to_float(int n_threads, const double *src, float *dst, int n, int w, double scale) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int i = 0; i < n; ++i)
    for (int q = 0; q < w; ++q) dst[(size_t)i * w + q] = (float)(scale * src[(size_t)i * w + q]);
}

/* Receiver i's messages in float32: per edge, its table row and tensor product, summed over its edges in float32
 * (about 50 terms, relative error ~ 50 x 6e-8) and stored in float64. */
static void conv_forward_atom_f(nnp_workspace *ws, int t, int i, float *Rf, float *msgf, double *out) {
  const nnp_model *m = ws->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, nsh = NNP_NSH(m->h.l_max);
  const double inv_sqrt_nu = 1.0 / sqrt(m->h.avg_num_neighbors);
  memset(msgf, 0, (size_t)ly->msg_width * sizeof *msgf);
  for (int e = ws->edge_offset[i]; e < ws->edge_offset[i + 1]; ++e) {
    if (e + 1 < ws->edge_offset[i + 1]) prefetch_edge(ws, t, e + 1, 1, NULL, 0);
    nnp_radial_table_eval_f(edge_table(ws, t, e), ws->edge_r[4 * (size_t)e + 3], Rf, NULL);
    nnp_tp_edge_forward_f(m, ly, ws->xf + (size_t)ws->edge_j[e] * F, ws->edge_Y + (size_t)e * nsh, Rf, msgf);
  }
  for (int q = 0; q < ly->msg_width; ++q) out[q] = inv_sqrt_nu * (double)msgf[q];
}

static void conv_forward(nnp_workspace *ws, const nnp_graph *g, int t, double *msg_t) {
  const nnp_model *m = ws->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, PC = ly->n_paths * m->h.channels, nsh = NNP_NSH(m->h.l_max);
  const double inv_sqrt_nu = 1.0 / sqrt(m->h.avg_num_neighbors);
  const int single = ws_single(ws);
  const double *wt_buf[NNP_MAX_RADIAL_LAYERS + 1];
  const double *const *wt = layer_wt(ws, t, wt_buf);
  if (single) rows_to_float(ws->n_threads, ws->x, ws->xf, g->n_total, F, 1.0);
#pragma omp parallel num_threads(ws->n_threads)
  {
    int lo, hi;
    thread_atoms(g, &lo, &hi);
    const int th = omp_get_thread_num();
    thread_scratch *s = &ws->thr[th];
    float *Rf = ws->thr_f + (size_t)th * ws->thr_f_size, *msgf = Rf + 3 * (size_t)PC;
    for (int i = lo; i < hi; ++i) {
      double *out = msg_t + (size_t)i * ly->msg_width;
      if (single) {
        conv_forward_atom_f(ws, t, i, Rf, msgf, out);
        continue;
      }
      memset(out, 0, (size_t)ly->msg_width * sizeof *out);
      const int e0 = ws->edge_offset[i], n = ws->edge_offset[i + 1] - e0;
      if (n == 0) continue;
      if (ws->n_tables) {
        /* each edge's table row right before its product, so that it is still in L1 */
        for (int e = e0; e < e0 + n; ++e) {
          if (e + 1 < e0 + n) prefetch_edge(ws, t, e + 1, 0, NULL, 0);
          nnp_radial_table_eval(edge_table(ws, t, e), ws->edge_r[4 * (size_t)e + 3], s->R, NULL);
          nnp_tp_edge_forward(m, ly, ws->x + (size_t)ws->edge_j[e] * F, ws->edge_Y + (size_t)e * nsh, s->R, out, s->tp);
        }
      } else {
        nnp_mlp_tape tape;
        nnp_mlp_tape_bind(m, &tape, s->tape, n);
        edge_basis(m, ws, e0, n, 0, &tape);
        nnp_radial_mlp(m, ly, wt, &tape, n, 0, s->R, NULL);
        for (int k = 0; k < n; ++k) {
          const int e = e0 + k;
          nnp_tp_edge_forward(m, ly, ws->x + (size_t)ws->edge_j[e] * F, ws->edge_Y + (size_t)e * nsh,
                              s->R + (size_t)k * PC, out, s->tp);
        }
      }
      for (int q = 0; q < ly->msg_width; ++q) out[q] *= inv_sqrt_nu;
    }
  }
}

/* dE/dr of an edge, sum_q dR[q] dR/dr[q] over its P C radial values, in DOT_LANES interleaved partial sums added
 * in a fixed order at the end: one running sum is a chain of P C dependent additions (272 at l_max 2 / 16 channels,
 * 4 cycles each), which cost more than the tensor product's own adjoint; the lanes vectorise. The order depends only
 * on P C, so results stay bitwise independent of the thread count. */
#define DOT_LANES 8

static inline double dot_lanes(const double *restrict a, const double *restrict b, int n) {
  double acc[DOT_LANES] = {0};
  int q = 0;
  for (; q + DOT_LANES <= n; q += DOT_LANES)
    for (int k = 0; k < DOT_LANES; ++k) acc[k] += a[q + k] * b[q + k];
  for (; q < n; ++q) acc[0] += a[q] * b[q];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* The same for float32 rows: products rounded to float32 (as the kernels' own), summed in float64 */
static inline double dot_lanes_f(const float *restrict a, const float *restrict b, int n) {
  double acc[DOT_LANES] = {0};
  int q = 0;
  for (; q + DOT_LANES <= n; q += DOT_LANES)
    for (int k = 0; k < DOT_LANES; ++k) acc[k] += (double)(a[q + k] * b[q + k]);
  for (; q < n; ++q) acc[0] += (double)(a[q] * b[q]);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Edge e's gradient from dE/dR (through dR/dr) and dE/dY (through dY/dr): assigned when first, else added. */
static void edge_gradient(nnp_workspace *ws, int e, double dEdr, const double *dYv, int first) {
  const int nsh = NNP_NSH(ws->model->h.l_max);
  const double *rv = ws->edge_r + 4 * (size_t)e, *dY = ws->edge_dY + 3 * (size_t)e * nsh;
  double gvec[3] = {dEdr * rv[0] / rv[3], dEdr * rv[1] / rv[3], dEdr * rv[2] / rv[3]};
  for (int q = 0; q < nsh; ++q)
    for (int a = 0; a < 3; ++a) gvec[a] += dYv[q] * dY[3 * q + a];
  double *ge = ws->edge_g + 3 * (size_t)e;
  for (int a = 0; a < 3; ++a) ge[a] = first ? gvec[a] : ge[a] + gvec[a];
}

/* Receiver i's edges in float32 (conv_adjoint): dmsg and the features in float32 (ws->dmsgf, ws->xf), dE/dr summed
 * in float64 per edge; the receiver's own feature adjoint (paired senders) is summed over its edges in float32. */
static void conv_adjoint_atom_f(nnp_workspace *ws, int t, int i, int unpaired, int base, float *Rf, double *dYv,
                                int first) {
  const nnp_model *m = ws->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, nsh = NNP_NSH(m->h.l_max), PC = ly->n_paths * m->h.channels;
  const int Fin = m->h.channels * NNP_NSH(ly->lin), W = ly->msg_width;
  float *Rdf = Rf + PC, *dRf = Rdf + PC, *dxf = dRf + PC, *dxe = dxf + F;
  memset(dxf, 0, (size_t)Fin * sizeof *dxf);
  const float *dm = ws->dmsgf + (size_t)i * W;
  for (int e = ws->edge_offset[i]; e < ws->edge_offset[i + 1]; ++e) {
    const int j = ws->edge_j[e];
    if (e + 1 < ws->edge_offset[i + 1]) {
      const int j1 = ws->edge_j[e + 1];
      prefetch_edge(ws, t, e + 1, 1, j1 < unpaired ? ws->dmsgf + (size_t)j1 * W : NULL, (size_t)W * sizeof(float));
    }
    nnp_radial_table_eval_f(edge_table(ws, t, e), ws->edge_r[4 * (size_t)e + 3], Rf, Rdf);
    const float *xj = ws->xf + (size_t)j * F;
    const double *Y = ws->edge_Y + (size_t)e * nsh;
    if (j < unpaired) {
      nnp_tp_edge_adjoint_f(m, ly, xj, Y, Rf, dm, ws->dmsgf + (size_t)j * W, dxf, dRf, dYv);
    } else {
      memset(dxe, 0, (size_t)Fin * sizeof *dxe);
      nnp_tp_edge_adjoint_f(m, ly, xj, Y, Rf, dm, NULL, dxe, dRf, dYv);
      double *d = ws->edge_dx + (size_t)(ws->in_pos[e] - base) * F;
      for (int q = 0; q < Fin; ++q) d[q] = (double)dxe[q];
    }
    edge_gradient(ws, e, dot_lanes_f(dRf, Rdf, PC), dYv, first);
  }
  if (unpaired) {
    double *dxi = ws->dx + (size_t)i * F;
    for (int q = 0; q < Fin; ++q) dxi[q] = (double)dxf[q];
  }
}

/* Adjoint of the convolution of layer t: edge gradients into edge_g (assigned when first, else added), feature
 * adjoints of every atom (ghosts included) into ws->dx, radial-MLP parameter gradients into the threads' gradient
 * buffers. dmsg is already scaled by nu^-1/2. A receiver's edge from a paired sender yields the receiver's own
 * feature adjoint (see nnp_tp_edge_adjoint_paired); an edge from any other sender writes the sender's into edge_dx,
 * gathered per sender afterwards. */
static void conv_adjoint(nnp_workspace *ws, const nnp_graph *g, int t, const double *dmsg, int first) {
  const nnp_model *m = ws->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, nsh = NNP_NSH(m->h.l_max), PC = ly->n_paths * m->h.channels;
  const int Fin = m->h.channels * NNP_NSH(ly->lin);
  const int unpaired = ws->paired ? g->n_local : 0; /* senders from here on go through edge_dx */
  const int base = ws->in_offset[unpaired];
  const int single = ws_single(ws);
  const double *wt_buf[NNP_MAX_RADIAL_LAYERS + 1];
  const double *const *wt = layer_wt(ws, t, wt_buf);
  if (single) {
    rows_to_float(ws->n_threads, ws->x, ws->xf, g->n_total, F, 1.0);
    rows_to_float(ws->n_threads, dmsg, ws->dmsgf, g->n_local, ly->msg_width, 1.0);
  }
#pragma omp parallel num_threads(ws->n_threads)
  {
    int lo, hi;
    thread_atoms(g, &lo, &hi);
    const int th = omp_get_thread_num();
    thread_scratch *s = &ws->thr[th];
    for (int i = lo; i < hi; ++i) {
      if (single) {
        conv_adjoint_atom_f(ws, t, i, unpaired, base, ws->thr_f + (size_t)th * ws->thr_f_size, s->dYv, first);
        continue;
      }
      const int e0 = ws->edge_offset[i], n = ws->edge_offset[i + 1] - e0;
      double *dxi = ws->dx + (size_t)i * F;
      if (ws->paired) memset(dxi, 0, (size_t)Fin * sizeof *dxi);
      if (n == 0) continue;
      nnp_mlp_tape tape;
      if (!ws->n_tables) {
        nnp_mlp_tape_bind(m, &tape, s->tape, 2 * n);
        edge_basis(m, ws, e0, n, 1, &tape);
        nnp_radial_mlp(m, ly, wt, &tape, n, 1, s->R, s->Rdot);
      }
      const double *dm = dmsg + (size_t)i * ly->msg_width;
      for (int k = 0; k < n; ++k) {
        const int e = e0 + k, j = ws->edge_j[e];
        /* with tables, each edge's rows are evaluated right before its product (still in L1) into slot 0 */
        const size_t slot = ws->n_tables ? 0 : (size_t)k * PC;
        const double *Y = ws->edge_Y + (size_t)e * nsh;
        const double *xj = ws->x + (size_t)j * F, *R = s->R + slot, *Rd = s->Rdot + slot;
        double *dR = s->dR + (size_t)k * PC;
        if (ws->n_tables) {
          if (k + 1 < n) {
            const int j1 = ws->edge_j[e + 1];
            prefetch_edge(ws, t, e + 1, 0, j1 < unpaired ? dmsg + (size_t)j1 * ly->msg_width : NULL,
                          (size_t)ly->msg_width * sizeof(double));
          }
          nnp_radial_table_eval(edge_table(ws, t, e), ws->edge_r[4 * (size_t)e + 3], s->R, s->Rdot);
        }
        if (j < unpaired) {
          nnp_tp_edge_adjoint_paired(m, ly, xj, Y, R, dm, dmsg + (size_t)j * ly->msg_width, dxi, dR, s->dYv, s->tp);
        } else {
          double *dxe = ws->edge_dx + (size_t)(ws->in_pos[e] - base) * F;
          memset(dxe, 0, (size_t)Fin * sizeof *dxe);
          nnp_tp_edge_adjoint(m, ly, xj, Y, R, dm, dxe, dR, s->dYv, s->tp);
        }
        edge_gradient(ws, e, dot_lanes(dR, Rd, PC), s->dYv, first);
      }
      if (s->grad) nnp_radial_mlp_param_grad(m, ly, &tape, n, s->dR, s->mlp_scratch, s->grad);
    }
  }
#pragma omp parallel for schedule(static) num_threads(ws->n_threads)
  for (int j = unpaired; j < g->n_total; ++j) {
    double *restrict d = ws->dx + (size_t)j * F;
    memset(d, 0, (size_t)Fin * sizeof *d);
    for (int k = ws->in_offset[j]; k < ws->in_offset[j + 1]; ++k) {
      const double *restrict c = ws->edge_dx + (size_t)(k - base) * F;
      for (int q = 0; q < Fin; ++q) d[q] += c[q];
    }
  }
}

static void embed(const nnp_model *m, int n_threads, const nnp_graph *g, double *h0) {
  const int C = m->h.channels, F = m->feature_width;
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int i = 0; i < g->n_total; ++i) {
    double *row = h0 + (size_t)i * F;
    memset(row, 0, (size_t)F * sizeof *row);
    if (g->species[i] >= 0) memcpy(row, m->params + m->embedding + (size_t)g->species[i] * C, (size_t)C * sizeof *row);
  }
}

/* Under MPI an exchange is collective: a rank without ghosts must still serve its neighbours' ghosts, so the
 * callback runs whenever it is set, whatever this rank holds. */
static nnp_status exchange(const nnp_graph *g, double *data, int width, int direction, nnp_error *err) {
  if (!g->exchange) return NNP_OK;
  if (g->exchange(g->exchange_ctx, data, width, direction) != 0)
    return nnp_fail(err, NNP_ERR_EXCHANGE, "the %s feature exchange callback reported failure",
                    direction == NNP_EXCHANGE_FORWARD ? "forward" : "reverse");
  return NNP_OK;
}

/* Edge e's share of the virial, -r (x) g symmetrised, in Voigt order xx yy zz xy xz yz (eV). */
static void edge_virial(const nnp_workspace *ws, int e, double w[6]) {
  static const int va[6] = {0, 1, 2, 0, 0, 1}, vb[6] = {0, 1, 2, 1, 2, 2};
  const double *gv = ws->edge_g + 3 * (size_t)e, *rv = ws->edge_r + 4 * (size_t)e;
  for (int v = 0; v < 6; ++v) w[v] = -0.5 * (rv[va[v]] * gv[vb[v]] + rv[vb[v]] * gv[va[v]]);
}

/* The global virial, summed over fixed blocks of edges and then over the blocks in order, so that the sum does not
 * depend on the thread count. */
static void global_virial(const nnp_workspace *ws, int n_edges, double virial[6]) {
  const int n_blocks = (n_edges + VIRIAL_BLOCK - 1) / VIRIAL_BLOCK;
  double *part = ws->block_virial;
#pragma omp parallel for schedule(static) num_threads(ws->n_threads)
  for (int b = 0; b < n_blocks; ++b) {
    double w[6], *p = part + 6 * (size_t)b;
    memset(p, 0, 6 * sizeof *p);
    const int end = (b + 1) * VIRIAL_BLOCK < n_edges ? (b + 1) * VIRIAL_BLOCK : n_edges;
    for (int e = b * VIRIAL_BLOCK; e < end; ++e) {
      edge_virial(ws, e, w);
      for (int v = 0; v < 6; ++v) p[v] += w[v];
    }
  }
  memset(virial, 0, 6 * sizeof *virial);
  for (int b = 0; b < n_blocks; ++b)
    for (int v = 0; v < 6; ++v) virial[v] += part[6 * (size_t)b + v];
}

/* Forces and per-atom virials from the edge gradients, per atom: what it receives along its own edges, then what it
 * sends along the transposed list, each in edge order. Each edge's virial is split half to either end. */
static void assemble_forces_virial(const nnp_workspace *ws, const nnp_graph *g, nnp_result *res) {
  global_virial(ws, ws->edge_offset[g->n_local], res->virial);
  if (!res->forces && !res->atom_virial) return;
#pragma omp parallel for schedule(static) num_threads(ws->n_threads)
  for (int i = 0; i < g->n_total; ++i) {
    double f[3] = {0, 0, 0}, vir[6] = {0, 0, 0, 0, 0, 0}, w[6];
    const int out_end = i < g->n_local ? ws->edge_offset[i + 1] : 0;
    for (int e = i < g->n_local ? ws->edge_offset[i] : 0; e < out_end; ++e) {
      const double *gv = ws->edge_g + 3 * (size_t)e;
      for (int a = 0; a < 3; ++a) f[a] += gv[a];
      if (res->atom_virial) {
        edge_virial(ws, e, w);
        for (int v = 0; v < 6; ++v) vir[v] += 0.5 * w[v];
      }
    }
    for (int k = ws->in_offset[i]; k < ws->in_offset[i + 1]; ++k) {
      const int e = ws->in_edge[k];
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

/* Per-atom energies into ws->atom_e and their feature adjoints into dh; returns the total, summed in atom order.
 * Parallel over atoms unless a parameter gradient is accumulated, which every atom adds to. */
static double readout(nnp_workspace *ws, const nnp_graph *g, const double *hT, double *dh, double *grad) {
  const nnp_model *m = ws->model;
  const int F = m->feature_width;
#pragma omp parallel for schedule(static) if (!grad) num_threads(ws->n_threads)
  for (int i = 0; i < g->n_local; ++i) {
    double *row = dh + (size_t)i * F;
    if (g->species[i] < 0) {
      memset(row, 0, (size_t)F * sizeof *row);
      ws->atom_e[i] = 0.0;
    } else {
      ws->atom_e[i] =
          nnp_readout(m, g->species[i], hT + (size_t)i * F, row, grad, ws->thr[omp_get_thread_num()].mlp_scratch);
    }
  }
  double e_total = 0.0;
  for (int i = 0; i < g->n_local; ++i) e_total += ws->atom_e[i];
  return e_total;
}

/* Forward and adjoint passes. res may be NULL (parameter gradient only); grad may be NULL (no training). */
static nnp_status evaluate_passes(const nnp_model *m, nnp_workspace *ws, const nnp_graph *g, nnp_result *res,
                                  double *energy, double *grad, nnp_error *err) {
  nnp_status st = check_inputs(m, g, err);
  if (st) return st;
  if (ws->model != m) return nnp_fail(err, NNP_ERR_ARGUMENT, "the workspace was created for another model");
  if (ws->single && !ws->n_tables)
    return nnp_fail(err, NNP_ERR_ARGUMENT,
                    "single precision needs radial tables (nnp_workspace_tabulate_radial with a step > 0)");
  if (grad && ws->n_tables)
    return nnp_fail(err, NNP_ERR_ARGUMENT,
                    "parameter gradients need the exact radial MLP; call nnp_workspace_tabulate_radial(ws, 0) first");
  st = ws_reserve_atoms(ws, (size_t)g->n_local + 1, (size_t)g->n_total + 1, err);
  if (!st) st = build_edges(ws, g, grad != NULL, err);
  if (st) return st;
  if (!ws->n_tables) refresh_transposed_weights(ws);
  const int T = m->h.layers, F = m->feature_width, nl = g->n_local, nt = g->n_total;
  const size_t hstride = (size_t)(nt + 1) * F;
  double *msg_t[16], *pre_t[16], *store_t[16];
  size_t moff = 0, poff = 0, soff = 0;
  for (int t = 0; t < T; ++t) {
    msg_t[t] = ws->msg + moff;
    pre_t[t] = ws->pre + poff;
    store_t[t] = ws->comb_store + soff;
    moff += (size_t)nl * m->layers[t].msg_width;
    poff += (size_t)nl * m->layers[t].pre_width;
    soff += (size_t)nl * nnp_combine_store_width(m, t);
  }
  if (grad)
    for (int th = 0; th < ws->n_threads; ++th) memset(ws->thr[th].grad, 0, m->n_params * sizeof(double));

  /* forward */
  embed(m, ws->n_threads, g, ws->h);
  for (int t = 0; t < T && !st; ++t) {
    const nnp_layer *ly = &m->layers[t];
    double *h = ws->h + (size_t)t * hstride, *h_next = h + hstride;
    if (t > 0) st = exchange(g, h, F, NNP_EXCHANGE_FORWARD, err);
    if (st) break;
    nnp_up_forward(m, ly, ws->n_threads, nt, h, ws->x);
    conv_forward(ws, g, t, msg_t[t]);
    nnp_combine_forward(m, t, ws->n_threads, nl, g->species, msg_t[t], h, store_t[t], pre_t[t]);
    nnp_gate_forward(m, ly, ws->n_threads, nl, g->species, pre_t[t], h, h_next);
  }
  double *dh_next = ws->dh_a, *dh = ws->dh_b;
  const double e_total = st ? 0.0 : readout(ws, g, ws->h + (size_t)T * hstride, dh_next, grad);
  if (!st && res && res->atom_energy) memcpy(res->atom_energy, ws->atom_e, (size_t)nl * sizeof *ws->atom_e);

  /* adjoint */
  const double inv_sqrt_nu = 1.0 / sqrt(m->h.avg_num_neighbors);
  for (int t = T - 1; t >= 0 && !st; --t) {
    const nnp_layer *ly = &m->layers[t];
    double *h = ws->h + (size_t)t * hstride;
    nnp_gate_adjoint(m, ly, ws->n_threads, nl, g->species, pre_t[t], dh_next, ws->dpre, dh);
    memset(dh + (size_t)nl * F, 0, (size_t)(nt - nl) * F * sizeof *dh);
    nnp_combine_adjoint(m, t, ws->n_threads, nl, g->species, msg_t[t], h, store_t[t], ws->dpre, ws->comb_scratch,
                        ws->dmsg, dh, grad);
#pragma omp parallel for schedule(static) num_threads(ws->n_threads)
    for (int i = 0; i < nl; ++i)
      for (int q = 0; q < ly->msg_width; ++q) ws->dmsg[(size_t)i * ly->msg_width + q] *= inv_sqrt_nu;
    nnp_up_forward(m, ly, ws->n_threads, nt, h, ws->x); /* recomputed rather than stored per layer */
    conv_adjoint(ws, g, t, ws->dmsg, t == T - 1);
    nnp_up_adjoint(m, ly, ws->n_threads, nt, h, ws->dx, dh, grad);
    if (t > 0) {
      st = exchange(g, dh, F, NNP_EXCHANGE_REVERSE, err);
      memset(dh + (size_t)nl * F, 0, (size_t)(nt - nl) * F * sizeof *dh);
    } else if (grad) {
      for (int i = 0; i < nt; ++i)
        if (g->species[i] >= 0)
          for (int c = 0; c < m->h.channels; ++c)
            grad[m->embedding + (size_t)g->species[i] * m->h.channels + c] += dh[(size_t)i * F + c];
    }
    double *tmp = dh_next;
    dh_next = dh;
    dh = tmp;
  }
  if (grad && !st)
    for (int th = 0; th < ws->n_threads; ++th)
      for (size_t q = 0; q < m->n_params; ++q) grad[q] += ws->thr[th].grad[q];
  if (st) return st;
  if (!isfinite(e_total)) return nnp_fail(err, NNP_ERR_NUMERIC, "the energy is not finite (damaged weights?)");
  if (energy) *energy = e_total;
  if (res) {
    res->energy = e_total;
    assemble_forces_virial(ws, g, res);
    if (res->forces)
      for (size_t q = 0; q < 3 * (size_t)nt; ++q)
        if (!isfinite(res->forces[q])) return nnp_fail(err, NNP_ERR_NUMERIC, "a force is not finite");
  }
  return NNP_OK;
}

/* Every parallel region of an evaluation, the edge build included, names the workspace's thread count
 * (num_threads): a larger default team would leave idle workers spinning on cores that other MPI ranks need, and
 * setting the caller's OpenMP default instead (omp_set_num_threads) would change it for whatever the caller's
 * exchange callback runs. */
static nnp_status evaluate(const nnp_model *m, nnp_workspace *ws, const nnp_graph *g, nnp_result *res, double *energy,
                           double *grad, nnp_error *err) {
  return evaluate_passes(m, ws, g, res, energy, grad, err);
}

nnp_status nnp_compute(const nnp_model *m, nnp_workspace *ws, const nnp_graph *g, nnp_result *res, nnp_error *err) {
  if (!m || !ws || !g || !res) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_compute: NULL argument");
  return evaluate(m, ws, g, res, NULL, NULL, err);
}

nnp_status nnp_compute_param_gradient(const nnp_model *m, nnp_workspace *ws, const nnp_graph *g, nnp_result *res,
                                      double *energy, double *dE_dparams, nnp_error *err) {
  if (!m || !ws || !g || !dE_dparams)
    return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_compute_param_gradient: NULL argument");
  memset(dE_dparams, 0, m->n_params * sizeof *dE_dparams);
  return evaluate(m, ws, g, res, energy, dE_dparams, err);
}
