/* Tests of the product interaction family in the core (docs/model.md, "The product family"): forces and virials
 * against finite differences, rotation/reflection/permutation invariance, thread-count identity, the parameter
 * gradient against finite differences (every parameter), model files (round trip, the reader's refusals) and what is
 * refused because it is not implemented (the trainer's exact force-loss gradient is in tests/test_train_passes.c).
 * Agreement with the independent reference is tests/test_reference.py (ctest reference_vs_core_product). Prints "N
 * passed, M failed". */
#include "nnp.h"

#include <math.h>
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

/* Central differences with h = 1e-5 A: truncation h^2 |E'''| / 6 and rounding 1e-16 |E| / h are both near 1e-10 of
 * the force scale here, so 1e-6 relative leaves four orders of margin and still catches any missing term (a wrong
 * adjoint is off by O(1)). */
#define FD_STEP 1e-5
#define FD_TOL  1e-6
/* Symmetry operations change only rounding: 1e-10 of the energy and force scales. */
#define SYM_TOL 1e-10

typedef struct {
  int l_max, message_l_max, correlation, layers, n_species, channels;
} product_shape;

static const char *species4[] = {"O", "H", "Na", "Cl"};

static nnp_hyper product_hyper(const product_shape *p) {
  nnp_hyper h;
  nnp_error err;
  if (nnp_hyper_default(&h, p->n_species, species4, &err)) abort();
  h.l_max = p->l_max;
  h.channels = p->channels;
  h.layers = p->layers;
  h.r_cut = 3.5;
  h.r_min = 0.3;
  h.radial_basis = 6;
  h.n_radial_hidden = 1;
  h.radial_hidden[0] = 8;
  h.readout_hidden = 6;
  h.avg_num_neighbors = 8.0;
  for (int a = 0; a < NNP_MAX_SPECIES; ++a)
    for (int b = 0; b < NNP_MAX_SPECIES; ++b) h.pair_cutoff[a][b] = h.r_cut;
  if (p->n_species > 1) h.pair_cutoff[0][1] = h.pair_cutoff[1][0] = 3.1;
  for (int s = 0; s < p->n_species; ++s) h.energy_shift[s] = -1.0 - s, h.energy_scale[s] = 0.5 + 0.25 * s;
  h.interaction = NNP_INTERACTION_PRODUCT;
  h.correlation = p->correlation;
  h.message_l_max = p->message_l_max;
  return h;
}

static nnp_model *make_model(const product_shape *p, unsigned seed) {
  nnp_hyper h = product_hyper(p);
  nnp_error err;
  nnp_model *m;
  if (nnp_model_create_random(&h, seed, &m, &err)) {
    printf("model creation failed: %s\n", err.message);
    abort();
  }
  return m;
}

static const char *describe(const product_shape *p) {
  static char buf[128];
  snprintf(buf, sizeof buf, "l_max %d, messages l <= %d, correlation %d, %d layers, %d species", p->l_max,
           p->message_l_max, p->correlation, p->layers, p->n_species);
  return buf;
}

typedef struct {
  int n;
  int species[32];
  double pos[32][3];
  double cell[3][3];
  int pbc[3];
} structure;

static double urand(unsigned long long *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(*s >> 11) * 0x1.0p-53;
}

/* Random atoms in a triclinic cell (or an open box), at least 0.9 A apart through images too. */
static structure random_structure(int n, int n_species, double box, int periodic, unsigned long long seed) {
  structure st;
  memset(&st, 0, sizeof st);
  double cell[3][3] = {{box, 0, 0}, {0.06 * box, box * 0.95, 0}, {-0.1 * box, 0.15 * box, box * 1.05}};
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
    st.species[st.n] = st.n < n_species ? st.n : (int)(urand(&s) * n_species); /* every species present */
    st.n++;
  }
  return st;
}

