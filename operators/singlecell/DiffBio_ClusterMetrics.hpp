// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_ClusterMetrics.hpp
/// \brief Partition agreement metrics on the host: adjusted Rand index and normalised mutual
/// information, for hard labels (equal to scikit-learn's adjusted_rand_score and
/// normalized_mutual_info_score, same special cases) and for soft assignments.
///
/// Hard labels are arbitrary integers (only equality matters). The contingency table is built
/// by sorting (O(N log N), memory O(#non-empty cells)), never as a dense classes × clusters array.
///
/// Soft versions replace the contingency counts by n_ab = Σ_i [label_i = a] · P_ib for an N×K
/// assignment matrix P (rows summing to 1; all-zero rows, e.g. masked cells, count for nothing)
/// and evaluate the same formulas on real counts (pairs: n(n−1)/2). For one-hot P they equal the
/// hard metrics; they are smooth in P. Geometry-based metrics (silhouette, LISI, kNN) are Kokkos
/// kernels in DiffBio_Neighbors.hpp.
#ifndef DIFFBIO_CLUSTER_METRICS_HPP
#define DIFFBIO_CLUSTER_METRICS_HPP

#include <DiffBio_Error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace diffbio {
namespace metrics {

/// Labels re-coded to 0..n−1 in order of first sorted value; returns the number of classes.
template <class Label>
int encode_labels(const std::vector<Label>& labels, std::vector<int>& codes) {
  std::vector<Label> u(labels);
  std::sort(u.begin(), u.end());
  u.erase(std::unique(u.begin(), u.end()), u.end());
  codes.resize(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i)
    codes[i] = static_cast<int>(std::lower_bound(u.begin(), u.end(), labels[i]) - u.begin());
  return static_cast<int>(u.size());
}

/// Sparse contingency table of two labelings: the non-zero cells (a, b, count), row and column
/// sums.
struct Contingency {
  std::vector<std::int64_t> cells;  ///< non-zero counts
  std::vector<int> cell_a, cell_b;  ///< their row (class) and column (cluster) codes
  std::vector<std::int64_t> a_sum, b_sum;
  std::int64_t n = 0;
};

template <class LA, class LB>
Contingency contingency(const std::vector<LA>& a, const std::vector<LB>& b) {
  DIFFBIO_EXPECTS(a.size() == b.size(), "contingency: labelings of different lengths");
  std::vector<int> ca, cb;
  Contingency c;
  c.a_sum.assign(static_cast<std::size_t>(encode_labels(a, ca)), 0);
  c.b_sum.assign(static_cast<std::size_t>(encode_labels(b, cb)), 0);
  c.n = static_cast<std::int64_t>(a.size());
  std::vector<std::pair<int, int>> pairs(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    pairs[i] = {ca[i], cb[i]};
    ++c.a_sum[static_cast<std::size_t>(ca[i])];
    ++c.b_sum[static_cast<std::size_t>(cb[i])];
  }
  std::sort(pairs.begin(), pairs.end());
  for (std::size_t i = 0; i < pairs.size();) {
    std::size_t j = i;
    while (j < pairs.size() && pairs[j] == pairs[i]) ++j;
    c.cells.push_back(static_cast<std::int64_t>(j - i));
    c.cell_a.push_back(pairs[i].first);
    c.cell_b.push_back(pairs[i].second);
    i = j;
  }
  return c;
}

/// Adjusted Rand index (Hubert & Arabie), scikit-learn's adjusted_rand_score: the pair
/// confusion matrix in exact 128-bit integers, then 2(tp·tn − fn·fp) / ((tp+fn)(fn+tn) +
/// (tp+fp)(fp+tn)) with both operands rounded to double once, as Python does; 1.0 when fn = fp = 0
/// (identical partitions, N ≤ 1).
template <class LA, class LB>
double adjusted_rand_index(const std::vector<LA>& truth, const std::vector<LB>& pred) {
  const Contingency c = contingency(truth, pred);
  using I = __int128;
  I sum_sq = 0, sum_a2 = 0, sum_b2 = 0;
  for (std::int64_t v : c.cells) sum_sq += I(v) * v;
  for (std::int64_t v : c.a_sum) sum_a2 += I(v) * v;
  for (std::int64_t v : c.b_sum) sum_b2 += I(v) * v;
  const I n = c.n;
  const I tp = sum_sq - n;
  const I fp = sum_b2 - sum_sq;  // C[0,1]: pairs together in pred only
  const I fn = sum_a2 - sum_sq;  // C[1,0]: pairs together in truth only
  const I tn = n * n - fp - fn - sum_sq;
  if (fn == 0 && fp == 0) return 1.0;
  const I num = tp * tn - fn * fp;
  const I den = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn);
  return 2.0 * static_cast<double>(num) / static_cast<double>(den);
}

