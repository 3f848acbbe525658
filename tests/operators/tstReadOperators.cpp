// SPDX-License-Identifier: BSD-3-Clause
// Verification of the read operators (QualityFilter, WeightedPooling, LinearHead) on the backend
// this binary is compiled for: finite differences + Taylor test, dot-product test, ADOL-C oracle,
// backend equality with Serial, float vs double, padding edge cases, hard mode vs seqtk.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_ReadOperatorCases.hpp>
#include <DiffBio_RefReadOperators.hpp>
#include <DiffBio_TestBackend.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace diffbio;
using namespace diffbio::test;

namespace {

void expect_all_checks(const Differentiable& f) {
  auto fd = check_finite_differences(f);
  EXPECT_TRUE(fd.passed) << fd.detail;
  auto ty = taylor_test(f);
  EXPECT_TRUE(ty.passed) << ty.detail;
  auto dp = dot_product_test(f);
  EXPECT_TRUE(dp.passed) << dp.detail;
}

}  // namespace

// ------------------------------------------------------------------------- QualityFilter

TEST(QualityFilter, GradientKitPasses) {
  QualityFilterCase<TEST_EXECSPACE> c(ReadCaseData(5), /*hard=*/false);
  expect_all_checks(c.differentiable(c.point(11)));
}

TEST(QualityFilter, AdolcOracleAgrees) {
  QualityFilterCase<TEST_EXECSPACE> c(ReadCaseData(6), false);
  const Vec x = c.point(12, 18.7, 4.0);
  const Vec y = c.forward(x);
  const Vec ybar = random_vector(y.size(), 99);
  const auto& d = c.d;
  auto ref = [&](const auto& xs) {
    return reference::quality_filter(xs, d.quality, d.length, d.B, d.L, d.A, false);
  };
  const auto oracle = adolc_vjp(ref, x, ybar);
  auto fw = compare(y, oracle.y, 1e-13, 1e-15, "forward vs serial reference");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-13, "adjoint vs ADOL-C");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(QualityFilter, BackendEqualsSerialBitwiseInDeterministicMode) {
  ReductionMode det;
  det.deterministic = true;
  QualityFilterCase<TEST_EXECSPACE> here(ReadCaseData(7, 64, 50), false, det);
  QualityFilterCase<Kokkos::Serial> serial(ReadCaseData(7, 64, 50), false, det);
  const Vec x = here.point(13);
  const Vec ybar = random_vector(here.forward(x).size(), 5);
  EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x)));
  EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)));
  // Fast mode: same up to summation order.
  QualityFilterCase<TEST_EXECSPACE> fast(ReadCaseData(7, 64, 50), false);
  QualityFilterCase<Kokkos::Serial> serial_fast(ReadCaseData(7, 64, 50), false);
  auto cmp = compare(fast.adjoint(x, ybar), serial_fast.adjoint(x, ybar), 1e-12, 1e-14,
                     "fast: backend vs serial");
  EXPECT_TRUE(cmp.passed) << cmp.detail;
  // Deterministic mode costs at most one grid quantum (2^-36) per read in each parameter sum.
  auto q = compare(fast.adjoint(x, ybar), serial.adjoint(x, ybar), 0.0, 64 * std::ldexp(1.0, -36),
                   "deterministic vs fast");
  EXPECT_TRUE(q.passed) << q.detail;
}

