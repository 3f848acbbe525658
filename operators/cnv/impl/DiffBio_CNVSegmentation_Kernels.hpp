// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_CNVSegmentation_Kernels.hpp
/// \brief Device functors of CNVSegmentation: the forward(-backward) / Viterbi sweep of one track
/// and its adjoint, one thread per track (the state space is small, S ≤ 16). The numbered steps
/// refer to operators/cnv/ADJOINT.md.
#ifndef DIFFBIO_CNV_SEGMENTATION_KERNELS_HPP
#define DIFFBIO_CNV_SEGMENTATION_KERNELS_HPP

#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_Types.hpp>

#include <cstdint>

namespace diffbio {
namespace Impl {

/// Largest number of copy states (fixed-size per-thread arrays, device-clean).
constexpr int cnv_max_states = 16;
/// Width of the log-ratio range over which the outlier component is uniform.
constexpr double cnv_outlier_width = 8.0;

/// Parameter block layout: [μ_0..μ_{S−1}, log σ, κ (stay logit), ι_0..ι_{S−1}].
struct CNVLayout {
  int S;
  KOKKOS_INLINE_FUNCTION int mean(int c) const { return c; }
  KOKKOS_INLINE_FUNCTION int log_sigma() const { return S; }
  KOKKOS_INLINE_FUNCTION int stay_logit() const { return S + 1; }
  KOKKOS_INLINE_FUNCTION int initial(int c) const { return S + 2 + c; }
  KOKKOS_INLINE_FUNCTION int size() const { return 2 * S + 2; }
};

/// Smooth max of n finite values: log Σ_i e^{x_i} (hard = false) or max_i x_i (hard = true),
/// shifted by the maximum. (math::smooth_max handles ±∞ as well but needs an infinity of the
/// scalar type, which the dual numbers of the tests do not have; these recursions only ever see
/// finite values.)
template <class A, class Get>
KOKKOS_INLINE_FUNCTION A cnv_smax(int n, bool hard, Get get) {
  using math::value_of;
  A m = get(0);
  for (int i = 1; i < n; ++i) {
    const A x = get(i);
    if (value_of(x) > value_of(m)) m = x;
  }
  if (hard) return m;
  A sum = A(0);
  for (int i = 0; i < n; ++i) sum += math::exp(get(i) - m);
  return m + math::log(sum);
}

/// The model's log-potentials, read once per thread from the parameter block (step F1).
template <class A>
struct CNVModel {
  int S;
  A mu[cnv_max_states];
  A log_pi[cnv_max_states];
  A log_sd[cnv_max_states], inv_sd[cnv_max_states];  // per-state σ_c = σ·e^{offset_c}
  A log_sigma, kappa, p_stay, log_stay, log_switch;
  double log_keep = 0, log_outlier = 0;  // log(1 − ε), log(ε/w)
  bool outliers = false;

  template <class ParamView>
  KOKKOS_INLINE_FUNCTION void load(const ParamView& p, int S_, const double* sd_offset,
                                   double eps) {
    S = S_;
    outliers = eps > 0;
    if (outliers) {
      log_keep = math::log1p(-eps);
      log_outlier = math::log(eps / cnv_outlier_width);
    }
    const CNVLayout L{S};
    for (int c = 0; c < S; ++c) mu[c] = A(p(L.mean(c)));
    log_sigma = A(p(L.log_sigma()));
    for (int c = 0; c < S; ++c) {
      log_sd[c] = log_sigma + A(sd_offset[c]);
      inv_sd[c] = math::exp(-log_sd[c]);
    }
    kappa = A(p(L.stay_logit()));
    p_stay = math::sigmoid(kappa);
    log_stay = math::log_sigmoid(kappa);
    // Uniform switch among the S − 1 other states.
    log_switch = math::log_sigmoid(-kappa) - math::log(A(S - 1));
    // log π = ι − logsumexp(ι)
    A iota[cnv_max_states];
    for (int c = 0; c < S; ++c) iota[c] = A(p(L.initial(c)));
    const A lse = cnv_smax<A>(S, false, [&](int c) { return iota[c]; });
    for (int c = 0; c < S; ++c) log_pi[c] = iota[c] - lse;
  }
  KOKKOS_INLINE_FUNCTION A log_trans(int i, int j) const { return i == j ? log_stay : log_switch; }
  /// Gaussian log-density of log-ratio r under state c.
  KOKKOS_INLINE_FUNCTION A gauss(const A& r, int c) const {
    const A z = (r - mu[c]) * inv_sd[c];
    return A(-0.5) * z * z - log_sd[c] - A(0.91893853320467274178);  // ½·log 2π
  }
  /// Emission log-density: log((1 − ε)·N(r; μ_c, σ_c) + ε/w).
  KOKKOS_INLINE_FUNCTION A emission(const A& r, int c) const {
    const A g = gauss(r, c);
    if (!outliers) return g;
    using math::value_of;
    const A a = A(log_keep) + g, o = A(log_outlier);
    return value_of(a) >= value_of(o) ? a + math::log1p(math::exp(o - a))
                                                  : o + math::log1p(math::exp(a - o));
  }
  /// ∂emission/∂gauss: the responsibility of the Gaussian component.
  KOKKOS_INLINE_FUNCTION A gauss_weight(const A& r, int c) const {
    if (!outliers) return A(1);
    return math::exp(A(log_keep) + gauss(r, c) - emission(r, c));
  }
};

/// Forward sweep of one track (steps F1–F5).
template <class Scalar, class A, class Mem, class ParamView>
struct CNVForwardFunctor {
  int S, Tpad;
  bool hard;
  double tau;  // > 0 unless hard
  double sd_offset[cnv_max_states];
  double outlier_prob;
  ParamView params;
  Kokkos::View<const Scalar**, Mem> track;
  Kokkos::View<const std::uint8_t**, Mem> mask;
  Kokkos::View<const int*, Mem> length;
  Kokkos::View<A***, Mem> alpha, beta;
  Kokkos::View<Scalar***, Mem> posterior;
  Kokkos::View<Scalar*, Mem> loglik;
  Kokkos::View<int**, Mem> path;

