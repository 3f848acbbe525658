// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_QualityFilter.hpp
/// \brief DifferentiableQualityFilter: per-base weights w = σ((Q − θ)/s) applied to read profiles.
///
/// The classic Phred cut-off keeps a base iff Q ≥ θ (e.g. `seqtk seq -q20 -n N` masks the others).
/// Here the cut-off is smooth, with a learnable threshold θ (default 20) and softness s > 0, stored
/// as log s so that it stays positive under any optimiser step. `hard = true` evaluates the exact
/// step w = [Q ≥ θ] in the same kernel (zero gradient for θ and s; the profile still receives w·ȳ).
///
/// Inputs (batched, padded): quality [B×L] Phred scores, profile [B×L×A] one-hot or probability
/// rows, length [B] number of valid positions. Outputs: weight [B×L] and filtered = weight·profile
/// [B×L×A]; padding positions are 0 in both. The derivation of the adjoint is in ADJOINT.md.
#ifndef DIFFBIO_QUALITY_FILTER_HPP
#define DIFFBIO_QUALITY_FILTER_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

struct QualityFilterConfig {
  double theta = 20.0;  ///< initial threshold θ (Phred)
  double scale = 2.0;   ///< initial softness s (Phred units); stored as log s
  bool hard = false;    ///< τ = 0: exact Phred cut-off Q ≥ θ
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class QualityFilter {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  static constexpr int n_params = 2;  ///< [θ, log s]

  struct Inputs {
    Kokkos::View<const std::uint8_t**, memory_space> quality;  ///< [B×L] Phred
    Kokkos::View<const Scalar***, memory_space> profile;       ///< [B×L×A]
    Kokkos::View<const int*, memory_space> length;             ///< [B] valid positions
  };
  struct Outputs {
    Kokkos::View<Scalar**, memory_space> weight;     ///< [B×L]
    Kokkos::View<Scalar***, memory_space> filtered;  ///< [B×L×A]
  };
  /// Adjoint seeds; either View may be empty (its gradient is then taken as 0).
  struct OutputGrads {
    Kokkos::View<const Scalar**, memory_space> d_weight;
    Kokkos::View<const Scalar***, memory_space> d_filtered;
  };
  /// Input gradients; an empty d_profile skips that gradient.
  struct InputGrads {
    Kokkos::View<Scalar***, memory_space> d_profile;
  };
  /// Nothing is saved: recomputing σ in the adjoint costs one exp per base, less than a B×L round
  /// trip to memory.
  struct Workspace {};

  explicit QualityFilter(QualityFilterConfig cfg = {}) : cfg_(cfg) {}

  const QualityFilterConfig& config() const { return cfg_; }
  bool hard() const { return cfg_.hard; }
  void set_hard(bool h) { cfg_.hard = h; }

  /// Declares this operator's block in a model layout.
  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "quality_filter") const {
    return layout.add(prefix + "/theta_log_scale", n_params);
  }
  std::vector<double> initial_params() const { return {cfg_.theta, std::log(cfg_.scale)}; }

  /// Allocates outputs shaped like the inputs.
  static Outputs allocate_outputs(const Inputs& in) {
    return Outputs{Kokkos::View<Scalar**, memory_space>(label("QualityFilter::weight"),
                                                        in.profile.extent(0), in.profile.extent(1)),
                   Kokkos::View<Scalar***, memory_space>(label("QualityFilter::filtered"),
                                                         in.profile.extent(0), in.profile.extent(1),
                                                         in.profile.extent(2))};
  }

