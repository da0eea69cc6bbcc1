/* The channel-wise tensor-product convolution of one edge (docs/model.md, layer step 2), forward and adjoint.
 * Layouts: x_j is an atom's feature row (degree l at offset C l^2, m-major, channel fastest); msg is the
 * receiver's message row (degree l3 block of (2 l3 + 1) rows of l3_count * C, path k of that degree at k * C). */
#include "nnp_internal.h"

#include <string.h>

void nnp_tp_edge_forward(const nnp_model *m, const nnp_layer *ly, const double *x_j, const double *Y,
                         const double *R, double *msg) {
  const int C = m->h.channels;
  for (int p = 0; p < ly->n_paths; ++p) {
    const nnp_path *path = &ly->paths[p];
    const int l3 = path->l3, stride = ly->l3_count[l3] * C;
    double *out = msg + ly->msg_offset[l3] + (p - ly->l3_first[l3]) * C;
    const double *xin = x_j + C * path->l1 * path->l1;
    const double *Yl2 = Y + path->l2 * path->l2;
    const double *restrict w = R + (size_t)p * C;
    for (int e = path->cg_begin; e < path->cg_end; ++e) {
      const nnp_cg_entry *g = &m->cg[e];
      const double coef = g->value * Yl2[g->m2];
      const double *restrict xr = xin + g->m1 * C;
      double *restrict o = out + g->m3 * stride;
      for (int c = 0; c < C; ++c) o[c] += coef * w[c] * xr[c];
    }
  }
}

void nnp_tp_edge_adjoint(const nnp_model *m, const nnp_layer *ly, const double *x_j, const double *Y,
                         const double *R, const double *dmsg, double *dx_j, double *dR, double *dYv) {
  const int C = m->h.channels;
  memset(dR, 0, (size_t)ly->n_paths * C * sizeof *dR);
  memset(dYv, 0, (size_t)NNP_NSH(m->h.l_max) * sizeof *dYv);
  for (int p = 0; p < ly->n_paths; ++p) {
    const nnp_path *path = &ly->paths[p];
    const int l3 = path->l3, stride = ly->l3_count[l3] * C;
    const double *dout = dmsg + ly->msg_offset[l3] + (p - ly->l3_first[l3]) * C;
    const double *xin = x_j + C * path->l1 * path->l1;
    double *dxin = dx_j + C * path->l1 * path->l1;
    const double *Yl2 = Y + path->l2 * path->l2;
    double *dYl2 = dYv + path->l2 * path->l2;
    const double *restrict w = R + (size_t)p * C;
    double *restrict dw = dR + (size_t)p * C;
    for (int e = path->cg_begin; e < path->cg_end; ++e) {
      const nnp_cg_entry *g = &m->cg[e];
      const double coef = g->value * Yl2[g->m2];
      const double *restrict xr = xin + g->m1 * C;
      const double *restrict d = dout + g->m3 * stride;
      double *restrict dxr = dxin + g->m1 * C;
      double s = 0.0;
      for (int c = 0; c < C; ++c) {
        const double dx = d[c] * xr[c];
        dw[c] += coef * dx;
        s += w[c] * dx;
        dxr[c] += coef * w[c] * d[c];
      }
      dYl2[g->m2] += g->value * s;
    }
  }
}