namespace Impl {
/// Entropy of class counts (natural log), scikit-learn's formula Σ −(c/N)(log c − log N).
inline double entropy_of_counts(const std::vector<double>& counts) {
  std::vector<double> pi;
  for (double v : counts)
    if (v > 0) pi.push_back(v);
  if (pi.size() <= 1) return 0.0;
  double total = 0;
  for (double v : pi) total += v;
  double h = 0;
  for (double v : pi) h -= (v / total) * (std::log(v) - std::log(total));
  return h;
}

/// Mutual information from a (possibly real-valued) contingency table, scikit-learn's formula
/// including its zeroing of terms below machine epsilon and the clip at 0.
inline double mutual_info_from(const std::vector<double>& cells, const std::vector<int>& ca,
                               const std::vector<int>& cb, const std::vector<double>& a_sum,
                               const std::vector<double>& b_sum) {
  std::size_t na = 0, nb = 0;
  for (double v : a_sum) na += v > 0;
  for (double v : b_sum) nb += v > 0;
  if (na <= 1 || nb <= 1) return 0.0;
  double total = 0, sa = 0, sb = 0;
  for (double v : cells) total += v;
  for (double v : a_sum) sa += v;
  for (double v : b_sum) sb += v;
  double mi = 0;
  for (std::size_t e = 0; e < cells.size(); ++e) {
    if (!(cells[e] > 0)) continue;
    const double nm = cells[e] / total;
    const double outer = a_sum[static_cast<std::size_t>(ca[e])] * b_sum[static_cast<std::size_t>(cb[e])];
    const double log_outer = -std::log(outer) + std::log(sa) + std::log(sb);
    double term = nm * (std::log(cells[e]) - std::log(total)) + nm * log_outer;
    if (std::fabs(term) < std::numeric_limits<double>::epsilon()) term = 0.0;
    mi += term;
  }
  return mi < 0 ? 0.0 : mi;
}

inline double nmi_from(const std::vector<double>& cells, const std::vector<int>& ca,
                       const std::vector<int>& cb, const std::vector<double>& a_sum,
                       const std::vector<double>& b_sum) {
  std::size_t na = 0, nb = 0;
  for (double v : a_sum) na += v > 0;
  for (double v : b_sum) nb += v > 0;
  if ((na == 1 && nb == 1) || (na == 0 && nb == 0)) return 1.0;  // neither labeling splits
  const double mi = mutual_info_from(cells, ca, cb, a_sum, b_sum);
  if (mi == 0) return 0.0;
  const double normalizer = 0.5 * (entropy_of_counts(a_sum) + entropy_of_counts(b_sum));
  return mi / normalizer;
}

inline double comb2(double x) { return 0.5 * x * (x - 1.0); }
}  // namespace Impl

/// Mutual information (natural log), scikit-learn's mutual_info_score.
template <class LA, class LB>
double mutual_info(const std::vector<LA>& truth, const std::vector<LB>& pred) {
  const Contingency c = contingency(truth, pred);
  return Impl::mutual_info_from(std::vector<double>(c.cells.begin(), c.cells.end()), c.cell_a,
                                c.cell_b, std::vector<double>(c.a_sum.begin(), c.a_sum.end()),
                                std::vector<double>(c.b_sum.begin(), c.b_sum.end()));
}

