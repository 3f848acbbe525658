#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Test and benchmark data for the variant caller (`diffbio call`, `diffbio call train`): a diploid
# sample with densely planted SNPs and indels, real alignments of simulated reads, a normalised
# truth VCF and a train / held-out split. Debian packages only, seeded and deterministic.
#
#   make_call_data.sh <out-dir> [depth=30] [seed=5] [length=0]
#
#   depth   mean read depth (both haplotypes together): pairs = depth · length / 200
#   length  use the first <length> bp of lambda (0: all 48,502 bp) — small for the ctest data
#
# Steps:
#   1. reference: bowtie2-examples' lambda_virus.fa (first <length> bp) as contig `lambda`;
#   2. variants every 150–250 bp (seeded Park–Miller LCG), from position 100 to length − 100:
#      55 % SNPs, 25 % deletions of 1–6 bp, 20 % insertions of 1–6 bp; 45 % homozygous,
#      55 % heterozygous → truth.vcf (normalised: `bcftools norm -f ref.fa`, so indels are
#      left-aligned as bwa reports them), truth.vcf.gz + .tbi, hap1.fa (all variants) and
#      hap2.fa (homozygous ones);
#   3. reads: wgsim 2×100 bp pairs, insert 300 ± 50, no wgsim errors (-e 0) and no wgsim
#      mutations (-r 0); half the pairs from each haplotype. Base qualities are then drawn from
#      a seeded LCG (Phred 2–41; 70 % ≥ 30, 20 % 13–29, 10 % 2–12) and each base is replaced by a
#      different random base with probability 10^(−Q/10), so qualities are honest error rates
#      (what both bcftools and the learned weighting rely on);
#   4. bwa mem (one thread, fixed batch size) → samtools sort → reads.bam + .bai;
#   5. train.bed / test.bed: the first and second half of the contig (0-based BED), and
#      regions.txt with the same halves as region strings (TRAIN=..., TEST=...).
#
# Writes into a temporary directory next to <out-dir> and renames it into place, so an interrupted
# run never leaves a partial data set; an existing complete data set (STAMP file) is kept.
set -euo pipefail

out="${1:?usage: make_call_data.sh <out-dir> [depth] [seed] [length]}"
depth="${2:-30}"
seed="${3:-5}"
length="${4:-0}"
stamp="depth=$depth seed=$seed length=$length v=1"

if [ -f "$out/STAMP" ] && [ "$(cat "$out/STAMP")" = "$stamp" ]; then exit 0; fi

lambda_gz="${DIFFBIO_LAMBDA_FASTA:-/usr/share/doc/bowtie2/examples/reference/lambda_virus.fa.gz}"
for tool in samtools wgsim bwa bgzip tabix bcftools; do
  command -v "$tool" >/dev/null || { echo "make_call_data.sh: '$tool' not found (Debian packages samtools bwa tabix bcftools)" >&2; exit 3; }
done
[ -r "$lambda_gz" ] || { echo "make_call_data.sh: $lambda_gz not found (Debian package bowtie2-examples, or set DIFFBIO_LAMBDA_FASTA)" >&2; exit 3; }

parent="$(dirname "$out")"
mkdir -p "$parent"
tmp="$(mktemp -d "$parent/.call-data.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# ---- 1. reference --------------------------------------------------------------------------
gzip -dcf "$lambda_gz" | awk -v len="$length" 'NR > 1 { printf "%s", toupper($0) } END { print "" }' |
  awk -v len="$length" '{ if (len > 0) $0 = substr($0, 1, len); print }' > lambda.seq
awk -v width=60 '{ print ">lambda"; for (i = 1; i <= length($0); i += width) print substr($0, i, width) }' lambda.seq > ref.fa
samtools faidx ref.fa
n=$(awk '{ print length($0) }' lambda.seq)

