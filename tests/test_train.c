/* Tests of pnnp-train (pair_nnp/train/train_*.c).
 *
 *   test_train WORKDIR
 *
 * The data are made here: a Morse pair potential with a smooth cutoff, two species, on random small periodic cells
 * and open clusters. Checks: the loss gradient (with the force term's directional-derivative identity) against
 * central finite differences of the loss in the parameters; resuming from a checkpoint continues the same run bit
 * for bit (and with another thread count); a short training run lowers the validation force RMSE ten-fold; bad
 * input is refused with a message naming file and frame. Prints "N passed, M failed"; exits non-zero on failure.
 */
#include "extxyz.h"
#include "train.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static nnp_error train_err; /* messages of calls whose failure alone is checked */

/* ---------------------------------------------------------------------------------------------------------------- */
/* Synthetic data                                                                                                    */

#define MORSE_RC 3.5

static const char *const species_names[2] = {"C", "O"};

/* Morse pair energy times (1 - (r/rc)^2)^2, and its r-derivative. */
static double morse(int a, int b, double r, double *dphi) {
  static const double D[3] = {0.3, 0.4, 0.5}, r0[3] = {1.6, 1.8, 2.0};
  const double alpha = 1.5;
  int p = a + b;
  if (r >= MORSE_RC) {
    *dphi = 0;
    return 0;
  }
  double u = exp(-alpha * (r - r0[p])), m = D[p] * (u * u - 2 * u), dm = 2 * alpha * D[p] * u * (1 - u);
  double x = r / MORSE_RC, fc = (1 - x * x) * (1 - x * x), dfc = -4 * x * (1 - x * x) / MORSE_RC;
  *dphi = dm * fc + m * dfc;
  return m * fc;
}

static double uniform(train_rng *r) { return (double)(train_rng_next(r) >> 11) * 0x1.0p-53; }

/* Energy and forces of a frame (periodic images within +-1 cell are enough: the box is longer than MORSE_RC). */
static void morse_frame(xyz_frame *f, const int *sp) {
  int range = f->has_cell ? 1 : 0;
  f->energy = 0;
  memset(f->forces, 0, 3 * (size_t)f->n_atoms * sizeof *f->forces);
  for (int i = 0; i < f->n_atoms; i++)
    for (int j = 0; j < f->n_atoms; j++)
      for (int a = -range; a <= range; a++)
        for (int b = -range; b <= range; b++)
          for (int c = -range; c <= range; c++) {
            if (i == j && !a && !b && !c) continue;
            double d[3], r2 = 0, dphi;
            for (int k = 0; k < 3; k++) {
              d[k] = f->positions[3 * j + k] + a * f->cell[0][k] + b * f->cell[1][k] + c * f->cell[2][k] -
                     f->positions[3 * i + k];
              r2 += d[k] * d[k];
            }
            double r = sqrt(r2);
            f->energy += 0.5 * morse(sp[i], sp[j], r, &dphi);
            for (int k = 0; k < 3; k++) f->forces[3 * i + k] += dphi * d[k] / r; /* -dE/dx_i */
          }
}

/* Random positions with no pair (images included) closer than 1.3 Angstrom. */
static void place_atoms(train_rng *rng, xyz_frame *f) {
  double side = f->has_cell ? f->cell[0][0] : 3.6;
  for (int i = 0; i < f->n_atoms; i++) {
    for (int tries = 0; tries < 1000; tries++) {
      for (int k = 0; k < 3; k++) f->positions[3 * i + k] = side * uniform(rng);
      int ok = 1;
      for (int j = 0; j < i && ok; j++) {
        double r2 = 0;
        for (int k = 0; k < 3; k++) {
          double d = f->positions[3 * i + k] - f->positions[3 * j + k];
          if (f->has_cell) d -= side * floor(d / side + 0.5);
          r2 += d * d;
        }
        ok = r2 > 1.3 * 1.3;
      }
      if (ok) break;
    }
  }
}

/* n frames alternating periodic cubic cells (side 4.6-5.2 A, 7 atoms) and open clusters (5 atoms); frame `poisoned`
 * (-1: none) gets the finite but absurd energy 1e300 eV, whose squared error overflows to inf. */
static int write_morse_frames(const char *path, int n, uint64_t seed, int poisoned, int with_energy) {
  FILE *fp = fopen(path, "w");
  if (!fp) return -1;
  train_rng rng;
  train_rng_seed(&rng, seed);
  xyz_frame f;
  memset(&f, 0, sizeof f);
  char symbols[8][8];
  double pos[24], frc[24];
  int sp[8];
  f.symbols = symbols;
  f.positions = pos;
  f.forces = frc;
  f.has_forces = 1;
  f.has_energy = with_energy;
  for (int k = 0; k < n; k++) {
    f.has_cell = k % 2 == 0;
    f.n_atoms = f.has_cell ? 7 : 5;
    memset(f.cell, 0, sizeof f.cell);
    double side = 4.6 + 0.6 * uniform(&rng);
    for (int d = 0; d < 3; d++) {
      f.cell[d][d] = f.has_cell ? side : 1.0;
      f.pbc[d] = f.has_cell;
    }
    for (int i = 0; i < f.n_atoms; i++) {
      sp[i] = (int)(train_rng_next(&rng) >> 63);
      snprintf(symbols[i], sizeof symbols[i], "%s", species_names[sp[i]]);
    }
    place_atoms(&rng, &f);
    morse_frame(&f, sp);
    if (k == poisoned) f.energy = 1e300;
    nnp_error err;
    if (xyz_write_frame(fp, &f, NULL, &err)) {
      fclose(fp);
      return -1;
    }
  }
  return fclose(fp);
}

static int write_morse_data_poisoned(const char *path, int n, uint64_t seed, int poisoned) {
  return write_morse_frames(path, n, seed, poisoned, 1);
}

static int write_morse_data(const char *path, int n, uint64_t seed) {
  return write_morse_data_poisoned(path, n, seed, -1);
}

static const char model_keys[] =
    "species C O\nr_cut 3.5\nr_min 0.5\nl_max 1\nchannels 8\nlayers 2\nradial_basis 6\nradial_hidden 16\n"
    "readout_hidden 8\nenvelope_p 6\n";

static int write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  if (!fp) return -1;
  fputs(text, fp);
  return fclose(fp);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 1. The loss gradient against finite differences                                                                  */

static double batch_loss(train_engine *e, const train_set *set, const int *idx, int n, double *scratch) {
  double loss = NAN;
  nnp_error err;
  if (train_batch_gradient(e, set, idx, n, scratch, &loss, NULL, &err) != NNP_OK) printf("  %s\n", err.message);
  return loss;
}

