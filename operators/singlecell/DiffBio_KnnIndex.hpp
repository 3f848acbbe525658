// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_KnnIndex.hpp
/// \brief k nearest neighbours without all pairs: an inverted-file (IVF) index.
///
/// build(): Lloyd k-means (SoftKMeansClustering, hard mode) on a sample of the points gives
/// L ≈ √N coarse centroids; every point is filed under its nearest centroid, and the points are
/// copied in list order (each list is contiguous in memory). search(): per query, the n_probe
/// nearest centroids are found (a bounded heap over L distances), then only the points of those
/// lists are scanned with a bounded max-heap of the k best, nearest lists first so the heap bound
/// prunes partial distance sums early. Cost per query O(L·D + n_probe·(N/L)·D) instead of O(N·D).
///
/// Lists that provably hold no point nearer than the current k-th neighbour (the query is farther
/// than that from the hyperplane bisecting its nearest centroid and the list's centroid) are
/// skipped without scanning, so probing many lists stays cheap.
///
/// Approximate: a true neighbour filed in a list that was not probed is missed. On clustered data
/// (cell embeddings) the default n_probe finds ≥ 95 % of the exact neighbours (tested against
/// scikit-learn's NearestNeighbors); n_probe = n_lists (or `exact = true`) scans every list and
/// returns exactly knn_brute_force's result. If the probed lists hold fewer than k candidates the
/// query falls back to a scan of all points, so every output row is always complete.
///
/// Determinism: the index is a function of the points and the seed only (sampling by the Philox
/// counter RNG, Lloyd with fixed-order sums, list order = point order); neighbours are ordered by
/// (distance, index) — a total order — so the result does not depend on the scan order, the
/// thread count or the backend. Distances are summed in double in a fixed order (blocks of 8
/// coordinates, so the last bits may differ from knn_brute_force's sequential sum).
///
/// Memory: the sorted copy of the points (N·D), the lists (N + L + 1 ints), the Lloyd sample's
/// assignment matrix (sample·L, sample ≤ 64·L) and a probe scratch of Nq·n_probe per search.
#ifndef DIFFBIO_KNN_INDEX_HPP
#define DIFFBIO_KNN_INDEX_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Neighbors.hpp>
#include <DiffBio_Random.hpp>
#include <DiffBio_SoftKMeans.hpp>
#include <DiffBio_Types.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

