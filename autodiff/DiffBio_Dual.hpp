// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Dual.hpp
/// \brief A minimal forward-mode dual number, so the *same* Kokkos forward kernel that ships can be
/// run on (value, tangent) pairs. Tests use it for the dot-product test ⟨ȳ, J·ẋ⟩ = ⟨Jᵀȳ, ẋ⟩ on host
/// backends (Sacado's pattern). Not used by the product's training path.
#ifndef DIFFBIO_DUAL_HPP
#define DIFFBIO_DUAL_HPP

#include <DiffBio_SmoothMath.hpp>

namespace diffbio {
namespace ad {

template <class T>
struct Dual {
  T v{};  ///< value
  T d{};  ///< tangent
  KOKKOS_INLINE_FUNCTION constexpr Dual() = default;
  KOKKOS_INLINE_FUNCTION constexpr Dual(T value) : v(value), d(0) {}  // NOLINT: implicit by design
  KOKKOS_INLINE_FUNCTION constexpr Dual(T value, T tangent) : v(value), d(tangent) {}
  KOKKOS_INLINE_FUNCTION explicit operator T() const { return v; }
  KOKKOS_INLINE_FUNCTION Dual& operator+=(const Dual& o) { v += o.v; d += o.d; return *this; }
  KOKKOS_INLINE_FUNCTION Dual& operator-=(const Dual& o) { v -= o.v; d -= o.d; return *this; }
  KOKKOS_INLINE_FUNCTION Dual& operator*=(const Dual& o) { d = d * o.v + v * o.d; v *= o.v; return *this; }
  KOKKOS_INLINE_FUNCTION Dual& operator/=(const Dual& o) { *this = *this / o; return *this; }
  KOKKOS_INLINE_FUNCTION friend Dual operator+(const Dual& a, const Dual& b) { return {a.v + b.v, a.d + b.d}; }
  KOKKOS_INLINE_FUNCTION friend Dual operator-(const Dual& a, const Dual& b) { return {a.v - b.v, a.d - b.d}; }
  KOKKOS_INLINE_FUNCTION friend Dual operator-(const Dual& a) { return {-a.v, -a.d}; }
  KOKKOS_INLINE_FUNCTION friend Dual operator*(const Dual& a, const Dual& b) { return {a.v * b.v, a.d * b.v + a.v * b.d}; }
  KOKKOS_INLINE_FUNCTION friend Dual operator/(const Dual& a, const Dual& b) {
    return {a.v / b.v, (a.d * b.v - a.v * b.d) / (b.v * b.v)};
  }
};

template <class T> KOKKOS_INLINE_FUNCTION T value_of(const Dual<T>& x) { return x.v; }
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> exp(const Dual<T>& x) {
  const T e = math::exp(x.v);
  return {e, e * x.d};
}
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> log(const Dual<T>& x) { return {math::log(x.v), x.d / x.v}; }
template <class T> KOKKOS_INLINE_FUNCTION Dual<T> log1p(const Dual<T>& x) {
  return {math::log1p(x.v), x.d / (T(1) + x.v)};
}

}  // namespace ad

/// Duals accumulate in the dual of the accumulation type.
template <class T>
struct accum_type<ad::Dual<T>> {
  using type = ad::Dual<accum_t<T>>;
};

}  // namespace diffbio

#endif
