// SPDX-License-Identifier: BSD-3-Clause
// FASTA and Stockholm readers: valid inputs, reference-pair extraction, one-line errors.
#include <DiffBio_Fasta.hpp>
#include "DiffBio_IoTestUtils.hpp"

#include <gtest/gtest.h>

using namespace diffbio;
using namespace diffbio::io;
using diffbio::test::TempDir;
using diffbio::test::write_bytes;

namespace {
void expect_one_line_input_error(const std::string& path, const std::string& needle,
                                 bool (*reader)(const std::string&)) {
  try {
    reader(path);
    FAIL() << "expected an input error mentioning '" << needle << "'";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code(), ExitCode::input_error);
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}
bool fasta(const std::string& p) { return !read_fasta(p).empty(); }
bool stockholm(const std::string& p) { return !read_stockholm(p).rows.empty(); }
}  // namespace

TEST(Fasta, MultiLineRecordsCrlfAndCase) {
  TempDir d;
  write_bytes(d / "a.fa", ">seq1 description here\r\nACGT\r\nacgn\r\n\r\n>seq2\nMKV LA\n");
  const auto r = read_fasta((d / "a.fa").string());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].name, "seq1");
  EXPECT_EQ(r[0].sequence, "ACGTACGN");
  EXPECT_EQ(r[1].sequence, "MKVLA");
}

TEST(Fasta, MalformedInputsGiveOneLineErrors) {
  TempDir d;
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty file"},
      {"ACGT\n", "before the first '>'"},
      {">\nACGT\n", "empty name"},
      {">a\n>b\nAC\n", "empty sequence"},
      {">a\nAC\n>b\n", "empty sequence"},
      {">a\nAC1T\n", "invalid sequence character"},
      {">a\nAC\xC3\xA9T\n", "non-ASCII"},
  };
  int k = 0;
  for (const auto& c : cases) {
    const auto p = (d / ("bad" + std::to_string(k++) + ".fa")).string();
    write_bytes(p, c.first);
    expect_one_line_input_error(p, c.second, fasta);
  }
  expect_one_line_input_error((d / "missing.fa").string(), "cannot open", fasta);
}

TEST(Stockholm, MultiBlockAndReferencePairs) {
  TempDir d;
  write_bytes(d / "a.sto",
              "# STOCKHOLM 1.0\n#=GF ID test\n"
              "s1  AC-GT\ns2  A.TG-\n#=GC RF xxxxx\n\n"
              "s1  aa\ns2  -A\n//\n");
  const Msa msa = read_stockholm((d / "a.sto").string());
  ASSERT_EQ(msa.rows.size(), 2u);
  EXPECT_EQ(msa.rows[0], "AC-GTaa");
  EXPECT_EQ(msa.rows[1], "A.TG--A");
  const auto p = reference_pair(msa, 0, 1);
  EXPECT_EQ(p.x, "ACGTAA");
  EXPECT_EQ(p.y, "ATGA");
  // columns: A/A (0,0), C/. , -/T, G/G (2,2), T/-, a/-, a/A (5,3)
  EXPECT_EQ(p.aligned, (std::vector<std::pair<int, int>>{{0, 0}, {2, 2}, {5, 3}}));
}

TEST(Stockholm, MalformedInputsGiveOneLineErrors) {
  TempDir d;
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty file"},
      {">a\nACGT\n", "not a Stockholm file"},
      {"# STOCKHOLM 1.0\ns1 ACGT\n", "no '//' terminator"},
      {"# STOCKHOLM 1.0\ns1 ACGT\ns2 ACG\n//\n", "columns"},
      {"# STOCKHOLM 1.0\n//\n", "no sequences"},
  };
  int k = 0;
  for (const auto& c : cases) {
    const auto p = (d / ("bad" + std::to_string(k++) + ".sto")).string();
    write_bytes(p, c.first);
    expect_one_line_input_error(p, c.second, stockholm);
  }
}

TEST(Stockholm, ReadsPfamSeedFromHmmerExamples) {
  const std::string pfam = "/usr/share/doc/hmmer/examples/tutorial/fn3.sto";
  if (!std::filesystem::exists(pfam)) FAIL() << pfam << " missing: install hmmer-examples (cmake/setup-deps.sh)";
  const Msa msa = read_stockholm(pfam);
  EXPECT_GT(msa.rows.size(), 50u);
  const auto p = reference_pair(msa, 0, 1);
  EXPECT_GT(p.aligned.size(), 40u);
  for (const auto& [i, j] : p.aligned) {
    ASSERT_LT(i, static_cast<int>(p.x.size()));
    ASSERT_LT(j, static_cast<int>(p.y.size()));
  }
}
