// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefProfileHMM.hpp
/// \brief Plain serial reference of the Plan7 profile HMM score, in log space, templated on the
/// number type (double or ADOL-C's adouble) so ADOL-C can differentiate it. Written from the
/// recurrences of HMMER's generic p7_GForward / p7_GViterbi (pull form, log space, explicit
/// log-sum-exp), sharing no code with the Kokkos kernels (which run in scaled odds space).
#ifndef DIFFBIO_REF_PROFILE_HMM_HPP
#define DIFFBIO_REF_PROFILE_HMM_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

struct ProfileHMMSpec {
  int M = 0, K = 0, n_codes = 0;
  bool local = true, multihit = true;
  double tau = 1.0;            ///< 0: Viterbi (max-plus)
  std::vector<double> code_w;  ///< n_codes × K emission weights of the residue codes
};

namespace ref_detail {

inline double val(double x) { return x; }
template <class N>
double val(const N& x) {
  return x.getValue();
}

/// A log-space value that may be absent (probability 0).
template <class N>
struct LV {
  N v = 0.0;
  bool ok = false;
};

template <class N>
LV<N> some(const N& v) {
  LV<N> r;
  r.v = v;
  r.ok = true;
  return r;
}
template <class N>
LV<N> add(const LV<N>& a, const N& s) {
  if (!a.ok) return a;
  return some<N>(a.v + s);
}
/// τ-semiring sum of log values: log(e^a + e^b) (smooth) or max(a, b) (hard).
template <class N>
LV<N> lse(const LV<N>& a, const LV<N>& b, bool hard) {
  using std::exp;
  using std::log;
  if (!a.ok) return b;
  if (!b.ok) return a;
  if (hard) return val(a.v) >= val(b.v) ? a : b;
  const bool a_big = val(a.v) >= val(b.v);
  const N m = a_big ? a.v : b.v;
  const N d = a_big ? N(b.v - a.v) : N(a.v - b.v);
  return some<N>(m + log(1.0 + exp(d)));
}

}  // namespace ref_detail

/// x = [profile (B·L·K), only if `profile_input`] ++ [params (M·(8 + 2K))]  →  y = scores (B)
/// (nats; 0 for an empty sequence). Parameter layout as ProfileHMM: row r of 8 transition slots
/// MM IM DM BM MD DD MI II, then match log-odds (k-1)·K + a, then insert log-odds.
template <class N>
std::vector<N> profile_hmm(const std::vector<N>& x, const ProfileHMMSpec& s,
                           const std::vector<std::uint8_t>& residues, const std::vector<int>& len,
                           int B, int L, bool profile_input) {
  using namespace ref_detail;
  using std::log;
  const int M = s.M, K = s.K;
  const bool hard = !(s.tau > 0);
  const double tau = hard ? 1.0 : s.tau;
  const std::size_t off = profile_input ? static_cast<std::size_t>(B) * L * K : 0;
  auto tsc = [&](int r, int slot) {
    return N(x[off + static_cast<std::size_t>(r) * 8 + slot] / tau);
  };
  auto msc = [&](int k, int a) {
    return x[off + static_cast<std::size_t>(M) * 8 + (k - 1) * K + a];
  };
  auto isc = [&](int k, int a) {
    return x[off + static_cast<std::size_t>(M) * (8 + K) + (k - 1) * K + a];
  };
  enum { MM = 0, IM, DM, BM, MD, DD, MI, II };
  std::vector<N> y(B);
  for (int b = 0; b < B; ++b) {
    const int n = len[b];
    if (n == 0) {
      y[b] = 0.0;
      continue;
    }
    // emission log-odds of M_k / I_k for residue i (1-based)
    auto emis = [&](int i, int k, bool match) {
      N e = 0.0;
      for (int a = 0; a < K; ++a) {
        const N sc = match ? msc(k, a) : isc(k, a);
        if (profile_input)
          e = e + x[(static_cast<std::size_t>(b) * L + (i - 1)) * K + a] * sc;
        else {
          const double w = s.code_w[residues[static_cast<std::size_t>(b) * L + (i - 1)] * K + a];
          if (w != 0) e = e + w * sc;
        }
      }
      return N(e / tau);
    };
    const double nj = s.multihit ? 1.0 : 0.0;
    const double pmove = (2.0 + nj) / (n + 2.0 + nj);
    const N loop = log(1.0 - pmove) / tau, move = log(pmove) / tau;
    const N ec = s.multihit ? N(log(0.5) / tau) : N(0.0);
    const N ej = log(0.5) / tau;  // used only if multihit
    std::vector<std::vector<LV<N>>> Mx(n + 1, std::vector<LV<N>>(M + 1)), Ix = Mx, Dx = Mx;
    std::vector<LV<N>> xN(n + 1), xB(n + 1), xE(n + 1), xC(n + 1), xJ(n + 1);
    xN[0] = some<N>(N(0.0));
    xB[0] = some<N>(move);
    for (int i = 1; i <= n; ++i) {
      for (int k = 1; k <= M; ++k) {
        LV<N> m = add(xB[i - 1], tsc(k - 1, BM));
        if (k > 1) {
          m = lse(m, add(Mx[i - 1][k - 1], tsc(k - 1, MM)), hard);
          m = lse(m, add(Ix[i - 1][k - 1], tsc(k - 1, IM)), hard);
          m = lse(m, add(Dx[i - 1][k - 1], tsc(k - 1, DM)), hard);
        }
        Mx[i][k] = add(m, emis(i, k, true));
        if (k < M)
          Ix[i][k] = add(lse(add(Mx[i - 1][k], tsc(k, MI)), add(Ix[i - 1][k], tsc(k, II)), hard),
                         emis(i, k, false));
        if (k > 1)
          Dx[i][k] =
              lse(add(Mx[i][k - 1], tsc(k - 1, MD)), add(Dx[i][k - 1], tsc(k - 1, DD)), hard);
      }
      LV<N> e;
      for (int k = s.local ? 1 : M; k <= M; ++k) e = lse(lse(e, Mx[i][k], hard), Dx[i][k], hard);
      xE[i] = e;
      xJ[i] = s.multihit ? lse(add(xJ[i - 1], loop), add(e, ej), hard) : LV<N>();
      xC[i] = lse(add(xC[i - 1], loop), add(e, ec), hard);
      xN[i] = add(xN[i - 1], loop);
      xB[i] = lse(add(xN[i], move), add(xJ[i], move), hard);
    }
    const LV<N> fin = add(xC[n], move);
    y[b] = fin.ok ? N(tau * fin.v) : N(0.0);
  }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