TEST(QualityFilter, FloatMatchesDouble) {
  using M = TEST_EXECSPACE::memory_space;
  ReadCaseData d(8, 16, 40);
  const Vec prof = d.profile(3);
  QualityFilter<float, TEST_EXECSPACE> opf;
  typename QualityFilter<float, TEST_EXECSPACE>::Inputs in{
      to_view<Kokkos::View<std::uint8_t**, M>>(d.quality, d.B, d.L),
      to_view<Kokkos::View<float***, M>>(prof, d.B, d.L, d.A),
      to_view<Kokkos::View<int*, M>>(d.length, d.B)};
  auto out = QualityFilter<float, TEST_EXECSPACE>::allocate_outputs(in);
  auto params = to_view<Kokkos::View<float*, M>>(Vec{20.3, std::log(3.0)}, 2);
  typename QualityFilter<float, TEST_EXECSPACE>::Workspace ws;
  opf.forward(TEST_EXECSPACE(), params, in, out, ws);
  Kokkos::View<float**, M> dw("dw", d.B, d.L);
  Kokkos::deep_copy(dw, 1.0f);
  Kokkos::View<double*, M> dp("dp", 2);
  opf.adjoint(TEST_EXECSPACE(), params, in, ws, {dw, {}}, {}, dp);

  QualityFilterCase<TEST_EXECSPACE> c(d, false);
  Vec x = prof;
  x.push_back(20.3);
  x.push_back(std::log(3.0));
  const Vec yd = c.forward(x);
  Vec ybar(yd.size(), 0.0);
  for (int i = 0; i < d.B * d.L; ++i) ybar[i] = 1.0;
  const Vec gd = c.adjoint(x, ybar);
  const Vec yf = flatten(out.weight);
  auto fw = compare(yf, Vec(yd.begin(), yd.begin() + d.B * d.L), 1e-6, 1e-7, "float weights");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(flatten(dp), Vec(gd.end() - 2, gd.end()), 1e-5, 1e-6, "float param grads");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(QualityFilter, PaddingAndEmptyReadsGiveZeros) {
  QualityFilterCase<TEST_EXECSPACE> c(ReadCaseData(9), false);
  const Vec x = c.point(14);
  const Vec y = c.forward(x);
  const Vec ybar(y.size(), 1.0);
  const Vec g = c.adjoint(x, ybar);
  const auto& d = c.d;
  for (int b = 0; b < d.B; ++b)
    for (int p = d.length[b]; p < d.L; ++p) {
      EXPECT_EQ(y[b * d.L + p], 0.0);
      for (int a = 0; a < d.A; ++a) {
        EXPECT_EQ(y[d.B * d.L + (b * d.L + p) * d.A + a], 0.0);
        EXPECT_EQ(g[(b * d.L + p) * d.A + a], 0.0);
      }
    }
  for (double v : g) EXPECT_TRUE(std::isfinite(v));
}

TEST(QualityFilter, AdjointAccumulates) {
  QualityFilterCase<TEST_EXECSPACE> c(ReadCaseData(10), false);
  const Vec x = c.point(15);
  const Vec ybar = random_vector(c.forward(x).size(), 4);
  // Running the adjoint into the same gradient buffer twice must double it (+= contract).
  using M = TEST_EXECSPACE::memory_space;
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  const auto& d = c.d;
  typename QualityFilter<double, TEST_EXECSPACE>::OutputGrads dout{
      to_view<Kokkos::View<double**, M>>(Vec(ybar.begin(), ybar.begin() + d.B * d.L), d.B, d.L),
      to_view<Kokkos::View<double***, M>>(Vec(ybar.begin() + d.B * d.L, ybar.end()), d.B, d.L, d.A)};
  Kokkos::View<double*, M> dp("dp", 2);
  typename QualityFilter<double, TEST_EXECSPACE>::Workspace ws;
  r.op.adjoint(TEST_EXECSPACE(), r.params, r.in, ws, dout, {}, dp);
  const Vec once = flatten(dp);
  r.op.adjoint(TEST_EXECSPACE(), r.params, r.in, ws, dout, {}, dp);
  const Vec twice = flatten(dp);
  for (int k = 0; k < 2; ++k) EXPECT_DOUBLE_EQ(twice[k], 2 * once[k]);
  EXPECT_NE(once[0], 0.0);
}

TEST(QualityFilter, HardModeIsThePhredCutoffAndHasZeroParamGradient) {
  QualityFilterCase<TEST_EXECSPACE> c(ReadCaseData(11, 8, 30), /*hard=*/true);
  const Vec x = c.point(16, 20.0, 2.0);
  const Vec y = c.forward(x);
  const auto& d = c.d;
  for (int b = 0; b < d.B; ++b)
    for (int p = 0; p < d.length[b]; ++p)
      EXPECT_EQ(y[b * d.L + p], d.quality[b * d.L + p] >= 20 ? 1.0 : 0.0);
  const Vec g = c.adjoint(x, random_vector(y.size(), 3));
  EXPECT_EQ(g[g.size() - 2], 0.0);
  EXPECT_EQ(g[g.size() - 1], 0.0);
}

// The classic tool: seqtk masks bases with Q < 20 to N. Hard mode must give weight 0 exactly there.
TEST(QualityFilter, HardModeEqualsSeqtkMasking) {
  if (std::system("seqtk 2>/dev/null >/dev/null; command -v seqtk >/dev/null") != 0)
    FAIL() << "seqtk (Debian package seqtk) is required: run cmake/setup-deps.sh";
  const int B = 40, L = 75;
  ReadCaseData d(12, B, L);
  for (int b = 0; b < B; ++b) d.length[b] = L;
  const std::string dir = ::testing::TempDir();
  const std::string in = dir + "diffbio_qf_in_" DIFFBIO_TEST_BACKEND_NAME ".fq";
  const std::string out = dir + "diffbio_qf_out_" DIFFBIO_TEST_BACKEND_NAME ".fq";
  {
    std::ofstream f(in);
    const char* bases = "ACGT";
    for (int b = 0; b < B; ++b) {
      f << "@r" << b << "\n";
      for (int p = 0; p < L; ++p) f << bases[(b * 7 + p * 3) % 4];
      f << "\n+\n";
      for (int p = 0; p < L; ++p) f << static_cast<char>(33 + d.quality[b * L + p]);
      f << "\n";
    }
  }
  ASSERT_EQ(std::system(("seqtk seq -q20 -n N " + in + " > " + out).c_str()), 0);
  std::ifstream f(out);
  std::string name, seq, plus, qual;
  QualityFilterCase<TEST_EXECSPACE> c(d, /*hard=*/true);
  const Vec y = c.forward(c.point(1, 20.0, 2.0));
  int masked = 0;
  for (int b = 0; b < B; ++b) {
    ASSERT_TRUE(std::getline(f, name) && std::getline(f, seq) && std::getline(f, plus) &&
                std::getline(f, qual));
    ASSERT_EQ(static_cast<int>(seq.size()), L);
    for (int p = 0; p < L; ++p) {
      const bool seqtk_keeps = seq[p] != 'N';
      masked += !seqtk_keeps;
      EXPECT_EQ(y[b * L + p], seqtk_keeps ? 1.0 : 0.0) << "read " << b << " pos " << p;
    }
  }
  EXPECT_GT(masked, 100);  // the fixture really exercises both sides of the cut-off
  std::remove(in.c_str());
  std::remove(out.c_str());
}

TEST(QualityFilter, SmoothApproachesHardAsSoftnessVanishes) {
  QualityFilterCase<TEST_EXECSPACE> soft(ReadCaseData(13, 8, 30), false);
  QualityFilterCase<TEST_EXECSPACE> hard(ReadCaseData(13, 8, 30), true);
  // θ = 20.5 keeps integer qualities off the threshold, so σ((Q−θ)/s) → [Q ≥ θ] as s → 0.
  const Vec yh = hard.forward(hard.point(2, 20.5, 1.0));
  const Vec ys = soft.forward(soft.point(2, 20.5, 1e-3));
  auto cmp = compare(ys, yh, 0.0, 1e-12, "s = 1e-3 vs hard");
  EXPECT_TRUE(cmp.passed) << cmp.detail;
}

// ------------------------------------------------------------------------- WeightedPooling

TEST(WeightedPooling, GradientKitPasses) {
  PoolingCase<TEST_EXECSPACE> c{ReadCaseData(21)};
  expect_all_checks(c.differentiable(c.point(3)));
}

TEST(WeightedPooling, AdolcOracleAgrees) {
  PoolingCase<TEST_EXECSPACE> c{ReadCaseData(22)};
  const Vec x = c.point(4);
  const Vec y = c.forward(x);
  const Vec ybar = random_vector(y.size(), 8);
  auto ref = [&](const auto& xs) {
    return reference::weighted_pooling(xs, c.d.length, c.d.B, c.d.L, c.d.A, c.eps);
  };
  const auto oracle = adolc_vjp(ref, x, ybar);
  auto fw = compare(y, oracle.y, 1e-13, 1e-15, "forward vs reference");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-13, "adjoint vs ADOL-C");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(WeightedPooling, BackendEqualsSerial) {
  PoolingCase<TEST_EXECSPACE> here{ReadCaseData(23, 32, 40)};
  PoolingCase<Kokkos::Serial> serial{ReadCaseData(23, 32, 40)};
  const Vec x = here.point(5);
  const Vec ybar = random_vector(here.forward(x).size(), 6);
  // Every output and gradient entry is computed by one work item in a fixed order: bitwise equal.
  EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x)));
  EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)));
}

