/* nnp-init: write a model with random weights from a hyperparameter file.
 *
 *   nnp-init HYPER_FILE OUT.nnp [--seed N]
 *
 * The hyperparameter file uses the header syntax of the model file ("key values..."; docs/model.md): `species` is
 * required, every other key overrides nnp_hyper_default(). `#` starts a comment; blank lines are ignored.
 */
#include "extxyz.h"
#include "nnp.h"
#include "numbers.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE   4096
#define MAX_TOKENS (NNP_MAX_SPECIES + 8)

static const char usage_text[] =
    "usage: nnp-init HYPER_FILE OUT.nnp [--seed N]\n"
    "\n"
    "Write a pair_nnp model (docs/model.md) with random weights drawn from a seeded generator.\n"
    "\n"
    "HYPER_FILE holds `key values...` lines (`#` starts a comment); `species` is required, the other keys\n"
    "override the defaults of nnp_hyper_default():\n"
    "  species A B ...          element symbols (required)\n"
    "  r_cut R                  largest cutoff (Angstrom); resets every pair cutoff to R\n"
    "  pair_cutoff A B R        cutoff of one species pair (<= r_cut); repeatable\n"
    "  r_min R                  closest approach the model accepts (Angstrom)\n"
    "  l_max L, channels C, layers T, radial_basis N, envelope_p P, readout_hidden H   integers\n"
    "  radial_hidden H1 H2 ...  hidden widths of the radial MLP (1 to 8 numbers)\n"
    "  avg_num_neighbors NU     message normalisation\n"
    "  energy_shift E1 E2 ...   one number per species (eV)\n"
    "  energy_scale S1 S2 ...   one number per species (eV)\n"
    "  units metal              accepted for symmetry with the model file\n"
    "  interaction tensor|product   the interaction family (default tensor; docs/model.md)\n"
    "  correlation N, message_l_max L   product family: correlation order 1..4, degree of the features\n"
    "                           between layers 0..min(l_max, 2) (both required with `interaction product`)\n"
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

/* One non-blank line of the hyperparameter file, split into tokens (pointers into text). */
typedef struct {
  long line;
  char text[MAX_LINE];
  int n_tok;
  char *tok[MAX_TOKENS];
} hyper_line;

typedef struct {
  const char *path;
  hyper_line **lines;
  int n_lines;
} hyper_file;

/* "nnp-init: <file>: <what>", without repeating the file when the message already starts with it. */
static int report(const char *file, const char *what) {
  size_t n = strlen(file);
  if (strncmp(what, file, n) == 0 && what[n] == ':')
    fprintf(stderr, "nnp-init: %s\n", what);
  else
    fprintf(stderr, "nnp-init: %s: %s\n", file, what);
  return -1;
}

