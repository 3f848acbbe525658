#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The README's test command: set-up, build, then the whole CTest suite (unit, gradient, MPI at
# 1/2/4 ranks, app, install tests) for every Kokkos backend this build has.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DIFFBIO_BUILD_DIR:-$root/build}"
bash "$root/cmake/build.sh"
cd "$build"
export OMP_PROC_BIND=false OMP_WAIT_POLICY=passive
ctest --output-on-failure -j 2 --timeout 600 "$@"
