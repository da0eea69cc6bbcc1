/* The channel-wise tensor-product convolution of one edge (docs/model.md, layer step 2), forward and adjoint.
 * Layouts: x_j is an atom's feature row (degree l at offset C l^2, m-major, channel fastest); msg is the
 * receiver's message row (degree l3 block of (2 l3 + 1) rows of l3_count * C, path k of that degree at k * C).
 *
 * Per path the product is split as t[m3,c] = sum_entries G Y[m2] x[m1,c] followed by msg[m3,c] += R[c] t[m3,c], so
 * each coupling entry costs one fused multiply-add per channel; all inner loops run over channels and vectorise. */
#include "nnp_internal.h"

#include <string.h>

#include "tp_generated.h" /* tp_codegen.py: per-layer-type kernels with the coupling sparsity unrolled */

/* Matches a layer's paths and the sparsity of their coupling tensors against the generated layer k. */
static int layer_matches(const nnp_model *m, const nnp_layer *ly, int k) {
  const int *shape = gen_layer_shape[k], *pat = gen_layer_pattern[k];
  if (shape[0] != m->h.l_max || shape[1] != ly->lin || shape[2] != ly->lout || shape[3] != ly->n_paths) return 0;
  int q = 1;
  for (int p = 0; p < ly->n_paths; ++p) {
    const nnp_path *path = &ly->paths[p];
    if (pat[q] != path->l1 || pat[q + 1] != path->l2 || pat[q + 2] != path->l3 ||
        pat[q + 3] != path->cg_end - path->cg_begin)
      return 0;
    q += 4;
    for (int e = path->cg_begin; e < path->cg_end; ++e, q += 3) {
      const nnp_cg_entry *g = &m->cg[e];
      if (pat[q] != g->m1 || pat[q + 1] != g->m2 || pat[q + 2] != g->m3) return 0;
    }
  }
  return 1;
}

/* Channel counts the generated kernels are compiled for (each a separate unrolled copy; others run generic) */
static int generated_channels(int C) { return C == 8 || C == 16 || C == 32 || C == 64; }

void nnp_tp_bind(nnp_model *m) {
  for (int t = 0; t < m->h.layers; ++t) {
    nnp_layer *ly = &m->layers[t];
    ly->tp_kernel = -1;
    if (!generated_channels(m->h.channels)) continue;
    for (int k = 0; k < GEN_N_LAYERS && ly->tp_kernel < 0; ++k)
      if (layer_matches(m, ly, k)) ly->tp_kernel = k;
  }
}

/* t[m3][c] = sum over the path's entries of G Y[m2] x[m1][c]; entries come sorted by m3, the first of each row
 * assigns (coupling.c guarantees every row has one) */
static inline __attribute__((always_inline)) void path_product(const nnp_model *m, const nnp_path *path,
                                                               const double *restrict xin, const double *restrict Yl2,
                                                               double *restrict t, const int C) {
  for (int e = path->cg_begin; e < path->cg_end; ++e) {
    const nnp_cg_entry *g = &m->cg[e];
    const double coef = g->value * Yl2[g->m2];
    const double *restrict xr = xin + g->m1 * C;
    double *restrict tr = t + g->m3 * C;
    if (g->first) {
#pragma omp simd
      for (int c = 0; c < C; ++c) tr[c] = coef * xr[c];
    } else {
#pragma omp simd
      for (int c = 0; c < C; ++c) tr[c] += coef * xr[c];
    }
  }
}

static inline __attribute__((always_inline)) void tp_forward(const nnp_model *m, const nnp_layer *ly, const double *x_j,
                                                             const double *Y, const double *R, double *msg,
                                                             double *scratch, const int C) {
  double *t = scratch;
  for (int p = 0; p < ly->n_paths; ++p) {
    const nnp_path *path = &ly->paths[p];
    const int l3 = path->l3, stride = ly->l3_count[l3] * C;
    double *out = msg + ly->msg_offset[l3] + (p - ly->l3_first[l3]) * C;
    const double *restrict w = R + (size_t)p * C;
    path_product(m, path, x_j + C * path->l1 * path->l1, Y + path->l2 * path->l2, t, C);
    for (int m3 = 0; m3 < 2 * l3 + 1; ++m3) {
      double *restrict o = out + m3 * stride;
      const double *restrict tr = t + m3 * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) o[c] += w[c] * tr[c];
    }
  }
}

