#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The README's main job: set-up and build, then the three trainable pipelines on data generated
# here (Debian tools only, seeded), each with MPI data parallelism where it has it:
#   1. reads   — simulate labelled reads, train the quality filter + logistic head (2 ranks,
#                deterministic mode) → quality_params.h5;
#   2. variants — a diploid lambda-phage sample at 10× (planted SNPs/indels, wgsim, bwa mem),
#                train pileup weighting + soft positions + classifier jointly on the first half,
#                call the held-out second half → calls.vcf.gz with precision/recall/F1, and the
#                same data through `bcftools mpileup | call -mv` for comparison; copy-number
#                segments of a sample with a planted deletion and duplication → cnv.bed;
#   3. single cell — simulate 5,000 cells (cell types, batches, ambient RNA, doublets), train
#                ambient removal + PCA + batch offsets + soft k-means jointly with annealing,
#                write the annotated .h5ad → sc_trained.h5ad (ARI vs the classic chain printed).
# Outputs go to $DIFFBIO_OUT (default ./diffbio-out).
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
mpi=()
if command -v mpiexec >/dev/null; then
  mpi=(mpiexec -n 2 --oversubscribe --bind-to none)
  [ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
fi

echo "[main] 1/3 reads: quality filter training"
"$exe" simulate-reads --out "$out/reads.fastq" --n 20000 --length 100 --seed 1
t0=$SECONDS
"${mpi[@]}" "$exe" train-quality --fastq "$out/reads.fastq" --out "$out/quality_params.h5" \
  --epochs 8 --batch 1000 --lr 0.05 --deterministic
echo "[main] quality training took $((SECONDS - t0)) s; parameters: $out/quality_params.h5"

echo "[main] 2/3 variants: trainable caller on a 10x diploid sample, held-out half"
data="$out/call_data"
bash "$root/tests/data/call/make_call_data.sh" "$data" 10 5
t0=$SECONDS
"${mpi[@]}" "$exe" call train --bam "$data/reads.bam" --reference "$data/ref.fa" \
  --truth "$data/truth.vcf.gz" --bed "$data/train.bed" --eval-bed "$data/test.bed" \
  --epochs 400 --eval-every 100 --out "$out/caller.h5"
"$exe" call --model "$out/caller.h5" --bam "$data/reads.bam" --reference "$data/ref.fa" \
  --bed "$data/test.bed" --truth "$data/truth.vcf.gz" --out "$out/calls.vcf.gz"
echo "[main] variant caller training + calling took $((SECONDS - t0)) s; calls: $out/calls.vcf.gz"
if command -v bcftools >/dev/null; then
  bcftools mpileup -Ou -f "$data/ref.fa" -R "$data/test.bed" "$data/reads.bam" 2>/dev/null |
    bcftools call -mv -Ou 2>/dev/null | bcftools norm -f "$data/ref.fa" -Oz -o "$out/bcftools.vcf.gz" 2>/dev/null
  echo "[main] bcftools mpileup | call -mv on the same held-out half:"
  "$exe" call eval --calls "$out/bcftools.vcf.gz" --truth "$data/truth.vcf.gz" --bed "$data/test.bed"
fi
bash "$root/tests/data/cnv/make_cnv_data.sh" "$out/cnv_data"
"$exe" cnv --bam "$out/cnv_data/reads.bam" --reference "$out/cnv_data/ref.fa" --bin 1000 \
  --out "$out/cnv.bed"
echo "[main] copy-number segments (truth: lambda 10000-14000 copy 1, 30000-35000 copy 3):"
awk '$4 != 2' "$out/cnv.bed"

echo "[main] 3/3 single cell: simulate, train all stages jointly, annotate"
t0=$SECONDS
"$exe" simulate-sc --out "$out/sc_sim.h5ad" --cells 5000 --genes 2000 --seed 3
"${mpi[@]}" "$exe" sc --classic --input "$out/sc_sim.h5ad" --out "$out/sc_classic.h5ad"
"$exe" sc train --input "$out/sc_sim.h5ad" --model-out "$out/sc_model.h5" \
  --out "$out/sc_trained.h5ad" --epochs 150 --checkpoint "$out/sc_checkpoint.h5"
echo "[main] single-cell pipeline took $((SECONDS - t0)) s; result: $out/sc_trained.h5ad"
