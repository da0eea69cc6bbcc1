/* baseline_cache: a model's long-range baseline (docs/model.md, "Baselines") evaluated by LAMMPS on every frame of
 * an extended-XYZ file, and cached next to the data (docs/training.md, "Baselines").
 *
 * The cache is keyed on the inputs: its file name carries a hash of the baseline definition, and it records the
 * FNV-1a hash and size of the data file's bytes, the definition itself and the LAMMPS version that computed it.
 * A cache whose data hash or definition differs from the caller's is stale and refused (with the command that
 * remakes it); the LAMMPS version is compared where a LAMMPS is at hand (pnnp-baseline, pnnp-eval --lmp).
 *
 * Computing runs the LAMMPS binary (`lmp`, or the path given) once per file: each frame is a data file read with
 * read_data, the baseline's own LAMMPS lines (nnp_baseline_lammps_lines), `run 0`, and the energy, pressure-tensor
 * virial and forces written with 17 significant digits. Nothing of D3 or Ewald is computed here.
 */
#ifndef NNP_BASELINE_CACHE_H
#define NNP_BASELINE_CACHE_H

#include "nnp.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  long n_frames;
  int *n_atoms;   /* [n_frames] */
  long *first;    /* [n_frames] index of the frame's first atom in forces */
  double *energy; /* [n_frames] eV */
  double *virial; /* [n_frames][6] eV, xx yy zz xy xz yz, positive when repulsive (docs/model.md) */
  double *forces; /* [sum n_atoms][3] eV/Angstrom, in the file's atom order and axes */
  char lammps_version[128];
} baseline_cache;

/* Where the cache of `data_path` for the baseline of h lives: DIR/NAME.baseline-HASH, DIR the data's directory or
 * cache_dir when given (e.g. when the data directory is read-only). Returns 0, or -1 when it does not fit. */
int baseline_cache_path(const char *data_path, const char *cache_dir, const nnp_hyper *h, char *out, size_t size);

/* Read and check the cache; NNP_OK, else an error with the reason in err (missing, stale, damaged). */
nnp_status baseline_cache_load(const char *data_path, const char *cache_dir, const nnp_hyper *h, baseline_cache *c,
                               nnp_error *err);

/* Compute the baseline of every frame with the LAMMPS binary `lmp` and write the cache. NNP_OK, or an error with
 * its message. */
nnp_status baseline_cache_compute(const char *data_path, const char *cache_dir, const nnp_hyper *h, const char *lmp,
                                  nnp_error *err);

/* The version line LAMMPS prints first ("LAMMPS (4 Feb 2025)" -> "4 Feb 2025"). NNP_OK, or an error with its
 * message. */
nnp_status baseline_lammps_version(const char *lmp, char *out, size_t size, nnp_error *err);

/* The LAMMPS binary to use: `given` when not NULL, else $NNP_LMP, else "lmp" (searched in PATH by the shell). */
const char *baseline_lammps_binary(const char *given);

void baseline_cache_free(baseline_cache *c);

#ifdef __cplusplus
}
#endif
#endif
