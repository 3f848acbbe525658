// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SmallDenseLinalg.hpp
/// \brief Host linear algebra on small dense matrices for the PCA fit: orthonormal columns of a
/// tall G×L matrix (L ~ 60) and the eigen-decomposition of a symmetric L×L matrix (cyclic Jacobi).
/// Sizes are tiny next to the sparse products, so plain loops in double are enough; no LAPACK
/// dependency for a few thousand flops.
#ifndef DIFFBIO_SMALL_DENSE_LINALG_HPP
#define DIFFBIO_SMALL_DENSE_LINALG_HPP

#include <DiffBio_Random.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace diffbio {
namespace pca_impl {

/// Orthonormalises the columns of the row-major rows × cols matrix \p a in place by modified
/// Gram–Schmidt applied twice ("twice is enough": orthogonal to working precision). A column that
/// is (numerically) in the span of the previous ones is replaced by a fresh random direction from
/// \p rng (stream-independent counters starting at \p counter), so the result always has
/// orthonormal columns. Returns how many columns were replaced.
inline int orthonormalize_columns(std::vector<double>& a, int rows, int cols, const CounterRng& rng,
                                  std::uint64_t counter) {
  int replaced = 0;
  const auto R = static_cast<std::size_t>(rows);
  const auto Cn = static_cast<std::size_t>(cols);
  // Work on a column-major copy: every inner loop is then a contiguous dot product or axpy.
  std::vector<double> q(R * Cn);
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < Cn; ++c) q[c * R + r] = a[r * Cn + c];
  for (std::size_t c = 0; c < Cn; ++c) {
    double* qc = q.data() + c * R;
    double norm0 = 0;
    for (std::size_t r = 0; r < R; ++r) norm0 += qc[r] * qc[r];
    norm0 = std::sqrt(norm0);
    for (int attempt = 0; attempt < 4; ++attempt) {
      for (int pass = 0; pass < 2; ++pass)
        for (std::size_t p = 0; p < c; ++p) {
          const double* qp = q.data() + p * R;
          double d = 0;
          for (std::size_t r = 0; r < R; ++r) d += qp[r] * qc[r];
          for (std::size_t r = 0; r < R; ++r) qc[r] -= d * qp[r];
        }
      double norm = 0;
      for (std::size_t r = 0; r < R; ++r) norm += qc[r] * qc[r];
      norm = std::sqrt(norm);
      if (norm > 1e-12 * norm0 && norm > 0) {
        for (std::size_t r = 0; r < R; ++r) qc[r] /= norm;
        break;
      }
      ++replaced;
      norm0 = 0;
      for (std::size_t r = 0; r < R; ++r) {
        qc[r] = rng.normal(counter++);
        norm0 += qc[r] * qc[r];
      }
      norm0 = std::sqrt(norm0);
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < Cn; ++c) a[r * Cn + c] = q[c * R + r];
  return replaced;
}

/// Eigen-decomposition of the symmetric n × n row-major matrix \p h by cyclic Jacobi rotations:
/// eigenvalues in descending order into \p lambda, eigenvectors as the columns of the row-major
/// \p z (z[r*n + c] is component r of eigenvector c). Accurate to a few ulps of ‖h‖.
inline void symmetric_eigen(std::vector<double> h, int n, std::vector<double>& lambda,
                            std::vector<double>& z) {
  const auto N = static_cast<std::size_t>(n);
  std::vector<double> v(N * N, 0.0);
  for (std::size_t i = 0; i < N; ++i) v[i * N + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, diag = 0;
    for (std::size_t i = 0; i < N; ++i)
      for (std::size_t j = 0; j < N; ++j)
        (i == j ? diag : off) += h[i * N + j] * h[i * N + j];
    if (off <= 1e-30 * diag || off == 0) break;
    for (std::size_t p = 0; p + 1 < N; ++p)
      for (std::size_t q = p + 1; q < N; ++q) {
        const double hpq = h[p * N + q];
        if (hpq == 0) continue;
        const double theta = (h[q * N + q] - h[p * N + p]) / (2 * hpq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (std::size_t k = 0; k < N; ++k) {  // columns p, q
          const double hkp = h[k * N + p], hkq = h[k * N + q];
          h[k * N + p] = c * hkp - s * hkq;
          h[k * N + q] = s * hkp + c * hkq;
        }
        for (std::size_t k = 0; k < N; ++k) {  // rows p, q
          const double hpk = h[p * N + k], hqk = h[q * N + k];
          h[p * N + k] = c * hpk - s * hqk;
          h[q * N + k] = s * hpk + c * hqk;
        }
        for (std::size_t k = 0; k < N; ++k) {
          const double vkp = v[k * N + p], vkq = v[k * N + q];
          v[k * N + p] = c * vkp - s * vkq;
          v[k * N + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<std::size_t> order(N);
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return h[a * N + a] > h[b * N + b]; });
  lambda.assign(N, 0.0);
  z.assign(N * N, 0.0);
  for (std::size_t c = 0; c < N; ++c) {
    lambda[c] = h[order[c] * N + order[c]];
    for (std::size_t r = 0; r < N; ++r) z[r * N + c] = v[r * N + order[c]];
  }
}

}  // namespace pca_impl
}  // namespace diffbio

#endif
