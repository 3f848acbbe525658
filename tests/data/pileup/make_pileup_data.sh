#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Test data for the pileup tests and benchmark: real alignments of simulated reads, made from
# Debian packages only, seeded and deterministic (same bytes of reads.bam for the same arguments).
#
#   make_pileup_data.sh <out-dir> [pairs=3000] [seed=11]
#
# Steps (≈ 2 s for the default 3000 pairs on one core):
#   1. reference: bowtie2-examples' lambda_virus.fa (48,502 bp) as contig `lambda`, plus
#      `lambda_dup`, a 3 kb near-copy of lambda[0, 3000) (1 substitution per 50 bp) so that reads
#      from that stretch map ambiguously and carry low mapping qualities;
#   2. planted variants on `lambda` every 400 bp from 3,500 (SNPs, 1–5 bp insertions, 1–6 bp
#      deletions; alternately homozygous and heterozygous) → truth.vcf (left-aligned with
#      bcftools norm; also .vcf.gz + .tbi) and two haplotypes (hap1: all variants, hap2:
#      homozygous ones only);
#   3. reads: wgsim (package samtools) 2×100 bp pairs, insert 180 ± 30 (so most mates overlap),
#      1 % base errors, half the pairs from each haplotype; base qualities rewritten with a seeded
#      LCG (Phred 2–41, a realistic spread instead of wgsim's constant Q20);
#   4. bwa mem (package bwa, one thread, fixed batch size), then seeded flag/MAPQ edits so that the
#      filters are exercised: ~3 % duplicates (0x400), ~1 % QC-fail (0x200), ~1 % secondary (0x100),
#      ~2 % improper pairs (0x2 cleared: "orphans" for samtools mpileup), ~10 % random MAPQ 0–59;
#      plus 20 unmapped pairs of random sequence;
#   5. samtools sort + index → reads.bam(.bai); CRAM copy reads.cram(.crai) against ref.fa.
#
# Packages: samtools (samtools, wgsim), bwa, tabix (bgzip, tabix), bcftools, bowtie2-examples.
# Writes into a temporary directory next to <out-dir> and renames it into place, so an interrupted
# run never leaves a partial data set; an existing complete data set (stamp file) is kept.
set -euo pipefail

out="${1:?usage: make_pileup_data.sh <out-dir> [pairs] [seed]}"
pairs="${2:-3000}"
seed="${3:-11}"
stamp="pairs=$pairs seed=$seed v=2"

if [ -f "$out/STAMP" ] && [ "$(cat "$out/STAMP")" = "$stamp" ]; then exit 0; fi

# DIFFBIO_LAMBDA_FASTA: another copy of lambda_virus.fa(.gz) (e.g. from a Spack bowtie2 install).
lambda_gz="${DIFFBIO_LAMBDA_FASTA:-/usr/share/doc/bowtie2/examples/reference/lambda_virus.fa.gz}"
for tool in samtools wgsim bwa bgzip tabix bcftools; do
  command -v "$tool" >/dev/null || { echo "make_pileup_data.sh: '$tool' not found (Debian packages samtools bwa tabix bcftools)" >&2; exit 3; }
done
[ -r "$lambda_gz" ] || { echo "make_pileup_data.sh: $lambda_gz not found (Debian package bowtie2-examples, or set DIFFBIO_LAMBDA_FASTA)" >&2; exit 3; }

parent="$(dirname "$out")"
mkdir -p "$parent"
tmp="$(mktemp -d "$parent/.pileup-data.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# ---- 1. reference --------------------------------------------------------------------------
gzip -dcf "$lambda_gz" | awk 'NR > 1 { printf "%s", toupper($0) } END { print "" }' > lambda.seq
awk -v width=60 '
  function emit(name, s,   i) { print ">" name; for (i = 1; i <= length(s); i += width) print substr(s, i, width) }
  {
    seq = $0
    emit("lambda", seq)
    dup = substr(seq, 1, 3000)
    out = ""
    for (i = 1; i <= 3000; ++i) {
      c = substr(dup, i, 1)
      if (i % 50 == 25) c = (c == "A") ? "C" : (c == "C") ? "G" : (c == "G") ? "T" : "A"
      out = out c
    }
    emit("lambda_dup", out)
  }' lambda.seq > ref.fa
samtools faidx ref.fa

# ---- 2. planted variants -------------------------------------------------------------------
# One awk pass writes truth.vcf and the two haplotype FASTAs. Variant i sits at 1-based position
# 3500 + 400 i; kind cycles SNP, SNP, INS, SNP, DEL; genotype alternates 1/1, 0/1.
awk -v width=60 '
  function comp(c) { return (c == "A") ? "G" : (c == "C") ? "T" : (c == "G") ? "A" : "C" }
  function emit(f, name, s,   i) { print ">" name > f; for (i = 1; i <= length(s); i += width) print substr(s, i, width) > f }
  {
    seq = $0; n = length(seq)
    print "##fileformat=VCFv4.2" > "truth.vcf"
    print "##contig=<ID=lambda,length=" n ">" > "truth.vcf"
    print "##contig=<ID=lambda_dup,length=3000>" > "truth.vcf"
    print "##INFO=<ID=TYPE,Number=1,Type=String,Description=\"snp, ins or del\">" > "truth.vcf"
    print "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">" > "truth.vcf"
    print "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tsim" > "truth.vcf"
    h1 = ""; h2 = ""; last = 1; k = 0
    for (pos = 3500; pos + 20 < n; pos += 400) {
      kind = k % 5; hom = (k % 2 == 0); ++k
      ref = substr(seq, pos, 1)
      if (kind == 2) {                       # insertion of 1-5 bases after pos
        len = 1 + (k % 5); ins = ""
        for (j = 0; j < len; ++j) ins = ins substr("ACGT", 1 + (k + j * 3) % 4, 1)
        R = ref; A = ref ins; type = "ins"; span = 1
      } else if (kind == 4) {                # deletion of 1-6 bases after pos
        len = 1 + (k % 6)
        R = substr(seq, pos, len + 1); A = ref; type = "del"; span = len + 1
      } else {
        R = ref; A = comp(ref); type = "snp"; span = 1
      }
      pre = substr(seq, last, pos - last)
      h1 = h1 pre A; h2 = h2 pre (hom ? A : R)
      last = pos + span
      printf "lambda\t%d\t.\t%s\t%s\t60\tPASS\tTYPE=%s\tGT\t%s\n", pos, R, A, type, hom ? "1/1" : "0/1" > "truth.vcf"
    }
    h1 = h1 substr(seq, last); h2 = h2 substr(seq, last)
    emit("hap1.fa", "lambda", h1)
    emit("hap2.fa", "lambda", h2)
  }' lambda.seq
