/* Tests of the core library: gradients against finite differences, symmetries, smoothness, thread independence,
 * model files and bad input. Prints one line per check and "N passed, M failed" at the end. */
#include "nnp.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass, n_fail;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (cond) {                                                                                                        \
      ++n_pass;                                                                                                        \
    } else {                                                                                                           \
      ++n_fail;                                                                                                        \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                      \
      printf(__VA_ARGS__);                                                                                             \
      printf("\n");                                                                                                    \
    }                                                                                                                  \
  } while (0)

static const char *species3[] = {"O", "H", "Na"};

static nnp_model *make_model(int l_max, int channels, int layers, int n_species, unsigned seed) {
  nnp_hyper h;
  nnp_error err;
  if (nnp_hyper_default(&h, n_species, species3, &err)) abort();
  h.l_max = l_max;
  h.channels = channels;
  h.layers = layers;
  h.r_cut = 3.5;
  h.r_min = 0.3;
  h.radial_basis = 6;
  h.n_radial_hidden = 2;
  h.radial_hidden[0] = 12;
  h.radial_hidden[1] = 10;
  h.readout_hidden = 8;
  h.avg_num_neighbors = 8.0;
  for (int a = 0; a < NNP_MAX_SPECIES; ++a)
    for (int b = 0; b < NNP_MAX_SPECIES; ++b) h.pair_cutoff[a][b] = h.r_cut;
  if (n_species > 1) h.pair_cutoff[0][1] = h.pair_cutoff[1][0] = 3.1;
  for (int s = 0; s < n_species; ++s) h.energy_shift[s] = -1.0 - s, h.energy_scale[s] = 0.5 + 0.25 * s;
  nnp_model *m;
  if (nnp_model_create_random(&h, seed, &m, &err)) {
    printf("model creation failed: %s\n", err.message);
    abort();
  }
  return m;
}

typedef struct {
  int n;
  int species[64];
  double pos[64][3];
  double cell[3][3];
  int pbc[3];
} structure;

static double urand(unsigned long long *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(*s >> 11) * 0x1.0p-53;
}

/* Random atoms in a triclinic cell, at least dmin apart (through images too). */
static structure random_structure(int n, int n_species, double box, int periodic, unsigned long long seed) {
  structure st;
  memset(&st, 0, sizeof st);
  double cell[3][3] = {{box, 0, 0}, {0.3 * box * 0.2, box * 0.95, 0}, {-0.1 * box, 0.15 * box, box * 1.05}};
  memcpy(st.cell, cell, sizeof cell);
  for (int k = 0; k < 3; ++k) st.pbc[k] = periodic;
  unsigned long long s = seed;
  while (st.n < n) {
    double f[3] = {urand(&s), urand(&s), urand(&s)}, x[3];
    for (int k = 0; k < 3; ++k) x[k] = f[0] * cell[0][k] + f[1] * cell[1][k] + f[2] * cell[2][k];
    int ok = 1;
    for (int j = 0; j < st.n && ok; ++j)
      for (int a = -periodic; a <= periodic && ok; ++a)
        for (int b = -periodic; b <= periodic && ok; ++b)
          for (int c = -periodic; c <= periodic && ok; ++c) {
            double d2 = 0;
            for (int k = 0; k < 3; ++k) {
              double d = x[k] - st.pos[j][k] - a * cell[0][k] - b * cell[1][k] - c * cell[2][k];
              d2 += d * d;
            }
            ok = d2 > 0.9 * 0.9;
          }
    if (!ok) continue;
    memcpy(st.pos[st.n], x, sizeof x);
    st.species[st.n] = (int)(urand(&s) * n_species);
    st.n++;
  }
  return st;
}

typedef struct {
  double energy, virial[6];
  double atom_energy[64], forces[64][3], atom_virial[64][6];
  nnp_status status;
  char message[512];
} outcome;

static outcome evaluate(const nnp_model *m, const structure *st, int threads) {
  outcome o;
  memset(&o, 0, sizeof o);
  nnp_error err = {{0}};
  nnp_cell_graph *g = NULL;
  nnp_workspace *ws = NULL;
  o.status =
      nnp_cell_graph_build(st->n, st->species, &st->pos[0][0], st->cell, st->pbc, nnp_model_hyper(m)->r_cut, &g, &err);
  if (!o.status) o.status = nnp_workspace_create(m, threads, &ws, &err);
  if (!o.status) {
    const nnp_graph *v = nnp_cell_graph_view(g);
    double *f = calloc(3 * (size_t)v->n_total, sizeof *f), *av = calloc(6 * (size_t)v->n_total, sizeof *av);
    nnp_result r = {0, {0}, o.atom_energy, f, av};
    o.status = nnp_compute(m, ws, v, &r, &err);
    if (!o.status) {
      nnp_cell_graph_fold(g, f, 3);
      nnp_cell_graph_fold(g, av, 6);
      o.energy = r.energy;
      memcpy(o.virial, r.virial, sizeof o.virial);
      memcpy(o.forces, f, 3 * (size_t)st->n * sizeof *f);
      memcpy(o.atom_virial, av, 6 * (size_t)st->n * sizeof *av);
    }
    free(f);
    free(av);
  }
  strcpy(o.message, err.message);
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  return o;
}

static double energy_of(const nnp_model *m, const structure *st) {
  outcome o = evaluate(m, st, 1);
  if (o.status) {
    printf("evaluation failed: %s\n", o.message);
    abort();
  }
  return o.energy;
}

/* A cell graph (neighbour radius `cutoff`) and a workspace for direct calls into the library; aborts on failure. */
static void graph_and_workspace(const nnp_model *m, const structure *st, double cutoff, int threads, nnp_cell_graph **g,
                                nnp_workspace **ws) {
  nnp_error err;
  if (nnp_cell_graph_build(st->n, st->species, &st->pos[0][0], st->cell, st->pbc, cutoff, g, &err) ||
      nnp_workspace_create(m, threads, ws, &err)) {
    printf("set-up failed: %s\n", err.message);
    abort();
  }
}

static double max_abs_force(const outcome *o, int n) {
  double f = 0;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) f = fmax(f, fabs(o->forces[i][k]));
  return f;
}

/* Largest force difference between two outcomes for the same atoms in the same order. */
static double max_force_diff(const outcome *a, const outcome *b, int n) {
  double d = 0;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) d = fmax(d, fabs(a->forces[i][k] - b->forces[i][k]));
  return d;
}

/* ---------------------------------------------------------------------------------------------------------------- */

static void test_forces_fd(int l_max, int layers, int periodic) {
  nnp_model *m = make_model(l_max, 6, layers, 3, 11 + l_max);
  structure st = random_structure(periodic ? 10 : 12, 3, periodic ? 5.5 : 4.5, periodic, 100 + l_max);
  outcome o = evaluate(m, &st, 1);
  CHECK(o.status == NNP_OK, "evaluate: %s", o.message);
  const double h = 1e-5, fmax_ = max_abs_force(&o, st.n);
  double worst = 0;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) {
      structure p = st, q = st;
      p.pos[i][k] += h;
      q.pos[i][k] -= h;
      double fd = -(energy_of(m, &p) - energy_of(m, &q)) / (2 * h);
      worst = fmax(worst, fabs(fd - o.forces[i][k]));
    }
  CHECK(worst < 1e-6 * fmax_, "l_max %d layers %d pbc %d: forces vs finite differences, max error %.3e of %.3e", l_max,
        layers, periodic, worst, fmax_);
  printf("forces vs FD (l_max %d, %d layers, pbc %d): max |dF| = %.2e, max |F| = %.2e\n", l_max, layers, periodic,
         worst, fmax_);
  nnp_model_free(m);
}

