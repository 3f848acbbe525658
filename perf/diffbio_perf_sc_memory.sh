#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Peak memory of the whole `diffbio sc` pipeline at cohort scale (issue 5: 100k cells x 2k genes
# at ~5 % density must stay under 2 GiB).
#
#   perf/diffbio_perf_sc_memory.sh <path/to/diffbio> [workdir] [cells] [genes] [threads]
#
# Simulates the counts with `diffbio simulate-sc` (streamed in row blocks), then runs
# `diffbio sc` (QC: ambient removal + doublet scoring, NormalizeLog1p, SparsePCA, k-means) and
# reports the peak resident set size (VmHWM) the app prints and, if GNU time is installed, its
# "Maximum resident set size" as a cross-check. Not a ctest: it takes minutes.
set -euo pipefail
app=${1:?usage: $0 <path/to/diffbio> [workdir] [cells] [genes] [threads]}
work=${2:-${TMPDIR:-/tmp}/diffbio_perf_sc}
cells=${3:-100000}
genes=${4:-2000}
threads=${5:-2}
mkdir -p "$work"
export OMP_PROC_BIND=false OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads
# --library-log-mean 4.95 gives ~5 % non-zeros at 2000 genes with seed 11.
"$app" --kokkos-threads="$threads" simulate-sc --out "$work/sim.h5ad" --cells "$cells" --genes "$genes" \
  --seed 11 --library-log-mean 4.95
timer=()
if [ -x /usr/bin/time ]; then timer=(/usr/bin/time -f "GNU time: max RSS %M KiB, %e s wall"); fi
"${timer[@]}" "$app" --kokkos-threads="$threads" sc --input "$work/sim.h5ad" --out "$work/out.h5ad"