typedef struct {
  double energy, virial[6];
  double forces[32][3];
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
    double *f = calloc(3 * (size_t)v->n_total, sizeof *f);
    nnp_result r = {0, {0}, NULL, f, NULL};
    o.status = nnp_compute(m, ws, v, &r, &err);
    if (!o.status) {
      nnp_cell_graph_fold(g, f, 3);
      o.energy = r.energy;
      memcpy(o.virial, r.virial, sizeof o.virial);
      memcpy(o.forces, f, 3 * (size_t)st->n * sizeof *f);
    }
    free(f);
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

static double max_abs_force(const outcome *o, int n) {
  double f = 0;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) f = fmax(f, fabs(o->forces[i][k]));
  return f;
}

/* ---------------------------------------------------------------------------------------------------------------- */

static void test_forces_fd(const product_shape *p, int periodic) {
  nnp_model *m = make_model(p, 11);
  structure st = random_structure(10, p->n_species, periodic ? 5.0 : 4.0, periodic, 100 + p->correlation);
  outcome o = evaluate(m, &st, 1);
  CHECK(o.status == NNP_OK, "%s: evaluate: %s", describe(p), o.message);
  const double fscale = max_abs_force(&o, st.n);
  double worst = 0;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) {
      structure a = st, b = st;
      a.pos[i][k] += FD_STEP;
      b.pos[i][k] -= FD_STEP;
      const double fd = -(energy_of(m, &a) - energy_of(m, &b)) / (2 * FD_STEP);
      worst = fmax(worst, fabs(fd - o.forces[i][k]));
    }
  CHECK(fscale > 1e-3 && worst < FD_TOL * fscale, "%s, pbc %d: forces vs finite differences, max error %.3e of %.3e",
        describe(p), periodic, worst, fscale);
  printf("forces vs FD (%s, pbc %d): max |dF| %.2e of max |F| %.2e\n", describe(p), periodic, worst, fscale);
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

