#!/usr/bin/env bash
# Long MD across sessions: the first call starts from DATA, later calls continue from DIR/restart.latest; each call runs
# CHUNKS x CHUNK steps and can be killed at any time (at most one chunk is lost). Thermo rows (every 25 fs): DIR/thermo.dat.
#   usage: training/md/resumable_md.sh npt|nvt MODEL.nnp DIR DATA CHUNK CHUNKS [TEMP_K]
#   env: ELEMENTS (element of each atom type of DATA, default "O H"); DUMP_EVERY: steps between frames appended to
#        DIR/traj.dump (id type xu yu zu; default 0, none), trimmed like thermo.dat when a run resumes
#   then:  examples/thermo_stats.py DIR/thermo.dat Density --skip-ps 5   (Press for NVT)
#   env: LMP, NNP_PLUGIN, NNP_BASELINE as in npt_water.sh; NNP_OPTIONS: pair_style nnp keywords (e.g. "precision single")
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
lmp=${LMP:-$HOME/.cache/pair_nnp/lammps-trixie/build/lmp}
plugin=${NNP_PLUGIN:-$top/build-lammps-trixie/pair_nnp/lammps/pair_nnp.so}
baseline=${NNP_BASELINE:-$top/build/pair_nnp/pnnp-baseline}
ensemble=$1; model=$(realpath "$2"); dir=$3; data=$(realpath "$4"); chunk=$5; chunks=$6; temp=${7:-300.0}
case $ensemble in npt|nvt) ;; *) echo "resumable_md.sh: ensemble must be npt or nvt, not '$ensemble'" >&2; exit 2;; esac
mkdir -p "$dir"; cd "$dir"
"$baseline" --lammps "$model" > forcefield.lammps
if [ -f restart.latest ]; then
  fresh=0; start=restart.latest
  step=$(cat restart.step)
  # rows written after the last restart are re-run: drop them
  awk -v s="$step" 'NR == 1 || $1 <= s' thermo.dat > thermo.tmp && mv thermo.tmp thermo.dat
  # a new machine has only the committed, packed trajectory (see training/md/README.md)
  if [ ! -f traj.dump ] && [ -f traj.dump.xz ]; then xz -dc traj.dump.xz > traj.dump; fi
  # frames from the restart's step on are written again by the resumed run
  if [ -f traj.dump ]; then
    awk -v s="$step" '/^ITEM: TIMESTEP/ { head = $0; getline; keep = ($1 < s); if (keep) print head } keep' \
      traj.dump > traj.tmp && mv traj.tmp traj.dump
  fi
else
  fresh=1; start=$data; rm -f traj.dump
  echo "Step Time Temp PotEng Press Density Volume" > thermo.dat
fi
logs=(log.*.lammps); [ -e "${logs[0]}" ] || logs=(); n=${#logs[@]}
options=(-var dump_every "${DUMP_EVERY:-0}")
[ -z "${NNP_OPTIONS:-}" ] || options+=(-var nnp_options "$NNP_OPTIONS")
OMP_NUM_THREADS=1 "$lmp" -in "$top/training/md/in.npt-resumable" -var plugin "$plugin" -var model "$model" \
  -var elem "${ELEMENTS:-O H}" -var forcefield forcefield.lammps \
  -var start "$start" -var fresh $fresh -var ensemble "$ensemble" -var temp "$temp" -var chunk "$chunk" \
  -var chunks "$chunks" "${options[@]}" -log "log.$((n + 1)).lammps" -screen none
