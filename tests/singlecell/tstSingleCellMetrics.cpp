// SPDX-License-Identifier: BSD-3-Clause
// Clustering and embedding metrics against scikit-learn on the same inputs: adjusted Rand index,
// (normalised) mutual information including the degenerate labelings, silhouette (Kokkos, this
// backend), exact kNN vs NearestNeighbors(algorithm="brute"); soft-assignment variants equal the
// hard ones for one-hot assignments; LISI and batch-mixing entropy on cases with known answers.
#include <DiffBio_ClusterMetrics.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_Neighbors.hpp>
#include <DiffBio_TestBackend.hpp>
#include <DiffBio_TestViews.hpp>

#include "DiffBio_SingleCellTestUtils.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <unistd.h>

using namespace diffbio;
using namespace diffbio::test;

namespace {

using Exec = TEST_EXECSPACE;
using M = Exec::memory_space;

std::string scratch(const std::string& name) {
  return ::testing::TempDir() + "diffbio_scm_" + std::to_string(::getpid()) + "_" +
         DIFFBIO_TEST_BACKEND_NAME + "_" + name;
}

void write_labels(const std::string& path, const std::vector<int>& v) {
  std::ofstream f(path);
  for (int x : v) f << x << "\n";
}

/// Blobs in D dimensions with noisy "true" and "predicted" labels, one singleton cluster.
struct MetricData {
  int N, D;
  std::vector<double> X;
  std::vector<int> truth, pred;
  MetricData(int N_, int D_, std::uint64_t seed) : N(N_), D(D_) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd(0, 1);
    std::uniform_int_distribution<int> cls(0, 3), other(0, 4);
    std::uniform_real_distribution<double> u(0, 1);
    for (int i = 0; i < N; ++i) {
      const int t = cls(gen);
      truth.push_back(t * 10 - 7);  // arbitrary label values: only equality matters
      int p = u(gen) < 0.8 ? t : other(gen);
      pred.push_back(p);
      for (int j = 0; j < D; ++j) X.push_back(2.0 * p + 0.7 * nd(gen) + j * 0.1);
    }
    pred[N - 1] = 5;  // a singleton cluster: silhouette 0 for that cell
  }
};

}  // namespace

TEST(ClusterMetrics, AriNmiSilhouetteEqualSklearn) {
  DIFFBIO_REQUIRE_PEER("sklearn.metrics");
  const MetricData d(400, 4, 31);
  const std::string fa = scratch("a.txt"), fb = scratch("b.txt"), fx = scratch("x.bin"),
                    fo = scratch("out.txt");
  write_labels(fa, d.truth);
  write_labels(fb, d.pred);
  write_matrix_bin(fx, d.X);
  ASSERT_EQ(run_peer("metrics " + fa + " " + fb + " " + fx + " " + std::to_string(d.N) + " " +
                     std::to_string(d.D) + " " + fo),
            0);
  const auto lines = read_lines(fo);
  ASSERT_EQ(lines.size(), 4u);
  const double sk_ari = std::stod(lines[0]), sk_nmi = std::stod(lines[1]),
               sk_mi = std::stod(lines[2]), sk_sil = std::stod(lines[3]);
  for (const auto& f : {fa, fb, fx, fo}) std::remove(f.c_str());

  EXPECT_EQ(metrics::adjusted_rand_index(d.truth, d.pred), sk_ari);  // exact integer pair counts
  EXPECT_NEAR(metrics::normalized_mutual_info(d.truth, d.pred), sk_nmi, 1e-14);
  EXPECT_NEAR(metrics::mutual_info(d.truth, d.pred), sk_mi, 1e-14);

  auto x = to_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(d.X, d.N, d.D);
  std::vector<int> codes;
  const int n_labels = metrics::encode_labels(d.pred, codes);
  auto lab = to_view<Kokkos::View<int*, M>>(codes, d.N);
  Kokkos::View<double*, M> samples("samples", d.N);
  const double sil = metrics::silhouette(Exec(), x, lab, n_labels, samples);
  EXPECT_NEAR(sil, sk_sil, 1e-12);
  auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), samples);
  EXPECT_EQ(hs(d.N - 1), 0.0);  // the singleton
}