static void test_virial(const product_shape *p) {
  nnp_model *m = make_model(p, 5);
  structure st = random_structure(12, p->n_species, 5.0, 1, 77);
  outcome o = evaluate(m, &st, 1);
  static const int va[6] = {0, 1, 2, 0, 0, 1}, vb[6] = {0, 1, 2, 1, 2, 2};
  double worst = 0, scale = 0;
  for (int v = 0; v < 6; ++v) {
    double eps[3][3] = {{0}};
    structure a = st, b = st;
    eps[va[v]][vb[v]] = eps[vb[v]][va[v]] = va[v] == vb[v] ? FD_STEP : 0.5 * FD_STEP;
    apply_strain(&a, eps);
    eps[va[v]][vb[v]] = eps[vb[v]][va[v]] = va[v] == vb[v] ? -FD_STEP : -0.5 * FD_STEP;
    apply_strain(&b, eps);
    const double fd = -(energy_of(m, &a) - energy_of(m, &b)) / (2 * FD_STEP);
    worst = fmax(worst, fabs(fd - o.virial[v]));
    scale = fmax(scale, fabs(o.virial[v]));
  }
  CHECK(scale > 1e-3 && worst < FD_TOL * scale, "%s: virial vs finite strain, max error %.3e of %.3e", describe(p),
        worst, scale);
  printf("virial vs FD strain (%s): max error %.2e of %.2e\n", describe(p), worst, scale);
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

/* E invariant and F equivariant under rotations and reflections (of positions and cell), and under a permutation */
static void test_symmetries(const product_shape *p) {
  nnp_model *m = make_model(p, 21);
  structure st = random_structure(14, p->n_species, 5.2, 1, 400 + p->l_max);
  outcome o = evaluate(m, &st, 1);
  const double fs = max_abs_force(&o, st.n), es = fmax(fabs(o.energy), 1.0);
  for (int reflect = 0; reflect <= 1; ++reflect) {
    double R[3][3];
    random_rotation(9 + reflect, reflect, R);
    structure r = st;
    for (int i = 0; i < st.n; ++i) rotate(R, st.pos[i], r.pos[i]);
    for (int v = 0; v < 3; ++v) rotate(R, st.cell[v], r.cell[v]);
    outcome q = evaluate(m, &r, 1);
    double df = 0;
    for (int i = 0; i < st.n; ++i) {
      double f[3];
      rotate(R, o.forces[i], f);
      for (int k = 0; k < 3; ++k) df = fmax(df, fabs(f[k] - q.forces[i][k]));
    }
    CHECK(fabs(q.energy - o.energy) < SYM_TOL * es && df < SYM_TOL * fs, "%s %s: dE %.3e, dF %.3e", describe(p),
          reflect ? "reflection" : "rotation", q.energy - o.energy, df);
  }
  structure q = st; /* reverse the atom order */
  for (int i = 0; i < st.n; ++i) {
    memcpy(q.pos[i], st.pos[st.n - 1 - i], sizeof q.pos[i]);
    q.species[i] = st.species[st.n - 1 - i];
  }
  outcome r = evaluate(m, &q, 1);
  double df = 0;
  for (int i = 0; i < st.n; ++i)
    for (int k = 0; k < 3; ++k) df = fmax(df, fabs(o.forces[i][k] - r.forces[st.n - 1 - i][k]));
  CHECK(fabs(r.energy - o.energy) < SYM_TOL * es && df < SYM_TOL * fs, "%s permutation: dE %.3e dF %.3e", describe(p),
        r.energy - o.energy, df);
  nnp_model_free(m);
}

static void test_threads(const product_shape *p) {
  nnp_model *m = make_model(p, 4);
  structure st = random_structure(30, p->n_species, 6.5, 1, 31);
  outcome a = evaluate(m, &st, 1), b = evaluate(m, &st, 2), c = evaluate(m, &st, 3);
  const int same = a.status == NNP_OK && a.energy == b.energy && a.energy == c.energy &&
                   !memcmp(a.forces, b.forces, sizeof a.forces) && !memcmp(a.forces, c.forces, sizeof a.forces) &&
                   !memcmp(a.virial, b.virial, sizeof a.virial) && !memcmp(a.virial, c.virial, sizeof a.virial);
  CHECK(same, "%s: 1, 2 and 3 threads bitwise identical (dE %.3e)", describe(p), a.energy - b.energy);
  nnp_model_free(m);
}

/* dE/dparams against central differences for every 5th parameter of a small model (every array has at least 6
 * elements, so every one is covered: mix, product weights of each species, down, self, radial, embedding, readout) */
static void test_param_gradient(const product_shape *p) {
  nnp_model *m = make_model(p, 17);
  structure st = random_structure(8, p->n_species, 4.5, 1, 55);
  nnp_cell_graph *g;
  nnp_workspace *ws;
  nnp_error err;
  if (nnp_cell_graph_build(st.n, st.species, &st.pos[0][0], st.cell, st.pbc, 3.5, &g, &err) ||
      nnp_workspace_create(m, 1, &ws, &err)) {
    printf("set-up failed: %s\n", err.message);
    abort();
  }
  const nnp_graph *v = nnp_cell_graph_view(g);
  const size_t np = nnp_model_param_count(m);
  double *grad = malloc(np * sizeof *grad), *scratch = malloc(np * sizeof *scratch), e0, ep, em;
  nnp_status s = nnp_compute_param_gradient(m, ws, v, NULL, &e0, grad, &err);
  CHECK(s == NNP_OK, "param gradient: %s", err.message);
  double *par = nnp_model_params(m), worst = 0, gmax = 0;
  for (size_t k = p->correlation % 5; k < np; k += 5) {
    const double keep = par[k];
    par[k] = keep + FD_STEP;
    nnp_compute_param_gradient(m, ws, v, NULL, &ep, scratch, &err);
    par[k] = keep - FD_STEP;
    nnp_compute_param_gradient(m, ws, v, NULL, &em, scratch, &err);
    par[k] = keep;
    worst = fmax(worst, fabs((ep - em) / (2 * FD_STEP) - grad[k]));
    gmax = fmax(gmax, fabs(grad[k]));
  }
  CHECK(worst < FD_TOL * gmax, "%s: dE/dparams vs finite differences (%zu / 5), max error %.3e of %.3e", describe(p),
        np, worst, gmax);
  printf("dE/dparams vs FD (%s, every 5th of %zu parameters): max error %.2e of %.2e\n", describe(p), np, worst, gmax);
  /* the same gradient along with forces and on 2 threads (the threads' partial sums of the radial weights' gradient
   * are added in another order: rounding only) */
  nnp_workspace_free(ws);
  if (nnp_workspace_create(m, 2, &ws, &err)) abort();
  double *f = calloc(3 * (size_t)v->n_total, sizeof *f), dg = 0;
  nnp_result r = {0, {0}, NULL, f, NULL};
  s = nnp_compute_param_gradient(m, ws, v, &r, &e0, scratch, &err);
  for (size_t k = 0; k < np; ++k) dg = fmax(dg, fabs(scratch[k] - grad[k]));
  CHECK(s == NNP_OK && dg <= 1e-12 * gmax, "%s: gradient with forces and 2 threads: differs by %.2e", describe(p), dg);
  free(f);
  free(grad);
  free(scratch);
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  nnp_model_free(m);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Model files */

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) abort();
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)len + 1);
  if (fread(b, 1, (size_t)len, f) != (size_t)len) abort();
  fclose(f);
  b[len] = 0;
  *n = (size_t)len;
  return b;
}

