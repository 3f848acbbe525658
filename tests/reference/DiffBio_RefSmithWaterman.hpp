// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefSmithWaterman.hpp
/// \brief Plain serial reference of the smooth Smith–Waterman / Needleman–Wunsch forward, templated
/// on the number type so ADOL-C can differentiate it. Written from eqs. 1–6 of
/// operators/alignment/ADJOINT.md and sharing no code with the Kokkos kernels: full (n+1)×(m+1)
/// log-space tables, −∞ represented by an explicit "absent" flag instead of a sentinel, naive
/// logsumexp, no rescaling, no checkpoints.
#ifndef DIFFBIO_REF_SMITH_WATERMAN_HPP
#define DIFFBIO_REF_SMITH_WATERMAN_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

struct SwRefProblem {
  int A = 4, B = 1, Lx = 0, Ly = 0;
  bool local = true, hard = false, learn_tau = false, xprof = false, yprof = false;
  double tau = 1.0;  ///< used when !learn_tau
  std::vector<std::uint8_t> x_index, y_index;  ///< [B×Lx], [B×Ly] (index inputs)
  std::vector<int> x_len, y_len;
};

namespace sw_ref_detail {

/// A log-space value that may be −∞ ("absent").
template <class N>
struct LV {
  N v;
  bool on;
};

/// τ·log Σ exp(v/τ) over the present entries (hard: the first maximum); absent if none.
template <class N>
LV<N> smax(const std::vector<LV<N>>& c, const N& tau, bool hard) {
  using std::exp;
  using std::log;
  int first = -1;
  for (std::size_t k = 0; k < c.size(); ++k)
    if (c[k].on && (first < 0 || c[k].v > c[first].v)) first = static_cast<int>(k);
  if (first < 0) return {N(0.0), false};
  const N m = c[first].v;
  if (hard) return {m, true};
  N s = 0.0;
  for (const auto& e : c)
    if (e.on) s = s + exp((e.v - m) / tau);
  return {m + tau * log(s), true};
}

template <class N>
LV<N> shift(const LV<N>& a, const N& d) {
  return {a.v - d, a.on};
}

}  // namespace sw_ref_detail

/// x = [Sub (A·A), o, e (, log τ), x profiles (B·Lx·A if xprof), y profiles (B·Ly·A if yprof)]
/// → y = scores [B].
template <class N>
std::vector<N> smooth_smith_waterman(const std::vector<N>& x, const SwRefProblem& p) {
  using namespace sw_ref_detail;
  using std::exp;
  const int A = p.A;
  const int AA = A * A;
  const N o = x[AA], e = x[AA + 1];
  const N tau = p.learn_tau ? N(exp(x[AA + 2])) : N(p.tau);
  const int off_x = AA + 2 + (p.learn_tau ? 1 : 0);
  const int off_y = off_x + (p.xprof ? p.B * p.Lx * A : 0);
  std::vector<N> y(p.B);
  for (int b = 0; b < p.B; ++b) {
    const int n = p.x_len[b], m = p.y_len[b];
    auto S = [&](int i, int j) -> N {  // S_ij of eq. 6 (1-based cell)
      if (!p.xprof && !p.yprof)
        return x[p.x_index[b * p.Lx + i - 1] * A + p.y_index[b * p.Ly + j - 1]];
      N s = 0.0;
      for (int a = 0; a < A; ++a)
        for (int c = 0; c < A; ++c) {
          const N pa = p.xprof ? x[off_x + (b * p.Lx + i - 1) * A + a]
                               : N(p.x_index[b * p.Lx + i - 1] == a ? 1.0 : 0.0);
          const N qc = p.yprof ? x[off_y + (b * p.Ly + j - 1) * A + c]
                               : N(p.y_index[b * p.Ly + j - 1] == c ? 1.0 : 0.0);
          s = s + pa * x[a * A + c] * qc;
        }
      return s;
    };
    const LV<N> absent{N(0.0), false};
    std::vector<std::vector<LV<N>>> M(n + 1, std::vector<LV<N>>(m + 1, absent)), X = M, Y = M;
    if (!p.local) M[0][0] = {N(0.0), true};
    for (int i = 0; i <= n; ++i)
      for (int j = 0; j <= m; ++j) {
        if (i == 0 && j == 0) continue;
        if (i >= 1 && j >= 1) {
          std::vector<LV<N>> c = {M[i - 1][j - 1], X[i - 1][j - 1], Y[i - 1][j - 1]};
          if (p.local) c.push_back({N(0.0), true});
          const LV<N> d = smax(c, tau, p.hard);
          M[i][j] = {S(i, j) + d.v, d.on};
        }
        if (i >= 1)
          X[i][j] = smax<N>({shift(M[i - 1][j], o), shift(X[i - 1][j], e), shift(Y[i - 1][j], o)},
                            tau, p.hard);
        if (j >= 1)
          Y[i][j] = smax<N>({shift(M[i][j - 1], o), shift(X[i][j - 1], o), shift(Y[i][j - 1], e)},
                            tau, p.hard);
      }
    if (p.local) {
      std::vector<LV<N>> c = {{N(0.0), true}};
      for (int i = 1; i <= n; ++i)
        for (int j = 1; j <= m; ++j) c.push_back(M[i][j]);
      y[b] = smax(c, tau, p.hard).v;
    } else {
      y[b] = smax<N>({M[n][m], X[n][m], Y[n][m]}, tau, p.hard).v;
    }
  }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
