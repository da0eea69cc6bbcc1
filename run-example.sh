#!/usr/bin/env bash
# Main job: installs dependencies, builds pair_nnp, and runs the water example (1536-atom water box).
# Usage: ./run-example.sh
set -euo pipefail
cd "$(dirname "$0")"
jobs=$(nproc 2>/dev/null || echo 2)
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
exec examples/water/run.sh
