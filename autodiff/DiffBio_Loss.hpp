// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Loss.hpp
/// \brief Losses with their gradients: softmax cross-entropy, binary cross-entropy with logits,
/// mean squared error, Poisson and negative-binomial negative log-likelihoods.
///
/// Each function returns the *summed* loss over present rows (host double) and adds
/// `scale`·∂loss/∂input into the gradient Views (+=, like every adjoint); pass scale = 1/N for a mean.
/// Masked rows (label < 0, or row_mask(b) == 0) contribute neither loss nor gradient.
/// The loss value is reduced with diffbio::reduce_rows_into, so it is bitwise reproducible in
/// deterministic mode.
#ifndef DIFFBIO_LOSS_HPP
#define DIFFBIO_LOSS_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_SmoothMath.hpp>

namespace diffbio {
namespace math {

/// Digamma ψ(x) for x > 0: recurrence up to x ≥ 10, then the asymptotic series (|error| < 1e-13).
KOKKOS_INLINE_FUNCTION double digamma(double x) {
  double r = 0.0;
  while (x < 10.0) {
    r -= 1.0 / x;
    x += 1.0;
  }
  const double f = 1.0 / (x * x);
  return r + compat::log(x) - 0.5 / x -
         f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}
KOKKOS_INLINE_FUNCTION double lgamma(double x) { return compat::lgamma(x); }

}  // namespace math

namespace Impl {
inline double total_of(const Kokkos::View<double*, Kokkos::HostSpace>& h) { return h(0); }
}  // namespace Impl

/// Softmax cross-entropy: loss_b = logsumexp(logits_b) − logits_b[label_b].
/// \param logits [B×C]; \param labels [B] class index, < 0 = padding; \param d_logits [B×C] (+=)
template <class ExecSpace, class Logits, class Labels, class DLogits>
double softmax_cross_entropy(const ExecSpace& exec, const Logits& logits, const Labels& labels,
                             const DLogits& d_logits, double scale, const ReductionMode& mode) {
  static_assert(Logits::rank == 2 && DLogits::rank == 2, "logits are [batch x classes]");
  const int n_classes = static_cast<int>(logits.extent(1));
  Kokkos::View<double*, typename ExecSpace::memory_space> total(label("loss::total"), 1);
  reduce_rows_into(exec, "loss::softmax_cross_entropy", static_cast<int>(logits.extent(0)), total,
                   mode, KOKKOS_LAMBDA(const int b, const Impl::GradientSink& sink) {
                     const int y = labels(b);
                     if (y < 0) return;
                     const double one = 1.0;
                     auto get = [&](int c) { return static_cast<double>(logits(b, c)); };
                     const double lse = math::smooth_max(n_classes, one, get);
                     for (int c = 0; c < n_classes; ++c) {
                       const double p = math::exp(get(c) - lse);
                       d_logits(b, c) += scale * (p - (c == y ? 1.0 : 0.0));
                     }
                     sink.add(0, lse - get(y));
                   });
  return Impl::total_of(Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), total));
}

/// Binary cross-entropy with logits: loss_b = softplus(z_b) − t_b·z_b (t ∈ [0,1]; t < 0 = padding).
template <class ExecSpace, class Logits, class Targets, class DLogits>
double binary_cross_entropy_with_logits(const ExecSpace& exec, const Logits& logits,
                                        const Targets& targets, const DLogits& d_logits,
                                        double scale, const ReductionMode& mode) {
  Kokkos::View<double*, typename ExecSpace::memory_space> total(label("loss::total"), 1);
  reduce_rows_into(exec, "loss::binary_cross_entropy", static_cast<int>(logits.extent(0)), total,
                   mode, KOKKOS_LAMBDA(const int b, const Impl::GradientSink& sink) {
                     const double t = static_cast<double>(targets(b));
                     if (t < 0) return;
                     const double z = static_cast<double>(logits(b));
                     d_logits(b) += scale * (math::sigmoid(z) - t);
                     sink.add(0, math::softplus(z) - t * z);
                   });
  return Impl::total_of(Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), total));
}

/// Mean squared error summed over entries: loss_b = Σ_j (p_bj − y_bj)²; row_mask(b) == 0 skips b
/// (pass an empty View for no mask).
template <class ExecSpace, class Pred, class Target, class Mask, class DPred>
double squared_error(const ExecSpace& exec, const Pred& pred, const Target& target,
                     const Mask& row_mask, const DPred& d_pred, double scale,
                     const ReductionMode& mode) {
  const int d = static_cast<int>(pred.extent(1));
  const bool masked = row_mask.extent(0) > 0;
  Kokkos::View<double*, typename ExecSpace::memory_space> total(label("loss::total"), 1);
  reduce_rows_into(exec, "loss::squared_error", static_cast<int>(pred.extent(0)), total, mode,
                   KOKKOS_LAMBDA(const int b, const Impl::GradientSink& sink) {
                     if (masked && !row_mask(b)) return;
                     double s = 0;
                     for (int j = 0; j < d; ++j) {
                       const double r = static_cast<double>(pred(b, j)) - target(b, j);
                       s += r * r;
                       d_pred(b, j) += scale * 2.0 * r;
                     }
                     sink.add(0, s);
                   });
  return Impl::total_of(Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), total));
}

