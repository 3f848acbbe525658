// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_VariantKernels.hpp
/// \brief Device helpers of the variant operators: MLP activations with their derivatives, and
/// the in-order sum of fixed-chunk partials (deterministic for any thread count).
#ifndef DIFFBIO_VARIANT_KERNELS_HPP
#define DIFFBIO_VARIANT_KERNELS_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Dual.hpp>
#include <DiffBio_SmoothMath.hpp>

#include <string>

namespace diffbio {

/// Hidden-layer nonlinearity of VariantClassifier.
enum class Activation { relu, tanh, softplus };

namespace variant_impl {

/// tanh for float/double (Kokkos' device tanh); the dual overload below carries the tangent.
template <class T>
KOKKOS_INLINE_FUNCTION T tanh_of(const T& z) {
  return compat::tanh(z);
}
template <class T>
KOKKOS_INLINE_FUNCTION ad::Dual<T> tanh_of(const ad::Dual<T>& z) {
  const T t = tanh_of(z.v);
  return {t, (T(1) - t * t) * z.d};
}

/// act(z). relu(0) = 0.
template <class T>
KOKKOS_INLINE_FUNCTION T activate(Activation act, const T& z) {
  using math::value_of;
  switch (act) {
    case Activation::relu: return value_of(z) > 0 ? z : T(0);
    case Activation::tanh: return tanh_of(z);
    default: return math::softplus(z);
  }
}

/// act'(z) given z and a = act(z). relu'(0) is taken as 0 (the subgradient PyTorch uses).
template <class T>
KOKKOS_INLINE_FUNCTION T activation_slope(Activation act, const T& z, const T& a) {
  using math::value_of;
  switch (act) {
    case Activation::relu: return value_of(z) > 0 ? T(1) : T(0);
    case Activation::tanh: return T(1) - a * a;
    default: return math::sigmoid(z);
  }
}

/// Smooth max τ·log Σ_i exp(x_i/τ) of n ≥ 1 finite values (relative to their maximum, so it cannot
/// overflow); τ ≤ 0: the max. Written out rather than math::smooth_max because the dual scalar of
/// the tangent tests has no ±∞ (the inputs here are finite fractions, never masked).
template <class T>
KOKKOS_INLINE_FUNCTION T smooth_max_finite(int n, const T* x, const T& tau) {
  using math::value_of;
  T m = x[0];
  for (int i = 1; i < n; ++i)
    if (value_of(x[i]) > value_of(m)) m = x[i];
  if (!(value_of(tau) > 0)) return m;
  T s = T(0);
  for (int i = 0; i < n; ++i) s += math::exp((x[i] - m) / tau);
  return m + tau * math::log(s);
}

/// Its weights p_i = ∂/∂x_i: softmax(x/τ), or the one-hot of the first maximiser when τ ≤ 0.
template <class T>
KOKKOS_INLINE_FUNCTION void smooth_max_finite_weights(int n, const T* x, const T& tau, T* p) {
  using math::value_of;
  int first = 0;
  for (int i = 1; i < n; ++i)
    if (value_of(x[i]) > value_of(x[first])) first = i;
  if (!(value_of(tau) > 0)) {
    for (int i = 0; i < n; ++i) p[i] = i == first ? T(1) : T(0);
    return;
  }
  T s = T(0);
  for (int i = 0; i < n; ++i) {
    p[i] = math::exp((x[i] - x[first]) / tau);
    s += p[i];
  }
  for (int i = 0; i < n; ++i) p[i] = p[i] / s;
}

/// out(c) = Σ_ch partial(ch, c) over chunks in order, and the same for a second partial array
/// (the Σ|contribution| bound) when it is non-empty. One work item per column: the order of the
/// sum is fixed, so the result does not depend on the thread count.
template <class ExecSpace, class Partial, class Out>
void sum_chunks_in_order(const ExecSpace& exec, const std::string& what, const Partial& partial,
                         const Partial& partial_abs, const Out& out, const Out& out_abs) {
  const int NC = static_cast<int>(partial.extent(0));
  const int n = static_cast<int>(partial.extent(1));
  const bool with_abs = partial_abs.extent(0) > 0;
  Kokkos::parallel_for(
      label(what), Kokkos::RangePolicy<ExecSpace>(exec, 0, n), KOKKOS_LAMBDA(const int c) {
        double s = 0, a = 0;
        for (int ch = 0; ch < NC; ++ch) {
          s += partial(ch, c);
          if (with_abs) a += partial_abs(ch, c);
        }
        out(c) = s;
        if (with_abs) out_abs(c) = a;
      });
}

}  // namespace variant_impl
}  // namespace diffbio

#endif
