/* pnnp-baseline: compute a model's long-range baseline with LAMMPS for every frame of extended-XYZ files and cache it
 * next to the data (docs/training.md, "Baselines").
 *
 *   pnnp-baseline CONFIG.txt [--lmp LMP] [--force]                       every data file of a training configuration
 *   pnnp-baseline MODEL.nnp DATA.extxyz... [--cache-dir DIR] [--lmp LMP] [--force]
 *
 * A cache that matches the data, the definition and this LAMMPS's version is kept; --force recomputes it.
 * Every failure exits non-zero with "pnnp-baseline: what" on standard error.
 */
#include "baseline_cache.h"
#include "blas_threads.h"
#include "extxyz.h"
#include "tool_error.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: pnnp-baseline CONFIG.txt [--lmp LMP] [--force]\n"
    "       pnnp-baseline MODEL.nnp DATA.extxyz... [--cache-dir DIR] [--lmp LMP] [--force]\n"
    "\n"
    "Computes the long-range baseline that a training configuration or a model declares (`baseline d3 ...`,\n"
    "`baseline coulomb ...`, `baseline c6c8 ...`) with LAMMPS for every frame of the data files, and caches energies, "
    "virials and forces\n"
    "next to each file (FILE.baseline-HASH, or in --cache-dir / the configuration's baseline_cache directory).\n"
    "pnnp-train subtracts the cache from the labels; pnnp-eval adds it to the model's predictions.\n"
    "\n"
    "  --lmp LMP        the LAMMPS binary (default: $NNP_LMP, else lmp in PATH); needs KSPACE for coulomb and\n"
    "                   dispersion/d3 (EXTRA-PAIR, LAMMPS >= 7 Feb 2024) for d3\n"
    "  --cache-dir DIR  where the caches go (default: next to the data)\n"
    "  --force          recompute even when the cache is up to date\n"
    "\n"
    "       pnnp-baseline --lammps MODEL.nnp\n"
    "prints the model's force field for LAMMPS (potentials/NAME.lammps): pair_style (hybrid/overlay nnp + the\n"
    "baseline), pair_coeff, kspace_style and per-type charges, taking the model path and element list from the\n"
    "LAMMPS variables `model` and `elements`. A model with a `baseline c6c8` line also gets its pair_style table\n"
    "file written next to it (MODEL.c6c8-HASH.table), which the printed lines read.\n";

#define MAX_DATA 64

typedef struct {
  const char *first; /* CONFIG or MODEL */
  const char *data[MAX_DATA];
  int n_data;
  const char *lmp, *cache_dir;
  int force;
  int lammps; /* --lammps: print the LAMMPS lines and stop */
} options;

static int parse_args(int argc, char **argv, options *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      return 1;
    } else if (!strcmp(a, "--force")) {
      o->force = 1;
    } else if (!strcmp(a, "--lammps")) {
      o->lammps = 1;
    } else if (!strcmp(a, "--lmp") || !strcmp(a, "--cache-dir")) {
      if (i + 1 >= argc) return fprintf(stderr, "pnnp-baseline: %s needs a value\n", a), -1;
      *(!strcmp(a, "--lmp") ? &o->lmp : &o->cache_dir) = argv[++i];
    } else if (a[0] == '-' && a[1] == '-') {
      return fprintf(stderr, "pnnp-baseline: unknown option %s (see --help)\n", a), -1;
    } else if (!o->first) {
      o->first = a;
    } else if (o->n_data < MAX_DATA) {
      o->data[o->n_data++] = a;
    } else {
      return fprintf(stderr, "pnnp-baseline: at most %d data files\n", MAX_DATA), -1;
    }
  }
  if (!o->first) return fprintf(stderr, "pnnp-baseline: expected CONFIG.txt or MODEL.nnp DATA...\n%s", usage_text), -1;
  return 0;
}

static int is_model_file(const char *path) {
  FILE *f = fopen(path, "rb");
  char head[16] = "";
  if (f) {
    size_t n = fread(head, 1, 15, f);
    head[n] = '\0';
    fclose(f);
  }
  return !strncmp(head, "pair_nnp-model ", 15);
}

