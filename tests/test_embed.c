/* Tests of what a program embedding the library relies on (nnp.h, "Threads", "Locale"): several threads parsing
 * and evaluating at once, model files read and written the same under a comma-decimal LC_NUMERIC, and no OpenBLAS
 * or OpenMP setting of the caller changed by any call.
 *
 *   test_embed threads POTENTIALS_DIR WORKDIR [ROUNDS]   threads parse the shipped models and evaluate, bitwise
 *   test_embed locale POTENTIALS_DIR WORKDIR LOCALE      the same files and numbers under LOCALE (exit 77: none)
 *   test_embed settings POTENTIALS_DIR WORKDIR           OpenBLAS / OpenMP thread counts before, during, after
 *   test_embed overflow POTENTIALS_DIR                   neighbour-list offsets past 2^31, the per-atom limit
 *
 * Prints one line per failed check and "N passed, M failed"; exit status 1 when any failed. */
#include "extxyz.h"
#include "nnp.h"

#include <locale.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The reader's next frame as 1 (read), 0 (end of file) or -1 (an error, in err). */
static inline int next_frame(xyz_reader *r, xyz_frame *f, nnp_error *err) {
  int got = 0;
  return xyz_reader_next(r, f, &got, err) ? -1 : got;
}

static int n_pass, n_fail;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    const int ok_ = (cond);                                                                                            \
    pthread_mutex_lock(&count_lock);                                                                                   \
    if (ok_) {                                                                                                         \
      ++n_pass;                                                                                                        \
    } else {                                                                                                           \
      ++n_fail;                                                                                                        \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                      \
      printf(__VA_ARGS__);                                                                                             \
      printf("\n");                                                                                                    \
    }                                                                                                                  \
    pthread_mutex_unlock(&count_lock);                                                                                 \
  } while (0)

/* weak: present when OpenBLAS is linked (the settings test skips its BLAS half otherwise) */
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));

static const char *const model_names[] = {"water-revpbe0d3", "nacl-water-revpbe0d3"};
enum { N_MODELS = 2 };

/* One shipped model: its file's bytes, the first structure of its check file, and the results of one evaluation in
 * the C locale on the main thread that every other evaluation must reproduce bitwise. */
typedef struct {
  char *bytes;
  size_t n_bytes;
  int n_atoms;
  int *species;
  double *positions, cell[3][3];
  int pbc[3];
  double energy, virial[6], *forces;
} shipped;

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)len + 1);
  if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) b[len] = '\0', *n = (size_t)len;
  return b;
}

/* Energy, forces (folded onto the owners) and virial of s with model m; forces has 3 n_atoms doubles. */
static nnp_status evaluate(const nnp_model *m, const shipped *s, int n_threads, nnp_exchange_fn exchange,
                           double *energy, double *forces, double virial[6], nnp_error *err) {
  nnp_cell_graph *g = NULL;
  nnp_workspace *ws = NULL;
  double *f_all = NULL;
  nnp_status st =
      nnp_cell_graph_build(s->n_atoms, s->species, s->positions, s->cell, s->pbc, nnp_model_hyper(m)->r_cut, &g, err);
  if (!st) st = nnp_workspace_create(m, n_threads, &ws, err);
  if (!st) {
    nnp_graph view = *nnp_cell_graph_view(g);
    if (exchange) view.exchange = exchange; /* a wrapper that calls the cell graph's own (settings test) */
    f_all = malloc(3 * (size_t)view.n_total * sizeof *f_all);
    nnp_result r = {0, {0}, NULL, f_all, NULL};
    st = f_all ? nnp_compute(m, ws, &view, &r, err) : NNP_ERR_NOMEM;
    if (!st) {
      nnp_cell_graph_fold(g, f_all, 3);
      memcpy(forces, f_all, 3 * (size_t)s->n_atoms * sizeof *forces);
      *energy = r.energy;
      memcpy(virial, r.virial, sizeof r.virial);
    }
  }
  free(f_all);
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  return st;
}

