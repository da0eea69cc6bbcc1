/* pnnp-train internals: configuration, data set, loss and gradient, optimiser, checkpoints, and the driver.
 *
 * The trainer is split into small translation units that share this header so that tests/test_train.c can call
 * the pieces directly (the loss gradient against finite differences, resuming against a straight run).
 * docs/training.md describes what is computed and why. Nothing here keeps global mutable state.
 */
#ifndef NNP_TRAIN_H
#define NNP_TRAIN_H

#include "nnp.h"

#include <stddef.h>
#include <stdint.h>

#define TRAIN_MAX_FILES 64
#define TRAIN_PATH_MAX  4096

/* Knot spacing of the radial tables in training (Angstrom), the MD default of pair_style nnp; 0 is the exact MLP.
 * And how far beyond r_cut the neighbour lists reach (kept from the displaced evaluations of earlier versions; the
 * exact gradient needs no skin, but it costs little and keeps graphs valid for small moves). */
#define TRAIN_RADIAL_STEP 0.01
#define TRAIN_GRAPH_SKIN  0.05

/* ---------------------------------------------------------------------------------------------------------------- */
/* Configuration (train_config.c)                                                                                    */

/* `exclude FILE FRAME` (weight 0, the frame is dropped) or `frame_weight FILE FRAME|all W`. */
typedef struct {
  char file[TRAIN_PATH_MAX]; /* as resolved against the configuration's directory */
  long frame;                /* counted from 0; -1: every frame of the file */
  double weight;             /* 0: excluded */
  long line;                 /* where the configuration gave it, for messages */
} train_frame_rule;

enum { TRAIN_LR_PLATEAU = 0, TRAIN_LR_COSINE = 1 };
/* How validation frames are held out of the training files: a seeded random subset, or the last frames of each file
 * (time blocks, for correlated MD frames). */
enum { TRAIN_SPLIT_RANDOM = 0, TRAIN_SPLIT_LAST = 1 };

typedef struct {
  nnp_hyper hyper;            /* architecture; normalisation filled in from the data unless overridden */
  int have_avg_num_neighbors; /* avg_num_neighbors given in the file: do not measure it */
  int have_energy_scale;      /* energy_scale given in the file: do not use the force RMS */
  char train_files[TRAIN_MAX_FILES][TRAIN_PATH_MAX];
  int n_train_files;
  char validation_file[TRAIN_PATH_MAX]; /* "" when a fraction of the training frames is held out */
  double validation_fraction;
  int validation_split; /* TRAIN_SPLIT_RANDOM or TRAIN_SPLIT_LAST */
  int validation_gap;   /* TRAIN_SPLIT_LAST: frames before each held-out block dropped from both sets */
  uint64_t seed;
  double energy_weight, force_weight;
  double learning_rate, lr_factor, min_learning_rate;
  int lr_patience;
  int lr_schedule;       /* TRAIN_LR_PLATEAU or TRAIN_LR_COSINE */
  double warmup_epochs;  /* linear warm-up of the rate over this many epochs (fractions allowed); 0: none */
  int final_stage_epoch; /* > 0: from this epoch on the final loss weights apply */
  double final_energy_weight, final_force_weight; /* < 0: unset (the first-stage weights) */
  double final_learning_rate;                     /* > 0: the rate never exceeds this in the final stage */
  double divergence_factor; /* stop when the validation loss exceeds this multiple of the best; 0: never */
  int batch_size, epochs;
  double time_budget; /* seconds of wall time for one invocation; 0: none */
  double ema_decay, grad_clip;
  double radial_step;         /* Angstrom between radial-table knots; 0: exact radial MLP */
  int energy_reference_given; /* 0: least squares; 1: energy_reference lists every species */
  double energy_reference[NNP_MAX_SPECIES];
  char output[TRAIN_PATH_MAX], checkpoint[TRAIN_PATH_MAX], log[TRAIN_PATH_MAX];
  char initial_model[TRAIN_PATH_MAX];      /* "": random weights; else start from this model's weights */
  char baseline_cache_dir[TRAIN_PATH_MAX]; /* "": baseline caches next to the data (hyper.baseline declares one) */
  /* `energy_offset FILE`: FILE's energies carry their own unknown constant per atom of each species (another DFT
   * setting); fitted, not learned by the network (docs/training.md, "Pooling data sets") */
  char energy_offset_files[TRAIN_MAX_FILES][TRAIN_PATH_MAX];
  long energy_offset_lines[TRAIN_MAX_FILES]; /* where the configuration gave them, for messages */
  int n_energy_offsets;
  train_frame_rule *rules; /* [n_rules] exclusions and frame weights, in configuration order (later rules win) */
  int n_rules;
  char path[TRAIN_PATH_MAX]; /* the configuration file, for messages */
} train_config;

