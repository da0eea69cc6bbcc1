/* Layer step 3, forward and adjoint side by side, for either interaction family (docs/model.md, "Layers" and "The
 * product family"). The tensor family's step 3 is the down-projection plus self-connection of linear.c. The product
 * family's is
 *   3a  atomic basis      A = mix(messages)                 (a down-projection without self-connection: linear.c)
 *   3b  product basis     B^q = symmetric products of A      (per atom and channel, the sparse entries of
 *   3c  message           m^J = sum_q W[s_i, q] B^q           product_coupling.c; here)
 *   3d  down + self       pre = down(m) + self(h)            (linear.c)
 * The work is per atom (no sum over neighbours); the convolution before it is shared with the tensor family. */
#include "nnp_internal.h"

#include <string.h>

static int is_product(const nnp_model *m) { return m->product_layers != NULL; }

/* A of every local atom, then its messages m^J: the two inputs the adjoint's dense steps read */
static size_t basis_width(const nnp_model *m) { return (size_t)m->h.channels * NNP_NSH(m->h.l_max); }
static size_t message_width(const nnp_model *m, int t) { return (size_t)m->product_layers[t].down.msg_width; }

size_t nnp_combine_store_width(const nnp_model *m, int t) {
  return is_product(m) ? basis_width(m) + message_width(m, t) : 0;
}

/* room for two adjoints of A and of the messages (the reverse sweep of training carries two) */
size_t nnp_combine_scratch_width(const nnp_model *m) {
  if (!is_product(m)) return 0;
  size_t widest = 0;
  for (int t = 0; t < m->h.layers; ++t)
    if (message_width(m, t) > widest) widest = message_width(m, t);
  return 2 * (basis_width(m) + widest);
}

/* 3b-3c for one atom of species s: m^J[M, c] = sum over the entries (q, M, alpha, v) of Q_J of
 * W[s, q, c] v A[alpha_1, c] ... A[alpha_n, c], for J = 0..lout. A is (L+1)^2 x C, msg (lout+1)^2 x C. */
static void products_forward(const nnp_model *m, int t, int s, const double *A, double *msg) {
  const int C = m->h.channels, lout = m->layers[t].lout;
  memset(msg, 0, (size_t)C * NNP_NSH(lout) * sizeof *msg);
  for (int J = 0; J <= lout; ++J) {
    const nnp_product_basis *pb = &m->product_basis[J];
    const double *W = m->params + m->product_layers[t].product[J] + (size_t)s * pb->n_products * C;
    double *out = msg + (size_t)C * J * J;
    for (int k = 0; k < pb->n_entries; ++k) {
      const nnp_product_entry *e = &pb->entries[k];
      const int n = pb->products[e->product].n;
      const double v = e->value, *w = W + (size_t)e->product * C;
      const double *a0 = A + (size_t)e->alpha[0] * C, *a1 = n > 1 ? A + (size_t)e->alpha[1] * C : a0;
      const double *a2 = n > 2 ? A + (size_t)e->alpha[2] * C : a0, *a3 = n > 3 ? A + (size_t)e->alpha[3] * C : a0;
      double *restrict o = out + (size_t)e->M * C;
      switch (n) {
      case 1:
        for (int c = 0; c < C; ++c) o[c] += v * w[c] * a0[c];
        break;
      case 2:
        for (int c = 0; c < C; ++c) o[c] += v * w[c] * a0[c] * a1[c];
        break;
      case 3:
        for (int c = 0; c < C; ++c) o[c] += v * w[c] * a0[c] * a1[c] * a2[c];
        break;
      default:
        for (int c = 0; c < C; ++c) o[c] += v * w[c] * a0[c] * a1[c] * a2[c] * a3[c];
        break;
      }
    }
  }
}

/* Adjoint of products_forward for one atom: dA (overwritten) from dmsg; when gW is not NULL, the gradient of the
 * atom's product weights is added to gW (indexed like the parameters, the atom's species row). Each factor's
 * derivative is the product of the others (repeated factors are handled by the product rule, one term each). */
