/* pnnp-eval: evaluate a model on an extended-XYZ data set and compare with the reference energies and forces.
 *
 *   pnnp-eval MODEL.nnp DATA.extxyz [--json] [--predictions OUT.extxyz] [--threads N] [--per-frame]
 *
 * Every failure exits non-zero with the message "pnnp-eval: <file>: <what>" on standard error.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include "baseline_cache.h"
#include "blas_threads.h"
#include "extxyz.h"
#include "nnp.h"
#include "numbers.h"
#include "output_file.h"
#include "tool_error.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char usage_text[] =
    "usage: pnnp-eval MODEL.nnp DATA.extxyz [--json] [--predictions OUT.extxyz] [--threads N] [--per-frame]\n"
    "                [--radial-step A] [--baseline-cache DIR] [--lmp LMP] [--energy-offset El:eV ...]\n"
    "\n"
    "Evaluate a pair_nnp model on every frame of an extended-XYZ file and report the errors against the\n"
    "reference energies (header key energy, else REF_energy, else free_energy) and forces (column forces or force),\n"
    "where the file has them. Frames without a Lattice are evaluated as open (non-periodic) clusters.\n"
    "\n"
    "options:\n"
    "  --json                 one JSON object on standard output instead of the table\n"
    "  --predictions FILE     write the predicted energies, forces, per-atom energies and virials (extended XYZ)\n"
    "  --threads N            threads of the evaluation (default: the OpenMP default)\n"
    "  --per-frame            also report every frame\n"
    "  --radial-step A        interpolate the radial functions from tables with knots A Angstrom apart (faster;\n"
    "                         0.01 keeps forces within ~1e-7 eV/A); default 0: evaluate them exactly\n"
    "  --baseline-cache DIR   where the baseline cache of a model with a baseline lives (default: next to the data)\n"
    "  --lmp LMP              LAMMPS binary that computes a missing or stale baseline cache (default: $NNP_LMP,\n"
    "                         else lmp in PATH); energies, forces and virials are then model + baseline\n"
    "  --energy-offset El:eV ...  the data's energies carry this constant per atom of each species listed (unlisted:\n"
    "                         0) above the model's level, as pnnp-train's `energy_offset` fits it (the model's\n"
    "                         `meta energy_offset`): it is subtracted from the reference energies before comparing\n"
    "  --help                 show this text\n"
    "\n"
    "Units: energies in meV/atom, forces in meV/Angstrom; time is wall time of graph build + evaluation.\n";

typedef struct {
  const char *model_path;
  const char *data_path;
  const char *predictions_path;
  int json;
  int per_frame;
  int threads;
  double radial_step;
  const char *baseline_cache_dir, *lmp;
  char **offset_args; /* the El:eV arguments of --energy-offset (argv entries), resolved once the model is read */
  int n_offset_args;
  double energy_offset[NNP_MAX_SPECIES]; /* eV per atom of each model species, subtracted from reference energies */
} eval_options;

/* Sum of squares and of absolute values of errors. */
typedef struct {
  double sum_sq, sum_abs;
  long n;
} err_acc;

typedef struct {
  long index, line;
  int n_atoms;
  double energy;
  int has_ref_energy;
  double ref_energy;
  int has_ref_forces;
  double force_rmse, force_mae; /* meV/A */
  double seconds;
} frame_record;

typedef struct {
  long n_frames, n_atoms;
  err_acc energy; /* meV/atom, one entry per frame */
  err_acc force;  /* meV/A, one entry per component */
  err_acc species_force[NNP_MAX_SPECIES];
  long species_atoms[NNP_MAX_SPECIES];
  double seconds;
  frame_record *frames; /* with --per-frame */
  long frames_cap;
  const double *energy_offset; /* [n_species] eV per atom (eval_options) */
} eval_stats;

/* Buffers reused from frame to frame. */
typedef struct {
  int *species;
  size_t species_cap;
  double *forces, *atom_energy;
  size_t forces_cap, energy_cap;
} eval_buffers;

typedef struct {
  const nnp_model *model;
  nnp_workspace *ws;
  FILE *predictions;
  const eval_options *opt;
  const baseline_cache *baseline; /* NULL: the model has no baseline */
  nnp_error *err;                 /* where a failing step leaves its message */
} eval_context;

