#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Malformed inputs for the `diffbio call` app tests, derived from a make_call_data.sh data set:
#   make_bad_inputs.sh <data-dir> <out-dir>
# truncated.bam(.bai)  the BAM cut to half its bytes (no BGZF end-of-file marker), original index
# noindex.bam          the BAM without an index
# other_ref.fa(.fai)   the reference with its contig renamed (reference/contig mismatch)
# bad_truth.vcf        a truth VCF whose third record has a non-numeric position
set -euo pipefail
data="${1:?usage: make_bad_inputs.sh <data-dir> <out-dir>}"
out="${2:?usage: make_bad_inputs.sh <data-dir> <out-dir>}"
mkdir -p "$out"
size=$(stat -c %s "$data/reads.bam")
head -c $(( size / 2 )) "$data/reads.bam" > "$out/truncated.bam"
cp "$data/reads.bam.bai" "$out/truncated.bam.bai"
cp "$data/reads.bam" "$out/noindex.bam"
rm -f "$out/noindex.bam.bai"
sed 's/^>lambda/>chrOther/' "$data/ref.fa" > "$out/other_ref.fa"
samtools faidx "$out/other_ref.fa"
awk 'BEGIN { n = 0 } /^#/ { print; next } { ++n; if (n == 3) $2 = "pos3"; print }' OFS='\t' "$data/truth.vcf" > "$out/bad_truth.vcf"