TEST(ClusterMetrics, DegenerateLabelingsFollowSklearn) {
  DIFFBIO_REQUIRE_PEER("sklearn.metrics");
  const std::vector<std::pair<std::vector<int>, std::vector<int>>> cases = {
      {{0, 0, 1, 1}, {1, 1, 0, 0}},          // permuted: 1, 1
      {{0, 0, 0, 0}, {0, 1, 2, 3}},          // one class vs singletons
      {{0, 0, 0, 0}, {5, 5, 5, 5}},          // nothing split: 1, 1
      {{0, 1, 2, 3}, {0, 1, 2, 3}},          // all singletons
      {{7}, {3}},                            // one sample
      {{0, 1}, {0, 0}},
      {{0, 0, 1, 2, 2, 2, 3}, {1, 1, 1, 0, 0, 2, 2}},
  };
  const std::string fi = scratch("pairs.txt"), fo = scratch("pairs_out.txt");
  {
    std::ofstream f(fi);
    for (const auto& c : cases) {
      for (int v : c.first) f << v << " ";
      f << "|";
      for (int v : c.second) f << " " << v;
      f << "\n";
    }
  }
  ASSERT_EQ(run_peer("ari_nmi " + fi + " " + fo), 0);
  const auto lines = read_lines(fo);
  ASSERT_EQ(lines.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto v = parse<double>(lines[i]);
    EXPECT_EQ(metrics::adjusted_rand_index(cases[i].first, cases[i].second), v[0]) << "case " << i;
    EXPECT_NEAR(metrics::normalized_mutual_info(cases[i].first, cases[i].second), v[1], 1e-15)
        << "case " << i;
  }
  std::remove(fi.c_str());
  std::remove(fo.c_str());
}

TEST(ClusterMetrics, SoftVersionsEqualHardForOneHotAndStaySmooth) {
  const MetricData d(300, 2, 32);
  std::vector<int> codes;
  const int K = metrics::encode_labels(d.pred, codes);
  std::vector<double> P(static_cast<std::size_t>(d.N) * K, 0.0);
  for (int i = 0; i < d.N; ++i) P[static_cast<std::size_t>(i) * K + codes[i]] = 1.0;
  EXPECT_NEAR(metrics::soft_adjusted_rand_index(d.truth, P, K),
              metrics::adjusted_rand_index(d.truth, d.pred), 1e-13);
  EXPECT_NEAR(metrics::soft_normalized_mutual_info(d.truth, P, K),
              metrics::normalized_mutual_info(d.truth, d.pred), 1e-13);
  // Blurring the assignments lowers both scores continuously.
  double prev_ari = 2, prev_nmi = 2;
  for (double eps : {0.0, 0.05, 0.2, 0.5}) {
    std::vector<double> Q(P);
    for (int i = 0; i < d.N; ++i)
      for (int k = 0; k < K; ++k) Q[static_cast<std::size_t>(i) * K + k] = (1 - eps) * P[static_cast<std::size_t>(i) * K + k] + eps / K;
    const double ari = metrics::soft_adjusted_rand_index(d.truth, Q, K);
    const double nmi = metrics::soft_normalized_mutual_info(d.truth, Q, K);
    EXPECT_LT(ari, prev_ari);
    EXPECT_LT(nmi, prev_nmi);
    prev_ari = ari;
    prev_nmi = nmi;
  }
  // Uniform assignments carry no information.
  std::vector<double> U(P.size(), 1.0 / K);
  EXPECT_NEAR(metrics::soft_normalized_mutual_info(d.truth, U, K), 0.0, 1e-12);
}

TEST(Neighbors, BruteForceKnnEqualsSklearn) {
  DIFFBIO_REQUIRE_PEER("sklearn.neighbors");
  const int N = 500, D = 6, k = 12;
  const Vec X = random_vector(static_cast<std::size_t>(N) * D, 33, -2.0, 2.0);
  auto x = to_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(X, N, D);
  Kokkos::View<int**, M> idx("idx", N, k);
  Kokkos::View<double**, M> dist("dist", N, k);
  metrics::knn_brute_force(Exec(), x, idx, dist);
  const std::string fx = scratch("knn_x.bin"), fo = scratch("knn.txt");
  write_matrix_bin(fx, X);
  ASSERT_EQ(run_peer("knn " + fx + " " + std::to_string(N) + " " + std::to_string(D) + " " +
                     std::to_string(k) + " " + fo),
            0);
  const auto lines = read_lines(fo);
  ASSERT_EQ(lines.size(), 2u);
  const auto sk_idx = parse<int>(lines[0]);
  const auto sk_dist = parse<double>(lines[1]);
  std::remove(fx.c_str());
  std::remove(fo.c_str());
  const Vec our_idx = flatten(idx), our_dist = flatten(dist);
  ASSERT_EQ(sk_idx.size(), our_idx.size());
  int differ = 0;
  for (std::size_t e = 0; e < sk_idx.size(); ++e) differ += static_cast<int>(our_idx[e]) != sk_idx[e];
  EXPECT_EQ(differ, 0);
  // scikit-learn forms ‖x‖² − 2x·y + ‖y‖² (cancellation); ours sums squared differences.
  auto cmp = compare(our_dist, sk_dist, 1e-9, 1e-9, "kNN distances");
  EXPECT_TRUE(cmp.passed) << cmp.detail;
  // Backend equals Serial bitwise (ties broken by index, one query per work item).
  Kokkos::View<int**, Kokkos::HostSpace> idx_s("idx_s", N, k);
  Kokkos::View<double**, Kokkos::HostSpace> dist_s("dist_s", N, k);
  auto xs = to_view<Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace>>(X, N, D);
  metrics::knn_brute_force(Kokkos::Serial(), xs, idx_s, dist_s);
  EXPECT_TRUE(bitwise_equal(flatten(dist_s), our_dist));
  EXPECT_TRUE(bitwise_equal(flatten(idx_s), our_idx));
}

