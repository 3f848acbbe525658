// SPDX-License-Identifier: BSD-3-Clause
// SoftKMeansClustering on the backend this binary is compiled for: finite differences + Taylor,
// dot-product test, ADOL-C oracle on a plain serial reference, bitwise equality with Serial
// (and with any chunking in deterministic mode), float vs double, masked rows, the M-step, and
// hard mode + M-step = Lloyd's k-means, compared with scikit-learn's KMeans on the same data.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_RefSingleCell.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_SingleCellTestUtils.hpp"
#include "DiffBio_SoftKMeansCases.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <unistd.h>

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

std::string scratch(const std::string& name) {
  return ::testing::TempDir() + "diffbio_sc_" + std::to_string(::getpid()) + "_" +
         DIFFBIO_TEST_BACKEND_NAME + "_" + name;
}

}  // namespace

TEST(SoftKMeans, GradientKitPasses) {
  SoftKMeansCase<Exec> c(KMeansData(7, 3, 4, 11, 0.8, {2}), /*hard=*/false);
  expect_all_checks(c.differentiable(c.point(1.5)));
}

TEST(SoftKMeans, GradientKitPassesAtSmallAndLargeTemperature) {
  SoftKMeansCase<Exec> c(KMeansData(6, 2, 3, 12, 1.0), false);
  expect_all_checks(c.differentiable(c.point(0.05)));
  expect_all_checks(c.differentiable(c.point(40.0)));
}

TEST(SoftKMeans, GradientKitPassesInHardMode) {
  // Away from ties the hard objective is smooth in x and c (assignments are locally constant).
  SoftKMeansCase<Exec> c(KMeansData(8, 3, 3, 13, 0.5, {5}), /*hard=*/true);
  expect_all_checks(c.differentiable(c.point()));
}

TEST(SoftKMeans, AdolcOracleAgrees) {
  SoftKMeansCase<Exec> c(KMeansData(9, 4, 3, 14, 1.2, {0, 6}), false);
  const Vec x = c.point(2.0);
  const Vec y = c.forward(x);
  const Vec ybar = random_vector(y.size(), 99);
  const auto& d = c.d;
  auto ref = [&](const auto& xs) { return reference::soft_kmeans(xs, d.mask, d.N, d.D, d.K); };
  const auto oracle = adolc_vjp(ref, x, ybar);
  auto fw = compare(y, oracle.y, 1e-12, 1e-14, "forward vs serial reference");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-12, "adjoint vs ADOL-C");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(SoftKMeans, BackendEqualsSerialBitwise) {
  // The portable path is bitwise identical on every backend; the BLAS path wherever the same BLAS
  // runs (here both are host spaces).
  const KMeansData data(1000, 8, 6, 15, 1.5, {3, 500, 999});
  for (bool blas : {false, true})
    for (bool det : {false, true}) {
      ReductionMode mode;
      mode.deterministic = det;
      SoftKMeansCase<Exec> here(data, false, mode);
      SoftKMeansCase<Kokkos::Serial> serial(data, false, mode);
      here.cfg.use_blas = serial.cfg.use_blas = blas;
      const Vec x = here.point(3.0);
      const Vec ybar = random_vector(here.forward(x).size(), 5);
      EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x))) << "blas " << blas;
      EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)))
          << "blas " << blas << " det " << det;
    }
}

TEST(SoftKMeans, BlasAndPortableDistancesAgree) {
  const KMeansData data(400, 7, 5, 23, 1.0, {2});
  SoftKMeansCase<Exec> blas(data, false), portable(data, false);
  portable.cfg.use_blas = false;
  const Vec x = blas.point(1.7);
  const Vec ybar = random_vector(blas.forward(x).size(), 12);
  auto fw = compare(blas.forward(x), portable.forward(x), 1e-12, 1e-13, "forward: BLAS vs portable");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(blas.adjoint(x, ybar), portable.adjoint(x, ybar), 1e-10, 1e-11,
                    "adjoint: BLAS vs portable");
  EXPECT_TRUE(bw.passed) << bw.detail;
  // The portable path, like the BLAS one, passes the whole gradient kit.
  SoftKMeansCase<Exec> small(KMeansData(7, 3, 4, 24, 0.8, {1}), false);
  small.cfg.use_blas = false;
  expect_all_checks(small.differentiable(small.point(1.2)));
}

