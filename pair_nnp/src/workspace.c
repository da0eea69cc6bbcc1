/* The evaluation workspace: creation, radial tables, precision, and the buffers an evaluation reserves. */
#include "workspace.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

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

/* The forward products want (in x out) weights; the model stores (out x in). Refreshed every call because a
 * trainer changes the parameters between calls. */
void nnp_ws_refresh_transposed_weights(nnp_workspace *ws) {
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
  nnp_ws_refresh_transposed_weights(ws);
  ws->tables = calloc((size_t)m->h.layers * ws->n_kinds, sizeof *ws->tables);
  if (!ws->tables) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory tabulating the radial functions");
  ws->n_tables = m->h.layers * ws->n_kinds;
  for (int t = 0; t < m->h.layers; ++t)
    for (int a = 0; a < m->h.n_species; ++a)
      for (int b = 0; b < m->h.n_species; ++b) {
        nnp_radial_table *tab = &ws->tables[t * ws->n_kinds + ws->kind_of_pair[a][b]];
        if (tab->coef) continue;
        const double *wt_buf[NNP_MAX_RADIAL_LAYERS + 1];
        nnp_status st = nnp_radial_table_build(m, &m->layers[t], nnp_ws_layer_wt(ws, t, wt_buf), m->h.pair_cutoff[a][b],
                                               step, tab, err);
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

/* The allocator of the grown buffers: a test build substitutes one that fails on demand (tests/test_alloc.c). */
#ifdef NNP_WS_REALLOC
void *NNP_WS_REALLOC(void *p, size_t n);
#else
#define NNP_WS_REALLOC realloc
#endif

/* buf (NULL or a grown buffer) resized to hold count elements of elem bytes; returns the new block, or buf itself,
 * untouched, if the allocation fails or *st already reports a failure (then *st and err say what failed). A group of
 * buffers is grown by consecutive calls and its capacity recorded only when *st is still NNP_OK at the end, so after
 * a failure every buffer still holds at least the recorded capacity and the workspace stays usable. realloc keeps
 * the old block on failure; the contents it copies on success are not needed, but growth is rare (with_headroom) and
 * glibc remaps its large, mmapped blocks without copying. ws->grown_bytes follows what the grown buffers hold
 * (nnp_workspace_memory). */
static void *ws_grow(nnp_workspace *ws, void *buf, size_t count, size_t elem, const char *what, nnp_status *st,
                     nnp_error *err) {
  if (*st) return buf;
  if (count > (SIZE_MAX - 1) / elem) {
    *st = nnp_fail(err, NNP_ERR_NOMEM, "out of memory in the workspace: %zu x %zu bytes for %s overflow size_t", count,
                   elem, what);
    return buf;
  }
  const size_t old_bytes = heap_bytes(buf), bytes = count * elem + 1; /* + 1: never a zero-byte request */
  void *p = NNP_WS_REALLOC(buf, bytes);
  if (!p) {
    *st = nnp_fail(err, NNP_ERR_NOMEM, "out of memory in the workspace: %zu bytes for %s (%zu held)", bytes, what,
                   nnp_workspace_memory(ws));
    return buf;
  }
  ws->grown_bytes += heap_bytes(p) - old_bytes;
  return p;
}

/* Capacity to allocate when n items no longer fit. Under MD the atom and edge counts wander a little at every
 * neighbour-list rebuild; growing to the exact count would reallocate (and page-fault in) the buffers at most
 * rebuilds (docs/performance.md, "Measurements behind the evaluation code"). */
static size_t with_headroom(size_t n) { return n + n / 8 + 64; }

nnp_status nnp_ws_reserve_atoms(nnp_workspace *ws, size_t n_local, size_t n_total, nnp_error *err) {
  const nnp_model *m = ws->model;
  const size_t F = (size_t)m->feature_width, T = (size_t)m->h.layers;
  nnp_status st = NNP_OK;
  if (n_total > ws->cap_total) {
    n_total = with_headroom(n_total);
    ws->h = ws_grow(ws, ws->h, (T + 1) * n_total * F, sizeof *ws->h, "the features of every layer", &st, err);
    ws->x = ws_grow(ws, ws->x, n_total * F, sizeof *ws->x, "the up-projected features", &st, err);
    ws->dh_a = ws_grow(ws, ws->dh_a, n_total * F, sizeof *ws->dh_a, "feature adjoints", &st, err);
    ws->dh_b = ws_grow(ws, ws->dh_b, n_total * F, sizeof *ws->dh_b, "feature adjoints", &st, err);
    ws->dx = ws_grow(ws, ws->dx, n_total * F, sizeof *ws->dx, "the up-projection adjoints", &st, err);
    ws->xf = ws_grow(ws, ws->xf, n_total * F, sizeof *ws->xf, "float32 features", &st, err);
    ws->in_offset =
        ws_grow(ws, ws->in_offset, n_total + 1, sizeof *ws->in_offset, "the transposed edge offsets", &st, err);
    if (st) return st;
    ws->cap_total = n_total;
  }
  if (n_local > ws->cap_local || !ws->edge_offset) {
    n_local = with_headroom(n_local);
    ws->edge_offset = ws_grow(ws, ws->edge_offset, n_local + 1, sizeof *ws->edge_offset, "the edge offsets", &st, err);
    ws->msg = ws_grow(ws, ws->msg, n_local * msg_stride_total(m, 1), sizeof *ws->msg, "the messages", &st, err);
    ws->pre = ws_grow(ws, ws->pre, n_local * msg_stride_total(m, 0), sizeof *ws->pre, "the pre-activations", &st, err);
    ws->dmsg =
        ws_grow(ws, ws->dmsg, n_local * (size_t)max_width(m, 1), sizeof *ws->dmsg, "the message adjoints", &st, err);
    ws->dmsgf = ws_grow(ws, ws->dmsgf, n_local * (size_t)max_width(m, 1), sizeof *ws->dmsgf, "float32 message adjoints",
                        &st, err);
    ws->dpre = ws_grow(ws, ws->dpre, n_local * (size_t)max_width(m, 0), sizeof *ws->dpre, "the pre-activation adjoints",
                       &st, err);
    ws->atom_e = ws_grow(ws, ws->atom_e, n_local, sizeof *ws->atom_e, "the atom energies", &st, err);
    ws->comb_store = ws_grow(ws, ws->comb_store, n_local * combine_store_total(m), sizeof *ws->comb_store,
                             "the layer step 3 store", &st, err);
    ws->comb_scratch = ws_grow(ws, ws->comb_scratch, n_local * nnp_combine_scratch_width(m), sizeof *ws->comb_scratch,
                               "the layer step 3 scratch", &st, err);
    ws->mark = ws_grow(ws, ws->mark, n_local * (size_t)ws->n_threads, sizeof *ws->mark, "the pairing marks", &st, err);
    if (st) return st;
    memset(ws->mark, 0xff, n_local * (size_t)ws->n_threads * sizeof *ws->mark); /* all -1 */
    ws->cap_local = n_local;
  }
  return NNP_OK;
}

nnp_status nnp_ws_reserve_edges(nnp_workspace *ws, size_t n_edges, size_t max_deg, int want_grad, nnp_error *err) {
  const nnp_model *m = ws->model;
  nnp_status st = NNP_OK;
  if (n_edges > ws->cap_edges || !ws->edge_j) {
    n_edges = with_headroom(n_edges);
    ws->edge_i = ws_grow(ws, ws->edge_i, n_edges, sizeof *ws->edge_i, "the edge receivers", &st, err);
    ws->edge_j = ws_grow(ws, ws->edge_j, n_edges, sizeof *ws->edge_j, "the edge senders", &st, err);
    ws->in_edge = ws_grow(ws, ws->in_edge, n_edges, sizeof *ws->in_edge, "the transposed edges", &st, err);
    ws->in_pos = ws_grow(ws, ws->in_pos, n_edges, sizeof *ws->in_pos, "the transposed edge positions", &st, err);
    ws->edge_r = ws_grow(ws, ws->edge_r, 4 * n_edges, sizeof *ws->edge_r, "the edge vectors", &st, err);
    ws->edge_rc = ws_grow(ws, ws->edge_rc, n_edges, sizeof *ws->edge_rc, "the edge cutoffs", &st, err);
    ws->edge_g = ws_grow(ws, ws->edge_g, 3 * n_edges, sizeof *ws->edge_g, "the edge gradients", &st, err);
    ws->block_virial = ws_grow(ws, ws->block_virial, 6 * (n_edges / VIRIAL_BLOCK + 1), sizeof *ws->block_virial,
                               "the virial blocks", &st, err);
    ws->edge_kind = ws_grow(ws, ws->edge_kind, n_edges, sizeof *ws->edge_kind, "the edge kinds", &st, err);
    ws->edge_Y = ws_grow(ws, ws->edge_Y, (size_t)NNP_NSH(m->h.l_max) * n_edges, sizeof *ws->edge_Y,
                         "the edge harmonics", &st, err);
    ws->edge_dY = ws_grow(ws, ws->edge_dY, 3 * (size_t)NNP_NSH(m->h.l_max) * n_edges, sizeof *ws->edge_dY,
                          "the edge harmonic derivatives", &st, err);
    if (st) return st;
    ws->cap_edges = n_edges;
  }
  const size_t n_basis_edges = ws->n_tables ? 0 : ws->cap_edges; /* cached for the exact radial MLP only */
  if (n_basis_edges > ws->cap_edges_b || !ws->edge_b) {
    ws->edge_b = ws_grow(ws, ws->edge_b, 2 * (size_t)m->h.radial_basis * n_basis_edges, sizeof *ws->edge_b,
                         "the edge radial bases", &st, err);
    if (st) return st;
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
    ws->thr_block = ws_grow(ws, ws->thr_block, per * (size_t)ws->n_threads, sizeof *ws->thr_block,
                            "the per-thread scratch", &st, err);
    if (st) return st;
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

/* Room for the feature adjoints of the edges whose senders are not paired (all of them when the lists are not
 * symmetric), F doubles each. */
nnp_status nnp_ws_reserve_edge_dx(nnp_workspace *ws, int n_local, int n_total, nnp_error *err) {
  const int first = ws->paired ? n_local : 0;
  const size_t n = (size_t)(ws->in_offset[n_total] - ws->in_offset[first]);
  if (n > ws->cap_dx_edges || !ws->edge_dx) {
    const size_t cap = with_headroom(n);
    nnp_status st = NNP_OK;
    ws->edge_dx = ws_grow(ws, ws->edge_dx, cap * (size_t)ws->model->feature_width, sizeof *ws->edge_dx,
                          "the edge feature adjoints", &st, err);
    if (st) return st;
    ws->cap_dx_edges = cap;
  }
  return NNP_OK;
}

const double *const *nnp_ws_layer_wt(const nnp_workspace *ws, int t, const double *buf[NNP_MAX_RADIAL_LAYERS + 1]) {
  const int K = ws->model->h.n_radial_hidden;
  for (int k = 0; k <= K; ++k) buf[k] = ws->wt + ws->wt_offset[t * (K + 1) + k];
  return buf;
}
