#!/usr/bin/env bash
# The water example: builds LAMMPS with the PLUGIN package (once, cached) and the pair_style nnp plugin, runs
# 1536 atoms of water in NVT at 300 K with pair_style nnp, and prints temperature, energy, the O-O radial
# distribution and the cost per atom-step. Usage: examples/water/run.sh [STEPS] (default 1000 steps = 0.5 ps).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
steps=${1:-1000}
jobs=$(nproc 2>/dev/null || echo 2)
. /etc/os-release 2>/dev/null || true
tag=${NNP_LAMMPS_TAG:-$([ "${VERSION_CODENAME:-}" = trixie ] && echo trixie || echo bookworm)}

lmp=$("$top/cmake/get-lammps.sh" "$tag" | tail -n 1)
build=$top/build-lammps-$tag
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DNNP_LAMMPS_SOURCE="${NNP_CACHE:-$HOME/.cache/pair_nnp}/lammps-$tag/source" >/dev/null
cmake --build "$build" -j"$jobs" --target pair_nnp_lammps >/dev/null

run=$top/build/examples-water
mkdir -p "$run"
cd "$run"
[ -f water.data ] || /usr/bin/python3 "$top/bench/make_water_box.py" water.xyz --replicate 2 --lammps-data water.data
model=${NNP_MODEL:-$here/water-preliminary.nnp}
ranks=$([ "$jobs" -ge 2 ] && echo 2 || echo 1)
echo "== LAMMPS ($tag), $ranks MPI rank(s), model $(basename "$model"), $steps steps"
mpirun --oversubscribe --allow-run-as-root -np "$ranks" -x OMP_NUM_THREADS=1 "$lmp" -in "$here/in.water" \
  -var plugin "$build/pair_nnp/lammps/pair_nnp.so" -var model "$model" -var data water.data \
  -var steps "$steps" -var rdf_samples $((steps / 10)) -log log.lammps -screen none ||
  { echo "LAMMPS failed; the end of $run/log.lammps:" >&2; tail -n 5 log.lammps >&2; exit 1; }
/usr/bin/python3 "$here/analyse.py" log.lammps rdf.dat "$ranks"