/* ---------------------------------------------------------------------------------------------------------------- */
/* Messages                                                                                                          */

/* "<file>: <what>" into err, without repeating the file when the message already starts with it; returns status. */
static nnp_status report(nnp_error *err, nnp_status status, const char *file, const char *what) {
  size_t n = strlen(file);
  if (strncmp(what, file, n) == 0 && what[n] == ':') return tool_fail(err, status, "%s", what);
  return tool_fail(err, status, "%s: %s", file, what);
}

static nnp_status report_frame(const eval_context *c, nnp_status status, const xyz_frame *f, const char *what) {
  char msg[768];
  snprintf(msg, sizeof msg, "frame %ld, line %ld: %s", f->index, f->line, what);
  return report(c->err, status, c->opt->data_path, msg);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Command line                                                                                                      */

static int usage_error(const char *fmt, ...) {
  va_list ap;
  fputs("pnnp-eval: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  return -1;
}

/* 0: run, 1: help was shown, -1: bad usage. */
static int parse_args(int argc, char **argv, eval_options *o) {
  int n_pos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage_text, stdout);
      return 1;
    } else if (strcmp(a, "--json") == 0) {
      o->json = 1;
    } else if (strcmp(a, "--per-frame") == 0) {
      o->per_frame = 1;
    } else if (strcmp(a, "--predictions") == 0) {
      if (i + 1 >= argc) return usage_error("--predictions needs a file name\n");
      o->predictions_path = argv[++i];
    } else if (strcmp(a, "--threads") == 0) {
      if (i + 1 >= argc || tool_parse_int(argv[++i], 0, 4096, &o->threads) != 0)
        return usage_error("--threads needs an integer >= 0\n");
    } else if (strcmp(a, "--radial-step") == 0) {
      char *end = NULL;
      if (i + 1 < argc) o->radial_step = strtod(argv[++i], &end);
      if (!end || *end || !(o->radial_step >= 0.0)) return usage_error("--radial-step needs a length >= 0\n");
    } else if (strcmp(a, "--baseline-cache") == 0 || strcmp(a, "--lmp") == 0) {
      if (i + 1 >= argc) return usage_error("%s needs a value\n", a);
      *(strcmp(a, "--lmp") == 0 ? &o->lmp : &o->baseline_cache_dir) = argv[++i];
    } else if (strcmp(a, "--energy-offset") == 0) {
      o->offset_args = argv + i + 1; /* every following El:eV argument */
      o->n_offset_args = 0;
      while (i + 1 < argc && argv[i + 1][0] != '-' && strchr(argv[i + 1], ':') && !strchr(argv[i + 1], '/')) {
        o->n_offset_args++;
        i++;
      }
      if (o->n_offset_args == 0) return usage_error("--energy-offset needs El:eV values (e.g. H:0.128 O:0.064)\n");
    } else if (a[0] == '-' && a[1] == '-') {
      return usage_error("unknown option %s (see --help)\n", a);
    } else if (n_pos < 2) {
      if (n_pos++ == 0)
        o->model_path = a;
      else
        o->data_path = a;
    } else {
      return usage_error("unexpected argument %s (see --help)\n", a);
    }
  }
  if (n_pos != 2) return usage_error("expected MODEL.nnp and DATA.extxyz\n%s", usage_text);
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Statistics                                                                                                        */

static void acc_add(err_acc *a, double e) {
  a->sum_sq += e * e;
  a->sum_abs += fabs(e);
  a->n++;
}

static double acc_rmse(const err_acc *a) { return a->n ? sqrt(a->sum_sq / (double)a->n) : NAN; }
static double acc_mae(const err_acc *a) { return a->n ? a->sum_abs / (double)a->n : NAN; }

/* Grow the array that `array` (a pointer to any pointer) points to, to at least `need` elements of `size` bytes. */
static int grow(void *array, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 64;
  while (n < need) n *= 2;
  void *p;
  memcpy(&p, array, sizeof p);
  void *q = realloc(p, n * size);
  if (!q) return -1;
  memcpy(array, &q, sizeof q);
  *cap = n;
  return 0;
}

static int push_record(eval_stats *s, const frame_record *r) {
  size_t cap = (size_t)s->frames_cap;
  if (grow(&s->frames, &cap, (size_t)s->n_frames + 1, sizeof *s->frames) != 0) return -1;
  s->frames_cap = (long)cap;
  s->frames[s->n_frames] = *r;
  return 0;
}

