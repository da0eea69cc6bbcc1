#!/usr/bin/env bash
# NaCl(aq), about 1 mol/kg (512 H2O + 9 Na+ + 9 Cl-, 1554 atoms), NVT at 300 K: SPC/E + Joung-Cheatham ions with
# PPPM and SHAKE (in.nacl-spce-jc), and, when a model file is given, pair_style nnp (in.nacl-nnp; the model must
# know O H Na Cl). Then analyse_nacl.py: Na-O, Cl-O, Cl-H, Na-Cl radial distribution functions, first-shell
# coordination numbers, cost per atom-step, and the figure nacl-compare.png.
#
# usage: examples/nacl/compare.sh [MODEL.nnp]       (no model: the classical run only)
#   e.g. examples/nacl/compare.sh potentials/nacl-water-revpbe0d3.nnp
# Environment:
#   LENGTH=short        (default) classical 10 ps equilibration + 10 ps production (2 fs steps, about 2 min on
#                       2 cores); NNP 0.05 ps + 0.15 ps (0.5 fs steps: a smoke test)
#   LENGTH=medium       classical 20 ps + 100 ps; NNP 5 ps + 15 ps (~15 min on 2 cores with the shipped potential)
#   LENGTH=production   classical 50 ps + 1 ns; NNP 20 ps + 100 ps (hours: run it on a big machine)
#   CL_EQUIL CL_STEPS NNP_EQUIL NNP_STEPS   override the step counts of the chosen LENGTH
#   SKIP_CLASSICAL=1    reuse an existing classical run directory (analysis only)
#   RANKS (default: 2 if there are 2 cores, else 1)   RUN_DIR (default: build/examples-nacl-compare)
#   LMP=path/to/lmp, NNP_PLUGIN=path/to/pair_nnp.so   skip the LAMMPS/plugin build steps
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
model=${1:-}
[ -z "$model" ] || model=$(realpath "$model")
case "${LENGTH:-short}" in
  short)      ce=5000;  cs=5000;   cd_=50;  ne=100;   ns=300;    nd=20 ;;
  medium)     ce=10000; cs=50000;  cd_=250; ne=10000; ns=30000;  nd=200 ;;
  production) ce=25000; cs=500000; cd_=500; ne=40000; ns=200000; nd=1000 ;;
  *) echo "LENGTH must be short, medium or production" >&2; exit 2 ;;
esac
ce=${CL_EQUIL:-$ce}; cs=${CL_STEPS:-$cs}; ne=${NNP_EQUIL:-$ne}; ns=${NNP_STEPS:-$ns}
jobs=$(nproc 2>/dev/null || echo 2)
ranks=${RANKS:-$([ "$jobs" -ge 2 ] && echo 2 || echo 1)}
. "$top/scripts/lammps-env.sh"
lammps_env
run=${RUN_DIR:-$top/build/examples-nacl-compare}
mkdir -p "$run/classical"
run=$(cd "$run" && pwd)
cd "$run"
[ -f nacl.data ] && [ -f nacl-full.data ] ||
  /usr/bin/python3 "$top/bench/make_nacl_box.py" nacl.xyz --lammps-data nacl.data --lammps-full nacl-full.data
lammps_mpi "$ranks"

if [ -z "${SKIP_CLASSICAL:-}" ]; then
  echo "== SPC/E + Joung-Cheatham NVT: $ce + $cs steps of 2 fs, $ranks rank(s), in $run/classical"
  start=$SECONDS
  (cd classical && rm -f traj.dump msd.dat &&
   "${mpi[@]}" -in "$here/in.nacl-spce-jc" -var data ../nacl-full.data -var equil "$ce" -var steps "$cs" \
     -var dump_every "$cd_" -log log.lammps -screen none) || lammps_fail classical
  echo "   $((SECONDS - start)) s"
fi
runs=("SPC/E+JC=classical")
if [ -n "$model" ]; then
  mkdir -p nnp
  echo "== NNP NVT ($(basename "$model")): $ne + $ns steps of 0.5 fs, $ranks rank(s), in $run/nnp"
  start=$SECONDS
  lammps_forcefield "$model" nnp/forcefield.lammps
  (cd nnp && rm -f traj.dump msd.dat &&
   "${mpi[@]}" -in "$here/in.nacl-nnp" -var plugin "$plugin" -var model "$model" -var data ../nacl.data \
     -var forcefield forcefield.lammps \
     -var equil "$ne" -var steps "$ns" -var dump_every "$nd" -log log.lammps -screen none) || lammps_fail nnp
  echo "   $((SECONDS - start)) s"
  runs=("NNP $(basename "$model" .nnp)=nnp" "${runs[@]}")
else
  echo "(no NNP model given: classical reference only)"
fi
/usr/bin/python3 "$here/analyse_nacl.py" "${runs[@]}" --ranks "$ranks" --out "$run/nacl-compare.png" \
  --json "$run/nacl-compare.json"
