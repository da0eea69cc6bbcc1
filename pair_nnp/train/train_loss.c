/* pnnp-train loss and gradient.
 *
 * Batch loss L = w_E (1/B) sum_s ((E_s - E_s^ref) / N_s)^2 + w_F (1/n) sum_{s,i,k} (F_sik - F_sik^ref)^2,
 * with n the number of force components in the batch. The force term's parameter gradient uses
 *   dL_F/dtheta = -(2 w_F / n) d/dtheta <v, dE/dx>,   v = F - F^ref held fixed,
 * which the core's training passes give exactly: nnp_train_forces (energy, forces, hence v), then
 * nnp_train_gradient (a tangent sweep along v and one reverse sweep for both loss terms). The radial functions come
 * from the MD tables, rebuilt from the weights at every batch; their gradient lands on the knots, is summed over the
 * batch and reaches the MLP weights once per batch. docs/training.md has the details and costs. */
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
  e->radial_step = TRAIN_RADIAL_STEP;
  e->n_slots = batch_size;
  e->threads = calloc((size_t)n_threads, sizeof *e->threads);
  e->slots = malloc((size_t)batch_size * P * sizeof *e->slots);
  e->slot_errors = calloc((size_t)batch_size, sizeof *e->slot_errors);
  e->slot_energies = calloc((size_t)batch_size, sizeof *e->slot_energies);
  if (!e->threads || !e->slots || !e->slot_errors || !e->slot_energies) goto nomem;
  for (int t = 0; t < n_threads; t++) {
    train_thread *th = &e->threads[t];
    /* one single-threaded workspace per thread: the parallelism is over structures */
    nnp_status st = nnp_workspace_create(model, 1, &th->ws, err);
    if (st == NNP_OK) st = nnp_train_workspace_create(model, &th->tws, err);
    if (st != NNP_OK) {
      train_engine_free(e);
      return st;
    }
  }
  return NNP_OK;
nomem:
  train_engine_free(e);
  snprintf(err->message, sizeof err->message, "out of memory for the training buffers");
  return NNP_ERR_NOMEM;
}

int train_engine_set_radial_step(train_engine *e, double step, nnp_error *err) {
  if (!(step == 0.0 || (step >= 1e-5 && step <= 0.1))) {
    snprintf(err->message, sizeof err->message, "radial_step must be 0 (exact) or 1e-5 to 0.1 Angstrom, not %g", step);
    return NNP_ERR_ARGUMENT;
  }
  e->radial_step = step;
  return NNP_OK;
}

void train_engine_free(train_engine *e) {
  for (int t = 0; e->threads && t < e->n_threads; t++) {
    train_thread *th = &e->threads[t];
    nnp_workspace_free(th->ws);
    nnp_train_workspace_free(th->tws);
    free(th->forces);
    free(th->v);
    free(th->v_total);
  }
  nnp_train_radial_free(e->radial);
  free(e->knot_slots);
  free(e->threads);
  free(e->slots);
  free(e->slot_errors);
  free(e->slot_energies);
  memset(e, 0, sizeof *e);
}

/* The radial functions (tables or exact) of the model's current weights, and room for one knot gradient per
 * structure of a batch. */
