// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefCNV.hpp
/// \brief Plain serial references of CNVSegmentation, templated on the number type so ADOL-C can
/// differentiate them. Written from the model in operators/cnv/ADJOINT.md, sharing no code with
/// the Kokkos kernels: the forward-backward runs in *probability* space (products of e^{x/τ},
/// no log-sum-exp), Viterbi is the textbook DP with back-pointers, and `cnv_brute_force`
/// enumerates every state path.
#ifndef DIFFBIO_REF_CNV_HPP
#define DIFFBIO_REF_CNV_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

/// Log-potentials of the model from the parameter part of x (offset `off`):
/// [μ (S), log σ, κ, ι (S)].
template <class Num>
struct CnvRefModel {
  std::vector<Num> mu, log_pi, log_sd;
  Num log_stay, log_switch;
  double eps;
  /// sd_offset[c] = log σ_c − log σ (the operator's sd_offsets()); eps = outlier probability.
  CnvRefModel(const std::vector<Num>& x, std::size_t off, int S, const std::vector<double>& sd_offset,
              double eps_)
      : eps(eps_) {
    using std::exp;
    using std::log;
    for (int c = 0; c < S; ++c) mu.push_back(x[off + c]);
    for (int c = 0; c < S; ++c) log_sd.push_back(x[off + S] + sd_offset[c]);
    const Num kappa = x[off + S + 1];
    const Num p = 1.0 / (1.0 + exp(-kappa));
    log_stay = log(p);
    log_switch = log((1.0 - p) / double(S - 1));
    Num z = 0.0;
    for (int c = 0; c < S; ++c) z = z + exp(x[off + S + 2 + c]);
    for (int c = 0; c < S; ++c) log_pi.push_back(x[off + S + 2 + c] - log(z));
  }
  Num trans(int i, int j) const { return i == j ? log_stay : log_switch; }
  Num emission(const Num& r, int c) const {
    using std::exp;
    using std::log;
    const Num z = (r - mu[c]) / exp(log_sd[c]);
    const Num gauss = exp(-0.5 * z * z) / (exp(log_sd[c]) * std::sqrt(2 * M_PI));
    return log((1 - eps) * gauss + eps / 8.0);
  }
};

/// x = [track (B·T), params (2S+2)] → y = [posterior (B·T·S), loglik (B)], soft mode (τ > 0).
/// mask (B·T, may be empty): 0 = bin without data (emission 0).
template <class Num>
std::vector<Num> cnv_forward_backward(const std::vector<Num>& x, const std::vector<int>& length,
                                      const std::vector<std::uint8_t>& mask, int T, int S,
                                      double tau, const std::vector<double>& sd_offset, double eps) {
  using std::exp;
  using std::log;
  const int B = static_cast<int>(length.size());
  const CnvRefModel<Num> m(x, static_cast<std::size_t>(B) * T, S, sd_offset, eps);
  std::vector<Num> y(static_cast<std::size_t>(B) * T * S + B, Num(0.0));
  for (int b = 0; b < B; ++b) {
    const int n = length[b];
    if (n <= 0) continue;
    auto phi_e = [&](int t, int c) -> Num {
      if (!mask.empty() && mask[b * T + t] == 0) return Num(1.0);
      return exp(m.emission(x[b * T + t], c) / tau);
    };
    auto phi_a = [&](int i, int j) -> Num { return exp(m.trans(i, j) / tau); };
    std::vector<std::vector<Num>> f(n, std::vector<Num>(S)), g(n, std::vector<Num>(S));
    for (int c = 0; c < S; ++c) f[0][c] = exp(m.log_pi[c] / tau) * phi_e(0, c);
    for (int t = 1; t < n; ++t)
      for (int c = 0; c < S; ++c) {
        Num s = 0.0;
        for (int i = 0; i < S; ++i) s = s + f[t - 1][i] * phi_a(i, c);
        f[t][c] = s * phi_e(t, c);
      }
    for (int c = 0; c < S; ++c) g[n - 1][c] = 1.0;
    for (int t = n - 2; t >= 0; --t)
      for (int c = 0; c < S; ++c) {
        Num s = 0.0;
        for (int j = 0; j < S; ++j) s = s + phi_a(c, j) * phi_e(t + 1, j) * g[t + 1][j];
        g[t][c] = s;
      }
    Num Z = 0.0;
    for (int c = 0; c < S; ++c) Z = Z + f[n - 1][c];
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < S; ++c) y[(static_cast<std::size_t>(b) * T + t) * S + c] = f[t][c] * g[t][c] / Z;
    y[static_cast<std::size_t>(B) * T * S + b] = tau * log(Z);
  }
  return y;
}