static void apply_strain(structure *st, const double eps[3][3]) {
  double M[3][3];
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) M[a][b] = (a == b) + eps[a][b];
  for (int i = 0; i < st->n; ++i) {
    double x[3];
    for (int a = 0; a < 3; ++a) x[a] = M[a][0] * st->pos[i][0] + M[a][1] * st->pos[i][1] + M[a][2] * st->pos[i][2];
    memcpy(st->pos[i], x, sizeof x);
  }
  for (int v = 0; v < 3; ++v) {
    double c[3];
    for (int a = 0; a < 3; ++a) c[a] = M[a][0] * st->cell[v][0] + M[a][1] * st->cell[v][1] + M[a][2] * st->cell[v][2];
    memcpy(st->cell[v], c, sizeof c);
  }
}

static void test_virial(void) {
  nnp_model *m = make_model(2, 6, 3, 2, 5);
  structure st = random_structure(12, 2, 5.0, 1, 77);
  outcome o = evaluate(m, &st, 1);
  static const int va[6] = {0, 1, 2, 0, 0, 1}, vb[6] = {0, 1, 2, 1, 2, 2};
  const double h = 1e-5;
  double worst = 0, scale = 0;
  for (int v = 0; v < 6; ++v) {
    double eps[3][3] = {{0}};
    structure p = st, q = st;
    eps[va[v]][vb[v]] = eps[vb[v]][va[v]] = va[v] == vb[v] ? h : 0.5 * h;
    apply_strain(&p, eps);
    eps[va[v]][vb[v]] = eps[vb[v]][va[v]] = va[v] == vb[v] ? -h : -0.5 * h;
    apply_strain(&q, eps);
    double fd = -(energy_of(m, &p) - energy_of(m, &q)) / (2 * h);
    worst = fmax(worst, fabs(fd - o.virial[v]));
    scale = fmax(scale, fabs(o.virial[v]));
  }
  CHECK(worst < 1e-6 * scale, "virial vs finite strain: max error %.3e of %.3e", worst, scale);
  printf("virial vs finite strain: max error %.2e of %.2e\n", worst, scale);
  double sum[6] = {0}, esum = 0;
  for (int i = 0; i < st.n; ++i) {
    esum += o.atom_energy[i];
    for (int v = 0; v < 6; ++v) sum[v] += o.atom_virial[i][v];
  }
  double dv = 0;
  for (int v = 0; v < 6; ++v) dv = fmax(dv, fabs(sum[v] - o.virial[v]));
  CHECK(dv < 1e-12 * scale, "per-atom virials sum to the virial (%.3e)", dv);
  CHECK(fabs(esum - o.energy) < 1e-12 * fabs(o.energy), "per-atom energies sum to the energy");
  nnp_model_free(m);
}

static void random_rotation(unsigned long long seed, int reflect, double R[3][3]) {
  unsigned long long s = seed;
  double q[4], n = 0;
  for (int k = 0; k < 4; ++k) q[k] = urand(&s) - 0.5, n += q[k] * q[k];
  n = sqrt(n);
  double w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
  double M[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)},
                    {2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)},
                    {2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)}};
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) R[a][b] = (reflect && a == 0 ? -1 : 1) * M[a][b];
}

static void rotate(const double R[3][3], const double x[3], double y[3]) {
  for (int a = 0; a < 3; ++a) y[a] = R[a][0] * x[0] + R[a][1] * x[1] + R[a][2] * x[2];
}

static void test_symmetries(int l_max) {
  nnp_model *m = make_model(l_max, 5, 3, 3, 21);
  structure st = random_structure(14, 3, 5.2, 1, 400 + l_max);
  outcome o = evaluate(m, &st, 1);
  const double tol = 1e-10, fs = max_abs_force(&o, st.n);
  for (int reflect = 0; reflect <= 1; ++reflect) {
    double R[3][3];
    random_rotation(9 + reflect, reflect, R);
    structure r = st;
    for (int i = 0; i < st.n; ++i) rotate(R, st.pos[i], r.pos[i]);
    for (int v = 0; v < 3; ++v) rotate(R, st.cell[v], r.cell[v]);
    outcome p = evaluate(m, &r, 1);
    double df = 0;
    for (int i = 0; i < st.n; ++i) {
      double f[3];
      rotate(R, o.forces[i], f);
      for (int k = 0; k < 3; ++k) df = fmax(df, fabs(f[k] - p.forces[i][k]));
    }
    CHECK(fabs(p.energy - o.energy) < tol * fabs(o.energy), "l_max %d %s: energy changes by %.3e", l_max,
          reflect ? "reflection" : "rotation", p.energy - o.energy);
    CHECK(df < tol * fs, "l_max %d %s: forces not equivariant (%.3e)", l_max, reflect ? "reflection" : "rotation", df);
  }
  /* translation and a periodic image shift of one atom */
  structure t = st;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) t.pos[i][k] += 0.37 * (k + 1);
  for (int k = 0; k < 3; ++k) t.pos[3][k] += st.cell[1][k] - st.cell[2][k];
  outcome p = evaluate(m, &t, 1);
  double df = max_force_diff(&o, &p, st.n);
  CHECK(fabs(p.energy - o.energy) < tol * fabs(o.energy) && df < tol * fs,
        "l_max %d translation + image shift: dE %.3e dF %.3e", l_max, p.energy - o.energy, df);
  /* permutation: reverse the atom order */
  structure q = st;
  for (int i = 0; i < st.n; ++i) {
    memcpy(q.pos[i], st.pos[st.n - 1 - i], sizeof q.pos[i]);
    q.species[i] = st.species[st.n - 1 - i];
  }
  p = evaluate(m, &q, 1);
  df = 0;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) df = fmax(df, fabs(o.forces[i][k] - p.forces[st.n - 1 - i][k]));
  CHECK(fabs(p.energy - o.energy) < tol * fabs(o.energy) && df < tol * fs, "l_max %d permutation: dE %.3e dF %.3e",
        l_max, p.energy - o.energy, df);
  nnp_model_free(m);
}

/* Unwrapped input (atoms moved by up to 5 lattice vectors each, as in unwrapped trajectories) gives the same
 * results, and the cell graph wraps it: the same number of ghosts as the wrapped input, not every image in between. */
static void test_unwrapped_positions(void) {
  nnp_model *m = make_model(1, 5, 3, 3, 23);
  structure st = random_structure(14, 3, 5.2, 1, 77);
  structure u = st;
  for (int i = 0; i < st.n; ++i)
    for (int v = 0; v < 3; ++v)
      for (int k = 0; k < 3; ++k) u.pos[i][k] += (double)((i * 7 + v * 3) % 11 - 5) * st.cell[v][k];
  outcome o = evaluate(m, &st, 1), p = evaluate(m, &u, 1);
  const double fs = max_abs_force(&o, st.n);
  double df = max_force_diff(&o, &p, st.n), dv = 0;
  for (int v = 0; v < 6; ++v) dv = fmax(dv, fabs(o.virial[v] - p.virial[v]));
  CHECK(fabs(p.energy - o.energy) < 1e-10 * fabs(o.energy) && df < 1e-10 * fs && dv < 1e-10 * fabs(o.virial[0]) + 1e-12,
        "unwrapped positions: dE %.3e dF %.3e dW %.3e", p.energy - o.energy, df, dv);
  nnp_cell_graph *gw = NULL, *gu = NULL;
  const double rc = nnp_model_hyper(m)->r_cut;
  nnp_cell_graph_build(st.n, st.species, &st.pos[0][0], st.cell, st.pbc, rc, &gw, NULL);
  nnp_cell_graph_build(u.n, u.species, &u.pos[0][0], u.cell, u.pbc, rc, &gu, NULL);
  CHECK(gw && gu && nnp_cell_graph_view(gu)->n_total <= nnp_cell_graph_view(gw)->n_total * 2,
        "unwrapped positions: %d ghosts+locals against %d for the wrapped input",
        gu ? nnp_cell_graph_view(gu)->n_total : -1, gw ? nnp_cell_graph_view(gw)->n_total : -1);
  nnp_cell_graph_free(gw);
  nnp_cell_graph_free(gu);
  nnp_model_free(m);
}