static nnp_status refresh_radial(train_engine *e, nnp_error *err) {
  nnp_train_radial_free(e->radial);
  e->radial = NULL;
  nnp_status st = nnp_train_radial_build(e->model, e->radial_step, &e->radial, err);
  if (st) return st;
  e->knot_size = nnp_train_radial_knot_size(e->radial);
  const size_t need = e->knot_size * (size_t)e->n_slots;
  if (need > e->cap_knots) {
    free(e->knot_slots);
    e->knot_slots = malloc(need * sizeof *e->knot_slots);
    e->cap_knots = e->knot_slots ? need : 0;
    if (!e->knot_slots) {
      snprintf(err->message, sizeof err->message, "out of memory for the radial-table gradients");
      return NNP_ERR_NOMEM;
    }
  }
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */

static nnp_status reserve(train_thread *th, const train_structure *s, nnp_error *err) {
  size_t n_total = (size_t)nnp_cell_graph_view(s->graph)->n_total, n = (size_t)s->n_atoms;
  if (3 * n_total > th->cap_forces) {
    size_t cap = th->cap_forces;
    if (grow(&th->forces, &cap, 3 * n_total)) goto nomem;
    cap = th->cap_forces;
    if (grow(&th->v_total, &cap, 3 * n_total)) goto nomem;
    th->cap_forces = 3 * n_total;
  }
  if (grow(&th->v, &th->cap_atoms, 3 * n)) goto nomem;
  return NNP_OK;
nomem:
  snprintf(err->message, sizeof err->message, "out of memory");
  return NNP_ERR_NOMEM;
}

/* Energy and folded forces at the reference geometry (training pass 1, kept for pass 2). */
static nnp_status evaluate_at_reference(const train_engine *e, train_thread *th, const train_structure *s,
                                        double *energy, nnp_error *err) {
  nnp_status st = nnp_cell_graph_update_positions(s->graph, s->positions, err);
  if (st) return st;
  st = nnp_train_forces(e->model, th->tws, e->radial, nnp_cell_graph_view(s->graph), energy, th->forces, err);
  if (st) return st;
  nnp_cell_graph_fold(s->graph, th->forces, 3);
  return NNP_OK;
}

/* The energy error per atom of one structure (0 without a reference energy). The reference is the data's energy
 * minus the structure's energy_offset constants (0 at the reference level). */
static double energy_error(const train_engine *e, const train_structure *s, double energy) {
  if (!s->has_energy) return 0;
  return (energy - (s->energy - train_structure_offset(s, e->offsets))) / s->n_atoms;
}

/* Squared errors of one structure into `out`; the force error v = F - F^ref into th->v. */
static void structure_errors(const train_engine *e, train_thread *th, const train_structure *s, double energy,
                             train_errors *out) {
  double de = energy_error(e, s, energy);
  out->energy_sq = de * de;
  out->force_sq = 0;
  out->n_structures = 1;
  out->n_energy = s->has_energy;
  out->n_components = 3 * (long)s->n_atoms;
  for (int q = 0; q < 3 * s->n_atoms; q++) {
    double v = th->forces[q] - s->forces[q];
    th->v[q] = v;
    out->force_sq += v * v;
  }
}

/* The gradient of one structure's share of the batch loss into out [n_params] (overwritten) and its table-knot
 * gradient into knots (overwritten). ce = 2 w_E / B, cf = 2 w_F / n:
 *   d/dtheta [(w_E/B) de^2] = ce de / N dE/dtheta,  dL_F/dtheta = -cf d/dtheta <v, dE/dx>. */
static nnp_status structure_gradient(const train_engine *e, train_thread *th, const train_structure *s, double ce,
                                     double cf, double *out, double *knots, train_errors *errs, double *energy_out,
                                     nnp_error *err) {
  const size_t P = nnp_model_param_count(e->model);
  double energy;
  nnp_status st = reserve(th, s, err);
  if (!st) st = evaluate_at_reference(e, th, s, &energy, err);
  if (st) return st;
  *energy_out = energy;
  structure_errors(e, th, s, energy, errs);
  const nnp_graph *g = nnp_cell_graph_view(s->graph);
  const int *owner = nnp_cell_graph_owner(s->graph);
  for (int i = 0; i < g->n_total; i++)
    for (int k = 0; k < 3; k++) th->v_total[3 * i + k] = th->v[3 * owner[i] + k];
  memset(out, 0, P * sizeof *out);
  if (knots) memset(knots, 0, e->knot_size * sizeof *knots);
  const double de = energy_error(e, s, energy); /* no energy: force term only */
  return nnp_train_gradient(e->model, th->tws, e->radial, g, th->v_total, ce * de / s->n_atoms, -cf, out, knots, err);
}

static void add_errors(train_errors *acc, const train_errors *e) {
  acc->energy_sq += e->energy_sq;
  acc->force_sq += e->force_sq;
  acc->n_structures += e->n_structures;
  acc->n_energy += e->n_energy;
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
  nnp_status first = refresh_radial(e, err);
  if (first) return first;
  int first_k = n;
#pragma omp parallel for schedule(dynamic, 1) num_threads(e->n_threads)
  for (int k = 0; k < n; k++) {
    nnp_error local;
    train_thread *th = &e->threads[thread_id()];
    const train_structure *s = &set->items[idx[k]];
    double *knots = e->knot_size ? e->knot_slots + (size_t)k * e->knot_size : NULL;
    nnp_status st = structure_gradient(e, th, s, ce, cf, e->slots + (size_t)k * P, knots, &e->slot_errors[k],
                                       &e->slot_energies[k], &local);
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
    if (w == 1) continue;
    for (size_t q = 0; q < P; q++) e->slots[(size_t)k * P + q] *= w;
    for (size_t q = 0; q < e->knot_size; q++) e->knot_slots[(size_t)k * e->knot_size + q] *= w; /* radial share */
  }
  /* the fixed-order sum that makes the result independent of the number of threads */
  memcpy(grad, e->slots, P * sizeof *grad);
  for (int k = 1; k < n; k++) {
    const double *g = e->slots + (size_t)k * P;
    for (size_t q = 0; q < P; q++) grad[q] += g[q];
  }
  if (e->knot_size) { /* the batch's knot gradient, summed in the same order, to the MLP weights */
    for (int k = 1; k < n; k++) {
      const double *g = e->knot_slots + (size_t)k * e->knot_size;
      for (size_t q = 0; q < e->knot_size; q++) e->knot_slots[q] += g[q];
    }
    nnp_status st = nnp_train_radial_backprop(e->model, e->radial, e->knot_slots, grad, err);
    if (st) return st;
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
  return train_evaluate_energies(e, set, acc, NULL, err);
}

nnp_status train_evaluate_energies(train_engine *e, const train_set *set, train_errors *acc, double *energies,
                                   nnp_error *err) {
  train_errors *per = calloc((size_t)(set->n > 0 ? set->n : 1), sizeof *per);
  if (!per) {
    snprintf(err->message, sizeof err->message, "out of memory");
    return NNP_ERR_NOMEM;
  }
  nnp_status first = refresh_radial(e, err);
  if (first) {
    free(per);
    return first;
  }
  int first_k = set->n;
#pragma omp parallel for schedule(dynamic, 1) num_threads(e->n_threads)
  for (int k = 0; k < set->n; k++) {
    nnp_error local;
    train_thread *th = &e->threads[thread_id()];
    const train_structure *s = &set->items[k];
    double energy = 0;
    nnp_status st = reserve(th, s, &local);
    if (!st) st = evaluate_at_reference(e, th, s, &energy, &local);
    if (!st) structure_errors(e, th, s, energy, &per[k]);
    if (energies) energies[k] = energy;
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
  return a->n_energy ? 1000 * sqrt(a->energy_sq / (double)a->n_energy) : NAN;
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
