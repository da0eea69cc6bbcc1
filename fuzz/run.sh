#!/usr/bin/env bash
# Builds the libFuzzer harnesses (ASan + UBSan, Debian's clang) and runs each for a bounded time.
#   fuzz/run.sh [SECONDS] [RUNS] [parallel]
# SECONDS per harness (default 60, as .ci/run uses it); RUNS: stop a harness after that many inputs (default: no
# limit); `parallel`: both harnesses at once (fuzz/run-long.sh). Each harness starts from its seed corpus in
# fuzz/corpus/NAME (never modified) plus what earlier runs in this build directory found (build-fuzz/corpus/NAME).
# Any crash, sanitizer report, leak, timeout (> 10 s for one input) or out-of-memory (> 2 GB) fails the run; the
# input that caused it is left in build-fuzz/artifacts/. fuzz/README.md explains.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
runs=${2:--1}
parallel=${3:-}

# clang, libFuzzer (Debian's libclang-rt-14-dev) and OpenMP for clang, from Debian's packages when missing
packages=(clang libclang-rt-14-dev libomp-dev)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${NNP_FUZZ_BUILD:-build-fuzz}
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNP_FUZZ=ON -DNNP_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target fuzz_model fuzz_extxyz >/dev/null

# One OpenMP thread: the harnesses use one, and idle OpenMP workers only slow libFuzzer down.
export OMP_NUM_THREADS=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() { # NAME: runs one harness, prints its statistics; non-zero status on a finding
  local name=$1 log="$build/fuzz_$1.log"
  mkdir -p "$build/corpus/$name" "$build/artifacts"
  local flags=(-max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -max_len=65536
               -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" -dict="fuzz/$name.dict")
  local rc=0
  "$build/fuzz/fuzz_$name" "${flags[@]}" "$build/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
  local limit="$seconds s at most"
  [ "$runs" -ge 0 ] && limit+=", $runs inputs at most"
  echo "== fuzz_$name ($limit; log $log):" \
       "$(grep -h "stat::number_of_executed_units" "$log" | awk '{print $2}') inputs executed," \
       "peak RSS $(grep -h "stat::peak_rss_mb" "$log" | awk '{print $2}') MB"
  if [ $rc -ne 0 ]; then
    echo "fuzz_$name FAILED (status $rc): see $log and $build/artifacts/"
    tail -n 40 "$log"
  fi
  return $rc
}

status=0
targets=${NNP_FUZZ_TARGETS:-model extxyz} # a subset, e.g. NNP_FUZZ_TARGETS=model
pids=()
for name in $targets; do
  if [ "$parallel" = parallel ]; then
    run_one "$name" &
    pids+=($!)
  else
    run_one "$name" || status=1
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
