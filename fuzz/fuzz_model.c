/* libFuzzer harness for the model-file parser (nnp_model_parse).
 *
 * The input is a model file. Its checksum line is recomputed (and added when missing), so mutations reach the header
 * and parameter parsers instead of stopping at the checksum. A model that parses is then evaluated on a small
 * periodic structure (energy, forces, virial; exactly and from radial tables), written and read back: the round trip
 * must reproduce every parameter and the energy bit for bit, or the harness aborts (a finding).
 * Build and run: fuzz/run.sh (fuzz/README.md). */
#include "nnp.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Evaluation is skipped for models that would make one input take seconds: the parser is what is fuzzed, and the
 * evaluation of large models is covered by the test suite. */
enum { MAX_EVAL_PARAMS = 20000 };
#define MAX_EVAL_RCUT 8.0 /* Angstrom: the 6 A test cell then needs at most 3 images each way */

static char model_path[4096];

static uint64_t fnv1a64(const char *b, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ (unsigned char)b[i]) * 0x100000001b3ull;
  return h;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *tmp = getenv("TMPDIR");
  snprintf(model_path, sizeof model_path, "%s/nnp_fuzz_model_%ld.nnp", tmp && *tmp ? tmp : "/tmp", (long)getpid());
  return 0;
}

/* Length of the input without a final 'checksum ...' line (and trailing blank space). */
static size_t body_length(const char *b, size_t n) {
  size_t end = n;
  while (end > 0 && (b[end - 1] == '\n' || b[end - 1] == '\r' || b[end - 1] == ' ')) --end;
  size_t start = end;
  while (start > 0 && b[start - 1] != '\n') --start;
  return end - start >= 9 && !strncmp(b + start, "checksum ", 9) ? start : n;
}

/* Energy of 6 atoms in a 6 A periodic box (species cycling through the model's), or NAN when it is refused. */
static double evaluate(const nnp_model *m, double radial_step, double *forces) {
  static const double pos[6][3] = {{0.1, 0.2, 0.3}, {1.9, 0.4, 0.1}, {0.5, 2.2, 1.1},
                                   {3.1, 3.3, 2.9}, {4.4, 1.2, 4.0}, {2.0, 4.5, 4.6}};
  const double cell[3][3] = {{6, 0, 0}, {0.5, 6, 0}, {0, 0.3, 6}};
  const int pbc[3] = {1, 1, 0};
  const nnp_hyper *h = nnp_model_hyper(m);
  int species[6];
  for (int i = 0; i < 6; ++i) species[i] = i % h->n_species;
  nnp_cell_graph *g = NULL;
  nnp_workspace *ws = NULL;
  nnp_error err;
  double energy = NAN;
  nnp_status st = nnp_cell_graph_build(6, species, &pos[0][0], cell, pbc, h->r_cut, &g, &err);
  if (!st) st = nnp_workspace_create(m, 1, &ws, &err);
  if (!st && radial_step > 0) st = nnp_workspace_tabulate_radial(ws, radial_step, &err);
  if (!st) {
    const nnp_graph *v = nnp_cell_graph_view(g);
    double *f = calloc(3 * (size_t)v->n_total, sizeof *f);
    double *av = calloc(6 * (size_t)v->n_total, sizeof *av);
    double ae[6];
    nnp_result r = {0, {0}, ae, f, av};
    if (f && av && nnp_compute(m, ws, v, &r, &err) == NNP_OK) {
      nnp_cell_graph_fold(g, f, 3);
      memcpy(forces, f, 18 * sizeof *f);
      energy = r.energy;
    }
    free(f);
    free(av);
  }
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  return energy;
}

static void round_trip(const nnp_model *m, double energy) {
  nnp_error err;
  nnp_model *back = NULL;
  if (nnp_model_write(m, model_path, &err) != NNP_OK) return; /* e.g. a full disk: not the parser's business */
  if (nnp_model_read(model_path, &back, &err) != NNP_OK) {
    fprintf(stderr, "a model that parsed does not read back after writing: %s\n", err.message);
    abort();
  }
  const size_t n = nnp_model_param_count(m);
  if (nnp_model_param_count(back) != n ||
      memcmp(nnp_model_params_const(back), nnp_model_params_const(m), n * sizeof(double)) ||
      memcmp(nnp_model_hyper(back), nnp_model_hyper(m), sizeof(nnp_hyper)) ||
      nnp_model_meta_count(back) != nnp_model_meta_count(m)) {
    fprintf(stderr, "write + read changed the model\n");
    abort();
  }
  double f[18];
  if (isfinite(energy) && nnp_model_param_count(m) <= MAX_EVAL_PARAMS) {
    const double again = evaluate(back, 0.0, f);
    if (!(again == energy)) {
      fprintf(stderr, "the read-back model gives energy %.17g instead of %.17g\n", again, energy);
      abort();
    }
  }
  nnp_model_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  const size_t body = body_length((const char *)data, size);
  char *buf = malloc(body + 64);
  if (!buf) return 0;
  memcpy(buf, data, body);
  size_t len = body;
  if (len > 0 && buf[len - 1] != '\n') buf[len++] = '\n';
  len += (size_t)snprintf(buf + len, 64, "checksum %016llx\n", (unsigned long long)fnv1a64(buf, len));
  nnp_model *m = NULL;
  nnp_error err;
  if (nnp_model_parse(buf, len, &m, &err) == NNP_OK) {
    double energy = NAN, f[18];
    if (nnp_model_param_count(m) <= MAX_EVAL_PARAMS && nnp_model_hyper(m)->r_cut <= MAX_EVAL_RCUT) {
      energy = evaluate(m, 0.0, f);
      evaluate(m, 0.05, f);
    }
    round_trip(m, energy);
    nnp_model_free(m);
  }
  free(buf);
  return 0;
}
