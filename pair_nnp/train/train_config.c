/* pnnp-train configuration: `key values...` lines in the grammar of the model header (docs/training.md lists every
 * key). `#` starts a comment. The architecture keys are read by the core's one parser (hyper_file.h,
 * nnp_hyper_read_line); this file adds the training keys. */
#include "hyper_file.h"
#include "numbers.h"
#include "train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef hyper_file_line cfg_line;

static nnp_status fail(nnp_error *err, const cfg_line *l, const char *what, const char *detail) {
  return hyper_file_fail(err, l, what, detail);
}

/* NNP_ERR_ARGUMENT with "PATH: what" (a check of the whole file). */
static nnp_status fail_file(nnp_error *err, const char *path, const char *what) {
  snprintf(err->message, sizeof err->message, "%s: %.400s", path, what);
  return NNP_ERR_ARGUMENT;
}

void train_config_defaults(train_config *c) {
  memset(c, 0, sizeof *c);
  c->validation_fraction = 0.1;
  c->seed = 1;
  c->energy_weight = 1.0;
  c->force_weight = 1.0;
  c->learning_rate = 0.01;
  c->lr_factor = 0.5;
  c->lr_patience = 10;
  c->min_learning_rate = 1e-5;
  c->batch_size = 4;
  c->epochs = 100;
  c->ema_decay = 0.99;
  c->grad_clip = 100.0;
  c->lr_schedule = TRAIN_LR_PLATEAU;
  c->final_energy_weight = c->final_force_weight = -1;
  c->divergence_factor = 1000;
  c->radial_step = TRAIN_RADIAL_STEP;
  snprintf(c->output, sizeof c->output, "model.nnp");
}

void train_config_free(train_config *c) {
  free(c->rules);
  c->rules = NULL;
  c->n_rules = 0;
}

int train_config_final_stage(const train_config *c, int epoch) {
  return c->final_stage_epoch > 0 && (epoch < 1 ? 1 : epoch) >= c->final_stage_epoch;
}

