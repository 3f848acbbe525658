#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End-to-end calling time: `diffbio call` (BAM decoding, differentiable pileup, candidate features,
# classifier, VCF writing) vs `bcftools mpileup -f ref | bcftools call -mv` on the same BAM and
# region, measured in the same run (one thread each; median of N repetitions; wall time).
#
#   perf/diffbio_perf_call.sh <diffbio-executable> [work-dir=./call-perf] [depth=30] [reps=5]
#
# Data: tests/data/call/make_call_data.sh (whole lambda, 48.5 kb, diploid, at <depth>). The model is
# trained once on the first half (not timed); both callers then call the whole contig.
set -euo pipefail
exe="${1:?usage: diffbio_perf_call.sh <diffbio> [work-dir] [depth] [reps]}"
work="${2:-./call-perf}"
depth="${3:-30}"
reps="${4:-5}"
here="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$work"
d="$work/data-$depth"
bash "$here/tests/data/call/make_call_data.sh" "$d" "$depth" 5
export OMP_PROC_BIND=false OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1
[ -f "$work/model-$depth.h5" ] || "$exe" --kokkos-threads=1 call train --bam "$d/reads.bam" --reference "$d/ref.fa" \
  --truth "$d/truth.vcf.gz" --bed "$d/train.bed" --epochs 300 --eval-every 0 --out "$work/model-$depth.h5" > /dev/null
len=$(cut -f2 "$d/ref.fa.fai")
bases=$(samtools depth -a -Q 0 -q 0 -r lambda "$d/reads.bam" | awk '{ s += $3 } END { print s }')
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
time_of() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
ours=(); theirs=()
for r in $(seq 1 "$reps"); do
  ours+=("$(time_of "$exe" --kokkos-threads=1 call --model "$work/model-$depth.h5" --bam "$d/reads.bam" \
           --reference "$d/ref.fa" --region lambda --out "$work/diffbio.vcf.gz")")
  theirs+=("$(time_of bash -c "bcftools mpileup -f '$d/ref.fa' -r lambda '$d/reads.bam' 2>/dev/null | bcftools call -mv -Oz -o '$work/bcftools.vcf.gz'")")
done
to=$(printf '%s\n' "${ours[@]}" | median)
tb=$(printf '%s\n' "${theirs[@]}" | median)
printf 'call perf: lambda %s bp at %sx (%s aligned bases), %s reps, 1 thread\n' "$len" "$depth" "$bases" "$reps"
printf '  diffbio call                       %.3f s  (%.3g aligned bases/s)\n' "$to" "$(echo "$bases / $to" | bc -l)"
printf '  bcftools mpileup | bcftools call   %.3f s  (%.3g aligned bases/s)\n' "$tb" "$(echo "$bases / $tb" | bc -l)"
printf '  speed ratio diffbio/bcftools: %.2fx\n' "$(echo "$tb / $to" | bc -l)"
