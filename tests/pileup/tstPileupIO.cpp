// SPDX-License-Identifier: BSD-3-Clause
// htslib input of the pileup: region strings, BED, indexed FASTA, BAM/CRAM streaming (read
// selection equal to samtools mpileup for every filter, chunking, depth-cap reporting) and one test
// per class of malformed input (one-line input_error naming the file, record and problem).
#include <gtest/gtest.h>

#include <DiffBio_Bam.hpp>
#include <DiffBio_Reference.hpp>
#include <DiffBio_Region.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../io/DiffBio_IoTestUtils.hpp"
#include "DiffBio_PileupTestUtils.hpp"

namespace {

using namespace diffbio;
using namespace diffbio::io;
using diffbio::test::catch_error;
using diffbio::test::expect_input_error;
using diffbio::test::PileupData;
using diffbio::test::TempDir;
using diffbio::test::write_bytes;
namespace fs = std::filesystem;
namespace pe = diffbio::io::pileup_entry;

// ---- region strings --------------------------------------------------------------------------

TEST(RegionString, ParsesSamtoolsForms) {
  auto r = parse_region("chr1:1,000-2,000");
  EXPECT_EQ(r.contig, "chr1");
  EXPECT_EQ(r.beg, 999);
  EXPECT_EQ(r.end, 2000);
  EXPECT_EQ(r.length(), 1001);
  EXPECT_EQ(r.to_string(), "chr1:1000-2000");
  r = parse_region("chrM");
  EXPECT_EQ(r.contig, "chrM");
  EXPECT_EQ(r.beg, 0);
  EXPECT_EQ(r.end, -1);
  r = parse_region("chr2:150");
  EXPECT_EQ(r.beg, 149);
  EXPECT_EQ(r.end, -1);
  r = parse_region("chr2:150-");
  EXPECT_EQ(r.beg, 149);
  EXPECT_EQ(r.end, -1);
  r = parse_region("chr2:7-7");  // one base
  EXPECT_EQ(r.beg, 6);
  EXPECT_EQ(r.end, 7);
  r = parse_region("{HLA-A*01:01}:10-20");
  EXPECT_EQ(r.contig, "HLA-A*01:01");
  EXPECT_EQ(r.beg, 9);
  EXPECT_EQ(r.end, 20);
  EXPECT_EQ(r.to_string(), "{HLA-A*01:01}:10-20");
  EXPECT_EQ(parse_region("{a:b}").contig, "a:b");
  EXPECT_EQ(parse_region("gi|9626243|ref|NC_001416.1|:5-6").contig, "gi|9626243|ref|NC_001416.1|");
}

TEST(RegionString, RejectsMalformedStrings) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty string"},
      {":1-10", "no contig name"},
      {"chr1:", "no coordinates"},
      {"chr1:x-10", "start 'x' is not a number"},
      {"chr1:10-y", "end 'y' is not a number"},
      {"chr1:0-10", "start must be >= 1"},
      {"chr1:-", "no start"},
      {"chr1:1-2-3", "end '2-3' is not a number"},
      {"{chr1:1-10", "without a closing"},
      {"{chr1}x", "expected ':'"},
      {"chr 1:1-10", "blank"},
      {"chr1:99999999999999999999", "not a number"}};
  for (const auto& [text, why] : bad) {
    SCOPED_TRACE(text);
    const auto e = catch_error([&] { parse_region(text, "reads.bam"); });
    expect_input_error(e, "reads.bam", -1, "bad region string");
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
}

TEST(RegionString, EmptyRegionIsAnError) {
  const auto e = catch_error([] { parse_region("chr1:200-100", "reads.bam"); });
  expect_input_error(e, "reads.bam", -1, "empty region 'chr1:200-100'");
}

// ---- BED ---------------------------------------------------------------------------------------

