/* Training passes: energy and forces, then the exact gradient of a force-matching loss in one more sweep.
 *
 * The trainer needs, per structure, dL/dtheta = a dE/dtheta + b d/dtheta <v, dE/dx> with v = F - F^ref held fixed
 * (docs/training.md). <v, dE/dx> = dE/de at x + e v: the derivative of E along the position tangent v, which a
 * tangent (forward-mode) sweep gives alongside the forward pass: every quantity q gets its tangent qd = dq/de. The
 * gradient of a E + b Ed is then one reverse sweep through the primal and tangent operations, carrying two adjoints:
 *   B = adjoint of the tangent variables, seeded b on Ed: it obeys the plain adjoint equations (B = b dE/dq);
 *   A = adjoint of the primal variables, seeded a on E: A_in = J^T A_out + (dJ/de)^T B_out, the second term from
 *       the tangent operations' dependence on the primal inputs (second derivatives of SiLU and sigmoid, and the
 *       cross terms of the trilinear tensor product).
 * A parameter that enters an operation y = f(theta, q) gets A_y . df/dtheta + B_y . d(yd)/dtheta. This is forward-
 * over-reverse and reverse-over-forward at once: the same arithmetic either way.
 *
 * Only parameters need adjoints here, not positions, so nothing flows into r, Y or their tangents. The radial
 * functions R(r) (exact MLP or cubic Hermite tables of it) enter as R and Rd = dR/dr (the tangent of R is Rd rd,
 * rd = u . (v_j - v_i)); their adjoints, per edge gR (of R) and gD (of Rd), go either straight through the MLP's
 * second-order parameter gradient (exact) or onto the table knots, which reach the MLP weights once per optimiser
 * step (nnp_train_radial_backprop).
 *
 * Everything here is serial within one call: the trainer runs one structure per thread. */
#include "nnp_internal.h"

#include <cblas.h>

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------------------- */
/* Radial functions of one optimiser step                                                                            */

struct nnp_train_radial {
  double step; /* Angstrom; 0: exact MLP */
  int n_kinds; /* distinct pair cutoffs */
  int kind_of_pair[NNP_MAX_SPECIES][NNP_MAX_SPECIES];
  double kind_rc[NNP_MAX_SPECIES * NNP_MAX_SPECIES];
  double *wt; /* transposed radial weights, per layer (in x out) for k = 0..K */
  size_t *wt_offset;
  nnp_radial_table *tables; /* [layer * n_kinds + kind]; NULL for the exact MLP */
  int n_tables;
  size_t *knot_offset; /* start of each table's knot gradient: [2 (n_intervals + 1)][width] */
  size_t knot_size;
};

static int max_radial_width(const nnp_model *m) {
  int w = m->h.radial_basis;
  for (int k = 0; k < m->h.n_radial_hidden; ++k) w = m->h.radial_hidden[k] > w ? m->h.radial_hidden[k] : w;
  return w;
}

static const double *const *radial_wt(const nnp_train_radial *r, const nnp_model *m, int t,
                                      const double *buf[NNP_MAX_RADIAL_LAYERS + 1]) {
  const int K = m->h.n_radial_hidden;
  for (int k = 0; k <= K; ++k) buf[k] = r->wt + r->wt_offset[t * (K + 1) + k];
  return buf;
}

void nnp_train_radial_free(nnp_train_radial *r) {
  if (!r) return;
  for (int q = 0; r->tables && q < r->n_tables; ++q) nnp_radial_table_free(&r->tables[q]);
  free(r->tables);
  free(r->wt);
  free(r->wt_offset);
  free(r->knot_offset);
  free(r);
}

/* Transposed copies of every layer's radial weights (the model stores out x in). */
static nnp_status snapshot_weights(const nnp_model *m, nnp_train_radial *r, nnp_error *err) {
  const int K = m->h.n_radial_hidden, T = m->h.layers;
  r->wt_offset = malloc((size_t)T * (K + 1) * sizeof *r->wt_offset);
  size_t total = 0;
  for (int t = 0; t < T; ++t) {
    int in = m->h.radial_basis;
    for (int k = 0; k <= K; ++k) {
      const int out = k < K ? m->h.radial_hidden[k] : m->layers[t].n_paths * m->h.channels;
      if (r->wt_offset) r->wt_offset[t * (K + 1) + k] = total;
      total += (size_t)in * out;
      in = out;
    }
  }
  r->wt = malloc(total * sizeof *r->wt);
  if (!r->wt || !r->wt_offset) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory copying the radial weights");
  for (int t = 0; t < T; ++t) {
    const nnp_layer *ly = &m->layers[t];
    int in = m->h.radial_basis;
    for (int k = 0; k <= K; ++k) {
      const int out = k < K ? m->h.radial_hidden[k] : ly->n_paths * m->h.channels;
      const double *W = m->params + (k < K ? ly->radial[k] : ly->radial_out);
      double *Wt = r->wt + r->wt_offset[t * (K + 1) + k];
      for (int a = 0; a < out; ++a)
        for (int b = 0; b < in; ++b) Wt[(size_t)b * out + a] = W[(size_t)a * in + b];
      in = out;
    }
  }
  return NNP_OK;
}

nnp_status nnp_train_radial_build(const nnp_model *m, double step, nnp_train_radial **out, nnp_error *err) {
  if (!m || !out) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_train_radial_build: NULL argument");
  if (!(step >= 0.0) || (step > 0.0 && step < 1e-5))
    return nnp_fail(err, NNP_ERR_ARGUMENT, "radial table step must be 0 (exact) or at least 1e-5 Angstrom, not %g",
                    step);
  nnp_train_radial *r = calloc(1, sizeof *r);
  if (!r) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory building the radial tables");
  r->step = step;
  for (int a = 0; a < m->h.n_species; ++a)
    for (int b = 0; b < m->h.n_species; ++b) {
      int k = 0;
      while (k < r->n_kinds && r->kind_rc[k] != m->h.pair_cutoff[a][b]) ++k;
      if (k == r->n_kinds) r->kind_rc[r->n_kinds++] = m->h.pair_cutoff[a][b];
      r->kind_of_pair[a][b] = k;
    }
  nnp_status st = snapshot_weights(m, r, err);
  const int n_tables = m->h.layers * r->n_kinds;
  if (!st && step > 0.0) {
    r->tables = calloc((size_t)n_tables, sizeof *r->tables);
    r->n_tables = r->tables ? n_tables : 0;
    r->knot_offset = malloc((size_t)n_tables * sizeof *r->knot_offset);
    if (!r->tables || !r->knot_offset) st = nnp_fail(err, NNP_ERR_NOMEM, "out of memory building the radial tables");
    for (int q = 0; q < n_tables && !st; ++q) {
      const double *buf[NNP_MAX_RADIAL_LAYERS + 1];
      const int t = q / r->n_kinds;
      /* the very tables MD uses (nnp_workspace_tabulate_radial) */
      st = nnp_radial_table_build(m, &m->layers[t], radial_wt(r, m, t, buf), r->kind_rc[q % r->n_kinds], step,
                                  &r->tables[q], err);
      if (!st) {
        r->knot_offset[q] = r->knot_size;
        r->knot_size += 2 * (size_t)(r->tables[q].n_intervals + 1) * r->tables[q].width;
      }
    }
  }
  if (st) {
    nnp_train_radial_free(r);
    return st;
  }
  *out = r;
  return NNP_OK;
}

size_t nnp_train_radial_knot_size(const nnp_train_radial *r) { return r ? r->knot_size : 0; }

/* ---------------------------------------------------------------------------------------------------------------- */
/* The radial MLP with its r-tangent, and the parameter gradient of gR . R + gD . dR/dr                              */

/* Tape rows: [0, n) values, [n, 2n) r-tangents, in every array (nnp_mlp_tape layout with 2n rows); unlike
 * nnp_radial_mlp this keeps the tangent pre-activations, which the second-order gradient needs. On entry act[0]
 * holds b (rows [0, n)) and db/dr (rows [n, 2n)). Out: R and Rd (n x P each). */
static void mlp2_forward(const nnp_model *m, const nnp_layer *ly, const double *const *wt, nnp_mlp_tape *tape, int n,
                         double *R, double *Rd) {
  const int K = m->h.n_radial_hidden, P = ly->n_paths * m->h.channels;
  int in = m->h.radial_basis;
  for (int k = 0; k < K; ++k) {
    const int out = m->h.radial_hidden[k];
    double *pre = tape->pre[k], *act = tape->act[k + 1];
    nnp_gemm_nn(2 * n, out, in, tape->act[k], in, wt[k], out, pre, out, 0);
    for (size_t q = 0; q < (size_t)n * out; ++q) {
      double ds;
      act[q] = nnp_silu(pre[q], &ds);
      act[(size_t)n * out + q] = ds * pre[(size_t)n * out + q];
    }
    in = out;
  }
  nnp_gemm_nn(n, P, in, tape->act[K], in, wt[K], P, R, P, 0);
  nnp_gemm_nn(n, P, in, tape->act[K] + (size_t)n * in, in, wt[K], P, Rd, P, 0);
}