# ---- 2. planted variants -------------------------------------------------------------------
awk -v width=60 -v seed="$seed" '
  function rnd() { x = (x * 16807) % 2147483647; return x }
  function other(c,   b) { do { b = substr("ACGT", 1 + rnd() % 4, 1) } while (b == c); return b }
  function emit(f, name, s,   i) { print ">" name > f; for (i = 1; i <= length(s); i += width) print substr(s, i, width) > f }
  {
    x = 12345 + 7919 * seed
    seq = $0; n = length(seq)
    print "##fileformat=VCFv4.2" > "truth.vcf"
    print "##contig=<ID=lambda,length=" n ">" > "truth.vcf"
    print "##INFO=<ID=TYPE,Number=1,Type=String,Description=\"snp, ins or del\">" > "truth.vcf"
    print "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">" > "truth.vcf"
    print "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tsim" > "truth.vcf"
    h1 = ""; h2 = ""; last = 1
    for (pos = 100 + rnd() % 100; pos + 100 < n; pos += 150 + rnd() % 101) {
      r = rnd() % 100; hom = (rnd() % 100) < 45
      ref = substr(seq, pos, 1)
      if (r < 55) {
        R = ref; A = other(ref); type = "snp"; span = 1
      } else if (r < 80) {
        len = 1 + rnd() % 6
        R = substr(seq, pos, len + 1); A = ref; type = "del"; span = len + 1
      } else {
        len = 1 + rnd() % 6; ins = ""
        for (j = 0; j < len; ++j) ins = ins substr("ACGT", 1 + rnd() % 4, 1)
        R = ref; A = ref ins; type = "ins"; span = 1
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
bcftools norm -f ref.fa -c x -Ov -o truth.norm.vcf truth.vcf 2>/dev/null
bcftools sort -Ov -o truth.vcf truth.norm.vcf 2>/dev/null
rm -f truth.norm.vcf
bgzip -c truth.vcf > truth.vcf.gz
tabix -p vcf truth.vcf.gz

# ---- 3. reads ------------------------------------------------------------------------------
pairs=$(( (depth * n + 199) / 200 ))
half=$(( (pairs + 1) / 2 ))
sim() {  # haplotype, pairs, seed, prefix
  wgsim -N "$2" -1 100 -2 100 -d 300 -s 50 -e 0 -r 0 -R 0 -X 0 -A 1 -S "$3" "$1" "$4_1.fq" "$4_2.fq" >/dev/null 2>&1
}
sim hap1.fa "$half" "$seed" h1
sim hap2.fa "$(( pairs - half ))" "$(( seed + 1 ))" h2
# Qualities and matching sequencing errors (see step 3 above); Park-Miller LCG, exact in awk.
requal() {  # in, out, seed
  awk -v seed="$3" '
    function rnd() { x = (x * 16807) % 2147483647; return x }
    BEGIN { x = 7 + seed; for (i = 0; i < 94; ++i) chr[i] = sprintf("%c", 33 + i) }
    NR % 4 == 1 { sub(/\/[12]$/, ""); print; next }
    NR % 4 == 2 { s = $0; next }
    NR % 4 == 3 { next }
    NR % 4 == 0 {
      q = ""; o = ""
      for (i = 1; i <= length(s); ++i) {
        r = rnd() % 100; p = (r < 70) ? 30 + r % 12 : (r < 90) ? 13 + r % 17 : 2 + r % 11
        c = substr(s, i, 1)
        if (rnd() / 2147483647 < exp(-p / 10 * log(10))) {
          do { b = substr("ACGT", 1 + rnd() % 4, 1) } while (b == c); c = b
        }
        o = o c; q = q chr[p]
      }
      print o; print "+"; print q; next
    }' "$1" > "$2"
}
cat h1_1.fq h2_1.fq > raw_1.fq
cat h1_2.fq h2_2.fq > raw_2.fq
requal raw_1.fq reads_1.fq "$seed"
requal raw_2.fq reads_2.fq "$(( seed + 100 ))"

# ---- 4. alignment --------------------------------------------------------------------------
bwa index ref.fa >/dev/null 2>&1
bwa mem -t 1 -K 100000000 -R '@RG\tID:sim\tSM:sim' ref.fa reads_1.fq reads_2.fq 2>/dev/null > aln.sam
samtools sort -l 6 -o reads.bam aln.sam 2>/dev/null
samtools index reads.bam

# ---- 5. train / held-out split -------------------------------------------------------------
mid=$(( n / 2 ))
printf 'lambda\t0\t%d\n' "$mid" > train.bed
printf 'lambda\t%d\t%d\n' "$mid" "$n" > test.bed
printf 'TRAIN=lambda:1-%d\nTEST=lambda:%d-%d\n' "$mid" "$(( mid + 1 ))" "$n" > regions.txt

rm -f aln.sam h1_?.fq h2_?.fq raw_?.fq reads_?.fq lambda.seq ref.fa.amb ref.fa.ann ref.fa.bwt ref.fa.pac ref.fa.sa
echo "$stamp" > STAMP
cd /
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
