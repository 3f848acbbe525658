// SPDX-License-Identifier: BSD-3-Clause
// CNVSegmentation on the backend this binary is compiled for: finite differences + Taylor,
// dot-product test (dual numbers through the shipped forward kernel), ADOL-C oracle on a plain
// serial probability-space reference, OpenMP == Serial bitwise, float vs double, posteriors sum
// to one, empty and all-masked tracks, loglik = brute-force enumeration of all paths, hard mode =
// an independent textbook Viterbi, and recovery of planted gains/losses on a Poisson depth track.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_RefCNV.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_CNVSegmentationCases.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

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

// Segments of a state path: (begin, end, state) for maximal runs.
struct Segment {
  int beg, end, state;
};
std::vector<Segment> segments(const std::vector<int>& path) {
  std::vector<Segment> s;
  for (int t = 0; t < static_cast<int>(path.size()); ++t) {
    if (s.empty() || s.back().state != path[t])
      s.push_back({t, t + 1, path[t]});
    else
      s.back().end = t + 1;
  }
  return s;
}

}  // namespace

TEST(CNVSegmentation, GradientKitPasses) {
  // Two tracks of different lengths (padding) and a masked bin.
  CnvCase<Exec> c(CnvData({7, 5}, 3, 11, 0.3, {3}), 1.0);
  expect_all_checks(c.differentiable(c.point()));
}

TEST(CNVSegmentation, GradientKitPassesTempered) {
  CnvCase<Exec> c(CnvData({6, 6, 2}, 4, 12, 0.4), 0.6);
  expect_all_checks(c.differentiable(c.point(6)));
}

TEST(CNVSegmentation, GradientKitPassesInHardMode) {
  // Away from ties the Viterbi score is smooth (the path is locally constant).
  CnvCase<Exec> c(CnvData({8, 6}, 3, 13, 0.3, {2}), 0.0);
  expect_all_checks(c.differentiable(c.point(7)));
}

TEST(CNVSegmentation, AdolcOracleAgrees) {
  for (double tau : {1.0, 0.7}) {
    CnvCase<Exec> c(CnvData({7, 4, 6}, 3, 14, 0.3, {5, 9}), tau);
    const Vec x = c.point(8);
    const Vec y = c.forward(x);
    const Vec ybar = random_vector(y.size(), 99);
    const auto& d = c.d;
    const auto offs = c.offsets();
    auto ref = [&](const auto& xs) {
      return reference::cnv_forward_backward(xs, d.length, d.mask, d.T, d.S, tau, offs, c.cfg.outlier_prob);
    };
    const auto oracle = adolc_vjp(ref, x, ybar);
    auto fw = compare(y, oracle.y, 1e-12, 1e-14, "forward vs serial reference");
    EXPECT_TRUE(fw.passed) << fw.detail << " tau " << tau;
    auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-12, "adjoint vs ADOL-C");
    EXPECT_TRUE(bw.passed) << bw.detail << " tau " << tau;
  }
}

TEST(CNVSegmentation, LoglikEqualsBruteForceEnumeration) {
  // T = 6, S = 3: all 729 paths.
  for (double tau : {1.0, 0.5, 0.0}) {
    CnvCase<Exec> c(CnvData({6, 4}, 3, 15, 0.5, {8}), tau);
    const Vec x = c.point(9);
    const Vec y = c.forward(x);
    const std::size_t BTS = static_cast<std::size_t>(c.d.B) * c.d.T * c.d.S;
    for (int b = 0; b < c.d.B; ++b) {
      const auto brute = reference::cnv_brute_force(x, c.d.mask, b, c.d.length[b], c.d.T, c.d.S,
                                                    c.d.B, tau > 0 ? tau : 1.0, c.offsets(),
                                                    c.cfg.outlier_prob);
      const double expect = tau > 0 ? brute.logsum : brute.best;
      EXPECT_NEAR(y[BTS + b], expect, 1e-12 * std::max(1.0, std::fabs(expect)))
          << "track " << b << " tau " << tau;
    }
  }
}