/* Weights copied into a model with more species (in another order) reproduce the source model on structures of the
 * shared species; different architectures are refused. */
static void test_copy_weights(void) {
  nnp_model *src = make_model(2, 4, 2, 2, 31); /* species3[0..1] */
  nnp_hyper h = *nnp_model_hyper(src);
  const char *sym[3] = {species3[2], species3[1], species3[0]};
  h.n_species = 3;
  for (int s = 0; s < 3; ++s) strcpy(h.species[s], sym[s]);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) h.pair_cutoff[a][b] = h.r_cut;
  h.pair_cutoff[1][2] = h.pair_cutoff[2][1] = nnp_model_hyper(src)->pair_cutoff[0][1];
  double shift[3] = {0.0, nnp_model_hyper(src)->energy_shift[1], nnp_model_hyper(src)->energy_shift[0]};
  double scale[3] = {1.0, nnp_model_hyper(src)->energy_scale[1], nnp_model_hyper(src)->energy_scale[0]};
  for (int s = 0; s < 3; ++s) h.energy_shift[s] = shift[s], h.energy_scale[s] = scale[s];
  nnp_model *dst = NULL;
  int shared = -1;
  nnp_error err;
  CHECK(nnp_model_create_random(&h, 99, &dst, &err) == NNP_OK, "copy weights: a 3-species model");
  CHECK(nnp_model_copy_weights(dst, src, &shared, &err) == NNP_OK && shared == 2, "copy weights: 2 species shared (%d)",
        shared);
  structure st = random_structure(12, 2, 4.6, 1, 5);
  structure sd = st;
  for (int i = 0; i < st.n; ++i) sd.species[i] = 2 - st.species[i];
  outcome o = evaluate(src, &st, 1), p = evaluate(dst, &sd, 1);
  double df = max_force_diff(&o, &p, st.n);
  CHECK(fabs(o.energy - p.energy) < 1e-12 * fabs(o.energy) && df < 1e-12 * max_abs_force(&o, st.n),
        "copy weights: the larger model reproduces the source (dE %.3e, dF %.3e)", o.energy - p.energy, df);
  nnp_model *other = make_model(1, 4, 2, 2, 3);
  CHECK(nnp_model_copy_weights(other, src, NULL, &err) == NNP_ERR_ARGUMENT && strstr(err.message, "architectures"),
        "copy weights: another l_max is refused (%s)", err.message);
  nnp_model_free(other);
  nnp_model_free(dst);
  nnp_model_free(src);
}

/* A periodic cell and the same cell repeated 2 x 1 x 1 give energies in the ratio 2: exercises ghosts + exchange. */
static void test_supercell(void) {
  nnp_model *m = make_model(2, 6, 3, 2, 8);
  structure st = random_structure(9, 2, 4.2, 1, 999);
  structure big = st;
  big.n = 2 * st.n;
  for (int i = 0; i < st.n; ++i) {
    big.species[st.n + i] = st.species[i];
    for (int k = 0; k < 3; ++k) big.pos[st.n + i][k] = st.pos[i][k] + st.cell[0][k];
  }
  for (int k = 0; k < 3; ++k) big.cell[0][k] = 2 * st.cell[0][k];
  outcome a = evaluate(m, &st, 1), b = evaluate(m, &big, 1);
  double df = 0;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) df = fmax(df, fabs(a.forces[i][k] - b.forces[st.n + i][k]));
  CHECK(fabs(b.energy - 2 * a.energy) < 1e-10 * fabs(b.energy), "supercell energy %.12g vs 2 x %.12g", b.energy,
        a.energy);
  CHECK(df < 1e-10 * max_abs_force(&a, st.n), "supercell forces differ by %.3e", df);
  double dv = 0;
  for (int v = 0; v < 6; ++v) dv = fmax(dv, fabs(b.virial[v] - 2 * a.virial[v]));
  CHECK(dv < 1e-10 * (1 + fabs(a.virial[0])), "supercell virial differs by %.3e", dv);
  nnp_model_free(m);
}

static void test_cutoff_smoothness(void) {
  nnp_model *m = make_model(2, 6, 3, 2, 3);
  const double rc = 3.1; /* the O-H pair cutoff */
  structure st;
  memset(&st, 0, sizeof st);
  st.n = 3;
  st.species[0] = 0, st.species[1] = 1, st.species[2] = 0;
  double base[3][3] = {{0, 0, 0}, {0, 0, 0}, {-1.2, 0.9, 0.3}};
  memcpy(st.pos, base, sizeof base);
  for (int k = 0; k < 3; ++k) st.cell[k][k] = 1;
  double e_prev = 0, f_prev = 0, worst_e = 0, worst_f = 0;
  for (int s = -5; s <= 5; ++s) {
    st.pos[1][0] = rc + s * 1e-4;
    outcome o = evaluate(m, &st, 1);
    if (s > -5) {
      worst_e = fmax(worst_e, fabs(o.energy - e_prev));
      worst_f = fmax(worst_f, fabs(o.forces[1][0] - f_prev));
    }
    e_prev = o.energy;
    f_prev = o.forces[1][0];
  }
  CHECK(worst_e < 1e-9 && worst_f < 1e-6, "crossing r_c: energy steps %.3e, force steps %.3e", worst_e, worst_f);
  printf("crossing r_c in steps of 1e-4 A: max energy step %.2e eV, max force step %.2e eV/A\n", worst_e, worst_f);
  nnp_model_free(m);
}

static void test_threads(void) {
  nnp_model *m = make_model(2, 8, 3, 3, 4);
  structure st = random_structure(40, 3, 7.5, 1, 31);
  outcome a = evaluate(m, &st, 1), b = evaluate(m, &st, 2), c = evaluate(m, &st, 3);
  int same = a.energy == b.energy && a.energy == c.energy && !memcmp(a.forces, b.forces, sizeof a.forces) &&
             !memcmp(a.forces, c.forces, sizeof a.forces) && !memcmp(a.virial, b.virial, sizeof a.virial) &&
             !memcmp(a.atom_virial, c.atom_virial, sizeof a.atom_virial);
  CHECK(same, "1, 2 and 3 threads give bitwise identical energy, forces and virials (dE %.3e)", a.energy - b.energy);
  nnp_model_free(m);
}

/* Energy and forces of an open cluster through a hand-made neighbour list: every other atom, except that atom 0 does
 * not list atom `drop` (drop < 0: full lists). */
static double cluster_energy(const nnp_model *m, const structure *st, int drop, int threads, double *forces) {
  int64_t off[65];
  int idx[64 * 64], n = 0;
  for (int i = 0; i < st->n; ++i) {
    off[i] = n;
    for (int j = 0; j < st->n; ++j)
      if (j != i && !(i == 0 && j == drop)) idx[n++] = j;
  }
  off[st->n] = n;
  nnp_graph g = {st->n, st->n, st->species, &st->pos[0][0], off, idx, NULL, NULL};
  nnp_workspace *ws;
  nnp_error err;
  double f[64 * 3];
  nnp_result r = {0, {0}, NULL, forces ? forces : f, NULL};
  if (nnp_workspace_create(m, threads, &ws, &err) || nnp_compute(m, ws, &g, &r, &err)) {
    printf("cluster evaluation failed: %s\n", err.message);
    abort();
  }
  nnp_workspace_free(ws);
  return r.energy;
}

/* Lists that are not symmetric (a half list, or one edited by hand) define a directed graph. The core then cannot
 * pair an edge with its reverse and takes its general path for the feature adjoints; its forces must still be the
 * gradient of its energy, and thread-independent. Full lists must give what the cell graph gives. */