TEST(SoftKMeans, DeterministicModeIsIndependentOfChunking) {
  // Chunk boundaries stand in for MPI shard boundaries: grid-rounded sums are exact.
  const KMeansData data(700, 5, 4, 16, 1.0, {1});
  ReductionMode det;
  det.deterministic = true;
  SoftKMeansCase<Exec> a(data, false, det), b(data, false, det), fast(data, false);
  b.cfg.chunk_rows = 7;
  const Vec x = a.point(2.0);
  const Vec ybar = random_vector(a.forward(x).size(), 6);
  const Vec ga = a.adjoint(x, ybar), gb = b.adjoint(x, ybar), gf = fast.adjoint(x, ybar);
  EXPECT_TRUE(bitwise_equal(ga, gb));
  // The price: at most one grid quantum per row in each parameter sum.
  auto q = compare(ga, gf, 0.0, 700 * std::ldexp(1.0, -36), "deterministic vs fast");
  EXPECT_TRUE(q.passed) << q.detail;
}

TEST(SoftKMeans, FloatMatchesDouble) {
  const KMeansData data(300, 6, 5, 17, 1.0, {7});
  SoftKMeansCase<Exec> c(data, false);
  const Vec x = c.point(2.5);
  const Vec yd = c.forward(x);
  const Vec ybar = random_vector(yd.size(), 8);
  const Vec gd = c.adjoint(x, ybar);

  SoftKMeansClustering<float, Exec> op(c.cfg);
  typename SoftKMeansClustering<float, Exec>::Inputs in{
      to_view<Kokkos::View<float**, Kokkos::LayoutRight, M>>(data.X, data.N, data.D),
      to_view<Kokkos::View<std::uint8_t*, M>>(data.mask, data.N)};
  auto params = to_view<Kokkos::View<float*, M>>(Vec(x.begin() + c.nx(), x.end()), c.np());
  auto out = op.allocate_outputs(in);
  auto ws = op.allocate_workspace(in);
  op.forward(Exec(), params, in, out, ws);
  const int NK = data.N * data.K;
  typename SoftKMeansClustering<float, Exec>::OutputGrads dout{
      to_view<Kokkos::View<float**, Kokkos::LayoutRight, M>>(Vec(ybar.begin(), ybar.begin() + NK), data.N, data.K),
      to_view<Kokkos::View<float*, M>>(Vec(ybar.begin() + NK, ybar.begin() + NK + data.N), data.N),
      to_view<Kokkos::View<float*, M>>(Vec(ybar.begin() + NK + data.N, ybar.end()), data.N)};
  Kokkos::View<float**, Kokkos::LayoutRight, M> dx("dx", data.N, data.D);
  Kokkos::View<double*, M> dp("dp", c.np());
  op.adjoint(Exec(), params, in, ws, dout, {dx}, dp);
  auto fw = compare(SoftKMeansCase<Exec>::outputs(out, [](float v) { return double(v); }), yd,
                    1e-4, 1e-5, "float forward");
  EXPECT_TRUE(fw.passed) << fw.detail;
  Vec gf = flatten(dx), gpf = flatten(dp);
  gf.insert(gf.end(), gpf.begin(), gpf.end());
  auto bw = compare(gf, gd, 2e-3, 2e-3, "float gradients");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(SoftKMeans, AllMaskedRowsGiveZerosAndNoGradient) {
  KMeansData data(20, 3, 4, 18);
  data.mask.assign(20, 0);
  for (bool hard : {false, true}) {
    SoftKMeansCase<Exec> c(data, hard);
    const Vec x = c.point();
    const Vec y = c.forward(x);
    for (double v : y) EXPECT_EQ(v, 0.0);
    const Vec g = c.adjoint(x, Vec(y.size(), 1.0));
    for (double v : g) EXPECT_EQ(v, 0.0);
  }
}

TEST(SoftKMeans, EmptyBatchIsANoOp) {
  for (bool blas : {false, true}) {
    SoftKMeansConfig cfg;
    cfg.n_clusters = 3;
    cfg.n_features = 2;
    cfg.use_blas = blas;
    SoftKMeansClustering<double, Exec> op(cfg);
    typename SoftKMeansClustering<double, Exec>::Inputs in{
        Kokkos::View<double**, Kokkos::LayoutRight, M>("x", 0, 2), {}};
    auto params = to_view<Kokkos::View<double*, M>>(Vec{1, 2, 3, 4, 5, 6, 0.0}, 7);
    auto out = op.allocate_outputs(in);
    auto ws = op.allocate_workspace(in);
    op.forward(Exec(), params, in, out, ws);
    Kokkos::View<double*, M> dp("dp", 7);
    Kokkos::View<double**, Kokkos::LayoutRight, M> dx("dx", 0, 2);
    op.adjoint(Exec(), params, in, ws, {{}, {}, out.energy}, {dx}, dp);
    op.m_step(Exec(), in, out.assign, ws, params);
    EXPECT_EQ(flatten(dp), Vec(7, 0.0));
    EXPECT_EQ(flatten(params), (Vec{1, 2, 3, 4, 5, 6, 0.0}));
    EXPECT_EQ(op.lloyd(Exec(), params, in, out, ws).inertia, 0.0);
  }
}

TEST(SoftKMeans, AdjointAccumulatesAndFrozenTauHasNoGradient) {
  SoftKMeansCase<Exec> c(KMeansData(15, 3, 3, 19), false);
  const Vec x = c.point(1.3);
  const Vec ybar = random_vector(c.forward(x).size(), 9);
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  const int N = c.d.N, K = c.d.K;
  typename SoftKMeansClustering<double, Exec>::OutputGrads dout{
      to_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(Vec(ybar.begin(), ybar.begin() + N * K), N, K),
      {}, to_view<Kokkos::View<double*, M>>(Vec(ybar.end() - N, ybar.end()), N)};
  Kokkos::View<double*, M> dp("dp", c.np());
  r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, {}, dp);
  const Vec once = flatten(dp);
  r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, {}, dp);
  const Vec twice = flatten(dp);
  for (std::size_t k = 0; k < once.size(); ++k) EXPECT_DOUBLE_EQ(twice[k], 2 * once[k]);
  EXPECT_NE(once.back(), 0.0);

  SoftKMeansCase<Exec> frozen(c.d, false);
  frozen.cfg.learn_tau = false;
  const Vec gf = frozen.adjoint(x, ybar);
  EXPECT_EQ(gf.back(), 0.0);
  const Vec gl = c.adjoint(x, ybar);
  for (std::size_t k = 0; k + 1 < gf.size(); ++k) EXPECT_EQ(gf[k], gl[k]);  // x, c unchanged
}

