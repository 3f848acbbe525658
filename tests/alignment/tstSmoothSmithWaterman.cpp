// SPDX-License-Identifier: BSD-3-Clause
// SmoothSmithWaterman on the backend this binary is compiled for: hard mode against parasail on real
// DNA and protein pairs (float and double, local and global), τ → 0, finite differences + Taylor +
// dot-product tests, ADOL-C oracle on a plain serial reference, backend vs Serial (bitwise in
// deterministic mode), float vs double, padding / length-0 / length-1 edge cases, the posterior
// identity, checkpointed == store-all, probability space == log space, range fallback, contract.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_SmithWatermanCases.hpp"

#include <gtest/gtest.h>
#include <parasail.h>
#include <parasail/matrices/blosum62.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using namespace diffbio;
using namespace diffbio::test;

namespace {

SmoothSmithWatermanConfig cfg_of(bool local, double tau = 1.0, bool hard = false, bool learn = false,
                                 bool prob = true) {
  SmoothSmithWatermanConfig c;
  c.local = local;
  c.temperature = tau;
  c.hard = hard;
  c.learn_temperature = learn;
  c.probability_space = prob;
  return c;
}

void expect_all_checks(const Differentiable& f) {
  auto fd = check_finite_differences(f);
  EXPECT_TRUE(fd.passed) << fd.detail;
  auto ty = taylor_test(f);
  EXPECT_TRUE(ty.passed) << ty.detail;
  auto dp = dot_product_test(f);
  EXPECT_TRUE(dp.passed) << dp.detail;
}

// ---- real sequences (fragments of well-known proteins; UniProt canonical sequences) ----
const char* kHbaHuman =  // hemoglobin subunit alpha (P69905)
    "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSDLHAHKL"
    "RVDPVNFKLLSHCLLVTLAAHLPAEFTPAVHASLDKFLASVSTVLTSKYR";
const char* kHbbHuman =  // hemoglobin subunit beta (P68871)
    "MVHLTPEEKSAVTALWGKVNVDEVGGEALGRLLVVYPWTQRFFESFGDLSTPDAVMGNPKVKAHGKKVLGAFSDGLAHLDNLKGTFATLSEL"
    "HCDKLHVDPENFRLLGNVLVCVLAHHFGKEFTPPVQAAYQKVVAGVANALAHKYH";
const char* kMybHuman =  // myoglobin (P02144)
    "MGLSDGEWQLVLNVWGKVEADIPGHGQEVLIRLFKGHPETLEKFDKFKHLKSEDEMKASEDLKKHGATVLTALGGILKKKGHHEAEIKPLAQ"
    "SHATKHKIPVKYLEFISECIIQVLQSKHPGDFGADAQGAMNKALELFRKDMASNYKELGFQG";
const char* kUbiquitin =  // ubiquitin (P0CG48, one repeat)
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG";
const char* kInsulin =  // preproinsulin (P01308)
    "MALWMRLLPLLALLALWGPDPAAAFVNQHLCGSHLVEALYLVCGERGFFYTPKTRREAEDLQVGQVELGGGPGAGSLQPLALEGSLQKRGIVE"
    "QCCTSICSLYQLENYCN";
// DNA: the start of the enterobacteria phage lambda genome (cos end) followed by the pUC19
// multiple-cloning site (EcoRI ... HindIII).
const char* kDna =
    "GGGCGGCGACCTCGCGGGTTTTCGCTATTTATGAAAATTTTCCGGTTTAAGGCGTTTCCGTTCTTCTTCGTCATAACTTAATGTTTTTATTTAA"
    "AATACCCTCTGAAAAGAAAGGAAACGACAGGTGCTGAAAGCGAGGCTTTTTGGCCTCTGTCGTTTCCTTTCTCTGTTTTTGTCCGTGGAATGAA"
    "CAATGGAAGTCAACAAAAAGCAGAGCTTATCGATGATAAGCGGTCAAACATGAGAATTCGAGCTCGGTACCCGGGGATCCTCTAGAGTCGACCT"
    "GCAGGCATGCAAGCTT";

/// A "read": a substring of `src` with substitutions, insertions and deletions.
std::string mutate(const std::string& src, std::size_t start, std::size_t len, double rate,
                   std::uint64_t seed, const std::string& alphabet) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<std::size_t> let(0, alphabet.size() - 1);
  std::string out;
  for (std::size_t i = start; i < std::min(src.size(), start + len); ++i) {
    const double r = u(gen);
    if (r < rate / 3) continue;                                          // deletion
    if (r < 2 * rate / 3) out.push_back(alphabet[let(gen)]);             // insertion
    out.push_back(r < rate ? alphabet[let(gen)] : src[i]);               // substitution
  }
  return out;
}

