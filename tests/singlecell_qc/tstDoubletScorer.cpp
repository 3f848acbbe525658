// SPDX-License-Identifier: BSD-3-Clause
// DoubletScorer on the backend this binary is compiled for: finite differences + Taylor,
// dot-product test, ADOL-C oracle on a plain serial reference, bitwise equality with Serial (fast
// and deterministic reductions), float vs double, masked rows; simulated doublets (reproducible
// pairs, device rows = host rows); the classic unweighted score equals the simulated-neighbour
// fraction from scikit-learn's NearestNeighbors; on simulated data with planted doublets the
// AUROC is >= 0.9 and our AUROC equals sklearn.metrics.roc_auc_score.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_QcCases.hpp"
#include "DiffBio_QcPeer.hpp"
#include "DiffBio_QcSimulator.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

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

/// Real cells' embedding followed by simulated doublets' (same normalisation and PCA).
struct DoubletScene {
  QcSim sim;
  int N = 0, NT = 0, D = 0;
  std::vector<double> emb;
  DoubletScene(int n_cells, int D_, std::uint64_t seed) : D(D_) {
    QcSimConfig sc;
    sc.n_cells = n_cells;
    sc.n_genes = 300;
    sc.n_types = 6;
    sc.doublet_fraction = 0.1;
    sc.rho_min = 0.01;
    sc.rho_max = 0.05;
    sc.n_empty = 0;
    sc.seed = seed;
    sim = simulate_qc(sc);
    N = n_cells;
    const auto pairs = simulate_doublet_pairs(N, N, seed + 1);
    const auto sim_rows = doublet_rows(sim.counts, pairs);
    NT = N + static_cast<int>(sim_rows.n_rows);
    const auto Xr = log_normalize_dense(sim.counts), Xs = log_normalize_dense(sim_rows);
    std::vector<double> mean, W;
    fit_pca(Xr, N, sc.n_genes, D, mean, W);
    emb = project(Xr, sc.n_genes, mean, W, D);
    const auto es = project(Xs, sc.n_genes, mean, W, D);
    emb.insert(emb.end(), es.begin(), es.end());
  }
};

template <class S>
Vec score_scene(const DoubletScene& sc, const DoubletScorerConfig& cfg, const KnnIndexConfig& kc,
                Vec* prob = nullptr) {
  const Exec exec;
  auto emb = to_view<Kokkos::View<S**, Kokkos::LayoutRight, M>>(sc.emb, sc.NT, sc.D);
  DoubletScorer<S, Exec> op(cfg);
  typename DoubletScorer<S, Exec>::Inputs in;
  in.emb = emb;
  in.n_real = sc.N;
  in.neighbors = DoubletScorer<S, Exec>::find_neighbors(exec, emb, sc.N, cfg.k, kc);
  auto out = op.allocate_outputs(in);
  auto ws = op.allocate_workspace(in);
  auto params = to_view<Kokkos::View<S*, M>>(op.initial_params(), 3);
  op.forward(exec, params, in, out, ws);
  if (prob) *prob = flatten(out.prob);
  return flatten(out.score);
}

}  // namespace

TEST(DoubletScorer, GradientKitPasses) {
  DoubletCase<Exec> c(DoubletData(9, 6, 3, 4, 11, {4}), /*hard=*/false);
  expect_all_checks(c.differentiable(c.point()));
}

TEST(DoubletScorer, GradientKitPassesHardAndUniform) {
  DoubletCase<Exec> hard(DoubletData(8, 5, 2, 3, 12, {1}), /*hard=*/true);
  expect_all_checks(hard.differentiable(hard.point(0.37)));
  DoubletCase<Exec> uniform(DoubletData(8, 5, 2, 3, 13), false, /*weighted=*/false);
  expect_all_checks(uniform.differentiable(uniform.point()));
  DoubletCase<Exec> sharp(DoubletData(7, 7, 3, 5, 14), false);
  expect_all_checks(sharp.differentiable(sharp.point(0.5, 0.05, 0.2)));
}

