#!/usr/bin/env bash
# Long-run stability of a potential: NVT at 300 K for NVT_PS picoseconds, then NVE for NVE_PS, from a configuration
# (one extended-XYZ frame, e.g. the check configuration shipped beside the potential). Prints the temperature and
# potential energy over the NVT part and the total-energy drift of the NVE part (analyse.py).
#
# usage: examples/stability/run.sh MODEL.nnp START.xyz [NVT_PS (100)] [NVE_PS (20)]
#   e.g. examples/stability/run.sh potentials/water-revpbe0d3.nnp potentials/water-revpbe0d3.check.xyz
# Environment: RANKS (default 1), RUN_DIR (default build/stability-MODELNAME), LMP, NNP_PLUGIN (as examples/water/run.sh),
#   PRECISION (double, the default, or single: pair_style nnp precision)
# Cost: 0.5 fs steps, 2000 steps per ps; 192 atoms at ~25 us/atom-step take ~10 s per ps on one core.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
model=$(realpath "$1")
start=$(realpath "$2")
nvt_ps=${3:-100}
nve_ps=${4:-20}
. "$top/scripts/lammps-env.sh"
lammps_env
run=${RUN_DIR:-$top/build/stability-$(basename "$model" .nnp)}
mkdir -p "$run"
cd "$run"
elements=$(awk '$1 == "species" { $1 = ""; print; exit }' "$model")
/usr/bin/python3 "$top/pair_nnp/tools/xyz2data.py" "$start" start.data --species $elements
lammps_mpi "${RANKS:-1}"
nvt=$((nvt_ps * 2000))
nve=$((nve_ps * 2000))
echo "== $(basename "$model"): NVT $nvt_ps ps + NVE $nve_ps ps ($nvt + $nve steps of 0.5 fs) in $run"
SECONDS=0
"${mpi[@]}" -in "$here/in.stability" -var plugin "$plugin" -var model "$model" -var elements "$elements" \
  -var data start.data -var precision "${PRECISION:-double}" -var nvt_steps "$nvt" -var nve_steps "$nve" -var thermo_nvt 1000 -var thermo_nve 100 \
  -log log.lammps -screen none || lammps_fail "$run"
echo "   $SECONDS s"
/usr/bin/python3 "$here/analyse.py" log.lammps --json stability.json
