#!/usr/bin/env bash
# Water, NNP against SPC/E and experiment: runs 512 H2O (1536 atoms) in NPT at 300 K and 1 bar with pair_style nnp
# (in.water-npt) and with SPC/E + PPPM + SHAKE (in.spce-npt), then analyse_md.py: O-O/O-H/H-H radial distribution
# functions, density, self-diffusion of O, cost per atom-step, and the figure water-compare.png.
#
# usage: examples/water/compare.sh [MODEL.nnp]     (default: potentials/water-revpbe0d3.nnp, the shipped potential)
#   e.g. examples/water/compare.sh potentials/water-revpbe0d3.nnp
#   LENGTH=production examples/water/compare.sh potentials/water-revpbe0d3.nnp
# Environment:
#   LENGTH=short        (default) SPC/E 20 ps equilibration + 10 ps production (2 fs steps, 15000 steps: 70 s
#                       on 2 idle cores, up to 3 min on busy ones); NNP 0.05 ps + 0.15 ps (0.5 fs steps,
#                       400 steps: a smoke test, 10-20 s with the shipped potential at ~20 us/atom-step/core).
#                       The short numbers are rough.
#   LENGTH=medium       SPC/E 20 ps + 100 ps; NNP 5 ps + 15 ps (40000 steps: ~15 min on 2 cores with the shipped
#                       potential); what the README's figure shows.
#   LENGTH=production   SPC/E 20 ps + 100 ps; NNP 20 ps + 100 ps (240000 steps: hours; run it on a big machine).
#   SPCE_EQUIL SPCE_STEPS NNP_EQUIL NNP_STEPS   override the step counts of the chosen LENGTH
#   SKIP_SPCE=1 / SKIP_NNP=1   reuse an existing run directory for that model (analysis only for it)
#   RANKS (default: 2 if there are 2 cores, else 1)   RUN_DIR (default: build/examples-water-compare)
#   LMP=path/to/lmp, NNP_PLUGIN=path/to/pair_nnp.so   skip the LAMMPS/plugin build steps (as in run.sh)
# The start is a lattice (bench/make_water_box.py): the structure keeps relaxing for ~10 ps (the potential energy
# drifts down and D comes out too high: SPC/E 3.5e-9 m^2/s after 2 ps of equilibration, 2.6e-9 after 20 ps, from
# one 10 ps window), so keep at least 20 ps of equilibration for the diffusion coefficient.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
model=$(realpath "${1:-$top/potentials/water-revpbe0d3.nnp}")
case "${LENGTH:-short}" in
  short)      se=10000; ss=5000;   sd=50;  sm=25;  ne=100;   ns=300;    nd=20;   nm=10 ;;
  medium)     se=10000; ss=50000; sd=250; sm=50;  ne=10000; ns=30000;  nd=200;  nm=20 ;;
  production) se=10000; ss=50000; sd=250; sm=50;  ne=40000; ns=200000; nd=1000; nm=100 ;;
  *) echo "LENGTH must be short, medium or production" >&2; exit 2 ;;
esac
se=${SPCE_EQUIL:-$se}; ss=${SPCE_STEPS:-$ss}; ne=${NNP_EQUIL:-$ne}; ns=${NNP_STEPS:-$ns}
jobs=$(nproc 2>/dev/null || echo 2)
ranks=${RANKS:-$([ "$jobs" -ge 2 ] && echo 2 || echo 1)}
. "$top/scripts/lammps-env.sh"
lammps_env
run=${RUN_DIR:-$top/build/examples-water-compare}
mkdir -p "$run/spce" "$run/nnp"
run=$(cd "$run" && pwd)
cd "$run"
[ -f water.data ] && [ -f water-full.data ] ||
  /usr/bin/python3 "$top/bench/make_water_box.py" water.xyz --replicate 2 --lammps-data water.data \
    --lammps-full water-full.data
lammps_mpi "$ranks"

if [ -z "${SKIP_SPCE:-}" ]; then
  echo "== SPC/E NPT: $se + $ss steps of 2 fs, $ranks rank(s), in $run/spce"
  start=$SECONDS
  (cd spce && rm -f traj.dump msd.dat &&
   "${mpi[@]}" -in "$here/in.spce-npt" -var data ../water-full.data -var equil "$se" -var steps "$ss" \
     -var dump_every "$sd" -var msd_every "$sm" -log log.lammps -screen none) || lammps_fail spce
  echo "   $((SECONDS - start)) s"
fi
if [ -z "${SKIP_NNP:-}" ]; then
  echo "== NNP NPT ($(basename "$model")): $ne + $ns steps of 0.5 fs, $ranks rank(s), in $run/nnp"
  start=$SECONDS
  lammps_forcefield "$model" nnp/forcefield.lammps
  (cd nnp && rm -f traj.dump msd.dat &&
   "${mpi[@]}" -in "$here/in.water-npt" -var plugin "$plugin" -var model "$model" -var data ../water.data \
     -var forcefield forcefield.lammps \
     -var equil "$ne" -var steps "$ns" -var dump_every "$nd" -var msd_every "$nm" -log log.lammps -screen none) ||
    lammps_fail nnp
  echo "   $((SECONDS - start)) s"
fi
/usr/bin/python3 "$here/analyse_md.py" "NNP $(basename "$model" .nnp)=nnp" "SPC/E=spce" --ranks "$ranks" \
  --out "$run/water-compare.png" --json "$run/water-compare.json"
