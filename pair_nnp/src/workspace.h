/* The evaluation workspace shared by the core's evaluation files (not installed): workspace.c allocates it,
 * edges.c turns a graph into its edge lists, compute.c runs the layers, forces.c assembles forces and virials. */
#ifndef NNP_WORKSPACE_H
#define NNP_WORKSPACE_H

#include "nnp_internal.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define VIRIAL_BLOCK 4096 /* edges per partial sum of the global virial */

typedef struct {
  double *tape, *R, *Rdot, *dR, *dYv, *mlp_scratch, *tp, *grad;
} thread_scratch;

struct nnp_workspace {
  const nnp_model *model;
  int n_threads;
  size_t cap_total, cap_local, cap_edges, cap_edges_b, cap_deg;
  /* edge counts and indices are 64-bit (a rank's lists can pass 2^31 edges), atom indices int */
  int64_t *edge_offset;         /* edges of receiver i: edge_offset[i] .. edge_offset[i+1] */
  int *edge_i, *edge_j;         /* edge e is edge_i[e] <- edge_j[e] */
  int64_t *in_offset, *in_edge; /* edges whose sender is j: in_edge[in_offset[j] .. in_offset[j+1]] */
  int64_t *in_pos;              /* in_edge[in_pos[e]] == e */
  int *mark;                    /* n_threads x cap_local, for the symmetry check; -1 between uses (edges.c) */
  int paired;                   /* every local-local edge has its reverse: see conv_adjoint */
  size_t cap_dx_edges;
  double *edge_dx; /* feature adjoints of the edges from unpaired senders, in transposed order */
  double *edge_r;  /* [E][4]: x_j - x_i and its length */
  double *edge_rc, *edge_g;
  double *block_virial; /* [n_edges / VIRIAL_BLOCK + 1][6] */
  /* per-edge quantities every layer and pass reuses: harmonics Y [E][nsh], dY/dr [E][nsh][3], and (exact radial
   * MLP only) the basis b and db/dr [E][2][N_b] */
  double *edge_Y, *edge_dY, *edge_b;
  double *h, *x, *msg, *pre, *dh_a, *dh_b, *dx, *dmsg, *dpre, *atom_e;
  double *comb_store, *comb_scratch; /* layer step 3's forward state and adjoint scratch (product family) */
  double *wt;                        /* transposed radial weights of every layer */
  size_t *wt_offset;
  thread_scratch *thr;
  double *thr_block;
  size_t thr_block_size;
  /* radial tables: tables[t * n_kinds + kind], kind = distinct pair cutoff; none when n_tables == 0 */
  int n_kinds, n_tables;
  int kind_of_pair[NNP_MAX_SPECIES][NNP_MAX_SPECIES];
  nnp_radial_table *tables;
  int *edge_kind;
  /* float32 evaluation (nnp_workspace_set_precision): the features and message adjoints the convolution reads, and
   * per thread its table rows, edge gradients and feature adjoints (thr_f_size floats each) */
  int single;
  float *xf, *dmsgf, *thr_f;
  size_t thr_f_size;
  size_t grown_bytes; /* held by the buffers ws_grow manages */
};

/* Whether the convolutions run in float32: asked for, and with tables (checked at every evaluation) */
static inline int ws_single(const nnp_workspace *ws) { return ws->single && ws->n_tables; }

/* workspace.c */
/* The transposed radial weights of layer t into buf (which it returns). */
const double *const *nnp_ws_layer_wt(const nnp_workspace *ws, int t, const double *buf[NNP_MAX_RADIAL_LAYERS + 1]);
/* The forward products want (in x out) weights; the model stores (out x in). Refreshed every call because a
 * trainer changes the parameters between calls. */
void nnp_ws_refresh_transposed_weights(nnp_workspace *ws);
/* Room for n_local receivers and n_total atoms; for n_edges edges of at most max_deg per receiver (with the
 * parameter gradient's per-thread buffers when want_grad); for the feature adjoints of the unpaired edges. */
nnp_status nnp_ws_reserve_atoms(nnp_workspace *ws, size_t n_local, size_t n_total, nnp_error *err);
nnp_status nnp_ws_reserve_edges(nnp_workspace *ws, size_t n_edges, size_t max_deg, int want_grad, nnp_error *err);
nnp_status nnp_ws_reserve_edge_dx(nnp_workspace *ws, int n_local, int n_total, nnp_error *err);

/* edges.c */
/* The calling OpenMP thread's range [lo, hi) of local atoms (the same split in every pass over receivers). */
void nnp_thread_atoms(const nnp_graph *g, int *lo, int *hi);
/* The edge lists of g's local atoms (forward, transposed, paired or not) and their geometry into ws. */
nnp_status nnp_build_edges(nnp_workspace *ws, const nnp_graph *g, int want_grad, nnp_error *err);

/* forces.c: the global virial into res->virial, and forces and per-atom virials where res asks for them, from the
 * edge gradients in ws->edge_g. */
void nnp_assemble_forces_virial(const nnp_workspace *ws, const nnp_graph *g, nnp_result *res);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
