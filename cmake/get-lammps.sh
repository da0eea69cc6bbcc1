#!/usr/bin/env bash
# Fetch and build a stock LAMMPS with the PLUGIN package, for `pair_style nnp`.
#
#   cmake/get-lammps.sh bookworm     # LAMMPS 29 Sep 2021 update 2 (Debian 12 source package)
#   cmake/get-lammps.sh trixie       # LAMMPS 4 Feb 2025 (Debian 13 source package)
#
# Debian's own `lmp` binary lacks the PLUGIN package, so we build LAMMPS from Debian's source package, fetched with
# apt through a private sources list and private state/cache directories (/etc/apt is never touched).
# Result, cached outside the work tree (idempotent: an existing binary is reused):
#   ${NNP_CACHE:-$HOME/.cache/pair_nnp}/lammps-TAG/source   LAMMPS source tree (pass to -DNNP_LAMMPS_SOURCE)
#   ${NNP_CACHE:-$HOME/.cache/pair_nnp}/lammps-TAG/build    LAMMPS build tree, with the `lmp` binary
# Packages: PLUGIN KSPACE MOLECULE RIGID EXTRA-PAIR; MPI and OpenMP on; FFT: KISS (no external FFT library).
#
# Environment:
#   NNP_CACHE=DIR            cache root (default ~/.cache/pair_nnp)
#   LAMMPS_SOURCE=DIR        build this LAMMPS source tree instead of downloading one (TAG then only names the cache)
#   NNP_LAMMPS_JOBS=N        parallel compile jobs (default: number of cores)
#   NNP_DEBIAN_MIRROR=URL    Debian mirror (default: the one in /etc/apt/sources.list*, else deb.debian.org)
# The last line printed is the path of the `lmp` binary.
set -euo pipefail

tag=${1:-}
case "$tag" in
  bookworm) suite=bookworm; upstream=20220106 ;;  # = stable 29 Sep 2021 update 2
  trixie)   suite=trixie;   upstream=20250204 ;;
  *)
    if [[ -n "${LAMMPS_SOURCE:-}" && -n "$tag" ]]; then suite=""; upstream=""
    else echo "usage: $0 bookworm|trixie   (or LAMMPS_SOURCE=/path/to/lammps $0 NAME)" >&2; exit 2; fi ;;
esac

cache=${NNP_CACHE:-$HOME/.cache/pair_nnp}
root=$cache/lammps-$tag
build=$root/build
lmp=$build/lmp
jobs=${NNP_LAMMPS_JOBS:-$(nproc 2>/dev/null || echo 2)}

if [[ -x "$lmp" ]]; then
  echo "LAMMPS ($tag) already built"
  echo "$lmp"
  exit 0
fi
mkdir -p "$root"

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

# ---- build dependencies ----------------------------------------------------------------------------------------
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v mpicxx >/dev/null || need+=(libopenmpi-dev openmpi-bin)
command -v xz >/dev/null || need+=(xz-utils)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  echo "installing build dependencies: ${need[*]}"
  as_root apt-get install -y --no-install-recommends "${need[@]}"
fi

# ---- the source tree -------------------------------------------------------------------------------------------
if [[ -n "${LAMMPS_SOURCE:-}" ]]; then
  src=$(cd "$LAMMPS_SOURCE" && pwd)
  [[ -f "$src/cmake/CMakeLists.txt" ]] || { echo "LAMMPS_SOURCE=$src has no cmake/CMakeLists.txt" >&2; exit 1; }
  ln -sfn "$src" "$root/source"
