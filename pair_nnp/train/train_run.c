/* pnnp-train driver: set-up (configuration, data, normalisation, model, optimiser state or a checkpoint), the epoch
 * loop (shuffled batches, Adam steps, validation with the EMA weights, plateau schedule), and the outputs (progress
 * lines, CSV learning curve, best model, checkpoint every epoch). */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include "output_file.h"
#include "tool_error.h"
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
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
  int stop_epoch;                     /* the last epoch of this invocation: `epochs`, or --max-epochs */
  double w_energy, w_force;           /* the loss weights of the current epoch (final_stage_epoch switches them) */
  char identity[TRAIN_IDENTITY_MAX];  /* what defines this run (run_identity); a checkpoint must match it */
  const char *config_path;            /* for the command in baseline messages */
  char baseline_lammps[128];          /* LAMMPS version that computed the baseline caches; "" without a baseline */
  int n_gap;                          /* frames dropped before the held-out blocks (validation_split last) */
  double *epoch_energy;               /* [train.n] model energy of each training frame in this epoch's passes */
  char *epoch_seen;                   /* [train.n] 1: the frame's batch was applied this epoch */
  int offset_frames[TRAIN_MAX_FILES]; /* training frames the energy_offset constants were last fitted to */
  int file_group[TRAIN_MAX_FILES];    /* per `train` file: its energy_offset key (-1: the reference level) */
  nnp_error err;                      /* the message of the step that failed (train_run hands it to the caller) */
  nnp_status status;                  /* and its status */
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

/* The trainer's steps return 0 or -1 and leave the message of a failure in t->err (train_run returns it). */
static int fail(trainer *t, nnp_status status, const char *fmt, ...) TOOL_PRINTF(3, 4);
static int fail(trainer *t, nnp_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->err.message, sizeof t->err.message, fmt, ap);
  va_end(ap);
  t->status = status;
  return -1;
}

static int fail_msg(trainer *t, const char *what) { return fail(t, NNP_ERR_ARGUMENT, "%s", what); }

/* ---------------------------------------------------------------------------------------------------------------- */
/* Set-up                                                                                                            */

static nnp_status load_data(trainer *t, nnp_error *err) {
  const train_config *c = &t->cfg;
  const char *paths[TRAIN_MAX_FILES];
  for (int k = 0; k < c->n_train_files; k++) paths[k] = c->train_files[k];
  train_set all, gap;
  memset(&all, 0, sizeof all);
  memset(&gap, 0, sizeof gap);
  nnp_status st = train_set_load(&all, paths, c->n_train_files, &c->hyper, err);
  if (!st) st = train_set_check_energies(&all, c, err);
  if (!st) st = train_baseline_subtract(&all, c, t->config_path, t->baseline_lammps, sizeof t->baseline_lammps, err);
  if (st) {
    train_set_free(&all);
    return st;
  }
  if (c->validation_file[0]) {
    const char *vp = c->validation_file;
    t->train = all;
    st = train_set_load(&t->val, &vp, 1, &c->hyper, err);
    if (!st) st = train_set_check_energies(&t->val, c, err);
    if (!st)
      st = train_baseline_subtract(&t->val, c, t->config_path, t->baseline_lammps, sizeof t->baseline_lammps, err);
    if (st) return st;
  } else if (c->validation_split == TRAIN_SPLIT_LAST) {
    st = train_set_split_last(&all, c->validation_fraction, c->validation_gap, &t->train, &t->val, &gap, err);
    if (st) {
      train_set_free(&all);
      train_set_free(&gap);
      return st;
    }
  } else if ((st = train_set_split(&all, c->validation_fraction, c->seed, &t->train, &t->val, err))) {
    train_set_free(&all);
    return st;
  }
  /* after the split, so that excluding a frame never moves other frames between training and validation; the
   * gap frames of a time-block split are a third set here so that rules may name them, then they go */
  t->n_gap = gap.n; /* counted before the rules: the gap's size, whatever is excluded */
  train_set *const sets[3] = {&t->train, &t->val, &gap};
  st = train_sets_apply_rules(sets, 3, c->rules, c->n_rules, c->path, err);
  train_set_free(&gap);
  return st ? st : train_sets_mark_offsets(sets, 2, c, t->file_group, err);
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
  s->lr = s->base_lr = t->cfg.learning_rate;
  train_rng_seed(&s->rng, t->cfg.seed);
  s->avg_num_neighbors = h->avg_num_neighbors;
  s->n_species = h->n_species;
  memcpy(s->energy_shift, h->energy_shift, sizeof s->energy_shift);
  memcpy(s->energy_scale, h->energy_scale, sizeof s->energy_scale);
  s->n_train = t->train.n;
  s->n_val = t->val.n;
  memcpy(s->identity, t->identity, sizeof s->identity);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* What defines a run                                                                                                */

/* The identity of a run is a list of `key value` lines (a ` # ` starts a note that is not compared): the data
 * (bytes and FNV-1a hash of every file, not its name, so moved data still resumes), the split, exclusions and frame
 * weights, the seed, the architecture and the recipe. A resumed run must reproduce every line; the keys that may
 * change on resume (epochs, time_budget, min_learning_rate, divergence_factor, the output paths) are not in it. */
typedef struct {
  char *text;
  size_t used, size;
  int overflow;
} text_buf;

static void add_line(text_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->text + b->used, b->size - b->used, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= b->size - b->used)
    b->overflow = 1;
  else
    b->used += (size_t)n;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ULL;
  return h;
}

/* Bytes and FNV-1a hash of a file's contents. */
static int file_digest(const char *path, long long *bytes, uint64_t *hash) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return -1;
  unsigned char buf[1 << 16];
  size_t n;
  *bytes = 0;
  *hash = 0xcbf29ce484222325ULL;
  while ((n = fread(buf, 1, sizeof buf, fp)) > 0) {
    *hash = fnv1a(*hash, buf, n);
    *bytes += (long long)n;
  }
  int bad = ferror(fp);
  fclose(fp);
  return bad ? -1 : 0;
}