TEST(WeightedPooling, AllFilteredReadStaysFinite) {
  PoolingCase<TEST_EXECSPACE> c{ReadCaseData(24)};
  Vec x = c.point(6);
  for (int i = c.nf(); i < static_cast<int>(x.size()); ++i) x[i] = 0.0;  // every weight 0
  for (int i = 0; i < c.nf(); ++i) x[i] = 0.0;
  const Vec y = c.forward(x);
  for (double v : y) EXPECT_EQ(v, 0.0);
  for (double v : c.adjoint(x, Vec(y.size(), 1.0))) EXPECT_TRUE(std::isfinite(v));
}

// ------------------------------------------------------------------------- LinearHead

TEST(LinearHead, GradientKitPasses) {
  LinearHeadCase<TEST_EXECSPACE> c;
  expect_all_checks(c.differentiable(c.point(7)));
}

TEST(LinearHead, AdolcOracleAgrees) {
  LinearHeadCase<TEST_EXECSPACE> c;
  const Vec x = c.point(8);
  const Vec y = c.forward(x);
  const Vec ybar = random_vector(y.size(), 9);
  auto ref = [&](const auto& xs) { return reference::linear_head(xs, c.B, c.F, c.C); };
  const auto oracle = adolc_vjp(ref, x, ybar);
  auto fw = compare(y, oracle.y, 1e-13, 1e-15, "forward vs reference");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-13, "adjoint vs ADOL-C");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(LinearHead, BackendEqualsSerialBitwiseInDeterministicMode) {
  LinearHeadCase<TEST_EXECSPACE> here;
  LinearHeadCase<Kokkos::Serial> serial;
  here.B = serial.B = 300;
  here.mode.deterministic = serial.mode.deterministic = true;
  const Vec x = here.point(10);
  const Vec ybar = random_vector(here.forward(x).size(), 11);
  EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x)));
  EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)));
}
