// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_WeightedPooling.hpp
/// \brief WeightedPooling: weighted mean of a per-position profile over each read (a weighted
/// segment sum normalised by the summed weight) — the "counting → weighted segment sums" operator.
///
///   pooled[b,a] = Σ_{p<len(b)} f[b,p,a] / (Σ_{p<len(b)} w[b,p] + ε)
///
/// where f = w·x usually comes from QualityFilter. ε > 0 keeps an all-filtered or empty read finite
/// (pooled = 0, finite gradients). No parameters. Adjoint in ADJOINT.md.
#ifndef DIFFBIO_WEIGHTED_POOLING_HPP
#define DIFFBIO_WEIGHTED_POOLING_HPP

#include <DiffBio_Error.hpp>
#include <DiffBio_Types.hpp>

namespace diffbio {

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class WeightedPooling {
 public:
  using memory_space = typename ExecSpace::memory_space;
  using A_t = accum_t<Scalar>;
  static constexpr int n_params = 0;

  struct Inputs {
    Kokkos::View<const Scalar***, memory_space> filtered;  ///< [B×L×A] weighted profile
    Kokkos::View<const Scalar**, memory_space> weight;     ///< [B×L]
    Kokkos::View<const int*, memory_space> length;         ///< [B]
  };
  struct Outputs {
    Kokkos::View<Scalar**, memory_space> pooled;  ///< [B×A]
  };
  struct OutputGrads {
    Kokkos::View<const Scalar**, memory_space> d_pooled;
  };
  struct InputGrads {
    Kokkos::View<Scalar***, memory_space> d_filtered;  ///< may be empty
    Kokkos::View<Scalar**, memory_space> d_weight;     ///< may be empty
  };
  /// Saved for the adjoint: the normaliser W_b = Σ w + ε of each read.
  struct Workspace {
    Kokkos::View<A_t*, memory_space> norm;
  };

  explicit WeightedPooling(double epsilon = 1e-6) : eps_(epsilon) {}

  static Outputs allocate_outputs(const Inputs& in) {
    return {Kokkos::View<Scalar**, memory_space>(label("WeightedPooling::pooled"),
                                                 in.filtered.extent(0), in.filtered.extent(2))};
  }
  static Workspace allocate_workspace(const Inputs& in) {
    return {Kokkos::View<A_t*, memory_space>(label("WeightedPooling::norm"), in.filtered.extent(0))};
  }

  /// Forward, one read per work item, positions summed in order in accum_t. Non-blocking.
  void forward(const ExecSpace& exec, const Inputs& in, const Outputs& out, Workspace& ws) const {
    DIFFBIO_EXPECTS(in.weight.extent(0) == in.filtered.extent(0) &&
                        in.weight.extent(1) == in.filtered.extent(1) &&
                        ws.norm.extent(0) == in.filtered.extent(0),
                    "WeightedPooling: shapes differ");
    const int A = static_cast<int>(in.filtered.extent(2));
    const A_t eps = A_t(eps_);
    auto f = in.filtered;
    auto w = in.weight;
    auto len = in.length;
    auto pooled = out.pooled;
    auto norm = ws.norm;
    Kokkos::parallel_for(
        label("WeightedPooling::forward"),
        Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(f.extent(0))),
        KOKKOS_LAMBDA(const int b) {
          A_t wsum = A_t(0);
          for (int p = 0; p < len(b); ++p) wsum += A_t(w(b, p));
          const A_t W = wsum + eps;
          norm(b) = W;
          for (int a = 0; a < A; ++a) {
            A_t s = A_t(0);
            for (int p = 0; p < len(b); ++p) s += A_t(f(b, p, a));
            pooled(b, a) = Scalar(s / W);
          }
        });
  }

  /// Adjoint: f̄[b,p,a] += ȳ[b,a]/W_b;  w̄[b,p] += −Σ_a ȳ[b,a]·pooled[b,a]/W_b. Non-blocking.
  void adjoint(const ExecSpace& exec, const Inputs& in, const Outputs& out, const Workspace& ws,
               const OutputGrads& d_out, const InputGrads& d_in) const {
    const int L = static_cast<int>(in.filtered.extent(1));
    const int A = static_cast<int>(in.filtered.extent(2));
    const bool has_df = d_in.d_filtered.extent(0) > 0;
    const bool has_dw = d_in.d_weight.extent(0) > 0;
    auto len = in.length;
    auto pooled = out.pooled;
    auto norm = ws.norm;
    auto dy = d_out.d_pooled;
    auto df = d_in.d_filtered;
    auto dw = d_in.d_weight;
    Kokkos::parallel_for(
        label("WeightedPooling::adjoint"),
        Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(in.filtered.extent(0)) * L),
        KOKKOS_LAMBDA(const int idx) {
          const int b = idx / L, p = idx % L;
          if (p >= len(b)) return;
          const A_t W = norm(b);
          A_t wbar = A_t(0);
          for (int a = 0; a < A; ++a) {
            const A_t g = A_t(dy(b, a)) / W;
            if (has_df) df(b, p, a) += Scalar(g);
            wbar -= g * A_t(pooled(b, a));
          }
          if (has_dw) dw(b, p) += Scalar(wbar);
        });
  }

 private:
  double eps_;
};

}  // namespace diffbio

#endif
