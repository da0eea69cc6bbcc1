/* pnnp-init: write a model with random weights from a hyperparameter file.
 *
 *   pnnp-init HYPER_FILE OUT.nnp [--seed N]
 *
 * The hyperparameter file uses the header grammar of the model file ("key values..."; docs/model.md), read by the
 * core's parser (hyper_file.h): `species` is required, every other key overrides nnp_hyper_default(). `#` starts a
 * comment; blank lines are ignored.
 */
#include "hyper_file.h"
#include "nnp.h"
#include "tool_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: pnnp-init HYPER_FILE OUT.nnp [--seed N]\n"
    "\n"
    "Write a pair_nnp model (docs/model.md) with random weights drawn from a seeded generator.\n"
    "\n"
    "HYPER_FILE holds `key values...` lines (`#` starts a comment); `species` is required, the other keys\n"
    "override the defaults of nnp_hyper_default():\n"
    "  species A B ...          element symbols (required)\n"
    "  r_cut R                  largest cutoff (Angstrom); resets every pair cutoff to R\n"
    "  pair_cutoff A B R        cutoff of one species pair (<= r_cut); one line per pair\n"
    "  r_min R                  closest approach the model accepts (Angstrom)\n"
    "  l_max L (0..6), channels C (1..1024), layers T (1..16), radial_basis N (1..64), envelope_p P (2..32),\n"
    "  readout_hidden H (1..4096)   integers (the limits of nnp.h)\n"
    "  radial_hidden H1 H2 ...  hidden widths of the radial MLP (1 to 8 numbers, each 1..4096)\n"
    "  avg_num_neighbors NU     message normalisation\n"
    "  energy_shift E1 E2 ...   one number per species (eV)\n"
    "  energy_scale S1 S2 ...   one number per species (eV)\n"
    "  units metal              accepted for symmetry with the model file\n"
    "  interaction tensor|product   the interaction family (default tensor; docs/model.md)\n"
    "  correlation N, message_l_max L   product family: correlation order 1..4, degree of the features\n"
    "                           between layers 0..min(l_max, 2) (both required with `interaction product`)\n"
    "  paths, gate_activation, readout_activation, residual, radial_frequencies   model options (docs/model.md)\n"
    "  baseline d3 DAMPING FUNCTIONAL CUTOFF CN_CUTOFF, baseline coulomb CUTOFF ACCURACY El:q ...\n"
    "                           a long-range baseline computed by LAMMPS (docs/model.md, \"Baselines\")\n"
    "\n"
    "options:\n"
    "  --seed N   seed of the weight generator (default 1)\n"
    "  --help     show this text\n";

typedef struct {
  const char *hyper_path;
  const char *out_path;
  unsigned long long seed;
} init_options;

/* ---------------------------------------------------------------------------------------------------------------- */
/* Command line                                                                                                      */

static int parse_seed(const char *s, unsigned long long *seed) {
  char *end;
  errno = 0;
  if (*s == '-') return -1;
  *seed = strtoull(s, &end, 0);
  return (end == s || *end != '\0' || errno == ERANGE) ? -1 : 0;
}

/* 0: run, 1: help was shown, -1: bad usage. */
static int parse_args(int argc, char **argv, init_options *o) {
  int n_pos = 0;
  o->seed = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage_text, stdout);
      return 1;
    } else if (strcmp(a, "--seed") == 0) {
      if (i + 1 >= argc || parse_seed(argv[++i], &o->seed) != 0) {
        fprintf(stderr, "pnnp-init: --seed needs a non-negative integer\n");
        return -1;
      }
    } else if (a[0] == '-' && a[1] == '-') {
      fprintf(stderr, "pnnp-init: unknown option %s (see --help)\n", a);
      return -1;
    } else if (n_pos == 0) {
      o->hyper_path = a;
      n_pos++;
    } else if (n_pos == 1) {
      o->out_path = a;
      n_pos++;
    } else {
      fprintf(stderr, "pnnp-init: unexpected argument %s (see --help)\n", a);
      return -1;
    }
  }
  if (n_pos != 2) {
    fprintf(stderr, "pnnp-init: expected HYPER_FILE and OUT.nnp\n%s", usage_text);
    return -1;
  }
  return 0;
}

static nnp_status write_model(const init_options *o, const nnp_hyper *h, nnp_error *err) {
  nnp_model *model = NULL;
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", o->seed);
  nnp_status st = nnp_model_create_random(h, (uint64_t)o->seed, &model, err);
  if (st == NNP_OK) st = nnp_model_set_meta(model, "created_by", "pnnp-init", err);
  if (st == NNP_OK) st = nnp_model_set_meta(model, "seed", seed, err);
  if (st == NNP_OK) st = nnp_model_set_meta(model, "hyperparameter_file", o->hyper_path, err);
  if (st != NNP_OK) {
    nnp_model_free(model);
    return tool_prefix(err, st, o->hyper_path);
  }
  st = nnp_model_write(model, o->out_path, err);
  nnp_model_free(model);
  return st ? tool_prefix(err, st, o->out_path) : NNP_OK;
}

int main(int argc, char **argv) {
  init_options o = {NULL, NULL, 1};
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) return rc > 0 ? 0 : 2;
  nnp_hyper h;
  nnp_error err;
  nnp_status st = hyper_file_read(o.hyper_path, &h, NULL, NULL, &err);
  if (!st) st = write_model(&o, &h, &err);
  if (st) {
    fprintf(stderr, "pnnp-init: %s\n", err.message);
    return 1;
  }
  return 0;
}
