#!/usr/bin/env bash
# 512 H2O + 9 NaCl (1554 atoms) at 1.036 g/cm^3 (bench/make_nacl_box.py), NVT 300 K, examples/nacl/in.nacl-nnp
# through the model's force-field include, 1 rank, 0.5 fs. Pressure: examples/thermo_stats.py DIR/log.lammps Press
#   usage: training/md/nvt_nacl.sh MODEL.nnp DIR EQUIL_STEPS PRODUCTION_STEPS   (env as npt_water.sh)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
lmp=${LMP:-$HOME/.cache/pair_nnp/lammps-trixie/build/lmp}
plugin=${NNP_PLUGIN:-$top/build-lammps-trixie/pair_nnp/lammps/pair_nnp.so}
baseline=${NNP_BASELINE:-$top/build/pair_nnp/pnnp-baseline}
model=$(realpath "$1"); mkdir -p "$2"; cd "$2"
[ -f nacl.data ] || /usr/bin/python3 "$top/bench/make_nacl_box.py" nacl.xyz --lammps-data nacl.data \
  --lammps-full nacl-full.data >/dev/null
"$baseline" --lammps "$model" > forcefield.lammps
rm -f traj.dump msd.dat
OMP_NUM_THREADS=1 "$lmp" -in "$top/examples/nacl/in.nacl-nnp" -var plugin "$plugin" -var model "$model" \
  -var data nacl.data -var forcefield forcefield.lammps -var equil "$3" -var steps "$4" -var dump_every 200 \
  -log log.lammps -screen none