static void test_asymmetric_lists(void) {
  nnp_model *m = make_model(2, 6, 3, 3, 23);
  structure st = random_structure(12, 3, 4.5, 0, 77);
  int drop = -1;
  for (int j = 1; j < st.n && drop < 0; ++j) {
    double d2 = 0;
    for (int k = 0; k < 3; ++k) d2 += (st.pos[j][k] - st.pos[0][k]) * (st.pos[j][k] - st.pos[0][k]);
    if (d2 < 3.0 * 3.0) drop = j;
  }
  CHECK(drop > 0, "the cluster has a neighbour of atom 0 within 3 A to drop");
  double f_full[64 * 3];
  outcome o = evaluate(m, &st, 1);
  const double e_full = cluster_energy(m, &st, -1, 2, f_full);
  double df = 0;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) df = fmax(df, fabs(f_full[3 * i + k] - o.forces[i][k]));
  CHECK(fabs(e_full - o.energy) < 1e-12 * fabs(o.energy) && df < 1e-12,
        "full hand-made lists give the cell graph's energy and forces (dE %.2e, dF %.2e)", e_full - o.energy, df);
  double f1[64 * 3], f2[64 * 3], f3[64 * 3];
  const double e1 = cluster_energy(m, &st, drop, 1, f1), e2 = cluster_energy(m, &st, drop, 2, f2),
               e3 = cluster_energy(m, &st, drop, 3, f3);
  CHECK(e1 != e_full, "dropping atom %d from atom 0's list changes the energy", drop);
  CHECK(e1 == e2 && e1 == e3 && !memcmp(f1, f2, sizeof(double) * 3 * st.n) &&
            !memcmp(f1, f3, sizeof(double) * 3 * st.n),
        "asymmetric lists: 1, 2 and 3 threads bitwise identical");
  const double h = 1e-5;
  double worst = 0, fmax_ = 0;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) {
      structure p = st, q = st;
      p.pos[i][k] += h;
      q.pos[i][k] -= h;
      const double fd = -(cluster_energy(m, &p, drop, 1, NULL) - cluster_energy(m, &q, drop, 1, NULL)) / (2 * h);
      worst = fmax(worst, fabs(fd - f1[3 * i + k]));
      fmax_ = fmax(fmax_, fabs(f1[3 * i + k]));
    }
  CHECK(worst < 1e-6 * fmax_, "asymmetric lists: forces vs finite differences, max error %.3e of %.3e", worst, fmax_);
  printf("asymmetric lists: forces vs FD max |dF| = %.2e, max |F| = %.2e\n", worst, fmax_);
  nnp_model_free(m);
}

static void test_param_gradient(void) {
  nnp_model *m = make_model(2, 5, 3, 2, 17);
  structure st = random_structure(10, 2, 5.0, 1, 55);
  nnp_cell_graph *g;
  nnp_workspace *ws;
  nnp_error err;
  graph_and_workspace(m, &st, 3.5, 2, &g, &ws);
  size_t np = nnp_model_param_count(m);
  double *grad = malloc(np * sizeof *grad), e0;
  nnp_status s = nnp_compute_param_gradient(m, ws, nnp_cell_graph_view(g), NULL, &e0, grad, &err);
  CHECK(s == NNP_OK, "param gradient: %s", err.message);
  double *p = nnp_model_params(m), worst = 0, gmax = 0;
  unsigned long long seed = 5;
  for (int trial = 0; trial < 60; ++trial) {
    size_t k = (size_t)(urand(&seed) * np);
    double keep = p[k], h = 1e-5, ep, em;
    p[k] = keep + h;
    nnp_compute_param_gradient(m, ws, nnp_cell_graph_view(g), NULL, &ep, grad + 0, &err);
    p[k] = keep - h;
    nnp_compute_param_gradient(m, ws, nnp_cell_graph_view(g), NULL, &em, grad + 0, &err);
    p[k] = keep;
    nnp_compute_param_gradient(m, ws, nnp_cell_graph_view(g), NULL, &e0, grad, &err);
    double fd = (ep - em) / (2 * h);
    worst = fmax(worst, fabs(fd - grad[k]));
    gmax = fmax(gmax, fabs(grad[k]));
  }
  CHECK(worst < 1e-6 * gmax, "dE/dparams vs finite differences: max error %.3e of %.3e", worst, gmax);
  printf("dE/dparams vs FD (60 random parameters): max error %.2e of %.2e\n", worst, gmax);
  free(grad);
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  nnp_model_free(m);
}

/* Tabulated radial functions: force error against exact evaluation, and what they refuse. */
static void test_radial_tables(void) {
  nnp_model *m = make_model(2, 8, 3, 2, 23);
  structure st = random_structure(30, 2, 7.0, 1, 61);
  nnp_cell_graph *g;
  nnp_workspace *ws;
  nnp_error err;
  graph_and_workspace(m, &st, 3.5, 2, &g, &ws);
  const nnp_graph *v = nnp_cell_graph_view(g);
  double *f0 = calloc(3 * (size_t)v->n_total, sizeof *f0), *f1 = calloc(3 * (size_t)v->n_total, sizeof *f1);
  nnp_result r0 = {0, {0}, NULL, f0, NULL}, r1 = {0, {0}, NULL, f1, NULL};
  nnp_compute(m, ws, v, &r0, &err);
  CHECK(nnp_workspace_tabulate_radial(ws, 0.01, &err) == NNP_OK, "tabulate: %s", err.message);
  nnp_compute(m, ws, v, &r1, &err);
  double df = 0, fm = 0;
  for (int q = 0; q < 3 * v->n_total; ++q) df = fmax(df, fabs(f1[q] - f0[q])), fm = fmax(fm, fabs(f0[q]));
  CHECK(df < 1e-6 && fabs(r1.energy - r0.energy) < 1e-7 * fabs(r0.energy),
        "tables (0.01 A): force error %.3e eV/A (max |F| %.3e), energy error %.3e eV", df, fm, r1.energy - r0.energy);
  printf("radial tables, step 0.01 A: max force error %.2e eV/A of max |F| %.2e, energy error %.2e eV\n", df, fm,
         fabs(r1.energy - r0.energy));
  double *grad = malloc(nnp_model_param_count(m) * sizeof *grad);
  nnp_status s = nnp_compute_param_gradient(m, ws, v, NULL, NULL, grad, &err);
  CHECK(s == NNP_ERR_ARGUMENT && strstr(err.message, "exact"), "param gradient with tables -> %s", err.message);
  nnp_workspace_tabulate_radial(ws, 0.0, &err);
  nnp_compute(m, ws, v, &r1, &err);
  CHECK(r1.energy == r0.energy, "step 0 returns to exact evaluation");
  CHECK(nnp_workspace_radial_table_error(ws) == 0.0, "exact evaluation has no table error");
  /* absurd steps are refused (issue 18: 4.5 A tables gave water energies off by half), with a step that would do */
  s = nnp_workspace_tabulate_radial(ws, 4.5, &err);
  CHECK(s == NNP_ERR_ARGUMENT && strstr(err.message, "too coarse") && strstr(err.message, "at most about"),
        "radial step 4.5 A -> %s", err.message);
  s = nnp_workspace_tabulate_radial(ws, 0.01, &err);
  const double est = nnp_workspace_radial_table_error(ws);
  /* the 0.01 A tables' force error above is ~1e-7 eV/A: their relative error must be far below the 1e-4 bound */
  CHECK(s == NNP_OK && est > 0.0 && est < 1e-6, "0.01 A tables: estimated relative error %.2e", est);
  free(grad), free(f0), free(f1);
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  nnp_model_free(m);
}