/* Read a configuration file; relative paths in it are taken relative to the file's directory. The architecture keys
 * are the model header's grammar (hyper_file.h). Returns NNP_OK, or an error with "FILE:LINE: what" in err. */
nnp_status train_config_read(const char *path, train_config *cfg, nnp_error *err);
/* Defaults of every training key (the hyperparameters are those of nnp_hyper_default for the given species). */
void train_config_defaults(train_config *cfg);
void train_config_free(train_config *cfg);
/* The loss weights of epoch `epoch` (counted from 1; epoch 0, the starting model, is judged as epoch 1). */
void train_config_weights(const train_config *cfg, int epoch, double *w_energy, double *w_force);
/* 1 when epoch `epoch` (counted from 1) belongs to the final stage. */
int train_config_final_stage(const train_config *cfg, int epoch);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Data (train_data.c)                                                                                                */

typedef struct {
  int n_atoms;
  int *species;          /* [n_atoms] model species index */
  double *positions;     /* [n_atoms][3] the reference geometry */
  double *forces;        /* [n_atoms][3] reference forces, eV/Angstrom */
  double energy;         /* reference energy, eV; 0 and unused when has_energy is 0 */
  int has_energy;        /* 0: the frame has no `energy=` (force matching); it adds no energy error */
  nnp_cell_graph *graph; /* built with r_cut + TRAIN_GRAPH_SKIN; positions are reset before every use */
  int file;              /* index into the list of files the set was read from */
  long frame;            /* frame number in that file */
  double weight;         /* per-frame weight of its share of the training loss (1 unless frame_weight says) */
  int offset_group;      /* -1: energy at the reference level; k: the k-th energy_offset file's energy */
} train_structure;

typedef struct {
  train_structure *items;
  int n;
  char files[TRAIN_MAX_FILES][TRAIN_PATH_MAX];
  long frames_per_file[TRAIN_MAX_FILES];
  int n_files;
} train_set;

/* Read every frame of `paths`, checking it (forces present, known elements, finite numbers, no two atoms closer than
 * r_min); appends to `set`. A frame without an energy is kept with has_energy 0 (train_set_check_energies decides
 * whether the run may use it). Returns NNP_OK, or an error with "FILE: frame F, line L: what" in err. */
nnp_status train_set_load(train_set *set, const char *const *paths, int n_paths, const nnp_hyper *h, nnp_error *err);
/* Frames without an energy are allowed only when the energy weight is 0 in every stage of the run (energy_weight,
 * and final_energy_weight when a final stage is set). Returns NNP_OK, or an error with "FILE: frame F: what" in err
 * for the first frame without an energy. */
nnp_status train_set_check_energies(const train_set *set, const train_config *cfg, nnp_error *err);
/* 1 when no stage of the run weighs the energy error (energy_weight 0, and the final stage's too). */
int train_config_energy_free(const train_config *cfg);
/* Frames of the set that have an energy. */
int train_set_energy_frames(const train_set *set);
void train_set_free(train_set *set);
/* Move a seeded random `fraction` of the frames of `all` into `val` (the rest into `train`); `all` is emptied. */
nnp_status train_set_split(train_set *all, double fraction, uint64_t seed, train_set *train, train_set *val,
                           nnp_error *err);