TEST(CNVSegmentation, PosteriorsSumToOne) {
  CnvCase<Exec> c(CnvData({40, 25, 33}, 5, 16, 0.3, {7, 41}), 1.0);
  const Vec y = c.forward(c.point());
  for (int b = 0; b < c.d.B; ++b)
    for (int t = 0; t < c.d.T; ++t) {
      double s = 0;
      for (int k = 0; k < c.d.S; ++k) {
        const double p = y[(static_cast<std::size_t>(b) * c.d.T + t) * c.d.S + k];
        EXPECT_GE(p, 0.0);
        s += p;
      }
      EXPECT_NEAR(s, t < c.d.length[b] ? 1.0 : 0.0, 1e-12) << "track " << b << " bin " << t;
    }
}

TEST(CNVSegmentation, HardModeEqualsIndependentViterbi) {
  CnvData data({500, 320, 450, 1}, 5, 17, 0.35, {10, 11, 12, 800});
  CnvCase<Exec> c(data, 0.0);
  c.cfg.ploidy = 2;
  c.cfg.init_stay = 0.98;
  const Vec x = c.point(10);
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  auto path = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), r.out.path);
  const Vec ll = flatten(r.out.loglik);
  int n_switch = 0;
  for (int b = 0; b < data.B; ++b) {
    const auto v = reference::cnv_viterbi(x, data.mask, b, data.length[b], data.T, data.S,
                                          data.B, c.offsets(), c.cfg.outlier_prob);
    EXPECT_NEAR(ll[b], v.score, 1e-10 * std::max(1.0, std::fabs(v.score))) << "track " << b;
    int differ = 0;
    for (int t = 0; t < data.length[b]; ++t) differ += path(b, t) != v.path[t];
    for (int t = data.length[b]; t < data.T; ++t) EXPECT_EQ(path(b, t), -1);
    EXPECT_EQ(differ, 0) << "track " << b;
    n_switch += static_cast<int>(segments(v.path).size()) - 1;
  }
  EXPECT_GT(n_switch, 10);  // the test data really has segments
  // Soft posteriors approach the Viterbi one-hot as τ → 0.
  CnvCase<Exec> cold(data, 0.005);
  cold.cfg = c.cfg;
  cold.cfg.temperature = 0.005;
  auto rc = cold.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  auto pc = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), rc.out.path);
  int differ = 0;
  for (int b = 0; b < data.B; ++b)
    for (int t = 0; t < data.length[b]; ++t) differ += pc(b, t) != path(b, t);
  EXPECT_EQ(differ, 0) << "posterior decoding at tau 0.005 vs Viterbi";
}

TEST(CNVSegmentation, RecoversPlantedGainsAndLosses) {
  // 2000 bins of Poisson depth at 30x (2 copies) with a 1-copy loss (100 bins), a 3-copy gain
  // (150 bins), a 4-copy gain (60 bins) and a 2-bin-wide masked gap; log-ratio vs the median.
  const int T = 2000;
  std::vector<int> truth(T, 2);
  const std::vector<Segment> planted = {{300, 400, 1}, {900, 1050, 3}, {1500, 1560, 4}};
  for (const auto& s : planted)
    for (int t = s.beg; t < s.end; ++t) truth[t] = s.state;
  std::mt19937_64 gen(2024);
  std::vector<double> depth(T);
  for (int t = 0; t < T; ++t) depth[t] = std::poisson_distribution<int>(15.0 * truth[t])(gen);
  std::vector<double> sorted(depth);
  std::nth_element(sorted.begin(), sorted.begin() + T / 2, sorted.end());
  const double median = sorted[T / 2];
  std::vector<double> r(T);
  for (int t = 0; t < T; ++t) r[t] = std::log((depth[t] + 0.5) / (median + 0.5));
  std::vector<std::uint8_t> mask(T, 1);
  mask[1200] = mask[1201] = 0;

  for (double tau : {0.0, 1.0}) {
    CNVSegmentationConfig cfg;
    cfg.temperature = tau;
    CNVSegmentation<double, Exec> op(cfg);
    typename CNVSegmentation<double, Exec>::Inputs in{
        to_view<Kokkos::View<double**, M>>(r, 1, T), to_view<Kokkos::View<std::uint8_t**, M>>(mask, 1, T),
        to_view<Kokkos::View<int*, M>>(std::vector<int>{T}, 1)};
    auto params = to_view<Kokkos::View<double*, M>>(op.initial_params(), op.n_params());
    auto out = op.allocate_outputs(in);
    typename CNVSegmentation<double, Exec>::Workspace ws;
    op.forward(Exec(), params, in, out, ws);
    auto ph = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.path);
    std::vector<int> path(T);
    for (int t = 0; t < T; ++t) path[t] = ph(0, t);
    std::vector<Segment> calls;
    for (const auto& s : segments(path))
      if (s.state != 2) calls.push_back(s);
    std::string got;
    for (const auto& s : calls)
      got += " [" + std::to_string(s.beg) + "," + std::to_string(s.end) + ")=" + std::to_string(s.state);
    ASSERT_EQ(calls.size(), planted.size()) << "tau " << tau << ": calls" << got;
    int worst = 0;
    for (std::size_t k = 0; k < planted.size(); ++k) {
      EXPECT_EQ(calls[k].state, planted[k].state) << "segment " << k << " tau " << tau;
      worst = std::max({worst, std::abs(calls[k].beg - planted[k].beg),
                        std::abs(calls[k].end - planted[k].end)});
    }
    EXPECT_LE(worst, 2) << "worst boundary error (bins), tau " << tau;
    std::printf("[cnv] planted recovery tau=%g: worst boundary error %d bins\n", tau, worst);
  }
}

