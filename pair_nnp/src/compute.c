/* Evaluation: the forward pass through all layers, then the hand-written adjoint pass that yields edge gradients
 * (hence forces and virials) and, for training, parameter gradients. docs/model.md has the equations.
 *
 * Parallel layout: OpenMP threads split atoms, and every sum lands in a row its thread owns, added in an order that
 * does not depend on the thread count, so results are bitwise the same for any number of threads. Work done per
 * receiver (messages, edge gradients) walks the receiver's edges. What flows back to a sender (its force, its
 * feature adjoint) is gathered per sender through the transposed edge list, in edge order; for the feature adjoint,
 * a local sender j of edge i <- j whose lists are symmetric gets it instead at its own edge j <- i (same r, same
 * radial weights), so only edges from ghosts go through a per-edge buffer: streaming such a buffer for every edge
 * makes the threads contend for memory bandwidth (docs/performance.md, "Measurements behind the evaluation code"). */
#include "workspace.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Radial basis (and its r-derivative when tangent) of a receiver's edges into the tape's input rows. */
static void edge_basis(const nnp_model *m, const nnp_workspace *ws, int64_t e0, int n, int tangent,
                       nnp_mlp_tape *tape) {
  const int nb = m->h.radial_basis;
  for (int k = 0; k < n; ++k) {
    const double *b = ws->edge_b + 2 * (size_t)(e0 + k) * nb;
    memcpy(tape->act[0] + (size_t)k * nb, b, (size_t)nb * sizeof *b);
    if (tangent) memcpy(tape->act[0] + (size_t)(n + k) * nb, b + nb, (size_t)nb * sizeof *b);
  }
}

/* The radial table of edge e in layer t */
static const nnp_radial_table *edge_table(const nnp_workspace *ws, int t, int64_t e) {
  return &ws->tables[t * ws->n_kinds + ws->edge_kind[e]];
}

/* Asks for the rows edge e will read while the previous edge computes: its table interval, its sender's features
 * and (adjoint, paired senders) its sender's message adjoint. They are scattered over L2 and L3 (a table row alone
 * is 4 P C values), so each would otherwise start with a miss the hardware prefetcher cannot foresee. */
static inline void prefetch_bytes(const void *p, size_t n) {
  const char *c = p;
  for (size_t q = 0; q < n; q += 64) __builtin_prefetch(c + q);
}

static void prefetch_edge(const nnp_workspace *ws, int t, int64_t e, int single, const void *dmsg_row,
                          size_t msg_bytes) {
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
  for (int64_t e = ws->edge_offset[i]; e < ws->edge_offset[i + 1]; ++e) {
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
  const double *const *wt = nnp_ws_layer_wt(ws, t, wt_buf);
  if (single) rows_to_float(ws->n_threads, ws->x, ws->xf, g->n_total, F, 1.0);
#pragma omp parallel num_threads(ws->n_threads)
  {
    int lo, hi;
    nnp_thread_atoms(g, &lo, &hi);
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
      const int64_t e0 = ws->edge_offset[i];
      const int n = (int)(ws->edge_offset[i + 1] - e0); /* at most NNP_MAX_NEIGHBOURS_PER_ATOM */
      if (n == 0) continue;
      if (ws->n_tables) {
        /* each edge's table row right before its product, so that it is still in L1 */
        for (int64_t e = e0; e < e0 + n; ++e) {
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
          const int64_t e = e0 + k;
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
static void edge_gradient(nnp_workspace *ws, int64_t e, double dEdr, const double *dYv, int first) {
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
static void conv_adjoint_atom_f(nnp_workspace *ws, int t, int i, int unpaired, int64_t base, float *Rf, double *dYv,
                                int first) {
  const nnp_model *m = ws->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, nsh = NNP_NSH(m->h.l_max), PC = ly->n_paths * m->h.channels;
  const int Fin = m->h.channels * NNP_NSH(ly->lin), W = ly->msg_width;
  float *Rdf = Rf + PC, *dRf = Rdf + PC, *dxf = dRf + PC, *dxe = dxf + F;
  memset(dxf, 0, (size_t)Fin * sizeof *dxf);
  const float *dm = ws->dmsgf + (size_t)i * W;
  for (int64_t e = ws->edge_offset[i]; e < ws->edge_offset[i + 1]; ++e) {
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
  const int64_t base = ws->in_offset[unpaired];
  const int single = ws_single(ws);
  const double *wt_buf[NNP_MAX_RADIAL_LAYERS + 1];
  const double *const *wt = nnp_ws_layer_wt(ws, t, wt_buf);
  if (single) {
    rows_to_float(ws->n_threads, ws->x, ws->xf, g->n_total, F, 1.0);
    rows_to_float(ws->n_threads, dmsg, ws->dmsgf, g->n_local, ly->msg_width, 1.0);
  }
#pragma omp parallel num_threads(ws->n_threads)
  {
    int lo, hi;
    nnp_thread_atoms(g, &lo, &hi);
    const int th = omp_get_thread_num();
    thread_scratch *s = &ws->thr[th];
    for (int i = lo; i < hi; ++i) {
      if (single) {
        conv_adjoint_atom_f(ws, t, i, unpaired, base, ws->thr_f + (size_t)th * ws->thr_f_size, s->dYv, first);
        continue;
      }
      const int64_t e0 = ws->edge_offset[i];
      const int n = (int)(ws->edge_offset[i + 1] - e0); /* at most NNP_MAX_NEIGHBOURS_PER_ATOM */
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
        const int64_t e = e0 + k;
        const int j = ws->edge_j[e];
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
    for (int64_t k = ws->in_offset[j]; k < ws->in_offset[j + 1]; ++k) {
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
  nnp_status st = nnp_check_graph(m, g, err);
  if (st) return st;
  if (ws->model != m) return nnp_fail(err, NNP_ERR_ARGUMENT, "the workspace was created for another model");
  if (ws->single && !ws->n_tables)
    return nnp_fail(err, NNP_ERR_ARGUMENT,
                    "single precision needs radial tables (nnp_workspace_tabulate_radial with a step > 0)");
  if (grad && ws->n_tables)
    return nnp_fail(err, NNP_ERR_ARGUMENT,
                    "parameter gradients need the exact radial MLP; call nnp_workspace_tabulate_radial(ws, 0) first");
  st = nnp_ws_reserve_atoms(ws, (size_t)g->n_local + 1, (size_t)g->n_total + 1, err);
  if (!st) st = nnp_build_edges(ws, g, grad != NULL, err);
  if (st) return st;
  if (!ws->n_tables) nnp_ws_refresh_transposed_weights(ws);
  const int T = m->h.layers, F = m->feature_width, nl = g->n_local, nt = g->n_total;
  const size_t hstride = (size_t)(nt + 1) * F;
  /* per-layer views of the message, pre-activation and step-3 buffers; nnp_hyper_validate keeps layers within
   * NNP_MAX_LAYERS for every model, read or made */
  double *msg_t[NNP_MAX_LAYERS], *pre_t[NNP_MAX_LAYERS], *store_t[NNP_MAX_LAYERS];
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
    nnp_assemble_forces_virial(ws, g, res);
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