/* SiLU'' (x) = s (1 - s) (2 + x (1 - 2 s)), s = sigmoid(x) */
static inline double silu_d2(double x, double *d1) {
  const double s = 1.0 / (1.0 + exp(-x));
  if (d1) *d1 = s * (1.0 + x * (1.0 - s));
  return s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s));
}

/* grad += d/dtheta sum_rows (gR . R + gD . Rd); g holds gR in rows [0, n) and gD in rows [n, 2n) (n x P each).
 * scratch: 4 n max_width doubles. With z_k = SiLU(a_k), zd_k = SiLU'(a_k) ad_k and adjoints (zb, zdb):
 *   adb = SiLU'(a) zdb,  ab = SiLU'(a) zb + SiLU''(a) ad zdb,  dW_k += ab z_{k-1}^T + adb zd_{k-1}^T. */
static void mlp2_param_grad(const nnp_model *m, const nnp_layer *ly, const nnp_mlp_tape *tape, int n, const double *g,
                            double *scratch, double *grad) {
  const int K = m->h.n_radial_hidden, P = ly->n_paths * m->h.channels, maxw = max_radial_width(m);
  const double *W = m->params;
  int width = m->h.radial_hidden[K - 1];
  /* [gR; gD]^T [z_K; zd_K] */
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, width, 2 * n, 1.0, g, P, tape->act[K], width, 1.0,
              grad + ly->radial_out, width);
  double *delta = scratch, *next = scratch + 2 * (size_t)n * maxw;
  nnp_gemm_nn(2 * n, width, P, g, P, W + ly->radial_out, width, delta, width, 0);
  for (int k = K - 1; k >= 0; --k) {
    const int out = m->h.radial_hidden[k], in = k == 0 ? m->h.radial_basis : m->h.radial_hidden[k - 1];
    const double *a = tape->pre[k], *ad = a + (size_t)n * out;
    double *zb = delta, *zdb = delta + (size_t)n * out;
    for (size_t q = 0; q < (size_t)n * out; ++q) {
      double d1;
      const double d2 = silu_d2(a[q], &d1), tangent_adj = zdb[q];
      zb[q] = d1 * zb[q] + d2 * ad[q] * tangent_adj;
      zdb[q] = d1 * tangent_adj;
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, 2 * n, 1.0, delta, out, tape->act[k], in, 1.0,
                grad + ly->radial[k], in);
    if (k == 0) break;
    nnp_gemm_nn(2 * n, in, out, delta, out, W + ly->radial[k], in, next, in, 0);
    double *tmp = delta;
    delta = next;
    next = tmp;
  }
}

nnp_status nnp_train_radial_backprop(const nnp_model *m, const nnp_train_radial *r, const double *knot_grad,
                                     double *grad, nnp_error *err) {
  if (!m || !r || !grad || (r->knot_size && !knot_grad))
    return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_train_radial_backprop: NULL argument");
  if (!r->tables) return NNP_OK;
  const int nb = m->h.radial_basis;
  int max_rows = 0;
  for (int q = 0; q < m->h.layers * r->n_kinds; ++q)
    if (r->tables[q].n_intervals + 1 > max_rows) max_rows = r->tables[q].n_intervals + 1;
  const size_t PC = (size_t)r->tables[0].width;
  size_t max_PC = PC;
  for (int q = 0; q < m->h.layers * r->n_kinds; ++q)
    if ((size_t)r->tables[q].width > max_PC) max_PC = (size_t)r->tables[q].width;
  double *tape_buf = malloc(nnp_mlp_tape_size(m, 2 * max_rows) * sizeof(double));
  double *RR = malloc(2 * (size_t)max_rows * max_PC * sizeof(double));
  double *scratch = malloc(4 * (size_t)max_rows * max_radial_width(m) * sizeof(double));
  if (!tape_buf || !RR || !scratch) {
    free(tape_buf), free(RR), free(scratch);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory back-propagating the radial tables");
  }
  for (int q = 0; q < m->h.layers * r->n_kinds; ++q) {
    const nnp_radial_table *tab = &r->tables[q];
    const int t = q / r->n_kinds, n = tab->n_intervals + 1;
    const double rc = r->kind_rc[q % r->n_kinds];
    nnp_mlp_tape tape;
    nnp_mlp_tape_bind(m, &tape, tape_buf, 2 * n);
    /* the knots of nnp_radial_table_build */
    for (int k = 0; k < n; ++k)
      nnp_bessel_basis(nb, nnp_radial_frequencies(&m->h), m->h.envelope_p, rc, tab->r_lo + k * tab->step,
                       tape.act[0] + (size_t)k * nb, tape.act[0] + (size_t)(n + k) * nb);
    const double *buf[NNP_MAX_RADIAL_LAYERS + 1];
    mlp2_forward(m, &m->layers[t], radial_wt(r, m, t, buf), &tape, n, RR, RR + (size_t)n * tab->width);
    mlp2_param_grad(m, &m->layers[t], &tape, n, knot_grad + r->knot_offset[q], scratch, grad);
  }
  free(tape_buf);
  free(RR);
  free(scratch);
  return NNP_OK;
}

/* Adds the adjoints gR (of R) and gD (of dR/dr) at distance r to the knots of the Hermite interval that
 * nnp_radial_table_eval uses: R = h00 p0 + h10 s d0 + h01 p1 + h11 s d1 with s the step, d the knot derivatives,
 * and dR/dr = (h00' p0 + h10' s d0 + h01' p1 + h11' s d1) / s. */