/* radial_step: the radial tables of the MD default, and 0, the exact MLP */
static void test_gradient(tally *t, const char *dir, double radial_step) {
  char data[1024];
  snprintf(data, sizeof data, "%s/grad.xyz", dir);
  CHECK(t, write_morse_data(data, 3, 11) == 0);
  train_config cfg;
  train_config_defaults(&cfg);
  const char *names[2] = {"C", "O"};
  nnp_error err;
  nnp_hyper_default(&cfg.hyper, 2, names, &err);
  nnp_hyper *h = &cfg.hyper;
  h->r_cut = 3.5;
  for (int a = 0; a < NNP_MAX_SPECIES; a++)
    for (int b = 0; b < NNP_MAX_SPECIES; b++) h->pair_cutoff[a][b] = 3.5;
  h->l_max = 1, h->channels = 4, h->layers = 2, h->radial_basis = 4, h->n_radial_hidden = 1;
  h->radial_hidden[0] = 8, h->readout_hidden = 4;
  train_set set;
  memset(&set, 0, sizeof set);
  const char *paths[1] = {data};
  CHECK(t, train_set_load(&set, paths, 1, h, &train_err) == 0 && set.n == 3);
  train_normalisation norm;
  train_normalisation_measure(&set, h, NULL, &norm);
  h->avg_num_neighbors = norm.avg_num_neighbors;
  for (int s = 0; s < 2; s++) h->energy_shift[s] = norm.energy_shift[s], h->energy_scale[s] = norm.force_rms;
  nnp_model *m = NULL;
  CHECK(t, nnp_model_create_random(h, 5, &m, &err) == NNP_OK);
  train_engine e;
  CHECK(t, train_engine_create(&e, m, 2, 3, 3.0, 0.7, &err) == NNP_OK);
  CHECK(t, train_engine_set_radial_step(&e, radial_step, &err) == NNP_OK);
  size_t P = nnp_model_param_count(m);
  double *g = malloc(P * sizeof *g), *scratch = malloc(P * sizeof *scratch), *theta = nnp_model_params(m);
  int idx[3] = {2, 0, 1};
  double loss = NAN;
  CHECK(t, train_batch_gradient(&e, &set, idx, 3, g, &loss, NULL, &err) == NNP_OK && isfinite(loss));
  double diff2 = 0, norm2 = 0, eps = 1e-5;
  for (size_t q = 0; q < P; q++) {
    double saved = theta[q];
    theta[q] = saved + eps;
    double lp = batch_loss(&e, &set, idx, 3, scratch);
    theta[q] = saved - eps;
    double lm = batch_loss(&e, &set, idx, 3, scratch);
    theta[q] = saved;
    double fd = (lp - lm) / (2 * eps);
    diff2 += (g[q] - fd) * (g[q] - fd);
    norm2 += fd * fd;
  }
  double rel = sqrt(diff2 / norm2);
  printf("loss gradient vs finite differences (radial_step %g): %zu parameters, loss %.6g, relative error %.3g\n",
         radial_step, P, loss, rel);
  /* the gradient is exact (nnp_train_gradient); what remains is the central difference's own error: truncation
   * eps^2 |L'''| / 6 ~ 1e-11 relative and round-off eps_mach |L| / eps ~ 1e-11 relative here, so 1e-7 leaves a factor
   * of ~1000; a wrong term in any parameter array shows as 1e-3..1 */
  CHECK(t, rel < 1e-7);
  free(g);
  free(scratch);
  train_engine_free(&e);
  nnp_model_free(m);
  train_set_free(&set);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 2. Resume equivalence                                                                                             */

static int write_config(const char *dir, const char *name, const char *data, const char *extra) {
  char path[1024], text[8192];
  snprintf(path, sizeof path, "%s/%s.cfg", dir, name);
  snprintf(text, sizeof text, "%strain %s\noutput %s.nnp\n%s", model_keys, data, name, extra);
  return write_text(path, text);
}

static int run(const char *dir, const char *name, const char *resume, int threads, int max_epochs, train_summary *sum) {
  char cfg[1024], ckpt[1024];
  snprintf(cfg, sizeof cfg, "%s/%s.cfg", dir, name);
  snprintf(ckpt, sizeof ckpt, "%s/%s", dir, resume ? resume : "");
  train_options o = {cfg, resume ? ckpt : NULL, threads, max_epochs, 0, "test_train", 1, 0};
  nnp_error err;
  nnp_status st = train_run(&o, sum, &err);
  if (st) printf("  train_run: %s\n", err.message);
  return st ? 1 : 0;
}

static int same_checkpoints(const char *dir, const char *a, const char *b, size_t P) {
  char pa[1024], pb[1024];
  snprintf(pa, sizeof pa, "%s/%s", dir, a);
  snprintf(pb, sizeof pb, "%s/%s", dir, b);
  train_state A, B;
  if (train_state_alloc(&A, P) || train_state_alloc(&B, P)) return 0;
  int ok = !train_checkpoint_read(pa, &A, &train_err) && !train_checkpoint_read(pb, &B, &train_err);
  ok = ok && A.epoch == B.epoch && A.step == B.step && A.lr == B.lr && A.best_loss == B.best_loss &&
       !memcmp(A.rng.s, B.rng.s, sizeof A.rng.s) && A.n_offsets == B.n_offsets &&
       !memcmp(A.offset, B.offset, sizeof A.offset);
  size_t bytes = P * sizeof(double);
  ok = ok && !memcmp(A.params, B.params, bytes) && !memcmp(A.ema, B.ema, bytes) && !memcmp(A.adam_m, B.adam_m, bytes) &&
       !memcmp(A.adam_v, B.adam_v, bytes);
  train_state_free(&A);
  train_state_free(&B);
  return ok;
}

static int same_model_params(const char *dir, const char *a, const char *b) {
  char pa[1024], pb[1024];
  snprintf(pa, sizeof pa, "%s/%s", dir, a);
  snprintf(pb, sizeof pb, "%s/%s", dir, b);
  nnp_model *A = NULL, *B = NULL;
  nnp_error err;
  int ok = nnp_model_read(pa, &A, &err) == NNP_OK && nnp_model_read(pb, &B, &err) == NNP_OK &&
           nnp_model_param_count(A) == nnp_model_param_count(B) &&
           !memcmp(nnp_model_params_const(A), nnp_model_params_const(B), nnp_model_param_count(A) * sizeof(double));
  nnp_model_free(A);
  nnp_model_free(B);
  return ok;
}

static void test_checkpoint_format2(tally *t, const char *dir, size_t P);

static void test_resume(tally *t, const char *dir) {
  char data[1024];
  snprintf(data, sizeof data, "%s/resume.xyz", dir);
  CHECK(t, write_morse_data(data, 12, 23) == 0);
  const char *extra = "seed 7\nbatch_size 2\nepochs 4\nvalidation_fraction 0.25\nlr_patience 1\nlearning_rate 0.02\n";
  CHECK(t, write_config(dir, "straight", "resume.xyz", extra) == 0);
  CHECK(t, write_config(dir, "resumed", "resume.xyz", extra) == 0);
  train_summary a, b, c;
  CHECK(t, run(dir, "straight", NULL, 2, 0, &a) == 0 && a.epochs_done == 4);
  CHECK(t, run(dir, "resumed", NULL, 1, 2, &b) == 0 && b.epochs_done == 2);
  CHECK(t, run(dir, "resumed", "resumed.nnp.ckpt", 2, 0, &c) == 0 && c.epochs_done == 4);
  CHECK(t, same_checkpoints(dir, "straight.nnp.ckpt", "resumed.nnp.ckpt", a.n_params));
  CHECK(t, same_model_params(dir, "straight.nnp", "resumed.nnp"));
  test_checkpoint_format2(t, dir, a.n_params);
  printf("resume: 4 epochs straight (2 threads) == 2 epochs (1 thread) + resume to 4 (2 threads), bitwise\n");
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 3. Training lowers the force error ten-fold                                                                      */

static void test_learning(tally *t, const char *dir) {
  char data[1024];
  snprintf(data, sizeof data, "%s/learn.xyz", dir);
  CHECK(t, write_morse_data(data, 48, 31) == 0);
  const char *extra = "seed 3\nbatch_size 4\nepochs 60\nvalidation_fraction 0.25\nlearning_rate 0.01\n"
                      "lr_patience 5\nema_decay 0.99\nenergy_weight 1\nforce_weight 1\n";
  CHECK(t, write_config(dir, "learn", "learn.xyz", extra) == 0);
  train_summary s;
  CHECK(t, run(dir, "learn", NULL, 2, 0, &s) == 0);
  printf("learning: validation force RMSE %.1f -> %.2f meV/A, energy RMSE %.2f -> %.3f meV/atom, %d epochs, "
         "%.3f s/epoch\n",
         s.initial_val_force_rmse, s.best_val_force_rmse, s.initial_val_energy_rmse, s.best_val_energy_rmse,
         s.epochs_done, s.seconds_per_epoch);
  CHECK(t, s.best_val_force_rmse * 10 <= s.initial_val_force_rmse);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 4. Bad input                                                                                                      */

static int load_fails(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (write_text(path, text)) return 0;
  train_config cfg;
  const char *names[2] = {"C", "O"};
  nnp_error err;
  nnp_hyper_default(&cfg.hyper, 2, names, &err);
  train_set set;
  memset(&set, 0, sizeof set);
  const char *paths[1] = {path};
  printf("  expected error: ");
  fflush(stdout);
  int rc = train_set_load(&set, paths, 1, &cfg.hyper, &err);
  if (rc) printf("%s\n", err.message);
  train_set_free(&set);
  return rc != 0;
}

static void test_bad_input(tally *t, const char *dir) {
  const char *ok = "2\nLattice=\"6 0 0 0 6 0 0 0 6\" energy=-1.0 Properties=species:S:1:pos:R:3:forces:R:3\n"
                   "C 0 0 0 0 0 0\nO 1.5 0 0 0 0 0\n";
  CHECK(t, !load_fails(dir, "good.xyz", ok));
  printf("(none)\n");
  CHECK(t, load_fails(
               dir, "noforces.xyz",
               "2\nLattice=\"6 0 0 0 6 0 0 0 6\" energy=-1.0 Properties=species:S:1:pos:R:3\nC 0 0 0\nO 1.5 0 0\n"));
  /* a frame without an energy loads (force matching); train_set_check_energies decides (test_force_only) */
  CHECK(t, !load_fails(dir, "noenergy.xyz",
                       "2\nLattice=\"6 0 0 0 6 0 0 0 6\" Properties=species:S:1:pos:R:3:forces:R:3\n"
                       "C 0 0 0 0 0 0\nO 1.5 0 0 0 0 0\n"));
  printf("(none)\n");
  CHECK(t, load_fails(dir, "element.xyz",
                      "2\nLattice=\"6 0 0 0 6 0 0 0 6\" energy=-1.0 Properties=species:S:1:pos:R:3:forces:R:3\n"
                      "C 0 0 0 0 0 0\nNa 1.5 0 0 0 0 0\n"));
  CHECK(t, load_fails(dir, "close.xyz",
                      "2\nLattice=\"6 0 0 0 6 0 0 0 6\" energy=-1.0 Properties=species:S:1:pos:R:3:forces:R:3\n"
                      "C 0 0 0 0 0 0\nO 0.1 0 0 0 0 0\n"));
  CHECK(t, load_fails(dir, "nan.xyz",
                      "2\nLattice=\"6 0 0 0 6 0 0 0 6\" energy=-1.0 Properties=species:S:1:pos:R:3:forces:R:3\n"
                      "C 0 0 0 nan 0 0\nO 1.5 0 0 0 0 0\n"));
  CHECK(t, load_fails(dir, "empty.xyz", ""));
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 5. Robustness: divergence, non-finite batches, resume identity (issue 18, items 6 and 7)                         */

static const char *model_meta(const nnp_model *m, const char *key) {
  for (int i = 0; i < nnp_model_meta_count(m); i++)
    if (!strcmp(nnp_model_meta_key(m, i), key)) return nnp_model_meta_value(m, i);
  return "";
}

static int params_finite(const nnp_model *m) {
  const double *p = nnp_model_params_const(m);
  for (size_t q = 0; q < nnp_model_param_count(m); q++)
    if (!isfinite(p[q])) return 0;
  return 1;
}

/* learning_rate 10 without clipping: the run must stop with an error instead of writing a garbage "best" model; the
 * model in `output` is then the starting model (epoch 0 is a candidate), finite, with epoch 0 in its metadata. */
static void test_divergence(tally *t, const char *dir) {
  char data[1024], out[1024];
  snprintf(data, sizeof data, "%s/diverge.xyz", dir);
  CHECK(t, write_morse_data(data, 16, 41) == 0);
  CHECK(t,
        write_config(dir, "diverge", "diverge.xyz",
                     "seed 5\nbatch_size 2\nepochs 6\nvalidation_fraction 0.25\nlearning_rate 10\ngrad_clip 0\n") == 0);
  train_summary s;
  printf("  expected error: ");
  fflush(stdout);
  int rc = run(dir, "diverge", NULL, 1, 0, &s);
  CHECK(t, rc != 0);
  CHECK(t, s.best_epoch == 0);
  snprintf(out, sizeof out, "%s/diverge.nnp", dir);
  nnp_model *m = NULL;
  nnp_error err;
  CHECK(t, nnp_model_read(out, &m, &err) == NNP_OK);
  CHECK(t, m && params_finite(m) && !strcmp(model_meta(m, "epoch"), "0"));
  printf(
      "divergence: learning_rate 10, grad_clip 0 -> exit %d after %d epochs, best model = epoch %d (meta epoch %s)\n",
      rc, s.epochs_done, s.best_epoch, m ? model_meta(m, "epoch") : "?");
  nnp_model_free(m);
}

/* One training frame whose energy error squared overflows: its batch is skipped (batch_size 1, so exactly one step
 * per epoch), the weights and Adam's moments stay finite, and the run goes on. Before, without clipping, the
 * squared gradient made Adam's second moments infinite, which froze those weights for the rest of the run; with
 * clipping an infinite norm scaled the gradient by 0 (and an infinite entry to NaN). */
static void test_nonfinite_batch(tally *t, const char *dir) {
  char train[1024], val[1024], out[1024];
  snprintf(train, sizeof train, "%s/poisoned.xyz", dir);
  snprintf(val, sizeof val, "%s/poisoned_val.xyz", dir);
  CHECK(t, write_morse_data_poisoned(train, 8, 43, 3) == 0);
  CHECK(t, write_morse_data(val, 4, 44) == 0);
  /* given shifts: least squares would fit the shifts to the 1e300 eV frame */
  CHECK(t,
        write_config(dir, "poisoned", "poisoned.xyz",
                     "seed 2\nbatch_size 1\nepochs 2\nvalidation poisoned_val.xyz\nlearning_rate 0.005\ngrad_clip 0\n"
                     "energy_reference C:0 O:0\n") == 0);
  train_summary s;
  printf("  expected report of a skipped step: ");
  fflush(stdout);
  CHECK(t, run(dir, "poisoned", NULL, 2, 0, &s) == 0);
  CHECK(t, s.epochs_done == 2 && s.skipped_steps == 2);
  CHECK(t, isfinite(s.best_val_force_rmse) && s.best_val_force_rmse < s.initial_val_force_rmse);
  snprintf(out, sizeof out, "%s/poisoned.nnp.ckpt", dir);
  train_state st;
  CHECK(t, train_state_alloc(&st, s.n_params) == 0);
  CHECK(t, train_checkpoint_read(out, &st, &train_err) == 0);
  int finite = 1;
  for (size_t q = 0; q < st.n_params; q++)
    finite &= isfinite(st.params[q]) && isfinite(st.ema[q]) && isfinite(st.adam_m[q]) && isfinite(st.adam_v[q]);
  CHECK(t, finite);
  train_state_free(&st);
  printf("non-finite batch: %ld of 16 steps skipped, weights finite, val force RMSE %.1f -> %.1f meV/A\n",
         s.skipped_steps, s.initial_val_force_rmse, s.best_val_force_rmse);
}

/* --resume refuses a changed seed, loss weight, recipe key or data file, and accepts the changeable keys. */
static void test_resume_identity(tally *t, const char *dir) {
  char data[1024];
  snprintf(data, sizeof data, "%s/ident.xyz", dir);
  CHECK(t, write_morse_data(data, 12, 23) == 0);
  const char *base = "seed 7\nbatch_size 4\nepochs 1\nvalidation_fraction 0.25\n";
  CHECK(t, write_config(dir, "ident", "ident.xyz", base) == 0);
  train_summary s;
  CHECK(t, run(dir, "ident", NULL, 1, 0, &s) == 0 && s.epochs_done == 1);
  const char *changed[] = {
      "seed 8\n",       "energy_weight 10\n",    "force_weight 100\n", "lr_schedule cosine\n", "final_stage_epoch 3\n",
      "batch_size 2\n", "exclude ident.xyz 3\n", "learning_rate 0.1\n"};
  char text[4096];
  for (size_t k = 0; k < sizeof changed / sizeof *changed; k++) {
    snprintf(text, sizeof text, "%s%sepochs 2\n", base, changed[k]);
    CHECK(t, write_config(dir, "ident", "ident.xyz", text) == 0);
    printf("  expected error (%.*s): ", (int)strcspn(changed[k], "\n"), changed[k]);
    fflush(stdout);
    CHECK(t, run(dir, "ident", "ident.nnp.ckpt", 1, 0, &s) != 0);
  }
  /* the same number of frames, other contents */
  snprintf(data, sizeof data, "%s/ident2.xyz", dir);
  CHECK(t, write_morse_data(data, 12, 24) == 0);
  snprintf(text, sizeof text, "%sepochs 2\n", base);
  CHECK(t, write_config(dir, "ident", "ident2.xyz", text) == 0);
  printf("  expected error (data): ");
  fflush(stdout);
  CHECK(t, run(dir, "ident", "ident.nnp.ckpt", 1, 0, &s) != 0);
  /* deliberately changeable: epochs, min_learning_rate, time_budget, divergence_factor, log */
  snprintf(text, sizeof text,
           "%sepochs 2\nmin_learning_rate 1e-6\ntime_budget 1000\ndivergence_factor 50\n"
           "log ident2.csv\n",
           base);
  CHECK(t, write_config(dir, "ident", "ident.xyz", text) == 0);
  CHECK(t, run(dir, "ident", "ident.nnp.ckpt", 1, 0, &s) == 0 && s.epochs_done == 2);
  printf("resume identity: 9 changed run definitions refused, changeable keys accepted\n");
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 6. The recipe: schedule, final stage, exclusions and frame weights                                               */

static void test_schedule(tally *t) {
  train_config c;
  train_config_defaults(&c);
  c.learning_rate = 0.01;
  c.min_learning_rate = 0.001;
  c.epochs = 10;
  c.warmup_epochs = 2;
  c.lr_schedule = TRAIN_LR_COSINE;
  train_state s;
  CHECK(t, train_state_alloc(&s, 1) == 0);
  const long spe = 5; /* steps per epoch: warm-up 10 steps, cosine over 40 */
  s.step = 0;
  CHECK(t, fabs(train_step_lr(&s, &c, spe) - 0.01 / 10) < 1e-15);
  s.step = 9;
  CHECK(t, fabs(train_step_lr(&s, &c, spe) - 0.01) < 1e-15);
  s.step = 10;
  CHECK(t, fabs(train_step_lr(&s, &c, spe) - 0.01) < 1e-15);
  s.step = 30; /* half-way through the cosine: the mean of start and floor */
  CHECK(t, fabs(train_step_lr(&s, &c, spe) - 0.0055) < 1e-15);
  s.step = 50;
  CHECK(t, fabs(train_step_lr(&s, &c, spe) - 0.001) < 1e-15);
  s.step = 80; /* epochs raised on resume would continue from here; past the end it stays at the floor */
  CHECK(t, fabs(train_step_lr(&s, &c, spe) - 0.001) < 1e-15);
  c.lr_schedule = TRAIN_LR_PLATEAU;
  s.base_lr = 0.004;
  s.step = 4;
  CHECK(t, fabs(train_step_lr(&s, &c, spe) - 0.004 * 5 / 10) < 1e-15);
  s.step = 12;
  CHECK(t, train_step_lr(&s, &c, spe) == 0.004);
  train_state_free(&s);
  /* clipping leaves a non-finite gradient alone (the caller skips the step); before, inf * (max / inf) was NaN */
  double g[2] = {INFINITY, 1.0};
  CHECK(t, isinf(train_clip_gradient(g, 2, 1.0)) && isinf(g[0]) && g[1] == 1.0);
  /* loss weights by epoch */
  double we, wf;
  c.energy_weight = 1;
  c.force_weight = 100;
  c.final_stage_epoch = 4;
  c.final_energy_weight = 1000;
  c.final_force_weight = -1; /* unset: the first-stage value */
  train_config_weights(&c, 3, &we, &wf);
  CHECK(t, we == 1 && wf == 100);
  train_config_weights(&c, 4, &we, &wf);
  CHECK(t, we == 1000 && wf == 100);
  train_config_weights(&c, 0, &we, &wf);
  CHECK(t, we == 1 && wf == 100);
  /* final_learning_rate caps the rate from the final stage on (s.epoch counts completed epochs) */
  CHECK(t, train_state_alloc(&s, 1) == 0);
  c.lr_schedule = TRAIN_LR_PLATEAU;
  c.warmup_epochs = 0;
  c.final_learning_rate = 0.001;
  s.base_lr = 0.004;
  s.epoch = 2; /* the coming epoch 3 is before the stage */
  CHECK(t, train_step_lr(&s, &c, spe) == 0.004);
  s.epoch = 3; /* epoch 4: the final stage */
  CHECK(t, train_step_lr(&s, &c, spe) == 0.001);
  train_state_free(&s);
}

/* A run that crosses warm-up, the cosine and the final stage resumes bit for bit (the schedule is a function of
 * the step count in the checkpoint, the stage of the epoch count). */
static void test_recipe_resume(tally *t, const char *dir) {
  const char *extra = "seed 9\nbatch_size 2\nepochs 4\nvalidation_fraction 0.25\nlearning_rate 0.02\n"
                      "lr_schedule cosine\nwarmup_epochs 1.5\nmin_learning_rate 0.001\nforce_weight 100\n"
                      "final_stage_epoch 3\nfinal_energy_weight 1000\nfinal_learning_rate 0.005\nema_decay 0.9\n"
                      "exclude resume.xyz 5\n"
                      "frame_weight resume.xyz 2 3\n";
  CHECK(t, write_config(dir, "rstraight", "resume.xyz", extra) == 0);
  CHECK(t, write_config(dir, "rresumed", "resume.xyz", extra) == 0);
  train_summary a, b, c;
  CHECK(t, run(dir, "rstraight", NULL, 2, 0, &a) == 0 && a.epochs_done == 4);
  CHECK(t, run(dir, "rresumed", NULL, 1, 3, &b) == 0 && b.epochs_done == 3);
  CHECK(t, run(dir, "rresumed", "rresumed.nnp.ckpt", 2, 0, &c) == 0 && c.epochs_done == 4);
  CHECK(t, same_checkpoints(dir, "rstraight.nnp.ckpt", "rresumed.nnp.ckpt", a.n_params));
  CHECK(t, same_model_params(dir, "rstraight.nnp", "rresumed.nnp"));
  CHECK(t, a.best_epoch >= 3); /* the final stage restarts the best model */
  printf("recipe resume: cosine + warm-up + final stage + exclusion + frame weight, 4 straight == 3 + 1, bitwise\n");
}

/* exclude drops a frame from whichever set holds it; frame_weight scales a structure's loss and gradient share;
 * rules naming a missing frame or file are refused. */
static void test_frame_rules(tally *t, const char *dir) {
  char data[1024], other[1024];
  snprintf(data, sizeof data, "%s/rules.xyz", dir);
  snprintf(other, sizeof other, "%s/./rules.xyz", dir); /* another name for the same file */
  CHECK(t, write_morse_data(data, 4, 51) == 0);
  const char *names[2] = {"C", "O"};
  nnp_error err;
  train_config cfg;
  train_config_defaults(&cfg);
  nnp_hyper_default(&cfg.hyper, 2, names, &err);
  cfg.hyper.r_cut = 3.5;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) cfg.hyper.pair_cutoff[a][b] = 3.5;
  cfg.hyper.channels = 4;
  cfg.hyper.radial_hidden[0] = 8;
  cfg.hyper.n_radial_hidden = 1;
  train_set set, none;
  memset(&set, 0, sizeof set);
  memset(&none, 0, sizeof none);
  const char *paths[1] = {data};
  CHECK(t, train_set_load(&set, paths, 1, &cfg.hyper, &train_err) == 0 && set.n == 4);
  train_frame_rule rules[3];
  memset(rules, 0, sizeof rules);
  snprintf(rules[0].file, sizeof rules[0].file, "%s", other);
  rules[0].frame = 1;
  rules[0].weight = 0;
  snprintf(rules[1].file, sizeof rules[1].file, "%s", data);
  rules[1].frame = -1;
  rules[1].weight = 2;
  train_set *const sets[2] = {&set, &none};
  CHECK(t, train_sets_apply_rules(sets, 2, rules, 1, "test", &train_err) == 0);
  CHECK(t, set.n == 3 && set.items[0].frame == 0 && set.items[1].frame == 2 && set.frames_per_file[0] == 3);
  /* weight 2 on every frame doubles the loss and its gradient exactly (a power-of-two scale) */
  nnp_model *m = NULL;
  CHECK(t, nnp_model_create_random(&cfg.hyper, 3, &m, &err) == NNP_OK);
  train_engine e;
  CHECK(t, train_engine_create(&e, m, 1, 3, 1.0, 1.0, &err) == NNP_OK);
  size_t P = nnp_model_param_count(m);
  double *g1 = malloc(P * sizeof *g1), *g2 = malloc(P * sizeof *g2), l1 = 0, l2 = 0;
  int idx[3] = {0, 1, 2};
  CHECK(t, train_batch_gradient(&e, &set, idx, 3, g1, &l1, NULL, &err) == NNP_OK);
  CHECK(t, train_sets_apply_rules(sets, 2, rules + 1, 1, "test", &train_err) == 0 && set.items[2].weight == 2);
  CHECK(t, train_batch_gradient(&e, &set, idx, 3, g2, &l2, NULL, &err) == NNP_OK);
  int doubled = l2 == 2 * l1;
  for (size_t q = 0; q < P; q++) doubled &= g2[q] == 2 * g1[q];
  CHECK(t, doubled);
  /* a frame that is not there, a file that is not in the data */
  rules[2] = rules[0];
  rules[2].frame = 4;
  printf("  expected error: ");
  fflush(stdout);
  CHECK(t, train_sets_apply_rules(sets, 2, rules + 2, 1, "test", &train_err) != 0);
  snprintf(rules[2].file, sizeof rules[2].file, "%s/resume.xyz", dir);
  rules[2].frame = 0;
  printf("  expected error: ");
  fflush(stdout);
  CHECK(t, train_sets_apply_rules(sets, 2, rules + 2, 1, "test", &train_err) != 0);
  free(g1);
  free(g2);
  train_engine_free(&e);
  nnp_model_free(m);
  train_set_free(&set);
  printf("frame rules: exclusion by file identity, weight 2 doubles loss and gradient exactly, bad rules refused\n");
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 7. Force matching: frames without energies (issue 17)                                                            */

/* Field `col` (from 0) of CSV row `row` (0: the header) of a file into out; 0 when found. */
static int csv_field(const char *path, int row, int col, char *out, size_t n) {
  FILE *fp = fopen(path, "r");
  char line[4096];
  int found = -1;
  for (int r = 0; fp && fgets(line, sizeof line, fp); r++) {
    if (r != row) continue;
    char *p = line;
    for (int c = 0; c < col && p; c++) p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
    if (p) {
      snprintf(out, n, "%.*s", (int)strcspn(p, ",\n"), p);
      found = 0;
    }
    break;
  }
  if (fp) fclose(fp);
  return found;
}

static int load_set(const char *const *paths, int n, const nnp_hyper *h, train_set *set) {
  memset(set, 0, sizeof *set);
  nnp_error err;
  return train_set_load(set, paths, n, h, &err);
}

/* Frames without `energy=` train forces only when no stage weighs energies, and are refused (naming file and frame)
 * otherwise; the energy shifts are fitted to the frames with energies only (0 without any); energy errors are
 * n/a (NaN in the summary, an empty CSV field, "n/a" in the metadata), never 0; resuming is bitwise as before.
 * Every check fails on the trainer before this change, which refused such frames at load. */
static void test_force_only(tally *t, const char *dir) {
  char noe[1024], withe[1024], path[1024], field[256];
  snprintf(noe, sizeof noe, "%s/forceonly.xyz", dir);
  snprintf(withe, sizeof withe, "%s/forceonly_e.xyz", dir);
  CHECK(t, write_morse_frames(noe, 12, 61, -1, 0) == 0);
  CHECK(t, write_morse_frames(withe, 12, 61, -1, 1) == 0); /* the same frames with their energies */
  train_summary s;
  /* refused while an energy weight is not 0: the default 1, or a final stage that raises it */
  const char *refused[] = {"epochs 1\n", "epochs 2\nenergy_weight 0\nfinal_stage_epoch 2\nfinal_energy_weight 1\n"};
  for (int k = 0; k < 2; k++) {
    CHECK(t, write_config(dir, "fo_refused", "forceonly.xyz", refused[k]) == 0);
    printf("  expected error: ");
    fflush(stdout);
    CHECK(t, run(dir, "fo_refused", NULL, 1, 0, &s) != 0);
  }
  /* the gradient of a force-only frame is that of the same frame with an energy at energy weight 0, bitwise */
  const char *names[2] = {"C", "O"};
  nnp_error err;
  train_config cfg;
  train_config_defaults(&cfg);
  nnp_hyper_default(&cfg.hyper, 2, names, &err);
  cfg.hyper.r_cut = 3.5;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) cfg.hyper.pair_cutoff[a][b] = 3.5;
  cfg.hyper.channels = 4;
  train_set a, b, mixed;
  const char *pa[1] = {noe}, *pb[1] = {withe}, *pm[2] = {withe, noe};
  CHECK(t, load_set(pa, 1, &cfg.hyper, &a) == 0 && a.n == 12 && !a.items[0].has_energy);
  CHECK(t, load_set(pb, 1, &cfg.hyper, &b) == 0 && b.n == 12 && b.items[0].has_energy);
  CHECK(t, load_set(pm, 2, &cfg.hyper, &mixed) == 0 && mixed.n == 24);
  nnp_model *m = NULL;
  CHECK(t, nnp_model_create_random(&cfg.hyper, 3, &m, &err) == NNP_OK);
  train_engine e0, e1;
  CHECK(t, train_engine_create(&e0, m, 1, 3, 0.0, 1.0, &err) == NNP_OK);
  CHECK(t, train_engine_create(&e1, m, 1, 3, 1.0, 1.0, &err) == NNP_OK);
  size_t P = nnp_model_param_count(m);
  double *ga = malloc(P * sizeof *ga), *gb = malloc(P * sizeof *gb), *gc = malloc(P * sizeof *gc), la, lb, lc;
  int idx[3] = {0, 1, 2};
  train_errors ea, eb;
  memset(&ea, 0, sizeof ea);
  memset(&eb, 0, sizeof eb);
  CHECK(t, train_batch_gradient(&e0, &a, idx, 3, ga, &la, &ea, &err) == NNP_OK);
  CHECK(t, train_batch_gradient(&e0, &b, idx, 3, gb, &lb, &eb, &err) == NNP_OK);
  CHECK(t, train_batch_gradient(&e1, &a, idx, 3, gc, &lc, NULL, &err) == NNP_OK);
  int same = la == lb && la == lc && ga && gb && gc;
  for (size_t q = 0; same && q < P; q++) same &= ga[q] == gb[q] && ga[q] == gc[q];
  CHECK(t, same);
  CHECK(t, ea.n_energy == 0 && isnan(train_errors_energy_rmse(&ea)) && eb.n_energy == 3 &&
               train_errors_energy_rmse(&eb) > 0 && train_errors_force_rmse(&ea) == train_errors_force_rmse(&eb));
  /* shifts: the frames with energies alone decide them; none at all gives 0 */
  train_normalisation na, nb, nm;
  train_normalisation_measure(&a, &cfg.hyper, NULL, &na);
  train_normalisation_measure(&b, &cfg.hyper, NULL, &nb);
  train_normalisation_measure(&mixed, &cfg.hyper, NULL, &nm);
  CHECK(t, na.energy_frames == 0 && na.rank == 0 && na.energy_shift[0] == 0 && na.energy_shift[1] == 0 &&
               isnan(na.shift_rmse));
  CHECK(t, nb.rank == 2 && nb.energy_shift[0] != 0 && nm.energy_frames == 12 &&
               nm.energy_shift[0] == nb.energy_shift[0] && nm.energy_shift[1] == nb.energy_shift[1] &&
               nm.shift_rmse == nb.shift_rmse);
  free(ga);
  free(gb);
  free(gc);
  train_engine_free(&e0);
  train_engine_free(&e1);
  nnp_model_free(m);
  train_set_free(&a);
  train_set_free(&b);
  train_set_free(&mixed);
  /* a force-only run: learns forces, reports energies as n/a, resumes bitwise */
  const char *extra = "seed 9\nbatch_size 2\nepochs 4\nvalidation_fraction 0.25\nenergy_weight 0\n"
                      "learning_rate 0.01\n";
  CHECK(t, write_config(dir, "fo_straight", "forceonly.xyz", extra) == 0);
  CHECK(t, write_config(dir, "fo_resumed", "forceonly.xyz", extra) == 0);
  train_summary s1, s2;
  CHECK(t, run(dir, "fo_straight", NULL, 2, 0, &s) == 0 && s.epochs_done == 4);
  CHECK(t, run(dir, "fo_resumed", NULL, 1, 2, &s1) == 0 && s1.epochs_done == 2);
  CHECK(t, run(dir, "fo_resumed", "fo_resumed.nnp.ckpt", 2, 0, &s2) == 0 && s2.epochs_done == 4);
  CHECK(t, same_checkpoints(dir, "fo_straight.nnp.ckpt", "fo_resumed.nnp.ckpt", s.n_params));
  CHECK(t, isnan(s.initial_val_energy_rmse) && isnan(s.best_val_energy_rmse));
  CHECK(t, s.best_val_force_rmse < s.initial_val_force_rmse);
  snprintf(path, sizeof path, "%s/fo_straight.nnp.log.csv", dir);
  CHECK(t, csv_field(path, 0, 8, field, sizeof field) == 0 && !strcmp(field, "val_energy_rmse_meV_per_atom"));
  for (int row = 1; row <= 5; row++) { /* epochs 0-4: energy columns empty, force columns numbers */
    CHECK(t, csv_field(path, row, 8, field, sizeof field) == 0 && field[0] == '\0');
    CHECK(t, csv_field(path, row, 9, field, sizeof field) == 0 && atof(field) > 0);
    if (row > 1) CHECK(t, csv_field(path, row, 5, field, sizeof field) == 0 && field[0] == '\0');
  }
  snprintf(path, sizeof path, "%s/fo_straight.nnp", dir);
  CHECK(t, nnp_model_read(path, &m, &err) == NNP_OK);
  CHECK(t, m && !strncmp(model_meta(m, "val_energy_rmse_meV_per_atom"), "n/a", 3) &&
               !strncmp(model_meta(m, "energy_reference"), "none", 4));
  CHECK(t, m && nnp_model_hyper(m)->energy_shift[0] == 0 && nnp_model_hyper(m)->energy_shift[1] == 0);
  nnp_model_free(m);
  printf("force only: refused with energy weights, gradient = energy-weight-0 gradient bitwise, shifts from the "
         "frames with energies, val force RMSE %.1f -> %.1f meV/A, energy n/a, resume bitwise\n",
         s.initial_val_force_rmse, s.best_val_force_rmse);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 8. Time-block validation (validation_split last, validation_gap)                                                 */

static int frames_are(const train_set *s, int file, const long *frames, int n) {
  int k = 0;
  for (int i = 0; i < s->n; i++) {
    if (s->items[i].file != file) continue;
    if (k >= n || s->items[i].frame != frames[k]) return 0;
    k++;
  }
  return k == n && s->frames_per_file[file] == n;
}

static void test_split_last(tally *t, const char *dir) {
  char d1[1024], d2[1024], d3[1024], path[1024];
  snprintf(d1, sizeof d1, "%s/block1.xyz", dir);
  snprintf(d2, sizeof d2, "%s/block2.xyz", dir);
  snprintf(d3, sizeof d3, "%s/block3.xyz", dir);
  CHECK(t, write_morse_data(d1, 10, 71) == 0 && write_morse_data(d2, 7, 72) == 0 && write_morse_data(d3, 3, 73) == 0);
  const char *names[2] = {"C", "O"};
  nnp_error err;
  nnp_hyper h;
  nnp_hyper_default(&h, 2, names, &err);
  h.r_cut = 3.5;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) h.pair_cutoff[a][b] = 3.5;
  train_set all, tr, va, gap;
  const char *paths[2] = {d1, d2};
  CHECK(t, load_set(paths, 2, &h, &all) == 0 && all.n == 17);
  /* 0.2 of 10 frames = 2 held out, of 7 frames round(1.4) = 1; one frame dropped before each block */
  CHECK(t, train_set_split_last(&all, 0.2, 1, &tr, &va, &gap, &train_err) == 0);
  const long t1[] = {0, 1, 2, 3, 4, 5, 6}, v1[] = {8, 9}, g1[] = {7}, t2[] = {0, 1, 2, 3, 4}, v2[] = {6}, g2[] = {5};
  CHECK(t, frames_are(&tr, 0, t1, 7) && frames_are(&va, 0, v1, 2) && frames_are(&gap, 0, g1, 1));
  CHECK(t, frames_are(&tr, 1, t2, 5) && frames_are(&va, 1, v2, 1) && frames_are(&gap, 1, g2, 1));
  train_set_free(&tr);
  train_set_free(&va);
  train_set_free(&gap);
  /* 3 frames: 2 held out after a gap of 1 leaves no training frame: refused */
  const char *p3[1] = {d3};
  CHECK(t, load_set(p3, 1, &h, &all) == 0);
  memset(&tr, 0, sizeof tr);
  memset(&va, 0, sizeof va);
  memset(&gap, 0, sizeof gap);
  printf("  expected error: ");
  fflush(stdout);
  CHECK(t, train_set_split_last(&all, 0.5, 1, &tr, &va, &gap, &train_err) != 0);
  train_set_free(&all);
  train_set_free(&tr);
  train_set_free(&va);
  train_set_free(&gap);
  /* a run: the split is in the metadata, rules may name a dropped frame, and resume checks the split keys */
  const char *base = "train block2.xyz\nseed 3\nbatch_size 4\nepochs 1\nvalidation_fraction 0.2\n"
                     "validation_split last\nvalidation_gap 1\nexclude block2.xyz 5\n";
  CHECK(t, write_config(dir, "blocks", "block1.xyz", base) == 0);
  train_summary s;
  CHECK(t, run(dir, "blocks", NULL, 1, 0, &s) == 0 && s.epochs_done == 1);
  snprintf(path, sizeof path, "%s/blocks.nnp", dir);
  nnp_model *m = NULL;
  CHECK(t, nnp_model_read(path, &m, &err) == NNP_OK);
  CHECK(t, m && strstr(model_meta(m, "validation_data"), "validation_split last, validation_gap 1: 2 frames"));
  CHECK(t, m && strstr(model_meta(m, "train_data"), "block1.xyz (7 frames used)"));
  nnp_model_free(m);
  const char *changed[] = {"validation_split random\n", "validation_gap 2\n"};
  char text[4096];
  for (int k = 0; k < 2; k++) {
    if (k == 0) /* the same file without the two split keys: the random split */
      snprintf(text, sizeof text, "%.*sexclude block2.xyz 5\nepochs 2\n",
               (int)(strstr(base, "validation_split") - base), base);
    else
      snprintf(text, sizeof text, "%s%sepochs 2\n", base, changed[k]);
    CHECK(t, write_config(dir, "blocks", "block1.xyz", text) == 0);
    printf("  expected error (%.*s): ", (int)strcspn(changed[k], "\n"), changed[k]);
    fflush(stdout);
    CHECK(t, run(dir, "blocks", "blocks.nnp.ckpt", 1, 0, &s) != 0);
  }
  snprintf(text, sizeof text, "%sepochs 2\n", base);
  CHECK(t, write_config(dir, "blocks", "block1.xyz", text) == 0);
  CHECK(t, run(dir, "blocks", "blocks.nnp.ckpt", 1, 0, &s) == 0 && s.epochs_done == 2);
  /* bad configurations */
  const char *bad[] = {"validation_split first\n", "validation_gap 2\n",
                       "validation_split last\nvalidation block2.xyz\n"};
  for (int k = 0; k < 3; k++) {
    CHECK(t, write_config(dir, "blocks_bad", "block1.xyz", bad[k]) == 0);
    printf("  expected error: ");
    fflush(stdout);
    CHECK(t, run(dir, "blocks_bad", NULL, 1, 0, &s) != 0);
  }
  printf("time blocks: last frames of each file held out, gap frames dropped, recorded in the metadata, checked on "
         "resume, bad keys refused\n");
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 9. Pooling data sets computed at different settings (energy_offset)                                              */

/* n frames labelled by a model's own energies and forces (exact radial MLP), plus `offset_c` eV per C atom.
 * co2: every frame has C:O = 1:2 (6 atoms in a periodic cell, 3 in an open cluster), so that, as for water's
 * H:O = 2:1, only delta_C + 2 delta_O is identifiable; otherwise the species are random (7 and 5 atoms). */
static int write_model_frames(const char *path, int n, uint64_t seed, const nnp_model *m, int co2, double offset_c) {
  FILE *fp = fopen(path, "w");
  nnp_workspace *ws = NULL;
  nnp_error err;
  if (!fp || nnp_workspace_create(m, 1, &ws, &err) != NNP_OK) {
    if (fp) fclose(fp);
    return -1;
  }
  train_rng rng;
  train_rng_seed(&rng, seed);
  xyz_frame f;
  memset(&f, 0, sizeof f);
  char symbols[8][8];
  double pos[24], frc[24], energy;
  int sp[8], rc = 0;
  f.symbols = symbols;
  f.positions = pos;
  for (int k = 0; k < n && rc == 0; k++) {
    f.has_cell = k % 2 == 0;
    f.n_atoms = co2 ? (f.has_cell ? 6 : 3) : (f.has_cell ? 7 : 5);
    memset(f.cell, 0, sizeof f.cell);
    double side = 4.6 + 0.6 * uniform(&rng);
    for (int d = 0; d < 3; d++) {
      f.cell[d][d] = f.has_cell ? side : 1.0;
      f.pbc[d] = f.has_cell;
    }
    int n_c = 0;
    for (int i = 0; i < f.n_atoms; i++) {
      sp[i] = co2 ? (i % 3 != 0) : (int)(train_rng_next(&rng) >> 63);
      n_c += sp[i] == 0;
      snprintf(symbols[i], sizeof symbols[i], "%s", species_names[sp[i]]);
    }
    place_atoms(&rng, &f);
    nnp_cell_graph *g = NULL;
    rc = nnp_cell_graph_build(f.n_atoms, sp, pos, (const double(*)[3])f.cell, f.pbc, nnp_model_hyper(m)->r_cut, &g,
                              &err) != NNP_OK;
    double *forces = rc ? NULL : malloc(3 * (size_t)nnp_cell_graph_view(g)->n_total * sizeof *forces);
    nnp_result r = {0, {0}, NULL, forces, NULL};
    rc = rc || !forces || nnp_compute(m, ws, nnp_cell_graph_view(g), &r, &err) != NNP_OK;
    if (!rc) {
      nnp_cell_graph_fold(g, forces, 3);
      memcpy(frc, forces, 3 * (size_t)f.n_atoms * sizeof *frc);
      energy = r.energy + offset_c * n_c;
      xyz_write_data d;
      memset(&d, 0, sizeof d);
      d.forces = frc;
      d.energy = &energy;
      nnp_error xerr;
      rc = xyz_write_frame(fp, &f, &d, &xerr) != 0;
    }
    free(forces);
    nnp_cell_graph_free(g);
  }
  nnp_workspace_free(ws);
  return (fclose(fp) || rc) ? -1 : 0;
}

/* The generating model: the architecture of model_keys, random weights, and shifts far from 0 (so that a fit that
 * ignored them would show). Returns the model (caller frees) and writes it to DIR/offset_gen.nnp. */
static nnp_model *offset_generator(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/offset_gen.cfg", dir);
  char text[2048];
  snprintf(text, sizeof text, "%strain offset_ref.xyz\n", model_keys);
  train_config cfg;
  nnp_error cfg_err;
  if (write_text(path, text) || train_config_read(path, &cfg, &cfg_err)) return NULL;
  const double shift[2] = {-1.3, -2.7}, scale[2] = {0.4, 0.6};
  nnp_model *m = NULL;
  nnp_error err;
  if (nnp_model_create_random(&cfg.hyper, 17, &m, &err) != NNP_OK ||
      nnp_model_set_normalisation(m, 3.0, shift, scale, &err) != NNP_OK) {
    nnp_model_free(m);
    return NULL;
  }
  snprintf(path, sizeof path, "%s/offset_gen.nnp", dir);
  if (nnp_model_write(m, path, &err) != NNP_OK) {
    nnp_model_free(m);
    return NULL;
  }
  train_config_free(&cfg);
  return m;
}

/* Value of `El:` in an energy_offset metadata value ("FILE C:x O:y"). */
static double meta_offset(const char *value, const char *element) {
  char key[16];
  snprintf(key, sizeof key, " %s:", element);
  const char *p = strstr(value, key);
  return p ? strtod(p + strlen(key), NULL) : NAN;
}

/* Checkpoint state of a run (offsets included); 0 when read. */
static int read_state(const char *dir, const char *name, size_t P, train_state *st) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (train_state_alloc(st, P)) return -1;
  return train_checkpoint_read(path, st, &train_err);
}

/* Energy RMSE (meV/atom) on one file of run NAME's final weights (the EMA weights of its checkpoint, in the
 * normalisation of its model file), the file's energies lowered by delta (eV per atom per species; NULL: raw):
 * computed here, apart from the trainer's own bookkeeping. */
static double final_energy_rmse(const char *dir, const char *name, const char *data, const double *delta) {
  char path[1024];
  nnp_model *m = NULL;
  nnp_error err;
  train_set set;
  train_state st;
  const char *paths[1] = {data};
  double rmse = NAN;
  snprintf(path, sizeof path, "%s/%s.nnp", dir, name);
  if (nnp_model_read(path, &m, &err) != NNP_OK || load_set(paths, 1, nnp_model_hyper(m), &set)) {
    nnp_model_free(m);
    return NAN;
  }
  snprintf(path, sizeof path, "%s.nnp.ckpt", name);
  if (read_state(dir, path, nnp_model_param_count(m), &st) == 0)
    memcpy(nnp_model_params(m), st.ema, st.n_params * sizeof *st.ema);
  else
    set.n = 0; /* no checkpoint: no result */
  train_state_free(&st);
  for (int k = 0; delta && k < set.n; k++)
    for (int i = 0; i < set.items[k].n_atoms; i++) set.items[k].energy -= delta[set.items[k].species[i]];
  train_engine e;
  train_errors acc;
  memset(&acc, 0, sizeof acc);
  if (train_engine_create(&e, m, 1, 1, 1.0, 1.0, &err) == NNP_OK &&
      train_engine_set_radial_step(&e, 0, &err) == NNP_OK && train_evaluate(&e, &set, &acc, &err) == NNP_OK)
    rmse = train_errors_energy_rmse(&acc);
  train_engine_free(&e);
  train_set_free(&set);
  nnp_model_free(m);
  return rmse;
}

/* Rows of two learning curves equal but for the time column (the third). */
static int same_curves(const char *dir, const char *a, const char *b) {
  char pa[1024], pb[1024], la[4096], lb[4096];
  snprintf(pa, sizeof pa, "%s/%s", dir, a);
  snprintf(pb, sizeof pb, "%s/%s", dir, b);
  FILE *fa = fopen(pa, "r"), *fb = fopen(pb, "r");
  int ok = fa && fb, rows = 0;
  while (ok) {
    char *ra = fgets(la, sizeof la, fa), *rb = fgets(lb, sizeof lb, fb);
    if (!ra || !rb) {
      ok = !ra && !rb;
      break;
    }
    char *ta = strchr(strchr(la, ',') + 1, ','), *tb = strchr(strchr(lb, ',') + 1, ',');
    ok = ta && tb && !strcmp(strchr(ta + 1, ','), strchr(tb + 1, ',')) && (size_t)(ta - la) == (size_t)(tb - lb) &&
         !strncmp(la, lb, (size_t)(ta - la));
    rows++;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return ok && rows > 1;
}

/* Two files labelled by the same model, the second with +0.32 eV per C atom and C:O always 1:2 (the water case: a
 * constant per formula unit, only its sum over the unit identifiable). Checks: (1) the constants fitted to the
 * starting model recover the added constant, at the minimum norm; (2) training on the pooled files with
 * energy_offset keeps both files' energy errors at the same near-zero level, without it the constant is an energy
 * error; (3) --resume restores the constants bit for bit (and the learning curve); (4) refusals. */
static void test_energy_offset(tally *t, const char *dir) {
  char ref[1024], off[1024], path[1024];
  snprintf(ref, sizeof ref, "%s/offset_ref.xyz", dir);
  snprintf(off, sizeof off, "%s/offset_co2.xyz", dir);
  nnp_model *gen = offset_generator(dir);
  CHECK(t, gen != NULL);
  if (!gen) return;
  const double added = 0.32; /* eV per C atom = per CO2 unit */
  CHECK(t, write_model_frames(ref, 16, 81, gen, 0, 0.0) == 0 && write_model_frames(off, 16, 82, gen, 1, added) == 0);
  const nnp_hyper *gh = nnp_model_hyper(gen);
  /* the generator's shifts given, so that the starting model is the generator itself; exact radial functions as
   * in the labels */
  char common[2048];
  snprintf(common, sizeof common,
           "train offset_co2.xyz\nradial_step 0\ninitial_model offset_gen.nnp\nenergy_reference C:%.17g O:%.17g\n"
           "seed 5\nbatch_size 4\nvalidation_fraction 0.25\nlearning_rate 0.0001\ndivergence_factor 0\n",
           gh->energy_shift[0], gh->energy_shift[1]);
  char text[4096];
  train_summary s0, s1;
  /* (1) the starting fit: residual after the full starting model, weighted least squares, minimum norm */
  snprintf(text, sizeof text, "%senergy_offset offset_co2.xyz\nepochs 0\n", common);
  CHECK(t, write_config(dir, "offset0", "offset_ref.xyz", text) == 0);
  CHECK(t, run(dir, "offset0", NULL, 2, 0, &s0) == 0);
  train_state st;
  CHECK(t, read_state(dir, "offset0.nnp.ckpt", s0.n_params, &st) == 0);
  const double sum = st.offset[0][0] + 2 * st.offset[0][1];
  /* exact data: the residuals are 0.32 n_C to the rounding of ~10 eV frame energies (1e-15 relative) and of the
   * training pass against nnp_compute (summation order, ~1e-13 eV); 1e-10 leaves a wide margin and is still 1e-9
   * of the constant. Minimum norm along the composition (1, 2): delta = 0.32 (1, 2) / 5. */
  CHECK(t, st.n_offsets == 1 && fabs(sum - added) < 1e-10);
  CHECK(t, fabs(st.offset[0][0] - added / 5) < 1e-10 && fabs(st.offset[0][1] - 2 * added / 5) < 1e-10);
  /* the epoch-0 validation energy error is that of exact data: ~0 (a wrong constant would leave ~100 meV/atom) */
  CHECK(t, s0.initial_val_energy_rmse < 1e-6);
  printf("energy offset: fitted delta C %.12f O %.12f (exact 0.064, 0.128), delta_C + 2 delta_O - 0.32 = %.2e, "
         "epoch-0 val E RMSE %.2e meV/atom\n",
         st.offset[0][0], st.offset[0][1], sum - added, s0.initial_val_energy_rmse);
  train_state_free(&st);
  snprintf(path, sizeof path, "%s/offset0.nnp", dir);
  nnp_model *m = NULL;
  nnp_error err;
  CHECK(t, nnp_model_read(path, &m, &err) == NNP_OK);
  const char *mv = m ? model_meta(m, "energy_offset") : "";
  double d_meta[2] = {meta_offset(mv, "C"), meta_offset(mv, "O")};
  CHECK(t, strstr(mv, "offset_co2.xyz ") && fabs(d_meta[0] - added / 5) < 1e-10 &&
               fabs(d_meta[1] - 2 * added / 5) < 1e-10);
  /* the model keeps the reference shifts (the generator's): the offset is not in it */
  CHECK(t, m && nnp_model_hyper(m)->energy_shift[0] == gh->energy_shift[0] &&
               nnp_model_hyper(m)->energy_shift[1] == gh->energy_shift[1]);
  nnp_model_free(m);
  /* (2) a few epochs with and without energy_offset; each file's energy error of the final weights, computed here
   * (the written model is the best one: the exact starting model, which would prove nothing) */
  snprintf(text, sizeof text, "%senergy_offset offset_co2.xyz\nepochs 3\n", common);
  CHECK(t, write_config(dir, "offset_on", "offset_ref.xyz", text) == 0);
  snprintf(text, sizeof text, "%sepochs 3\n", common);
  CHECK(t, write_config(dir, "offset_off", "offset_ref.xyz", text) == 0);
  CHECK(t, run(dir, "offset_on", NULL, 2, 0, &s0) == 0 && s0.epochs_done == 3);
  CHECK(t, run(dir, "offset_off", NULL, 2, 0, &s1) == 0 && s1.epochs_done == 3);
  CHECK(t, read_state(dir, "offset_on.nnp.ckpt", s0.n_params, &st) == 0 && st.epoch == 3 && st.n_offsets == 1);
  const double on_ref = final_energy_rmse(dir, "offset_on", ref, NULL),
               on_off = final_energy_rmse(dir, "offset_on", off, st.offset[0]),
               on_raw = final_energy_rmse(dir, "offset_on", off, NULL);
  const double off_ref = final_energy_rmse(dir, "offset_off", ref, NULL),
               off_off = final_energy_rmse(dir, "offset_off", off, NULL);
  printf("energy offset: 3 epochs with energy_offset: E RMSE ref file %.4f, offset file %.4f meV/atom (raw %.1f; "
         "delta C %.6f O %.6f); without: ref %.2f, offset file %.2f meV/atom\n",
         on_ref, on_off, on_raw, st.offset[0][0], st.offset[0][1], off_ref, off_off);
  train_state_free(&st);
  /* the added constant is 0.32 eV per 3 atoms, 107 meV/atom; with the offset both files stay at the drift of a few
   * small steps from the exact model (well below 1 meV/atom), without it the offset file is off by tens of meV/atom */
  CHECK(t, on_ref < 1 && on_off < 1 && on_raw > 50);
  CHECK(t, off_off > 30 && off_off > 10 * on_off);
  /* (3) resume: 3 epochs straight (2 threads) == 2 epochs (1 thread) + 1 resumed (2 threads), bit for bit, offsets
   * included; and the offsets did move after the start (re-fitted to the moving network) */
  snprintf(text, sizeof text, "%senergy_offset offset_co2.xyz\nepochs 3\n", common);
  CHECK(t, write_config(dir, "offset_res", "offset_ref.xyz", text) == 0);
  CHECK(t, run(dir, "offset_res", NULL, 1, 2, &s1) == 0 && s1.epochs_done == 2);
  CHECK(t, run(dir, "offset_res", "offset_res.nnp.ckpt", 2, 0, &s1) == 0 && s1.epochs_done == 3);
  CHECK(t, same_checkpoints(dir, "offset_on.nnp.ckpt", "offset_res.nnp.ckpt", s0.n_params));
  CHECK(t, same_curves(dir, "offset_on.nnp.log.csv", "offset_res.nnp.log.csv"));
  train_state a, b;
  CHECK(t, read_state(dir, "offset0.nnp.ckpt", s0.n_params, &a) == 0 &&
               read_state(dir, "offset_res.nnp.ckpt", s0.n_params, &b) == 0);
  CHECK(t, b.n_offsets == 1 && (a.offset[0][0] != b.offset[0][0] || a.offset[0][1] != b.offset[0][1]));
  printf("energy offset: resume bitwise; delta after 3 epochs C %.12f O %.12f (start %.12f %.12f)\n", b.offset[0][0],
         b.offset[0][1], a.offset[0][0], a.offset[0][1]);
  train_state_free(&a);
  train_state_free(&b);
  /* a run without energy_offset may not resume a checkpoint with one, nor the reverse */
  snprintf(text, sizeof text, "%sepochs 4\n", common);
  CHECK(t, write_config(dir, "offset_res", "offset_ref.xyz", text) == 0);
  printf("  expected error: ");
  fflush(stdout);
  CHECK(t, run(dir, "offset_res", "offset_res.nnp.ckpt", 1, 0, &s1) != 0);
  /* (4) refusals */
  char nrg[1024];
  snprintf(nrg, sizeof nrg, "%s/offset_noenergy.xyz", dir);
  CHECK(t, write_morse_frames(nrg, 4, 83, -1, 0) == 0);
  const char *bad[] = {
      "energy_offset offset_other.xyz\n",                                  /* not a train file */
      "energy_offset offset_co2.xyz\nenergy_offset offset_ref.xyz\n",      /* every file marked */
      "energy_offset offset_co2.xyz\nenergy_offset ./offset_co2.xyz\n",    /* the same file twice */
      "energy_offset offset_co2.xyz\nenergy_weight 0\n",                   /* no energies weighed */
      "energy_offset offset_co2.xyz\nframe_weight offset_co2.xyz all 0\n", /* no training frame of FILE */
      "train offset_noenergy.xyz\nenergy_offset offset_noenergy.xyz\n",    /* FILE without energies */
      "energy_offset\n",                                                   /* no file */
  };
  snprintf(path, sizeof path, "%s/offset_other.xyz", dir);
  CHECK(t, write_model_frames(path, 2, 84, gen, 0, 0.0) == 0);
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    snprintf(text, sizeof text, "%s%sepochs 1\n", common, bad[k]);
    CHECK(t, write_config(dir, "offset_bad", "offset_ref.xyz", text) == 0);
    printf("  expected error: ");
    fflush(stdout);
    CHECK(t, run(dir, "offset_bad", NULL, 1, 0, &s1) != 0);
  }
  nnp_model_free(gen);
}

/* A checkpoint of format 2 (before energy_offset) made from a format-3 one without offsets: the format byte, the
 * empty offset block (its count) removed, the checksum recomputed. It must still be read, to the same state. */
static void test_checkpoint_format2(tally *t, const char *dir, size_t P) {
  char path[1024], old[1024];
  snprintf(path, sizeof path, "%s/straight.nnp.ckpt", dir);
  snprintf(old, sizeof old, "%s/format2.ckpt", dir);
  FILE *fp = fopen(path, "rb");
  unsigned char *buf = malloc(1 << 22);
  size_t n = fp && buf ? fread(buf, 1, 1 << 22, fp) : 0;
  if (fp) fclose(fp);
  /* magic and format, then the header: 9 int64, 5 doubles, shifts and scales, the generator, the identity */
  const size_t head = 8 + 9 * 8 + 5 * 8 + 2 * NNP_MAX_SPECIES * 8 + 4 * 8 + TRAIN_IDENTITY_MAX;
  int ok = buf && n > head + 16 && buf[7] == 3;
  int64_t count = -1;
  if (ok) memcpy(&count, buf + head, sizeof count);
  CHECK(t, ok && count == 0);
  if (ok && count == 0) {
    buf[7] = 2;
    memmove(buf + head, buf + head + 8, n - head - 8);
    n -= 8;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i + 8 < n; i++) h = (h ^ buf[i]) * 0x100000001b3ULL;
    memcpy(buf + n - 8, &h, 8);
    fp = fopen(old, "wb");
    CHECK(t, fp && fwrite(buf, 1, n, fp) == n && fclose(fp) == 0);
    CHECK(t, same_checkpoints(dir, "straight.nnp.ckpt", "format2.ckpt", P));
    buf[7] = 1; /* an older format: refused with a message */
    fp = fopen(old, "wb");
    CHECK(t, fp && fwrite(buf, 1, n, fp) == n && fclose(fp) == 0);
    train_state st;
    char msg[2048];
    CHECK(t, train_state_alloc(&st, P) == 0);
    CHECK(t, train_checkpoint_read(old, &st, &train_err) != 0 && strstr(train_err.message, "format 1"));
    printf("  expected error: %s\n", msg);
    train_state_free(&st);
  }
  free(buf);
  printf("checkpoint format 2 (no energy_offset) read to the same state; format 1 refused\n");
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 7. One header grammar (issue 19): the model reader, the configuration and nnp_hyper_read_line refuse a value with
 *    the same bound and the same words (the tools used to take channels up to 65536 and layers up to 1024). */

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return h;
}

/* The model text `text` with its line starting with "KEY " replaced by `line`, re-checksummed (so only the value is
 * wrong), parsed: the status, the message in err. */
static nnp_status parse_with_line(const char *text, const char *key, const char *line, nnp_error *err) {
  size_t n = strlen(text), klen = strlen(key);
  char *out = malloc(n + strlen(line) + 64);
  const char *at = text;
  while (at && !(strncmp(at, key, klen) == 0 && at[klen] == ' ')) at = (at = strchr(at, '\n')) ? at + 1 : NULL;
  const char *eol = at ? strchr(at, '\n') : NULL, *sum = strstr(text, "checksum ");
  if (!out || !eol || !sum) {
    free(out);
    snprintf(err->message, sizeof err->message, "test setup: no '%s' line", key);
    return NNP_ERR_ARGUMENT;
  }
  size_t head = (size_t)(at - text), body;
  memcpy(out, text, head);
  body = head + (size_t)sprintf(out + head, "%s", line);
  memcpy(out + body, eol, (size_t)(sum - eol));
  body += (size_t)(sum - eol);
  body += (size_t)sprintf(out + body, "checksum %016llx\n", (unsigned long long)fnv1a(out, body));
  nnp_model *m = NULL;
  nnp_status st = nnp_model_parse(out, body, &m, err);
  nnp_model_free(m);
  free(out);
  return st;
}

static void test_one_grammar(tally *t, const char *dir) {
  static const struct {
    const char *key, *line, *words; /* the words every reader must say */
  } cases[] = {
      {"layers", "layers 17", "layers 17 is outside 1..16"},
      {"channels", "channels 1025", "channels 1025 is outside 1..1024"},
      {"channels", "channels 65536", "channels 65536 is outside 1..1024"},
      {"envelope_p", "envelope_p 1", "envelope_p 1 is outside 2..32"},
      {"readout_hidden", "readout_hidden 4097", "readout_hidden 4097 is outside 1..4096"},
      {"radial_hidden", "radial_hidden 16 5000", "radial_hidden width 5000 is outside 1..4096"},
      {"radial_basis", "radial_basis 65", "radial_basis 65 is outside 1..64"},
      {"l_max", "l_max 7", "l_max 7 is outside 0..6"},
      {"r_cut", "r_cut 100", "r_cut 100 is outside (0, 100)"},
      {"avg_num_neighbors", "avg_num_neighbors 1e-300", "avg_num_neighbors 1e-300 is outside [0.001, 1e+06]"},
      {"layers", "layers two", "'layers' value 'two' is not an integer"},
  };
  char path[1024], text[4096];
  snprintf(path, sizeof path, "%s/grammar.cfg", dir);
  snprintf(text, sizeof text, "%strain grammar.xyz\n", model_keys);
  train_config cfg;
  nnp_error err;
  CHECK(t, write_text(path, text) == 0 && train_config_read(path, &cfg, &err) == NNP_OK);
  nnp_model *m = NULL;
  CHECK(t, nnp_model_create_random(&cfg.hyper, 1, &m, &err) == NNP_OK);
  train_config_free(&cfg);
  snprintf(path, sizeof path, "%s/grammar.nnp", dir);
  CHECK(t, m && nnp_model_write(m, path, &err) == NNP_OK);
  nnp_model_free(m);
  FILE *fp = fopen(path, "rb");
  static char model_text[1 << 20];
  size_t n = fp ? fread(model_text, 1, sizeof model_text - 1, fp) : 0;
  if (fp) fclose(fp);
  model_text[n] = '\0';
  CHECK(t, n > 0 && n < sizeof model_text - 1);
  snprintf(path, sizeof path, "%s/grammar.cfg", dir);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    nnp_error from_model, from_config, from_line;
    nnp_status s_model = parse_with_line(model_text, cases[k].key, cases[k].line, &from_model);
    snprintf(text, sizeof text, "species C O\n%s\ntrain grammar.xyz\n", cases[k].line);
    nnp_status s_config = write_text(path, text) ? NNP_ERR_IO : train_config_read(path, &cfg, &from_config);
    train_config_free(&cfg);
    nnp_hyper h;
    nnp_hyper_reader *r = NULL;
    const char *names[1] = {"C"};
    nnp_status s_line = nnp_hyper_default(&h, 1, names, &from_line);
    if (!s_line) s_line = nnp_hyper_reader_create(&r, &from_line);
    if (!s_line) s_line = nnp_hyper_read_line(r, &h, cases[k].line, &from_line);
    nnp_hyper_reader_free(r);
    /* the model's message reads "line N: WORDS", the configuration's "PATH:N: WORDS": the same words after a place */
    int same = s_model == NNP_ERR_FORMAT && s_config != NNP_OK && s_line == NNP_ERR_FORMAT &&
               !strcmp(from_line.message, cases[k].words) && strstr(from_model.message, "line ") &&
               !strcmp(strstr(from_model.message, ": ") + 2, cases[k].words) && strstr(from_config.message, ".cfg:") &&
               !strcmp(strstr(strstr(from_config.message, ".cfg:"), ": ") + 2, cases[k].words);
    CHECK(t, same);
    printf("%-24s model: %s | config: %s | line: %s\n", cases[k].line, from_model.message, from_config.message,
           from_line.message);
  }
  /* species lookup: one function for hyperparameters and models */
  const char *names[2] = {"O", "H"};
  nnp_hyper h;
  CHECK(t, nnp_hyper_default(&h, 2, names, &err) == NNP_OK && nnp_hyper_species_index(&h, "H") == 1 &&
               nnp_hyper_species_index(&h, "C") == -1 && nnp_hyper_species_index(&h, "") == -1);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 8. One error convention (issue 19): below main nothing prints; a failure's message comes back in an nnp_error. */

static void test_quiet_errors(tally *t, const char *dir) {
  char cfg_path[1024], data_path[1024], err_path[1024];
  snprintf(cfg_path, sizeof cfg_path, "%s/quiet.cfg", dir);
  snprintf(data_path, sizeof data_path, "%s/quiet.xyz", dir);
  snprintf(err_path, sizeof err_path, "%s/quiet.stderr", dir);
  CHECK(t, write_text(data_path, "2\nProperties=species:S:1:pos:R:3\nC 0 0 0\nO 1.5 0 0\n") == 0); /* no forces */
  fflush(stderr);
  const int saved = dup(2), sink = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(t, saved >= 0 && sink >= 0 && dup2(sink, 2) == 2);
  nnp_error e_cfg, e_load, e_run;
  train_config cfg;
  nnp_status s_cfg = write_text(cfg_path, "species C O\nlayers 17\ntrain quiet.xyz\n")
                         ? NNP_ERR_IO
                         : train_config_read(cfg_path, &cfg, &e_cfg);
  train_config_free(&cfg);
  const char *names[2] = {"C", "O"}, *paths[1] = {data_path};
  nnp_hyper h;
  nnp_hyper_default(&h, 2, names, &e_load);
  train_set set;
  memset(&set, 0, sizeof set);
  nnp_status s_load = train_set_load(&set, paths, 1, &h, &e_load);
  train_set_free(&set);
  CHECK(t, write_text(cfg_path, "species C O\ntrain quiet.xyz\n") == 0);
  train_options o = {cfg_path, NULL, 1, 0, 0, "test_train", 1, 0};
  train_summary sum;
  nnp_status s_run = train_run(&o, &sum, &e_run);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(sink);
  struct stat st;
  CHECK(t, stat(err_path, &st) == 0 && st.st_size == 0);
  CHECK(t, s_cfg != NNP_OK && strstr(e_cfg.message, "layers 17 is outside 1..16"));
  CHECK(t, s_load != NNP_OK && strstr(e_load.message, "frame has no forces"));
  CHECK(t, s_run != NNP_OK && strstr(e_run.message, "frame has no forces"));
  printf("nothing on stderr below main (%lld bytes); messages: %s | %s | %s\n", (long long)st.st_size, e_cfg.message,
         e_load.message, e_run.message);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  mkdir(dir, 0755);
  tally t = {0, 0};
  test_bad_input(&t, dir);
  test_gradient(&t, dir, TRAIN_RADIAL_STEP);
  test_gradient(&t, dir, 0.0);
  test_resume(&t, dir);
  test_learning(&t, dir);
  test_schedule(&t);
  test_recipe_resume(&t, dir);
  test_frame_rules(&t, dir);
  test_divergence(&t, dir);
  test_nonfinite_batch(&t, dir);
  test_resume_identity(&t, dir);
  test_force_only(&t, dir);
  test_split_last(&t, dir);
  test_energy_offset(&t, dir);
  test_one_grammar(&t, dir);
  test_quiet_errors(&t, dir);
  printf("%d passed, %d failed\n", t.passed, t.failed);
  return t.failed ? 1 : 0;
}
