#!/usr/bin/env bash
# The coarse-grained stage of the CG NaCl(aq) example (issue 17), after run.sh's all-atom data stage, for each
# concentration M of RUN_DIR/mM:
#   1. the training configuration (short: a tiny model, a few epochs; long: cg-train.cfg) on RUN_DIR/cg-nacl-mM.extxyz
#   2. pnnp-baseline (screened Coulomb between the ions, cached) and pnnp-train (force matching; resumed from its
#      checkpoint when one exists)
#   3. CG Langevin MD of the same ion pairs in the all-atom NVT box (in.cg-nacl), frames every DUMP steps
#   3b. analyse_cg.py: CPU-h per simulated ns and speed-up against all-atom, CG ion diffusion against all-atom
#   4. ion_structure.py: Na-Cl, Na-Na, Cl-Cl g(r) of CG against all-atom at every concentration (table, JSON, figure)
#   5. nucleation.py on every CG run (largest cluster, rock-salt fraction), and, for LENGTH=long, NUC_SEEDS runs of a
#      large box (NUC_PAIRS pairs at the ion density of the highest concentration) with the model of that
#      concentration, each analysed the same way
# Outputs in RUN_DIR/cg/: cg-mM.cfg, cg-mM.nnp (+ .csv learning curve), mM/ (CG run), summary-mM.json,
# structure.{md,json,png}, nucleation-*.{tsv,png}.
#   env: LENGTH (short|long), RUN_DIR, MOLALITIES, LMP, NNP_PLUGIN (pair_nnp.so for LMP), NNP_BIN (pnnp-* folder),
#        CG_DT (time step, ps; default 0.002), CG_PS (length of each CG run, ps; short 4, long 1000), NUC_PAIRS
#        (long: 1000), NUC_PS (long: 1000), NUC_SEEDS (long: "1 2 3"; empty: no nucleation runs), NUC_SCALE (the nucleation boxes' ion density
#        over the highest concentration's, default 1: above 1 the model runs beyond the density it was trained at),
#        CG_CONFIG (long: the training configuration, default cg-train.cfg; e.g. cg-train-l1.cfg), CG_NAME (the
#        output folder under RUN_DIR, default cg: one per model family)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
lmp=${LMP:-$HOME/.cache/pair_nnp/lammps-bookworm/build/lmp}
plugin=${NNP_PLUGIN:-$top/build-lammps-bookworm/pair_nnp/lammps/pair_nnp.so}
bin=${NNP_BIN:-$top/build/pair_nnp}
mols=${MOLALITIES:-1 2 3 4}
for f in "$lmp" "$plugin" "$bin/pnnp-train" "$bin/pnnp-baseline"; do
  [ -e "$f" ] || { echo "cg_stage.sh: missing $f (set LMP, NNP_PLUGIN, NNP_BIN)" >&2; exit 1; }
done
case "${LENGTH:-short}" in
  short) run=${RUN_DIR:-$top/build/examples-cg-nacl}; cg_ps=${CG_PS:-4}; dump_ps=0.02; chunk_ps=2; skip_ps=0 ;;
  long)  run=${RUN_DIR:-$here/runs}; cg_ps=${CG_PS:-1000}; dump_ps=1; chunk_ps=20; skip_ps=20 ;;
  *) echo "LENGTH must be short or long" >&2; exit 2 ;;
esac
dt=${CG_DT:-0.002}
steps_of() {  # ps -> steps of dt (exact multiples only: the dump and checkpoint grids must line up)
  "$py" -c "import sys; n = $1 / $dt; k = round(n); sys.exit('cg_stage.sh: %s ps is not a multiple of CG_DT $dt ps' % $1) if abs(n - k) > 1e-6 * max(1, n) else print(k)"
}
steps=$(steps_of "$cg_ps"); dump=$(steps_of "$dump_ps"); chunk=$(steps_of "$chunk_ps")
cg=$run/${CG_NAME:-cg}
config=${CG_CONFIG:-$here/cg-train.cfg}
mkdir -p "$cg"

# The tiny model of the short version: plumbing, not physics (2 ps of data cannot define a mean force)
short_config() {  # $1 molality
  cat <<EOF
species Na Cl
r_cut 8.0
l_max 1
channels 8
layers 1
radial_basis 6
radial_hidden 16
readout_hidden 8
r_min 1.5
train ../cg-nacl-m$1.extxyz
energy_weight 0
validation_fraction 0.2
validation_split last
validation_gap 2
baseline coulomb 8.0 1e-5 Na:1 Cl:-1 dielectric 71
seed 1
batch_size 4
learning_rate 0.01
epochs 150
output cg-m$1.nnp
EOF
}