TEST(SoftKMeans, HardModeIsTheNearestCentroid) {
  const KMeansData data(200, 4, 5, 20, 2.0, {9});
  SoftKMeansCase<Exec> c(data, true);
  const Vec x = c.point();
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  const Vec P = flatten(r.out.assign), E = flatten(r.out.energy);
  auto labels = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), r.out.labels);
  for (int i = 0; i < data.N; ++i) {
    if (!data.mask[i]) {
      EXPECT_EQ(labels(i), -1);
      continue;
    }
    int best = 0;
    double bd = 1e300;
    for (int k = 0; k < data.K; ++k) {
      double s = 0;
      for (int j = 0; j < data.D; ++j) {
        const double t = data.X[i * data.D + j] - data.centroids[k * data.D + j];
        s += t * t;
      }
      if (s < bd) bd = s, best = k;
    }
    EXPECT_EQ(labels(i), best);
    for (int k = 0; k < data.K; ++k) EXPECT_EQ(P[i * data.K + k], k == best ? 1.0 : 0.0);
    EXPECT_NEAR(E[i], bd, 1e-12 * bd);
  }
  // Soft assignments approach the one-hot as τ → 0.
  SoftKMeansCase<Exec> soft(data, false);
  const Vec ys = soft.forward(soft.point(1e-4)), yh = c.forward(x);
  auto cmp = compare(Vec(ys.begin(), ys.begin() + data.N * data.K),
                     Vec(yh.begin(), yh.begin() + data.N * data.K), 0.0, 1e-9, "tau 1e-4 vs hard");
  EXPECT_TRUE(cmp.passed) << cmp.detail;
}

