#!/usr/bin/env bash
# Builds pair_nnp and runs the whole test suite twice: an optimised build, then one under AddressSanitizer and
# UndefinedBehaviorSanitizer. Installs what it needs from Debian's packages. Usage: ./run-tests.sh
set -euo pipefail
cd "$(dirname "$0")"
jobs=$(nproc 2>/dev/null || echo 2)
scripts/install-deps.sh

echo "== optimised build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure)

echo "== AddressSanitizer + UBSan build and tests"
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNP_SANITIZE=ON >/dev/null
cmake --build build-sanitize -j"$jobs"
(cd build-sanitize && ctest --output-on-failure)

# pair_style nnp against both LAMMPS versions the project supports (29 Sep 2021 = Debian 12, 4 Feb 2025 =
# Debian 13), each built once from Debian's source package and cached in ~/.cache/pair_nnp (NNP_SKIP_LAMMPS=1 skips).
if [ "${NNP_SKIP_LAMMPS:-0}" != 1 ]; then
  for tag in bookworm trixie; do
    echo "== LAMMPS ($tag) plugin build and tests"
    cmake/get-lammps.sh "$tag" | tail -n 1
    cmake -S . -B "build-lammps-$tag" -DCMAKE_BUILD_TYPE=Release \
      -DNNP_LAMMPS_SOURCE="${NNP_CACHE:-$HOME/.cache/pair_nnp}/lammps-$tag/source" >/dev/null
    cmake --build "build-lammps-$tag" -j"$jobs"
    (cd "build-lammps-$tag" && ctest -L lammps --output-on-failure)
  done
fi
