/* The cost in accuracy of float32 evaluation: forces and energies of every frame (up to MAX_FRAMES) of an
 * extended-XYZ file in single precision against double precision, both with radial tables of the same step.
 * usage: precision_error MODEL.nnp FRAMES.extxyz [STEP] [MAX_FRAMES]
 * prints per file: frames, atoms, max |dF| and RMS dF over force components (eV/A), max |dE|/atom (eV) */
#include "blas_threads.h"
#include "extxyz.h"
#include "nnp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The reader's next frame as 1 (read), 0 (end of file) or -1 (an error, in err). */
static inline int next_frame(xyz_reader *r, xyz_frame *f, nnp_error *err) {
  int got = 0;
  return xyz_reader_next(r, f, &got, err) ? -1 : got;
}

static int evaluate(const nnp_model *m, nnp_workspace *ws, const nnp_cell_graph *cg, double *f, double *e) {
  nnp_error err;
  const nnp_graph *g = nnp_cell_graph_view(cg);
  nnp_result r = {0, {0}, NULL, f, NULL};
  if (nnp_compute(m, ws, g, &r, &err)) return fprintf(stderr, "%s\n", err.message), 1;
  nnp_cell_graph_fold(cg, f, 3);
  *e = r.energy;
  return 0;
}

int main(int argc, char **argv) {
  tools_blas_single_threaded(); /* as the tools do (nnp.h, "Threads") */
  if (argc < 3) return fprintf(stderr, "usage: precision_error MODEL.nnp FRAMES.extxyz [STEP] [MAX_FRAMES]\n"), 2;
  const double step = argc > 3 ? atof(argv[3]) : 0.01;
  const int max_frames = argc > 4 ? atoi(argv[4]) : 1000000;
  nnp_error err;
  nnp_error xe;
  nnp_model *m;
  xyz_reader *rd;
  nnp_workspace *wd, *wf;
  if (nnp_model_read(argv[1], &m, &err) || nnp_workspace_create(m, 0, &wd, &err) ||
      nnp_workspace_create(m, 0, &wf, &err) || nnp_workspace_tabulate_radial(wd, step, &err) ||
      nnp_workspace_tabulate_radial(wf, step, &err) || nnp_workspace_set_precision(wf, NNP_PRECISION_SINGLE, &err))
    return fprintf(stderr, "%s\n", err.message), 1;
  if (xyz_reader_open(argv[2], &rd, &xe)) return fprintf(stderr, "%s\n", xe.message), 1;
  xyz_frame fr;
  xyz_frame_init(&fr);
  int frames = 0;
  long atoms = 0;
  double max_df = 0, sum_df2 = 0, max_de = 0, max_f = 0;
  while (frames < max_frames && next_frame(rd, &fr, &xe) == 1) {
    int *species = malloc(sizeof(int) * (size_t)fr.n_atoms);
    for (int i = 0; i < fr.n_atoms; ++i) species[i] = nnp_model_species_index(m, fr.symbols[i]);
    nnp_cell_graph *cg;
    if (nnp_cell_graph_build(fr.n_atoms, species, fr.positions, (const double(*)[3])fr.cell, fr.pbc,
                             nnp_model_hyper(m)->r_cut, &cg, &err))
      return fprintf(stderr, "%s\n", err.message), 1;
    const int nt = nnp_cell_graph_view(cg)->n_total;
    double *fd = malloc(sizeof(double) * 3 * nt), *ff = malloc(sizeof(double) * 3 * nt), ed, ef;
    if (evaluate(m, wd, cg, fd, &ed) || evaluate(m, wf, cg, ff, &ef)) return 1;
    for (int q = 0; q < 3 * fr.n_atoms; ++q) {
      const double d = fabs(ff[q] - fd[q]);
      max_df = d > max_df ? d : max_df;
      max_f = fabs(fd[q]) > max_f ? fabs(fd[q]) : max_f;
      sum_df2 += d * d;
    }
    const double de = fabs(ef - ed) / fr.n_atoms;
    max_de = de > max_de ? de : max_de;
    atoms += fr.n_atoms;
    ++frames;
    free(fd), free(ff), free(species);
    nnp_cell_graph_free(cg);
  }
  printf("frames %d atoms %ld max_dF %.3e rms_dF %.3e eV/A (max |F| %.2f) max_dE_per_atom %.3e eV\n", frames, atoms,
         max_df, sqrt(sum_df2 / (3.0 * (double)(atoms > 0 ? atoms : 1))), max_f, max_de);
  xyz_frame_free(&fr);
  xyz_reader_close(rd);
  nnp_workspace_free(wd), nnp_workspace_free(wf);
  nnp_model_free(m);
  return 0;
}