triples=()
for m in $mols; do
  data=$run/cg-nacl-m$m.extxyz
  [ -s "$data" ] || { echo "cg_stage.sh: no all-atom frames $data (run.sh's data stage first)" >&2; exit 1; }
  # in.cg-nacl's repulsive guard acts just inside the closest pair of each kind in the data (ion_traj.py guard)
  read -r -a guard <<< "$("$py" "$here/ion_traj.py" guard "$data")"
  echo "cg_stage.sh: m$m guard ${guard[*]}"
  printf '%s\n' "${guard[@]}" > "$cg/guard-m$m.txt"
  cfg=$cg/cg-m$m.cfg
  if [ "${LENGTH:-short}" = short ]; then
    short_config "$m" > "$cfg"
  else
    sed -e "s#^train .*#train ../cg-nacl-m$m.extxyz#" -e "s#^output .*#output cg-m$m.nnp#" "$config" > "$cfg"
  fi
  (
    cd "$cg"
    "$bin/pnnp-baseline" "$(basename "$cfg")" --lmp "$lmp"
    resume=()
    [ -f "cg-m$m.nnp.ckpt" ] && resume=(--resume "cg-m$m.nnp.ckpt")
    "$bin/pnnp-train" "$(basename "$cfg")" --threads 1 "${resume[@]}" > "train-m$m.out" 2>&1 ||
      { tail -5 "train-m$m.out" >&2; exit 1; }
    tail -2 "train-m$m.out"
    "$bin/pnnp-baseline" --lammps "cg-m$m.nnp" > "cg-m$m.lammps"
  )
  pairs=$("$py" -c "import json; print(json.load(open('$run/m$m/params.json'))['pairs'])")
  box=$(cat "$run/m$m/npt_box.txt")
  md=$cg/m$m
  mkdir -p "$md"
  [ -f "$md/start.data" ] || "$py" "$here/make_cg_start.py" "$pairs" "$box" "$m" "$md/start.data"
  "$py" "$here/cg_md.py" "$md" --steps "$steps" --chunk "$chunk" --dump-every "$dump" --seed "$m" "${guard[@]}" \
    --var dt "$dt" \
    --forcefield "$cg/cg-m$m.lammps" --model "$cg/cg-m$m.nnp" --plugin "$plugin" --lmp "$lmp" ||
    { tail -20 "$md/log.lammps" >&2; exit 1; }
  "$py" "$here/analyse_cg.py" "$run/m$m" "$md" --skip-ps "$skip_ps" --dt-ps "$dt" --json "$cg/summary-m$m.json"
  "$py" "$here/nucleation.py" "$md/cg.dump" --skip-ps "$skip_ps" --dt-ps "$dt" --tsv "$cg/nucleation-m$m.tsv" \
    --figure "$cg/nucleation-m$m.png" --label "CG, $pairs pairs in the all-atom box of m$m"
  triples+=("m$m" "$data" "$md/cg.dump")
done
# g(r) to 10 A, or half the smallest box when that is less (the short boxes are about 21 A)
rmax=$("$py" -c "print(min(10.0, 0.5 * min(float(open('$run/m%s/npt_box.txt' % m).read()) for m in '$mols'.split()) - 0.01))")
"$py" "$here/ion_structure.py" "${triples[@]}" --aa-types 3:Na,4:Cl --cg-types 1:Na,2:Cl --cg-skip-ps "$skip_ps" \
  --dt-ps "$dt" \
  --rmax "$rmax" --json "$cg/structure.json" --figure "$cg/structure.png" | tee "$cg/structure.md"

if [ "${LENGTH:-short}" = long ]; then
  top_m=${mols##* }
  pairs=$("$py" -c "import json; print(json.load(open('$run/m$top_m/params.json'))['pairs'])")
  box=$(cat "$run/m$top_m/npt_box.txt")
  nuc_pairs=${NUC_PAIRS:-1000}
  scale=${NUC_SCALE:-1}
  nuc_box=$("$py" -c "print($box * ($nuc_pairs / $pairs / $scale) ** (1 / 3))")
  tag=m$top_m; [ "$scale" = 1 ] || tag=m$top_m-x$scale
  for seed in ${NUC_SEEDS-1 2 3}; do
    d=$cg/nucleation-$tag-s$seed
    mkdir -p "$d"
    [ -f "$d/start.data" ] || "$py" "$here/make_cg_start.py" "$nuc_pairs" "$nuc_box" "$seed" "$d/start.data"
    mapfile -t guard < "$cg/guard-m$top_m.txt"
    "$py" "$here/cg_md.py" "$d" --steps "$(steps_of "${NUC_PS:-1000}")" --chunk "$chunk" \
      --dump-every "$(steps_of 10)" --seed "$seed" "${guard[@]}" --var dt "$dt" \
      --forcefield "$cg/cg-m$top_m.lammps" --model "$cg/cg-m$top_m.nnp" --plugin "$plugin" --lmp "$lmp" ||
      { tail -20 "$d/log.lammps" >&2; exit 1; }
    "$py" "$here/nucleation.py" "$d/cg.dump" --dt-ps "$dt" --tsv "$d.tsv" --figure "$d.png" --snapshot "$d-cluster.xyz" \
      --label "CG m$top_m model, $nuc_pairs pairs at $scale x its ion density, seed $seed"
  done
fi