  KOKKOS_INLINE_FUNCTION bool present(int b, int t) const {
    return mask.extent(0) == 0 || mask(b, t) != 0;
  }
  KOKKOS_INLINE_FUNCTION A emit(const CNVModel<A>& m, int b, int t, int c) const {
    return present(b, t) ? m.emission(A(track(b, t)), c) : A(0);
  }

  KOKKOS_INLINE_FUNCTION void operator()(const int b) const {
    using math::value_of;
    CNVModel<A> m;
    m.load(params, S, sd_offset, outlier_prob);
    const int n = length(b) < Tpad ? length(b) : Tpad;
    for (int t = (n > 0 ? n : 0); t < Tpad; ++t) {  // padding: no state, zero posterior
      path(b, t) = -1;
      for (int c = 0; c < S; ++c) posterior(b, t, c) = Scalar(0);
    }
    if (n <= 0) {
      loglik(b) = Scalar(0);
      return;
    }
    // Tempered potentials x/τ; τ' = 1 (log-semiring) or 0 (max-plus) in the recursions.
    const A s = hard ? A(1) : A(1.0 / tau);
    // F2: α_0(c) = s·(log π_c + e_0(c)); α_t(c) = s·e_t(c) + smax_i(α_{t−1}(i) + s·log A_ic)
    for (int c = 0; c < S; ++c) alpha(b, 0, c) = s * (m.log_pi[c] + emit(m, b, 0, c));
    for (int t = 1; t < n; ++t)
      for (int c = 0; c < S; ++c)
        alpha(b, t, c) = s * emit(m, b, t, c) + cnv_smax<A>(S, hard, [&](int i) {
                           return alpha(b, t - 1, i) + s * m.log_trans(i, c);
                         });
    // F3: Z = smax_c α_{n−1}(c); loglik = Z/s (= τ·log Σ_paths e^{score/τ}, or the Viterbi score)
    const A Z = cnv_smax<A>(S, hard, [&](int c) { return alpha(b, n - 1, c); });
    loglik(b) = Scalar(Z / s);
    if (hard) {
      // F4 (hard): traceback with the first maximiser, posterior = one-hot of the path.
      int state = 0;
      for (int c = 1; c < S; ++c)
        if (value_of(alpha(b, n - 1, c)) > value_of(alpha(b, n - 1, state))) state = c;
      path(b, n - 1) = state;
      for (int t = n - 1; t >= 1; --t) {
        int best = 0;
        A bv = alpha(b, t - 1, 0) + m.log_trans(0, state);
        for (int i = 1; i < S; ++i) {
          const A v = alpha(b, t - 1, i) + m.log_trans(i, state);
          if (value_of(v) > value_of(bv)) {
            bv = v;
            best = i;
          }
        }
        state = best;
        path(b, t - 1) = state;
      }
      for (int t = 0; t < n; ++t)
        for (int c = 0; c < S; ++c) posterior(b, t, c) = Scalar(path(b, t) == c ? 1 : 0);
      return;
    }
    // F4: β_{n−1} = 0; β_t(c) = smax_j(s·log A_cj + s·e_{t+1}(j) + β_{t+1}(j))
    for (int c = 0; c < S; ++c) beta(b, n - 1, c) = A(0);
    for (int t = n - 2; t >= 0; --t) {
      A e_next[cnv_max_states];
      for (int j = 0; j < S; ++j) e_next[j] = s * emit(m, b, t + 1, j);
      for (int c = 0; c < S; ++c)
        beta(b, t, c) = cnv_smax<A>(S, hard, [&](int j) {
          return s * m.log_trans(c, j) + e_next[j] + beta(b, t + 1, j);
        });
    }
    // F5: γ_t(c) = exp(α_t(c) + β_t(c) − Z); path = posterior decoding (first argmax).
    for (int t = 0; t < n; ++t) {
      int best = 0;
      A best_g = A(0);
      for (int c = 0; c < S; ++c) {
        const A g = math::exp(alpha(b, t, c) + beta(b, t, c) - Z);
        posterior(b, t, c) = Scalar(g);
        if (c == 0 || value_of(g) > value_of(best_g)) {
          best = c;
          best_g = g;
        }
      }
      path(b, t) = best;
    }
  }
};

/// Adjoint of one track (steps B1–B6); writes the track's parameter-gradient row and adds into
/// d_track. Reuses α, β (soft) or the path (hard) of the forward.
template <class Scalar, class A, class Mem, class ParamView>
struct CNVAdjointFunctor {
  int S, Tpad;
  bool hard;
  double tau;
  double sd_offset[cnv_max_states];
  double outlier_prob;
  ParamView params;
  Kokkos::View<const Scalar**, Mem> track;
  Kokkos::View<const std::uint8_t**, Mem> mask;
  Kokkos::View<const int*, Mem> length;
  Kokkos::View<const A***, Mem> alpha, beta;
  Kokkos::View<const int**, Mem> path;
  Kokkos::View<const Scalar***, Mem> d_posterior;
  Kokkos::View<const Scalar*, Mem> d_loglik;
  Kokkos::View<Scalar**, Mem> d_track;
  Kokkos::View<double**, Mem> rows;  // [B × n_params]

