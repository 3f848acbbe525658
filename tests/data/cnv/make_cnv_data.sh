#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Test data for `diffbio cnv`: real alignments of a diploid sample with planted copy-number
# changes, from Debian packages only, seeded and deterministic.
#
#   make_cnv_data.sh <out-dir> [pairs_per_haplotype=2500] [seed=21]
#
#   1. reference ref.fa: bowtie2-examples' lambda_virus.fa (48,502 bp) as contig `lambda`;
#   2. two haplotypes: hap2 = the reference; hap1 = the reference with [10000, 14000) deleted
#      (heterozygous loss: copy number 1) and [30000, 35000) duplicated in tandem (copy number
#      3) → truth.bed (0-based: lambda 10000 14000 1 / lambda 30000 35000 3);
#   3. reads: wgsim 2×100 bp pairs (insert 300 ± 30, 0.5 % errors, no extra mutations), the same
#      number from each haplotype (≈ 20× diploid depth by default);
#   4. bwa mem (one thread, fixed batch size), samtools sort + index → reads.bam(.bai);
#   5. malformed inputs for the error tests: noindex.bam (no .bai), truncated.bam(.bai) (cut in
#      the middle), wrong_ref.fa(.fai) (the contig renamed), short_ref.fa(.fai) (the contig 1 kb
#      shorter).
# Writes into a temporary directory next to <out-dir> and renames it into place; an existing
# complete data set (STAMP) is kept.
set -euo pipefail

out="${1:?usage: make_cnv_data.sh <out-dir> [pairs_per_haplotype] [seed]}"
pairs="${2:-2500}"
seed="${3:-21}"
stamp="pairs=$pairs seed=$seed v=1"
if [ -f "$out/STAMP" ] && [ "$(cat "$out/STAMP")" = "$stamp" ]; then exit 0; fi

lambda_gz="${DIFFBIO_LAMBDA_FASTA:-/usr/share/doc/bowtie2/examples/reference/lambda_virus.fa.gz}"
for tool in samtools wgsim bwa; do
  command -v "$tool" >/dev/null || { echo "make_cnv_data.sh: '$tool' not found (Debian packages samtools bwa)" >&2; exit 3; }
done
[ -r "$lambda_gz" ] || { echo "make_cnv_data.sh: $lambda_gz not found (Debian package bowtie2-examples, or set DIFFBIO_LAMBDA_FASTA)" >&2; exit 3; }

parent="$(dirname "$out")"
mkdir -p "$parent"
tmp="$(mktemp -d "$parent/.cnv-data.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

emit() {  # name, sequence file → FASTA (60 columns) on stdout
  awk -v name="$1" -v width=60 '{ print ">" name; for (i = 1; i <= length($0); i += width) print substr($0, i, width) }' "$2"
}
gzip -dcf "$lambda_gz" | awk 'NR > 1 { printf "%s", toupper($0) } END { print "" }' > lambda.seq
emit lambda lambda.seq > ref.fa
samtools faidx ref.fa
# hap1: 0-based [10000, 14000) deleted, [30000, 35000) twice.
awk '{ s = $0; print substr(s, 1, 10000) substr(s, 14001, 30000 - 14000) substr(s, 30001, 5000) substr(s, 30001) }' lambda.seq > hap1.seq
emit lambda hap1.seq > hap1.fa
cp ref.fa hap2.fa
printf 'lambda\t10000\t14000\t1\nlambda\t30000\t35000\t3\n' > truth.bed

sim() {  # haplotype, pairs, seed, prefix
  wgsim -N "$2" -1 100 -2 100 -d 300 -s 30 -e 0.005 -r 0 -R 0 -X 0 -A 1 -S "$3" "$1" "$4_1.fq" "$4_2.fq" >/dev/null 2>&1
}
# Equal read numbers per haplotype would give hap1 (1 kb longer) slightly less depth per base:
# scale its pairs by its length.
len1=$(awk '{ print length($0) }' hap1.seq)
len2=$(awk '{ print length($0) }' lambda.seq)
pairs1=$(( pairs * len1 / len2 ))
sim hap1.fa "$pairs1" "$seed" h1
sim hap2.fa "$pairs" "$(( seed + 1 ))" h2
cat h1_1.fq h2_1.fq > reads_1.fq
cat h1_2.fq h2_2.fq > reads_2.fq
bwa index ref.fa >/dev/null 2>&1
bwa mem -t 1 -K 100000000 -R '@RG\tID:sim\tSM:sim' ref.fa reads_1.fq reads_2.fq 2>/dev/null > aln.sam
samtools sort -l 6 -o reads.bam aln.sam 2>/dev/null
samtools index reads.bam

# ---- malformed inputs -----------------------------------------------------------------------
cp reads.bam noindex.bam
size=$(stat -c %s reads.bam)
head -c $(( size / 2 )) reads.bam > truncated.bam
cp reads.bam.bai truncated.bam.bai
sed 's/^>lambda$/>phage/' ref.fa > wrong_ref.fa
samtools faidx wrong_ref.fa
awk '{ print substr($0, 1, length($0) - 1000) }' lambda.seq > short.seq
emit lambda short.seq > short_ref.fa
samtools faidx short_ref.fa

rm -f aln.sam h1_?.fq h2_?.fq reads_?.fq lambda.seq hap1.seq short.seq ref.fa.amb ref.fa.ann ref.fa.bwt ref.fa.pac ref.fa.sa
echo "$stamp" > STAMP
cd /
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