/* Time blocks: of each file's frames (in file order) the last round(fraction n) go to `val` (at least one when
 * fraction > 0 and the file has two frames or more), the `gap` frames before them to `dropped` (trained on by no
 * one: they are neighbours in time of the validation block) and the rest to `train`; `all` is emptied. Returns
 * NNP_OK, or an error with "FILE: what" in err when a file would keep no training frame. */
nnp_status train_set_split_last(train_set *all, double fraction, int gap, train_set *train, train_set *val,
                                train_set *dropped, nnp_error *err);
/* Apply exclusions and frame weights to the sets (removed frames are freed; frames_per_file recounted). Every rule
 * must name a file of the sets (by file identity) and a frame that exists in it. Returns NNP_OK, or an error with
 * "CONFIG:LINE: what" in err. */
nnp_status train_sets_apply_rules(train_set *const *sets, int n_sets, const train_frame_rule *rules, int n_rules,
                                  const char *config_path, nnp_error *err);

/* Mark the frames of the energy_offset files (offset_group = the index of the key; by file identity) in every set,
 * and say which key each `train` file answers to in file_group [n_train_files] (-1: none). Refused (an error with
 * "CONFIG:LINE: what" in err): a FILE that is not a `train` file, and every `train` file marked (no reference level
 * left). */
nnp_status train_sets_mark_offsets(train_set *const *sets, int n_sets, const train_config *cfg, int *file_group,
                                   nnp_error *err);
/* The energy offset of a frame: sum over its atoms of offsets[offset_group][species] (eV); 0 at the reference
 * level or when offsets is NULL. Summed in atom order, so the same frame always gives the same bits. */
double train_structure_offset(const train_structure *s, const double (*offsets)[NNP_MAX_SPECIES]);
/* Fit the per-species offsets of group `group` (n_species values into delta, eV per atom) to the frames of `set` in
 * that group that have an energy and use[k] != 0 (use NULL: all): the minimum-norm solution of
 *   min_delta sum_k w_k ((E_k - M_k - n_k . delta) / N_k)^2,
 * E_k the reference energy, M_k = model_energy[k] the model's energy, n_k the species counts, N_k the atom count,
 * w_k the frame weight: exactly the energy loss of those frames as a function of delta. Collinear compositions
 * (water's H:O = 2:1) leave the sum identifiable only; the minimum norm picks delta along the composition.
 * Returns the number of frames fitted (0: delta left unchanged). */
int train_offset_fit(const train_set *set, int group, int n_species, const double *model_energy, const char *use,
                     double *delta);

/* Normalisation measured on a training set: average neighbour count within the pair cutoffs, RMS of the force
 * components, and per-species energy shifts (least squares against species counts, minimum norm). */
typedef struct {
  double avg_num_neighbors;
  double force_rms;
  double energy_shift[NNP_MAX_SPECIES];
  int rank;          /* rank of the composition matrix; < n_species when compositions are collinear */
  double shift_rmse; /* RMS per-atom residual of the energies after the shifts (eV/atom); NaN without energies */
  int energy_frames; /* frames with an energy; 0: shifts 0 (not fitted) */
  int shift_frames;  /* those of them at the reference level (no energy_offset), the only ones the shifts fit */
} train_normalisation;

void train_normalisation_measure(const train_set *set, const nnp_hyper *h, const double *given_reference,
                                 train_normalisation *out);

/* Baseline (train_baseline.c): subtract the LAMMPS-computed baseline (cached by pnnp-baseline) from the reference
 * energies and forces of every structure, when the configuration declares one. A missing or stale cache is refused
 * with the command that makes it. The LAMMPS version that computed the caches goes to lammps_version ("" if none).
 * Returns NNP_OK, or an error with its message in err. */
