/* nnp-train loss and gradient.
 *
 * Batch loss L = w_E (1/B) sum_s ((E_s - E_s^ref) / N_s)^2 + w_F (1/n) sum_{s,i,k} (F_sik - F_sik^ref)^2,
 * with n the number of force components in the batch. The force term's parameter gradient uses
 *   dL_F/dtheta = -(2 w_F / n) d/dtheta <v, dE/dx>,   v = F - F^ref held fixed,
 * and d/dtheta <v, dE/dx> = [dE/dtheta(x + h v) - dE/dtheta(x - h v)] / (2h) + O(h^2): three passes of the core per
 * structure. docs/training.md explains the choice of h. */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

static int grow(double **p, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  double *q = realloc(*p, need * sizeof *q);
  if (!q) return -1;
  *p = q;
  *cap = need;
  return 0;
}

int train_engine_create(train_engine *e, const nnp_model *model, int n_threads, int batch_size, double w_energy,
                        double w_force, nnp_error *err) {
  size_t P = nnp_model_param_count(model);
  memset(e, 0, sizeof *e);
  e->model = model;
  e->n_threads = n_threads;
  e->energy_weight = w_energy;
  e->force_weight = w_force;
  e->n_slots = batch_size;
  e->threads = calloc((size_t)n_threads, sizeof *e->threads);
  e->slots = malloc((size_t)batch_size * P * sizeof *e->slots);
  e->slot_errors = calloc((size_t)batch_size, sizeof *e->slot_errors);
  if (!e->threads || !e->slots || !e->slot_errors) goto nomem;
  for (int t = 0; t < n_threads; t++) {
    train_thread *th = &e->threads[t];
    /* one single-threaded workspace per thread: the parallelism is over structures */
    nnp_status st = nnp_workspace_create(model, 1, &th->ws, err);
    if (st != NNP_OK) {
      train_engine_free(e);
      return st;
    }
    th->g_plus = malloc(P * sizeof *th->g_plus);
    th->g_minus = malloc(P * sizeof *th->g_minus);
    if (!th->g_plus || !th->g_minus) goto nomem;
  }
  return NNP_OK;
nomem:
  train_engine_free(e);
  snprintf(err->message, sizeof err->message, "out of memory for the training buffers");
  return NNP_ERR_NOMEM;
}

void train_engine_free(train_engine *e) {
  for (int t = 0; e->threads && t < e->n_threads; t++) {
    train_thread *th = &e->threads[t];
    nnp_workspace_free(th->ws);
    free(th->g_plus);
    free(th->g_minus);
    free(th->forces);
    free(th->displaced);
    free(th->v);
  }
  free(e->threads);
  free(e->slots);
  free(e->slot_errors);
  memset(e, 0, sizeof *e);
}

/* ---------------------------------------------------------------------------------------------------------------- */

static nnp_status reserve(train_thread *th, const train_structure *s, nnp_error *err) {
  size_t n_total = (size_t)nnp_cell_graph_view(s->graph)->n_total, n = (size_t)s->n_atoms;
  if (grow(&th->forces, &th->cap_forces, 3 * n_total)) goto nomem;
  if (3 * n > th->cap_atoms) {
    size_t cap = th->cap_atoms;
    if (grow(&th->displaced, &cap, 3 * n)) goto nomem;
    cap = th->cap_atoms;
    if (grow(&th->v, &cap, 3 * n)) goto nomem;
    th->cap_atoms = 3 * n;
  }
  return NNP_OK;
nomem:
  snprintf(err->message, sizeof err->message, "out of memory");
  return NNP_ERR_NOMEM;
}

/* Energy and folded forces at the reference geometry; dE/dtheta into grad when grad is not NULL. */
static nnp_status evaluate_at_reference(const nnp_model *m, train_thread *th, const train_structure *s, double *grad,
                                        double *energy, nnp_error *err) {
  nnp_status st = nnp_cell_graph_update_positions(s->graph, s->positions, err);
  if (st) return st;
  nnp_result res;
  memset(&res, 0, sizeof res);
  res.forces = th->forces;
  const nnp_graph *g = nnp_cell_graph_view(s->graph);
  st = grad ? nnp_compute_param_gradient(m, th->ws, g, &res, energy, grad, err) : nnp_compute(m, th->ws, g, &res, err);
  if (st) return st;
  if (!grad) *energy = res.energy;
  nnp_cell_graph_fold(s->graph, th->forces, 3);
  return NNP_OK;
}