TEST(Bed, ReadsIntervalsSkippingHeaders) {
  TempDir dir;
  write_bytes(dir / "ok.bed",
              "# comment\ntrack name=x\nbrowser position chr1\n\n"
              "chr1\t0\t100\tname\t0\t+\nchr2 5 6\r\nchr1\t99\t200\n");
  const auto v = read_bed(dir / "ok.bed");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].contig, "chr1");
  EXPECT_EQ(v[0].beg, 0);
  EXPECT_EQ(v[0].end, 100);
  EXPECT_EQ(v[1].contig, "chr2");
  EXPECT_EQ(v[1].beg, 5);
  EXPECT_EQ(v[1].end, 6);
  EXPECT_EQ(v[2].to_string(), "chr1:100-200");  // BED 0-based half-open → 1-based inclusive
}

TEST(Bed, MalformedLinesNameFileAndLine) {
  TempDir dir;
  struct Case {
    std::string text;
    long long line;
    std::string problem;
  };
  const std::vector<Case> cases = {{"chr1\t0\t10\nchr1\t5\n", 2, "expected at least 3 fields"},
                                   {"chr1\tx\t10\n", 1, "start 'x' is not a non-negative integer"},
                                   {"#h\nchr1\t-5\t10\n", 2, "start '-5'"},
                                   {"chr1\t0\t1e3\n", 1, "end '1e3'"},
                                   {"chr1\t10\t10\n", 1, "empty interval"},
                                   {"chr1\t20\t10\n", 1, "empty interval"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    write_bytes(dir / "bad.bed", c.text);
    expect_input_error(catch_error([&] { read_bed(dir / "bad.bed"); }), dir / "bad.bed", c.line,
                       c.problem);
  }
  write_bytes(dir / "empty.bed", "# nothing\n");
  expect_input_error(catch_error([&] { read_bed(dir / "empty.bed"); }), dir / "empty.bed", -1,
                     "no regions");
  expect_input_error(catch_error([&] { read_bed(dir / "missing.bed"); }), dir / "missing.bed", -1,
                     "cannot open BED file");
}

TEST(Region, ResolveAgainstContigs) {
  const std::vector<ContigInfo> contigs = {{"chr1", 1000}, {"chr2", 50}};
  auto r = resolve_region(parse_region("chr2"), contigs, "x.bam");
  EXPECT_EQ(r.beg, 0);
  EXPECT_EQ(r.end, 50);
  r = resolve_region(parse_region("chr1:900-5000"), contigs, "x.bam");
  EXPECT_EQ(r.end, 1000);  // clipped to the contig, as samtools does
  expect_input_error(
      catch_error([&] { resolve_region(parse_region("chr3:1-5"), contigs, "x.bam"); }), "x.bam", -1,
      "contig 'chr3' not in the BAM header");
  expect_input_error(
      catch_error([&] { resolve_region(parse_region("chr2:51-60"), contigs, "x.bed", 7); }),
      "x.bed", 7, "starts beyond the end of contig 'chr2' (length 50)");
}

// ---- reference FASTA ---------------------------------------------------------------------------

TEST(Reference, ContigsAndFetch) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  ReferenceFasta ref(data.ref());
  ASSERT_EQ(ref.contigs().size(), 2u);
  EXPECT_EQ(ref.contigs()[0].name, "lambda");
  EXPECT_EQ(ref.contigs()[0].length, 48502);
  EXPECT_EQ(ref.length("lambda_dup"), 3000);
  EXPECT_EQ(ref.length("nope"), -1);
  // lambda starts GGGCGGCGAC (bowtie2-examples' lambda_virus.fa)
  EXPECT_EQ(ref.fetch(parse_region("lambda:1-10")), "GGGCGGCGAC");
  expect_input_error(catch_error([&] { ref.fetch(parse_region("chrZ:1-10")); }), data.ref(), -1,
                     "contig 'chrZ' not in reference");
}

