/* The trainer's side of a baseline (docs/training.md, "Baselines"): the network learns reference minus baseline, so
 * the baseline that LAMMPS computed for every frame (pnnp-baseline's cache) is subtracted from the labels here. */
#include "baseline_cache.h"
#include "tool_error.h"
#include "train.h"

#include <stdio.h>
#include <string.h>

/* Subtracts one file's cache from the structures of `set` read from that file. */
static nnp_status subtract_file(train_set *set, int file, const baseline_cache *c, nnp_error *err) {
  for (int k = 0; k < set->n; k++) {
    train_structure *s = &set->items[k];
    if (s->file != file) continue;
    if (s->frame >= c->n_frames || c->n_atoms[s->frame] != s->n_atoms)
      return tool_fail(err, NNP_ERR_FORMAT, "%s: frame %ld: the baseline cache does not match the data (stale cache?)",
                       set->files[file], s->frame);
    if (s->has_energy) s->energy -= c->energy[s->frame];
    const double *f = c->forces + 3 * c->first[s->frame];
    for (int i = 0; i < 3 * s->n_atoms; i++) s->forces[i] -= f[i];
  }
  return NNP_OK;
}

nnp_status train_baseline_subtract(train_set *set, const train_config *cfg, const char *config_path,
                                   char *lammps_version, size_t version_size, nnp_error *err) {
  const nnp_hyper *h = &cfg->hyper;
  if (!nnp_baseline_present(h)) return NNP_OK;
  for (int file = 0; file < set->n_files; file++) {
    baseline_cache c;
    nnp_error lerr;
    if (baseline_cache_load(set->files[file], cfg->baseline_cache_dir, h, &c, &lerr))
      return tool_fail(err, NNP_ERR_IO,
                       "%.300s\npnnp-train: the configuration declares a baseline: compute it with LAMMPS first:\n"
                       "    pnnp-baseline %.120s [--lmp PATH/TO/lmp]",
                       lerr.message, config_path ? config_path : "CONFIG");
    nnp_status st = subtract_file(set, file, &c, err);
    if (lammps_version && version_size) {
      if (lammps_version[0] && strcmp(lammps_version, c.lammps_version))
        tool_notice("pnnp-train", "warning: the baseline caches were computed by different LAMMPS versions (%s, %s)",
                    lammps_version, c.lammps_version);
      snprintf(lammps_version, version_size, "%s", c.lammps_version);
    }
    baseline_cache_free(&c);
    if (st) return st;
  }
  return NNP_OK;
}