  KOKKOS_INLINE_FUNCTION bool present(int b, int t) const {
    return mask.extent(0) == 0 || mask(b, t) != 0;
  }

  // B5: ē_t(c) → μ̄_c, (log σ)‾, r̄_t.
  struct EmissionSink {
    const CNVAdjointFunctor* f;
    const CNVModel<A>* m;
    int b;
    A* mu_bar;
    A* log_sigma_bar;
    KOKKOS_INLINE_FUNCTION void operator()(int t, int c, A ebar) const {
      if (!f->present(b, t)) return;  // masked bins emit a constant
      const A r = A(f->track(b, t));
      const A z = (r - m->mu[c]) * m->inv_sd[c];
      ebar = ebar * m->gauss_weight(r, c);
      mu_bar[c] += ebar * z * m->inv_sd[c];
      *log_sigma_bar += ebar * (z * z - A(1));
      if (f->d_track.extent(0) > 0) f->d_track(b, t) += Scalar(-ebar * z * m->inv_sd[c]);
    }
  };

  KOKKOS_INLINE_FUNCTION void operator()(const int b) const {
    using math::value_of;
    const CNVLayout L{S};
    for (int k = 0; k < L.size(); ++k) rows(b, k) = 0.0;
    const int n = length(b) < Tpad ? length(b) : Tpad;
    if (n <= 0) return;
    CNVModel<A> m;
    m.load(params, S, sd_offset, outlier_prob);
    const A dV = d_loglik.extent(0) > 0 ? A(d_loglik(b)) : A(0);
    A mu_bar[cnv_max_states], pi_bar[cnv_max_states];
    for (int c = 0; c < S; ++c) mu_bar[c] = pi_bar[c] = A(0);
    A log_sigma_bar = A(0), stay_bar = A(0), switch_bar = A(0);
    EmissionSink sink{this, &m, b, mu_bar, &log_sigma_bar};

    if (hard) {
      // B1 (hard): V = path score; every term on the path gets dV; posteriors are constant.
      for (int t = 0; t < n; ++t) {
        const int c = path(b, t);
        sink(t, c, dV);
        if (t == 0)
          pi_bar[c] += dV;
        else if (path(b, t - 1) == c)
          stay_bar += dV;
        else
          switch_bar += dV;
      }
    } else {
      const A s = A(1.0 / tau);
      auto emit = [&](int t, int c) { return present(b, t) ? m.emission(A(track(b, t)), c) : A(0); };
      const A Z = cnv_smax<A>(S, false, [&](int c) { return alpha(b, n - 1, c); });
      auto gamma = [&](int t, int c) { return math::exp(alpha(b, t, c) + beta(b, t, c) - Z); };
      auto G = [&](int t, int c) {
        return d_posterior.extent(0) > 0 ? A(d_posterior(b, t, c)) * gamma(t, c) : A(0);
      };
      // B1: Z̄ = τ·dV − Σ_{t,c} ḡ_t(c)·γ_t(c)  (γ = e^{α+β−Z} depends on Z)
      A Zbar = A(tau) * dV;
      if (d_posterior.extent(0) > 0)
        for (int t = 0; t < n; ++t)
          for (int c = 0; c < S; ++c) Zbar -= G(t, c);
      // Adjoints of the tempered potentials e' = s·e, log A' = s·log A, log π' = s·log π are
      // collected, then scaled by s (B4).
      // B2: the backward table, t = 0 .. n−2 (β_t depends on β_{t+1}, e_{t+1}).
      A bb[cnv_max_states], nb[cnv_max_states];
      for (int c = 0; c < S; ++c) bb[c] = G(0, c);
      for (int t = 0; t + 1 < n; ++t) {
        A e_next[cnv_max_states];
        for (int j = 0; j < S; ++j) {
          e_next[j] = s * emit(t + 1, j);
          nb[j] = G(t + 1, j);
        }
        A ebar_next[cnv_max_states];
        for (int j = 0; j < S; ++j) ebar_next[j] = A(0);
        for (int c = 0; c < S; ++c) {
          if (value_of(bb[c]) == 0) continue;
          for (int j = 0; j < S; ++j) {
            const A w = bb[c] * math::exp(s * m.log_trans(c, j) + e_next[j] + beta(b, t + 1, j) -
                                          beta(b, t, c));
            if (c == j)
              stay_bar += s * w;
            else
              switch_bar += s * w;
            ebar_next[j] += w;
            nb[j] += w;
          }
        }
        for (int j = 0; j < S; ++j) {
          sink(t + 1, j, s * ebar_next[j]);
          bb[j] = nb[j];
        }
      }
      // B3: the forward table, t = n−1 .. 0, seeded by ḡγ and Z̄·softmax(α_{n−1}) = Z̄·γ_{n−1}.
      A aa[cnv_max_states], pa[cnv_max_states];
      for (int c = 0; c < S; ++c) aa[c] = G(n - 1, c) + Zbar * gamma(n - 1, c);
      for (int t = n - 1; t >= 1; --t) {
        for (int i = 0; i < S; ++i) pa[i] = G(t - 1, i);
        for (int c = 0; c < S; ++c) {
          const A ec = s * emit(t, c);
          sink(t, c, s * aa[c]);
          if (value_of(aa[c]) == 0) continue;
          const A pre = alpha(b, t, c) - ec;  // smax_i(α_{t−1}(i) + s·log A_ic)
          for (int i = 0; i < S; ++i) {
            const A u = aa[c] * math::exp(alpha(b, t - 1, i) + s * m.log_trans(i, c) - pre);
            if (i == c)
              stay_bar += s * u;
            else
              switch_bar += s * u;
            pa[i] += u;
          }
        }
        for (int i = 0; i < S; ++i) aa[i] = pa[i];
      }
      for (int c = 0; c < S; ++c) {
        sink(0, c, s * aa[c]);
        pi_bar[c] += s * aa[c];
      }
    }
    // B6: parameters. log A_cc = log σ(κ), log A_cj = log σ(−κ) − log(S−1):
    // κ̄ = Ā_stay·(1 − p) − Ā_switch·p;  log π = ι − lse(ι): ῑ_c = π̄_c − π_c·Σπ̄.
    A pi_sum = A(0);
    for (int c = 0; c < S; ++c) pi_sum += pi_bar[c];
    for (int c = 0; c < S; ++c) {
      rows(b, L.mean(c)) = static_cast<double>(mu_bar[c]);
      rows(b, L.initial(c)) = static_cast<double>(pi_bar[c] - math::exp(m.log_pi[c]) * pi_sum);
    }
    rows(b, L.log_sigma()) = static_cast<double>(log_sigma_bar);
    rows(b, L.stay_logit()) =
        static_cast<double>(stay_bar * (A(1) - m.p_stay) - switch_bar * m.p_stay);
  }
};

/// Sums the per-track rows (reduce_rows_into's row functor).
template <class Mem>
struct CNVReduceRow {
  Kokkos::View<const double**, Mem> rows;
  int np;
  template <class Sink>
  KOKKOS_INLINE_FUNCTION void operator()(const int b, Sink& sink) const {
    for (int k = 0; k < np; ++k) sink.add(k, rows(b, k));
  }
};

}  // namespace Impl
}  // namespace diffbio

#endif
