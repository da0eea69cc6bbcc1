/* Per-atom dense operations, forward and adjoint side by side: up-projection, down-projection with
 * species-dependent self-connection, gate with residual, and the readout (docs/model.md, layer steps 1, 3-5).
 * Atom-wide products go through BLAS, one GEMM per (degree, m) since those rows are evenly strided. */
#include "nnp_internal.h"

#include <cblas.h>
#include <string.h>

/* C[n x mc] = op(A) op(B) + beta C over rows [0, n), in blocks of a fixed number of rows shared among the OpenMP
 * threads, one BLAS call per block: the caller's threads do the work (BLAS runs single-threaded inside them, see
 * workspace.c), and the blocks do not depend on the thread count, so neither do the results (bitwise). */
#define GEMM_ROW_BLOCK 128

static void gemm_rows(int n_threads, CBLAS_TRANSPOSE tb, int n, int mc, int k, const double *A, int lda,
                      const double *B, int ldb, double beta, double *C, int ldc) {
  if (n <= 0) return;
  const int n_blocks = (n + GEMM_ROW_BLOCK - 1) / GEMM_ROW_BLOCK;
#pragma omp parallel for schedule(dynamic) num_threads(n_threads)
  for (int b = 0; b < n_blocks; ++b) {
    const int lo = b * GEMM_ROW_BLOCK, rows = n - lo < GEMM_ROW_BLOCK ? n - lo : GEMM_ROW_BLOCK;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, rows, mc, k, 1.0, A + (size_t)lo * lda, lda, B, ldb, beta,
                C + (size_t)lo * ldc, ldc);
  }
}

/* X[:, l, m, :] = H[:, l, m, :] U_l^T for rows [0, n), degrees 0..lin; rows are atom feature vectors */
void nnp_up_forward(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const double *h, double *x) {
  const int C = m->h.channels, F = m->feature_width;
  if (n == 0) return;
  for (int l = 0; l <= ly->lin; ++l)
    for (int mm = 0; mm < 2 * l + 1; ++mm) {
      size_t off = (size_t)C * l * l + (size_t)mm * C;
      gemm_rows(n_threads, CblasTrans, n, C, C, h + off, F, m->params + ly->up[l], C, 0.0, x + off, F);
    }
}

/* dH += dX U_l, and (optionally) dU_l += dX^T H */
void nnp_up_adjoint(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const double *h, const double *dx,
                    double *dh, double *grad) {
  const int C = m->h.channels, F = m->feature_width;
  if (n == 0) return;
  for (int l = 0; l <= ly->lin; ++l)
    for (int mm = 0; mm < 2 * l + 1; ++mm) {
      size_t off = (size_t)C * l * l + (size_t)mm * C;
      gemm_rows(n_threads, CblasNoTrans, n, C, C, dx + off, F, m->params + ly->up[l], C, 1.0, dh + off, F);
      if (grad)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, C, n, 1.0, dx + off, F, h + off, F, 1.0,
                    grad + ly->up[l], C);
    }
}

/* pre = down(msg) + self(h): rows [0, n) of the local atoms */
void nnp_down_forward(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const int *species,
                      const double *msg, const double *h, double *pre) {
  const int C = m->h.channels, F = m->feature_width;
  if (n == 0) return;
  for (int l = 0; l <= ly->lout; ++l) {
    const int cout = ly->c_out[l], kin = ly->l3_count[l] * C;
    for (int mm = 0; mm < 2 * l + 1; ++mm)
      gemm_rows(n_threads, CblasTrans, n, cout, kin, msg + ly->msg_offset[l] + mm * kin, ly->msg_width,
                m->params + ly->down[l], kin, 0.0, pre + ly->pre_offset[l] + mm * cout, ly->pre_width);
  }
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0) continue;
    for (int l = 0; l <= ly->lout && l <= ly->lin; ++l) {
      const int cout = ly->c_out[l];
      const double *K = m->params + ly->self[l] + (size_t)species[i] * cout * C;
      for (int mm = 0; mm < 2 * l + 1; ++mm) {
        const double *hr = h + (size_t)i * F + C * l * l + mm * C;
        double *p = pre + (size_t)i * ly->pre_width + ly->pre_offset[l] + mm * cout;
        for (int d = 0; d < cout; ++d) {
          double s = 0.0;
          for (int c = 0; c < C; ++c) s += K[(size_t)d * C + c] * hr[c];
          p[d] += s;
        }
      }
    }
  }
}