/* float32 convolutions (nnp_workspace_set_precision) against float64, both with the same radial tables.
 * Tolerance: with unit round-off u = 2^-24 = 6.0e-8, a sum of n terms is off by at most n u times the sum of their
 * magnitudes. A force passes through D <= 20 such sums in sequence (3 layers, forward and adjoint, each: table
 * row, tensor product, message sum over edges, feature adjoint) of at most N = 50 terms (edges per receiver here;
 * coupling entries and channels are fewer), so its error is at most about D N u = 6e-5 times the magnitudes that
 * meet in it; we take the largest force as that scale, i.e. no catastrophic cancellation (the magnitudes of the
 * terms of one force are of the size of the forces in these random models). The same bound with the sum of the
 * per-atom energies' magnitudes holds for the energy. Observed: about 1e-7 relative, so this catches any real
 * error (a wrong coefficient gives O(1)) without depending on luck. */
static void test_single_precision(void) {
  const double bound = 20.0 * 50.0 * 0x1p-24;
  nnp_model *m = make_model(2, 8, 3, 3, 41);
  structure st = random_structure(40, 3, 7.5, 1, 71);
  nnp_cell_graph *g;
  nnp_workspace *wd, *ws1, *ws2, *ws3;
  nnp_error err;
  graph_and_workspace(m, &st, 3.5, 1, &g, &wd);
  const nnp_graph *v = nnp_cell_graph_view(g);
  const size_t nt = (size_t)v->n_total;
  double *f0 = calloc(3 * nt, sizeof *f0), *f[3], e[3], ae0[64], vir[3][6];
  nnp_result r0 = {0, {0}, ae0, f0, NULL};
  CHECK(nnp_workspace_tabulate_radial(wd, 0.01, &err) == NNP_OK && nnp_compute(m, wd, v, &r0, &err) == NNP_OK,
        "float64 with tables: %s", err.message);
  nnp_workspace *w[3];
  for (int k = 0; k < 3; ++k) {
    f[k] = calloc(3 * nt, sizeof *f[k]);
    CHECK(nnp_workspace_create(m, k + 1, &w[k], &err) == NNP_OK &&
              nnp_workspace_tabulate_radial(w[k], 0.01, &err) == NNP_OK &&
              nnp_workspace_set_precision(w[k], NNP_PRECISION_SINGLE, &err) == NNP_OK,
          "single-precision workspace: %s", err.message);
    nnp_result r = {0, {0}, NULL, f[k], NULL};
    CHECK(nnp_compute(m, w[k], v, &r, &err) == NNP_OK, "float32 evaluation: %s", err.message);
    e[k] = r.energy;
    memcpy(vir[k], r.virial, sizeof vir[k]);
  }
  ws1 = w[0], ws2 = w[1], ws3 = w[2];
  double df = 0, fm = 0, esum = 0;
  for (size_t q = 0; q < 3 * nt; ++q) df = fmax(df, fabs(f[0][q] - f0[q])), fm = fmax(fm, fabs(f0[q]));
  for (int i = 0; i < v->n_local; ++i) esum += fabs(ae0[i]);
  CHECK(df > 0 && df < bound * fm, "float32 forces: max error %.3e eV/A, bound %.3e (max |F| %.3e)", df, bound * fm,
        fm);
  CHECK(e[0] != r0.energy && fabs(e[0] - r0.energy) < bound * esum, "float32 energy error %.3e eV, bound %.3e",
        e[0] - r0.energy, bound * esum);
  printf("float32: max force error %.2e eV/A of max |F| %.2e (bound %.2e), energy error %.2e eV\n", df, fm, bound * fm,
         fabs(e[0] - r0.energy));
  int same = e[0] == e[1] && e[0] == e[2] && !memcmp(f[0], f[1], 3 * nt * sizeof *f[0]) &&
             !memcmp(f[0], f[2], 3 * nt * sizeof *f[0]) && !memcmp(vir[0], vir[1], sizeof vir[0]) &&
             !memcmp(vir[0], vir[2], sizeof vir[0]);
  CHECK(same, "float32: 1, 2 and 3 threads give bitwise identical energy, forces and virials");
  /* back to float64: exactly the float64 result again */
  nnp_result r = {0, {0}, NULL, f[1], NULL};
  CHECK(nnp_workspace_set_precision(ws2, NNP_PRECISION_DOUBLE, &err) == NNP_OK &&
            nnp_compute(m, ws2, v, &r, &err) == NNP_OK && r.energy == r0.energy &&
            !memcmp(f[1], f0, 3 * nt * sizeof *f0),
        "set_precision(DOUBLE) returns to the float64 result");
  /* float32 needs tables; and generated kernels (l_max <= 2) */
  CHECK(nnp_workspace_tabulate_radial(ws3, 0.0, &err) == NNP_OK &&
            nnp_compute(m, ws3, v, &r, &err) == NNP_ERR_ARGUMENT && strstr(err.message, "tables"),
        "single precision without tables -> %s", err.message);
  CHECK(nnp_workspace_set_precision(ws1, (nnp_precision)7, &err) == NNP_ERR_ARGUMENT, "unknown precision rejected");
  nnp_model *m3 = make_model(3, 8, 2, 1, 5);
  nnp_workspace *w3;
  CHECK(nnp_workspace_create(m3, 1, &w3, &err) == NNP_OK &&
            nnp_workspace_set_precision(w3, NNP_PRECISION_SINGLE, &err) == NNP_ERR_ARGUMENT &&
            strstr(err.message, "l_max"),
        "single precision with l_max 3 -> %s", err.message);
  nnp_workspace_free(w3);
  nnp_model_free(m3);
  for (int k = 0; k < 3; ++k) free(f[k]), nnp_workspace_free(w[k]);
  free(f0);
  nnp_workspace_free(wd);
  nnp_cell_graph_free(g);
  nnp_model_free(m);
}

/* Moving atoms in an existing graph (the trainer's displaced evaluations) equals building a new one. */
static void test_update_positions(void) {
  nnp_model *m = make_model(1, 4, 2, 2, 29);
  structure st = random_structure(12, 2, 5.0, 1, 71);
  structure moved = st;
  unsigned long long seed = 3;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) moved.pos[i][k] += 0.05 * (urand(&seed) - 0.5);
  nnp_cell_graph *g;
  nnp_workspace *ws;
  nnp_error err;
  graph_and_workspace(m, &st, 3.5 + 0.2, 1, &g, &ws);
  CHECK(nnp_cell_graph_update_positions(g, &moved.pos[0][0], &err) == NNP_OK, "update: %s", err.message);
  nnp_result r = {0, {0}, NULL, NULL, NULL};
  nnp_compute(m, ws, nnp_cell_graph_view(g), &r, &err);
  double e_fresh = energy_of(m, &moved);
  CHECK(fabs(r.energy - e_fresh) < 1e-12 * fabs(e_fresh), "updated graph energy %.15g vs fresh graph %.15g", r.energy,
        e_fresh);
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  nnp_model_free(m);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Model files                                                                                                        */

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n + 1);
  if (fread(b, 1, *n, f) != *n) *n = 0;
  fclose(f);
  b[*n] = 0;
  return b;
}

static unsigned long long fnv(const char *b, size_t n) {
  unsigned long long h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ (unsigned char)b[i]) * 0x100000001b3ull;
  return h;
}

/* Replace the first occurrence of `from` by `to` and, if asked, re-sign the file so only the edit is wrong. */
static nnp_status parse_edited(const char *text, size_t n, const char *from, const char *to, int resign, char *msg) {
  char *buf = malloc(n + strlen(to) + 64);
  const char *at = strstr(text, from);
  size_t pre = (size_t)(at - text);
  memcpy(buf, text, pre);
  strcpy(buf + pre, to);
  strcat(buf, at + strlen(from));
  size_t len = strlen(buf);
  if (resign) {
    char *ck = strstr(buf, "checksum ");
    sprintf(ck, "checksum %016llx\n", fnv(buf, (size_t)(ck - buf)));
    len = strlen(buf);
  }
  nnp_model *m = NULL;
  nnp_error err = {{0}};
  nnp_status s = nnp_model_parse(buf, len, &m, &err);
  strcpy(msg, err.message);
  nnp_model_free(m);
  free(buf);
  return s;
}

