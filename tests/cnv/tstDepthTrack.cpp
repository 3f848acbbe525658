// SPDX-License-Identifier: BSD-3-Clause
// Binned depth (DiffBio_DepthTrack.hpp) on the simulated CNV BAM: each bin's mean equals the mean
// of `samtools mpileup -B -Q 0 -a` depths over the same positions (same read filters), for a
// whole contig and for a region that starts off the bin grid and ends in a partial bin; the
// planted deletion and duplication are visible; whole-contig regions check the reference.
#include <DiffBio_DepthTrack.hpp>
#include <DiffBio_Error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <vector>
#include <map>
#include <sstream>
#include <string>

using namespace diffbio;

namespace {

const std::string data_dir = DIFFBIO_CNV_DATA_DIR;

// 1-based position → depth column of samtools mpileup over a region string.
std::map<long long, int> mpileup_depth(const std::string& region, int min_mapq) {
  const std::string cmd = "samtools mpileup -B -Q 0 -a -q " + std::to_string(min_mapq) + " -r " +
                          region + " " + data_dir + "/reads.bam 2>/dev/null";
  std::map<long long, int> d;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return d;
  char line[1 << 16];
  while (std::fgets(line, sizeof line, p)) {
    std::istringstream is(line);
    std::string chrom, ref;
    long long pos;
    int depth;
    if (is >> chrom >> pos >> ref >> depth) d[pos] = depth;
  }
  pclose(p);
  return d;
}

void expect_bins_match_samtools(const io::DepthTrack& t, const std::string& region, int min_mapq) {
  const auto theirs = mpileup_depth(region, min_mapq);
  ASSERT_FALSE(theirs.empty()) << "samtools mpileup gave no output (Debian package samtools)";
  ASSERT_EQ(t.depth.size(), static_cast<std::size_t>((t.region.end - t.region.beg + t.bin - 1) / t.bin));
  for (std::size_t i = 0; i < t.depth.size(); ++i) {
    double s = 0;
    for (long long p = t.bin_beg(i); p < t.bin_end(i); ++p) {
      auto it = theirs.find(p + 1);
      if (it != theirs.end()) s += it->second;
    }
    EXPECT_DOUBLE_EQ(t.depth[i], s / static_cast<double>(t.bin_end(i) - t.bin_beg(i)))
        << region << " bin " << i;
  }
}

}  // namespace

TEST(DepthTrack, WholeContigEqualsSamtoolsMpileup) {
  const auto regions = io::whole_contig_regions(data_dir + "/reads.bam", data_dir + "/ref.fa");
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0].contig, "lambda");
  EXPECT_EQ(regions[0].end, 48502);
  io::DepthTrackOptions o;
  o.bin = 1000;
  const auto tracks = io::read_depth_tracks(data_dir + "/reads.bam", data_dir + "/ref.fa", regions, o);
  ASSERT_EQ(tracks.size(), 1u);
  ASSERT_EQ(tracks[0].depth.size(), 49u);
  EXPECT_EQ(tracks[0].bin_end(48), 48502);
  expect_bins_match_samtools(tracks[0], "lambda", 0);
  // Planted: het deletion [10000, 14000) (half depth), duplication [30000, 35000) (1.5x).
  const auto& d = tracks[0].depth;
  std::vector<double> sorted(d.begin(), d.end() - 1);  // the last bin is partial
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  for (int i = 10; i < 14; ++i) EXPECT_LT(d[i], 0.6 * median) << i;
  for (int i = 30; i < 35; ++i) EXPECT_GT(d[i], 1.25 * median) << i;
}

TEST(DepthTrack, RegionOffTheBinGridWithMapqFilter) {
  io::DepthTrackOptions o;
  o.bin = 700;
  o.pileup.min_mapq = 30;
  const auto r = io::parse_region("lambda:1234-9000");
  const auto tracks = io::read_depth_tracks(data_dir + "/reads.bam", "", {r}, o);
  ASSERT_EQ(tracks.size(), 1u);
  EXPECT_EQ(tracks[0].region.beg, 1233);
  EXPECT_EQ(tracks[0].region.end, 9000);
  expect_bins_match_samtools(tracks[0], "lambda:1234-9000", 30);
}

TEST(DepthTrack, ContigMismatchesAreInputErrors) {
  for (const char* ref : {"wrong_ref.fa", "short_ref.fa"}) {
    try {
      io::whole_contig_regions(data_dir + "/reads.bam", data_dir + "/" + ref);
      ADD_FAILURE() << ref << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::input_error) << e.what();
      EXPECT_NE(std::string(e.what()).find("wrong reference"), std::string::npos) << e.what();
    }
  }
  io::DepthTrackOptions bad;
  bad.bin = 0;
  EXPECT_THROW(io::read_depth_tracks(data_dir + "/reads.bam", "", {io::parse_region("lambda")}, bad),
               Error);
}