# Both haplotypes carry lambda_dup unchanged.
samtools faidx ref.fa lambda_dup > dup.fa
cat dup.fa >> hap1.fa
cat dup.fa >> hap2.fa
# Left-align and normalise (bwa reports indels left-aligned in repeats, so must the truth).
bcftools norm -f ref.fa -c x -Ov -o truth.norm.vcf truth.vcf 2>/dev/null
mv truth.norm.vcf truth.vcf
bgzip -c truth.vcf > truth.vcf.gz
tabix -p vcf truth.vcf.gz

# ---- 3. reads ------------------------------------------------------------------------------
half=$(( (pairs + 1) / 2 ))
sim() {  # haplotype, pairs, seed, prefix
  wgsim -N "$2" -1 100 -2 100 -d 180 -s 30 -e 0.01 -r 0 -R 0 -X 0 -A 1 -S "$3" "$1" "$4_1.fq" "$4_2.fq" >/dev/null 2>&1
}
sim hap1.fa "$half" "$seed" h1
sim hap2.fa "$(( pairs - half ))" "$(( seed + 1 ))" h2
# 20 unmapped pairs: random sequence from the same LCG.
awk -v seed="$seed" -v n=20 '
  function rnd() { x = (x * 16807) % 2147483647; return x }
  BEGIN {
    x = 1000 + seed
    for (r = 0; r < n; ++r) for (m = 1; m <= 2; ++m) {
      s = ""; q = ""
      for (i = 0; i < 100; ++i) { s = s substr("ACGT", 1 + rnd() % 4, 1); q = q "I" }
      printf "@junk_%d/%d\n%s\n+\n%s\n", r, m, s, q > ("junk_" m ".fq")
    }
  }'
# Qualities: Phred 2..41 from a Park-Miller LCG (exact in awk doubles), seeded per mate file.
requal() {  # in, out, seed
  awk -v seed="$3" '
    function rnd() { x = (x * 16807) % 2147483647; return x }
    BEGIN { x = 7 + seed; for (i = 0; i < 94; ++i) chr[i] = sprintf("%c", 33 + i) }
    NR % 4 == 1 { sub(/\/[12]$/, ""); print; next }
    NR % 4 == 0 {
      q = ""
      for (i = 1; i <= length($0); ++i) { r = rnd() % 100; p = (r < 70) ? 30 + r % 12 : (r < 90) ? 13 + r % 17 : 2 + r % 11; q = q chr[p] }
      print q; next
    }
    { print }' "$1" > "$2"
}
cat h1_1.fq h2_1.fq junk_1.fq > raw_1.fq
cat h1_2.fq h2_2.fq junk_2.fq > raw_2.fq
requal raw_1.fq reads_1.fq "$seed"
requal raw_2.fq reads_2.fq "$(( seed + 100 ))"

# ---- 4. alignment and flag edits -----------------------------------------------------------
bwa index ref.fa >/dev/null 2>&1
bwa mem -t 1 -K 100000000 -R '@RG\tID:sim\tSM:sim' ref.fa reads_1.fq reads_2.fq 2>/dev/null |
  awk -v seed="$seed" -v OFS='\t' '
    function rnd() { x = (x * 16807) % 2147483647; return x }
    BEGIN { x = 99 + seed }
    /^@/ { print; next }
    {
      flag = $2 + 0; r = rnd() % 1000
      if (int(flag / 4) % 2 == 0) {                                  # mapped reads only
        if (r < 30) flag += (int(flag / 1024) % 2 == 0) ? 1024 : 0   # duplicate
        else if (r < 40) flag += (int(flag / 512) % 2 == 0) ? 512 : 0  # QC fail
        else if (r < 50) flag += (int(flag / 256) % 2 == 0 && int(flag / 2048) % 2 == 0) ? 256 : 0  # secondary
        else if (r < 70) flag -= (int(flag / 2) % 2 == 1) ? 2 : 0     # improper pair
        else if (r < 170) $5 = rnd() % 60                             # MAPQ variety
      }
      $2 = flag; print
    }' > aln.sam
samtools sort -l 6 -o reads.bam aln.sam 2>/dev/null
samtools index reads.bam
samtools view -C -T ref.fa -o reads.cram reads.bam
samtools index reads.cram

rm -f aln.sam h1_?.fq h2_?.fq raw_?.fq junk_?.fq dup.fa lambda.seq ref.fa.amb ref.fa.ann ref.fa.bwt ref.fa.pac ref.fa.sa
echo "$stamp" > STAMP
cd /
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
