// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_GradientReduction.hpp
/// \brief Row-wise reductions of parameter gradients, fast or bitwise deterministic.
///
/// Adjoint kernels produce, for each row (read, cell, pair), a contribution to a few parameter
/// gradients; the sum over rows is a reduction whose rounding depends on the order, hence on the
/// thread count and on how rows are sharded over MPI ranks.
///
/// Deterministic mode makes that sum exact: every contribution is rounded to a fixed grid
/// q = 2^e (e = grid_exponent, default −36, q ≈ 1.5e−11). Doubles that are multiples of q and whose
/// partial sums stay below 2^53·q in magnitude add *exactly*, so every order of summation (any thread
/// count, any rank count, MPI_Allreduce included) gives the same bits. The reduction also returns
/// Σ|contribution| as a bound; if it reaches 2^52·q (≈ 6.9e4 for e = −36) exactness is not
/// guaranteed and the caller raises ExitCode::numerical instead of silently losing determinism.
/// The price is the absolute resolution q per contribution.
#ifndef DIFFBIO_GRADIENT_REDUCTION_HPP
#define DIFFBIO_GRADIENT_REDUCTION_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Types.hpp>

#include <cmath>
#include <string>

namespace diffbio {

/// How adjoint kernels sum per-row contributions into parameter gradients.
struct ReductionMode {
  bool deterministic = false;
  int grid_exponent = -36;  ///< q = 2^grid_exponent in deterministic mode
  double quantum() const { return std::ldexp(1.0, grid_exponent); }
  /// Largest Σ|contribution| for which grid sums stay exact (2^52·q: one bit of headroom).
  double exact_bound() const { return std::ldexp(1.0, 52 + grid_exponent); }
};

namespace Impl {

/// What a row functor writes into: `add(k, v)` adds contribution v to gradient component k.
struct GradientSink {
  double* acc;
  int n;
  double quantum;      // > 0: deterministic mode
  double inv_quantum;

  KOKKOS_INLINE_FUNCTION void add(int k, double v) const {
    if (quantum > 0) {
      // Round to the grid. nearbyint of a double is exact in any rounding mode used here.
      v = compat::nearbyint(v * inv_quantum) * quantum;
    }
    acc[k] += v;
    acc[n] += compat::fabs(v);  // the exactness bound (only meaningful in deterministic mode)
  }
};

template <class RowFunctor>
struct RowReduceFunctor {
  using value_type = double[];
  using size_type = unsigned;
  unsigned value_count;  // n components + 1 bound
  RowFunctor f;
  double quantum, inv_quantum;

  KOKKOS_INLINE_FUNCTION void operator()(const int row, value_type acc) const {
    GradientSink sink{acc, static_cast<int>(value_count) - 1, quantum, inv_quantum};
    f(row, sink);
  }
  KOKKOS_INLINE_FUNCTION void init(value_type acc) const {
    for (unsigned k = 0; k < value_count; ++k) acc[k] = 0.0;
  }
  KOKKOS_INLINE_FUNCTION void join(DIFFBIO_JOIN_VOLATILE double* dst,
                                   const DIFFBIO_JOIN_VOLATILE double* src) const {
    for (unsigned k = 0; k < value_count; ++k) dst[k] += src[k];
  }
};

template <class GradView>
struct AddIntoGradients {
  GradView grad;
  Kokkos::View<const double*, typename GradView::memory_space> sums;
  KOKKOS_INLINE_FUNCTION void operator()(const int k) const { grad(k) += sums(k); }
};

}  // namespace Impl

/// Sums per-row gradient contributions into `grad` (+=), in the given mode.
///
/// \param exec execution space instance (first, as in Kokkos Kernels)
/// \param label kernel label suffix ("DiffBio::" is prepended)
/// \param n_rows rows to reduce over
/// \param grad [inout] gradient View of rank 1 (a block of the model's gradient buffer)
/// \param mode fast or deterministic
/// \param f device functor `f(row, sink)`; calls `sink.add(k, value)` for 0 <= k < grad.extent(0)
/// \return Σ|contribution| (the exactness bound in deterministic mode)
/// \throws Error(ExitCode::numerical) if a contribution is NaN/inf or the exactness bound is exceeded
/// Blocking: the sums are needed on the host to check them.
template <class ExecSpace, class GradView, class RowFunctor>
double reduce_rows_into(const ExecSpace& exec, const std::string& what, int n_rows,
                        const GradView& grad, const ReductionMode& mode, const RowFunctor& f) {
  static_assert(Kokkos::is_view<GradView>::value, "grad must be a Kokkos::View");
  static_assert(GradView::rank == 1, "grad must be rank 1");
  static_assert(std::is_same<typename GradView::non_const_value_type, double>::value,
                "gradients are accumulated in double (accum_t)");
  const int n = static_cast<int>(grad.extent(0));
  using mem = typename ExecSpace::memory_space;
  Kokkos::View<double*, mem> sums(Kokkos::view_alloc(label(what + "::row_sums"), exec), n + 1);
  Impl::RowReduceFunctor<RowFunctor> functor{static_cast<unsigned>(n + 1), f,
                                              mode.deterministic ? mode.quantum() : 0.0,
                                              mode.deterministic ? 1.0 / mode.quantum() : 0.0};
  Kokkos::parallel_reduce(label(what), Kokkos::RangePolicy<ExecSpace>(exec, 0, n_rows), functor,
                          sums);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sums);
  for (int k = 0; k <= n; ++k) {
    if (!std::isfinite(h(k)))
      throw Error(ExitCode::numerical, "DiffBio: non-finite gradient in " + what);
  }
  if (mode.deterministic && h(n) >= mode.exact_bound())
    throw Error(ExitCode::numerical,
                "DiffBio: deterministic reduction in " + what + " exceeds its exact range (sum |g| = " +
                    std::to_string(h(n)) + "); raise the grid exponent");
  Kokkos::parallel_for(label(what + "::add"), Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
                       Impl::AddIntoGradients<GradView>{grad, sums});
  return h(n);
}

}  // namespace diffbio

#endif
