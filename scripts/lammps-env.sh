# Sourced by the example scripts (needs $top, the repository root). lammps_mpi RANKS sets $mpi, the command that
# starts $lmp on RANKS MPI ranks with one OpenMP thread each; lammps_fail DIR reports the end of DIR/log.lammps
# and exits. lammps_env finds or builds LAMMPS with the
# PLUGIN package and the pair_style nnp plugin, and sets $lmp, $plugin and $lammps_tag. LMP and NNP_PLUGIN name
# existing ones instead; NNP_LAMMPS_TAG (bookworm | trixie, default from /etc/os-release) and NNP_CACHE pick the
# cached LAMMPS build of cmake/get-lammps.sh. lammps_forcefield MODEL OUT writes MODEL's force-field include (pair_style
# nnp, plus the baseline's lines when the model declares one: docs/model.md, "Baselines") with pnnp-baseline --lammps.
lammps_env() {
  local jobs build codename
  jobs=$(nproc 2>/dev/null || echo 2)
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  lammps_tag=${NNP_LAMMPS_TAG:-$([ "$codename" = trixie ] && echo trixie || echo bookworm)}
  lmp=${LMP:-$("$top/cmake/get-lammps.sh" "$lammps_tag" | tail -n 1)}
  if [ -n "${NNP_PLUGIN:-}" ]; then
    plugin=$NNP_PLUGIN
    nnp_baseline=${NNP_BASELINE:-$(command -v pnnp-baseline || echo "$top/build/pair_nnp/pnnp-baseline")}
    return
  fi
  build=$top/build-lammps-$lammps_tag
  cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DNNP_LAMMPS_SOURCE="${NNP_CACHE:-$HOME/.cache/pair_nnp}/lammps-$lammps_tag/source" >/dev/null
  cmake --build "$build" -j"$jobs" --target pair_nnp_lammps pnnp-baseline >/dev/null
  plugin=$build/pair_nnp/lammps/pair_nnp.so
  nnp_baseline=${NNP_BASELINE:-$build/pair_nnp/pnnp-baseline}
}

# A model with a c6c8 baseline also gets its pair_style table file written next to it.
lammps_forcefield() {
  "$nnp_baseline" --lammps "$1" >"$2" || {
    echo "pnnp-baseline --lammps $1 failed" >&2
    exit 1
  }
}

lammps_mpi() {
  mpi=(mpirun --oversubscribe --allow-run-as-root -np "$1" -x OMP_NUM_THREADS=1 "$lmp")
}

lammps_fail() {
  echo "LAMMPS failed; the end of $1/log.lammps:" >&2
  tail -n 5 "$1/log.lammps" >&2
  exit 1
}
