/* Tests of nnp-train (pair_nnp/tools/train_*.c).
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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

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

/* n frames alternating periodic cubic cells (side 4.6-5.2 A, 7 atoms) and open clusters (5 atoms). */
static int write_morse_data(const char *path, int n, uint64_t seed) {
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
  f.has_forces = f.has_energy = 1;
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
    xyz_error err;
    if (xyz_write_frame(fp, &f, NULL, &err)) {
      fclose(fp);
      return -1;
    }
  }
  return fclose(fp);
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
  CHECK(t, train_set_load(&set, paths, 1, h) == 0 && set.n == 3);
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
  char path[1024], text[4096];
  snprintf(path, sizeof path, "%s/%s.cfg", dir, name);
  snprintf(text, sizeof text, "%strain %s\noutput %s.nnp\n%s", model_keys, data, name, extra);
  return write_text(path, text);
}

static int run(const char *dir, const char *name, const char *resume, int threads, int max_epochs, train_summary *sum) {
  char cfg[1024], ckpt[1024];
  snprintf(cfg, sizeof cfg, "%s/%s.cfg", dir, name);
  snprintf(ckpt, sizeof ckpt, "%s/%s", dir, resume ? resume : "");
  train_options o = {cfg, resume ? ckpt : NULL, threads, max_epochs, 0, "test_train", 1, 0};
  return train_run(&o, sum);
}

static int same_checkpoints(const char *dir, const char *a, const char *b, size_t P) {
  char pa[1024], pb[1024], msg[2048];
  snprintf(pa, sizeof pa, "%s/%s", dir, a);
  snprintf(pb, sizeof pb, "%s/%s", dir, b);
  train_state A, B;
  if (train_state_alloc(&A, P) || train_state_alloc(&B, P)) return 0;
  int ok = !train_checkpoint_read(pa, &A, msg, sizeof msg) && !train_checkpoint_read(pb, &B, msg, sizeof msg);
  ok = ok && A.epoch == B.epoch && A.step == B.step && A.lr == B.lr && A.best_loss == B.best_loss &&
       !memcmp(A.rng.s, B.rng.s, sizeof A.rng.s);
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
  int rc = train_set_load(&set, paths, 1, &cfg.hyper);
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
  CHECK(t, load_fails(dir, "noenergy.xyz",
                      "2\nLattice=\"6 0 0 0 6 0 0 0 6\" Properties=species:S:1:pos:R:3:forces:R:3\n"
                      "C 0 0 0 0 0 0\nO 1.5 0 0 0 0 0\n"));
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

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  mkdir(dir, 0755);
  tally t = {0, 0};
  test_bad_input(&t, dir);
  test_gradient(&t, dir, TRAIN_RADIAL_STEP);
  test_gradient(&t, dir, 0.0);
  test_resume(&t, dir);
  test_learning(&t, dir);
  printf("%d passed, %d failed\n", t.passed, t.failed);
  return t.failed ? 1 : 0;
}