static int add_file_line(trainer *t, text_buf *b, const char *key, const char *path) {
  long long bytes;
  uint64_t hash;
  if (file_digest(path, &bytes, &hash)) {
    return fail(t, NNP_ERR_ARGUMENT, "%s: cannot read: %s", path, strerror(errno));
  }
  add_line(b, "%s bytes=%lld fnv1a=%016llx # %s\n", key, bytes, (unsigned long long)hash, path);
  return 0;
}

/* Which frame is where, with its weight: the split after exclusions. */
static uint64_t frames_hash(const trainer *t) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const train_set *sets[2] = {&t->train, &t->val};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < sets[k]->n; i++) {
      const train_structure *s = &sets[k]->items[i];
      long long rec[2] = {s->file, s->frame};
      h = fnv1a(h, &k, sizeof k);
      h = fnv1a(h, rec, sizeof rec);
      h = fnv1a(h, &s->weight, sizeof s->weight);
    }
  return h;
}

/* `key value` with the shortest of %.15g, %.17g that reads back as the value (so 0.1 shows as 0.1). */
static void add_num(text_buf *b, const char *key, double v) {
  char text[32];
  snprintf(text, sizeof text, "%.15g", v);
  if (strtod(text, NULL) != v) snprintf(text, sizeof text, "%.17g", v);
  add_line(b, "%s %s\n", key, text);
}

static void add_architecture(text_buf *b, const nnp_hyper *h) {
  add_line(b, "species");
  for (int s = 0; s < h->n_species; s++) add_line(b, " %s", h->species[s]);
  add_line(b, "\n");
  add_num(b, "r_cut", h->r_cut);
  add_num(b, "r_min", h->r_min);
  add_line(b, "l_max %d\nchannels %d\nlayers %d\nradial_basis %d\nenvelope_p %d\nreadout_hidden %d\nradial_hidden",
           h->l_max, h->channels, h->layers, h->radial_basis, h->envelope_p, h->readout_hidden);
  for (int k = 0; k < h->n_radial_hidden; k++) add_line(b, " %d", h->radial_hidden[k]);
  if (h->interaction == NNP_INTERACTION_PRODUCT) /* absent for the tensor family: its identities stay as they were */
    add_line(b, "\ninteraction product correlation %d message_l_max %d", h->correlation, h->message_l_max);
  uint64_t pc = 0xcbf29ce484222325ULL;
  for (int a = 0; a < h->n_species; a++) pc = fnv1a(pc, h->pair_cutoff[a], (size_t)h->n_species * sizeof(double));
  add_line(b, "\npair_cutoff fnv1a=%016llx\n", (unsigned long long)pc);
  char lines[1024]; /* the labels are reference minus baseline: a changed baseline is another run */
  if (nnp_baseline_format(h, lines, sizeof lines) < sizeof lines)
    for (char *p = lines; *p; ++p) add_line(b, "%c", *p == '\n' ? ';' : *p);
  add_line(b, "\n");
}

/* The seed first: a changed seed also changes the split, and the message should name the cause. */
static void add_seed(text_buf *b, const train_config *c) {
  add_line(b, "seed %llu\n", (unsigned long long)c->seed);
  add_num(b, "validation_fraction", c->validation_fraction);
  if (c->validation_split == TRAIN_SPLIT_LAST) /* absent for `random`: checkpoints of earlier runs still match */
    add_line(b, "validation_split last\nvalidation_gap %d\n", c->validation_gap);
}

static void add_recipe(text_buf *b, const train_config *c) {
  add_num(b, "energy_weight", c->energy_weight);
  add_num(b, "force_weight", c->force_weight);
  add_line(b, "final_stage_epoch %d\n", c->final_stage_epoch);
  add_num(b, "final_energy_weight", c->final_energy_weight);
  add_num(b, "final_force_weight", c->final_force_weight);
  add_num(b, "final_learning_rate", c->final_learning_rate);
  add_num(b, "learning_rate", c->learning_rate);
  add_line(b, "lr_schedule %s\n", c->lr_schedule == TRAIN_LR_COSINE ? "cosine" : "plateau");
  add_num(b, "warmup_epochs", c->warmup_epochs);
  add_line(b, "lr_patience %d\nbatch_size %d\n", c->lr_patience, c->batch_size);
  add_num(b, "lr_factor", c->lr_factor);
  add_num(b, "ema_decay", c->ema_decay);
  add_num(b, "grad_clip", c->grad_clip);
  add_num(b, "radial_step", c->radial_step);
  add_line(b, "energy_reference");
  if (!c->energy_reference_given) add_line(b, " least_squares");
  for (int s = 0; c->energy_reference_given && s < c->hyper.n_species; s++)
    add_line(b, " %s:%.17g", c->hyper.species[s], c->energy_reference[s]);
  add_line(b, "\navg_num_neighbors %s\nenergy_scale %s\n", c->have_avg_num_neighbors ? "given" : "measured",
           c->have_energy_scale ? "given" : "measured");
}

static int run_identity(trainer *t) {
  text_buf b = {t->identity, 0, sizeof t->identity, 0};
  const train_config *c = &t->cfg;
  char key[64];
  add_seed(&b, c);
  add_architecture(&b, &c->hyper);
  for (int k = 0; k < c->n_train_files; k++) {
    snprintf(key, sizeof key, "train_file_%d", k + 1);
    if (add_file_line(t, &b, key, c->train_files[k])) return -1;
  }
  if (c->validation_file[0] && add_file_line(t, &b, "validation_file", c->validation_file)) return -1;
  add_line(&b, "frames train=%d validation=%d split+exclusions+weights=%016llx\n", t->train.n, t->val.n,
           (unsigned long long)frames_hash(t));
  if (c->n_energy_offsets > 0) { /* absent without: checkpoints of earlier runs still match */
    add_line(&b, "energy_offset");
    for (int k = 0; k < c->n_train_files; k++)
      if (t->file_group[k] >= 0) add_line(&b, " train_file_%d:%d", k + 1, t->file_group[k] + 1);
    add_line(&b, "\n");
  }
  add_recipe(&b, c);
  if (b.overflow) return fail_msg(t, "the run's identity does not fit in a checkpoint (too many training files)");
  return 0;
}