/* Squared errors of one structure into `out`; the force error v = F - F^ref into th->v. Returns max_i |v_i|. */
static double structure_errors(train_thread *th, const train_structure *s, double energy, train_errors *out) {
  double de = (energy - s->energy) / s->n_atoms, vmax = 0;
  out->energy_sq = de * de;
  out->force_sq = 0;
  out->n_structures = 1;
  out->n_components = 3 * (long)s->n_atoms;
  for (int i = 0; i < s->n_atoms; i++) {
    double v2 = 0;
    for (int k = 0; k < 3; k++) {
      double v = th->forces[3 * i + k] - s->forces[3 * i + k];
      th->v[3 * i + k] = v;
      v2 += v * v;
    }
    out->force_sq += v2;
    vmax = fmax(vmax, sqrt(v2));
  }
  return vmax;
}

/* dE/dtheta at x + step * v, into grad. */
static nnp_status displaced_gradient(const nnp_model *m, train_thread *th, const train_structure *s, double step,
                                     double *grad, nnp_error *err) {
  for (int q = 0; q < 3 * s->n_atoms; q++) th->displaced[q] = s->positions[q] + step * th->v[q];
  nnp_status st = nnp_cell_graph_update_positions(s->graph, th->displaced, err);
  if (st) return st;
  return nnp_compute_param_gradient(m, th->ws, nnp_cell_graph_view(s->graph), NULL, NULL, grad, err);
}

/* The gradient of one structure's share of the batch loss, into out [n_params]. ce = 2 w_E / B, cf = 2 w_F / n. */
static nnp_status structure_gradient(const train_engine *e, train_thread *th, const train_structure *s, double ce,
                                     double cf, double *out, train_errors *errs, nnp_error *err) {
  const size_t P = nnp_model_param_count(e->model);
  double energy;
  nnp_status st = reserve(th, s, err);
  if (!st) st = evaluate_at_reference(e->model, th, s, out, &energy, err);
  if (st) return st;
  double vmax = structure_errors(th, s, energy, errs);
  double de = (energy - s->energy) / s->n_atoms;
  /* energy term: d/dtheta (w_E/B) de^2 = (2 w_E / B) de / N dE/dtheta */
  double a = ce * de / s->n_atoms;
  for (size_t q = 0; q < P; q++) out[q] *= a;
  if (cf > 0 && vmax > 0) {
    /* h so that the atom with the largest force error moves TRAIN_FD_DISPLACEMENT Angstrom */
    double h = TRAIN_FD_DISPLACEMENT / vmax;
    st = displaced_gradient(e->model, th, s, h, th->g_plus, err);
    if (!st) st = displaced_gradient(e->model, th, s, -h, th->g_minus, err);
    if (st) return st;
    double b = -cf / (2 * h);
    for (size_t q = 0; q < P; q++) out[q] += b * (th->g_plus[q] - th->g_minus[q]);
  }
  return nnp_cell_graph_update_positions(s->graph, s->positions, err);
}

static void add_errors(train_errors *acc, const train_errors *e) {
  acc->energy_sq += e->energy_sq;
  acc->force_sq += e->force_sq;
  acc->n_structures += e->n_structures;
  acc->n_components += e->n_components;
  acc->loss += e->loss;
}

static void name_structure(const train_set *set, const train_structure *s, nnp_error *err) {
  char what[sizeof err->message];
  snprintf(what, sizeof what, "%s", err->message);
  /* precisions keep the message within its 512 bytes: the file (its tail matters less) and the core's text */
  snprintf(err->message, sizeof err->message, "%.200s: frame %ld: %.280s", set->files[s->file], s->frame, what);
}

