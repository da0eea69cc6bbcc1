#!/usr/bin/env bash
# A NequIP 0.6.2 model of liquid water trained here with nequip's own trainer, imported, and run in LAMMPS
# (docs/nequip.md, "A NequIP model trained here"). Steps (each can be run alone: STEP=train|import|md|speed):
#   train   nequip-train examples/nequip/water_l1.yaml on the intact-molecule frames of the shared water data
#           (one thread, nice 10; stops after 540 s of wall time), then resumed up to 1440 s
#   import  nnp_import_nequip.py build-nequip/results/water_l1 -> examples/nequip/water_l1.nnp
#   md      examples/stability/run.sh: 192 atoms, NVT 300 K for NVT_PS (default 2), then NVE for NVE_PS (default 10)
#   speed   bench/nequip_speed.py --train-dir: NequIP's own CPU evaluation against pnnp-eval, same model and frame
# Run from anywhere; needs ../shared (data and third_party) beside the repository, python3-torch/yaml/ase/tqdm,
# and for md/speed the builds named by LMP, NNP_PLUGIN and NNP_EVAL (defaults: the trixie LAMMPS of
# cmake/get-lammps.sh, build-lammps-trixie's plugin and pnnp-eval).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
tp=${NNP_NEQUIP_SOURCES:-$top/../shared/third_party}
data=$top/../shared/data/water_revPBE0-D3.extxyz
step=${STEP:-all}
py=(env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 10 /usr/bin/python3)
pypath=()
for d in nequip-0.6.2 e3nn-0.5.1 pytorch_runstats-0.2.0 opt_einsum_fx-0.1.4 opt_einsum-3.3.0; do
  pypath+=(--python-path "$tp/$d")
done
if [ "$step" = all ] || [ "$step" = train ]; then
  mkdir -p build-nequip
  "${py[@]}" examples/nequip/intact_frames.py "$data" build-nequip/water_intact.extxyz
  "${py[@]}" examples/nequip/nequip_train.py --third-party "$tp" examples/nequip/water_l1.yaml
  # resume (same run): only the wall-time bound differs, which nequip-train lets a restart change
  sed 's/^  cumulative_wall: 540 .*/  cumulative_wall: 1440/' examples/nequip/water_l1.yaml \
    >build-nequip/water_l1_resume.yaml
  "${py[@]}" examples/nequip/nequip_train.py --third-party "$tp" build-nequip/water_l1_resume.yaml
fi
if [ "$step" = all ] || [ "$step" = import ]; then
  "${py[@]}" pair_nnp/tools/nnp_import_nequip.py build-nequip/results/water_l1 -o examples/nequip/water_l1.nnp \
    --pretend-torch-version 1.13.1 "${pypath[@]}"
fi
if [ "$step" = all ] || [ "$step" = md ]; then
  export NNP_PLUGIN=${NNP_PLUGIN:-$top/build-lammps-trixie/pair_nnp/lammps/pair_nnp.so}
  RUN_DIR=${RUN_DIR:-$top/build-nequip/md} nice -n 10 examples/stability/run.sh examples/nequip/water_l1.nnp \
    potentials/water-revpbe0d3.check.xyz "${NVT_PS:-2}" "${NVE_PS:-10}"
fi
if [ "$step" = all ] || [ "$step" = speed ]; then
  "${py[@]}" bench/nequip_speed.py --pnnp-eval "${NNP_EVAL:-$top/build-lammps-trixie/pair_nnp/pnnp-eval}" \
    --third-party "$tp" --train-dir build-nequip/results/water_l1 --data potentials/water-revpbe0d3.check.xyz \
    --workdir build-nequip/speed
fi
