/* nnp-train driver: set-up (configuration, data, normalisation, model, optimiser state or a checkpoint), the epoch
 * loop (shuffled batches, Adam steps, validation with the EMA weights, plateau schedule), and the outputs (progress
 * lines, CSV learning curve, best model, checkpoint every epoch). */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include "output_file.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
  train_config cfg;
  train_set train, val; /* val may be empty: then the training errors stand in for it */
  train_normalisation norm;
  nnp_model *model;
  train_state state;
  train_engine engine;
  double *grad;
  int *order;
  FILE *log;
  int n_threads;
  double t_start, epoch_seconds_sum;
  int epochs_timed;
} trainer;

/* The errors of one epoch. */
typedef struct {
  train_errors train, val;
  double val_loss, seconds;
  int improved, lr_lowered;
} epoch_report;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail_msg(const char *what) {
  fprintf(stderr, "nnp-train: %s\n", what);
  return -1;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Set-up                                                                                                            */

static int load_data(trainer *t) {
  const train_config *c = &t->cfg;
  const char *paths[TRAIN_MAX_FILES];
  for (int k = 0; k < c->n_train_files; k++) paths[k] = c->train_files[k];
  train_set all;
  memset(&all, 0, sizeof all);
  if (train_set_load(&all, paths, c->n_train_files, &c->hyper)) {
    train_set_free(&all);
    return -1;
  }
  if (c->validation_file[0]) {
    const char *vp = c->validation_file;
    t->train = all;
    return train_set_load(&t->val, &vp, 1, &c->hyper);
  }
  if (train_set_split(&all, c->validation_fraction, c->seed, &t->train, &t->val)) {
    train_set_free(&all);
    return fail_msg("out of memory splitting the data");
  }
  return 0;
}

/* Normalisation from the training frames, unless the configuration fixed it. */
static void set_normalisation(trainer *t) {
  nnp_hyper *h = &t->cfg.hyper;
  train_normalisation_measure(&t->train, h, t->cfg.energy_reference_given ? t->cfg.energy_reference : NULL, &t->norm);
  if (!t->cfg.have_avg_num_neighbors) h->avg_num_neighbors = t->norm.avg_num_neighbors;
  for (int s = 0; s < h->n_species; s++) {
    h->energy_shift[s] = t->norm.energy_shift[s];
    if (!t->cfg.have_energy_scale) h->energy_scale[s] = t->norm.force_rms;
  }
}

static void init_state_from_model(trainer *t) {
  train_state *s = &t->state;
  const nnp_hyper *h = nnp_model_hyper(t->model);
  memcpy(s->params, nnp_model_params_const(t->model), s->n_params * sizeof *s->params);
  memcpy(s->ema, s->params, s->n_params * sizeof *s->ema);
  s->lr = t->cfg.learning_rate;
  train_rng_seed(&s->rng, t->cfg.seed);
  s->avg_num_neighbors = h->avg_num_neighbors;
  s->n_species = h->n_species;
  memcpy(s->energy_shift, h->energy_shift, sizeof s->energy_shift);
  memcpy(s->energy_scale, h->energy_scale, sizeof s->energy_scale);
  s->n_train = t->train.n;
  s->n_val = t->val.n;
}

/* A resumed run takes everything from the checkpoint, including the normalisation it started with. */
static int resume(trainer *t, const char *path) {
  char msg[TRAIN_PATH_MAX + 256];
  train_state *s = &t->state;
  if (train_checkpoint_read(path, s, msg, sizeof msg)) return fail_msg(msg);
  if (s->n_species != t->cfg.hyper.n_species || s->n_train != t->train.n || s->n_val != t->val.n) {
    snprintf(msg, sizeof msg,
             "%s: the checkpoint was written for %ld training and %ld validation frames and %d species; the "
             "configuration gives %d, %d and %d: resume with the configuration and data of the original run",
             path, s->n_train, s->n_val, s->n_species, t->train.n, t->val.n, t->cfg.hyper.n_species);
    return fail_msg(msg);
  }
  nnp_error err;
  if (nnp_model_set_normalisation(t->model, s->avg_num_neighbors, s->energy_shift, s->energy_scale, &err) != NNP_OK) {
    snprintf(msg, sizeof msg, "%s: %s", path, err.message);
    return fail_msg(msg);
  }
  return 0;
}

/* Fine-tuning or transfer: the weights of initial_model, with its avg_num_neighbors and energy scales (the weights
 * were trained for them); the energy shifts stay those fitted to this run's data, whose reference may differ. */
static int start_from_model(trainer *t) {
  nnp_error err;
  nnp_model *src = NULL;
  int shared = 0;
  nnp_status st = nnp_model_read(t->cfg.initial_model, &src, &err);
  if (st == NNP_OK) st = nnp_model_copy_weights(t->model, src, &shared, &err);
  if (st == NNP_OK && shared == 0) {
    snprintf(err.message, sizeof err.message, "it shares no species with the configuration");
    st = NNP_ERR_SPECIES;
  }
  if (st != NNP_OK) {
    fprintf(stderr, "nnp-train: initial_model %s: %s\n", t->cfg.initial_model, err.message);
    nnp_model_free(src);
    return -1;
  }
  const nnp_hyper *hs = nnp_model_hyper(src);
  nnp_hyper *h = &t->cfg.hyper;
  double mean_scale = 0;
  for (int s = 0; s < hs->n_species; ++s) mean_scale += hs->energy_scale[s] / hs->n_species;
  if (!t->cfg.have_avg_num_neighbors) h->avg_num_neighbors = hs->avg_num_neighbors;
  if (!t->cfg.have_energy_scale)
    for (int s = 0; s < h->n_species; ++s) {
      int k = nnp_model_species_index(src, h->species[s]);
      h->energy_scale[s] = k >= 0 ? hs->energy_scale[k] : mean_scale;
    }
  st = nnp_model_set_normalisation(t->model, h->avg_num_neighbors, h->energy_shift, h->energy_scale, &err);
  nnp_model_free(src);
  if (st != NNP_OK) return fail_msg(err.message);
  printf("nnp-train: starting from the weights of %s (%d of %d species shared)\n", t->cfg.initial_model, shared,
         h->n_species);
  return 0;
}

static int open_log(trainer *t, int append) {
  t->log = fopen(t->cfg.log, append ? "a" : "w");
  if (!t->log) {
    fprintf(stderr, "nnp-train: %s: cannot open the log for writing\n", t->cfg.log);
    return -1;
  }
  if (!append)
    fprintf(t->log, "epoch,step,time_s,learning_rate,train_loss,train_energy_rmse_meV_per_atom,"
                    "train_force_rmse_meV_per_A,val_loss,val_energy_rmse_meV_per_atom,val_force_rmse_meV_per_A,"
                    "best\n");
  fflush(t->log);
  return 0;
}

/* The model, learning curve and checkpoint may not overwrite the data, the configuration, the starting model or one
 * another (compared by file identity); the checkpoint a run resumes from is also its checkpoint output. */
static int check_output_paths(const trainer *t, const train_options *o) {
  const train_config *c = &t->cfg;
  tool_path in[TRAIN_MAX_FILES + 4];
  int n = 0;
  for (int k = 0; k < c->n_train_files; k++) in[n++] = (tool_path){c->train_files[k], "the training data"};
  in[n++] = (tool_path){c->validation_file, "the validation data"};
  in[n++] = (tool_path){o->config_path, "the configuration"};
  in[n++] = (tool_path){c->initial_model, "initial_model"};
  const tool_path out[3] = {{c->output, "output"}, {c->log, "log"}, {c->checkpoint, "checkpoint"}};
  const tool_path resumed[1] = {{o->resume_path, "the checkpoint resumed from"}};
  char msg[2 * TRAIN_PATH_MAX + 256];
  if (tool_outputs_distinct(in, n, out, 3, msg, sizeof msg) ||
      tool_outputs_distinct(resumed, 1, out, 2, msg, sizeof msg))
    return fail_msg(msg);
  return 0;
}

static int setup(trainer *t, const train_options *o) {
  if (train_config_read(o->config_path, &t->cfg)) return -1;
  if (check_output_paths(t, o)) return -1;
  if (o->max_epochs > 0) t->cfg.epochs = o->max_epochs;
  if (o->time_budget > 0) t->cfg.time_budget = o->time_budget;
  if (load_data(t)) return -1;
  if (t->train.n == 0) return fail_msg("no training frames");
  set_normalisation(t);
  nnp_error err;
  if (nnp_model_create_random(&t->cfg.hyper, t->cfg.seed, &t->model, &err) != NNP_OK) {
    fprintf(stderr, "nnp-train: %s: %s\n", o->config_path, err.message);
    return -1;
  }
  if (t->cfg.initial_model[0] && !o->resume_path && start_from_model(t)) return -1;
  size_t P = nnp_model_param_count(t->model);
  t->grad = malloc(P * sizeof *t->grad);
  t->order = malloc((size_t)t->train.n * sizeof *t->order);
  if (!t->grad || !t->order || train_state_alloc(&t->state, P)) return fail_msg("out of memory");
  init_state_from_model(t);
  if (o->resume_path && resume(t, o->resume_path)) return -1;
  if (train_engine_create(&t->engine, t->model, t->n_threads, t->cfg.batch_size, t->cfg.energy_weight,
                          t->cfg.force_weight, &err) != NNP_OK)
    return fail_msg(err.message);
  return open_log(t, o->resume_path != NULL);
}

static void teardown(trainer *t) {
  train_engine_free(&t->engine);
  train_state_free(&t->state);
  nnp_model_free(t->model);
  train_set_free(&t->train);
  train_set_free(&t->val);
  free(t->grad);
  free(t->order);
  if (t->log) fclose(t->log);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Saving                                                                                                            */

static void meta(trainer *t, const char *key, const char *value) {
  nnp_error err;
  if (nnp_model_set_meta(t->model, key, value, &err) != NNP_OK)
    fprintf(stderr, "nnp-train: warning: %s\n", err.message);
}

static void meta_set_files(trainer *t, const char *key, const train_set *set) {
  char text[8192];
  int n = 0;
  text[0] = '\0';
  for (int f = 0; f < set->n_files && n >= 0 && (size_t)n < sizeof text; f++)
    n += snprintf(text + n, sizeof text - (size_t)n, "%s%s (%ld frames used)", f ? "; " : "", set->files[f],
                  set->frames_per_file[f]);
  meta(t, key, set->n ? text : "none");
}

static void write_meta(trainer *t, const train_options *o, const epoch_report *r) {
  char v[512];
  meta(t, "trained_by", "nnp-train");
  meta(t, "command", o->command_line ? o->command_line : "");
  snprintf(v, sizeof v, "%llu", (unsigned long long)t->cfg.seed);
  meta(t, "seed", v);
  meta_set_files(t, "train_data", &t->train);
  if (t->cfg.initial_model[0]) meta(t, "initial_model", t->cfg.initial_model);
  if (t->cfg.validation_file[0])
    meta_set_files(t, "validation_data", &t->val);
  else {
    snprintf(v, sizeof v, "%d frames held out of the training files (validation_fraction %g, seed %llu)", t->val.n,
             t->cfg.validation_fraction, (unsigned long long)t->cfg.seed);
    meta(t, "validation_data", v);
  }
  snprintf(v, sizeof v, "%s (rank %d of %d species); residual RMS %.4g meV/atom",
           t->cfg.energy_reference_given ? "given" : "least squares, minimum norm", t->norm.rank,
           t->cfg.hyper.n_species, 1000 * t->norm.shift_rmse);
  meta(t, "energy_reference", v);
  snprintf(v, sizeof v, "%d", t->state.epoch);
  meta(t, "epoch", v);
  const train_errors *e = r->val.n_structures ? &r->val : &r->train;
  snprintf(v, sizeof v, "%.6g", train_errors_energy_rmse(e));
  meta(t, r->val.n_structures ? "val_energy_rmse_meV_per_atom" : "train_energy_rmse_meV_per_atom", v);
  snprintf(v, sizeof v, "%.6g", train_errors_force_rmse(e));
  meta(t, r->val.n_structures ? "val_force_rmse_meV_per_A" : "train_force_rmse_meV_per_A", v);
}

/* The EMA weights with their provenance, written to a temporary file and renamed (output_file.h), so a reader
 * never sees half a file and a failure leaves no temporary file behind. */
static int save_model(trainer *t, const train_options *o, const epoch_report *r) {
  tool_output out;
  nnp_error err;
  char msg[TRAIN_PATH_MAX + 256];
  memcpy(nnp_model_params(t->model), t->state.ema, t->state.n_params * sizeof(double));
  write_meta(t, o, r);
  if (tool_output_open(&out, t->cfg.output, "wb", msg, sizeof msg)) return fail_msg(msg);
  fclose(out.fp); /* the model writer opens the file itself */
  out.fp = NULL;
  if (nnp_model_write(t->model, out.temp_path ? out.temp_path : out.path, &err) != NNP_OK) {
    tool_output_discard(&out);
    fprintf(stderr, "nnp-train: %s: cannot write the model: %s\n", t->cfg.output, err.message);
    return -1;
  }
  if (tool_output_commit(&out, msg, sizeof msg)) return fail_msg(msg);
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Epochs                                                                                                            */

static int train_epoch(trainer *t, train_errors *acc) {
  train_state *s = &t->state;
  const int B = t->cfg.batch_size;
  nnp_error err;
  for (int i = 0; i < t->train.n; i++) t->order[i] = i;
  train_rng_shuffle(&s->rng, t->order, t->train.n);
  for (int b = 0; b < t->train.n; b += B) {
    int n = t->train.n - b < B ? t->train.n - b : B;
    memcpy(nnp_model_params(t->model), s->params, s->n_params * sizeof(double));
    if (train_batch_gradient(&t->engine, &t->train, t->order + b, n, t->grad, NULL, acc, &err) != NNP_OK)
      return fail_msg(err.message);
    train_clip_gradient(t->grad, s->n_params, t->cfg.grad_clip);
    train_adam_step(s, t->grad, t->cfg.ema_decay);
  }
  return 0;
}

/* Validation errors of the EMA weights (empty set: nothing, the caller uses the training errors). */
static int validate(trainer *t, train_errors *acc) {
  nnp_error err;
  memset(acc, 0, sizeof *acc);
  if (t->val.n == 0) return 0;
  memcpy(nnp_model_params(t->model), t->state.ema, t->state.n_params * sizeof(double));
  if (train_evaluate(&t->engine, &t->val, acc, &err) != NNP_OK) return fail_msg(err.message);
  return 0;
}

static double report_loss(const trainer *t, const epoch_report *r) {
  const train_errors *e = r->val.n_structures ? &r->val : &r->train;
  return train_errors_loss(e, t->cfg.energy_weight, t->cfg.force_weight);
}

static void format_duration(double s, char *out, size_t n) {
  if (!isfinite(s) || s < 0) {
    snprintf(out, n, "?");
    return;
  }
  long v = (long)(s + 0.5);
  snprintf(out, n, "%ld:%02ld:%02ld", v / 3600, (v / 60) % 60, v % 60);
}

static double time_left(const trainer *t) {
  double per = t->epochs_timed ? t->epoch_seconds_sum / t->epochs_timed : NAN;
  double left = per * (t->cfg.epochs - t->state.epoch);
  if (t->cfg.time_budget > 0) left = fmin(left, t->cfg.time_budget - (now_seconds() - t->t_start));
  return left;
}

static void print_progress(const trainer *t, const epoch_report *r) {
  char dur[32], left[32];
  format_duration(r->seconds, dur, sizeof dur);
  format_duration(time_left(t), left, sizeof left);
  printf("epoch %4d/%d  train E %8.3f meV/atom F %8.2f meV/A | val E %8.3f meV/atom F %8.2f meV/A | lr %.2e | "
         "%s, left %s%s%s\n",
         t->state.epoch, t->cfg.epochs, train_errors_energy_rmse(&r->train), train_errors_force_rmse(&r->train),
         train_errors_energy_rmse(&r->val), train_errors_force_rmse(&r->val), t->state.lr, dur, left,
         r->improved ? "  *best" : "", r->lr_lowered ? "  (lr lowered)" : "");
  fflush(stdout);
}

static void log_row(const trainer *t, const epoch_report *r) {
  fprintf(t->log, "%d,%ld,%.3f,%.6e,%.9e,%.6f,%.6f,%.9e,%.6f,%.6f,%d\n", t->state.epoch, t->state.step, r->seconds,
          t->state.lr, train_errors_loss(&r->train, t->cfg.energy_weight, t->cfg.force_weight),
          train_errors_energy_rmse(&r->train), train_errors_force_rmse(&r->train), report_loss(t, r),
          train_errors_energy_rmse(&r->val), train_errors_force_rmse(&r->val), r->improved);
  fflush(t->log);
}

/* One epoch end to end: steps, validation, best model, schedule, checkpoint, log. */
static int run_epoch(trainer *t, const train_options *o, train_summary *sum) {
  epoch_report r;
  memset(&r, 0, sizeof r);
  double t0 = now_seconds();
  if (train_epoch(t, &r.train) || validate(t, &r.val)) return -1;
  train_state *s = &t->state;
  s->epoch++;
  r.val_loss = report_loss(t, &r);
  if (!(r.val_loss >= s->best_loss)) { /* also true for the first finite loss */
    r.improved = 1;
    s->best_loss = r.val_loss;
    s->best_epoch = s->epoch;
    sum->best_val_energy_rmse = train_errors_energy_rmse(r.val.n_structures ? &r.val : &r.train);
    sum->best_val_force_rmse = train_errors_force_rmse(r.val.n_structures ? &r.val : &r.train);
    if (save_model(t, o, &r)) return -1;
  }
  r.lr_lowered = train_schedule_update(s, r.val_loss, t->cfg.lr_patience, t->cfg.lr_factor, t->cfg.min_learning_rate);
  char msg[TRAIN_PATH_MAX + 256];
  if (train_checkpoint_write(t->cfg.checkpoint, s, msg, sizeof msg)) return fail_msg(msg);
  r.seconds = now_seconds() - t0;
  t->epoch_seconds_sum += r.seconds;
  t->epochs_timed++;
  log_row(t, &r);
  if (!o->quiet) print_progress(t, &r);
  sum->epochs_done = s->epoch;
  return 0;
}

/* The errors before the first step (epoch 0), so a learning curve starts where training started. */
static int initial_report(trainer *t, const train_options *o, train_summary *sum) {
  epoch_report r;
  memset(&r, 0, sizeof r);
  if (validate(t, &r.val)) return -1;
  sum->initial_val_energy_rmse = train_errors_energy_rmse(&r.val);
  sum->initial_val_force_rmse = train_errors_force_rmse(&r.val);
  log_row(t, &r);
  if (!o->quiet) {
    printf("epoch    0/%d  initial model                                   | val E %8.3f meV/atom F %8.2f meV/A\n",
           t->cfg.epochs, sum->initial_val_energy_rmse, sum->initial_val_force_rmse);
    fflush(stdout);
  }
  return 0;
}

/* Another epoch fits in the time budget (judged by the mean epoch so far; the first epoch always runs). */
static int time_for_epoch(const trainer *t) {
  if (t->cfg.time_budget <= 0 || t->epochs_timed == 0) return 1;
  double mean = t->epoch_seconds_sum / t->epochs_timed;
  return now_seconds() - t->t_start + mean <= t->cfg.time_budget;
}

static void print_header(const trainer *t, const train_options *o) {
  const nnp_hyper *h = nnp_model_hyper(t->model);
  printf("nnp-train: %d training and %d validation frames, %zu parameters, %d threads\n", t->train.n, t->val.n,
         t->state.n_params, t->n_threads);
  printf("nnp-train: avg_num_neighbors %.4g, energy_scale %.4g eV (force RMS), energy shifts (%s, rank %d):",
         h->avg_num_neighbors, h->energy_scale[0], t->cfg.energy_reference_given ? "given" : "least squares",
         t->norm.rank);
  for (int s = 0; s < h->n_species; s++) printf(" %s %.6g", h->species[s], h->energy_shift[s]);
  printf(" eV\n");
  if (o->resume_path)
    printf("nnp-train: resuming from %s after epoch %d (lr %.2e, best loss %.6g at epoch %d)\n", o->resume_path,
           t->state.epoch, t->state.lr, t->state.best_loss, t->state.best_epoch);
  fflush(stdout);
}

int train_run(const train_options *o, train_summary *sum) {
  trainer t;
  memset(&t, 0, sizeof t);
  memset(sum, 0, sizeof *sum);
  sum->initial_val_force_rmse = sum->best_val_force_rmse = NAN;
  t.t_start = now_seconds();
#ifdef _OPENMP
  t.n_threads = o->threads > 0 ? o->threads : omp_get_max_threads();
#else
  t.n_threads = 1;
#endif
  if (o->list_validation) {
    int rc = train_config_read(o->config_path, &t.cfg) || load_data(&t);
    for (int k = 0; rc == 0 && k < t.val.n; k++)
      printf("%s %ld\n", t.val.files[t.val.items[k].file], t.val.items[k].frame);
    teardown(&t);
    return rc == 0 ? 0 : 1;
  }
  int rc = setup(&t, o);
  if (rc == 0 && !o->quiet) print_header(&t, o);
  if (rc == 0 && !o->resume_path) rc = initial_report(&t, o, sum);
  while (rc == 0 && t.state.epoch < t.cfg.epochs && time_for_epoch(&t)) rc = run_epoch(&t, o, sum);
  if (rc == 0 && t.state.best_epoch < 0) {
    epoch_report r; /* no epoch ran (epochs 0): still leave a model with the data's normalisation */
    memset(&r, 0, sizeof r);
    rc = save_model(&t, o, &r);
  }
  if (rc == 0 && !o->quiet) {
    if (t.state.epoch < t.cfg.epochs)
      printf("nnp-train: stopped after epoch %d: time budget of %g s reached\n", t.state.epoch, t.cfg.time_budget);
    printf("nnp-train: best model (epoch %d) in %s; checkpoint %s; learning curve %s\n", t.state.best_epoch,
           t.cfg.output, t.cfg.checkpoint, t.cfg.log);
  }
  sum->epochs_done = t.state.epoch;
  sum->seconds_per_epoch = t.epochs_timed ? t.epoch_seconds_sum / t.epochs_timed : NAN;
  sum->n_params = t.state.n_params;
  teardown(&t);
  return rc == 0 ? 0 : 1;
}