TEST(Reference, MissingIndexOrFile) {
  TempDir dir;
  write_bytes(dir / "r.fa", ">c\nACGT\n");
  expect_input_error(catch_error([&] { ReferenceFasta r((dir / "r.fa").string()); }), dir / "r.fa",
                     -1, "no FASTA index");
  expect_input_error(catch_error([&] { ReferenceFasta r((dir / "none.fa").string()); }),
                     dir / "none.fa", -1, "cannot open file");
}

// ---- BAM/CRAM: malformed inputs --------------------------------------------------------------

class BamErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(data.present()) << "pileup test data missing in " << data.dir
                                << ": run ctest (fixture pileup.make_data)";
  }
  PileupData data;
  TempDir dir;
};

TEST_F(BamErrors, MissingIndex) {
  const auto bam = dir / "noidx.bam";
  fs::copy_file(data.bam(), bam);
  expect_input_error(catch_error([&] { BamPileupReader r(bam.string()); }), bam, -1,
                     "no index (.bai or .csi)");
}

TEST_F(BamErrors, TruncatedFile) {
  const auto bam = dir / "trunc.bam";
  const std::string all = diffbio::test::read_bytes(data.bam());
  write_bytes(bam, all.substr(0, all.size() / 2));
  fs::copy_file(data.bam() + ".bai", bam.string() + ".bai");
  expect_input_error(catch_error([&] { BamPileupReader r(bam.string()); }), bam, -1,
                     "truncated file: no end-of-file marker");
}