static void products_adjoint(const nnp_model *m, int t, int s, const double *A, const double *dmsg, double *dA,
                             double *grad) {
  const int C = m->h.channels, lout = m->layers[t].lout;
  memset(dA, 0, basis_width(m) * sizeof *dA);
  for (int J = 0; J <= lout; ++J) {
    const nnp_product_basis *pb = &m->product_basis[J];
    const size_t row = m->product_layers[t].product[J] + (size_t)s * pb->n_products * C;
    const double *W = m->params + row;
    double *gW = grad ? grad + row : NULL;
    const double *dm = dmsg + (size_t)C * J * J;
    for (int k = 0; k < pb->n_entries; ++k) {
      const nnp_product_entry *e = &pb->entries[k];
      const int n = pb->products[e->product].n;
      const double v = e->value, *w = W + (size_t)e->product * C, *d = dm + (size_t)e->M * C;
      const double *a[NNP_MAX_CORRELATION];
      double *da[NNP_MAX_CORRELATION];
      for (int f = 0; f < n; ++f) {
        a[f] = A + (size_t)e->alpha[f] * C;
        da[f] = dA + (size_t)e->alpha[f] * C;
      }
      double *gw = gW ? gW + (size_t)e->product * C : NULL;
      for (int c = 0; c < C; ++c) {
        const double g = v * d[c]; /* dE/d(v prod A) per unit weight */
        const double gw_c = g * w[c];
        switch (n) {
        case 1:
          da[0][c] += gw_c;
          if (gw) gw[c] += g * a[0][c];
          break;
        case 2:
          da[0][c] += gw_c * a[1][c];
          da[1][c] += gw_c * a[0][c];
          if (gw) gw[c] += g * a[0][c] * a[1][c];
          break;
        case 3: {
          const double p01 = a[0][c] * a[1][c];
          da[0][c] += gw_c * a[1][c] * a[2][c];
          da[1][c] += gw_c * a[0][c] * a[2][c];
          da[2][c] += gw_c * p01;
          if (gw) gw[c] += g * p01 * a[2][c];
          break;
        }
        default: {
          const double p01 = a[0][c] * a[1][c], p23 = a[2][c] * a[3][c];
          da[0][c] += gw_c * a[1][c] * p23;
          da[1][c] += gw_c * a[0][c] * p23;
          da[2][c] += gw_c * p01 * a[3][c];
          da[3][c] += gw_c * p01 * a[2][c];
          if (gw) gw[c] += g * p01 * p23;
          break;
        }
        }
      }
    }
  }
}

void nnp_combine_forward(const nnp_model *m, int t, int n_threads, int n, const int *species, const double *msg,
                         const double *h, double *store, double *pre) {
  const nnp_layer *ly = &m->layers[t];
  if (!is_product(m)) {
    nnp_down_forward(m, ly, n_threads, n, species, msg, h, pre);
    return;
  }
  if (n == 0) return;
  const nnp_product_layer *pl = &m->product_layers[t];
  const size_t wa = basis_width(m), wm = message_width(m, t);
  double *A = store, *pm = store + (size_t)n * wa;
  nnp_down_forward(m, &pl->mix, n_threads, n, species, msg, msg, A); /* 3a (lin = -1: no self-connection, h unused) */
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0)
      memset(pm + (size_t)i * wm, 0, wm * sizeof *pm);
    else
      products_forward(m, t, species[i], A + (size_t)i * wa, pm + (size_t)i * wm);
  }
  nnp_down_forward(m, &pl->down, n_threads, n, species, pm, h, pre); /* 3d */
}

void nnp_combine_adjoint(const nnp_model *m, int t, int n_threads, int n, const int *species, const double *msg,
                         const double *h, const double *store, const double *dpre, double *scratch, double *dmsg,
                         double *dh, double *grad) {
  const nnp_layer *ly = &m->layers[t];
  if (!is_product(m)) {
    nnp_down_adjoint(m, ly, n_threads, n, species, msg, h, dpre, dmsg, dh, grad);
    return;
  }
  if (n == 0) return;
  const nnp_product_layer *pl = &m->product_layers[t];
  const size_t wa = basis_width(m), wm = message_width(m, t);
  const double *A = store, *pm = store + (size_t)n * wa;
  double *dA = scratch, *dpm = scratch + (size_t)n * wa;
  nnp_down_adjoint(m, &pl->down, n_threads, n, species, pm, h, dpre, dpm, dh, grad);
  /* the weights are per species, so with a parameter gradient the atoms add to shared rows: serial, in atom order,
   * so that the sums do not depend on the thread count */
#pragma omp parallel for schedule(static) num_threads(n_threads) if (!grad)
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0)
      memset(dA + (size_t)i * wa, 0, wa * sizeof *dA);
    else
      products_adjoint(m, t, species[i], A + (size_t)i * wa, dpm + (size_t)i * wm, dA + (size_t)i * wa, grad);
  }
  nnp_down_adjoint(m, &pl->mix, n_threads, n, species, msg, msg, dA, dmsg, NULL, grad); /* dmsg overwritten */
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Training (train_passes.c): the tangent of step 3 along a direction (msgd, hd), and the reverse sweep of the pair
 * (primal, tangent). Step 3a and 3d are linear, so their tangents and reverses are the plain products; the products
 * of 3b are not, and their reverse carries the second-derivative term. */