struct KnnIndexConfig {
  int n_lists = 0;           ///< L coarse cells; 0: round(√N) (1 for N < exact_below)
  int n_probe = 0;           ///< lists scanned per query; 0: max(8, ⌈L/6⌉)
  int kmeans_iter = 20;      ///< Lloyd iterations on the sample (at most)
  int sample_per_list = 64;  ///< training sample size = min(N, sample_per_list·L)
  int exact_below = 2048;    ///< N below this: one list, i.e. exact brute force
  bool exact = false;        ///< scan every list (exact kNN at any N)
  std::uint64_t seed = 0x5eedULL;
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class KnnIndex {
 public:
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using matrix_view = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using const_matrix_view = Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space>;

  explicit KnnIndex(KnnIndexConfig cfg = {}) : cfg_(cfg) {}

  const KnnIndexConfig& config() const { return cfg_; }
  int size() const { return n_; }
  int dim() const { return d_; }
  int n_lists() const { return n_lists_; }
  /// The n_probe search() uses (after build()).
  int n_probe() const {
    if (cfg_.exact) return n_lists_;
    const int p = cfg_.n_probe > 0 ? cfg_.n_probe : std::max(8, (n_lists_ + 5) / 6);
    return p < n_lists_ ? p : n_lists_;
  }

  /// Builds the index over the rows of \p x [N×D]. Blocking.
  void build(const ExecSpace& exec, const const_matrix_view& x) {
    n_ = static_cast<int>(x.extent(0));
    d_ = static_cast<int>(x.extent(1));
    DIFFBIO_EXPECTS(d_ >= 1, "KnnIndex: points need at least one coordinate");
    const int N = n_, D = d_;
    int L = cfg_.n_lists > 0 ? cfg_.n_lists
                             : (N < cfg_.exact_below ? 1 : static_cast<int>(std::lround(std::sqrt(double(N)))));
    L = std::max(1, std::min(L, std::max(N, 1)));
    n_lists_ = L;
    centroids_ = matrix_view(Kokkos::view_alloc(label("KnnIndex::centroids"), exec), L, D);
    list_ptr_ = Kokkos::View<int*, memory_space>(Kokkos::view_alloc(label("KnnIndex::list_ptr"), exec), L + 1);
    ids_ = Kokkos::View<int*, memory_space>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label("KnnIndex::ids"), exec), N);
    points_ = matrix_view(Kokkos::view_alloc(Kokkos::WithoutInitializing, label("KnnIndex::points"), exec),
                          N, D);
    if (N == 0) return;
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), x);
    std::vector<int> list_of(static_cast<std::size_t>(N), 0);
    if (L > 1) {
      // Training sample: a Philox-shuffled prefix of the rows (partial Fisher–Yates).
      const long long want = static_cast<long long>(cfg_.sample_per_list) * L;
      const int S = static_cast<int>(std::max<long long>(L, std::min<long long>(N, want)));
      std::vector<int> perm(static_cast<std::size_t>(N));
      for (int i = 0; i < N; ++i) perm[i] = i;
      const CounterRng rng(cfg_.seed, 0x6b6e6e);
      for (int i = 0; i < S; ++i) {
        const int j = i + static_cast<int>(rng.uniform(static_cast<std::uint64_t>(i)) * (N - i));
        std::swap(perm[i], perm[j < N ? j : N - 1]);
      }
      SoftKMeansConfig kc;
      kc.n_clusters = L;
      kc.n_features = D;
      kc.hard = true;
      SoftKMeansClustering<Scalar, ExecSpace> km(kc);
      matrix_view sample(Kokkos::view_alloc(Kokkos::WithoutInitializing, label("KnnIndex::sample"), exec), S, D);
      auto hs = Kokkos::create_mirror_view(Kokkos::HostSpace(), sample);
      for (int i = 0; i < S; ++i)
        for (int j = 0; j < D; ++j) hs(i, j) = hx(perm[i], j);
      Kokkos::deep_copy(exec, sample, hs);
      // Initial centroids: the first L sample rows (distinct rows of a random permutation).
      Kokkos::View<Scalar*, memory_space> params(Kokkos::view_alloc(label("KnnIndex::kmeans_params"), exec),
                                                 static_cast<std::size_t>(km.n_params()));
      auto hp = Kokkos::create_mirror_view(Kokkos::HostSpace(), params);
      for (int k = 0; k < L; ++k)
        for (int j = 0; j < D; ++j) hp(k * D + j) = hs(k, j);
      hp(L * D) = Scalar(0);
      Kokkos::deep_copy(exec, params, hp);
      typename SoftKMeansClustering<Scalar, ExecSpace>::Inputs kin{sample, {}};
      auto kout = km.allocate_outputs(kin, true, exec);
      auto kws = km.allocate_workspace(kin);
      km.lloyd(exec, params, kin, kout, kws, cfg_.kmeans_iter);
      auto cen = centroids_;
      Kokkos::parallel_for(
          label("KnnIndex::copy_centroids"), Kokkos::RangePolicy<ExecSpace>(exec, 0, L * D),
          KOKKOS_LAMBDA(const int c) { cen(c / D, c % D) = params(c); });
      // File every point under its nearest centroid (ties: the smaller list).
      Kokkos::View<int*, memory_space> nearest(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("KnnIndex::nearest"), exec), N);
      Kokkos::parallel_for(
          label("KnnIndex::assign"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
          KOKKOS_LAMBDA(const int i) {
            double best = 0;
            int arg = 0;
            for (int k = 0; k < L; ++k) {
              double s = 0;
              for (int j = 0; j < D; ++j) {
                const double t = static_cast<double>(x(i, j)) - static_cast<double>(cen(k, j));
                s += t * t;
              }
              if (k == 0 || s < best) {
                best = s;
                arg = k;
              }
            }
            nearest(i) = arg;
          });
      auto hn = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), nearest);
      for (int i = 0; i < N; ++i) list_of[i] = hn(i);
    }
    // Counting sort of the points by list (stable: ascending point index inside a list).
    auto hptr = Kokkos::create_mirror_view(Kokkos::HostSpace(), list_ptr_);
    for (int k = 0; k <= L; ++k) hptr(k) = 0;
    for (int i = 0; i < N; ++i) ++hptr(list_of[i] + 1);
    for (int k = 0; k < L; ++k) hptr(k + 1) += hptr(k);
    auto hids = Kokkos::create_mirror_view(Kokkos::HostSpace(), ids_);
    auto hpts = Kokkos::create_mirror_view(Kokkos::HostSpace(), points_);
    std::vector<int> next(hptr.data(), hptr.data() + L);
    for (int i = 0; i < N; ++i) {
      const int pos = next[list_of[i]]++;
      hids(pos) = i;
      for (int j = 0; j < D; ++j) hpts(pos, j) = hx(i, j);
    }
    if (L == 1) {  // centroid unused (every query probes the one list), kept finite
      auto hc = Kokkos::create_mirror_view(Kokkos::HostSpace(), centroids_);
      for (int j = 0; j < D; ++j) hc(0, j) = Scalar(0);
      Kokkos::deep_copy(exec, centroids_, hc);
    }
    Kokkos::deep_copy(exec, list_ptr_, hptr);
    Kokkos::deep_copy(exec, ids_, hids);
    Kokkos::deep_copy(exec, points_, hpts);
    exec.fence();
  }

  /// The k nearest indexed points of every row of \p queries [Nq×D] (k = idx.extent(1)).
  /// \param idx [Nq×k] int: point indices, nearest first (ties: smaller index first)
  /// \param dist [Nq×k] Euclidean distances (any floating type)
  /// \param exclude_self query row i is indexed point i and is not its own neighbour (queries
  ///        may be a prefix of the indexed points, e.g. the real cells before simulated doublets)
  /// Non-blocking.
  template <class QueryView, class IdxView, class DistView>
  void search(const ExecSpace& exec, const QueryView& queries, const IdxView& idx,
              const DistView& dist, bool exclude_self = true) const {
    const int Nq = static_cast<int>(queries.extent(0)), D = d_, N = n_, L = n_lists_;
    const int k = static_cast<int>(idx.extent(1));
    DIFFBIO_EXPECTS(static_cast<int>(queries.extent(1)) == D || Nq == 0,
                    "KnnIndex::search: queries must have the indexed dimension");
    DIFFBIO_EXPECTS(idx.extent(0) == queries.extent(0) && dist.extent(0) == queries.extent(0) &&
                        dist.extent(1) == idx.extent(1),
                    "KnnIndex::search: idx and dist must be Nq x k");
    DIFFBIO_EXPECTS(!exclude_self || Nq <= N, "KnnIndex::search: exclude_self needs Nq <= N");
    DIFFBIO_EXPECTS(k >= 1 && k <= N - (exclude_self ? 1 : 0),
                    "KnnIndex::search: k must be in [1, N" + std::string(exclude_self ? " - 1" : "") + "]");
    if (Nq == 0) return;
    const int P = n_probe();
    Kokkos::View<int**, memory_space> probe_id(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label("KnnIndex::probe_id"), exec), Nq, P);
    Kokkos::View<double**, memory_space> probe_d(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label("KnnIndex::probe_d"), exec), Nq, P);
    Kokkos::View<double**, memory_space> heap_d(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label("KnnIndex::heap_d"), exec), Nq, k);
    auto cen = centroids_;
    auto ptr = list_ptr_;
    auto ids = ids_;
    auto pts = points_;
    using namespace metrics::Impl;
    Kokkos::parallel_for(
        label("KnnIndex::search"),
        Kokkos::RangePolicy<ExecSpace, Kokkos::Schedule<Kokkos::Dynamic>>(exec, 0, Nq),
        KOKKOS_LAMBDA(const int q) {
          auto pi = Kokkos::subview(probe_id, q, Kokkos::ALL);
          auto pd = Kokkos::subview(probe_d, q, Kokkos::ALL);
          auto hi = Kokkos::subview(idx, q, Kokkos::ALL);
          auto hd = Kokkos::subview(heap_d, q, Kokkos::ALL);
          // 1. The P nearest centroids (max-heap on (distance, list)), then ascending order.
          int np = 0;
          for (int l = 0; l < L; ++l) {
            double s = 0;
            for (int j = 0; j < D; ++j) {
              const double t = static_cast<double>(queries(q, j)) - static_cast<double>(cen(l, j));
              s += t * t;
            }
            heap_offer(pi, pd, np, P, s, l);
          }
          heap_sort(pi, pd, np);
          // 2. Scan the probed lists with the bounded heap of the k best points. Every point of
          //    list l is nearer to c_l than to the query's nearest centroid c_1, so it lies beyond
          //    their bisecting hyperplane, at distance ≥ h_l = (‖q−c_l‖² − ‖q−c_1‖²)/(2‖c_l−c_1‖)
          //    from q: once the heap is full and h_l² exceeds its bound, list l cannot contribute
          //    and is skipped (exact pruning, no effect on the result).
          int size = 0;
          const int l1 = np > 0 ? pi(0) : 0;
          const double d1 = np > 0 ? static_cast<double>(pd(0)) : 0.0;
          for (int p = 0; p < np; ++p) {
            const int l = pi(p);
            if (p > 0 && size == k) {
              double cc = 0;
              for (int j = 0; j < D; ++j) {
                const double t = static_cast<double>(cen(l, j)) - static_cast<double>(cen(l1, j));
                cc += t * t;
              }
              const double gap = static_cast<double>(pd(p)) - d1;
              // h² > bound  ⇔  gap² > 4·cc·bound (gap ≥ 0); a relative margin covers rounding.
              if (gap > 0 && gap * gap > 4.0 * cc * static_cast<double>(hd(0)) * (1.0 + 1e-9)) continue;
            }
            scan_range(queries, q, pts, ids, ptr(l), ptr(l + 1), D, exclude_self, hi, hd, size, k);
          }
          if (size < k) {  // too few candidates: scan everything (exact)
            size = 0;
            scan_range(queries, q, pts, ids, 0, N, D, exclude_self, hi, hd, size, k);
          }
          heap_sort(hi, hd, k);
          for (int t = 0; t < k; ++t) dist(q, t) = compat::sqrt(hd(t));
        });
  }

  // ---- implementation (public only because CUDA forbids extended lambdas in private members)

  /// Offers (s, id) to a bounded max-heap of capacity cap holding `size` entries.
  template <class IdRow, class DRow>
  KOKKOS_INLINE_FUNCTION static void heap_offer(const IdRow& hi, const DRow& hd, int& size, int cap,
                                                double s, int id) {
    using metrics::Impl::heap_less;
    if (size < cap) {
      int pos = size++;
      while (pos > 0) {
        const int parent = (pos - 1) / 2;
        if (!heap_less(static_cast<double>(hd(parent)), hi(parent), s, id)) break;
        hd(pos) = hd(parent);
        hi(pos) = hi(parent);
        pos = parent;
      }
      hd(pos) = s;
      hi(pos) = id;
    } else if (heap_less(s, id, static_cast<double>(hd(0)), hi(0))) {
      hd(0) = s;
      hi(0) = id;
      metrics::Impl::sift_down(hi, hd, 0, cap);
    }
  }

  /// In-place heap sort of a max-heap of n entries into ascending (distance, id).
  template <class IdRow, class DRow>
  KOKKOS_INLINE_FUNCTION static void heap_sort(const IdRow& hi, const DRow& hd, int n) {
    for (int end = n - 1; end > 0; --end) {
      const double td = hd(0);
      const int ti = hi(0);
      hd(0) = hd(end);
      hi(0) = hi(end);
      hd(end) = td;
      hi(end) = ti;
      metrics::Impl::sift_down(hi, hd, 0, end);
    }
  }

  /// Offers the sorted points [b, e) to the heap; partial sums stop once they exceed the bound.
  template <class QView, class PView, class IdsView, class IdRow, class DRow>
  KOKKOS_INLINE_FUNCTION static void scan_range(const QView& queries, int q, const PView& pts,
                                                const IdsView& ids, int b, int e, int D,
                                                bool exclude_self, const IdRow& hi, const DRow& hd,
                                                int& size, int k) {
    for (int r = b; r < e; ++r) {
      const int id = ids(r);
      if (exclude_self && id == q) continue;
      const bool full = size == k;
      const double bound = full ? static_cast<double>(hd(0)) : 0.0;
      // Blocks of 8 coordinates into 4 independent partial sums (no single add chain, and the
      // compiler can pair them), the bound checked after each block: partial sums only grow.
      double s = 0;
      bool pruned = false;
      int j = 0;
      for (; j + 8 <= D; j += 8) {
        double a[4] = {0, 0, 0, 0};
        for (int u = 0; u < 8; ++u) {
          const double t = static_cast<double>(queries(q, j + u)) - static_cast<double>(pts(r, j + u));
          a[u & 3] += t * t;
        }
        s += (a[0] + a[1]) + (a[2] + a[3]);
        if (full && s > bound) {
          pruned = true;
          break;
        }
      }
      if (pruned) continue;
      for (; j < D; ++j) {
        const double t = static_cast<double>(queries(q, j)) - static_cast<double>(pts(r, j));
        s += t * t;
      }
      heap_offer(hi, hd, size, k, s, id);
    }
  }

 private:
  KnnIndexConfig cfg_;
  int n_ = 0, d_ = 0, n_lists_ = 0;
  matrix_view centroids_;
  Kokkos::View<int*, memory_space> list_ptr_;
  Kokkos::View<int*, memory_space> ids_;
  matrix_view points_;
};

/// Convenience: the k nearest neighbours of the first \p n_queries rows of \p x among all rows
/// of \p x (self excluded), through a KnnIndex. idx/dist are allocated [n_queries×k]. Blocking.
template <class Scalar, class ExecSpace>
void knn_search(const ExecSpace& exec,
                const Kokkos::View<const Scalar**, Kokkos::LayoutRight, typename ExecSpace::memory_space>& x,
                int n_queries, int k, Kokkos::View<int**, typename ExecSpace::memory_space>& idx,
                Kokkos::View<double**, typename ExecSpace::memory_space>& dist,
                const KnnIndexConfig& cfg = {}) {
  KnnIndex<Scalar, ExecSpace> index(cfg);
  index.build(exec, x);
  using mem = typename ExecSpace::memory_space;
  idx = Kokkos::View<int**, mem>(Kokkos::view_alloc(label("knn_search::idx"), exec), n_queries, k);
  dist = Kokkos::View<double**, mem>(Kokkos::view_alloc(label("knn_search::dist"), exec), n_queries, k);
  auto q = Kokkos::subview(x, Kokkos::make_pair(0, n_queries), Kokkos::ALL);
  index.search(exec, q, idx, dist, true);
  exec.fence();
}

}  // namespace diffbio

#endif
