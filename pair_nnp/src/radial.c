/* Radial functions: Bessel basis with a polynomial cutoff envelope, and the radial MLP (forward, forward-mode
 * tangent d/dr, and the parameter gradient). Weight matrices are (out x in) as in the file; the forward products
 * take transposed copies (in x out), so that every product is a plain row-major GEMM. */
#include "nnp_internal.h"

#include <cblas.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

double nnp_envelope(double x, int p, double *dfdx) {
  if (x >= 1.0) {
    if (dfdx) *dfdx = 0.0;
    return 0.0;
  }
  double xp1 = 1.0; /* x^(p-1) by multiplication: p is a small integer */
  for (int k = 1; k < p; ++k) xp1 *= x;
  double xp = xp1 * x;
  double a = 0.5 * (p + 1) * (p + 2), b = (double)p * (p + 2), c = 0.5 * p * (p + 1);
  if (dfdx) *dfdx = -0.5 * p * (p + 1) * (p + 2) * xp1 * (1.0 - x) * (1.0 - x);
  return 1.0 - a * xp + b * xp * x - c * xp * x * x;
}

void nnp_bessel_basis(int n_basis, const double *freq, int p, double rc, double r, double *b, double *db) {
  double dfdx, f = nnp_envelope(r / rc, p, &dfdx);
  double df = dfdx / rc, pref = sqrt(2.0 / rc), inv_r = 1.0 / r;
  if (freq) { /* a model's own frequencies (an imported NequIP model's trained Bessel weights) */
    for (int n = 0; n < n_basis; ++n) {
      const double k = freq[n] / rc, s = sin(k * r), c = cos(k * r);
      double g = pref * s * inv_r, dg = pref * (k * c - s * inv_r) * inv_r;
      b[n] = g * f;
      if (db) db[n] = dg * f + g * df;
    }
    return;
  }
  /* sin(n a), cos(n a) by the angle-addition recurrence from one sin/cos pair (a = pi r / rc) */
  const double a = NNP_PI * r / rc, s1 = sin(a), c1 = cos(a);
  double s = s1, c = c1;
  for (int n = 1; n <= n_basis; ++n) {
    if (n > 1) {
      const double sn = s * c1 + c * s1, cn = c * c1 - s * s1;
      s = sn, c = cn;
    }
    const double k = n * NNP_PI / rc;
    double g = pref * s * inv_r, dg = pref * (k * c - s * inv_r) * inv_r;
    b[n - 1] = g * f;
    if (db) db[n - 1] = dg * f + g * df;
  }
}

size_t nnp_mlp_tape_size(const nnp_model *m, int n_rows) {
  size_t per_row = (size_t)m->h.radial_basis;
  for (int k = 0; k < m->h.n_radial_hidden; ++k) per_row += 2 * (size_t)m->h.radial_hidden[k];
  return per_row * (size_t)n_rows;
}

void nnp_mlp_tape_bind(const nnp_model *m, nnp_mlp_tape *tape, double *buf, int n_rows) {
  tape->has_dsilu = 0;
  tape->n_rows = n_rows;
  tape->act[0] = buf;
  buf += (size_t)n_rows * m->h.radial_basis;
  for (int k = 0; k < m->h.n_radial_hidden; ++k) {
    tape->pre[k] = buf;
    buf += (size_t)n_rows * m->h.radial_hidden[k];
    tape->act[k + 1] = buf;
    buf += (size_t)n_rows * m->h.radial_hidden[k];
  }
}

/* The radial MLP's products (edges x widths) go through BLAS, single-threaded inside the caller's thread. */
void nnp_gemm_nn(int n, int mcols, int k, const double *A, int lda, const double *B, int ldb, double *C, int ldc,
                 int accumulate) {
  if (n <= 0 || mcols <= 0) return;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, mcols, k, 1.0, A, lda, B, ldb, accumulate ? 1.0 : 0.0, C,
              ldc);
}