/* How large the baseline is on this data: figures for the report (mean energy per atom, force RMS, pressure). */
static void print_figures(const char *data, const baseline_cache *c) {
  xyz_reader *r = NULL;
  nnp_error xe;
  if (xyz_reader_open(data, &r, &xe)) return;
  xyz_frame f;
  xyz_frame_init(&f);
  double e_sum = 0, f_sq = 0, p_sum = 0;
  long atoms = 0, k = 0;
  int got = 0;
  while (k < c->n_frames && !xyz_reader_next(r, &f, &got, &xe) && got) {
    const double *a = f.cell[0], *b = f.cell[1], *cc = f.cell[2];
    double vol = fabs(a[0] * (b[1] * cc[2] - b[2] * cc[1]) - a[1] * (b[0] * cc[2] - b[2] * cc[0]) +
                      a[2] * (b[0] * cc[1] - b[1] * cc[0]));
    const double *w = c->virial + 6 * k;
    p_sum += (w[0] + w[1] + w[2]) / (3.0 * vol) * 1.6021765e6; /* eV/A^3 -> bar */
    e_sum += c->energy[k] / c->n_atoms[k];
    for (long i = 0; i < 3L * c->n_atoms[k]; i++)
      f_sq += c->forces[3 * c->first[k] + i] * c->forces[3 * c->first[k] + i];
    atoms += c->n_atoms[k];
    k++;
  }
  xyz_frame_free(&f);
  xyz_reader_close(r);
  if (k == 0) return;
  printf("  %ld frames: baseline energy %.3f meV/atom (mean), force RMS %.3f meV/A, virial pressure %.1f bar (mean)\n",
         k, 1000 * e_sum / k, 1000 * sqrt(f_sq / (3.0 * atoms)), p_sum / k);
}

static nnp_status one_file(const nnp_hyper *h, const char *data, const char *cache_dir, const char *lmp,
                           const char *lammps_version, int force, nnp_error *err) {
  baseline_cache c;
  char path[4200];
  baseline_cache_path(data, cache_dir, h, path, sizeof path);
  int have = !force && baseline_cache_load(data, cache_dir, h, &c, err) == NNP_OK;
  if (have && strcmp(c.lammps_version, lammps_version)) {
    printf("pnnp-baseline: %s was computed by LAMMPS %s, this is %s: recomputing\n", path, c.lammps_version,
           lammps_version);
    baseline_cache_free(&c);
    have = 0;
  }
  if (have) {
    printf("pnnp-baseline: %s is up to date\n", path);
  } else {
    printf("pnnp-baseline: %s: computing the baseline with %s ...\n", data, lmp);
    fflush(stdout);
    nnp_status st = baseline_cache_compute(data, cache_dir, h, lmp, err);
    if (!st) st = baseline_cache_load(data, cache_dir, h, &c, err);
    if (st) return st;
    printf("pnnp-baseline: wrote %s\n", path);
  }
  print_figures(data, &c);
  baseline_cache_free(&c);
  return NNP_OK;
}

/* The c6c8 term's table next to the model, where the include's lines look for it (MODEL.c6c8-HASH.table). */
static nnp_status write_table_beside(const nnp_hyper *h, const char *model_path, nnp_error *err) {
  if (!h->baseline.c6c8) return NNP_OK;
  char path[4200];
  if (nnp_baseline_c6c8_table_name(h, model_path, path, sizeof path) >= sizeof path)
    return tool_fail(err, NNP_ERR_ARGUMENT, "model path too long");
  size_t n = nnp_baseline_c6c8_table(h, NULL, 0);
  char *text = malloc(n + 1);
  if (!text) return tool_fail(err, NNP_ERR_NOMEM, "out of memory");
  nnp_baseline_c6c8_table(h, text, n + 1);
  FILE *f = fopen(path, "w");
  int ok = f && fwrite(text, 1, n, f) == n;
  ok = (f && fclose(f) == 0) && ok;
  free(text);
  if (!ok) return tool_fail(err, NNP_ERR_IO, "%s: cannot write the c6c8 table", path);
  return NNP_OK;
}