static void test_model_files(const char *dir) {
  nnp_model *m = make_model(3, 4, 2, 3, 12);
  nnp_model_set_meta(m, "training_data", "synthetic test data, frames 0-9", NULL);
  char path[1024];
  snprintf(path, sizeof path, "%s/test_core_model.nnp", dir);
  nnp_error err;
  CHECK(nnp_model_write(m, path, &err) == NNP_OK, "write: %s", err.message);
  nnp_model *r = NULL;
  CHECK(nnp_model_read(path, &r, &err) == NNP_OK, "read back: %s", err.message);
  if (r) {
    CHECK(nnp_model_param_count(r) == nnp_model_param_count(m) &&
              !memcmp(nnp_model_params(r), nnp_model_params(m), nnp_model_param_count(m) * sizeof(double)),
          "parameters round-trip exactly");
    CHECK(nnp_model_meta_count(r) == 1 && !strcmp(nnp_model_meta_value(r, 0), "synthetic test data, frames 0-9"),
          "metadata round-trips");
    structure st = random_structure(8, 3, 5.0, 1, 3);
    CHECK(energy_of(m, &st) == energy_of(r, &st), "a read-back model gives the same energy");
  }
  nnp_model_free(r);
  size_t n = 0;
  char *text = slurp(path, &n), msg[512];
  nnp_status s;
  s = parse_edited(text, n, "channels 4", "channels 5", 0, msg);
  CHECK(s == NNP_ERR_CHECKSUM && strstr(msg, "checksum"), "edited byte -> checksum error: %s", msg);
  s = parse_edited(text, n, "channels 4", "channels 5", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "shape"), "inconsistent shape -> %s", msg);
  s = parse_edited(text, n, "pair_nnp-model 1", "pair_nnp-model 3", 1, msg); /* 2 adds baselines */
  CHECK(s == NNP_ERR_VERSION && strstr(msg, "newer"), "future version -> %s", msg);
  s = parse_edited(text, n, "units metal", "units real", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "units"), "wrong units -> %s", msg);
  s = parse_edited(text, n, "\nparam embedding", "\nparam embeddings", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "embedding"), "renamed parameter -> %s", msg);
  s = parse_edited(text, n, "l_max 3\n", "", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "l_max"), "missing key -> %s", msg);
  {
    const char *p = strstr(text, "param layer0.up0");
    const char *nl = strchr(p, '\n') + 1;
    char from[64];
    size_t len = strcspn(nl, " \n");
    memcpy(from, nl, len);
    from[len] = 0;
    char to[80];
    snprintf(to, sizeof to, "nan");
    char key[160];
    snprintf(key, sizeof key, "%.*s%s", (int)(nl - p), p, from);
    char rep[200];
    snprintf(rep, sizeof rep, "%.*s%s", (int)(nl - p), p, to);
    s = parse_edited(text, n, key, rep, 1, msg);
    CHECK(s == NNP_ERR_FORMAT && strstr(msg, "not finite"), "NaN weight -> %s", msg);
  }
  nnp_model *t = NULL;
  for (size_t cut = 10; cut < n; cut += n / 7) {
    nnp_error e2 = {{0}};
    s = nnp_model_parse(text, cut, &t, &e2);
    CHECK(s != NNP_OK && t == NULL, "truncated at %zu bytes -> %s", cut, e2.message);
  }
  s = nnp_model_parse("\x7f"
                      "ELF\x02\x01",
                      6, &t, &err);
  CHECK(s == NNP_ERR_FORMAT, "binary file -> %s", err.message);
  s = nnp_model_read("/nonexistent/model.nnp", &t, &err);
  CHECK(s == NNP_ERR_IO && strstr(err.message, "/nonexistent/model.nnp"), "missing file -> %s", err.message);
  free(text);
  nnp_model_free(m);
}

/* text with the first `from` replaced by `to` (caller frees). */
static char *edited(const char *text, const char *from, const char *to) {
  const char *at = strstr(text, from);
  if (!at) abort();
  char *buf = malloc(strlen(text) + strlen(to) + 1);
  memcpy(buf, text, (size_t)(at - text));
  strcpy(buf + (at - text), to);
  strcat(buf, at + strlen(from));
  return buf;
}