static void knot_scatter(const nnp_radial_table *tab, double r, const double *restrict gR, const double *restrict gD,
                         double *kg) {
  double x = (r - tab->r_lo) / tab->step;
  int k = (int)x;
  if (k < 0) k = 0;
  if (k >= tab->n_intervals) k = tab->n_intervals - 1;
  const double t = x - k, s = tab->step, t2 = t * t, t3 = t2 * t;
  const double h00 = 1.0 - 3.0 * t2 + 2.0 * t3, h10 = t - 2.0 * t2 + t3, h01 = 3.0 * t2 - 2.0 * t3, h11 = t3 - t2;
  const double e00 = (6.0 * t2 - 6.0 * t) / s, e10 = 1.0 - 4.0 * t + 3.0 * t2, e01 = (6.0 * t - 6.0 * t2) / s,
               e11 = 3.0 * t2 - 2.0 * t;
  const int P = tab->width, n = tab->n_intervals + 1;
  /* four disjoint rows of kg (restrict: the loop below vectorises) */
  double *restrict p0 = kg + (size_t)k * P, *restrict p1 = kg + (size_t)(k + 1) * P;
  double *restrict d0 = kg + (size_t)(n + k) * P, *restrict d1 = kg + (size_t)(n + k + 1) * P;
  const double s10 = s * h10, s11 = s * h11;
  for (int q = 0; q < P; ++q) {
    const double a = gR[q], b = gD[q];
    p0[q] += h00 * a + e00 * b;
    d0[q] += s10 * a + e10 * b;
    p1[q] += h01 * a + e01 * b;
    d1[q] += s11 * a + e11 * b;
  }
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Workspace                                                                                                          */

struct nnp_train_workspace {
  const nnp_model *model;
  /* the graph of the last nnp_train_forces, for the check in nnp_train_gradient */
  const nnp_graph *graph;
  const nnp_train_radial *radial;
  int have_forward, n_local, n_total, max_deg;
  int64_t n_edges;
  size_t cap_local, cap_total, cap_edges;
  int cap_deg;
  int64_t *edge_offset;                  /* edges of receiver i: edge_offset[i] .. [i+1] */
  int *edge_j, *edge_kind;               /* edge e: i <- edge_j[e] */
  double *edge_r;                        /* [E][4] x_j - x_i and its length */
  double *edge_rc, *edge_Y, *edge_dY;    /* [E], [E][nsh], [E][nsh][3] */
  double *edge_Yd, *edge_rd;             /* tangents along v: [E][nsh], [E] */
  double *edge_rad;                      /* tables: per layer t, [E][PC_t] R then [E][PC_t] dR/dr (radial_rows) */
  double *h, *hd;                        /* (T + 1) x n_total x F: features and tangents */
  double *x, *xd;                        /* T x n_total x F: up-projected */
  double *msg, *msgd, *pre, *pred;       /* per layer, n_local rows */
  double *ah, *bh, *ahn, *bhn, *ax, *bx; /* n_total x F adjoints */
  double *amsg, *bmsg, *apre, *bpre;     /* n_local x widest layer */
  double *forces;                        /* [n_total][3] */
  double *cstore, *ctstore, *cscratch;   /* layer step 3: forward state, tangent state, reverse scratch (product) */
  /* per receiver; Rp, Rdp: the current receiver's rows of R and dR/dr (into R, Rd or edge_rad) */
  double *R, *Rd, *Rt, *g, *tape, *mlp_scratch;
  const double *Rp, *Rdp;
  double *dR_tmp, *dR_b, *dY_spare, *tp, *readout_scratch;
};

nnp_status nnp_train_workspace_create(const nnp_model *m, nnp_train_workspace **out, nnp_error *err) {
  if (!m || !out) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_train_workspace_create: NULL argument");
  nnp_train_workspace *w = calloc(1, sizeof *w);
  if (!w) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory allocating a training workspace");
  w->model = m;
  *out = w;
  return NNP_OK;
}

static void free_atoms(nnp_train_workspace *w) {
  double **p[] = {&w->h,    &w->hd,   &w->x,      &w->xd,     &w->msg,     &w->msgd,    &w->pre,  &w->pred,
                  &w->ah,   &w->bh,   &w->ahn,    &w->bhn,    &w->ax,      &w->bx,      &w->amsg, &w->bmsg,
                  &w->apre, &w->bpre, &w->forces, &w->cstore, &w->ctstore, &w->cscratch};
  for (size_t q = 0; q < sizeof p / sizeof *p; ++q) free(*p[q]), *p[q] = NULL;
  free(w->edge_offset), w->edge_offset = NULL;
}

static void free_edges(nnp_train_workspace *w) {
  double **p[] = {&w->edge_r, &w->edge_rc, &w->edge_Y, &w->edge_dY, &w->edge_Yd, &w->edge_rd, &w->edge_rad};
  for (size_t q = 0; q < sizeof p / sizeof *p; ++q) free(*p[q]), *p[q] = NULL;
  free(w->edge_j), w->edge_j = NULL;
  free(w->edge_kind), w->edge_kind = NULL;
}

static void free_receiver(nnp_train_workspace *w) {
  double **p[] = {&w->R,      &w->Rd,   &w->Rt,       &w->g,  &w->tape,           &w->mlp_scratch,
                  &w->dR_tmp, &w->dR_b, &w->dY_spare, &w->tp, &w->readout_scratch};
  for (size_t q = 0; q < sizeof p / sizeof *p; ++q) free(*p[q]), *p[q] = NULL;
}

void nnp_train_workspace_free(nnp_train_workspace *w) {
  if (!w) return;
  free_atoms(w);
  free_edges(w);
  free_receiver(w);
  free(w);
}

static int widest(const nnp_model *m, int msg) {
  int best = 0;
  for (int t = 0; t < m->h.layers; ++t) {
    const int v = msg ? m->layers[t].msg_width : m->layers[t].pre_width;
    best = v > best ? v : best;
  }
  return best;
}

/* offset (per local atom) of layer t's step-3 state */
static size_t combine_rows(const nnp_model *m, int t) {
  size_t s = 0;
  for (int q = 0; q < t; ++q) s += nnp_combine_store_width(m, q);
  return s;
}

static size_t layer_rows(const nnp_model *m, int msg, int t) {
  size_t s = 0;
  for (int q = 0; q < t; ++q) s += (size_t)(msg ? m->layers[q].msg_width : m->layers[q].pre_width);
  return s;
}

#ifdef NNP_TRAIN_MALLOC /* tests/test_train_alloc.c: an allocator that fails on demand */
void *NNP_TRAIN_MALLOC(size_t n);
#else
#define NNP_TRAIN_MALLOC malloc
#endif

/* count elements of *ptr (+1 byte: a zero count is not NULL); a failure is recorded in `failed` rather than returned,
 * so that a reservation goes on to free the whole group and record capacity 0: a group is either complete or empty,
 * never a mix of fresh buffers, NULLs and an old capacity that the next call would trust */
#define GRAB(ptr, count) ((ptr) = NNP_TRAIN_MALLOC((size_t)(count) * sizeof *(ptr) + 1), failed |= !(ptr))

static nnp_status grab_failed(nnp_error *err, const char *group, size_t count) {
  return nnp_fail(err, NNP_ERR_NOMEM, "out of memory in the training workspace: the %s buffers for %zu", group, count);
}

static nnp_status reserve_atoms(nnp_train_workspace *w, size_t nl, size_t nt, nnp_error *err) {
  const nnp_model *m = w->model;
  const size_t F = (size_t)m->feature_width, T = (size_t)m->h.layers;
  if (nl <= w->cap_local && nt <= w->cap_total && w->h) return NNP_OK;
  free_atoms(w);
  w->cap_local = w->cap_total = 0;
  nl = nl + nl / 8 + 8, nt = nt + nt / 8 + 8;
  int failed = 0;
  const size_t msg_all = layer_rows(m, 1, m->h.layers), pre_all = layer_rows(m, 0, m->h.layers);
  GRAB(w->h, (T + 1) * nt * F);
  GRAB(w->hd, (T + 1) * nt * F);
  GRAB(w->x, T * nt * F);
  GRAB(w->xd, T * nt * F);
  GRAB(w->msg, nl * msg_all);
  GRAB(w->msgd, nl * msg_all);
  GRAB(w->pre, nl * pre_all);
  GRAB(w->pred, nl * pre_all);
  GRAB(w->ah, nt * F);
  GRAB(w->bh, nt * F);
  GRAB(w->ahn, nt * F);
  GRAB(w->bhn, nt * F);
  GRAB(w->ax, nt * F);
  GRAB(w->bx, nt * F);
  GRAB(w->amsg, nl * widest(m, 1));
  GRAB(w->bmsg, nl * widest(m, 1));
  GRAB(w->apre, nl * widest(m, 0));
  GRAB(w->bpre, nl * widest(m, 0));
  GRAB(w->forces, 3 * nt);
  GRAB(w->cstore, nl * combine_rows(m, m->h.layers));
  GRAB(w->ctstore, nl * combine_rows(m, m->h.layers));
  GRAB(w->cscratch, nl * nnp_combine_scratch_width(m));
  GRAB(w->edge_offset, nl + 1);
  if (failed) return free_atoms(w), grab_failed(err, "per-atom", nt);
  w->cap_local = nl, w->cap_total = nt;
  return NNP_OK;
}

/* offset in edge_rad of layer t's R rows, for a capacity of cap edges (dR/dr follow at + cap PC_t) */
static size_t radial_rows(const nnp_model *m, int t, size_t cap) {
  size_t s = 0;
  for (int q = 0; q < t; ++q) s += 2 * cap * (size_t)(m->layers[q].n_paths * m->h.channels);
  return s;
}

static nnp_status reserve_edges(nnp_train_workspace *w, size_t ne, nnp_error *err) {
  const size_t nsh = (size_t)NNP_NSH(w->model->h.l_max);
  if (ne <= w->cap_edges && w->edge_r) return NNP_OK;
  free_edges(w);
  w->cap_edges = 0;
  ne = ne + ne / 8 + 64;
  int failed = 0;
  GRAB(w->edge_j, ne);
  GRAB(w->edge_kind, ne);
  GRAB(w->edge_r, 4 * ne);
  GRAB(w->edge_rc, ne);
  GRAB(w->edge_Y, nsh * ne);
  GRAB(w->edge_dY, 3 * nsh * ne);
  GRAB(w->edge_Yd, nsh * ne);
  GRAB(w->edge_rd, ne);
  GRAB(w->edge_rad, radial_rows(w->model, w->model->h.layers, ne));
  if (failed) return free_edges(w), grab_failed(err, "per-edge", ne);
  w->cap_edges = ne;
  return NNP_OK;
}

static nnp_status reserve_receiver(nnp_train_workspace *w, int deg, nnp_error *err) {
  const nnp_model *m = w->model;
  if (deg <= w->cap_deg && w->R) return NNP_OK;
  free_receiver(w);
  w->cap_deg = 0;
  deg = deg + deg / 8 + 8;
  int failed = 0;
  int PC = 0;
  for (int t = 0; t < m->h.layers; ++t)
    PC = m->layers[t].n_paths * m->h.channels > PC ? m->layers[t].n_paths * m->h.channels : PC;
  const size_t d = (size_t)deg;
  GRAB(w->R, d * PC);
  GRAB(w->Rd, d * PC);
  GRAB(w->Rt, d * PC);
  GRAB(w->g, 2 * d * PC);
  GRAB(w->tape, nnp_mlp_tape_size(m, 2 * deg));
  GRAB(w->mlp_scratch, 4 * d * max_radial_width(m));
  GRAB(w->dR_tmp, PC);
  GRAB(w->dR_b, PC);
  GRAB(w->dY_spare, NNP_NSH(m->h.l_max));
  GRAB(w->tp, NNP_TP_SCRATCH(m->h.channels) > 4 * (2 * NNP_MAX_L + 1) * (size_t)m->h.channels
                  ? NNP_TP_SCRATCH(m->h.channels)
                  : 4 * (2 * NNP_MAX_L + 1) * (size_t)m->h.channels);
  GRAB(w->readout_scratch, m->h.readout_hidden + 1);
  if (failed) return free_receiver(w), grab_failed(err, "per-neighbour", (size_t)deg);
  w->cap_deg = deg;
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Edges                                                                                                              */

static nnp_status build_edges(nnp_train_workspace *w, const nnp_train_radial *rad, const nnp_graph *g, nnp_error *err) {
  const nnp_model *m = w->model;
  const int nl = g->n_local, nsh = NNP_NSH(m->h.l_max);
  const double rmin2 = m->h.r_min * m->h.r_min;
  nnp_status st = reserve_edges(w, nl ? (size_t)g->neigh_offset[nl] - (size_t)g->neigh_offset[0] + 1 : 1, err);
  if (st) return st;
  int64_t e = 0;
  w->max_deg = 0;
  w->edge_offset[0] = 0;
  for (int i = 0; i < nl; ++i) {
    const int si = g->species[i];
    if (g->neigh_offset[i + 1] < g->neigh_offset[i])
      return nnp_fail(err, NNP_ERR_ARGUMENT, "neighbour offsets decrease at atom %d", i);
    if (si >= 0 && g->neigh_offset[i + 1] - g->neigh_offset[i] > NNP_MAX_NEIGHBOURS_PER_ATOM)
      return nnp_fail(err, NNP_ERR_ARGUMENT,
                      "atom %d has %lld neighbour-list entries, more than the %d one atom may have "
                      "(NNP_MAX_NEIGHBOURS_PER_ATOM)",
                      i, (long long)(g->neigh_offset[i + 1] - g->neigh_offset[i]), NNP_MAX_NEIGHBOURS_PER_ATOM);
    for (int64_t q = g->neigh_offset[i]; si >= 0 && q < g->neigh_offset[i + 1]; ++q) {
      const int j = g->neigh_index[q];
      if (j < 0 || j >= g->n_total)
        return nnp_fail(err, NNP_ERR_ARGUMENT, "neighbour %d of atom %d is outside 0..%d", j, i, g->n_total - 1);
      const int sj = g->species[j];
      if (sj < 0 || j == i) continue;
      const double *xi = g->positions + 3 * (size_t)i, *xj = g->positions + 3 * (size_t)j;
      const double d[3] = {xj[0] - xi[0], xj[1] - xi[1], xj[2] - xi[2]};
      const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2], rc = m->h.pair_cutoff[si][sj];
      if (r2 >= rc * rc) continue;
      if (r2 < rmin2)
        return nnp_fail(err, NNP_ERR_GEOMETRY,
                        "atoms %d (%s) and %d (%s) are %.4f Angstrom apart, closer than the %.4f Angstrom this model "
                        "was trained for (r_min)",
                        i, m->h.species[si], j, m->h.species[sj], sqrt(r2), m->h.r_min);
      double *rv = w->edge_r + 4 * (size_t)e;
      rv[0] = d[0], rv[1] = d[1], rv[2] = d[2], rv[3] = sqrt(r2);
      w->edge_j[e] = j;
      w->edge_rc[e] = rc;
      w->edge_kind[e] = rad->kind_of_pair[si][sj];
      nnp_sph(m->h.l_max, rv, w->edge_Y + (size_t)e * nsh, w->edge_dY + 3 * (size_t)e * nsh);
      ++e;
    }
    w->edge_offset[i + 1] = e;
    if (e - w->edge_offset[i] > w->max_deg) w->max_deg = (int)(e - w->edge_offset[i]);
  }
  w->n_edges = e;
  return reserve_receiver(w, w->max_deg > 0 ? w->max_deg : 1, err);
}

/* R and (with want_Rd, or for the exact MLP) dR/dr (deg x PC each) of receiver i's edges in layer t, from the
 * tables or the exact MLP; in the exact case the tape (2n rows) stays in w->tape for mlp2_param_grad. */
/* The radial functions of receiver i's edges in layer t: w->Rp, w->Rdp point to n rows of PC values (edge order).
 * With tables they are rows of edge_rad, evaluated once per layer by the forces pass (fill) and read back by the
 * later sweeps of the same structure and tables (nnp_train_gradient requires nnp_train_forces on the same graph and
 * radial functions first): a table evaluation streams 4 PC coefficients per edge, and the passes visit every edge
 * four times. With the exact MLP they are evaluated into the receiver's scratch, with the tape for the gradient. */
static void receiver_radial(nnp_train_workspace *w, const nnp_train_radial *rad, int t, int i, nnp_mlp_tape *tape,
                            int fill) {
  const nnp_model *m = w->model;
  const nnp_layer *ly = &m->layers[t];
  const int64_t e0 = w->edge_offset[i];
  const int n = (int)(w->edge_offset[i + 1] - e0), PC = ly->n_paths * m->h.channels;
  if (rad->tables) {
    double *R = w->edge_rad + radial_rows(m, t, w->cap_edges) + (size_t)e0 * PC;
    double *Rd = R + w->cap_edges * (size_t)PC;
    if (fill)
      for (int k = 0; k < n; ++k)
        nnp_radial_table_eval(&rad->tables[t * rad->n_kinds + w->edge_kind[e0 + k]],
                              w->edge_r[4 * (size_t)(e0 + k) + 3], R + (size_t)k * PC, Rd + (size_t)k * PC);
    w->Rp = R, w->Rdp = Rd;
    return;
  }
  const int nb = m->h.radial_basis;
  nnp_mlp_tape_bind(m, tape, w->tape, 2 * n);
  for (int k = 0; k < n; ++k)
    nnp_bessel_basis(nb, nnp_radial_frequencies(&m->h), m->h.envelope_p, w->edge_rc[e0 + k],
                     w->edge_r[4 * (size_t)(e0 + k) + 3], tape->act[0] + (size_t)k * nb,
                     tape->act[0] + (size_t)(n + k) * nb);
  const double *buf[NNP_MAX_RADIAL_LAYERS + 1];
  mlp2_forward(m, ly, radial_wt(rad, m, t, buf), tape, n, w->R, w->Rd);
  w->Rp = w->R, w->Rdp = w->Rd;
}

static nnp_status exchange(const nnp_graph *g, double *data, int width, int direction, nnp_error *err) {
  if (!g->exchange) return NNP_OK;
  if (g->exchange(g->exchange_ctx, data, width, direction) != 0)
    return nnp_fail(err, NNP_ERR_EXCHANGE, "the %s feature exchange callback reported failure",
                    direction == NNP_EXCHANGE_FORWARD ? "forward" : "reverse");
  return NNP_OK;
}

static double *layer_h(const nnp_train_workspace *w, double *base, int t) {
  return base + (size_t)t * w->cap_total * w->model->feature_width;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Pass 1: forward, then the plain adjoint for the forces                                                            */

static void conv_forward(nnp_train_workspace *w, const nnp_train_radial *rad, int t) {
  const nnp_model *m = w->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, PC = ly->n_paths * m->h.channels, nsh = NNP_NSH(m->h.l_max);
  const double inv_sqrt_nu = 1.0 / sqrt(m->h.avg_num_neighbors);
  const double *x = layer_h(w, w->x, t);
  double *msg = w->msg + (size_t)w->n_local * layer_rows(m, 1, t);
  for (int i = 0; i < w->n_local; ++i) {
    double *out = msg + (size_t)i * ly->msg_width;
    memset(out, 0, (size_t)ly->msg_width * sizeof *out);
    const int64_t e0 = w->edge_offset[i];
    const int n = (int)(w->edge_offset[i + 1] - e0); /* at most NNP_MAX_NEIGHBOURS_PER_ATOM */
    if (n == 0) continue;
    nnp_mlp_tape tape;
    receiver_radial(w, rad, t, i, &tape, 1); /* the first visit of the structure's edges in this layer */
    for (int k = 0; k < n; ++k)
      nnp_tp_edge_forward(m, ly, x + (size_t)w->edge_j[e0 + k] * F, w->edge_Y + (size_t)(e0 + k) * nsh,
                          w->Rp + (size_t)k * PC, out, w->tp);
    for (int q = 0; q < ly->msg_width; ++q) out[q] *= inv_sqrt_nu;
  }
}

/* Adjoint of layer t's convolution for the forces: dmsg (scaled) -> dx (all atoms), edge gradients -> forces. */
static void conv_adjoint_forces(nnp_train_workspace *w, const nnp_train_radial *rad, int t, const double *dmsg,
                                double *dx) {
  const nnp_model *m = w->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, PC = ly->n_paths * m->h.channels, nsh = NNP_NSH(m->h.l_max);
  const double *x = layer_h(w, w->x, t);
  memset(dx, 0, (size_t)w->n_total * F * sizeof *dx);
  for (int i = 0; i < w->n_local; ++i) {
    const int64_t e0 = w->edge_offset[i];
    const int n = (int)(w->edge_offset[i + 1] - e0); /* at most NNP_MAX_NEIGHBOURS_PER_ATOM */
    if (n == 0) continue;
    nnp_mlp_tape tape;
    receiver_radial(w, rad, t, i, &tape, 0);
    const double *dm = dmsg + (size_t)i * ly->msg_width;
    for (int k = 0; k < n; ++k) {
      const int64_t e = e0 + k;
      const int j = w->edge_j[e];
      const double *rv = w->edge_r + 4 * (size_t)e, *dY = w->edge_dY + 3 * (size_t)e * nsh;
      nnp_tp_edge_adjoint(m, ly, x + (size_t)j * F, w->edge_Y + (size_t)e * nsh, w->Rp + (size_t)k * PC, dm,
                          dx + (size_t)j * F, w->dR_tmp, w->dY_spare, w->tp);
      double dEdr = 0.0;
      const double *Rd = w->Rdp + (size_t)k * PC;
      for (int q = 0; q < PC; ++q) dEdr += w->dR_tmp[q] * Rd[q];
      double gv[3] = {dEdr * rv[0] / rv[3], dEdr * rv[1] / rv[3], dEdr * rv[2] / rv[3]};
      for (int q = 0; q < nsh; ++q)
        for (int a = 0; a < 3; ++a) gv[a] += w->dY_spare[q] * dY[3 * q + a];
      for (int a = 0; a < 3; ++a) {
        w->forces[3 * (size_t)i + a] += gv[a];
        w->forces[3 * (size_t)j + a] -= gv[a];
      }
    }
  }
}

static void scale_rows(double *a, size_t n, double s) {
  for (size_t q = 0; q < n; ++q) a[q] *= s;
}

static void zero_ghosts(const nnp_train_workspace *w, double *rows) {
  const size_t F = (size_t)w->model->feature_width;
  memset(rows + (size_t)w->n_local * F, 0, (size_t)(w->n_total - w->n_local) * F * sizeof *rows);
}

/* x = U h (layer step 1) for every atom. With an exchange callback only the owners are projected and the ghosts'
 * rows are copied from theirs: x is per atom and linear in h, so a ghost's x is its owner's, and a periodic training
 * cell has several times more ghosts than atoms (about 7 for 64 water molecules at 6 A). Without one, every row. */
static nnp_status up_project(const nnp_model *m, const nnp_layer *ly, const nnp_graph *g, const double *h, double *x,
                             nnp_error *err) {
  if (!g->exchange) {
    nnp_up_forward(m, ly, 1, g->n_total, h, x);
    return NNP_OK;
  }
  nnp_up_forward(m, ly, 1, g->n_local, h, x);
  return exchange(g, x, m->feature_width, NNP_EXCHANGE_FORWARD, err);
}

/* The adjoint of up_project: dh += dx U and, with grad, dU += dx^T h. With an exchange callback the ghosts' dx is
 * first added to their owners' (reverse exchange; dx's ghost rows are then stale), and only the owners' rows are
 * projected: the same dh of the owners and the same dU, since a ghost's h is its owner's. Without one, every row. */
static nnp_status up_project_adjoint(const nnp_model *m, const nnp_layer *ly, const nnp_graph *g, const double *h,
                                     double *dx, double *dh, double *grad, nnp_error *err) {
  if (!g->exchange) {
    nnp_up_adjoint(m, ly, 1, g->n_total, h, dx, dh, grad);
    return NNP_OK;
  }
  nnp_status st = exchange(g, dx, m->feature_width, NNP_EXCHANGE_REVERSE, err);
  if (!st) nnp_up_adjoint(m, ly, 1, g->n_local, h, dx, dh, grad);
  return st;
}

static nnp_status forces_pass(const nnp_model *m, nnp_train_workspace *w, const nnp_train_radial *rad,
                              const nnp_graph *g, double *energy, double *forces, nnp_error *err) {

  if (w->model != m) return nnp_fail(err, NNP_ERR_ARGUMENT, "the training workspace was made for another model");
  w->have_forward = 0;
  nnp_status st = nnp_check_graph(m, g, err);
  if (!st) st = reserve_atoms(w, (size_t)g->n_local + 1, (size_t)g->n_total + 1, err);
  if (st) return st;
  w->n_local = g->n_local, w->n_total = g->n_total;
  st = build_edges(w, rad, g, err);
  if (st) return st;
  const int T = m->h.layers, F = m->feature_width, C = m->h.channels, nl = g->n_local, nt = g->n_total;
  /* forward */
  double *h0 = layer_h(w, w->h, 0);
  for (int i = 0; i < nt; ++i) {
    double *row = h0 + (size_t)i * F;
    memset(row, 0, (size_t)F * sizeof *row);
    if (g->species[i] >= 0) memcpy(row, m->params + m->embedding + (size_t)g->species[i] * C, (size_t)C * sizeof *row);
  }
  for (int t = 0; t < T && !st; ++t) {
    const nnp_layer *ly = &m->layers[t];
    double *h = layer_h(w, w->h, t);
    st = up_project(m, ly, g, h, layer_h(w, w->x, t), err);
    if (st) break;
    conv_forward(w, rad, t);
    double *msg = w->msg + (size_t)nl * layer_rows(m, 1, t), *pre = w->pre + (size_t)nl * layer_rows(m, 0, t);
    nnp_combine_forward(m, t, 1, nl, g->species, msg, h, w->cstore + (size_t)nl * combine_rows(m, t), pre);
    nnp_gate_forward(m, ly, 1, nl, g->species, pre, h, layer_h(w, w->h, t + 1));
  }
  if (st) return st;
  /* readout and the plain adjoint */
  double e_total = 0.0, *dh_next = w->ahn, *dh = w->ah;
  const double *hT = layer_h(w, w->h, T);
  for (int i = 0; i < nl; ++i) {
    if (g->species[i] < 0) {
      memset(dh_next + (size_t)i * F, 0, (size_t)F * sizeof *dh_next);
      continue;
    }
    e_total += nnp_readout(m, g->species[i], hT + (size_t)i * F, dh_next + (size_t)i * F, NULL, w->readout_scratch);
  }
  memset(w->forces, 0, 3 * (size_t)nt * sizeof *w->forces);
  const double inv_sqrt_nu = 1.0 / sqrt(m->h.avg_num_neighbors);
  for (int t = T - 1; t >= 0 && !st; --t) {
    const nnp_layer *ly = &m->layers[t];
    double *h = layer_h(w, w->h, t);
    const double *pre = w->pre + (size_t)nl * layer_rows(m, 0, t), *msg = w->msg + (size_t)nl * layer_rows(m, 1, t);
    nnp_gate_adjoint(m, ly, 1, nl, g->species, pre, dh_next, w->apre, dh);
    zero_ghosts(w, dh);
    nnp_combine_adjoint(m, t, 1, nl, g->species, msg, h, w->cstore + (size_t)nl * combine_rows(m, t), w->apre,
                        w->cscratch, w->amsg, dh, NULL);
    scale_rows(w->amsg, (size_t)nl * ly->msg_width, inv_sqrt_nu);
    conv_adjoint_forces(w, rad, t, w->amsg, w->ax);
    if (t > 0) { /* layer 0's h is the embedding: its adjoint is not needed for forces */
      st = up_project_adjoint(m, ly, g, h, w->ax, dh, NULL, err);
      zero_ghosts(w, dh);
    }
    double *tmp = dh_next;
    dh_next = dh;
    dh = tmp;
  }
  if (st) return st;
  if (!isfinite(e_total)) return nnp_fail(err, NNP_ERR_NUMERIC, "the energy is not finite (damaged weights?)");
  for (size_t q = 0; q < 3 * (size_t)nt; ++q)
    if (!isfinite(w->forces[q])) return nnp_fail(err, NNP_ERR_NUMERIC, "a force is not finite");
  *energy = e_total;
  if (forces) memcpy(forces, w->forces, 3 * (size_t)nt * sizeof *forces);
  w->graph = g;
  w->radial = rad;
  w->have_forward = 1;
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Fused per-edge kernels of the tangent and reverse sweeps                                                          */

/* Per path the tensor product is msg[m3,c] += R[c] t[m3,c] with t[m3,c] = sum_entries G Y[m2] x[m1,c]; its tangent
 * needs t and td = sum G (Y[m2] xd[m1,c] + Yd[m2] x[m1,c]): msgd += R td + Rt t (Rt = dR/dr rd). One walk over the
 * coupling entries per path instead of three calls of the plain kernel. */
static inline __attribute__((always_inline)) void tangent_edge(const nnp_model *m, const nnp_layer *ly, const double *x,
                                                               const double *xd, const double *Y, const double *Yd,
                                                               const double *R, const double *Rt, double *msgd,
                                                               double *scratch, const int C) {
  double *t = scratch, *td = scratch + (2 * NNP_MAX_L + 1) * C;
  for (int p = 0; p < ly->n_paths; ++p) {
    const nnp_path *path = &ly->paths[p];
    const int l3 = path->l3, stride = ly->l3_count[l3] * C, rows = 2 * l3 + 1;
    const double *xin = x + C * path->l1 * path->l1, *xdin = xd ? xd + C * path->l1 * path->l1 : NULL;
    const double *Yl = Y + path->l2 * path->l2, *Ydl = Yd + path->l2 * path->l2;
    memset(t, 0, (size_t)rows * C * sizeof *t);
    memset(td, 0, (size_t)rows * C * sizeof *td);
    for (int e = path->cg_begin; e < path->cg_end; ++e) {
      const nnp_cg_entry *g = &m->cg[e];
      const double cy = g->value * Yl[g->m2], cyd = g->value * Ydl[g->m2];
      const double *restrict xr = xin + g->m1 * C;
      double *restrict tr = t + g->m3 * C, *restrict tdr = td + g->m3 * C;
      if (xdin) {
        const double *restrict xdr = xdin + g->m1 * C;
#pragma omp simd
        for (int c = 0; c < C; ++c) {
          tr[c] += cy * xr[c];
          tdr[c] += cy * xdr[c] + cyd * xr[c];
        }
      } else {
#pragma omp simd
        for (int c = 0; c < C; ++c) {
          tr[c] += cy * xr[c];
          tdr[c] += cyd * xr[c];
        }
      }
    }
    double *out = msgd + ly->msg_offset[l3] + (p - ly->l3_first[l3]) * C;
    const double *restrict w = R + (size_t)p * C, *restrict wt = Rt + (size_t)p * C;
    for (int m3 = 0; m3 < rows; ++m3) {
      double *restrict o = out + m3 * stride;
      const double *restrict tr = t + m3 * C, *restrict tdr = td + m3 * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) o[c] += w[c] * tdr[c] + wt[c] * tr[c];
    }
  }
}

/* The reverse of one edge's primal and tangent tensor products. With A, B the adjoints of msg and msgd (receiver's
 * rows), uA = R A + Rt B and uB = R B per (m3, c), and per coupling entry cy = G Y[m2], cyd = G Yd[m2]:
 *   ax[m1] += cy uA[m3] + cyd uB[m3]    (A of x: primal term and the cross terms of Yd and Rt)
 *   bx[m1] += cy uB[m3]                 (B of xd: the plain adjoint)
 *   gR = sum_m3 A t + B td              (A of R: primal term and the cross terms of xd and Yd)
 *   bR = sum_m3 B t                     (B of Rt)
 * The same as five calls of the plain adjoint kernel (tested), at 6 instead of 15 multiply-adds per entry and
 * channel. */
static inline __attribute__((always_inline)) void reverse_edge(const nnp_model *m, const nnp_layer *ly, const double *x,
                                                               const double *xd, const double *Y, const double *Yd,
                                                               const double *R, const double *Rt, const double *A,
                                                               const double *B, double *ax, double *bx, double *gR,
                                                               double *bR, double *scratch, const int C) {
  const int K = 2 * NNP_MAX_L + 1;
  double *t = scratch, *td = t + K * C, *uA = td + K * C, *uB = uA + K * C;
  for (int p = 0; p < ly->n_paths; ++p) {
    const nnp_path *path = &ly->paths[p];
    const int l3 = path->l3, stride = ly->l3_count[l3] * C, rows = 2 * l3 + 1;
    const int block = ly->msg_offset[l3] + (p - ly->l3_first[l3]) * C;
    const double *xin = x + C * path->l1 * path->l1, *xdin = xd ? xd + C * path->l1 * path->l1 : NULL;
    double *axin = ax + C * path->l1 * path->l1, *bxin = bx + C * path->l1 * path->l1;
    const double *Yl = Y + path->l2 * path->l2, *Ydl = Yd + path->l2 * path->l2;
    const double *restrict w = R + (size_t)p * C, *restrict wt = Rt + (size_t)p * C;
    for (int m3 = 0; m3 < rows; ++m3) {
      const double *restrict a = A + block + m3 * stride, *restrict b = B + block + m3 * stride;
      double *restrict ua = uA + m3 * C, *restrict ub = uB + m3 * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) {
        ua[c] = w[c] * a[c] + wt[c] * b[c];
        ub[c] = w[c] * b[c];
      }
    }
    memset(t, 0, (size_t)rows * C * sizeof *t);
    memset(td, 0, (size_t)rows * C * sizeof *td);
    for (int e = path->cg_begin; e < path->cg_end; ++e) {
      const nnp_cg_entry *g = &m->cg[e];
      const double cy = g->value * Yl[g->m2], cyd = g->value * Ydl[g->m2];
      const double *restrict xr = xin + g->m1 * C, *restrict ua = uA + g->m3 * C, *restrict ub = uB + g->m3 * C;
      double *restrict tr = t + g->m3 * C, *restrict tdr = td + g->m3 * C;
      double *restrict axr = axin + g->m1 * C, *restrict bxr = bxin + g->m1 * C;
      if (xdin) {
        const double *restrict xdr = xdin + g->m1 * C;
#pragma omp simd
        for (int c = 0; c < C; ++c) {
          tr[c] += cy * xr[c];
          tdr[c] += cy * xdr[c] + cyd * xr[c];
          axr[c] += cy * ua[c] + cyd * ub[c];
          bxr[c] += cy * ub[c];
        }
      } else {
#pragma omp simd
        for (int c = 0; c < C; ++c) {
          tr[c] += cy * xr[c];
          tdr[c] += cyd * xr[c];
          axr[c] += cy * ua[c] + cyd * ub[c];
          bxr[c] += cy * ub[c];
        }
      }
    }
    double *restrict gr = gR + (size_t)p * C, *restrict br = bR + (size_t)p * C;
#pragma omp simd
    for (int c = 0; c < C; ++c) gr[c] = br[c] = 0.0;
    for (int m3 = 0; m3 < rows; ++m3) {
      const double *restrict a = A + block + m3 * stride, *restrict b = B + block + m3 * stride;
      const double *restrict tr = t + m3 * C, *restrict tdr = td + m3 * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) {
        gr[c] += a[c] * tr[c] + b[c] * tdr[c];
        br[c] += b[c] * tr[c];
      }
    }
  }
}