TEST(CNVSegmentation, BackendEqualsSerialBitwise) {
  const CnvData data({300, 250, 290, 120, 300}, 5, 18, 0.3, {4, 400, 401});
  for (double tau : {1.0, 0.0})
    for (bool det : {false, true}) {
      ReductionMode mode;
      mode.deterministic = det;
      CnvCase<Exec> here(data, tau, mode);
      CnvCase<Kokkos::Serial> serial(data, tau, mode);
      const Vec x = here.point(3);
      const Vec y = here.forward(x);
      const Vec ybar = random_vector(y.size(), 5);
      EXPECT_TRUE(bitwise_equal(y, serial.forward(x))) << "tau " << tau;
      EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)))
          << "tau " << tau << " det " << det;
    }
}

TEST(CNVSegmentation, DeterministicModeIsCloseToFast) {
  const CnvData data({200, 150, 180}, 4, 19, 0.3);
  ReductionMode det;
  det.deterministic = true;
  CnvCase<Exec> a(data, 1.0, det), fast(data, 1.0);
  const Vec x = a.point(4);
  const Vec ybar = random_vector(a.forward(x).size(), 6);
  auto q = compare(a.adjoint(x, ybar), fast.adjoint(x, ybar), 0.0, 3 * std::ldexp(1.0, -36),
                   "deterministic vs fast");
  EXPECT_TRUE(q.passed) << q.detail;
}

