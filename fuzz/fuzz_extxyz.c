/* libFuzzer harness for the extended-XYZ reader (pair_nnp/tools/extxyz.c) and what the tools do with its frames.
 *
 * Reads up to four frames of the input; each frame with at most 32 atoms is evaluated with a small fixed model
 * (elements the model does not know are left out, as LAMMPS types mapped to NULL), written back with
 * xyz_write_frame and read again: the round trip must reproduce the atoms exactly, or the harness aborts.
 * Build and run: fuzz/run.sh (fuzz/README.md). */
#include "extxyz.h"
#include "nnp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reader's next frame as 1 (read), 0 (end of file) or -1 (an error, in err). */
static inline int next_frame(xyz_reader *r, xyz_frame *f, nnp_error *err) {
  int got = 0;
  return xyz_reader_next(r, f, &got, err) ? -1 : got;
}

enum { MAX_FRAMES = 4, MAX_EVAL_ATOMS = 32 };

static nnp_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static const char *const species[] = {"H", "O", "Na", "Cl", "Cu"};
  nnp_hyper h;
  nnp_error err;
  if (nnp_hyper_default(&h, 5, species, &err)) abort();
  h.l_max = 1, h.channels = 4, h.layers = 2, h.radial_basis = 4, h.readout_hidden = 4;
  h.n_radial_hidden = 1, h.radial_hidden[0] = 8;
  h.r_cut = 4.0, h.r_min = 0.3, h.avg_num_neighbors = 10.0;
  for (int a = 0; a < NNP_MAX_SPECIES; ++a)
    for (int b = 0; b < NNP_MAX_SPECIES; ++b) h.pair_cutoff[a][b] = h.r_cut;
  if (nnp_model_create_random(&h, 7, &model, &err)) abort();
  return 0;
}

static void evaluate(const xyz_frame *f) {
  int *species = malloc(((size_t)f->n_atoms + 1) * sizeof *species);
  if (!species) return;
  for (int i = 0; i < f->n_atoms; ++i) species[i] = nnp_model_species_index(model, f->symbols[i]);
  nnp_cell_graph *g = NULL;
  nnp_workspace *ws = NULL;
  nnp_error err;
  nnp_status st =
      nnp_cell_graph_build(f->n_atoms, species, f->positions, f->cell, f->pbc, nnp_model_hyper(model)->r_cut, &g, &err);
  if (!st) st = nnp_workspace_create(model, 1, &ws, &err);
  if (!st) {
    const nnp_graph *v = nnp_cell_graph_view(g);
    double *forces = calloc(3 * (size_t)v->n_total + 1, sizeof *forces);
    double *ae = calloc((size_t)v->n_local + 1, sizeof *ae);
    nnp_result r = {0, {0}, ae, forces, NULL};
    if (forces && ae && nnp_compute(model, ws, v, &r, &err) == NNP_OK) nnp_cell_graph_fold(g, forces, 3);
    free(forces);
    free(ae);
  }
  nnp_workspace_free(ws);
  nnp_cell_graph_free(g);
  free(species);
}

static void round_trip(const xyz_frame *f) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  if (!out) return;
  nnp_error err;
  const int wrote = xyz_write_frame(out, f, NULL, &err);
  fclose(out);
  if (wrote == 0 && len > 0) {
    FILE *in = fmemopen(text, len, "r");
    xyz_reader *r = NULL;
    xyz_frame b;
    xyz_frame_init(&b);
    if (!in || xyz_reader_open_stream(in, "roundtrip.xyz", &r, &err) || next_frame(r, &b, &err) != 1) {
      fprintf(stderr, "a frame that was read does not read back after writing: %s\n", err.message);
      abort();
    }
    const char *differs = b.n_atoms != f->n_atoms                                           ? "atom count"
                          : b.has_cell != f->has_cell                                       ? "has_cell"
                          : b.has_forces != f->has_forces                                   ? "has_forces"
                          : b.has_energy != f->has_energy                                   ? "has_energy"
                          : f->has_energy && memcmp(&b.energy, &f->energy, sizeof b.energy) ? "energy"
                          : memcmp(b.pbc, f->pbc, sizeof b.pbc)                             ? "pbc"
                          : memcmp(b.cell, f->cell, sizeof b.cell)                          ? "cell"
                                                                                            : NULL;
    for (int i = 0; !differs && i < f->n_atoms; ++i)
      differs = strcmp(b.symbols[i], f->symbols[i])                                                ? "a symbol"
                : memcmp(b.positions + 3 * i, f->positions + 3 * i, 3 * sizeof(double))            ? "a position"
                : f->has_forces && memcmp(b.forces + 3 * i, f->forces + 3 * i, 3 * sizeof(double)) ? "a force"
                                                                                                   : NULL;
    if (differs) {
      fprintf(stderr, "write + read changed %s of a frame; written:\n%.*s\n", differs, (int)len, text);
      abort();
    }
    xyz_reader_close(r);
    xyz_frame_free(&b);
    fclose(in);
  }
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || size > (1u << 20)) return 0;
  FILE *in = fmemopen((void *)data, size, "r");
  if (!in) return 0;
  xyz_reader *r = NULL;
  nnp_error err;
  xyz_frame f;
  xyz_frame_init(&f);
  if (xyz_reader_open_stream(in, "fuzz.xyz", &r, &err) == 0) {
    for (int k = 0; k < MAX_FRAMES && next_frame(r, &f, &err) == 1; ++k) {
      if (f.n_atoms > MAX_EVAL_ATOMS) continue;
      evaluate(&f);
      round_trip(&f);
    }
    xyz_reader_close(r);
  }
  xyz_frame_free(&f);
  fclose(in);
  return 0;
}