nnp_status train_baseline_subtract(train_set *set, const train_config *cfg, const char *config_path,
                                   char *lammps_version, size_t version_size, nnp_error *err);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Loss and gradients (train_loss.c)                                                                                 */

/* Per-thread buffers: the core's training workspace (single-threaded) and scratch for one structure. */
typedef struct {
  nnp_workspace *ws;        /* plain evaluation (validation with the exact MLP) */
  nnp_train_workspace *tws; /* the training passes */
  double *forces;           /* [n_total][3] */
  double *v;                /* [n_atoms][3] force error */
  double *v_total;          /* [n_total][3] force error of every atom's owner: the tangent direction */
  size_t cap_forces, cap_atoms;
} train_thread;

typedef struct {
  double energy_sq; /* sum over structures of the squared energy error per atom, eV^2/atom^2 */
  double force_sq;  /* sum over force components of the squared error, (eV/A)^2 */
  long n_structures;
  long n_energy; /* structures with a reference energy (energy_sq sums over these only) */
  long n_components;
  double loss; /* the weighted loss contribution */
} train_errors;

typedef struct {
  const nnp_model *model;
  train_thread *threads;
  int n_threads;
  double energy_weight, force_weight;
  double *slots; /* [batch_size][n_params]: one gradient per structure of a batch, summed in batch order */
  int n_slots;
  train_errors *slot_errors;
  double radial_step;       /* TRAIN_RADIAL_STEP unless train_engine_set_radial_step says otherwise */
  nnp_train_radial *radial; /* the radial functions of the current weights, rebuilt at every batch */
  double *knot_slots;       /* [batch_size][knot size]: each structure's table-knot gradient */
  size_t knot_size, cap_knots;
  double *slot_energies; /* [batch_size]: the model energy of each structure of the latest batch (eV) */
  const double (*offsets)[NNP_MAX_SPECIES]; /* energy_offset constants (train_state.offset); NULL: none */
} train_engine;

int train_engine_create(train_engine *e, const nnp_model *model, int n_threads, int batch_size, double w_energy,
                        double w_force, nnp_error *err);
void train_engine_free(train_engine *e);
/* Radial functions from cubic Hermite tables with knots `step` Angstrom apart (the MD tables), or exact (0). */
int train_engine_set_radial_step(train_engine *e, double step, nnp_error *err);

/* Loss and its gradient over a batch (structure indices idx[0..n)), grad overwritten [n_params]; the errors of
 * the batch are added to `acc`. Deterministic for any thread count (per-structure buffers, fixed-order sum).
 * Returns NNP_OK or the first failing structure's status with a message naming it. */
nnp_status train_batch_gradient(train_engine *e, const train_set *set, const int *idx, int n, double *grad,
                                double *loss, train_errors *acc, nnp_error *err);
/* Errors of the current parameters on a whole set (energies and forces only, no parameter gradient). */
nnp_status train_evaluate(train_engine *e, const train_set *set, train_errors *acc, nnp_error *err);
/* The same, also writing the model energy of every structure into energies [set->n] (eV) when not NULL. */
nnp_status train_evaluate_energies(train_engine *e, const train_set *set, train_errors *acc, double *energies,
                                   nnp_error *err);
double train_errors_energy_rmse(const train_errors *a); /* meV/atom; NaN when no structure has an energy */
double train_errors_force_rmse(const train_errors *a);  /* meV/A */
/* The loss that a set of accumulated errors stands for: w_E * energy MSE + w_F * force MSE. */
double train_errors_loss(const train_errors *a, double w_energy, double w_force);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Optimiser, random numbers, checkpoints (train_optim.c)                                                            */

typedef struct {
  uint64_t s[4]; /* xoshiro256** */
} train_rng;

void train_rng_seed(train_rng *r, uint64_t seed);
uint64_t train_rng_next(train_rng *r);
void train_rng_shuffle(train_rng *r, int *a, int n);

#define TRAIN_IDENTITY_MAX 8192