/* Errors of one evaluated frame against its reference, into the totals and the frame's record. */
static void accumulate(eval_stats *s, const xyz_frame *f, const int *species, const double *forces, double energy,
                       frame_record *rec) {
  rec->index = f->index;
  rec->line = f->line;
  rec->n_atoms = f->n_atoms;
  rec->energy = energy;
  rec->has_ref_energy = f->has_energy;
  rec->has_ref_forces = f->has_forces;
  double ref = f->energy; /* the data's energy at the model's level: minus its --energy-offset constants */
  for (int i = 0; f->has_energy && i < f->n_atoms; i++) ref -= s->energy_offset[species[i]];
  rec->ref_energy = f->has_energy ? ref : NAN;
  if (f->has_energy) acc_add(&s->energy, 1000.0 * (energy - ref) / f->n_atoms);
  err_acc frame_force = {0, 0, 0};
  for (int i = 0; i < f->n_atoms; i++) {
    s->species_atoms[species[i]]++;
    for (int k = 0; k < 3 && f->has_forces; k++) {
      double e = 1000.0 * (forces[3 * i + k] - f->forces[3 * i + k]);
      acc_add(&s->force, e);
      acc_add(&s->species_force[species[i]], e);
      acc_add(&frame_force, e);
    }
  }
  rec->force_rmse = acc_rmse(&frame_force);
  rec->force_mae = acc_mae(&frame_force);
  s->n_atoms += f->n_atoms;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Evaluation                                                                                                        */

static nnp_status map_species(const eval_context *c, const xyz_frame *f, eval_buffers *b) {
  if (grow(&b->species, &b->species_cap, (size_t)f->n_atoms, sizeof *b->species) != 0)
    return report_frame(c, NNP_ERR_NOMEM, f, "out of memory");
  for (int i = 0; i < f->n_atoms; i++) {
    b->species[i] = nnp_model_species_index(c->model, f->symbols[i]);
    if (b->species[i] >= 0) continue;
    const nnp_hyper *h = nnp_model_hyper(c->model);
    char what[512];
    int n = snprintf(what, sizeof what, "atom %d: element %s is not a species of the model (", i, f->symbols[i]);
    for (int s = 0; s < h->n_species && n > 0 && (size_t)n < sizeof what; s++)
      n += snprintf(what + n, sizeof what - (size_t)n, s ? " %s" : "%s", h->species[s]);
    if (n > 0 && (size_t)n < sizeof what) snprintf(what + n, sizeof what - (size_t)n, ")");
    return report_frame(c, NNP_ERR_SPECIES, f, what);
  }
  return NNP_OK;
}

static nnp_status write_prediction(const eval_context *c, const xyz_frame *f, const eval_buffers *b,
                                   const nnp_result *r) {
  xyz_write_data d = {b->forces, b->atom_energy, &r->energy, r->virial};
  nnp_error err;
  if (xyz_write_frame(c->predictions, f, &d, &err) != 0)
    return report(c->err, NNP_ERR_IO, c->opt->predictions_path, "write error");
  return NNP_OK;
}

/* Graph, energy, forces (folded onto the owners) and virial of one frame. */
static nnp_status compute_frame(const eval_context *c, const xyz_frame *f, eval_buffers *b, nnp_result *r) {
  static const double identity[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  static const int open_pbc[3] = {0, 0, 0};
  nnp_error err;
  nnp_cell_graph *g = NULL;
  nnp_status st =
      nnp_cell_graph_build(f->n_atoms, b->species, f->positions, f->has_cell ? (const double(*)[3])f->cell : identity,
                           f->has_cell ? f->pbc : open_pbc, nnp_model_hyper(c->model)->r_cut, &g, &err);
  if (st != NNP_OK) return report_frame(c, st, f, err.message);
  const nnp_graph *view = nnp_cell_graph_view(g);
  size_t rows = (size_t)view->n_total;
  if (grow(&b->forces, &b->forces_cap, 3 * rows, sizeof *b->forces) != 0 ||
      grow(&b->atom_energy, &b->energy_cap, rows, sizeof *b->atom_energy) != 0) {
    nnp_cell_graph_free(g);
    return report_frame(c, NNP_ERR_NOMEM, f, "out of memory");
  }
  r->atom_energy = b->atom_energy;
  r->forces = b->forces;
  r->atom_virial = NULL;
  st = nnp_compute(c->model, c->ws, view, r, &err);
  if (st == NNP_OK) nnp_cell_graph_fold(g, b->forces, 3);
  nnp_cell_graph_free(g);
  if (st != NNP_OK) return report_frame(c, st, f, err.message);
  return NNP_OK;
}

/* Model + baseline: the errors are against the reference (DFT) itself (docs/training.md, "Baselines"). The
 * per-atom energies stay the network's: LAMMPS's baseline is cached per frame, not per atom. */
static nnp_status add_baseline(const eval_context *c, const xyz_frame *f, eval_buffers *b, nnp_result *r) {
  const baseline_cache *bc = c->baseline;
  if (f->index >= bc->n_frames || bc->n_atoms[f->index] != f->n_atoms)
    return report_frame(c, NNP_ERR_FORMAT, f, "the baseline cache does not match this frame (stale cache?)");
  r->energy += bc->energy[f->index];
  for (int k = 0; k < 6; k++) r->virial[k] += bc->virial[6 * f->index + k];
  const double *bf = bc->forces + 3 * bc->first[f->index];
  for (int i = 0; i < 3 * f->n_atoms; i++) b->forces[i] += bf[i];
  return NNP_OK;
}

static nnp_status evaluate_frame(const eval_context *c, const xyz_frame *f, eval_buffers *b, eval_stats *s) {
  nnp_result r;
  memset(&r, 0, sizeof r);
  if (f->n_atoms == 0) return report_frame(c, NNP_ERR_FORMAT, f, "frame has no atoms");
  nnp_status st = map_species(c, f, b);
  if (st) return st;
  double t0 = now_seconds();
  if ((st = compute_frame(c, f, b, &r))) return st;
  double dt = now_seconds() - t0;
  s->seconds += dt;
  if (c->baseline && (st = add_baseline(c, f, b, &r))) return st;
  frame_record rec;
  accumulate(s, f, b->species, b->forces, r.energy, &rec);
  rec.seconds = dt;
  if (c->opt->per_frame && push_record(s, &rec) != 0)
    return report(c->err, NNP_ERR_NOMEM, c->opt->data_path, "out of memory");
  s->n_frames++;
  if (c->predictions) return write_prediction(c, f, b, &r);
  return NNP_OK;
}

static nnp_status evaluate_file(const eval_context *c, eval_stats *s) {
  xyz_reader *reader = NULL;
  nnp_error err;
  nnp_status rc = xyz_reader_open(c->opt->data_path, &reader, &err);
  if (rc) return report(c->err, rc, c->opt->data_path, err.message);
  xyz_frame frame;
  xyz_frame_init(&frame);
  eval_buffers b;
  memset(&b, 0, sizeof b);
  int got = 0;
  nnp_status st = NNP_OK;
  while (!(rc = xyz_reader_next(reader, &frame, &got, &err)) && got)
    if ((st = evaluate_frame(c, &frame, &b, s))) break;
  if (rc) st = report(c->err, rc, c->opt->data_path, err.message);
  free(b.species);
  free(b.forces);
  free(b.atom_energy);
  xyz_frame_free(&frame);
  xyz_reader_close(reader);
  return st;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Output                                                                                                            */

static int effective_threads(const eval_options *o) {
#ifdef _OPENMP
  return o->threads > 0 ? o->threads : omp_get_max_threads();
#else
  return o->threads > 0 ? o->threads : 1;
#endif
}

static void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(out, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(out, "\\u%04x", ch);
    else
      fputc(ch, out);
  }
  fputc('"', out);
}

static void json_number(FILE *out, double v) {
  if (isfinite(v))
    fprintf(out, "%.10g", v);
  else
    fputs("null", out);
}

static void json_frames(FILE *out, const eval_stats *s) {
  fputs(",\n  \"frames\": [", out);
  for (long i = 0; i < s->n_frames; i++) {
    const frame_record *r = &s->frames[i];
    fprintf(out, "%s\n    {\"index\": %ld, \"line\": %ld, \"n_atoms\": %d, \"energy_eV\": ", i ? "," : "", r->index,
            r->line, r->n_atoms);
    json_number(out, r->energy);
    fputs(", \"ref_energy_eV\": ", out);
    json_number(out, r->ref_energy);
    fputs(", \"energy_error_meV_per_atom\": ", out);
    json_number(out, 1000.0 * (r->energy - r->ref_energy) / r->n_atoms);
    fputs(", \"force_rmse_meV_per_A\": ", out);
    json_number(out, r->force_rmse);
    fputs(", \"force_mae_meV_per_A\": ", out);
    json_number(out, r->force_mae);
    fputs(", \"time_s\": ", out);
    json_number(out, r->seconds);
    fputc('}', out);
  }
  fputs("\n  ]", out);
}

static void json_species(FILE *out, const nnp_hyper *h, const eval_stats *s) {
  fputs("  \"per_species\": {", out);
  int first = 1;
  for (int t = 0; t < h->n_species; t++) {
    if (s->species_atoms[t] == 0) continue;
    fprintf(out, "%s\n    ", first ? "" : ",");
    json_string(out, h->species[t]);
    fprintf(out, ": {\"n_atoms\": %ld, \"force_rmse_meV_per_A\": ", s->species_atoms[t]);
    json_number(out, acc_rmse(&s->species_force[t]));
    fputs(", \"force_mae_meV_per_A\": ", out);
    json_number(out, acc_mae(&s->species_force[t]));
    fputc('}', out);
    first = 0;
  }
  fputs(first ? "}" : "\n  }", out);
}

static void print_json(FILE *out, const eval_options *o, const nnp_hyper *h, const eval_stats *s) {
  fputs("{\n  \"model\": ", out);
  json_string(out, o->model_path);
  if (nnp_baseline_present(h)) {
    char def[2048];
    nnp_baseline_format(h, def, sizeof def);
    /* one line per term: joined with ';' into one JSON string */
    size_t len = strlen(def);
    while (len > 0 && def[len - 1] == '\n') def[--len] = '\0';
    for (char *p = def; (p = strchr(p, '\n')) != NULL;) *p = ';';
    fputs(",\n  \"baseline\": ", out);
    json_string(out, def);
  }
  fputs(",\n  \"data\": ", out);
  json_string(out, o->data_path);
  fprintf(out, ",\n  \"n_frames\": %ld,\n  \"n_atoms\": %ld,\n  \"n_energy_frames\": %ld,\n  \"n_force_atoms\": %ld",
          s->n_frames, s->n_atoms, s->energy.n, s->force.n / 3);
  const struct {
    const char *key;
    double value;
  } scalars[] = {{"energy_rmse_meV_per_atom", acc_rmse(&s->energy)},
                 {"energy_mae_meV_per_atom", acc_mae(&s->energy)},
                 {"force_rmse_meV_per_A", acc_rmse(&s->force)},
                 {"force_mae_meV_per_A", acc_mae(&s->force)},
                 {"time_per_atom_us", s->n_atoms ? 1e6 * s->seconds / (double)s->n_atoms : NAN},
                 {"time_total_s", s->seconds}};
  for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
    fprintf(out, ",\n  \"%s\": ", scalars[i].key);
    json_number(out, scalars[i].value);
  }
  fprintf(out, ",\n  \"threads\": %d,\n", effective_threads(o));
  json_species(out, h, s);
  if (o->per_frame) json_frames(out, s);
  fputs("\n}\n", out);
}

/* A number in a fixed-width field, or "-" when absent. */
static void field(FILE *out, int width, int precision, double v) {
  if (isfinite(v))
    fprintf(out, " %*.*f", width, precision, v);
  else
    fprintf(out, " %*s", width, "-");
}

static void print_frames_table(FILE *out, const eval_stats *s) {
  fprintf(out, "%7s %7s %18s %18s %14s %14s %10s\n", "frame", "atoms", "energy (eV)", "ref energy (eV)",
          "dE (meV/atom)", "F RMSE (meV/A)", "time (ms)");
  for (long i = 0; i < s->n_frames; i++) {
    const frame_record *r = &s->frames[i];
    fprintf(out, "%7ld %7d", r->index, r->n_atoms);
    field(out, 18, 6, r->energy);
    field(out, 18, 6, r->ref_energy);
    field(out, 14, 3, 1000.0 * (r->energy - r->ref_energy) / r->n_atoms);
    field(out, 14, 3, r->force_rmse);
    field(out, 10, 3, 1000.0 * r->seconds);
    fputc('\n', out);
  }
  fputc('\n', out);
}

static void print_table(FILE *out, const eval_options *o, const nnp_hyper *h, const eval_stats *s) {
  fprintf(out, "model  %s\n", o->model_path);
  if (nnp_baseline_present(h)) {
    char def[2048];
    nnp_baseline_format(h, def, sizeof def);
    fprintf(out, "       + its baseline, computed by LAMMPS (errors are of model + baseline):\n       %s", def);
  }
  fprintf(out, "data   %s: %ld frames, %ld atoms\n", o->data_path, s->n_frames, s->n_atoms);
  if (o->n_offset_args > 0) {
    fprintf(out, "       energies less --energy-offset (eV per atom):");
    for (int t = 0; t < h->n_species; t++) fprintf(out, " %s:%g", h->species[t], o->energy_offset[t]);
    fprintf(out, "\n");
  }
  fprintf(out, "\n");
  if (o->per_frame) print_frames_table(out, s);
  fprintf(out, "%-20s %12s %12s %12s\n", "", "RMSE", "MAE", "count");
  fprintf(out, "%-20s", "energy (meV/atom)");
  field(out, 12, 3, acc_rmse(&s->energy));
  field(out, 12, 3, acc_mae(&s->energy));
  fprintf(out, " %12ld frames\n", s->energy.n);
  fprintf(out, "%-20s", "forces (meV/A)");
  field(out, 12, 3, acc_rmse(&s->force));
  field(out, 12, 3, acc_mae(&s->force));
  fprintf(out, " %12ld atoms\n\n", s->force.n / 3);
  fprintf(out, "%-20s %12s %12s %12s\n", "forces by species", "RMSE", "MAE", "atoms");
  for (int t = 0; t < h->n_species; t++) {
    if (s->species_atoms[t] == 0) continue;
    fprintf(out, "%-20s", h->species[t]);
    field(out, 12, 3, acc_rmse(&s->species_force[t]));
    field(out, 12, 3, acc_mae(&s->species_force[t]));
    fprintf(out, " %12ld\n", s->species_atoms[t]);
  }
  int threads = effective_threads(o);
  fprintf(out, "\ntime per atom  %.3f us  (graph + evaluation, %d thread%s, %.3f s in all)\n",
          s->n_atoms ? 1e6 * s->seconds / (double)s->n_atoms : 0.0, threads, threads == 1 ? "" : "s", s->seconds);
}

/* ---------------------------------------------------------------------------------------------------------------- */

/* The baseline cache of a model that declares one: loaded, or computed with LAMMPS when missing or stale. */
static nnp_status prepare_baseline(const eval_options *o, const nnp_model *model, baseline_cache *bc, nnp_error *err) {
  const nnp_hyper *h = nnp_model_hyper(model);
  char version[128];
  nnp_error lerr, verr; /* why the cache was not loaded; why LAMMPS did not run */
  if (baseline_cache_load(o->data_path, o->baseline_cache_dir, h, bc, &lerr) == 0) return NNP_OK;
  const char *lmp = baseline_lammps_binary(o->lmp);
  if (baseline_lammps_version(lmp, version, sizeof version, &verr) != 0)
    return tool_fail(err, NNP_ERR_IO,
                     "%.200s\npnnp-eval: the model declares a baseline and no LAMMPS ran (%.100s); compute it with\n"
                     "    pnnp-baseline %s %s%s%s --lmp PATH/TO/lmp",
                     lerr.message, verr.message, o->model_path, o->data_path,
                     o->baseline_cache_dir ? " --cache-dir " : "", o->baseline_cache_dir ? o->baseline_cache_dir : "");
  tool_notice("pnnp-eval", "%s; computing the baseline with %s (LAMMPS %s)", lerr.message, lmp, version);
  if (baseline_cache_compute(o->data_path, o->baseline_cache_dir, h, lmp, &lerr) != 0 ||
      baseline_cache_load(o->data_path, o->baseline_cache_dir, h, bc, &lerr) != 0)
    return report(err, NNP_ERR_IO, o->data_path, lerr.message);
  return NNP_OK;
}

/* --energy-offset El:eV ...: every element a species of the model, each once, a finite number of eV. */
static nnp_status resolve_energy_offset(eval_options *o, const nnp_model *model, nnp_error *err) {
  int seen[NNP_MAX_SPECIES] = {0};
  for (int k = 0; k < o->n_offset_args; k++) {
    const char *arg = o->offset_args[k], *colon = strchr(arg, ':');
    char sym[8];
    double v;
    size_t len = (size_t)(colon - arg);
    if (len == 0 || len >= sizeof sym || tool_parse_real(colon + 1, &v))
      return tool_fail(err, NNP_ERR_ARGUMENT, "--energy-offset %s: expected ELEMENT:ENERGY (eV per atom)", arg);
    memcpy(sym, arg, len);
    sym[len] = '\0';
    int s = nnp_model_species_index(model, sym);
    if (s < 0)
      return tool_fail(err, NNP_ERR_SPECIES, "--energy-offset %s: %s is not a species of %s", arg, sym, o->model_path);
    if (seen[s]++) return tool_fail(err, NNP_ERR_ARGUMENT, "--energy-offset: %s given twice", sym);
    o->energy_offset[s] = v;
  }
  return NNP_OK;
}

/* The whole evaluation; the message of a failure in err (main prints it). */
static nnp_status run(eval_options *o, nnp_error *err) {
  nnp_error inner;
  nnp_model *model = NULL;
  nnp_workspace *ws = NULL;
  eval_stats stats;
  memset(&stats, 0, sizeof stats);
  const tool_path inputs[2] = {{o->model_path, "the model"}, {o->data_path, "the data"}};
  const tool_path outputs[1] = {{o->predictions_path, "--predictions"}};
  nnp_status st = tool_outputs_distinct(inputs, 2, outputs, 1, err);
  if (st) return st;
  if ((st = nnp_model_read(o->model_path, &model, &inner))) return report(err, st, o->model_path, inner.message);
  stats.energy_offset = o->energy_offset;
  if ((st = resolve_energy_offset(o, model, err))) {
    nnp_model_free(model);
    return st;
  }
  tool_output predictions = {NULL, NULL, NULL};
  eval_context c = {model, NULL, NULL, o, NULL, err};
  baseline_cache bc;
  memset(&bc, 0, sizeof bc);
  if (nnp_baseline_present(nnp_model_hyper(model))) {
    if ((st = prepare_baseline(o, model, &bc, err))) goto done;
    c.baseline = &bc;
  }
  if ((st = nnp_workspace_create(model, o->threads, &ws, &inner))) {
    report(err, st, o->model_path, inner.message);
    goto done;
  }
  c.ws = ws;
  if (o->radial_step > 0.0 && (st = nnp_workspace_tabulate_radial(ws, o->radial_step, &inner))) {
    report(err, st, o->model_path, inner.message);
    goto done;
  }
  /* predictions go to a temporary file renamed into place at the end: an error leaves the old file (or none) */
  if (o->predictions_path) {
    if ((st = tool_output_open(&predictions, o->predictions_path, "w", &inner))) {
      report(err, st, o->predictions_path, inner.message);
      goto done;
    }
    c.predictions = predictions.fp;
  }
  st = evaluate_file(&c, &stats);
  if (o->predictions_path && st == NNP_OK && (st = tool_output_commit(&predictions, &inner)))
    report(err, st, o->predictions_path, inner.message);
  c.predictions = NULL;
  if (st == NNP_OK) {
    if (o->json)
      print_json(stdout, o, nnp_model_hyper(model), &stats);
    else
      print_table(stdout, o, nnp_model_hyper(model), &stats);
    if (fflush(stdout) != 0) st = report(err, NNP_ERR_IO, "(stdout)", "write error");
  }
done:
  tool_output_discard(&predictions);
  free(stats.frames);
  baseline_cache_free(&bc);
  nnp_workspace_free(ws);
  nnp_model_free(model);
  return st;
}

int main(int argc, char **argv) {
  tools_blas_single_threaded(); /* the program owns the process (nnp.h, "Threads") */
  eval_options o;
  memset(&o, 0, sizeof o);
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) return rc > 0 ? 0 : 2;
  nnp_error err;
  if (run(&o, &err) != NNP_OK) {
    fprintf(stderr, "pnnp-eval: %s\n", err.message);
    return 1;
  }
  return 0;
}