void nnp_down_adjoint(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const int *species,
                      const double *msg, const double *h, const double *dpre, double *dmsg, double *dh, double *grad) {
  const int C = m->h.channels, F = m->feature_width;
  if (n == 0) return;
  for (int l = 0; l <= ly->lout; ++l) {
    const int cout = ly->c_out[l], kin = ly->l3_count[l] * C;
    for (int mm = 0; mm < 2 * l + 1; ++mm) {
      const double *dp = dpre + ly->pre_offset[l] + mm * cout;
      gemm_rows(n_threads, CblasNoTrans, n, kin, cout, dp, ly->pre_width, m->params + ly->down[l], kin, 0.0,
                dmsg + ly->msg_offset[l] + mm * kin, ly->msg_width);
      if (grad)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cout, kin, n, 1.0, dp, ly->pre_width,
                    msg + ly->msg_offset[l] + mm * kin, ly->msg_width, 1.0, grad + ly->down[l], kin);
    }
  }
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0) continue;
    for (int l = 0; l <= ly->lout && l <= ly->lin; ++l) {
      const int cout = ly->c_out[l];
      const double *K = m->params + ly->self[l] + (size_t)species[i] * cout * C;
      for (int mm = 0; mm < 2 * l + 1; ++mm) {
        const double *dp = dpre + (size_t)i * ly->pre_width + ly->pre_offset[l] + mm * cout;
        double *restrict dhr = dh + (size_t)i * F + C * l * l + mm * C;
        for (int d = 0; d < cout; ++d) {
          const double *restrict Kd = K + (size_t)d * C;
          for (int c = 0; c < C; ++c) dhr[c] += dp[d] * Kd[c];
        }
      }
    }
  }
  if (!grad) return;
  /* species-dependent weights: serial over atoms so the sum order is fixed */
  for (int i = 0; i < n; ++i) {
    if (species[i] < 0) continue;
    for (int l = 0; l <= ly->lout && l <= ly->lin; ++l) {
      const int cout = ly->c_out[l];
      double *gK = grad + ly->self[l] + (size_t)species[i] * cout * C;
      for (int mm = 0; mm < 2 * l + 1; ++mm) {
        const double *dp = dpre + (size_t)i * ly->pre_width + ly->pre_offset[l] + mm * cout;
        const double *hr = h + (size_t)i * F + C * l * l + mm * C;
        for (int d = 0; d < cout; ++d)
          for (int c = 0; c < C; ++c) gK[(size_t)d * C + c] += dp[d] * hr[c];
      }
    }
  }
}

/* The gate of degree l >= 1 channels: sigmoid, or SiLU for `gate_activation silu` (docs/model.md, step 4) */
static inline double gate_act(const nnp_model *m, double x, double *d) {
  return m->h.options.gate_silu ? nnp_silu(x, d) : nnp_sigmoid(x, d);
}