static int load_shipped(const char *dir, int k, shipped *s) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.nnp", dir, model_names[k]);
  s->bytes = slurp(path, &s->n_bytes);
  if (!s->bytes) return printf("cannot read %s\n", path), -1;
  nnp_model *m = NULL;
  nnp_error err;
  if (nnp_model_parse(s->bytes, s->n_bytes, &m, &err)) return printf("%s: %s\n", path, err.message), -1;
  snprintf(path, sizeof path, "%s/%s.check.xyz", dir, model_names[k]);
  xyz_reader *rd = NULL;
  nnp_error xe;
  xyz_frame fr;
  xyz_frame_init(&fr);
  if (xyz_reader_open(path, &rd, &xe) || next_frame(rd, &fr, &xe) != 1) return printf("%s\n", xe.message), -1;
  xyz_reader_close(rd);
  s->n_atoms = fr.n_atoms;
  s->species = malloc((size_t)fr.n_atoms * sizeof *s->species);
  s->positions = malloc(3 * (size_t)fr.n_atoms * sizeof *s->positions);
  s->forces = malloc(3 * (size_t)fr.n_atoms * sizeof *s->forces);
  for (int i = 0; i < fr.n_atoms; ++i) s->species[i] = nnp_model_species_index(m, fr.symbols[i]);
  memcpy(s->positions, fr.positions, 3 * (size_t)fr.n_atoms * sizeof *s->positions);
  memcpy(s->cell, fr.cell, sizeof s->cell);
  memcpy(s->pbc, fr.pbc, sizeof s->pbc);
  xyz_frame_free(&fr);
  nnp_status st = evaluate(m, s, 1, NULL, &s->energy, s->forces, s->virial, &err);
  nnp_model_free(m);
  if (st) return printf("%s: %s\n", model_names[k], err.message), -1;
  return 0;
}

static void free_shipped(shipped *s) {
  free(s->bytes);
  free(s->species);
  free(s->positions);
  free(s->forces);
}

/* Whether a fresh evaluation reproduces the reference bitwise (same operations in the same order: any difference
 * means a parsed weight or a shared buffer went wrong). */