struct StringPairs {
  std::vector<std::string> x, y;
};

StringPairs dna_pairs() {
  const std::string g = kDna;
  StringPairs p;
  const std::size_t starts[] = {0, 17, 40, 95, 120, 150, 200, 233, 260};
  int s = 0;
  for (std::size_t st : starts) {
    const std::size_t len = 30 + (st * 7) % 45;
    p.x.push_back(mutate(g, st, len, 0.12, 100 + s, "ACGT"));              // read
    p.y.push_back(g.substr(st > 10 ? st - 10 : 0, len + 25));              // window
    ++s;
  }
  p.x.push_back("ACGT");
  p.y.push_back("TTTT");  // no positive local alignment other than the single T
  p.x.push_back("A");
  p.y.push_back("A");
  p.x.push_back("GATTACA");
  p.y.push_back("GCATGCT");
  return p;
}

StringPairs protein_pairs() {
  StringPairs p;
  const std::string prot[] = {kHbaHuman, kHbbHuman, kMybHuman, kUbiquitin, kInsulin};
  p.x = {prot[0], prot[0], prot[1], prot[3], prot[4], prot[0].substr(20, 60)};
  p.y = {prot[1], prot[2], prot[2], prot[4], prot[3], prot[1]};
  p.x.push_back(mutate(prot[2], 10, 90, 0.2, 7, "ACDEFGHIKLMNPQRSTVWY"));
  p.y.push_back(prot[2]);
  p.x.push_back("W");
  p.y.push_back("W");
  return p;
}

int parasail_score(const std::string& a, const std::string& b, bool local, int open, int ext,
                   const parasail_matrix_t* m) {
  parasail_result_t* r =
      local ? parasail_sw(a.c_str(), static_cast<int>(a.size()), b.c_str(), static_cast<int>(b.size()),
                          open, ext, m)
            : parasail_nw(a.c_str(), static_cast<int>(a.size()), b.c_str(), static_cast<int>(b.size()),
                          open, ext, m);
  const int s = parasail_result_get_score(r);
  parasail_result_free(r);
  return s;
}

/// Hard-mode scores of our operator for string pairs (letters encoded by `enc`).
template <class S>
std::vector<double> hard_scores(const StringPairs& p, int A, const std::vector<double>& sub,
                                bool local, double open, double ext,
                                std::vector<std::uint8_t> (*enc)(const std::string&)) {
  std::vector<std::vector<std::uint8_t>> xs, ys;
  for (std::size_t k = 0; k < p.x.size(); ++k) {
    xs.push_back(enc(p.x[k]));
    ys.push_back(enc(p.y[k]));
  }
  const SwData d = SwData::pairs(A, xs, ys);
  using M = TEST_MEMSPACE;
  SmoothSmithWatermanConfig c = cfg_of(local, 1.0, true);
  c.alphabet_size = A;
  c.substitution = sub;
  c.gap_open = open;
  c.gap_extend = ext;
  SmoothSmithWaterman<S, TEST_EXECSPACE> op(c);
  typename SmoothSmithWaterman<S, TEST_EXECSPACE>::Inputs in;
  in.x_index = to_view<Kokkos::View<std::uint8_t**, M>>(d.xi, d.B, d.Lx);
  in.y_index = to_view<Kokkos::View<std::uint8_t**, M>>(d.yi, d.B, d.Ly);
  in.x_length = to_view<Kokkos::View<int*, M>>(d.xl, d.B);
  in.y_length = to_view<Kokkos::View<int*, M>>(d.yl, d.B);
  auto params = to_view<Kokkos::View<S*, M>>(op.initial_params(), op.n_params());
  auto out = op.allocate_outputs(in);
  auto ws = op.allocate_workspace(in);
  op.forward(TEST_EXECSPACE(), params, in, out, ws);
  return flatten(out.score);
}