/// Score of one state path of track b (double).
inline double cnv_path_score(const std::vector<double>& x, const std::vector<std::uint8_t>& mask,
                             int b, int T, int S, int B, const std::vector<int>& path,
                             const std::vector<double>& sd_offset, double eps) {
  const CnvRefModel<double> m(x, static_cast<std::size_t>(B) * T, S, sd_offset, eps);
  double s = 0;
  for (std::size_t t = 0; t < path.size(); ++t) {
    const int c = path[t];
    s += t == 0 ? m.log_pi[c] : m.trans(path[t - 1], c);
    if (mask.empty() || mask[b * T + t] != 0) s += m.emission(x[b * T + t], c);
  }
  return s;
}

struct CnvViterbi {
  double score = 0;
  std::vector<int> path;
};

/// Textbook Viterbi of track b with back-pointers (ties: the lowest state).
inline CnvViterbi cnv_viterbi(const std::vector<double>& x, const std::vector<std::uint8_t>& mask,
                              int b, int n, int T, int S, int B,
                              const std::vector<double>& sd_offset, double eps) {
  const CnvRefModel<double> m(x, static_cast<std::size_t>(B) * T, S, sd_offset, eps);
  CnvViterbi r;
  if (n <= 0) return r;
  auto e = [&](int t, int c) {
    return (!mask.empty() && mask[b * T + t] == 0) ? 0.0 : m.emission(x[b * T + t], c);
  };
  std::vector<std::vector<double>> d(n, std::vector<double>(S));
  std::vector<std::vector<int>> bp(n, std::vector<int>(S, 0));
  for (int c = 0; c < S; ++c) d[0][c] = m.log_pi[c] + e(0, c);
  for (int t = 1; t < n; ++t)
    for (int c = 0; c < S; ++c) {
      double best = -1e300;
      for (int i = 0; i < S; ++i) {
        const double v = d[t - 1][i] + m.trans(i, c);
        if (v > best) {
          best = v;
          bp[t][c] = i;
        }
      }
      d[t][c] = best + e(t, c);
    }
  int c = 0;
  for (int k = 1; k < S; ++k)
    if (d[n - 1][k] > d[n - 1][c]) c = k;
  r.score = d[n - 1][c];
  r.path.assign(n, 0);
  for (int t = n - 1; t >= 0; --t) {
    r.path[t] = c;
    c = bp[t][c];
  }
  return r;
}

/// Σ over all S^n paths of e^{score/τ} (τ > 0) → τ·log Σ, and the best path score (τ = 0).
struct CnvBrute {
  double logsum = 0, best = -1e300;
};
inline CnvBrute cnv_brute_force(const std::vector<double>& x, const std::vector<std::uint8_t>& mask,
                                int b, int n, int T, int S, int B, double tau,
                                const std::vector<double>& sd_offset, double eps) {
  CnvBrute r;
  std::vector<int> path(n, 0);
  long double sum = 0;
  for (;;) {
    const double s = cnv_path_score(x, mask, b, T, S, B, path, sd_offset, eps);
    sum += std::exp(static_cast<long double>(s / tau));
    if (s > r.best) r.best = s;
    int k = n - 1;
    while (k >= 0 && ++path[k] == S) path[k--] = 0;
    if (k < 0) break;
  }
  r.logsum = tau * static_cast<double>(std::log(sum));
  return r;
}

}  // namespace reference
}  // namespace diffbio

#endif