static int same_results(const shipped *s, double energy, const double *forces, const double *virial) {
  return energy == s->energy && !memcmp(forces, s->forces, 3 * (size_t)s->n_atoms * sizeof *forces) &&
         !memcmp(virial, s->virial, 6 * sizeof *virial);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Threads                                                                                                           */

typedef struct {
  const shipped *models;
  const char *workdir;
  int id, rounds;
  int parse_errors, wrong_results, write_errors;
  char first_error[512];
} worker;

enum { PARSES_PER_ROUND = 8 };

/* Every round: parse both models from memory (several times) and evaluate their structures with a two-thread workspace;
 * every fourth round also write the model and read the file back (the writer's number formatting). */
static void *work(void *arg) {
  worker *w = arg;
  double *forces = NULL;
  for (int round = 0; round < w->rounds; ++round)
    for (int k = 0; k < N_MODELS; ++k) {
      const shipped *s = &w->models[k];
      nnp_model *m = NULL;
      nnp_error err;
      /* parses outnumber evaluations so that the threads' parses overlap often (strtok's hidden state failed one
       * parse in a few hundred here) */
      for (int p = 0; p < PARSES_PER_ROUND; ++p) {
        nnp_model_free(m);
        m = NULL;
        if (nnp_model_parse(s->bytes, s->n_bytes, &m, &err) && !w->parse_errors++)
          snprintf(w->first_error, sizeof w->first_error, "%s", err.message);
      }
      if (!m) continue;
      if (round % 4 == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/thread%d-%s.nnp", w->workdir, w->id, model_names[k]);
        nnp_model *back = NULL;
        if (nnp_model_write(m, path, &err) || nnp_model_read(path, &back, &err) ||
            nnp_model_param_count(back) != nnp_model_param_count(m) ||
            memcmp(nnp_model_params_const(back), nnp_model_params_const(m),
                   nnp_model_param_count(m) * sizeof(double))) {
          if (!w->write_errors++) snprintf(w->first_error, sizeof w->first_error, "write/read: %.480s", err.message);
        }
        nnp_model_free(back);
      }
      double *grown = realloc(forces, 3 * (size_t)s->n_atoms * sizeof *forces);
      if (!grown) abort();
      forces = grown;
      double energy = 0, virial[6];
      nnp_status st = evaluate(m, s, 2, NULL, &energy, forces, virial, &err);
      if (st || !same_results(s, energy, forces, virial)) {
        if (!w->wrong_results++)
          snprintf(w->first_error, sizeof w->first_error, "%s", st ? err.message : "results differ");
      }
      nnp_model_free(m);
    }
  free(forces);
  return NULL;
}

static void test_threads(const shipped *models, const char *workdir, int rounds) {
  enum { N_THREADS = 4 };
  pthread_t tid[N_THREADS];
  worker w[N_THREADS];
  for (int t = 0; t < N_THREADS; ++t) {
    w[t] = (worker){models, workdir, t, rounds, 0, 0, 0, ""};
    CHECK(pthread_create(&tid[t], NULL, work, &w[t]) == 0, "cannot start thread %d", t);
  }
  for (int t = 0; t < N_THREADS; ++t) {
    pthread_join(tid[t], NULL);
    CHECK(w[t].parse_errors == 0, "thread %d: %d of %d parses failed, first: %s", t, w[t].parse_errors,
          rounds * N_MODELS * PARSES_PER_ROUND, w[t].first_error);
    CHECK(w[t].write_errors == 0, "thread %d: %d model write/read round trips failed, first: %s", t, w[t].write_errors,
          w[t].first_error);
    CHECK(w[t].wrong_results == 0, "thread %d: %d evaluations failed or differ from the main thread's, first: %s", t,
          w[t].wrong_results, w[t].first_error);
  }
  printf("threads: %d threads x %d rounds x %d models\n", N_THREADS, rounds, N_MODELS);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Locale                                                                                                            */

/* Model file bytes written by the library in the current locale (caller frees). */
static char *written(const nnp_model *m, const char *path, size_t *n) {
  nnp_error err;
  if (nnp_model_write(m, path, &err)) {
    CHECK(0, "writing %s: %s", path, err.message);
    return NULL;
  }
  return slurp(path, n);
}

static int test_locale(const shipped *models, const char *workdir, const char *name) {
  /* what the library writes in the C locale, to compare with what it writes under `name` */
  char *c_text[N_MODELS] = {NULL};
  size_t c_len[N_MODELS] = {0};
  char path[4096];
  nnp_error err;
  for (int k = 0; k < N_MODELS; ++k) {
    nnp_model *m = NULL;
    if (nnp_model_parse(models[k].bytes, models[k].n_bytes, &m, &err)) {
      CHECK(0, "%s", err.message);
      return 1;
    }
    snprintf(path, sizeof path, "%s/c-%s.nnp", workdir, model_names[k]);
    c_text[k] = written(m, path, &c_len[k]);
    nnp_model_free(m);
  }
  if (!setlocale(LC_ALL, name)) {
    printf("SKIP: the locale '%s' is not available (generate it with localedef, see tests/CMakeLists.txt)\n", name);
    for (int k = 0; k < N_MODELS; ++k) free(c_text[k]);
    return 77;
  }
  /* the test means something only where the C library really writes and reads a decimal comma */
  char probe[32];
  snprintf(probe, sizeof probe, "%.1f", 0.5);
  char *end;
  const double half = strtod("0,5", &end);
  CHECK(!strcmp(probe, "0,5") && half == 0.5 && *end == '\0',
        "locale '%s' does not use a decimal comma (printf gives '%s'); the test would prove nothing", name, probe);
  for (int k = 0; k < N_MODELS; ++k) {
    const shipped *s = &models[k];
    nnp_model *m = NULL;
    nnp_status st = nnp_model_parse(s->bytes, s->n_bytes, &m, &err);
    CHECK(st == NNP_OK, "%s under %s: %s", model_names[k], name, st ? err.message : "");
    if (st) continue;
    double energy = 0, virial[6], *forces = malloc(3 * (size_t)s->n_atoms * sizeof *forces);
    st = evaluate(m, s, 1, NULL, &energy, forces, virial, &err);
    CHECK(!st && same_results(s, energy, forces, virial),
          "%s under %s: evaluation %s (energy %.17g, in the C locale %.17g)", model_names[k], name,
          st ? err.message : "differs", energy, s->energy);
    free(forces);
    snprintf(path, sizeof path, "%s/%s-%s.nnp", workdir, name, model_names[k]);
    size_t len = 0;
    char *text = written(m, path, &len);
    CHECK(text && c_text[k] && len == c_len[k] && !memcmp(text, c_text[k], len),
          "%s: the file written under %s differs from the one written in the C locale", model_names[k], name);
    free(text);
    nnp_model_free(m);
  }
  /* baseline lines: parsed and formatted with a decimal point as well */
  nnp_hyper h;
  const char *const species[] = {"O", "H", "Na", "Cl"};
  if (!nnp_hyper_default(&h, 4, species, &err)) {
    nnp_status st = nnp_baseline_parse(&h, "coulomb 10.5 1e-6 O:-0.834 H:0.417 Na:1 Cl:-1", &err);
    CHECK(st == NNP_OK && h.baseline.coul_cutoff == 10.5 && h.baseline.charge[1] == 0.417, "baseline line under %s: %s",
          name, st ? err.message : "wrong values");
    char line[512];
    nnp_baseline_format(&h, line, sizeof line);
    CHECK(strstr(line, "10.5 ") && strstr(line, "0.417") && !strchr(line, ','),
          "baseline line formatted under %s: '%s'", name, line);
  }
  setlocale(LC_ALL, "C");
  for (int k = 0; k < N_MODELS; ++k) free(c_text[k]);
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* OpenBLAS and OpenMP settings                                                                                      */

typedef struct {
  const nnp_graph *inner;
  int max_threads_seen;
} exchange_probe;

static exchange_probe probe;

/* The exchange callback runs on the caller's thread in the middle of an evaluation: it sees the OpenMP default the
 * caller set unless the library changed it. Calls the cell graph's own exchange. */
static int probing_exchange(void *ctx, double *data, int width, int direction) {
  probe.max_threads_seen = omp_get_max_threads();
  return probe.inner->exchange(probe.inner->exchange_ctx, data, width, direction);
}

static void test_settings(const shipped *models, const char *workdir) {
  const int blas = openblas_set_num_threads && openblas_get_num_threads;
  if (blas) openblas_set_num_threads(3);
  omp_set_num_threads(3);
  if (!blas) printf("note: OpenBLAS is not linked; only the OpenMP settings are checked\n");
  for (int k = 0; k < N_MODELS; ++k) {
    const shipped *s = &models[k];
    nnp_model *m = NULL;
    nnp_error err;
    if (nnp_model_parse(s->bytes, s->n_bytes, &m, &err)) {
      CHECK(0, "%s", err.message);
      continue;
    }
    /* the probe needs the cell graph's exchange context: build one just to borrow it */
    nnp_cell_graph *g = NULL;
    if (nnp_cell_graph_build(s->n_atoms, s->species, s->positions, s->cell, s->pbc, nnp_model_hyper(m)->r_cut, &g,
                             &err)) {
      CHECK(0, "%s", err.message);
      nnp_model_free(m);
      continue;
    }
    probe.inner = nnp_cell_graph_view(g);
    probe.max_threads_seen = -1;
    double energy = 0, virial[6], *forces = malloc(3 * (size_t)s->n_atoms * sizeof *forces);
    /* the workspace asks for 2 threads while the caller's default is 3 */
    nnp_status st = evaluate(m, s, 2, probing_exchange, &energy, forces, virial, &err);
    nnp_cell_graph_free(g);
    CHECK(!st && same_results(s, energy, forces, virial), "%s: %s", model_names[k], st ? err.message : "differs");
    CHECK(probe.max_threads_seen == 3, "%s: inside the evaluation the caller's OpenMP default was %d, not the 3 it set",
          model_names[k], probe.max_threads_seen);
    /* the rest of the API that evaluates or touches numbers */
    nnp_train_radial *rad = NULL;
    nnp_train_workspace *tw = NULL;
    const nnp_graph *view = NULL;
    nnp_cell_graph_build(s->n_atoms, s->species, s->positions, s->cell, s->pbc, nnp_model_hyper(m)->r_cut, &g, &err);
    view = nnp_cell_graph_view(g);
    double *f_all = calloc(3 * (size_t)view->n_total, sizeof *f_all);
    double *grad = calloc(nnp_model_param_count(m), sizeof *grad);
    st = nnp_train_radial_build(m, 0.0, &rad, &err);
    if (!st) st = nnp_train_workspace_create(m, &tw, &err);
    if (!st) st = nnp_train_forces(m, tw, rad, view, &energy, f_all, &err);
    if (!st) st = nnp_train_gradient(m, tw, rad, view, f_all, 1.0, 0.5, grad, NULL, &err);
    CHECK(!st, "%s: training passes: %s", model_names[k], st ? err.message : "");
    char path[4096];
    snprintf(path, sizeof path, "%s/settings-%s.nnp", workdir, model_names[k]);
    CHECK(!nnp_model_write(m, path, &err), "%s", err.message);
    nnp_workspace *ws = NULL;
    st = nnp_workspace_create(m, 1, &ws, &err);
    if (!st) st = nnp_workspace_tabulate_radial(ws, 0.01, &err);
    CHECK(!st, "%s: %s", model_names[k], st ? err.message : "");
    nnp_workspace_free(ws);
    nnp_train_workspace_free(tw);
    nnp_train_radial_free(rad);
    free(grad);
    free(f_all);
    free(forces);
    nnp_cell_graph_free(g);
    nnp_model_free(m);
    CHECK(omp_get_max_threads() == 3, "%s: after the calls the OpenMP default is %d, not 3", model_names[k],
          omp_get_max_threads());
    if (blas)
      CHECK(openblas_get_num_threads() == 3, "%s: after the calls OpenBLAS runs %d threads, not 3", model_names[k],
            openblas_get_num_threads());
  }
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* 64-bit sizes                                                                                                      */

/* One water molecule (atoms 1-3, full lists) behind an ignored atom 0 (species -1) whose list holds `ignored`
 * entries, so that the molecule's entries sit at offsets `ignored` and up. neigh_index is a private anonymous mapping
 * that reserves no memory: only the page holding the molecule's six entries is ever touched (an
 * ignored atom's list is not read), so offsets past 2^31 cost nothing. Returns the status of the evaluation with
 * n_threads threads, the energy and forces (4 x 3) in *energy, forces. */
static nnp_status molecule_behind(const nnp_model *m, int64_t ignored, int64_t first_entries, int n_threads,
                                  double *energy, double *forces, nnp_error *err) {
  const size_t n_index = (size_t)(ignored + first_entries + 4);
  int *index =
      mmap(NULL, n_index * sizeof *index, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (index == MAP_FAILED) return snprintf(err->message, sizeof err->message, "mmap failed"), NNP_ERR_NOMEM;
  const int species[4] = {-1, 0, 1, 1}; /* -, O, H, H */
  const double pos[12] = {50, 50, 50, 0, 0, 0, 0.96, 0, 0, -0.24, 0.93, 0};
  /* atom 1's list may be made longer (first_entries > 2) to cross the per-atom limit; its extra entries are 0 */
  const int64_t offset[5] = {0, ignored, ignored + first_entries, ignored + first_entries + 2,
                             ignored + first_entries + 4};
  const int lists[4][2] = {{0, 0}, {2, 3}, {1, 3}, {1, 2}};
  for (int i = 1; i < 4; ++i) index[offset[i]] = lists[i][0], index[offset[i] + 1] = lists[i][1];
  const nnp_graph g = {4, 4, species, pos, offset, index, NULL, NULL};
  nnp_workspace *ws;
  nnp_status st = nnp_workspace_create(m, n_threads, &ws, err);
  nnp_result r = {0, {0}, NULL, forces, NULL};
  if (!st) st = nnp_compute(m, ws, &g, &r, err);
  *energy = r.energy;
  nnp_workspace_free(ws);
  munmap(index, n_index * sizeof *index);
  return st;
}

/* 64-bit neighbour-list offsets (nnp.h, "Sizes"): a molecule whose lists start past 2^31 entries evaluates bitwise
 * as the same molecule at offset 0, with one and two threads; an atom whose own list passes
 * NNP_MAX_NEIGHBOURS_PER_ATOM is refused with a message that names the limit, before anything is allocated for its
 * edges; a dense cluster of 2000 atoms still builds its 2000 x 1999 entries. */
static void test_overflow(const char *potentials) {
  char path[4096];
  snprintf(path, sizeof path, "%s/water-revpbe0d3.nnp", potentials);
  nnp_model *m;
  nnp_error err = {""};
  if (nnp_model_read(path, &m, &err)) {
    CHECK(0, "%s", err.message);
    return;
  }
  double e0, f0[12], e, f[12];
  nnp_status st = molecule_behind(m, 0, 2, 1, &e0, f0, &err);
  CHECK(st == NNP_OK, "the molecule at offset 0: %s", err.message);
  const int64_t beyond = ((int64_t)1 << 31) + 5; /* the molecule's entries start past INT_MAX */
  for (int threads = 1; threads <= 2; ++threads) {
    memset(f, 0, sizeof f);
    st = molecule_behind(m, beyond, 2, threads, &e, f, &err);
    CHECK(st == NNP_OK && e == e0 && !memcmp(f, f0, sizeof f),
          "the molecule behind %lld entries, %d threads: status %d '%s', energy %.17g vs %.17g", (long long)beyond,
          threads, (int)st, st ? err.message : "", e, e0);
  }
  st = molecule_behind(m, 0, (int64_t)NNP_MAX_NEIGHBOURS_PER_ATOM + 1, 1, &e, f, &err);
  CHECK(st == NNP_ERR_ARGUMENT && strstr(err.message, "1073741823") && strstr(err.message, "atom 1 "),
        "an atom with %lld entries: status %d, message '%s'", (long long)NNP_MAX_NEIGHBOURS_PER_ATOM + 1, (int)st,
        err.message);
  printf("overflow: %s\n", err.message);
  nnp_model_free(m);

  const int n = 2000;
  int *species = calloc((size_t)n, sizeof *species);
  double *pos = malloc(3 * (size_t)n * sizeof *pos);
  unsigned long long state = 12345;
  for (int q = 0; q < 3 * n; ++q) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    pos[q] = 10.0 * (double)(state >> 11) / 9007199254740992.0;
  }
  const double cell[3][3] = {{0}};
  const int open[3] = {0, 0, 0};
  nnp_cell_graph *g = NULL;
  st = nnp_cell_graph_build(n, species, pos, cell, open, 100.0, &g, &err);
  CHECK(st == NNP_OK && nnp_cell_graph_view(g)->neigh_offset[n] == (int64_t)n * (n - 1),
        "a dense cluster of 2000 atoms: %s", st ? err.message : "wrong entry count");
  nnp_cell_graph_free(g);
  free(species);
  free(pos);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "overflow")) {
    test_overflow(argv[2]);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
  }
  if (argc < 4) {
    fprintf(stderr, "usage: test_embed threads|locale|settings POTENTIALS_DIR WORKDIR [ROUNDS|LOCALE]\n");
    return 2;
  }
  const char *mode = argv[1];
  shipped models[N_MODELS];
  memset(models, 0, sizeof models);
  for (int k = 0; k < N_MODELS; ++k)
    if (load_shipped(argv[2], k, &models[k])) return 1;
  int rc = 0;
  if (!strcmp(mode, "threads"))
    test_threads(models, argv[3], argc > 4 ? atoi(argv[4]) : 16);
  else if (!strcmp(mode, "locale"))
    rc = test_locale(models, argv[3], argc > 4 ? argv[4] : "de_DE.UTF-8");
  else if (!strcmp(mode, "settings"))
    test_settings(models, argv[3]);
  else
    return fprintf(stderr, "test_embed: unknown mode '%s'\n", mode), 2;
  for (int k = 0; k < N_MODELS; ++k) free_shipped(&models[k]);
  printf("%d passed, %d failed\n", n_pass, n_fail);
  return n_fail ? 1 : rc;
}
