/* Registers pair_style nnp with LAMMPS's plugin loader: `plugin load pair_nnp.so` or LAMMPS_PLUGIN_PATH. */

#include "lammpsplugin.h"
#include "version.h"

#include "pair_nnp_lammps.h"

#include "nnp.h"

using namespace LAMMPS_NS;

static Pair *nnp_creator(LAMMPS *lmp) { return new PairNNP(lmp); }

// weak: resolved when OpenBLAS is loaded, NULL with another BLAS
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

#define NNP_STR2(x) #x
#define NNP_STR(x)  NNP_STR2(x)

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc) {
  lammpsplugin_t plugin;
  lammpsplugin_regfunc register_plugin = (lammpsplugin_regfunc)regfunc;
  // The core calls BLAS from its own OpenMP threads and leaves BLAS's thread count to the program (nnp.h,
  // "Threads"); loading the plugin is where pair_nnp joins the LAMMPS process, so it sets BLAS single-threaded here.
  if (openblas_set_num_threads) openblas_set_num_threads(1);

  plugin.version = LAMMPS_VERSION; // the LAMMPS version the plugin was compiled against
  plugin.style = "pair";
  plugin.name = "nnp";
  plugin.info = "pair_nnp " NNP_STR(NNP_VERSION_MAJOR) "." NNP_STR(NNP_VERSION_MINOR) "." NNP_STR(
      NNP_VERSION_PATCH) ": E(3)-equivariant message-passing potentials (NequIP family)";
  plugin.author = "pair_nnp developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *)&nnp_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