/* prod over the factors f of e except those in `skip` (a bit mask) for channel c */
static inline double factors_except(const double *const *a, int n, int c, int skip) {
  double p = 1.0;
  for (int f = 0; f < n; ++f)
    if (!(skip & (1 << f))) p *= a[f][c];
  return p;
}

static void entry_factors(const nnp_model *m, const nnp_product_entry *e, int n, const double *A, const double **a) {
  const int C = m->h.channels;
  for (int f = 0; f < n; ++f) a[f] = A + (size_t)e->alpha[f] * C;
}

/* msgd[M, c] = sum over entries of W[s, q, c] v sum_f Ad[alpha_f, c] prod_{f' != f} A[alpha_f', c] */
static void products_tangent(const nnp_model *m, int t, int s, const double *A, const double *Ad, double *msgd) {
  const int C = m->h.channels, lout = m->layers[t].lout;
  memset(msgd, 0, (size_t)C * NNP_NSH(lout) * sizeof *msgd);
  for (int J = 0; J <= lout; ++J) {
    const nnp_product_basis *pb = &m->product_basis[J];
    const double *W = m->params + m->product_layers[t].product[J] + (size_t)s * pb->n_products * C;
    for (int k = 0; k < pb->n_entries; ++k) {
      const nnp_product_entry *e = &pb->entries[k];
      const int n = pb->products[e->product].n;
      const double *a[NNP_MAX_CORRELATION], *ad[NNP_MAX_CORRELATION], *w = W + (size_t)e->product * C;
      entry_factors(m, e, n, A, a);
      entry_factors(m, e, n, Ad, ad);
      double *o = msgd + (size_t)C * J * J + (size_t)e->M * C;
      for (int c = 0; c < C; ++c) {
        double d = 0.0;
        for (int f = 0; f < n; ++f) d += ad[f][c] * factors_except(a, n, c, 1 << f);
        o[c] += e->value * w[c] * d;
      }
    }
  }
}

/* Reverse of (msg, msgd) = (P(A), P'(A) Ad) for one atom, given their adjoints (am, bm): aA = P'^T am + (P''[Ad])^T bm
 * and bA = P'^T bm (both overwritten), and the weights' gradient added to grad (the atom's species row). */
static void products_reverse(const nnp_model *m, int t, int s, const double *A, const double *Ad, const double *am,
                             const double *bm, double *aA, double *bA, double *grad) {
  const int C = m->h.channels, lout = m->layers[t].lout;
  memset(aA, 0, basis_width(m) * sizeof *aA);
  memset(bA, 0, basis_width(m) * sizeof *bA);
  for (int J = 0; J <= lout; ++J) {
    const nnp_product_basis *pb = &m->product_basis[J];
    const size_t row = m->product_layers[t].product[J] + (size_t)s * pb->n_products * C;
    const double *W = m->params + row;
    for (int k = 0; k < pb->n_entries; ++k) {
      const nnp_product_entry *e = &pb->entries[k];
      const int n = pb->products[e->product].n;
      const double *a[NNP_MAX_CORRELATION], *ad[NNP_MAX_CORRELATION], *w = W + (size_t)e->product * C;
      double *da[NNP_MAX_CORRELATION], *db[NNP_MAX_CORRELATION], *gw = grad + row + (size_t)e->product * C;
      entry_factors(m, e, n, A, a);
      entry_factors(m, e, n, Ad, ad);
      for (int f = 0; f < n; ++f) {
        da[f] = aA + (size_t)e->alpha[f] * C;
        db[f] = bA + (size_t)e->alpha[f] * C;
      }
      const double *dA = am + (size_t)C * J * J + (size_t)e->M * C, *dB = bm + (size_t)C * J * J + (size_t)e->M * C;
      for (int c = 0; c < C; ++c) {
        const double v = e->value, vw = v * w[c];
        double tangent = 0.0;
        for (int f = 0; f < n; ++f) {
          const double others = factors_except(a, n, c, 1 << f);
          tangent += ad[f][c] * others;
          double second = 0.0; /* d/dA_f of sum_g Ad_g prod_{f' != g} A_f' */
          for (int g = 0; g < n; ++g)
            if (g != f) second += ad[g][c] * factors_except(a, n, c, (1 << f) | (1 << g));
          da[f][c] += vw * (dA[c] * others + dB[c] * second);
          db[f][c] += vw * dB[c] * others;
        }
        gw[c] += v * (dA[c] * factors_except(a, n, c, 0) + dB[c] * tangent);
      }
    }
  }
}

