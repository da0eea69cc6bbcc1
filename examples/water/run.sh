#!/usr/bin/env bash
# The water example: builds LAMMPS with the PLUGIN package (once, cached) and the pair_style nnp plugin, runs
# 1536 atoms of water in NVT at 300 K with pair_style nnp, and prints temperature, energy, the O-O radial
# distribution and the cost per atom-step. Usage: examples/water/run.sh [STEPS] (default 1000 steps = 0.5 ps).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
steps=${1:-1000}
jobs=$(nproc 2>/dev/null || echo 2)
. "$top/scripts/lammps-env.sh"
lammps_env

run=$top/build/examples-water
mkdir -p "$run"
cd "$run"
[ -f water.data ] || /usr/bin/python3 "$top/bench/make_water_box.py" water.xyz --replicate 2 --lammps-data water.data
model=${NNP_MODEL:-$top/potentials/water-revpbe0d3.nnp}
ranks=$([ "$jobs" -ge 2 ] && echo 2 || echo 1)
echo "== LAMMPS ($lammps_tag), $ranks MPI rank(s), model $(basename "$model"), $steps steps"
lammps_mpi "$ranks"
lammps_forcefield "$model" forcefield.lammps
"${mpi[@]}" -in "$here/in.water" \
  -var plugin "$plugin" -var model "$model" -var data water.data -var forcefield forcefield.lammps \
  -var steps "$steps" -var rdf_samples $((steps / 10)) -log log.lammps -screen none ||
  lammps_fail "$run"
/usr/bin/python3 "$here/analyse.py" log.lammps rdf.dat "$ranks"
