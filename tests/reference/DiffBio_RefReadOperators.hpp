// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefReadOperators.hpp
/// \brief Plain serial reference forwards of the read operators, templated on the number type so
/// ADOL-C can differentiate them. Written from the maths in each ADJOINT.md, sharing no code with
/// the Kokkos kernels (naive logistic, naive sums).
#ifndef DIFFBIO_REF_READ_OPERATORS_HPP
#define DIFFBIO_REF_READ_OPERATORS_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

/// x = [profile (B·L·A), θ, log s]  →  y = [weight (B·L), filtered (B·L·A)]
template <class N>
std::vector<N> quality_filter(const std::vector<N>& x, const std::vector<std::uint8_t>& q,
                              const std::vector<int>& len, int B, int L, int A, bool hard) {
  using std::exp;
  const N theta = x[B * L * A];
  const N s = exp(x[B * L * A + 1]);
  std::vector<N> y(B * L + B * L * A);
  for (int b = 0; b < B; ++b)
    for (int p = 0; p < L; ++p) {
      N w = 0.0;
      if (p < len[b]) {
        if (hard) {
          w = double(q[b * L + p]) >= theta ? 1.0 : 0.0;
        } else {
          w = 1.0 / (1.0 + exp(-(double(q[b * L + p]) - theta) / s));
        }
      }
      y[b * L + p] = w;
      for (int a = 0; a < A; ++a) y[B * L + (b * L + p) * A + a] = w * x[(b * L + p) * A + a];
    }
  return y;
}

/// x = [filtered (B·L·A), weight (B·L)]  →  y = pooled (B·A)
template <class N>
std::vector<N> weighted_pooling(const std::vector<N>& x, const std::vector<int>& len, int B, int L,
                                int A, double eps) {
  std::vector<N> y(B * A);
  for (int b = 0; b < B; ++b) {
    N W = eps;
    for (int p = 0; p < len[b]; ++p) W = W + x[B * L * A + b * L + p];
    for (int a = 0; a < A; ++a) {
      N s = 0.0;
      for (int p = 0; p < len[b]; ++p) s = s + x[(b * L + p) * A + a];
      y[b * A + a] = s / W;
    }
  }
  return y;
}

/// x = [features (B·F), W (C·F), β (C)]  →  y = logits (B·C)
template <class N>
std::vector<N> linear_head(const std::vector<N>& x, int B, int F, int C) {
  std::vector<N> y(B * C);
  const int w0 = B * F, b0 = B * F + C * F;
  for (int b = 0; b < B; ++b)
    for (int c = 0; c < C; ++c) {
      N s = x[b0 + c];
      for (int f = 0; f < F; ++f) s = s + x[w0 + c * F + f] * x[b * F + f];
      y[b * C + c] = s;
    }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
