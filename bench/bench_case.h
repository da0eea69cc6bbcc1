/* The benchmarks' common set-up: a model, the first frame of an extended-XYZ file, and its periodic graph. */
#ifndef NNP_BENCH_CASE_H
#define NNP_BENCH_CASE_H

#include "extxyz.h"
#include "nnp.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The reader's next frame as 1 (read), 0 (end of file) or -1 (an error, in err). */
static inline int next_frame(xyz_reader *r, xyz_frame *f, nnp_error *err) {
  int got = 0;
  return xyz_reader_next(r, f, &got, err) ? -1 : got;
}

typedef struct {
  nnp_model *model;
  xyz_frame frame;
  nnp_cell_graph *cell_graph;
  const nnp_graph *graph;
  int *species;
} bench_case;

/* Loads MODEL and the first frame of STRUCTURE; prints the reason and returns non-zero on failure. */
static inline int bench_case_load(bench_case *c, const char *model_path, const char *structure_path) {
  nnp_error err;
  nnp_error xe;
  xyz_reader *rd = NULL;
  xyz_frame_init(&c->frame);
  if (nnp_model_read(model_path, &c->model, &err)) return fprintf(stderr, "%s\n", err.message), 1;
  if (xyz_reader_open(structure_path, &rd, &xe) || next_frame(rd, &c->frame, &xe) != 1)
    return fprintf(stderr, "%s\n", xe.message), 1;
  xyz_reader_close(rd);
  c->species = malloc(sizeof(int) * (size_t)c->frame.n_atoms);
  for (int i = 0; i < c->frame.n_atoms; ++i) c->species[i] = nnp_model_species_index(c->model, c->frame.symbols[i]);
  if (nnp_cell_graph_build(c->frame.n_atoms, c->species, c->frame.positions, (const double(*)[3])c->frame.cell,
                           c->frame.pbc, nnp_model_hyper(c->model)->r_cut, &c->cell_graph, &err))
    return fprintf(stderr, "%s\n", err.message), 1;
  c->graph = nnp_cell_graph_view(c->cell_graph);
  return 0;
}

static inline void bench_case_free(bench_case *c) {
  nnp_cell_graph_free(c->cell_graph);
  free(c->species);
  xyz_frame_free(&c->frame);
  nnp_model_free(c->model);
}

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

#endif
