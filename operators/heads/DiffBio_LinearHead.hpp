// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_LinearHead.hpp
/// \brief LinearHead: logits[b,c] = Σ_f W[c,f]·x[b,f] + β[c], the classifier head (logistic when
/// C = 1). Parameters are one block [W (C×F, row-major), β (C)].
#ifndef DIFFBIO_LINEAR_HEAD_HPP
#define DIFFBIO_LINEAR_HEAD_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>

#include <string>
#include <vector>

namespace diffbio {

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class LinearHead {
 public:
  using memory_space = typename ExecSpace::memory_space;
  using A_t = accum_t<Scalar>;

  struct Inputs {
    Kokkos::View<const Scalar**, memory_space> features;  ///< [B×F]
  };
  struct Outputs {
    Kokkos::View<Scalar**, memory_space> logits;  ///< [B×C]
  };
  struct OutputGrads {
    Kokkos::View<const Scalar**, memory_space> d_logits;
  };
  struct InputGrads {
    Kokkos::View<Scalar**, memory_space> d_features;  ///< may be empty
  };
  struct Workspace {};

  LinearHead(int n_features, int n_classes) : F_(n_features), C_(n_classes) {
    DIFFBIO_EXPECTS(F_ > 0 && C_ > 0, "LinearHead: sizes must be positive");
  }
  int n_params() const { return C_ * F_ + C_; }
  int n_features() const { return F_; }
  int n_classes() const { return C_; }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "linear_head") const {
    return layout.add(prefix + "/weight_bias", static_cast<std::size_t>(n_params()));
  }
  /// Deterministic small initial weights (a fixed pattern, not random: reproducible everywhere).
  std::vector<double> initial_params(double amplitude = 0.01) const {
    std::vector<double> p(static_cast<std::size_t>(n_params()), 0.0);
    for (int i = 0; i < C_ * F_; ++i) p[i] = amplitude * ((i % 7) - 3) / 3.0;
    return p;
  }
  Outputs allocate_outputs(const Inputs& in) const {
    return {Kokkos::View<Scalar**, memory_space>(label("LinearHead::logits"), in.features.extent(0),
                                                 C_)};
  }

  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& /*ws*/) const {
    DIFFBIO_EXPECTS(static_cast<int>(in.features.extent(1)) == F_ &&
                        static_cast<int>(out.logits.extent(1)) == C_ &&
                        static_cast<int>(params.extent(0)) == n_params(),
                    "LinearHead: shape mismatch");
    const int F = F_, C = C_;
    auto x = in.features;
    auto y = out.logits;
    Kokkos::parallel_for(
        label("LinearHead::forward"),
        Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(x.extent(0)) * C),
        KOKKOS_LAMBDA(const int idx) {
          const int b = idx / C, c = idx % C;
          A_t s = A_t(params(C * F + c));
          for (int f = 0; f < F; ++f) s += A_t(params(c * F + f) * x(b, f));
          y(b, c) = Scalar(s);
        });
  }

  /// x̄[b,f] += Σ_c W[c,f]·ȳ[b,c];  W̄[c,f] += Σ_b ȳ[b,c]·x[b,f];  β̄[c] += Σ_b ȳ[b,c].
  /// Blocking (parameter sums are checked on the host).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in,
               const Workspace& /*ws*/, const OutputGrads& d_out, const InputGrads& d_in,
               const GradView& d_params, const ReductionMode& mode = {}) const {
    const int F = F_, C = C_;
    auto x = in.features;
    auto dy = d_out.d_logits;
    auto dx = d_in.d_features;
    const bool has_dx = dx.extent(0) > 0;
    if (has_dx) {
      Kokkos::parallel_for(
          label("LinearHead::adjoint_input"),
          Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(x.extent(0)) * F),
          KOKKOS_LAMBDA(const int idx) {
            const int b = idx / F, f = idx % F;
            A_t s = A_t(0);
            for (int c = 0; c < C; ++c) s += A_t(params(c * F + f)) * A_t(dy(b, c));
            dx(b, f) += Scalar(s);
          });
    }
    reduce_rows_into(exec, "LinearHead::adjoint_params", static_cast<int>(x.extent(0)), d_params,
                     mode, KOKKOS_LAMBDA(const int b, const Impl::GradientSink& sink) {
                       for (int c = 0; c < C; ++c) {
                         const double g = static_cast<double>(dy(b, c));
                         for (int f = 0; f < F; ++f)
                           sink.add(c * F + f, g * static_cast<double>(x(b, f)));
                         sink.add(C * F + c, g);
                       }
                     });
  }

 private:
  int F_, C_;
};

}  // namespace diffbio

#endif