else
  src=$root/source
  if [[ ! -f "$src/cmake/CMakeLists.txt" ]]; then
    mirror=${NNP_DEBIAN_MIRROR:-}
    if [[ -z "$mirror" ]]; then
      mirror=$(grep -rhoE '(URIs:|deb)[[:space:]]+https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
                 /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
               | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)
      mirror=${mirror:-http://deb.debian.org/debian}
    fi
    mirror=${mirror%/}
    apt_dir=$root/apt
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$root/download"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    signed=""; [[ -f $keyring ]] && signed="[signed-by=$keyring] "
    echo "deb-src ${signed}$mirror $suite main" > "$apt_dir/sources.list"
    aptopts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
             -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
             -o "Dir::State::status=/var/lib/dpkg/status" -o "APT::Sandbox::User=root")
    echo "fetching the $suite source index from $mirror"
    apt-get "${aptopts[@]}" update >&2
    version=$(apt-cache "${aptopts[@]}" showsrc lammps | awk '/^Version:/ {print $2}' | grep "^$upstream" \
              | sort -V | tail -n1)
    [[ -n "$version" ]] || { echo "no lammps source package $upstream* in $suite" >&2; exit 1; }
    echo "lammps source package $version"
    orig_version=${version#*:}; orig_version=${orig_version%-*}
    orig=lammps_${orig_version}.orig.tar.xz
    ( cd "$root/download"
      if [[ ! -s $orig ]]; then
        # The .dsc of some suites is gone from the pool while the tarballs remain; what we need is the orig tarball.
        apt-get "${aptopts[@]}" source --download-only "lammps=$version" >&2 || true
      fi
      if [[ ! -s $orig ]]; then
        dir=$(apt-cache "${aptopts[@]}" showsrc "lammps=$version" | awk '/^Directory:/ {print $2; exit}')
        echo "apt-get source did not deliver $orig; downloading it from $mirror/$dir" >&2
        curl -fL --retry 3 -o "$orig.part" "$mirror/$dir/$orig" && mv "$orig.part" "$orig"
      fi
      # Check the tarball against the checksum in the source index.
      sum=$(apt-cache "${aptopts[@]}" showsrc "lammps=$version" \
            | awk -v f="$orig" '/^Checksums-Sha256:/ {s=1; next} /^[^ ]/ {s=0} s && $3==f {print $1; exit}')
      if [[ -n "$sum" ]]; then echo "$sum  $orig" | sha256sum -c - >&2; fi
    )
    echo "unpacking $orig"
    rm -rf "$root/unpack"; mkdir -p "$root/unpack"
    tar -xJf "$root/download/$orig" -C "$root/unpack"
    top=$(find "$root/unpack" -mindepth 1 -maxdepth 1 -type d | head -n1)
    [[ -f "$top/cmake/CMakeLists.txt" ]] || { echo "unexpected layout in $orig" >&2; exit 1; }
    rm -rf "$src"; mv "$top" "$src"; rmdir "$root/unpack"
    rm -rf "$apt_dir/cache"
  fi
fi

# ---- configure and build ---------------------------------------------------------------------------------------
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
# LAMMPS before 2022 can load plugins only into a shared liblammps; newer ones export symbols from a static lmp.
shared=off
grep -q 'Plugin loading will not work unless BUILD_SHARED_LIBS' "$src/cmake/CMakeLists.txt" && shared=on
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$src/cmake" -B "$build" "${gen[@]}" \
    -D CMAKE_BUILD_TYPE=Release \
    -D BUILD_MPI=on -D BUILD_OMP=on -D BUILD_SHARED_LIBS=$shared \
    -D LAMMPS_EXCEPTIONS=on \
    -D FFT=KISS \
    -D PKG_PLUGIN=on -D PKG_KSPACE=on -D PKG_MOLECULE=on -D PKG_RIGID=on -D PKG_EXTRA-PAIR=on \
    -D WITH_JPEG=off -D WITH_PNG=off -D WITH_GZIP=on -D WITH_FFMPEG=off \
    -D BUILD_TOOLS=off -D BUILD_DOC=off -D BUILD_LAMMPS_SHELL=off -D BUILD_LAMMPS_GUI=off \
    -D ENABLE_TESTING=off -D DOWNLOAD_POTENTIALS=off
fi
cmake --build "$build" --parallel "$jobs" --target lmp
[[ -x "$lmp" ]] || { echo "the build did not produce $lmp" >&2; exit 1; }
echo "LAMMPS ($tag) built"
echo "$lmp"