void nnp_combine_tangent(const nnp_model *m, int t, int n_threads, int n, const int *species, const double *store,
                         const double *msgd, const double *hd, double *tstore, double *pred) {
  const nnp_layer *ly = &m->layers[t];
  if (!is_product(m)) {
    nnp_down_forward(m, ly, n_threads, n, species, msgd, hd, pred);
    return;
  }
  if (n == 0) return;
  const nnp_product_layer *pl = &m->product_layers[t];
  const size_t wa = basis_width(m), wm = message_width(m, t);
  const double *A = store;
  double *Ad = tstore, *pmd = tstore + (size_t)n * wa;
  nnp_down_forward(m, &pl->mix, n_threads, n, species, msgd, msgd, Ad);
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0)
      memset(pmd + (size_t)i * wm, 0, wm * sizeof *pmd);
    else
      products_tangent(m, t, species[i], A + (size_t)i * wa, Ad + (size_t)i * wa, pmd + (size_t)i * wm);
  }
  nnp_down_forward(m, &pl->down, n_threads, n, species, pmd, hd, pred);
}

void nnp_combine_reverse(const nnp_model *m, int t, int n_threads, int n, const int *species, const double *msg,
                         const double *h, const double *store, const double *msgd, const double *hd,
                         const double *tstore, const double *apre, const double *bpre, double *scratch, double *amsg,
                         double *bmsg, double *ah, double *bh, double *grad) {
  const nnp_layer *ly = &m->layers[t];
  if (!is_product(m)) {
    nnp_down_adjoint(m, ly, n_threads, n, species, msg, h, apre, amsg, ah, grad);
    nnp_down_adjoint(m, ly, n_threads, n, species, msgd, hd, bpre, bmsg, bh, grad);
    return;
  }
  if (n == 0) return;
  const nnp_product_layer *pl = &m->product_layers[t];
  const size_t wa = basis_width(m), wm = message_width(m, t);
  const double *A = store, *pm = store + (size_t)n * wa, *Ad = tstore, *pmd = tstore + (size_t)n * wa;
  double *aA = scratch, *bA = aA + (size_t)n * wa, *apm = bA + (size_t)n * wa, *bpm = apm + (size_t)n * wm;
  nnp_down_adjoint(m, &pl->down, n_threads, n, species, pm, h, apre, apm, ah, grad);
  nnp_down_adjoint(m, &pl->down, n_threads, n, species, pmd, hd, bpre, bpm, bh, grad);
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0) {
      memset(aA + (size_t)i * wa, 0, wa * sizeof *aA);
      memset(bA + (size_t)i * wa, 0, wa * sizeof *bA);
    } else {
      products_reverse(m, t, species[i], A + (size_t)i * wa, Ad + (size_t)i * wa, apm + (size_t)i * wm,
                       bpm + (size_t)i * wm, aA + (size_t)i * wa, bA + (size_t)i * wa, grad);
    }
  }
  nnp_down_adjoint(m, &pl->mix, n_threads, n, species, msg, msg, aA, amsg, NULL, grad);
  nnp_down_adjoint(m, &pl->mix, n_threads, n, species, msgd, msgd, bA, bmsg, NULL, grad);
}
