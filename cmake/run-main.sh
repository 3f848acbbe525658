#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The README's main job: set-up and build, then simulate labelled reads, train the differentiable
# quality filter + logistic head on them with MPI data parallelism (2 ranks, deterministic mode),
# and write the learned parameters to HDF5. Outputs go to $DIFFBIO_OUT (default ./diffbio-out).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DIFFBIO_BUILD_DIR:-$root/build}"
out="${DIFFBIO_OUT:-$root/diffbio-out}"
bash "$root/cmake/build.sh"
mkdir -p "$out"
# One OpenMP thread per rank (2 ranks on 2 cores); passive waiting avoids spin stalls when
# ranks share cores.
export OMP_PROC_BIND=false OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
exe="$build/apps/diffbio"
"$exe" simulate-reads --out "$out/reads.fastq" --n 20000 --length 100 --seed 1
mpi=()
if command -v mpiexec >/dev/null; then
  mpi=(mpiexec -n 2 --oversubscribe --bind-to none)
  [ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
fi
t0=$SECONDS
"${mpi[@]}" "$exe" train-quality --fastq "$out/reads.fastq" --out "$out/quality_params.h5" \
  --epochs 8 --batch 1000 --lr 0.05 --deterministic
echo "[diffbio] training took $((SECONDS - t0)) s; parameters: $out/quality_params.h5"
command -v h5ls >/dev/null && h5ls -r "$out/quality_params.h5" || true