static unsigned long long fnv(const char *b, size_t n) {
  unsigned long long h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ (unsigned char)b[i]) * 0x100000001b3ull;
  return h;
}

/* Parses the text with the first `from` replaced by `to`, re-signed (so that the edit, not the checksum, is what
 * the reader sees); the message into msg. */
static nnp_status parse_edited(const char *text, const char *from, const char *to, char *msg) {
  const char *at = strstr(text, from);
  if (!at) {
    snprintf(msg, 512, "(test error: '%s' not found)", from);
    return NNP_OK;
  }
  size_t n = strlen(text) + strlen(to) + 64;
  char *buf = malloc(n);
  size_t pre = (size_t)(at - text);
  memcpy(buf, text, pre);
  strcpy(buf + pre, to);
  strcat(buf, at + strlen(from));
  char *ck = strstr(buf, "checksum ");
  size_t body = (size_t)(ck - buf);
  snprintf(ck, n - body, "checksum %016llx\n", fnv(buf, body));
  nnp_model *m = NULL;
  nnp_error err = {{0}};
  nnp_status s = nnp_model_parse(buf, strlen(buf), &m, &err);
  nnp_model_free(m);
  free(buf);
  snprintf(msg, 512, "%s", err.message);
  return s;
}

/* The model options of imported NequIP models (docs/model.md, "Model options") are defined for the tensor family
 * only: a product model with one of them is refused, in a file and through the API (what pnnp-init and pnnp-train
 * call), with a message naming the option and the family. The file text is of the model of test_model_files
 * (2 layers, radial_basis 6), so each option line is otherwise valid. */
static void test_option_refusals(const char *text) {
  static const struct {
    const char *line, *key;
  } options[] = {
      {"paths all\n", "paths all"},
      {"gate_activation silu\n", "gate_activation silu"},
      {"residual 1 0\n", "residual"},
      {"readout_activation none\n", "readout_activation none"},
      {"radial_frequencies 3 6 9 12 15 18\n", "radial_frequencies"},
  };
  char msg[512], edit[256];
  for (size_t k = 0; k < sizeof options / sizeof options[0]; ++k) {
    snprintf(edit, sizeof edit, "%sinteraction product", options[k].line);
    nnp_status s = parse_edited(text, "interaction product", edit, msg);
    CHECK(s == NNP_ERR_FORMAT && strstr(msg, options[k].key) && strstr(msg, "interaction product"),
          "model file with '%s' and 'interaction product' -> %s", options[k].key, msg);
  }
  const product_shape p = {2, 1, 3, 2, 2, 3};
  for (int k = 0; k < 5; ++k) {
    nnp_hyper h = product_hyper(&p);
    nnp_model_options *o = &h.options;
    const char *key = k == 0   ? (o->odd_paths = 1, "paths all")
                      : k == 1 ? (o->gate_silu = 1, "gate_activation silu")
                      : k == 2 ? (o->no_residual = 1u, "residual")
                      : k == 3 ? (o->readout_linear = 1, "readout_activation none")
                               : (o->n_radial_frequencies = h.radial_basis, "radial_frequencies");
    for (int n = 0; n < o->n_radial_frequencies; ++n) o->radial_frequencies[n] = 3.0 * (n + 1);
    nnp_model *m = NULL;
    nnp_error err = {{0}};
    nnp_status s = nnp_model_create_random(&h, 1, &m, &err);
    CHECK(s == NNP_ERR_FORMAT && !m && strstr(err.message, key) && strstr(err.message, "interaction product"),
          "hyperparameters with '%s' and the product family -> %s", key, err.message);
    nnp_model_free(m);
  }
}

