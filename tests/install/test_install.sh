#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds a consumer program against it twice: with CMake's
# find_package(pair_nnp) and with pkg-config. Usage: test_install.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src" -B "$work/cmake-consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-consumer" >/dev/null
out=$("$work/cmake-consumer/consumer")
echo "find_package consumer: $out"
# pkg-config's -lpair_nnp links the shared libpair_nnp.so (the static archive has the same name), which the loader
# finds in the prefix only through LD_LIBRARY_PATH (or an rpath)
flags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs pair_nnp)
cc "$src/consumer.c" $flags -o "$work/pc-consumer"
out2=$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/pc-consumer")
echo "pkg-config consumer: $out2"
[ "$out" = "$out2" ] && [ -n "$out" ] && echo "2 passed, 0 failed"
