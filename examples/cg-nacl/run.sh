#!/usr/bin/env bash
# The data stage of the coarse-grained (ion-only) NaCl(aq) example: all-atom SPC/E + Joung-Cheatham NaCl(aq) at
# 1, 2, 3 and 4 mol/kg (driver.py + in.aa-nacl: NPT 300 K / 1 bar, then NVT that dumps the ion positions and the
# total force on every ion), conversion to extended XYZ for pnnp-train (convert_extxyz.py, force-only frames), and
# the all-atom analysis (analyse_aa.py: temperature, density, cost per ns, Na+/Cl- self-diffusion).
#
# Then the coarse-grained stage (cg_stage.sh: CG training, CG Langevin MD, g(r) against all-atom, nucleation
# analysis), unless CG=0.
#
# usage: examples/cg-nacl/run.sh
#   LENGTH=short  (default) 300 H2O per box (5-22 ion pairs), 0.4 ps NPT + 1 ps NVT per concentration, frames every
#                 0.02 ps, in build/examples-cg-nacl/: a smoke test of the whole chain (1-3 min on 2 busy cores)
#   LENGTH=long   WATERS (default 800) H2O per box (14, 29, 43, 58 ion pairs), 100 ps NPT + NVT_PS (default 1000) ps NVT,
#                 frames every DUMP_PS (default 0.2) ps, checkpoints every 2 ps, in examples/cg-nacl/runs/; the four concentrations
#                 run at the same time, one core each. Resumable: run the same command again after a kill.
#                 For a shared machine:  nohup nice -n 19 examples/cg-nacl/run.sh > runs.out 2>&1 &  (LENGTH=long)
#   MOLALITIES="1 2 3 4"  which concentrations;  LMP=path/to/lmp (default: the cached bookworm build)
#   SKIP_PS (long: 20, short: 0)  NVT time dropped by the conversion and the analysis
#   CG=0  stop after the data stage;  NNP_PLUGIN, NNP_BIN, CG_DT, CG_PS, CG_CONFIG, CG_NAME, NUC_*: see cg_stage.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
export LMP=${LMP:-$HOME/.cache/pair_nnp/lammps-bookworm/build/lmp}
[ -x "$LMP" ] || { echo "run.sh: no LAMMPS at $LMP (set LMP; needs KSPACE, MOLECULE, RIGID)" >&2; exit 1; }
mols=${MOLALITIES:-1 2 3 4}
case "${LENGTH:-short}" in
  short) run=${RUN_DIR:-$top/build/examples-cg-nacl}; waters=300; npt=0.4; nvt=1.0; chunk=0.2; dump=0.02
         skip=${SKIP_PS:-0}; parallel=0 ;;
  long)  run=${RUN_DIR:-$here/runs}; waters=${WATERS:-800}; npt=100; nvt=${NVT_PS:-1000}; chunk=2; dump=${DUMP_PS:-0.2}
         skip=${SKIP_PS:-20}; parallel=1 ;;
  *) echo "LENGTH must be short or long" >&2; exit 2 ;;
esac
mkdir -p "$run"
dirs=()
pids=()
for m in $mols; do
  args=("$run/m$m" --molality "$m" --waters "$waters" --npt-ps "$npt" --nvt-ps "$nvt" --chunk-ps "$chunk"
        --dump-ps "$dump" --seed "$m")
  dirs+=("$run/m$m")
  if [ "$parallel" = 1 ]; then
    "$py" "$here/driver.py" "${args[@]}" > "$run/driver-m$m.out" 2>&1 &
    pids+=($!)
  else
    "$py" "$here/driver.py" "${args[@]}"
  fi
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || { echo "run.sh: a driver failed; see $run/driver-m*.out" >&2; exit 1; }
for m in $mols; do
  "$py" "$here/convert_extxyz.py" "$run/m$m/ions.dump" "$run/cg-nacl-m$m.extxyz" --skip-ps "$skip"
done
"$py" "$here/analyse_aa.py" "${dirs[@]}" --skip-ps "$skip" --json "$run/aa-summary.json"
if [ "${CG:-1}" = 1 ]; then
  LENGTH=${LENGTH:-short} RUN_DIR=$run MOLALITIES=$mols "$here/cg_stage.sh"
fi