TEST(DoubletScorer, AdolcOracleAgrees) {
  DoubletCase<Exec> c(DoubletData(10, 7, 3, 4, 15, {6}), false);
  const Vec x = c.point();
  const Vec y = c.forward(x);
  const Vec ybar = random_vector(y.size(), 22);
  const auto& d = c.d;
  auto ref = [&](const auto& xs) {
    return reference::doublet_scorer(xs, d.N, d.N + d.M, d.D, d.nbr, d.k, d.mask, true, 1.0);
  };
  const auto oracle = adolc_vjp(ref, x, ybar);
  auto fw = compare(y, oracle.y, 1e-12, 1e-13, "forward vs serial reference");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-11, "adjoint vs ADOL-C");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(DoubletScorer, BackendEqualsSerialBitwise) {
  const DoubletData data(300, 200, 5, 8, 16, {3, 150});
  for (bool det : {false, true}) {
    ReductionMode mode;
    mode.deterministic = det;
    DoubletCase<Exec> here(data, false, true, mode);
    DoubletCase<Kokkos::Serial> serial(data, false, true, mode);
    const Vec x = here.point();
    const Vec ybar = random_vector(here.forward(x).size(), 5);
    EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x)));
    EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar))) << "det " << det;
  }
}

TEST(DoubletScorer, FloatMatchesDouble) {
  DoubletCase<Exec> c(DoubletData(60, 40, 4, 6, 17, {2}), false);
  const Vec x = c.point();
  const Vec yd = c.forward(x);
  const Vec ybar = random_vector(yd.size(), 9);
  auto fw = compare(c.forward_as<float>(x), yd, 1e-4, 1e-5, "float forward");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(c.adjoint_as<float>(x, ybar), c.adjoint(x, ybar), 2e-3, 2e-4, "float gradients");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(DoubletScorer, AllMaskedRowsGiveZerosAndNoGradient) {
  DoubletData data(6, 4, 2, 3, 18);
  data.mask.assign(6, 0);
  for (bool hard : {false, true}) {
    DoubletCase<Exec> c(data, hard);
    const Vec x = c.point();
    const Vec y = c.forward(x);
    for (double v : y) EXPECT_EQ(v, 0.0);
    const Vec g = c.adjoint(x, Vec(y.size(), 1.0));
    for (double v : g) EXPECT_EQ(v, 0.0);
  }
}

TEST(DoubletScorer, SimulatedDoubletsAreReproducibleAndSummed) {
  const auto p1 = simulate_doublet_pairs(50, 400, 9), p2 = simulate_doublet_pairs(50, 400, 9);
  EXPECT_EQ(p1, p2);
  EXPECT_NE(p1, simulate_doublet_pairs(50, 400, 10));
  std::vector<int> hits(50, 0);
  for (std::size_t d = 0; d < p1.size(); d += 2) {
    ASSERT_NE(p1[d], p1[d + 1]);
    ASSERT_TRUE(p1[d] >= 0 && p1[d] < 50 && p1[d + 1] >= 0 && p1[d + 1] < 50);
    ++hits[p1[d]];
    ++hits[p1[d + 1]];
  }
  for (int h : hits) EXPECT_GT(h, 0);  // 800 draws over 50 cells: every cell used
  const auto counts = sample_counts(57, 23, 3);
  const auto host = doublet_rows(counts, p1);
  ASSERT_EQ(host.check(), "");
  auto dc = io::to_device<M>(counts, "counts");
  auto pv = to_view<Kokkos::View<int*, M>>(p1, p1.size());
  const auto dev = doublet_rows(Exec(), dc, Kokkos::View<const int*, M>(pv));
  io::CsrMatrix<float> back;
  back.n_rows = dev.n_rows;
  back.n_cols = dev.n_cols;
  const auto rm = flatten(dev.row_map), en = flatten(dev.entries), va = flatten(dev.values);
  back.indptr.assign(rm.begin(), rm.end());
  back.indices.assign(en.begin(), en.end());
  back.data.assign(va.begin(), va.end());
  ASSERT_EQ(back.check(), "");
  for (std::int64_t r = 0; r < host.n_rows; ++r)
    for (std::int64_t g = 0; g < host.n_cols; ++g) {
      const float want = counts.at(p1[2 * r], g) + counts.at(p1[2 * r + 1], g);
      ASSERT_EQ(host.at(r, g), want);
      ASSERT_EQ(back.at(r, g), want);
    }
}

TEST(DoubletScorer, UnweightedScoreEqualsScikitLearnNeighbourFraction) {
  DIFFBIO_REQUIRE_PEER("sklearn");
  const DoubletScene scene(400, 8, 31);
  DoubletScorerConfig cfg;
  cfg.k = 12;
  cfg.distance_weighted = false;
  cfg.prior_count = 0;
  KnnIndexConfig exact;
  exact.exact = true;
  const Vec ours = score_scene<double>(scene, cfg, exact);
  const std::string in = qc_scratch("frac_in.bin"), out = qc_scratch("frac_out.txt");
  write_matrix_bin(in, scene.emb);
  ASSERT_EQ(run_qc_peer("fraction '" + in + "' " + std::to_string(scene.N) + " " +
                        std::to_string(scene.NT) + " " + std::to_string(scene.D) + " " +
                        std::to_string(cfg.k) + " '" + out + "'"),
            0);
  const auto lines = read_lines(out);
  ASSERT_EQ(static_cast<int>(lines.size()), scene.N);
  for (int i = 0; i < scene.N; ++i) EXPECT_NEAR(ours[i], std::stod(lines[i]), 1e-12) << "cell " << i;
  std::filesystem::remove(in);
  std::filesystem::remove(out);
}

TEST(DoubletScorer, PlantedDoubletsAurocAtLeast09AndEqualsScikitLearn) {
  DIFFBIO_REQUIRE_PEER("sklearn");
  const DoubletScene scene(2000, 10, 41);
  DoubletScorerConfig cfg;
  cfg.k = 20;
  const KnnIndexConfig ivf;  // N + M = 4000: the IVF path at its default n_probe
  Vec prob;
  const Vec weighted = score_scene<double>(scene, cfg, ivf, &prob);
  DoubletScorerConfig ucfg = cfg;
  ucfg.distance_weighted = false;
  const Vec uniform = score_scene<double>(scene, ucfg, ivf);
  const Vec wfloat = score_scene<float>(scene, cfg, ivf);
  const auto& truth = scene.sim.is_doublet;
  const double auc_w = auroc(weighted, truth), auc_u = auroc(uniform, truth),
               auc_f = auroc(wfloat, truth);
  int planted = 0;
  for (int t : truth) planted += t;
  std::printf("[ DoubletScorer ] N=%d (%d planted doublets) + %d simulated, D=%d, k=%d: AUROC "
              "distance-weighted %.4f, unweighted %.4f, float %.4f\n",
              scene.N, planted, scene.NT - scene.N, scene.D, cfg.k, auc_w, auc_u, auc_f);
  EXPECT_GE(auc_w, 0.9);
  EXPECT_GE(auc_u, 0.9);
  EXPECT_NEAR(auc_f, auc_w, 5e-3);
  // The probability is monotone in the score: same AUROC (up to saturated ties).
  EXPECT_NEAR(auroc(prob, truth), auc_w, 2e-2);
  const std::string sf = qc_scratch("auc_s.txt"), lf = qc_scratch("auc_l.txt"),
                    of = qc_scratch("auc_o.txt");
  {
    std::ofstream s(sf), l(lf);
    s.precision(17);
    for (int i = 0; i < scene.N; ++i) s << weighted[i] << "\n", l << truth[i] << "\n";
  }
  ASSERT_EQ(run_qc_peer("auroc '" + sf + "' '" + lf + "' > '" + of + "'"), 0);
  const auto lines = read_lines(of);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NEAR(auc_w, std::stod(lines[0]), 1e-12);
  for (const auto& f : {sf, lf, of}) std::filesystem::remove(f);
}
