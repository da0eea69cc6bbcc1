/* Internal declarations shared by the core's translation units. Not installed. */
#ifndef NNP_INTERNAL_H
#define NNP_INTERNAL_H

#include "nnp.h"

#include <limits.h>
#include <locale.h>
#include <stddef.h>

/* Everything declared here stays inside the library: hidden even where a declaration would otherwise be exported
 * (GCC gives the dispatchers of target_clones functions default visibility despite -fvisibility=hidden). */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define NNP_MAX_PATHS 128
_Static_assert(NNP_MAX_LAYERS <= sizeof(unsigned) * CHAR_BIT, "nnp_options.no_residual holds one bit per layer");
#define NNP_PI 3.14159265358979323846

/* Hot kernels are compiled for several instruction sets and picked at load time, so a portable build still uses
 * AVX2/AVX-512 where the machine has them. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NNP_NO_CLONES) &&                      \
    !defined(__SANITIZE_ADDRESS__)
#define NNP_HOT __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define NNP_HOT
#endif
#define NNP_NSH(L) (((L) + 1) * ((L) + 1))

/* status helpers (error.c) */
nnp_status nnp_fail(nnp_error *err, nnp_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The calling thread in the C locale for reading and writing numbers (c_locale.c); leave restores what enter
 * found. If the C locale cannot be had (newlocale failed: never for "C" in glibc), the thread's locale stays. */
typedef struct {
  locale_t saved, c;
} nnp_c_locale;
nnp_c_locale nnp_c_locale_enter(void);
void nnp_c_locale_leave(nnp_c_locale scope);

/* One nonzero coupling coefficient G[m1,m2,m3]; m indices run 0..2l within each degree's block. */
typedef struct {
  int m1, m2, m3;
  int first; /* the first entry of its m3 (entries are sorted by m3): it assigns instead of adding */
  double value;
} nnp_cg_entry;

typedef struct {
  int l1, l2, l3;
  int cg_begin, cg_end; /* entries in nnp_model.cg */
} nnp_path;

/* Layout of one interaction layer: paths and parameter offsets (docs/model.md, "Layers"). */
typedef struct {
  int lin, lout;
  int n_paths;
  int tp_kernel; /* the generated tensor-product kernel of this layer's shape (tp_codegen.py), -1 for the generic one */
  nnp_path paths[NNP_MAX_PATHS];
  int l3_first[NNP_MAX_L + 1], l3_count[NNP_MAX_L + 1]; /* paths with a given l3 are contiguous */
  int c_out[NNP_MAX_L + 1];                             /* output channels of the down-projection per degree */
  int n_gates;
  int residual; /* 1: h^(t+1) = h^(t) + gate output where the degree is in both (docs/model.md, step 5) */
  /* message layout per atom: degree l3 block is (2 l3 + 1) x (l3_count * C), m-major */
  int msg_offset[NNP_MAX_L + 1];
  int msg_width;
  /* pre-activation layout per atom: degree l block is (2l+1) x c_out[l] */
  int pre_offset[NNP_MAX_L + 1];
  int pre_width;
  size_t up[NNP_MAX_L + 1];
  size_t radial[NNP_MAX_RADIAL_LAYERS];
  size_t radial_out;
  size_t down[NNP_MAX_L + 1];
  size_t self[NNP_MAX_L + 1]; /* (size_t)-1 where there is no self-connection */
} nnp_layer;

typedef struct {
  char key[64];
  char *value;
} nnp_meta;

typedef struct {
  char name[48];
  int ndim;
  int dims[3];
  size_t offset, size;
} nnp_param_array;

/* Step 3 of a product-family layer (docs/model.md, "The product family") as two down-projection views, so that the
 * dense kernels of linear.c run it: 3a reads the convolution's messages (the layer's msg layout) and writes the
 * atomic basis A ((L+1)^2 x C per atom, row l*l + m + l, no self-connection); 3d reads m^J ((2J+1) x C blocks at
 * C J^2) and writes the pre-activations with the self-connection. */
typedef struct {
  nnp_layer mix;                 /* 3a: weights layer{t}.mix{l}, lin = -1 (no self), lout = l_max, c_out = C */
  nnp_layer down;                /* 3d: weights layer{t}.down{J} and layer{t}.self{J}, l3_count = 1 */
  size_t product[NNP_MAX_L + 1]; /* offsets of W^{t,J} (S x |Q_J| x C), J = 0..lout */
} nnp_product_layer;

struct nnp_model {
  nnp_hyper h;
  nnp_param_array *arrays; /* file order */
  int n_arrays;
  nnp_layer *layers;
  nnp_cg_entry *cg;
  int n_cg;
  size_t n_params;
  double *params;
  size_t embedding, readout_hidden, readout_out;
  int feature_width; /* C (L+1)^2 */
  int n_meta;
  nnp_meta *meta;
  /* product family only (NULL otherwise): per-layer views and Q(l_max, J, N_c) for J = 0..message_l_max */
  nnp_product_layer *product_layers;
  struct nnp_product_basis *product_basis;
};

/* model.c */
nnp_status nnp_model_alloc(const nnp_hyper *h, nnp_model **out, nnp_error *err);
/* The same, refused with NNP_ERR_FORMAT before the parameters are allocated when they would be more than max_params
 * (a file can only hold so many values: a small damaged header must not allocate gigabytes). */
nnp_status nnp_model_alloc_limited(const nnp_hyper *h, size_t max_params, nnp_model **out, nnp_error *err);
nnp_status nnp_hyper_validate(const nnp_hyper *h, nnp_error *err);

/* hyper_grammar.c: the header grammar (nnp.h, nnp_hyper_reader) */
struct nnp_hyper_reader {
  int version;    /* the model file's format version: keys of a later version are refused; 0: any */
  uint64_t seen;  /* the keys read so far, a bit per key of the grammar's table */
  int n_residual; /* flags on the `residual` line (0: none) */
  unsigned char pair_given[NNP_MAX_SPECIES][NNP_MAX_SPECIES]; /* pair_cutoff lines read so far */
};
void nnp_hyper_reader_init(nnp_hyper_reader *reader, int version);
/* A whole token as an integer within +-1e9 (no trailing characters): 0, or -1. */
int nnp_parse_int(const char *s, int *out);
/* The first key that every model file has and the reader has not read, or NULL. */
const char *nnp_hyper_reader_missing(const nnp_hyper_reader *reader);
/* The single-key limits of h's numbers and integers (those of the grammar's table), with the grammar's messages. */
nnp_status nnp_hyper_check_limits(const nnp_hyper *h, nnp_error *err);

/* sph.c: component-normalised real spherical harmonics of the direction of r (not necessarily unit).
 * Y[(L+1)^2]; dY[(L+1)^2][3] = dY/dr (1/Angstrom), may be NULL. */
void nnp_sph(int L, const double r[3], double *Y, double *dY);

/* coupling.c: real Gaunt tensors for all paths of all layers */
nnp_status nnp_coupling_build(nnp_model *m, nnp_error *err);

/* product_coupling.c: coupling coefficients of the product family (docs/model.md, "Product coupling coefficients") */

/* One monomial of one product: B^q[M, c] += value * A[alpha[0], c] ... A[alpha[n-1], c] (n = the product's order). */
typedef struct {
  int product;                    /* index q in nnp_product_basis.products (and the weight index) */
  int M;                          /* output component, 0..2J */
  int alpha[NNP_MAX_CORRELATION]; /* flat indices l*l + m + l into A, non-decreasing; -1 beyond n */
  double value;
} nnp_product_entry;

typedef struct {
  int n;                          /* correlation order 1..NNP_MAX_CORRELATION */
  int J;                          /* output degree */
  int order[NNP_MAX_CORRELATION]; /* factor degrees o_1..o_n in coupling order; -1 beyond n */
  int inter[NNP_MAX_CORRELATION]; /* intermediate degrees k_2..k_{n-1} at [0, n-2); -1 beyond */
  int entry_begin, entry_end;     /* its entries, sorted by M, then alpha */
} nnp_product;

/* Q(l_max, J, n_max): products of orders 1..n_max in the doc's order; products of order n are
 * [order_first[n], order_first[n+1]), and so are their entries (entries follow the products' order). */
typedef struct nnp_product_basis {
  int l_max, J, n_max;
  int n_products;
  nnp_product *products;
  int n_entries;
  nnp_product_entry *entries;
  int order_first[NNP_MAX_CORRELATION + 2];
} nnp_product_basis;

/* Builds Q(l_max, J, n_max) (0 <= J <= l_max <= NNP_MAX_L, 1 <= n_max <= NNP_MAX_CORRELATION) into pb (freed with
 * nnp_product_basis_free; left empty on failure). */
nnp_status nnp_product_basis_build(int l_max, int J, int n_max, nnp_product_basis *pb, nnp_error *err);
void nnp_product_basis_free(nnp_product_basis *pb);

/* The product family's limit on l_max in this implementation (the coupling lists grow fast beyond it) */
#define NNP_PRODUCT_MAX_L 3

/* product_layer.c: layer step 3 for either family (tensor: down-projection plus self-connection; product: 3a-3d).
 * store keeps what the adjoint needs from the forward pass (nnp_combine_store_width doubles per local atom; 0 for the
 * tensor family); scratch is the adjoint's (nnp_combine_scratch_width doubles per local atom, any layer). n_threads:
 * the OpenMP team of the parallel regions, as for the kernels of linear.c. */
size_t nnp_combine_store_width(const nnp_model *m, int t);
size_t nnp_combine_scratch_width(const nnp_model *m);
void nnp_combine_forward(const nnp_model *m, int t, int n_threads, int n, const int *species, const double *msg,
                         const double *h, double *store, double *pre);
/* dmsg (overwritten) and dh (added to) from dpre; parameter gradients added to grad when not NULL */
void nnp_combine_adjoint(const nnp_model *m, int t, int n_threads, int n, const int *species, const double *msg,
                         const double *h, const double *store, const double *dpre, double *scratch, double *dmsg,
                         double *dh, double *grad);
/* Training: the tangent of step 3 along (msgd, hd) into pred, keeping what the reverse needs in tstore (as wide as
 * store); then the reverse of the pair (pre, pred) = (step3(msg, h), its tangent) given their adjoints (apre, bpre):
 * amsg, bmsg overwritten, ah, bh added to, the parameter gradient added to grad (not NULL). */
void nnp_combine_tangent(const nnp_model *m, int t, int n_threads, int n, const int *species, const double *store,
                         const double *msgd, const double *hd, double *tstore, double *pred);
void nnp_combine_reverse(const nnp_model *m, int t, int n_threads, int n, const int *species, const double *msg,
                         const double *h, const double *store, const double *msgd, const double *hd,
                         const double *tstore, const double *apre, const double *bpre, double *scratch, double *amsg,
                         double *bmsg, double *ah, double *bh, double *grad);

/* radial.c */
double nnp_envelope(double x, int p, double *dfdx);
/* b[n] and db/dr[n] for n = 1..N_b at distance r with pair cutoff rc */
/* freq: the model's radial_frequencies, or NULL for n pi (nnp_radial_frequencies) */
void nnp_bessel_basis(int n_basis, const double *freq, int p, double rc, double r, double *b, double *db);
static inline const double *nnp_radial_frequencies(const nnp_hyper *h) {
  return h->options.n_radial_frequencies ? h->options.radial_frequencies : NULL;
}
/* model.c: whether a model uses any option of docs/model.md's "Model options" (then it needs format version 2) */
int nnp_options_present(const nnp_hyper *h);

typedef struct {
  int n_rows;                             /* rows = edges (x2 when tangents are carried) */
  double *pre[NNP_MAX_RADIAL_LAYERS];     /* pre-activations of hidden layers, n_rows x H_k */
  double *act[NNP_MAX_RADIAL_LAYERS + 1]; /* act[0] = input basis, act[k] = SiLU(pre[k-1]) */
  int has_dsilu; /* after a pass with tangents, pre[k] rows [n, 2n) hold SiLU'(pre[k] rows [0, n)) */
} nnp_mlp_tape;

/* Workspace need (doubles) for an MLP tape of n_rows rows. */
size_t nnp_mlp_tape_size(const nnp_model *m, int n_rows);
void nnp_mlp_tape_bind(const nnp_model *m, nnp_mlp_tape *tape, double *buf, int n_rows);
/* Forward: R (n x P*C) from basis values in tape->act[0] rows [0,n). With tangents (n rows of db/dr in
 * act[0] rows [n,2n)), also dR/dr into Rdot. wt[k] are the transposed weights (in x out), k = 0..K. */
void nnp_radial_mlp(const nnp_model *m, const nnp_layer *ly, const double *const *wt, nnp_mlp_tape *tape, int n,
                    int with_tangent, double *R, double *Rdot);
/* Parameter gradient of sum(dR * R) for the first n rows (tangent rows unused); accumulates into grad (indexed like
 * the parameter vector). scratch: 2 n max(N_b, H_k) doubles. */
void nnp_radial_mlp_param_grad(const nnp_model *m, const nnp_layer *ly, const nnp_mlp_tape *tape, int n,
                               const double *dR, double *scratch, double *grad);

/* C[n x m] (+)= A[n x k] B[k x m] through BLAS (single-threaded inside the caller's thread), for the radial MLP */
void nnp_gemm_nn(int n, int m, int k, const double *A, int lda, const double *B, int ldb, double *C, int ldc,
                 int accumulate);
static inline double nnp_silu(double x, double *dsilu) {
  double s = 1.0 / (1.0 + __builtin_exp(-x));
  if (dsilu) *dsilu = s * (1.0 + x * (1.0 - s));
  return x * s;
}
static inline double nnp_sigmoid(double x, double *dsig) {
  double s = 1.0 / (1.0 + __builtin_exp(-x));
  if (dsig) *dsig = s * (1.0 - s);
  return s;
}

/* Cubic Hermite tables of one layer's radial functions for one pair cutoff (radial.c) */
typedef struct {
  double r_lo, step, inv_step; /* Angstrom, 1/Angstrom */
  int n_intervals, width;
  double *coef;     /* [n_intervals][4][width]: R = c0 + t (c1 + t (c2 + t c3)), t in [0, 1) */
  float *coef_f;    /* the same rounded to float32, for single-precision evaluation */
  double rel_error; /* estimated: max |table - exact| at the interval midpoints / max |R| at the knots */
} nnp_radial_table;
/* Tables whose estimated relative error exceeds this are refused (docs/performance.md, "Radial tables"). */
#define NNP_TABLE_MAX_REL_ERROR 1e-4
nnp_status nnp_radial_table_build(const nnp_model *m, const nnp_layer *ly, const double *const *wt, double rc,
                                  double step, nnp_radial_table *tab, nnp_error *err);
void nnp_radial_table_free(nnp_radial_table *tab);
void nnp_radial_table_eval(const nnp_radial_table *tab, double r, double *R, double *Rdot);
void nnp_radial_table_eval_f(const nnp_radial_table *tab, double r, float *R, float *Rdot);

/* linear.c: per-atom dense operations (docs/model.md, layer steps 1, 3-5, readout); grad may be NULL; their
 * parallel loops run with n_threads OpenMP threads (the workspace's count; 1 in the serial training passes) */
void nnp_up_forward(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const double *h, double *x);
void nnp_up_adjoint(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const double *h, const double *dx,
                    double *dh, double *grad);
void nnp_down_forward(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const int *species,
                      const double *msg, const double *h, double *pre);
void nnp_down_adjoint(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const int *species,
                      const double *msg, const double *h, const double *dpre, double *dmsg, double *dh, double *grad);
void nnp_gate_forward(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const int *species,
                      const double *pre, const double *h, double *h_next);
void nnp_gate_adjoint(const nnp_model *m, const nnp_layer *ly, int n_threads, int n, const int *species,
                      const double *pre, const double *dh_next, double *dpre, double *dh);
double nnp_readout(const nnp_model *m, int s, const double *h0, double *dh, double *grad, double *scratch);

/* tensor_product.c: per-edge convolution kernels (docs/model.md, step 2) */
/* Picks each layer's generated kernel where one matches its paths and coupling sparsity (after nnp_coupling_build) */
void nnp_tp_bind(nnp_model *m);
/* scratch: NNP_TP_SCRATCH(C) doubles */
#define NNP_TP_SCRATCH(C) ((size_t)(3 * (2 * NNP_MAX_L + 1) + NNP_NSH(NNP_MAX_L)) * (C))
void nnp_tp_edge_forward(const nnp_model *m, const nnp_layer *ly, const double *x_j, const double *Y, const double *R,
                         double *msg, double *scratch);
/* Adjoint of one edge: given dmsg (adjoint of the receiver's message block), accumulates dx_j, returns
 * dR[p*C+c] and dY[(L+1)^2] (overwritten). */
void nnp_tp_edge_adjoint(const nnp_model *m, const nnp_layer *ly, const double *x_j, const double *Y, const double *R,
                         const double *dmsg, double *dx_j, double *dR, double *dYv, double *scratch);
/* The same for an edge i <- j whose reverse j <- i also exists (j local, full neighbour lists): dR and dY as above,
 * but the feature adjoint accumulated is dx_i, the receiver's share as the sender of the reverse edge, from dmsg_j. */
void nnp_tp_edge_adjoint_paired(const nnp_model *m, const nnp_layer *ly, const double *x_j, const double *Y,
                                const double *R, const double *dmsg_i, const double *dmsg_j, double *dx_i, double *dR,
                                double *dYv, double *scratch);
/* float32 forms of the forward and (paired when dmsg_j is not NULL) adjoint, for layers with a generated kernel
 * only (ly->tp_kernel >= 0); dYv is accumulated over channels in float32 per path and summed in float64 */
void nnp_tp_edge_forward_f(const nnp_model *m, const nnp_layer *ly, const float *x_j, const double *Y, const float *R,
                           float *msg);
void nnp_tp_edge_adjoint_f(const nnp_model *m, const nnp_layer *ly, const float *x_j, const double *Y, const float *R,
                           const float *dmsg_i, const float *dmsg_j, float *dx, float *dR, double *dYv);

/* The trainer's fused kernels (train_passes.c, tangent_edge and reverse_edge, which they replace for layers with a
 * generated kernel: ly->tp_kernel >= 0). The kernels of l_in = 0 layers read no xd (layer 0: the embedding does not
 * move; pass NULL), the others need it: callers use them only when (xd != NULL) == (ly->lin > 0). Tangent: msgd += R
 * td + Rt t. Reverse: from A, B (adjoints of msg and msgd), accumulates ax, bx and overwrites gR, bR (per path and
 * channel). */
void nnp_tp_edge_tangent(const nnp_model *m, const nnp_layer *ly, const double *x, const double *xd, const double *Y,
                         const double *Yd, const double *R, const double *Rt, double *msgd);
void nnp_tp_edge_reverse(const nnp_model *m, const nnp_layer *ly, const double *x, const double *xd, const double *Y,
                         const double *Yd, const double *R, const double *Rt, const double *A, const double *B,
                         double *ax, double *bx, double *gR, double *bR);

/* edges.c: a graph's counts, pointers, species and positions are usable (the evaluation and the trainer's passes) */
nnp_status nnp_check_graph(const nnp_model *m, const nnp_graph *g, nnp_error *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
