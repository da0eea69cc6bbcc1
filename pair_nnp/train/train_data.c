/* pnnp-train data: frames read and checked once, with their neighbour graphs, kept in memory for all epochs; the
 * validation split; and the normalisation constants measured on the training frames. */
#define _POSIX_C_SOURCE 200809L /* stat */

#include "extxyz.h"
#include "tool_error.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static nnp_status frame_error(nnp_error *err, const char *file, const xyz_frame *f, const char *what) {
  return tool_fail(err, NNP_ERR_FORMAT, "%s: frame %ld, line %ld: %s", file, f->index, f->line, what);
}

static int all_finite(const double *a, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(a[i])) return 0;
  return 1;
}

/* Presence and finiteness of what training needs. */
static nnp_status check_frame(const char *file, const xyz_frame *f, nnp_error *err) {
  if (f->n_atoms <= 0) return frame_error(err, file, f, "frame has no atoms");
  if (!f->has_forces)
    return frame_error(err, file, f, "frame has no forces (a `forces` column is needed for training)");
  if (f->has_energy && !isfinite(f->energy)) return frame_error(err, file, f, "the energy is not a finite number");
  if (!all_finite(f->positions, 3 * (size_t)f->n_atoms)) return frame_error(err, file, f, "a position is not finite");
  if (!all_finite(f->forces, 3 * (size_t)f->n_atoms)) return frame_error(err, file, f, "a force is not finite");
  if (f->has_cell && !all_finite(&f->cell[0][0], 9)) return frame_error(err, file, f, "the cell is not finite");
  return NNP_OK;
}

static nnp_status map_species(const char *file, const xyz_frame *f, const nnp_hyper *h, int *species, nnp_error *err) {
  for (int i = 0; i < f->n_atoms; i++) {
    species[i] = nnp_hyper_species_index(h, f->symbols[i]);
    if (species[i] >= 0) continue;
    char what[512];
    int n =
        snprintf(what, sizeof what, "atom %d: element %s is not in the configuration's species (", i, f->symbols[i]);
    for (int s = 0; s < h->n_species && n > 0 && (size_t)n < sizeof what; s++)
      n += snprintf(what + n, sizeof what - (size_t)n, s ? " %s" : "%s", h->species[s]);
    if (n > 0 && (size_t)n < sizeof what) snprintf(what + n, sizeof what - (size_t)n, ")");
    return frame_error(err, file, f, what);
  }
  return NNP_OK;
}

/* Atoms closer than r_min (the model refuses such geometries, so training on them is an input error). */
static nnp_status check_distances(const char *file, const xyz_frame *f, const nnp_cell_graph *g, double r_min,
                                  nnp_error *err) {
  const nnp_graph *v = nnp_cell_graph_view(g);
  const int *owner = nnp_cell_graph_owner(g);
  for (int i = 0; i < v->n_local; i++)
    for (int64_t q = v->neigh_offset[i]; q < v->neigh_offset[i + 1]; q++) {
      int j = v->neigh_index[q];
      const double *a = v->positions + 3 * i, *b = v->positions + 3 * j;
      double r = sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
      if (r >= r_min) continue;
      char what[256];
      snprintf(what, sizeof what, "atoms %d and %d%s are %.4g Angstrom apart, closer than r_min = %g", i, owner[j],
               j >= v->n_local ? " (periodic image)" : "", r, r_min);
      return frame_error(err, file, f, what);
    }
  return NNP_OK;
}

static void free_structure(train_structure *s) {
  free(s->species);
  free(s->positions);
  free(s->forces);
  nnp_cell_graph_free(s->graph);
  memset(s, 0, sizeof *s);
}

