#!/usr/bin/env bash
# A long fuzzing session in the background of other work: both harnesses at once, at the lowest CPU priority, until
# each has executed RUNS inputs or SECONDS have passed (defaults: 10^6 inputs, 4 hours). Findings and statistics as
# for fuzz/run.sh; record the executed counts in fuzz/README.md.
#   fuzz/run-long.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
exec nice -n 19 fuzz/run.sh "${2:-14400}" "${1:-1000000}" parallel