nnp_status train_batch_gradient(train_engine *e, const train_set *set, const int *idx, int n, double *grad,
                                double *loss, train_errors *acc, nnp_error *err) {
  const size_t P = nnp_model_param_count(e->model);
  if (n > e->n_slots) n = e->n_slots;
  long n_comp = 0;
  for (int k = 0; k < n; k++) n_comp += 3L * set->items[idx[k]].n_atoms;
  const double ce = 2 * e->energy_weight / n, cf = n_comp ? 2 * e->force_weight / (double)n_comp : 0;
  nnp_status first = NNP_OK;
  int first_k = n;
#pragma omp parallel for schedule(dynamic, 1) num_threads(e->n_threads)
  for (int k = 0; k < n; k++) {
    nnp_error local;
    train_thread *th = &e->threads[thread_id()];
    const train_structure *s = &set->items[idx[k]];
    nnp_status st = structure_gradient(e, th, s, ce, cf, e->slots + (size_t)k * P, &e->slot_errors[k], &local);
    if (st) {
#pragma omp critical(train_batch_error)
      if (k < first_k) { /* report the first failing structure of the batch, whatever the thread order */
        first_k = k;
        first = st;
        *err = local;
      }
    }
  }
  if (first) {
    name_structure(set, &set->items[idx[first_k]], err);
    return first;
  }
  /* per-frame weights (`frame_weight`, default 1) scale each structure's share of the loss and its gradient */
  for (int k = 0; k < n; k++) {
    const double w = set->items[idx[k]].weight;
    if (w != 1)
      for (size_t q = 0; q < P; q++) e->slots[(size_t)k * P + q] *= w;
  }
  /* the fixed-order sum that makes the result independent of the number of threads */
  memcpy(grad, e->slots, P * sizeof *grad);
  for (int k = 1; k < n; k++) {
    const double *g = e->slots + (size_t)k * P;
    for (size_t q = 0; q < P; q++) grad[q] += g[q];
  }
  double total = 0;
  for (int k = 0; k < n; k++) {
    train_errors *se = &e->slot_errors[k];
    se->loss = e->energy_weight * se->energy_sq / n + (n_comp ? e->force_weight * se->force_sq / (double)n_comp : 0);
    se->loss *= set->items[idx[k]].weight;
    total += se->loss;
    if (acc) add_errors(acc, se);
  }
  if (loss) *loss = total;
  return NNP_OK;
}

nnp_status train_evaluate(train_engine *e, const train_set *set, train_errors *acc, nnp_error *err) {
  train_errors *per = calloc((size_t)(set->n > 0 ? set->n : 1), sizeof *per);
  if (!per) {
    snprintf(err->message, sizeof err->message, "out of memory");
    return NNP_ERR_NOMEM;
  }
  nnp_status first = NNP_OK;
  int first_k = set->n;
#pragma omp parallel for schedule(dynamic, 1) num_threads(e->n_threads)
  for (int k = 0; k < set->n; k++) {
    nnp_error local;
    train_thread *th = &e->threads[thread_id()];
    const train_structure *s = &set->items[k];
    double energy = 0;
    nnp_status st = reserve(th, s, &local);
    if (!st) st = evaluate_at_reference(e->model, th, s, NULL, &energy, &local);
    if (!st) structure_errors(th, s, energy, &per[k]);
    if (st) {
#pragma omp critical(train_eval_error)
      if (k < first_k) {
        first_k = k;
        first = st;
        *err = local;
      }
    }
  }
  if (first)
    name_structure(set, &set->items[first_k], err);
  else
    for (int k = 0; k < set->n; k++) add_errors(acc, &per[k]);
  free(per);
  return first;
}

double train_errors_energy_rmse(const train_errors *a) {
  return a->n_structures ? 1000 * sqrt(a->energy_sq / (double)a->n_structures) : NAN;
}

double train_errors_force_rmse(const train_errors *a) {
  return a->n_components ? 1000 * sqrt(a->force_sq / (double)a->n_components) : NAN;
}

double train_errors_loss(const train_errors *a, double w_energy, double w_force) {
  double l = 0;
  if (a->n_structures) l += w_energy * a->energy_sq / (double)a->n_structures;
  if (a->n_components) l += w_force * a->force_sq / (double)a->n_components;
  return l;
}