void nnp_radial_mlp(const nnp_model *m, const nnp_layer *ly, const double *const *wt, nnp_mlp_tape *tape, int n,
                    int with_tangent, double *R, double *Rdot) {
  const int K = m->h.n_radial_hidden, P = ly->n_paths * m->h.channels;
  const int rows = with_tangent ? 2 * n : n;
  int in = m->h.radial_basis;
  for (int k = 0; k < K; ++k) {
    const int out = m->h.radial_hidden[k];
    double *pre = tape->pre[k], *act = tape->act[k + 1];
    /* value rows [0,n) and tangent rows [n,2n) go through the same linear map */
    nnp_gemm_nn(rows, out, in, tape->act[k], in, wt[k], out, pre, out, 0);
    for (size_t q = 0; q < (size_t)n * out; ++q) {
      double ds, s = nnp_silu(pre[q], with_tangent ? &ds : NULL);
      act[q] = s;
      if (with_tangent) {
        act[(size_t)n * out + q] = ds * pre[(size_t)n * out + q];
        pre[(size_t)n * out + q] = ds; /* the tangent pre-activation is spent; keep SiLU' for the gradient pass */
      }
    }
    in = out;
  }
  tape->has_dsilu = with_tangent;
  nnp_gemm_nn(n, P, in, tape->act[K], in, wt[K], P, R, P, 0);
  if (with_tangent) nnp_gemm_nn(n, P, in, tape->act[K] + (size_t)n * in, in, wt[K], P, Rdot, P, 0);
}

/* grad(W) += delta^T act for delta (n x out), act (n x in), W (out x in) */
static void outer_accumulate(int n, int out, int in, const double *delta, const double *act, double *gW) {
  if (n <= 0) return;
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0, delta, out, act, in, 1.0, gW, in);
}

