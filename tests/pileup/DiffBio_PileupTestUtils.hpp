// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_PileupTestUtils.hpp
/// \brief Shared helpers of the pileup tests: the generated data set, and `samtools mpileup` run
/// on it and parsed into per-position counts in the operator's channel order.
#ifndef DIFFBIO_PILEUP_TEST_UTILS_HPP
#define DIFFBIO_PILEUP_TEST_UTILS_HPP

#include <gtest/gtest.h>

#include <DiffBio_Bam.hpp>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#ifndef DIFFBIO_PILEUP_DATA_DIR
#error "DIFFBIO_PILEUP_DATA_DIR must name the directory make_pileup_data.sh writes (tests.cmake)"
#endif

namespace diffbio::test {

/// The data set written by tests/data/pileup/make_pileup_data.sh (CTest fixture pileup.make_data).
struct PileupData {
  std::string dir = DIFFBIO_PILEUP_DATA_DIR;
  std::string bam() const { return dir + "/reads.bam"; }
  std::string cram() const { return dir + "/reads.cram"; }
  std::string ref() const { return dir + "/ref.fa"; }
  std::string truth() const { return dir + "/truth.vcf"; }
  bool present() const { return std::filesystem::exists(dir + "/STAMP"); }
};

#define DIFFBIO_REQUIRE_PILEUP_DATA(data)                                                          \
  do {                                                                                             \
    if (!(data).present())                                                                         \
      FAIL() << "pileup test data missing in " << (data).dir                                       \
             << ": run ctest (fixture pileup.make_data) or tests/data/pileup/make_pileup_data.sh"; \
  } while (0)

/// One position of a pileup: depth, then counts A C G T N DEL SKIP INS, then forward / reverse.
using PositionCounts = std::array<long, 11>;
enum : int { kDepth = 0, kCh0 = 1, kIns = 8, kFwd = 9, kRev = 10 };

/// Runs `samtools mpileup -B --reverse-del <opts> -r <region> <bam>` and parses every output line:
/// the depth column, and each base-column entry into its channel ('.'/',' cannot occur without
/// -f), its strand (case; '#' and '<' are reverse), and "+n" insertion marks.
inline std::map<long, PositionCounts> samtools_mpileup(const std::string& bam,
                                                       const std::string& region,
                                                       const std::string& opts) {
  std::map<long, PositionCounts> out;
  const std::string cmd =
      "samtools mpileup -B --reverse-del " + opts + " -r " + region + " " + bam + " 2>/dev/null";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) {
    ADD_FAILURE() << "cannot run: " << cmd;
    return out;
  }
  std::string line;
  char buf[1 << 16];
  auto process = [&](const std::string& l) {
    std::vector<std::string> col;
    std::size_t a = 0;
    for (;;) {
      const auto b = l.find('\t', a);
      col.push_back(l.substr(a, b == std::string::npos ? std::string::npos : b - a));
      if (b == std::string::npos) break;
      a = b + 1;
    }
    ASSERT_GE(col.size(), 5u) << l;
    PositionCounts c{};
    c[kDepth] = std::stol(col[3]);
    const std::string& s = col[4];
    for (std::size_t i = 0; i < s.size() && s != "*";) {
      const char ch = s[i];
      if (ch == '^') {
        i += 2;
        continue;
      }
      if (ch == '$') {
        ++i;
        continue;
      }
      if (ch == '+' || ch == '-') {
        std::size_t j = i + 1;
        long n = 0;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])))
          n = n * 10 + (s[j++] - '0');
        if (ch == '+') ++c[kIns];
        i = j + static_cast<std::size_t>(n);
        continue;
      }
      int channel = -1;
      bool rev = false;
      switch (ch) {
        case '*':
          channel = 5;
          break;
        case '#':
          channel = 5;
          rev = true;
          break;
        case '>':
          channel = 6;
          break;
        case '<':
          channel = 6;
          rev = true;
          break;
        default: {
          const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
          rev = std::islower(static_cast<unsigned char>(ch)) != 0;
          channel = u == 'A' ? 0 : u == 'C' ? 1 : u == 'G' ? 2 : u == 'T' ? 3 : 4;
        }
      }
      ++c[kCh0 + channel];
      ++c[rev ? kRev : kFwd];
      ++i;
    }
    out[std::stol(col[1]) - 1] = c;  // 0-based position
  };
  while (fgets(buf, sizeof buf, f)) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      process(line);
      line.clear();
    }
  }
  if (!line.empty()) process(line);
  const int rc = pclose(f);
  EXPECT_EQ(rc, 0) << "failed: " << cmd;
  return out;
}

inline bool have_samtools() { return std::system("command -v samtools >/dev/null 2>&1") == 0; }

}  // namespace diffbio::test

#endif