template <class S>
void check_against_parasail() {
  // DNA: match +2, mismatch −3, gaps (5, 2) and (3, 1).
  parasail_matrix_t* dna = parasail_matrix_create("ACGT", 2, -3);
  const StringPairs dp = dna_pairs();
  for (bool local : {true, false})
    for (auto gaps : {std::pair<int, int>{5, 2}, std::pair<int, int>{3, 1}}) {
      const auto ours = hard_scores<S>(dp, 4, dna_substitution(4, 2, -3), local, gaps.first,
                                       gaps.second, &encode_dna);
      for (std::size_t k = 0; k < dp.x.size(); ++k)
        EXPECT_EQ(ours[k], parasail_score(dp.x[k], dp.y[k], local, gaps.first, gaps.second, dna))
            << (local ? "sw" : "nw") << " DNA pair " << k << " gaps " << gaps.first << "/"
            << gaps.second;
    }
  parasail_matrix_free(dna);
  // Protein: BLOSUM62 with BLAST's (11, 1) and (10, 1).
  const StringPairs pp = protein_pairs();
  for (bool local : {true, false})
    for (auto gaps : {std::pair<int, int>{11, 1}, std::pair<int, int>{10, 1}}) {
      const auto ours =
          hard_scores<S>(pp, 24, blosum62(24), local, gaps.first, gaps.second, &encode_protein);
      for (std::size_t k = 0; k < pp.x.size(); ++k)
        EXPECT_EQ(ours[k], parasail_score(pp.x[k], pp.y[k], local, gaps.first, gaps.second,
                                          &parasail_blosum62))
            << (local ? "sw" : "nw") << " protein pair " << k << " gaps " << gaps.first << "/"
            << gaps.second;
    }
}

}  // namespace

// ------------------------------------------------------------------ classic scores (parasail)

TEST(SmoothSW, Blosum62TableIsParasailsAndNcbis) {
  const auto ours = blosum62(24);
  ASSERT_EQ(parasail_blosum62.size, 24);
  for (int a = 0; a < 24; ++a)
    for (int b = 0; b < 24; ++b)
      EXPECT_EQ(ours[a * 24 + b], parasail_blosum62.matrix[a * 24 + b]) << a << "," << b;
  for (int a = 0; a < 24; ++a)
    for (int b = 0; b < 24; ++b) EXPECT_EQ(ours[a * 24 + b], ours[b * 24 + a]);  // symmetric
}

// Gap convention: parasail charges open + (k − 1)·extend for a gap of length k (AAAA vs AA with
// match 2: 4 − (10 + 1) = −7), and lets a gap in x follow a gap in y (A vs C with open 1: −2).
TEST(SmoothSW, GapConventionIsParasails) {
  parasail_matrix_t* dna = parasail_matrix_create("ACGT", 2, -3);
  EXPECT_EQ(parasail_score("AAAA", "AA", false, 10, 1, dna), -7);
  EXPECT_EQ(parasail_score("AAAAA", "AA", false, 10, 1, dna), -8);
  EXPECT_EQ(parasail_score("A", "C", false, 1, 1, dna), -2);
  StringPairs p;
  p.x = {"AAAA", "AAAAA", "A", "GAAG"};
  p.y = {"AA", "AA", "C", "GCCG"};
  const auto o1 = hard_scores<double>(p, 4, dna_substitution(4, 2, -3), false, 10, 1, &encode_dna);
  EXPECT_EQ(o1[0], -7);
  EXPECT_EQ(o1[1], -8);
  const auto o2 = hard_scores<double>(p, 4, dna_substitution(4, 2, -3), false, 1, 1, &encode_dna);
  EXPECT_EQ(o2[2], -2);
  EXPECT_EQ(o2[3], parasail_score("GAAG", "GCCG", false, 1, 1, dna));
  parasail_matrix_free(dna);
}

TEST(SmoothSW, HardModeEqualsParasailDouble) { check_against_parasail<double>(); }
TEST(SmoothSW, HardModeEqualsParasailFloat) { check_against_parasail<float>(); }

// A full lane group of equal-length pairs takes the unmasked ("uniform") kernel path.
TEST(SmoothSW, HardModeEqualsParasailOnUniformGroups) {
  const std::string g = kDna;
  StringPairs p;
  for (int k = 0; k < 40; ++k) {
    p.x.push_back(g.substr(3 * k, 48));
    p.y.push_back(g.substr(3 * k + 5, 60));
  }
  parasail_matrix_t* dna = parasail_matrix_create("ACGT", 2, -3);
  for (bool local : {true, false}) {
    const auto od = hard_scores<double>(p, 4, dna_substitution(4, 2, -3), local, 5, 2, &encode_dna);
    const auto of = hard_scores<float>(p, 4, dna_substitution(4, 2, -3), local, 5, 2, &encode_dna);
    for (std::size_t k = 0; k < p.x.size(); ++k) {
      const int ref = parasail_score(p.x[k], p.y[k], local, 5, 2, dna);
      EXPECT_EQ(od[k], ref) << k;
      EXPECT_EQ(of[k], ref) << k;
    }
  }
  parasail_matrix_free(dna);
}