/// Normalised mutual information with the arithmetic mean of the entropies (scikit-learn's
/// default average_method), scikit-learn's special cases: 1.0 if neither labeling splits the
/// data, 0.0 if the mutual information is 0.
template <class LA, class LB>
double normalized_mutual_info(const std::vector<LA>& truth, const std::vector<LB>& pred) {
  const Contingency c = contingency(truth, pred);
  return Impl::nmi_from(std::vector<double>(c.cells.begin(), c.cells.end()), c.cell_a, c.cell_b,
                        std::vector<double>(c.a_sum.begin(), c.a_sum.end()),
                        std::vector<double>(c.b_sum.begin(), c.b_sum.end()));
}

/// Soft contingency table n_ab = Σ_i [truth_i = a] P(i, b) of hard labels and an N×K row-major
/// soft assignment matrix (dense, as a flat vector).
struct SoftContingency {
  std::vector<double> cells;
  std::vector<int> cell_a, cell_b;
  std::vector<double> a_sum, b_sum;
};

template <class LA>
SoftContingency soft_contingency(const std::vector<LA>& truth, const std::vector<double>& P,
                                 int K) {
  DIFFBIO_EXPECTS(K > 0 && P.size() == truth.size() * static_cast<std::size_t>(K),
                  "soft metrics: P must be N x K");
  std::vector<int> ca;
  const int na = encode_labels(truth, ca);
  std::vector<double> table(static_cast<std::size_t>(na) * K, 0.0);
  for (std::size_t i = 0; i < truth.size(); ++i)
    for (int b = 0; b < K; ++b) table[static_cast<std::size_t>(ca[i]) * K + b] += P[i * K + b];
  SoftContingency s;
  s.a_sum.assign(static_cast<std::size_t>(na), 0.0);
  s.b_sum.assign(static_cast<std::size_t>(K), 0.0);
  for (int a = 0; a < na; ++a)
    for (int b = 0; b < K; ++b) {
      const double v = table[static_cast<std::size_t>(a) * K + b];
      s.a_sum[static_cast<std::size_t>(a)] += v;
      s.b_sum[static_cast<std::size_t>(b)] += v;
      if (v > 0) {
        s.cells.push_back(v);
        s.cell_a.push_back(a);
        s.cell_b.push_back(b);
      }
    }
  return s;
}

/// Adjusted Rand index of hard labels vs soft assignments (pair counts n(n−1)/2 on real
/// counts); equals adjusted_rand_index for one-hot P.
template <class LA>
double soft_adjusted_rand_index(const std::vector<LA>& truth, const std::vector<double>& P, int K) {
  const SoftContingency s = soft_contingency(truth, P, K);
  double n = 0, sum_cells = 0, sum_a = 0, sum_b = 0;
  for (double v : s.a_sum) n += v;
  for (double v : s.cells) sum_cells += Impl::comb2(v);
  for (double v : s.a_sum) sum_a += Impl::comb2(v);
  for (double v : s.b_sum) sum_b += Impl::comb2(v);
  const double expected = sum_a * sum_b / Impl::comb2(n);
  const double max_index = 0.5 * (sum_a + sum_b);
  if (max_index == expected) return 1.0;
  return (sum_cells - expected) / (max_index - expected);
}

/// NMI of hard labels vs soft assignments; equals normalized_mutual_info for one-hot P.
template <class LA>
double soft_normalized_mutual_info(const std::vector<LA>& truth, const std::vector<double>& P,
                                   int K) {
  const SoftContingency s = soft_contingency(truth, P, K);
  return Impl::nmi_from(s.cells, s.cell_a, s.cell_b, s.a_sum, s.b_sum);
}

}  // namespace metrics
}  // namespace diffbio

#endif
