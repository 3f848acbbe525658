// SPDX-License-Identifier: BSD-3-Clause
// KnnIndex (IVF) on the backend this binary is compiled for: exact mode equals the brute-force
// kNN, the default n_probe reaches recall >= 0.95 against scikit-learn's exact NearestNeighbors on
// clustered 30-dimensional data, short lists fall back to a full scan, and the result is bitwise
// the same as on Serial.
#include <DiffBio_KnnIndex.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_Neighbors.hpp>
#include <DiffBio_TestBackend.hpp>
#include <DiffBio_TestViews.hpp>

#include "DiffBio_QcPeer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <set>

using namespace diffbio;
using namespace diffbio::test;

namespace {

using Exec = TEST_EXECSPACE;
using M = Exec::memory_space;
using Mat = Kokkos::View<double**, Kokkos::LayoutRight, M>;

/// Points around n_centres Gaussian centres with per-cluster spreads (like cell embeddings).
std::vector<double> clustered(int N, int D, int n_centres, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> nd(0, 1);
  std::uniform_real_distribution<double> u(0.5, 1.5);
  std::vector<double> centres(static_cast<std::size_t>(n_centres) * D), spread(n_centres);
  for (auto& c : centres) c = 4 * nd(gen);
  for (auto& s : spread) s = u(gen);
  std::vector<double> x(static_cast<std::size_t>(N) * D);
  for (int i = 0; i < N; ++i) {
    const int c = static_cast<int>(gen() % n_centres);
    for (int j = 0; j < D; ++j) x[i * D + j] = centres[c * D + j] + spread[c] * nd(gen);
  }
  return x;
}

template <class E>
std::pair<std::vector<int>, std::vector<double>> search(const std::vector<double>& x, int N, int D,
                                                        int k, const KnnIndexConfig& cfg, int nq = -1) {
  using Mem = typename E::memory_space;
  auto v = to_view<Kokkos::View<double**, Kokkos::LayoutRight, Mem>>(x, N, D);
  KnnIndex<double, E> index(cfg);
  index.build(E(), v);
  nq = nq < 0 ? N : nq;
  Kokkos::View<int**, Mem> idx("idx", nq, k);
  Kokkos::View<double**, Mem> dist("dist", nq, k);
  index.search(E(), Kokkos::subview(v, Kokkos::make_pair(0, nq), Kokkos::ALL), idx, dist, true);
  E().fence();
  auto fi = flatten(idx);
  return {std::vector<int>(fi.begin(), fi.end()), flatten(dist)};
}

}  // namespace

TEST(KnnIndex, ExactModeEqualsBruteForce) {
  const int N = 3000, D = 8, k = 10;
  const auto x = clustered(N, D, 12, 3);
  KnnIndexConfig cfg;
  cfg.exact = true;
  cfg.n_lists = 40;  // several lists, all probed
  const auto [idx, dist] = search<Exec>(x, N, D, k, cfg);
  auto v = to_view<Mat>(x, N, D);
  Kokkos::View<int**, M> bi("bi", N, k);
  Kokkos::View<double**, M> bd("bd", N, k);
  metrics::knn_brute_force(Exec(), v, bi, bd, true);
  const auto fbi = flatten(bi);
  EXPECT_EQ(idx, std::vector<int>(fbi.begin(), fbi.end()));
  auto dc = compare(dist, flatten(bd), 1e-14, 1e-14, "distances vs brute force");
  EXPECT_TRUE(dc.passed) << dc.detail;
}

TEST(KnnIndex, DefaultProbeRecallAgainstScikitLearn) {
  DIFFBIO_REQUIRE_PEER("sklearn");
  const int N = 10000, D = 30, k = 15;
  const auto x = clustered(N, D, 25, 4);
  const auto [idx, dist] = search<Exec>(x, N, D, k, KnnIndexConfig{});
  const std::string in = qc_scratch("knn_in.bin"), out = qc_scratch("knn_out.txt");
  write_matrix_bin(in, x);
  ASSERT_EQ(run_qc_peer("knn '" + in + "' " + std::to_string(N) + " " + std::to_string(D) + " " +
                        std::to_string(k) + " '" + out + "'"),
            0);
  const auto lines = read_lines(out);
  ASSERT_EQ(static_cast<int>(lines.size()), N);
  long hit = 0;
  for (int i = 0; i < N; ++i) {
    const auto ref = parse<int>(lines[i]);
    ASSERT_EQ(static_cast<int>(ref.size()), k);
    const std::set<int> truth(ref.begin(), ref.end());
    for (int j = 0; j < k; ++j) hit += truth.count(idx[i * k + j]);
  }
  const double recall = static_cast<double>(hit) / (static_cast<double>(N) * k);
  std::printf("[ KnnIndex ] N=%d D=%d k=%d lists=%d n_probe=%d recall vs sklearn = %.4f\n", N, D, k,
              static_cast<int>(std::lround(std::sqrt(double(N)))),
              std::max(8, (static_cast<int>(std::lround(std::sqrt(double(N)))) + 5) / 6), recall);
  EXPECT_GE(recall, 0.95);
  std::filesystem::remove(in);
  std::filesystem::remove(out);
}

TEST(KnnIndex, ShortListsFallBackToAFullScan) {
  // 200 lists for 300 points and one probe: most probed lists hold fewer than k points.
  const int N = 300, D = 4, k = 12;
  const auto x = clustered(N, D, 5, 5);
  KnnIndexConfig cfg;
  cfg.n_lists = 200;
  cfg.n_probe = 1;
  const auto [idx, dist] = search<Exec>(x, N, D, k, cfg);
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < k; ++j) {
      ASSERT_GE(idx[i * k + j], 0);
      ASSERT_NE(idx[i * k + j], i);
      if (j > 0) {
        EXPECT_LE(dist[i * k + j - 1], dist[i * k + j]);
      }
    }
}

TEST(KnnIndex, PrefixQueriesAndSerialEquality) {
  const int N = 5000, D = 6, k = 7, nq = 1234;
  const auto x = clustered(N, D, 9, 6);
  KnnIndexConfig cfg;  // IVF (N > exact_below)
  const auto here = search<Exec>(x, N, D, k, cfg, nq);
  const auto serial = search<Kokkos::Serial>(x, N, D, k, cfg, nq);
  EXPECT_EQ(here.first, serial.first);
  EXPECT_TRUE(bitwise_equal(here.second, serial.second));
  // Distances are the Euclidean distances to the returned points.
  for (int i = 0; i < nq; i += 97)
    for (int j = 0; j < k; ++j) {
      const int n = here.first[i * k + j];
      double s = 0;
      for (int c = 0; c < D; ++c) s += (x[i * D + c] - x[n * D + c]) * (x[i * D + c] - x[n * D + c]);
      EXPECT_NEAR(here.second[i * k + j], std::sqrt(s), 1e-12);
    }
}

TEST(KnnIndex, RejectsBadShapes) {
  const auto x = clustered(20, 3, 2, 7);
  auto v = to_view<Mat>(x, 20, 3);
  KnnIndex<double, Exec> index;
  index.build(Exec(), v);
  Kokkos::View<int**, M> idx("idx", 20, 20);
  Kokkos::View<double**, M> dist("dist", 20, 20);
  EXPECT_THROW(index.search(Exec(), v, idx, dist, true), Error);  // k > N − 1
}