TEST(CNVSegmentation, FloatMatchesDouble) {
  const CnvData data({120, 90}, 5, 20, 0.3, {7});
  CnvCase<Exec> c(data, 1.0);
  const Vec x = c.point(5);
  const Vec yd = c.forward(x);
  const Vec ybar = random_vector(yd.size(), 8);
  const Vec gd = c.adjoint(x, ybar);

  CNVSegmentation<float, Exec> op(c.cfg);
  typename CNVSegmentation<float, Exec>::Inputs in{
      to_view<Kokkos::View<float**, M>>(Vec(x.begin(), x.begin() + c.nx()), data.B, data.T),
      to_view<Kokkos::View<std::uint8_t**, M>>(data.mask, data.B, data.T),
      to_view<Kokkos::View<int*, M>>(data.length, data.B)};
  auto params = to_view<Kokkos::View<float*, M>>(Vec(x.begin() + c.nx(), x.end()), c.np());
  auto out = op.allocate_outputs(in);
  typename CNVSegmentation<float, Exec>::Workspace ws;
  op.forward(Exec(), params, in, out, ws);
  const std::size_t BTS = static_cast<std::size_t>(data.B) * data.T * data.S;
  typename CNVSegmentation<float, Exec>::OutputGrads dout{
      to_view<Kokkos::View<float***, M>>(Vec(ybar.begin(), ybar.begin() + BTS), data.B, data.T, data.S),
      to_view<Kokkos::View<float*, M>>(Vec(ybar.begin() + BTS, ybar.end()), data.B)};
  Kokkos::View<float**, M> dx("dx", data.B, data.T);
  Kokkos::View<double*, M> dp("dp", c.np());
  op.adjoint(Exec(), params, in, ws, dout, {dx}, dp);
  Vec yf = flatten(out.posterior), lf = flatten(out.loglik);
  yf.insert(yf.end(), lf.begin(), lf.end());
  auto fw = compare(yf, yd, 1e-4, 1e-5, "float forward");
  EXPECT_TRUE(fw.passed) << fw.detail;
  Vec gf = flatten(dx), gpf = flatten(dp);
  gf.insert(gf.end(), gpf.begin(), gpf.end());
  auto bw = compare(gf, gd, 2e-3, 2e-3, "float gradients");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(CNVSegmentation, EmptyAndAllMaskedTracksAreFiniteWithZeroGradient) {
  // Track 0 empty (length 0), track 1 fully masked, track 2 normal.
  CnvData data({0, 6, 5}, 3, 21, 0.3, {6, 7, 8, 9, 10, 11});
  for (double tau : {1.0, 0.0}) {
    CnvCase<Exec> c(data, tau);
    const Vec x = c.point();
    const Vec y = c.forward(x);
    for (double v : y) EXPECT_TRUE(std::isfinite(v));
    const std::size_t BTS = static_cast<std::size_t>(data.B) * data.T * data.S;
    EXPECT_EQ(y[BTS + 0], 0.0);
    // All-masked: no evidence, the path probabilities sum to one → loglik 0 (soft).
    if (tau > 0) EXPECT_NEAR(y[BTS + 1], 0.0, 1e-13);
    // Seeds only on the empty and the masked track.
    Vec ybar(y.size(), 0.0);
    for (int t = 0; t < data.T; ++t)
      for (int k = 0; k < data.S; ++k) {
        ybar[(0 * data.T + t) * data.S + k] = 1.0;
        ybar[(1 * data.T + t) * data.S + k] = 0.0;  // posteriors of a masked track: prior only
      }
    ybar[BTS + 0] = 1.0;
    ybar[BTS + 1] = tau > 0 ? 1.0 : 0.0;  // (hard: the best path score does depend on the prior)
    const Vec g = c.adjoint(x, ybar);
    for (double v : g) {
      EXPECT_TRUE(std::isfinite(v));
      EXPECT_NEAR(v, 0.0, 1e-13);
    }
  }
}

TEST(CNVSegmentation, AdjointAccumulates) {
  CnvCase<Exec> c(CnvData({9, 6}, 4, 22, 0.3), 1.0);
  const Vec x = c.point();
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  const Vec ybar = random_vector(c.forward(x).size(), 9);
  const std::size_t BTS = static_cast<std::size_t>(c.d.B) * c.d.T * c.d.S;
  typename CNVSegmentation<double, Exec>::OutputGrads dout{
      to_view<Kokkos::View<double***, M>>(Vec(ybar.begin(), ybar.begin() + BTS), c.d.B, c.d.T, c.d.S),
      to_view<Kokkos::View<double*, M>>(Vec(ybar.begin() + BTS, ybar.end()), c.d.B)};
  Kokkos::View<double**, M> dx("dx", c.d.B, c.d.T);
  Kokkos::View<double*, M> dp("dp", c.np());
  r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, {dx}, dp);
  const Vec once = flatten(dp), once_x = flatten(dx);
  r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, {dx}, dp);
  const Vec twice = flatten(dp), twice_x = flatten(dx);
  for (std::size_t k = 0; k < once.size(); ++k) EXPECT_DOUBLE_EQ(twice[k], 2 * once[k]);
  for (std::size_t k = 0; k < once_x.size(); ++k) EXPECT_DOUBLE_EQ(twice_x[k], 2 * once_x[k]);
  // Only d_loglik: the gradient of the log-likelihood is the expected-count gradient.
  Kokkos::View<double*, M> dp2("dp2", c.np());
  r.op.adjoint(Exec(), r.params, r.in, r.ws, {{}, dout.d_loglik}, {}, dp2);
  EXPECT_NE(flatten(dp2)[c.np() - 1], 0.0);
}