TEST_F(BamErrors, CorruptBlockNamesTheRecord) {
  const auto bam = dir / "corrupt.bam";
  std::string all = diffbio::test::read_bytes(data.bam());
  for (std::size_t i = all.size() / 3; i < all.size() / 3 + 16; ++i) all[i] = '\xff';
  write_bytes(bam, all);
  fs::copy_file(data.bam() + ".bai", bam.string() + ".bai");
  BamPileupReader r(bam.string());
  r.set_region(std::string("lambda"));
  PileupBatch b;
  const auto e = catch_error([&] {
    while (r.next(b)) {
    }
  });
  const std::string msg = e.what();
  EXPECT_EQ(e.code(), ExitCode::input_error) << msg;
  EXPECT_EQ(msg.rfind(bam.string() + ": record ", 0), 0u) << msg;
  EXPECT_NE(msg.find("corrupt or truncated record"), std::string::npos) << msg;
  EXPECT_NE(msg.find("in region lambda:1-48502"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST_F(BamErrors, ContigNotInReferenceOrHeader) {
  write_bytes(dir / "other.fa", ">chrX\nACGTACGT\n");
  write_bytes(dir / "other.fa.fai", "chrX\t8\t6\t8\t9\n");
  BamPileupReader r(data.bam(), (dir / "other.fa").string());
  expect_input_error(catch_error([&] { r.set_region(std::string("lambda:1-100")); }),
                     dir / "other.fa", -1, "contig 'lambda' not in reference");
  expect_input_error(catch_error([&] { r.set_region(std::string("chrX:1-5")); }), data.bam(), -1,
                     "contig 'chrX' not in the BAM header");
}

TEST_F(BamErrors, ReferenceLengthMismatch) {
  write_bytes(dir / "short.fa", ">lambda\nACGTACGT\n");
  write_bytes(dir / "short.fa.fai", "lambda\t8\t8\t8\t9\n");
  BamPileupReader r(data.bam(), (dir / "short.fa").string());
  expect_input_error(
      catch_error([&] { r.set_region(std::string("lambda:1-5")); }), dir / "short.fa", -1,
      "has length 8 in " + (dir / "short.fa").string() + " but 48502 in " + data.bam());
}

TEST_F(BamErrors, BedRegionErrorsNameTheBedLine) {
  write_bytes(dir / "r.bed", "lambda\t10\t20\n# c\nchrZ\t0\t5\nlambda\t60000\t60010\n");
  const auto regions = read_bed(dir / "r.bed");
  ASSERT_EQ(regions.size(), 3u);
  EXPECT_EQ(regions[0].record, 1);
  BamPileupReader r(data.bam(), data.ref());
  r.set_region(regions[0]);
  expect_input_error(catch_error([&] { r.set_region(regions[1]); }), dir / "r.bed", 3,
                     "contig 'chrZ' not in the BAM header of " + data.bam());
  expect_input_error(catch_error([&] { r.set_region(regions[2]); }), dir / "r.bed", 4,
                     "starts beyond the end of contig 'lambda'");
  write_bytes(dir / "other.fa", ">chrZ\nACGTACGT\n");
  write_bytes(dir / "other.fa.fai", "chrZ\t8\t6\t8\t9\n");
  BamPileupReader r2(data.bam(), (dir / "other.fa").string());
  expect_input_error(catch_error([&] { r2.set_region(regions[0]); }), dir / "r.bed", 1,
                     "contig 'lambda' not in reference " + (dir / "other.fa").string());
}

TEST_F(BamErrors, BadOrEmptyRegion) {
  BamPileupReader r(data.bam());
  expect_input_error(catch_error([&] { r.set_region(std::string("lambda:5-x")); }), data.bam(), -1,
                     "bad region string 'lambda:5-x'");
  expect_input_error(catch_error([&] { r.set_region(std::string("lambda:500-400")); }), data.bam(),
                     -1, "empty region");
  expect_input_error(catch_error([&] { r.set_region(std::string("lambda:50000-60000")); }),
                     data.bam(), -1, "starts beyond the end");
}

TEST_F(BamErrors, NotABamAndCramWithoutReference) {
  write_bytes(dir / "text.bam", "this is not a BAM file\n");
  expect_input_error(catch_error([&] { BamPileupReader r((dir / "text.bam").string()); }),
                     dir / "text.bam", -1, "not a BAM or CRAM file");
  expect_input_error(catch_error([&] { BamPileupReader r(data.cram()); }), data.cram(), -1,
                     "CRAM input needs the reference");
  expect_input_error(catch_error([&] { BamPileupReader r((dir / "none.bam").string()); }),
                     dir / "none.bam", -1, "cannot open file");
  expect_input_error(catch_error([&] { BamPileupReader r(dir.path().string()); }), dir.path(), -1,
                     "is a directory");
}

// ---- BAM/CRAM: what is read ------------------------------------------------------------------

using diffbio::test::PositionCounts;

// Per-position counts of a batch's entries, in samtools' terms.
std::map<long, PositionCounts> count_batch(const PileupBatch& b) {
  std::map<long, PositionCounts> out;
  for (int i = b.halo; i < b.rows() - b.halo; ++i) {
    PositionCounts c{};
    for (int k = b.offsets[i]; k < b.offsets[i + 1]; ++k) {
      const auto e = b.entries[k];
      ++c[diffbio::test::kDepth];
      ++c[diffbio::test::kCh0 + pe::channel(e)];
      c[diffbio::test::kIns] += pe::insertion_follows(e);
      ++c[pe::reverse(e) ? diffbio::test::kRev : diffbio::test::kFwd];
    }
    if (c[diffbio::test::kDepth] > 0) out[b.beg - b.halo + i] = c;
  }
  return out;
}

struct SamtoolsCase {
  std::string name, region, samtools_opts;
  PileupOptions opt;
};

// Test names show the case name, not a byte dump of the parameter.
void PrintTo(const SamtoolsCase& c, std::ostream* os) { *os << c.name; }

class PileupVsSamtools : public ::testing::TestWithParam<SamtoolsCase> {};

// The read selection, CIGAR walk, overlap de-duplication and depth cap all agree with samtools
// mpileup position by position (depth, per-channel counts, strands, insertion marks).
TEST_P(PileupVsSamtools, EntriesEqualSamtoolsMpileup) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  ASSERT_TRUE(diffbio::test::have_samtools()) << "samtools (Debian package samtools) is required";
  const auto& c = GetParam();
  BamPileupReader reader(data.bam(), "", c.opt);
  reader.set_region(c.region);
  PileupBatch b;
  std::map<long, PositionCounts> ours;
  while (reader.next(b)) {
    const auto m = count_batch(b);
    ours.insert(m.begin(), m.end());
  }
  const auto theirs = diffbio::test::samtools_mpileup(data.bam(), c.region, c.samtools_opts);
  std::map<long, PositionCounts> theirs_nz;
  for (const auto& [pos, cnt] : theirs)
    if (cnt[diffbio::test::kDepth] > 0) theirs_nz[pos] = cnt;
  ASSERT_GT(theirs_nz.size(), 100u);
  EXPECT_EQ(ours.size(), theirs_nz.size());
  int shown = 0;
  for (const auto& [pos, cnt] : theirs_nz) {
    const auto it = ours.find(pos);
    const PositionCounts mine = it == ours.end() ? PositionCounts{} : it->second;
    if (mine != cnt && shown++ < 5) {
      std::string a, s;
      for (int i = 0; i < 11; ++i) {
        a += " " + std::to_string(mine[i]);
        s += " " + std::to_string(cnt[i]);
      }
      ADD_FAILURE() << c.name << ": position " << pos + 1 << ": ours" << a << " samtools" << s;
    }
  }
  EXPECT_EQ(shown, 0) << "positions differing from samtools";
}

PileupOptions opts(int min_bq, int min_mq, bool orphans, bool overlap, int cap, int window,
                   int halo) {
  PileupOptions o;
  o.min_baseq = min_bq;
  o.min_mapq = min_mq;
  o.count_orphans = orphans;
  o.overlap_removal = overlap;
  o.max_depth = cap;
  o.window = window;
  o.halo = halo;
  return o;
}

PileupOptions flag_opts(std::uint32_t require, std::uint32_t exclude) {
  PileupOptions o = opts(13, 0, false, true, 0, 20000, 0);
  o.require_flags = require;
  o.exclude_flags = exclude;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Filters, PileupVsSamtools,
    ::testing::Values(
        SamtoolsCase{"defaults_Q13", "lambda", "-Q 13 -d 0",
                     opts(13, 0, false, true, 0, 100000, 0)},
        SamtoolsCase{"Q0", "lambda", "-Q 0 -d 0", opts(0, 0, false, true, 0, 7000, 0)},
        SamtoolsCase{"q20_orphans", "lambda", "-Q 13 -q 20 -A -d 0",
                     opts(13, 20, true, true, 0, 5000, 2)},
        SamtoolsCase{"no_overlap_removal", "lambda", "-Q 20 -x -d 0",
                     opts(20, 0, false, false, 0, 3333, 0)},
        SamtoolsCase{"depth_cap_5", "lambda", "-Q 13 -d 5", opts(13, 0, false, true, 5, 100000, 0)},
        SamtoolsCase{"depth_cap_3_Q0_A", "lambda:20001-30000", "-Q 0 -A -d 3",
                     opts(0, 0, true, true, 3, 777, 0)},
        SamtoolsCase{"flags_rf64_ff1024", "lambda", "-Q 13 --rf 64 --ff 1024 -d 0",
                     flag_opts(0x40, 0x400)},
        SamtoolsCase{"ambiguous_contig", "lambda_dup", "-Q 13 -d 0",
                     opts(13, 0, false, true, 0, 1000, 1)}),
    [](const ::testing::TestParamInfo<SamtoolsCase>& i) { return i.param.name; });

// Every CIGAR operation, alone and in the awkward combinations htslib special-cases: soft and
// hard clips, =/X, a reference skip (N), padding before an insertion (P then I), a leading
// insertion (never shown), a deletion followed by an insertion, a read ending or starting with a
// deletion, a missing QUAL ('*', 0xFF) — position by position equal to samtools mpileup at
// three base-quality cut-offs (D/N entries take the next base's quality, or 0 at the read end).
TEST(BamPileup, CigarOperationsEqualSamtools) {
  ASSERT_TRUE(diffbio::test::have_samtools()) << "samtools (Debian package samtools) is required";
  TempDir dir;
  const std::string sam = (dir / "c.sam").string(), bam = (dir / "c.bam").string();
  write_bytes(
      sam,
      "@HD\tVN:1.6\tSO:coordinate\n"
      "@SQ\tSN:c1\tLN:80\n"
      "r1\t0\tc1\t3\t30\t5S10M2I8M3D10M2S\t*\t0\t0\tGCGCTTAGCTGAGNCGGGAAGGGCGGTACCGCAGCCC\tG?41*%D/"
      "7G.48(9H+=5D4@9=5=G=%=,/#AC>F\n"
      "r2\t16\tc1\t5\t30\t3H10=2X5M\t*\t0\t0\tCTGCGCNTAAGATAGTA\t91/*E*-24+#BG<&42\n"
      "r3\t0\tc1\t8\t30\t10M5N10M\t*\t0\t0\tTGACAAATGTGCTATCTTAT\t&:B7==@$20E4H'>1>+$7\n"
      "r4\t16\tc1\t10\t30\t8M2P3I8M\t*\t0\t0\tGATGAACAATAAAGANCAA\tF7G.'2.2@<3:I<9F=(;\n"
      "r5\t0\tc1\t12\t30\t2I15M\t*\t0\t0\tTCTTCTTCCGGTGGTCG\t27A,=AI0@HF$A'<%@\n"
      "r6\t16\tc1\t14\t30\t10M1D1I10M\t*\t0\t0\tCAGCCAGATAGGTGGTCTGGT\t*?D3)D::?53)8GED*BC9&\n"
      "r7\t0\tc1\t15\t30\t12M\t*\t0\t0\tCCTCTCGACTGA\t*\n"
      "r8\t0\tc1\t20\t30\t10M3D\t*\t0\t0\tAAAACTCCCC\tG./3:5$?=;\n"
      "r9\t16\tc1\t22\t30\t2D10M\t*\t0\t0\tGGTCACTCNT\t*G5,+@(&$:\n"
      "r10\t0\tc1\t25\t30\t6M1P1D6M\t*\t0\t0\tAAGGCAGCCCAT\t'/-<BA'E>0B6\n"
      "r11\t16\tc1\t30\t30\t4M2I3D5M\t*\t0\t0\tTTTGGGCCGTC\t0$-H<C-$+*I\n"
      "r12\t0\tc1\t30\t30\t15M\t*\t0\t0\tTAGAAACTCAAGTGG\t$897(&>(H#)$($-\n");
  ASSERT_EQ(
      std::system(("samtools view -b -o " + bam + " " + sam + " && samtools index " + bam).c_str()),
      0);
  for (int q : {0, 13, 30}) {
    SCOPED_TRACE("Q " + std::to_string(q));
    PileupOptions o;
    o.min_baseq = q;
    const auto ours = count_batch(read_pileup(bam, "", parse_region("c1"), o));
    auto theirs = diffbio::test::samtools_mpileup(bam, "c1", "-Q " + std::to_string(q) + " -d 0");
    for (auto it = theirs.begin(); it != theirs.end();)
      it = it->second[diffbio::test::kDepth] == 0 ? theirs.erase(it) : std::next(it);
    EXPECT_GT(theirs.size(), 20u);
    EXPECT_EQ(ours, theirs);
  }
}

TEST(BamPileup, CramEqualsBam) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  const Region r = parse_region("lambda:10001-20000");
  const auto a = read_pileup(data.bam(), "", r);
  const auto b = read_pileup(data.cram(), data.ref(), r);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.entries, b.entries);
  EXPECT_GT(a.entries.size(), 10000u);
}