void train_config_weights(const train_config *c, int epoch, double *w_energy, double *w_force) {
  int final = train_config_final_stage(c, epoch);
  *w_energy = final && c->final_energy_weight >= 0 ? c->final_energy_weight : c->energy_weight;
  *w_force = final && c->final_force_weight >= 0 ? c->final_force_weight : c->force_weight;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Values                                                                                                            */

static nnp_status one_int(const cfg_line *l, long lo, long hi, int *out, nnp_error *err) {
  char what[80];
  snprintf(what, sizeof what, "expected one integer in %ld..%ld", lo, hi);
  if (l->n != 2 || tool_parse_int(l->tok[1], lo, hi, out)) return fail(err, l, l->tok[0], what);
  return NNP_OK;
}

/* One finite number in [lo, hi]; open_lo excludes lo itself. */
static nnp_status one_real(const cfg_line *l, double lo, double hi, int open_lo, double *out, nnp_error *err) {
  double v;
  char what[96];
  snprintf(what, sizeof what, "expected one number in %s%g, %g]", open_lo ? "(" : "[", lo, hi);
  if (l->n != 2 || tool_parse_real(l->tok[1], &v) || v < lo || v > hi || (open_lo && v == lo))
    return fail(err, l, l->tok[0], what);
  *out = v;
  return NNP_OK;
}

/* A path relative to the configuration file's directory (absolute paths are kept). */
static nnp_status one_path(const cfg_line *l, const char *dir, char *out, nnp_error *err) {
  if (l->n != 2) return fail(err, l, l->tok[0], "expected one file name (no spaces)");
  const char *p = l->tok[1];
  int n = (p[0] == '/' || dir[0] == '\0') ? snprintf(out, TRAIN_PATH_MAX, "%s", p)
                                          : snprintf(out, TRAIN_PATH_MAX, "%s/%s", dir, p);
  if (n < 0 || n >= TRAIN_PATH_MAX) return fail(err, l, l->tok[0], "path too long");
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Keys                                                                                                              */

/* The grammar's energy_scale, which the trainer also needs positive (the scale of the network's output). */
static nnp_status set_energy_scale(const cfg_line *l, train_config *c, nnp_error *err) {
  nnp_hyper *h = &c->hyper;
  nnp_status st = hyper_file_apply(l, h, err);
  if (st) return st;
  for (int s = 0; s < h->n_species; s++)
    if (!(h->energy_scale[s] > 0)) return fail(err, l, "energy_scale", "expected positive numbers");
  c->have_energy_scale = 1;
  return NNP_OK;
}

/* `energy_reference least_squares` or `energy_reference O:-2041.2 H:-13.6` (every species once). */
static nnp_status set_energy_reference(const cfg_line *l, train_config *c, nnp_error *err) {
  const nnp_hyper *h = &c->hyper;
  if (l->n == 2 && strcmp(l->tok[1], "least_squares") == 0) {
    c->energy_reference_given = 0;
    return NNP_OK;
  }
  int seen[NNP_MAX_SPECIES] = {0};
  for (int i = 1; i < l->n; i++) {
    char sym[16];
    const char *colon = strchr(l->tok[i], ':');
    size_t len = colon ? (size_t)(colon - l->tok[i]) : 0;
    if (!colon || len == 0 || len >= sizeof sym)
      return fail(err, l, "energy_reference", "expected ELEMENT:ENERGY pairs");
    memcpy(sym, l->tok[i], len);
    sym[len] = '\0';
    int s = nnp_hyper_species_index(h, sym);
    if (s < 0) return fail(err, l, "energy_reference: element is not in the species list", sym);
    if (seen[s]++) return fail(err, l, "energy_reference: element given twice", sym);
    if (tool_parse_real(colon + 1, &c->energy_reference[s]))
      return fail(err, l, "energy_reference: not a number", colon + 1);
  }
  for (int s = 0; s < h->n_species; s++)
    if (!seen[s]) return fail(err, l, "energy_reference: no value for", h->species[s]);
  c->energy_reference_given = 1;
  return NNP_OK;
}

static nnp_status set_train(const cfg_line *l, const char *dir, train_config *c, nnp_error *err) {
  if (c->n_train_files == TRAIN_MAX_FILES) return fail(err, l, "train", "too many training files");
  return one_path(l, dir, c->train_files[c->n_train_files++], err);
}

/* `energy_offset FILE` (repeatable): checked against the `train` files once the data are read. */
static nnp_status set_energy_offset(const cfg_line *l, const char *dir, train_config *c, nnp_error *err) {
  if (c->n_energy_offsets == TRAIN_MAX_FILES) return fail(err, l, "energy_offset", "too many files");
  c->energy_offset_lines[c->n_energy_offsets] = l->line;
  return one_path(l, dir, c->energy_offset_files[c->n_energy_offsets++], err);
}

static nnp_status set_seed(const cfg_line *l, train_config *c, nnp_error *err) {
  char *end;
  errno = 0;
  if (l->n != 2 || l->tok[1][0] == '-') return fail(err, l, "seed", "expected a non-negative integer");
  unsigned long long v = strtoull(l->tok[1], &end, 10);
  if (end == l->tok[1] || *end || errno == ERANGE) return fail(err, l, "seed", "expected a non-negative integer");
  c->seed = (uint64_t)v;
  return NNP_OK;
}

static int parse_frame(const char *text, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (end == text || *end || errno == ERANGE || v < 0) return -1;
  *out = v;
  return 0;
}

/* `exclude FILE FRAME` and `frame_weight FILE FRAME|all W`: a rule matched against the data once it is read. */
static nnp_status add_frame_rule(const cfg_line *l, const char *dir, train_config *c, nnp_error *err) {
  int is_exclude = !strcmp(l->tok[0], "exclude");
  if (l->n != (is_exclude ? 3 : 4))
    return fail(err, l, l->tok[0],
                is_exclude ? "expected FILE FRAME (frames counted from 0)" : "expected FILE FRAME W");
  train_frame_rule r;
  memset(&r, 0, sizeof r);
  r.line = l->line;
  cfg_line path_only = *l;
  path_only.n = 2;
  nnp_status st = one_path(&path_only, dir, r.file, err);
  if (st) return st;
  int every = !is_exclude && !strcmp(l->tok[2], "all");
  if (every)
    r.frame = -1;
  else if (parse_frame(l->tok[2], &r.frame))
    return fail(err, l, l->tok[0], "FRAME: expected a frame number >= 0 (or `all` for frame_weight)");
  r.weight = 0;
  if (!is_exclude && (tool_parse_real(l->tok[3], &r.weight) || !(r.weight >= 0 && r.weight <= 1e6)))
    return fail(err, l, "frame_weight", "W: expected a number in [0, 1e6]");
  train_frame_rule *p = realloc(c->rules, (size_t)(c->n_rules + 1) * sizeof *p);
  if (!p) return fail(err, l, l->tok[0], "out of memory");
  c->rules = p;
  c->rules[c->n_rules++] = r;
  return NNP_OK;
}

static nnp_status set_validation_split(const cfg_line *l, train_config *c, nnp_error *err) {
  if (l->n == 2 && !strcmp(l->tok[1], "random"))
    c->validation_split = TRAIN_SPLIT_RANDOM;
  else if (l->n == 2 && !strcmp(l->tok[1], "last"))
    c->validation_split = TRAIN_SPLIT_LAST;
  else
    return fail(err, l, "validation_split", "expected `random` or `last`");
  return NNP_OK;
}

static nnp_status set_lr_schedule(const cfg_line *l, train_config *c, nnp_error *err) {
  if (l->n == 2 && !strcmp(l->tok[1], "plateau"))
    c->lr_schedule = TRAIN_LR_PLATEAU;
  else if (l->n == 2 && !strcmp(l->tok[1], "cosine"))
    c->lr_schedule = TRAIN_LR_COSINE;
  else
    return fail(err, l, "lr_schedule", "expected `plateau` or `cosine`");
  return NNP_OK;
}

/* The header keys that pnnp-train takes differently from a model file: energy_shift is fitted (energy_reference
 * fixes it), the model options describe imported NequIP models (start from one with initial_model), and the
 * normalisation keys, when given, stop the trainer from measuring them. The others go to the grammar. */
static nnp_status apply_model_key(const cfg_line *l, train_config *c, int *handled, nnp_error *err) {
  static const char *const options[] = {"paths", "gate_activation", "readout_activation", "residual",
                                        "radial_frequencies"};
  const char *k = l->tok[0];
  *handled = 1;
  if (!strcmp(k, "energy_shift"))
    return fail(err, l, "energy_shift", "pnnp-train fits the per-species shifts (fix them with energy_reference)");
  for (int i = 0; i < (int)(sizeof options / sizeof options[0]); i++)
    if (!strcmp(k, options[i]))
      return fail(err, l, k, "a model option of imported models; pnnp-train takes it from initial_model");
  if (!strcmp(k, "energy_scale")) return set_energy_scale(l, c, err);
  if (!strcmp(k, "avg_num_neighbors")) {
    c->have_avg_num_neighbors = 1;
    return hyper_file_apply(l, &c->hyper, err);
  }
  *handled = 0;
  return NNP_OK;
}

static nnp_status apply_train_key(const cfg_line *l, const char *dir, train_config *c, int *handled, nnp_error *err) {
  const char *k = l->tok[0];
  *handled = 1;
  if (!strcmp(k, "train")) return set_train(l, dir, c, err);
  if (!strcmp(k, "validation")) return one_path(l, dir, c->validation_file, err);
  if (!strcmp(k, "validation_fraction")) return one_real(l, 0, 0.9, 0, &c->validation_fraction, err);
  if (!strcmp(k, "validation_split")) return set_validation_split(l, c, err);
  if (!strcmp(k, "validation_gap")) return one_int(l, 0, 1 << 30, &c->validation_gap, err);
  if (!strcmp(k, "seed")) return set_seed(l, c, err);
  if (!strcmp(k, "energy_weight")) return one_real(l, 0, 1e12, 0, &c->energy_weight, err);
  if (!strcmp(k, "force_weight")) return one_real(l, 0, 1e12, 0, &c->force_weight, err);
  if (!strcmp(k, "learning_rate")) return one_real(l, 0, 10, 1, &c->learning_rate, err);
  if (!strcmp(k, "lr_factor")) return one_real(l, 0, 1, 1, &c->lr_factor, err);
  if (!strcmp(k, "lr_patience")) return one_int(l, 1, 1 << 20, &c->lr_patience, err);
  if (!strcmp(k, "min_learning_rate")) return one_real(l, 0, 10, 0, &c->min_learning_rate, err);
  if (!strcmp(k, "batch_size")) return one_int(l, 1, 1 << 16, &c->batch_size, err);
  if (!strcmp(k, "epochs")) return one_int(l, 0, 1 << 24, &c->epochs, err);
  if (!strcmp(k, "time_budget")) return one_real(l, 0, 1e9, 0, &c->time_budget, err);
  if (!strcmp(k, "ema_decay")) return one_real(l, 0, 0.999999, 0, &c->ema_decay, err);
  if (!strcmp(k, "grad_clip")) return one_real(l, 0, 1e300, 0, &c->grad_clip, err);
  if (!strcmp(k, "radial_step")) return one_real(l, 0, 0.1, 0, &c->radial_step, err);
  if (!strcmp(k, "energy_reference")) return set_energy_reference(l, c, err);
  if (!strcmp(k, "lr_schedule")) return set_lr_schedule(l, c, err);
  if (!strcmp(k, "warmup_epochs")) return one_real(l, 0, 1e6, 0, &c->warmup_epochs, err);
  if (!strcmp(k, "final_stage_epoch")) return one_int(l, 1, 1 << 24, &c->final_stage_epoch, err);
  if (!strcmp(k, "final_energy_weight")) return one_real(l, 0, 1e12, 0, &c->final_energy_weight, err);
  if (!strcmp(k, "final_force_weight")) return one_real(l, 0, 1e12, 0, &c->final_force_weight, err);
  if (!strcmp(k, "final_learning_rate")) return one_real(l, 0, 10, 1, &c->final_learning_rate, err);
  if (!strcmp(k, "divergence_factor")) return one_real(l, 0, 1e300, 0, &c->divergence_factor, err);
  if (!strcmp(k, "exclude") || !strcmp(k, "frame_weight")) return add_frame_rule(l, dir, c, err);
  if (!strcmp(k, "output")) return one_path(l, dir, c->output, err);
  if (!strcmp(k, "checkpoint")) return one_path(l, dir, c->checkpoint, err);
  if (!strcmp(k, "log")) return one_path(l, dir, c->log, err);
  if (!strcmp(k, "initial_model")) return one_path(l, dir, c->initial_model, err);
  if (!strcmp(k, "baseline_cache")) return one_path(l, dir, c->baseline_cache_dir, err);
  if (!strcmp(k, "energy_offset")) return set_energy_offset(l, dir, c, err);
  *handled = 0;
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* The file                                                                                                          */

typedef struct {
  train_config *cfg;
  const char *dir; /* the configuration's directory: relative paths are taken from there */
} key_context;

/* A line that is not species or pair_cutoff: the training keys, the header keys pnnp-train takes differently, and
 * (handled = 0) the rest of the header grammar. */
static nnp_status apply_key(void *ctx, const cfg_line *l, nnp_hyper *h, int *handled, nnp_error *err) {
  key_context *k = ctx;
  (void)h;
  nnp_status st = apply_model_key(l, k->cfg, handled, err);
  if (st || *handled) return st;
  return apply_train_key(l, k->dir, k->cfg, handled, err);
}

/* The checks of the whole file, and defaults that follow from other keys: checkpoint and log next to the output. */
static nnp_status finish(const char *path, train_config *c, nnp_error *err) {
  if (c->n_train_files == 0) return fail_file(err, path, "no `train FILE` line");
  if (c->min_learning_rate > c->learning_rate) c->min_learning_rate = c->learning_rate;
  if (c->validation_file[0] && (c->validation_split == TRAIN_SPLIT_LAST || c->validation_gap > 0))
    return fail_file(err, path,
                     "validation_split last and validation_gap hold frames out of the training files; with a "
                     "`validation` file nothing is held out: give one or the other");
  if (c->validation_gap > 0 && c->validation_split != TRAIN_SPLIT_LAST)
    return fail_file(err, path, "validation_gap needs validation_split last");
  if (c->final_stage_epoch == 0 &&
      (c->final_energy_weight >= 0 || c->final_force_weight >= 0 || c->final_learning_rate > 0))
    return fail_file(err, path,
                     "final_energy_weight, final_force_weight and final_learning_rate need final_stage_epoch");
  double we, wf;
  for (int e = 1; e <= 2; e++) {
    train_config_weights(c, e == 1 ? 1 : c->final_stage_epoch, &we, &wf);
    if (we == 0 && wf == 0)
      return fail_file(err, path,
                       e == 2 ? "the energy and force weights are both 0 in the final stage: nothing to fit"
                              : "the energy and force weights are both 0: nothing to fit");
  }
  if (c->n_energy_offsets > 0 && train_config_energy_free(c)) {
    snprintf(err->message, sizeof err->message,
             "%s:%ld: energy_offset fits constants to energies, but no stage of the run weighs energies "
             "(energy_weight 0, and final_energy_weight 0 or unset): nothing to fit",
             path, c->energy_offset_lines[0]);
    return NNP_ERR_ARGUMENT;
  }
  int n1 = c->checkpoint[0] ? 0 : snprintf(c->checkpoint, TRAIN_PATH_MAX, "%s.ckpt", c->output);
  int n2 = c->log[0] ? 0 : snprintf(c->log, TRAIN_PATH_MAX, "%s.log.csv", c->output);
  if (n1 >= TRAIN_PATH_MAX || n2 >= TRAIN_PATH_MAX) return fail_file(err, path, "output path too long");
  nnp_error inner;
  nnp_model *probe = NULL;
  if (nnp_model_create_random(&c->hyper, 1, &probe, &inner) != NNP_OK) {
    snprintf(err->message, sizeof err->message, "%s: the model hyperparameters are not valid: %.400s", path,
             inner.message);
    return NNP_ERR_ARGUMENT;
  }
  nnp_model_free(probe);
  return NNP_OK;
}

nnp_status train_config_read(const char *path, train_config *c, nnp_error *err) {
  train_config_defaults(c);
  snprintf(c->path, sizeof c->path, "%s", path);
  char dir[TRAIN_PATH_MAX] = "";
  const char *slash = strrchr(path, '/');
  if (slash && (size_t)(slash - path) < sizeof dir) {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (slash == path) snprintf(dir, sizeof dir, "/");
  }
  key_context ctx = {c, dir};
  nnp_status st = hyper_file_read(path, &c->hyper, apply_key, &ctx, err);
  return st ? st : finish(path, c, err);
}
