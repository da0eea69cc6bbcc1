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