/* potentials/NAME.lammps: the model's whole force field, from the variables `model` and `elements`. */
static nnp_status print_lammps(const char *model_path, nnp_error *err) {
  nnp_model *model = NULL;
  nnp_status st = nnp_model_read(model_path, &model, err);
  if (st) return st;
  const nnp_hyper *h = nnp_model_hyper(model);
  if ((st = write_table_beside(h, model_path, err))) {
    nnp_model_free(model);
    return st;
  }
  char lines[16384], def[2048];
  nnp_baseline_lammps_lines(h, "${nnp_options}", "${model}", "${elements}", 0, lines, sizeof lines);
  nnp_baseline_format(h, def, sizeof def);
  const char *slash = strrchr(model_path, '/');
  printf("# The force field of %s for LAMMPS (written by pnnp-baseline --lammps; docs/model.md, \"Baselines\").\n"
         "# Before `include` this file, the input sets units metal, newton on, the atoms%s, and\n"
         "#   variable model string %s\n"
         "#   variable elements string \"...\"   (the element of each atom type, in type order; species: ",
         slash ? slash + 1 : model_path, h->baseline.coulomb ? " (atom_style charge or full)" : "", model_path);
  for (int s = 0; s < h->n_species; s++) printf("%s%s", s ? " " : "", h->species[s]);
  printf(")\n# and optionally `variable nnp_options string \"radial_step 0\"` (pair_style nnp keywords).\n");
  if (nnp_baseline_present(h)) {
    printf("# The model was trained on reference minus this baseline, which LAMMPS adds here:\n");
    for (char *line = strtok(def, "\n"); line; line = strtok(NULL, "\n")) printf("#   %s\n", line);
    printf("%s", h->baseline.d3 ? "# pair_style dispersion/d3 needs LAMMPS >= 7 Feb 2024 (EXTRA-PAIR); LAMMPS 2021 "
                                  "(Debian bookworm) lacks it.\n"
                                : "");
    if (h->baseline.c6c8)
      printf("# c6c8: pair_style table reads ${nnp_c6c8_table}, by default the table pnnp-baseline --lammps wrote next "
             "to the model\n# (set `variable nnp_c6c8_table string PATH` before the include to use another copy).\n");
  } else
    printf("# No baseline: the network is the whole potential.\n");
  printf("variable nnp_options index \"\"\n%s", lines);
  nnp_model_free(model);
  return NNP_OK;
}

int main(int argc, char **argv) {
  tools_blas_single_threaded(); /* the program owns the process (nnp.h, "Threads") */
  options o;
  memset(&o, 0, sizeof o);
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc > 0 ? 0 : 2;
  nnp_error err;
  if (o.lammps) {
    if (print_lammps(o.first, &err) == NNP_OK) return 0;
    fprintf(stderr, "pnnp-baseline: %s\n", err.message);
    return 1;
  }
  static train_config cfg;
  nnp_model *model = NULL;
  const nnp_hyper *h;
  const char *cache_dir = o.cache_dir;
  if (is_model_file(o.first)) {
    if (nnp_model_read(o.first, &model, &err) != NNP_OK) return fprintf(stderr, "pnnp-baseline: %s\n", err.message), 1;
    if (o.n_data == 0) return fprintf(stderr, "pnnp-baseline: a model needs the data files to compute on\n"), 2;
    h = nnp_model_hyper(model);
  } else {
    if (train_config_read(o.first, &cfg, &err)) return fprintf(stderr, "pnnp-baseline: %s\n", err.message), 1;
    if (o.n_data) return fprintf(stderr, "pnnp-baseline: with a configuration the data files are its own\n"), 2;
    for (int k = 0; k < cfg.n_train_files; k++) o.data[o.n_data++] = cfg.train_files[k];
    if (cfg.validation_file[0]) o.data[o.n_data++] = cfg.validation_file;
    if (!cache_dir && cfg.baseline_cache_dir[0]) cache_dir = cfg.baseline_cache_dir;
    h = &cfg.hyper;
  }
  if (!nnp_baseline_present(h)) {
    fprintf(stderr, "pnnp-baseline: %s declares no baseline (no `baseline d3|coulomb|c6c8 ...` line)\n", o.first);
    nnp_model_free(model);
    return 1;
  }
  const char *lmp = baseline_lammps_binary(o.lmp);
  char version[128];
  nnp_status st = baseline_lammps_version(lmp, version, sizeof version, &err);
  for (int k = 0; k < o.n_data && !st; k++) st = one_file(h, o.data[k], cache_dir, lmp, version, o.force, &err);
  nnp_model_free(model);
  if (st) {
    fprintf(stderr, "pnnp-baseline: %s\n", err.message);
    return 1;
  }
  return 0;
}