void nnp_radial_mlp_param_grad(const nnp_model *m, const nnp_layer *ly, const nnp_mlp_tape *tape, int n,
                               const double *dR, double *scratch, double *grad) {
  const int K = m->h.n_radial_hidden, P = ly->n_paths * m->h.channels;
  const double *W = m->params;
  int width = m->h.radial_hidden[K - 1];
  outer_accumulate(n, P, width, dR, tape->act[K], grad + ly->radial_out);
  /* delta of the last hidden activation: dR W_out, W_out is (P x width) */
  int maxw = m->h.radial_basis;
  for (int k = 0; k < K; ++k) maxw = m->h.radial_hidden[k] > maxw ? m->h.radial_hidden[k] : maxw;
  double *delta = scratch, *next = scratch + (size_t)n * maxw;
  nnp_gemm_nn(n, width, P, dR, P, W + ly->radial_out, width, delta, width, 0);
  for (int k = K - 1; k >= 0; --k) {
    const int out = m->h.radial_hidden[k], in = k == 0 ? m->h.radial_basis : m->h.radial_hidden[k - 1];
    if (tape->has_dsilu) {
      const double *ds = tape->pre[k] + (size_t)n * out;
      for (size_t q = 0; q < (size_t)n * out; ++q) delta[q] *= ds[q];
    } else {
      for (size_t q = 0; q < (size_t)n * out; ++q) {
        double ds;
        nnp_silu(tape->pre[k][q], &ds);
        delta[q] *= ds;
      }
    }
    outer_accumulate(n, out, in, delta, tape->act[k], grad + ly->radial[k]);
    if (k == 0) break;
    nnp_gemm_nn(n, in, out, delta, out, W + ly->radial[k], in, next, in, 0);
    double *tmp = delta;
    delta = next;
    next = tmp;
  }
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Tabulated radial functions: R(r) depends on r and the pair cutoff only, so for MD we sample R and dR/dr exactly
 * on a uniform grid and interpolate with cubic Hermite polynomials (C1, error O(h^4) in R and O(h^3) in dR/dr). */

void nnp_radial_table_free(nnp_radial_table *tab) {
  if (!tab) return;
  free(tab->coef);
  free(tab->coef_f);
  tab->coef = NULL;
  tab->coef_f = NULL;
}

/* Largest difference between the table and the exact radial functions at the middle of the intervals (where a cubic
 * Hermite interpolant's error, h^4 t^2 (1-t)^2 f^(4) / 24, peaks), relative to the largest |R| at the knots. Uses
 * the tape buffer (>= 2 (n+1) rows) and R (>= (n+1) x P) as scratch. */
static double table_midpoint_error(const nnp_model *m, const nnp_layer *ly, const double *const *wt, double rc,
                                   const nnp_radial_table *tab, nnp_mlp_tape *tape, double *tape_buf, double *R) {
  const int n = tab->n_intervals, P = tab->width, nb = m->h.radial_basis;
  double scale = 0.0, worst = 0.0;
  for (int k = 0; k < n; ++k)
    for (int q = 0; q < P; ++q) scale = fmax(scale, fabs(tab->coef[(size_t)k * 4 * P + q]));
  nnp_mlp_tape_bind(m, tape, tape_buf, n);
  for (int k = 0; k < n; ++k)
    nnp_bessel_basis(nb, nnp_radial_frequencies(&m->h), m->h.envelope_p, rc, tab->r_lo + (k + 0.5) * tab->step,
                     tape->act[0] + (size_t)k * nb, NULL);
  nnp_radial_mlp(m, ly, wt, tape, n, 0, R, NULL);
  for (int k = 0; k < n; ++k) {
    const double *c = tab->coef + (size_t)k * 4 * P;
    for (int q = 0; q < P; ++q) {
      const double mid = c[q] + 0.5 * (c[P + q] + 0.5 * (c[2 * P + q] + 0.5 * c[3 * P + q]));
      worst = fmax(worst, fabs(mid - R[(size_t)k * P + q]));
    }
  }
  return scale > 0.0 ? worst / scale : worst;
}

nnp_status nnp_radial_table_build(const nnp_model *m, const nnp_layer *ly, const double *const *wt, double rc,
                                  double step, nnp_radial_table *tab, nnp_error *err) {
  const int P = ly->n_paths * m->h.channels, nb = m->h.radial_basis;
  const double r_lo = m->h.r_min > 0.05 ? m->h.r_min : 0.05;
  const int n = (int)ceil((rc - r_lo) / step);
  memset(tab, 0, sizeof *tab);
  if (n < 1 || n > 10000000) return nnp_fail(err, NNP_ERR_ARGUMENT, "radial table step %g A is unusable", step);
  tab->r_lo = r_lo;
  tab->step = step;
  tab->inv_step = 1.0 / step;
  tab->n_intervals = n;
  tab->width = P;
  tab->coef = malloc((size_t)n * 4 * P * sizeof *tab->coef);
  tab->coef_f = malloc((size_t)n * 4 * P * sizeof *tab->coef_f);
  double *tape_buf = malloc(nnp_mlp_tape_size(m, 2 * (n + 1)) * sizeof(double));
  double *R = malloc((size_t)(n + 1) * P * sizeof(double)), *Rd = malloc((size_t)(n + 1) * P * sizeof(double));
  nnp_status st = NNP_OK;
  if (!tab->coef || !tab->coef_f || !tape_buf || !R || !Rd) {
    st = nnp_fail(err, NNP_ERR_NOMEM, "out of memory tabulating the radial functions");
    goto done;
  }
  nnp_mlp_tape tape;
  nnp_mlp_tape_bind(m, &tape, tape_buf, 2 * (n + 1));
  for (int k = 0; k <= n; ++k)
    nnp_bessel_basis(nb, nnp_radial_frequencies(&m->h), m->h.envelope_p, rc, r_lo + k * step,
                     tape.act[0] + (size_t)k * nb, tape.act[0] + (size_t)(n + 1 + k) * nb);
  nnp_radial_mlp(m, ly, wt, &tape, n + 1, 1, R, Rd);
  for (int k = 0; k < n; ++k) {
    double *c = tab->coef + (size_t)k * 4 * P;
    const double *p0 = R + (size_t)k * P, *p1 = p0 + P, *d0 = Rd + (size_t)k * P, *d1 = d0 + P;
    for (int q = 0; q < P; ++q) {
      const double m0 = step * d0[q], m1 = step * d1[q];
      c[q] = p0[q];
      c[P + q] = m0;
      c[2 * P + q] = 3.0 * (p1[q] - p0[q]) - 2.0 * m0 - m1;
      c[3 * P + q] = 2.0 * (p0[q] - p1[q]) + m0 + m1;
    }
  }
  for (size_t q = 0; q < (size_t)n * 4 * P; ++q) tab->coef_f[q] = (float)tab->coef[q];

  tab->rel_error = table_midpoint_error(m, ly, wt, rc, tab, &tape, tape_buf, R);
  if (!(tab->rel_error <= NNP_TABLE_MAX_REL_ERROR)) {
    /* the interpolation error of a cubic Hermite table falls as step^4: suggest a step that meets the bound */
    const double ok_step = step * pow(NNP_TABLE_MAX_REL_ERROR / tab->rel_error, 0.25) * 0.9;
    st = nnp_fail(err, NNP_ERR_ARGUMENT,
                  "radial table step %g A is too coarse for the cutoff %g A: the tables would be off by %.2g of the "
                  "radial functions' range (at most %g allowed); use a step of at most about %.2g A, or 0 (exact)",
                  step, rc, tab->rel_error, NNP_TABLE_MAX_REL_ERROR, ok_step);
  }
done:
  free(tape_buf);
  free(R);
  free(Rd);
  if (st) nnp_radial_table_free(tab);
  return st;
}

NNP_HOT void nnp_radial_table_eval(const nnp_radial_table *tab, double r, double *restrict R, double *restrict Rdot) {
  double x = (r - tab->r_lo) * tab->inv_step; /* no division per edge and layer */
  int k = (int)x;
  if (k < 0) k = 0;
  if (k >= tab->n_intervals) k = tab->n_intervals - 1;
  const double t = x - k, inv_h = tab->inv_step;
  const int P = tab->width;
  const double *restrict a = tab->coef + (size_t)k * 4 * P, *restrict b = a + P, *restrict c = b + P,
                         *restrict d = c + P;
  if (!Rdot) {
#pragma omp simd
    for (int q = 0; q < P; ++q) R[q] = a[q] + t * (b[q] + t * (c[q] + t * d[q]));
    return;
  }
  /* one pass over the coefficients for both */
#pragma omp simd
  for (int q = 0; q < P; ++q) {
    R[q] = a[q] + t * (b[q] + t * (c[q] + t * d[q]));
    Rdot[q] = (b[q] + t * (2.0 * c[q] + 3.0 * t * d[q])) * inv_h;
  }
}

/* The same in float32 from the rounded coefficients (single-precision evaluation); t, the position inside the
 * interval, is computed in float64 so that the knot index and offset are exact whatever the table's length. */
NNP_HOT void nnp_radial_table_eval_f(const nnp_radial_table *tab, double r, float *restrict R, float *restrict Rdot) {
  double x = (r - tab->r_lo) * tab->inv_step; /* no division per edge and layer */
  int k = (int)x;
  if (k < 0) k = 0;
  if (k >= tab->n_intervals) k = tab->n_intervals - 1;
  const float t = (float)(x - k), inv_h = (float)tab->inv_step;
  const int P = tab->width;
  const float *restrict a = tab->coef_f + (size_t)k * 4 * P, *restrict b = a + P, *restrict c = b + P,
                        *restrict d = c + P;
  if (!Rdot) {
#pragma omp simd
    for (int q = 0; q < P; ++q) R[q] = a[q] + t * (b[q] + t * (c[q] + t * d[q]));
    return;
  }
#pragma omp simd
  for (int q = 0; q < P; ++q) {
    R[q] = a[q] + t * (b[q] + t * (c[q] + t * d[q]));
    Rdot[q] = (b[q] + t * (2.0f * c[q] + 3.0f * t * d[q])) * inv_h;
  }
}