/* The adjoint of edge i <- j: dR and dY of the edge, and a feature adjoint. Unpaired, that is the sender's, dx_j +=
 * sum G Y[m2] R[c] dmsg_i[m3][c]. Paired, it is instead the receiver's own share as the sender of the reverse edge
 * j <- i (same r and R, Y(-u) = (-1)^l2 Y(u)): dx_i += sum G (-1)^l2 Y[m2] R[c] dmsg_j[m3][c], which keeps the sum in
 * a row the receiver's thread owns. */
static inline __attribute__((always_inline)) void tp_adjoint(const nnp_model *m, const nnp_layer *ly, const double *x_j,
                                                             const double *Y, const double *R, const double *dmsg,
                                                             const double *dmsg_rev, double *dx, double *dR,
                                                             double *dYv, double *scratch, const int C,
                                                             const int paired) {
  const int nsh = NNP_NSH(m->h.l_max);
  double *t = scratch, *u = t + (2 * NNP_MAX_L + 1) * C, *acc = u + (2 * NNP_MAX_L + 1) * C; /* acc: nsh x C */
  double *v = acc + (size_t)nsh * C;                                                         /* paired: w * dmsg_rev */
  memset(acc, 0, (size_t)nsh * C * sizeof *acc);
  for (int p = 0; p < ly->n_paths; ++p) {
    const nnp_path *path = &ly->paths[p];
    const int l3 = path->l3, stride = ly->l3_count[l3] * C;
    const int block = ly->msg_offset[l3] + (p - ly->l3_first[l3]) * C;
    const double *dout = dmsg + block, *drev = paired ? dmsg_rev + block : NULL;
    const double *xin = x_j + C * path->l1 * path->l1;
    double *dxin = dx + C * path->l1 * path->l1;
    const double parity = (path->l2 & 1) ? -1.0 : 1.0;
    const double *Yl2 = Y + path->l2 * path->l2;
    double *accl2 = acc + (size_t)path->l2 * path->l2 * C;
    const double *restrict w = R + (size_t)p * C;
    double *restrict dw = dR + (size_t)p * C;
    /* dR[c] = sum_m3 dout[m3,c] t[m3,c];  u = w * dout is the adjoint of t */
    path_product(m, path, xin, Yl2, t, C);
#pragma omp simd
    for (int c = 0; c < C; ++c) dw[c] = 0.0;
    for (int m3 = 0; m3 < 2 * l3 + 1; ++m3) {
      const double *restrict d = dout + m3 * stride, *restrict tr = t + m3 * C;
      double *restrict ur = u + m3 * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) {
        dw[c] += d[c] * tr[c];
        ur[c] = w[c] * d[c];
      }
      if (paired) {
        const double *restrict dr = drev + m3 * stride;
        double *restrict vr = v + m3 * C;
#pragma omp simd
        for (int c = 0; c < C; ++c) vr[c] = w[c] * dr[c];
      }
    }
    for (int e = path->cg_begin; e < path->cg_end; ++e) {
      const nnp_cg_entry *g = &m->cg[e];
      const double coef = g->value * Yl2[g->m2], gv = g->value;
      const double coef_dx = paired ? parity * coef : coef; /* the feature adjoint's coefficient and source */
      const double *restrict xr = xin + g->m1 * C, *restrict ur = u + g->m3 * C;
      const double *restrict sr = (paired ? v : u) + g->m3 * C;
      double *restrict dxr = dxin + g->m1 * C, *restrict ar = accl2 + g->m2 * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) {
        dxr[c] += coef_dx * sr[c];
        ar[c] += gv * ur[c] * xr[c];
      }
    }
  }
  for (int q = 0; q < nsh; ++q) {
    double s = 0.0;
    const double *a = acc + (size_t)q * C;
    for (int c = 0; c < C; ++c) s += a[c];
    dYv[q] = s;
  }
}

/* The channel count is a run-time hyperparameter, but the loops over channels are short (8-64): compiling the
 * kernels for the usual counts lets the compiler unroll them into whole vector registers. */
#define DISPATCH_CHANNELS(call, C)                                                                                     \
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
  case 64:                                                                                                             \
    call(64);                                                                                                          \
    break;                                                                                                             \
  default:                                                                                                             \
    call(C);                                                                                                           \
    break;                                                                                                             \
  }

/* The same for the generated kernels, which exist for the counts above only (nnp_tp_bind) */
#define DISPATCH_GENERATED(call, C)                                                                                    \
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
    call(64);                                                                                                          \
    break;                                                                                                             \
  }