/* The value of `key` in an identity text, without its note: copied into out (empty when absent). */
static void identity_value(const char *text, const char *key, char *out, size_t n, char *note, size_t n_note) {
  size_t k = strlen(key);
  out[0] = note[0] = '\0';
  for (const char *line = text; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
    if (strncmp(line, key, k) != 0 || (line[k] != ' ' && line[k] != '\n')) continue;
    size_t len = strcspn(line, "\n");
    const char *hash = strstr(line, " # ");
    size_t vlen = (hash && hash < line + len) ? (size_t)(hash - line) : len;
    snprintf(out, n, "%.*s", (int)vlen, line);
    if (hash && hash < line + len) snprintf(note, n_note, "%.*s", (int)(line + len - hash - 3), hash + 3);
    return;
  }
}

/* 0 when the checkpoint's run is this run; otherwise prints the first difference, naming the key. */
static int compare_identity(trainer *t, const char *ckpt_path, const char *saved, const char *now) {
  for (int pass = 0; pass < 2; pass++) {
    const char *text = pass ? now : saved;
    for (const char *line = text; *line;) {
      char key[128], a[2048], b[2048], na[TRAIN_PATH_MAX], nb[TRAIN_PATH_MAX];
      size_t klen = strcspn(line, " \n");
      snprintf(key, sizeof key, "%.*s", (int)(klen < sizeof key ? klen : sizeof key - 1), line);
      identity_value(saved, key, a, sizeof a, na, sizeof na);
      identity_value(now, key, b, sizeof b, nb, sizeof nb);
      if (strcmp(a, b) != 0) {
        return fail(t, NNP_ERR_ARGUMENT,
                    "--resume %s: `%s` differs from the run that wrote the checkpoint: it was `%s`%s%s%s, "
                    "the configuration now gives `%s`%s%s%s. Resume with the original configuration and data, or start "
                    "a new run (docs/training.md lists the keys that may change on resume)",
                    ckpt_path, key, a[0] ? a : "(absent)", na[0] ? " (" : "", na, na[0] ? ")" : "",
                    b[0] ? b : "(absent)", nb[0] ? " (" : "", nb, nb[0] ? ")" : "");
      }
      line += strcspn(line, "\n");
      if (*line) line++;
    }
  }
  return 0;
}

