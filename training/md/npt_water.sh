#!/usr/bin/env bash
# 512 H2O (1536 atoms) from the lattice at 1 g/cm^3, NPT 300 K / 1 bar, examples/water/in.water-npt through the
# model's force-field include (pnnp-baseline --lammps), 1 rank, 0.5 fs. Density: examples/thermo_stats.py DIR/log.lammps Density
#   usage: training/md/npt_water.sh MODEL.nnp DIR EQUIL_STEPS PRODUCTION_STEPS
#   env: LMP (default ~/.cache/pair_nnp/lammps-trixie/build/lmp), NNP_PLUGIN (default build-lammps-trixie/...),
#        NNP_BASELINE (default build/pair_nnp/pnnp-baseline)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
lmp=${LMP:-$HOME/.cache/pair_nnp/lammps-trixie/build/lmp}
plugin=${NNP_PLUGIN:-$top/build-lammps-trixie/pair_nnp/lammps/pair_nnp.so}
baseline=${NNP_BASELINE:-$top/build/pair_nnp/pnnp-baseline}
model=$(realpath "$1"); mkdir -p "$2"; cd "$2"
[ -f water.data ] || /usr/bin/python3 "$top/bench/make_water_box.py" water.xyz --replicate 2 --lammps-data water.data >/dev/null
"$baseline" --lammps "$model" > forcefield.lammps
rm -f traj.dump msd.dat
OMP_NUM_THREADS=1 "$lmp" -in "$top/examples/water/in.water-npt" -var plugin "$plugin" -var model "$model" \
  -var data water.data -var forcefield forcefield.lammps -var equil "$3" -var steps "$4" -var dump_every 200 \
  -var msd_every 20 -log log.lammps -screen none