static int fail_line(const hyper_file *f, const hyper_line *l, const char *what, const char *detail) {
  fprintf(stderr, "nnp-init: %s:%ld: %s%s%s\n", f->path, l->line, what, detail ? ": " : "", detail ? detail : "");
  return -1;
}

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
        fprintf(stderr, "nnp-init: --seed needs a non-negative integer\n");
        return -1;
      }
    } else if (a[0] == '-' && a[1] == '-') {
      fprintf(stderr, "nnp-init: unknown option %s (see --help)\n", a);
      return -1;
    } else if (n_pos == 0) {
      o->hyper_path = a;
      n_pos++;
    } else if (n_pos == 1) {
      o->out_path = a;
      n_pos++;
    } else {
      fprintf(stderr, "nnp-init: unexpected argument %s (see --help)\n", a);
      return -1;
    }
  }
  if (n_pos != 2) {
    fprintf(stderr, "nnp-init: expected HYPER_FILE and OUT.nnp\n%s", usage_text);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Reading the hyperparameter file                                                                                   */

static int tokenize(hyper_line *l) {
  char *hash = strchr(l->text, '#');
  if (hash) *hash = '\0';
  char *s = l->text;
  l->n_tok = 0;
  for (;;) {
    while (isspace((unsigned char)*s)) s++;
    if (*s == '\0') return 0;
    if (l->n_tok == MAX_TOKENS) return -1;
    l->tok[l->n_tok++] = s;
    while (*s && !isspace((unsigned char)*s)) s++;
    if (*s) *s++ = '\0';
  }
}

/* Lines are allocated one by one: their tokens point into their own text. */
static int append_line(hyper_file *f, const hyper_line *l) {
  hyper_line **lines = realloc(f->lines, (size_t)(f->n_lines + 1) * sizeof *lines);
  hyper_line *dst = malloc(sizeof *dst);
  if (lines) f->lines = lines;
  if (!lines || !dst) {
    free(dst);
    fprintf(stderr, "nnp-init: %s: out of memory\n", f->path);
    return -1;
  }
  *dst = *l;
  for (int i = 0; i < l->n_tok; i++) dst->tok[i] = dst->text + (l->tok[i] - l->text);
  lines[f->n_lines++] = dst;
  return 0;
}

static void free_hyper_file(hyper_file *f) {
  for (int i = 0; i < f->n_lines; i++) free(f->lines[i]);
  free(f->lines);
}

static int read_hyper_file(const char *path, hyper_file *f) {
  FILE *fp = fopen(path, "r");
  f->path = path;
  f->lines = NULL;
  f->n_lines = 0;
  if (!fp) {
    fprintf(stderr, "nnp-init: %s: cannot open for reading: %s\n", path, strerror(errno));
    return -1;
  }
  hyper_line l;
  int rc = 0;
  for (l.line = 1; rc == 0 && fgets(l.text, sizeof l.text, fp); l.line++) {
    size_t len = strlen(l.text);
    if (len == sizeof l.text - 1 && l.text[len - 1] != '\n' && !feof(fp)) {
      rc = fail_line(f, &l, "line too long", NULL);
    } else if (tokenize(&l) != 0) {
      rc = fail_line(f, &l, "too many values on one line", NULL);
    } else if (l.n_tok > 0) {
      rc = append_line(f, &l);
    }
  }
  if (rc == 0 && ferror(fp)) {
    fprintf(stderr, "nnp-init: %s: read error\n", path);
    rc = -1;
  }
  fclose(fp);
  return rc;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Values                                                                                                            */

static int species_of(const nnp_hyper *h, const char *symbol) {
  for (int s = 0; s < h->n_species; s++) {
    if (strcmp(h->species[s], symbol) == 0) return s;
  }
  return -1;
}

typedef enum {
  KEY_INT,
  KEY_REAL,
  KEY_INT_LIST,
  KEY_PER_SPECIES,
  KEY_UNITS,
  KEY_SPECIES,
  KEY_PAIR,
  KEY_INTERACTION
} key_kind;

typedef struct {
  const char *name;
  key_kind kind;
  size_t offset; /* into nnp_hyper */
  int lo, hi;    /* range of an integer */
} key_spec;

static const key_spec keys[] = {
    {"species", KEY_SPECIES, 0, 0, 0},
    {"units", KEY_UNITS, 0, 0, 0},
    {"r_cut", KEY_REAL, offsetof(nnp_hyper, r_cut), 0, 0},
    {"pair_cutoff", KEY_PAIR, 0, 0, 0},
    {"r_min", KEY_REAL, offsetof(nnp_hyper, r_min), 0, 0},
    {"l_max", KEY_INT, offsetof(nnp_hyper, l_max), 0, NNP_MAX_L},
    {"channels", KEY_INT, offsetof(nnp_hyper, channels), 1, 1 << 16},
    {"layers", KEY_INT, offsetof(nnp_hyper, layers), 1, 1 << 10},
    {"radial_basis", KEY_INT, offsetof(nnp_hyper, radial_basis), 1, 1 << 10},
    {"radial_hidden", KEY_INT_LIST, offsetof(nnp_hyper, radial_hidden), 1, 1 << 16},
    {"envelope_p", KEY_INT, offsetof(nnp_hyper, envelope_p), 1, 64},
    {"readout_hidden", KEY_INT, offsetof(nnp_hyper, readout_hidden), 1, 1 << 16},
    {"avg_num_neighbors", KEY_REAL, offsetof(nnp_hyper, avg_num_neighbors), 0, 0},
    {"energy_shift", KEY_PER_SPECIES, offsetof(nnp_hyper, energy_shift), 0, 0},
    {"energy_scale", KEY_PER_SPECIES, offsetof(nnp_hyper, energy_scale), 0, 0},
    {"interaction", KEY_INTERACTION, 0, 0, 0},
    {"correlation", KEY_INT, offsetof(nnp_hyper, correlation), 1, 4},
    {"message_l_max", KEY_INT, offsetof(nnp_hyper, message_l_max), 0, 2},
};
enum { N_KEYS = sizeof keys / sizeof keys[0] };

static const key_spec *find_key(const char *name) {
  for (int k = 0; k < N_KEYS; k++) {
    if (strcmp(keys[k].name, name) == 0) return &keys[k];
  }
  return NULL;
}

static int set_int(const hyper_file *f, const hyper_line *l, const key_spec *k, nnp_hyper *h) {
  char range[64];
  snprintf(range, sizeof range, "expected an integer in %d..%d", k->lo, k->hi);
  if (l->n_tok != 2) return fail_line(f, l, k->name, "expected one value");
  if (tool_parse_int(l->tok[1], k->lo, k->hi, (int *)((char *)h + k->offset)) != 0)
    return fail_line(f, l, k->name, range);
  return 0;
}

static int set_real(const hyper_file *f, const hyper_line *l, const key_spec *k, nnp_hyper *h) {
  double v;
  if (l->n_tok != 2) return fail_line(f, l, k->name, "expected one value");
  if (tool_parse_real(l->tok[1], &v) != 0) return fail_line(f, l, k->name, "not a finite number");
  if (v < 0 || (v == 0 && strcmp(k->name, "r_min") != 0)) return fail_line(f, l, k->name, "must be positive");
  *(double *)((char *)h + k->offset) = v;
  if (strcmp(k->name, "r_cut") == 0) { /* pair_cutoff lines, applied later, may lower single pairs */
    for (int a = 0; a < NNP_MAX_SPECIES; a++) {
      for (int b = 0; b < NNP_MAX_SPECIES; b++) h->pair_cutoff[a][b] = v;
    }
  }
  return 0;
}

static int set_int_list(const hyper_file *f, const hyper_line *l, const key_spec *k, nnp_hyper *h) {
  int n = l->n_tok - 1;
  int max = (int)(sizeof h->radial_hidden / sizeof h->radial_hidden[0]);
  if (n < 1 || n > max) return fail_line(f, l, k->name, "expected 1 to 8 integers");
  for (int i = 0; i < n; i++) {
    if (tool_parse_int(l->tok[i + 1], k->lo, k->hi, &h->radial_hidden[i]) != 0)
      return fail_line(f, l, k->name, "expected positive integers");
  }
  h->n_radial_hidden = n;
  return 0;
}

static int set_per_species(const hyper_file *f, const hyper_line *l, const key_spec *k, nnp_hyper *h) {
  double *dst = (double *)((char *)h + k->offset);
  char what[96];
  snprintf(what, sizeof what, "expected %d numbers (one per species)", h->n_species);
  if (l->n_tok - 1 != h->n_species) return fail_line(f, l, k->name, what);
  for (int s = 0; s < h->n_species; s++) {
    if (tool_parse_real(l->tok[s + 1], &dst[s]) != 0) return fail_line(f, l, k->name, "not a finite number");
  }
  return 0;
}

static int set_pair(const hyper_file *f, const hyper_line *l, nnp_hyper *h) {
  double r;
  if (l->n_tok != 4) return fail_line(f, l, "pair_cutoff", "expected A B r");
  int a = species_of(h, l->tok[1]), b = species_of(h, l->tok[2]);
  if (a < 0 || b < 0) return fail_line(f, l, "pair_cutoff", "element is not in the species list");
  if (tool_parse_real(l->tok[3], &r) != 0 || r <= 0) return fail_line(f, l, "pair_cutoff", "not a positive number");
  if (r > h->r_cut) return fail_line(f, l, "pair_cutoff", "larger than r_cut");
  h->pair_cutoff[a][b] = r;
  h->pair_cutoff[b][a] = r;
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Building the hyperparameters                                                                                      */

/* The one `species` line, checked; the defaults for those species. */
static int init_species(const hyper_file *f, nnp_hyper *h) {
  const hyper_line *found = NULL;
  for (int i = 0; i < f->n_lines; i++) {
    const hyper_line *l = f->lines[i];
    if (strcmp(l->tok[0], "species") != 0) continue;
    if (found) return fail_line(f, l, "species", "given twice");
    found = l;
  }
  if (!found) {
    fprintf(stderr, "nnp-init: %s: no species line (e.g. `species H O`)\n", f->path);
    return -1;
  }
  int n = found->n_tok - 1;
  if (n < 1 || n > NNP_MAX_SPECIES) return fail_line(f, found, "species", "expected 1 to 32 element symbols");
  for (int s = 0; s < n; s++) {
    const char *sym = found->tok[s + 1];
    const char *canonical = xyz_element_symbol(xyz_element_z(sym));
    if (!canonical || strcmp(canonical, sym) != 0) return fail_line(f, found, "species: unknown element", sym);
    for (int t = 0; t < s; t++) {
      if (strcmp(found->tok[t + 1], sym) == 0) return fail_line(f, found, "species: element listed twice", sym);
    }
  }
  nnp_error err;
  if (nnp_hyper_default(h, n, (const char *const *)&found->tok[1], &err) != NNP_OK) {
    return fail_line(f, found, "species", err.message);
  }
  return 0;
}

static int apply_line(const hyper_file *f, const hyper_line *l, const key_spec *k, nnp_hyper *h) {
  switch (k->kind) {
  case KEY_INT:
    return set_int(f, l, k, h);
  case KEY_REAL:
    return set_real(f, l, k, h);
  case KEY_INT_LIST:
    return set_int_list(f, l, k, h);
  case KEY_PER_SPECIES:
    return set_per_species(f, l, k, h);
  case KEY_UNITS:
    if (l->n_tok != 2 || strcmp(l->tok[1], "metal") != 0) return fail_line(f, l, "units", "only `metal` exists");
    return 0;
  case KEY_INTERACTION:
    if (l->n_tok == 2 && strcmp(l->tok[1], "tensor") == 0) return h->interaction = NNP_INTERACTION_TENSOR, 0;
    if (l->n_tok == 2 && strcmp(l->tok[1], "product") == 0) return h->interaction = NNP_INTERACTION_PRODUCT, 0;
    return fail_line(f, l, "interaction", "expected `tensor` or `product`");
  case KEY_SPECIES:
  case KEY_PAIR:
    return 0;
  }
  return 0;
}

/* `baseline d3 ...` / `baseline coulomb ...` (docs/model.md, "Baselines"); one line per term. */
static int set_baseline(const hyper_file *f, const hyper_line *l, nnp_hyper *h) {
  char values[MAX_LINE] = "";
  for (int k = 1; k < l->n_tok; k++) {
    size_t used = strlen(values);
    snprintf(values + used, sizeof values - used, "%s%s", k > 1 ? " " : "", l->tok[k]);
  }
  nnp_error err;
  return nnp_baseline_parse(h, values, &err) == NNP_OK ? 0 : fail_line(f, l, "baseline", err.message);
}

/* Every key but species and pair_cutoff, in file order; unknown and repeated keys are errors. */
static int apply_keys(const hyper_file *f, nnp_hyper *h) {
  int seen[N_KEYS] = {0};
  for (int i = 0; i < f->n_lines; i++) {
    const hyper_line *l = f->lines[i];
    if (strcmp(l->tok[0], "baseline") == 0) {
      if (set_baseline(f, l, h) != 0) return -1;
      continue;
    }
    const key_spec *k = find_key(l->tok[0]);
    if (!k) return fail_line(f, l, "unknown key", l->tok[0]);
    if (k->kind != KEY_PAIR && seen[k - keys]++) return fail_line(f, l, "key given twice", l->tok[0]);
    if (apply_line(f, l, k, h) != 0) return -1;
  }
  return 0;
}

/* pair_cutoff lines last, so that they see the final r_cut. */
static int apply_pairs(const hyper_file *f, nnp_hyper *h) {
  for (int i = 0; i < f->n_lines; i++) {
    const hyper_line *l = f->lines[i];
    if (strcmp(l->tok[0], "pair_cutoff") == 0 && set_pair(f, l, h) != 0) return -1;
  }
  return 0;
}

static int build_hyper(const char *path, nnp_hyper *h) {
  hyper_file f;
  int rc = read_hyper_file(path, &f);
  if (rc == 0) rc = init_species(&f, h);
  if (rc == 0) rc = apply_keys(&f, h);
  if (rc == 0) rc = apply_pairs(&f, h);
  free_hyper_file(&f);
  return rc;
}

/* ---------------------------------------------------------------------------------------------------------------- */

static int write_model(const init_options *o, const nnp_hyper *h) {
  nnp_model *model = NULL;
  nnp_error err;
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", o->seed);
  nnp_status st = nnp_model_create_random(h, (uint64_t)o->seed, &model, &err);
  if (st == NNP_OK) st = nnp_model_set_meta(model, "created_by", "nnp-init", &err);
  if (st == NNP_OK) st = nnp_model_set_meta(model, "seed", seed, &err);
  if (st == NNP_OK) st = nnp_model_set_meta(model, "hyperparameter_file", o->hyper_path, &err);
  if (st != NNP_OK) {
    report(o->hyper_path, err.message);
    nnp_model_free(model);
    return -1;
  }
  st = nnp_model_write(model, o->out_path, &err);
  if (st != NNP_OK) report(o->out_path, err.message);
  nnp_model_free(model);
  return st == NNP_OK ? 0 : -1;
}

int main(int argc, char **argv) {
  init_options o = {NULL, NULL, 1};
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) return rc > 0 ? 0 : 2;
  nnp_hyper h;
  if (build_hyper(o.hyper_path, &h) != 0) return 1;
  if (write_model(&o, &h) != 0) return 1;
  return 0;
}