NNP_HOT void nnp_tp_edge_forward(const nnp_model *m, const nnp_layer *ly, const double *x_j, const double *Y,
                                 const double *R, double *msg, double *scratch) {
#define GENERATED(c) gen_forward_d(ly->tp_kernel, m->cg, ly->paths, x_j, Y, R, msg, c)
#define GENERIC(c)   tp_forward(m, ly, x_j, Y, R, msg, scratch, c)
  if (ly->tp_kernel >= 0) {
    DISPATCH_GENERATED(GENERATED, m->h.channels)
  } else {
    DISPATCH_CHANNELS(GENERIC, m->h.channels)
  }
#undef GENERATED
#undef GENERIC
}

NNP_HOT void nnp_tp_edge_adjoint(const nnp_model *m, const nnp_layer *ly, const double *x_j, const double *Y,
                                 const double *R, const double *dmsg, double *dx_j, double *dR, double *dYv,
                                 double *scratch) {
#define GENERATED(c) gen_adjoint_d(ly->tp_kernel, m->cg, ly->paths, x_j, Y, R, dmsg, NULL, dx_j, dR, dYv, c, 0)
#define GENERIC(c)   tp_adjoint(m, ly, x_j, Y, R, dmsg, NULL, dx_j, dR, dYv, scratch, c, 0)
  if (ly->tp_kernel >= 0) {
    DISPATCH_GENERATED(GENERATED, m->h.channels)
  } else {
    DISPATCH_CHANNELS(GENERIC, m->h.channels)
  }
#undef GENERATED
#undef GENERIC
}

NNP_HOT void nnp_tp_edge_adjoint_paired(const nnp_model *m, const nnp_layer *ly, const double *x_j, const double *Y,
                                        const double *R, const double *dmsg_i, const double *dmsg_j, double *dx_i,
                                        double *dR, double *dYv, double *scratch) {
#define GENERATED(c) gen_adjoint_d(ly->tp_kernel, m->cg, ly->paths, x_j, Y, R, dmsg_i, dmsg_j, dx_i, dR, dYv, c, 1)
#define GENERIC(c)   tp_adjoint(m, ly, x_j, Y, R, dmsg_i, dmsg_j, dx_i, dR, dYv, scratch, c, 1)
  if (ly->tp_kernel >= 0) {
    DISPATCH_GENERATED(GENERATED, m->h.channels)
  } else {
    DISPATCH_CHANNELS(GENERIC, m->h.channels)
  }
#undef GENERATED
#undef GENERIC
}

NNP_HOT void nnp_tp_edge_forward_f(const nnp_model *m, const nnp_layer *ly, const float *x_j, const double *Y,
                                   const float *R, float *msg){
#define FORWARD(c) gen_forward_f(ly->tp_kernel, m->cg, ly->paths, x_j, Y, R, msg, c)
    DISPATCH_GENERATED(FORWARD, m->h.channels)
#undef FORWARD
}

NNP_HOT void nnp_tp_edge_adjoint_f(const nnp_model *m, const nnp_layer *ly, const float *x_j, const double *Y,
                                   const float *R, const float *dmsg_i, const float *dmsg_j, float *dx, float *dR,
                                   double *dYv) {
#define ADJOINT(c)                                                                                                     \
  if (dmsg_j)                                                                                                          \
    gen_adjoint_f(ly->tp_kernel, m->cg, ly->paths, x_j, Y, R, dmsg_i, dmsg_j, dx, dR, dYv, c, 1);                      \
  else                                                                                                                 \
    gen_adjoint_f(ly->tp_kernel, m->cg, ly->paths, x_j, Y, R, dmsg_i, NULL, dx, dR, dYv, c, 0)
  DISPATCH_GENERATED(ADJOINT, m->h.channels)
#undef ADJOINT
}

NNP_HOT void nnp_tp_edge_tangent(const nnp_model *m, const nnp_layer *ly, const double *x, const double *xd,
                                 const double *Y, const double *Yd, const double *R, const double *Rt, double *msgd){
#define TANGENT(c) gen_tangent_d(ly->tp_kernel, m->cg, ly->paths, x, xd, Y, Yd, R, Rt, msgd, c)
    DISPATCH_GENERATED(TANGENT, m->h.channels)
#undef TANGENT
}

NNP_HOT void nnp_tp_edge_reverse(const nnp_model *m, const nnp_layer *ly, const double *x, const double *xd,
                                 const double *Y, const double *Yd, const double *R, const double *Rt, const double *A,
                                 const double *B, double *ax, double *bx, double *gR, double *bR) {
#define REVERSE(c) gen_reverse_d(ly->tp_kernel, m->cg, ly->paths, x, xd, Y, Yd, R, Rt, A, B, ax, bx, gR, bR, c)
  DISPATCH_GENERATED(REVERSE, m->h.channels)
#undef REVERSE
}