TEST(SoftKMeans, MStepIsTheAssignmentWeightedMean) {
  const KMeansData data(500, 3, 4, 21, 1.5, {0, 10, 499});
  SoftKMeansCase<Exec> c(data, false);
  const Vec x = c.point(4.0);
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  const Vec P = flatten(r.out.assign);
  Kokkos::View<double*, M> w("w", data.K);
  r.op.m_step(Exec(), r.in, r.out.assign, r.ws, r.params, w);
  const Vec newp = flatten(r.params), wh = flatten(w);
  for (int k = 0; k < data.K; ++k) {
    double sw = 0;
    std::vector<double> s(data.D, 0.0);
    for (int i = 0; i < data.N; ++i) {
      if (!data.mask[i]) continue;
      sw += P[i * data.K + k];
      for (int j = 0; j < data.D; ++j) s[j] += P[i * data.K + k] * data.X[i * data.D + j];
    }
    EXPECT_NEAR(wh[k], sw, 1e-10 * sw);
    for (int j = 0; j < data.D; ++j) EXPECT_NEAR(newp[k * data.D + j], s[j] / sw, 1e-12);
  }
  EXPECT_EQ(newp.back(), x.back());  // log τ untouched
  // An empty cluster (a centroid far from every point, hard mode) keeps its value.
  SoftKMeansCase<Exec> h(data, true);
  Vec xh = h.point();
  for (int j = 0; j < data.D; ++j) xh[h.nx() + 2 * data.D + j] = 1e6;
  auto rh = h.run_forward<double>(xh, [&](std::size_t i) { return xh[i]; });
  rh.op.m_step(Exec(), rh.in, rh.out.assign, rh.ws, rh.params);
  const Vec ph = flatten(rh.params);
  for (int j = 0; j < data.D; ++j) EXPECT_EQ(ph[2 * data.D + j], 1e6);
}

// Lloyd = hard E-step + M-step to strict convergence; scikit-learn's KMeans(algorithm="lloyd",
// tol=0, n_init=1) from the same initial centroids must give identical labels and the same
// centroids, iteration count and inertia.
class LloydVsSklearn : public ::testing::TestWithParam<std::tuple<double, int>> {};

TEST_P(LloydVsSklearn, SameLabelsCentroidsAndIterations) {
  DIFFBIO_REQUIRE_PEER("sklearn.cluster");
  const auto [spread, max_iter] = GetParam();
  const KMeansData data(900, 5, 6, 22, spread);
  SoftKMeansConfig cfg;
  cfg.n_clusters = data.K;
  cfg.n_features = data.D;
  cfg.hard = true;
  SoftKMeansClustering<double, Exec> op(cfg);
  typename SoftKMeansClustering<double, Exec>::Inputs in{
      to_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(data.X, data.N, data.D), {}};
  auto params = to_view<Kokkos::View<double*, M>>(op.initial_params(data.centroids), op.n_params());
  auto out = op.allocate_outputs(in);
  auto ws = op.allocate_workspace(in);
  const LloydResult ours = op.lloyd(Exec(), params, in, out, ws, max_iter);

  const std::string xf = scratch("X.bin"), cf = scratch("init.bin"), of = scratch("km.txt");
  write_matrix_bin(xf, data.X);
  write_matrix_bin(cf, data.centroids);
  ASSERT_EQ(run_peer("kmeans " + xf + " " + std::to_string(data.N) + " " + std::to_string(data.D) +
                     " " + cf + " " + std::to_string(data.K) + " " + std::to_string(max_iter) +
                     " " + of),
            0);
  const auto lines = read_lines(of);
  ASSERT_EQ(lines.size(), 3u);
  const auto head = parse<double>(lines[0]);
  const auto sk_labels = parse<int>(lines[1]);
  const auto sk_centres = parse<double>(lines[2]);
  std::remove(xf.c_str());
  std::remove(cf.c_str());
  std::remove(of.c_str());

  EXPECT_EQ(ours.n_iter, static_cast<int>(head[0]));
  if (max_iter >= 100) {
    EXPECT_TRUE(ours.converged);
  }
  auto labels = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.labels);
  ASSERT_EQ(static_cast<int>(sk_labels.size()), data.N);
  int differ = 0;
  for (int i = 0; i < data.N; ++i) differ += labels(i) != sk_labels[i];
  EXPECT_EQ(differ, 0) << "labels differing from sklearn";
  const Vec p = flatten(params);
  auto cc = compare(Vec(p.begin(), p.end() - 1), sk_centres, 1e-10, 1e-10, "centroids vs sklearn");
  EXPECT_TRUE(cc.passed) << cc.detail;
  EXPECT_NEAR(ours.inertia, head[1], 1e-10 * head[1]);
}