/* Compiled for the usual channel counts so that the channel loops unroll into whole vector registers. */
#define DISPATCH_C(call, C)                                                                                            \
  switch (C) {                                                                                                         \
  case 8:                                                                                                              \
    call(8);                                                                                                           \
    break;                                                                                                             \
  case 16:                                                                                                             \
    call(16);                                                                                                          \
    break;                                                                                                             \
  case 32:                                                                                                             \
    call(32);                                                                                                          \
    break;                                                                                                             \
  default:                                                                                                             \
    call(C);                                                                                                           \
    break;                                                                                                             \
  }

/* Whether the generated form of the same arithmetic (tp_codegen.py) serves this layer: it exists for the layer's
 * shape, and it reads xd exactly when l_in > 0 (layer 0, the only l_in = 0 layer, has none). */
static inline int generated_train_kernel(const nnp_layer *ly, const double *xd) {
  return ly->tp_kernel >= 0 && (xd != NULL) == (ly->lin > 0);
}

NNP_HOT static void tangent_edge_any(const nnp_model *m, const nnp_layer *ly, const double *x, const double *xd,
                                     const double *Y, const double *Yd, const double *R, const double *Rt, double *msgd,
                                     double *scratch) {
  if (generated_train_kernel(ly, xd)) {
    nnp_tp_edge_tangent(m, ly, x, xd, Y, Yd, R, Rt, msgd);
    return;
  }
#define TANGENT(c) tangent_edge(m, ly, x, xd, Y, Yd, R, Rt, msgd, scratch, c)
  DISPATCH_C(TANGENT, m->h.channels)
#undef TANGENT
}