/* A resumed run takes everything from the checkpoint, including the normalisation it started with. */
static int resume(trainer *t, const char *path) {
  char msg[TRAIN_PATH_MAX + 256];
  train_state *s = &t->state;
  if ((t->status = train_checkpoint_read(path, s, &t->err))) return -1;
  if (compare_identity(t, path, s->identity, t->identity)) return -1;
  if (s->n_species != t->cfg.hyper.n_species || s->n_train != t->train.n || s->n_val != t->val.n) {
    snprintf(msg, sizeof msg,
             "%s: the checkpoint was written for %ld training and %ld validation frames and %d species; the "
             "configuration gives %d, %d and %d: resume with the configuration and data of the original run",
             path, s->n_train, s->n_val, s->n_species, t->train.n, t->val.n, t->cfg.hyper.n_species);
    return fail_msg(t, msg);
  }
  nnp_error err;
  if (nnp_model_set_normalisation(t->model, s->avg_num_neighbors, s->energy_shift, s->energy_scale, &err) != NNP_OK) {
    snprintf(msg, sizeof msg, "%s: %s", path, err.message);
    return fail_msg(t, msg);
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
    nnp_model_free(src);
    return fail(t, st, "initial_model %s: %s", t->cfg.initial_model, err.message);
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
  if (st != NNP_OK) return fail_msg(t, err.message);
  printf("pnnp-train: starting from the weights of %s (%d of %d species shared)\n", t->cfg.initial_model, shared,
         h->n_species);
  return 0;
}

/* Every write of the learning curve is checked: a full disk or a bad path stops the run instead of leaving a
 * silently truncated log. fflush after each row makes the error surface at the row that failed. */
static int log_written(trainer *t, int printed) {
  if (printed >= 0 && fflush(t->log) == 0 && !ferror(t->log)) return 0;
  return fail(t, NNP_ERR_ARGUMENT, "%s: cannot write the learning curve: %s", t->cfg.log, strerror(errno));
}

static int open_log(trainer *t, int append) {
  t->log = fopen(t->cfg.log, append ? "a" : "w");
  if (!t->log) {
    return fail(t, NNP_ERR_ARGUMENT, "%s: cannot open the log for writing: %s", t->cfg.log, strerror(errno));
  }
  int printed = 0;
  if (!append)
    printed = fprintf(t->log, "epoch,step,time_s,learning_rate,train_loss,train_energy_rmse_meV_per_atom,"
                              "train_force_rmse_meV_per_A,val_loss,val_energy_rmse_meV_per_atom,"
                              "val_force_rmse_meV_per_A,best\n");
  return log_written(t, printed);
}

/* The model, learning curve and checkpoint may not overwrite the data, the configuration, the starting model or one
 * another (compared by file identity); the checkpoint a run resumes from is also its checkpoint output. */
static int check_output_paths(trainer *t, const train_options *o) {
  const train_config *c = &t->cfg;
  tool_path in[TRAIN_MAX_FILES + 4];
  int n = 0;
  for (int k = 0; k < c->n_train_files; k++) in[n++] = (tool_path){c->train_files[k], "the training data"};
  in[n++] = (tool_path){c->validation_file, "the validation data"};
  in[n++] = (tool_path){o->config_path, "the configuration"};
  in[n++] = (tool_path){c->initial_model, "initial_model"};
  const tool_path out[3] = {{c->output, "output"}, {c->log, "log"}, {c->checkpoint, "checkpoint"}};
  const tool_path resumed[1] = {{o->resume_path, "the checkpoint resumed from"}};
  nnp_error err;
  if (tool_outputs_distinct(in, n, out, 3, &err) || tool_outputs_distinct(resumed, 1, out, 2, &err))
    return fail_msg(t, err.message);
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Energy offsets of pooled data sets (energy_offset; docs/training.md, "Pooling data sets")                        */

/* The constants are re-fitted in closed form, not learned: for given network energies the energy loss is quadratic
 * in them, so its exact minimiser is a weighted linear least-squares problem (train_offset_fit). They are fitted
 * to the starting model before the first epoch and re-fitted at the end of every epoch to the energies of that
 * epoch's own passes, and stay fixed within an epoch. */

/* Each offset key must have a training frame with an energy, and the reference level frames of its own. */
static int check_offset_frames(trainer *t) {
  const train_config *c = &t->cfg;
  for (int g = 0; g < c->n_energy_offsets; g++) {
    int n = 0;
    for (int k = 0; k < t->train.n; k++) n += t->train.items[k].offset_group == g && t->train.items[k].has_energy;
    if (n == 0) {
      return fail(t, NNP_ERR_ARGUMENT,
                  "%s:%ld: energy_offset %s: no training frame of the file has an energy: there is nothing "
                  "to fit its constants to",
                  c->path, c->energy_offset_lines[g], c->energy_offset_files[g]);
    }
  }
  if (c->n_energy_offsets > 0 && t->norm.shift_frames == 0 && !c->energy_reference_given) {
    return fail(t, NNP_ERR_ARGUMENT,
                "%s: energy_offset: no training frame of the unmarked files has an energy, so nothing sets "
                "the reference level (or give energy_reference)",
                c->path);
  }
  return 0;
}

/* Re-fit every group's constants to the model energies of the frames marked in `use` (NULL: all) of `set`. */
static void fit_offsets(trainer *t, const train_set *set, const double *energy, const char *use) {
  for (int g = 0; g < t->cfg.n_energy_offsets; g++)
    t->offset_frames[g] = train_offset_fit(set, g, t->cfg.hyper.n_species, energy, use, t->state.offset[g]);
}

/* Before the first epoch: the constants that fit the starting model (evaluated on the offset files' training
 * frames only); a resumed run has them from the checkpoint. */
static int initial_offsets(trainer *t) {
  train_set sub = t->train; /* a shallow view of the offset frames: the structures stay owned by t->train */
  sub.items = malloc((size_t)(t->train.n > 0 ? t->train.n : 1) * sizeof *sub.items);
  double *energy = malloc((size_t)(t->train.n > 0 ? t->train.n : 1) * sizeof *energy);
  train_errors ignored;
  nnp_error err;
  memset(&ignored, 0, sizeof ignored);
  int rc = sub.items && energy ? 0 : fail_msg(t, "out of memory");
  sub.n = 0;
  for (int k = 0; rc == 0 && k < t->train.n; k++)
    if (t->train.items[k].offset_group >= 0) sub.items[sub.n++] = t->train.items[k];
  if (rc == 0 && train_evaluate_energies(&t->engine, &sub, &ignored, energy, &err) != NNP_OK)
    rc = fail_msg(t, err.message);
  if (rc == 0) fit_offsets(t, &sub, energy, NULL);
  free(sub.items);
  free(energy);
  return rc;
}

static int setup_offsets(trainer *t, const train_options *o) {
  const int n = t->cfg.n_energy_offsets;
  if (n == 0) return 0;
  if (check_offset_frames(t)) return -1;
  t->engine.offsets = (const double(*)[NNP_MAX_SPECIES])t->state.offset;
  t->epoch_energy = calloc((size_t)t->train.n, sizeof *t->epoch_energy);
  t->epoch_seen = calloc((size_t)t->train.n, 1);
  if (!t->epoch_energy || !t->epoch_seen) return fail_msg(t, "out of memory");
  if (o->resume_path) {
    if (t->state.n_offsets != n)
      return fail_msg(t, "the checkpoint holds another number of energy_offset files than the configuration gives");
    return 0;
  }
  t->state.n_offsets = n;
  return initial_offsets(t);
}

/* "El:value ..." of one group's constants (eV per atom), at full precision when `exact`. */
static void format_offsets(const trainer *t, int g, int exact, char *out, size_t size) {
  const nnp_hyper *h = &t->cfg.hyper;
  size_t used = 0;
  out[0] = '\0';
  for (int s = 0; s < h->n_species && used < size; s++) {
    int n = snprintf(out + used, size - used, exact ? "%s%s:%.17g" : "%s%s:%+.6f", s ? " " : "", h->species[s],
                     t->state.offset[g][s]);
    used += n > 0 ? (size_t)n : 0;
  }
}

static void print_offsets(const trainer *t, const char *when) {
  char v[1024];
  for (int g = 0; g < t->cfg.n_energy_offsets; g++) {
    char frames[64] = "";
    if (t->offset_frames[g] > 0) snprintf(frames, sizeof frames, ", %d training frames", t->offset_frames[g]);
    format_offsets(t, g, 0, v, sizeof v);
    printf("pnnp-train: energy_offset %s (%s%s): %s eV per atom\n", t->cfg.energy_offset_files[g], when, frames, v);
  }
  fflush(stdout);
}

static int setup(trainer *t, const train_options *o) {
  t->config_path = o->config_path;
  nnp_error err; /* the configuration, then the model */
  if ((t->status = train_config_read(o->config_path, &t->cfg, &t->err))) return -1;
  if (check_output_paths(t, o)) return -1;
  /* --max-epochs stops early without shortening the schedule (so a run done in pieces is the same run), and
   * extends `epochs` when it asks for more */
  t->stop_epoch = t->cfg.epochs;
  if (o->max_epochs > 0) {
    t->stop_epoch = o->max_epochs;
    if (o->max_epochs > t->cfg.epochs) t->cfg.epochs = o->max_epochs;
  }
  if (o->time_budget > 0) t->cfg.time_budget = o->time_budget;
  if ((t->status = load_data(t, &t->err))) return -1;
  if (t->train.n == 0) return fail_msg(t, "no training frames");
  set_normalisation(t);
  if (run_identity(t)) return -1;
  if (nnp_model_create_random(&t->cfg.hyper, t->cfg.seed, &t->model, &err) != NNP_OK) {
    return fail(t, NNP_ERR_ARGUMENT, "%s: %s", o->config_path, err.message);
  }
  if (t->cfg.initial_model[0] && !o->resume_path && start_from_model(t)) return -1;
  size_t P = nnp_model_param_count(t->model);
  t->grad = malloc(P * sizeof *t->grad);
  t->order = malloc((size_t)t->train.n * sizeof *t->order);
  if (!t->grad || !t->order || train_state_alloc(&t->state, P)) return fail_msg(t, "out of memory");
  init_state_from_model(t);
  if (o->resume_path && resume(t, o->resume_path)) return -1;
  if (train_engine_create(&t->engine, t->model, t->n_threads, t->cfg.batch_size, t->cfg.energy_weight,
                          t->cfg.force_weight, &err) != NNP_OK ||
      train_engine_set_radial_step(&t->engine, t->cfg.radial_step, &err) != NNP_OK)
    return fail_msg(t, err.message);
  if (setup_offsets(t, o)) return -1;
  return open_log(t, o->resume_path != NULL);
}

/* Closes the log (the last chance for a buffered write to fail); 0 or -1 with a message. */
static int close_log(trainer *t) {
  if (!t->log) return 0;
  int rc = fclose(t->log);
  t->log = NULL;
  if (rc == 0) return 0;
  return fail(t, NNP_ERR_ARGUMENT, "%s: cannot write the learning curve: %s", t->cfg.log, strerror(errno));
}

static void teardown(trainer *t) {
  close_log(t);
  train_config_free(&t->cfg);
  train_engine_free(&t->engine);
  train_state_free(&t->state);
  nnp_model_free(t->model);
  train_set_free(&t->train);
  train_set_free(&t->val);
  free(t->grad);
  free(t->order);
  free(t->epoch_energy);
  free(t->epoch_seen);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Saving                                                                                                            */

static void meta(trainer *t, const char *key, const char *value) {
  nnp_error err;
  if (nnp_model_set_meta(t->model, key, value, &err) != NNP_OK) tool_notice("pnnp-train", "warning: %s", err.message);
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
  meta(t, "trained_by", "pnnp-train");
  meta(t, "command", o->command_line ? o->command_line : "");
  snprintf(v, sizeof v, "%llu", (unsigned long long)t->cfg.seed);
  meta(t, "seed", v);
  meta_set_files(t, "train_data", &t->train);
  if (t->cfg.initial_model[0]) meta(t, "initial_model", t->cfg.initial_model);
  if (t->baseline_lammps[0]) meta(t, "baseline_lammps", t->baseline_lammps);
  if (t->cfg.validation_file[0])
    meta_set_files(t, "validation_data", &t->val);
  else if (t->cfg.validation_split == TRAIN_SPLIT_LAST) {
    snprintf(v, sizeof v,
             "%d frames held out of the training files: the last of each file (validation_fraction %g, "
             "validation_split last, validation_gap %d: %d frames before the blocks dropped)",
             t->val.n, t->cfg.validation_fraction, t->cfg.validation_gap, t->n_gap);
    meta(t, "validation_data", v);
  } else {
    snprintf(v, sizeof v, "%d frames held out of the training files (validation_fraction %g, seed %llu)", t->val.n,
             t->cfg.validation_fraction, (unsigned long long)t->cfg.seed);
    meta(t, "validation_data", v);
  }
  if (t->norm.energy_frames == 0 && !t->cfg.energy_reference_given)
    snprintf(v, sizeof v,
             "none: no training frame has an energy (force matching); shifts 0, the energies are defined "
             "up to a constant per atom of each species");
  else if (t->norm.energy_frames == 0)
    snprintf(v, sizeof v, "given; no training frame has an energy (force matching)");
  else
    snprintf(v, sizeof v, "%s (rank %d of %d species, %d frames with energies); residual RMS %.4g meV/atom",
             t->cfg.energy_reference_given ? "given" : "least squares, minimum norm", t->norm.rank,
             t->cfg.hyper.n_species, t->norm.shift_frames, 1000 * t->norm.shift_rmse);
  meta(t, "energy_reference", v);
  if (t->cfg.n_energy_offsets > 0) {
    char text[8192], one[1024];
    size_t used = 0;
    text[0] = '\0';
    for (int g = 0; g < t->cfg.n_energy_offsets && used < sizeof text; g++) {
      format_offsets(t, g, 1, one, sizeof one);
      int n = snprintf(text + used, sizeof text - used, "%s%s %s", g ? "; " : "", t->cfg.energy_offset_files[g], one);
      used += n > 0 ? (size_t)n : 0;
    }
    meta(t, "energy_offset", text); /* eV per atom the file's energies carry above the model's: not in the model */
  }
  snprintf(v, sizeof v, "%d", t->state.epoch);
  meta(t, "epoch", v);
  const train_errors *e = r->val.n_structures ? &r->val : &r->train;
  if (e->n_energy)
    snprintf(v, sizeof v, "%.6g", train_errors_energy_rmse(e));
  else
    snprintf(v, sizeof v, "n/a (no frame has an energy)");
  meta(t, r->val.n_structures ? "val_energy_rmse_meV_per_atom" : "train_energy_rmse_meV_per_atom", v);
  snprintf(v, sizeof v, "%.6g", train_errors_force_rmse(e));
  meta(t, r->val.n_structures ? "val_force_rmse_meV_per_A" : "train_force_rmse_meV_per_A", v);
}

/* The EMA weights with their provenance, written to a temporary file and renamed (output_file.h), so a reader
 * never sees half a file and a failure leaves no temporary file behind. */
static int save_model(trainer *t, const train_options *o, const epoch_report *r) {
  tool_output out;
  nnp_error err;
  memcpy(nnp_model_params(t->model), t->state.ema, t->state.n_params * sizeof(double));
  write_meta(t, o, r);
  if (tool_output_open(&out, t->cfg.output, "wb", &err)) return fail_msg(t, err.message);
  fclose(out.fp); /* the model writer opens the file itself */
  out.fp = NULL;
  if (nnp_model_write(t->model, out.temp_path ? out.temp_path : out.path, &err) != NNP_OK) {
    tool_output_discard(&out);
    return fail(t, NNP_ERR_ARGUMENT, "%s: cannot write the model: %s", t->cfg.output, err.message);
  }
  if (tool_output_commit(&out, &err)) return fail_msg(t, err.message);
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Epochs                                                                                                            */

static int all_finite(const double *a, size_t n) {
  for (size_t q = 0; q < n; q++)
    if (!isfinite(a[q])) return 0;
  return 1;
}

static void add_batch_errors(train_errors *acc, const train_errors *e) {
  acc->energy_sq += e->energy_sq;
  acc->force_sq += e->force_sq;
  acc->n_structures += e->n_structures;
  acc->n_energy += e->n_energy;
  acc->n_components += e->n_components;
  acc->loss += e->loss;
}

/* A batch whose loss or gradient is not finite: say which frames (those whose own errors or gradient share are not
 * finite; all of the batch when only the sum overflowed). The step is skipped by the caller. */
static void report_skipped_batch(const trainer *t, int batch, const int *idx, int n, double loss) {
  const train_engine *e = &t->engine;
  const size_t P = t->state.n_params;
  int named = 0;
  char text[4096];
  size_t used = (size_t)snprintf(
      text, sizeof text,
      "epoch %d, batch %d (step %ld): %s; step skipped, weights unchanged; frames:", t->state.epoch + 1, batch + 1,
      t->state.step + 1, isfinite(loss) ? "non-finite gradient" : "non-finite loss");
  for (int pass = 0; pass < 2 && !named; pass++)
    for (int k = 0; k < n && k < e->n_slots; k++) {
      const train_errors *se = &e->slot_errors[k];
      int bad = !isfinite(se->energy_sq) || !isfinite(se->force_sq) || !all_finite(e->slots + (size_t)k * P, P);
      if (pass == 1 || bad) {
        const train_structure *s = &t->train.items[idx[k]];
        if (used < sizeof text)
          used += (size_t)snprintf(text + used, sizeof text - used, " %s frame %ld%s", t->train.files[s->file],
                                   s->frame, bad ? " (non-finite)" : "");
        named += pass == 0;
      }
    }
  tool_notice("pnnp-train", "%s", text);
}

/* One pass over the shuffled training frames. A batch with a non-finite loss or gradient is skipped (reported, not
 * applied: clipping an infinite norm would write NaN into every weight); more than half the batches skipped
 * means the run has diverged. */
static int train_epoch(trainer *t, train_errors *acc) {
  train_state *s = &t->state;
  const int B = t->cfg.batch_size;
  const long steps_per_epoch = (t->train.n + B - 1) / B;
  nnp_error err;
  int skipped = 0, batches = 0;
  for (int i = 0; i < t->train.n; i++) t->order[i] = i;
  train_rng_shuffle(&s->rng, t->order, t->train.n);
  if (t->epoch_seen) memset(t->epoch_seen, 0, (size_t)t->train.n);
  for (int b = 0; b < t->train.n; b += B, batches++) {
    int n = t->train.n - b < B ? t->train.n - b : B;
    train_errors batch;
    double loss = 0;
    memset(&batch, 0, sizeof batch);
    memcpy(nnp_model_params(t->model), s->params, s->n_params * sizeof(double));
    if (train_batch_gradient(&t->engine, &t->train, t->order + b, n, t->grad, &loss, &batch, &err) != NNP_OK)
      return fail_msg(t, err.message);
    if (!isfinite(loss) || !all_finite(t->grad, s->n_params)) {
      report_skipped_batch(t, b / B, t->order + b, n, loss);
      s->skipped_steps++;
      skipped++;
      continue;
    }
    add_batch_errors(acc, &batch);
    for (int k = 0; t->epoch_seen && k < n; k++) { /* the energies the offsets are re-fitted to */
      t->epoch_energy[t->order[b + k]] = t->engine.slot_energies[k];
      t->epoch_seen[t->order[b + k]] = 1;
    }
    train_clip_gradient(t->grad, s->n_params, t->cfg.grad_clip);
    s->lr = train_step_lr(s, &t->cfg, steps_per_epoch);
    train_adam_step(s, t->grad, t->cfg.ema_decay);
  }
  if (2 * skipped > batches)
    return fail(t, NNP_ERR_NUMERIC,
                "training diverged in epoch %d: %d of %d steps had a non-finite loss or gradient. Stopped; the best "
                "model (epoch %d) stays in %s and the checkpoint of epoch %d in %s. Lower learning_rate, set "
                "grad_clip, or exclude the frames named above",
                s->epoch + 1, skipped, batches, s->best_epoch, t->cfg.output, s->epoch, t->cfg.checkpoint);
  if (t->epoch_seen) fit_offsets(t, &t->train, t->epoch_energy, t->epoch_seen);
  return 0;
}

/* Validation errors of the EMA weights (empty set: nothing, the caller uses the training errors). */
static int validate(trainer *t, train_errors *acc) {
  nnp_error err;
  memset(acc, 0, sizeof *acc);
  if (t->val.n == 0) return 0;
  memcpy(nnp_model_params(t->model), t->state.ema, t->state.n_params * sizeof(double));
  if (train_evaluate(&t->engine, &t->val, acc, &err) != NNP_OK) return fail_msg(t, err.message);
  return 0;
}

/* The loss that judges an epoch: validation errors under the epoch's weights (training errors without a
 * validation set). */
static double report_loss(const trainer *t, const epoch_report *r) {
  const train_errors *e = r->val.n_structures ? &r->val : &r->train;
  return train_errors_loss(e, t->w_energy, t->w_force);
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
  double left = per * (t->stop_epoch - t->state.epoch);
  if (t->cfg.time_budget > 0) left = fmin(left, t->cfg.time_budget - (now_seconds() - t->t_start));
  return left;
}

/* An RMSE in a fixed-width field, or "n/a" when the set has nothing to measure it on (no energies, no frames). */
static void format_rmse(double v, int width, int precision, char *out, size_t n) {
  if (isfinite(v))
    snprintf(out, n, "%*.*f", width, precision, v);
  else
    snprintf(out, n, "%*s", width, "n/a");
}

static void print_progress(const trainer *t, const epoch_report *r) {
  char dur[32], left[32], te[32], tf[32], ve[32], vf[32];
  format_duration(r->seconds, dur, sizeof dur);
  format_duration(time_left(t), left, sizeof left);
  format_rmse(train_errors_energy_rmse(&r->train), 8, 3, te, sizeof te);
  format_rmse(train_errors_force_rmse(&r->train), 8, 2, tf, sizeof tf);
  format_rmse(train_errors_energy_rmse(&r->val), 8, 3, ve, sizeof ve);
  format_rmse(train_errors_force_rmse(&r->val), 8, 2, vf, sizeof vf);
  printf("epoch %4d/%d  train E %s meV/atom F %s meV/A | val E %s meV/atom F %s meV/A | lr %.2e | %s, left %s%s%s\n",
         t->state.epoch, t->cfg.epochs, te, tf, ve, vf, t->state.lr, dur, left, r->improved ? "  *best" : "",
         r->lr_lowered ? "  (lr lowered)" : "");
  fflush(stdout);
}

/* An RMSE as a CSV field: empty when not available (the set has no energies), which CSV readers take as missing. */
static void csv_rmse(double v, char *out, size_t n) {
  if (isfinite(v))
    snprintf(out, n, "%.6f", v);
  else
    out[0] = '\0';
}

static int log_row(trainer *t, const epoch_report *r) {
  char te[32], tf[32], ve[32], vf[32];
  csv_rmse(train_errors_energy_rmse(&r->train), te, sizeof te);
  csv_rmse(train_errors_force_rmse(&r->train), tf, sizeof tf);
  csv_rmse(train_errors_energy_rmse(&r->val), ve, sizeof ve);
  csv_rmse(train_errors_force_rmse(&r->val), vf, sizeof vf);
  int printed = fprintf(t->log, "%d,%ld,%.3f,%.6e,%.9e,%s,%s,%.9e,%s,%s,%d\n", t->state.epoch, t->state.step,
                        r->seconds, t->state.lr, train_errors_loss(&r->train, t->w_energy, t->w_force), te, tf,
                        report_loss(t, r), ve, vf, r->improved);
  return log_written(t, printed);
}

/* The loss weights of the coming epoch; on the first epoch of the final stage the best loss and the plateau
 * reference restart, because losses under different weights cannot be compared. */
static void begin_epoch(trainer *t, const train_options *o) {
  train_state *s = &t->state;
  const int e = s->epoch + 1;
  train_config_weights(&t->cfg, e, &t->w_energy, &t->w_force);
  t->engine.energy_weight = t->w_energy;
  t->engine.force_weight = t->w_force;
  if (t->cfg.final_stage_epoch > 1 && e == t->cfg.final_stage_epoch) {
    s->best_loss = s->plateau_best = INFINITY;
    s->plateau_count = 0;
    if (!o->quiet)
      printf("pnnp-train: final stage from epoch %d: energy_weight %g, force_weight %g (the best model restarts)\n", e,
             t->w_energy, t->w_force);
  }
}

/* A validation loss that is not finite, or more than divergence_factor times the best so far, stops the run: the
 * best model and the previous checkpoint are kept. */
static int diverged(trainer *t, double loss) {
  const train_state *s = &t->state;
  const double f = t->cfg.divergence_factor;
  if (isfinite(loss) && !(f > 0 && isfinite(s->best_loss) && loss > f * s->best_loss)) return 0;
  fail(t, NNP_ERR_NUMERIC,
       "training diverged at epoch %d: validation loss %.6g%s%.6g (epoch %d). Stopped; the best model (epoch %d) "
       "stays in %s and the checkpoint of epoch %d in %s. Lower learning_rate or set grad_clip (divergence_factor %g)",
       s->epoch, loss, isfinite(loss) ? " is more than divergence_factor times the best, " : "; the best was ",
       s->best_loss, s->best_epoch, s->best_epoch, t->cfg.output, s->epoch - 1, t->cfg.checkpoint, f);
  return 1;
}

static void note_best(trainer *t, const epoch_report *r, train_summary *sum) {
  train_state *s = &t->state;
  const train_errors *e = r->val.n_structures ? &r->val : &r->train;
  s->best_loss = r->val_loss;
  s->best_epoch = s->epoch;
  sum->best_val_energy_rmse = train_errors_energy_rmse(e);
  sum->best_val_force_rmse = train_errors_force_rmse(e);
}

/* One epoch end to end: steps, validation, best model, schedule, checkpoint, log. */
static int run_epoch(trainer *t, const train_options *o, train_summary *sum) {
  epoch_report r;
  memset(&r, 0, sizeof r);
  double t0 = now_seconds();
  begin_epoch(t, o);
  if (train_epoch(t, &r.train) || validate(t, &r.val)) return -1;
  train_state *s = &t->state;
  s->epoch++;
  r.val_loss = report_loss(t, &r);
  if (diverged(t, r.val_loss)) {
    r.seconds = now_seconds() - t0;
    log_row(t, &r);
    return -1;
  }
  if (!(r.val_loss >= s->best_loss)) { /* also true for the first finite loss */
    r.improved = 1;
    note_best(t, &r, sum);
    if (save_model(t, o, &r)) return -1;
  }
  if (t->cfg.lr_schedule == TRAIN_LR_PLATEAU)
    r.lr_lowered = train_schedule_update(s, r.val_loss, t->cfg.lr_patience, t->cfg.lr_factor, t->cfg.min_learning_rate);
  if ((t->status = train_checkpoint_write(t->cfg.checkpoint, s, &t->err))) return -1;
  r.seconds = now_seconds() - t0;
  t->epoch_seconds_sum += r.seconds;
  t->epochs_timed++;
  if (log_row(t, &r)) return -1;
  if (!o->quiet) print_progress(t, &r);
  if (!o->quiet && t->cfg.n_energy_offsets > 0) print_offsets(t, "re-fitted");
  sum->epochs_done = s->epoch;
  return 0;
}

/* Epoch 0: the errors of the starting model, which is the first candidate for the best model (a fine-tune that only
 * gets worse keeps it). Without a validation set the training frames are evaluated instead. */
static int initial_report(trainer *t, const train_options *o, train_summary *sum) {
  epoch_report r;
  memset(&r, 0, sizeof r);
  nnp_error err;
  train_config_weights(&t->cfg, 0, &t->w_energy, &t->w_force);
  if (validate(t, &r.val)) return -1;
  if (t->val.n == 0 && train_evaluate(&t->engine, &t->train, &r.train, &err) != NNP_OK) return fail_msg(t, err.message);
  const train_errors *e = t->val.n ? &r.val : &r.train;
  sum->initial_val_energy_rmse = train_errors_energy_rmse(e);
  sum->initial_val_force_rmse = train_errors_force_rmse(e);
  r.val_loss = report_loss(t, &r);
  if (!isfinite(r.val_loss)) {
    return fail(t, NNP_ERR_ARGUMENT, "the starting model's validation loss is %g: nothing to train from", r.val_loss);
  }
  r.improved = 1;
  note_best(t, &r, sum);
  if (save_model(t, o, &r) || log_row(t, &r)) return -1;
  if ((t->status = train_checkpoint_write(t->cfg.checkpoint, &t->state, &t->err))) return -1;
  if (!o->quiet) {
    char ve[32], vf[32];
    format_rmse(sum->initial_val_energy_rmse, 8, 3, ve, sizeof ve);
    format_rmse(sum->initial_val_force_rmse, 8, 2, vf, sizeof vf);
    printf("epoch    0/%d  initial model                                   | val E %s meV/atom F %s meV/A\n",
           t->cfg.epochs, ve, vf);
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
  printf("pnnp-train: %d training and %d validation frames, %zu parameters, %d threads\n", t->train.n, t->val.n,
         t->state.n_params, t->n_threads);
  if (t->cfg.validation_split == TRAIN_SPLIT_LAST)
    printf("pnnp-train: validation: the last %g of each training file's frames (validation_split last); %d frames "
           "before the blocks dropped (validation_gap %d)\n",
           t->cfg.validation_fraction, t->n_gap, t->cfg.validation_gap);
  printf("pnnp-train: avg_num_neighbors %.4g, energy_scale %.4g eV (force RMS), energy shifts (%s, rank %d):",
         h->avg_num_neighbors, h->energy_scale[0], t->cfg.energy_reference_given ? "given" : "least squares",
         t->norm.rank);
  for (int s = 0; s < h->n_species; s++) printf(" %s %.6g", h->species[s], h->energy_shift[s]);
  printf(" eV\n");
  const int without = t->train.n - t->norm.energy_frames + t->val.n - train_set_energy_frames(&t->val);
  if (without > 0)
    printf("pnnp-train: %d of %d frames have no energy (force matching): they contribute forces only, and energy "
           "errors are over the frames with energies (n/a without any)\n",
           without, t->train.n + t->val.n);
  if (without > 0 && !t->cfg.energy_reference_given && t->norm.energy_frames == 0)
    printf("pnnp-train: no training frame has an energy: the energy shifts are set to 0; the model's energy is defined "
           "only up to a constant per atom of each species\n");
  else if (without > 0 && !t->cfg.energy_reference_given)
    printf("pnnp-train: the energy shifts are fitted to the %d training frames that have an energy\n",
           t->norm.energy_frames);
  const train_config *c = &t->cfg;
  printf("pnnp-train: loss weights energy %g force %g", c->energy_weight, c->force_weight);
  if (c->final_stage_epoch > 0)
    printf(", from epoch %d energy %g force %g", c->final_stage_epoch,
           c->final_energy_weight >= 0 ? c->final_energy_weight : c->energy_weight,
           c->final_force_weight >= 0 ? c->final_force_weight : c->force_weight);
  printf("; %s learning rate %g", c->lr_schedule == TRAIN_LR_COSINE ? "cosine" : "plateau", c->learning_rate);
  if (c->warmup_epochs > 0) printf(" after %g warm-up epochs", c->warmup_epochs);
  printf(", floor %g; EMA decay %g; %d frame rules\n", c->min_learning_rate, c->ema_decay, c->n_rules);
  if (c->n_energy_offsets > 0)
    printf("pnnp-train: energy shifts fitted to the %d training frames of the unmarked files; energy_offset files "
           "carry their own constants, re-fitted after every epoch:\n",
           t->norm.shift_frames);
  print_offsets(t, o->resume_path ? "from the checkpoint" : "fitted to the starting model");
  if (o->resume_path)
    printf("pnnp-train: resuming from %s after epoch %d (lr %.2e, best loss %.6g at epoch %d)\n", o->resume_path,
           t->state.epoch, t->state.lr, t->state.best_loss, t->state.best_epoch);
  fflush(stdout);
}

nnp_status train_run(const train_options *o, train_summary *sum, nnp_error *err) {
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
    t.config_path = o->config_path;
    nnp_status st = train_config_read(o->config_path, &t.cfg, err);
    if (!st) st = load_data(&t, err);
    for (int k = 0; st == NNP_OK && k < t.val.n; k++)
      printf("%s %ld\n", t.val.files[t.val.items[k].file], t.val.items[k].frame);
    teardown(&t);
    return st;
  }
  int rc = setup(&t, o);
  if (rc == 0 && !o->quiet) print_header(&t, o);
  if (rc == 0 && !o->resume_path) rc = initial_report(&t, o, sum);
  while (rc == 0 && t.state.epoch < t.stop_epoch && time_for_epoch(&t)) rc = run_epoch(&t, o, sum);
  if (rc == 0 && t.state.best_epoch < 0) {
    epoch_report r; /* no epoch ran (epochs 0): still leave a model with the data's normalisation */
    memset(&r, 0, sizeof r);
    rc = save_model(&t, o, &r);
  }
  if (rc == 0 && !o->quiet) {
    if (t.state.epoch < t.stop_epoch)
      printf("pnnp-train: stopped after epoch %d: time budget of %g s reached\n", t.state.epoch, t.cfg.time_budget);
    print_offsets(&t, "after the last epoch; the model file has those of its epoch");
    printf("pnnp-train: best model (epoch %d) in %s; checkpoint %s; learning curve %s\n", t.state.best_epoch,
           t.cfg.output, t.cfg.checkpoint, t.cfg.log);
  }
  if (close_log(&t)) rc = -1;
  sum->epochs_done = t.state.epoch;
  sum->best_epoch = t.state.best_epoch;
  sum->skipped_steps = t.state.skipped_steps;
  sum->seconds_per_epoch = t.epochs_timed ? t.epoch_seconds_sum / t.epochs_timed : NAN;
  sum->n_params = t.state.n_params;
  teardown(&t);
  if (rc == 0) return NNP_OK;
  if (err) *err = t.err;
  return t.status ? t.status : NNP_ERR_ARGUMENT;
}