static nnp_status make_structure(const char *file, const xyz_frame *f, const nnp_hyper *h, train_structure *s,
                                 nnp_error *err) {
  static const double identity[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  static const int open_pbc[3] = {0, 0, 0};
  size_t n = (size_t)f->n_atoms;
  memset(s, 0, sizeof *s);
  s->n_atoms = f->n_atoms;
  s->has_energy = f->has_energy;
  s->energy = f->has_energy ? f->energy : 0;
  s->frame = f->index;
  s->weight = 1;
  s->offset_group = -1;
  s->species = malloc(n * sizeof *s->species);
  s->positions = malloc(3 * n * sizeof *s->positions);
  s->forces = malloc(3 * n * sizeof *s->forces);
  if (!s->species || !s->positions || !s->forces) {
    free_structure(s);
    return frame_error(err, file, f, "out of memory");
  }
  memcpy(s->positions, f->positions, 3 * n * sizeof *s->positions);
  memcpy(s->forces, f->forces, 3 * n * sizeof *s->forces);
  nnp_status st = map_species(file, f, h, s->species, err);
  if (st) {
    free_structure(s);
    return st;
  }
  nnp_error inner;
  st = nnp_cell_graph_build(f->n_atoms, s->species, f->positions, f->has_cell ? (const double(*)[3])f->cell : identity,
                            f->has_cell ? f->pbc : open_pbc, h->r_cut + TRAIN_GRAPH_SKIN, &s->graph, &inner);
  if (st != NNP_OK) {
    free_structure(s);
    return frame_error(err, file, f, inner.message);
  }
  st = check_distances(file, f, s->graph, h->r_min, err);
  if (st) free_structure(s);
  return st;
}

static int push(train_set *set, const train_structure *s, int *cap) {
  if (set->n == *cap) {
    int ncap = *cap ? 2 * *cap : 64;
    train_structure *p = realloc(set->items, (size_t)ncap * sizeof *p);
    if (!p) return -1;
    set->items = p;
    *cap = ncap;
  }
  set->items[set->n++] = *s;
  return 0;
}

static nnp_status load_file(train_set *set, const char *path, const nnp_hyper *h, int *cap, nnp_error *err) {
  xyz_reader *reader = NULL;
  nnp_status st = xyz_reader_open(path, &reader, err);
  if (st) return st;
  if (set->n_files == TRAIN_MAX_FILES) {
    xyz_reader_close(reader);
    return tool_fail(err, NNP_ERR_ARGUMENT, "%s: too many data files", path);
  }
  int file = set->n_files++;
  snprintf(set->files[file], TRAIN_PATH_MAX, "%s", path);
  set->frames_per_file[file] = 0;
  xyz_frame f;
  xyz_frame_init(&f);
  int got = 0;
  while (!(st = xyz_reader_next(reader, &f, &got, err)) && got) {
    train_structure s;
    st = check_frame(path, &f, err);
    if (!st) st = make_structure(path, &f, h, &s, err);
    if (st) break;
    s.file = file;
    if (push(set, &s, cap)) {
      free_structure(&s);
      st = frame_error(err, path, &f, "out of memory");
      break;
    }
    set->frames_per_file[file]++;
  }
  xyz_frame_free(&f);
  xyz_reader_close(reader);
  return st;
}

nnp_status train_set_load(train_set *set, const char *const *paths, int n_paths, const nnp_hyper *h, nnp_error *err) {
  int cap = set->n;
  for (int k = 0; k < n_paths; k++) {
    nnp_status st = load_file(set, paths[k], h, &cap, err);
    if (st) return st;
  }
  return NNP_OK;
}

int train_config_energy_free(const train_config *cfg) {
  double we1, wf1, we2, wf2;
  train_config_weights(cfg, 1, &we1, &wf1);
  train_config_weights(cfg, cfg->final_stage_epoch > 0 ? cfg->final_stage_epoch : 1, &we2, &wf2);
  return we1 == 0 && we2 == 0;
}

int train_set_energy_frames(const train_set *set) {
  int n = 0;
  for (int k = 0; k < set->n; k++) n += set->items[k].has_energy;
  return n;
}

nnp_status train_set_check_energies(const train_set *set, const train_config *cfg, nnp_error *err) {
  if (train_config_energy_free(cfg)) return NNP_OK;
  for (int k = 0; k < set->n; k++) {
    const train_structure *s = &set->items[k];
    if (s->has_energy) continue;
    return tool_fail(err, NNP_ERR_FORMAT,
                     "%s: frame %ld: frame has no energy (an `energy=` key); frames without energies are accepted "
                     "only for force matching, with energy_weight 0 (and final_energy_weight 0 or unset)",
                     set->files[s->file], s->frame);
  }
  return NNP_OK;
}

void train_set_free(train_set *set) {
  for (int i = 0; i < set->n; i++) free_structure(&set->items[i]);
  free(set->items);
  memset(set, 0, sizeof *set);
}

/* ---------------------------------------------------------------------------------------------------------------- */

/* A seeded shuffle decides which frames are held out; both halves keep the file order among themselves so that
 * the split does not depend on anything but the seed and the frame count. */
nnp_status train_set_split(train_set *all, double fraction, uint64_t seed, train_set *train, train_set *val,
                           nnp_error *err) {
  int n = all->n, n_val = (int)floor(fraction * n + 0.5);
  if (fraction > 0 && n_val == 0 && n >= 2) n_val = 1;
  if (n_val >= n) n_val = n - 1;
  int *perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
  char *is_val = calloc((size_t)(n > 0 ? n : 1), 1);
  train->items = malloc((size_t)(n - n_val > 0 ? n - n_val : 1) * sizeof *train->items);
  val->items = malloc((size_t)(n_val > 0 ? n_val : 1) * sizeof *val->items);
  if (!perm || !is_val || !train->items || !val->items) {
    free(perm);
    free(is_val);
    return tool_fail(err, NNP_ERR_NOMEM, "out of memory splitting the data");
  }
  train_rng rng;
  train_rng_seed(&rng, seed ^ 0x5eed5011171ULL);
  for (int i = 0; i < n; i++) perm[i] = i;
  train_rng_shuffle(&rng, perm, n);
  for (int i = 0; i < n_val; i++) is_val[perm[i]] = 1;
  train->n = val->n = 0;
  for (int i = 0; i < n; i++) {
    if (is_val[i])
      val->items[val->n++] = all->items[i];
    else
      train->items[train->n++] = all->items[i];
  }
  for (train_set *t = train; t; t = (t == train ? val : NULL)) {
    t->n_files = all->n_files;
    memcpy(t->files, all->files, sizeof t->files);
    memset(t->frames_per_file, 0, sizeof t->frames_per_file);
    for (int i = 0; i < t->n; i++) t->frames_per_file[t->items[i].file]++;
  }
  free(all->items);
  all->items = NULL;
  all->n = 0;
  free(perm);
  free(is_val);
  return NNP_OK;
}

/* Held-out and dropped counts of one file of n frames under the time-block split. */
static nnp_status last_block(const char *file, long n, double fraction, int gap, long *n_val, long *n_gap,
                             nnp_error *err) {
  *n_val = (long)floor(fraction * (double)n + 0.5);
  if (fraction > 0 && *n_val == 0 && n >= 2) *n_val = 1;
  *n_gap = *n_val > 0 ? gap : 0;
  if (*n_val == 0 || n - *n_val - *n_gap >= 1) return NNP_OK;
  return tool_fail(err, NNP_ERR_ARGUMENT,
                   "%s: %ld frames cannot give %ld validation frames after a gap of %d and keep a training frame "
                   "(lower validation_fraction or validation_gap)",
                   file, n, *n_val, gap);
}

static void recount(train_set *t, const train_set *all) {
  t->n_files = all->n_files;
  memcpy(t->files, all->files, sizeof t->files);
  memset(t->frames_per_file, 0, sizeof t->frames_per_file);
  for (int i = 0; i < t->n; i++) t->frames_per_file[t->items[i].file]++;
}

nnp_status train_set_split_last(train_set *all, double fraction, int gap, train_set *train, train_set *val,
                                train_set *dropped, nnp_error *err) {
  const int n = all->n;
  long n_val[TRAIN_MAX_FILES], n_gap[TRAIN_MAX_FILES], seen[TRAIN_MAX_FILES] = {0};
  for (int f = 0; f < all->n_files; f++) {
    nnp_status st = last_block(all->files[f], all->frames_per_file[f], fraction, gap, &n_val[f], &n_gap[f], err);
    if (st) return st;
  }
  const size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof *all->items;
  train->items = malloc(bytes);
  val->items = malloc(bytes);
  dropped->items = malloc(bytes);
  if (!train->items || !val->items || !dropped->items)
    return tool_fail(err, NNP_ERR_NOMEM, "out of memory splitting the data");
  train->n = val->n = dropped->n = 0;
  for (int i = 0; i < n; i++) { /* frames of one file are contiguous and in file order (train_set_load) */
    const int f = all->items[i].file;
    const long k = seen[f]++, n_f = all->frames_per_file[f];
    train_set *to = k >= n_f - n_val[f] ? val : k >= n_f - n_val[f] - n_gap[f] ? dropped : train;
    to->items[to->n++] = all->items[i];
  }
  recount(train, all);
  recount(val, all);
  recount(dropped, all);
  free(all->items);
  all->items = NULL;
  all->n = 0;
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Exclusions and frame weights                                                                                      */

/* The same file, judged by device and inode (so `./a.xyz` and `data/../a.xyz` match); by name if stat fails. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return strcmp(a, b) == 0;
}

/* Frames (of any of the sets) that one rule names; sets the weights. Returns how many frames matched, and the
 * frame count of the rule's file in *frames_in_file (-1 when no set holds the file). */
static long apply_rule(train_set *const *sets, int n_sets, const train_frame_rule *r, long *frames_in_file) {
  long matched = 0;
  *frames_in_file = -1;
  for (int k = 0; k < n_sets; k++) {
    train_set *set = sets[k];
    for (int f = 0; f < set->n_files; f++) {
      if (!same_file(set->files[f], r->file)) continue;
      *frames_in_file = *frames_in_file < 0 ? set->frames_per_file[f] : *frames_in_file + set->frames_per_file[f];
      for (int i = 0; i < set->n; i++)
        if (set->items[i].file == f && (r->frame < 0 || set->items[i].frame == r->frame)) {
          set->items[i].weight = r->weight;
          matched++;
        }
    }
  }
  return matched;
}

/* Frames whose weight is 0 leave the set (freed); the others keep their order. */
static void drop_excluded(train_set *set) {
  int kept = 0;
  for (int i = 0; i < set->n; i++) {
    if (set->items[i].weight == 0)
      free_structure(&set->items[i]);
    else
      set->items[kept++] = set->items[i];
  }
  set->n = kept;
  memset(set->frames_per_file, 0, sizeof set->frames_per_file);
  for (int i = 0; i < set->n; i++) set->frames_per_file[set->items[i].file]++;
}

nnp_status train_sets_apply_rules(train_set *const *sets, int n_sets, const train_frame_rule *rules, int n_rules,
                                  const char *config_path, nnp_error *err) {
  for (int k = 0; k < n_rules; k++) {
    const train_frame_rule *r = &rules[k];
    long in_file;
    if (apply_rule(sets, n_sets, r, &in_file) > 0) continue;
    if (in_file < 0)
      return tool_fail(err, NNP_ERR_ARGUMENT, "%s:%ld: %s: not one of the training or validation files", config_path,
                       r->line, r->file);
    return tool_fail(err, NNP_ERR_ARGUMENT, "%s:%ld: %s has no frame %ld (it has %ld, counted from 0)", config_path,
                     r->line, r->file, r->frame, in_file);
  }
  for (int k = 0; k < n_sets; k++) drop_excluded(sets[k]);
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Energy offsets of pooled data sets (energy_offset)                                                               */

nnp_status train_sets_mark_offsets(train_set *const *sets, int n_sets, const train_config *cfg, int *file_group,
                                   nnp_error *err) {
  int marked[TRAIN_MAX_FILES] = {0}; /* per `train` file */
  for (int k = 0; k < cfg->n_train_files; k++) file_group[k] = -1;
  for (int g = 0; g < cfg->n_energy_offsets; g++) {
    const char *file = cfg->energy_offset_files[g];
    int found = 0;
    for (int k = 0; k < cfg->n_train_files; k++)
      if (same_file(cfg->train_files[k], file)) {
        if (file_group[k] >= 0)
          return tool_fail(err, NNP_ERR_ARGUMENT, "%s:%ld: energy_offset %s: the file is already marked (line %ld)",
                           cfg->path, cfg->energy_offset_lines[g], file, cfg->energy_offset_lines[file_group[k]]);
        found = 1;
        marked[k] = 1;
        file_group[k] = g;
      }
    if (!found)
      return tool_fail(err, NNP_ERR_ARGUMENT, "%s:%ld: energy_offset %s: not one of the `train` files", cfg->path,
                       cfg->energy_offset_lines[g], file);
    for (int k = 0; k < n_sets; k++)
      for (int i = 0; i < sets[k]->n; i++) {
        train_structure *st = &sets[k]->items[i];
        if (same_file(sets[k]->files[st->file], file)) st->offset_group = g;
      }
  }
  int unmarked = 0;
  for (int k = 0; k < cfg->n_train_files; k++) unmarked += !marked[k];
  if (cfg->n_energy_offsets > 0 && unmarked == 0)
    return tool_fail(err, NNP_ERR_ARGUMENT,
                     "%s:%ld: energy_offset marks every `train` file: the offsets are relative to the energies of "
                     "the unmarked files, and none is left to set the reference level (leave the file computed at "
                     "the model's level of theory unmarked)",
                     cfg->path, cfg->energy_offset_lines[cfg->n_energy_offsets - 1]);
  return NNP_OK;
}

double train_structure_offset(const train_structure *s, const double (*offsets)[NNP_MAX_SPECIES]) {
  if (!offsets || s->offset_group < 0) return 0;
  const double *d = offsets[s->offset_group];
  double e = 0;
  for (int i = 0; i < s->n_atoms; i++) e += d[s->species[i]];
  return e;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Normalisation                                                                                                     */

/* Eigen-decomposition of a symmetric n x n matrix by cyclic Jacobi rotations: a becomes diagonal (eigenvalues),
 * q (row-major, columns are eigenvectors) accumulates the rotations. n <= NNP_MAX_SPECIES, so cost is nothing. */
static void jacobi_eigen(int n, double *a, double *q) {
  for (int i = 0; i < n * n; i++) q[i] = (i / n == i % n);
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0, diag = 0;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        if (i == j)
          diag += a[i * n + j] * a[i * n + j];
        else
          off += a[i * n + j] * a[i * n + j];
      }
    if (off <= 1e-30 * diag || off == 0) return;
    for (int p = 0; p < n; p++)
      for (int r = p + 1; r < n; r++) {
        double apr = a[p * n + r];
        if (apr == 0) continue;
        double theta = (a[r * n + r] - a[p * n + p]) / (2 * apr);
        double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++) { /* columns p, r */
          double akp = a[k * n + p], akr = a[k * n + r];
          a[k * n + p] = c * akp - s * akr;
          a[k * n + r] = s * akp + c * akr;
        }
        for (int k = 0; k < n; k++) { /* rows p, r */
          double apk = a[p * n + k], ark = a[r * n + k];
          a[p * n + k] = c * apk - s * ark;
          a[r * n + k] = s * apk + c * ark;
        }
        for (int k = 0; k < n; k++) {
          double qkp = q[k * n + p], qkr = q[k * n + r];
          q[k * n + p] = c * qkp - s * qkr;
          q[k * n + r] = s * qkp + c * qkr;
        }
      }
  }
}

/* One frame's row of the normal equations: M += w n n^T, b += w n y, n the species counts. */
static void add_normal_row(const train_structure *st, int S, double w, double y, double *M, double *b) {
  double count[NNP_MAX_SPECIES] = {0};
  for (int i = 0; i < st->n_atoms; i++) count[st->species[i]] += 1;
  for (int a = 0; a < S; a++) {
    b[a] += w * count[a] * y;
    for (int c = 0; c < S; c++) M[a * S + c] += w * count[a] * count[c];
  }
}

/* Minimum-norm least-squares solution mu = pinv(A) y from the normal equations M = A^T A, b = A^T y (M is
 * overwritten), through M's eigen-decomposition; directions with eigenvalue below 1e-9 of the largest (collinear
 * compositions such as water's fixed H:O = 2:1) are dropped, which is what makes the solution minimum-norm.
 * Returns the rank. */
static int min_norm_solve(int S, double *M, const double *b, double *mu) {
  double Q[NNP_MAX_SPECIES * NNP_MAX_SPECIES];
  jacobi_eigen(S, M, Q);
  double lmax = 0;
  for (int a = 0; a < S; a++) lmax = fmax(lmax, M[a * S + a]);
  int rank = 0;
  for (int a = 0; a < S; a++) mu[a] = 0;
  for (int e = 0; e < S; e++) {
    double lambda = M[e * S + e];
    if (!(lambda > 1e-9 * lmax)) continue;
    rank++;
    double proj = 0;
    for (int a = 0; a < S; a++) proj += Q[a * S + e] * b[a];
    for (int a = 0; a < S; a++) mu[a] += Q[a * S + e] * proj / lambda;
  }
  return rank;
}

/* Minimum-norm least-squares per-species energies: mu = pinv(A) E with A the frames' species counts, over the
 * frames at the reference level (energy_offset frames have their own constants). */
static int least_squares_shifts(const train_set *set, int S, double *mu) {
  double M[NNP_MAX_SPECIES * NNP_MAX_SPECIES] = {0}, b[NNP_MAX_SPECIES] = {0};
  for (int k = 0; k < set->n; k++) {
    const train_structure *st = &set->items[k];
    /* force-only frames say nothing about the reference energies */
    if (st->has_energy && st->offset_group < 0) add_normal_row(st, S, 1.0, st->energy, M, b);
  }
  return min_norm_solve(S, M, b, mu);
}

/* The rows are weighted w_k / N_k^2 so that the normal equations are those of the per-atom energy loss (the same
 * minimiser as the loss, not merely a plausible fit); frames are added in set order (deterministic). */
int train_offset_fit(const train_set *set, int group, int S, const double *model_energy, const char *use,
                     double *delta) {
  double M[NNP_MAX_SPECIES * NNP_MAX_SPECIES] = {0}, b[NNP_MAX_SPECIES] = {0};
  int n = 0;
  for (int k = 0; k < set->n; k++) {
    const train_structure *st = &set->items[k];
    if (st->offset_group != group || !st->has_energy || (use && !use[k]) || !(st->weight > 0)) continue;
    const double N = st->n_atoms;
    add_normal_row(st, S, st->weight / (N * N), st->energy - model_energy[k], M, b);
    n++;
  }
  if (n > 0) min_norm_solve(S, M, b, delta);
  return n;
}

void train_normalisation_measure(const train_set *set, const nnp_hyper *h, const double *given,
                                 train_normalisation *o) {
  const int S = h->n_species;
  memset(o, 0, sizeof *o);
  double neighbours = 0, atoms = 0, f2 = 0, e2 = 0;
  for (int k = 0; k < set->n; k++) {
    const train_structure *st = &set->items[k];
    const nnp_graph *g = nnp_cell_graph_view(st->graph);
    for (int i = 0; i < g->n_local; i++)
      for (int64_t q = g->neigh_offset[i]; q < g->neigh_offset[i + 1]; q++) {
        int j = g->neigh_index[q];
        const double *a = g->positions + 3 * i, *b = g->positions + 3 * j;
        double r2 = (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
        double rc = h->pair_cutoff[g->species[i]][g->species[j]];
        neighbours += r2 < rc * rc;
      }
    atoms += st->n_atoms;
    for (int q = 0; q < 3 * st->n_atoms; q++) f2 += st->forces[q] * st->forces[q];
  }
  o->avg_num_neighbors = atoms > 0 && neighbours > 0 ? neighbours / atoms : 1.0;
  o->force_rms = atoms > 0 ? sqrt(f2 / (3 * atoms)) : 1.0;
  if (!(o->force_rms > 1e-6)) o->force_rms = 1.0; /* forces all zero: keep the network's natural scale */
  o->energy_frames = train_set_energy_frames(set);
  for (int k = 0; k < set->n; k++) o->shift_frames += set->items[k].has_energy && set->items[k].offset_group < 0;
  if (given) {
    memcpy(o->energy_shift, given, (size_t)S * sizeof *given);
    o->rank = S;
  } else {
    /* without any energy the shifts stay 0 (rank 0): a force-matched model's energy is defined only up to a
     * constant per atom of each species, which no force can fix (docs/training.md, "Force matching") */
    o->rank = least_squares_shifts(set, S, o->energy_shift);
  }
  for (int k = 0; k < set->n; k++) {
    const train_structure *st = &set->items[k];
    if (!st->has_energy || st->offset_group >= 0) continue;
    double e = st->energy;
    for (int i = 0; i < st->n_atoms; i++) e -= o->energy_shift[st->species[i]];
    e2 += (e / st->n_atoms) * (e / st->n_atoms);
  }
  o->shift_rmse = o->shift_frames ? sqrt(e2 / o->shift_frames) : NAN;
}