// '=' read bases (samtools calmd -e) are resolved against the reference: same entries.
TEST(BamPileup, EqualsBasesResolvedAgainstTheReference) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  ASSERT_TRUE(diffbio::test::have_samtools()) << "samtools (Debian package samtools) is required";
  TempDir dir;
  const std::string eq = (dir / "eq.bam").string();
  ASSERT_EQ(std::system(("samtools calmd -e -b " + data.bam() + " " + data.ref() + " > " + eq +
                         " 2>/dev/null && samtools index " + eq)
                            .c_str()),
            0);
  const Region r = parse_region("lambda:20001-24000");
  const auto plain = read_pileup(data.bam(), "", r);
  const auto with_eq = read_pileup(eq, data.ref(), r);
  EXPECT_EQ(plain.offsets, with_eq.offsets);
  EXPECT_EQ(plain.entries, with_eq.entries);
  // Without a reference a '=' base cannot be named: it counts as "other base" (N).
  const auto no_ref = read_pileup(eq, "", r);
  ASSERT_EQ(no_ref.entries.size(), plain.entries.size());
  std::size_t n_other = 0;
  for (auto e : no_ref.entries) n_other += pe::channel(e) == pe::N;
  EXPECT_GT(n_other, plain.entries.size() / 2);
}

// Streaming in windows (any size, with a halo) gives, row for row, the entries of one big batch.
TEST(BamPileup, WindowsEqualWholeRegion) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  const Region region = parse_region("lambda:2001-12000");
  for (int halo : {0, 3}) {
    PileupOptions o;
    o.halo = halo;
    o.min_baseq = 13;
    PileupStats whole_stats;
    const auto whole = read_pileup(data.bam(), "", region, o, &whole_stats);
    ASSERT_EQ(whole.beg, 2000);
    ASSERT_EQ(whole.end, 12000);
    for (int window : {1, 97, 1000, 4096}) {
      SCOPED_TRACE("halo " + std::to_string(halo) + " window " + std::to_string(window));
      o.window = window;
      BamPileupReader reader(data.bam(), "", o);
      reader.set_region(region);
      PileupBatch b;
      std::int64_t expect_beg = whole.beg;
      std::size_t max_entries = 0;
      while (reader.next(b)) {
        ASSERT_EQ(b.beg, expect_beg);
        ASSERT_LE(b.end - b.beg, window);
        ASSERT_EQ(b.halo, halo);
        ASSERT_EQ(static_cast<int>(b.offsets.size()), b.rows() + 1);
        max_entries = std::max(max_entries, b.entries.size());
        for (int i = 0; i < b.rows(); ++i) {
          const int wi = static_cast<int>(b.beg - whole.beg) + i;  // same row in `whole`
          const std::vector<std::uint32_t> got(b.entries.begin() + b.offsets[i],
                                               b.entries.begin() + b.offsets[i + 1]);
          const std::vector<std::uint32_t> want(whole.entries.begin() + whole.offsets[wi],
                                                whole.entries.begin() + whole.offsets[wi + 1]);
          ASSERT_EQ(got, want) << "row " << i << " of window at " << b.beg;
        }
        expect_beg = b.end;
      }
      EXPECT_EQ(expect_beg, whole.end);
      EXPECT_EQ(reader.stats().entries, whole_stats.entries);
      // Memory follows the window, not the region.
      if (window <= 1000) {
        EXPECT_LT(max_entries, whole.entries.size() / 5);
      }
    }
  }
}

