// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefSingleCell.hpp
/// \brief Plain serial reference of SoftKMeansClustering, templated on the number type so ADOL-C
/// can differentiate it. Written from the maths in operators/singlecell/ADJOINT.md, sharing no code
/// with the Kokkos kernels: naive softmax (no shift by the minimum), naive sums.
#ifndef DIFFBIO_REF_SINGLE_CELL_HPP
#define DIFFBIO_REF_SINGLE_CELL_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

/// x = [X (N·D), centroids (K·D), log τ]  →  y = [assign (N·K), distortion (N), energy (N)]
/// Masked rows (mask[i] == 0) give zeros. Soft mode only (τ > 0).
template <class Num>
std::vector<Num> soft_kmeans(const std::vector<Num>& x, const std::vector<std::uint8_t>& mask,
                             int N, int D, int K) {
  using std::exp;
  using std::log;
  const Num tau = exp(x[N * D + K * D]);
  std::vector<Num> y(N * K + 2 * N, Num(0.0));
  for (int i = 0; i < N; ++i) {
    if (!mask.empty() && mask[i] == 0) continue;
    std::vector<Num> d(K, Num(0.0));
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < D; ++j) {
        const Num t = x[i * D + j] - x[N * D + k * D + j];
        d[k] = d[k] + t * t;
      }
    Num z = 0.0;
    for (int k = 0; k < K; ++k) z = z + exp(-d[k] / tau);
    Num dist = 0.0;
    for (int k = 0; k < K; ++k) {
      const Num p = exp(-d[k] / tau) / z;
      y[i * K + k] = p;
      dist = dist + p * d[k];
    }
    y[N * K + i] = dist;
    y[N * K + N + i] = -tau * log(z);
  }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
