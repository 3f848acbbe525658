// SPDX-License-Identifier: BSD-3-Clause
// CandidateFeatures on the backend this binary is compiled for: hand-computed features of a
// classic (integer) pileup column in hard mode, finite differences + Taylor, dot-product test
// (dual forward), ADOL-C oracle on a plain serial reference (unsorted, duplicate and overlapping
// candidates, window edges, masked ones), backend vs Serial, float vs double, masked candidates,
// and the += contract of the scatter-free gather.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_RefVariant.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_CandidateFeaturesCases.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace diffbio;
using namespace diffbio::test;

namespace {

using Exec = TEST_EXECSPACE;
using M = Exec::memory_space;

void expect_all_checks(const Differentiable& f) {
  auto fd = check_finite_differences(f);
  EXPECT_TRUE(fd.passed) << fd.detail;
  auto ty = taylor_test(f);
  EXPECT_TRUE(ty.passed) << ty.detail;
  auto dp = dot_product_test(f);
  EXPECT_TRUE(dp.passed) << dp.detail;
}

}  // namespace

TEST(CandidateFeatures, HardModeColumnMatchesHandCount) {
  // One classic pileup column (unit weights): 10 A, 5 G, 2 deletions, 1 insertion after, ref A;
  // 9 of the 17 occupying reads on the forward strand; BQ 30 and MQ 60 each.
  PileupWindowData d(1, {0}, 1);
  const double c[8] = {10, 0, 5, 0, 0, 2, 0, 1};
  for (int k = 0; k < 8; ++k) d.x[k] = c[k];
  d.x[8] = 9;
  d.x[9] = 8;
  d.x[10] = 30 * 17;
  d.x[11] = 60 * 17;
  d.ref = {0};
  FeaturesCase<Exec> h(d, /*half_window=*/0, /*hard=*/true);
  const double D = 17 + h.cfg.eps;
  const Vec y = h.forward(d.x);
  ASSERT_EQ(y.size(), 16u);
  for (int k = 0; k < 8; ++k) EXPECT_DOUBLE_EQ(y[k], c[k] / D) << k;
  EXPECT_DOUBLE_EQ(y[8], 10 / D);
  EXPECT_DOUBLE_EQ(y[9], 9 / D);
  EXPECT_DOUBLE_EQ(y[10], 17 * 30 / 60.0 / D);
  EXPECT_DOUBLE_EQ(y[11], 17 / D);
  EXPECT_DOUBLE_EQ(y[12], std::log1p(17.0) / std::log1p(30.0));
  EXPECT_DOUBLE_EQ(y[13], 5 / D);  // top alt: G
  EXPECT_DOUBLE_EQ(y[14], 5 / D);  // all alts: G only
  EXPECT_DOUBLE_EQ(y[15], 3 / D);  // DEL + INS
  // Soft mode: the smooth max lies within τ·log 3 above the max.
  FeaturesCase<Exec> s(d, 0, false);
  const Vec ys = s.forward(d.x);
  EXPECT_GT(ys[13], 5 / D);
  EXPECT_LE(ys[13], 5 / D + s.cfg.tau * std::log(3.0) + 1e-15);
  // Reference N: the four bases are all "alternative".
  d.ref = {4};
  FeaturesCase<Exec> n(d, 0, true);
  const Vec yn = n.forward(d.x);
  EXPECT_EQ(yn[8], 0.0);
  EXPECT_DOUBLE_EQ(yn[13], 10 / D);
  EXPECT_DOUBLE_EQ(yn[14], 15 / D);
}

TEST(CandidateFeatures, GradientKitPasses) {
  // 14 positions × 12 values = 168 inputs: every coordinate is checked by finite differences.
  // (No empty column here: at depth 0 the curvature is ~1/ε², beyond a finite-difference step;
  // the ADOL-C test covers empty columns.)
  PileupWindowData d(14, {6, 2, 6, 0, 13, 9, 11}, 2, {5});
  FeaturesCase<Exec> c(d, 2, false);
  expect_all_checks(c.differentiable());
}