static void test_model_files(const char *dir) {
  const product_shape p = {2, 1, 3, 2, 2, 3};
  nnp_model *m = make_model(&p, 12);
  char path[1024], msg[512];
  snprintf(path, sizeof path, "%s/test_product_model.nnp", dir);
  nnp_error err;
  CHECK(nnp_model_write(m, path, &err) == NNP_OK, "write: %s", err.message);
  nnp_model *r = NULL;
  CHECK(nnp_model_read(path, &r, &err) == NNP_OK, "read back: %s", err.message);
  if (r) {
    const nnp_hyper *h = nnp_model_hyper(r);
    CHECK(h->interaction == NNP_INTERACTION_PRODUCT && h->correlation == 3 && h->message_l_max == 1,
          "the family and its keys round-trip");
    CHECK(nnp_model_param_count(r) == nnp_model_param_count(m) &&
              !memcmp(nnp_model_params(r), nnp_model_params(m), nnp_model_param_count(m) * sizeof(double)),
          "parameters round-trip exactly");
    CHECK(nnp_model_feature_width(r) == 3 * 4, "the exchange carries C (message_l_max + 1)^2 = 12 numbers, not %d",
          nnp_model_feature_width(r));
    structure st = random_structure(8, 2, 5.0, 1, 3);
    CHECK(energy_of(m, &st) == energy_of(r, &st), "a read-back model gives the same energy");
  }
  nnp_model_free(r);
  size_t n = 0;
  char *text = slurp(path, &n);
  CHECK(!strncmp(text, "pair_nnp-model 2\n", 17), "a product model is written as format version 2");
  nnp_status s;
  s = parse_edited(text, "pair_nnp-model 2", "pair_nnp-model 1", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "needs format version 2"), "version 1 with the keys -> %s", msg);
  s = parse_edited(text, "correlation 3\n", "", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "correlation"), "no correlation -> %s", msg);
  s = parse_edited(text, "message_l_max 1\n", "", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "message_l_max"), "no message_l_max -> %s", msg);
  s = parse_edited(text, "interaction product\n", "", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "needs 'interaction product'"), "keys without the family -> %s", msg);
  s = parse_edited(text, "interaction product", "interaction tensor", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "needs 'interaction product'"), "keys with tensor -> %s", msg);
  s = parse_edited(text, "interaction product", "interaction mace", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "mace"), "unknown family -> %s", msg);
  s = parse_edited(text, "correlation 3", "correlation 5", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "correlation 5"), "correlation 5 -> %s", msg);
  s = parse_edited(text, "correlation 3", "correlation 0", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "correlation 0"), "correlation 0 -> %s", msg);
  s = parse_edited(text, "message_l_max 1", "message_l_max 3", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "message_l_max 3"), "message_l_max above l_max -> %s", msg);
  s = parse_edited(text, "correlation 3", "correlation 3\ncorrelation 3", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "twice"), "repeated key -> %s", msg);
  s = parse_edited(text, "correlation 3", "correlation 2", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "product0"), "shapes follow the correlation -> %s", msg);
  s = parse_edited(text, "l_max 2\n", "l_max 4\n", msg);
  CHECK(s == NNP_ERR_FORMAT && strstr(msg, "l_max <= 3"), "l_max above the implemented 3 -> %s", msg);
  test_option_refusals(text);
  free(text);
  nnp_model_free(m);
}

