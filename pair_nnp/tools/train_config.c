/* nnp-train configuration: `key values...` lines in the syntax of the model header (docs/training.md lists every
 * key). `#` starts a comment. The species line is read first because other keys (pair_cutoff, energy_reference,
 * energy_scale) name or count species. */
#include "extxyz.h"
#include "numbers.h"
#include "train.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE   8192
#define MAX_TOKENS (2 * NNP_MAX_SPECIES + 8)

typedef struct {
  const char *path;
  long line;
  int n;
  char *tok[MAX_TOKENS];
} cfg_line;

static int fail(const cfg_line *l, const char *what, const char *detail) {
  fprintf(stderr, "nnp-train: %s:%ld: %s%s%s\n", l->path, l->line, what, detail ? ": " : "", detail ? detail : "");
  return -1;
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

static int one_int(const cfg_line *l, long lo, long hi, int *out) {
  char what[80];
  snprintf(what, sizeof what, "expected one integer in %ld..%ld", lo, hi);
  if (l->n != 2 || tool_parse_int(l->tok[1], lo, hi, out)) return fail(l, l->tok[0], what);
  return 0;
}

/* One finite number in [lo, hi]; open_lo excludes lo itself. */
static int one_real(const cfg_line *l, double lo, double hi, int open_lo, double *out) {
  double v;
  char what[96];
  snprintf(what, sizeof what, "expected one number in %s%g, %g]", open_lo ? "(" : "[", lo, hi);
  if (l->n != 2 || tool_parse_real(l->tok[1], &v) || v < lo || v > hi || (open_lo && v == lo))
    return fail(l, l->tok[0], what);
  *out = v;
  return 0;
}

/* A path relative to the configuration file's directory (absolute paths are kept). */
static int one_path(const cfg_line *l, const char *dir, char *out) {
  if (l->n != 2) return fail(l, l->tok[0], "expected one file name (no spaces)");
  const char *p = l->tok[1];
  int n = (p[0] == '/' || dir[0] == '\0') ? snprintf(out, TRAIN_PATH_MAX, "%s", p)
                                          : snprintf(out, TRAIN_PATH_MAX, "%s/%s", dir, p);
  if (n < 0 || n >= TRAIN_PATH_MAX) return fail(l, l->tok[0], "path too long");
  return 0;
}

static int species_index(const nnp_hyper *h, const char *sym) {
  for (int s = 0; s < h->n_species; s++)
    if (strcmp(h->species[s], sym) == 0) return s;
  return -1;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Keys                                                                                                              */

static int set_species(const cfg_line *l, train_config *c) {
  int n = l->n - 1;
  if (n < 1 || n > NNP_MAX_SPECIES) return fail(l, "species", "expected 1 to 32 element symbols");
  for (int s = 0; s < n; s++) {
    const char *canonical = xyz_element_symbol(xyz_element_z(l->tok[s + 1]));
    if (!canonical || strcmp(canonical, l->tok[s + 1]) != 0) return fail(l, "species: unknown element", l->tok[s + 1]);
    for (int t = 0; t < s; t++)
      if (strcmp(l->tok[t + 1], l->tok[s + 1]) == 0) return fail(l, "species: element listed twice", l->tok[s + 1]);
  }
  nnp_error err;
  if (nnp_hyper_default(&c->hyper, n, (const char *const *)&l->tok[1], &err) != NNP_OK)
    return fail(l, "species", err.message);
  return 0;
}

static int set_radial_hidden(const cfg_line *l, nnp_hyper *h) {
  int n = l->n - 1;
  if (n < 1 || n > 8) return fail(l, "radial_hidden", "expected 1 to 8 integers");
  for (int i = 0; i < n; i++)
    if (tool_parse_int(l->tok[i + 1], 1, 1 << 16, &h->radial_hidden[i]))
      return fail(l, "radial_hidden", "expected positive integers");
  h->n_radial_hidden = n;
  return 0;
}

static int set_pair_cutoff(const cfg_line *l, nnp_hyper *h) {
  double r;
  if (l->n != 4) return fail(l, "pair_cutoff", "expected A B r");
  int a = species_index(h, l->tok[1]), b = species_index(h, l->tok[2]);
  if (a < 0 || b < 0) return fail(l, "pair_cutoff", "element is not in the species list");
  if (tool_parse_real(l->tok[3], &r) || r <= 0 || r > h->r_cut)
    return fail(l, "pair_cutoff", "expected 0 < r <= r_cut");
  h->pair_cutoff[a][b] = h->pair_cutoff[b][a] = r;
  return 0;
}

static int set_energy_scale(const cfg_line *l, train_config *c) {
  nnp_hyper *h = &c->hyper;
  if (l->n - 1 != h->n_species) return fail(l, "energy_scale", "expected one positive number per species");
  for (int s = 0; s < h->n_species; s++)
    if (tool_parse_real(l->tok[s + 1], &h->energy_scale[s]) || h->energy_scale[s] <= 0)
      return fail(l, "energy_scale", "expected positive numbers");
  c->have_energy_scale = 1;
  return 0;
}

/* `energy_reference least_squares` or `energy_reference O:-2041.2 H:-13.6` (every species once). */
static int set_energy_reference(const cfg_line *l, train_config *c) {
  const nnp_hyper *h = &c->hyper;
  if (l->n == 2 && strcmp(l->tok[1], "least_squares") == 0) {
    c->energy_reference_given = 0;
    return 0;
  }
  int seen[NNP_MAX_SPECIES] = {0};
  for (int i = 1; i < l->n; i++) {
    char sym[16];
    const char *colon = strchr(l->tok[i], ':');
    size_t len = colon ? (size_t)(colon - l->tok[i]) : 0;
    if (!colon || len == 0 || len >= sizeof sym) return fail(l, "energy_reference", "expected ELEMENT:ENERGY pairs");
    memcpy(sym, l->tok[i], len);
    sym[len] = '\0';
    int s = species_index(h, sym);
    if (s < 0) return fail(l, "energy_reference: element is not in the species list", sym);
    if (seen[s]++) return fail(l, "energy_reference: element given twice", sym);
    if (tool_parse_real(colon + 1, &c->energy_reference[s]))
      return fail(l, "energy_reference: not a number", colon + 1);
  }
  for (int s = 0; s < h->n_species; s++)
    if (!seen[s]) return fail(l, "energy_reference: no value for", h->species[s]);
  c->energy_reference_given = 1;
  return 0;
}

static int set_train(const cfg_line *l, const char *dir, train_config *c) {
  if (c->n_train_files == TRAIN_MAX_FILES) return fail(l, "train", "too many training files");
  return one_path(l, dir, c->train_files[c->n_train_files++]);
}

/* `energy_offset FILE` (repeatable): checked against the `train` files once the data are read. */
static int set_energy_offset(const cfg_line *l, const char *dir, train_config *c) {
  if (c->n_energy_offsets == TRAIN_MAX_FILES) return fail(l, "energy_offset", "too many files");
  c->energy_offset_lines[c->n_energy_offsets] = l->line;
  return one_path(l, dir, c->energy_offset_files[c->n_energy_offsets++]);
}

static int set_seed(const cfg_line *l, train_config *c) {
  char *end;
  errno = 0;
  if (l->n != 2 || l->tok[1][0] == '-') return fail(l, "seed", "expected a non-negative integer");
  unsigned long long v = strtoull(l->tok[1], &end, 10);
  if (end == l->tok[1] || *end || errno == ERANGE) return fail(l, "seed", "expected a non-negative integer");
  c->seed = (uint64_t)v;
  return 0;
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
static int add_frame_rule(const cfg_line *l, const char *dir, train_config *c) {
  int is_exclude = !strcmp(l->tok[0], "exclude");
  if (l->n != (is_exclude ? 3 : 4))
    return fail(l, l->tok[0], is_exclude ? "expected FILE FRAME (frames counted from 0)" : "expected FILE FRAME W");
  train_frame_rule r;
  memset(&r, 0, sizeof r);
  r.line = l->line;
  cfg_line path_only = *l;
  path_only.n = 2;
  if (one_path(&path_only, dir, r.file)) return -1;
  int every = !is_exclude && !strcmp(l->tok[2], "all");
  if (every)
    r.frame = -1;
  else if (parse_frame(l->tok[2], &r.frame))
    return fail(l, l->tok[0], "FRAME: expected a frame number >= 0 (or `all` for frame_weight)");
  r.weight = 0;
  if (!is_exclude && (tool_parse_real(l->tok[3], &r.weight) || !(r.weight >= 0 && r.weight <= 1e6)))
    return fail(l, "frame_weight", "W: expected a number in [0, 1e6]");
  train_frame_rule *p = realloc(c->rules, (size_t)(c->n_rules + 1) * sizeof *p);
  if (!p) return fail(l, l->tok[0], "out of memory");
  c->rules = p;
  c->rules[c->n_rules++] = r;
  return 0;
}

static int set_validation_split(const cfg_line *l, train_config *c) {
  if (l->n == 2 && !strcmp(l->tok[1], "random"))
    c->validation_split = TRAIN_SPLIT_RANDOM;
  else if (l->n == 2 && !strcmp(l->tok[1], "last"))
    c->validation_split = TRAIN_SPLIT_LAST;
  else
    return fail(l, "validation_split", "expected `random` or `last`");
  return 0;
}

static int set_lr_schedule(const cfg_line *l, train_config *c) {
  if (l->n == 2 && !strcmp(l->tok[1], "plateau"))
    c->lr_schedule = TRAIN_LR_PLATEAU;
  else if (l->n == 2 && !strcmp(l->tok[1], "cosine"))
    c->lr_schedule = TRAIN_LR_COSINE;
  else
    return fail(l, "lr_schedule", "expected `plateau` or `cosine`");
  return 0;
}

/* baseline d3 ... / baseline coulomb ...: the model file's grammar (docs/model.md, "Baselines"). */
static int set_baseline(const cfg_line *l, train_config *c) {
  char values[1024] = "";
  for (int k = 1; k < l->n; k++) {
    size_t used = strlen(values);
    snprintf(values + used, sizeof values - used, "%s%s", k > 1 ? " " : "", l->tok[k]);
  }
  nnp_error err;
  return nnp_baseline_parse(&c->hyper, values, &err) == NNP_OK ? 0 : fail(l, "baseline", err.message);
}

/* The architecture keys, which write into nnp_hyper. */
static int apply_model_key(const cfg_line *l, train_config *c, int *handled) {
  nnp_hyper *h = &c->hyper;
  const char *k = l->tok[0];
  *handled = 1;
  if (!strcmp(k, "r_cut")) {
    int rc = one_real(l, 0, 100, 1, &h->r_cut);
    for (int a = 0; a < NNP_MAX_SPECIES; a++)
      for (int b = 0; b < NNP_MAX_SPECIES; b++) h->pair_cutoff[a][b] = h->r_cut;
    return rc;
  }
  if (!strcmp(k, "r_min")) return one_real(l, 0, 100, 0, &h->r_min);
  if (!strcmp(k, "l_max")) return one_int(l, 0, NNP_MAX_L, &h->l_max);
  if (!strcmp(k, "channels")) return one_int(l, 1, 1 << 16, &h->channels);
  if (!strcmp(k, "layers")) return one_int(l, 1, 1 << 10, &h->layers);
  if (!strcmp(k, "radial_basis")) return one_int(l, 1, 1 << 10, &h->radial_basis);
  if (!strcmp(k, "envelope_p")) return one_int(l, 1, 64, &h->envelope_p);
  if (!strcmp(k, "readout_hidden")) return one_int(l, 1, 1 << 16, &h->readout_hidden);
  if (!strcmp(k, "radial_hidden")) return set_radial_hidden(l, h);
  if (!strcmp(k, "units")) return (l->n == 2 && !strcmp(l->tok[1], "metal")) ? 0 : fail(l, "units", "only `metal`");
  if (!strcmp(k, "energy_scale")) return set_energy_scale(l, c);
  if (!strcmp(k, "baseline")) return set_baseline(l, c);
  if (!strcmp(k, "interaction")) {
    if (l->n == 2 && !strcmp(l->tok[1], "tensor")) return h->interaction = NNP_INTERACTION_TENSOR, 0;
    if (l->n == 2 && !strcmp(l->tok[1], "product")) return h->interaction = NNP_INTERACTION_PRODUCT, 0;
    return fail(l, "interaction", "expected `tensor` or `product`");
  }
  if (!strcmp(k, "correlation")) return one_int(l, 1, 4, &h->correlation);
  if (!strcmp(k, "message_l_max")) return one_int(l, 0, 2, &h->message_l_max);
  if (!strcmp(k, "avg_num_neighbors")) {
    c->have_avg_num_neighbors = 1;
    return one_real(l, 0, 1e6, 1, &h->avg_num_neighbors);
  }
  *handled = 0;
  return 0;
}

static int apply_train_key(const cfg_line *l, const char *dir, train_config *c, int *handled) {
  const char *k = l->tok[0];
  *handled = 1;
  if (!strcmp(k, "train")) return set_train(l, dir, c);
  if (!strcmp(k, "validation")) return one_path(l, dir, c->validation_file);
  if (!strcmp(k, "validation_fraction")) return one_real(l, 0, 0.9, 0, &c->validation_fraction);
  if (!strcmp(k, "validation_split")) return set_validation_split(l, c);
  if (!strcmp(k, "validation_gap")) return one_int(l, 0, 1 << 30, &c->validation_gap);
  if (!strcmp(k, "seed")) return set_seed(l, c);
  if (!strcmp(k, "energy_weight")) return one_real(l, 0, 1e12, 0, &c->energy_weight);
  if (!strcmp(k, "force_weight")) return one_real(l, 0, 1e12, 0, &c->force_weight);
  if (!strcmp(k, "learning_rate")) return one_real(l, 0, 10, 1, &c->learning_rate);
  if (!strcmp(k, "lr_factor")) return one_real(l, 0, 1, 1, &c->lr_factor);
  if (!strcmp(k, "lr_patience")) return one_int(l, 1, 1 << 20, &c->lr_patience);
  if (!strcmp(k, "min_learning_rate")) return one_real(l, 0, 10, 0, &c->min_learning_rate);
  if (!strcmp(k, "batch_size")) return one_int(l, 1, 1 << 16, &c->batch_size);
  if (!strcmp(k, "epochs")) return one_int(l, 0, 1 << 24, &c->epochs);
  if (!strcmp(k, "time_budget")) return one_real(l, 0, 1e9, 0, &c->time_budget);
  if (!strcmp(k, "ema_decay")) return one_real(l, 0, 0.999999, 0, &c->ema_decay);
  if (!strcmp(k, "grad_clip")) return one_real(l, 0, 1e300, 0, &c->grad_clip);
  if (!strcmp(k, "radial_step")) return one_real(l, 0, 0.1, 0, &c->radial_step);
  if (!strcmp(k, "energy_reference")) return set_energy_reference(l, c);
  if (!strcmp(k, "lr_schedule")) return set_lr_schedule(l, c);
  if (!strcmp(k, "warmup_epochs")) return one_real(l, 0, 1e6, 0, &c->warmup_epochs);
  if (!strcmp(k, "final_stage_epoch")) return one_int(l, 1, 1 << 24, &c->final_stage_epoch);
  if (!strcmp(k, "final_energy_weight")) return one_real(l, 0, 1e12, 0, &c->final_energy_weight);
  if (!strcmp(k, "final_force_weight")) return one_real(l, 0, 1e12, 0, &c->final_force_weight);
  if (!strcmp(k, "final_learning_rate")) return one_real(l, 0, 10, 1, &c->final_learning_rate);
  if (!strcmp(k, "divergence_factor")) return one_real(l, 0, 1e300, 0, &c->divergence_factor);
  if (!strcmp(k, "exclude") || !strcmp(k, "frame_weight")) return add_frame_rule(l, dir, c);
  if (!strcmp(k, "output")) return one_path(l, dir, c->output);
  if (!strcmp(k, "checkpoint")) return one_path(l, dir, c->checkpoint);
  if (!strcmp(k, "log")) return one_path(l, dir, c->log);
  if (!strcmp(k, "initial_model")) return one_path(l, dir, c->initial_model);
  if (!strcmp(k, "baseline_cache")) return one_path(l, dir, c->baseline_cache_dir);
  if (!strcmp(k, "energy_offset")) return set_energy_offset(l, dir, c);
  *handled = 0;
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* The file                                                                                                          */

static int tokenize(char *text, cfg_line *l) {
  char *hash = strchr(text, '#');
  if (hash) *hash = '\0';
  l->n = 0;
  for (char *s = text;;) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return 0;
    if (l->n == MAX_TOKENS) return -1;
    l->tok[l->n++] = s;
    while (*s && !isspace((unsigned char)*s)) s++;
    if (*s) *s++ = '\0';
  }
}

/* Pass 0 reads only `species`; pass 1 everything else (pair_cutoff waits for pass 2 so it sees the final r_cut). */
static int apply_line(const cfg_line *l, const char *dir, int pass, train_config *c) {
  int is_species = !strcmp(l->tok[0], "species"), is_pair = !strcmp(l->tok[0], "pair_cutoff");
  if (pass == 0) return is_species ? set_species(l, c) : 0;
  if (pass == 2) return is_pair ? set_pair_cutoff(l, &c->hyper) : 0;
  if (is_species || is_pair) return 0;
  int handled, rc = apply_model_key(l, c, &handled);
  if (handled) return rc;
  rc = apply_train_key(l, dir, c, &handled);
  if (handled) return rc;
  return fail(l, "unknown key", l->tok[0]);
}

static int read_pass(FILE *fp, const char *path, const char *dir, int pass, train_config *c) {
  char text[MAX_LINE];
  cfg_line l = {path, 0, 0, {0}};
  rewind(fp);
  while (fgets(text, sizeof text, fp)) {
    l.line++;
    if (strlen(text) == sizeof text - 1 && text[sizeof text - 2] != '\n') return fail(&l, "line too long", NULL);
    if (tokenize(text, &l)) return fail(&l, "too many values on one line", NULL);
    if (l.n > 0 && apply_line(&l, dir, pass, c)) return -1;
  }
  return 0;
}

/* Defaults that follow from other keys: checkpoint and log next to the output. */
static int finish(const char *path, train_config *c) {
  if (c->hyper.n_species == 0) {
    fprintf(stderr, "nnp-train: %s: no species line (e.g. `species H O`)\n", path);
    return -1;
  }
  if (c->n_train_files == 0) {
    fprintf(stderr, "nnp-train: %s: no `train FILE` line\n", path);
    return -1;
  }
  if (c->min_learning_rate > c->learning_rate) c->min_learning_rate = c->learning_rate;
  if (c->validation_file[0] && (c->validation_split == TRAIN_SPLIT_LAST || c->validation_gap > 0)) {
    fprintf(stderr,
            "nnp-train: %s: validation_split last and validation_gap hold frames out of the training files; with a "
            "`validation` file nothing is held out: give one or the other\n",
            path);
    return -1;
  }
  if (c->validation_gap > 0 && c->validation_split != TRAIN_SPLIT_LAST) {
    fprintf(stderr, "nnp-train: %s: validation_gap needs validation_split last\n", path);
    return -1;
  }
  if (c->final_stage_epoch == 0 &&
      (c->final_energy_weight >= 0 || c->final_force_weight >= 0 || c->final_learning_rate > 0)) {
    fprintf(stderr,
            "nnp-train: %s: final_energy_weight, final_force_weight and final_learning_rate need "
            "final_stage_epoch\n",
            path);
    return -1;
  }
  double we, wf;
  for (int e = 1; e <= 2; e++) {
    train_config_weights(c, e == 1 ? 1 : c->final_stage_epoch, &we, &wf);
    if (we == 0 && wf == 0) {
      fprintf(stderr, "nnp-train: %s: the energy and force weights are both 0%s: nothing to fit\n", path,
              e == 2 ? " in the final stage" : "");
      return -1;
    }
  }
  if (c->n_energy_offsets > 0 && train_config_energy_free(c)) {
    fprintf(stderr,
            "nnp-train: %s:%ld: energy_offset fits constants to energies, but no stage of the run weighs energies "
            "(energy_weight 0, and final_energy_weight 0 or unset): nothing to fit\n",
            path, c->energy_offset_lines[0]);
    return -1;
  }
  int n1 = c->checkpoint[0] ? 0 : snprintf(c->checkpoint, TRAIN_PATH_MAX, "%s.ckpt", c->output);
  int n2 = c->log[0] ? 0 : snprintf(c->log, TRAIN_PATH_MAX, "%s.log.csv", c->output);
  if (n1 >= TRAIN_PATH_MAX || n2 >= TRAIN_PATH_MAX) {
    fprintf(stderr, "nnp-train: %s: output path too long\n", path);
    return -1;
  }
  nnp_error err;
  nnp_model *probe = NULL;
  if (nnp_model_create_random(&c->hyper, 1, &probe, &err) != NNP_OK) {
    fprintf(stderr, "nnp-train: %s: the model hyperparameters are not valid: %s\n", path, err.message);
    return -1;
  }
  nnp_model_free(probe);
  return 0;
}

int train_config_read(const char *path, train_config *c) {
  train_config_defaults(c);
  snprintf(c->path, sizeof c->path, "%s", path);
  FILE *fp = fopen(path, "r");
  if (!fp) {
    fprintf(stderr, "nnp-train: %s: cannot open: %s\n", path, strerror(errno));
    return -1;
  }
  char dir[TRAIN_PATH_MAX] = "";
  const char *slash = strrchr(path, '/');
  if (slash && (size_t)(slash - path) < sizeof dir) {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (slash == path) snprintf(dir, sizeof dir, "/");
  }
  int rc = 0;
  for (int pass = 0; pass < 3 && rc == 0; pass++) {
    rc = read_pass(fp, path, dir, pass, c);
    if (rc == 0 && pass == 0 && c->hyper.n_species == 0) break;
  }
  fclose(fp);
  return rc == 0 ? finish(path, c) : -1;
}