/* h_next = h (where the degree exists in both, unless the layer has no residual) + gate(pre) */
void nnp_gate_forward(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const int *species,
                      const double *pre, const double *h, double *h_next) {
  const int C = m->h.channels, F = m->feature_width;
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int i = 0; i < n; ++i) {
    double *out = h_next + (size_t)i * F;
    memset(out, 0, (size_t)F * sizeof *out);
    if (species[i] < 0) continue;
    const double *p = pre + (size_t)i * ly->pre_width, *hi = h + (size_t)i * F;
    for (int c = 0; c < C; ++c) out[c] = nnp_silu(p[c], NULL);
    for (int l = 1; l <= ly->lout; ++l)
      for (int mm = 0; mm < 2 * l + 1; ++mm)
        for (int c = 0; c < C; ++c)
          out[C * l * l + mm * C + c] = gate_act(m, p[C + (l - 1) * C + c], NULL) * p[ly->pre_offset[l] + mm * C + c];
    if (!ly->residual) continue;
    const int lres = ly->lin < ly->lout ? ly->lin : ly->lout;
    for (int q = 0; q < C * NNP_NSH(lres); ++q) out[q] += hi[q];
  }
}

/* dpre from dh_next; dh (adjoint of h) = residual part of dh_next (overwritten) */
void nnp_gate_adjoint(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const int *species,
                      const double *pre, const double *dh_next, double *dpre, double *dh) {
  const int C = m->h.channels, F = m->feature_width;
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int i = 0; i < n; ++i) {
    double *dp = dpre + (size_t)i * ly->pre_width, *dhi = dh + (size_t)i * F;
    memset(dp, 0, (size_t)ly->pre_width * sizeof *dp);
    memset(dhi, 0, (size_t)F * sizeof *dhi);
    if (species[i] < 0) continue;
    const double *p = pre + (size_t)i * ly->pre_width, *d = dh_next + (size_t)i * F;
    for (int c = 0; c < C; ++c) {
      double ds;
      nnp_silu(p[c], &ds);
      dp[c] = ds * d[c];
    }
    for (int l = 1; l <= ly->lout; ++l)
      for (int mm = 0; mm < 2 * l + 1; ++mm)
        for (int c = 0; c < C; ++c) {
          const int gi = C + (l - 1) * C + c, vi = ly->pre_offset[l] + mm * C + c;
          double dsig, sig = gate_act(m, p[gi], &dsig);
          const double dout = d[C * l * l + mm * C + c];
          dp[vi] = sig * dout;
          dp[gi] += dsig * p[vi] * dout;
        }
    if (!ly->residual) continue;
    const int lres = ly->lin < ly->lout ? ly->lin : ly->lout;
    for (int q = 0; q < C * NNP_NSH(lres); ++q) dhi[q] = d[q];
  }
}

/* E_i = mu_s + sigma_s w . SiLU(V h0) (or w . V h0 with `readout_activation none`); also dE_i/dh0 into dh (degree-0
 * part; rest zeroed) when dh != NULL */
double nnp_readout(const nnp_model *m, int s, const double *h0, double *dh, double *grad, double *scratch) {
  const int C = m->h.channels, Cr = m->h.readout_hidden;
  const double *V = m->params + m->readout_hidden, *w = m->params + m->readout_out;
  double e = 0.0;
  double *dact = scratch; /* Cr */
  for (int k = 0; k < Cr; ++k) {
    double a = 0.0, ds;
    for (int c = 0; c < C; ++c) a += V[(size_t)k * C + c] * h0[c];
    double sa = m->h.options.readout_linear ? (ds = 1.0, a) : nnp_silu(a, &ds);
    e += w[k] * sa;
    dact[k] = ds;
    if (grad) grad[m->readout_out + k] += m->h.energy_scale[s] * sa;
  }
  const double sigma = m->h.energy_scale[s];
  if (dh) {
    memset(dh, 0, (size_t)m->feature_width * sizeof *dh);
    for (int k = 0; k < Cr; ++k) {
      const double g = sigma * w[k] * dact[k];
      for (int c = 0; c < C; ++c) dh[c] += g * V[(size_t)k * C + c];
      if (grad)
        for (int c = 0; c < C; ++c) grad[m->readout_hidden + (size_t)k * C + c] += g * h0[c];
    }
  }
  return m->h.energy_shift[s] + sigma * e;
}