/// Poisson NLL with log-rate η: loss = Σ_j e^{η_bj} − y_bj·η_bj + lgamma(y_bj + 1).
template <class ExecSpace, class LogRate, class Counts, class DLogRate>
double poisson_nll(const ExecSpace& exec, const LogRate& log_rate, const Counts& counts,
                   const DLogRate& d_log_rate, double scale, const ReductionMode& mode) {
  const int g = static_cast<int>(log_rate.extent(1));
  Kokkos::View<double*, typename ExecSpace::memory_space> total(label("loss::total"), 1);
  reduce_rows_into(exec, "loss::poisson_nll", static_cast<int>(log_rate.extent(0)), total, mode,
                   KOKKOS_LAMBDA(const int b, const Impl::GradientSink& sink) {
                     double s = 0;
                     for (int j = 0; j < g; ++j) {
                       const double eta = static_cast<double>(log_rate(b, j));
                       const double y = static_cast<double>(counts(b, j));
                       const double mu = math::exp(eta);
                       s += mu - y * eta + math::lgamma(y + 1.0);
                       d_log_rate(b, j) += scale * (mu - y);
                     }
                     sink.add(0, s);
                   });
  return Impl::total_of(Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), total));
}

/// Negative-binomial NLL with mean μ = e^{log_mu[b,j]} and gene-wise inverse dispersion
/// θ_j = e^{log_theta[j]} (scVI's parameterisation):
///   −log p = −lgamma(y+θ) + lgamma(θ) + lgamma(y+1) − θ log(θ/(θ+μ)) − y log(μ/(θ+μ)).
/// Gradients: ∂/∂log μ = θ(μ − y)/(θ + μ);
///            ∂/∂log θ = −θ[ψ(y+θ) − ψ(θ) + log(θ/(θ+μ)) + (μ − y)/(θ+μ)].
/// d_log_theta is a per-gene sum over rows, computed gene-parallel (deterministic order).
template <class ExecSpace, class LogMu, class LogTheta, class Counts, class DLogMu, class DLogTheta>
double negative_binomial_nll(const ExecSpace& exec, const LogMu& log_mu, const LogTheta& log_theta,
                             const Counts& counts, const DLogMu& d_log_mu,
                             const DLogTheta& d_log_theta, double scale,
                             const ReductionMode& mode) {
  const int n = static_cast<int>(log_mu.extent(0));
  const int g = static_cast<int>(log_mu.extent(1));
  Kokkos::View<double*, typename ExecSpace::memory_space> total(label("loss::total"), 1);
  reduce_rows_into(exec, "loss::negative_binomial_nll", n, total, mode,
                   KOKKOS_LAMBDA(const int b, const Impl::GradientSink& sink) {
                     double s = 0;
                     for (int j = 0; j < g; ++j) {
                       const double mu = math::exp(static_cast<double>(log_mu(b, j)));
                       const double th = math::exp(static_cast<double>(log_theta(j)));
                       const double y = static_cast<double>(counts(b, j));
                       const double log_th_mu = math::log(th + mu);
                       s += -math::lgamma(y + th) + math::lgamma(th) + math::lgamma(y + 1.0) -
                            th * (math::log(th) - log_th_mu) -
                            y * (static_cast<double>(log_mu(b, j)) - log_th_mu);
                       d_log_mu(b, j) += scale * th * (mu - y) / (th + mu);
                     }
                     sink.add(0, s);
                   });
  Kokkos::parallel_for(
      label("loss::negative_binomial_nll::d_log_theta"), Kokkos::RangePolicy<ExecSpace>(exec, 0, g),
      KOKKOS_LAMBDA(const int j) {
        const double th = math::exp(static_cast<double>(log_theta(j)));
        double acc = 0;
        for (int b = 0; b < n; ++b) {
          const double mu = math::exp(static_cast<double>(log_mu(b, j)));
          const double y = static_cast<double>(counts(b, j));
          acc += -th * (math::digamma(y + th) - math::digamma(th) + math::log(th / (th + mu)) +
                        (mu - y) / (th + mu));
        }
        d_log_theta(j) += scale * acc;
      });
  return Impl::total_of(Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), total));
}

}  // namespace diffbio

#endif