TEST(SmoothSW, SmallTemperatureApproachesHard) {
  for (bool local : {true, false}) {
    const SwData d = SwData::random(21, 4, {12, 20, 7}, {15, 18, 9});
    SwCase<TEST_EXECSPACE> hard(d, cfg_of(local, 1.0, true));
    const Vec x = hard.point(3);
    const Vec yh = hard.forward(x);
    double prev_gap = 1e300;
    for (double tau : {1.0, 0.3, 0.1, 0.03, 0.01, 0.001}) {
      SwCase<TEST_EXECSPACE> soft(d, cfg_of(local, tau));
      const Vec ys = soft.forward(x);
      double gap = 0;
      for (int b = 0; b < d.B; ++b) {
        // smooth max ≥ max, and ≤ max + τ·ln(number of alignments) ≤ max + τ·(n+m+2)·ln 3·2
        const double diff = ys[b] - yh[b];
        EXPECT_GE(diff, -1e-9) << "tau " << tau;
        EXPECT_LE(diff, tau * (d.xl[b] + d.yl[b] + 2) * 2.2) << "tau " << tau;
        gap = std::max(gap, diff);
      }
      EXPECT_TRUE(gap < prev_gap || gap == 0.0) << "tau " << tau;
      prev_gap = gap;
    }
    EXPECT_LT(prev_gap, 0.02);
  }
}

// ------------------------------------------------------------------ gradients

TEST(SmoothSW, GradientKitPassesIndexInputs) {
  for (bool local : {true, false})
    for (bool prob : {true, false}) {
      SwCase<TEST_EXECSPACE> c(SwData::random(31, 4, {9, 0, 1, 12}, {11, 4, 1, 8}),
                               cfg_of(local, 0.7, false, true, prob));
      expect_all_checks(c.differentiable(
          c.point(5), std::string("SmoothSW index ") + (local ? "local" : "global") +
                          (prob ? " prob" : " log")));
    }
}

TEST(SmoothSW, GradientKitPassesProfileInputs) {
  for (bool local : {true, false})
    for (bool prob : {true, false})
      for (bool both : {false, true}) {
        SwCase<TEST_EXECSPACE> c(SwData::random(37, 4, {8, 0, 6}, {7, 3, 9}),
                                 cfg_of(local, 1.3, false, true, prob), true, both);
        expect_all_checks(c.differentiable(
            c.point(6), std::string("SmoothSW profile ") + (local ? "local" : "global") +
                            (prob ? " prob" : " log") + (both ? " both" : " x")));
      }
}

// A = 4 and 5 take the compile-time-alphabet kernels (select chains), A = 6 the generic ones.
TEST(SmoothSW, AdolcOracleAgrees) {
  for (int A : {4, 5, 6})
  for (bool local : {true, false})
    for (bool prob : {true, false})
      for (int prof = 0; prof < 3; ++prof) {
        if (A != 4 && prof > 0) continue;
        SwCase<TEST_EXECSPACE> c(SwData::random(7, A, {6, 0, 1, 8, 13}, {5, 2, 1, 9, 10}),
                                 cfg_of(local, 0.9, false, true, prob), prof >= 1, prof == 2);
        const Vec x = c.point(11);
        const Vec y = c.forward(x);
        const Vec ybar = random_vector(y.size(), 13);
        const auto p = c.ref_problem();
        auto ref = [&](const auto& xs) { return reference::smooth_smith_waterman(xs, p); };
        const auto oracle = adolc_vjp(ref, x, ybar);
        const std::string what = std::string(local ? "local" : "global") +
                                 (prob ? " prob" : " log") + " profiles " + std::to_string(prof) +
                                 " A " + std::to_string(A);
        auto fw = compare(y, oracle.y, 1e-12, 1e-12, "forward vs reference, " + what);
        EXPECT_TRUE(fw.passed) << fw.detail;
        auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-12, "adjoint vs ADOL-C, " + what);
        EXPECT_TRUE(bw.passed) << bw.detail;
      }
}

