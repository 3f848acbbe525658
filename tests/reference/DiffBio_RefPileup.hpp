// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefPileup.hpp
/// \brief Plain serial reference of DifferentiablePileup, templated on the number type so ADOL-C
/// can differentiate it. Written from operators/pileup/ADJOINT.md with no code shared with the
/// Kokkos kernels: entries decoded by hand, naive logistic, naive (unshifted) softmax, scatter
/// order (entry → the positions it lands on) instead of the kernels' gather.
#ifndef DIFFBIO_REF_PILEUP_HPP
#define DIFFBIO_REF_PILEUP_HPP

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace diffbio {
namespace reference {

/// x = [θ_b, log a, θ_m, log c, γ, ℓ_{−k}..ℓ_k]; CSR (offsets over rows, entries), halo, k.
/// y = [counts (P×8), strand (P×2), quality (P×2)] with P = rows − 2·halo.
template <class N>
std::vector<N> pileup(const std::vector<N>& x, const std::vector<int>& offsets,
                      const std::vector<std::uint32_t>& entries, int halo, int k, bool hard) {
  using std::exp;
  const int rows = static_cast<int>(offsets.size()) - 1;
  const int P = rows - 2 * halo;
  std::vector<N> y(static_cast<std::size_t>(P) * 12, N(0.0));
  auto counts = [&](int s, int c) -> N& { return y[s * 8 + c]; };
  auto strand = [&](int s, int c) -> N& { return y[P * 8 + s * 2 + c]; };
  auto quality = [&](int s, int c) -> N& { return y[P * 10 + s * 2 + c]; };
  const int kk = hard ? 0 : k;
  for (int u = 0; u < rows; ++u) {
    for (int i = offsets[u]; i < offsets[u + 1]; ++i) {
      const std::uint32_t e = entries[i];
      const int ch = static_cast<int>(e % 8);
      const int rev = static_cast<int>((e / 8) % 2);
      const int ins = static_cast<int>((e / 16) % 2);
      const int bq = static_cast<int>((e / 256) % 256);
      const int mq = static_cast<int>((e / 65536) % 256);
      N w;
      if (hard) {
        w = (double(bq) >= x[0] ? 1.0 : 0.0) * (double(mq) >= x[2] ? 1.0 : 0.0);
      } else {
        const N wb = 1.0 / (1.0 + exp(-exp(x[1]) * (double(bq) - x[0])));
        const N wm = 1.0 / (1.0 + exp(-exp(x[3]) * (double(mq) - x[2])));
        w = wb * wm;
      }
      std::vector<N> p(2 * kk + 1);
      N z = 0.0;
      for (int d = -kk; d <= kk; ++d) {
        p[d + kk] = exp(x[5 + d + k] - x[4] * double(std::abs(d)) * double(mq) / 60.0);
        z = z + p[d + kk];
      }
      for (int d = -kk; d <= kk; ++d) {
        const int s = u - halo + d;
        if (s < 0 || s >= P) continue;
        const N v = kk == 0 ? w : w * p[d + kk] / z;
        counts(s, ch) = counts(s, ch) + v;
        if (ins) counts(s, 7) = counts(s, 7) + v;
        strand(s, rev) = strand(s, rev) + v;
        quality(s, 0) = quality(s, 0) + v * double(bq);
        quality(s, 1) = quality(s, 1) + v * double(mq);
      }
    }
  }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
