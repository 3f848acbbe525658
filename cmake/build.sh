#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Sets up dependencies (cmake/setup-deps.sh: Debian packages + cached Kokkos/Kokkos Kernels, or
# whatever Kokkos CMake already finds), then configures and builds DiffBio into $DIFFBIO_BUILD_DIR
# (default: ./build). Extra arguments are passed to the CMake configure step.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DIFFBIO_BUILD_DIR:-$root/build}"
t0=$SECONDS
prefix_line="$(bash "$root/cmake/setup-deps.sh" | tail -n 1)"
prefix="${prefix_line#DIFFBIO_DEPS_PREFIX=}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    ${prefix:+-DCMAKE_PREFIX_PATH="$prefix"} "$@" >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
fi
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"
echo "[diffbio] set-up and build took $((SECONDS - t0)) s (build dir: $build)"
