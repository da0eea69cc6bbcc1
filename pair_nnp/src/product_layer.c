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

size_t nnp_combine_scratch_width(const nnp_model *m) {
  if (!is_product(m)) return 0;
  size_t widest = 0;
  for (int t = 0; t < m->h.layers; ++t)
    if (message_width(m, t) > widest) widest = message_width(m, t);
  return basis_width(m) + widest;
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

void nnp_combine_forward(const nnp_model *m, int t, int n, const int *species, const double *msg, const double *h,
                         double *store, double *pre) {
  const nnp_layer *ly = &m->layers[t];
  if (!is_product(m)) {
    nnp_down_forward(m, ly, n, species, msg, h, pre);
    return;
  }
  if (n == 0) return;
  const nnp_product_layer *pl = &m->product_layers[t];
  const size_t wa = basis_width(m), wm = message_width(m, t);
  double *A = store, *pm = store + (size_t)n * wa;
  nnp_down_forward(m, &pl->mix, n, species, msg, msg, A); /* 3a (lin = -1: no self-connection, h unused) */
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0)
      memset(pm + (size_t)i * wm, 0, wm * sizeof *pm);
    else
      products_forward(m, t, species[i], A + (size_t)i * wa, pm + (size_t)i * wm);
  }
  nnp_down_forward(m, &pl->down, n, species, pm, h, pre); /* 3d */
}

void nnp_combine_adjoint(const nnp_model *m, int t, int n, const int *species, const double *msg, const double *h,
                         const double *store, const double *dpre, double *scratch, double *dmsg, double *dh,
                         double *grad) {
  const nnp_layer *ly = &m->layers[t];
  if (!is_product(m)) {
    nnp_down_adjoint(m, ly, n, species, msg, h, dpre, dmsg, dh, grad);
    return;
  }
  if (n == 0) return;
  const nnp_product_layer *pl = &m->product_layers[t];
  const size_t wa = basis_width(m), wm = message_width(m, t);
  const double *A = store, *pm = store + (size_t)n * wa;
  double *dA = scratch, *dpm = scratch + (size_t)n * wa;
  nnp_down_adjoint(m, &pl->down, n, species, pm, h, dpre, dpm, dh, grad);
  /* the weights are per species, so with a parameter gradient the atoms add to shared rows: serial, in atom order,
   * so that the sums do not depend on the thread count */
#pragma omp parallel for schedule(static) if (!grad)
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0)
      memset(dA + (size_t)i * wa, 0, wa * sizeof *dA);
    else
      products_adjoint(m, t, species[i], A + (size_t)i * wa, dpm + (size_t)i * wm, dA + (size_t)i * wa, grad);
  }
  nnp_down_adjoint(m, &pl->mix, n, species, msg, msg, dA, dmsg, NULL, grad); /* dmsg overwritten */
}