// Well separated (converges in a few iterations), overlapping (many iterations), and a run cut
// at 3 iterations (not converged: the final E-step path).
INSTANTIATE_TEST_SUITE_P(Data, LloydVsSklearn,
                         ::testing::Values(std::make_tuple(0.7, 300), std::make_tuple(2.5, 300),
                                           std::make_tuple(2.5, 3)));

// The softmax exponentials (sc_impl::exp_neg_scaled: SSE2 on x86-64 hosts, the same polynomial in
// scalar code elsewhere and for the tail lanes) are within 2 ulp of the correctly rounded exp, and
// an element's value does not depend on its position in the row.
TEST(SoftKMeans, PolynomialExpIsAccurateAndPositionIndependent) {
  std::mt19937_64 gen(77);
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  const int n = 1001;  // odd: every SIMD tail path runs
  std::vector<double> d(n), e(n), e1(1);
  std::vector<float> df(n), ef(n), ef1(1);
  double worst = 0, worst_f = 0;
  for (int rep = 0; rep < 20; ++rep) {
    const double scale = std::pow(10.0, rep % 5 - 1);  // arguments from ~0.1 up to ~700
    for (int k = 0; k < n; ++k) d[k] = 0.3 + ud(gen) * 7.0 * scale;
    for (int k = 0; k < n; ++k) df[k] = static_cast<float>(0.3 + ud(gen) * 0.85 * scale);
    const double m = 0.3, inv_tau = 1.0;
    sc_impl::exp_neg_scaled(d.data(), e.data(), n, m, inv_tau);
    sc_impl::exp_neg_scaled(df.data(), ef.data(), n, 0.3f, 1.0f);
    for (int k = 0; k < n; ++k) {
      const double x = -(d[k] - m) * inv_tau;
      if (x >= -708.0) {
        const double ref = std::exp(x);
        worst = std::max(worst, std::fabs(e[k] - ref) / (std::nextafter(ref, 2 * ref) - ref));
      } else {
        EXPECT_EQ(e[k], 0.0);
      }
      const float xf = -(df[k] - 0.3f) * 1.0f;
      if (xf >= -87.0f) {
        const double ref = std::exp(static_cast<double>(xf));
        const double ulp = std::nextafter(static_cast<float>(ref), 2.0f * static_cast<float>(ref)) -
                           static_cast<float>(ref);
        worst_f = std::max(worst_f, std::fabs(ef[k] - ref) / ulp);
      }
      // One element alone (scalar path) gives the same bits as inside a SIMD block.
      sc_impl::exp_neg_scaled(&d[k], e1.data(), 1, m, inv_tau);
      ASSERT_EQ(e1[0], e[k]) << "position " << k;
      sc_impl::exp_neg_scaled(&df[k], ef1.data(), 1, 0.3f, 1.0f);
      ASSERT_EQ(ef1[0], ef[k]) << "position " << k;
    }
  }
  EXPECT_LE(worst, 2.0) << "double exp error in ulp";
  EXPECT_LE(worst_f, 2.0) << "float exp error in ulp";
  RecordProperty("exp_ulp_double", std::to_string(worst));
  RecordProperty("exp_ulp_float", std::to_string(worst_f));
}