TEST(CandidateFeatures, GradientKitPassesInHardModeAndWithAWideWindow) {
  // Hard mode: away from ties of the alt fractions the max is smooth.
  PileupWindowData d(14, {6, 2, 7, 1, 12}, 3);
  FeaturesCase<Exec> h(d, 2, true);
  expect_all_checks(h.differentiable());
  PileupWindowData wide(30, {12, 3, 12, 0, 29, 20, 27, 15, 14}, 4, {6});
  FeaturesCase<Exec> w(wide, 5, false);
  expect_all_checks(w.differentiable());
}

TEST(CandidateFeatures, AdolcOracleAgrees) {
  // Unsorted centres, a duplicate, overlapping windows, both window edges, a masked candidate and
  // an empty column.
  PileupWindowData d(30, {12, 3, 12, 0, 29, 20, 27, 15, 14, 21}, 5, {6}, {17});
  for (int w : {0, 2, 5}) {
    FeaturesCase<Exec> c(d, w, false);
    const Vec y = c.forward(d.x);
    const Vec ybar = random_vector(y.size(), 99);
    auto ref = [&](const auto& xs) {
      return reference::candidate_features(xs, d.centre, d.ref, d.mask, d.P, w, c.cfg.eps,
                                           c.cfg.depth_scale, c.cfg.tau);
    };
    const auto oracle = adolc_vjp(ref, d.x, ybar);
    auto fw = compare(y, oracle.y, 1e-13, 1e-15, "forward vs serial reference");
    EXPECT_TRUE(fw.passed) << fw.detail << " w " << w;
    auto bw = compare(c.adjoint(d.x, ybar), oracle.xbar, 1e-10, 1e-12, "adjoint vs ADOL-C");
    EXPECT_TRUE(bw.passed) << bw.detail << " w " << w;
  }
}

TEST(CandidateFeatures, BackendEqualsSerialBitwise) {
  std::mt19937_64 gen(6);
  std::vector<int> centres(600);
  for (auto& c : centres) c = static_cast<int>(gen() % 2000);
  PileupWindowData d(2000, centres, 7, {1, 300, 599}, {10, 11, 500});
  for (bool hard : {false, true}) {
    FeaturesCase<Exec> here(d, 5, hard);
    FeaturesCase<Kokkos::Serial> serial(d, 5, hard);
    const Vec ybar = random_vector(here.forward(d.x).size(), 5);
    EXPECT_TRUE(bitwise_equal(here.forward(d.x), serial.forward(d.x))) << "hard " << hard;
    EXPECT_TRUE(bitwise_equal(here.adjoint(d.x, ybar), serial.adjoint(d.x, ybar))) << "hard " << hard;
  }
}