// Hard mode: the gradient is the traceback (one-hot path), which ADOL-C gets from the reference's
// max branches; random real-valued scores keep the maximisers unique.
TEST(SmoothSW, HardModeGradientIsTheTraceback) {
  for (bool local : {true, false})
    for (int prof = 0; prof < 2; ++prof) {
      SwCase<TEST_EXECSPACE> c(SwData::random(41, 4, {10, 0, 1, 14}, {12, 3, 1, 9}),
                               cfg_of(local, 1.0, true), prof == 1, prof == 1);
      const Vec x = c.point(17, 0.45);
      const Vec y = c.forward(x);
      const Vec ybar = random_vector(y.size(), 19);
      const auto p = c.ref_problem();
      auto ref = [&](const auto& xs) { return reference::smooth_smith_waterman(xs, p); };
      const auto oracle = adolc_vjp(ref, x, ybar);
      auto fw = compare(y, oracle.y, 1e-13, 1e-13, "hard forward vs reference");
      EXPECT_TRUE(fw.passed) << fw.detail;
      auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-12, 1e-12, "hard adjoint vs ADOL-C");
      EXPECT_TRUE(bw.passed) << bw.detail;
      auto dp = dot_product_test(c.differentiable(x, "SmoothSW hard"));
      EXPECT_TRUE(dp.passed) << dp.detail;
    }
}

// ------------------------------------------------------------------ consistency

TEST(SmoothSW, BackendEqualsSerialBitwiseInDeterministicMode) {
  ReductionMode det;
  det.deterministic = true;
  std::vector<int> xl, yl;
  for (int b = 0; b < 37; ++b) {
    xl.push_back(b % 9 == 4 ? 0 : 20 + (b * 7) % 13);
    yl.push_back(b % 11 == 5 ? 1 : 25 + (b * 5) % 17);
  }
  for (bool prob : {true, false})
    for (bool prof : {false, true}) {
      SwCase<TEST_EXECSPACE> here(SwData::random(43, 5, xl, yl), cfg_of(true, 1.0, false, true, prob),
                                  prof, false);
      SwCase<Kokkos::Serial> serial(SwData::random(43, 5, xl, yl),
                                    cfg_of(true, 1.0, false, true, prob), prof, false);
      here.mode = serial.mode = det;
      const Vec x = here.point(23);
      const Vec ybar = random_vector(xl.size(), 29);
      EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x)));
      EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)));
      SwCase<TEST_EXECSPACE> fast(SwData::random(43, 5, xl, yl), cfg_of(true, 1.0, false, true, prob),
                                  prof, false);
      auto cmp = compare(fast.adjoint(x, ybar), serial.adjoint(x, ybar), 1e-12, 1e-10,
                         "fast vs deterministic");
      EXPECT_TRUE(cmp.passed) << cmp.detail;
    }
}

TEST(SmoothSW, ProbabilitySpaceEqualsLogSpace) {
  std::vector<int> xl, yl;
  for (int b = 0; b < 20; ++b) {
    xl.push_back(40 + b);
    yl.push_back(70 - b);
  }
  for (bool local : {true, false}) {
    const SwData d = SwData::random(47, 4, xl, yl);
    SwCase<TEST_EXECSPACE> pr(d, cfg_of(local, 0.8, false, true, true));
    SwCase<TEST_EXECSPACE> lg(d, cfg_of(local, 0.8, false, true, false));
    const Vec x = pr.point(31);
    const Vec ybar = random_vector(d.B, 37);
    auto r = pr.run<double>(x, [&](std::size_t i) { return x[i]; });
    const Vec path = flatten(r.ws.path);
    int n_prob = 0;
    for (double v : path) n_prob += v == 0;
    EXPECT_GT(n_prob, 10) << "most pairs should run in probability space";
    auto fw = compare(pr.forward(x), lg.forward(x), 1e-12, 1e-12, "prob vs log forward");
    EXPECT_TRUE(fw.passed) << fw.detail;
    auto bw = compare(pr.adjoint(x, ybar), lg.adjoint(x, ybar), 1e-10, 1e-10, "prob vs log adjoint");
    EXPECT_TRUE(bw.passed) << bw.detail;
  }
}

