// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefVariant.hpp
/// \brief Plain serial references of VariantClassifier and CandidateFeatures, templated on the
/// number type so ADOL-C can differentiate them. Written from the formulas in
/// operators/variant/ADJOINT.md and the operator headers, sharing no code with the Kokkos kernels:
/// naive sums, softplus as log(1 + e^z), naive log-sum-exp.
#ifndef DIFFBIO_REF_VARIANT_HPP
#define DIFFBIO_REF_VARIANT_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

/// 0 = relu, 1 = tanh, 2 = softplus (the order of diffbio::Activation).
template <class Num>
Num mlp_activation(int act, const Num& z) {
  using std::exp;
  using std::log;
  using std::tanh;
  if (act == 0) return z > 0.0 ? z : Num(0.0);
  if (act == 1) return tanh(z);
  return log(1.0 + exp(z));
}

/// x = [features (B·F, row-major), params (per layer W (out×in row-major) then b)] → logits
/// (B·C). dims = {F, hidden..., C}. Masked rows (mask[b] == 0) give zeros.
template <class Num>
std::vector<Num> mlp(const std::vector<Num>& x, const std::vector<std::uint8_t>& mask, int B,
                     const std::vector<int>& dims, int act) {
  const int F = dims.front(), C = dims.back();
  const int L = static_cast<int>(dims.size()) - 1;
  std::vector<Num> y(static_cast<std::size_t>(B) * C, Num(0.0));
  for (int b = 0; b < B; ++b) {
    if (!mask.empty() && mask[b] == 0) continue;
    std::vector<Num> h(x.begin() + b * F, x.begin() + (b + 1) * F);
    std::size_t off = static_cast<std::size_t>(B) * F;
    for (int l = 0; l < L; ++l) {
      const int I = dims[l], O = dims[l + 1];
      std::vector<Num> z(O, Num(0.0));
      for (int o = 0; o < O; ++o) {
        Num s = x[off + static_cast<std::size_t>(O) * I + o];  // bias
        for (int i = 0; i < I; ++i) s = s + x[off + static_cast<std::size_t>(o) * I + i] * h[i];
        z[o] = l + 1 < L ? mlp_activation(act, s) : s;
      }
      off += static_cast<std::size_t>(O) * I + O;
      h = z;
    }
    for (int c = 0; c < C; ++c) y[static_cast<std::size_t>(b) * C + c] = h[c];
  }
  return y;
}

/// x = [counts (P·8), strand (P·2), quality (P·2)] → features (B·(13K + 3)), K = 2w + 1, in the
/// order of DiffBio_CandidateFeatures.hpp. tau > 0 (the soft top-alt feature).
template <class Num>
std::vector<Num> candidate_features(const std::vector<Num>& x, const std::vector<int>& centre,
                                    const std::vector<int>& ref, const std::vector<std::uint8_t>& mask,
                                    int P, int w, double eps, double depth_scale, double tau) {
  using std::exp;
  using std::log;
  const int B = static_cast<int>(centre.size()), K = 2 * w + 1, F = 13 * K + 3;
  const std::size_t S = static_cast<std::size_t>(P) * 8, Q = S + static_cast<std::size_t>(P) * 2;
  auto cnt = [&](int s, int k) { return x[static_cast<std::size_t>(s) * 8 + k]; };
  std::vector<Num> y(static_cast<std::size_t>(B) * F, Num(0.0));
  for (int b = 0; b < B; ++b) {
    if (!mask.empty() && mask[b] == 0) continue;
    Num* f = &y[static_cast<std::size_t>(b) * F];
    for (int j = 0; j < K; ++j) {
      const int s = centre[b] + j - w;
      if (s < 0 || s >= P) continue;
      Num depth = 0.0;
      for (int k = 0; k < 7; ++k) depth = depth + cnt(s, k);
      const Num D = depth + eps;
      for (int k = 0; k < 8; ++k) f[j * 13 + k] = cnt(s, k) / D;
      f[j * 13 + 8] = ref[s] < 4 ? cnt(s, ref[s]) / D : Num(0.0);
      f[j * 13 + 9] = x[S + static_cast<std::size_t>(s) * 2] / D;
      f[j * 13 + 10] = x[Q + static_cast<std::size_t>(s) * 2] / (60.0 * D);
      f[j * 13 + 11] = x[Q + static_cast<std::size_t>(s) * 2 + 1] / (60.0 * D);
      f[j * 13 + 12] = log(1.0 + depth) / std::log(1.0 + depth_scale);
      if (j == w) {
        Num lse = 0.0, total = 0.0;
        for (int a = 0; a < 4; ++a) {
          if (a == ref[s]) continue;
          lse = lse + exp(cnt(s, a) / D / tau);
          total = total + cnt(s, a) / D;
        }
        f[13 * K] = tau * log(lse);
        f[13 * K + 1] = total;
        f[13 * K + 2] = (cnt(s, 5) + cnt(s, 7)) / D;
      }
    }
  }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