TEST(CandidateFeatures, FloatMatchesDouble) {
  PileupWindowData d(200, {5, 100, 199, 0, 50, 51, 52, 150}, 8, {3});
  FeaturesCase<Exec> c(d, 5, false);
  const Vec yd = c.forward(d.x);
  const Vec ybar = random_vector(yd.size(), 8);
  const Vec gd = c.adjoint(d.x, ybar);

  CandidateFeatures<float, Exec> op(c.cfg);
  const Exec exec;
  using PV = Kokkos::View<float**, M>;
  const std::size_t P = 200;
  typename CandidateFeatures<float, Exec>::Inputs in{
      exec_view<PV>(exec, Vec(d.x.begin(), d.x.begin() + 8 * P), P, 8),
      exec_view<PV>(exec, Vec(d.x.begin() + 8 * P, d.x.begin() + 10 * P), P, 2),
      exec_view<PV>(exec, Vec(d.x.begin() + 10 * P, d.x.end()), P, 2),
      exec_view<Kokkos::View<int*, M>>(exec, d.centre, d.centre.size()),
      exec_view<Kokkos::View<int*, M>>(exec, d.ref, P),
      exec_view<Kokkos::View<std::uint8_t*, M>>(exec, d.mask, d.mask.size())};
  auto out = op.allocate_outputs(in);
  auto ws = op.allocate_workspace(in);
  op.forward(exec, Kokkos::View<float*, M>(), in, out, ws);
  PV dc("dc", P, 8), ds("ds", P, 2), dq("dq", P, 2);
  op.adjoint(exec, Kokkos::View<float*, M>(), in, ws,
             {exec_view<Kokkos::View<float**, Kokkos::LayoutRight, M>>(exec, ybar, d.B(), c.nf())},
             {dc, ds, dq}, Kokkos::View<double*, M>());
  auto fw = compare(flatten(out.features), yd, 1e-5, 1e-6, "float forward");
  EXPECT_TRUE(fw.passed) << fw.detail;
  Vec gf = flatten(dc), a = flatten(ds), b = flatten(dq);
  gf.insert(gf.end(), a.begin(), a.end());
  gf.insert(gf.end(), b.begin(), b.end());
  auto bw = compare(gf, gd, 1e-4, 1e-6, "float gradients");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(CandidateFeatures, MaskedCandidatesGiveZerosAndNoGradient) {
  for (bool hard : {false, true}) {
    PileupWindowData d(20, {3, 10, 10, 19}, 9, {0, 1, 2, 3});
    FeaturesCase<Exec> c(d, 3, hard);
    const Vec y = c.forward(d.x);
    for (double v : y) EXPECT_EQ(v, 0.0);
    const Vec g = c.adjoint(d.x, Vec(y.size(), 1.0));
    for (double v : g) EXPECT_EQ(v, 0.0);
  }
  // Partly masked: only the valid candidate's window receives gradient.
  PileupWindowData d(20, {3, 15}, 10, {1});
  FeaturesCase<Exec> c(d, 2, false);
  const Vec y = c.forward(d.x);
  const int F = c.nf();
  for (int e = 0; e < F; ++e) EXPECT_EQ(y[F + e], 0.0);
  const Vec g = c.adjoint(d.x, Vec(y.size(), 1.0));
  for (int s = 0; s < 20; ++s) {
    const bool covered = s >= 1 && s <= 5;
    double mag = 0;
    for (int k = 0; k < 8; ++k) mag += std::fabs(g[s * 8 + k]);
    if (covered)
      EXPECT_GT(mag, 0.0) << s;
    else
      EXPECT_EQ(mag, 0.0) << s;
  }
}

TEST(CandidateFeatures, AdjointAccumulatesAndSkipsEmptyGradients) {
  PileupWindowData d(25, {4, 20, 12, 12}, 11, {}, {8});
  FeaturesCase<Exec> c(d, 3, false);
  const Vec ybar = random_vector(c.forward(d.x).size(), 12);
  const Vec g0 = c.adjoint(d.x, ybar, 0.0);
  const Vec g1 = c.adjoint(d.x, ybar, 0.75);
  ASSERT_EQ(g0.size(), g1.size());
  for (std::size_t i = 0; i < g0.size(); ++i) EXPECT_NEAR(g1[i], g0[i] + 0.75, 1e-12) << i;
  // Only d_quality requested: the same values as in the full adjoint.
  auto r = c.run_forward<double>(d.x, [&](std::size_t i) { return d.x[i]; });
  const Exec exec;
  Kokkos::View<double**, M> dq("dq", 25, 2);
  r.op.adjoint(exec, Kokkos::View<double*, M>(), r.in, r.ws,
               {exec_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(exec, ybar, d.B(), c.nf())},
               {{}, {}, dq}, Kokkos::View<double*, M>());
  const Vec q = flatten(dq);
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_EQ(q[i], g0[25 * 10 + i]) << i;
}

TEST(CandidateFeatures, FeatureIndicesAndEmptyInputs) {
  CandidateFeatures<double, Exec> op;
  EXPECT_EQ(op.window(), 11);
  EXPECT_EQ(op.n_features(), 13 * 11 + 3);
  EXPECT_EQ(op.n_params(), 0);
  EXPECT_EQ(op.feature_index(5, 8), 5 * 13 + 8);
  EXPECT_EQ(op.indel_index(), op.n_features() - 1);
  // No candidates: nothing to do, nothing touched.
  PileupWindowData d(10, {}, 12);
  FeaturesCase<Exec> c(d, 2, false);
  EXPECT_TRUE(c.forward(d.x).empty());
  EXPECT_EQ(c.adjoint(d.x, {}, 0.5), Vec(d.x.size(), 0.5));
}