// A long near-identical protein pair at small τ has a local score far beyond the probability-space
// range (eq. 11): the forward hands it to log space; results are unchanged.
TEST(SmoothSW, RangeCheckFallsBackToLogSpace) {
  const std::string hb = kHbbHuman;
  StringPairs p;
  p.x = {hb + hb, "MVHLT"};
  p.y = {hb + hb, "MVHLT"};
  std::vector<std::vector<std::uint8_t>> xs, ys;
  for (std::size_t k = 0; k < p.x.size(); ++k) {
    xs.push_back(encode_protein(p.x[k]));
    ys.push_back(encode_protein(p.y[k]));
  }
  const SwData d = SwData::pairs(24, xs, ys);
  SwCase<TEST_EXECSPACE> pr(d, cfg_of(true, 0.5, false, false, true));
  SwCase<TEST_EXECSPACE> lg(d, cfg_of(true, 0.5, false, false, false));
  pr.cfg.gap_open = lg.cfg.gap_open = 11;
  pr.cfg.gap_extend = lg.cfg.gap_extend = 1;
  const Vec x = pr.point(3, 0.0);
  auto r = pr.run<double>(x, [&](std::size_t i) { return x[i]; });
  const Vec path = flatten(r.ws.path);
  EXPECT_EQ(path[0], 1.0);  // long pair: log space
  EXPECT_EQ(path[1], 0.0);  // short pair: probability space
  const Vec y = flatten(r.out.score);
  EXPECT_GT(y[0], 600 * 0.5);
  auto fw = compare(y, lg.forward(x), 1e-12, 1e-12, "fallback forward");
  EXPECT_TRUE(fw.passed) << fw.detail;
  const Vec ybar{1.0, 1.0};
  auto bw = compare(pr.adjoint(x, ybar), lg.adjoint(x, ybar), 1e-10, 1e-10, "fallback adjoint");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(SmoothSW, FloatMatchesDouble) {
  std::vector<int> xl, yl;
  for (int b = 0; b < 19; ++b) {
    xl.push_back(b == 3 ? 0 : 30 + b);
    yl.push_back(b == 5 ? 1 : 50 - b);
  }
  const SwData d = SwData::random(53, 5, xl, yl);
  using M = TEST_MEMSPACE;
  for (int space = 0; space < 3; ++space) {  // prob, log, hard
    SmoothSmithWatermanConfig c = cfg_of(true, 0.9, space == 2, true, space == 0);
    c.alphabet_size = 5;
    SwCase<TEST_EXECSPACE> dc(d, c);
    const Vec x = dc.point(41);
    const Vec ybar = random_vector(d.B, 43, 0.5, 1.5);
    const Vec yd = dc.forward(x);
    const Vec gd = dc.adjoint(x, ybar);

    SmoothSmithWaterman<float, TEST_EXECSPACE> op(c);
    typename SmoothSmithWaterman<float, TEST_EXECSPACE>::Inputs in;
    in.x_index = to_view<Kokkos::View<std::uint8_t**, M>>(d.xi, d.B, d.Lx);
    in.y_index = to_view<Kokkos::View<std::uint8_t**, M>>(d.yi, d.B, d.Ly);
    in.x_length = to_view<Kokkos::View<int*, M>>(d.xl, d.B);
    in.y_length = to_view<Kokkos::View<int*, M>>(d.yl, d.B);
    auto params = to_view<Kokkos::View<float*, M>>(x, op.n_params());
    auto out = op.allocate_outputs(in);
    auto ws = op.allocate_workspace(in);
    op.forward(TEST_EXECSPACE(), params, in, out, ws);
    Kokkos::View<double*, M> dp("DiffBio::test::dp", op.n_params());
    op.adjoint(TEST_EXECSPACE(), params, in, ws, {to_view<Kokkos::View<float*, M>>(ybar, d.B)}, {},
               dp);
    // float parameters are rounded copies of the double ones: compare at float resolution
    auto fw = compare(flatten(out.score), yd, 2e-5, 2e-4, "float vs double scores");
    EXPECT_TRUE(fw.passed) << fw.detail << " space " << space;
    auto bw = compare(flatten(dp), gd, 1e-3, 2e-3, "float vs double parameter gradients");
    EXPECT_TRUE(bw.passed) << bw.detail << " space " << space;
  }
}

TEST(SmoothSW, CheckpointedEqualsStoreAll) {
  std::vector<int> xl{37, 50, 0, 1, 44, 29, 50, 3, 48, 17}, yl{41, 50, 6, 1, 39, 52, 50, 2, 31, 44};
  for (int space = 0; space < 3; ++space)
    for (bool local : {true, false}) {
      const SwData d = SwData::random(59, 4, xl, yl);
      SmoothSmithWatermanConfig c = cfg_of(local, 0.8, space == 2, true, space == 0);
      SwCase<TEST_EXECSPACE> all(d, c);
      all.cfg.checkpoint_interval = 1;
      const Vec x = all.point(47, 0.45);
      const Vec ybar = random_vector(d.B, 53);
      const Vec g1 = all.adjoint(x, ybar);
      for (int k : {2, 3, 7, 60}) {
        SwCase<TEST_EXECSPACE> ck(d, c);
        ck.cfg.checkpoint_interval = k;
        EXPECT_TRUE(bitwise_equal(ck.adjoint(x, ybar), g1)) << "k = " << k << " space " << space;
      }
      SwCase<TEST_EXECSPACE> au(d, c);  // automatic: √(Lx+1) when rows exceed the budget
      au.cfg.store_all_bytes = 1024;
      EXPECT_TRUE(bitwise_equal(au.adjoint(x, ybar), g1)) << "auto, space " << space;
      SwCase<TEST_EXECSPACE> one(d, c);  // one pair per team (the long-pair path)
      one.cfg.max_group_scratch_bytes = 1;
      EXPECT_TRUE(bitwise_equal(one.forward(x), all.forward(x))) << "W = 1, space " << space;
      EXPECT_TRUE(bitwise_equal(one.adjoint(x, ybar), g1)) << "W = 1, space " << space;
    }
}

// ------------------------------------------------------------------ posterior

// ∂score/∂Sub[a][b] = expected number of aligned (a, b) letter pairs = Σ over cells with x_i = a,
// y_j = b of the posterior P_ij, each P_ij ∈ [0, 1], and each letter is aligned at most once.
TEST(SmoothSW, PosteriorIsTheExpectedAlignment) {
  for (int space = 0; space < 3; ++space)
    for (bool local : {true, false}) {
      const SwData d = SwData::random(61, 4, {23, 0, 30, 1, 17}, {28, 5, 19, 1, 17});
      SwCase<TEST_EXECSPACE> c(d, cfg_of(local, 0.7, space == 2, false, space == 0));
      const Vec x = c.point(59);
      auto r = c.run<double>(x, [&](std::size_t i) { return x[i]; }, /*posterior=*/true);
      const Vec P = flatten(r.out.posterior);
      const Vec g = c.adjoint_of(r, Vec(d.B, 1.0));
      std::vector<double> cnt(16, 0.0);
      for (int b = 0; b < d.B; ++b) {
        std::vector<double> col(d.Ly, 0.0);
        for (int i = 0; i < d.Lx; ++i) {
          double row = 0;
          for (int j = 0; j < d.Ly; ++j) {
            const double p = P[(static_cast<std::size_t>(b) * d.Lx + i) * d.Ly + j];
            EXPECT_GE(p, 0.0);
            EXPECT_LE(p, 1.0 + 1e-12);
            if (i >= d.xl[b] || j >= d.yl[b]) {
              EXPECT_EQ(p, 0.0);
              continue;
            }
            row += p;
            col[j] += p;
            cnt[d.xi[b * d.Lx + i] * 4 + d.yi[b * d.Ly + j]] += p;
            if (space == 2) {
              EXPECT_TRUE(p == 0.0 || p == 1.0);  // hard mode: the traceback path
            }
          }
          EXPECT_LE(row, 1.0 + 1e-12);
        }
        for (double v : col) EXPECT_LE(v, 1.0 + 1e-12);
      }
      auto cmp = compare(Vec(g.begin(), g.begin() + 16), cnt, 1e-11, 1e-12,
                         "dscore/dSub vs posterior counts");
      EXPECT_TRUE(cmp.passed) << cmp.detail << " space " << space << (local ? " local" : " global");
    }
}

// ------------------------------------------------------------------ edge cases and contract

TEST(SmoothSW, EmptyAndLengthOnePairs) {
  // pairs: (0,0), (0,5), (5,0), (1,1), (1,7), (7,1)
  const SwData d = SwData::random(67, 4, {0, 0, 5, 1, 1, 7}, {0, 5, 0, 1, 7, 1});
  for (int space = 0; space < 3; ++space)
    for (bool local : {true, false})
      for (bool prof : {false, true}) {
        SwCase<TEST_EXECSPACE> c(d, cfg_of(local, 0.6, space == 2, true, space == 0), prof, prof);
        const Vec x = c.point(61);
        const Vec y = c.forward(x);
        const Vec g = c.adjoint(x, Vec(d.B, 1.0));
        for (double v : y) EXPECT_TRUE(std::isfinite(v));
        for (double v : g) EXPECT_TRUE(std::isfinite(v));
        const double o = x[16], e = x[17];
        EXPECT_EQ(y[0], 0.0);  // both empty: 0 (local: the empty alignment; global: M_00 = 0)
        if (local) {
          EXPECT_EQ(y[1], 0.0);
          EXPECT_EQ(y[2], 0.0);
        } else {  // one side empty: the all-gap alignment, −(o + (k−1)e), in every mode
          EXPECT_NEAR(y[1], -(o + 4 * e), 1e-12);
          EXPECT_NEAR(y[2], -(o + 4 * e), 1e-12);
        }
        // the (0,0) pair alone: zero gradient
        Vec seed(d.B, 0.0);
        seed[0] = 1.0;
        for (double v : c.adjoint(x, seed)) EXPECT_EQ(v, 0.0);
        if (!local) {  // (0,5): ∂/∂o = −1, ∂/∂e = −4, nothing else
          seed[0] = 0.0;
          seed[1] = 1.0;
          const Vec g1 = c.adjoint(x, seed);
          EXPECT_NEAR(g1[16], -1.0, 1e-12);
          EXPECT_NEAR(g1[17], -4.0, 1e-12);
          for (int k = 0; k < 16; ++k) EXPECT_EQ(g1[k], 0.0);
        }
      }
}

TEST(SmoothSW, ExtremeTemperaturesStayFinite) {
  const SwData d = SwData::random(71, 4, {30, 0, 12}, {25, 9, 40});
  for (double tau : {1e-4, 1e-2, 30.0, 1e3})
    for (bool local : {true, false})
      for (bool prof : {false, true}) {
        SwCase<TEST_EXECSPACE> c(d, cfg_of(local, tau, false, true), prof, prof);
        const Vec x = c.point(67);
        const Vec y = c.forward(x);
        const Vec g = c.adjoint(x, Vec(d.B, 1.0));
        for (double v : y) EXPECT_TRUE(std::isfinite(v)) << "tau " << tau;
        for (double v : g) EXPECT_TRUE(std::isfinite(v)) << "tau " << tau;
      }
}

TEST(SmoothSW, AdjointAccumulates) {
  const SwData d = SwData::random(73, 4, {12, 9, 15}, {10, 14, 3});
  SwCase<TEST_EXECSPACE> c(d, cfg_of(true, 0.8, false, true), true, false);
  const Vec x = c.point(71);
  auto r = c.run<double>(x, [&](std::size_t i) { return x[i]; });
  using M = TEST_MEMSPACE;
  Kokkos::View<double*, M> dp("DiffBio::test::dp", c.n_params());
  Kokkos::View<double***, M> dx("DiffBio::test::dx", d.B, d.Lx, d.A);
  const auto seed = to_view<Kokkos::View<double*, M>>(random_vector(d.B, 3), d.B);
  r.op.adjoint(TEST_EXECSPACE(), r.params, r.in, r.ws, {seed}, {dx, {}}, dp);
  const Vec once = flatten(dp), once_x = flatten(dx);
  r.op.adjoint(TEST_EXECSPACE(), r.params, r.in, r.ws, {seed}, {dx, {}}, dp);
  const Vec twice = flatten(dp), twice_x = flatten(dx);
  for (std::size_t k = 0; k < once.size(); ++k) EXPECT_DOUBLE_EQ(twice[k], 2 * once[k]);
  for (std::size_t k = 0; k < once_x.size(); ++k) EXPECT_DOUBLE_EQ(twice_x[k], 2 * once_x[k]);
  EXPECT_NE(once[c.n_params() - 1], 0.0);
}

TEST(SmoothSW, KernelsAndAllocationsAreLabelled) {
  namespace KT = Kokkos::Tools::Experimental;
  static std::vector<std::string> names;
  names.clear();
  KT::set_begin_parallel_for_callback(
      [](const char* n, const std::uint32_t, std::uint64_t*) { names.emplace_back(n); });
  KT::set_begin_parallel_reduce_callback(
      [](const char* n, const std::uint32_t, std::uint64_t*) { names.emplace_back(n); });
  SwCase<TEST_EXECSPACE> c(SwData::random(79, 4, {9, 4}, {7, 8}), cfg_of(true));
  const Vec x = c.point(1);
  c.adjoint(x, c.forward(x));
  KT::set_begin_parallel_for_callback(nullptr);
  KT::set_begin_parallel_reduce_callback(nullptr);
  int ours = 0;
  for (const auto& n : names) {
    const bool ok = n.rfind("DiffBio::", 0) == 0 || n.rfind("Kokkos::", 0) == 0 || n.empty();
    EXPECT_TRUE(ok) << n;
    ours += n.rfind("DiffBio::SmoothSW::", 0) == 0;
  }
  EXPECT_GE(ours, 3);
}