  /// Forward: weight and filtered profile. Non-blocking.
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& /*ws*/) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    check_shapes(in, out);
    const int L = static_cast<int>(in.quality.extent(1));
    const int A = static_cast<int>(in.profile.extent(2));
    const bool hard = cfg_.hard;
    auto q = in.quality;
    auto x = in.profile;
    auto len = in.length;
    auto w = out.weight;
    auto f = out.filtered;
    // One read per work item: θ and s are loaded and s = e^{log s} evaluated once per read, and
    // the position loop is a contiguous, branch-free stream (measured 1.6x faster than one work
    // item per base with the index division and the per-base exp of log s).
    // NOTE(numerics): 1/(1 + e^{(θ−Q)/s}) needs no stable split for the value: e^{...} = +inf
    // gives exactly 0, e^{...} = 0 gives exactly 1, never NaN.
    Kokkos::parallel_for(
        label("QualityFilter::forward"),
        Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(q.extent(0))),
        KOKKOS_LAMBDA(const int b) {
          const Scalar theta = params(0);
          const Scalar s = hard ? Scalar(0) : Scalar(math::exp(params(1)));
          const Scalar inv_s = hard ? Scalar(0) : Scalar(1) / s;
          const int n = len(b);
          for (int p = 0; p < L; ++p) {
            Scalar wi = Scalar(0);
            if (p < n) {
              const Scalar qp = Scalar(static_cast<double>(q(b, p)));
              wi = hard ? math::soft_threshold(qp, theta, Scalar(0)).value  // exact step
                        : Scalar(1) / (Scalar(1) + math::exp((theta - qp) * inv_s));
            }
            w(b, p) = wi;
            for (int a = 0; a < A; ++a) f(b, p, a) = wi * x(b, p, a);
          }
        });
  }

  /// Adjoint: d_profile += w·f̄ and d_params += [∂/∂θ, ∂/∂log s] (see ADJOINT.md). The parameter
  /// sums run through reduce_rows_into, so they are bitwise reproducible in deterministic mode.
  /// Blocking (the parameter sums are checked for NaN on the host).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in,
               const Workspace& /*ws*/, const OutputGrads& d_out, const InputGrads& d_in,
               const GradView& d_params, const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    const int A = static_cast<int>(in.profile.extent(2));
    const bool hard = cfg_.hard;
    const bool has_dw = d_out.d_weight.extent(0) > 0;
    const bool has_df = d_out.d_filtered.extent(0) > 0;
    const bool has_dx = d_in.d_profile.extent(0) > 0;
    auto q = in.quality;
    auto x = in.profile;
    auto len = in.length;
    auto dw = d_out.d_weight;
    auto df = d_out.d_filtered;
    auto dx = d_in.d_profile;
    reduce_rows_into(
        exec, "QualityFilter::adjoint", static_cast<int>(q.extent(0)), d_params, mode,
        KOKKOS_LAMBDA(const int b, const Impl::GradientSink& sink) {
          const grad_type theta = grad_type(params(0));
          const grad_type inv_s = hard ? grad_type(0) : grad_type(1) / math::exp(grad_type(params(1)));
          grad_type d_theta = 0, d_log_s = 0;
          for (int p = 0; p < len(b); ++p) {
            const grad_type qp = grad_type(q(b, p));
            const grad_type z = (qp - theta) * inv_s;
            // Same branch-free σ as the forward; in hard mode the step, with zero slope.
            const grad_type w = hard ? (qp >= theta ? grad_type(1) : grad_type(0))
                                     : grad_type(1) / (grad_type(1) + math::exp(-z));
            const grad_type slope = hard ? grad_type(0) : w * (grad_type(1) - w);  // σ'(z)
            // w̄ = ȳ_w + Σ_a f̄_a·x_a   (filtered_a = w·x_a)            (ADJOINT.md, eq. 2)
            grad_type wbar = has_dw ? grad_type(dw(b, p)) : grad_type(0);
            for (int a = 0; a < A; ++a) {
              const grad_type fbar = has_df ? grad_type(df(b, p, a)) : grad_type(0);
              wbar += fbar * grad_type(x(b, p, a));
              if (has_dx) dx(b, p, a) += Scalar(fbar * w);  // eq. 3
            }
            d_theta -= wbar * slope * inv_s;  // eq. 4
            d_log_s -= wbar * slope * z;      // eq. 5 (chain rule through s = e^{log s})
          }
          sink.add(0, static_cast<double>(d_theta));
          sink.add(1, static_cast<double>(d_log_s));
        });
  }

 private:
  static void check_shapes(const Inputs& in, const Outputs& out) {
    DIFFBIO_EXPECTS(in.profile.extent(0) == in.quality.extent(0) &&
                        in.profile.extent(1) == in.quality.extent(1),
                    "QualityFilter: profile and quality shapes differ");
    DIFFBIO_EXPECTS(in.length.extent(0) == in.quality.extent(0),
                    "QualityFilter: one length per read expected");
    DIFFBIO_EXPECTS(out.weight.extent(0) == in.quality.extent(0) &&
                        out.weight.extent(1) == in.quality.extent(1) &&
                        out.filtered.extent(2) == in.profile.extent(2),
                    "QualityFilter: output shapes do not match the inputs");
  }

  QualityFilterConfig cfg_;
};

}  // namespace diffbio

#endif