TEST(BamPileup, DepthCapIsReportedNeverSilent) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  PileupOptions o;
  o.max_depth = 4;
  o.window = 5000;
  BamPileupReader reader(data.bam(), "", o);
  reader.set_region(std::string("lambda"));
  PileupBatch b;
  std::uint64_t reported = 0;
  int batches = 0;
  while (reader.next(b)) {
    reported += b.capped;
    ++batches;
  }
  EXPECT_EQ(batches, 10);
  EXPECT_GT(reader.stats().capped, 100u);
  EXPECT_EQ(reported, reader.stats().capped);
  EXPECT_NE(
      reader.stats().summary().find("capped by max depth " + std::to_string(reader.stats().capped)),
      std::string::npos);
  // Without a cap nothing is dropped.
  PileupStats st;
  read_pileup(data.bam(), "", parse_region("lambda"), {}, &st);
  EXPECT_EQ(st.capped, 0u);
  EXPECT_EQ(st.used + st.unmapped + st.filtered_flags + st.filtered_mapq + st.filtered_orphan,
            st.records);
}

// The generated data set is what it claims: at every planted variant of truth.vcf the pileup
// shows the alternate allele at the expected fraction (≈1 for 1/1, ≈½ for 0/1).
TEST(BamPileup, PlantedVariantsShowInThePileup) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  PileupOptions o;
  o.min_baseq = 13;
  o.min_mapq = 20;
  const auto b = read_pileup(data.bam(), data.ref(), parse_region("lambda"), o);
  std::ifstream vcf(data.truth());
  std::string line;
  int n_hom = 0, n_het = 0;
  double hom = 0, het = 0;
  while (std::getline(vcf, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    std::string chrom, id, ref, alt, qual, filter, info, format, gt;
    long pos = 0;
    f >> chrom >> pos >> id >> ref >> alt >> qual >> filter >> info >> format >> gt;
    SCOPED_TRACE(line);
    const long p0 = pos - 1;  // 0-based VCF position (the anchor base of an indel)
    auto count = [&](long p, auto pred) {
      int k = 0, depth = 0;
      for (int i = b.offsets[p]; i < b.offsets[p + 1]; ++i) {
        ++depth;
        k += pred(b.entries[i]) ? 1 : 0;
      }
      return std::make_pair(k, depth);
    };
    std::pair<int, int> kd;
    if (ref.size() == 1 && alt.size() == 1) {
      const int ch = std::string("ACGT").find(alt[0]);
      kd = count(p0, [&](std::uint32_t e) { return pe::channel(e) == ch; });
    } else if (alt.size() > ref.size()) {  // insertion after the anchor
      kd = count(p0, [](std::uint32_t e) { return pe::insertion_follows(e); });
    } else {  // deletion of the bases after the anchor
      kd = count(p0 + 1, [](std::uint32_t e) { return pe::channel(e) == pe::DEL; });
    }
    ASSERT_GT(kd.second, 0);
    const double frac = static_cast<double>(kd.first) / kd.second;
    // ~12x after filters: single variants are noisy (binomial, and bwa soft-clips indels near
    // read ends), so the fractions are checked on average, and per variant only a homozygous
    // variant that the pileup misses.
    if (gt == "1/1") {
      if (kd.second >= 6) {
        EXPECT_GT(frac, 0.5);
      }
      hom += frac;
      ++n_hom;
    } else {
      het += frac;
      ++n_het;
    }
  }
  std::printf("planted variants: %d hom (mean alt fraction %.3f), %d het (%.3f)\n", n_hom,
              hom / n_hom, n_het, het / n_het);
  EXPECT_GT(n_hom + n_het, 100);
  EXPECT_GT(hom / n_hom, 0.85);
  EXPECT_GT(het / n_het, 0.3);
  EXPECT_LT(het / n_het, 0.7);
}

TEST(BamPileup, RegionAtContigStartHasEmptyHaloRows) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  PileupOptions o;
  o.halo = 4;
  const auto b = read_pileup(data.bam(), "", parse_region("lambda:1-50"), o);
  ASSERT_EQ(b.rows(), 58);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.offsets[i + 1] - b.offsets[i], 0) << "row " << i;
  EXPECT_GT(b.offsets[b.rows()] - b.offsets[4], 0);
}

}  // namespace