NNP_HOT
static void reverse_edge_any(const nnp_model *m, const nnp_layer *ly, const double *x, const double *xd,
                             const double *Y, const double *Yd, const double *R, const double *Rt, const double *A,
                             const double *B, double *ax, double *bx, double *gR, double *bR, double *scratch) {
  if (generated_train_kernel(ly, xd)) {
    nnp_tp_edge_reverse(m, ly, x, xd, Y, Yd, R, Rt, A, B, ax, bx, gR, bR);
    return;
  }
#define REVERSE(c) reverse_edge(m, ly, x, xd, Y, Yd, R, Rt, A, B, ax, bx, gR, bR, scratch, c)
  DISPATCH_C(REVERSE, m->h.channels)
#undef REVERSE
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Pass 2: tangent forward along v, then the two-adjoint reverse sweep                                               */

/* Tangents of every edge's harmonics and length along v: rd = u . (v_j - v_i), Yd = dY/dr (v_j - v_i). */
static void edge_tangents(nnp_train_workspace *w, const double *v) {
  const int nsh = NNP_NSH(w->model->h.l_max);
  for (int i = 0; i < w->n_local; ++i)
    for (int64_t e = w->edge_offset[i]; e < w->edge_offset[i + 1]; ++e) {
      const int j = w->edge_j[e];
      const double *rv = w->edge_r + 4 * (size_t)e, *dY = w->edge_dY + 3 * (size_t)e * nsh;
      const double d[3] = {v[3 * (size_t)j] - v[3 * (size_t)i], v[3 * (size_t)j + 1] - v[3 * (size_t)i + 1],
                           v[3 * (size_t)j + 2] - v[3 * (size_t)i + 2]};
      w->edge_rd[e] = (rv[0] * d[0] + rv[1] * d[1] + rv[2] * d[2]) / rv[3];
      double *Yd = w->edge_Yd + (size_t)e * nsh;
      for (int q = 0; q < nsh; ++q) Yd[q] = dY[3 * q] * d[0] + dY[3 * q + 1] * d[1] + dY[3 * q + 2] * d[2];
    }
}

/* msgd = nu^-1/2 sum_edges [TP(xd_j, Y, R) + TP(x_j, Yd, R) + TP(x_j, Y, Rd rd)] (TP is trilinear). */
static void conv_tangent(nnp_train_workspace *w, const nnp_train_radial *rad, int t) {
  const nnp_model *m = w->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, PC = ly->n_paths * m->h.channels, nsh = NNP_NSH(m->h.l_max);
  const double inv_sqrt_nu = 1.0 / sqrt(m->h.avg_num_neighbors);
  const double *x = layer_h(w, w->x, t), *xd = layer_h(w, w->xd, t);
  double *msgd = w->msgd + (size_t)w->n_local * layer_rows(m, 1, t);
  for (int i = 0; i < w->n_local; ++i) {
    double *out = msgd + (size_t)i * ly->msg_width;
    memset(out, 0, (size_t)ly->msg_width * sizeof *out);
    const int64_t e0 = w->edge_offset[i];
    const int n = (int)(w->edge_offset[i + 1] - e0); /* at most NNP_MAX_NEIGHBOURS_PER_ATOM */
    if (n == 0) continue;
    nnp_mlp_tape tape;
    receiver_radial(w, rad, t, i, &tape, 0);
    for (int k = 0; k < n; ++k) {
      const int64_t e = e0 + k;
      const int j = w->edge_j[e];
      const double *Y = w->edge_Y + (size_t)e * nsh, *R = w->Rp + (size_t)k * PC, *Rd = w->Rdp + (size_t)k * PC;
      double *Rt = w->Rt; /* tangent of R */
      for (int q = 0; q < PC; ++q) Rt[q] = Rd[q] * w->edge_rd[e];
      /* xd = 0 in layer 0: the embedding does not move */
      tangent_edge_any(m, ly, x + (size_t)j * F, t > 0 ? xd + (size_t)j * F : NULL, Y, w->edge_Yd + (size_t)e * nsh, R,
                       Rt, out, w->tp);
    }
    for (int q = 0; q < ly->msg_width; ++q) out[q] *= inv_sqrt_nu;
  }
}

/* Tangent of the gate and residual (docs/model.md step 4-5): hd_next = hd (residual) + gate'(pre) pred. */
static void gate_tangent(const nnp_model *m, const nnp_layer *ly, int n, const int *species, const double *pre,
                         const double *pred, const double *hd, double *hd_next) {
  const int C = m->h.channels, F = m->feature_width;
  for (int i = 0; i < n; ++i) {
    double *out = hd_next + (size_t)i * F;
    memset(out, 0, (size_t)F * sizeof *out);
    if (species[i] < 0) continue;
    const double *p = pre + (size_t)i * ly->pre_width, *pd = pred + (size_t)i * ly->pre_width;
    for (int c = 0; c < C; ++c) {
      double ds;
      nnp_silu(p[c], &ds);
      out[c] = ds * pd[c];
    }
    for (int l = 1; l <= ly->lout; ++l)
      for (int mm = 0; mm < 2 * l + 1; ++mm)
        for (int c = 0; c < C; ++c) {
          const int gi = C + (l - 1) * C + c, vi = ly->pre_offset[l] + mm * C + c;
          double dsig, sig = nnp_sigmoid(p[gi], &dsig);
          out[C * l * l + mm * C + c] = dsig * pd[gi] * p[vi] + sig * pd[vi];
        }
    const int lres = ly->lin < ly->lout ? ly->lin : ly->lout;
    const double *hi = hd + (size_t)i * F;
    for (int q = 0; q < C * NNP_NSH(lres); ++q) out[q] += hi[q];
  }
}

/* Reverse of the gate's primal and tangent: from the adjoints of h_next (A) and hd_next (B), those of pre and pred,
 * and the residual parts of those of h and hd (overwritten). o = SiLU(p): Bp = s' Bo, Ap = s' Ao + s'' pd Bo.
 * o = sig(g) y: By = sig Bo, Bg = sig' y Bo, Ay = sig Ao + sig' gd Bo, Ag = sig' y Ao + (sig'' gd y + sig' yd) Bo. */
static void gate_reverse(const nnp_model *m, const nnp_layer *ly, int n, const int *species, const double *pre,
                         const double *pred, const double *A_next, const double *B_next, double *Ap, double *Bp,
                         double *Ah, double *Bh) {
  const int C = m->h.channels, F = m->feature_width;
  for (int i = 0; i < n; ++i) {
    double *ap = Ap + (size_t)i * ly->pre_width, *bp = Bp + (size_t)i * ly->pre_width;
    double *ah = Ah + (size_t)i * F, *bh = Bh + (size_t)i * F;
    memset(ap, 0, (size_t)ly->pre_width * sizeof *ap);
    memset(bp, 0, (size_t)ly->pre_width * sizeof *bp);
    memset(ah, 0, (size_t)F * sizeof *ah);
    memset(bh, 0, (size_t)F * sizeof *bh);
    if (species[i] < 0) continue;
    const double *p = pre + (size_t)i * ly->pre_width, *pd = pred + (size_t)i * ly->pre_width;
    const double *ao = A_next + (size_t)i * F, *bo = B_next + (size_t)i * F;
    for (int c = 0; c < C; ++c) {
      double d1;
      const double d2 = silu_d2(p[c], &d1);
      bp[c] = d1 * bo[c];
      ap[c] = d1 * ao[c] + d2 * pd[c] * bo[c];
    }
    for (int l = 1; l <= ly->lout; ++l)
      for (int mm = 0; mm < 2 * l + 1; ++mm)
        for (int c = 0; c < C; ++c) {
          const int gi = C + (l - 1) * C + c, vi = ly->pre_offset[l] + mm * C + c, oi = C * l * l + mm * C + c;
          double s1, sig = nnp_sigmoid(p[gi], &s1);
          const double s2 = s1 * (1.0 - 2.0 * sig), y = p[vi], yd = pd[vi], gd = pd[gi];
          bp[vi] = sig * bo[oi];
          bp[gi] += s1 * y * bo[oi];
          ap[vi] = sig * ao[oi] + s1 * gd * bo[oi];
          ap[gi] += s1 * y * ao[oi] + (s2 * gd * y + s1 * yd) * bo[oi];
        }
    const int lres = ly->lin < ly->lout ? ly->lin : ly->lout;
    for (int q = 0; q < C * NNP_NSH(lres); ++q) ah[q] = ao[q], bh[q] = bo[q];
  }
}

/* Readout with its tangent, reversed with seeds a on E and b on Ed: the adjoints of hT (A) and hdT (B) and the
 * readout weights' gradient. E_i = mu + sigma sum_k w_k SiLU(z_k), z = V h, zd = V hd. */
static void readout_reverse(const nnp_model *m, int s, const double *h0, const double *hd0, double a, double b,
                            double *A, double *B, double *grad) {
  const int C = m->h.channels, Cr = m->h.readout_hidden;
  const double *V = m->params + m->readout_hidden, *wk = m->params + m->readout_out, sigma = m->h.energy_scale[s];
  memset(A, 0, (size_t)m->feature_width * sizeof *A);
  memset(B, 0, (size_t)m->feature_width * sizeof *B);
  for (int k = 0; k < Cr; ++k) {
    double z = 0.0, zd = 0.0, d1;
    for (int c = 0; c < C; ++c) z += V[(size_t)k * C + c] * h0[c], zd += V[(size_t)k * C + c] * hd0[c];
    const double d2 = silu_d2(z, &d1), f = nnp_silu(z, NULL);
    grad[m->readout_out + k] += sigma * (a * f + b * d1 * zd);
    const double cA = sigma * wk[k] * (a * d1 + b * d2 * zd), cB = sigma * wk[k] * b * d1;
    double *gV = grad + m->readout_hidden + (size_t)k * C;
    for (int c = 0; c < C; ++c) {
      A[c] += cA * V[(size_t)k * C + c];
      B[c] += cB * V[(size_t)k * C + c];
      gV[c] += cA * h0[c] + cB * hd0[c];
    }
  }
}

/* Reverse of layer t's convolution, primal and tangent: from the adjoints of msg (A) and msgd (B), both scaled by
 * nu^-1/2, accumulate those of x (A) and xd (B), and the radial adjoints gR, gD per edge -> knots or MLP weights. */
static void conv_reverse(nnp_train_workspace *w, const nnp_train_radial *rad, int t, double *grad, double *knot_grad) {
  const nnp_model *m = w->model;
  const nnp_layer *ly = &m->layers[t];
  const int F = m->feature_width, PC = ly->n_paths * m->h.channels, nsh = NNP_NSH(m->h.l_max);
  const double *x = layer_h(w, w->x, t), *xd = layer_h(w, w->xd, t);
  memset(w->ax, 0, (size_t)w->n_total * F * sizeof *w->ax);
  memset(w->bx, 0, (size_t)w->n_total * F * sizeof *w->bx);
  for (int i = 0; i < w->n_local; ++i) {
    const int64_t e0 = w->edge_offset[i];
    const int n = (int)(w->edge_offset[i + 1] - e0); /* at most NNP_MAX_NEIGHBOURS_PER_ATOM */
    if (n == 0) continue;
    nnp_mlp_tape tape;
    receiver_radial(w, rad, t, i, &tape, 0);
    const double *am = w->amsg + (size_t)i * ly->msg_width, *bm = w->bmsg + (size_t)i * ly->msg_width;
    for (int k = 0; k < n; ++k) {
      const int64_t e = e0 + k;
      const int j = w->edge_j[e];
      const double *Y = w->edge_Y + (size_t)e * nsh, *Yd = w->edge_Yd + (size_t)e * nsh;
      const double *R = w->Rp + (size_t)k * PC, *Rd = w->Rdp + (size_t)k * PC, *xj = x + (size_t)j * F;
      double *gR = w->g + (size_t)k * PC, *gD = w->g + (size_t)(n + k) * PC, *Rt = w->Rt;
      double *axj = w->ax + (size_t)j * F, *bxj = w->bx + (size_t)j * F;
      for (int q = 0; q < PC; ++q) Rt[q] = Rd[q] * w->edge_rd[e];
      reverse_edge_any(m, ly, xj, t > 0 ? xd + (size_t)j * F : NULL, Y, Yd, R, Rt, am, bm, axj, bxj, gR, w->dR_b,
                       w->tp);
      for (int q = 0; q < PC; ++q) gD[q] = w->dR_b[q] * w->edge_rd[e];
      if (rad->tables) {
        const int q = t * rad->n_kinds + w->edge_kind[e];
        knot_scatter(&rad->tables[q], w->edge_r[4 * (size_t)e + 3], gR, gD, knot_grad + rad->knot_offset[q]);
      }
    }
    if (!rad->tables) mlp2_param_grad(m, ly, &tape, n, w->g, w->mlp_scratch, grad);
  }
}

static nnp_status gradient_pass(const nnp_model *m, nnp_train_workspace *w, const nnp_train_radial *rad,
                                const nnp_graph *g, const double *v, double w_energy, double w_dir, double *grad,
                                double *knot_grad, nnp_error *err) {
  if (!w->have_forward || w->graph != g || w->radial != rad || w->model != m || g->n_total != w->n_total)
    return nnp_fail(err, NNP_ERR_ARGUMENT,
                    "nnp_train_gradient needs nnp_train_forces on the same graph and radial functions first");
  const int T = m->h.layers, F = m->feature_width, nl = w->n_local, nt = w->n_total;
  for (int q = 0; q < 3 * nt; ++q)
    if (!isfinite(v[q]))
      return nnp_fail(err, NNP_ERR_ARGUMENT, "the tangent direction is not finite at atom %d", q / 3);
  nnp_status st = NNP_OK;
  edge_tangents(w, v);
  /* tangent forward; the primal values are those of nnp_train_forces */
  memset(layer_h(w, w->hd, 0), 0, (size_t)nt * F * sizeof(double)); /* the embedding does not move */
  for (int t = 0; t < T && !st; ++t) {
    const nnp_layer *ly = &m->layers[t];
    double *hd = layer_h(w, w->hd, t);
    st = up_project(m, ly, g, hd, layer_h(w, w->xd, t), err);
    if (st) break;
    conv_tangent(w, rad, t);
    const double *pre = w->pre + (size_t)nl * layer_rows(m, 0, t);
    double *msgd = w->msgd + (size_t)nl * layer_rows(m, 1, t), *pred = w->pred + (size_t)nl * layer_rows(m, 0, t);
    nnp_combine_tangent(m, t, 1, nl, g->species, w->cstore + (size_t)nl * combine_rows(m, t), msgd, hd,
                        w->ctstore + (size_t)nl * combine_rows(m, t), pred);
    gate_tangent(m, ly, nl, g->species, pre, pred, hd, layer_h(w, w->hd, t + 1));
  }
  if (st) return st;
  /* reverse */
  const double *hT = layer_h(w, w->h, T), *hdT = layer_h(w, w->hd, T);
  for (int i = 0; i < nl; ++i) {
    double *A = w->ahn + (size_t)i * F, *B = w->bhn + (size_t)i * F;
    if (g->species[i] < 0) {
      memset(A, 0, (size_t)F * sizeof *A);
      memset(B, 0, (size_t)F * sizeof *B);
      continue;
    }
    readout_reverse(m, g->species[i], hT + (size_t)i * F, hdT + (size_t)i * F, w_energy, w_dir, A, B, grad);
  }
  const double inv_sqrt_nu = 1.0 / sqrt(m->h.avg_num_neighbors);
  double *An = w->ahn, *Bn = w->bhn, *Ah = w->ah, *Bh = w->bh;
  for (int t = T - 1; t >= 0 && !st; --t) {
    const nnp_layer *ly = &m->layers[t];
    double *h = layer_h(w, w->h, t), *hd = layer_h(w, w->hd, t);
    const double *pre = w->pre + (size_t)nl * layer_rows(m, 0, t), *pred = w->pred + (size_t)nl * layer_rows(m, 0, t);
    const double *msg = w->msg + (size_t)nl * layer_rows(m, 1, t), *msgd = w->msgd + (size_t)nl * layer_rows(m, 1, t);
    gate_reverse(m, ly, nl, g->species, pre, pred, An, Bn, w->apre, w->bpre, Ah, Bh);
    zero_ghosts(w, Ah);
    zero_ghosts(w, Bh);
    nnp_combine_reverse(m, t, 1, nl, g->species, msg, h, w->cstore + (size_t)nl * combine_rows(m, t), msgd, hd,
                        w->ctstore + (size_t)nl * combine_rows(m, t), w->apre, w->bpre, w->cscratch, w->amsg, w->bmsg,
                        Ah, Bh, grad);
    scale_rows(w->amsg, (size_t)nl * ly->msg_width, inv_sqrt_nu);
    scale_rows(w->bmsg, (size_t)nl * ly->msg_width, inv_sqrt_nu);
    conv_reverse(w, rad, t, grad, knot_grad);
    st = up_project_adjoint(m, ly, g, h, w->ax, Ah, grad, err);
    if (!st) st = up_project_adjoint(m, ly, g, hd, w->bx, Bh, grad, err);
    if (t > 0) {
      zero_ghosts(w, Ah);
      zero_ghosts(w, Bh);
    } else if (!st) {
      /* h^(0) is the embedding; its tangent is zero, so only A reaches it */
      for (int i = 0; i < nt; ++i)
        if (g->species[i] >= 0)
          for (int c = 0; c < m->h.channels; ++c)
            grad[m->embedding + (size_t)g->species[i] * m->h.channels + c] += Ah[(size_t)i * F + c];
    }
    double *tmp = An;
    An = Ah, Ah = tmp;
    tmp = Bn, Bn = Bh, Bh = tmp;
  }
  return st;
}

/* The passes are serial: the dense per-atom operations they share with the core open OpenMP regions, which here
 * are given one thread (inside a trainer's parallel region they would have one anyway, and outside one a team would
 * only contend with the caller's own threads). */
nnp_status nnp_train_forces(const nnp_model *m, nnp_train_workspace *w, const nnp_train_radial *rad, const nnp_graph *g,
                            double *energy, double *forces, nnp_error *err) {
  if (!m || !w || !rad || !g || !energy) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_train_forces: NULL argument");
  return forces_pass(m, w, rad, g, energy, forces, err);
}

nnp_status nnp_train_gradient(const nnp_model *m, nnp_train_workspace *w, const nnp_train_radial *rad,
                              const nnp_graph *g, const double *v, double w_energy, double w_dir, double *grad,
                              double *knot_grad, nnp_error *err) {
  if (!m || !w || !rad || !g || !v || !grad || (rad->tables && !knot_grad))
    return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_train_gradient: NULL argument");
  return gradient_pass(m, w, rad, g, v, w_energy, w_dir, grad, knot_grad, err);
}
