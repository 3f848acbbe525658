// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Neighbors.hpp
/// \brief Embedding-geometry metrics as Kokkos kernels: exact k nearest neighbours, LISI and
/// batch-mixing entropy on the kNN graph, and the silhouette score.
///
/// kNN is brute force, one work item per query scanning every point and keeping its k best in a
/// bounded max-heap stored in the query's own output row: memory O(N·k), never an N×N distance
/// matrix; time O(N²·D) (~1 s for 20k × 50 on two cores). Ties are broken by the smaller index,
/// so results are deterministic on every backend. An ArborX/BVH or IVF index is the planned
/// replacement for atlas-scale N (see the report).
///
/// LISI follows harmonypy's compute_simpson (the reference implementation of Korsunsky et al.,
/// Harmony 2019): per cell, Gaussian weights e^{−β d_j} over the k neighbour distances with β
/// bisected until the weights' entropy equals log(perplexity) (tolerance 1e-5, 50 steps), then
/// LISI = 1 / Σ_b (Σ_{j ∈ b} w_j)². Distances are shifted by their minimum before exponentiating
/// (identical weights and entropy, but no underflow to an all-zero row). Defaults follow
/// harmonypy: perplexity 30, k = 3·perplexity neighbours, the cell itself excluded.
///
/// Silhouette: scikit-learn's silhouette_score (Euclidean): a_i = mean distance to the other
/// members of its cluster, b_i = smallest mean distance to another cluster, s_i = (b − a)/max(a, b),
/// s_i = 0 for singleton clusters (and when a = b = 0); the score is the mean of s_i. O(N²·D) time,
/// O(N·C) memory.
#ifndef DIFFBIO_NEIGHBORS_HPP
#define DIFFBIO_NEIGHBORS_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Types.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace diffbio {
namespace metrics {

namespace Impl {
KOKKOS_INLINE_FUNCTION bool heap_less(double da, int ia, double db, int ib) {
  return da < db || (da == db && ia < ib);
}
/// Restores the max-heap property below position `pos` of a heap of `n` elements.
template <class IdxRow, class DistRow>
KOKKOS_INLINE_FUNCTION void sift_down(const IdxRow& idx, const DistRow& dist, int pos, int n) {
  for (;;) {
    const int l = 2 * pos + 1, r = l + 1;
    int big = pos;
    if (l < n && heap_less(dist(big), idx(big), dist(l), idx(l))) big = l;
    if (r < n && heap_less(dist(big), idx(big), dist(r), idx(r))) big = r;
    if (big == pos) return;
    const double td = dist(pos);
    const int ti = idx(pos);
    dist(pos) = dist(big);
    idx(pos) = idx(big);
    dist(big) = td;
    idx(big) = ti;
    pos = big;
  }
}
}  // namespace Impl

/// Exact k nearest neighbours (Euclidean) of every row of \p x [N×D] among the rows of \p x.
/// \param idx [N×k] int neighbour indices, nearest first (ties: smaller index first)
/// \param dist [N×k] double Euclidean distances
/// \param exclude_self a row is not its own neighbour (copies of it at other indices are)
/// Non-blocking.
template <class ExecSpace, class XView, class IdxView, class DistView>
void knn_brute_force(const ExecSpace& exec, const XView& x, const IdxView& idx,
                     const DistView& dist, bool exclude_self = true) {
  const int N = static_cast<int>(x.extent(0)), D = static_cast<int>(x.extent(1));
  const int k = static_cast<int>(idx.extent(1));
  DIFFBIO_EXPECTS(idx.extent(0) == x.extent(0) && dist.extent(0) == x.extent(0) &&
                      dist.extent(1) == idx.extent(1),
                  "knn_brute_force: idx and dist must be N x k");
  DIFFBIO_EXPECTS(k >= 1 && k <= N - (exclude_self ? 1 : 0),
                  "knn_brute_force: k must be in [1, N" + std::string(exclude_self ? " - 1" : "") + "]");
  Kokkos::parallel_for(
      label("knn_brute_force"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
      KOKKOS_LAMBDA(const int i) {
        auto hi = Kokkos::subview(idx, i, Kokkos::ALL);
        auto hd = Kokkos::subview(dist, i, Kokkos::ALL);
        int size = 0;
        for (int j = 0; j < N; ++j) {
          if (exclude_self && j == i) continue;
          const double bound = size == k ? static_cast<double>(hd(0)) : 0.0;
          double s = 0;
          bool pruned = false;
          for (int t = 0; t < D; ++t) {
            const double diff = static_cast<double>(x(i, t)) - static_cast<double>(x(j, t));
            s += diff * diff;
            // Partial sums only grow: stop once this point cannot enter the heap.
            if (size == k && (t & 7) == 7 && s > bound) {
              pruned = true;
              break;
            }
          }
          if (pruned) continue;
          if (size < k) {  // push and sift up
            int pos = size++;
            while (pos > 0) {
              const int parent = (pos - 1) / 2;
              if (!Impl::heap_less(static_cast<double>(hd(parent)), hi(parent), s, j)) break;
              hd(pos) = hd(parent);
              hi(pos) = hi(parent);
              pos = parent;
            }
            hd(pos) = s;
            hi(pos) = j;
          } else if (Impl::heap_less(s, j, static_cast<double>(hd(0)), hi(0))) {
            hd(0) = s;
            hi(0) = j;
            Impl::sift_down(hi, hd, 0, k);
          }
        }
        // Heap sort: ascending (distance, index).
        for (int end = k - 1; end > 0; --end) {
          const double td = hd(0);
          const int ti = hi(0);
          hd(0) = hd(end);
          hi(0) = hi(end);
          hd(end) = td;
          hi(end) = ti;
          Impl::sift_down(hi, hd, 0, end);
        }
        for (int t = 0; t < k; ++t) hd(t) = compat::sqrt(static_cast<double>(hd(t)));
      });
}

/// Per-cell LISI of \p labels (codes in [0, n_labels)) over a kNN graph (idx, dist as returned
/// by knn_brute_force, Euclidean). \p out [N]. Non-blocking.
template <class ExecSpace, class IdxView, class DistView, class LabelView, class OutView>
void lisi(const ExecSpace& exec, const IdxView& idx, const DistView& dist, const LabelView& labels,
          int n_labels, const OutView& out, double perplexity = 30.0) {
  const int N = static_cast<int>(idx.extent(0)), k = static_cast<int>(idx.extent(1));
  DIFFBIO_EXPECTS(n_labels >= 1 && perplexity > 0, "lisi: n_labels >= 1 and perplexity > 0");
  DIFFBIO_EXPECTS(out.extent(0) == idx.extent(0), "lisi: out must have one entry per cell");
  using mem = typename ExecSpace::memory_space;
  Kokkos::View<double**, mem> mass(Kokkos::view_alloc(label("lisi::mass"), exec), N, n_labels);
  const double logU = std::log(perplexity);
  Kokkos::parallel_for(
      label("lisi"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N), KOKKOS_LAMBDA(const int i) {
        double d0 = static_cast<double>(dist(i, 0));
        for (int j = 1; j < k; ++j)
          if (static_cast<double>(dist(i, j)) < d0) d0 = static_cast<double>(dist(i, j));
        // Entropy H(β) of the weights e^{−β (d_j − d0)} (harmonypy's Hbeta, shifted).
        auto entropy = [&](double beta, double& psum) {
          psum = 0;
          double pd = 0;
          for (int j = 0; j < k; ++j) {
            const double dj = static_cast<double>(dist(i, j)) - d0;
            const double p = compat::exp(-dj * beta);
            psum += p;
            pd += dj * p;
          }
          return compat::log(psum) + beta * pd / psum;
        };
        double beta = 1, betamin = -compat::infinity<double>(), betamax = compat::infinity<double>();
        double psum = 0;
        double hdiff = entropy(beta, psum) - logU;
        for (int t = 0; t < 50 && compat::fabs(hdiff) >= 1e-5; ++t) {
          if (hdiff > 0) {
            betamin = beta;
            beta = compat::isinf(betamax) ? beta * 2 : (beta + betamax) / 2;
          } else {
            betamax = beta;
            beta = compat::isinf(betamin) ? beta / 2 : (beta + betamin) / 2;
          }
          hdiff = entropy(beta, psum) - logU;
        }
        for (int b = 0; b < n_labels; ++b) mass(i, b) = 0;
        for (int j = 0; j < k; ++j) {
          const double p = compat::exp(-(static_cast<double>(dist(i, j)) - d0) * beta) / psum;
          mass(i, labels(idx(i, j))) += p;
        }
        double simpson = 0;
        for (int b = 0; b < n_labels; ++b) simpson += mass(i, b) * mass(i, b);
        out(i) = 1.0 / simpson;
      });
}

/// Per-cell batch-mixing entropy: −Σ_b f_b log f_b of the label frequencies f among the cell's
/// k neighbours, divided by log(n_labels) if \p normalize (1 = perfectly mixed over all labels).
/// \p out [N]. Non-blocking.
template <class ExecSpace, class IdxView, class LabelView, class OutView>
void batch_mixing_entropy(const ExecSpace& exec, const IdxView& idx, const LabelView& labels,
                          int n_labels, const OutView& out, bool normalize = true) {
  const int N = static_cast<int>(idx.extent(0)), k = static_cast<int>(idx.extent(1));
  DIFFBIO_EXPECTS(n_labels >= 1 && out.extent(0) == idx.extent(0),
                  "batch_mixing_entropy: n_labels >= 1 and one output per cell");
  using mem = typename ExecSpace::memory_space;
  Kokkos::View<int**, mem> counts(Kokkos::view_alloc(label("batch_entropy::counts"), exec), N,
                                  n_labels);
  const double norm = (normalize && n_labels > 1) ? 1.0 / std::log(static_cast<double>(n_labels)) : 1.0;
  Kokkos::parallel_for(
      label("batch_mixing_entropy"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
      KOKKOS_LAMBDA(const int i) {
        for (int j = 0; j < k; ++j) counts(i, labels(idx(i, j))) += 1;
        double h = 0;
        for (int b = 0; b < n_labels; ++b) {
          const int c = counts(i, b);
          if (c > 0) {
            const double f = static_cast<double>(c) / k;
            h -= f * compat::log(f);
          }
        }
        out(i) = h * norm;
      });
}

/// Per-sample silhouette values into \p samples [N] and their mean (scikit-learn's
/// silhouette_score, Euclidean). \p labels are codes in [0, n_labels) with at least 2 and at most
/// N − 1 distinct values present (scikit-learn's requirement). Blocking (returns the mean, summed
/// in row order on the host: deterministic).
template <class ExecSpace, class XView, class LabelView, class SampleView>
double silhouette(const ExecSpace& exec, const XView& x, const LabelView& labels, int n_labels,
                  const SampleView& samples) {
  const int N = static_cast<int>(x.extent(0)), D = static_cast<int>(x.extent(1));
  DIFFBIO_EXPECTS(labels.extent(0) == x.extent(0) && samples.extent(0) == x.extent(0),
                  "silhouette: one label and one output per row");
  using mem = typename ExecSpace::memory_space;
  Kokkos::View<int*, mem> size(Kokkos::view_alloc(label("silhouette::size"), exec), n_labels);
  auto h_labels = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), labels);
  auto h_size = Kokkos::create_mirror_view(Kokkos::HostSpace(), size);
  for (int c = 0; c < n_labels; ++c) h_size(c) = 0;
  for (int i = 0; i < N; ++i) {
    DIFFBIO_EXPECTS(h_labels(i) >= 0 && h_labels(i) < n_labels, "silhouette: label out of range");
    ++h_size(h_labels(i));
  }
  int present = 0;
  for (int c = 0; c < n_labels; ++c) present += h_size(c) > 0;
  DIFFBIO_EXPECTS(present >= 2 && present <= N - 1,
                  "silhouette: needs 2 <= number of labels <= N - 1 (scikit-learn's rule)");
  Kokkos::deep_copy(size, h_size);
  Kokkos::View<double**, mem> sums(Kokkos::view_alloc(label("silhouette::sums"), exec), N, n_labels);
  Kokkos::parallel_for(
      label("silhouette"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N), KOKKOS_LAMBDA(const int i) {
        for (int j = 0; j < N; ++j) {
          double s = 0;
          for (int t = 0; t < D; ++t) {
            const double diff = static_cast<double>(x(i, t)) - static_cast<double>(x(j, t));
            s += diff * diff;
          }
          sums(i, labels(j)) += compat::sqrt(s);
        }
        const int li = labels(i);
        const int ni = size(li);
        if (ni <= 1) {
          samples(i) = 0;
          return;
        }
        const double a = sums(i, li) / (ni - 1);
        double b = compat::infinity<double>();
        for (int c = 0; c < n_labels; ++c)
          if (c != li && size(c) > 0) {
            const double m = sums(i, c) / size(c);
            if (m < b) b = m;
          }
        const double den = a > b ? a : b;
        samples(i) = den > 0 ? (b - a) / den : 0.0;
      });
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), samples);
  double total = 0;
  for (int i = 0; i < N; ++i) total += static_cast<double>(h(i));
  return total / N;
}

}  // namespace metrics
}  // namespace diffbio

#endif
