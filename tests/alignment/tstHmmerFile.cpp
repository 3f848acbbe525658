// SPDX-License-Identifier: BSD-3-Clause
// HMMER3 ASCII reader (src/io/DiffBio_HmmerFile): the Pfam models shipped in Debian's
// hmmer-examples, multi-model files, and one test per class of malformed input (one-line
// diffbio::input_error naming file, model, line and problem). Also HMMER's alphabets.
#include <DiffBio_HmmerFile.hpp>

#include "../io/DiffBio_IoTestUtils.hpp"
#include "DiffBio_HmmerTestData.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

namespace {

using diffbio::io::HmmerAlphabet;
using diffbio::io::HmmerModel;
using diffbio::io::read_hmmer3_file;
using diffbio::io::read_hmmer3_model;
using diffbio::test::catch_error;
using diffbio::test::expect_input_error;
using diffbio::test::TempDir;
using diffbio::test::write_bytes;
namespace dio = diffbio::io;

// A valid 2-node DNA model (HMMER3/f layout; values are -ln p).
std::string tiny_model(const std::string& name = "tiny") {
  return "HMMER3/f [3.3.2 | Nov 2020]\n"
         "NAME  " +
         name +
         "\n"
         "DESC  a two-node test model\n"
         "LENG  2\n"
         "ALPH  DNA\n"
         "RF    no\nMM    no\nCONS  yes\nCS    no\nMAP   yes\n"
         "STATS LOCAL MSV      -5.0  0.7\n"
         "HMM          A        C        G        T\n"
         "            m->m     m->i     m->d     i->m     i->i     d->m     d->d\n"
         "  COMPO   1.38629  1.38629  1.38629  1.38629\n"
         "          1.38629  1.38629  1.38629  1.38629\n"
         "          0.10536  2.99573  2.99573  0.69315  0.69315  0.00000        *\n"
         "      1   0.22314  2.30259  2.99573  2.99573      1 a - - -\n"
         "          1.38629  1.38629  1.38629  1.38629\n"
         "          0.10536  2.99573  2.99573  0.69315  0.69315  0.69315  0.69315\n"
         "      2   2.99573  2.99573  2.99573  0.16252      2 t - - -\n"
         "          1.38629  1.38629  1.38629  1.38629\n"
         "          0.05129  2.99573        *  0.69315  0.69315  0.00000        *\n"
         "//\n";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto p = s.find(from);
  EXPECT_NE(p, std::string::npos) << "fixture has no '" << from << "'";
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

// ---- real files --------------------------------------------------------------------------------

TEST(HmmerFile, ReadsPfamPkinase) {
  const std::string path = diffbio::test::hmmer_tutorial("Pkinase.hmm");
  ASSERT_TRUE(diffbio::test::file_exists(path)) << "Debian package hmmer-examples is required";
  const HmmerModel m = read_hmmer3_model(path);
  EXPECT_EQ(m.format, "HMMER3/f");
  EXPECT_EQ(m.name, "Pkinase");
  EXPECT_EQ(m.accession, "PF00069.17");
  EXPECT_EQ(m.description, "Protein kinase domain");
  EXPECT_EQ(m.M, 260);
  EXPECT_EQ(m.nseq, 54);
  EXPECT_NEAR(m.effn, 3.358521, 1e-12);
  EXPECT_EQ(m.alphabet.K, 20);
  ASSERT_EQ(m.compo.size(), 20u);
  EXPECT_NEAR(m.compo[0], std::exp(-2.60017), 1e-15);
  // node 1: "1   2.91704  4.31028 ..." and the node 0 transition line "0.00990 5.01631 5.73865 ..."
  EXPECT_NEAR(m.mat(1, 0), std::exp(-2.91704), 1e-15);
  EXPECT_NEAR(m.mat(1, 19), std::exp(-1.82622), 1e-15);
  EXPECT_NEAR(m.t(0, dio::hmmer_MM), std::exp(-0.00990), 1e-15);
  EXPECT_NEAR(m.t(0, dio::hmmer_MD), std::exp(-5.73865), 1e-15);
  EXPECT_EQ(m.t(0, dio::hmmer_DD), 0.0);  // '*'
  EXPECT_EQ(m.t(0, dio::hmmer_DM), 1.0);
  EXPECT_EQ(m.t(260, dio::hmmer_MD), 0.0);
  for (int k = 1; k <= m.M; ++k) {
    double s = 0;
    for (int a = 0; a < 20; ++a) s += m.mat(k, a);
    EXPECT_NEAR(s, 1.0, 1e-4);
  }
}

TEST(HmmerFile, ReadsEveryTutorialModel) {
  for (const char* f : {"Pkinase.hmm", "fn3.hmm", "globins4.hmm", "MADE1.hmm"}) {
    const auto all = read_hmmer3_file(diffbio::test::hmmer_tutorial(f));
    ASSERT_EQ(all.size(), 1u) << f;
    EXPECT_GT(all[0].M, 10) << f;
  }
  const auto made1 = read_hmmer3_model(diffbio::test::hmmer_tutorial("MADE1.hmm"));
  EXPECT_EQ(made1.alphabet.type, dio::HmmerAlphabetType::dna);
  EXPECT_EQ(made1.M, 80);
}

TEST(HmmerFile, ReadsSeveralModelsAndCrlf) {
  TempDir dir;
  std::string two = tiny_model("first") + "\n" + tiny_model("second");
  std::string crlf;
  for (char c : two) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  write_bytes(dir / "two.hmm", crlf);
  const auto all = read_hmmer3_file((dir / "two.hmm").string());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "first");
  EXPECT_EQ(all[1].name, "second");
  EXPECT_EQ(all[1].M, 2);
  EXPECT_EQ(all[1].description, "a two-node test model");
  EXPECT_NEAR(all[1].mat(2, 3), std::exp(-0.16252), 1e-15);
  EXPECT_EQ(all[1].t(2, dio::hmmer_MD), 0.0);
}

TEST(HmmerFile, OlderFormatWithoutCompoAndFewerColumns) {
  TempDir dir;
  std::string s = replace(tiny_model(), "HMMER3/f", "HMMER3/b");
  s = replace(s, "  COMPO   1.38629  1.38629  1.38629  1.38629\n", "");
  s = replace(s, "      1 a - - -", "      1 - -");
  write_bytes(dir / "b.hmm", s);
  const auto m = read_hmmer3_model((dir / "b.hmm").string());
  EXPECT_EQ(m.format, "HMMER3/b");
  EXPECT_TRUE(m.compo.empty());
}

// ---- alphabets
// ------------------------------------------------------------------------------------

TEST(HmmerFile, AlphabetsFollowEasel) {
  const auto aa = HmmerAlphabet::amino();
  EXPECT_EQ(aa.Kp, 29);
  EXPECT_EQ(aa.code('A'), 0);
  EXPECT_EQ(aa.code('y'), 19);
  EXPECT_EQ(aa.code('X'), 26);
  EXPECT_EQ(aa.code('J'), 22);
  EXPECT_EQ(aa.code('1'), -1);
  const auto w = aa.code_weights();
  // X: expected score over all residues weighted by the background (which sums to 1 - 1e-7)
  double fsum = 0;
  for (int a = 0; a < 20; ++a) fsum += aa.background[a];
  for (int a = 0; a < 20; ++a) EXPECT_NEAR(w[26 * 20 + a], aa.background[a] / fsum, 1e-15);
  // B = {N, D}: weights f_N/(f_N+f_D), f_D/(f_N+f_D)
  EXPECT_NEAR(w[21 * 20 + 11], aa.background[11] / (aa.background[11] + aa.background[2]), 1e-15);
  EXPECT_NEAR(w[25 * 20 + 1], 1.0, 0);  // U scored as C
  const auto dna = HmmerAlphabet::dna();
  EXPECT_EQ(dna.code('u'), 3);
  EXPECT_EQ(dna.code('N'), 15);
  EXPECT_EQ(dna.encode("ACGTN"), (std::vector<std::uint8_t>{0, 1, 2, 3, 15}));
  const auto e = catch_error([&] { aa.encode("ACD1E", "db.fa", 3); });
  expect_input_error(e, "db.fa", 3, "invalid residue '1' at position 4");
}

// ---- malformed input: one line, names file, model and line
// -----------------------------------------

struct Malformed {
  const char* what;
  std::string text;
  long long record;
  std::string problem;
};

TEST(HmmerFile, MalformedFilesGiveOneLineErrors) {
  const std::string ok = tiny_model();
  const std::vector<Malformed> cases = {
      {"empty", "", 1, "empty file"},
      {"blank", "\n\n", 1, "empty file"},
      {"not hmmer", "# STOCKHOLM 1.0\n", 1,
       "line 1: expected a format line starting with 'HMMER3/'"},
      {"hmmer2", "HMMER2.0  [2.3.2]\nNAME x\n", 1, "line 1: HMMER2 format is not supported"},
      {"bad version", replace(ok, "HMMER3/f", "HMMER3/z"), 1,
       "line 1: unknown HMMER3 format version"},
      {"no name", replace(ok, "NAME  tiny\n", ""), 1, "line 11: the header has no NAME line"},
      {"no leng", replace(ok, "LENG  2\n", ""), 1, "the header has no LENG line"},
      {"bad leng", replace(ok, "LENG  2", "LENG  two"), 1, "line 4: LENG: 'two' is not an integer"},
      {"zero leng", replace(ok, "LENG  2", "LENG  0"), 1, "line 4: LENG must be at least 1"},
      {"bad alph", replace(ok, "ALPH  DNA", "ALPH  protein"), 1,
       "line 5: unsupported alphabet 'protein'"},
      {"unknown tag", replace(ok, "RF    no", "FOO   no"), 1, "line 6: unknown header tag 'FOO'"},
      {"symbols", replace(ok, "A        C        G        T", "A C G U"), 1,
       "line 12: the HMM line lists symbols 'ACGU', expected 'ACGT'"},
      {"trans header", replace(ok, "m->m     m->i", "m->m     m->x"), 1,
       "line 13: expected the transition header"},
      {"short compo", replace(ok, "COMPO   1.38629  1.38629  1.38629  1.38629", "COMPO   1.38629"),
       1, "line 14: COMPO: expected 4 values, got 1"},
      {"bad number", replace(ok, "      1   0.22314", "      1   0.2x314"), 1,
       "line 17: node 1 match emissions: '0.2x314' is not a number or '*'"},
      {"negative", replace(ok, "      1   0.22314", "      1   -0.22314"), 1,
       "line 17: node 1 match emissions: negative value '-0.22314'"},
      {"missing value",
       replace(ok, "      2   2.99573  2.99573  2.99573  0.16252",
               "      2   2.99573  2.99573  2.99573"),
       1, "line 20: node 2 match emissions: probabilities sum to"},
      {"sum", replace(ok, "      1   0.22314", "      1   0.02314"), 1,
       "line 17: node 1 match emissions: probabilities sum to"},
      {"node number", replace(ok, "      2   2.99573", "      3   2.99573"), 1,
       "line 20: expected node 2, found node number '3'"},
      {"six transitions",
       replace(ok, "0.05129  2.99573        *  0.69315  0.69315  0.00000        *",
               "0.05129  2.99573        *  0.69315  0.69315  0.00000"),
       1, "line 22: node 2 transitions: expected 7 values"},
      {"transition sum",
       replace(ok, "0.05129  2.99573        *  0.69315  0.69315",
               "0.05129  2.99573        *  0.69315  0.09315"),
       1, "line 22: node 2 transitions: insert transitions sum to"},
      {"truncated", ok.substr(0, ok.find("      2   2.99573")), 1,
       "truncated model: file ends after line 19 where node 2 match emissions was expected"},
      {"early end",
       replace(ok, "      2   2.99573  2.99573  2.99573  0.16252      2 t - - -\n", "//\n"), 1,
       "line 20: model ends after 1 nodes but LENG is 2"},
      {"no terminator", replace(ok, "//\n", "junk\n"), 1,
       "line 23: expected the end-of-model line '//'"},
      {"second model bad", ok + replace(ok, "LENG  2", "LENG  x"), 2,
       "line 27: LENG: 'x' is not an integer"},
      {"binary", std::string("HMMER3/f\nNAME  a\x01\n"), 1, "line 2: non-ASCII or control byte 1"},
      {"gzip", std::string("\x1f\x8b\x08\x00", 4), 1, "gzip-compressed"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const auto path = dir / "bad.hmm";
    write_bytes(path, c.text);
    const auto e = catch_error([&] { read_hmmer3_file(path.string()); });
    expect_input_error(e, path, c.record, c.problem);
  }
  const auto e = catch_error([&] { read_hmmer3_file((dir / "missing.hmm").string()); });
  expect_input_error(e, dir / "missing.hmm", -1, "cannot open file");
  const auto d = catch_error([&] { read_hmmer3_file(dir.path().string()); });
  expect_input_error(d, dir.path(), -1, "is a directory");
}

}  // namespace
