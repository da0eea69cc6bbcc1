/* pair_style nnp: the LAMMPS glue for the pair_nnp core (E(3)-equivariant message-passing potentials).
 *
 * The class unpacks LAMMPS arrays into an nnp_graph, calls nnp_compute and tallies energies, forces and virials.
 * Message passing reaches layers x r_cut, but the ghost shell is kept at r_cut: the core calls back into this class
 * between layers to copy node features from owners to ghosts (LAMMPS forward communication) and, in the adjoint
 * pass, to add ghost adjoints onto their owners (reverse communication). See README.md in this directory.
 */
#ifdef PAIR_CLASS
// Registered through the plugin interface (nnp_plugin.cpp), not through style headers.
#else

#ifndef LMP_PAIR_NNP_LAMMPS_H
#define LMP_PAIR_NNP_LAMMPS_H

#include "pair.h"

#include <cstdint>
#include <string>
#include <vector>

struct nnp_model;
struct nnp_workspace;

namespace LAMMPS_NS {

class PairNNP : public Pair {
public:
  explicit PairNNP(class LAMMPS *);
  ~PairNNP() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

  double memory_usage() override;

  // Called by the core (through a C trampoline) to move per-atom blocks between owners and ghosts.
  int exchange(double *data, int width, int direction);

protected:
  nnp_model *model;
  nnp_workspace *workspace;
  int workspace_threads;
  double workspace_step; // radial_step the workspace's tables were built with; < 0: none built yet
  std::string model_path;
  std::vector<int> type_species; // [ntypes + 1]: model species of each LAMMPS type, -1 for NULL
  double energy_unit;            // eV -> the energy unit of the LAMMPS `units` style
  double radial_step;            // Angstrom: knot spacing of the radial tables; 0 = exact radial MLP
  int precision_single;          // pair_style nnp precision single: float32 convolutions

  // Buffer the LAMMPS pack/unpack callbacks read and write during one exchange.
  double *comm_data;
  int comm_width;

  // Scratch arrays for one compute() call.
  std::vector<int> species, neigh_index;
  std::vector<int64_t> neigh_offset; // 64-bit, as nnp_graph's: a rank's lists can pass 2^31 entries
  std::vector<double> positions_empty, forces, atom_energy, atom_virial;
  bigint lists_copied_at; // Neighbor::ncalls when neigh_offset/neigh_index were copied from LAMMPS's list
  int lists_copied_nlocal;

  void copy_neighbour_lists(int nlocal);
  void check_baseline();
  bool baseline_check; // pair_style nnp ... baseline check (default) | ignore

  void allocate();
  void fail_one(const std::string &msg);
  void release_model();
};

} // namespace LAMMPS_NS

#endif
#endif
