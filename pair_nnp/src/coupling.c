/* Real Gaunt coupling tensors G[m1,m2,m3] for every path of every layer (docs/model.md, "Coupling coefficients").
 * The triple-product integral is evaluated exactly with Gauss-Legendre nodes in z and a uniform azimuthal grid:
 * after the azimuthal integral the integrand is a polynomial in z of degree <= l1 + l2 + l3. Paths with
 * l1 + l2 + l3 odd (`paths all`) integrate Y_l1 u . (grad Y_l2 x grad Y_l3), a polynomial of degree
 * <= l1 + l2 + l3 + 3 on the sphere (each tangential gradient has degree l + 1). */
#include "nnp_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QUAD_MAX 32

static void gauss_legendre(int n, double *node, double *weight) {
  for (int i = 0; i < n; ++i) {
    double z = cos(NNP_PI * (i + 0.75) / (n + 0.5)), dp = 1.0;
    for (int iter = 0; iter < 100; ++iter) {
      double p0 = 1.0, p1 = z;
      for (int k = 2; k <= n; ++k) {
        double p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = n * (z * p1 - p0) / (z * z - 1.0);
      double dz = p1 / dp;
      z -= dz;
      if (fabs(dz) < 1e-16) break;
    }
    node[i] = z;
    weight[i] = 2.0 / ((1.0 - z * z) * dp * dp);
  }
}

typedef struct {
  int n;
  double w[QUAD_MAX * QUAD_MAX];
  double u[QUAD_MAX * QUAD_MAX][3]; /* the nodes (unit vectors) */
  double *Y;                        /* n x NSH */
  double *dY; /* n x NSH x 3: dY/dr at the unit vector (the tangential gradient), for odd paths; else NULL */
} sphere_quadrature;

static nnp_status quadrature_build(int L, int odd, sphere_quadrature *q, nnp_error *err) {
  int lsum = odd ? 3 * L + 3 : 3 * L;
  int nz = lsum / 2 + 2, nphi = lsum + 2, nsh = NNP_NSH(L);
  double z[QUAD_MAX], wz[QUAD_MAX];
  gauss_legendre(nz, z, wz);
  q->n = nz * nphi;
  q->Y = malloc((size_t)q->n * nsh * sizeof *q->Y);
  q->dY = odd ? malloc((size_t)q->n * nsh * 3 * sizeof *q->dY) : NULL;
  if (!q->Y || (odd && !q->dY)) {
    free(q->Y);
    free(q->dY);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory building coupling tensors");
  }
  for (int i = 0; i < nz; ++i)
    for (int k = 0; k < nphi; ++k) {
      int idx = i * nphi + k;
      double phi = 2.0 * NNP_PI * k / nphi, s = sqrt(1.0 - z[i] * z[i]);
      double u[3] = {s * cos(phi), s * sin(phi), z[i]};
      /* weights of (1/4pi) \int dOmega: dz dphi / 4pi */
      q->w[idx] = wz[i] * (2.0 * NNP_PI / nphi) / (4.0 * NNP_PI);
      memcpy(q->u[idx], u, sizeof u);
      nnp_sph(L, u, q->Y + (size_t)idx * nsh, odd ? q->dY + (size_t)idx * nsh * 3 : NULL);
    }
  return NNP_OK;
}

static int by_m3(const void *a, const void *b) {
  const nnp_cg_entry *x = a, *y = b;
  if (x->m3 != y->m3) return x->m3 - y->m3;
  if (x->m1 != y->m1) return x->m1 - y->m1;
  return x->m2 - y->m2;
}

/* Whether a real-harmonic triple product can integrate to nonzero over the azimuth: Y_l1m1 Y_l2m2 holds the
 * frequencies |m1| + |m2| and ||m1| - |m2||, and Y_l3m3 has frequency |m3|. Skipping the other entries (exact zeros)
 * saves most of the quadrature, which dominated building an l_max 6 model. */
static int azimuth_allowed(int m1, int m2, int m3) {
  const int a = abs(m1), b = abs(m2), c = abs(m3);
  return c == a + b || c == abs(a - b);
}

/* (1/4pi) int Y_l1a(u) u . (grad Y_l2b(u) x grad Y_l3c(u)) dOmega: the invariant of an odd path */
static double odd_integral(const sphere_quadrature *q, int nsh, int i1, int i2, int i3) {
  double s = 0.0;
  for (int k = 0; k < q->n; ++k) {
    const double *Y = q->Y + (size_t)k * nsh, *dY = q->dY + (size_t)k * nsh * 3;
    const double *g2 = dY + 3 * i2, *g3 = dY + 3 * i3, *u = q->u[k];
    const double cross[3] = {g2[1] * g3[2] - g2[2] * g3[1], g2[2] * g3[0] - g2[0] * g3[2],
                             g2[0] * g3[1] - g2[1] * g3[0]};
    s += q->w[k] * Y[i1] * (u[0] * cross[0] + u[1] * cross[1] + u[2] * cross[2]);
  }
  return s;
}

/* Appends the nonzero entries of one path's tensor to the model's table. */
static nnp_status gaunt_path(nnp_model *m, const sphere_quadrature *q, nnp_path *p, int *cap, nnp_error *err) {
  const int L = m->h.l_max, nsh = NNP_NSH(L);
  const int n1 = 2 * p->l1 + 1, n2 = 2 * p->l2 + 1, n3 = 2 * p->l3 + 1;
  const int odd = (p->l1 + p->l2 + p->l3) % 2;
  double *g = calloc((size_t)n1 * n2 * n3, sizeof *g);
  if (!g) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory building coupling tensors");
  double norm2 = 0.0;
  for (int a = 0; a < n1; ++a)
    for (int b = 0; b < n2; ++b)
      for (int c = 0; c < n3; ++c) {
        double s = 0.0;
        /* the odd integrand's bilinear part commutes with rotations about z too, so the same frequencies vanish */
        if (!azimuth_allowed(a - p->l1, b - p->l2, c - p->l3)) continue; /* g stays 0 */
        if (odd) {
          s = odd_integral(q, nsh, p->l1 * p->l1 + a, p->l2 * p->l2 + b, p->l3 * p->l3 + c);
        } else {
          for (int k = 0; k < q->n; ++k) {
            const double *Y = q->Y + (size_t)k * nsh;
            s += q->w[k] * Y[p->l1 * p->l1 + a] * Y[p->l2 * p->l2 + b] * Y[p->l3 * p->l3 + c];
          }
        }
        g[(a * n2 + b) * n3 + c] = s;
        norm2 += s * s;
      }
  double scale = sqrt((double)n3 / norm2);
  p->cg_begin = m->n_cg;
  for (int a = 0; a < n1; ++a)
    for (int b = 0; b < n2; ++b)
      for (int c = 0; c < n3; ++c) {
        double v = g[(a * n2 + b) * n3 + c] * scale;
        if (fabs(v) < 1e-12) continue;
        if (m->n_cg == *cap) {
          *cap = *cap ? 2 * *cap : 256;
          nnp_cg_entry *grown = realloc(m->cg, (size_t)*cap * sizeof *grown);
          if (!grown) {
            free(g);
            return nnp_fail(err, NNP_ERR_NOMEM, "out of memory building coupling tensors");
          }
          m->cg = grown;
        }
        m->cg[m->n_cg++] = (nnp_cg_entry){a, b, c, 0, v};
      }
  p->cg_end = m->n_cg;
  /* order by m3 and flag each m3's first entry, so the tensor-product kernels can assign rather than clear and add;
   * every row m3 of a Gaunt tensor has an entry (checked: the kernels rely on it) */
  qsort(m->cg + p->cg_begin, (size_t)(p->cg_end - p->cg_begin), sizeof *m->cg, by_m3);
  int rows = 0;
  for (int e = p->cg_begin; e < p->cg_end; ++e) {
    m->cg[e].first = e == p->cg_begin || m->cg[e].m3 != m->cg[e - 1].m3;
    rows += m->cg[e].first;
  }
  if (rows != n3) {
    free(g);
    return nnp_fail(err, NNP_ERR_FORMAT, "coupling tensor (%d,%d,%d) has an empty row", p->l1, p->l2, p->l3);
  }
  free(g);
  return NNP_OK;
}

nnp_status nnp_coupling_build(nnp_model *m, nnp_error *err) {
  sphere_quadrature q;
  /* odd paths exist only with `paths all` and l_max >= 1 (an odd path has all three degrees >= 1) */
  nnp_status st = quadrature_build(m->h.l_max, m->h.options.odd_paths && m->h.l_max >= 1, &q, err);
  if (st) return st;
  int cap = 0;
  /* a path's tensor depends on (l1, l2, l3) only: layers with the same path share one range of entries */
  int first_of[NNP_MAX_L + 1][NNP_MAX_L + 1][NNP_MAX_L + 1][2];
  memset(first_of, -1, sizeof first_of);
  for (int t = 0; t < m->h.layers && !st; ++t)
    for (int k = 0; k < m->layers[t].n_paths && !st; ++k) {
      nnp_path *p = &m->layers[t].paths[k];
      int *range = first_of[p->l1][p->l2][p->l3];
      if (range[0] >= 0) {
        p->cg_begin = range[0], p->cg_end = range[1];
        continue;
      }
      st = gaunt_path(m, &q, p, &cap, err);
      range[0] = p->cg_begin, range[1] = p->cg_end;
    }
  free(q.Y);
  free(q.dY);
  if (!st) nnp_tp_bind(m);
  return st;
}