TEST(Neighbors, KnnBreaksTiesByIndexAndCanIncludeSelf) {
  // Points on a line at 0, 1, 2, 3, 4: from 2, the neighbours at distance 1 are 1 and 3.
  auto x = to_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(Vec{0, 1, 2, 3, 4}, 5, 1);
  Kokkos::View<int**, M> idx("idx", 5, 3);
  Kokkos::View<double**, M> dist("dist", 5, 3);
  metrics::knn_brute_force(Exec(), x, idx, dist, /*exclude_self=*/false);
  auto hi = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), idx);
  auto hd = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), dist);
  EXPECT_EQ(hi(2, 0), 2);
  EXPECT_EQ(hi(2, 1), 1);
  EXPECT_EQ(hi(2, 2), 3);
  EXPECT_EQ(hd(2, 0), 0.0);
  EXPECT_EQ(hd(2, 2), 1.0);
  EXPECT_EQ(hi(0, 2), 2);
}

TEST(Neighbors, LisiAndBatchEntropyOnKnownNeighbourhoods) {
  // Hand-made kNN rows over 8 cells with batches {0, 1, 0, 1, 2, 3, 0, 0}. Equidistant
  // neighbours get equal weights for every β, so LISI is exact: rows 0-2 have neighbour batches
  // {0,1,0,1} (LISI 2), {0,0,0,0} (LISI 1), {0,1,2,3} (LISI 4). Row 3 has two near neighbours
  // of batches 1 and 2 and two far ones of batch 0: perplexity 2 puts the weight on the near
  // pair, so LISI -> 2.
  const int N = 4, k = 4;
  const std::vector<int> idx_h = {0, 1, 2, 3, 0, 2, 6, 7, 0, 1, 4, 5, 1, 4, 0, 2};
  const std::vector<double> dist_h = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 5, 5};
  const std::vector<int> lab_h = {0, 1, 0, 1, 2, 3, 0, 0};
  auto idx = to_view<Kokkos::View<int**, M>>(idx_h, N, k);
  auto dist = to_view<Kokkos::View<double**, M>>(dist_h, N, k);
  auto lab = to_view<Kokkos::View<int*, M>>(lab_h, 8);
  Kokkos::View<double*, M> out("lisi", N);
  metrics::lisi(Exec(), idx, dist, lab, 4, out, /*perplexity=*/2.0);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out);
  EXPECT_NEAR(h(0), 2.0, 1e-14);
  EXPECT_NEAR(h(1), 1.0, 1e-14);
  EXPECT_NEAR(h(2), 4.0, 1e-13);
  EXPECT_NEAR(h(3), 2.0, 1e-3);
  EXPECT_GT(h(3), 2.0 - 1e-3);
  Kokkos::View<double*, M> ent("entropy", N);
  metrics::batch_mixing_entropy(Exec(), idx, lab, 4, ent);  // normalised by log 4
  auto he = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ent);
  EXPECT_NEAR(he(0), 0.5, 1e-15);
  EXPECT_NEAR(he(1), 0.0, 1e-15);
  EXPECT_NEAR(he(2), 1.0, 1e-15);
  EXPECT_NEAR(he(3), (-0.5 * std::log(0.5) - 2 * 0.25 * std::log(0.25)) / std::log(4.0), 1e-15);
}

TEST(Neighbors, LisiSeparatesMixedFromSegregatedBatches) {
  // Random points: batches assigned at random are well mixed (LISI near the number of batches);
  // batches assigned by position are segregated (LISI near 1). Default perplexity 30, k = 90.
  const int N = 600, D = 3, k = 90;
  const Vec X = random_vector(static_cast<std::size_t>(N) * D, 34, 0.0, 1.0);
  auto x = to_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(X, N, D);
  Kokkos::View<int**, M> idx("idx", N, k);
  Kokkos::View<double**, M> dist("dist", N, k);
  metrics::knn_brute_force(Exec(), x, idx, dist);
  std::vector<int> mixed(N), segregated(N);
  std::mt19937_64 gen(35);
  for (int i = 0; i < N; ++i) {
    mixed[i] = static_cast<int>(gen() % 3);
    segregated[i] = X[i * D] < 1.0 / 3 ? 0 : (X[i * D] < 2.0 / 3 ? 1 : 2);
  }
  auto mean_lisi = [&](const std::vector<int>& labels) {
    Kokkos::View<double*, M> out("lisi", N);
    metrics::lisi(Exec(), idx, dist, to_view<Kokkos::View<int*, M>>(labels, N), 3, out);
    const Vec v = flatten(out);
    double s = 0;
    for (double e : v) s += e;
    return s / N;
  };
  const double lm = mean_lisi(mixed), ls = mean_lisi(segregated);
  EXPECT_GT(lm, 2.6);
  EXPECT_LE(lm, 3.0);
  EXPECT_LT(ls, 1.5);
  EXPECT_GE(ls, 1.0);
}
