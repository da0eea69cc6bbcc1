#!/usr/bin/env bash
# Installs the Debian packages pair_nnp needs (build tools, BLAS, MPI, Python with numpy and matplotlib; torch, yaml,
# ase and tqdm for the NequIP import and its test; python3-ase also for the ASE calculator).
# Does nothing for packages that are already there; needs root (or sudo) only when something is missing.
set -euo pipefail
# locales: the sources localedef builds the test's de_DE.UTF-8 from; python3-ase: the ASE calculator's test.
packages=(build-essential cmake pkg-config libopenblas-dev libopenmpi-dev openmpi-bin python3 python3-numpy
          python3-matplotlib python3-torch python3-yaml python3-ase python3-tqdm locales xz-utils curl ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