/* Hostile or careless model files (issue 18): each used to be accepted, misread or crash. */
static void test_model_file_strictness(const char *dir) {
  nnp_model *m = make_model(1, 2, 2, 3, 5);
  char path[1024], msg[512];
  snprintf(path, sizeof path, "%s/test_core_strict.nnp", dir);
  nnp_error err;
  if (nnp_model_write(m, path, &err)) abort();
  size_t n = 0;
  char *text = slurp(path, &n);
  nnp_status s;
  /* a long header line is read whole (it used to be cut at 4096 characters: "O H" without "Na") */
  {
    char spaced[6000] = "species O H";
    memset(spaced + strlen(spaced), ' ', 5000);
    strcpy(spaced + 11 + 5000, "Na\n");
    s = parse_edited(text, n, "species O H Na\n", spaced, 1, msg);
    CHECK(s == NNP_OK, "species line with 5000 spaces reads as 3 species: %s", msg);
    char *huge = malloc(70000);
    strcpy(huge, "species O H");
    memset(huge + 11, ' ', 69000);
    strcpy(huge + 11 + 69000, "Na\n");
    s = parse_edited(text, n, "species O H Na\n", huge, 1, msg);
    CHECK(s == NNP_ERR_FORMAT && strstr(msg, "longer than"), "header line over 64 KiB -> %s", msg);
    free(huge);
  }
  s = parse_edited(text, n, "l_max 1\n", "l_max 1\nl_max 1\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "twice") && strstr(msg, "l_max"), "duplicate header key -> %s", msg);
  s = parse_edited(text, n, "units metal\n", "units metal\nunits metal\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "twice"), "duplicate units -> %s", msg);
  s = parse_edited(text, n, "\npair_cutoff O H ", "\npair_cutoff H O 3.0\npair_cutoff O H ", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "twice"), "pair cutoff given twice (both orders) -> %s", msg);
  s = parse_edited(text, n, "\nparam ", "\nmeta a 1\nmeta b 2\nmeta a 3\nparam ", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "'a' is given twice"), "duplicate meta key -> %s", msg);
  {
    /* a 7-character species and a pair_cutoff naming it with one more character: no longer matched by truncation */
    char *a = edited(text, "species O H Na\n", "species O H Abcdefg\n");
    char *b = edited(a, "\npair_cutoff O H ", "\npair_cutoff O Abcdefgh ");
    s = parse_edited(b, strlen(b), "checksum", "checksum", 1, msg);
    CHECK(s == NNP_ERR_FORMAT && strstr(msg, "Abcdefgh"), "pair_cutoff name longer than any species -> %s", msg);
    free(a);
    free(b);
  }
  s = parse_edited(text, n, "pair_nnp-model 1\n", "pair_nnp-model 4294967297\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "version"), "version 4294967297 -> %s", msg);
  s = parse_edited(text, n, "pair_nnp-model 1\n", "pair_nnp-model 1.9 beta\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "version"), "version '1.9 beta' -> %s", msg);
  s = parse_edited(text, n, "pair_nnp-model 1\n", "pair_nnp-model 01\r\n", 1, msg);
  CHECK(s == NNP_OK, "version '01' with CRLF is 1: %s", msg);
  s = parse_edited(text, n, "avg_num_neighbors 8\n", "avg_num_neighbors 1e-300\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "avg_num_neighbors"), "avg_num_neighbors 1e-300 -> %s", msg);
  s = parse_edited(text, n, "avg_num_neighbors 8\n", "avg_num_neighbors 1e7\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "avg_num_neighbors"), "avg_num_neighbors 1e7 -> %s", msg);
  {
    /* a small file whose header asks for 4e9 parameters is refused before they are allocated (32 GB) */
    const char *p = strstr(text, "param embedding");
    char *head = malloc((size_t)(p - text) + 64);
    memcpy(head, text, (size_t)(p - text));
    strcpy(head + (p - text), "param embedding 3 2\nchecksum 0\n");
    char *big = edited(head, "channels 2\n", "channels 1024\n");
    char *bigger = edited(big, "radial_hidden 12 10\n", "radial_hidden 4096 4096 4096 4096 4096 4096 4096 4096\n");
    s = parse_edited(bigger, strlen(bigger), "checksum", "checksum", 1, msg);
    CHECK(s == NNP_ERR_FORMAT && strstr(msg, "more than the file can hold"), "header asking for 4e9 parameters -> %s",
          msg);
    free(head);
    free(big);
    free(bigger);
  }
  /* /dev/zero is refused after the first MiB (it used to be read until memory ran out) */
  nnp_model *z = NULL;
  s = nnp_model_read("/dev/zero", &z, &err);
  CHECK(s == NNP_ERR_FORMAT && z == NULL, "/dev/zero as a model -> %s", err.message);
  free(text);
  nnp_model_free(m);

  /* Valid hyperparameters whose middle layers need more arrays (3 l_max + K + 4) than the table once had room for:
   * a heap overflow in nnp_model_alloc (issue 18). The model must build, write, read back and evaluate. */
  nnp_hyper h;
  if (nnp_hyper_default(&h, 1, species3 + 1, &err)) abort();
  h.l_max = 6, h.channels = 1, h.layers = 5, h.radial_basis = 1, h.readout_hidden = 1, h.n_radial_hidden = 8;
  for (int k = 0; k < 8; ++k) h.radial_hidden[k] = 1;
  nnp_model *big = NULL, *back = NULL;
  s = nnp_model_create_random(&h, 3, &big, &err);
  CHECK(s == NNP_OK, "l_max 6, 5 layers, 8 radial widths: model created (%s)", s ? err.message : "ok");
  if (big) {
    s = nnp_model_write(big, path, &err);
    if (!s) s = nnp_model_read(path, &back, &err);
    CHECK(s == NNP_OK, "... and written and read back (%s)", s ? err.message : "ok");
    structure st = random_structure(4, 1, 4.0, 1, 21);
    outcome o = evaluate(big, &st, 1);
    CHECK(o.status == NNP_OK && isfinite(o.energy), "... and evaluated (%s)", o.message);
  }
  nnp_model_free(back);
  nnp_model_free(big);
}

/* The model options of imported NequIP models (docs/model.md, "Model options"): written as format version 2 and read
 * back unchanged, refused in version 1 and when malformed, never copied into a trainer's model, and consistent
 * forces (finite differences) with every option on. Agreement with the reference: test_reference.py. */
static void test_model_options(const char *dir) {
  nnp_model *base = make_model(2, 3, 3, 2, 61);
  nnp_hyper h = *nnp_model_hyper(base);
  nnp_error err = {{0}};
  h.options.odd_paths = 1;
  h.options.gate_silu = 1;
  h.options.readout_linear = 1;
  h.options.no_residual = 1u; /* layer 0 */
  h.options.n_radial_frequencies = h.radial_basis;
  for (int n = 0; n < h.radial_basis; ++n) h.options.radial_frequencies[n] = 2.9 * (n + 1) + 0.1 * n * n;
  nnp_model *m = NULL, *back = NULL;
  CHECK(nnp_model_create_random(&h, 62, &m, &err) == NNP_OK, "model with every option: %s", err.message);
  char path[1024], msg[512];
  snprintf(path, sizeof path, "%s/test_core_options.nnp", dir);
  CHECK(nnp_model_write(m, path, &err) == NNP_OK && nnp_model_read(path, &back, &err) == NNP_OK,
        "options: write and read back (%s)", err.message);
  CHECK(back && !memcmp(&nnp_model_hyper(back)->options, &h.options, sizeof h.options), "options read back unchanged");
  size_t n = 0;
  char *text = slurp(path, &n);
  CHECK(!strncmp(text, "pair_nnp-model 2\n", 17) && strstr(text, "\npaths all\ngate_activation silu\nresidual 0 1 1\n"
                                                                 "readout_activation none\nradial_frequencies "),
        "options written as version 2, in the documented order");
  nnp_status s = parse_edited(text, n, "pair_nnp-model 2\n", "pair_nnp-model 1\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "paths") && strstr(msg, "version 2"), "option in version 1 -> %s", msg);
  s = parse_edited(text, n, "residual 0 1 1\n", "residual 0 1\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "residual") && strstr(msg, "3 layers"), "2 residual flags -> %s", msg);
  s = parse_edited(text, n, "residual 0 1 1\n", "residual 0 1 2\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "'2'"), "residual flag 2 -> %s", msg);
  s = parse_edited(text, n, "paths all\n", "paths odd\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "'odd'") && strstr(msg, "'all'"), "paths odd -> %s", msg);
  s = parse_edited(text, n, "gate_activation silu\n", "gate_activation silu\ngate_activation silu\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "twice"), "gate_activation twice -> %s", msg);
  s = parse_edited(text, n, "readout_activation none\n", "readout_activation tanh\n", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "readout_activation"), "readout_activation tanh -> %s", msg);
  s = parse_edited(text, n, "radial_frequencies 2.8999999999999999 ", "radial_frequencies ", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "radial_frequencies has 5 values"), "5 of 6 frequencies -> %s", msg);
  s = parse_edited(text, n, "radial_frequencies 2.8999999999999999 ", "radial_frequencies -2.9 ", 1, msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "frequency"), "negative frequency -> %s", msg);
  /* the defaults spelled out are accepted (paths stays `all`: `even` would change the parameter shapes) */
  s = parse_edited(text, n, "gate_activation silu\nresidual 0 1 1\n", "gate_activation sigmoid\nresidual 1 1 1\n", 1,
                   msg);
  CHECK(s == NNP_OK, "explicit default options accepted: %s", msg);
  int shared = 0;
  nnp_model *plain = make_model(2, 3, 3, 2, 63);
  CHECK(nnp_model_copy_weights(plain, m, &shared, &err) == NNP_ERR_ARGUMENT && strstr(err.message, "options"),
        "copy_weights from a model with options -> %s", err.message);
  /* forces = -dE/dx with every option (odd-path coupling, SiLU gates, no residual, linear readout, frequencies) */
  structure st = random_structure(7, 2, 4.2, 1, 64);
  outcome o = evaluate(m, &st, 1);
  double worst = 0.0, fbig = 0.0;
  for (int a = 0; a < 3 && o.status == NNP_OK; ++a) {
    structure p = st, q = st;
    p.pos[a][1] += 1e-5, q.pos[a][1] -= 1e-5;
    const double fd = -(evaluate(m, &p, 1).energy - evaluate(m, &q, 1).energy) / 2e-5;
    worst = fmax(worst, fabs(fd - o.forces[a][1]));
    fbig = fmax(fbig, fabs(o.forces[a][1]));
  }
  /* central differences with h = 1e-5 A: truncation ~h^2 |d3E/dx3| ~1e-9, rounding ~1e-16 |E| / h ~1e-10 */
  CHECK(o.status == NNP_OK && worst < 1e-6 * fmax(fbig, 1.0), "options: forces vs central differences %.2e", worst);
  free(text);
  nnp_model_free(plain);
  nnp_model_free(back);
  nnp_model_free(m);
  nnp_model_free(base);
}

/* Cell-graph corner cases (issue 18). */
static void test_cell_graph_corners(void) {
  const double cell[3][3] = {{5, 0, 0}, {0, 5, 0}, {0, 0, 5}};
  const int pbc[3] = {1, 1, 1};
  nnp_cell_graph *g = NULL;
  nnp_error err;
  /* no atoms and no arrays: used to reach memcpy(out, NULL, 0), undefined behaviour (UBSan) */
  nnp_status s = nnp_cell_graph_build(0, NULL, NULL, cell, pbc, 3.0, &g, &err);
  CHECK(s == NNP_OK && g && nnp_cell_graph_view(g)->n_total == 0, "empty cell graph with NULL arrays (%s)",
        s ? err.message : "ok");
  nnp_cell_graph_free(g);

  /* a slab given with a zero c vector and pbc T T F is valid: same energy as with any c along the normal */
  nnp_model *m = make_model(1, 4, 2, 2, 9);
  structure slab = random_structure(10, 2, 6.0, 0, 17);
  double ab[3][3] = {{6.0, 0, 0}, {1.0, 5.5, 0}, {0, 0, 0}};
  memcpy(slab.cell, ab, sizeof ab);
  slab.pbc[0] = slab.pbc[1] = 1, slab.pbc[2] = 0;
  structure tall = slab;
  tall.cell[2][2] = 40.0;
  outcome zero_c = evaluate(m, &slab, 1), with_c = evaluate(m, &tall, 1);
  /* both wrap the same atoms by the same lattice vectors; only the rounding of fractional coordinates may differ */
  CHECK(zero_c.status == NNP_OK && with_c.status == NNP_OK &&
            fabs(zero_c.energy - with_c.energy) <= 1e-12 * fabs(with_c.energy),
        "slab with zero c vector: %s, energy %.15g vs %.15g", zero_c.message, zero_c.energy, with_c.energy);
  /* the periodic vectors must still be independent */
  slab.cell[1][0] = 12.0, slab.cell[1][1] = 0.0;
  outcome bad = evaluate(m, &slab, 1);
  CHECK(bad.status == NNP_ERR_GEOMETRY && strstr(bad.message, "singular"), "slab with parallel a, b -> %s",
        bad.message);
  nnp_model_free(m);
}

static void test_bad_input(void) {
  nnp_model *m = make_model(1, 4, 2, 2, 1);
  structure st = random_structure(6, 2, 4.0, 1, 8);
  structure bad = st;
  bad.pos[2][1] = NAN;
  outcome o = evaluate(m, &bad, 1);
  CHECK(o.status == NNP_ERR_GEOMETRY && strstr(o.message, "non-finite"), "NaN position -> %s", o.message);
  /* found by fuzz_extxyz: a coordinate of 1e308 overflowed the wrap into the cell (inf - inf) and the bin index */
  for (int periodic = 0; periodic < 2; ++periodic) {
    bad = st;
    bad.pbc[0] = bad.pbc[1] = bad.pbc[2] = periodic;
    bad.pos[3][0] = 1e308;
    o = evaluate(m, &bad, 1);
    CHECK(o.status == NNP_ERR_GEOMETRY && strstr(o.message, "refused"), "coordinate 1e308 (pbc %d) -> %s", periodic,
          o.message);
  }
  bad = st;
  bad.cell[1][1] = 1e300;
  o = evaluate(m, &bad, 1);
  CHECK(o.status == NNP_ERR_GEOMETRY && strstr(o.message, "cell vector 1"), "cell component 1e300 -> %s", o.message);
  bad = st;
  memcpy(bad.pos[4], bad.pos[1], sizeof bad.pos[1]);
  bad.pos[4][0] += 0.1;
  o = evaluate(m, &bad, 1);
  CHECK(o.status == NNP_ERR_GEOMETRY && strstr(o.message, "r_min"), "atoms too close -> %s", o.message);
  bad = st;
  bad.species[0] = 7;
  o = evaluate(m, &bad, 1);
  CHECK(o.status == NNP_ERR_SPECIES, "unknown species index -> %s", o.message);
  bad = st;
  bad.cell[2][0] = bad.cell[0][0], bad.cell[2][1] = bad.cell[0][1], bad.cell[2][2] = bad.cell[0][2];
  o = evaluate(m, &bad, 1);
  CHECK(o.status == NNP_ERR_GEOMETRY && strstr(o.message, "singular"), "singular cell -> %s", o.message);
  /* empty system and an atom the model ignores (species -1, as LAMMPS types mapped to NULL) */
  bad = st;
  bad.n = 0;
  o = evaluate(m, &bad, 1);
  CHECK(o.status == NNP_OK && o.energy == 0.0, "no atoms -> energy 0 (%s)", o.message);
  {
    /* an empty graph without any arrays (an MPI rank with an empty subdomain may pass one), on several threads */
    nnp_graph empty = {0, 0, NULL, NULL, NULL, NULL, NULL, NULL};
    nnp_workspace *ws3;
    nnp_error e3;
    nnp_result r3 = {1.0, {0}, NULL, NULL, NULL};
    nnp_status s3 = nnp_workspace_create(m, 3, &ws3, &e3);
    if (!s3) s3 = nnp_compute(m, ws3, &empty, &r3, &e3);
    CHECK(s3 == NNP_OK && r3.energy == 0.0, "empty graph with NULL arrays on 3 threads -> energy 0 (%s)",
          s3 ? e3.message : "ok");
    nnp_workspace_free(ws3);
  }
  structure with_ignored = st;
  with_ignored.species[5] = -1;
  structure without = st;
  without.n = 5;
  o = evaluate(m, &with_ignored, 1);
  outcome w = evaluate(m, &without, 1);
  CHECK(o.status == NNP_OK && o.energy == w.energy && o.forces[5][0] == 0.0, "an ignored atom contributes nothing");
  /* ghosts without an exchange callback */
  int64_t nb_off[2] = {0, 1};
  int nb_idx[1] = {1}, sp[2] = {0, 1};
  double pos[6] = {0, 0, 0, 1.5, 0, 0};
  nnp_graph g = {1, 2, sp, pos, nb_off, nb_idx, NULL, NULL};
  nnp_workspace *ws;
  nnp_error err;
  nnp_workspace_create(m, 1, &ws, &err);
  double f[6];
  nnp_result r = {0, {0}, NULL, f, NULL};
  nnp_status s = nnp_compute(m, ws, &g, &r, &err);
  CHECK(s == NNP_ERR_ARGUMENT && strstr(err.message, "exchange"), "ghosts without exchange -> %s", err.message);
  nb_idx[0] = 5;
  g.exchange = NULL, g.n_total = 1, nb_off[1] = 1;
  s = nnp_compute(m, ws, &g, &r, &err);
  CHECK(s == NNP_ERR_ARGUMENT && strstr(err.message, "outside"), "neighbour index out of range -> %s", err.message);
  nnp_workspace_free(ws);
  nnp_model_free(m);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  for (int l = 1; l <= 3; ++l) test_forces_fd(l, 3, 1);
  test_forces_fd(2, 1, 0);
  test_forces_fd(2, 2, 0);
  test_virial();
  for (int l = 1; l <= 3; ++l) test_symmetries(l);
  test_unwrapped_positions();
  test_copy_weights();
  test_supercell();
  test_cutoff_smoothness();
  test_threads();
  test_asymmetric_lists();
  test_param_gradient();
  test_radial_tables();
  test_single_precision();
  test_update_positions();
  test_model_files(dir);
  test_model_file_strictness(dir);
  test_model_options(dir);
  test_cell_graph_corners();
  test_bad_input();
  printf("%d passed, %d failed\n", n_pass, n_fail);
  return n_fail ? 1 : 0;
}
