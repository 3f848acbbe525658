// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefNormalization.hpp
/// \brief Plain serial references of NormalizeLog1p and DifferentiablePCA's forward, templated on
/// the number type so ADOL-C can differentiate them. Written from the formulas in
/// operators/normalization/ADJOINT.md, sharing no code with the Kokkos kernels: log(1 + z)
/// instead of log1p, a densified centred row times W instead of the implicit centring.
#ifndef DIFFBIO_REF_NORMALIZATION_HPP
#define DIFFBIO_REF_NORMALIZATION_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

/// x = [values (nnz), size factors (N, only if with_size_factors), log t] → y [nnz]:
/// y_e = log(1 + t x_e / s_i), s_i = Σ_row x (or the size factor); rows with s_i = 0 or mask 0
/// give 0.
template <class Num>
std::vector<Num> normalize_log1p(const std::vector<Num>& x, const std::vector<std::int64_t>& indptr,
                                 bool with_size_factors, const std::vector<std::uint8_t>& mask = {}) {
  using std::exp;
  using std::log;
  const int N = static_cast<int>(indptr.size()) - 1;
  const std::int64_t nnz = indptr.back();
  const Num t = exp(x.back());
  std::vector<Num> y(static_cast<std::size_t>(nnz), Num(0.0));
  for (int i = 0; i < N; ++i) {
    if (!mask.empty() && mask[i] == 0) continue;
    Num s = 0.0;
    if (with_size_factors) {
      s = x[static_cast<std::size_t>(nnz + i)];
    } else {
      for (std::int64_t e = indptr[i]; e < indptr[i + 1]; ++e) s = s + x[static_cast<std::size_t>(e)];
    }
    if (s == 0.0) continue;
    for (std::int64_t e = indptr[i]; e < indptr[i + 1]; ++e)
      y[static_cast<std::size_t>(e)] = log(1.0 + t * x[static_cast<std::size_t>(e)] / s);
  }
  return y;
}

/// x = [values (nnz), W (G·K row-major), μ (G)] → Y [N·K] = (X − 1μᵀ) W with X densified row by
/// row (duplicates summed); rows with mask 0 give 0.
template <class Num>
std::vector<Num> pca_project(const std::vector<Num>& x, const std::vector<std::int64_t>& indptr,
                             const std::vector<std::int32_t>& indices, int G, int K,
                             const std::vector<std::uint8_t>& mask = {}) {
  const int N = static_cast<int>(indptr.size()) - 1;
  const std::size_t nnz = static_cast<std::size_t>(indptr.back());
  const std::size_t w0 = nnz, m0 = nnz + static_cast<std::size_t>(G) * K;
  std::vector<Num> y(static_cast<std::size_t>(N) * K, Num(0.0));
  std::vector<Num> row(static_cast<std::size_t>(G));
  for (int i = 0; i < N; ++i) {
    if (!mask.empty() && mask[i] == 0) continue;
    for (int j = 0; j < G; ++j) row[j] = Num(0.0);
    for (std::int64_t e = indptr[i]; e < indptr[i + 1]; ++e)
      row[indices[static_cast<std::size_t>(e)]] = row[indices[static_cast<std::size_t>(e)]] + x[static_cast<std::size_t>(e)];
    for (int j = 0; j < G; ++j) row[j] = row[j] - x[m0 + j];
    for (int k = 0; k < K; ++k) {
      Num s = 0.0;
      for (int j = 0; j < G; ++j) s = s + row[j] * x[w0 + static_cast<std::size_t>(j) * K + k];
      y[static_cast<std::size_t>(i) * K + k] = s;
    }
  }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
