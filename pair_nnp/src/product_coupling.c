/* Product coupling coefficients of the product interaction family (docs/model.md, "Product coupling coefficients"):
 * for an atomic basis of degrees 0..l_max, an output degree J and correlation orders 1..n_max, the list of products
 * (even Gaunt chains over every ordering of every degree multiset, redundant ones removed by a rank test) and their
 * sparse monomial entries. Built once per model load; nothing here is on a hot path.
 *
 * Self-contained on purpose: it computes its own dense Gaunt tensors (same definition and quadrature as coupling.c)
 * so that it can be built and tested while the per-edge kernels are rewritten. */
#include "nnp_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Decision thresholds of the doc: a candidate is kept when its residual exceeds RANK_TOL times its norm (kept ones are
 * >= 0.27, rejected ones <= 1.3e-14 for l_max <= 3); coefficients below ENTRY_TOL are zero in exact arithmetic
 * (nonzero ones >= 2.2e-3, dropped ones <= 1.7e-15). */
#define RANK_TOL  1e-6
#define ENTRY_TOL 1e-12
#define QUAD_MAX  32

static nnp_status out_of_memory(nnp_error *err) {
  return nnp_fail(err, NNP_ERR_NOMEM, "out of memory building product coupling coefficients");
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Dense normalised Gaunt tensors G(l1, l2, l3)[m1][m2][m3] for all valid paths with degrees <= l_max */

typedef struct {
  int l_max;
  double *g[NNP_MAX_L + 1][NNP_MAX_L + 1][NNP_MAX_L + 1]; /* NULL for invalid paths */
} gaunt_table;

static int valid_path(int l1, int l2, int l3) { return abs(l1 - l2) <= l3 && l3 <= l1 + l2 && (l1 + l2 + l3) % 2 == 0; }

static void gauss_legendre_nodes(int n, double *node, double *weight) {
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

static void gaunt_table_free(gaunt_table *t) {
  for (int a = 0; a <= NNP_MAX_L; ++a)
    for (int b = 0; b <= NNP_MAX_L; ++b)
      for (int c = 0; c <= NNP_MAX_L; ++c) free(t->g[a][b][c]);
  memset(t, 0, sizeof *t);
}

/* (1/4pi) \int Y Y Y dOmega by a rule exact for polynomials of degree 3 l_max (Gauss-Legendre in z, uniform in phi),
 * then scaled to Frobenius norm sqrt(2 l3 + 1). */
static nnp_status gaunt_table_build(int l_max, gaunt_table *t, nnp_error *err) {
  memset(t, 0, sizeof *t);
  t->l_max = l_max;
  const int nz = 3 * l_max / 2 + 2, nphi = 3 * l_max + 2, nsh = NNP_NSH(l_max), npts = nz * nphi;
  double z[QUAD_MAX], wz[QUAD_MAX];
  gauss_legendre_nodes(nz, z, wz);
  double *Y = malloc((size_t)npts * nsh * sizeof *Y), *w = malloc((size_t)npts * sizeof *w);
  if (!Y || !w) {
    free(Y);
    free(w);
    return out_of_memory(err);
  }
  for (int i = 0; i < nz; ++i)
    for (int k = 0; k < nphi; ++k) {
      double phi = 2.0 * NNP_PI * k / nphi, s = sqrt(1.0 - z[i] * z[i]);
      double u[3] = {s * cos(phi), s * sin(phi), z[i]};
      w[i * nphi + k] = wz[i] / (2.0 * nphi); /* dz dphi / 4pi */
      nnp_sph(l_max, u, Y + (size_t)(i * nphi + k) * nsh, NULL);
    }
  nnp_status st = NNP_OK;
  for (int l1 = 0; l1 <= l_max && !st; ++l1)
    for (int l2 = 0; l2 <= l_max && !st; ++l2)
      for (int l3 = 0; l3 <= l_max && !st; ++l3) {
        if (!valid_path(l1, l2, l3)) continue;
        const int n1 = 2 * l1 + 1, n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
        double *g = calloc((size_t)n1 * n2 * n3, sizeof *g);
        if (!g) {
          st = out_of_memory(err);
          break;
        }
        double norm2 = 0.0;
        for (int a = 0; a < n1; ++a)
          for (int b = 0; b < n2; ++b)
            for (int c = 0; c < n3; ++c) {
              double s = 0.0;
              for (int q = 0; q < npts; ++q) {
                const double *Yq = Y + (size_t)q * nsh;
                s += w[q] * Yq[l1 * l1 + a] * Yq[l2 * l2 + b] * Yq[l3 * l3 + c];
              }
              g[(a * n2 + b) * n3 + c] = s;
              norm2 += s * s;
            }
        const double scale = sqrt((double)n3 / norm2);
        for (int e = 0; e < n1 * n2 * n3; ++e) g[e] *= scale;
        t->g[l1][l2][l3] = g;
      }
  free(Y);
  free(w);
  if (st) gaunt_table_free(t);
  return st;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Monomials of one degree multiset: non-decreasing tuples of flat indices into A, encoded as integers base (l_max+1)^2
 * so that numeric order is lexicographic order */

typedef struct {
  int n; /* correlation order */
  int deg[NNP_MAX_CORRELATION];
  int n_alpha; /* (l_max + 1)^2 */
  long *key;   /* sorted, unique */
  int n_monomials;
} monomial_set;

static long monomial_key(int n, const int *alpha_unsorted, int n_alpha) {
  int a[NNP_MAX_CORRELATION];
  memcpy(a, alpha_unsorted, (size_t)n * sizeof *a);
  for (int i = 1; i < n; ++i) /* insertion sort of at most 4 */
    for (int j = i; j > 0 && a[j - 1] > a[j]; --j) {
      int tmp = a[j];
      a[j] = a[j - 1];
      a[j - 1] = tmp;
    }
  long key = 0;
  for (int i = 0; i < n; ++i) key = key * n_alpha + a[i];
  return key;
}

static void key_to_alpha(long key, int n, int n_alpha, int *alpha) {
  for (int i = n - 1; i >= 0; --i) {
    alpha[i] = (int)(key % n_alpha);
    key /= n_alpha;
  }
}

/* Advances the within-degree offsets m[0..n) (odometer, last fastest) over 0..2 deg[a]; 0 when it wraps. */
static int next_offsets(int n, const int *deg, int *m) {
  for (int a = n - 1; a >= 0; --a) {
    if (++m[a] <= 2 * deg[a]) return 1;
    m[a] = 0;
  }
  return 0;
}

static int compare_long(const void *x, const void *y) {
  long a = *(const long *)x, b = *(const long *)y;
  return (a > b) - (a < b);
}

static nnp_status monomial_set_build(int n, const int *deg, int n_alpha, monomial_set *ms, nnp_error *err) {
  ms->n = n;
  memcpy(ms->deg, deg, (size_t)n * sizeof *deg);
  ms->n_alpha = n_alpha;
  size_t count = 1;
  for (int a = 0; a < n; ++a) count *= (size_t)(2 * deg[a] + 1);
  ms->key = malloc(count * sizeof *ms->key);
  if (!ms->key) return out_of_memory(err);
  int m[NNP_MAX_CORRELATION] = {0}, alpha[NNP_MAX_CORRELATION];
  size_t k = 0;
  do {
    for (int a = 0; a < n; ++a) alpha[a] = deg[a] * deg[a] + m[a];
    ms->key[k++] = monomial_key(n, alpha, n_alpha);
  } while (next_offsets(n, deg, m));
  qsort(ms->key, count, sizeof *ms->key, compare_long);
  size_t u = 0;
  for (size_t i = 0; i < count; ++i)
    if (i == 0 || ms->key[i] != ms->key[u - 1]) ms->key[u++] = ms->key[i];
  ms->n_monomials = (int)u;
  return NNP_OK;
}

static int monomial_index(const monomial_set *ms, long key) {
  const long *hit = bsearch(&key, ms->key, (size_t)ms->n_monomials, sizeof *ms->key, compare_long);
  return hit ? (int)(hit - ms->key) : -1;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Candidates: chain tensors, their monomial coefficients, the rank test */

typedef struct {
  const gaunt_table *gt;
  int l_max, J;
  nnp_product_basis *pb;
  int cap_products, cap_entries;
  /* the current degree multiset: its monomials and the orthonormal residuals of the products kept for it */
  monomial_set ms;
  int vec_len; /* n_monomials (2J + 1) */
  double *kept_basis;
  int n_kept, cap_kept;
  double *T, *T_next, *v; /* scratch: chain tensor and coefficient vector */
  size_t cap_T;
} builder;

/* T[m_1..m_n][M] = G(o1,o2,k2)[m1,m2,mu2] G(k2,o3,k3)[mu2,m3,mu3] ... (docs/model.md, "Chain tensor"); row-major
 * over (m_1, ..., m_n, M). */
static void chain_tensor(const builder *b, int n, const int *o, const int *inter, double *T, double *T_next) {
  const int J = b->J;
  if (n == 1) {
    for (int i = 0; i < 2 * J + 1; ++i)
      for (int M = 0; M < 2 * J + 1; ++M) T[i * (2 * J + 1) + M] = i == M;
    return;
  }
  /* the running tensor T[lead][mu]: lead = (m_1..m_a) flattened, mu the offset of the running degree k_prev */
  int k_prev = n == 2 ? J : inter[0];
  const double *g = b->gt->g[o[0]][o[1]][k_prev];
  size_t lead = (size_t)(2 * o[0] + 1) * (2 * o[1] + 1);
  memcpy(T, g, lead * (2 * k_prev + 1) * sizeof *T);
  for (int a = 2; a < n; ++a) {
    const int k_next = a == n - 1 ? J : inter[a - 1];
    const int nk = 2 * k_prev + 1, no = 2 * o[a] + 1, nn = 2 * k_next + 1;
    g = b->gt->g[k_prev][o[a]][k_next];
    memset(T_next, 0, lead * no * nn * sizeof *T_next);
    for (size_t r = 0; r < lead; ++r)
      for (int mu = 0; mu < nk; ++mu) {
        double t = T[r * nk + mu];
        if (t == 0.0) continue;
        for (int m = 0; m < no; ++m)
          for (int c = 0; c < nn; ++c) T_next[(r * no + m) * nn + c] += t * g[(mu * no + m) * nn + c];
      }
    memcpy(T, T_next, lead * no * nn * sizeof *T);
    lead *= (size_t)no;
    k_prev = k_next;
  }
}

/* Room for `need` elements of `elem` bytes: the (possibly moved) block, or NULL when out of memory (the old block then
 * stays valid and *cap unchanged). */
static void *reserve(void *p, int *cap, int need, size_t elem) {
  if (need <= *cap) return p;
  int c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(p, (size_t)c * elem);
  if (q) *cap = c;
  return q;
}

/* One candidate (ordering o, intermediates inter): monomial coefficients, rank test, and when kept its product and
 * entries. */
static nnp_status visit_candidate(builder *b, int n, const int *o, const int *inter, nnp_error *err) {
  const int nJ = 2 * b->J + 1, n_alpha = NNP_NSH(b->l_max);
  if (b->n_kept == b->vec_len) return NNP_OK; /* the multiset's space is full: nothing independent remains */
  chain_tensor(b, n, o, inter, b->T, b->T_next);
  memset(b->v, 0, (size_t)b->vec_len * sizeof *b->v);
  int m[NNP_MAX_CORRELATION] = {0}, alpha[NNP_MAX_CORRELATION];
  size_t row = 0;
  do {
    for (int a = 0; a < n; ++a) alpha[a] = o[a] * o[a] + m[a];
    /* o is an ordering of the multiset the monomials were built from, so every key is found */
    int idx = monomial_index(&b->ms, monomial_key(n, alpha, n_alpha));
    for (int M = 0; M < nJ; ++M) b->v[(size_t)idx * nJ + M] += b->T[row * nJ + M];
    ++row;
  } while (next_offsets(n, o, m));

  /* modified Gram-Schmidt against the products kept for this multiset */
  double norm2 = 0.0;
  for (int i = 0; i < b->vec_len; ++i) norm2 += b->v[i] * b->v[i];
  /* one row per kept product plus the residual under test (a multiset keeps few: its equivariant dimension) */
  double *kept = reserve(b->kept_basis, &b->cap_kept, b->n_kept + 1, (size_t)b->vec_len * sizeof *kept);
  if (!kept) return out_of_memory(err);
  b->kept_basis = kept;
  double *r = b->kept_basis + (size_t)b->n_kept * b->vec_len;
  memcpy(r, b->v, (size_t)b->vec_len * sizeof *r);
  for (int k = 0; k < b->n_kept; ++k) {
    const double *e = b->kept_basis + (size_t)k * b->vec_len;
    double dot = 0.0;
    for (int i = 0; i < b->vec_len; ++i) dot += e[i] * r[i];
    for (int i = 0; i < b->vec_len; ++i) r[i] -= dot * e[i];
  }
  double res2 = 0.0;
  for (int i = 0; i < b->vec_len; ++i) res2 += r[i] * r[i];
  if (!(res2 > RANK_TOL * RANK_TOL * norm2)) return NNP_OK; /* redundant (or a zero chain) */
  const double inv = 1.0 / sqrt(res2);
  for (int i = 0; i < b->vec_len; ++i) r[i] *= inv;
  b->n_kept++;

  nnp_product_basis *pb = b->pb;
  nnp_product *products = reserve(pb->products, &b->cap_products, pb->n_products + 1, sizeof *products);
  if (!products) return out_of_memory(err);
  pb->products = products;
  nnp_product *p = &pb->products[pb->n_products];
  memset(p, 0, sizeof *p);
  p->n = n;
  p->J = b->J;
  for (int a = 0; a < NNP_MAX_CORRELATION; ++a) {
    p->order[a] = a < n ? o[a] : -1;
    p->inter[a] = a < n - 2 ? inter[a] : -1;
  }
  p->entry_begin = pb->n_entries;
  for (int M = 0; M < nJ; ++M)
    for (int k = 0; k < b->ms.n_monomials; ++k) {
      double value = b->v[(size_t)k * nJ + M];
      if (!(fabs(value) >= ENTRY_TOL)) continue;
      nnp_product_entry *entries = reserve(pb->entries, &b->cap_entries, pb->n_entries + 1, sizeof *entries);
      if (!entries) return out_of_memory(err);
      pb->entries = entries;
      nnp_product_entry *e = &pb->entries[pb->n_entries++];
      e->product = pb->n_products;
      e->M = M;
      for (int a = 0; a < NNP_MAX_CORRELATION; ++a) e->alpha[a] = -1;
      key_to_alpha(b->ms.key[k], n, n_alpha, e->alpha);
      e->value = value;
    }
  p->entry_end = pb->n_entries;
  pb->n_products++;
  return NNP_OK;
}

/* Intermediate degrees k_2..k_{n-1} in lexicographic order (recursion over the position a). */
static nnp_status visit_chains(builder *b, int n, const int *o, int *inter, int a, int k_prev, nnp_error *err) {
  if (a == n - 1 || n == 1) {
    if (n == 1 ? o[0] != b->J : !valid_path(k_prev, o[n - 1], b->J)) return NNP_OK;
    return visit_candidate(b, n, o, inter, err);
  }
  for (int k = 0; k <= b->l_max; ++k) {
    if (!valid_path(k_prev, o[a], k)) continue;
    inter[a - 1] = k;
    nnp_status st = visit_chains(b, n, o, inter, a + 1, k, err);
    if (st) return st;
  }
  return NNP_OK;
}

/* Next distinct permutation in lexicographic order; 0 after the last. */
static int next_permutation(int n, int *x) {
  int i = n - 2;
  while (i >= 0 && x[i] >= x[i + 1]) --i;
  if (i < 0) return 0;
  int j = n - 1;
  while (x[j] <= x[i]) --j;
  int t = x[i];
  x[i] = x[j];
  x[j] = t;
  for (int l = i + 1, r = n - 1; l < r; ++l, --r) {
    t = x[l];
    x[l] = x[r];
    x[r] = t;
  }
  return 1;
}

/* All candidates of one degree multiset lambda (non-decreasing). */
static nnp_status visit_multiset(builder *b, int n, const int *lambda, nnp_error *err) {
  const int nJ = 2 * b->J + 1;
  free(b->ms.key);
  b->ms.key = NULL;
  nnp_status st = monomial_set_build(n, lambda, NNP_NSH(b->l_max), &b->ms, err);
  if (st) return st;
  b->vec_len = b->ms.n_monomials * nJ;
  /* at most vec_len products can be independent; one more slot holds the residual under test */
  /* the running chain tensor never exceeds prod_a (2 lambda_a + 1) times its last index (<= 2 l_max + 1) */
  size_t tmax = (size_t)(2 * b->l_max + 1);
  for (int a = 0; a < n; ++a) tmax *= (size_t)(2 * lambda[a] + 1);
  if (tmax > b->cap_T) {
    free(b->T);
    free(b->T_next);
    b->T = malloc(tmax * sizeof *b->T);
    b->T_next = malloc(tmax * sizeof *b->T_next);
    b->cap_T = tmax;
    if (!b->T || !b->T_next) return out_of_memory(err);
  }
  free(b->v);
  free(b->kept_basis);
  b->kept_basis = NULL;
  b->cap_kept = 0;
  b->v = malloc((size_t)b->vec_len * sizeof *b->v);
  if (!b->v) return out_of_memory(err);
  b->n_kept = 0;
  int o[NNP_MAX_CORRELATION], inter[NNP_MAX_CORRELATION] = {0};
  memcpy(o, lambda, (size_t)n * sizeof *o);
  do {
    st = visit_chains(b, n, o, inter, 1, o[0], err);
  } while (!st && b->n_kept < b->vec_len && next_permutation(n, o));
  return st;
}

/* Degree multisets of order n in lexicographic order, parity sum + J even. */
static nnp_status visit_order(builder *b, int n, nnp_error *err) {
  int lambda[NNP_MAX_CORRELATION] = {0};
  for (;;) {
    int sum = 0;
    for (int a = 0; a < n; ++a) sum += lambda[a];
    if ((sum + b->J) % 2 == 0) {
      nnp_status st = visit_multiset(b, n, lambda, err);
      if (st) return st;
    }
    /* next non-decreasing tuple: bump the last entry below l_max, reset the ones after it to its value */
    int a = n - 1;
    while (a >= 0 && lambda[a] == b->l_max) --a;
    if (a < 0) return NNP_OK;
    lambda[a]++;
    for (int c = a + 1; c < n; ++c) lambda[c] = lambda[a];
  }
}

nnp_status nnp_product_basis_build(int l_max, int J, int n_max, nnp_product_basis *pb, nnp_error *err) {
  if (!pb) return nnp_fail(err, NNP_ERR_ARGUMENT, "product basis: NULL output");
  memset(pb, 0, sizeof *pb);
  if (l_max < 0 || l_max > NNP_MAX_L)
    return nnp_fail(err, NNP_ERR_ARGUMENT, "product basis: l_max %d out of range 0..%d", l_max, NNP_MAX_L);
  if (J < 0 || J > l_max)
    return nnp_fail(err, NNP_ERR_ARGUMENT, "product basis: output degree %d out of range 0..l_max (%d)", J, l_max);
  if (n_max < 1 || n_max > NNP_MAX_CORRELATION)
    return nnp_fail(err, NNP_ERR_ARGUMENT, "product basis: correlation %d out of range 1..%d", n_max,
                    NNP_MAX_CORRELATION);
  pb->l_max = l_max;
  pb->J = J;
  pb->n_max = n_max;
  gaunt_table gt;
  nnp_status st = gaunt_table_build(l_max, &gt, err);
  if (st) return st;
  builder b;
  memset(&b, 0, sizeof b);
  b.gt = &gt;
  b.l_max = l_max;
  b.J = J;
  b.pb = pb;
  for (int n = 1; n <= n_max && !st; ++n) {
    pb->order_first[n] = pb->n_products;
    st = visit_order(&b, n, err);
  }
  for (int n = n_max + 1; n <= NNP_MAX_CORRELATION + 1; ++n) pb->order_first[n] = pb->n_products;
  free(b.ms.key);
  free(b.kept_basis);
  free(b.v);
  free(b.T);
  free(b.T_next);
  gaunt_table_free(&gt);
  if (st) nnp_product_basis_free(pb);
  return st;
}

void nnp_product_basis_free(nnp_product_basis *pb) {
  if (!pb) return;
  free(pb->products);
  free(pb->entries);
  memset(pb, 0, sizeof *pb);
}