/* Everything that a resumed run needs besides the configuration and the data. */
typedef struct {
  size_t n_params;
  double *params, *ema, *adam_m, *adam_v; /* [n_params] each */
  long step;                              /* optimiser steps taken */
  int epoch;                              /* epochs completed */
  double lr;                              /* the rate of the latest step (what the log shows) */
  double base_lr;                         /* the plateau schedule's rate, before warm-up */
  long skipped_steps;                     /* steps skipped for a non-finite loss or gradient */
  double best_loss;                       /* best validation loss so far (EMA weights); INFINITY before the first */
  int best_epoch;
  double plateau_best; /* the schedule's reference loss */
  int plateau_count;   /* epochs without improvement on plateau_best */
  train_rng rng;
  double avg_num_neighbors; /* the normalisation the run started with */
  int n_species;
  double energy_shift[NNP_MAX_SPECIES], energy_scale[NNP_MAX_SPECIES];
  long n_train, n_val;                             /* frame counts: a resumed run must see the same split */
  int n_offsets;                                   /* energy_offset files */
  double offset[TRAIN_MAX_FILES][NNP_MAX_SPECIES]; /* their fitted constants, eV per atom of each species */
  char identity[TRAIN_IDENTITY_MAX]; /* "key value" lines that define the run (train_run.c); resume compares them */
} train_state;

int train_state_alloc(train_state *s, size_t n_params);
void train_state_free(train_state *s);

/* One Adam step with bias correction on params (s->params) from grad, then the EMA update. */
void train_adam_step(train_state *s, const double *grad, double ema_decay);
/* Scale grad so that its Euclidean norm is at most max_norm (no-op when max_norm <= 0). Returns the norm; a
 * non-finite norm leaves grad untouched (the caller skips the step: scaling would turn inf into NaN). */
double train_clip_gradient(double *grad, size_t n, double max_norm);
/* The plateau schedule after an epoch with validation loss `loss`: returns 1 when the rate was lowered. */
int train_schedule_update(train_state *s, double loss, int patience, double factor, double min_lr);
/* The rate of the next step (s->step steps done) under the configured schedule: warm-up, then the plateau rate
 * s->base_lr or a cosine from learning_rate down to min_learning_rate at the end of `epochs`. */
double train_step_lr(const train_state *s, const train_config *c, long steps_per_epoch);

/* Atomic (write to PATH.tmp, fsync, rename) binary checkpoint with a checksum. Return NNP_OK, or an error with a
 * message. */
nnp_status train_checkpoint_write(const char *path, const train_state *s, nnp_error *err);
nnp_status train_checkpoint_read(const char *path, train_state *s, nnp_error *err);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Driver (train_run.c)                                                                                              */

typedef struct {
  const char *config_path;
  const char *resume_path;  /* NULL: a fresh run */
  int threads;              /* <= 0: the OpenMP default */
  int max_epochs;           /* > 0: overrides `epochs` */
  double time_budget;       /* > 0: overrides `time_budget` */
  const char *command_line; /* recorded in the model's metadata */
  int quiet;                /* no progress lines (tests) */
  int list_validation;      /* print the held-out frames (FILE FRAME per line) and stop */
} train_options;

typedef struct {
  int epochs_done;
  double initial_val_force_rmse, initial_val_energy_rmse; /* before the first step, meV/A and meV/atom */
  double best_val_force_rmse, best_val_energy_rmse;
  double seconds_per_epoch;
  size_t n_params;
  int best_epoch;     /* epoch of the model in `output` (0: the starting model) */
  long skipped_steps; /* optimiser steps skipped for a non-finite loss or gradient, over the whole run */
} train_summary;

/* Train as the configuration says; progress lines go to standard output (unless quiet) and notices through
 * tool_notice. Returns NNP_OK, or an error with what went wrong in err. */
nnp_status train_run(const train_options *opt, train_summary *summary, nnp_error *err);

#endif