/* An O-H pair crossing its cutoff (3.1 A) in steps of 1e-4 A, a third atom nearby: the envelope vanishes with two
 * derivatives, so energy steps are O(1e-12) and force steps O(1e-8) (the bounds as in test_core) */
static void test_cutoff_crossing(void) {
  const product_shape p = {3, 0, 3, 2, 2, 3};
  nnp_model *m = make_model(&p, 3);
  structure st;
  memset(&st, 0, sizeof st);
  st.n = 3;
  st.species[0] = 0, st.species[1] = 1, st.species[2] = 0;
  double base[3][3] = {{0, 0, 0}, {0, 0, 0}, {-1.2, 0.9, 0.3}};
  memcpy(st.pos, base, sizeof base);
  for (int k = 0; k < 3; ++k) st.cell[k][k] = 1;
  double e_prev = 0, f_prev = 0, worst_e = 0, worst_f = 0;
  for (int s = -5; s <= 5; ++s) {
    st.pos[1][0] = 3.1 + s * 1e-4;
    outcome o = evaluate(m, &st, 1);
    if (s > -5) {
      worst_e = fmax(worst_e, fabs(o.energy - e_prev));
      worst_f = fmax(worst_f, fabs(o.forces[1][0] - f_prev));
    }
    e_prev = o.energy;
    f_prev = o.forces[1][0];
  }
  CHECK(worst_e < 1e-9 && worst_f < 1e-6, "crossing r_c: energy steps %.3e, force steps %.3e", worst_e, worst_f);
  printf("product family crossing r_c in steps of 1e-4 A: max energy step %.2e eV, max force step %.2e eV/A\n", worst_e,
         worst_f);
  nnp_model_free(m);
}

/* What is not implemented for the product family is refused, never computed wrongly: float32 needs generated
 * tensor-product kernels, which the layers of an l_max 3 product model do not have */
static void test_refusals(void) {
  const product_shape p = {3, 0, 2, 2, 2, 8};
  nnp_model *m = make_model(&p, 3);
  nnp_workspace *ws = NULL;
  nnp_error err = {{0}};
  if (nnp_workspace_create(m, 1, &ws, &err)) abort();
  nnp_status s = nnp_workspace_set_precision(ws, NNP_PRECISION_SINGLE, &err);
  CHECK(s == NNP_ERR_ARGUMENT && strstr(err.message, "product"), "float32 refused: %s", err.message);
  nnp_workspace_free(ws);
  nnp_model_free(m);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  /* correlation 1-4, invariant and vector messages, 1-4 species, 1-3 layers */
  const product_shape shapes[] = {
      {3, 0, 3, 2, 1, 3}, /* MACE-water-like: l <= 3 basis, invariant messages, correlation 3 */
      {2, 1, 2, 2, 2, 3}, /* vector messages */
      {2, 2, 1, 3, 3, 2}, /* correlation 1, messages of every degree, 3 layers */
      {1, 0, 4, 1, 4, 2}, /* correlation 4, one layer, 4 species */
      {2, 2, 3, 2, 2, 2}, /* correlation 3 with l = 2 messages */
  };
  const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
  for (int k = 0; k < n_shapes; ++k) test_forces_fd(&shapes[k], k % 2 == 0);
  test_virial(&shapes[0]);
  test_virial(&shapes[1]);
  for (int k = 0; k < n_shapes; ++k) test_symmetries(&shapes[k]);
  test_threads(&shapes[0]);
  test_threads(&shapes[1]);
  for (int k = 0; k < n_shapes; ++k) test_param_gradient(&shapes[k]);
  test_cutoff_crossing();
  test_model_files(dir);
  test_refusals();
  printf("%d passed, %d failed\n", n_pass, n_fail);
  return n_fail ? 1 : 0;
}
